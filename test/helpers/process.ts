/**
 * Running `coalflow` as a separate process, for the fault tests: its environment, spawn it in a process group of
 * its own (the embedded database's child is in it too), wait until it answers, read its demo operator key, SIGKILL
 * or SIGTERM the group, open its data directory once it stopped; raw weighbridge sales and the totals the tests
 * compute from them independently, and the checks of what was stored against those totals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { KafkaBroker } from '../../infra/broker/kafka.ts';
import { buildRuntime, type Runtime } from '../../infra/compose.ts';
import { loadConfig } from '../../infra/core/config.ts';
import { createLogger } from '../../infra/core/log.ts';
import { metricDef } from '../../pipelines/indicators/model.ts';
import { series } from '../../pipelines/indicators/queries.ts';
import { eventually } from './runtime.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The environment of a `coalflow start` under test: data directory and demo-keys file under `dir`, no simulator,
 * forecasts or embedded maintenance timer; `extra` adds or overrides. With a broker (`KAFKA_BROKERS` in `extra`),
 * the schema registry of the run too.
 */
export function startEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    COALFLOW_TOKEN_SECRET: 'test-secret',
    COALFLOW_DATA_DIR: join(dir, 'pglite'),
    COALFLOW_SIMULATOR: 'false',
    COALFLOW_DEMO_KEYS_FILE: join(dir, 'demo-keys.json'),
    COALFLOW_FORECAST_INTERVAL_MS: '0',
    COALFLOW_EMBEDDED_MAINTENANCE_MS: '0',
    ...extra,
  };
  if (env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL)
    env.SCHEMA_REGISTRY_URL ??= process.env.SCHEMA_REGISTRY_URL;
  return env;
}

export interface Proc {
  child: ChildProcess;
  port: number;
  /** stderr so far (the last 20,000 characters; the last part is shown when the process dies early). */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `coalflow <command>` in a new process group with exactly `env` (plus PATH and HOME). A demo-keys file
 * named in `env` is removed first, so the keys read afterwards are this process's.
 */
export function spawnCoalflow(command: string[], env: Record<string, string>, port: number): Proc {
  if (env.COALFLOW_DEMO_KEYS_FILE) rmSync(env.COALFLOW_DEMO_KEYS_FILE, { force: true });
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'infra/cli.ts'), ...command], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err = (err + d).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, port, stderr: () => err, exited };
}

/** Waits until the process's `/healthz` answers 200 (fails at once if the process exits). */
export async function healthy(p: Proc, timeoutMs = 120_000): Promise<void> {
  await eventually(
    async () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(
          `coalflow exited ${p.child.exitCode ?? p.child.signalCode}: ${p.stderr().slice(-800)}`,
        );
      return (await fetch(`http://127.0.0.1:${p.port}/healthz`)).status === 200;
    },
    { timeoutMs, intervalMs: 100, what: '/healthz 200' },
  );
}

/** `coalflow start` with `env` on a free port, once `/healthz` answers 200 (killed if it never does). */
export async function startCoalflow(env: Record<string, string>): Promise<Proc> {
  const p = spawnCoalflow(['start'], env, await freePort());
  try {
    await healthy(p);
  } catch (err) {
    await killGroup(p);
    throw err;
  }
  return p;
}

/** The operator's demo key the running start wrote to `env.COALFLOW_DEMO_KEYS_FILE` (each start writes fresh ones). */
export async function operatorKey(env: Record<string, string>): Promise<string> {
  return eventually(
    () =>
      (
        JSON.parse(readFileSync(env.COALFLOW_DEMO_KEYS_FILE!, 'utf8')) as {
          keys: { kind: string; key: string }[];
        }
      ).keys.find((k) => k.kind === 'operator')?.key,
    { timeoutMs: 60_000, intervalMs: 100, what: 'the demo operator key' },
  ) as Promise<string>;
}

/** Whether a process of group `pgid` still runs: a member that is only a zombie (killed, not reaped) holds nothing. */
function groupRuns(pgid: number): boolean {
  let procs: string[];
  try {
    procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    // No /proc: any member, zombies included.
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return procs.some((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // After the command name: state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z';
    } catch {
      return false;
    }
  });
}

/**
 * SIGKILLs the whole process group (the process and the embedded database's child) and waits for the exit and
 * until no process of the group runs any more (the data directory's lock is then free), at most 5 s.
 */
export async function killGroup(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(-p.child.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
  await p.exited;
  for (const until = Date.now() + 5000; groupRuns(p.child.pid!) && Date.now() < until;)
    await new Promise((r) => setTimeout(r, 20));
}

/**
 * Opens the data directory of a stopped `coalflow start` (its `env`, `overrides` on top; no broker; the embedded
 * database in this process, a second faster than its own process) and runs `fn` on that runtime, closed afterwards.
 */
export async function withDataDir<T>(
  env: Record<string, string>,
  fn: (rt: Runtime) => Promise<T>,
  overrides: Record<string, string> = {},
): Promise<T> {
  const rt = await buildRuntime(
    loadConfig({ ...env, KAFKA_BROKERS: '', COALFLOW_EMBEDDED_DB: 'inline', ...overrides }),
    {
      log: createLogger({ level: 'error' }),
    },
  );
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** A Kafka admin/producer of the test itself (not the process under test). */
export function testBroker(brokers: string): KafkaBroker {
  return new KafkaBroker({
    brokers: brokers.split(','),
    clientId: 'coalflow-fault-test',
    log: createLogger({ level: 'error' }),
    partitions: 3,
    replicationFactor: 1,
  });
}

export const REGIONS = ['150602', '150621', '150622', '150627'] as const;
const CST = 8 * 3600_000;
const DAY = 86_400_000;
/** 2025-03-01 00:00 +08:00 */
const T0 = Date.parse('2025-03-01T00:00:00+08:00');

export interface RawSale {
  key: string;
  record: Record<string, string>;
  region: string;
  day: number;
  netKg: number;
}

const fmt = (ms: number) => new Date(ms + CST).toISOString().slice(0, 19).replace('T', ' ');

/**
 * One raw weighbridge sale (Chinese field names, as the city platform sends them): net `net` t over a 16.1 t
 * tare at 620 yuan/t; by default of one mine in region 150622, weighed on 2025-03-01 08:40:12.
 */
export function sale(
  id: string,
  net: number,
  at: { region?: string; company?: string; emptyAt?: string; weighedAt?: string } = {},
): Record<string, string> {
  const tare = 16.1;
  return {
    销售编号: id,
    行政区划: at.region ?? '150622',
    企业名称: at.company ?? '准格尔旗黑岱沟露天煤矿',
    煤种名称: '5500混煤',
    发热量: '5500大卡',
    毛重: (tare + net).toFixed(2),
    皮重: tare.toFixed(2),
    净重: net.toFixed(2),
    单价: '620',
    总价: (620 * net).toFixed(2),
    过空时间: at.emptyAt ?? '2025-03-01 08:12',
    过重时间: at.weighedAt ?? '2025-03-01 08:40:12',
  };
}

/** The records' net weight in hundredths of a tonne, summed from the records alone. */
export function netCenti(records: Record<string, string>[]): number {
  return records.reduce((a, r) => a + Math.round(Number(r['净重']) * 100), 0);
}

/** `n` raw weighbridge sales, 12 mines in 4 regions, 5 days. */
export function rawSales(run: string, n: number, from = 0): RawSale[] {
  const out: RawSale[] = [];
  for (let i = from; i < from + n; i++) {
    const mine = i % 12;
    const region = REGIONS[mine % REGIONS.length]!;
    const day = T0 + (Math.floor(i / 12) % 5) * DAY;
    const t = day + 6 * 3600_000 + ((i * 7919) % (14 * 3600)) * 1000;
    const net = 20 + ((i * 37) % 1500) / 100;
    out.push({
      key: `mine-${mine}`,
      region,
      day,
      netKg: Math.round(net * 1000),
      record: sale(`${run}-${i}`, net, {
        region,
        company: `测试煤矿${mine}号`,
        emptyAt: fmt(t - 20 * 60_000),
        weighedAt: fmt(t),
      }),
    });
  }
  return out;
}

/** Expected tonnage (kg) and count per region and day, and for the city, from the records alone. */
export function expectedTotals(sales: RawSale[]): Map<string, { kg: number; n: number }> {
  const m = new Map<string, { kg: number; n: number }>();
  for (const s of sales)
    for (const k of [`region:${s.region}:${s.day}`, `city:150600:${s.day}`]) {
      const c = m.get(k) ?? { kg: 0, n: 0 };
      c.kg += s.netKg;
      c.n++;
      m.set(k, c);
    }
  return m;
}

/**
 * Asserts on a stopped process's database that every sale of `run` is one fact (none lost, none twice) and that
 * the daily tonnage and count per region and for the city equal `expectedTotals(sales)`, every cell present and
 * none more. Missing sales are described (how many, which ids, their ingest state) before the assertion fails.
 */
export async function assertStoredOnce(db: Runtime['db'], run: string, sales: RawSale[]): Promise<void> {
  const facts = await db.query(
    `SELECT count(*)::int AS n, count(DISTINCT record_id)::int AS d FROM fact_sales WHERE record_id LIKE $1`,
    [`${run}-%`],
  );
  if (facts.rows[0].d !== sales.length) {
    const have = new Set(
      (await db.query(`SELECT record_id FROM fact_sales WHERE record_id LIKE $1`, [`${run}-%`])).rows.map(
        (r) => r.record_id as string,
      ),
    );
    const missing = sales.map((x) => x.record.销售编号!).filter((id) => !have.has(id));
    const idx = missing.map((id) => Number(id.split('-').at(-1)));
    const seen = await db.query(
      `SELECT state, count(*)::int AS n, min(source_ref) AS a, max(source_ref) AS b FROM ingest_seen
        WHERE record_id = ANY($1::text[]) GROUP BY 1`,
      [missing],
    );
    console.log('  missing', missing.length, 'from', Math.min(...idx), 'to', Math.max(...idx), seen.rows);
  }
  assert.is(facts.rows[0].d, sales.length, 'every sale stored');
  assert.is(facts.rows[0].n, sales.length, 'none twice');
  const expected = expectedTotals(sales);
  const def = metricDef('sales', 'volume_t')!;
  const days = [...new Set(sales.map((x) => x.day))].sort();
  let checked = 0;
  for (const scope of ['region', 'city'] as const) {
    for (const pt of await series(db, def, scope, null, 'day', days[0]!, days.at(-1)!)) {
      const e = expected.get(`${scope}:${pt.scopeId}:${pt.windowStart}`);
      assert.ok(e, `unexpected cell ${scope}:${pt.scopeId}:${pt.windowStart}`);
      assert.is(Math.round(pt.value! * 1000), e!.kg, `tonnage ${scope} ${pt.scopeId} ${pt.windowStart}`);
      assert.is(pt.n, e!.n, `count ${scope} ${pt.scopeId} ${pt.windowStart}`);
      checked++;
    }
  }
  assert.is(checked, expected.size, 'every expected cell present');
}

/** A consumer group's committed offsets and the topic's end offsets, summed over its partitions. */
export async function groupOffsets(
  broker: KafkaBroker,
  group: string,
  topic: string,
): Promise<{ committed: number; end: number; parts: Awaited<ReturnType<KafkaBroker['lag']>> }> {
  const parts = await broker.lag(group, topic);
  return {
    committed: parts.reduce((a, x) => a + Number(x.committed), 0),
    end: parts.reduce((a, x) => a + Number(x.end), 0),
    parts,
  };
}
