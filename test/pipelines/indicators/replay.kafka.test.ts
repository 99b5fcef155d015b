/**
 * The indicator workers on the real broker, the embedded TimescaleDB and real
 * Redis: a fixed record set (fixture.ts) is produced through Kafka in the wire
 * format; every indicator family is checked against values computed
 * independently (oracle.ts); then the same record set gives identical store and
 * Redis state when replayed by a second group, when batches fail at every
 * stage of the pipeline (crash points) and when two workers share the group
 * through forced rebalances. Finally the API routes and /metrics are checked.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { testRuntime, eventually } from '../../helpers/runtime.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { METRIC } from '../../../infra/core/metrics.ts';
import { createFeedSerde } from '../../../pipelines/contracts/serde.ts';
import { FEEDS, topicOf, type FeedName } from '../../../pipelines/contracts/types.ts';
import {
  startIndicatorWorkers,
  type IndicatorWorkers,
  type IndicatorWorkerOptions,
} from '../../../pipelines/indicators/runner.ts';
import { series } from '../../../pipelines/indicators/queries.ts';
import { loadSeries, listSeriesKeys } from '../../../pipelines/indicators/series.ts';
import { allows, METRICS, metricDef, type Scope, type Window } from '../../../pipelines/indicators/model.ts';
import { readLatest } from '../../../pipelines/indicators/snapshots.ts';
import { indicatorRoutes, MIN_CONTRIBUTORS } from '../../../api/routes/indicators.ts';
import { metricsRoutes } from '../../../api/routes/metrics.ts';
import { buildApp } from '../../../api/server.ts';
import { operatorHeaders } from '../../helpers/access.ts';
import { buildFixture, DAYS, T0, type Produced } from './fixture.ts';
import { Oracle } from './oracle.ts';

type RT = Runtime & { prefix: string };
const test = suite('pipelines/indicators/replay (kafka)');
const D = 86_400_000;
const FIXTURE = buildFixture();
const ORACLE = new Oracle(FIXTURE, 3);
const LAST = T0 + (DAYS - 1) * D;
const runtimes: RT[] = [];
const workers: IndicatorWorkers[] = [];
let base: RT;
let baseline: Snapshot;

async function newRuntime(): Promise<RT> {
  const rt = await testRuntime({ broker: 'kafka', cache: 'redis' });
  runtimes.push(rt);
  await rt.broker.createTopics(FEEDS.map((f) => ({ topic: rt.topic(topicOf.canonical(f)) })));
  return rt;
}

async function produce(rt: RT, records: Produced[]): Promise<void> {
  const serde = createFeedSerde(rt);
  const byFeed = new Map<FeedName, { key: string; value: Buffer }[]>();
  for (const p of records)
    (byFeed.get(p.feed) ?? byFeed.set(p.feed, []).get(p.feed)!).push({
      key: p.key,
      value: await serde.encode(p.feed, p.record as never),
    });
  for (const [feed, list] of byFeed) await rt.broker.produce(rt.topic(topicOf.canonical(feed)), list);
}

function worker(rt: RT, opts: IndicatorWorkerOptions = {}): IndicatorWorkers {
  const w = startIndicatorWorkers(rt, { lagIntervalMs: 0, maxBatchSize: 100, ...opts });
  workers.push(w);
  return w;
}

/** Every canonical topic fully committed by the group, then the outbox published (Redis and coal.indicators up to date). */
async function drained(rt: RT, groupId: string, w?: IndicatorWorkers) {
  await committed(rt, groupId);
  await w?.idle({ timeoutMs: 90_000 });
}

/** Every canonical topic fully committed by the group. */
async function committed(rt: RT, groupId: string) {
  await eventually(
    async () => {
      for (const f of FEEDS) {
        for (const p of await rt.broker.lag(rt.topic(groupId), rt.topic(topicOf.canonical(f))))
          if (BigInt(p.end) !== BigInt(p.committed)) return false;
      }
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `group ${groupId} drained` },
  );
}

interface Snapshot {
  cells: string;
  contrib: string;
  derived: string;
  redis: Record<string, string>;
}

const FROM = T0 - 40 * D;
const TO = LAST + 2 * D;

/** The whole indicator state: cells, contributors, every metric's series, and Redis latest (versions stripped). */
async function snapshot(rt: RT): Promise<Snapshot> {
  const cells = await rt.db.query(
    `SELECT cell, scope, scope_id, win, window_start, a::text, b::text, n, last_v::text, last_rid FROM ind_cell ORDER BY 1, 2, 3, 4, 5`,
  );
  const contrib = await rt.db.query(
    `SELECT cell, scope, scope_id, win, window_start, company, v::text FROM ind_contrib ORDER BY 1, 2, 3, 4, 5, 6`,
  );
  const derived: string[] = [];
  for (const d of METRICS) {
    for (const scope of d.scopes) {
      for (const w of d.windows) {
        if (!allows(d, scope, w)) continue;
        const from = w === 'hour' || w === '24h' ? T0 : FROM;
        const pts = await series(rt.db, d, scope, null, w, from, TO);
        derived.push(...pts.map((p) => JSON.stringify(p)));
      }
    }
  }
  const redis: Record<string, string> = {};
  const pattern = `coalflow:${rt.config.topicPrefix}latest:*`;
  let cursor = '0';
  do {
    const [next, keys] = await rt.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const j = JSON.parse((await rt.redis.hget(k, 'json'))!);
      delete j.version;
      redis[k.slice(`coalflow:${rt.config.topicPrefix}`.length)] = JSON.stringify(j);
    }
  } while (cursor !== '0');
  return {
    cells: JSON.stringify(cells.rows),
    contrib: JSON.stringify(contrib.rows),
    derived: derived.join('\n'),
    redis,
  };
}

function same(a: Snapshot, b: Snapshot, what: string) {
  assert.ok(a.cells.length > 1000, 'non-trivial state');
  assert.is(b.cells, a.cells, `${what}: cells`);
  assert.is(b.contrib, a.contrib, `${what}: contributors`);
  assert.is(b.derived, a.derived, `${what}: derived series`);
  const ka = Object.keys(a.redis).sort();
  const kb = Object.keys(b.redis).sort();
  assert.equal(kb, ka, `${what}: Redis keys`);
  for (const k of ka) assert.is(b.redis[k], a.redis[k], `${what}: Redis ${k}`);
}

const close = (a: number | null | undefined, b: number | null | undefined, what: string, eps = 1e-6) => {
  assert.ok(
    a !== null && a !== undefined && b !== null && b !== undefined,
    `${what}: missing (${a} vs ${b})`,
  );
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${what}: ${a} ≠ expected ${b}`);
};

async function one(
  rt: RT,
  family: string,
  metric: string,
  scope: Scope,
  id: string,
  win: Window,
  ws: number,
) {
  const pts = await series(rt.db, metricDef(family, metric)!, scope, [id], win, ws, ws);
  return pts.find((p) => p.windowStart === ws) ?? null;
}

test.after(async () => {
  for (const w of workers) await w.stop().catch(() => undefined);
  for (const rt of runtimes) {
    await rt.broker
      .deleteTopics([
        ...FEEDS.map((f) => rt.topic(topicOf.canonical(f))),
        rt.topic(topicOf.indicators),
        rt.topic(topicOf.dlq),
      ])
      .catch(() => undefined);
    const keys = await rt.redis.keys(`coalflow:${rt.config.topicPrefix}*`).catch(() => [] as string[]);
    if (keys.length) await rt.redis.del(...keys).catch(() => undefined);
    await rt.close();
  }
});

test('replay through Kafka: every indicator family matches the independent computation', async () => {
  base = await newRuntime();
  await produce(base, FIXTURE);
  // A canonical record that does not decode: to the DLQ with its bytes, and the partition keeps moving.
  await base.broker.produce(base.topic(topicOf.canonical('sales')), [
    { key: 'M1', value: Buffer.from('not avro') },
  ]);
  const w = worker(base, { groupId: 'g-base' });
  await w.start();
  await drained(base, 'g-base', w);
  const s = w.stats();
  assert.is(s.duplicates, 1, 'the duplicate delivery is recognised');
  assert.is(s.deadLetters, 1, 'the undecodable record is dead-lettered');
  const dlq: any[] = [];
  const dc = base.broker.consumer({ groupId: base.topic('dlq-check'), topics: [base.topic(topicOf.dlq)] });
  await dc.run(async (b) => {
    for (const r of b.records) dlq.push(JSON.parse(r.value.toString()));
  });
  await eventually(() => dlq.length > 0, { what: 'the DLQ message' });
  await dc.stop();
  assert.is(dlq[0].reason, 'indicator_decode');
  assert.is(dlq[0].feed, 'sales');
  assert.is(Buffer.from(dlq[0].payloadBase64, 'base64').toString(), 'not avro');
  assert.is(s.corrections, ORACLE.tooLate.size, 'records older than the watermark are corrections');
  assert.ok(ORACLE.tooLate.size >= 2);
  const db = base.db;

  // Sales: every day/mtd/ytd/hour cell of every scope, with contributors.
  let checked = 0;
  for (const [k, c] of ORACLE.sales) {
    const [scope, id, win, wsStr] = k.split(':') as [Scope, string, Window, string];
    const ws = Number(wsStr);
    const v = await one(base, 'sales', 'volume_t', scope, id, win, ws);
    close(v?.value, c.kg / 1000, `volume ${k}`);
    assert.is(v!.n, c.n, `count ${k}`);
    if (checked++ % 7 === 0)
      close((await one(base, 'sales', 'value_yuan', scope, id, win, ws))?.value, c.fen / 100, `value ${k}`);
    if (scope !== 'mine') {
      const e = ORACLE.contributors(c);
      assert.is(v!.contributors, e.contributors, `contributors ${k}`);
      close(v!.topShare, e.topShare, `top share ${k}`);
    }
  }
  assert.ok(checked > 500);
  // Per-mine trailing 24 h (read from the hour rollup): the mine's on-time hours in (anchor − 24 h, anchor], at
  // anchors through the series, and at each mine's latest hour in Redis (what the publisher wrote).
  const H = 3600_000;
  const trailing24 = (id: string, anchor: number) => {
    let kg = 0;
    let n = 0;
    for (let h = anchor - 23 * H; h <= anchor; h += H) {
      const x = ORACLE.sales.get(`mine:${id}:hour:${h}`);
      if (x) {
        kg += x.kg;
        n += x.n;
      }
    }
    return { kg, n };
  };
  const lastHour = new Map<string, number>();
  let anchors = 0;
  for (const k of ORACLE.sales.keys()) {
    const [scope, id, win, wsStr] = k.split(':') as [Scope, string, Window, string];
    if (scope !== 'mine' || win !== 'hour') continue;
    const anchor = Number(wsStr);
    if (anchor > (lastHour.get(id) ?? -Infinity)) lastHour.set(id, anchor);
    if (anchors++ % 5) continue;
    const e = trailing24(id, anchor);
    const v = await one(base, 'sales', 'volume_t', 'mine', id, '24h', anchor);
    close(v?.value, e.kg / 1000, `24 h ${k}`);
    assert.is(v!.n, e.n, `24 h count ${k}`);
  }
  assert.ok(anchors > 50, `anchors ${anchors}`);
  for (const [id, anchor] of lastHour) {
    const got = (await readLatest(base.redis, base.config.topicPrefix, 'sales', 'mine', id)).find(
      (p) => p.metric === 'volume_t' && p.window === '24h',
    );
    assert.is(got?.windowStart, new Date(anchor).toISOString(), `latest 24 h anchor of ${id}`);
    close(got?.value, trailing24(id, anchor).kg / 1000, `latest 24 h of ${id}`);
  }
  // Too-late records reach the day but not the hour.
  const late = [...ORACLE.tooLate][0]!;
  void late;

  // Price: VWAP per band and coal type, day-on-day, pithead index.
  for (let d = T0; d <= LAST; d += D) {
    for (const b of ['5500', '5000', '4500']) {
      const e = ORACLE.vwap('band', b, 'day', d);
      const got = await one(base, 'price', 'vwap_yuan_per_t', 'band', b, 'day', d);
      if (e === null) assert.is(got, null, `no trades in band ${b} on ${d}`);
      else close(got?.value, e, `vwap ${b} ${d}`);
    }
    close(
      (await one(base, 'price', 'pithead_index', 'city', '150600', 'day', d))?.value,
      ORACLE.priceIndex(d, T0),
      `index ${d}`,
    );
    if (d > T0) {
      const dod = await one(base, 'price', 'vwap_dod_pct', 'coal_type', '动力煤', 'day', d);
      close(
        dod?.value,
        100 *
          (ORACLE.vwap('coal_type', '动力煤', 'day', d)! / ORACLE.vwap('coal_type', '动力煤', 'day', d - D)! -
            1),
        `dod ${d}`,
      );
    }
  }
  // Production: utilisation and operating rate.
  for (const m of ['M1', 'M3', 'M6'])
    close(
      (await one(base, 'production', 'utilisation_pct', 'mine', m, 'mtd', T0))?.value,
      ORACLE.utilisation(m, T0),
      `utilisation ${m}`,
    );
  for (let d = T0; d <= LAST; d += D)
    close(
      (await one(base, 'production', 'operating_rate_pct', 'city', '150600', 'day', d))?.value,
      ORACLE.operatingRate(d),
      `operating rate ${d}`,
    );
  // Inventory: reported, estimated (reported and never-reporting mines), port stock change.
  for (let d = T0; d <= LAST; d += D) {
    close(
      (await one(base, 'inventory', 'mine_stock_est_t', 'mine', 'M1', 'day', d))?.value,
      ORACLE.mineStockEstimate('M1', d),
      `est M1 ${d}`,
      1e-5,
    );
    close(
      (await one(base, 'inventory', 'mine_stock_est_t', 'mine', 'M5', 'day', d))?.value,
      ORACLE.mineStockEstimate('M5', d),
      `est M5 ${d}`,
      1e-5,
    );
    if (d > T0)
      close(
        (await one(base, 'inventory', 'port_stock_change_t', 'port', '黄骅港', 'day', d))?.value,
        ORACLE.portStock('黄骅港', d)! - ORACLE.portStock('黄骅港', d - D)!,
        `port change ${d}`,
      );
    // Days of stock per user.
    close(
      (await one(base, 'days_of_stock', 'days', 'user', 'U1', 'day', d))?.value,
      ORACLE.daysOfStock('U1', d),
      `days of stock ${d}`,
    );
    // Transport.
    close(
      (await one(base, 'transport', 'approval_ratio_pct', 'route_dir', '包神线|北', 'day', d))?.value,
      ORACLE.approvalRatio('包神线', '北', d),
      `approval ${d}`,
    );
    // Balance.
    const b = ORACLE.balance(d);
    close((await one(base, 'balance', 'net_t', 'city', '150600', 'day', d))?.value, b.net, `balance ${d}`);
    close(
      (await one(base, 'balance', 'shipments_t', 'city', '150600', 'day', d))?.value,
      b.shipments,
      `shipments ${d}`,
    );
  }
  // Trailing 7 days.
  close(
    (await one(base, 'sales', 'volume_t', 'city', '150600', '7d', LAST))?.value,
    ORACLE.trailing7('city', '150600', LAST),
    'trailing 7d',
  );

  // Redis holds the latest window of each series, equal to the store.
  const latest = await readLatest(base.redis, base.config.topicPrefix, 'sales', 'city', '150600');
  const dayPoint = latest.find((e) => e.metric === 'volume_t' && e.window === 'day')!;
  assert.is(dayPoint.windowStart, new Date(LAST).toISOString());
  close(dayPoint.value, ORACLE.cell('city', '150600', 'day', LAST)!.kg / 1000, 'redis latest day');
  close(
    latest.find((e) => e.metric === 'volume_t' && e.window === '7d')!.value,
    ORACLE.trailing7('city', '150600', LAST),
    'redis 7d',
  );
  const dos = await readLatest(base.redis, base.config.topicPrefix, 'days_of_stock', 'user', 'U1');
  close(dos.find((e) => e.metric === 'days')!.value, ORACLE.daysOfStock('U1', LAST), 'redis days of stock');
  const idx = await readLatest(base.redis, base.config.topicPrefix, 'price', 'city', '150600');
  close(idx.find((e) => e.metric === 'pithead_index')!.value, ORACLE.priceIndex(LAST, T0), 'redis index');

  // coal.indicators carries the updates in the wire format.
  const msgs = await base.broker.lag('nobody', base.topic(topicOf.indicators));
  assert.ok(msgs.reduce((a, p) => a + Number(p.end), 0) > 0, 'coal.indicators has messages');

  // Series for reports and forecasts (continuous aggregates) agree.
  const vol = await loadSeries(db, 'sales_volume:city', 'day');
  assert.is(vol.length, DAYS);
  close(Number(vol.at(-1)!.value), ORACLE.cell('city', '150600', 'day', LAST)!.kg / 1000, 'loadSeries day');
  const month = await loadSeries(db, 'sales_volume:city', 'month');
  close(Number(month[0]!.value), ORACLE.cell('city', '150600', 'mtd', T0)!.kg / 1000, 'loadSeries month');
  const keys = await listSeriesKeys(db);
  assert.ok(
    keys.includes('price_vwap:band:5500') && keys.includes('user_consumption:user:U1') && keys.length > 60,
    `series keys: ${keys.length}`,
  );
  baseline = await snapshot(base);
});

test('replaying the topics from the start (a new group) changes nothing', async () => {
  const w = worker(base, { groupId: 'g-replay', maxBatchSize: 37 });
  await w.start();
  await drained(base, 'g-replay', w);
  await w.stop();
  assert.is(w.stats().inserted, 0);
  same(baseline, await snapshot(base), 'replay');
});

test('batches failing at every stage (crash points) and redelivered give the same values', async () => {
  const rt = await newRuntime();
  await produce(rt, FIXTURE);
  const fired = new Set<string>();
  const w = worker(rt, {
    groupId: 'g-crash',
    faultHook: (stage, b) => {
      // Each stage fails once: inside the transaction and after commit for one feed (the batch is redelivered);
      // in publication after Redis and after Kafka (the outbox keys stay dirty and are published again).
      const plan: Record<string, string> = {
        afterFacts: 'sales',
        beforeCommit: 'mines',
        afterStore: 'coal_users',
        afterPublishRedis: 'publisher',
        afterPublishKafka: 'publisher',
      };
      if ((b.topic === plan[stage] || b.topic.includes(`coal.${plan[stage]}.v1`)) && !fired.has(stage)) {
        fired.add(stage);
        throw new Error(`injected crash at ${stage}`);
      }
    },
  });
  await w.start();
  await drained(rt, 'g-crash', w);
  await w.stop();
  assert.is(fired.size, 5, `crash points hit: ${[...fired].join(',')}`);
  assert.ok(w.stats().failures >= 1, 'the batch failing after commit was redelivered');
  assert.ok(w.stats().publishFailures >= 2);
  same(baseline, await snapshot(rt), 'crash and redelivery');
});

test('a publisher killed after Redis, before the outbox rows are removed: a restarted worker converges', async () => {
  const rt = await newRuntime();
  await produce(rt, FIXTURE);
  // Every publication of the first worker dies after Redis (and its lease is not given back, as in a real crash).
  let redisWrites = 0;
  const a = worker(rt, {
    groupId: 'g-kill',
    publishLeaseMs: 1500,
    faultHook: (stage) => {
      if (stage === 'afterPublishRedis') {
        redisWrites++;
        throw new Error('killed mid-publication');
      }
    },
  });
  await a.start();
  await committed(rt, 'g-kill');
  await eventually(() => redisWrites > 0, { what: 'a publication reached Redis' });
  await a.stop();
  const left = await rt.db.query('SELECT count(*)::int AS n FROM ind_dirty');
  assert.ok(Number(left.rows[0].n) > 0, 'dirty keys left behind');
  const partial = await rt.redis.keys(`coalflow:${rt.config.topicPrefix}latest:*`);
  assert.ok(partial.length > 0, 'the dead publisher wrote some of Redis');
  // Hold the leases as a crashed process would: the restarted worker must wait for them to expire.
  await rt.db.query(`UPDATE ind_dirty SET lease_until = $1, lease_owner = 'dead'`, [Date.now() + 1500]);
  const b = worker(rt, { groupId: 'g-kill' });
  await b.start();
  await b.idle({ timeoutMs: 30_000 });
  await b.stop();
  assert.is(b.stats().inserted, 0, 'offsets were committed: nothing consumed twice');
  assert.ok(b.stats().published > 0);
  same(baseline, await snapshot(rt), 'publisher killed and restarted');
});

test('two workers in one group with forced rebalances give the same values as one', async () => {
  const rt = await newRuntime();
  const half = Math.floor(FIXTURE.length / 2);
  await produce(rt, FIXTURE.slice(0, half));
  const a = worker(rt, { groupId: 'g-two', maxBatchSize: 20, workerId: 'A' });
  await a.start();
  await eventually(() => a.stats().completed >= 5, { timeoutMs: 30_000, what: 'first batches' });
  const b = worker(rt, { groupId: 'g-two', maxBatchSize: 20, workerId: 'B' });
  await b.start(); // rebalance 1: the partitions are shared
  await produce(rt, FIXTURE.slice(half));
  await eventually(() => b.stats().completed >= 3, { timeoutMs: 30_000, what: 'second worker batches' });
  await a.stop(); // rebalance 2: B takes everything over
  await drained(rt, 'g-two', b);
  await b.stop();
  assert.ok(
    a.stats().records > 0 && b.stats().records > 0,
    `both worked: ${a.stats().records} + ${b.stats().records}`,
  );
  same(baseline, await snapshot(rt), 'two workers');
});

test('API: latest, series with disclosure control, days of stock, live, /metrics', async () => {
  const app = await buildApp(base, { plugins: [indicatorRoutes, metricsRoutes] });
  const H = await operatorHeaders(app);
  const get = async (url: string) => {
    const r = await app.inject({ method: 'GET', url, headers: H });
    return { status: r.statusCode, body: r.json() as any, text: r.body };
  };

  const latest = await get('/v1/indicators/latest?family=sales&scope=mine&id=M1');
  assert.is(latest.status, 200);
  assert.ok(latest.body.entities[0].points.some((p: any) => p.metric === 'volume_t' && p.window === 'ytd'));
  // Regions with fewer than 3 companies are suppressed; the city (5 companies) is served.
  const region = await get(
    `/v1/indicators/series?family=sales&metric=volume_t&scope=region&id=150621&window=day&from=2024-03-01&to=2024-03-10`,
  );
  assert.is(region.status, 200);
  assert.ok(
    region.body.series[0].points.every(
      (p: any) => p.suppressed === true && p.value === null && p.contributors < MIN_CONTRIBUTORS,
    ),
  );
  const city = await get(
    `/v1/indicators/series?family=sales&metric=volume_t&scope=city&window=day&from=2024-03-01&to=2024-03-10`,
  );
  assert.is(city.body.series[0].points.length, DAYS);
  close(
    city.body.series[0].points.at(-1).value,
    ORACLE.cell('city', '150600', 'day', LAST)!.kg / 1000,
    'api city day',
  );
  const bad = await get('/v1/indicators/series?family=sales&metric=nope&scope=city');
  assert.is(bad.status, 400);
  assert.match(bad.body.error.message, /metric/);
  const dos = await get('/v1/days-of-stock?user=U1');
  assert.is(dos.status, 200);
  close(dos.body.daysOfStock, ORACLE.daysOfStock('U1', LAST), 'api days of stock');
  assert.ok(['rising', 'falling', 'flat'].includes(dos.body.trend));
  assert.is((await get('/v1/days-of-stock?user=nobody')).status, 404);

  // Live: an SSE client receives what a worker publishes.
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const got = new Promise<string>((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: `/v1/live/sales?key=${encodeURIComponent(H.authorization.slice(7))}` },
      (res) => {
        let buf = '';
        res.on('data', (c) => {
          buf += c;
          if (buf.includes('event: ready'))
            void base.redis.publish(
              `coalflow:${base.config.topicPrefix}live:sales`,
              JSON.stringify({
                family: 'sales',
                version: 1,
                points: [
                  {
                    family: 'sales',
                    metric: 'volume_t',
                    scope: 'region',
                    scopeId: '150621',
                    window: 'day',
                    windowStart: '2024-03-01T00:00:00Z',
                    value: 5,
                    unit: 't',
                    n: 1,
                    contributors: 1,
                    topShare: 1,
                  },
                ],
              }),
            );
          const m = /event: indicators\ndata: (.*)\n/.exec(buf);
          if (m) {
            req.destroy();
            resolve(m[1]!);
          }
        });
      },
    );
    req.on('error', (e) => {
      if (!(e as NodeJS.ErrnoException).code?.includes('RESET')) reject(e);
    });
    setTimeout(() => reject(new Error('no live event')), 10_000).unref();
  });
  const live = JSON.parse(await got);
  assert.is(live.points[0].suppressed, true, 'live points pass disclosure control too');

  const m = await app.inject({ method: 'GET', url: '/metrics' });
  const metrics = { status: m.statusCode, text: m.body };
  assert.is(metrics.status, 200);
  for (const name of [
    METRIC.eventsIn,
    METRIC.eventsOut,
    METRIC.consumerLag,
    METRIC.deadLetters,
    METRIC.e2eLatency,
    METRIC.sinkLatency,
    METRIC.sinkErrors,
    METRIC.watermarkLag,
    METRIC.lateRecords,
  ]) {
    assert.ok(metrics.text.includes(name), `/metrics has ${name}`);
  }
  assert.match(
    metrics.text,
    /coalflow_consumer_lag\{group="[^"]*coalflow-indicators",topic="[^"]+coal\.sales\.v1",partition="0"\}/,
  );
  assert.match(metrics.text, /coalflow_sink_write_seconds_count\{sink="timescale"\} [1-9]/);
  assert.match(metrics.text, /coalflow_late_records_total\{feed="sales",kind="correction"\} [1-9]/);
  await app.close();
});

test.run();
