/**
 * The ground floor: what every other folder may import (errors, config, log, metrics, retry,
 * random, the broker port and the deps every component receives). It imports nothing of the project.
 */
export {
  type Assignment,
  type Batch,
  type BatchHandler,
  type Broker,
  type ConsumedRecord,
  type Consumer,
  type ConsumerOptions,
  type ProduceRecord,
  type TopicSpec,
} from './broker.ts';
export { type Config, loadConfig } from './config.ts';
export { type Deps, type Kinds, type StoreHealth } from './deps.ts';
export {
  BrokerError,
  CoalflowError,
  ConfigError,
  DataDirError,
  InputError,
  MigrationError,
  PolicyError,
  ServiceError,
  SinkError,
  ValidationError,
  isProgrammingError,
  ERROR_CODES,
  type ErrorCode,
} from './errors.ts';
export {
  createHealthTracker,
  type HealthSnapshot,
  type HealthState,
  type HealthTracker,
  type Outage,
} from './health.ts';
export { type Logger, createLogger } from './log.ts';
export { createMetrics, refreshConsumerLag } from './metrics.ts';
export { evalLua, luaScript, type LuaScript } from './lua.ts';
export { mulberry32 } from './random.ts';
export { retry } from './retry.ts';
export { AccessError } from './errors.ts';
export { OPEN_GATE, type AccessGate, type Refusal } from './gate.ts';
