/**
 * The commands a newcomer runs: `npm start` on the embedded default serves
 * /healthz and stops cleanly on SIGTERM; misuse fails with a message naming the fix.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/runtime.ts';

const root = new URL('../..', import.meta.url).pathname;
/** The environment of a fresh machine: no service configured. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'warn',
    ...extra,
  };
  return env;
}
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const s = suite<{ child: ChildProcess | null; dir: string }>('cli: start, and misuse', {
  child: null,
  dir: '',
});
s.after((ctx) => {
  if (ctx.child && ctx.child.exitCode === null) ctx.child.kill('SIGKILL');
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

s(
  'start with no environment: /healthz answers within 60 s with the embedded components; SIGTERM exits 0',
  async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'coalflow-start-'));
    const port = await freePort();
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'start'], {
      cwd: root,
      env: cleanEnv({
        PORT: String(port),
        COALFLOW_DATA_DIR: join(ctx.dir, 'pglite'),
        COALFLOW_DEMO_KEYS_FILE: join(ctx.dir, 'demo-keys.json'),
      }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    ctx.child = child;
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    const body = (await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${stderr.slice(-500)}`);
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: '/healthz' },
    ))!;
    assert.ok(Date.now() - t0 < 60_000);
    assert.equal(
      { broker: body.broker, db: body.db, cache: body.cache, registry: body.registry, ok: body.ok },
      {
        broker: 'in-process',
        db: 'timescaledb 2.23 (embedded)',
        cache: 'ioredis-mock',
        registry: 'mock',
        ok: true,
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000)),
    ]);
    assert.is(code, 0, `graceful stop (stderr: ${stderr.slice(-300)})`);
  },
);

s('start --port abc and --speed -5 fail with CONFIG_INVALID and exit 2', () => {
  for (const args of [
    ['--port', 'abc'],
    ['--speed', '-5'],
  ]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'start', ...args], {
      cwd: root,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /CONFIG_INVALID/);
  }
});

s('worker alone on the embedded default is refused with the variables to set', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'worker'], {
    cwd: root,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 2);
  assert.match(r.stderr, /KAFKA_BROKERS/);
  assert.match(r.stderr, /DATABASE_URL/);
});

s('an unknown COALFLOW_ setting fails at start and names itself', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'start'], {
    cwd: root,
    env: cleanEnv({ COALFLOW_SIM_SPED: '10' }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 2);
  assert.match(r.stderr, /COALFLOW_SIM_SPED/);
});

s('--help lists the commands', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'infra/cli.ts', '--help'], {
    cwd: root,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0);
  for (const cmd of ['start', 'worker', 'api', 'migrate', 'import', 'forecast', 'simulate'])
    assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
});

s.run();
