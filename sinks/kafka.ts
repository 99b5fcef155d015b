/**
 * A generic wire-format topic sink: registers a schema under `<topic>-value`
 * (BACKWARD), encodes values in the Confluent wire format and produces them.
 * Shared sink contract: `write(batch)`, `close()`.
 */
import { SinkError, type Deps } from '../infra/core/index.ts';
import { createWireCodec, type WireCodec } from './wire.ts';

export interface WireRecord<T extends object = Record<string, unknown>> {
  key: string | null;
  value: T;
  headers?: Record<string, string>;
}

export interface KafkaTopicSinkOptions {
  /** Topic name before the prefix, e.g. `coal.indicators`. */
  topic: string;
  /** Avro record schema of the values. */
  schema: object;
  /** Reuse a codec (one per runtime is enough); default: a new one on deps.registry. */
  codec?: WireCodec;
}

export interface KafkaTopicSink<T extends object> {
  readonly topic: string;
  write(batch: readonly WireRecord<T>[]): Promise<void>;
  close(): Promise<void>;
}

export function createKafkaTopicSink<T extends object>(
  deps: Pick<Deps, 'broker' | 'registry' | 'topic' | 'metrics'>,
  opts: KafkaTopicSinkOptions,
): KafkaTopicSink<T> {
  const topic = deps.topic(opts.topic);
  const codec = opts.codec ?? createWireCodec(deps);
  let registered: Promise<number> | null = null;
  let closed = false;
  return {
    topic,
    async write(batch) {
      if (closed) throw new SinkError('kafka', `sink ${topic} is closed`, { retriable: false });
      if (!batch.length) return;
      registered ??= codec.register(topic, opts.schema);
      registered.catch(() => {
        registered = null;
      });
      await registered;
      const end = deps.metrics.sinkLatency.startTimer({ sink: `kafka:${opts.topic}` });
      try {
        const messages = await Promise.all(
          batch.map(async (r) => ({
            key: r.key,
            value: await codec.encode(topic, r.value),
            headers: r.headers,
          })),
        );
        await deps.broker.produce(topic, messages);
        deps.metrics.eventsOut.inc({ topic }, batch.length);
      } catch (err) {
        deps.metrics.sinkErrors.inc({ sink: `kafka:${opts.topic}` });
        throw new SinkError(
          'kafka',
          `写入 ${topic} 失败 / writing to ${topic} failed: ${(err as Error).message}`,
          { cause: err },
        );
      } finally {
        end();
      }
    },
    async close() {
      closed = true;
    },
  };
}
