import kafkajs, {
  type Admin,
  type Kafka,
  type Producer,
  type Consumer as KConsumer,
  logLevel,
} from 'kafkajs';
import {
  BrokerError,
  createHealthTracker,
  type HealthTracker,
  type Logger,
  type Assignment,
  type BatchHandler,
  type Broker,
  type ConsumedRecord,
  type Consumer,
  type ConsumerOptions,
  type ProduceRecord,
  type TopicSpec,
} from '../core/index.ts';

export interface KafkaBrokerOptions {
  brokers: string[];
  clientId: string;
  log: Logger;
  /** Default partitions of created topics. */
  partitions: number;
  replicationFactor: number;
}

function toPinoLevel(level: logLevel): 'error' | 'warn' | 'info' | 'debug' {
  switch (level) {
    // kafkajs logs retriable protocol errors (rebalancing, leader moves) at ERROR;
    // it retries them itself, so they are warnings here. Failures surface as thrown errors.
    case logLevel.ERROR:
    case logLevel.NOTHING:
      return 'warn';
    case logLevel.WARN:
      return 'info';
    case logLevel.INFO:
      return 'info';
    default:
      return 'debug';
  }
}

/** The Kafka adapter (kafkajs). Same contract as the in-process broker. */
export class KafkaBroker implements Broker {
  readonly kind = 'kafka' as const;
  private kafka: Kafka;
  private admin: Admin | null = null;
  private producer: Producer | null = null;
  private connecting: Promise<void> | null = null;
  private consumers = new Set<KafkaConsumer>();
  private closing: Promise<void> | null = null;
  /** @internal For the consumers' own messages. */
  readonly log: Logger;
  /** Outages seen by this adapter's clients: produce, admin calls, consumer heartbeats and crashes. */
  readonly health: HealthTracker = createHealthTracker();

  constructor(private readonly opts: KafkaBrokerOptions) {
    this.log = opts.log.child({ component: 'broker' });
    const log = opts.log.child({ component: 'kafkajs' });
    this.kafka = new kafkajs.Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      retry: { retries: 8, initialRetryTime: 100 },
      logCreator:
        () =>
        ({ namespace, level, log: entry }) => {
          const { message, ...rest } = entry;
          log[toPinoLevel(level)]({ namespace, ...rest }, message);
        },
    });
  }

  /** @internal exposed to the consumer class */
  get client(): Kafka {
    return this.kafka;
  }

  private async connect(): Promise<void> {
    this.connecting ??= (async () => {
      this.admin = this.kafka.admin();
      this.producer = this.kafka.producer({
        createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        // Not kafkajs's idempotent producer: it can wedge on OUT_OF_ORDER_SEQUENCE_NUMBER
        // after a leader change. A retried send may then duplicate a record in the log;
        // every consumer dedupes on the source record id, so results stay effectively once.
        idempotent: false,
      });
      try {
        await Promise.all([this.admin.connect(), this.producer.connect()]);
      } catch (err) {
        this.health.fail(err);
        this.connecting = null;
        throw new BrokerError(`无法连接 Kafka ${this.opts.brokers.join(',')} / cannot connect to Kafka`, {
          cause: err,
        });
      }
    })();
    return this.connecting;
  }

  async createTopics(specs: TopicSpec[]): Promise<void> {
    await this.connect();
    const existing = new Set(await this.admin!.listTopics());
    const todo = specs.filter((s) => !existing.has(s.topic));
    if (!todo.length) return;
    // kafkajs's own leader wait gives up on UNKNOWN_TOPIC_OR_PARTITION, which a busy broker answers for a
    // while after creating a topic; the metadata poll below retries it instead.
    await this.admin!.createTopics({
      waitForLeaders: false,
      topics: todo.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions ?? this.opts.partitions,
        replicationFactor: s.replicationFactor ?? this.opts.replicationFactor,
        configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    // waitForLeaders only waits for the controller's view; producing before every
    // partition has a leader that knows it can fail. Poll the metadata until it does.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const meta = await this.admin!.fetchTopicMetadata({ topics: todo.map((s) => s.topic) });
        if (
          meta.topics.every(
            (t) =>
              t.partitions.length > 0 &&
              t.partitions.every((p) => p.leader >= 0 && p.partitionErrorCode === 0),
          )
        ) {
          // The leaders also answer for their partitions (a produce before that is answered NOT_LEADER, and
          // kafkajs's retry of the whole send would write the partitions that did succeed twice).
          await Promise.all(todo.map((spec) => this.admin!.fetchTopicOffsets(spec.topic)));
          return;
        }
      } catch {
        /* metadata not there yet */
      }
      if (Date.now() > deadline)
        throw new BrokerError(
          `主题分区未选出 leader / topic partitions have no leader: ${todo.map((s) => s.topic).join(',')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async deleteTopics(topics: string[]): Promise<void> {
    await this.connect();
    const existing = new Set(await this.admin!.listTopics());
    const todo = topics.filter((t) => existing.has(t));
    if (todo.length) await this.admin!.deleteTopics({ topics: todo });
  }

  async listTopics(): Promise<string[]> {
    await this.connect();
    return this.observe(this.admin!.listTopics());
  }

  /** Feeds the health tracker with an operation's outcome. */
  private async observe<T>(p: Promise<T>): Promise<T> {
    try {
      const v = await p;
      this.health.ok();
      return v;
    } catch (err) {
      this.health.fail(err);
      throw err;
    }
  }

  async produce(topic: string, records: ProduceRecord[]): Promise<void> {
    if (!records.length) return;
    await this.connect();
    try {
      await this.observe(
        this.producer!.send({
          topic,
          acks: -1,
          messages: records.map((r) => ({
            key: r.key ?? null,
            value: r.value,
            headers: r.headers,
          })),
        }),
      );
    } catch (err) {
      throw new BrokerError(`写入主题失败 ${topic} / produce failed`, { topic, cause: err });
    }
  }

  consumer(opts: ConsumerOptions): Consumer {
    const c = new KafkaConsumer(this, opts);
    this.consumers.add(c);
    return c;
  }

  async lag(groupId: string, topic: string) {
    await this.connect();
    const [ends, committed] = await this.observe(
      Promise.all([
        this.admin!.fetchTopicOffsets(topic),
        this.admin!.fetchOffsets({ groupId, topics: [topic] }),
      ]),
    );
    const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
    return ends
      .map((e) => {
        const c = byPartition.get(e.partition);
        return { partition: e.partition, committed: c === undefined || c === '-1' ? e.low : c, end: e.high };
      })
      .sort((a, b) => a.partition - b.partition);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const steps = [...this.consumers].map((c) => () => c.stop());
      steps.push(async () => {
        await this.producer?.disconnect();
      });
      steps.push(async () => {
        await this.admin?.disconnect();
      });
      for (const step of steps) {
        try {
          await step();
        } catch {
          /* every cleanup step runs */
        }
      }
    })();
    return this.closing;
  }
}

class KafkaConsumer implements Consumer {
  private consumer!: KConsumer;
  private current: Assignment = {};
  /** Resolved once onAssign for the latest generation has finished: batches wait for it. */
  private assignReady: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private started = false;
  private restarts = 0;

  constructor(
    private broker: KafkaBroker,
    private opts: ConsumerOptions,
  ) {
    this.consumer = this.create();
  }

  private create(): KConsumer {
    const opts = this.opts;
    const consumer = this.broker.client.consumer({
      groupId: opts.groupId,
      sessionTimeout: 10_000,
      rebalanceTimeout: 20_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 200,
      retry: { retries: 10, initialRetryTime: 100 },
    });
    const { GROUP_JOIN, REBALANCING, HEARTBEAT, CRASH } = consumer.events;
    // A heartbeat answered means the group coordinator is reachable; a crash (retried by kafkajs or not) that it is not.
    consumer.on(HEARTBEAT, () => this.broker.health.ok());
    consumer.on(CRASH, (e) => this.broker.health.fail(e.payload.error ?? new Error('consumer crashed')));
    consumer.on(REBALANCING, () => {
      const old = this.current;
      if (opts.onRevoke && Object.keys(old).length) {
        this.assignReady = this.assignReady.then(() => opts.onRevoke!(old)).catch(() => undefined);
      }
    });
    consumer.on(GROUP_JOIN, (e) => {
      const next: Assignment = {};
      for (const [topic, parts] of Object.entries(e.payload.memberAssignment))
        next[topic] = [...parts].sort((a, b) => a - b);
      this.current = next;
      if (opts.onAssign) this.assignReady = this.assignReady.then(() => opts.onAssign!(next));
    });
    return consumer;
  }

  assignment(): Assignment {
    return structuredClone(this.current);
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.started) throw new BrokerError('consumer already running');
    this.started = true;
    await this.start(handler);
  }

  /**
   * Connects, subscribes and runs the kafkajs consumer. kafkajs does not restart a consumer after a
   * non-retriable crash (e.g. "The coordinator is not aware of this member" after a long pause): this
   * member then builds a new consumer and rejoins, so a worker never silently stops consuming.
   * Uncommitted batches are redelivered as after any rebalance.
   */
  private async start(handler: BatchHandler): Promise<void> {
    const consumer = this.consumer;
    const max = this.opts.maxBatchSize ?? 1000;
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart || this.stopping || consumer !== this.consumer) return;
      this.restarts++;
      // At most 10 s apart: after a broker outage the member rejoins within seconds of the broker's return.
      const delay = Math.min(10_000, 500 * 2 ** Math.min(this.restarts, 5));
      this.broker.log.error(
        { groupId: this.opts.groupId, err: e.payload.error?.message, restartInMs: delay },
        'Kafka consumer crashed and kafkajs will not restart it: rejoining with a new consumer',
      );
      setTimeout(() => {
        if (this.stopping) return;
        void (async () => {
          try {
            await consumer.disconnect();
          } catch {
            /* already down */
          }
          if (this.stopping) return;
          this.current = {};
          this.consumer = this.create();
          await this.start(handler);
        })().catch((err) =>
          this.broker.log.error({ err: (err as Error).message }, 'Kafka consumer restart failed'),
        );
      }, delay).unref();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.opts.topics, fromBeginning: this.opts.fromBeginning ?? true });
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => {
        off();
        this.restarts = 0;
        resolve();
      });
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.opts.concurrency ?? 1),
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        await this.assignReady;
        const all = batch.messages;
        for (let i = 0; i < all.length; i += max) {
          if (!isRunning() || isStale()) return;
          const slice = all.slice(i, i + max);
          const records: ConsumedRecord[] = slice.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ? m.key.toString() : null,
            value: m.value ?? Buffer.alloc(0),
            headers: Object.fromEntries(
              Object.entries(m.headers ?? {}).map(([k, v]) => [
                k,
                Array.isArray(v) ? String(v[0]) : String(v ?? ''),
              ]),
            ),
            timestamp: Number(m.timestamp),
          }));
          // Keep the membership alive while the handler runs (a long store transaction must not get this member
          // dropped from the group: "The coordinator is not aware of this member"); kafkajs throttles heartbeat().
          const beat = setInterval(() => {
            heartbeat().catch(() => undefined);
          }, 1000);
          try {
            await handler({
              topic: batch.topic,
              partition: batch.partition,
              records,
              highWatermark: batch.highWatermark,
            });
          } finally {
            clearInterval(beat);
          }
          const last = slice[slice.length - 1]!.offset;
          resolveOffset(last);
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
          ]);
          await heartbeat();
        }
      },
    });
    await joined;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.consumer.stop();
      } catch {
        /* continue to disconnect */
      }
      await this.consumer.disconnect();
    })();
    return this.stopping;
  }
}
