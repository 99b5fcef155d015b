/**
 * The consumer side of the indicator workers: one consumer-group member reading the canonical topics.
 * Per batch (one topic-partition): decode → plan (planners.ts: lateness, facts, deltas) → ONE store
 * transaction shared with the other partitions' batches in hand (group commit: facts, deltas of the new facts,
 * watermark, and the outbox keys they made stale) → the broker commits the offsets. A failure redelivers the
 * batch, whose facts are then duplicates. Undecodable records go to the DLQ with their bytes, and so do poison
 * records (valid by contract, but the store refuses them every time; poison.ts) after bounded retries.
 */
import {
  isProgrammingError,
  refreshConsumerLag,
  retry,
  type Batch,
  type ConsumedRecord,
  type Consumer,
} from '../../infra/core/index.ts';
import { ACCEPTED_HEADER, topicOf, type FeedName } from '../contracts/types.ts';
import { eventMsOf } from './core.ts';
import { createFastDecoder } from './decode.ts';
import { planBatch, type DecodedRecord } from './planners.ts';
import { isPoisonError, poisonLetter, rootMessage, sqlStateOf } from './poison.ts';
import { indicatorTopics } from './topics.ts';
import type { WriteResult } from './store.ts';
import type { IndicatorStats, WorkerContext } from './worker-context.ts';

export interface IndicatorConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  assignment(): Record<string, number[]>;
}

/** `onStored` is called after each store transaction that made outbox keys dirty (it wakes the publisher). */
export function createIndicatorConsumer(ctx: WorkerContext, onStored: () => void): IndicatorConsumer {
  const { deps, log, opts, stats, store, lagBy, maxEvent, feedByTopic, lateness, workerId, groupId } = ctx;
  const {
    commitLingerMs: lingerMs,
    commitMaxRecords,
    storeAttempts,
    storeRetryInitialDelayMs,
    poisonAttempts,
    poisonRetryInitialDelayMs,
  } = ctx.tuning;
  const serde = opts.serde ?? createFastDecoder(deps);
  let consumer: Consumer | null = null;
  let lagTimer: NodeJS.Timeout | null = null;

  /** The batch's decodable records, and the consumed record each came from (for a dead letter's bytes). */
  async function decode(feed: FeedName, batch: Batch): Promise<Decoded> {
    const out: DecodedRecord[] = [];
    const raw: ConsumedRecord[] = [];
    const dead: { key: string; value: string; headers: Record<string, string> }[] = [];
    for (const r of batch.records) {
      try {
        const record = (await serde.decode(feed, r.value)) as DecodedRecord['record'];
        const eventMs = eventMsOf(feed, record as never);
        const acc = Number(r.headers[ACCEPTED_HEADER]);
        out.push({ record, eventMs, acceptedMs: Number.isFinite(acc) && acc > 0 ? acc : null });
        raw.push(r);
      } catch (err) {
        // A canonical record that does not decode is a contract bug upstream: keep its bytes in the DLQ, keep the partition moving.
        dead.push({
          key: feed,
          value: JSON.stringify({
            feed,
            reason: 'indicator_decode',
            message: (err as Error).message,
            topic: batch.topic,
            partition: batch.partition,
            offset: r.offset,
            receivedAt: new Date().toISOString(),
            payloadBase64: r.value.toString('base64'),
          }),
          headers: { 'coalflow-feed': feed, 'coalflow-reason': 'indicator_decode' },
        });
        log.error(
          { topic: batch.topic, partition: batch.partition, offset: r.offset, err: (err as Error).message },
          'undecodable canonical record sent to the DLQ',
        );
      }
    }
    if (dead.length) {
      // Before the offsets are committed: a failure here redelivers the batch, so nothing is lost.
      const dlq = deps.topic(topicOf.dlq);
      await deps.broker.produce(dlq, dead);
      deps.metrics.eventsOut.inc({ topic: dlq }, dead.length);
      deps.metrics.deadLetters.inc({ feed, reason: 'indicator_decode' }, dead.length);
      stats.deadLetters += dead.length;
    }
    return { records: out, raw };
  }

  interface Decoded {
    records: DecodedRecord[];
    raw: ConsumedRecord[];
  }

  const EMPTY: WriteResult = { items: [], dirty: [], inserted: 0, duplicates: 0, corrections: 0 };
  const mergeResults = (a: WriteResult, b: WriteResult): WriteResult => ({
    items: [...a.items, ...b.items],
    dirty: [...a.dirty, ...b.dirty],
    inserted: a.inserted + b.inserted,
    duplicates: a.duplicates + b.duplicates,
    corrections: a.corrections + b.corrections,
  });
  const writeOne = async (feed: FeedName, batch: Batch, d: Decoded): Promise<WriteResult> =>
    (
      await store.writeMany([
        {
          batch: { feed, topic: batch.topic, partition: batch.partition, records: batch.records.length },
          plan: planBatch(feed, d.records, lateness),
        },
      ])
    )[0]!;

  /**
   * A batch whose write failed with a poison error (poison.ts): stored in halves, in order (the watermark sees the
   * records in partition order), until the failing record stands alone; that record is retried alone with backoff,
   * then dead-lettered. Any other error (an outage) fails the batch for redelivery.
   */
  async function isolate(feed: FeedName, batch: Batch, d: Decoded, cause: unknown): Promise<WriteResult> {
    if (d.records.length === 1) return lastChance(feed, batch, d, cause);
    const mid = d.records.length >> 1;
    let out = EMPTY;
    for (const part of [
      { records: d.records.slice(0, mid), raw: d.raw.slice(0, mid) },
      { records: d.records.slice(mid), raw: d.raw.slice(mid) },
    ]) {
      let res: WriteResult;
      try {
        res = await writeOne(feed, batch, part);
      } catch (err) {
        if (!isPoisonError(err)) throw err;
        res = await isolate(feed, batch, part, err);
      }
      out = mergeResults(out, res);
    }
    return out;
  }

  async function lastChance(feed: FeedName, batch: Batch, d: Decoded, cause: unknown): Promise<WriteResult> {
    let last = cause;
    // The failure seen while isolating was the first attempt.
    for (let attempt = 2; attempt <= poisonAttempts; attempt++) {
      const delay = Math.min(30_000, poisonRetryInitialDelayMs * 2 ** (attempt - 2));
      await new Promise((r) => setTimeout(r, delay));
      stats.poisonRetries++;
      try {
        return await writeOne(feed, batch, d);
      } catch (err) {
        if (!isPoisonError(err)) throw err;
        last = err;
      }
    }
    const raw = d.raw[0]!;
    const recordId = d.records[0]!.record.recordId;
    const dlq = deps.topic(topicOf.dlq);
    // Before the offsets are committed: if this produce fails, the batch is redelivered and isolated again.
    await deps.broker.produce(dlq, [poisonLetter(feed, raw, recordId, last, poisonAttempts)]);
    deps.metrics.eventsOut.inc({ topic: dlq });
    deps.metrics.deadLetters.inc({ feed, reason: 'indicator_store' });
    stats.deadLetters++;
    log.error(
      {
        topic: raw.topic,
        partition: raw.partition,
        offset: raw.offset,
        recordId,
        sqlState: sqlStateOf(last),
        err: rootMessage(last),
        attempts: poisonAttempts,
      },
      'poison record sent to the DLQ after bounded retries',
    );
    return EMPTY;
  }

  /**
   * Group commit: the batches of the partitions in the handler at once (consumer
   * `concurrency`) and those that arrive while a transaction runs go into the next
   * transaction together. Each batch's handler resolves when its transaction
   * committed (then the broker commits its offsets); a failed transaction fails
   * all of its batches, which are redelivered.
   */
  const committer = (() => {
    interface Job {
      feed: FeedName;
      batch: Batch;
      decoded: Decoded;
      resolve: (r: WriteResult) => void;
      reject: (e: unknown) => void;
    }
    const queue: Job[] = [];
    let writing = false;
    const kick = () => {
      if (writing || !queue.length) return;
      writing = true;
      void (async () => {
        // Let batches being decoded right now (and, with a linger, those arriving shortly) join this transaction.
        await new Promise((r) => (lingerMs > 0 ? setTimeout(r, lingerMs) : setImmediate(r)));
        // At most commitMaxRecords per transaction (a huge one holds the store and the batches' handlers for long).
        let n = 0;
        let take = 0;
        while (
          take < queue.length &&
          (take === 0 || n + queue[take]!.decoded.records.length <= commitMaxRecords)
        ) {
          n += queue[take]!.decoded.records.length;
          take++;
        }
        const jobs = queue.splice(0, take);
        const tTx = performance.now();
        try {
          let results: WriteResult[];
          try {
            results = await retry(
              () =>
                store.writeMany(
                  jobs.map((j) => ({
                    batch: {
                      feed: j.feed,
                      topic: j.batch.topic,
                      partition: j.batch.partition,
                      records: j.batch.records.length,
                    },
                    plan: planBatch(j.feed, j.decoded.records, lateness),
                  })),
                ),
              {
                attempts: storeAttempts,
                initialDelayMs: storeRetryInitialDelayMs,
                onRetry: (err, attempt) =>
                  log.warn({ err: (err as Error).message, attempt }, 'store write retry'),
              },
            );
          } catch (err) {
            if (!isPoisonError(err)) throw err;
            // A record the store refuses: the group's batches alone (the others must not wait for it), then halved.
            log.warn(
              { err: rootMessage(err), sqlState: sqlStateOf(err), batches: jobs.length },
              'store refused a record: isolating it',
            );
            results = [];
            for (const j of jobs) {
              let r: WriteResult;
              try {
                r =
                  jobs.length === 1
                    ? await isolate(j.feed, j.batch, j.decoded, err)
                    : await writeOne(j.feed, j.batch, j.decoded);
              } catch (e) {
                if (!isPoisonError(e)) throw e;
                r = await isolate(j.feed, j.batch, j.decoded, e);
              }
              results.push(r);
            }
          }
          stats.transactions++;
          log.debug(
            {
              batches: jobs.length,
              records: jobs.reduce((a, j) => a + j.decoded.records.length, 0),
              ms: Math.round(performance.now() - tTx),
            },
            'store transaction',
          );
          jobs.forEach((j, i) => j.resolve(results[i]!));
        } catch (err) {
          for (const j of jobs) j.reject(err);
        } finally {
          writing = false;
          kick();
        }
      })();
    };
    return {
      submit(feed: FeedName, batch: Batch, decoded: Decoded): Promise<WriteResult> {
        return new Promise<WriteResult>((resolve, reject) => {
          queue.push({ feed, batch, decoded, resolve, reject });
          kick();
        });
      },
    };
  })();

  async function handle(batch: Batch): Promise<void> {
    const feed = feedByTopic.get(batch.topic);
    if (!feed) return;
    const current = { topic: batch.topic, partition: batch.partition, records: batch.records.length };
    deps.metrics.eventsIn.inc({ topic: batch.topic }, batch.records.length);
    const lastOffset = batch.records.at(-1)?.offset;
    if (lastOffset !== undefined) {
      try {
        lagBy.set(
          `${batch.topic}:${batch.partition}`,
          Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(lastOffset) - 1n)),
        );
      } catch {
        /* no lag known */
      }
    }
    let t = performance.now();
    const lap = (k: keyof IndicatorStats['stageMs']) => {
      const now = performance.now();
      stats.stageMs[k] += now - t;
      t = now;
    };
    const decoded = await decode(feed, batch);
    lap('decode');
    if (!decoded.records.length) {
      stats.completed++;
      return;
    }
    const res = await committer.submit(feed, batch, decoded);
    lap('store');
    if (res.dirty.length) onStored();
    await opts.faultHook?.('afterStore', current);
    stats.batches++;
    stats.records += decoded.records.length;
    stats.inserted += res.inserted;
    stats.duplicates += res.duplicates;
    stats.corrections += res.corrections;
    let late = 0;
    let maxMs = maxEvent.get(`${batch.topic}:${batch.partition}`) ?? -Infinity;
    for (const it of res.items) if (it.lateness === 'late') late++;
    for (const d of decoded.records) if (d.eventMs > maxMs) maxMs = d.eventMs;
    stats.late += late;
    if (late) deps.metrics.lateRecords.inc({ feed, kind: 'update' }, late);
    if (res.corrections) deps.metrics.lateRecords.inc({ feed, kind: 'correction' }, res.corrections);
    if (res.duplicates) deps.metrics.duplicates.inc({ feed }, res.duplicates);
    maxEvent.set(`${batch.topic}:${batch.partition}`, maxMs);
    stats.completed++;
    updateWatermarkGauge();
  }

  function updateWatermarkGauge() {
    const owned = [...maxEvent.values()];
    if (owned.length)
      deps.metrics.watermarkLag.set(
        { worker: workerId },
        Math.max(0, Date.now() - (Math.min(...owned) - lateness)) / 1000,
      );
  }

  const refreshLag = () => refreshConsumerLag(deps, groupId, feedByTopic.keys());

  return {
    async start() {
      if (consumer) return;
      const topics = [...feedByTopic.keys()];
      // Idempotent: the composition root normally created them; a worker started alone must not fail on a missing topic.
      await deps.broker.createTopics([
        ...topics.map((topic) => ({ topic })),
        { topic: deps.topic(topicOf.dlq) },
        ...indicatorTopics().map((t) => ({ ...t, topic: deps.topic(t.topic) })),
      ]);
      consumer = deps.broker.consumer({
        groupId,
        topics,
        maxBatchSize: ctx.tuning.maxBatchRecords,
        concurrency: ctx.tuning.concurrency,
        fromBeginning: opts.fromBeginning ?? true,
        onAssign: (a) => {
          // State lives in the store (read under lock in each transaction; dirty keys in the outbox): only the
          // per-partition gauges (max event time, lag) of partitions no longer owned are dropped.
          for (const m of [maxEvent, lagBy]) {
            for (const k of [...m.keys()]) {
              const [t, p] = [k.slice(0, k.lastIndexOf(':')), Number(k.slice(k.lastIndexOf(':') + 1))];
              if (!a[t]?.includes(p)) m.delete(k);
            }
          }
          log.info({ workerId, assignment: a }, 'partitions assigned');
        },
      });
      await consumer.run(async (batch) => {
        try {
          await handle(batch);
        } catch (err) {
          stats.failures++;
          if (isProgrammingError(err))
            log.error({ err: (err as Error).stack }, 'indicator batch failed (bug)');
          else
            log.warn(
              { topic: batch.topic, partition: batch.partition, err: (err as Error).message },
              'indicator batch failed; will be redelivered',
            );
          throw err;
        }
      });
      if (ctx.tuning.lagIntervalMs > 0) {
        lagTimer = setInterval(() => {
          void refreshLag();
        }, ctx.tuning.lagIntervalMs);
        lagTimer.unref();
      }
    },
    async stop() {
      if (lagTimer) clearInterval(lagTimer);
      await consumer?.stop();
    },
    assignment: () => consumer?.assignment() ?? {},
  };
}
