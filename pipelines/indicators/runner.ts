/**
 * The indicator workers: one consumer-group member reading the eight canonical topics (consumer.ts) and one
 * publisher (publisher.ts), decoupled by a transactional outbox; the pure planners are in planners.ts and every
 * tuning default in tuning.ts. This file only wires them.
 */
import { createKafkaTopicSink } from '../../sinks/index.ts';
import { FEEDS, topicOf } from '../contracts/types.ts';
import { createIndicatorConsumer } from './consumer.ts';
import { INDICATOR_SCHEMA, type IndicatorUpdateMessage } from './contract.ts';
import { createIndicatorPublisher } from './publisher.ts';
import { createRedisSink } from './snapshots.ts';
import { createTimescaleSink, type FaultHook as StoreFaultHook } from './store.ts';
import {
  resolveTuning,
  type IndicatorStats,
  type IndicatorWorkerOptions,
  type IndicatorWorkers,
  type WorkerContext,
} from './worker-context.ts';
import type { Deps } from '../../infra/core/index.ts';

export { PUBLISH_SLICE_ROWS, publishSlices, derivedWindows } from './planners.ts';
export { indicatorTopics, indicatorSourceTopics, ACCEPTED_HEADER } from './topics.ts';
export type {
  FaultStage,
  IndicatorStats,
  IndicatorWorkerOptions,
  IndicatorWorkers,
} from './worker-context.ts';

export const INDICATOR_GROUP = 'coalflow-indicators';

export function startIndicatorWorkers(deps: Deps, opts: IndicatorWorkerOptions = {}): IndicatorWorkers {
  const log = deps.log.child({ component: 'indicators' });
  const workerId = opts.workerId ?? Math.random().toString(36).slice(2, 8);
  const tuning = resolveTuning({
    ...opts,
    poisonAttempts: opts.poisonAttempts ?? deps.config.poisonAttempts,
    poisonRetryInitialDelayMs: opts.poisonRetryInitialDelayMs ?? deps.config.poisonRetryMs,
  });
  const feeds = opts.feeds ?? FEEDS;
  // Store stages: the hook sees each batch of the transaction (group commit), with its record count.
  const storeHook: StoreFaultHook | undefined = opts.faultHook
    ? async (stage, batches) => {
        for (const b of batches)
          await opts.faultHook!(stage, { topic: b.topic, partition: b.partition, records: b.records ?? 0 });
      }
    : undefined;
  const lagBy = new Map<string, number>();
  const stats: IndicatorStats = {
    batches: 0,
    transactions: 0,
    records: 0,
    inserted: 0,
    duplicates: 0,
    late: 0,
    corrections: 0,
    failures: 0,
    points: 0,
    deadLetters: 0,
    poisonRetries: 0,
    completed: 0,
    rounds: 0,
    derivedRounds: 0,
    published: 0,
    publishFailures: 0,
    stageMs: { decode: 0, store: 0, read: 0, redis: 0, kafka: 0 },
  };
  const ctx: WorkerContext = {
    deps,
    log,
    opts,
    tuning,
    workerId,
    owner: `${workerId}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`,
    feedByTopic: new Map(feeds.map((f) => [deps.topic(topicOf.canonical(f)), f])),
    lateness: opts.allowedLatenessMs ?? deps.config.allowedLatenessMs,
    groupId: deps.topic(opts.groupId ?? INDICATOR_GROUP),
    stats,
    store: createTimescaleSink(deps, { faultHook: storeHook }),
    redis: createRedisSink(deps),
    kafka:
      opts.publishKafka === false
        ? null
        : createKafkaTopicSink<IndicatorUpdateMessage>(deps, {
            topic: topicOf.indicators,
            schema: INDICATOR_SCHEMA,
          }),
    lagBy,
    maxEvent: new Map(),
    catchingUp: () => {
      if (tuning.catchUpLagRecords <= 0) return false;
      let n = 0;
      for (const v of lagBy.values()) n += v;
      return n >= tuning.catchUpLagRecords;
    },
    limitOf: (lane) => (lane === 'derived' ? tuning.publishDerivedMaxKeys : tuning.publishMaxKeys),
  };
  const publisher = createIndicatorPublisher(ctx);
  const consumer = createIndicatorConsumer(ctx, () => publisher.wake());
  let stopping: Promise<void> | null = null;

  return {
    async start() {
      await consumer.start();
      if (opts.publish !== false) publisher.start();
    },
    stop() {
      stopping ??= (async () => {
        // Half the process's shutdown budget for this stop's publication: what is still dirty then stays in the
        // outbox (durable) and the next run publishes it, so the process exits within its budget even under load.
        const drainUntil = Date.now() + deps.config.shutdownTimeoutMs / 2;
        const steps = [
          () => consumer.stop(),
          () => publisher.stop(),
          // Publish what the last batches made dirty, so Redis and coal.indicators are up to date on exit.
          async () => {
            await publisher.drain(drainUntil);
            const left = await deps.db.query('SELECT count(*)::int AS n FROM ind_dirty');
            if (Number(left.rows[0].n))
              log.warn({ keys: left.rows[0].n }, 'outbox keys left for the next run (stop budget)');
          },
          () => ctx.kafka?.close(),
          () => ctx.redis.close(),
          () => ctx.store.close(),
        ];
        for (const s of steps) {
          try {
            await s();
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'indicator stop step failed');
          }
        }
      })();
      return stopping;
    },
    flush: () => publisher.drain(),
    async idle({ timeoutMs = 60_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await publisher.drain();
        const r = await deps.db.query('SELECT count(*)::int AS n FROM ind_dirty');
        if (!Number(r.rows[0].n)) return;
        if (Date.now() > deadline)
          throw new Error(`indicator outbox not empty after ${timeoutMs} ms (${r.rows[0].n} keys)`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    assignment: () => consumer.assignment(),
    stats: () => ({ ...stats, stageMs: { ...stats.stageMs } }),
  };
}
