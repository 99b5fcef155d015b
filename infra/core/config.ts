import { ConfigError } from './errors.ts';

/**
 * Every setting, its default and unit. Parsed once from the environment (and
 * CLI flags mapped onto the same keys), unknown COALFLOW_* keys rejected, then frozen.
 */
export interface Config {
  /** HTTP port of the API. Env PORT. Default 8080. */
  port: number;
  /** Bind address. Env HOST. Default 0.0.0.0. */
  host: string;
  /** Comma-separated Kafka bootstrap servers; empty = in-process broker. Env KAFKA_BROKERS. */
  kafkaBrokers: string[];
  /** Kafka client id. Env KAFKA_CLIENT_ID. Default coalflow. */
  kafkaClientId: string;
  /** Confluent-compatible registry URL; empty = the client's mock registry. Env SCHEMA_REGISTRY_URL. */
  schemaRegistryUrl: string;
  /** Postgres/TimescaleDB URL; empty = embedded TimescaleDB (PGlite) on loopback. Env DATABASE_URL. */
  databaseUrl: string;
  /** Redis URL; empty = ioredis-mock. Env REDIS_URL. */
  redisUrl: string;
  /** Data directory of the embedded database. Env COALFLOW_DATA_DIR. Default .data/pglite. '' or 'memory' = in memory. */
  dataDir: string;
  /**
   * Where the embedded database runs: 'process' (a child process, default: its own core, as a server would be)
   * or 'inline' (this process). Env COALFLOW_EMBEDDED_DB.
   */
  embeddedDb: 'process' | 'inline';
  /** How often the embedded database's tables are checked for VACUUM (ANALYZE) (it has no autovacuum), ms; 0 = never. Env COALFLOW_EMBEDDED_MAINTENANCE_MS. Default 10000. */
  embeddedMaintenanceMs: number;
  /**
   * Least free space under the embedded database's directory, MiB: below it a start is refused and a running
   * process stops (`DATA_DIR_FULL`) before the database runs out of space mid-write. Env
   * COALFLOW_DATA_DIR_MIN_FREE_MB. Default 100; 0 = no check.
   */
  dataDirMinFreeMb: number;
  /** Partitions per topic created at start. Env COALFLOW_TOPIC_PARTITIONS. Default 6. */
  topicPartitions: number;
  /** Replication factor of created topics. Env COALFLOW_TOPIC_REPLICATION. Default 1. */
  topicReplicationFactor: number;
  /** Prefix for topic names (tests isolate with it). Env COALFLOW_TOPIC_PREFIX. Default ''. */
  topicPrefix: string;
  /** Run the simulator in `start`. Env COALFLOW_SIMULATOR (true/false). Default true on the embedded default, false otherwise. */
  simulator: boolean;
  /** Simulated seconds per wall-clock second. Env COALFLOW_SIM_SPEED. Default 600. */
  simSpeed: number;
  /** Simulator seed. Env COALFLOW_SIM_SEED. Default 42. */
  simSeed: number;
  /** Share of deliberately bad records from the simulator, 0..1. Env COALFLOW_SIM_BAD_SHARE. Default 0.01. */
  simBadShare: number;
  /** Share of duplicate records from the simulator, 0..1. Env COALFLOW_SIM_DUP_SHARE. Default 0.01. */
  simDupShare: number;
  /** Days of daily history the simulator seeds before its first start (so forecasts have series at once), 0 = none. Env COALFLOW_SIM_HISTORY_DAYS. Default 460 on the embedded default, else 0 (a real database gets no made-up history). */
  simHistoryDays: number;
  /** Allowed lateness for event-time windows, ms. Env COALFLOW_ALLOWED_LATENESS_MS. Default 48 h. */
  allowedLatenessMs: number;
  /** Attempts of a poison record (the store refuses it every time) alone before it goes to the DLQ, 1..20. Env COALFLOW_POISON_ATTEMPTS. Default 3. */
  poisonAttempts: number;
  /** First backoff between those attempts, ms, doubled each time. Env COALFLOW_POISON_RETRY_MS. Default 200. */
  poisonRetryMs: number;
  /**
   * Shutdown budget after SIGTERM/SIGINT, ms: the workers finish and commit their batch, the outbox is published,
   * then the process exits 0; past the budget it exits 1 at once (what was not committed is redelivered on the
   * next start). Env COALFLOW_SHUTDOWN_TIMEOUT_MS. Default 30000.
   */
  shutdownTimeoutMs: number;
  /** Secret key for desensitization tokens (HMAC-SHA256). Env COALFLOW_TOKEN_SECRET. Required outside the embedded default. */
  tokenSecret: string;
  /** Path of the desensitization policy file. Env COALFLOW_POLICY_FILE. Default pipelines/desensitize/policy.json. */
  policyFile: string;
  /** Time between forecast retrain runs of the worker, ms; 0 = never (on demand only). Env COALFLOW_FORECAST_INTERVAL_MS. Default 6 h. */
  forecastIntervalMs: number;
  /** API requests per key per second (429 beyond). Env COALFLOW_RATE_PER_SECOND. Default 100. */
  ratePerSecond: number;
  /** `/metrics` open without a key from loopback (else an operator key). Env COALFLOW_METRICS_LOOPBACK_OPEN. Default true. */
  metricsLoopbackOpen: boolean;
  /** Audit trail retention, days; at least 183 (6 months). Env COALFLOW_AUDIT_RETENTION_DAYS. Default 1095 (3 years). */
  auditRetentionDays: number;
  /** Create one demo key per subscriber kind at start and write .coalflow/demo-keys.json. Env COALFLOW_DEMO_KEYS. Default true on the embedded default. */
  demoKeys: boolean;
  /** Where the demo keys are written (git-ignored). Env COALFLOW_DEMO_KEYS_FILE. Default `.coalflow/demo-keys.json`. */
  demoKeysFile: string;
  /**
   * Alert rule thresholds overriding the defaults, JSON `{"<rule>": {"warning": n, "critical": n, "days": n, "hysteresis": n}}`,
   * and `"disabled": ["<rule>", …]`. Env COALFLOW_ALERT_RULES. Default '' (the defaults of pipelines/alerts/rules.ts).
   */
  alertRules: string;
  /** How often the stale-feed alert rule looks at the clock, ms; 0 = never. Env COALFLOW_ALERT_STALE_CHECK_MS. Default 60000. */
  alertStaleCheckMs: number;
  /** Failed webhook attempts in a row before a webhook is disabled. Env COALFLOW_ALERT_WEBHOOK_MAX_FAILURES. Default 50. */
  alertWebhookMaxFailures: number;
  /** Pino level. Env LOG_LEVEL. Default info. */
  logLevel: string;
  /**
   * Report schedule, cron (minute hour day month weekday) in Asia/Shanghai. Env COALFLOW_REPORT_CRON_DAY, _WEEK, _MONTH,
   * _YEAR. Defaults: daily 0 7 * * * (previous day), weekly 30 7 * * 1, monthly 0 8 1 * *, annual 0 9 1 1 *.
   */
  reportCron: { day: string; week: string; month: string; year: string };
  /** Longest time a process serves from its cached product states and emergency stops, ms (changes also arrive at once over Redis pub/sub). Env COALFLOW_GOVERNANCE_REFRESH_MS. Default 1000. */
  governanceRefreshMs: number;
  /** True when no external service is configured (embedded default). */
  embedded: boolean;
}

const KNOWN_COALFLOW_KEYS = new Set([
  'COALFLOW_DATA_DIR',
  'COALFLOW_EMBEDDED_DB',
  'COALFLOW_EMBEDDED_MAINTENANCE_MS',
  'COALFLOW_DATA_DIR_MIN_FREE_MB',
  'COALFLOW_TOPIC_PARTITIONS',
  'COALFLOW_TOPIC_REPLICATION',
  'COALFLOW_TOPIC_PREFIX',
  'COALFLOW_SIMULATOR',
  'COALFLOW_SIM_SPEED',
  'COALFLOW_SIM_SEED',
  'COALFLOW_SIM_BAD_SHARE',
  'COALFLOW_SIM_DUP_SHARE',
  'COALFLOW_ALLOWED_LATENESS_MS',
  'COALFLOW_POISON_ATTEMPTS',
  'COALFLOW_POISON_RETRY_MS',
  'COALFLOW_SHUTDOWN_TIMEOUT_MS',
  'COALFLOW_TOKEN_SECRET',
  'COALFLOW_POLICY_FILE',
  'COALFLOW_FORECAST_INTERVAL_MS',
  'COALFLOW_REPORT_CRON_DAY',
  'COALFLOW_REPORT_CRON_WEEK',
  'COALFLOW_REPORT_CRON_MONTH',
  'COALFLOW_REPORT_CRON_YEAR',
  'COALFLOW_SIM_HISTORY_DAYS',
  'COALFLOW_RATE_PER_SECOND',
  'COALFLOW_METRICS_LOOPBACK_OPEN',
  'COALFLOW_AUDIT_RETENTION_DAYS',
  'COALFLOW_DEMO_KEYS',
  'COALFLOW_DEMO_KEYS_FILE',
  'COALFLOW_ALERT_RULES',
  'COALFLOW_ALERT_STALE_CHECK_MS',
  'COALFLOW_ALERT_WEBHOOK_MAX_FAILURES',
  'COALFLOW_GOVERNANCE_REFRESH_MS',
  // Read by `coalflow products|emergency --api` only (the operator key for a running API), never by the system.
  'COALFLOW_OPERATOR_KEY',
]);

/** Five cron fields (minute hour day month weekday); the scheduler checks the values themselves at start. */
function cron(env: Record<string, string | undefined>, key: string, def: string): string {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (!/^\s*[\d*,/-]+(\s+[\d*,/A-Za-z-]+){4}\s*$/.test(raw)) {
    throw new ConfigError(
      `配置项 ${key}="${raw}" 应为 5 段 cron 表达式（分 时 日 月 周）/ ${key}="${raw}" must be a 5-field cron expression (minute hour day month weekday)`,
    );
  }
  return raw.trim();
}

/** Development-only secret for the embedded default; never used when a real service is configured. */
export const EMBEDDED_DEV_SECRET = 'coalflow-embedded-dev-secret-not-for-production';

function int(
  env: Record<string, string | undefined>,
  key: string,
  def: number,
  min: number,
  max: number,
): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new ConfigError(
      `配置项 ${key}="${raw}" 无效，应为 ${min}..${max} 的数 / ${key}="${raw}" must be a number in ${min}..${max}`,
    );
  }
  return n;
}

function bool(env: Record<string, string | undefined>, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`配置项 ${key}="${raw}" 应为 true/false / ${key}="${raw}" must be true or false`);
}

function oneOf<T extends string>(
  env: Record<string, string | undefined>,
  key: string,
  values: readonly T[],
  def: T,
): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if ((values as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(
    `配置项 ${key}="${raw}" 应为 ${values.join(' / ')} 之一 / ${key}="${raw}" must be one of ${values.join(', ')}`,
  );
}

/**
 * The environment key behind each field that a caller (the CLI's flags, tests) may override.
 * Such overrides go through the same validation as the environment: `--port abc` fails like `PORT=abc`.
 */
const ENV_OF_FIELD: Partial<Record<keyof Config, string>> = {
  port: 'PORT',
  embeddedMaintenanceMs: 'COALFLOW_EMBEDDED_MAINTENANCE_MS',
  dataDirMinFreeMb: 'COALFLOW_DATA_DIR_MIN_FREE_MB',
  topicPartitions: 'COALFLOW_TOPIC_PARTITIONS',
  topicReplicationFactor: 'COALFLOW_TOPIC_REPLICATION',
  simSpeed: 'COALFLOW_SIM_SPEED',
  simSeed: 'COALFLOW_SIM_SEED',
  simBadShare: 'COALFLOW_SIM_BAD_SHARE',
  simDupShare: 'COALFLOW_SIM_DUP_SHARE',
  allowedLatenessMs: 'COALFLOW_ALLOWED_LATENESS_MS',
  poisonAttempts: 'COALFLOW_POISON_ATTEMPTS',
  poisonRetryMs: 'COALFLOW_POISON_RETRY_MS',
  shutdownTimeoutMs: 'COALFLOW_SHUTDOWN_TIMEOUT_MS',
  forecastIntervalMs: 'COALFLOW_FORECAST_INTERVAL_MS',
  simulator: 'COALFLOW_SIMULATOR',
  embeddedDb: 'COALFLOW_EMBEDDED_DB',
};

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Readonly<Config> {
  const checked: Record<string, string> = {};
  const rest: Partial<Config> = {};
  for (const [field, value] of Object.entries(overrides) as [keyof Config, unknown][]) {
    const key = ENV_OF_FIELD[field];
    if (key && value !== undefined) checked[key] = String(value);
    else (rest as Record<string, unknown>)[field] = value;
  }
  if (Object.keys(checked).length) {
    env = { ...env, ...checked };
    overrides = rest;
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith('COALFLOW_') && !KNOWN_COALFLOW_KEYS.has(key)) {
      throw new ConfigError(`未知配置项 ${key} / unknown setting ${key}`, { context: { key } });
    }
  }
  const kafkaBrokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const databaseUrl = env.DATABASE_URL ?? '';
  const redisUrl = env.REDIS_URL ?? '';
  const embedded = kafkaBrokers.length === 0 && !databaseUrl && !redisUrl;
  const tokenSecret = env.COALFLOW_TOKEN_SECRET ?? (embedded ? EMBEDDED_DEV_SECRET : '');
  const cfg: Config = {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '0.0.0.0',
    kafkaBrokers,
    kafkaClientId: env.KAFKA_CLIENT_ID || 'coalflow',
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL ?? '',
    databaseUrl,
    redisUrl,
    dataDir: env.COALFLOW_DATA_DIR ?? '.data/pglite',
    embeddedDb: oneOf(env, 'COALFLOW_EMBEDDED_DB', ['process', 'inline'] as const, 'process'),
    embeddedMaintenanceMs: int(env, 'COALFLOW_EMBEDDED_MAINTENANCE_MS', 10_000, 0, 86_400_000),
    dataDirMinFreeMb: int(env, 'COALFLOW_DATA_DIR_MIN_FREE_MB', 100, 0, 1_048_576),
    topicPartitions: int(env, 'COALFLOW_TOPIC_PARTITIONS', 6, 1, 1000),
    topicReplicationFactor: int(env, 'COALFLOW_TOPIC_REPLICATION', 1, 1, 10),
    topicPrefix: env.COALFLOW_TOPIC_PREFIX ?? '',
    simulator: bool(env, 'COALFLOW_SIMULATOR', embedded),
    simSpeed: int(env, 'COALFLOW_SIM_SPEED', 600, 1, 1e7),
    simSeed: int(env, 'COALFLOW_SIM_SEED', 42, 0, 2 ** 31),
    simBadShare: int(env, 'COALFLOW_SIM_BAD_SHARE', 0.01, 0, 1),
    simDupShare: int(env, 'COALFLOW_SIM_DUP_SHARE', 0.01, 0, 1),
    simHistoryDays: int(env, 'COALFLOW_SIM_HISTORY_DAYS', embedded ? 460 : 0, 0, 3650),
    allowedLatenessMs: int(env, 'COALFLOW_ALLOWED_LATENESS_MS', 48 * 3600_000, 0, 365 * 86400_000),
    poisonAttempts: int(env, 'COALFLOW_POISON_ATTEMPTS', 3, 1, 20),
    poisonRetryMs: int(env, 'COALFLOW_POISON_RETRY_MS', 200, 0, 60_000),
    shutdownTimeoutMs: int(env, 'COALFLOW_SHUTDOWN_TIMEOUT_MS', 30_000, 1000, 600_000),
    tokenSecret,
    policyFile: env.COALFLOW_POLICY_FILE || 'pipelines/desensitize/policy.json',
    forecastIntervalMs: int(env, 'COALFLOW_FORECAST_INTERVAL_MS', 6 * 3600_000, 0, 2 ** 31 - 1),
    ratePerSecond: int(env, 'COALFLOW_RATE_PER_SECOND', 100, 1, 1e6),
    metricsLoopbackOpen: bool(env, 'COALFLOW_METRICS_LOOPBACK_OPEN', true),
    auditRetentionDays: int(env, 'COALFLOW_AUDIT_RETENTION_DAYS', 1095, 183, 36_500),
    demoKeys: bool(env, 'COALFLOW_DEMO_KEYS', embedded),
    demoKeysFile: env.COALFLOW_DEMO_KEYS_FILE || '.coalflow/demo-keys.json',
    alertRules: env.COALFLOW_ALERT_RULES ?? '',
    alertStaleCheckMs: int(env, 'COALFLOW_ALERT_STALE_CHECK_MS', 60_000, 0, 86_400_000),
    alertWebhookMaxFailures: int(env, 'COALFLOW_ALERT_WEBHOOK_MAX_FAILURES', 50, 1, 1_000_000),
    governanceRefreshMs: int(env, 'COALFLOW_GOVERNANCE_REFRESH_MS', 1000, 100, 60_000),
    logLevel: env.LOG_LEVEL || 'info',
    reportCron: {
      day: cron(env, 'COALFLOW_REPORT_CRON_DAY', '0 7 * * *'),
      week: cron(env, 'COALFLOW_REPORT_CRON_WEEK', '30 7 * * 1'),
      month: cron(env, 'COALFLOW_REPORT_CRON_MONTH', '0 8 1 * *'),
      year: cron(env, 'COALFLOW_REPORT_CRON_YEAR', '0 9 1 1 *'),
    },
    embedded,
    ...overrides,
  };
  if (!cfg.tokenSecret) {
    throw new ConfigError(
      '未设置 COALFLOW_TOKEN_SECRET（脱敏令牌密钥），连接真实服务时必须设置 / COALFLOW_TOKEN_SECRET (desensitization key) is required when real services are configured',
    );
  }
  return deepFreeze(cfg);
}
