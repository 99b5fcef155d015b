import { isProgrammingError, CoalflowError } from './errors.ts';

export interface RetryOptions {
  /** Attempts in total, including the first. Default 5. */
  attempts?: number;
  /** First delay in ms, doubled each attempt. Default 100 ms. */
  initialDelayMs?: number;
  /** Upper bound on one delay, ms. Default 5000 ms. */
  maxDelayMs?: number;
  /** Called before each retry (for logs/metrics). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export class BailError extends Error {
  constructor(readonly inner: unknown) {
    super('bail');
  }
}

/**
 * Exponential backoff with full jitter. `bail(err)` stops at once; programming
 * errors and non-retriable CoalflowErrors are never retried.
 */
export async function retry<T>(
  fn: (bail: (err: unknown) => never, attempt: number) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const initial = opts.initialDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 5000;
  const bail = (err: unknown): never => {
    throw new BailError(err);
  };
  let lastErr: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await fn(bail, attempt);
    } catch (err) {
      if (err instanceof BailError) throw err.inner;
      if (isProgrammingError(err)) throw err;
      if (err instanceof CoalflowError && !err.retriable) throw err;
      lastErr = err;
      if (attempt === attempts) break;
      const delayMs = Math.round(Math.random() * Math.min(max, initial * 2 ** (attempt - 1)));
      opts.onRetry?.(err, attempt, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
  throw lastErr;
}
