/**
 * A crash during HTTP ingest loses nothing: the whole process tree of `start`
 * (API and embedded database) is SIGKILLed while a batch is in flight, at
 * several points; after each restart the client re-sends every batch it got no
 * acknowledgement for. In the end the stored records sum to exactly what the
 * client generated, computed independently.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuntime } from '../../infra/compose.ts';
import { loadConfig } from '../../infra/core/config.ts';
import { createLogger } from '../../infra/core/log.ts';
import { eventually, uniq } from '../helpers/runtime.ts';

const root = new URL('../..', import.meta.url).pathname;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const s = suite<{ child: ChildProcess | null; dir: string }>('infra: SIGKILL during HTTP ingest', {
  child: null,
  dir: '',
});
s.after((ctx) => {
  if (ctx.child?.pid && ctx.child.exitCode === null) {
    try {
      process.kill(-ctx.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

/** One sale with a unique id and net weight `net` t (gross = tare + net, total = unit × net). */
function sale(id: string, net: number) {
  const tare = 16.1;
  return {
    销售编号: id,
    行政区划: '150622',
    企业名称: '准格尔旗黑岱沟露天煤矿',
    煤种名称: '5500混煤',
    发热量: '5500大卡',
    毛重: (tare + net).toFixed(2),
    皮重: tare.toFixed(2),
    净重: net.toFixed(2),
    单价: '620',
    总价: (620 * net).toFixed(2),
    过空时间: '2025-03-01 08:12',
    过重时间: '2025-03-01 08:40:12',
  };
}

s('batches re-sent after a SIGKILL of the process tree are all stored, once', async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'coalflow-crash-'));
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LOG_LEVEL: 'warn',
    COALFLOW_DATA_DIR: join(ctx.dir, 'pglite'),
    COALFLOW_SIMULATOR: 'false',
    COALFLOW_DEMO_KEYS_FILE: join(ctx.dir, 'demo-keys.json'),
  };
  /** The operator's demo key of the running start (each start writes fresh ones). */
  let operatorKey = '';
  const run = uniq('K');
  const batches = Array.from({ length: 12 }, (_, b) =>
    Array.from({ length: 100 }, (_, i) => sale(`${run}-${b}-${i}`, 20 + (((b * 100 + i) * 7) % 2000) / 100)),
  );
  const expected = batches.flat().reduce((a, r) => a + Math.round(Number(r['净重']) * 100), 0);

  let port = 0;
  const start = async () => {
    port = await freePort();
    rmSync(env.COALFLOW_DEMO_KEYS_FILE, { force: true });
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'start'], {
      cwd: root,
      env: { ...env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    ctx.child = child;
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${stderr.slice(-500)}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: '/healthz' },
    );
    operatorKey =
      (await eventually(
        () => {
          const keys = JSON.parse(readFileSync(env.COALFLOW_DEMO_KEYS_FILE, 'utf8')) as {
            keys: { kind: string; key: string }[];
          };
          return keys.keys.find((k) => k.kind === 'operator')?.key;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the demo operator key' },
      )) ?? '';
    return child;
  };
  const killTree = async (child: ChildProcess) => {
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    // The embedded database's child is in the same process group: wait until its lock is free.
    await new Promise((r) => setTimeout(r, 500));
  };
  const send = (b: number) =>
    fetch(`http://127.0.0.1:${port}/v1/ingest/sales`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operatorKey}` },
      body: JSON.stringify(batches[b]),
    }).then(
      async (res) =>
        res.status === 200 &&
        ((await res.json()) as { summary: { accepted: number; duplicates: number } }).summary,
    );

  const acked = new Set<number>();
  // Kill points: while a batch is in flight, 0, 20, 80 and 200 ms after sending it.
  const killAfterMs = [0, 20, 80, 200];
  let next = 0;
  for (const delay of killAfterMs) {
    const child = await start();
    // Re-send everything not acknowledged so far, then a few batches normally.
    for (let b = 0; b < next; b++)
      if (!acked.has(b)) {
        if (await send(b)) acked.add(b);
      }
    for (let k = 0; k < 2 && next < batches.length; k++, next++) if (await send(next)) acked.add(next);
    if (next >= batches.length) {
      await killTree(child);
      break;
    }
    const inFlight = next++;
    const pending = send(inFlight).then(
      (ok) => {
        if (ok) acked.add(inFlight);
      },
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, delay));
    await killTree(child);
    await pending;
  }
  const child = await start();
  for (let b = 0; b < batches.length; b++)
    if (!acked.has(b)) {
      const ok = await send(b);
      assert.ok(ok, `batch ${b} accepted after restart`);
      acked.add(b);
    }
  await killTree(child);

  // Open the data directory directly: every record stored exactly once, summing to the client's own total.
  const rt = await buildRuntime(loadConfig(env), { log: createLogger({ level: 'warn' }) });
  try {
    const res = await rt.db.query(
      `SELECT count(*)::int AS n, coalesce(sum(round((record->>'netT')::numeric * 100)), 0)::bigint AS centi
       FROM ingest_outbox WHERE feed = 'sales' AND record_id LIKE $1`,
      [`${run}-%`],
    );
    assert.is(res.rows[0].n, 1200, 'every record in the outbox');
    assert.is(Number(res.rows[0].centi), expected, 'net weight equals the independent sum');
    const seen = await rt.db.query(
      `SELECT count(*)::int AS n FROM ingest_seen WHERE feed = 'sales' AND record_id LIKE $1 AND state = 'produced'`,
      [`${run}-%`],
    );
    assert.is(seen.rows[0].n, 1200, 'seen exactly the stored ones');
  } finally {
    await rt.close();
  }
});

s.run();
