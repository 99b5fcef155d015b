/**
 * What a client saw of a service over time, for `/healthz`: whether its last operation succeeded, since when,
 * the last error, and the outages it went through (from the first failure to the next success). A probe at
 * `/healthz` only says "now"; this says what happened meanwhile — e.g. the broker was down from 10:02:11 to
 * 10:02:39 and why. Fed by the adapter's own operations (produce, consumer heartbeats and crashes) and probes.
 */
export type HealthState = 'ok' | 'down';

export interface Outage {
  from: string;
  /** null while it lasts. */
  to: string | null;
  ms: number;
  /** Failures seen during it, and the last one's message. */
  failures: number;
  error: string;
}

export interface HealthSnapshot {
  state: HealthState;
  /** When the current state began (ISO). */
  since: string;
  lastError: { message: string; at: string } | null;
  /** The most recent outages, newest last (at most `keep`), the current one included. */
  outages: Outage[];
}

export interface HealthTracker {
  ok(): void;
  fail(err: unknown): void;
  snapshot(): HealthSnapshot;
}

export function createHealthTracker(opts: { keep?: number; now?: () => number } = {}): HealthTracker {
  const keep = opts.keep ?? 10;
  const now = opts.now ?? Date.now;
  let state: HealthState = 'ok';
  let since = now();
  let lastError: { message: string; at: number } | null = null;
  const outages: { from: number; to: number | null; failures: number; error: string }[] = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    ok() {
      if (state === 'ok') return;
      const t = now();
      outages.at(-1)!.to = t;
      state = 'ok';
      since = t;
    },
    fail(err) {
      const t = now();
      const message = ((err as Error)?.message ?? String(err)).slice(0, 500);
      lastError = { message, at: t };
      if (state === 'down') {
        const o = outages.at(-1)!;
        o.failures++;
        o.error = message;
        return;
      }
      state = 'down';
      since = t;
      outages.push({ from: t, to: null, failures: 1, error: message });
      if (outages.length > keep) outages.shift();
    },
    snapshot() {
      const t = now();
      return {
        state,
        since: iso(since),
        lastError: lastError && { message: lastError.message, at: iso(lastError.at) },
        outages: outages.map((o) => ({
          from: iso(o.from),
          to: o.to === null ? null : iso(o.to),
          ms: (o.to ?? t) - o.from,
          failures: o.failures,
          error: o.error,
        })),
      };
    },
  };
}
