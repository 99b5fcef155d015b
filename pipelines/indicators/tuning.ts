/**
 * Every tuning default of the indicator workers in one place, units in the names. A worker's options
 * (`IndicatorWorkerOptions`, same meaning) override them; the figures behind the values are in the README's
 * benchmark runs.
 */
export const INDICATOR_TUNING = Object.freeze({
  /** Most records per handler call. */
  maxBatchRecords: 5000,
  /** Partitions handled at once, whose batches share a store transaction (group commit). */
  concurrency: 8,
  /** How long a store transaction waits for more partitions' batches to join it. */
  commitLingerMs: 50,
  /** Most records in one store transaction (a batch is never split). */
  commitMaxRecords: 10_000,
  /** Attempts of a store transaction before its batches fail (and are redelivered), and the first backoff. */
  storeAttempts: 3,
  storeRetryInitialDelayMs: 50,
  /**
   * A poison record (the store refuses it every time: poison.ts), once isolated, is tried alone this many times in
   * all, with backoff from `poisonRetryInitialDelayMs` doubling, then dead-lettered. The worker's defaults come
   * from the config (`COALFLOW_POISON_ATTEMPTS`, `COALFLOW_POISON_RETRY_MS`).
   */
  poisonAttempts: 3,
  poisonRetryInitialDelayMs: 200,
  /** Most outbox keys one direct publication round claims. */
  publishMaxKeys: 20_000,
  /** How often the publisher looks for keys dirtied by other processes when nothing woke it. */
  publishPollMs: 250,
  /**
   * Pause between publication rounds while keys keep coming, so they coalesce: fewer, larger rounds leave the
   * single-session store more time for the rest (live 200/s, 120 s, 3 runs each: direct p99 578 → 472 ms,
   * derived 1.68 → 1.44 s; replay unchanged).
   */
  publishGapMs: 200,
  /**
   * Least time between rounds of the derived lane (trailing windows, derived metrics). The lane also waits at
   * least half as long as its last round took, so it never holds the single-session store more than two thirds
   * of the time.
   */
  publishDerivedIntervalMs: 250,
  /** Most keys one derived round claims (smaller rounds hold the single-session store for shorter). */
  publishDerivedMaxKeys: 200,
  /** While the consumer is at least this many records behind, each lane publishes at most one round per `catchUpPublishIntervalMs` (0 disables). */
  catchUpLagRecords: 5000,
  catchUpPublishIntervalMs: 3000,
  /** Lease of claimed outbox keys, renewed every third of it while the round runs. */
  publishLeaseMs: 10_000,
  /** Refresh period of the consumer-lag gauge (0 disables). */
  lagIntervalMs: 5000,
  /** Most points per produce call to coal.indicators (≈ 100 bytes each: well under 1 MB even if all go to one partition). */
  kafkaPointsPerSend: 4000,
  /** Produce calls to coal.indicators in flight at once within a round. */
  kafkaSendsInFlight: 4,
  /** Most outbox rows whose points are computed and written at once within a round. */
  publishSliceRows: 250,
  /** Most sales hours whose points (every scope) are computed and written at once. */
  publishHoursAtOnce: 24,
  /** Direct keys whose event range is longer than this are published a calendar month at a time. */
  publishSliceMs: 31 * 86_400_000,
  /** Derived rows spanning more than this (from their first day to the latest data) are computed a month at a time. */
  derivedWindowMinSpanMs: 62 * 86_400_000,
  /** Retention of the coal.indicators topic. */
  indicatorsTopicRetentionMs: 30 * 86_400_000,
});

export type IndicatorTuning = { -readonly [K in keyof typeof INDICATOR_TUNING]: number };
