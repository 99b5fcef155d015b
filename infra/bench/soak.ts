/**
 * `npm run soak [-- --minutes 30 --rate 200 --sse 50 --speed 10]`: the whole system (simulator, ingest and
 * indicator workers, API) on the real services for a long run, with the API under a steady rate of mixed authorized
 * queries over several keys and live subscribers on the SSE streams. Not part of `npm test`.
 *
 * "10× Ordos' real rate": the simulator's world produces ≈ 20,000 records per simulated day (≈ 0.23/s in real
 * time); `--speed 10` runs it at 10 simulated seconds per wall-clock second, ≈ 2.3 records/s (≈ 200,000 a day).
 * An accelerated run starts 7 days back, so at 10× it never catches up with the clock during a soak.
 *
 * The embedded database keeps its data in a temporary directory on disk (removed at the end; `--data-dir <dir>` or
 * `--data-dir memory` to choose), as `npm start` does: in memory, its process would grow with every row it keeps.
 *
 * Reports errors (expected 0), RSS of the process and of the embedded database (samples and slope in MB/h by linear
 * regression), p50/p99 per route, record-to-indicator latency p50/p99 (the end-to-end histogram: accepted → visible
 * in Redis), consumer lag samples and slope, SSE events received. Writes `results.soak` into bench-results.json
 * (other benches' results kept) and prints a README-ready table.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { linearRegression } from 'simple-statistics';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/log.ts';
import { buildRuntime } from '../compose.ts';
import { startSystem } from '../system.ts';
import { FEEDS, topicOf, INDICATOR_GROUP } from '../../pipelines/index.ts';
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mb } from './common.ts';

const root = new URL('../..', import.meta.url).pathname;

const argv = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && Number.isFinite(Number(argv[i + 1])) ? Number(argv[i + 1]) : def;
};
const MINUTES = arg('minutes', 30);
const RATE = arg('rate', 200);
const SSE = arg('sse', 50);
const SPEED = arg('speed', 10);
const SAMPLE_MS = arg('sample-seconds', 10) * 1000;
const PORT = arg('port', 18_000 + Math.floor(Math.random() * 1000));
// The embedded database on disk, as `npm start` runs it (in memory, its process would grow with every row kept).
const dataDirArg = argv.includes('--data-dir') ? argv[argv.indexOf('--data-dir') + 1] : undefined;
const tmpData = dataDirArg ? null : mkdtempSync(join(os.tmpdir(), 'coalflow-soak-'));
const DATA_DIR = dataDirArg ?? join(tmpData!, 'pglite');

const prefix = `soak${Date.now().toString(36)}.`;
const env: Record<string, string> = {
  KAFKA_BROKERS: process.env.KAFKA_BROKERS || '127.0.0.1:9092',
  REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  COALFLOW_TOKEN_SECRET: 'soak',
  COALFLOW_DATA_DIR: DATA_DIR,
  COALFLOW_TOPIC_PREFIX: prefix,
  COALFLOW_SIMULATOR: 'true',
  COALFLOW_SIM_SPEED: String(SPEED),
  COALFLOW_SIM_HISTORY_DAYS: '0',
  COALFLOW_TOPIC_PARTITIONS: '6',
  COALFLOW_FORECAST_INTERVAL_MS: '0',
  COALFLOW_ALERT_STALE_CHECK_MS: '0',
  PORT: String(PORT),
  HOST: '127.0.0.1',
  LOG_LEVEL: process.env.LOG_LEVEL || 'error',
};
if (process.env.SCHEMA_REGISTRY_URL) env.SCHEMA_REGISTRY_URL = process.env.SCHEMA_REGISTRY_URL;
const rt = await buildRuntime(loadConfig(env, { dataDir: DATA_DIR }), {
  log: createLogger({ level: env.LOG_LEVEL }),
});
const sys = await startSystem(rt, ['worker', 'api', 'simulator']);
const app = sys.app!;
const base = `http://127.0.0.1:${PORT}`;
console.error(
  `soak: ${MINUTES} min, ${RATE} req/s, ${SSE} SSE subscribers, simulator at ${SPEED}× real rate, ${base}`,
);

// Keys of every kind: the requests spread over them (each stays under its per-key rate limit).
const store = app.access.store;
async function key(
  kind: 'government' | 'enterprise' | 'coal_user' | 'operator',
  grant?: Parameters<typeof store.addGrant>[1],
) {
  const s = await store.createSubscriber({
    id: `soak-${kind}-${Math.random().toString(36).slice(2, 8)}`,
    name: `压测 ${kind}`,
    kind,
    creditCode: kind === 'enterprise' ? '91150622MA0N1B2C3D' : null,
  });
  if (grant) await store.addGrant(s.id, grant);
  return (await store.createKey(s.id, { label: 'soak' })).key;
}
const all = [
  'indicator.sales',
  'indicator.price',
  'indicator.days_of_stock',
  'indicator.inventory',
  'indicator.transport',
  'live',
  'forecast',
  'report',
  'alert',
];
const keys = {
  gov1: await key('government', {
    products: all,
    mines: ['*'],
    users: ['*'],
    purpose: '压测',
    tier: 'public',
  }),
  gov2: await key('government', {
    products: all,
    mines: ['*'],
    users: ['*'],
    purpose: '压测',
    tier: 'public',
  }),
  gov3: await key('government', {
    products: all,
    mines: ['*'],
    users: ['*'],
    purpose: '压测',
    tier: 'public',
  }),
  ent: await key('enterprise', {
    products: all,
    mines: ['91150622MA0N1B2C3D'],
    purpose: '压测',
    tier: 'industry',
  }),
  plant: await key('coal_user', { products: all, users: ['*'], purpose: '压测', tier: 'industry' }),
  op: await key('operator'),
};

/** The mix: [label, key, url]. Routes of the access tests, weighted towards what dashboards ask. */
const MIX: [string, keyof typeof keys, string][] = [
  ['latest price city', 'gov1', '/v1/indicators/latest?family=price&scope=city'],
  ['latest sales region', 'gov2', '/v1/indicators/latest?family=sales&scope=region'],
  ['latest sales mine (own)', 'ent', '/v1/indicators/latest?family=sales&scope=mine'],
  ['latest days_of_stock sector', 'plant', '/v1/indicators/latest?family=days_of_stock&scope=sector'],
  ['latest transport route', 'gov3', '/v1/indicators/latest?family=transport&scope=route'],
  [
    'series sales city 30 d',
    'gov1',
    '/v1/indicators/series?family=sales&metric=volume_t&scope=city&window=day',
  ],
  [
    'series price coal_type 7 d',
    'gov2',
    `/v1/indicators/series?family=price&metric=vwap_yuan_per_t&scope=coal_type&window=day&from=${new Date(Date.now() - 7 * 86_400_000).toISOString()}`,
  ],
  ['forecasts', 'gov3', '/v1/forecasts'],
  ['alerts', 'ent', '/v1/alerts'],
  ['reports', 'plant', '/v1/reports'],
  ['me', 'plant', '/v1/me'],
  ['catalog (public)', 'gov1', '/v1/indicators/catalog'],
  ['rejects (operator)', 'op', '/v1/rejects?limit=20'],
];

// The load runs in a child process (its own event loop and core share), like the access bench's client.
const sseFamilies = ['sales', 'price', 'inventory', 'transport', 'days_of_stock'];
const clientArgs = JSON.stringify({
  base,
  mix: MIX.map(([label, k, url]) => [label, url, `Bearer ${keys[k]}`]),
  rate: RATE,
  seconds: MINUTES * 60,
  sse: {
    urls: Array.from(
      { length: SSE },
      (_, i) => `/v1/live/${sseFamilies[i % sseFamilies.length]}?key=${keys.gov1}`,
    ),
  },
});
const client = new Promise<ClientResult>((resolve) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'infra/bench/soak-client.ts'), clientArgs],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.on('close', () => {
    try {
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ClientResult);
    } catch {
      resolve({
        sent: 0,
        skipped: 0,
        errors: -1,
        errorSamples: [`client output: ${out.slice(0, 300)}`],
        sseEvents: 0,
        sseErrors: 0,
        routes: {},
      });
    }
  });
});
interface ClientResult {
  sent: number;
  skipped: number;
  errors: number;
  errorSamples: string[];
  sseEvents: number;
  sseErrors: number;
  routes: Record<string, { n: number; p50Ms: number; p99Ms: number; statuses?: Record<string, number> }>;
}

// Samples: RSS of this process and of the database process, consumer lag of both groups.
const t0 = Date.now();
const samples: {
  tMin: number;
  rssMb: number;
  dbRssMb: number | null;
  dbSizeMb: number | null;
  lag: number;
  heapMb: number;
}[] = [];
async function lagNow(): Promise<number> {
  let sum = 0;
  const groups: [string, string[]][] = [
    [rt.topic('coalflow-ingest'), FEEDS.map((f) => rt.topic(topicOf.raw(f)))],
    [rt.topic(INDICATOR_GROUP), FEEDS.map((f) => rt.topic(topicOf.canonical(f)))],
  ];
  for (const [g, topics] of groups)
    for (const t of topics)
      for (const p of await rt.broker.lag(g, t).catch(() => []))
        sum += Math.max(0, Number(p.end) - Math.max(0, Number(p.committed)));
  return sum;
}
async function sample() {
  samples.push({
    tMin: (Date.now() - t0) / 60_000,
    rssMb: mb(process.memoryUsage().rss),
    heapMb: mb(process.memoryUsage().heapUsed),
    dbRssMb: rt.dbProcess ? mb(await rt.dbProcess.rss().catch(() => 0)) : null,
    dbSizeMb: await rt.db
      .query(`SELECT pg_database_size(current_database())::float8 AS b`)
      .then((r) => mb(Number(r.rows[0].b)))
      .catch(() => null),
    lag: await lagNow(),
  });
}

// How late the server process's event loop runs: a blocked or CPU-starved loop delays every route alike.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const sampler = setInterval(() => void sample(), SAMPLE_MS);
await sample();
const load = await client;
loopDelay.disable();
clearInterval(sampler);
await sample();

// Record-to-indicator latency from the end-to-end histogram (bucket bounds: the quantile's upper bucket edge).
const hist = await rt.metrics.e2eLatency.get();
const buckets = new Map<number, number>();
for (const v of hist.values) {
  const le = (v.labels as Record<string, string | number | undefined>).le;
  if (v.metricName?.endsWith('_bucket') && le !== undefined && le !== '+Inf')
    buckets.set(Number(le), (buckets.get(Number(le)) ?? 0) + v.value);
}
const total = hist.values.filter((v) => v.metricName?.endsWith('_count')).reduce((a, v) => a + v.value, 0);
const edges = [...buckets.keys()].sort((a, b) => a - b);
/** The bucket edge (ms) at or under which a share `q` of the records became visible; `> last edge` beyond the buckets. */
const histQ = (q: number): number | string | null => {
  if (!total) return null;
  const edge = edges.find((e) => buckets.get(e)! >= q * total);
  return edge === undefined ? `> ${edges.at(-1)! * 1000}` : edge * 1000;
};
const slope = (ys: (number | null)[]) => {
  const pts = samples
    .map((s, i) => [s.tMin / 60, ys[i]] as [number, number | null])
    .filter((p): p is [number, number] => p[1] !== null);
  return pts.length >= 2 ? Math.round(linearRegression(pts).m * 10) / 10 : null;
};
const { routes, sent, skipped, errors, errorSamples, sseEvents, sseErrors } = load;
const loadavg = os.loadavg().map((x) => Math.round(x * 10) / 10);
const summary = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  loadAverageAtEnd: loadavg,
  minutes: MINUTES,
  simSpeed: SPEED,
  targetRatePerS: RATE,
  requests: sent,
  achievedRatePerS: Math.round((sent - skipped) / (MINUTES * 60)),
  skippedInFlightBound: skipped,
  errors,
  errorSamples,
  eventLoopDelayMs: {
    p50: Math.round(loopDelay.percentile(50) / 1e5) / 10,
    p99: Math.round(loopDelay.percentile(99) / 1e5) / 10,
    max: Math.round(loopDelay.max / 1e5) / 10,
  },
  recordsIndicated: total,
  recordToIndicatorMs: { p50: histQ(0.5), p99: histQ(0.99) },
  rssMbPerHour: slope(samples.map((s) => s.rssMb)),
  dbRssMbPerHour: slope(samples.map((s) => s.dbRssMb)),
  heapMbPerHour: slope(samples.map((s) => s.heapMb)),
  dbSizeMbPerHour: slope(samples.map((s) => s.dbSizeMb)),
  dataDir: tmpData ? 'temporary directory on disk' : DATA_DIR,
  lagPerHour: slope(samples.map((s) => s.lag)),
  lagMax: Math.max(...samples.map((s) => s.lag)),
  sseSubscribers: SSE,
  sseEvents,
  sseErrors,
  routes,
  samples,
};

await sys.stop();
if (tmpData) rmSync(tmpData, { recursive: true, force: true });
// Topics and Redis keys of this run are left to the broker's and Redis's own cleanup tools: prefix `${prefix}`.

const file = join(root, 'bench-results.json');
let doc: { results?: Record<string, unknown> } & Record<string, unknown> = {};
try {
  doc = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  /* first run */
}
doc.results = { ...(doc.results ?? {}), soak: summary };
writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);

const rows = [
  `| figure | value |`,
  `|---|---|`,
  `| run | ${summary.date.slice(0, 16).replace('T', ' ')} UTC, ${MINUTES} min, load average at end ${loadavg.join(' / ')} |`,
  `| simulator | ${SPEED}× real rate; ${total} records reached the indicators |`,
  `| API requests | ${sent} at ${RATE}/s target (${summary.achievedRatePerS}/s sent; ${skipped} skipped at 400 in flight) |`,
  `| errors (status ≥ 400 or failed) | ${errors} |`,
  `| server event-loop delay p50 / p99 / max | ${summary.eventLoopDelayMs.p50} / ${summary.eventLoopDelayMs.p99} / ${summary.eventLoopDelayMs.max} ms |`,
  `| record → indicator p50 / p99 | ${summary.recordToIndicatorMs.p50 ?? '–'} / ${summary.recordToIndicatorMs.p99 ?? '–'} ms (histogram bucket edges) |`,
  `| RSS API+workers: first / last / slope | ${samples[0]!.rssMb} / ${samples.at(-1)!.rssMb} MB / ${summary.rssMbPerHour} MB/h |`,
  `| RSS database process: first / last / slope | ${samples[0]!.dbRssMb ?? '–'} / ${samples.at(-1)!.dbRssMb ?? '–'} MB / ${summary.dbRssMbPerHour ?? '–'} MB/h |`,
  `| JS heap used API+workers: first / last / slope | ${samples[0]!.heapMb} / ${samples.at(-1)!.heapMb} MB / ${summary.heapMbPerHour} MB/h |`,
  `| database size (${summary.dataDir}): first / last / slope | ${samples[0]!.dbSizeMb ?? '–'} / ${samples.at(-1)!.dbSizeMb ?? '–'} MB / ${summary.dbSizeMbPerHour ?? '–'} MB/h |`,
  `| consumer lag: max / slope | ${summary.lagMax} records / ${summary.lagPerHour} per h |`,
  `| SSE: subscribers / events / errors | ${SSE} / ${sseEvents} / ${sseErrors} |`,
  ...Object.entries(routes).map(([l, r]) => `| ${l}: n, p50 / p99 | ${r.n}, ${r.p50Ms} / ${r.p99Ms} ms |`),
];
console.log(rows.join('\n'));
console.log(JSON.stringify({ ...summary, samples: undefined }));
process.exit(0);
