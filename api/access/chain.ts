/**
 * The audit trail's hash chain: the canonical form of a row, its hash, and verification.
 *
 * row_hash = hex(SHA-256(UTF-8(prev_hash + "\n" + seq + "\n" + body))), where prev_hash is the previous row's
 * row_hash (64 zeros before the first chained row) and body is the canonical JSON array
 *   [at, keyId, subscriberId, method, route, product, params, purpose, status, cellsReturned, cellsSuppressed,
 *    bytes, durationMs]
 * with: at = epoch milliseconds (an integer); absent values = null; params = canonical JSON (object keys sorted by
 * UTF-16 code units at every level, arrays in order, numbers as JavaScript prints them) — jsonb reorders keys and
 * rewrites numbers, so the stored value is re-canonicalized, never its text; durationMs = the float4 value the
 * `real` column holds (Math.fround), printed as JavaScript prints it. The database chains the hashes under the
 * head's lock (migration 019); this module builds the bodies and checks the chain.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { InputError } from '../../infra/core/index.ts';
import type { AuditRow } from './audit.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level: the same value gives the same text, whatever the key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function flatStrings(o: Record<string, unknown> | null | undefined): o is Record<string, string> {
  if (!o || Object.getPrototypeOf(o) !== Object.prototype) return false;
  for (const k in o) if (typeof o[k] !== 'string') return false;
  return true;
}

/** What is stored for a row's fields, normalized the way the columns hold them. */
export function normalizeRow(r: AuditRow): AuditRow {
  return {
    ...r,
    at: Math.round(r.at),
    // The real column keeps a float4; NaN and infinities are not durations.
    durationMs: Number.isFinite(r.durationMs) ? Math.fround(r.durationMs) : 0,
    // jsonb holds only JSON values: what JSON.stringify drops or turns into null, the stored params lack too
    // (query and route parameters are strings: those need no round trip).
    params: flatStrings(r.params)
      ? r.params
      : (JSON.parse(JSON.stringify(r.params ?? {})) as Record<string, unknown>),
  };
}

/** The canonical body of a (normalized) row. */
export function rowBody(r: AuditRow): string {
  return canonicalJson([
    r.at,
    r.keyId,
    r.subscriberId,
    r.method,
    r.route,
    r.product,
    r.params,
    r.purpose,
    r.status,
    r.cellsReturned,
    r.cellsSuppressed,
    r.bytes,
    r.durationMs === null ? null : Math.fround(r.durationMs),
  ]);
}

export function rowHash(prevHash: string, seq: string, body: string): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n${body}`, 'utf8').digest('hex');
}

export interface VerifyOptions {
  /** First time included (ISO-8601 or date); default: the earliest row. */
  from?: string;
  /** First time excluded; default: no end, and the last row must be the chain's head. */
  to?: string;
  /** Rows read per query; each page is one short query (the embedded database is one session). Default 2000. */
  pageSize?: number;
}

export interface VerifyResult {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  /** The first row (seq) whose link or hash does not hold. */
  firstBad: number | null;
  /** Why `firstBad` failed. */
  reason: string | null;
  /** The first checked row and the hash it is anchored on (its stored prev_hash; 64 zeros = the chain's start). */
  anchor: { seq: number; prevHash: string; genesis: boolean } | null;
  /** The last checked row. */
  lastSeq: number | null;
  /** Rows written before the chain existed (below its first row): not covered. */
  unchained: number;
}

/**
 * Walks the audit rows in `seq` order, page by page, and checks that each row's prev_hash is the previous row's
 * row_hash and that its row_hash is the hash of its fields. A deleted row shows as a broken link at the row after
 * it; an altered row as a wrong hash at that row; a forged row as a wrong hash or link. Without `to`, the last row
 * must also be the chain head (rows removed at the end are found).
 */
export async function verifyAudit(db: pg.Pool, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const from = opts.from ? Date.parse(opts.from) : null;
  const to = opts.to ? Date.parse(opts.to) : null;
  if ((from !== null && !Number.isFinite(from)) || (to !== null && !Number.isFinite(to)))
    throw new InputError('from/to 应为日期或 ISO-8601 时间 / from and to must be dates or ISO-8601 times');
  const pageSize = Math.max(1, opts.pageSize ?? 2000);
  const head = (await db.query(`SELECT seq, row_hash, genesis_seq FROM access_audit_chain WHERE id = 1`))
    .rows[0] as { seq: string | null; row_hash: string; genesis_seq: string | null } | undefined;
  const res: VerifyResult = {
    ok: true,
    rows: 0,
    firstBad: null,
    reason: null,
    anchor: null,
    lastSeq: null,
    unchained: 0,
  };
  const genesis = head?.genesis_seq ?? null;
  const headSeq = head?.seq ?? null;
  res.unchained = Number(
    (
      await db.query(
        `SELECT count(*)::int AS n FROM access_audit WHERE ($1::bigint IS NULL OR seq < $1)
          AND ($2::float8 IS NULL OR at >= to_timestamp($2 / 1000.0)) AND ($3::float8 IS NULL OR at < to_timestamp($3 / 1000.0))`,
        [genesis ?? '9223372036854775807', from, to],
      )
    ).rows[0].n,
  );
  if (genesis === null) return res;
  const bad = (seq: string, reason: string): VerifyResult => {
    res.ok = false;
    res.firstBad = Number(seq);
    res.reason = reason;
    return res;
  };
  // A period is the contiguous run of the chain from the first row recorded at or after `from` to the last one
  // recorded before `to`. Rows are stamped by the process that served the request and chained in the order they
  // reach the database, so a row of a neighbouring instant may sit inside that run: it is checked too.
  let lo = genesis;
  let hi: string | null = null;
  if (from !== null || to !== null) {
    const span = (
      await db.query(
        `SELECT (SELECT min(seq) FROM access_audit WHERE seq >= $1 AND at >= to_timestamp($2 / 1000.0))::text AS lo,
                (SELECT max(seq) FROM access_audit WHERE seq >= $1 AND ($3::float8 IS NULL OR at < to_timestamp($3 / 1000.0))
                   AND ($2::float8 IS NULL OR at >= to_timestamp($2 / 1000.0)))::text AS hi`,
        [genesis, from ?? 0, to],
      )
    ).rows[0] as { lo: string | null; hi: string | null };
    if (span.lo === null || span.hi === null || BigInt(span.hi) < BigInt(span.lo)) return res;
    lo = span.lo;
    if (to !== null) hi = span.hi;
  }
  let prev: string | null = null;
  let headSeen = false;
  let last: string | null = null;
  let after = String(BigInt(lo) - 1n);
  for (;;) {
    const page = await db.query(
      `SELECT seq::text AS seq, (extract(epoch FROM at) * 1000)::text AS at_ms, key_id, subscriber_id, method, route,
          product, params, purpose, status, cells_returned, cells_suppressed, bytes::text AS bytes, duration_ms,
          prev_hash, row_hash
        FROM access_audit
        WHERE seq > $1 AND ($2::bigint IS NULL OR seq <= $2)
        ORDER BY access_audit.seq LIMIT $3`,
      [after, hi, pageSize],
    );
    for (const x of page.rows as Record<string, unknown>[]) {
      const seq = x.seq as string;
      res.rows++;
      res.lastSeq = Number(seq);
      last = seq;
      const prevHash = x.prev_hash as string | null;
      if (prev === null) {
        res.anchor = { seq: Number(seq), prevHash: prevHash ?? '', genesis: prevHash === GENESIS_HASH };
        if (from === null && seq === genesis && prevHash !== GENESIS_HASH)
          return bad(seq, '链首行的前一哈希不是起点 / the chain’s first row is not anchored on the start');
      } else if (prevHash !== prev) {
        return bad(
          seq,
          '与前一行的链接断开（前一行被删除、插入或改动）/ link to the previous row broken (a row deleted, inserted or changed before it)',
        );
      }
      if (prevHash === null || x.row_hash === null) return bad(seq, '缺少哈希 / hash missing');
      const body = rowBody({
        at: Number(x.at_ms),
        keyId: x.key_id as string | null,
        subscriberId: x.subscriber_id as string | null,
        method: x.method as string,
        route: x.route as string,
        product: x.product as string | null,
        params: x.params as Record<string, unknown>,
        purpose: x.purpose as string | null,
        status: x.status as number,
        cellsReturned: x.cells_returned as number,
        cellsSuppressed: x.cells_suppressed as number,
        bytes: Number(x.bytes),
        durationMs: x.duration_ms as number,
      });
      if (rowHash(prevHash, seq, body) !== x.row_hash)
        return bad(
          seq,
          '行内容与其哈希不符（行被改动）/ the row does not match its hash (the row was changed)',
        );
      if (seq === headSeq) headSeen = x.row_hash === head!.row_hash;
      prev = x.row_hash as string;
      after = seq;
    }
    if (page.rows.length < pageSize) break;
  }
  if (to === null && headSeq !== null && !headSeen)
    return bad(
      headSeq,
      `链头第 ${headSeq} 行缺失或不符（末尾的行被删除或改动）/ the chain head, row ${headSeq}, is missing or differs (rows removed or changed at the end)`,
    );
  if (to === null && last !== null) {
    // Rows appended while this ran chain on from the head; a row beyond the head as it is now was not appended.
    const now = (await db.query(`SELECT seq::text AS seq FROM access_audit_chain WHERE id = 1`)).rows[0] as
      { seq: string | null } | undefined;
    if (now?.seq && BigInt(last) > BigInt(now.seq))
      return bad(last, '链头之后的行不是追加写入的 / a row beyond the chain head was not appended');
  }
  return res;
}
