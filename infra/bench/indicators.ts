/**
 * Indicator bench, on the real Kafka broker and the embedded TimescaleDB:
 *  1. replay: N canonical sales records (300 mines, event-time order) encoded
 *     in the wire format and produced to Kafka, then consumed by one indicator
 *     worker into every sink (TimescaleDB, Redis, coal.indicators); sustained
 *     records/s from the first to the last committed batch;
 *  2. live: 200 records/s for `--live-seconds`, end-to-end latency from the
 *     produce call (the acceptance time, header coalflow-accepted-ms) to the
 *     indicator visible in Redis: p50/p99;
 *  3. memory: a year of per-mine daily state (300 mines × 365 days) loaded,
 *     RSS of the worker process (the embedded database included when in-process).
 * Prints one JSON summary (machine and date included).
 *
 *   node --import tsx infra/bench/indicators.ts [--records 100000] [--live-seconds 120] [--year-per-day 1] [--db process|inline] [--profile]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Runtime } from '../compose.ts';
import { createFeedSerde } from '../../pipelines/contracts/serde.ts';
import { topicOf, type SaleRecord } from '../../pipelines/contracts/types.ts';
import {
  ACCEPTED_HEADER,
  startIndicatorWorkers,
  type IndicatorWorkers,
} from '../../pipelines/indicators/runner.ts';
import { classify } from '../../pipelines/indicators/core.ts';
import { createTimescaleSink, premerge } from '../../pipelines/indicators/store.ts';
import { mulberry32 } from '../core/random.ts';
import { benchRuntime, cpuMeter, mb, REGIONS, sales, sleep } from './common.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    'live-seconds': { type: 'string', default: '120' },
    'live-rate': { type: 'string', default: '200' },
    'year-per-day': { type: 'string', default: '1' },
    mines: { type: 'string', default: '300' },
    db: { type: 'string', default: 'process' },
    skip: { type: 'string', default: '' },
    profile: { type: 'boolean', default: false },
    'derived-ms': { type: 'string', default: '' },
    linger: { type: 'string', default: '' },
    gap: { type: 'string', default: '' },
    'derived-keys': { type: 'string', default: '' },
  },
});

const N = Number(args.records);
const MINES = Number(args.mines);
const LIVE_SECONDS = Number(args['live-seconds']);
const LIVE_RATE = Number(args['live-rate']);
const skip = new Set(String(args.skip).split(',').filter(Boolean));

async function main() {
  const rt = await benchRuntime({ db: args.db === 'inline' ? 'inline' : 'process' });
  const dbRss = async () => (rt.dbProcess ? mb(await rt.dbProcess.rss()) : undefined);
  const profile = args.profile ? profileQueries(rt) : null;
  const serde = createFeedSerde(rt);
  await serde.registerAll();
  const topic = rt.topic(topicOf.canonical('sales'));
  await rt.broker.createTopics([{ topic }, { topic: rt.topic(topicOf.indicators) }]);
  const summary: Record<string, unknown> = {
    bench: 'indicators',
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    setup: {
      broker: rt.kinds.broker,
      db: `${rt.kinds.db}${rt.dbProcess ? ' in its own process' : ' in the worker process'}`,
      cache: rt.kinds.cache,
      partitions: 6,
      mines: MINES,
    },
  };
  const produce = async (
    records: Iterable<SaleRecord>,
    headers: (r: SaleRecord) => Record<string, string> = () => ({}),
  ) => {
    let batch: { key: string; value: Buffer; headers: Record<string, string> }[] = [];
    let n = 0;
    for (const r of records) {
      batch.push({ key: r.mineId, value: await serde.encode('sales', r), headers: headers(r) });
      if (batch.length === 5000) {
        await rt.broker.produce(topic, batch);
        n += batch.length;
        batch = [];
      }
    }
    if (batch.length) {
      await rt.broker.produce(topic, batch);
      n += batch.length;
    }
    return n;
  };
  let worker: IndicatorWorkers | null = null;
  const latencies: Record<string, number[]> = { direct: [], derived: [] };
  try {
    // 1. Replay.
    const day = 86_400_000;
    const start = Date.parse('2024-01-01T00:00:00+08:00');
    if (!skip.has('replay')) {
      const tEnc = performance.now();
      const produced = await produce(sales(1, start, N, Math.floor(day / (MINES * 30)) || 1, 'r', MINES));
      const encodeProduceS = (performance.now() - tEnc) / 1000;
      worker = startIndicatorWorkers(rt, {
        lagIntervalMs: 0,
        publishLive: true,
        workerId: 'bench',
        publish: process.env.BENCH_NO_PUBLISH ? false : undefined,
      });
      const t0 = performance.now();
      const cpu = cpuMeter(rt);
      await worker.start();
      let first = 0;
      while (worker.stats().records < produced) {
        await sleep(20);
        if (!first && worker.stats().completed) first = performance.now();
      }
      const consumed = performance.now();
      // End to end: every sink up to date = the outbox is empty.
      await worker.idle({ timeoutMs: 600_000 });
      const done = performance.now();
      const s = worker.stats();
      summary.replay = {
        records: produced,
        encodeAndProduceRecordsPerS: Math.round(produced / encodeProduceS),
        seconds: Math.round((done - t0) / 100) / 10,
        recordsPerS: Math.round(produced / ((done - t0) / 1000)),
        storedRecordsPerS: Math.round(produced / ((consumed - t0) / 1000)),
        publishTailS: Math.round((done - consumed) / 100) / 10,
        batches: s.batches,
        transactions: s.transactions,
        publishRounds: s.rounds,
        keysPublished: s.published,
        points: s.points,
        failures: s.failures + s.publishFailures,
        stageMs: Object.fromEntries(Object.entries(s.stageMs).map(([k, v]) => [k, Math.round(v)])),
        rssMb: mb(process.memoryUsage().rss),
        dbProcessRssMb: await dbRss(),
        // CPU per process over the replay: which one is the bottleneck (coreShare 1 = one core busy all along).
        cpu: cpu(),
      };
      console.error('replay', summary.replay);
      if (profile) {
        (summary.replay as Record<string, unknown>).queries = profile.top();
        profile.reset();
      }
    }
    // 2. Live: LIVE_RATE records/s, e2e latency.
    if (!skip.has('live')) {
      const tuned = {
        publishDerivedIntervalMs: args['derived-ms'] ? Number(args['derived-ms']) : undefined,
        commitLingerMs: args.linger ? Number(args.linger) : undefined,
        publishGapMs: args.gap ? Number(args.gap) : undefined,
        publishDerivedMaxKeys: args['derived-keys'] ? Number(args['derived-keys']) : undefined,
      };
      if (worker && Object.values(tuned).some((v) => v !== undefined)) {
        await worker.stop();
        worker = null;
      }
      worker ??= startIndicatorWorkers(rt, { lagIntervalMs: 0, workerId: 'bench', ...tuned });
      await worker.start();
      const liveStart = Date.now() - 60_000;
      const gen = sales(2, liveStart, LIVE_RATE * LIVE_SECONDS, Math.floor(1000 / LIVE_RATE), 'l', MINES);
      const liveBefore = worker.stats();
      const before = liveBefore.records;
      const tick = 50;
      const perTick = Math.max(1, Math.round((LIVE_RATE * tick) / 1000));
      const sent: number[] = [];
      const t0 = Date.now();
      let total = 0;
      const hook = latencyProbe(rt, latencies);
      for (let k = 0; total < LIVE_RATE * LIVE_SECONDS; k++) {
        const due = t0 + k * tick;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        const recs: SaleRecord[] = [];
        for (let i = 0; i < perTick; i++) {
          const x = gen.next();
          if (!x.done) recs.push(x.value);
        }
        if (!recs.length) break;
        total += await produce(recs, () => ({ [ACCEPTED_HEADER]: String(Date.now()) }));
        sent.push(Date.now());
      }
      while (worker.stats().records < before + total) await sleep(50);
      await sleep(300);
      hook.stop();
      const pct = (xs: number[]) => {
        xs.sort((a, b) => a - b);
        const q = (p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : null);
        return { samples: xs.length, p50Ms: q(0.5), p90Ms: q(0.9), p99Ms: q(0.99), maxMs: xs.at(-1) ?? null };
      };
      const ls = worker.stats();
      summary.live = {
        ratePerS: LIVE_RATE,
        seconds: LIVE_SECONDS,
        records: total,
        // direct: the indicators the record feeds (its mine's, region's, … hour/day/month/year cells); derived: trailing windows and derived metrics, republished every publishDerivedIntervalMs.
        direct: pct(latencies.direct!),
        derived: pct(latencies.derived!),
        transactions: ls.transactions - liveBefore.transactions,
        batches: ls.batches - liveBefore.batches,
        publishRounds: ls.rounds - liveBefore.rounds,
        stageMs: Object.fromEntries(
          Object.entries(ls.stageMs).map(([k, v]) => [
            k,
            Math.round(v - liveBefore.stageMs[k as keyof typeof ls.stageMs]),
          ]),
        ),
      };
      console.error('live', summary.live);
      if (profile) {
        (summary.live as Record<string, unknown>).queries = profile.top();
        profile.reset();
      }
    }
    await worker?.stop();
    worker = null;
    // 3. Memory: a year of per-mine daily state.
    if (!skip.has('memory')) {
      const perDay = Number(args['year-per-day']);
      const yearStart = Date.parse('2023-01-01T00:00:00+08:00');
      const count = MINES * 365 * perDay;
      // The year's facts go straight through the store sink in 5000-record transactions (the consumer's
      // own write path, minus Kafka: a year through the broker takes minutes), then one worker publishes
      // the whole outbox; RSS is taken after that.
      // RSS of this (worker) process sampled through the year phase: its peak, not the process lifetime's.
      let yearPeak = process.memoryUsage().rss;
      let storePeak = 0;
      let publishing = false;
      let atPeak: NodeJS.MemoryUsage = process.memoryUsage();
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        if (m.rss > yearPeak) {
          yearPeak = m.rss;
          atPeak = m;
        }
        if (!publishing) storePeak = Math.max(storePeak, m.rss);
      }, 100);
      const store = createTimescaleSink(rt);
      const r = mulberry32(3);
      let batch: SaleRecord[] = [];
      let i = 0;
      const t0 = performance.now();
      const write = async (recs: SaleRecord[]) => {
        await store.write({ feed: 'sales', topic: 'bench.year', partition: 0 }, (prev) => {
          const evs = recs.map((x) => Date.parse(x.grossTime));
          const { classes, state } = classify(evs, prev, rt.config.allowedLatenessMs);
          // As the consumer plans a batch (runner.ts planOf): deltas merged a record at a time.
          const items = recs.map((x, j) => ({
            record: x,
            eventMs: evs[j]!,
            lateness: classes[j]!,
            watermarkMs: 0,
          }));
          return { items, next: state, merged: premerge('sales', items) };
        });
      };
      for (let d = 0; d < 365; d++) {
        for (let m = 0; m < MINES; m++) {
          for (let k = 0; k < perDay; k++) {
            const t = yearStart + d * day + Math.floor(r() * day);
            const g = sales(1000 + i, t, 1, 1, `y${i}-`, MINES).next().value as SaleRecord;
            g.mineId = `M${m}`;
            g.regionCode = REGIONS[m % REGIONS.length]!;
            batch.push(g);
            i++;
            if (batch.length === 5000) {
              await write(batch);
              batch = [];
            }
          }
        }
      }
      if (batch.length) await write(batch);
      const stored = performance.now();
      publishing = true;
      const yw = startIndicatorWorkers(rt, {
        lagIntervalMs: 0,
        workerId: 'bench-year',
        publishLive: false,
        publish: false,
      });
      await yw.flush();
      global.gc?.();
      await sleep(500);
      clearInterval(sampler);
      const cells = await rt.db.query(
        `SELECT count(*) AS n FROM ind_cell WHERE scope = 'mine' AND win = 'day'`,
      );
      summary.memory = {
        how: 'a year of sales (one per mine per day) written through the store sink in 5000-record transactions (not via Kafka), then the whole outbox published by one worker (flush); RSS after that',
        records: count,
        seconds: Math.round((performance.now() - t0) / 100) / 10,
        storeSeconds: Math.round((stored - t0) / 100) / 10,
        mineDayCells: Number(cells.rows[0].n),
        rssMb: mb(process.memoryUsage().rss),
        peakRssMb: mb(yearPeak),
        peakRssWhileStoringMb: mb(storePeak),
        atPeakMb: {
          heapTotal: mb(atPeak.heapTotal),
          heapUsed: mb(atPeak.heapUsed),
          external: mb(atPeak.external),
          arrayBuffers: mb(atPeak.arrayBuffers),
        },
        heapUsedMb: mb(process.memoryUsage().heapUsed),
        dbProcessRssMb: await dbRss(),
      };
      console.error('memory', summary.memory);
      if (profile) {
        (summary.memory as Record<string, unknown>).queries = profile.top();
        profile.reset();
      }
    }
  } finally {
    await worker?.stop();
    await rt.close();
  }
  console.log(JSON.stringify(summary, null, 2));
}

/**
 * --profile: time per statement on the connection (from send to result: the database's work plus the wire,
 * not the wait for the single connection), the store's transactions included; and the share of the
 * profiled phase the connection was busy.
 */
function profileQueries(rt: Runtime) {
  const acc = new Map<string, { ms: number; calls: number; rows: number }>();
  let since = performance.now();
  const wrap = (client: { query: (...a: unknown[]) => unknown; __profiled?: boolean }) => {
    if (client.__profiled) return;
    client.__profiled = true;
    const orig = client.query.bind(client) as (...a: unknown[]) => Promise<{ rows?: unknown[] }>;
    client.query = (...a: unknown[]) => {
      const sql = typeof a[0] === 'string' ? a[0] : String((a[0] as { text?: string }).text ?? '');
      const k = sql.replace(/\s+/g, ' ').trim().slice(0, 90);
      const t = performance.now();
      const note = (r: { rows?: unknown[] } | undefined) => {
        const e = acc.get(k) ?? { ms: 0, calls: 0, rows: 0 };
        e.ms += performance.now() - t;
        e.calls++;
        e.rows += r?.rows?.length ?? 0;
        acc.set(k, e);
      };
      // pool.query calls the client with a callback.
      const cb = a.at(-1);
      if (typeof cb === 'function')
        return orig(...a.slice(0, -1), (err: unknown, r: { rows?: unknown[] }) => {
          note(r);
          (cb as (e: unknown, r: unknown) => void)(err, r);
        });
      return orig(...a).then((r) => {
        note(r);
        return r;
      });
    };
  };
  (rt.db as unknown as { on(ev: 'connect', fn: (c: never) => void): void }).on('connect', wrap);
  // Clients the pool opened before (migrations): pg keeps them in _clients.
  for (const c of (rt.db as unknown as { _clients?: never[] })._clients ?? []) wrap(c);
  return {
    top: () => {
      const busy = [...acc.values()].reduce((x, e) => x + e.ms, 0);
      const list = [...acc]
        .sort((x, y) => y[1].ms - x[1].ms)
        .slice(0, 20)
        .map(([sql, e]) => ({ sql, ms: Math.round(e.ms), calls: e.calls, rows: e.rows }));
      return {
        connectionBusyShare: Math.round((busy / (performance.now() - since)) * 100) / 100,
        statements: list,
      };
    },
    reset: () => {
      acc.clear();
      since = performance.now();
    },
  };
}

/** Measures record → Redis latency by subscribing to the live channel is not per record; use the e2e histogram's raw observations instead. */
function latencyProbe(rt: Runtime, out: Record<string, number[]>) {
  const h = rt.metrics.e2eLatency;
  const orig = h.observe.bind(h);
  (h as unknown as { observe: typeof h.observe }).observe = ((labels: { lane?: string }, v: number) => {
    (out[labels.lane ?? 'direct'] ??= []).push(Math.round(v * 1000));
    return orig(labels, v);
  }) as typeof h.observe;
  return {
    stop: () => {
      (h as unknown as { observe: typeof h.observe }).observe = orig;
    },
  };
}

await main();
