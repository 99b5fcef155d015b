/**
 * The alert store on the embedded TimescaleDB: the clock-driven stale-feed check and the forecast early warning
 * read and write the rule states and alert tables (migration 016) as the worker does.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testRuntime } from '../../helpers/runtime.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { applyUpdates, checkForecasts, checkStale } from '../../../pipelines/alerts/store.ts';
import { buildApp } from '../../../api/server.ts';
import { alertRoutes } from '../../../api/routes/alerts.ts';
import type { IndicatorUpdateMessage } from '../../../pipelines/indicators/contract.ts';

const test = suite('pipelines/alerts/store (db)');
const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T00:00:00+08:00');
let rt: Runtime;

const upd = (
  family: string,
  scope: string,
  scopeId: string,
  points: [string, number][],
  version: number,
  arrived: number,
): { key: string; value: IndicatorUpdateMessage } => ({
  key: `${family}|${scope}|${scopeId}`,
  value: {
    family,
    scope,
    scopeId,
    version,
    computedAt: new Date(arrived).toISOString(),
    points: points.map(([metric, value]) => ({
      metric,
      window: 'day',
      windowStart: new Date(T0).toISOString(),
      value,
      unit: '',
      n: null,
      contributors: null,
      topShare: null,
    })),
  },
});

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
});

test('stale feed: a mine silent beyond its cadence gets one alert; its next update ends it', async () => {
  const seen = Date.now() - 8 * 3600_000;
  await applyUpdates(rt.db, [upd('sales', 'mine', 'M1', [['volume_t', 10]], 1, seen)], {
    cadences: { 'sales|mine': 6 * 3600_000 },
  });
  const opened = await checkStale(rt.db, Date.now(), { 'sales|mine': 6 * 3600_000 });
  assert.equal(
    opened.map((e) => `${e.rule}:${e.kind}:${e.scopeId}`),
    ['stale_feed:open:M1'],
  );
  assert.is(
    (await checkStale(rt.db, Date.now(), { 'sales|mine': 6 * 3600_000 })).length,
    0,
    'checked again: nothing new',
  );
  const back = await applyUpdates(rt.db, [upd('sales', 'mine', 'M1', [['volume_t', 12]], 2, Date.now())], {
    cadences: { 'sales|mine': 6 * 3600_000 },
  });
  assert.equal(
    back.map((e) => `${e.rule}:${e.kind}`),
    ['stale_feed:end'],
  );
  const row = await rt.db.query(`SELECT active, seq FROM alerts WHERE rule = 'stale_feed'`);
  assert.equal(row.rows, [{ active: false, seq: 2 }]);
});

test('forecast early warning from the newest stored forecast of a plant', async () => {
  await applyUpdates(
    rt.db,
    [
      upd(
        'days_of_stock',
        'user',
        'U1',
        [
          ['days', 12],
          ['avg_daily_consumption_t', 1000],
        ],
        3,
        Date.now(),
      ),
    ],
    {},
  );
  const mv = await rt.db.query<{ id: string }>(
    `INSERT INTO model_versions (series_key, model, version, frequency, horizon, trained_from, trained_to, backtest, coverage)
     VALUES ('user_stock:user:U1', 'naive', 1, 'day', 5, '2025-01-01', '2025-03-01', '[]', '{}') RETURNING id::text`,
  );
  for (let d = 1; d <= 5; d++) {
    await rt.db.query(
      `INSERT INTO forecasts (series_key, model_version_id, target_date, value, lo80, hi80, lo95, hi95) VALUES ('user_stock:user:U1', $1, $2, $3, $4, $5, $4, $5)`,
      [
        mv.rows[0]!.id,
        new Date(T0 + d * DAY + 8 * 3600_000).toISOString().slice(0, 10),
        12000 - 1000 * d,
        11000 - 1500 * d,
        13000 - 500 * d,
      ],
    );
  }
  const checked = new Map<string, number>();
  const ev = await checkForecasts(rt.db, {}, checked);
  assert.equal(
    ev.map((e) => `${e.rule}:${e.kind}:${e.severity}:${e.scopeId}`),
    ['forecast_breach:open:warning:U1'],
  );
  assert.is(ev[0]!.startedMs, T0);
  assert.is((await checkForecasts(rt.db, {}, checked)).length, 0, 'the same version is not checked twice');
  assert.is((await checkForecasts(rt.db, {}, new Map())).length, 0, 'and checking it again changes nothing');
});

test('behind the access layer the alert routes need a key', async () => {
  const app = await buildApp(rt, { plugins: [alertRoutes] });
  try {
    assert.is((await app.inject({ method: 'GET', url: '/v1/alerts' })).statusCode, 401);
    assert.is((await app.inject({ method: 'POST', url: '/v1/alert-webhooks', payload: {} })).statusCode, 401);
  } finally {
    await app.close();
  }
});

test.run();
