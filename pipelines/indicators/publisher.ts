/**
 * The publisher side of the indicator workers, decoupled from the consumer by a transactional outbox: claims
 * dirty outbox keys with a lease, computes their points (`publish.ts`) in bounded units (planners.ts), writes
 * Redis snapshots + live channels and `coal.indicators`, then deletes the keys that did not change meanwhile.
 * A crash mid-publication leaves them dirty; republishing gives the same values (Redis keeps the highest
 * version). Two lanes: direct (the cells' own points, woken by each commit) and derived (trailing windows and
 * derived metrics, on an interval).
 */
import { isProgrammingError } from '../../infra/core/index.ts';
import { toMessages } from './contract.ts';
import { CELLS, type IndicatorPoint } from './model.ts';
import {
  CLAIM_SQL,
  claimedOf,
  familyOfKind,
  FINISH_SQL,
  LANES,
  RELEASE_SQL,
  RENEW_SQL,
  type Lane,
} from './outbox.ts';
import { derivedWindows, publishSlices } from './planners.ts';
import { computeDirty, directHourPoints, directHours } from './publish.ts';
import type { IndicatorStats, WorkerContext } from './worker-context.ts';

export interface IndicatorPublisher {
  start(): void;
  stop(): Promise<void>;
  /** A commit made keys dirty: the direct lane goes at once. */
  wake(): void;
  /**
   * Runs rounds of both lanes until nothing is left to claim; resolves with the keys published. With a deadline
   * (ms since epoch), starts no round after it: what is left stays in the outbox for the next run (a stop within
   * its budget).
   */
  drain(deadlineMs?: number): Promise<number>;
}

export function createIndicatorPublisher(ctx: WorkerContext): IndicatorPublisher {
  const { deps, log, opts, stats, redis, kafka, owner, catchingUp, limitOf } = ctx;
  const {
    publishLeaseMs: leaseMs,
    publishPollMs: pollMs,
    publishGapMs: gapMs,
    publishDerivedIntervalMs: derivedMs,
    catchUpPublishIntervalMs: catchUpMs,
    publishHoursAtOnce: PUBLISH_HOURS_AT_ONCE,
    kafkaPointsPerSend: KAFKA_POINTS_PER_SEND,
    kafkaSendsInFlight,
  } = ctx.tuning;

  /** One publication round of a lane: claim, compute, Redis, Kafka, finish. Returns the keys claimed. */
  async function round(lane: Lane): Promise<number> {
    let t = performance.now();
    const lap = (k: keyof IndicatorStats['stageMs']) => {
      const now = performance.now();
      stats.stageMs[k] += now - t;
      t = now;
    };
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
    const renewTimer = setInterval(
      () => {
        renewal = deps.db
          .query(RENEW_SQL, [Date.now() + leaseMs, laneOwner, LANES[lane]])
          .catch((err) => log.warn({ err: (err as Error).message, lane }, 'lease renewal failed'));
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    const stopRenewal = async () => {
      clearInterval(renewTimer);
      await renewal;
    };
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
        units.push(() =>
          computeDirty(deps.db, slice, {
            priceIndexBaseMonth: opts.priceIndexBaseMonth,
            lane,
            clamp,
            hours: !hoursApart,
          }),
        );
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
            if (n + m.value.points.length > KAFKA_POINTS_PER_SEND && cur.length) {
              sends.push(cur);
              cur = [];
              n = 0;
            }
            cur.push(m);
            n += m.value.points.length;
          }
          if (cur.length) sends.push(cur);
          for (let i = 0; i < sends.length; i += kafkaSendsInFlight) {
            await Promise.all(
              sends
                .slice(i, i + kafkaSendsInFlight)
                .map((chunk) => kafka.write(chunk.map((m) => ({ key: m.key, value: m.value })))),
            );
          }
        }
      }
      lap('kafka');
      await opts.faultHook?.('afterPublishKafka', hookCtx);
      await stopRenewal();
      await deps.db.query(FINISH_SQL, [
        claimed.map((r) => r.kind),
        claimed.map((r) => r.scope),
        claimed.map((r) => r.scopeId),
        claimed.map((r) => r.ver),
        laneOwner,
        LANES[lane],
      ]);
      lap('read');
      const now = Date.now();
      for (const r of claimed) {
        if (r.acceptedMs !== null)
          deps.metrics.e2eLatency.observe(
            {
              family: familyOfKind(r.kind, (c) => (CELLS as Record<string, { family: string }>)[c]?.family),
              lane,
            },
            Math.max(0, now - r.acceptedMs) / 1000,
          );
      }
      log.debug(
        {
          lane,
          keys: claimed.length,
          points: pointCount,
          ms: Math.round(performance.now() - tStart),
          claimMs: Math.round(tClaim - tStart),
        },
        'publication round',
      );
      stats.rounds++;
      stats.published += claimed.length;
      stats.points += pointCount;
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
    const sleep = (ms: number) =>
      new Promise<void>((r) => {
        const tm = setTimeout(r, ms);
        wakeUp = () => {
          clearTimeout(tm);
          r();
        };
      });
    async function drain(deadlineMs = Infinity): Promise<number> {
      let total = 0;
      for (;;) {
        if (Date.now() >= deadlineMs) return total;
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
        if (lane === 'derived') {
          if (!pending) await sleep(Math.max(derivedMs, lastRoundMs / 2));
        } else if (!pending) await sleep(pollMs);
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
          if (n > 0 && lane === 'direct') {
            pending = true;
            if (gapMs > 0) await sleep(gapMs);
            wakeUp = null;
          }
          // A full derived round: more are waiting; go on after a gap (the direct lane gets the store in between).
          if (lane === 'derived' && n >= limitOf(lane)) {
            pending = true;
            await sleep(Math.max(gapMs, 1));
            wakeUp = null;
          }
        } catch (err) {
          if (isProgrammingError(err))
            log.error({ err: (err as Error).stack, lane }, 'indicator publication failed (bug)');
          else
            log.warn(
              { err: (err as Error).message, lane },
              'indicator publication failed; keys stay dirty and are retried',
            );
          pending = true;
          await sleep(backoff);
          wakeUp = null;
          backoff = Math.min(backoff * 2, 5000);
        }
      }
    }
    return {
      start() {
        if (running) return;
        running = true;
        pending = true;
        loopDone = loop();
      },
      async stop() {
        running = false;
        wakeUp?.();
        await loopDone;
      },
      wake() {
        if (lane === 'derived') return;
        pending = true;
        wakeUp?.();
      },
      drain,
    };
  };
  const lanes = { direct: makePublisher('direct'), derived: makePublisher('derived') };
  return {
    start() {
      lanes.direct.start();
      lanes.derived.start();
    },
    async stop() {
      await Promise.all([lanes.direct.stop(), lanes.derived.stop()]);
    },
    wake() {
      lanes.direct.wake();
    },
    async drain(deadlineMs?: number) {
      return (await lanes.direct.drain(deadlineMs)) + (await lanes.derived.drain(deadlineMs));
    },
  };
}
