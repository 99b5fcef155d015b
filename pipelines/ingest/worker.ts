/**
 * Raw-topic ingest workers: one consumer group over every `coal.raw.<feed>`
 * topic. A batch is validated, deduplicated and produced (canonical + DLQ)
 * before the handler resolves, and the broker commits only then: a crash
 * redelivers the batch, which the claim table recognises as a retry.
 */
import type { Consumer, ConsumedRecord, Deps } from '../../infra/core/index.ts';
import { FEEDS, topicOf, type FeedName } from '../contracts/types.ts';
import { processBatch, type BatchItem } from './batch.ts';
import { ingestContext } from './context.ts';

export interface IngestWorkerOptions {
  /** Consumer group (prefixed like topics). Default `coalflow-ingest`. */
  groupId?: string;
  /** Feeds to consume. Default: all eight. */
  feeds?: readonly FeedName[];
  /** Most records per handler call. Default 500. */
  maxBatchSize?: number;
}

export interface IngestWorkers {
  start(): Promise<void>;
  /** Finishes the batch in hand, commits, leaves the group. Safe to call twice. */
  stop(): Promise<void>;
}

/** Expands a raw message: one JSON object, or a JSON array of objects (each its own position `offset#i`). */
function itemsOf(rec: ConsumedRecord): BatchItem[] {
  const ref = `${rec.topic}:${rec.partition}:${rec.offset}`;
  const receivedAtMs = Date.now();
  const text = rec.value.toString('utf8');
  if (text.trimStart().startsWith('[')) {
    try {
      const arr = JSON.parse(text) as unknown;
      if (Array.isArray(arr)) return arr.map((payload, i) => ({ payload, ref: `${ref}#${i}`, receivedAtMs }));
    } catch {
      /* falls through: a decode_error for the whole message */
    }
  }
  return [{ payload: rec.value, ref, receivedAtMs }];
}

export function createIngestWorkers(deps: Deps, opts: IngestWorkerOptions = {}): IngestWorkers {
  const ctx = ingestContext(deps);
  const feeds = opts.feeds ?? FEEDS;
  const feedOfTopic = new Map(feeds.map((f) => [deps.topic(topicOf.raw(f)), f]));
  let consumer: Consumer | null = null;
  let stopping: Promise<void> | null = null;
  return {
    async start() {
      await ctx.serde.registerAll();
      consumer = deps.broker.consumer({
        groupId: deps.topic(opts.groupId ?? 'coalflow-ingest'),
        topics: [...feedOfTopic.keys()],
        maxBatchSize: opts.maxBatchSize ?? 500,
      });
      await consumer.run(async (batch) => {
        const feed = feedOfTopic.get(batch.topic);
        if (!feed) return;
        deps.metrics.eventsIn.inc({ topic: batch.topic }, batch.records.length);
        const simulated = batch.records.filter((r) => r.headers['coalflow-source'] === 'simulator');
        const real = batch.records.filter((r) => r.headers['coalflow-source'] !== 'simulator');
        for (const [records, source] of [
          [real, 'kafka'],
          [simulated, 'simulator'],
        ] as const) {
          if (!records.length) continue;
          try {
            await processBatch(ctx, feed, records.flatMap(itemsOf), { source });
          } catch (err) {
            ctx.log.warn(
              { feed, topic: batch.topic, partition: batch.partition, err: (err as Error).message },
              'ingest batch failed; it will be redelivered',
            );
            throw err;
          }
        }
      });
      ctx.log.info({ feeds: feeds.length }, 'ingest workers started');
    },
    stop() {
      stopping ??= (async () => {
        await consumer?.stop();
      })();
      return stopping;
    },
  };
}

/** Creates and starts the ingest workers. */
export async function startIngestWorkers(deps: Deps, opts: IngestWorkerOptions = {}): Promise<IngestWorkers> {
  const w = createIngestWorkers(deps, opts);
  await w.start();
  return w;
}
