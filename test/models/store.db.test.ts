import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { sendError } from '../../api/errors.ts';
import Fastify from 'fastify';
import pg from 'pg';
import { startEmbeddedDb, type EmbeddedDb } from '../../infra/db/embedded.ts';
import { splitSql } from '../../infra/db/migrate.ts';
import { createLogger } from '../../infra/core/log.ts';
import { forecastRoutes } from '../../api/routes/forecasts.ts';
import { selectAndForecast } from '../../models/index.ts';
import { latestForecast, listLatestForecasts, saveForecast } from '../../models/store.ts';
import { retrainAll, seriesSourcesFrom, startSchedule, type SeriesSource } from '../../models/scheduler.ts';
import { dailyVolume, monthlyProduction } from '../../models/synthetic.ts';

const MIGRATION = new URL('../../infra/migrations/004_forecasts.sql', import.meta.url);
const FAST = ['naive', 'snaive', 'holt_winters', 'regression'];
const log = createLogger({ level: 'silent' });
let emb: EmbeddedDb | null = null;
let pool: pg.Pool;

async function applyMigration() {
  for (const stmt of splitSql(readFileSync(MIGRATION, 'utf8'))) await pool.query(stmt);
}

test.before(async () => {
  if (process.env.TEST_DATABASE_URL) {
    pool = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
  } else {
    emb = await startEmbeddedDb({ dataDir: 'memory' });
    pool = new pg.Pool({ connectionString: emb.url, max: 1 });
  }
});

test.after(async () => {
  await pool?.query(`DELETE FROM model_versions WHERE series_key LIKE 'test.%'`).catch(() => undefined);
  await pool?.end();
  await emb?.close();
});

test('migration 004 is idempotent and makes forecasts a hypertable', async () => {
  await applyMigration();
  await applyMigration();
  const h = await pool.query(
    `SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_name = 'forecasts'`,
  );
  assert.is(h.rowCount, 1);
  const dims = await pool.query(
    `SELECT column_name FROM timescaledb_information.dimensions WHERE hypertable_name = 'forecasts'`,
  );
  assert.equal(
    dims.rows.map((r) => r.column_name),
    ['target_date'],
  );
});

test('save, read back the latest version, list series', async () => {
  const r1 = selectAndForecast(monthlyProduction({ seed: 1, months: 96 }), { models: FAST });
  const s1 = await saveForecast(pool, 'test.production.monthly', r1, { label: '原煤产量（月）' });
  assert.is(s1.version, 1);
  const r2 = selectAndForecast(monthlyProduction({ seed: 2, months: 97 }), { models: FAST });
  const s2 = await saveForecast(pool, 'test.production.monthly', r2, { label: '原煤产量（月）' });
  assert.is(s2.version, 2);
  assert.ok(s2.modelVersionId > s1.modelVersionId);

  const latest = await latestForecast(pool, 'test.production.monthly');
  assert.ok(latest);
  assert.is(latest.version, 2);
  assert.is(latest.label, '原煤产量（月）');
  assert.is(latest.model, r2.model);
  assert.is(latest.selection, r2.selection);
  assert.is(latest.frequency, 'month');
  assert.is(latest.trainedTo, r2.trainedTo);
  assert.equal(latest.points, r2.points);
  assert.equal(latest.backtest, r2.backtest);
  assert.equal(latest.coverage, r2.coverage);
  assert.is(latest.mase, r2.backtest.find((b) => b.model === r2.model)!.mase);
  assert.match(latest.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

  assert.is(await latestForecast(pool, 'test.nothing'), null);
  const list = await listLatestForecasts(pool);
  const mine = list.find((x) => x.seriesKey === 'test.production.monthly');
  assert.equal(mine && { version: mine.version, model: mine.model, mase: mine.mase }, {
    version: 2,
    model: latest.model,
    mase: latest.mase,
  });
});

test('API: GET /v1/forecasts/:seriesKey, 404 in Chinese and English, GET /v1/forecasts', async () => {
  const app = Fastify();
  // The API's one error renderer, as buildApp installs it.
  app.setErrorHandler((err, req, reply) => sendError(reply, err, req.log));
  await app.register(forecastRoutes, { db: pool });
  try {
    const ok = await app.inject({
      method: 'GET',
      url: `/v1/forecasts/${encodeURIComponent('test.production.monthly')}`,
    });
    assert.is(ok.statusCode, 200);
    const body = ok.json();
    assert.is(body.version, 2);
    assert.is(body.points.length, 12);
    assert.ok(Array.isArray(body.backtest) && body.backtest.length === 4);
    assert.type(body.coverage.p80, 'number');
    assert.type(body.mase, 'number');

    const missing = await app.inject({ method: 'GET', url: '/v1/forecasts/test.none' });
    assert.is(missing.statusCode, 404);
    assert.is(missing.json().error.code, 'FORECAST_NOT_FOUND');
    assert.match(
      missing.json().error.message,
      /序列 "test.none" 暂无预测 \/ no forecast for series "test.none"/,
    );

    const control = await app.inject({ method: 'GET', url: '/v1/forecasts/a%01b' });
    assert.is(control.statusCode, 400);
    assert.match(control.json().error.message, /序列键无效.* \/ invalid series key/);

    const list = await app.inject({ method: 'GET', url: '/v1/forecasts' });
    assert.is(list.statusCode, 200);
    const item = list
      .json()
      .items.find((x: { seriesKey: string }) => x.seriesKey === 'test.production.monthly');
    assert.is(item.model, body.model);
    assert.is(item.mase, body.mase);
  } finally {
    await app.close();
  }
});

test('retrainAll stores every series, reports a failing one and carries on', async () => {
  const data: Record<string, ReturnType<typeof dailyVolume>> = {
    'test.sales.daily': dailyVolume({ seed: 4, days: 400 }),
    'test.broken': dailyVolume({ seed: 4, days: 10 }),
  };
  const sources: SeriesSource[] = seriesSourcesFrom(
    [
      { key: 'test.sales.daily', label: '日销量', horizon: 14, models: FAST },
      { key: 'test.broken', label: '太短的序列', models: FAST },
      { key: 'test.missing', label: '读取失败' },
    ],
    async (key) => {
      const d = data[key];
      if (!d) throw new Error(`no such series ${key}`);
      return d;
    },
  );
  const summary = await retrainAll({ db: pool, log }, sources);
  assert.equal(
    summary.ok.map((o) => o.key),
    ['test.sales.daily'],
  );
  assert.equal(summary.failed.map((f) => [f.key, f.code]).sort(), [
    ['test.broken', 'INPUT_INVALID'],
    ['test.missing', 'INTERNAL'],
  ]);
  assert.match(summary.failed.find((f) => f.key === 'test.broken')!.message, /too few points/);
  const stored = await latestForecast(pool, 'test.sales.daily');
  assert.is(stored?.points.length, 14);
  assert.is(stored?.label, '日销量');
});

test('startSchedule runs at start, does not overlap runs, stops cleanly (twice)', async () => {
  let loads = 0;
  const src: SeriesSource = {
    key: 'test.sched',
    label: '调度测试',
    models: ['snaive', 'holt_winters'],
    horizon: 7,
    load: async () => {
      loads++;
      return dailyVolume({ seed: 8, days: 120 });
    },
  };
  const sched = startSchedule({ intervalMs: 60_000, deps: { db: pool, log }, sources: [src], workers: 0 });
  // A second call while the first run is in progress joins it instead of starting another.
  const [a, b] = await Promise.all([sched.runNow(), sched.runNow()]);
  assert.is(a, b);
  assert.is(a?.ok.length, 1);
  assert.is(loads, 1);
  const second = await sched.runNow();
  assert.is(second?.ok[0]?.version, 2);
  assert.is(loads, 2);
  await sched.stop();
  await sched.stop();
  assert.is(await sched.runNow(), null);
  assert.is((await latestForecast(pool, 'test.sched'))?.version, 2);
});

test.run();
