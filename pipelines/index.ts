/**
 * What other folders (api, infra, sinks, models) use from pipelines/.
 * Keep edits additive: several engineers export from here.
 */
// ---- contracts
export type * from './contracts/types.ts';
export { FEEDS, topicOf } from './contracts/types.ts';
export type { FeedSerde } from './contracts/serde-types.ts';
export { createFeedSerde, type CoalSerde } from './contracts/serde.ts';
export { avroSchemaOf } from './contracts/schemas.ts';
export { REASONS, REASON_CODES, reasonText, type ReasonCode } from './contracts/reasons.ts';
export { ORDOS_REGIONS, regionName } from './contracts/regions.ts';
export { LIMITS } from './contracts/validate.ts';
export { jsonDepth, MAX_RECORD_DEPTH } from './contracts/screen.ts';

// ---- desensitization and the minimum-necessary-use list
export {
  loadPolicy,
  assertProductFields,
  productFields,
  projectForProduct,
  type Policy,
  type Rule,
} from './desensitize/policy.ts';
export { createDesensitizer, type Desensitizer } from './desensitize/desensitize.ts';
export { checkMinimumNecessary, type FieldCheck } from './desensitize/minimum.ts';

// ---- ingest
export { feedTopics, ensureFeedTopics } from './ingest/topics.ts';
export { ingestRecords, isFeed, type IngestOptions, type IngestResult } from './ingest/ingest.ts';
export {
  createIngestWorkers,
  startIngestWorkers,
  type IngestWorkers,
  type IngestWorkerOptions,
} from './ingest/worker.ts';
export { createIngestService, type IngestService } from './ingest/service.ts';
export { replayOutbox } from './ingest/outbox.ts';
export { listRejects, getReject, replayReject, type RejectView } from './ingest/rejects.ts';
export type { ItemResult, Summary } from './ingest/batch.ts';
export type { Source } from './ingest/core.ts';

// ---- file import
export { importCli, importFile, type ImportIo, type ImportSummary } from './import/cli.ts';
export { indicatorTopics, listSeriesKeys, loadSeries, startIndicatorWorkers } from './indicators/index.ts';
export {
  AGGREGATE_SCOPES,
  DAY_MS,
  FAMILIES,
  type Family,
  type IndicatorPoint,
  METRICS,
  type MetricDef,
  type Scope,
  WINDOWS,
  type Window,
  cstDayMs,
  metricDef,
} from './indicators/model.ts';
export { DAYS_OF_STOCK_FLAT, series } from './indicators/queries.ts';
export { INDICATOR_GROUP } from './indicators/runner.ts';
export {
  type LatestEntry,
  type LatestReader,
  createLatestReader,
  readLatest,
  redisKeys,
} from './indicators/snapshots.ts';
export {
  CITY_ID,
  cstDate,
  monthStart,
  nextMonthStart,
  TZ_OFFSET_MS,
  weekStart,
  yearStart,
} from './indicators/model.ts';
export { createOutboxMark, readOutboxMark, type OutboxMark } from './ingest/outbox-mark.ts';
export { eventMsOf } from './indicators/core.ts';
export { FACTS, type FactColumn } from './indicators/facts.ts';
export { rebuildLatest, saveLatest, latestFromStore } from './indicators/index.ts';
export { processRaw } from './ingest/core.ts';

// ---- market-risk alerts
export {
  ackAlert,
  ALERT_GROUP,
  ALERT_SCHEMA,
  ALERT_TOPIC,
  alertChannel,
  alertTopics,
  audienceSees,
  deleteWebhook,
  deliveryLog,
  getAlert,
  listAlerts,
  listNotices,
  listWebhooks,
  parseAudience,
  registerWebhook,
  ruleDef,
  RULES,
  RULE_IDS,
  setWebhookEnabled,
  startAlertWorker,
  verifySignature,
  type AlertMessage,
  type AlertRow,
  type AlertWorker,
  type AlertWorkerOptions,
  type Audience,
  type RuleId,
  type RuleParams,
  type Webhook,
} from './alerts/index.ts';
