/**
 * The database unreachable for 30 s, on the real services: the embedded database's process is stopped
 * (SIGSTOP: connections stay open, nothing answers) while records keep arriving on Kafka, then continued.
 * Meanwhile the workers hold at most their in-flight batches (no buffering of what waits in Kafka), `/healthz`
 * says the database is down, and "latest" keeps being served from Redis, marked stale. Afterwards everything is
 * stored once and "latest" equals the sum computed here from the records sent.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../infra/compose.ts';
import { startSystem, type System } from '../../infra/system.ts';
import { topicOf } from '../../pipelines/index.ts';
import { eventually, stopSystemAndCleanup, testRuntime, uniq } from '../helpers/runtime.ts';
import { operatorHeaders } from '../helpers/access.ts';
import { netCenti, sale } from '../helpers/process.ts';

const OUTAGE_MS = 30_000;

const s = suite<{ rt: Runtime & { prefix: string }; sys: System; stopped: number }>(
  'infra: database unreachable for 30 s',
  { rt: null as never, sys: null as never, stopped: 0 },
);

s.before(async (ctx) => {
  ctx.rt = await testRuntime({ broker: 'kafka', cache: 'redis', overrides: { forecastIntervalMs: 0 } });
  ctx.sys = await startSystem(ctx.rt, ['worker', 'api'], { listen: false });
});
s.after(async (ctx) => {
  // Never leave the database stopped, whatever failed.
  if (ctx.stopped) {
    try {
      process.kill(ctx.stopped, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  await stopSystemAndCleanup(ctx.rt, ctx.sys);
});

s(
  'workers pause and catch up, the API serves stale snapshots and /healthz reports the outage',
  async (ctx) => {
    const { rt, sys } = ctx;
    const app = sys.app!;
    const H = await operatorHeaders(app);
    const run = uniq('O');
    const netOf = (i: number) => 20 + ((i * 37) % 1500) / 100;
    const batchA = Array.from({ length: 300 }, (_, i) => sale(`${run}-a-${i}`, netOf(i)));
    const batchB = Array.from({ length: 5000 }, (_, i) => sale(`${run}-b-${i}`, netOf(i + 300)));
    const raw = rt.topic(topicOf.raw('sales'));
    const send = async (xs: typeof batchA) => {
      for (let i = 0; i < xs.length; i += 1000)
        await rt.broker.produce(
          raw,
          xs.slice(i, i + 1000).map((r) => ({ key: r['销售编号'], value: JSON.stringify(r) })),
        );
    };
    const stored = async () =>
      (
        await rt.db.query(
          `SELECT count(*)::int AS n, coalesce(sum(round(net_t * 100)), 0)::bigint AS centi FROM fact_sales WHERE record_id LIKE $1`,
          [`${run}-%`],
        )
      ).rows[0] as { n: number; centi: string };
    /** The mine's latest day volume (t) as served, with the response's headers. */
    const latest = async () => {
      const mine = (await rt.db.query('SELECT DISTINCT mine_id FROM fact_sales LIMIT 1')).rows[0]?.mine_id;
      return mine;
    };

    await send(batchA);
    await eventually(async () => (await stored()).n === batchA.length, {
      timeoutMs: 40_000,
      what: 'batch A stored',
    });
    const mineId = String(await latest());
    const served = async () => {
      const res = await app.inject({
        method: 'GET',
        url: `/v1/indicators/latest?family=sales&scope=mine&id=${encodeURIComponent(mineId)}`,
        headers: H,
      });
      const p = (res.json().entities?.[0]?.points ?? []).find(
        (x: { metric: string; window: string }) => x.metric === 'volume_t' && x.window === 'day',
      ) as { value: number } | undefined;
      return { res, value: p ? Math.round(p.value * 100) : null };
    };
    await eventually(async () => (await served()).value === netCenti(batchA), {
      timeoutMs: 30_000,
      what: 'latest = batch A',
    });

    const rawIn = async () =>
      ((await rt.metrics.eventsIn.get()).values.find((v) => v.labels.topic === raw)?.value ?? 0) as number;
    const inBefore = await rawIn();
    // The outage: the database process stops answering (its connections stay open).
    const pid = rt.dbProcess!.pid;
    process.kill(pid, 'SIGSTOP');
    ctx.stopped = pid;
    const t0 = Date.now();
    await send(batchB);

    const health = await eventually(
      async () => {
        const res = await app.inject({ method: 'GET', url: '/healthz' });
        const b = res.json();
        return res.statusCode === 503 && b.components.db.state === 'down' && b.components.db.downSince
          ? b
          : null;
      },
      { timeoutMs: 25_000, what: '/healthz: db down' },
    );
    assert.is(health.components.cache.state, 'up');

    // "Latest" is served from Redis during the outage, marked stale.
    const during = await served();
    assert.is(during.res.statusCode, 200);
    assert.is(during.res.headers['x-coalflow-stale'], 'db-unavailable');
    assert.ok(Date.parse(String(during.res.headers['x-coalflow-stale-since'])) <= Date.now());
    assert.is(during.value, netCenti(batchA), 'the snapshot as it was');

    // Hold the outage for 30 s, checking the API answers throughout.
    while (Date.now() - t0 < OUTAGE_MS) {
      await new Promise((r) => setTimeout(r, 5000));
      const r = await served();
      assert.is(r.res.statusCode, 200, 'served during the outage');
    }
    // Paused with bounded memory: the ingest workers took at most one batch (500) per partition (3) into memory
    // while 5,000 records waited in Kafka.
    const taken = (await rawIn()) - inBefore;
    assert.ok(taken <= 3 * 500, `records taken during the outage: ${taken}`);

    process.kill(pid, 'SIGCONT');
    ctx.stopped = 0;
    // Caught up: every record stored once, "latest" equals the independent sum, /healthz names the outage.
    const all = [...batchA, ...batchB];
    await eventually(async () => (await stored()).n === all.length, {
      timeoutMs: 90_000,
      what: 'all stored',
    });
    assert.is(Number((await stored()).centi), netCenti(all));
    await eventually(async () => (await served()).value === netCenti(all), {
      timeoutMs: 60_000,
      what: 'latest = A + B',
    });
    const after = await eventually(
      async () => {
        const res = await app.inject({ method: 'GET', url: '/healthz' });
        return res.statusCode === 200 ? res.json() : null;
      },
      { timeoutMs: 10_000, what: '/healthz 200' },
    );
    assert.is(after.components.db.state, 'up');
    const out = after.components.db.lastOutage;
    assert.ok(out, 'the outage is reported');
    assert.ok(
      Date.parse(out.to) - Date.parse(out.from) >= OUTAGE_MS - 11_000,
      `outage ${JSON.stringify(out)}`,
    );
    assert.is((await served()).res.headers['x-coalflow-stale'], undefined, 'no longer stale');
  },
);

s.run();
