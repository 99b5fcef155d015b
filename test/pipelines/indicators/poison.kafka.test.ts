/**
 * Poison records on the real broker: canonical records that are valid by contract (they decode with the feed's
 * Avro schema) but make the store step throw — a net weight that overflows the fact column (SQLSTATE 22003) and
 * a text field holding a NUL character, which PostgreSQL text cannot store (22021/22P05). Each goes to the
 * dead-letter topic after the bounded, backed-off retries, with its error and its bytes; the records after it
 * in its partition, and the other partitions that shared its store transaction, are processed: the indicators
 * equal the independent computation over the good records.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testRuntime, eventually } from '../../helpers/runtime.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { createFeedSerde } from '../../../pipelines/contracts/serde.ts';
import { FEEDS, topicOf, type FeedName, type SaleRecord } from '../../../pipelines/contracts/types.ts';
import { startIndicatorWorkers, type IndicatorWorkers } from '../../../pipelines/indicators/runner.ts';
import { series } from '../../../pipelines/indicators/queries.ts';
import { metricDef, type Scope, type Window } from '../../../pipelines/indicators/model.ts';
import { buildFixture, type Produced } from './fixture.ts';
import { Oracle } from './oracle.ts';

type RT = Runtime & { prefix: string };
const test = suite('pipelines/indicators/poison records (kafka)');
let rt: RT | undefined;
let w: IndicatorWorkers | undefined;

test.after(async () => {
  await w?.stop().catch(() => undefined);
  if (!rt) return;
  await rt.broker
    .deleteTopics([
      ...FEEDS.map((f) => rt!.topic(topicOf.canonical(f))),
      rt.topic(topicOf.indicators),
      rt.topic(topicOf.dlq),
    ])
    .catch(() => undefined);
  const keys = await rt.redis.keys(`coalflow:${rt.config.topicPrefix}*`).catch(() => [] as string[]);
  if (keys.length) await rt.redis.del(...keys).catch(() => undefined);
  await rt.close();
});

test('a record that makes the store throw is dead-lettered after bounded retries; its partition keeps moving', async () => {
  rt = await testRuntime({ broker: 'kafka', cache: 'redis' });
  await rt.broker.createTopics(FEEDS.map((f) => ({ topic: rt!.topic(topicOf.canonical(f)) })));
  const fixture = buildFixture(11);
  const good = fixture;
  const sales = good.filter((p) => p.feed === 'sales') as Produced<'sales'>[];
  // Two poison sales in the middle of the stream of their mines' partitions (good records of the same mine after them).
  const m1 = sales.filter((p) => p.key === 'M1');
  const m5 = sales.filter((p) => p.key === 'M5');
  const overflow: SaleRecord = {
    ...m1[2]!.record,
    recordId: 'P-overflow',
    saleId: 'P-overflow',
    netT: 2e11,
    grossT: 2e11 + 20,
    totalPriceYuan: 2e11 * 600,
  };
  const nul: SaleRecord = { ...m5[2]!.record, recordId: 'P-nul', saleId: 'P-nul', coalType: '动力\u0000煤' };
  const withPoison: Produced[] = [];
  for (const p of good) {
    withPoison.push(p);
    if (p === m1[3]) withPoison.push({ feed: 'sales', key: 'M1', record: overflow });
    if (p === m5[3]) withPoison.push({ feed: 'sales', key: 'M5', record: nul });
  }
  assert.is(withPoison.length, good.length + 2);

  const serde = createFeedSerde(rt);
  const bytesOf = new Map<string, Buffer>();
  const byFeed = new Map<FeedName, { key: string; value: Buffer }[]>();
  for (const p of withPoison) {
    const value = await serde.encode(p.feed, p.record as never);
    // Valid by contract: the record decodes with the feed's schema.
    if (p.record.recordId.startsWith('P-')) {
      bytesOf.set(p.record.recordId, value);
      assert.is((await serde.decode('sales', value)).recordId, p.record.recordId);
    }
    (byFeed.get(p.feed) ?? byFeed.set(p.feed, []).get(p.feed)!).push({ key: p.key, value });
  }
  for (const [feed, list] of byFeed) await rt.broker.produce(rt.topic(topicOf.canonical(feed)), list);

  w = startIndicatorWorkers(rt, {
    groupId: 'g-poison',
    lagIntervalMs: 0,
    maxBatchSize: 50,
    poisonAttempts: 3,
    poisonRetryInitialDelayMs: 20,
  });
  await w.start();
  await eventually(
    async () => {
      for (const f of FEEDS)
        for (const p of await rt!.broker.lag(rt!.topic('g-poison'), rt!.topic(topicOf.canonical(f))))
          if (BigInt(p.end) !== BigInt(p.committed)) return false;
      return true;
    },
    { timeoutMs: 45_000, intervalMs: 250, what: 'every partition committed to its end' },
  );
  await w.idle({ timeoutMs: 30_000 });
  const stats = w.stats();
  assert.is(stats.deadLetters, 2, 'both poison records dead-lettered');
  assert.ok(stats.poisonRetries >= 2 * 2, `each retried before giving up (${stats.poisonRetries})`);

  // The DLQ holds each with its error and its exact bytes.
  const dlq: Record<string, any>[] = [];
  const dc = rt.broker.consumer({ groupId: rt.topic('dlq-read'), topics: [rt.topic(topicOf.dlq)] });
  await dc.run(async (b) => {
    for (const r of b.records) dlq.push(JSON.parse(r.value.toString()));
  });
  await eventually(() => dlq.length >= 2, { what: 'the dead letters' });
  await dc.stop();
  const byId = new Map(dlq.map((d) => [d.recordId as string, d]));
  for (const id of ['P-overflow', 'P-nul']) {
    const d = byId.get(id);
    assert.ok(d, `${id} in the DLQ`);
    assert.is(d!.reason, 'indicator_store');
    assert.is(d!.feed, 'sales');
    assert.is(d!.attempts, 3);
    assert.ok(Buffer.from(d!.payloadBase64, 'base64').equals(bytesOf.get(id)!), `${id}: its bytes`);
    assert.ok(typeof d!.offset === 'string' && d!.partition >= 0);
  }
  assert.is(byId.get('P-overflow')!.sqlState, '22003');
  assert.match(byId.get('P-overflow')!.message, /overflow/i);
  assert.ok(['22021', '22P05'].includes(byId.get('P-nul')!.sqlState), byId.get('P-nul')!.sqlState);

  // Nothing of the poison stored; every good record stored once; totals equal the independent computation.
  const facts = await rt.db.query(
    `SELECT count(*)::int AS n, count(DISTINCT record_id)::int AS d, count(*) FILTER (WHERE record_id LIKE 'P-%')::int AS p FROM fact_sales`,
  );
  const oracle = new Oracle(good, 3);
  assert.is(facts.rows[0].p, 0, 'no poison fact');
  assert.is(facts.rows[0].n, oracle.salesList.length, 'every good sale stored');
  assert.is(facts.rows[0].d, oracle.salesList.length, 'once');
  let checked = 0;
  for (const [k, c] of oracle.sales) {
    const [scope, id, win, ws] = k.split(':') as [Scope, string, Window, string];
    if (win !== 'day' && win !== 'ytd') continue;
    const pts = await series(
      rt.db,
      metricDef('sales', 'volume_t')!,
      scope,
      [id],
      win,
      Number(ws),
      Number(ws),
    );
    const v = pts.find((p) => p.windowStart === Number(ws));
    assert.ok(v && Math.abs(v.value! - c.kg / 1000) < 1e-6, `volume ${k}: ${v?.value} vs ${c.kg / 1000}`);
    assert.is(v!.n, c.n, `count ${k}`);
    checked++;
  }
  assert.ok(checked > 100, `cells checked: ${checked}`);
});

test.run();
