import { spawn } from 'node:child_process';
import { Socket, createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureServices, type ServiceSpec } from './services.ts';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1', () => done(true));
  });
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A service as a separate process (a TCP listener), started and stopped like the real ones. */
function processService(name: string, port: number, calls: string[]): ServiceSpec {
  let pid = 0;
  return {
    name,
    isUp: () => portOpen(port),
    async start() {
      calls.push(`start ${name}`);
      const child = spawn(
        process.execPath,
        ['-e', `require('net').createServer(() => {}).listen(${port}, '127.0.0.1')`],
        { detached: true, stdio: 'ignore' },
      );
      child.unref();
      pid = child.pid!;
      for (let i = 0; i < 50 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 100));
    },
    async stop() {
      calls.push(`stop ${name}`);
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 50 && (await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 100));
    },
  };
}

test('a test run stops what it started, and only that', async () => {
  const calls: string[] = [];
  const [p1, p2] = [await freePort(), await freePort()];
  // Already running before the run: must stay up.
  const running = createServer();
  await new Promise<void>((r) => running.listen(p2, '127.0.0.1', r));
  try {
    const started = await ensureServices(
      [processService('a', p1, calls), processService('b', p2, calls)],
      () => undefined,
    );
    assert.equal(started.started, ['a']);
    assert.ok(await portOpen(p1), 'a was started');
    await started.stop();
    await started.stop();
    assert.not.ok(await portOpen(p1), 'a is stopped at the end');
    assert.ok(await portOpen(p2), 'b, running before, is still running');
    assert.equal(calls, ['start a', 'stop a']);
  } finally {
    running.close();
  }
});

test('a required service that cannot start stops the ones started before it; an optional one is skipped', async () => {
  const calls: string[] = [];
  const p1 = await freePort();
  const failing = (name: string, optional: boolean): ServiceSpec => ({
    name,
    optional,
    isUp: async () => false,
    start: () => {
      calls.push(`start ${name}`);
      throw new Error(`${name} cannot start`);
    },
    stop: () => {
      calls.push(`stop ${name}`);
    },
  });
  const ok = await ensureServices([processService('a', p1, calls), failing('opt', true)], () => undefined);
  assert.equal(ok.started, ['a']);
  await ok.stop();
  calls.length = 0;
  const p2 = await freePort();
  let error: Error | null = null;
  try {
    await ensureServices([processService('c', p2, calls), failing('req', false)], () => undefined);
  } catch (err) {
    error = err as Error;
  }
  assert.match(error?.message ?? '', /req cannot start/);
  assert.not.ok(await portOpen(p2), 'c was stopped again');
  assert.equal(calls, ['start c', 'start req', 'stop req', 'stop c']);
});

test.run();
