/**
 * The pure planners of the indicator workers: how a batch becomes a store write, and how a publication round
 * is cut into bounded units. No I/O here; unit-tested on their own.
 */
import type { CanonicalRecord, FeedName } from '../contracts/types.ts';
import { classify } from './core.ts';
import { monthStart, nextMonthStart } from './model.ts';
import type { ClaimedRow, Lane } from './outbox.ts';
import { FAR } from './publish.ts';
import { premerge, type FactItem } from './store.ts';
import { INDICATOR_TUNING } from './tuning.ts';

/** A decoded canonical record with its event time and the time ingest accepted it (for the end-to-end latency). */
export interface DecodedRecord {
  record: CanonicalRecord;
  eventMs: number;
  acceptedMs: number | null;
}

/**
 * The store write of one partition's batch, planned against the watermark read in the transaction: each
 * record's lateness class, the facts, and their deltas merged as they are made (sales summed per mine,
 * attributes, day and lateness first), so none is held through the transaction.
 */
export function planBatch(feed: FeedName, decoded: readonly DecodedRecord[], lateness: number) {
  return (prev: { maxEventMs: number }) => {
    const { classes, state } = classify(
      decoded.map((d) => d.eventMs),
      prev,
      lateness,
    );
    let max = prev.maxEventMs;
    const items: FactItem[] = decoded.map((d, i) => {
      const wm = max - lateness;
      if (d.eventMs > max) max = d.eventMs;
      return {
        record: d.record,
        eventMs: d.eventMs,
        lateness: classes[i]!,
        watermarkMs: wm,
        acceptedMs: d.acceptedMs,
      };
    });
    return { items, next: state, merged: premerge(feed, items) };
  };
}

/** Most outbox rows whose points are computed and written at once within a round. */
export const PUBLISH_SLICE_ROWS = INDICATOR_TUNING.publishSliceRows;
const PUBLISH_SLICE_MS = INDICATOR_TUNING.publishSliceMs;

/**
 * The slices of a round's claimed rows (see round()). Direct points are those of the windows a key's range
 * covers, so a range can be cut in parts without changing what is published; derived keys (forward-looking
 * metrics) are not cut, only grouped (the derived lane's rounds are small anyway).
 */
export function publishSlices(rows: readonly ClaimedRow[], lane: Lane): ClaimedRow[][] {
  const parts: ClaimedRow[] = [];
  for (const r of rows) {
    if (lane !== 'direct' || r.evTo - r.evFrom <= PUBLISH_SLICE_MS) {
      parts.push(r);
      continue;
    }
    // Cut at calendar months, so that the parts of every key for the same month are published together.
    for (let from = r.evFrom; from <= r.evTo; from = nextMonthStart(from)) {
      const to = Math.min(r.evTo, nextMonthStart(from) - 1);
      const otFrom = r.otFrom === null ? null : Math.max(r.otFrom, from);
      const otTo = r.otTo === null ? null : Math.min(r.otTo, to);
      const hourly = otFrom !== null && otTo !== null && otFrom <= otTo;
      parts.push({
        ...r,
        evFrom: from,
        evTo: to,
        otFrom: hourly ? otFrom : null,
        otTo: hourly ? otTo : null,
      });
    }
  }
  if (lane !== 'direct' || parts.length === rows.length) {
    const out: ClaimedRow[][] = [];
    for (let i = 0; i < parts.length; i += PUBLISH_SLICE_ROWS)
      out.push(parts.slice(i, i + PUBLISH_SLICE_ROWS));
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

const DERIVED_WINDOW_MIN_SPAN_MS = INDICATOR_TUNING.derivedWindowMinSpanMs;

/**
 * The day windows a derived round is computed in: one (null: unclamped) unless its rows reach back more than
 * two months before the latest data; then calendar months (Asia/Shanghai), the first open to the past (year- and
 * month-to-date windows start before it) and the last open to the future (forward-looking metrics).
 */
export function derivedWindows(
  rows: readonly Pick<ClaimedRow, 'evFrom' | 'evTo' | 'otFrom'>[],
  latestMs: number,
): ({ from: number; to: number } | null)[] {
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
  for (let m = first; m <= hi; m = nextMonthStart(m))
    out.push({ from: out.length ? m : 0, to: nextMonthStart(m) - 1 });
  out[out.length - 1]!.to = FAR;
  return out;
}
