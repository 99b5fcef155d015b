/**
 * What the indicator workers' consumer and publisher share: options, counters, the sinks, and the per-partition
 * gauges. Built once by `startIndicatorWorkers` (runner.ts).
 */
import type { Assignment, Deps, Logger } from '../../infra/core/index.ts';
import type { KafkaTopicSink } from '../../sinks/index.ts';
import type { FeedSerde } from '../contracts/serde-types.ts';
import type { FeedName } from '../contracts/types.ts';
import type { IndicatorUpdateMessage } from './contract.ts';
import type { Lane } from './outbox.ts';
import type { RedisSink } from './snapshots.ts';
import type { TimescaleSink } from './store.ts';
import { INDICATOR_TUNING, type IndicatorTuning } from './tuning.ts';

/** Stages at which a test can make a batch fail (see `faultHook`). */
export type FaultStage =
  'afterFacts' | 'beforeCommit' | 'afterStore' | 'afterPublishRedis' | 'afterPublishKafka';

/** Options of `startIndicatorWorkers`; the defaults of the tuning knobs are in `INDICATOR_TUNING` (tuning.ts). */
export interface IndicatorWorkerOptions {
  /** Wire-format decoder of the canonical topics. Default: the fast reader (decode.ts), same result as `createFeedSerde(deps).decode`. */
  serde?: Pick<FeedSerde, 'decode'>;
  /** Consumer group. Default `coalflow-indicators`. */
  groupId?: string;
  /** Feeds to consume. Default: all eight. */
  feeds?: readonly FeedName[];
  /** Most records per handler call. Default 5000. */
  maxBatchSize?: number;
  /** Partitions handled at once, whose batches share a store transaction (group commit). Default 8. */
  concurrency?: number;
  /** How long a store transaction waits for more partitions' batches to join it, ms. Default 50. */
  commitLingerMs?: number;
  /** Most records in one store transaction (a batch is never split). Default 10000. */
  commitMaxRecords?: number;
  /** Attempts of an isolated poison record alone before it is dead-lettered. Default `config.poisonAttempts` (3). */
  poisonAttempts?: number;
  /** First backoff between those attempts, ms, doubled each time. Default `config.poisonRetryMs` (200). */
  poisonRetryInitialDelayMs?: number;
  /** Allowed lateness, ms. Default `config.allowedLatenessMs` (48 h). */
  allowedLatenessMs?: number;
  /** Produce to `coal.indicators`. Default true. */
  publishKafka?: boolean;
  /** Publish on the Redis live channels. Default true. */
  publishLive?: boolean;
  /** Base month (YYYY-MM) of the city pithead price index. Default: first month with trades in every basket band. */
  priceIndexBaseMonth?: string | null;
  /** Run the publisher loop in this worker. Default true; false: consume only (another process publishes, or call `flush`). */
  publish?: boolean;
  /** Most outbox keys one publication round claims. Default 20000. */
  publishMaxKeys?: number;
  /** How often the publisher looks for keys dirtied by other processes when nothing woke it, ms. Default 250. */
  publishPollMs?: number;
  /**
   * Pause between publication rounds while keys keep coming, so they coalesce, ms. Default 200: fewer, larger
   * rounds leave the single-session store more time for the rest (live 200/s, 120 s, 3 runs each: direct p99
   * 578 → 472 ms, derived 1.68 → 1.44 s; replay unchanged).
   */
  publishGapMs?: number;
  /**
   * Least time between rounds of the derived lane (trailing windows, derived metrics), ms. Default 250. The lane
   * also waits at least half as long as its last round took, so it never holds the single-session store more than
   * two thirds of the time: a slower machine or a heavier load lengthens the interval by itself.
   */
  publishDerivedIntervalMs?: number;
  /** Most keys one derived round claims (smaller rounds hold the single-session store for shorter). Default 200. */
  publishDerivedMaxKeys?: number;
  /**
   * Catching up: while the consumer is at least this many records behind (summed over its partitions, as of
   * their last fetch), both lanes publish at most one round per `catchUpPublishIntervalMs`: the intermediate
   * values of a replay are not republished batch after batch, and the store spends its time on the backlog.
   * Default 5000; 0 disables.
   */
  catchUpLagRecords?: number;
  /** Least time between publication rounds of a lane while catching up, ms. Default 3000. */
  catchUpPublishIntervalMs?: number;
  /** Lease of claimed outbox keys, ms, renewed every third of it while the round runs: after a publisher crash, others take its keys over within this. Default 10000. */
  publishLeaseMs?: number;
  /**
   * Test seam: throw at a stage to fail there. Store stages fail the batch (redelivered); publication
   * stages ('afterPublishRedis', 'afterPublishKafka': `topic` is 'publisher') leave the keys dirty.
   */
  faultHook?: (
    stage: FaultStage,
    batch: { topic: string; partition: number; records: number },
  ) => void | Promise<void>;
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
  /** Finishes the batch in hand, commits it, leaves the group, then publishes what is still dirty once. Safe to call twice. */
  stop(): Promise<void>;
  /** Runs publication rounds until nothing is left to claim; resolves with the keys published. */
  flush(): Promise<number>;
  /** Resolves once the outbox is empty (every process's dirty keys published), publishing meanwhile. */
  idle(opts?: { timeoutMs?: number }): Promise<void>;
  /** Partitions owned now. */
  assignment(): Assignment;
  /** Counters since start (for tests and the bench). */
  stats(): IndicatorStats;
}

export interface IndicatorStats {
  batches: number;
  /** Store transactions (a transaction holds the batches of several partitions: group commit). */
  transactions: number;
  records: number;
  inserted: number;
  duplicates: number;
  late: number;
  corrections: number;
  failures: number;
  /** Points published (Redis snapshots offered, coal.indicators). */
  points: number;
  deadLetters: number;
  /** Attempts of isolated poison records alone after their first (each one before a dead letter or a success). */
  poisonRetries: number;
  /** Batches fully processed (stored; offsets then committed by the broker). */
  completed: number;
  /** Publication rounds that published something, and the outbox keys they published. */
  rounds: number;
  /** Of those, rounds of the derived lane. */
  derivedRounds: number;
  published: number;
  publishFailures: number;
  /** Wall time spent per stage, ms (where the time goes; the bench reports it). `read`: computing the points of claimed keys. */
  stageMs: { decode: number; store: number; read: number; redis: number; kafka: number };
}

/** The option of `IndicatorWorkerOptions` that overrides each tuning knob (same meaning, same unit). */
const OPTION_OF: Partial<Record<keyof IndicatorTuning, keyof IndicatorWorkerOptions>> = {
  maxBatchRecords: 'maxBatchSize',
  concurrency: 'concurrency',
  commitLingerMs: 'commitLingerMs',
  commitMaxRecords: 'commitMaxRecords',
  poisonAttempts: 'poisonAttempts',
  poisonRetryInitialDelayMs: 'poisonRetryInitialDelayMs',
  publishMaxKeys: 'publishMaxKeys',
  publishPollMs: 'publishPollMs',
  publishGapMs: 'publishGapMs',
  publishDerivedIntervalMs: 'publishDerivedIntervalMs',
  publishDerivedMaxKeys: 'publishDerivedMaxKeys',
  catchUpLagRecords: 'catchUpLagRecords',
  catchUpPublishIntervalMs: 'catchUpPublishIntervalMs',
  publishLeaseMs: 'publishLeaseMs',
  lagIntervalMs: 'lagIntervalMs',
};

/** The tuning in force for one worker: `INDICATOR_TUNING` with the worker's options over it. */
export function resolveTuning(opts: IndicatorWorkerOptions): IndicatorTuning {
  const t: IndicatorTuning = { ...INDICATOR_TUNING };
  for (const [knob, option] of Object.entries(OPTION_OF) as [
    keyof IndicatorTuning,
    keyof IndicatorWorkerOptions,
  ][]) {
    const v = opts[option];
    if (typeof v === 'number') t[knob] = v;
  }
  return t;
}

export interface WorkerContext {
  deps: Deps;
  log: Logger;
  opts: IndicatorWorkerOptions;
  tuning: IndicatorTuning;
  workerId: string;
  /** Lease owner: unique per worker instance, so a restarted worker never mistakes an old lease for its own. */
  owner: string;
  feedByTopic: Map<string, FeedName>;
  lateness: number;
  groupId: string;
  stats: IndicatorStats;
  store: TimescaleSink;
  redis: RedisSink;
  kafka: KafkaTopicSink<IndicatorUpdateMessage> | null;
  /** Records behind the partition's end at its last fetch, per owned partition. */
  lagBy: Map<string, number>;
  /** Max event time per owned partition, for the watermark-lag gauge. */
  maxEvent: Map<string, number>;
  /** True while the consumer is at least `catchUpLagRecords` behind. */
  catchingUp(): boolean;
  /** Most keys a round of the lane claims. */
  limitOf(lane: Lane): number;
}
