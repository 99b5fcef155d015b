/**
 * GET /v1/forecasts            series with a stored forecast: chosen model and its backtest MASE
 * GET /v1/forecasts/:seriesKey newest forecast of a series with model, version, backtest scores and coverage
 *
 * Forecasts are computed from aggregated series that already passed disclosure control, so no
 * further control happens here. Authorization is added around this plugin by the API layer.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { SCHEMAS } from './schemas.ts';
import { latestForecast, listLatestForecasts } from '../../models/index.ts';
import { CoalflowError } from '../../infra/core/index.ts';

export interface ForecastRoutesOptions {
  /** The database pool; alternatively pass the composition root's `deps`. */
  db?: pg.Pool;
  deps?: { db: pg.Pool };
}

/** Fastify's default maxParamLength: longer keys never reach this route (they get fastify's 404). */
const MAX_KEY_LENGTH = 100;

export async function forecastRoutes(app: FastifyInstance, opts: ForecastRoutesOptions): Promise<void> {
  const db = opts.db ?? opts.deps?.db;
  if (!db) throw new TypeError('forecastRoutes needs { db } or { deps: { db } }');

  app.get('/v1/forecasts', { config: { product: 'forecast' }, schema: SCHEMAS.forecasts }, async () => ({
    items: await listLatestForecasts(db),
  }));

  app.get<{ Params: { seriesKey: string } }>(
    '/v1/forecasts/:seriesKey',
    { config: { product: 'forecast' }, schema: SCHEMAS.forecast },
    async (req, _reply) => {
      const key = req.params.seriesKey;
      if (key.length === 0 || key.length > MAX_KEY_LENGTH || /[\u0000-\u001f]/.test(key)) {
        throw new CoalflowError(
          'INPUT_INVALID',
          `序列键无效（1–${MAX_KEY_LENGTH} 个字符，无控制字符） / invalid series key (1–${MAX_KEY_LENGTH} characters, no control characters)`,
        );
      }
      const found = await latestForecast(db, key);
      if (!found) {
        throw new CoalflowError(
          'FORECAST_NOT_FOUND',
          `序列 "${key}" 暂无预测 / no forecast for series "${key}"`,
          { context: { seriesKey: key } },
        );
      }
      return found;
    },
  );
}
