import { Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { buildRuntime, type Runtime } from '../../../infra/compose.ts';
import { loadConfig } from '../../../infra/core/config.ts';
import type { Consumer, ConsumedRecord } from '../../../infra/core/broker.ts';
import { FEEDS, topicOf, type FeedName } from '../../../pipelines/contracts/types.ts';
import { ingestContext } from '../../../pipelines/ingest/context.ts';
import { processRaw } from '../../../pipelines/ingest/core.ts';
import { ingestRecords } from '../../../pipelines/ingest/ingest.ts';
import { listRejects, replayReject } from '../../../pipelines/ingest/rejects.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { startIngestWorkers, type IngestWorkers } from '../../../pipelines/ingest/worker.ts';
import { eventually, TEST_KAFKA, uniq } from '../../helpers/runtime.ts';
import { SAMPLES, SECRETS } from './samples.ts';

const test = suite('pipelines/ingest (kafka)');

let rt: Runtime;
let workers: IngestWorkers;
let logs = '';
let consumer: Consumer;
const seen: ConsumedRecord[] = [];

test.before(async () => {
  const prefix = `${uniq('test')}.`;
  const config = loadConfig(
    {
      KAFKA_BROKERS: TEST_KAFKA,
      COALFLOW_TOKEN_SECRET: 'test-secret',
      COALFLOW_DATA_DIR: 'memory',
      COALFLOW_TOPIC_PREFIX: prefix,
      COALFLOW_TOPIC_PARTITIONS: '2',
      COALFLOW_SIMULATOR: 'false',
    },
    { dataDir: 'memory' },
  );
  // Every log line of the runtime, at debug level and without redaction, is captured and searched.
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs += String(chunk);
      cb();
    },
  });
  rt = await buildRuntime(config, { log: pino({ level: 'debug' }, sink) });
  await rt.broker.createTopics(feedTopics(rt));
  workers = await startIngestWorkers(rt);
  consumer = rt.broker.consumer({
    groupId: rt.topic(uniq('reader')),
    topics: [...FEEDS.map((f) => rt.topic(topicOf.canonical(f))), rt.topic(topicOf.dlq)],
  });
  await consumer.run(async (b) => {
    seen.push(...b.records);
  });
});

test.after(async () => {
  await consumer?.stop();
  await workers?.stop();
  if (rt) {
    await rt.broker.deleteTopics(feedTopics(rt).map((t) => t.topic)).catch(() => undefined);
    await rt.close();
  }
});

const onTopic = (feed: FeedName | 'dlq') =>
  seen.filter((r) => r.topic === rt.topic(feed === 'dlq' ? topicOf.dlq : topicOf.canonical(feed)));

test('each feed: raw topic -> canonical topic in the wire format, decodes back to the validated record', async () => {
  const sentAt = Date.now();
  for (const feed of FEEDS) {
    await rt.broker.produce(rt.topic(topicOf.raw(feed)), [
      { key: null, value: JSON.stringify(SAMPLES[feed]) },
    ]);
  }
  await eventually(() => FEEDS.every((f) => onTopic(f).length >= 1), {
    timeoutMs: 30_000,
    what: 'all canonical topics',
  });
  const ctx = ingestContext(rt);
  const ids = await ctx.serde.schemaIds();
  for (const feed of FEEDS) {
    const msg = onTopic(feed)[0]!;
    assert.is(msg.value[0], 0, `${feed}: magic byte`);
    assert.is(msg.value.readInt32BE(1), ids[feed], `${feed}: schema id`);
    // The log time is when ingest produced it, not the 2025 event time: retention (by record timestamp) must not
    // delete a historical record before the indicators read it.
    assert.ok(msg.timestamp >= sentAt - 1000, `${feed}: log time ${new Date(msg.timestamp).toISOString()}`);
    const decoded = await ctx.serde.decode(feed, msg.value);
    const expected = processRaw(feed, SAMPLES[feed], {
      desensitizer: ctx.desensitizer,
      nowMs: Date.now(),
      receivedAtMs: Date.now(),
    });
    assert.is(expected.status, 'ok', `${feed}: ${JSON.stringify(expected)}`);
    if (expected.status === 'ok') {
      assert.equal(decoded, JSON.parse(JSON.stringify(expected.record)), `${feed}: decoded record`);
      assert.is(msg.key, expected.key, `${feed}: entity key`);
    }
  }
  const sale = await ctx.serde.decode('sales', onTopic('sales')[0]!.value);
  assert.is(sale.netT, 33.42);
  assert.is(sale.regionCode, '150622');
  assert.is(sale.destination, '河北省唐山市曹妃甸区');
  assert.ok(sale.plateToken?.startsWith('v1.'));
  assert.ok(sale.customerToken?.startsWith('v1.'));
});

test('bad records go to the DLQ and the rejects table with reason, feed and payload; duplicates are counted once', async () => {
  const raw = rt.topic(topicOf.raw('sales'));
  const good = { ...SAMPLES.sales, 销售编号: 'XS-DUP-1' };
  await rt.broker.produce(raw, [
    { key: 'a', value: JSON.stringify({ ...SAMPLES.sales, 销售编号: 'XS-BAD-1', 净重: '30.00' }) },
    { key: 'b', value: '{not json' },
    { key: 'c', value: JSON.stringify(good) },
    { key: 'd', value: JSON.stringify(good) },
    { key: 'e', value: JSON.stringify(good) },
  ]);
  await eventually(
    () => onTopic('dlq').length >= 2 && onTopic('sales').some((m) => m.value.includes('XS-DUP-1')),
    { timeoutMs: 20_000, what: 'dlq + sale' },
  );
  await new Promise((r) => setTimeout(r, 500));
  const dlq = onTopic('dlq').map((m) => JSON.parse(m.value.toString()));
  const reasons = dlq.map((d) => d.reason).sort();
  assert.equal(reasons, ['decode_error', 'net_mismatch']);
  const mismatch = dlq.find((d) => d.reason === 'net_mismatch');
  assert.is(mismatch.feed, 'sales');
  assert.is(mismatch.source, 'kafka');
  assert.is(mismatch.payload['销售编号'], 'XS-BAD-1');
  assert.ok(onTopic('dlq').every((m) => m.key === 'sales'));
  assert.is(onTopic('sales').filter((m) => m.value.includes('XS-DUP-1')).length, 1, 'forwarded once');
  const dups = await rt.metrics.duplicates.get();
  assert.is(
    dups.values.find((v) => v.labels.feed === 'sales')?.value,
    2,
    'two later copies counted as duplicates',
  );
  const rows = await rt.db.query(
    `SELECT reason, payload->>'销售编号' AS sale FROM ingest_rejects WHERE feed = 'sales' ORDER BY id`,
  );
  assert.equal(rows.rows.map((r) => r.reason).sort(), ['decode_error', 'net_mismatch']);
});

test('a redelivered record (same source position) is a retry, not a duplicate', async () => {
  const ctx = ingestContext(rt);
  const { processBatch } = await import('../../../pipelines/ingest/batch.ts');
  const item = {
    payload: JSON.stringify({ ...SAMPLES.sales, 销售编号: 'XS-RETRY-1' }),
    ref: 'fake-topic:0:42',
  };
  // Simulates a crash after the claim, before producing: the claim exists, nothing was produced.
  await rt.db.query(
    `INSERT INTO ingest_seen (feed, record_id, source_ref) VALUES ('sales', 'XS-RETRY-1', 'fake-topic:0:42')`,
  );
  const first = await processBatch(ctx, 'sales', [item], { source: 'kafka' });
  assert.is(first[0]!.status, 'accepted');
  const again = await processBatch(ctx, 'sales', [item], { source: 'kafka' });
  assert.is(again[0]!.status, 'accepted', 'redelivery after produce: accepted, not produced again');
  const other = await processBatch(ctx, 'sales', [{ ...item, ref: 'fake-topic:1:7' }], { source: 'kafka' });
  assert.is(other[0]!.status, 'duplicate');
  await eventually(() => onTopic('sales').some((m) => m.value.includes('XS-RETRY-1')), {
    what: 'retried record',
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.is(onTopic('sales').filter((m) => m.value.includes('XS-RETRY-1')).length, 1);
});

test('a rejected record can be fixed and replayed onto the canonical topic', async () => {
  const bad = { ...SAMPLES.sales, 销售编号: 'XS-FIX-1', 过空时间: '2025-03-01 09:30:00' };
  const out = await ingestRecords(rt, 'sales', [bad], 'http');
  assert.is(out.results[0]!.status, 'rejected');
  assert.is(out.results[0]!.reason, 'tare_after_gross');
  const id = out.results[0]!.rejectId!;
  assert.ok(id);
  const [view] = await listRejects(rt, { feed: 'sales', reason: 'tare_after_gross' });
  assert.is(view!.id, id);
  assert.ok(view!.fields.includes('车牌号'));
  const shown = JSON.stringify(view!.payload);
  for (const s of SECRETS) assert.not.ok(shown.includes(s), `reject view shows ${s}`);
  const replay = await replayReject(rt, id, { ...bad, 过空时间: '2025-03-01 08:10:00' });
  assert.ok(replay.found && !replay.conflict && replay.status === 'replayed', JSON.stringify(replay));
  await eventually(() => onTopic('sales').some((m) => m.value.includes('XS-FIX-1')), {
    what: 'replayed record on the canonical topic',
  });
  const again = await replayReject(rt, id);
  assert.ok(again.found && again.conflict);
  const rows = await rt.db.query('SELECT status, resolved_record_id FROM ingest_rejects WHERE id = $1', [id]);
  assert.equal(rows.rows[0], { status: 'replayed', resolved_record_id: 'XS-FIX-1' });
});

test('no canonical record, database row (outside the in-domain rejects) or log line holds a plate, name or phone', async () => {
  const canonical = seen
    .filter((m) => m.topic !== rt.topic(topicOf.dlq))
    .map((m) => m.value.toString('latin1') + m.value.toString('utf8') + (m.key ?? ''));
  const tables = ['ingest_seen', 'mine_registry', 'ingest_outbox'];
  const dump: string[] = [];
  for (const t of tables) dump.push(JSON.stringify((await rt.db.query(`SELECT * FROM ${t}`)).rows));
  for (const s of [...SECRETS, '蒙K8A123']) {
    assert.not.ok(
      canonical.some((c) => c.includes(s)),
      `canonical topic holds ${s}`,
    );
    assert.not.ok(
      dump.some((d) => d.includes(s)),
      `database holds ${s}`,
    );
    assert.not.ok(logs.includes(s), `logs hold ${s}`);
  }
  assert.ok(logs.length > 0, 'logs were captured');
});

test.run();
