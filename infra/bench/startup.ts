/**
 * Start-up costs a newcomer meets: `coalflow --help`, `npm start` on a fresh
 * data directory until /healthz answers 200, and a restart after the outbox
 * has grown (records posted over HTTP), with how many outbox rows that restart
 * replayed. `COALFLOW_BENCH_ROOT=<checkout>` measures another checkout (e.g.
 * an older commit, for a before/after). Prints one JSON summary.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.env.COALFLOW_BENCH_ROOT || new URL('../..', import.meta.url).pathname;
const POSTED = Number(process.env.COALFLOW_BENCH_STARTUP_RECORDS || 20_000);

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function helpMs(cmd: string, args: string[]): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Math.round(performance.now() - t);
}

interface Started {
  child: ChildProcess;
  port: number;
  healthyMs: number;
  log: () => string;
}

async function start(dataDir: string): Promise<Started> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'start'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      COALFLOW_DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
    },
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${out.slice(-800)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (performance.now() - t0 > 600_000) throw new Error('not healthy after 10 min');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, healthyMs: Math.round(performance.now() - t0), log: () => out };
}

async function stop(s: Started): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
  if (s.child.exitCode === null) s.child.kill('SIGKILL');
}

function sale(i: number, now: number): Record<string, unknown> {
  const t = new Date(now - 6 * 86_400_000 + (i * 6 * 86_400_000) / POSTED + 8 * 3600_000)
    .toISOString()
    .slice(0, 19)
    .replace('T', ' ');
  const net = 30 + (i % 50) / 10;
  return {
    销售编号: `BENCH-STARTUP-${i}`,
    行政区划: '150622',
    企业名称: `准格尔旗测试煤矿${i % 40}`,
    统一社会信用代码: `91150622BENCH${String(i % 40).padStart(5, '0')}`,
    煤种名称: '5500混煤',
    发热量: '5500大卡',
    毛重: (net + 16).toFixed(2),
    皮重: '16.00',
    净重: net.toFixed(2),
    单价: '620',
    过空时间: t,
    过重时间: t,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'coalflow-bench-startup-'));
try {
  const help = median([0, 1, 2].map(() => helpMs(process.execPath, ['infra/bin/coalflow.mjs', '--help'])));
  const npxHelp = helpMs('npx', ['coalflow', '--help']);
  const dataDir = join(dir, 'pglite');
  const first = await start(dataDir);
  const now = Date.now();
  let accepted = 0;
  for (let i = 0; i < POSTED; i += 1000) {
    const body = JSON.stringify(
      Array.from({ length: Math.min(1000, POSTED - i) }, (_, j) => sale(i + j, now)),
    );
    const res = await fetch(`http://127.0.0.1:${first.port}/v1/ingest/sales`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const j = (await res.json()) as { accepted?: number; summary?: { accepted?: number } };
    accepted += Number(j.accepted ?? j.summary?.accepted ?? 0);
  }
  // Time for the indicator workers to store them (and the consumed mark to follow).
  await new Promise((r) => setTimeout(r, 30_000));
  await stop(first);
  const second = await start(dataDir);
  const replayed = /"records":(\d+)[^\n]*outbox replayed/.exec(second.log())?.[1] ?? '0';
  if (process.env.COALFLOW_BENCH_STARTUP_LOG)
    writeFileSync(process.env.COALFLOW_BENCH_STARTUP_LOG, second.log());
  await stop(second);
  console.log(
    JSON.stringify({
      root,
      helpMs: help,
      npxHelpMs: npxHelp,
      freshHealthyMs: first.healthyMs,
      posted: POSTED,
      accepted,
      restartHealthyMs: second.healthyMs,
      replayedOnRestart: Number(replayed),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
