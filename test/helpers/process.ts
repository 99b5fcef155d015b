/**
 * Running `coalflow` as a separate process against the real broker, for the fault tests: spawn it in a process
 * group of its own (the embedded database's child is in it too), wait until it answers, SIGKILL or SIGTERM the
 * group, and a deterministic set of raw weighbridge sales with their totals computed independently.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { KafkaBroker } from '../../infra/broker/kafka.ts';
import { createLogger } from '../../infra/core/log.ts';
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

export interface Proc {
  child: ChildProcess;
  port: number;
  /** stderr so far (the last part is shown when the process dies early). */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `coalflow <command>` in a new process group with exactly `env` (plus PATH and HOME). */
export function spawnCoalflow(command: string[], env: Record<string, string>, port: number): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/cli.ts', ...command], {
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
    { timeoutMs, intervalMs: 200, what: '/healthz 200' },
  );
}

/** SIGKILLs the whole process group (the process and the embedded database's child) and waits for the exit. */
export async function killGroup(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(-p.child.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
  await p.exited;
  // The database child dies with the group: give the kernel a moment to release its data directory lock.
  await new Promise((r) => setTimeout(r, 300));
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

/** `n` raw weighbridge sales (Chinese field names, as the city platform sends them), 12 mines in 4 regions, 5 days. */
export function rawSales(run: string, n: number, from = 0): RawSale[] {
  const out: RawSale[] = [];
  for (let i = from; i < from + n; i++) {
    const mine = i % 12;
    const region = REGIONS[mine % REGIONS.length]!;
    const day = T0 + (Math.floor(i / 12) % 5) * DAY;
    const t = day + 6 * 3600_000 + ((i * 7919) % (14 * 3600)) * 1000;
    const net = 20 + ((i * 37) % 1500) / 100;
    const tare = 16.1;
    const fmt = (ms: number) => new Date(ms + CST).toISOString().slice(0, 19).replace('T', ' ');
    out.push({
      key: `mine-${mine}`,
      region,
      day,
      netKg: Math.round(net * 1000),
      record: {
        销售编号: `${run}-${i}`,
        行政区划: region,
        企业名称: `测试煤矿${mine}号`,
        煤种名称: '5500混煤',
        发热量: '5500大卡',
        毛重: (tare + net).toFixed(2),
        皮重: tare.toFixed(2),
        净重: net.toFixed(2),
        单价: '620',
        总价: (620 * net).toFixed(2),
        过空时间: fmt(t - 20 * 60_000),
        过重时间: fmt(t),
      },
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
