/** What other folders (api, infra, models, sinks) use from the indicator pipeline. */
export {
  startIndicatorWorkers,
  indicatorTopics,
  indicatorSourceTopics,
  INDICATOR_GROUP,
  ACCEPTED_HEADER,
  type IndicatorWorkers,
  type IndicatorWorkerOptions,
  type IndicatorStats,
  type FaultStage,
} from './runner.ts';
export { loadSeries, listSeriesKeys, parseSeriesKey, SERIES_KINDS } from './series.ts';
export { series, DAYS_OF_STOCK_WINDOW_DAYS, type Db } from './queries.ts';
export {
  METRICS,
  FAMILIES,
  WINDOWS,
  CITY_ID,
  AGGREGATE_SCOPES,
  INDEX_BASKET,
  metricDef,
  bandOf,
  seriesKey,
  type Family,
  type Scope,
  type Window,
  type IndicatorPoint,
  type MetricDef,
} from './model.ts';
export { INDICATOR_SCHEMA, type IndicatorUpdateMessage } from './contract.ts';
export { rebuildLatest, saveLatest, latestFromStore, type RebuildResult } from './rebuild.ts';
