import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Client as RegistryClient } from '@confluentinc/schemaregistry';
import type { Broker } from './broker.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

/** What each component is running on; served by /healthz. */
export interface Kinds {
  broker: 'kafka' | 'in-process';
  db: string;
  cache: 'redis' | 'ioredis-mock';
  registry: 'confluent-compatible' | 'mock';
}

/** Built once by the composition root and handed to pipelines, sinks and the API. */
export interface Deps {
  config: Readonly<Config>;
  log: Logger;
  broker: Broker;
  db: pg.Pool;
  redis: Redis;
  registry: RegistryClient;
  metrics: Metrics;
  kinds: Kinds;
  /** Topic name with the configured prefix applied. */
  topic(name: string): string;
}
