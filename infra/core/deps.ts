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

/**
 * Whether the stores answer, as last seen (the composition root probes the database; the cache's state is its
 * client's). The API marks what it serves from the other store while one is down.
 */
export interface StoreHealth {
  /** 'down' while the database does not answer (a probe failed, or took longer than its timeout). */
  db(): 'up' | 'down';
  /** Since when the database is down (ms since the epoch), or null. */
  dbDownSince(): number | null;
  /** The last database outage that ended: when it began and ended (ms since the epoch). */
  lastDbOutage(): { from: number; to: number } | null;
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
  /** Store health; absent in hand-built deps (then the stores count as up). */
  health?: StoreHealth;
  /** Topic name with the configured prefix applied. */
  topic(name: string): string;
}
