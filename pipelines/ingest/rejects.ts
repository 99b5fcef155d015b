/**
 * Operator access to rejected records: list (payload masked: 原始数据不出域),
 * and replay after fixing, which re-validates through the same ingest path.
 */
import type { Deps } from '../../infra/core/index.ts';
import { toIsoCst } from '../contracts/parse.ts';
import type { FeedName } from '../contracts/types.ts';
import type { ItemResult } from './batch.ts';
import { ingestContext } from './context.ts';
import { ingestRecords, isFeed } from './ingest.ts';

export interface RejectView {
  id: string;
  feed: string;
  reason: string;
  message: string;
  source: string;
  receivedAt: string;
  status: 'open' | 'replayed' | 'duplicate';
  resolvedRecordId?: string;
  /** Source field names of the original record. */
  fields: string[];
  /** The original record with personal fields and patterns masked. */
  payload: unknown;
}

export interface RejectQuery {
  feed?: string;
  reason?: string;
  status?: string;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Rows with an id below this (paging, newest first). */
  beforeId?: string;
}

function view(deps: Deps, row: Record<string, unknown>): RejectView {
  const d = ingestContext(deps).desensitizer;
  const feed = isFeed(String(row.feed)) ? (row.feed as FeedName) : null;
  const raw = row.payload ?? row.payload_text;
  const fields = raw && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw) : [];
  const v: RejectView = {
    id: String(row.id),
    feed: String(row.feed),
    reason: String(row.reason),
    message: String(row.message),
    source: String(row.source),
    receivedAt: toIsoCst(new Date(row.received_at as string).getTime()),
    status: row.status as RejectView['status'],
    fields,
    payload: d.maskPayload(feed, raw),
  };
  if (row.resolved_record_id) v.resolvedRecordId = String(row.resolved_record_id);
  return v;
}

export async function listRejects(deps: Deps, q: RejectQuery = {}): Promise<RejectView[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (q.feed) add('feed = ?', q.feed);
  if (q.reason) add('reason = ?', q.reason);
  if (q.status) add('status = ?', q.status);
  if (q.beforeId) add('id < ?::bigint', q.beforeId);
  const limit = Math.max(1, Math.min(1000, q.limit ?? 100));
  const res = await deps.db.query(
    `SELECT * FROM ingest_rejects ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
    args,
  );
  return res.rows.map((r) => view(deps, r));
}

export async function getReject(deps: Deps, id: string): Promise<RejectView | null> {
  if (!/^\d{1,18}$/.test(id)) return null;
  const res = await deps.db.query('SELECT * FROM ingest_rejects WHERE id = $1::bigint', [id]);
  return res.rowCount ? view(deps, res.rows[0]) : null;
}

export type ReplayOutcome =
  | { found: false }
  | { found: true; conflict: true; status: RejectView['status'] }
  | {
      found: true;
      conflict: false;
      status: RejectView['status'];
      result: ItemResult;
      /** Patch keys ignored: they held the masked view. */ keptMasked: string[];
    };

/** Stored originals show NUL as U+2400 (text cannot hold NUL): on replay it is NUL again, so it is refused again. */
function restoreNul(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return v.replace(/\u2400/g, '\u0000');
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => restoreNul(x, depth + 1));
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, x]) => [
      restoreNul(k, depth + 1) as string,
      restoreNul(x, depth + 1),
    ]),
  );
}

/**
 * The record a replay submits: the original held in the domain with the
 * operator's fix applied as a patch (keys set, `null` removes a key). A patch
 * value equal to what the operator was shown masked (or holding `**` where the
 * view was masked) keeps the original value: a masked value never re-enters as data. An original that is not a JSON
 * object (text that did not decode) is replaced by the fix.
 */
export function patchedRecord(
  deps: Deps,
  feed: FeedName,
  original: unknown,
  fix: unknown,
): { record: unknown; keptMasked: string[] } {
  const keptMasked: string[] = [];
  if (fix === undefined) return { record: restoreNul(original), keptMasked };
  if (original === null || typeof original !== 'object' || Array.isArray(original))
    return { record: fix, keptMasked };
  if (fix === null || typeof fix !== 'object' || Array.isArray(fix)) return { record: fix, keptMasked };
  const orig = restoreNul(original) as Record<string, unknown>;
  const shown = ingestContext(deps).desensitizer.maskPayload(feed, original) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...orig };
  for (const [key, value] of Object.entries(fix as Record<string, unknown>)) {
    if (value === null) {
      delete out[key];
      continue;
    }
    const maskedKey = key in orig && JSON.stringify(shown[key]) !== JSON.stringify(orig[key]);
    if (
      maskedKey &&
      (JSON.stringify(value) === JSON.stringify(shown[key]) ||
        (typeof value === 'string' && value.includes('**')))
    ) {
      keptMasked.push(key);
      continue;
    }
    out[key] = value;
  }
  return { record: out, keptMasked };
}

/**
 * Replays a rejected record: the stored original, patched with the operator's
 * fix when one is given (see `patchedRecord`), e.g. only `{"净重": 30}`, or as
 * stored after the mine registry learned a missing region.
 * Accepted: the reject is marked `replayed`; a duplicate marks it `duplicate`;
 * rejected again: it stays open and the new reason is returned.
 */
export async function replayReject(deps: Deps, id: string, fix?: unknown): Promise<ReplayOutcome> {
  if (!/^\d{1,18}$/.test(id)) return { found: false };
  const res = await deps.db.query('SELECT * FROM ingest_rejects WHERE id = $1::bigint', [id]);
  if (!res.rowCount) return { found: false };
  const row = res.rows[0];
  if (row.status !== 'open') return { found: true, conflict: true, status: row.status };
  const feed = String(row.feed);
  if (!isFeed(feed)) return { found: true, conflict: true, status: row.status };
  const { record, keptMasked } = patchedRecord(deps, feed, row.payload ?? row.payload_text, fix);
  const out = await ingestRecords(deps, feed, [record], 'http', {
    runId: `replay-${id}-${Date.now()}`,
    recordRejects: false,
  });
  const result = out.results[0]!;
  const status: RejectView['status'] =
    result.status === 'accepted' ? 'replayed' : result.status === 'duplicate' ? 'duplicate' : 'open';
  if (status !== 'open') {
    await deps.db.query(
      `UPDATE ingest_rejects SET status = $2, resolved_at = now(), resolved_record_id = $3 WHERE id = $1::bigint AND status = 'open'`,
      [id, status, result.recordId ?? null],
    );
  }
  return { found: true, conflict: false, status, result, keptMasked };
}
