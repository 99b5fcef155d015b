import type { HealthTracker } from './health.ts';

/**
 * The broker port. Two adapters implement it with the same semantics (the same
 * contract tests run against both): Kafka (kafkajs) and in-process.
 * Records are partitioned by key with Kafka's murmur2 partitioner, offsets are
 * per partition, consumer groups share partitions, and a batch's offsets are
 * committed only after its handler resolved: a crash redelivers uncommitted records.
 */
export interface ProduceRecord {
  key?: string | null;
  value: Buffer | string;
  headers?: Record<string, string>;
  // No timestamp: a record's log time is when it was produced. Retention and segment rolling go by it, so a
  // historical record stamped with its event time (an import, a replay, a backfill) would be deleted by retention
  // before its consumers read it. The event time is in the record itself.
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  /** Kafka offsets are int64; kept as decimal strings like kafkajs does. */
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

export interface Batch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** Offset after the last record of the partition at fetch time (lag = highWatermark - last offset - 1). */
  highWatermark: string;
}

export type Assignment = Record<string, number[]>;

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Start at the earliest offset when the group has no committed offset. Default true. */
  fromBeginning?: boolean;
  /** Most records handed to one handler call. Default 1000. */
  maxBatchSize?: number;
  /**
   * Partitions whose batches may be in the handler at once (each partition's batches stay in order,
   * one at a time). Default 1. Lets a handler group several partitions' batches into one store write.
   */
  concurrency?: number;
  /** Called after each rebalance with the partitions this member now owns (before any batch of them). */
  onAssign?: (assignment: Assignment) => Promise<void> | void;
  /** Called before partitions are taken away. */
  onRevoke?: (assignment: Assignment) => Promise<void> | void;
}

export type BatchHandler = (batch: Batch) => Promise<void>;

export interface Consumer {
  /** Starts consuming; resolves once the member has joined its group. */
  run(handler: BatchHandler): Promise<void>;
  /** Finishes the batch in hand, commits it, and leaves the group. Safe to call twice. */
  stop(): Promise<void>;
  /** The partitions this member owns now. */
  assignment(): Assignment;
}

export interface TopicSpec {
  topic: string;
  /** Default: config.topicPartitions (6). */
  partitions?: number;
  /** Default: config.topicReplicationFactor (1). */
  replicationFactor?: number;
  /** Topic-level config, e.g. { 'cleanup.policy': 'compact' }. */
  config?: Record<string, string>;
}

export interface Broker {
  readonly kind: 'kafka' | 'in-process';
  /** What the adapter's clients saw of the broker over time (outages), for `/healthz`; absent when in-process. */
  readonly health?: HealthTracker;
  /** Idempotent: existing topics are left as they are. */
  createTopics(specs: TopicSpec[]): Promise<void>;
  deleteTopics(topics: string[]): Promise<void>;
  listTopics(): Promise<string[]>;
  produce(topic: string, records: ProduceRecord[]): Promise<void>;
  consumer(opts: ConsumerOptions): Consumer;
  /** Committed offset per partition for a group (the next offset to read), and the end offsets. */
  lag(groupId: string, topic: string): Promise<{ partition: number; committed: string; end: string }[]>;
  close(): Promise<void>;
}
