/**
 * What the benchmarks share: the synthetic Ordos sales they replay, a runtime on
 * the real services (Kafka, Redis; the embedded TimescaleDB in its own process),
 * and CPU meters per process (worker, database, broker).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { loadConfig } from '../core/config.ts';
import { buildRuntime, type Runtime } from '../compose.ts';
import { createLogger } from '../core/log.ts';
import type { SaleRecord } from '../../pipelines/contracts/types.ts';
import { mulberry32 } from '../core/random.ts';

export const REGIONS = [
  '150602',
  '150603',
  '150621',
  '150622',
  '150623',
  '150624',
  '150625',
  '150626',
  '150627',
];
const KCAL = [5500, 5000, 4500, 4200];
const COAL = ['动力煤', '块煤', '沫煤'];

const cst = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().replace('Z', '+08:00');

/** Sales of `mines` mines in event-time order, `spacingMs` apart from `start`. */
export function* sales(
  seed: number,
  start: number,
  count: number,
  spacingMs: number,
  idPrefix: string,
  mines = 300,
): Generator<SaleRecord> {
  const r = mulberry32(seed);
  for (let i = 0; i < count; i++) {
    const m = Math.floor(r() * mines);
    const t = start + i * spacingMs;
    const net = Math.round((25 + r() * 15) * 100) / 100;
    const kcal = KCAL[m % KCAL.length]! + Math.round((r() - 0.5) * 300);
    const price = Math.round((300 + (kcal - 4000) * 0.25 + r() * 20) * 100) / 100;
    yield {
      recordId: `${idPrefix}${i}`,
      eventTime: cst(t),
      saleId: `${idPrefix}${i}`,
      mineId: `M${m}`,
      mineName: `煤矿${m}`,
      creditCode: `C${Math.floor(m * 0.8)}`,
      siteKind: 'mine',
      regionCode: REGIONS[m % REGIONS.length]!,
      coalType: COAL[m % COAL.length]!,
      calorificKcal: kcal,
      grossT: net + 16,
      tareT: 16,
      netT: net,
      unitPriceYuanPerT: price,
      totalPriceYuan: Math.round(net * price * 100) / 100,
      tareTime: cst(t - 600_000),
      grossTime: cst(t),
    };
  }
}

/** A runtime on the local Kafka and Redis, with its own topic prefix and an in-memory embedded TimescaleDB. */
export async function benchRuntime(
  opts: { db?: 'inline' | 'process'; prefix?: string } = {},
): Promise<Runtime> {
  const env: Record<string, string> = {
    KAFKA_BROKERS: process.env.KAFKA_BROKERS || '127.0.0.1:9092',
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    COALFLOW_TOKEN_SECRET: 'bench',
    COALFLOW_DATA_DIR: 'memory',
    COALFLOW_TOPIC_PREFIX: `${opts.prefix ?? 'bench'}${Date.now().toString(36)}.`,
    COALFLOW_SIMULATOR: 'false',
    COALFLOW_TOPIC_PARTITIONS: '6',
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    COALFLOW_EMBEDDED_DB: opts.db === 'inline' ? 'inline' : 'process',
  };
  const config = loadConfig(env, { dataDir: 'memory' });
  return buildRuntime(config, { log: createLogger({ level: env.LOG_LEVEL }) });
}

export const mb = (b: number) => Math.round(b / 2 ** 20);

/** CPU seconds (user + system) of a process from /proc (Linux); null elsewhere. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

/** The local Kafka broker's pid, when it runs on this machine (infra/scripts/kafka-up.sh). */
export function kafkaPid(): number | null {
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('kafka.Kafka')) return Number(d);
      } catch {
        /* gone */
      }
    }
  } catch {
    /* not Linux */
  }
  return null;
}

/** CPU seconds used by the worker, the database process and the broker between `start()` and `stop()`. */
export function cpuMeter(rt: Runtime) {
  const pids = { worker: process.pid, db: rt.dbProcess?.pid ?? null, kafka: kafkaPid() };
  const read = () =>
    Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === null ? null : cpuSecondsOf(pid)]));
  const t0 = performance.now();
  const before = read();
  return () => {
    const after = read();
    const wall = (performance.now() - t0) / 1000;
    return Object.fromEntries(
      Object.keys(pids).map((k) => {
        const a = after[k];
        const b = before[k];
        return [
          k,
          a === null || b === null || a === undefined || b === undefined
            ? null
            : { cpuS: Math.round((a - b) * 10) / 10, coreShare: Math.round(((a - b) / wall) * 100) / 100 },
        ];
      }),
    );
  };
}
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
