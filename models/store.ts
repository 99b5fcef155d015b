/**
 * Forecast persistence (tables from infra/migrations/004_forecasts.sql). Every retrain adds a
 * model version; nothing is overwritten, so past forecasts stay comparable with what happened.
 */
import pg from 'pg';
import type {
  BacktestScore,
  Coverage,
  ForecastPoint,
  ForecastResult,
  Frequency,
  ModelName,
} from './types.ts';

/** A pool or a single connected client. */
export type Db = pg.Pool | pg.Client | pg.PoolClient;

export interface StoredForecast {
  seriesKey: string;
  label: string | null;
  modelVersionId: number;
  version: number;
  model: ModelName;
  /** `benchmark` when no candidate beat both naive and seasonal naive and a benchmark is served. */
  selection: 'model' | 'benchmark';
  frequency: Frequency;
  horizon: number;
  seasonalPeriod: number;
  trainedFrom: string;
  trainedTo: string;
  /** Backtest MASE of the chosen model. */
  mase: number | null;
  backtest: BacktestScore[];
  coverage: Coverage;
  createdAt: string;
  points: ForecastPoint[];
}

export interface ForecastSummary {
  seriesKey: string;
  label: string | null;
  model: ModelName;
  mase: number | null;
  version: number;
  frequency: Frequency;
  createdAt: string;
}

async function inTransaction<T>(db: Db, fn: (c: pg.ClientBase) => Promise<T>): Promise<T> {
  const client = db instanceof pg.Pool ? await db.connect() : db;
  try {
    await client.query('BEGIN');
    try {
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    if (db instanceof pg.Pool) (client as pg.PoolClient).release();
  }
}

/** Saves a result as the next version of `seriesKey`; returns the new version's id and number. */
export async function saveForecast(
  db: Db,
  seriesKey: string,
  result: ForecastResult,
  meta: { label?: string } = {},
): Promise<{ modelVersionId: number; version: number }> {
  return inTransaction(db, async (c) => {
    // Serialises concurrent retrains of one series so version numbers never collide.
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`forecast:${seriesKey}`]);
    const mv = await c.query<{ id: string; version: number }>(
      `INSERT INTO model_versions
         (series_key, label, model, version, frequency, horizon, seasonal_period, trained_from, trained_to, backtest, coverage)
       VALUES ($1, $2, $3, (SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE series_key = $1),
               $4, $5, $6, $7, $8, $9, $10)
       RETURNING id, version`,
      [
        seriesKey,
        meta.label ?? null,
        result.model,
        result.frequency,
        result.horizon,
        result.seasonalPeriod,
        result.trainedFrom,
        result.trainedTo,
        JSON.stringify(result.backtest),
        JSON.stringify(result.coverage),
      ],
    );
    const id = Number(mv.rows[0]!.id);
    const p = result.points;
    await c.query(
      `INSERT INTO forecasts (series_key, model_version_id, target_date, value, lo80, hi80, lo95, hi95)
       SELECT $1, $2, t.* FROM unnest($3::date[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[]) AS t`,
      [
        seriesKey,
        id,
        p.map((x) => x.date),
        p.map((x) => x.value),
        p.map((x) => x.lo80),
        p.map((x) => x.hi80),
        p.map((x) => x.lo95),
        p.map((x) => x.hi95),
      ],
    );
    return { modelVersionId: id, version: mv.rows[0]!.version };
  });
}

function chosenMase(backtest: BacktestScore[], model: string): number | null {
  return backtest.find((b) => b.model === model)?.mase ?? null;
}

const VERSION_COLUMNS = `id, series_key, label, model, version, frequency, horizon, seasonal_period,
  trained_from::text AS trained_from, trained_to::text AS trained_to, backtest, coverage,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`;

interface VersionRow {
  id: string;
  series_key: string;
  label: string | null;
  model: ModelName;
  version: number;
  frequency: Frequency;
  horizon: number;
  seasonal_period: number;
  trained_from: string;
  trained_to: string;
  backtest: BacktestScore[];
  coverage: Coverage;
  created_at: string;
}

/** The newest version of a series with its points, or null when the series has never been forecast. */
export async function latestForecast(db: Db, seriesKey: string): Promise<StoredForecast | null> {
  const v = await db.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM model_versions WHERE series_key = $1 ORDER BY version DESC LIMIT 1`,
    [seriesKey],
  );
  const row = v.rows[0];
  if (!row) return null;
  const pts = await db.query<ForecastPoint>(
    `SELECT target_date::text AS date, value, lo80, hi80, lo95, hi95
       FROM forecasts WHERE model_version_id = $1 ORDER BY target_date`,
    [row.id],
  );
  return {
    seriesKey: row.series_key,
    label: row.label,
    modelVersionId: Number(row.id),
    version: row.version,
    model: row.model,
    // Only the benchmarks are ever served without beating both of them, so the label follows from the model.
    selection: row.model === 'naive' || row.model === 'snaive' ? 'benchmark' : 'model',
    frequency: row.frequency,
    horizon: row.horizon,
    seasonalPeriod: row.seasonal_period,
    trainedFrom: row.trained_from,
    trainedTo: row.trained_to,
    mase: chosenMase(row.backtest, row.model),
    backtest: row.backtest,
    coverage: row.coverage,
    createdAt: row.created_at,
    points: pts.rows,
  };
}

/** Every series with a forecast: its newest version's model and backtest MASE. */
export async function listLatestForecasts(db: Db): Promise<ForecastSummary[]> {
  const r = await db.query<VersionRow>(
    `SELECT DISTINCT ON (series_key) ${VERSION_COLUMNS}
       FROM model_versions ORDER BY series_key, version DESC`,
  );
  return r.rows.map((row) => ({
    seriesKey: row.series_key,
    label: row.label,
    model: row.model,
    mase: chosenMase(row.backtest, row.model),
    version: row.version,
    frequency: row.frequency,
    createdAt: row.created_at,
  }));
}
