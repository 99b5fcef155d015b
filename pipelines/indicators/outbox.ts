/**
 * The indicator outbox: which published points a store transaction made stale.
 * The consumer writes these "dirty" keys in the same transaction as the facts
 * and cells (so they are exactly as durable), and a publisher loop turns them
 * into points later, for many batches at once (`publish.ts`).
 *
 * A key is (kind, scope, scope id): `kind` is a cell name, or `rec:<feed>` for
 * inputs of derived metrics that are not cells (mine status per mine and region,
 * stock reports per region, users per sector). A key carries the event-time
 * range of the changes behind it (`ev*`), and of those that reached hourly
 * windows (`ot*`: records on time); the publisher maps the ranges to the window
 * starts of every window. Merging ranges only widens what is republished, and
 * republishing is idempotent, so any batching gives the same final values.
 */
import type {
  CoalUserRecord,
  FeedName,
  MineInventoryRecord,
  MineRecord,
  SaleRecord,
} from '../contracts/types.ts';
import type { CellDelta, Lateness } from './core.ts';
import { CITY_ID, type Scope } from './model.ts';

export interface DirtyRow {
  kind: string;
  scope: Scope;
  scopeId: string;
  /** Event-time range (ms) of the changes. */
  evFrom: number;
  evTo: number;
  /** Event-time range (ms) of the changes that reached hourly windows; null when none. */
  otFrom: number | null;
  otTo: number | null;
  /** Earliest acceptance time (ms) of the records behind the change, for the end-to-end latency. */
  acceptedMs: number | null;
}

/** A dirty row as claimed by a publisher, with its version (deleted only if unchanged). */
export interface ClaimedRow extends DirtyRow {
  ver: number;
}

export interface DirtyInput {
  record: { recordId: string };
  eventMs: number;
  lateness: Lateness;
  cells: CellDelta[];
  acceptedMs?: number | null;
}

/** The dirty keys of the records whose facts were new (pure). */
export function dirtyOf(feed: FeedName, items: readonly DirtyInput[]): DirtyRow[] {
  const acc = createDirtyAcc(feed);
  for (const it of items) acc.add(it);
  return acc.rows();
}

/** `dirtyOf` one record at a time (the record's deltas need not outlive `add`). */
export function createDirtyAcc(feed: FeedName): { add(it: DirtyInput): void; rows(): DirtyRow[] } {
  const m = new Map<string, DirtyRow>();
  const mark = (
    kind: string,
    scope: Scope,
    scopeId: string,
    t: number,
    hourly: boolean,
    acc: number | null | undefined,
  ) => {
    if (!scopeId) return;
    const k = `${kind}\u0001${scope}\u0001${scopeId}`;
    let r = m.get(k);
    if (!r) {
      r = { kind, scope, scopeId, evFrom: t, evTo: t, otFrom: null, otTo: null, acceptedMs: null };
      m.set(k, r);
    }
    if (hourly) {
      if (r.otFrom === null || t < r.otFrom) r.otFrom = t;
      if (r.otTo === null || t > r.otTo) r.otTo = t;
    } else {
      if (t < r.evFrom) r.evFrom = t;
      if (t > r.evTo) r.evTo = t;
    }
    if (acc !== null && acc !== undefined && (r.acceptedMs === null || acc < r.acceptedMs))
      r.acceptedMs = acc;
  };
  const add = (it: DirtyInput) => {
    const t = it.eventMs;
    const acc = it.acceptedMs;
    // A record's deltas come a cell and scope at a time, window after window: mark each key once per kind of range.
    let prev: CellDelta | null = null;
    for (const c of it.cells) {
      const hourly = c.win === 'hour';
      if (
        prev &&
        prev.cell === c.cell &&
        prev.scope === c.scope &&
        prev.scopeId === c.scopeId &&
        (prev.win === 'hour') === hourly
      )
        continue;
      prev = c;
      mark(c.cell, c.scope, c.scopeId, t, hourly, acc);
    }
    switch (feed) {
      case 'sales': {
        // Per-mine hours and the trailing 24 h are read from the facts: the mine's trade key carries their range.
        const r = it.record as unknown as SaleRecord;
        mark('trade', 'mine', r.mineId, t, false, acc);
        if (it.lateness !== 'too_late') mark('trade', 'mine', r.mineId, t, true, acc);
        break;
      }
      case 'mines': {
        const r = it.record as unknown as MineRecord;
        mark('rec:mines', 'mine', r.mineId, t, false, acc);
        mark('rec:mines', 'region', r.regionCode, t, false, acc);
        mark('rec:mines', 'city', CITY_ID, t, false, acc);
        break;
      }
      case 'mine_inventory': {
        const r = it.record as unknown as MineInventoryRecord;
        mark('rec:mine_inventory', 'region', r.regionCode, t, false, acc);
        mark('rec:mine_inventory', 'city', CITY_ID, t, false, acc);
        break;
      }
      case 'coal_users': {
        const r = it.record as unknown as CoalUserRecord;
        mark('rec:coal_users', 'sector', r.sector, t, false, acc);
        break;
      }
      default:
        break;
    }
  };
  return {
    add,
    rows() {
      // A key touched only hourly still needs a valid day range (the hour's day).
      for (const r of m.values()) {
        if (r.otFrom !== null) {
          if (r.otFrom < r.evFrom) r.evFrom = r.otFrom;
          if (r.otTo! > r.evTo) r.evTo = r.otTo!;
        }
      }
      return [...m.values()];
    },
  };
}

/** Merges dirty rows of the same key (ranges widened, earliest acceptance): one upsert row per key. */
export function mergeDirty(rows: readonly DirtyRow[]): DirtyRow[] {
  const m = new Map<string, DirtyRow>();
  const lo = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  const hi = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  for (const r of rows) {
    const k = `${r.kind}\u0001${r.scope}\u0001${r.scopeId}`;
    const cur = m.get(k);
    if (!cur) {
      m.set(k, { ...r });
      continue;
    }
    cur.evFrom = Math.min(cur.evFrom, r.evFrom);
    cur.evTo = Math.max(cur.evTo, r.evTo);
    cur.otFrom = lo(cur.otFrom, r.otFrom);
    cur.otTo = hi(cur.otTo, r.otTo);
    cur.acceptedMs = lo(cur.acceptedMs, r.acceptedMs);
  }
  return [...m.values()];
}

/** Family of a dirty kind (the end-to-end latency label). */
export function familyOfKind(kind: string, cellFamily: (cell: string) => string | undefined): string {
  switch (kind) {
    case 'rec:mines':
      return 'production';
    case 'rec:mine_inventory':
      return 'inventory';
    case 'rec:coal_users':
      return 'days_of_stock';
    default:
      return cellFamily(kind) ?? 'other';
  }
}

// ---------------------------------------------------------------- SQL

/** Upsert of dirty rows, each in both lanes; $1..$8 arrays, $9 now (ms). Used as a CTE of the store transaction. */
export const DIRTY_UPSERT_SQL = (p: number) => `
  INSERT INTO ind_dirty (lane, kind, scope, scope_id, ev_from, ev_to, ot_from, ot_to, accepted_ms, first_dirty_ms, ver)
  SELECT l.lane, u.k, u.s, u.i, u.ef, u.et, u.of, u.ot, u.acc, $${p + 8}::bigint, nextval('ind_dirty_ver')
  FROM unnest($${p}::text[], $${p + 1}::text[], $${p + 2}::text[], $${p + 3}::bigint[], $${p + 4}::bigint[], $${p + 5}::bigint[], $${p + 6}::bigint[], $${p + 7}::bigint[]) AS u(k, s, i, ef, et, of, ot, acc)
  CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS l(lane)
  ON CONFLICT (lane, kind, scope, scope_id) DO UPDATE SET
    ev_from = LEAST(ind_dirty.ev_from, excluded.ev_from), ev_to = GREATEST(ind_dirty.ev_to, excluded.ev_to),
    ot_from = LEAST(ind_dirty.ot_from, excluded.ot_from), ot_to = GREATEST(ind_dirty.ot_to, excluded.ot_to),
    accepted_ms = LEAST(ind_dirty.accepted_ms, excluded.accepted_ms), ver = excluded.ver
  RETURNING 1`;

/** Publication lanes (migration 006): direct = the cells' own points; derived = trailing windows and derived metrics. */
export const LANES = { direct: 0, derived: 1 } as const;
export type Lane = keyof typeof LANES;

/** The 9 parameters of DIRTY_UPSERT_SQL. */
export function dirtyParams(rows: readonly DirtyRow[], nowMs: number): unknown[] {
  return [
    rows.map((r) => r.kind),
    rows.map((r) => r.scope),
    rows.map((r) => r.scopeId),
    rows.map((r) => r.evFrom),
    rows.map((r) => r.evTo),
    rows.map((r) => r.otFrom),
    rows.map((r) => r.otTo),
    rows.map((r) => r.acceptedMs),
    nowMs,
  ];
}

/**
 * Claims up to $3 unleased dirty rows of lane $5 (oldest first) for $4 ms under owner $2
 * ($1 = now, ms), and takes the snapshot version with the claim, before any read.
 */
export const CLAIM_SQL = `
WITH c AS (
  SELECT lane, kind, scope, scope_id, accepted_ms FROM ind_dirty WHERE lane = $5 AND lease_until < $1 ORDER BY first_dirty_ms LIMIT $3 FOR UPDATE SKIP LOCKED
), u AS (
  -- The acceptance time leaves with the claim: a change arriving meanwhile starts a new one.
  UPDATE ind_dirty d SET lease_until = $1 + $4, lease_owner = $2, accepted_ms = NULL
  FROM c WHERE d.lane = c.lane AND d.kind = c.kind AND d.scope = c.scope AND d.scope_id = c.scope_id
  RETURNING d.kind, d.scope, d.scope_id, d.ev_from, d.ev_to, d.ot_from, d.ot_to, c.accepted_ms, d.ver
)
SELECT u.*, (SELECT nextval('ind_version')) AS version FROM u`;

/**
 * After publication: deletes the claimed rows (lane $6) whose version did not move (no
 * change since the claim) and releases the lease of the others, which stay dirty.
 */
export const FINISH_SQL = `
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(kind, scope, scope_id, ver)),
del AS (
  DELETE FROM ind_dirty d USING k WHERE d.lane = $6 AND d.kind = k.kind AND d.scope = k.scope AND d.scope_id = k.scope_id AND d.ver = k.ver RETURNING 1)
UPDATE ind_dirty d SET lease_until = 0, lease_owner = NULL FROM k
WHERE d.lane = $6 AND d.kind = k.kind AND d.scope = k.scope AND d.scope_id = k.scope_id AND d.ver <> k.ver AND d.lease_owner = $5`;

/** Extends the leases of owner $2 in lane $3 to $1 (ms) while its round runs. */
export const RENEW_SQL = `UPDATE ind_dirty SET lease_until = $1 WHERE lease_owner = $2 AND lane = $3`;

/** Gives up a lease (a failed publication): the rows are claimable again at once. */
export const RELEASE_SQL = `UPDATE ind_dirty SET lease_until = 0, lease_owner = NULL WHERE lease_owner = $1`;

export function claimedOf(x: Record<string, unknown>): ClaimedRow {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    kind: String(x.kind),
    scope: x.scope as Scope,
    scopeId: String(x.scope_id),
    evFrom: Number(x.ev_from),
    evTo: Number(x.ev_to),
    otFrom: n(x.ot_from),
    otTo: n(x.ot_to),
    acceptedMs: n(x.accepted_ms),
    ver: Number(x.ver),
  };
}
