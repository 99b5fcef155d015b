import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../infra/core/config.ts';
import { buildRuntime, type Runtime } from '../../infra/compose.ts';
import { createLogger } from '../../infra/core/log.ts';

/** Random suffix so each integration test owns its topics, keys and schemas. */
export function uniq(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export const TEST_KAFKA = process.env.KAFKA_BROKERS || '127.0.0.1:9092';
export const TEST_REDIS = process.env.TEST_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379';

export interface TestRuntimeOptions {
  /** 'kafka' (real broker, default) or 'in-process'. */
  broker?: 'kafka' | 'in-process';
  /** 'redis' (real, default) or 'mock'. */
  cache?: 'redis' | 'mock';
  /** The real Redis to use (default TEST_REDIS_URL). */
  redisUrl?: string;
  /** Real registry URL when SCHEMA_REGISTRY_URL is set, else the mock. */
  registry?: 'env' | 'mock';
  overrides?: Partial<Config>;
}

/**
 * A runtime on the real services: Kafka, embedded TimescaleDB in memory served
 * over the Postgres wire, real Redis. Topics get a random prefix; remove them in `after`.
 */
export async function testRuntime(opts: TestRuntimeOptions = {}): Promise<Runtime & { prefix: string }> {
  const prefix = `${uniq('test')}.`;
  const env: Record<string, string> = {
    COALFLOW_TOKEN_SECRET: 'test-secret',
    COALFLOW_DATA_DIR: 'memory',
    COALFLOW_TOPIC_PREFIX: prefix,
    COALFLOW_SIMULATOR: 'false',
    COALFLOW_TOPIC_PARTITIONS: '3',
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
  };
  if ((opts.broker ?? 'kafka') === 'kafka') env.KAFKA_BROKERS = TEST_KAFKA;
  if ((opts.cache ?? 'redis') === 'redis') env.REDIS_URL = opts.redisUrl ?? TEST_REDIS;
  if ((opts.registry ?? 'env') === 'env' && process.env.SCHEMA_REGISTRY_URL)
    env.SCHEMA_REGISTRY_URL = process.env.SCHEMA_REGISTRY_URL;
  const config = loadConfig(env, { ...opts.overrides, dataDir: 'memory' });
  const rt = await buildRuntime(config, { log: createLogger({ level: env.LOG_LEVEL }) });
  return Object.assign(rt, { prefix });
}

/** Polls until `fn` returns a truthy value or the timeout passes. */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/**
 * Tears down a test's running system: its Redis keys, the system (producers first: deleting topics under a
 * running simulator makes its sends retry for long), then its topics on the real broker.
 */
export async function stopSystemAndCleanup(
  rt: (Runtime & { prefix: string }) | undefined,
  sys: { stop(): Promise<void> } | undefined,
): Promise<void> {
  if (!rt) return;
  const topics = (await rt.broker.listTopics().catch(() => [] as string[])).filter((t) =>
    t.startsWith(rt.prefix),
  );
  const keys = await rt.redis.keys(`*${rt.prefix}*`).catch(() => [] as string[]);
  if (keys.length) await rt.redis.del(...keys);
  await sys?.stop();
  const { KafkaBroker } = await import('../../infra/broker/kafka.ts');
  const admin = new KafkaBroker({
    brokers: TEST_KAFKA.split(','),
    clientId: 'coalflow-test-cleanup',
    log: createLogger({ level: 'error' }),
    partitions: 1,
    replicationFactor: 1,
  });
  try {
    await admin.deleteTopics(topics);
  } catch {
    /* best effort */
  } finally {
    await admin.close();
  }
}
