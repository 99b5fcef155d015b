/**
 * The audit trail and metering. Each request appends one row to `access_audit` (never updated or deleted by the
 * application) and adds to `access_usage_daily`, in one transaction per batch, so the usage the bill reads always
 * equals the audited requests. Rows take `seq` from one sequence in the order they were recorded, and each carries
 * the hash of the row before it (`chain.ts`): one chain over `seq` order, also with several API processes.
 */
import type pg from 'pg';
import { InputError, type Logger } from '../../infra/core/index.ts';
import { normalizeRow, rowBody } from './chain.ts';

export interface AuditRow {
  at: number;
  keyId: string | null;
  subscriberId: string | null;
  method: string;
  route: string;
  product: string | null;
  params: Record<string, unknown>;
  purpose: string | null;
  status: number;
  cellsReturned: number;
  cellsSuppressed: number;
  bytes: number;
  durationMs: number;
}

/** The shortest retention the audit trail may be given, days (6 months). */
export const MIN_AUDIT_RETENTION_DAYS = 183;
export const DEFAULT_AUDIT_RETENTION_DAYS = 3 * 365;

const CST_MS = 8 * 3600_000;
const DAY_MS = 86_400_000;
/** The last day computed: every request of a day asks for the same one (no Date per call). */
let dayCache = { from: 0, to: 0, day: '' };
export function cstDay(ms: number): string {
  if (ms >= dayCache.from && ms < dayCache.to) return dayCache.day;
  const from = Math.floor((ms + CST_MS) / DAY_MS) * DAY_MS - CST_MS;
  const day = new Date(ms + CST_MS).toISOString().slice(0, 10);
  if (Number.isFinite(from)) dayCache = { from, to: from + DAY_MS, day };
  return day;
}

export interface AuditWriterOptions {
  /** Longest a row waits before it is written, ms. Default 500. */
  flushMs?: number;
  /** Rows written at once at most. Default 2000. */
  maxBatch?: number;
  /**
   * Most rows waiting (the database down): at this many the access layer refuses requests with 503 instead of
   * serving them unaudited, and the rows of those refusals are counted in the log, not kept. Default 50000.
   */
  maxPending?: number;
}

export function createAuditWriter(db: pg.Pool, log: Logger, opts: AuditWriterOptions = {}) {
  const flushMs = opts.flushMs ?? 500;
  const maxBatch = opts.maxBatch ?? 2000;
  const maxPending = opts.maxPending ?? 50_000;
  let dropped = 0;
  let droppedLogAt = 0;
  let queue: AuditRow[] = [];
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  /** One statement (atomic by itself, one round trip): the audit rows, and the usage they add. */
  async function write(rows: AuditRow[]): Promise<void> {
    // Metering counts served calls (status < 400) of subscribers, per product and CST day.
    const usage = new Map<
      string,
      { s: string; p: string; d: string; calls: number; rows: number; bytes: number }
    >();
    for (const r of rows) {
      if (!r.subscriberId || !r.product || r.status >= 400) continue;
      const d = cstDay(r.at);
      const k = `${r.subscriberId}\u0001${r.product}\u0001${d}`;
      const u =
        usage.get(k) ??
        usage.set(k, { s: r.subscriberId, p: r.product, d, calls: 0, rows: 0, bytes: 0 }).get(k)!;
      u.calls++;
      u.rows += r.cellsReturned;
      u.bytes += r.bytes;
    }
    const us = [...usage.values()];
    // The bodies are hashed in the database, chained under the head's lock (migration 019; api/access/chain.ts).
    const norm = rows.map(normalizeRow);
    await db.query(
      `SELECT access_audit_append($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::int[], $11::int[], $12::bigint[], $13::real[], $14::text[],
        $15::text[], $16::text[], $17::date[], $18::bigint[], $19::bigint[], $20::bigint[])`,
      [
        norm.map((r) => r.at),
        norm.map((r) => r.keyId),
        norm.map((r) => r.subscriberId),
        norm.map((r) => r.method),
        norm.map((r) => r.route),
        norm.map((r) => r.product),
        norm.map((r) => JSON.stringify(r.params)),
        norm.map((r) => r.purpose),
        norm.map((r) => r.status),
        norm.map((r) => r.cellsReturned),
        norm.map((r) => r.cellsSuppressed),
        norm.map((r) => r.bytes),
        norm.map((r) => r.durationMs),
        norm.map(rowBody),
        us.map((u) => u.s),
        us.map((u) => u.p),
        us.map((u) => u.d),
        us.map((u) => u.calls),
        us.map((u) => u.rows),
        us.map((u) => u.bytes),
      ],
    );
  }

  function drain(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    running = running.then(async () => {
      while (queue.length) {
        const rows = queue.slice(0, maxBatch);
        try {
          await write(rows);
          queue = queue.slice(rows.length);
        } catch (err) {
          // Kept in the queue and retried on the next flush: an audit row is never dropped silently.
          log.error({ err: (err as Error).message, rows: rows.length }, 'audit write failed');
          if (!closed) {
            timer ??= setTimeout(drain, 1000);
            timer.unref();
          }
          return;
        }
      }
    });
    return running;
  }

  return {
    record(row: AuditRow): void {
      if (queue.length >= maxPending) {
        // Only refusals get here (the access layer serves nothing while the queue is full): bounded memory.
        dropped++;
        if (Date.now() - droppedLogAt > 10_000) {
          droppedLogAt = Date.now();
          log.error(
            { dropped, pending: queue.length },
            'audit queue full: rows of refused requests not kept',
          );
        }
        return;
      }
      queue.push(row);
      if (queue.length >= maxBatch) void drain();
      else if (!timer) {
        timer = setTimeout(drain, flushMs);
        timer.unref();
      }
    },
    /** Writes every queued row; resolves when they are stored. */
    flush: drain,
    pending: () => queue.length,
    /** True when the queue is full: serve nothing more until it drains. */
    full: () => queue.length >= maxPending,
    async close(): Promise<void> {
      closed = true;
      await drain();
    },
  };
}
export type AuditWriter = ReturnType<typeof createAuditWriter>;

export interface AuditQuery {
  subscriberId?: string;
  from?: string;
  to?: string;
  limit?: number;
  afterSeq?: string;
}

/** Longest period one audit query may span, days. */
export const AUDIT_MAX_RANGE_DAYS = 366;

export async function queryAudit(db: pg.Pool, q: AuditQuery) {
  const from = q.from ? Date.parse(q.from) : Date.now() - 30 * 86_400_000;
  const to = q.to ? Date.parse(q.to) : Date.now() + 60_000;
  if (!Number.isFinite(from) || !Number.isFinite(to))
    throw new InputError('from/to 应为日期或 ISO-8601 时间 / from and to must be dates or ISO-8601 times');
  if (from > to) throw new InputError('from 晚于 to / from is after to');
  if (to - from > AUDIT_MAX_RANGE_DAYS * 86_400_000)
    throw new InputError(
      `时间范围过长（最多 ${AUDIT_MAX_RANGE_DAYS} 天，请分段查询）/ range too long (at most ${AUDIT_MAX_RANGE_DAYS} days; query in parts)`,
    );
  const limit = Math.min(Math.max(q.limit ?? 1000, 1), 10_000);
  const r = await db.query(
    `SELECT seq, at, key_id, subscriber_id, method, route, product, params, purpose, status, cells_returned, cells_suppressed, bytes, duration_ms
    FROM access_audit WHERE at >= to_timestamp($1 / 1000.0) AND at < to_timestamp($2 / 1000.0) AND ($3::text IS NULL OR subscriber_id = $3)
      AND ($5::bigint IS NULL OR seq > $5) ORDER BY seq LIMIT $4`,
    [from, to, q.subscriberId ?? null, limit, q.afterSeq ?? null],
  );
  return r.rows.map((x) => ({
    seq: String(x.seq),
    at: new Date(x.at).toISOString(),
    keyId: x.key_id,
    subscriberId: x.subscriber_id,
    method: x.method,
    route: x.route,
    product: x.product,
    params: x.params,
    purpose: x.purpose,
    status: x.status,
    cellsReturned: x.cells_returned,
    cellsSuppressed: x.cells_suppressed,
    bytes: Number(x.bytes),
    durationMs: x.duration_ms,
  }));
}

/** Sets the audit retention; refuses less than 6 months. */
export async function setAuditRetention(db: pg.Pool, days: number): Promise<void> {
  if (!(Number.isInteger(days) && days >= MIN_AUDIT_RETENTION_DAYS)) {
    throw new InputError(
      `审计保留期不得少于 ${MIN_AUDIT_RETENTION_DAYS} 天（6 个月）/ audit retention must be at least ${MIN_AUDIT_RETENTION_DAYS} days (6 months)`,
    );
  }
  await db.query(`SELECT remove_retention_policy('access_audit', if_exists => TRUE)`);
  await db.query(`SELECT add_retention_policy('access_audit', make_interval(days => $1))`, [days]);
}
