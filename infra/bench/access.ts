/**
 * `npm run bench -- access`: the latest-snapshot route (a region list: disclosure control with secondary
 * suppression) and the days-of-stock route, served by two apps on the same runtime in the same run: one with
 * the access layer (key lookup, grant check, entity filter, rate limit and quota in Redis, one audit row per
 * request in the embedded TimescaleDB) and one without it. The load comes from a separate process; phases
 * alternate (off, on, off, on) so drift of the shared machine hits both. Reports req/s, p50/p99 and the ratio.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../api/server.ts';
import { indicatorRoutes } from '../../api/routes/indicators.ts';
import { createAccess } from '../../api/access/index.ts';
import { createRedisSink } from '../../pipelines/indicators/snapshots.ts';
import { CITY_ID, type IndicatorPoint } from '../../pipelines/indicators/model.ts';
import { benchRuntime, cpuMeter, cpuSecondsOf, REGIONS } from './common.ts';

const SECONDS = Number(process.env.BENCH_ACCESS_SECONDS || 10);
const CONCURRENCY = Number(process.env.BENCH_ACCESS_CONCURRENCY || 16);
const root = new URL('../..', import.meta.url).pathname;

const rt = await benchRuntime({ prefix: 'benchaccess' });
const day = Date.parse('2026-10-14T16:00:00Z');
const pts: IndicatorPoint[] = [];
const pt = (
  family: IndicatorPoint['family'],
  metric: string,
  scope: IndicatorPoint['scope'],
  scopeId: string,
  value: number,
  contributors: number | null,
  topShare: number | null,
  unit: string,
): IndicatorPoint => ({
  family,
  metric,
  scope,
  scopeId,
  window: 'day',
  windowStart: day,
  value,
  unit,
  n: 100,
  contributors,
  topShare,
});
for (const [i, r] of REGIONS.entries())
  for (const m of ['volume_t', 'value_yuan', 'count'])
    pts.push(pt('sales', m, 'region', r, 1000 * (i + 1), i === 2 ? 2 : 3 + i, 0.4, 't'));
pts.push(pt('sales', 'volume_t', 'city', CITY_ID, 50_000, 40, 0.1, 't'));
for (let u = 0; u < 30; u++)
  for (const m of ['days', 'avg_daily_consumption_t', 'days_change_7d'])
    pts.push(pt('days_of_stock', m, 'user', `U${u}`, 10 + u, null, null, 'days'));
await createRedisSink(rt).write(pts, { version: 1, live: false });

const on = await buildApp(rt, {
  plugins: [indicatorRoutes],
  access: createAccess(rt, {
    ratePerSecond: 1_000_000,
    auditFlushMs: Number(process.env.BENCH_AUDIT_FLUSH_MS || 500),
  }),
});
const off = await buildApp(rt, { plugins: [indicatorRoutes], access: false });
await on.listen({ port: 0, host: '127.0.0.1' });
await off.listen({ port: 0, host: '127.0.0.1' });
const store = on.access.store;
await store.createSubscriber({
  id: 'bench-ent',
  name: '基准企业',
  kind: 'enterprise',
  creditCode: '91150602MA0000001A',
});
await store.addGrant('bench-ent', {
  products: ['indicator.sales'],
  mines: ['M1'],
  purpose: 'bench',
  tier: 'industry',
  quotaPerDay: 100_000_000,
});
await store.createSubscriber({ id: 'bench-plant', name: '基准电厂', kind: 'coal_user' });
await store.addGrant('bench-plant', {
  products: ['indicator.days_of_stock'],
  users: ['U7'],
  purpose: 'bench',
  tier: 'industry',
  quotaPerDay: 100_000_000,
});
const entKey = (await store.createKey('bench-ent')).key;
const plantKey = (await store.createKey('bench-plant')).key;

const paths = ['/v1/indicators/latest?family=sales&scope=region', '/v1/days-of-stock?user=U7'];
const headers = [{ authorization: `Bearer ${entKey}` }, { authorization: `Bearer ${plantKey}` }];
const port = (app: typeof on) => (app.server.address() as AddressInfo).port;

interface Run {
  requests: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  /** CPU of the API process (this one: both apps live here, one is loaded at a time) per request, ms. */
  apiCpuMsPerReq?: number;
  /** CPU of the database process per request (audit rows), ms. */
  dbCpuMsPerReq?: number | null;
}
/** Runs the load client and measures this process's and the database's CPU over the phase. */
async function load(app: typeof on, seconds: number): Promise<Run> {
  const dbPid = rt.dbProcess?.pid ?? null;
  const db0 = dbPid === null ? null : cpuSecondsOf(dbPid);
  const c0 = process.cpuUsage();
  const r = await loadOnce(app, seconds);
  const c = process.cpuUsage(c0);
  if (app === on) await on.access.flush();
  const db1 = dbPid === null ? null : cpuSecondsOf(dbPid);
  const n = Math.max(1, r.requests);
  r.apiCpuMsPerReq = Math.round(((c.user + c.system) / 1000 / n) * 1000) / 1000;
  r.dbCpuMsPerReq =
    db0 === null || db1 === null ? null : Math.round((((db1 - db0) * 1000) / n) * 1000) / 1000;
  return r;
}
function loadOnce(app: typeof on, seconds: number): Promise<Run> {
  const args = JSON.stringify({
    urls: paths.map((p) => `http://127.0.0.1:${port(app)}${p}`),
    headers,
    concurrency: CONCURRENCY,
    seconds,
  });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${root}infra/bench/access-client.ts`, args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!))
        : reject(new Error(`client exit ${code}`)),
    );
  });
}

await load(off, 2);
await load(on, 2);
const runs: { off: Run[]; on: Run[] } = { off: [], on: [] };
const cpu = cpuMeter(rt);
for (let i = 0; i < 2; i++) {
  runs.off.push(await load(off, SECONDS));
  runs.on.push(await load(on, SECONDS));
}
const cpuUse = cpu();
await on.access.flush();
const audited = Number(
  (
    await rt.db.query(
      `SELECT count(*) AS n FROM access_audit WHERE subscriber_id IN ('bench-ent', 'bench-plant')`,
    )
  ).rows[0].n,
);
const sum = (rs: Run[]) => {
  const req = rs.reduce((a, r) => a + r.requests, 0);
  return {
    requests: req,
    reqPerS: Math.round(rs.reduce((a, r) => a + r.reqPerS, 0) / rs.length),
    p50Ms: Math.max(...rs.map((r) => r.p50Ms)),
    p99Ms: Math.max(...rs.map((r) => r.p99Ms)),
    apiCpuMsPerReq:
      Math.round((rs.reduce((a, r) => a + (r.apiCpuMsPerReq ?? 0) * r.requests, 0) / req) * 1000) / 1000,
    dbCpuMsPerReq:
      Math.round((rs.reduce((a, r) => a + (r.dbCpuMsPerReq ?? 0) * r.requests, 0) / req) * 1000) / 1000,
    statuses: rs.map((r) => r.statuses),
  };
};
const a = sum(runs.off);
const b = sum(runs.on);
const summary = {
  bench: 'access',
  seconds: SECONDS,
  concurrency: CONCURRENCY,
  routes: paths,
  withoutAccess: a,
  withAccess: { ...b, auditRows: audited },
  overheadRatio: Math.round((a.reqPerS / b.reqPerS) * 100) / 100,
  p99Ratio: Math.round((b.p99Ms / Math.max(0.01, a.p99Ms)) * 100) / 100,
  cpu: cpuUse,
  loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
};
console.log(JSON.stringify(summary, null, 2));
const keys = await rt.redis.keys(`coalflow:${rt.config.topicPrefix}*`);
if (keys.length) await rt.redis.del(...keys);
await on.close();
await off.close();
await rt.close();
process.exit(0);
