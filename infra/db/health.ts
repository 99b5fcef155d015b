/**
 * Watches whether the database answers: one `SELECT 1` at a time, every `intervalMs`. A probe that fails, or
 * has not answered after `timeoutMs` (a hung server: the query waits, nothing fails), marks the database down;
 * the next answer marks it up again. The API reads the state to mark what it serves from Redis as stale, and
 * `/healthz` reports the outage. Never more than one probe waits, so a hung server costs one queued query.
 */
import type pg from 'pg';
import type { Logger, StoreHealth } from '../core/index.ts';

export interface DbHealthOptions {
  /** Time between probes, ms. Default 1000. */
  intervalMs?: number;
  /**
   * A probe unanswered after this long marks the database down, ms. Default 10000: the embedded server is one
   * session, and on a loaded machine a probe can wait seconds behind a long transaction of a healthy one.
   */
  timeoutMs?: number;
}

export interface DbHealth extends StoreHealth {
  /** Marks the database down at once (its process was seen to die); the next answer marks it up. */
  markDown(reason: string): void;
  stop(): void;
}

export function watchDb(db: pg.Pool, log: Logger, opts: DbHealthOptions = {}): DbHealth {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let downSince: number | null = null;
  let last: { from: number; to: number } | null = null;
  let pending = false;
  let stopped = false;
  const down = (reason: string) => {
    if (downSince !== null) return;
    downSince = Date.now();
    log.error({ reason }, 'database unavailable: workers pause, the API serves Redis snapshots marked stale');
  };
  const upAgain = () => {
    if (downSince === null) return;
    last = { from: downSince, to: Date.now() };
    downSince = null;
    log.warn({ outageMs: last.to - last.from }, 'database available again');
  };
  const probe = () => {
    if (pending || stopped) return;
    pending = true;
    const timer = setTimeout(() => down(`no answer within ${timeoutMs} ms`), timeoutMs);
    db.query('SELECT 1').then(
      () => {
        clearTimeout(timer);
        pending = false;
        if (!stopped) upAgain();
      },
      (err: Error) => {
        clearTimeout(timer);
        pending = false;
        if (!stopped) down(err.message);
      },
    );
  };
  const every = setInterval(probe, intervalMs);
  every.unref();
  return {
    db: () => (downSince === null ? 'up' : 'down'),
    dbDownSince: () => downSince,
    lastDbOutage: () => last,
    markDown: down,
    stop() {
      stopped = true;
      clearInterval(every);
    },
  };
}
