/**
 * The indicator workers: one consumer-group member reading the eight canonical
 * topics, and one publisher loop, decoupled by a transactional outbox.
 *
 * Consumer, per batch (one topic-partition): decode → classify lateness and map
 * to facts and cell deltas (pure core) → ONE store transaction (facts, deltas of
 * the new facts, watermark, and the outbox keys they made stale) → the broker
 * commits the offsets. A failure redelivers the batch, whose facts are then
 * duplicates. Undecodable records go to the DLQ with their bytes.
 *
 * Publisher (this process, started with the consumer): claims dirty outbox keys
 * with a lease, computes their points for all of them at once (`publish.ts`),
 * writes Redis snapshots + live channels and `coal.indicators`, then deletes the
 * keys that did not change meanwhile. A crash mid-publication leaves them dirty;
 * republishing gives the same values (Redis keeps the highest version).
 */
import { isProgrammingError, refreshConsumerLag, retry, type Deps, type Assignment, type Batch, type Consumer, type TopicSpec } from '../../infra/core/index.ts';
import type { FeedSerde } from '../contracts/serde-types.ts';
import { createFastDecoder } from './decode.ts';
import { ACCEPTED_HEADER, FEEDS, topicOf, type CanonicalRecord, type FeedName } from '../contracts/types.ts';
import { createKafkaTopicSink, type KafkaTopicSink } from '../../sinks/index.ts';
import { createRedisSink, type RedisSink } from './snapshots.ts';
import { createTimescaleSink, premerge, type FaultHook as StoreFaultHook, type FactItem, type TimescaleSink, type WriteResult } from './store.ts';
import { classify, eventMsOf } from './core.ts';
import { INDICATOR_SCHEMA, toMessages, type IndicatorUpdateMessage } from './contract.ts';
import { CELLS, monthStart, nextMonthStart, type IndicatorPoint } from './model.ts';
import { CLAIM_SQL, claimedOf, familyOfKind, FINISH_SQL, LANES, RELEASE_SQL, RENEW_SQL, type ClaimedRow, type Lane } from './outbox.ts';
import { computeDirty, directHourPoints, directHours, FAR } from './publish.ts';

export const INDICATOR_GROUP = 'coalflow-indicators';
/** Most points per produce call to coal.indicators (≈ 100 bytes each: well under 1 MB even if all go to one partition). */
const KAFKA_POINTS_PER_SEND = 4000;

/** Stages at which a test can make a batch fail (see `faultHook`). */
export type FaultStage = 'afterFacts' | 'beforeCommit' | 'afterStore' | 'afterPublishRedis' | 'afterPublishKafka';

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

/** Most outbox rows whose points are computed and written at once within a round. */
export const PUBLISH_SLICE_ROWS = 250;
/** Most sales hours whose points (every scope) are computed and written at once. */
const PUBLISH_HOURS_AT_ONCE = 24;
/** Direct keys whose event range is longer than this are published a calendar month at a time. */
const PUBLISH_SLICE_MS = 31 * 86_400_000;

/**
 * The slices of a round's claimed rows (see round()). Direct points are those of the windows a key's range
 * covers, so a range can be cut in parts without changing what is published; derived keys (forward-looking
 * metrics) are not cut, only grouped (the derived lane's rounds are small anyway).
 */
export function publishSlices(rows: readonly ClaimedRow[], lane: Lane): ClaimedRow[][] {
  const parts: ClaimedRow[] = [];
  for (const r of rows) {
    if (lane !== 'direct' || r.evTo - r.evFrom <= PUBLISH_SLICE_MS) { parts.push(r); continue; }
    // Cut at calendar months, so that the parts of every key for the same month are published together.
    for (let from = r.evFrom; from <= r.evTo; from = nextMonthStart(from)) {
      const to = Math.min(r.evTo, nextMonthStart(from) - 1);
      const otFrom = r.otFrom === null ? null : Math.max(r.otFrom, from);
      const otTo = r.otTo === null ? null : Math.min(r.otTo, to);
      const hourly = otFrom !== null && otTo !== null && otFrom <= otTo;
      parts.push({ ...r, evFrom: from, evTo: to, otFrom: hourly ? otFrom : null, otTo: hourly ? otTo : null });
    }
  }
  if (lane !== 'direct' || parts.length === rows.length) {
    const out: ClaimedRow[][] = [];
    for (let i = 0; i < parts.length; i += PUBLISH_SLICE_ROWS) out.push(parts.slice(i, i + PUBLISH_SLICE_ROWS));
    return out;
  }
  // A month at a time (a slice never mixes months of cut ranges: its hours and points stay one month's), at most PUBLISH_SLICE_ROWS rows.
  const byMonth = new Map<number, ClaimedRow[]>();
  for (const p of parts) {
    const m = monthStart(p.evFrom);
    (byMonth.get(m) ?? byMonth.set(m, []).get(m)!).push(p);
  }
  const out: ClaimedRow[][] = [];
  for (const m of [...byMonth.keys()].sort((a, b) => a - b)) {
    const list = byMonth.get(m)!;
    for (let i = 0; i < list.length; i += PUBLISH_SLICE_ROWS) out.push(list.slice(i, i + PUBLISH_SLICE_ROWS));
  }
  return out;
}

/** Derived rows spanning more than this (from their first day to the latest data) are computed a month at a time. */
const DERIVED_WINDOW_MIN_SPAN_MS = 62 * 86_400_000;

/**
 * The day windows a derived round is computed in: one (null: unclamped) unless its rows reach back more than
 * two months before the latest data; then calendar months (Asia/Shanghai), the first open to the past (year- and
 * month-to-date windows start before it) and the last open to the future (forward-looking metrics).
 */
export function derivedWindows(rows: readonly Pick<ClaimedRow, 'evFrom' | 'evTo' | 'otFrom'>[], latestMs: number): ({ from: number; to: number } | null)[] {
  if (!rows.length) return [null];
  let lo = Infinity;
  let hi = Number.isFinite(latestMs) ? latestMs : -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r.evFrom, r.otFrom ?? r.evFrom);
    hi = Math.max(hi, r.evTo);
  }
  const first = monthStart(lo);
  if (hi - first <= DERIVED_WINDOW_MIN_SPAN_MS) return [null];
  const out: { from: number; to: number }[] = [];
  for (let m = first; m <= hi; m = nextMonthStart(m)) out.push({ from: out.length ? m : 0, to: nextMonthStart(m) - 1 });
  out[out.length - 1]!.to = FAR;
  return out;
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
  /** Lease owner: unique per worker instance, so a restarted worker never mistakes an old lease for its own. */
  const owner = `${workerId}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
  const feeds = opts.feeds ?? FEEDS;
  const feedByTopic = new Map(feeds.map((f) => [deps.topic(topicOf.canonical(f)), f]));
  const lateness = opts.allowedLatenessMs ?? deps.config.allowedLatenessMs;
  const groupId = deps.topic(opts.groupId ?? INDICATOR_GROUP);
  const serde = opts.serde ?? createFastDecoder(deps);
  // Store stages: the hook sees each batch of the transaction (group commit), with its record count.
  const storeHook: StoreFaultHook | undefined = opts.faultHook
    ? async (stage, batches) => {
      for (const b of batches) await opts.faultHook!(stage, { topic: b.topic, partition: b.partition, records: b.records ?? 0 });
    }
    : undefined;
  const store: TimescaleSink = createTimescaleSink(deps, { faultHook: storeHook });
  const redis: RedisSink = createRedisSink(deps);
  const kafka: KafkaTopicSink<IndicatorUpdateMessage> | null = opts.publishKafka === false
    ? null
    : createKafkaTopicSink<IndicatorUpdateMessage>(deps, { topic: topicOf.indicators, schema: INDICATOR_SCHEMA });
  const maxKeys = opts.publishMaxKeys ?? 20_000;
  const pollMs = opts.publishPollMs ?? 250;
  const gapMs = opts.publishGapMs ?? 200;
  const leaseMs = opts.publishLeaseMs ?? 10_000;
  const derivedMs = opts.publishDerivedIntervalMs ?? 250;
  const lingerMs = opts.commitLingerMs ?? 50;
  const commitMaxRecords = opts.commitMaxRecords ?? 10_000;
  const derivedMaxKeys = opts.publishDerivedMaxKeys ?? 200;
  const catchUpLag = opts.catchUpLagRecords ?? 5000;
  const catchUpMs = opts.catchUpPublishIntervalMs ?? 3000;
  /** Records behind the partition's end at its last fetch, per owned partition. */
  const lagBy = new Map<string, number>();
  const catchingUp = () => {
    if (catchUpLag <= 0) return false;
    let n = 0;
    for (const v of lagBy.values()) n += v;
    return n >= catchUpLag;
  };
  const limitOf = (lane: Lane) => (lane === 'derived' ? derivedMaxKeys : maxKeys);
  const stats: IndicatorStats = {
    batches: 0, transactions: 0, records: 0, inserted: 0, duplicates: 0, late: 0, corrections: 0, failures: 0, points: 0, deadLetters: 0, completed: 0,
    rounds: 0, derivedRounds: 0, published: 0, publishFailures: 0, stageMs: { decode: 0, store: 0, read: 0, redis: 0, kafka: 0 },
  };
  let consumer: Consumer | null = null;
  let lagTimer: NodeJS.Timeout | null = null;
  let stopping: Promise<void> | null = null;
  /** Max event time per owned partition, for the watermark-lag gauge. */
  const maxEvent = new Map<string, number>();

  async function decode(feed: FeedName, batch: Batch) {
    const out: { record: CanonicalRecord; eventMs: number; acceptedMs: number | null }[] = [];
    const dead: { key: string; value: string; headers: Record<string, string> }[] = [];
    for (const r of batch.records) {
      try {
        const record = await serde.decode(feed, r.value) as CanonicalRecord;
        const eventMs = eventMsOf(feed, record as never);
        const acc = Number(r.headers[ACCEPTED_HEADER]);
        out.push({ record, eventMs, acceptedMs: Number.isFinite(acc) && acc > 0 ? acc : null });
      } catch (err) {
        // A canonical record that does not decode is a contract bug upstream: keep its bytes in the DLQ, keep the partition moving.
        dead.push({
          key: feed,
          value: JSON.stringify({
            feed, reason: 'indicator_decode', message: (err as Error).message, topic: batch.topic, partition: batch.partition, offset: r.offset,
            receivedAt: new Date().toISOString(), payloadBase64: r.value.toString('base64'),
          }),
          headers: { 'coalflow-feed': feed, 'coalflow-reason': 'indicator_decode' },
        });
        log.error({ topic: batch.topic, partition: batch.partition, offset: r.offset, err: (err as Error).message }, 'undecodable canonical record sent to the DLQ');
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
    return out;
  }

  type Decoded = Awaited<ReturnType<typeof decode>>;
  /** The store write of one partition's batch, planned against the watermark read in the transaction. */
  const planOf = (feed: FeedName, decoded: Decoded) => (prev: { maxEventMs: number }) => {
    const { classes, state } = classify(decoded.map((d) => d.eventMs), prev, lateness);
    let max = prev.maxEventMs;
    const items: FactItem[] = decoded.map((d, i) => {
      const wm = max - lateness;
      if (d.eventMs > max) max = d.eventMs;
      return { record: d.record, eventMs: d.eventMs, lateness: classes[i]!, watermarkMs: wm, acceptedMs: d.acceptedMs };
    });
    // Deltas merged as they are made (sales summed per mine, attributes, day and lateness first): none is held through the transaction.
    return { items, next: state, merged: premerge(feed, items) };
  };

  /**
   * Group commit: the batches of the partitions in the handler at once (consumer
   * `concurrency`) and those that arrive while a transaction runs go into the next
   * transaction together. Each batch's handler resolves when its transaction
   * committed (then the broker commits its offsets); a failed transaction fails
   * all of its batches, which are redelivered.
   */
  const committer = (() => {
    interface Job { feed: FeedName; batch: Batch; decoded: Decoded; resolve: (r: WriteResult) => void; reject: (e: unknown) => void }
    let queue: Job[] = [];
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
        while (take < queue.length && (take === 0 || n + queue[take]!.decoded.length <= commitMaxRecords)) { n += queue[take]!.decoded.length; take++; }
        const jobs = queue.splice(0, take);
        const tTx = performance.now();
        try {
          const results = await retry(() => store.writeMany(jobs.map((j) => ({ batch: { feed: j.feed, topic: j.batch.topic, partition: j.batch.partition, records: j.batch.records.length }, plan: planOf(j.feed, j.decoded) }))),
            { attempts: 3, initialDelayMs: 50, onRetry: (err, attempt) => log.warn({ err: (err as Error).message, attempt }, 'store write retry') });
          stats.transactions++;
          log.debug({ batches: jobs.length, records: jobs.reduce((a, j) => a + j.decoded.length, 0), ms: Math.round(performance.now() - tTx) }, 'store transaction');
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
        return new Promise<WriteResult>((resolve, reject) => { queue.push({ feed, batch, decoded, resolve, reject }); kick(); });
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
      try { lagBy.set(`${batch.topic}:${batch.partition}`, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(lastOffset) - 1n))); } catch { /* no lag known */ }
    }
    let t = performance.now();
    const lap = (k: keyof IndicatorStats['stageMs']) => { const now = performance.now(); stats.stageMs[k] += now - t; t = now; };
    const decoded = await decode(feed, batch);
    lap('decode');
    if (!decoded.length) { stats.completed++; return; }
    const res = await committer.submit(feed, batch, decoded);
    lap('store');
    if (res.dirty.length) publisher.wake();
    await opts.faultHook?.('afterStore', current);
    stats.batches++; stats.records += decoded.length; stats.inserted += res.inserted; stats.duplicates += res.duplicates; stats.corrections += res.corrections;
    let late = 0;
    let maxMs = maxEvent.get(`${batch.topic}:${batch.partition}`) ?? -Infinity;
    for (const it of res.items) if (it.lateness === 'late') late++;
    for (const d of decoded) if (d.eventMs > maxMs) maxMs = d.eventMs;
    stats.late += late;
    if (late) deps.metrics.lateRecords.inc({ feed, kind: 'update' }, late);
    if (res.corrections) deps.metrics.lateRecords.inc({ feed, kind: 'correction' }, res.corrections);
    if (res.duplicates) deps.metrics.duplicates.inc({ feed }, res.duplicates);
    maxEvent.set(`${batch.topic}:${batch.partition}`, maxMs);
    stats.completed++;
    updateWatermarkGauge();
  }

  // ------------------------------------------------------------ publisher

  /** One publication round of a lane: claim, compute, Redis, Kafka, finish. Returns the keys claimed. */
  async function round(lane: Lane): Promise<number> {
    let t = performance.now();
    const lap = (k: keyof IndicatorStats['stageMs']) => { const now = performance.now(); stats.stageMs[k] += now - t; t = now; };
    const laneOwner = `${owner}:${lane}`;
    const tStart = performance.now();
    const limit = limitOf(lane);
    const claim = await deps.db.query(CLAIM_SQL, [Date.now(), laneOwner, limit, leaseMs, LANES[lane]]);
    const tClaim = performance.now();
    if (!claim.rows.length) return 0;
    const version = Number(claim.rows[0].version);
    const claimed = claim.rows.map(claimedOf);
    const hookCtx = { topic: 'publisher', partition: -1, records: claimed.length };
    // Keep the lease while this round runs (a long catch-up round outlives one lease); a crashed publisher stops
    // renewing, so others take its keys over within one lease, not after a fixed long one.
    let renewal: Promise<unknown> = Promise.resolve();
    const renewTimer = setInterval(() => {
      renewal = deps.db.query(RENEW_SQL, [Date.now() + leaseMs, laneOwner, LANES[lane]]).catch((err) => log.warn({ err: (err as Error).message, lane }, 'lease renewal failed'));
    }, Math.max(100, Math.floor(leaseMs / 3)));
    const stopRenewal = async () => { clearInterval(renewTimer); await renewal; };
    let inFlight: Promise<unknown> | null = null;
    try {
      // Bounded memory: a catch-up round (e.g. a year of history) is published in units, each computed and written
      // before the next, instead of all its points at once: direct keys cut at calendar months, at most
      // PUBLISH_SLICE_ROWS rows a month at a time; their sales hours (every scope) a day at a time, once per round
      // (the aggregates' hours are the same for every slice); derived rounds in month windows when they reach far back.
      let pointCount = 0;
      const slices = publishSlices(claimed, lane);
      // Derived rows move their metrics from their first day to the latest data.
      let windows: ({ from: number; to: number } | null)[] = [null];
      if (lane === 'derived') {
        const w = await deps.db.query('SELECT max(max_event_ms)::float8 AS t FROM ind_watermark');
        windows = derivedWindows(claimed, Number(w.rows[0]?.t ?? 0));
      }
      const units: (() => Promise<IndicatorPoint[]>)[] = [];
      const parts = slices.flat();
      const hours = lane === 'direct' ? directHours(parts) : [];
      const hoursApart = slices.length > 1 || hours.length > PUBLISH_HOURS_AT_ONCE;
      for (const [slice, clamp] of slices.flatMap((sl) => windows.map((c) => [sl, c] as const))) {
        units.push(() => computeDirty(deps.db, slice, { priceIndexBaseMonth: opts.priceIndexBaseMonth, lane, clamp, hours: !hoursApart }));
      }
      if (hoursApart) {
        for (let i = 0; i < hours.length; i += PUBLISH_HOURS_AT_ONCE) {
          const part = hours.slice(i, i + PUBLISH_HOURS_AT_ONCE);
          units.push(() => directHourPoints(deps.db, parts, part));
        }
      }
      // Pipelined: a unit's reads run in the database while the worker writes the previous unit's points to
      // Redis and Kafka (the database is another process: the two overlap instead of taking turns).
      let next: Promise<IndicatorPoint[]> | null = units.length ? units[0]!() : null;
      for (let u = 0; u < units.length; u++) {
        const points = await next!;
        next = u + 1 < units.length ? units[u + 1]!() : null;
        // Observed by the next iteration, or by the failure path below: never an unhandled rejection.
        inFlight = next;
        next?.catch(() => undefined);
        pointCount += points.length;
        lap('read');
        await redis.write(points, { version, live: opts.publishLive !== false });
        lap('redis');
        await opts.faultHook?.('afterPublishRedis', hookCtx);
        if (kafka && points.length) {
          // Several sends of bounded size (a produce request per partition must stay under the broker's limit), a few at a time.
          const msgs = toMessages(points, version);
          const sends: (typeof msgs)[] = [];
          let cur: typeof msgs = [];
          let n = 0;
          for (const m of msgs) {
            if (n + m.value.points.length > KAFKA_POINTS_PER_SEND && cur.length) { sends.push(cur); cur = []; n = 0; }
            cur.push(m); n += m.value.points.length;
          }
          if (cur.length) sends.push(cur);
          for (let i = 0; i < sends.length; i += 4) {
            await Promise.all(sends.slice(i, i + 4).map((chunk) => kafka.write(chunk.map((m) => ({ key: m.key, value: m.value })))));
          }
        }
      }
      lap('kafka');
      await opts.faultHook?.('afterPublishKafka', hookCtx);
      await stopRenewal();
      await deps.db.query(FINISH_SQL, [claimed.map((r) => r.kind), claimed.map((r) => r.scope), claimed.map((r) => r.scopeId), claimed.map((r) => r.ver), laneOwner, LANES[lane]]);
      lap('read');
      const now = Date.now();
      for (const r of claimed) {
        if (r.acceptedMs !== null) deps.metrics.e2eLatency.observe({ family: familyOfKind(r.kind, (c) => (CELLS as Record<string, { family: string }>)[c]?.family), lane }, Math.max(0, now - r.acceptedMs) / 1000);
      }
      log.debug({ lane, keys: claimed.length, points: pointCount, ms: Math.round(performance.now() - tStart), claimMs: Math.round(tClaim - tStart) }, 'publication round');
      stats.rounds++; stats.published += claimed.length; stats.points += pointCount;
      if (lane === 'derived') stats.derivedRounds++;
      return claimed.length;
    } catch (err) {
      stats.publishFailures++;
      // A unit still being read: let it finish before the keys go back (its result is dropped).
      await inFlight?.catch(() => undefined);
      await stopRenewal();
      // Give the keys back at once; they stay dirty and the next round retries them.
      await deps.db.query(RELEASE_SQL, [laneOwner]).catch(() => undefined);
      throw err;
    }
  }

  /**
   * A lane's publisher loop. Direct: woken by the consumer after each commit (or
   * every `publishPollMs` for keys other processes left), rounds back to back while
   * keys keep coming. Derived: a round every `publishDerivedIntervalMs`, or half as long
   * as its last round took if longer, so its heavier reads coalesce many changes. The lanes run side by side; rounds of
   * one lane never overlap (loop, flush, idle and stop share its chain).
   */
  const makePublisher = (lane: Lane) => {
    let running = false;
    let pending = false;
    let wakeUp: (() => void) | null = null;
    let loopDone: Promise<void> | null = null;
    let chain: Promise<unknown> = Promise.resolve();
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
      const p = chain.then(fn, fn);
      chain = p.catch(() => undefined);
      return p;
    };
    const sleep = (ms: number) => new Promise<void>((r) => { const tm = setTimeout(r, ms); wakeUp = () => { clearTimeout(tm); r(); }; });
    async function drain(): Promise<number> {
      let total = 0;
      for (;;) {
        const n = await exclusive(() => round(lane));
        total += n;
        if (n < limitOf(lane)) return total;
      }
    }
    let lastRoundEnd = 0;
    /** How long the lane's last round took (the derived lane waits at least half as long before the next). */
    let lastRoundMs = 0;
    /** While the consumer catches up, one round per catchUpMs at most; goes on at once when it has caught up. */
    async function holdOff() {
      while (running && catchingUp()) {
        const wait = lastRoundEnd + catchUpMs - Date.now();
        if (wait <= 0) return;
        await sleep(Math.min(wait, 100));
        wakeUp = null;
      }
    }
    async function loop() {
      let backoff = 50;
      while (running) {
        if (lane === 'derived') { if (!pending) await sleep(Math.max(derivedMs, lastRoundMs / 2)); } else if (!pending) await sleep(pollMs);
        wakeUp = null;
        await holdOff();
        if (!running) break;
        pending = false;
        try {
          const t0 = Date.now();
          const n = await exclusive(() => round(lane));
          lastRoundEnd = Date.now();
          lastRoundMs = lastRoundEnd - t0;
          backoff = 50;
          // More may be coming (the consumer is busy): let a few batches coalesce, then go again.
          if (n > 0 && lane === 'direct') { pending = true; if (gapMs > 0) await sleep(gapMs); wakeUp = null; }
          // A full derived round: more are waiting; go on after a gap (the direct lane gets the store in between).
          if (lane === 'derived' && n >= limitOf(lane)) { pending = true; await sleep(Math.max(gapMs, 1)); wakeUp = null; }
        } catch (err) {
          if (isProgrammingError(err)) log.error({ err: (err as Error).stack, lane }, 'indicator publication failed (bug)');
          else log.warn({ err: (err as Error).message, lane }, 'indicator publication failed; keys stay dirty and are retried');
          pending = true;
          await sleep(backoff);
          wakeUp = null;
          backoff = Math.min(backoff * 2, 5000);
        }
      }
    }
    return {
      start() { if (running) return; running = true; pending = true; loopDone = loop(); },
      async stop() { running = false; wakeUp?.(); await loopDone; },
      wake() { if (lane === 'derived') return; pending = true; wakeUp?.(); },
      drain,
    };
  };
  const lanes = { direct: makePublisher('direct'), derived: makePublisher('derived') };
  const publisher = {
    start() { lanes.direct.start(); lanes.derived.start(); },
    async stop() { await Promise.all([lanes.direct.stop(), lanes.derived.stop()]); },
    wake() { lanes.direct.wake(); },
    async drain() { return (await lanes.direct.drain()) + (await lanes.derived.drain()); },
  };

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
      await deps.broker.createTopics([...topics.map((topic) => ({ topic })), { topic: deps.topic(topicOf.dlq) }, ...indicatorTopics().map((t) => ({ ...t, topic: deps.topic(t.topic) }))]);
      consumer = deps.broker.consumer({
        groupId,
        topics,
        maxBatchSize: opts.maxBatchSize ?? 5000,
        concurrency: opts.concurrency ?? 8,
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
          if (isProgrammingError(err)) log.error({ err: (err as Error).stack }, 'indicator batch failed (bug)');
          else log.warn({ topic: batch.topic, partition: batch.partition, err: (err as Error).message }, 'indicator batch failed; will be redelivered');
          throw err;
        }
      });
      if (opts.publish !== false) publisher.start();
      if (opts.lagIntervalMs !== 0) {
        lagTimer = setInterval(() => { void refreshLag(); }, opts.lagIntervalMs ?? 5000);
        lagTimer.unref();
      }
    },
    stop() {
      stopping ??= (async () => {
        if (lagTimer) clearInterval(lagTimer);
        const steps = [
          () => consumer?.stop(),
          () => publisher.stop(),
          // Publish what the last batches made dirty, so Redis and coal.indicators are up to date on exit.
          () => publisher.drain(),
          () => kafka?.close(), () => redis.close(), () => store.close(),
        ];
        for (const s of steps) {
          try { await s(); } catch (err) { log.warn({ err: (err as Error).message }, 'indicator stop step failed'); }
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
        if (Date.now() > deadline) throw new Error(`indicator outbox not empty after ${timeoutMs} ms (${r.rows[0].n} keys)`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    assignment: () => consumer?.assignment() ?? {},
    stats: () => ({ ...stats, stageMs: { ...stats.stageMs } }),
  };
}
