import { EventEmitter } from 'node:events';
import kafkajs from 'kafkajs';
import {
  BrokerError,
  type Assignment,
  type Batch,
  type BatchHandler,
  type Broker,
  type ConsumedRecord,
  type Consumer,
  type ConsumerOptions,
  type ProduceRecord,
  type TopicSpec,
} from '../core/index.ts';

interface Partition {
  records: ConsumedRecord[];
}
interface Topic {
  partitions: Partition[];
  config: Record<string, string>;
}

interface Member {
  id: string;
  opts: ConsumerOptions;
  assignment: Assignment;
  /** The batch in hand, if any; a rebalance waits for it. */
  inFlight: Promise<void> | null;
  wake: () => void;
}

interface Group {
  members: Member[];
  committed: Map<string, number>;
  /** Positions of fetched-but-uncommitted records per partition (per member lifetime). */
  paused: boolean;
  rebalancing: Promise<void>;
}

const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * A broker with Kafka's semantics inside one process: partitions chosen by
 * Kafka's own murmur2 partitioner (so keys land where they would on Kafka),
 * per-partition offsets, consumer groups with a join barrier (a rebalance waits
 * for every member's batch in hand to finish), commits after the handler
 * resolved, and redelivery of uncommitted records after a failure or a member leaving.
 */
export class InProcessBroker implements Broker {
  readonly kind = 'in-process' as const;
  private topics = new Map<string, Topic>();
  private groups = new Map<string, Group>();
  private events = new EventEmitter();
  private partitioner = kafkajs.Partitioners.DefaultPartitioner();
  private memberSeq = 0;
  private closed = false;
  private consumers = new Set<InProcessConsumer>();

  constructor(private readonly defaults: { partitions: number } = { partitions: 6 }) {
    this.events.setMaxListeners(0);
  }

  async createTopics(specs: TopicSpec[]): Promise<void> {
    for (const s of specs) {
      if (this.topics.has(s.topic)) continue;
      const n = s.partitions ?? this.defaults.partitions;
      this.topics.set(s.topic, {
        partitions: Array.from({ length: n }, () => ({ records: [] })),
        config: s.config ?? {},
      });
    }
  }

  async deleteTopics(topics: string[]): Promise<void> {
    for (const t of topics) this.topics.delete(t);
  }

  async listTopics(): Promise<string[]> {
    return [...this.topics.keys()];
  }

  private topic(name: string): Topic {
    const t = this.topics.get(name);
    if (!t) throw new BrokerError(`主题不存在 ${name} / unknown topic ${name}`, { topic: name });
    return t;
  }

  async produce(topic: string, records: ProduceRecord[]): Promise<void> {
    if (this.closed) throw new BrokerError('broker closed', { topic });
    const t = this.topic(topic);
    const partitionMetadata = t.partitions.map((_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    const touched = new Set<number>();
    for (const r of records) {
      const key = r.key ?? null;
      const partition = this.partitioner({
        topic,
        partitionMetadata,
        message: { key: key ?? undefined, value: null },
      } as never);
      const p = t.partitions[partition]!;
      p.records.push({
        topic,
        partition,
        offset: String(p.records.length),
        key,
        value: Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
        headers: { ...(r.headers ?? {}) },
        timestamp: Date.now(),
      });
      touched.add(partition);
    }
    if (touched.size) this.events.emit('produced', topic);
  }

  consumer(opts: ConsumerOptions): Consumer {
    const c = new InProcessConsumer(this, opts, `member-${++this.memberSeq}`);
    this.consumers.add(c);
    return c;
  }

  async lag(groupId: string, topic: string) {
    const t = this.topic(topic);
    const g = this.groups.get(groupId);
    return t.partitions.map((p, partition) => ({
      partition,
      committed: String(g?.committed.get(tp(topic, partition)) ?? 0),
      end: String(p.records.length),
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.consumers].map((c) => c.stop()));
    this.events.removeAllListeners();
  }

  // ---- group coordination (package-private) ----

  /** @internal */
  group(id: string): Group {
    let g = this.groups.get(id);
    if (!g) {
      g = { members: [], committed: new Map(), paused: false, rebalancing: Promise.resolve() };
      this.groups.set(id, g);
    }
    return g;
  }

  /** @internal */
  onProduced(fn: () => void): () => void {
    this.events.on('produced', fn);
    return () => this.events.off('produced', fn);
  }

  /** @internal */
  partitionsOf(topic: string): number {
    return this.topics.get(topic)?.partitions.length ?? 0;
  }

  /** @internal */
  read(
    topic: string,
    partition: number,
    from: number,
    max: number,
  ): { records: ConsumedRecord[]; end: number } {
    const p = this.topics.get(topic)?.partitions[partition];
    if (!p) return { records: [], end: 0 };
    return { records: p.records.slice(from, from + max), end: p.records.length };
  }

  /** @internal Join barrier: pause all members, wait for their batches, reassign round-robin, resume. */
  rebalance(groupId: string, change: () => void): Promise<void> {
    const g = this.group(groupId);
    const next = g.rebalancing.then(async () => {
      g.paused = true;
      await Promise.allSettled(g.members.map((m) => m.inFlight ?? Promise.resolve()));
      await Promise.allSettled(g.members.map((m) => m.opts.onRevoke?.(m.assignment)));
      change();
      const topics = [...new Set(g.members.flatMap((m) => m.opts.topics))].sort();
      for (const m of g.members) m.assignment = {};
      let i = 0;
      for (const topic of topics) {
        const subscribers = g.members.filter((m) => m.opts.topics.includes(topic));
        if (!subscribers.length) continue;
        for (let p = 0; p < this.partitionsOf(topic); p++) {
          const m = subscribers[i++ % subscribers.length]!;
          (m.assignment[topic] ??= []).push(p);
        }
      }
      for (const m of g.members) await m.opts.onAssign?.(m.assignment);
      g.paused = false;
      for (const m of g.members) m.wake();
    });
    g.rebalancing = next.catch(() => undefined);
    return next;
  }
}

class InProcessConsumer implements Consumer {
  private member: Member;
  private running = false;
  private stopping: Promise<void> | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeResolve: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private broker: InProcessBroker,
    private opts: ConsumerOptions,
    id: string,
  ) {
    this.member = { id, opts, assignment: {}, inFlight: null, wake: () => this.wakeResolve?.() };
  }

  assignment(): Assignment {
    return structuredClone(this.member.assignment);
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.running) throw new BrokerError('consumer already running');
    this.running = true;
    const g = this.broker.group(this.opts.groupId);
    // A group without commits starts at the beginning or at the end of each partition.
    if (this.opts.fromBeginning === false) {
      for (const topic of this.opts.topics) {
        for (let p = 0; p < this.broker.partitionsOf(topic); p++) {
          const key = tp(topic, p);
          if (!g.committed.has(key)) g.committed.set(key, this.broker.read(topic, p, 0, 0).end);
        }
      }
    }
    this.unsubscribe = this.broker.onProduced(() => this.member.wake());
    await this.broker.rebalance(this.opts.groupId, () => g.members.push(this.member));
    this.loopDone = this.loop(handler, g);
  }

  private async loop(handler: BatchHandler, g: Group): Promise<void> {
    const max = this.opts.maxBatchSize ?? 1000;
    let failures = 0;
    while (this.running) {
      let didWork = false;
      if (!g.paused) {
        // Up to `concurrency` partitions' batches in the handler at once, like kafkajs's partitionsConsumedConcurrently.
        const owned: [string, number][] = Object.entries(this.member.assignment).flatMap(([topic, parts]) =>
          parts.map((p) => [topic, p] as [string, number]),
        );
        const width = Math.max(1, this.opts.concurrency ?? 1);
        for (let i = 0; i < owned.length && this.running && !g.paused; i += width) {
          const works: Promise<void>[] = [];
          for (const [topic, partition] of owned.slice(i, i + width)) {
            const key = tp(topic, partition);
            const from = g.committed.get(key) ?? 0;
            const { records, end } = this.broker.read(topic, partition, from, max);
            if (!records.length) continue;
            didWork = true;
            const batch: Batch = { topic, partition, records, highWatermark: String(end) };
            works.push(
              handler(batch).then(() => {
                g.committed.set(key, from + records.length);
              }),
            );
          }
          if (!works.length) continue;
          const all = Promise.allSettled(works);
          this.member.inFlight = all.then(() => undefined);
          try {
            const res = await all;
            if (res.some((r) => r.status === 'rejected')) {
              // Not committed: the same records come again (here or, after a rebalance, elsewhere).
              failures++;
              await sleep(Math.min(1000, 20 * 2 ** Math.min(failures, 6)));
            } else failures = 0;
          } finally {
            this.member.inFlight = null;
          }
        }
      }
      if (!didWork && this.running) {
        await new Promise<void>((resolve) => {
          this.wakeResolve = resolve;
          setTimeout(resolve, 200).unref();
        });
        this.wakeResolve = null;
      }
    }
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (!this.running) return;
      this.running = false;
      this.member.wake();
      this.unsubscribe?.();
      await this.loopDone;
      const g = this.broker.group(this.opts.groupId);
      await this.broker.rebalance(this.opts.groupId, () => {
        g.members = g.members.filter((m) => m !== this.member);
      });
    })();
    return this.stopping;
  }
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
