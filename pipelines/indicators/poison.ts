/**
 * Poison records: canonical records that decode (valid by contract) but make the store step throw every time —
 * a number that overflows its column, a NUL in a text field, a value a constraint refuses. Retrying the batch
 * cannot help, and failing it redelivers it forever: the partition (and every partition whose batches shared its
 * group transaction) would stall. The consumer isolates such a record (the group's batches one by one, then the
 * batch halved until the failing record stands alone), retries it alone a bounded number of times with backoff,
 * then sends it to the dead-letter topic with its error and bytes; the rest is stored and the partition moves on.
 *
 * Only deterministic failures count: PostgreSQL data exceptions (SQLSTATE class 22), integrity violations (23),
 * program limits (54), and programming errors thrown while planning a record (TypeError, RangeError). An outage
 * (connection refused or lost, class 08, 53, 57, 58, a timeout) is not the record's fault: the batch fails and is
 * redelivered, as before, until the store answers again.
 */
import { isProgrammingError, type ConsumedRecord } from '../../infra/core/index.ts';
import type { FeedName } from '../contracts/types.ts';

/** SQLSTATE classes that say "this input can never be stored". */
const DATA_CLASSES = new Set(['22', '23', '54']);

/** The first PostgreSQL error (it has a SQLSTATE and a severity) in the cause chain, if any. */
export function sqlStateOf(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; severity?: unknown };
    if (typeof x.code === 'string' && /^[0-9A-Z]{5}$/.test(x.code) && typeof x.severity === 'string')
      return x.code;
  }
  return null;
}

/** True when the failure is the input's fault (retrying the same input fails the same way), not an outage's. */
export function isPoisonError(err: unknown): boolean {
  const state = sqlStateOf(err);
  if (state) return DATA_CLASSES.has(state.slice(0, 2));
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++)
    if (isProgrammingError(e)) return true;
  return false;
}

/** The innermost message of the cause chain (the store's own words, without the wrappers'). */
export function rootMessage(err: unknown): string {
  let msg = (err as Error)?.message ?? String(err);
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++)
    if ((e as Error).message) msg = (e as Error).message;
  return msg;
}

/** The dead letter of a poison record: what failed, where it was, how often it was tried, and its exact bytes. */
export function poisonLetter(
  feed: FeedName,
  raw: ConsumedRecord,
  recordId: string,
  err: unknown,
  attempts: number,
): { key: string; value: string; headers: Record<string, string> } {
  return {
    key: feed,
    value: JSON.stringify({
      feed,
      reason: 'indicator_store',
      message: rootMessage(err),
      sqlState: sqlStateOf(err),
      recordId,
      attempts,
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset,
      receivedAt: new Date().toISOString(),
      payloadBase64: raw.value.toString('base64'),
    }),
    headers: { 'coalflow-feed': feed, 'coalflow-reason': 'indicator_store' },
  };
}
