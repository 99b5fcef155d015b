/**
 * Ingest throughput (`npm run bench -- ingest`, or run this file directly).
 *
 * 1. core: simulated weighbridge sales through decode -> aliases -> validate ->
 *    desensitize -> Avro wire-format encode, in one process, no I/O.
 * 2. kafka: the same sales pre-loaded on `coal.raw.sales` on the real broker
 *    (KAFKA_BROKERS, default 127.0.0.1:9092), then the ingest workers run the
 *    whole path (consume, core, dedupe claims in the database, produce to
 *    `coal.sales.v1`, commit) until every record is on the canonical topic.
 *    The dedupe store is the embedded TimescaleDB unless DATABASE_URL is set.
 *
 * Prints one JSON summary on stdout (logs go to stderr).
 * Env: BENCH_CORE_RECORDS (default 50000), BENCH_KAFKA_RECORDS (default 20000).
 */
import os from 'node:os';
import { createLogger } from '../core/log.ts';
import { buildRuntime } from '../compose.ts';
import { loadConfig } from '../core/config.ts';
import { retry } from '../core/retry.ts';
import { Generator } from '../simulator/generator.ts';
import { topicOf } from '../../pipelines/contracts/types.ts';
import { createFeedSerde } from '../../pipelines/contracts/serde.ts';
import { createDesensitizer } from '../../pipelines/desensitize/desensitize.ts';
import { loadPolicy } from '../../pipelines/desensitize/policy.ts';
import { processRaw } from '../../pipelines/ingest/core.ts';
import { ensureFeedTopics, feedTopics } from '../../pipelines/ingest/topics.ts';
import { startIngestWorkers } from '../../pipelines/ingest/worker.ts';

const CORE_N = Number(process.env.BENCH_CORE_RECORDS ?? 50_000);
const KAFKA_N = Number(process.env.BENCH_KAFKA_RECORDS ?? 20_000);
const brokers = process.env.KAFKA_BROKERS || '127.0.0.1:9092';

/** Good sales only, with unique ids (the generator's seed and clock are fixed). */
function sales(n: number): string[] {
  const start = Date.parse('2025-01-06T00:00:00+08:00');
  const g = new Generator({ seed: 2025, startTime: start });
  const out: string[] = [];
  for (let t = start + 3_600_000; out.length < n; t += 3_600_000) {
    for (const e of g.advance(t))
      if (e.feed === 'sales' && e.kind === 'good') out.push(JSON.stringify(e.raw));
  }
  return out.slice(0, n);
}

const log = createLogger({ level: process.env.LOG_LEVEL || 'warn', to: 'stderr' });
const raw = sales(Math.max(CORE_N, KAFKA_N));

// 1. The pure core plus wire-format encoding.
const config = loadConfig(
  {
    KAFKA_BROKERS: brokers,
    COALFLOW_TOKEN_SECRET: 'bench-secret',
    COALFLOW_DATA_DIR: 'memory',
    LOG_LEVEL: 'warn',
    COALFLOW_TOPIC_PREFIX: `bench${Date.now().toString(36)}.`,
    COALFLOW_SIMULATOR: 'false',
    COALFLOW_TOPIC_PARTITIONS: process.env.COALFLOW_TOPIC_PARTITIONS ?? '6',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...(process.env.SCHEMA_REGISTRY_URL ? { SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL } : {}),
  },
  { dataDir: 'memory' },
);
const rt = await buildRuntime(config, { log });
let result: Record<string, unknown>;
try {
  const desensitizer = createDesensitizer(loadPolicy(), config.tokenSecret);
  const serde = createFeedSerde(rt);
  await serde.registerAll();
  const nowMs = Date.now();
  for (let i = 0; i < 3000; i++) {
    // JIT warm-up, not timed
    const o = processRaw('sales', Buffer.from(raw[i % raw.length]!), {
      desensitizer,
      nowMs,
      receivedAtMs: nowMs,
    });
    if (o.status === 'ok') await serde.encode('sales', o.record);
  }
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < CORE_N; i++) {
    const o = processRaw('sales', Buffer.from(raw[i]!), { desensitizer, nowMs, receivedAtMs: nowMs });
    if (o.status !== 'ok') throw new Error(`bench record rejected: ${o.message}`);
    bytes += (await serde.encode('sales', o.record)).length;
  }
  const coreSec = (performance.now() - t0) / 1000;

  // 2. The whole path on the real broker.
  await ensureFeedTopics(rt);
  const rawTopic = rt.topic(topicOf.raw('sales'));
  for (let i = 0; i < KAFKA_N; i += 2000) {
    const chunk = raw.slice(i, Math.min(KAFKA_N, i + 2000)).map((value) => ({ key: null, value }));
    // A topic just created may not have its leaders settled yet: retry (the adapter's errors are retriable).
    await retry(() => rt.broker.produce(rawTopic, chunk), { attempts: 8, initialDelayMs: 200 });
  }
  const canonical = rt.topic(topicOf.canonical('sales'));
  const done = async () => (await rt.broker.lag('none', canonical)).reduce((a, p) => a + Number(p.end), 0);
  const t1 = performance.now();
  const workers = await startIngestWorkers(rt, { maxBatchSize: 1000 });
  while ((await done()) < KAFKA_N) await new Promise((r) => setTimeout(r, 100));
  const kafkaSec = (performance.now() - t1) / 1000;
  await workers.stop();
  await rt.broker.deleteTopics(feedTopics(rt).map((t) => t.topic)).catch(() => undefined);

  result = {
    bench: 'ingest',
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    core: {
      what: 'sales: decode -> aliases -> validate -> desensitize -> Avro wire-format encode (one process, no I/O)',
      records: CORE_N,
      seconds: +coreSec.toFixed(2),
      recordsPerSec: Math.round(CORE_N / coreSec),
      avgEncodedBytes: Math.round(bytes / CORE_N),
    },
    kafka: {
      what: 'raw topic -> ingest workers (core + dedupe claims + produce canonical + commit) -> coal.sales.v1, real broker',
      brokers,
      partitions: config.topicPartitions,
      records: KAFKA_N,
      seconds: +kafkaSec.toFixed(2),
      recordsPerSec: Math.round(KAFKA_N / kafkaSec),
      dedupeStore: rt.kinds.db,
      registry: rt.kinds.registry,
    },
  };
} finally {
  await rt.close();
}
console.log(JSON.stringify(result, null, 2));
