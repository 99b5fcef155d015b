import pg from 'pg';
import { Redis } from 'ioredis';
import type { Client as RegistryClient } from '@confluentinc/schemaregistry';
import { InProcessBroker } from './broker/in-process.ts';
import { KafkaBroker } from './broker/kafka.ts';
import {
  ServiceError,
  type CoalflowError,
  createLogger,
  createMetrics,
  retry,
  type Broker,
  type Config,
  type Deps,
  type Kinds,
  type Logger,
} from './core/index.ts';
import { startEmbeddedMaintenance } from './db/maintenance.ts';
import { startEmbeddedDb, startEmbeddedDbProcess, type EmbeddedDb } from './db/embedded.ts';
import { watchDb, type DbHealth } from './db/health.ts';
import { ensureTimescale, migrate } from './db/migrate.ts';

export interface Runtime extends Deps {
  /** The embedded database's child process (embeddedDb 'process'), for its RSS; null otherwise. */
  dbProcess: { readonly pid: number; readonly restarts: number; rss(): Promise<number> } | null;
  health: DbHealth;
  /**
   * Calls `fn` (at once if it already happened) when the runtime cannot go on: the embedded database's process
   * died and cannot be restarted, or its data directory ran short of space. The owner stops and exits.
   */
  onFatal(fn: (err: CoalflowError) => void): void;
  /** Runs every cleanup step even if one fails; safe to call twice. */
  close(): Promise<void>;
}

async function createRegistry(url: string): Promise<RegistryClient> {
  const sr = await import('@confluentinc/schemaregistry');
  if (!url) return new sr.MockClient({ baseURLs: ['mock://'] } as never) as unknown as RegistryClient;
  return new sr.SchemaRegistryClient({
    baseURLs: [url],
    cacheCapacity: 1000,
  } as never) as unknown as RegistryClient;
}

async function createRedis(url: string, log: Logger): Promise<{ redis: Redis; kind: Kinds['cache'] }> {
  if (!url) {
    const { default: RedisMock } = await import('ioredis-mock');
    return { redis: new (RedisMock as unknown as typeof Redis)() as Redis, kind: 'ioredis-mock' };
  }
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, enableAutoPipelining: true });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new ServiceError('SERVICE_UNAVAILABLE', `无法连接 Redis ${url} / cannot connect to Redis`, {
      cause: err,
    });
  }
  return { redis, kind: 'redis' };
}

/**
 * The composition root: reads config, builds the adapters, migrates the
 * database and hands everything to the rest as `deps`. Nothing else
 * constructs a client.
 */
export async function buildRuntime(
  config: Readonly<Config>,
  opts: { log?: Logger; migrate?: boolean } = {},
): Promise<Runtime> {
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const closeAll = async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'cleanup step failed');
      }
    }
  };
  let fatalErr: CoalflowError | null = null;
  const fatalListeners = new Set<(err: CoalflowError) => void>();
  let health: DbHealth | null = null;
  try {
    // Database: real server, or embedded TimescaleDB over the wire.
    let embedded: EmbeddedDb | null = null;
    let dbProcess: Runtime['dbProcess'] = null;
    let dbUrl = config.databaseUrl;
    if (!dbUrl) {
      const minFreeBytes = config.dataDirMinFreeMb * 1048576;
      embedded =
        config.embeddedDb === 'inline'
          ? await startEmbeddedDb({ dataDir: config.dataDir, minFreeBytes })
          : (dbProcess = await startEmbeddedDbProcess({
              dataDir: config.dataDir,
              minFreeBytes,
              onEvent: (e) => {
                if (e.type === 'down') {
                  log.error(
                    { pid: e.pid, code: e.code, signal: e.signal },
                    'embedded database process died: restarting it on the same data directory',
                  );
                  health?.markDown('embedded database process died');
                } else log.warn({ pid: e.pid, restarts: e.restarts }, 'embedded database process restarted');
              },
              onFatal: (err) => {
                if (fatalErr) return;
                fatalErr = err;
                log.fatal({ code: err.code, err: err.message }, 'the database cannot go on');
                for (const fn of fatalListeners) fn(err);
              },
            }));
      cleanups.push(() => embedded!.close());
      dbUrl = embedded.url;
    }
    // PGlite is a single session: one connection serializes access safely.
    const db = new pg.Pool({ connectionString: dbUrl, max: embedded ? 1 : 10, idleTimeoutMillis: 30_000 });
    db.on('error', (err) => log.warn({ err: err.message }, 'pg pool error'));
    // A connection that fails while checked out (e.g. in a transaction) emits 'error' on the client, not the pool.
    db.on('connect', (client) => {
      client.on('error', (err) => log.warn({ err: err.message }, 'pg client error'));
    });
    // The embedded server is ONE session behind every connection: prepared statements outlive the connection
    // that made them, so a new connection (after the idle timeout, or one the server dropped after an error)
    // would fail with "prepared statement … already exists". Start each connection with none.
    if (embedded)
      db.on('connect', (client) => {
        client.query('DEALLOCATE ALL').catch(() => undefined);
      });
    cleanups.push(() => db.end());
    health = watchDb(db, log);
    cleanups.push(() => health!.stop());
    const tsVersion = await retry(() => ensureTimescale(db), { attempts: embedded ? 1 : 5 });
    if (opts.migrate !== false) {
      const m = await migrate(db);
      if (m.applied.length) log.info({ applied: m.applied }, 'migrations applied');
    }

    if (embedded && config.embeddedMaintenanceMs > 0) {
      // No autovacuum in the embedded server: statistics and dead rows are looked after here (db/maintenance.ts).
      const maintenance = startEmbeddedMaintenance(db, log, { intervalMs: config.embeddedMaintenanceMs });
      cleanups.push(() => maintenance.stop());
    }

    const { redis, kind: cacheKind } = await createRedis(config.redisUrl, log);
    cleanups.push(() => redis.quit().catch(() => redis.disconnect()));

    const registry = await createRegistry(config.schemaRegistryUrl);

    const broker: Broker = config.kafkaBrokers.length
      ? new KafkaBroker({
          brokers: config.kafkaBrokers,
          clientId: config.kafkaClientId,
          log,
          partitions: config.topicPartitions,
          replicationFactor: config.topicReplicationFactor,
        })
      : new InProcessBroker({ partitions: config.topicPartitions });
    cleanups.push(() => broker.close());

    const kinds: Kinds = {
      broker: broker.kind,
      db: `timescaledb ${tsVersion.replace(/-dev$/, '').split('.').slice(0, 2).join('.')}${embedded ? ' (embedded)' : ''}`,
      cache: cacheKind,
      registry: config.schemaRegistryUrl ? 'confluent-compatible' : 'mock',
    };
    let closing: Promise<void> | null = null;
    return {
      config,
      log,
      broker,
      db,
      redis,
      registry,
      metrics: createMetrics(),
      kinds,
      dbProcess,
      health,
      onFatal: (fn) => {
        if (fatalErr) fn(fatalErr);
        else fatalListeners.add(fn);
      },
      topic: (name: string) => config.topicPrefix + name,
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
