/**
 * A read-only or full data directory for the embedded database: `start` refuses it with a clear error
 * (code, the directory, the fix) and exits nonzero, touching nothing in it; a running `start` whose disk fills
 * stops cleanly and exits nonzero; once the directory is writable and has room again, the next start works and
 * every record is there. The directory lives on a tmpfs of its own, mounted by this test (root: tests and CI
 * run as root here), remounted read-only and filled with `fallocate`; the test unmounts it at the end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuntime } from '../../infra/compose.ts';
import { loadConfig } from '../../infra/core/config.ts';
import { createLogger } from '../../infra/core/log.ts';
import { eventually, uniq } from '../helpers/runtime.ts';

const root = new URL('../..', import.meta.url).pathname;
const MIN_FREE_MB = 64;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Every file's path and content under `dir`, hashed: equal before and after = nothing touched. */
function digest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const s = suite<{ child: ChildProcess | null; mnt: string; tmp: string }>(
  'infra: read-only or full data directory',
  {
    child: null,
    mnt: '',
    tmp: '',
  },
);
s.after((ctx) => {
  if (ctx.child?.pid && ctx.child.exitCode === null) {
    try {
      process.kill(-ctx.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (ctx.mnt) {
    try {
      execFileSync('umount', ['-l', ctx.mnt]);
    } catch {
      /* not mounted */
    }
  }
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
});

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

s(
  'refused with DATA_DIR_NOT_WRITABLE / DATA_DIR_FULL and exit 1, directory untouched; the next start has every record',
  async (ctx) => {
    ctx.tmp = mkdtempSync(join(tmpdir(), 'coalflow-dd-'));
    ctx.mnt = join(ctx.tmp, 'mnt');
    execFileSync('mkdir', ['-p', ctx.mnt]);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192m', 'tmpfs', ctx.mnt], { stdio: 'pipe' });
    } catch (err) {
      ctx.mnt = '';
      throw new Error(
        `this test mounts a tmpfs (root with CAP_SYS_ADMIN, as tests and CI run here): ${(err as Error).message}`,
        { cause: err },
      );
    }
    const dataDir = join(ctx.mnt, 'pglite');
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'warn',
      COALFLOW_DATA_DIR: dataDir,
      COALFLOW_DATA_DIR_MIN_FREE_MB: String(MIN_FREE_MB),
      COALFLOW_SIMULATOR: 'false',
      COALFLOW_FORECAST_INTERVAL_MS: '0',
      COALFLOW_DEMO_KEYS_FILE: join(ctx.tmp, 'demo-keys.json'),
    };
    /** Starts `start`; resolves once /healthz is 200 (with the operator key) or the process exited. */
    const start = async () => {
      const port = await freePort();
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
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      return { child, port, exited, stderr: () => stderr };
    };
    const healthy = async (p: Awaited<ReturnType<typeof start>>) => {
      await eventually(
        async () => {
          if (p.child.exitCode !== null)
            throw new Error(`start exited ${p.child.exitCode}: ${p.stderr().slice(-800)}`);
          return (await fetch(`http://127.0.0.1:${p.port}/healthz`)).status === 200;
        },
        { timeoutMs: 120_000, intervalMs: 250, what: '/healthz' },
      );
      return eventually(
        () =>
          (
            JSON.parse(readFileSync(env.COALFLOW_DEMO_KEYS_FILE, 'utf8')) as {
              keys: { kind: string; key: string }[];
            }
          ).keys.find((k) => k.kind === 'operator')?.key,
        { timeoutMs: 60_000, intervalMs: 200, what: 'the demo operator key' },
      );
    };
    const run = uniq('D');
    const records = Array.from({ length: 200 }, (_, i) => sale(`${run}-${i}`, 20 + ((i * 37) % 1500) / 100));
    const expected = records.reduce((a, r) => a + Math.round(Number(r['净重']) * 100), 0);

    const fillerPath = join(ctx.mnt, 'filler');
    /** Leaves half the threshold free on the tmpfs. */
    const fill = () => {
      const avail = execFileSync('df', ['-B1', '--output=avail', ctx.mnt])
        .toString()
        .trim()
        .split('\n')
        .at(-1)!;
      execFileSync('fallocate', [
        '-l',
        String(Math.max(1, Number(avail) - (MIN_FREE_MB / 2) * 1048576)),
        fillerPath,
      ]);
    };

    // 1. A start on the tmpfs takes records in; then the disk fills while it runs: a clean stop and exit 1.
    const first = await start();
    const key = await healthy(first);
    const res = await fetch(`http://127.0.0.1:${first.port}/v1/ingest/sales`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(records),
    });
    assert.is(res.status, 200);
    fill();
    assert.is(await first.exited, 1, 'exit code when the disk fills while running');
    assert.match(first.stderr(), /\[DATA_DIR_FULL\]/);
    assert.ok(first.stderr().includes(dataDir), 'names the directory');
    const before = digest(dataDir);

    // 2. Still full: a start is refused, exit 1, nothing touched.
    const full = await start();
    assert.is(await full.exited, 1, 'exit code on a full disk');
    assert.match(full.stderr(), /\[DATA_DIR_FULL\]/);
    assert.ok(full.stderr().includes(dataDir), 'names the directory');
    assert.match(full.stderr(), /free space or grow the file system/);
    assert.is(digest(dataDir), before, 'untouched by the refused start');
    rmSync(fillerPath);

    // 3. Read-only: refused, exit 1, nothing touched.
    execFileSync('mount', ['-o', 'remount,ro', ctx.mnt]);
    const ro = await start();
    assert.is(await ro.exited, 1, 'exit code on a read-only directory');
    assert.match(ro.stderr(), /\[DATA_DIR_NOT_WRITABLE\]/);
    assert.ok(ro.stderr().includes(dataDir), 'names the directory');
    assert.match(ro.stderr(), /remount it read-write/);
    execFileSync('mount', ['-o', 'remount,rw', ctx.mnt]);
    assert.is(digest(dataDir), before, 'untouched by the refused start');

    // 5. Room again: the next start opens the directory and every record is there, once.
    const rt = await buildRuntime(loadConfig({ ...env, COALFLOW_DATA_DIR_MIN_FREE_MB: '0' }), {
      log: createLogger({ level: 'warn' }),
    });
    try {
      const r = await rt.db.query(
        `SELECT count(*)::int AS n, coalesce(sum(round((record->>'netT')::numeric * 100)), 0)::bigint AS centi
       FROM ingest_outbox WHERE feed = 'sales' AND record_id LIKE $1`,
        [`${run}-%`],
      );
      assert.is(r.rows[0].n, records.length, 'every record');
      assert.is(Number(r.rows[0].centi), expected, 'net weight equals the independent sum');
    } finally {
      await rt.close();
    }
  },
);

s.run();
