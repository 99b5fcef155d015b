/**
 * The indicator workers: one consumer-group member reading the eight canonical
 * topics. Per batch (one topic-partition): decode → classify lateness and map
 * to facts and cell deltas (pure core) → one store transaction (facts, deltas
 * of new facts, watermark) → read back what changed → Redis snapshots and
 * live channel → `coal.indicators`. Offsets are committed by the broker only
 * after all of it succeeded; a failure anywhere redelivers the batch, whose
 * facts are then duplicates and whose points are republished unchanged.
 */
import type { Deps } from '../../infra/deps.ts';
import type { Assignment, Batch, Consumer, TopicSpec } from '../../infra/broker/types.ts';
import { isProgrammingError } from '../../infra/errors.ts';
import { refreshConsumerLag } from '../../infra/metrics.ts';
import { retry } from '../../infra/retry.ts';
import type { FeedSerde } from '../contracts/serde-types.ts';
import { createFastDecoder } from './decode.ts';
import { ACCEPTED_HEADER, FEEDS, topicOf, type CanonicalRecord, type FeedName } from '../contracts/types.ts';
import { createKafkaTopicSink, type KafkaTopicSink } from '../../sinks/kafka.ts';
import { createRedisSink, type RedisSink } from '../../sinks/redis.ts';
import { createTimescaleSink, type FaultHook as StoreFaultHook, type FactItem, type TimescaleSink } from '../../sinks/timescale.ts';
import { classify, deltasOf, eventMsOf } from './core.ts';
import { INDICATOR_SCHEMA, toMessages, type IndicatorUpdateMessage } from './contract.ts';
import { computeUpdates } from './publish.ts';

export const INDICATOR_GROUP = 'coalflow-indicators';

/** Stages at which a test can make a batch fail (see `faultHook`). */
export type FaultStage = 'afterFacts' | 'beforeCommit' | 'afterStore' | 'afterRedis' | 'afterKafka';

export interface IndicatorWorkerOptions {
  /** Wire-format decoder of the canonical topics. Default: the fast reader (decode.ts), same result as `createFeedSerde(deps).decode`. */
  serde?: Pick<FeedSerde, 'decode'>;
  /** Consumer group. Default `coalflow-indicators`. */
  groupId?: string;
  /** Feeds to consume. Default: all eight. */
  feeds?: readonly FeedName[];
  /** Most records per handler call. Default 5000. */
  maxBatchSize?: number;
  /** Allowed lateness, ms. Default `config.allowedLatenessMs` (48 h). */
  allowedLatenessMs?: number;
  /** Produce to `coal.indicators`. Default true. */
  publishKafka?: boolean;
  /** Publish on the Redis live channels. Default true. */
  publishLive?: boolean;
  /** Base month (YYYY-MM) of the city pithead price index. Default: first month with trades in every basket band. */
  priceIndexBaseMonth?: string | null;
  /** Test seam: throw at a stage to fail the batch there (the batch is then redelivered). */
  faultHook?: (stage: FaultStage, batch: { topic: string; partition: number; records: number }) => void | Promise<void>;
  /** Refresh period of the consumer-lag gauge, ms. Default 5000; 0 disables. */
  lagIntervalMs?: number;
  /** Label of this member in metrics and logs. Default a random id. */
  workerId?: string;
  /** Start at the earliest offset when the group has none. Default true. */
  fromBeginning?: boolean;
}

export interface IndicatorWorkers {
  /** Joins the group; resolves once consuming. */
  start(): Promise<void>;
  /** Finishes the batch in hand, commits it and leaves the group. Safe to call twice. */
  stop(): Promise<void>;
  /** Partitions owned now. */
  assignment(): Assignment;
  /** Counters since start (for tests and the bench). */
  stats(): IndicatorStats;
}

export interface IndicatorStats {
  batches: number;
  records: number;
  inserted: number;
  duplicates: number;
  late: number;
  corrections: number;
  failures: number;
  points: number;
  deadLetters: number;
  /** Batches fully processed (store, Redis and Kafka done). */
  completed: number;
  /** Wall time spent per stage, ms (where the time goes; the bench reports it). */
  stageMs: { decode: number; store: number; read: number; redis: number; kafka: number };
}

/** Topics this component needs besides the canonical feeds (names without the prefix). */
export function indicatorTopics(): TopicSpec[] {
  return [{ topic: topicOf.indicators, config: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * 86_400_000) } }];
}

/** The canonical topics the workers read (names without the prefix). */
export function indicatorSourceTopics(feeds: readonly FeedName[] = FEEDS): string[] {
  return feeds.map((f) => topicOf.canonical(f));
}

/** Header the ingest path may set with the acceptance time (ms) for the end-to-end latency. */
export { ACCEPTED_HEADER };

export function startIndicatorWorkers(deps: Deps, opts: IndicatorWorkerOptions = {}): IndicatorWorkers {
  const log = deps.log.child({ component: 'indicators' });
  const workerId = opts.workerId ?? Math.random().toString(36).slice(2, 8);
  const feeds = opts.feeds ?? FEEDS;
  const feedByTopic = new Map(feeds.map((f) => [deps.topic(topicOf.canonical(f)), f]));
  const lateness = opts.allowedLatenessMs ?? deps.config.allowedLatenessMs;
  const groupId = deps.topic(opts.groupId ?? INDICATOR_GROUP);
  const serde = opts.serde ?? createFastDecoder(deps);
  const storeHook: StoreFaultHook | undefined = opts.faultHook ? (stage) => opts.faultHook!(stage, current) : undefined;
  const store: TimescaleSink = createTimescaleSink(deps, { faultHook: storeHook });
  const redis: RedisSink = createRedisSink(deps);
  const kafka: KafkaTopicSink<IndicatorUpdateMessage> | null = opts.publishKafka === false
    ? null
    : createKafkaTopicSink<IndicatorUpdateMessage>(deps, { topic: topicOf.indicators, schema: INDICATOR_SCHEMA });
  const stats: IndicatorStats = { batches: 0, records: 0, inserted: 0, duplicates: 0, late: 0, corrections: 0, failures: 0, points: 0, deadLetters: 0, completed: 0, stageMs: { decode: 0, store: 0, read: 0, redis: 0, kafka: 0 } };
  let current = { topic: '', partition: -1, records: 0 };
  let consumer: Consumer | null = null;
  let lagTimer: NodeJS.Timeout | null = null;
  let stopping: Promise<void> | null = null;
  /** Max event time per owned partition, for the watermark-lag gauge. */
  const maxEvent = new Map<string, number>();

  async function decode(feed: FeedName, batch: Batch) {
    const out: { record: CanonicalRecord; eventMs: number; acceptedMs: number | null }[] = [];
    for (const r of batch.records) {
      try {
        const record = await serde.decode(feed, r.value) as CanonicalRecord;
        const eventMs = eventMsOf(feed, record as never);
        const acc = Number(r.headers[ACCEPTED_HEADER]);
        out.push({ record, eventMs, acceptedMs: Number.isFinite(acc) && acc > 0 ? acc : null });
      } catch (err) {
        // A canonical record that does not decode is a contract bug upstream: count it, skip it, keep the partition moving.
        stats.deadLetters++;
        deps.metrics.deadLetters.inc({ feed, reason: 'indicator_decode' });
        log.error({ topic: batch.topic, partition: batch.partition, offset: r.offset, err: (err as Error).message }, 'undecodable canonical record skipped');
      }
    }
    return out;
  }

  async function handle(batch: Batch): Promise<void> {
    const feed = feedByTopic.get(batch.topic);
    if (!feed) return;
    current = { topic: batch.topic, partition: batch.partition, records: batch.records.length };
    deps.metrics.eventsIn.inc({ topic: batch.topic }, batch.records.length);
    let t = performance.now();
    const lap = (k: keyof IndicatorStats['stageMs']) => { const now = performance.now(); stats.stageMs[k] += now - t; t = now; };
    const decoded = await decode(feed, batch);
    lap('decode');
    if (!decoded.length) { stats.completed++; return; }
    const res = await retry(() => store.write({ feed, topic: batch.topic, partition: batch.partition }, (prev) => {
      const { classes, state } = classify(decoded.map((d) => d.eventMs), prev, lateness);
      let max = prev.maxEventMs;
      const items: FactItem[] = decoded.map((d, i) => {
        const wm = max - lateness;
        if (d.eventMs > max) max = d.eventMs;
        const { cells, contribs } = deltasOf(feed, d.record as never, d.eventMs, classes[i] === 'too_late');
        return { record: d.record, eventMs: d.eventMs, lateness: classes[i]!, watermarkMs: wm, cells, contribs };
      });
      return { items, next: state };
    }), { attempts: 3, initialDelayMs: 50, onRetry: (err, attempt) => log.warn({ err: (err as Error).message, attempt }, 'store write retry') });
    lap('store');
    await opts.faultHook?.('afterStore', current);
    stats.batches++; stats.records += decoded.length; stats.inserted += res.inserted; stats.duplicates += res.duplicates; stats.corrections += res.corrections;
    const late = res.items.filter((it) => it.lateness === 'late').length;
    stats.late += late;
    if (late) deps.metrics.lateRecords.inc({ feed, kind: 'update' }, late);
    if (res.corrections) deps.metrics.lateRecords.inc({ feed, kind: 'correction' }, res.corrections);
    if (res.duplicates) deps.metrics.duplicates.inc({ feed }, res.duplicates);
    const pk = `${batch.topic}:${batch.partition}`;
    const maxMs = Math.max(maxEvent.get(pk) ?? -Infinity, ...decoded.map((d) => d.eventMs));
    maxEvent.set(pk, maxMs);

    const updates = await computeUpdates(deps.db, feed, res.items, res.items.flatMap((it) => it.cells), res, { priceIndexBaseMonth: opts.priceIndexBaseMonth });
    stats.points += updates.points.length;
    lap('read');
    await redis.write(updates.points, { version: updates.version, live: opts.publishLive !== false });
    lap('redis');
    const now = Date.now();
    const family = familyOfFeed(feed);
    for (const d of decoded) if (d.acceptedMs !== null) deps.metrics.e2eLatency.observe({ family }, Math.max(0, now - d.acceptedMs) / 1000);
    await opts.faultHook?.('afterRedis', current);
    if (kafka && updates.points.length) {
      await kafka.write(toMessages(updates.points, updates.version, now).map((m) => ({ key: m.key, value: m.value })));
    }
    lap('kafka');
    await opts.faultHook?.('afterKafka', current);
    stats.completed++;
    updateWatermarkGauge();
  }

  function updateWatermarkGauge() {
    const owned = [...maxEvent.values()];
    if (owned.length) deps.metrics.watermarkLag.set({ worker: workerId }, Math.max(0, Date.now() - (Math.min(...owned) - lateness)) / 1000);
  }

  const refreshLag = () => refreshConsumerLag(deps, groupId, feedByTopic.keys());

  return {
    async start() {
      if (consumer) return;
      const topics = [...feedByTopic.keys()];
      // Idempotent: the composition root normally created them; a worker started alone must not fail on a missing topic.
      await deps.broker.createTopics([...topics.map((topic) => ({ topic })), ...indicatorTopics().map((t) => ({ ...t, topic: deps.topic(t.topic) }))]);
      consumer = deps.broker.consumer({
        groupId,
        topics,
        maxBatchSize: opts.maxBatchSize ?? 5000,
        fromBeginning: opts.fromBeginning ?? true,
        onAssign: (a) => {
          // State lives in the store (read under lock in each transaction): only the gauges need resetting.
          for (const k of [...maxEvent.keys()]) {
            const [t, p] = [k.slice(0, k.lastIndexOf(':')), Number(k.slice(k.lastIndexOf(':') + 1))];
            if (!a[t]?.includes(p)) maxEvent.delete(k);
          }
          log.info({ workerId, assignment: a }, 'partitions assigned');
        },
      });
      await consumer.run(async (batch) => {
        try {
          await handle(batch);
        } catch (err) {
          stats.failures++;
          if (isProgrammingError(err)) log.error({ err: (err as Error).stack }, 'indicator batch failed (bug)');
          else log.warn({ topic: batch.topic, partition: batch.partition, err: (err as Error).message }, 'indicator batch failed; will be redelivered');
          throw err;
        }
      });
      if (opts.lagIntervalMs !== 0) {
        lagTimer = setInterval(() => { void refreshLag(); }, opts.lagIntervalMs ?? 5000);
        lagTimer.unref();
      }
    },
    stop() {
      stopping ??= (async () => {
        if (lagTimer) clearInterval(lagTimer);
        const steps = [() => consumer?.stop(), () => kafka?.close(), () => redis.close(), () => store.close()];
        for (const s of steps) {
          try { await s(); } catch (err) { log.warn({ err: (err as Error).message }, 'indicator stop step failed'); }
        }
      })();
      return stopping;
    },
    assignment: () => consumer?.assignment() ?? {},
    stats: () => ({ ...stats, stageMs: { ...stats.stageMs } }),
  };
}

function familyOfFeed(feed: FeedName): string {
  switch (feed) {
    case 'sales': return 'sales';
    case 'mines': return 'production';
    case 'prices': return 'price';
    case 'mine_inventory': case 'ports': return 'inventory';
    case 'coal_users': return 'days_of_stock';
    default: return 'transport';
  }
}
