/**
 * The whole system on the real services, as `coalflow start` runs it with
 * KAFKA_BROKERS/REDIS_URL set: ingest and indicator workers, the forecast
 * schedule, the API (through app.inject) and the simulator, on real Kafka,
 * embedded TimescaleDB over the wire and real Redis.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../infra/compose.ts';
import { startSystem, type System } from '../../infra/system.ts';
import { eventually, stopSystemAndCleanup, testRuntime } from '../helpers/runtime.ts';
import { operatorHeaders } from '../helpers/access.ts';

const s = suite<{ rt: Runtime & { prefix: string }; sys: System }>('system: start on real services', {
  rt: null as never,
  sys: null as never,
});

s.before(async (ctx) => {
  ctx.rt = await testRuntime({
    broker: 'kafka',
    cache: 'redis',
    overrides: { simSpeed: 3600, forecastIntervalMs: 0 },
  });
  ctx.sys = await startSystem(ctx.rt, ['worker', 'api', 'simulator'], { listen: false });
});
s.after(async (ctx) => {
  await stopSystemAndCleanup(ctx.rt, ctx.sys);
});

s('/healthz names each component and its state', async ({ sys }) => {
  const res = await sys.app!.inject({ method: 'GET', url: '/healthz' });
  assert.is(res.statusCode, 200);
  const body = res.json();
  assert.equal([body.broker, body.cache, body.ok], ['kafka', 'redis', true]);
  assert.match(body.db, /^timescaledb 2\.\d+ \(embedded\)$/);
  for (const c of ['broker', 'db', 'cache']) assert.is(body.components[c].state, 'up');
});

s('simulated traffic becomes city indicators served from Redis and the store', async ({ sys }) => {
  const H = await operatorHeaders(sys.app!);
  const latest = await eventually(
    async () => {
      const res = await sys.app!.inject({
        method: 'GET',
        url: '/v1/indicators/latest?family=sales&scope=city',
        headers: H,
      });
      const body = res.statusCode === 200 ? res.json() : null;
      const points = body?.entities?.[0]?.points ?? [];
      return points.find(
        (p: { metric: string; window: string; value: number | null }) =>
          p.metric === 'volume_t' && p.window === 'day' && (p.value ?? 0) > 0,
      );
    },
    { timeoutMs: 60_000, what: 'city sales volume' },
  );
  assert.ok(latest.value > 30, 'at least one truck load');
  assert.ok(latest.contributors >= 3, 'a city cell has many contributors');
  const res = await sys.app!.inject({
    method: 'GET',
    url: `/v1/indicators/series?family=sales&metric=volume_t&scope=city&window=day&from=${encodeURIComponent(new Date(Date.now() - 30 * 86_400_000).toISOString())}`,
    headers: H,
  });
  assert.is(res.statusCode, 200);
  const total = (res.json().series[0].points as { value: number | null }[]).reduce(
    (a, p) => a + (p.value ?? 0),
    0,
  );
  assert.ok(total >= latest.value);
});

s('/metrics exposes pipeline figures; raw rows are never served', async ({ sys }) => {
  const res = await sys.app!.inject({ method: 'GET', url: '/metrics' });
  assert.is(res.statusCode, 200);
  for (const name of [
    'coalflow_events_in_total',
    'coalflow_events_out_total',
    'coalflow_consumer_lag',
    'coalflow_end_to_end_latency_seconds_bucket',
    'coalflow_sink_write_seconds_bucket',
  ]) {
    assert.ok(res.body.includes(name), name);
  }
  const rows = await sys.app!.inject({ method: 'GET', url: '/v1/facts/sales' });
  assert.is(rows.statusCode, 404);
});

s.run();
