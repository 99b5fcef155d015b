/**
 * Redis down, on a private redis-server this suite starts on its own port (never the shared one): "latest" is
 * answered from the store with `X-Coalflow-Source: db-fallback`, ingest keeps accepting records (rate limits
 * counted in the process meanwhile), and when Redis comes back — empty, as a restarted Redis without
 * persistence does — its snapshots are rebuilt and the records published while it was down reach it; a live
 * subscriber connected before the outage keeps its stream and receives updates again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Runtime } from '../../../infra/compose.ts';
import { startSystem, type System } from '../../../infra/system.ts';
import { eventually, stopSystemAndCleanup, testRuntime, uniq } from '../../helpers/runtime.ts';
import { testKey } from '../../helpers/access.ts';
import { freePort, sale } from '../../helpers/process.ts';

function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out.slice(-300)}`)));
  });
}

async function stopRedis(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

const s = suite<{
  redis: ChildProcess | null;
  rt: (Runtime & { prefix: string }) | null;
  sys: System | null;
  abort: AbortController;
}>('api: Redis down', { redis: null, rt: null, sys: null, abort: new AbortController() });

s.after(async (ctx) => {
  ctx.abort.abort();
  await stopSystemAndCleanup(ctx.rt ?? undefined, ctx.sys ?? undefined);
  await stopRedis(ctx.redis);
});

s(
  'latest falls back to the store, live subscribers and snapshots recover when Redis returns',
  async (ctx) => {
    const redisPort = await freePort();
    ctx.redis = await startRedis(redisPort);
    const apiPort = await freePort();
    ctx.rt = await testRuntime({
      broker: 'in-process',
      cache: 'redis',
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      overrides: { forecastIntervalMs: 0, port: apiPort, host: '127.0.0.1' },
    });
    const rt = ctx.rt;
    ctx.sys = await startSystem(rt, ['worker', 'api']);
    const app = ctx.sys.app!;
    const op = await testKey(app, 'operator');
    const base = `http://127.0.0.1:${apiPort}`;
    const run = uniq('R');
    const netOf = (i: number) => 20 + ((i * 37) % 1500) / 100;
    const mk = (tag: string, n: number, off: number) =>
      Array.from({ length: n }, (_, i) => sale(`${run}-${tag}-${i}`, netOf(i + off)));
    const [A, B, C] = [mk('a', 200, 0), mk('b', 150, 200), mk('c', 50, 350)];
    const centi = (xs: ReturnType<typeof mk>) =>
      xs.reduce((a, r) => a + Math.round(Number(r['净重']) * 100), 0);
    const ingest = async (xs: ReturnType<typeof mk>) => {
      const res = await fetch(`${base}/v1/ingest/sales`, {
        method: 'POST',
        headers: { ...op.headers, 'content-type': 'application/json' },
        body: JSON.stringify(xs),
      });
      assert.is(res.status, 200, await res.clone().text());
      assert.is(((await res.json()) as { summary: { accepted: number } }).summary.accepted, xs.length);
    };
    await ingest(A);
    const mineId = await eventually(
      async () =>
        (await rt.db.query('SELECT DISTINCT mine_id FROM fact_sales LIMIT 1')).rows[0]?.mine_id as string,
      { timeoutMs: 30_000, what: 'a stored sale' },
    );
    const latest = async () => {
      const res = await fetch(
        `${base}/v1/indicators/latest?family=sales&scope=mine&id=${encodeURIComponent(mineId)}`,
        { headers: op.headers },
      );
      const body = (await res.json()) as {
        entities?: { points: { metric: string; window: string; value: number }[] }[];
      };
      const p = body.entities?.[0]?.points.find((x) => x.metric === 'volume_t' && x.window === 'day');
      return {
        status: res.status,
        source: res.headers.get('x-coalflow-source'),
        value: p ? Math.round(p.value * 100) : null,
      };
    };
    await eventually(async () => (await latest()).value === centi(A), {
      timeoutMs: 30_000,
      what: 'latest = A',
    });

    // A live subscriber, connected before the outage.
    let stream = '';
    const sse = await fetch(`${base}/v1/live/sales?key=${encodeURIComponent(op.key)}`, {
      signal: ctx.abort.signal,
    });
    assert.is(sse.status, 200);
    void (async () => {
      const reader = sse.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        stream += dec.decode(value, { stream: true });
      }
    })().catch(() => undefined);
    await eventually(() => stream.includes('event: ready'), { timeoutMs: 10_000, what: 'live stream ready' });

    // Redis goes away.
    await stopRedis(ctx.redis);
    ctx.redis = null;
    await eventually(() => rt.redis.status !== 'ready', {
      timeoutMs: 10_000,
      what: 'client sees Redis down',
    });
    const during = await latest();
    assert.is(during.status, 200);
    assert.is(during.source, 'db-fallback');
    assert.is(during.value, centi(A), 'the same figure, from the store');
    const health = await fetch(`${base}/healthz`);
    assert.is(health.status, 503);
    assert.is(
      ((await health.json()) as { components: { cache: { state: string } } }).components.cache.state,
      'down',
    );

    // Records keep coming in; the fallback sees them once stored.
    await ingest(B);
    await eventually(async () => (await latest()).value === centi([...A, ...B]), {
      timeoutMs: 30_000,
      what: 'fallback latest = A + B',
    });
    const streamAtReturn = stream.length;

    // Redis returns, empty (no persistence): rebuilt, and what was published meanwhile reaches it.
    ctx.redis = await startRedis(redisPort);
    await eventually(() => rt.redis.status === 'ready', { timeoutMs: 20_000, what: 'client reconnected' });
    await eventually(
      async () => {
        const l = await latest();
        return l.source === null && l.value === centi([...A, ...B]);
      },
      { timeoutMs: 40_000, what: 'Redis latest = A + B' },
    );
    // The live subscriber's stream never closed; it receives the updates after the return.
    await ingest(C);
    await eventually(() => stream.slice(streamAtReturn).includes('event: indicators'), {
      timeoutMs: 30_000,
      what: 'a live update after Redis returned',
    });
    await eventually(async () => (await latest()).value === centi([...A, ...B, ...C]), {
      timeoutMs: 30_000,
      what: 'latest = A + B + C',
    });
    assert.is((await fetch(`${base}/healthz`)).status, 200);
  },
);

s.run();
