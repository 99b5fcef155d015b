/**
 * Forecasting for coalflow: what other folders use. Internals (models, metrics,
 * backtest, dates) are imported directly only by this folder and its tests.
 */
export type {
  BacktestScore,
  Coverage,
  ForecastOptions,
  ForecastPoint,
  ForecastResult,
  Frequency,
  ModelName,
  Observation,
  SeriesPoint,
} from './types.ts';
export { DEFAULT_MODELS, MODEL_NAMES } from './types.ts';
export { selectAndForecast, MAX_HORIZON } from './select.ts';
export { DEFAULT_HORIZON } from './dates.ts';
export { mae, mase, smape } from './metrics.ts';
export { parseSeriesCsv, readSeriesCsv, type CsvSeries } from './csv.ts';
export { forecastCli, FORECAST_USAGE, type CliIo } from './cli.ts';
export { runForecastJobs, type ForecastJob, type ForecastJobResult, type PoolOptions } from './pool.ts';
export {
  latestForecast,
  listLatestForecasts,
  saveForecast,
  type ForecastSummary,
  type StoredForecast,
} from './store.ts';
export {
  BATCH_NEURAL_BUDGET_MS,
  retrainAll,
  seriesSourcesFrom,
  startSchedule,
  type RetrainOptions,
  type RetrainSummary,
  type Schedule,
  type ScheduleOptions,
  type SchedulerDeps,
  type SeriesSource,
} from './scheduler.ts';
export {
  FORECAST_CATALOG,
  catalogSources,
  forecastKey,
  type CatalogEntry,
  type SkippedSeries,
} from './catalog.ts';
