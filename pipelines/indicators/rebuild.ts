/**
 * Rebuilds the "latest" snapshots (Redis) from the store. The embedded default
 * keeps them in ioredis-mock, which a restart empties, and a real Redis may have
 * been flushed: until the next publication of every key, "latest" would be
 * empty. The rebuild makes a dirty row of every key with data (cells, sales
 * hours, the inputs of the derived metrics) at its latest window, computes
 * their points as a publication round does, and writes them under one snapshot
 * version taken before any read, so a publication racing with it keeps its own
 * newer points: "latest" never moves backwards (sinks/redis.ts).
 */
import type { Deps } from '../../infra/core/index.ts';
import { createRedisSink, latestEntry, redisKeys, type LatestEntry } from './snapshots.ts';
import { CITY_ID, type Family, type Scope } from './model.ts';
import type { DirtyRow } from './outbox.ts';
import { computeDirty } from './publish.ts';

export interface RebuildOptions {
  /** Rebuild even when the cache holds the mark of a previous rebuild. Default false. */
  force?: boolean;
  /** Only keys with data in the last `lookbackDays` before the latest data. Default 45. */
  lookbackDays?: number;
  /** Dirty rows per computation. Default 1000. */
  chunkRows?: number;
}

export interface RebuildResult {
  skipped: boolean;
  keys: number;
  points: number;
  ms: number;
}

/** Set by a rebuild; gone with an emptied cache (a restarted ioredis-mock, a flushed Redis). */
export const rebuiltMark = (prefix: string) => `coalflow:${prefix}latest-rebuilt`;

const ms = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** Every key with data at its latest window, as dirty rows. */
export async function latestDirtyRows(db: Deps['db'], lookbackDays = 45): Promise<DirtyRow[]> {
  const latest = await db.query(
    `SELECT (extract(epoch FROM max(window_start)) * 1000)::float8 AS t FROM ind_cell WHERE win = 'day'`,
  );
  const top = ms(latest.rows[0]?.t);
  if (top === null) return [];
  const cut = new Date(top - lookbackDays * 86_400_000).toISOString();
  const rows: DirtyRow[] = [];
  const row = (kind: string, scope: Scope, scopeId: string, ev: number, hour: number | null): DirtyRow => ({
    kind,
    scope,
    scopeId,
    evFrom: ev,
    evTo: ev,
    otFrom: hour,
    otTo: hour,
    acceptedMs: null,
  });
  const cells = await db.query(
    `
    SELECT cell, scope, scope_id,
      (extract(epoch FROM max(window_start) FILTER (WHERE win = 'day')) * 1000)::float8 AS day_ms,
      (extract(epoch FROM max(window_start) FILTER (WHERE win = 'hour')) * 1000)::float8 AS hour_ms,
      (extract(epoch FROM max(window_start) FILTER (WHERE win = 'mtd')) * 1000)::float8 AS month_ms
    FROM ind_cell WHERE (win IN ('day', 'hour') AND window_start >= $1) OR (win = 'mtd' AND window_start >= $1::timestamptz - interval '31 days')
    GROUP BY 1, 2, 3`,
    [cut],
  );
  const hours = await db.query(
    `
    SELECT mine_id, (extract(epoch FROM max(hour)) * 1000)::float8 AS hour_ms FROM ind_sales_hour WHERE hour >= $1 GROUP BY 1`,
    [cut],
  );
  const mineHour = new Map(hours.rows.map((r) => [String(r.mine_id), Number(r.hour_ms)]));
  for (const r of cells.rows) {
    const day = ms(r.day_ms);
    let hour = ms(r.hour_ms);
    if (r.cell === 'trade' && r.scope === 'mine') hour = mineHour.get(String(r.scope_id)) ?? hour;
    // Cells of monthly reports have month windows only.
    const ev = day ?? hour ?? ms(r.month_ms);
    if (ev === null) continue;
    rows.push(
      row(String(r.cell), r.scope as Scope, String(r.scope_id), hour !== null && hour > ev ? hour : ev, hour),
    );
  }
  // Inputs of derived metrics that are not cells (outbox.ts marks them per record).
  const recs: { kind: string; sql: string; scopes: [Scope, string | null][] }[] = [
    {
      kind: 'rec:mines',
      sql: `SELECT mine_id AS a, region_code AS b, (extract(epoch FROM max(event_time)) * 1000)::float8 AS t FROM fact_mines WHERE event_time >= $1 GROUP BY 1, 2`,
      scopes: [
        ['mine', 'a'],
        ['region', 'b'],
        ['city', null],
      ],
    },
    {
      kind: 'rec:mine_inventory',
      sql: `SELECT region_code AS b, (extract(epoch FROM max(event_time)) * 1000)::float8 AS t FROM fact_mine_inventory WHERE event_time >= $1 GROUP BY 1`,
      scopes: [
        ['region', 'b'],
        ['city', null],
      ],
    },
    {
      kind: 'rec:coal_users',
      sql: `SELECT sector AS a, (extract(epoch FROM max(event_time)) * 1000)::float8 AS t FROM fact_coal_users WHERE event_time >= $1 GROUP BY 1`,
      scopes: [['sector', 'a']],
    },
  ];
  for (const rec of recs) {
    const latestOf = new Map<string, DirtyRow>();
    for (const r of (await db.query(rec.sql, [cut])).rows) {
      const t = Number(r.t);
      for (const [scope, col] of rec.scopes) {
        const id = col === null ? CITY_ID : String(r[col] ?? '');
        if (!id) continue;
        const k = `${scope}\u0001${id}`;
        const cur = latestOf.get(k);
        if (!cur || t > cur.evTo) latestOf.set(k, row(rec.kind, scope, id, t, null));
      }
    }
    rows.push(...latestOf.values());
  }
  return rows;
}

type SnapDeps = Pick<Deps, 'db' | 'redis' | 'config' | 'log'>;

/**
 * Saves every "latest" snapshot into `latest_snapshot` (a graceful stop of a process whose cache does not
 * persist itself, after its publishers drained). Returns how many.
 */
export async function saveLatest(deps: SnapDeps): Promise<number> {
  const base = `coalflow:${deps.config.topicPrefix}latest:`;
  const keys = (await deps.redis.keys(`${base}*`)).filter((k) => !k.endsWith('latest-rebuilt'));
  await deps.db.query('DELETE FROM latest_snapshot');
  for (let i = 0; i < keys.length; i += 2000) {
    const part = keys.slice(i, i + 2000);
    const pipe = deps.redis.pipeline();
    for (const k of part) pipe.hmget(k, 'ws', 'ver', 'json');
    const rows = ((await pipe.exec()) ?? [])
      .map(([, v], j) => [part[j]!, ...(v as (string | null)[])] as const)
      .filter((r) => r[1] !== null && r[3] !== null);
    await deps.db.query(
      `INSERT INTO latest_snapshot (key, ws, ver, json) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) ON CONFLICT (key) DO NOTHING`,
      [
        rows.map((r) => r[0].slice(base.length)),
        rows.map((r) => r[1]),
        rows.map((r) => r[2]),
        rows.map((r) => r[3]),
      ],
    );
  }
  deps.log.info({ snapshots: keys.length }, 'latest snapshots saved');
  return keys.length;
}

/** Loads the snapshots a graceful stop saved (and empties the table: a later crash must not load stale ones). */
async function restoreSaved(deps: SnapDeps): Promise<number> {
  const keys = redisKeys(deps.config.topicPrefix);
  const base = `coalflow:${deps.config.topicPrefix}latest:`;
  const r = await deps.db.query('SELECT key, ws::text, ver::text, json FROM latest_snapshot');
  for (let i = 0; i < r.rows.length; i += 2000) {
    const pipe = deps.redis.pipeline();
    for (const row of r.rows.slice(i, i + 2000)) {
      const p = JSON.parse(String(row.json)) as {
        family: string;
        scope: string;
        scopeId: string;
        metric: string;
        window: string;
      };
      pipe.hset(`${base}${row.key}`, 'ws', String(row.ws), 'ver', String(row.ver), 'json', String(row.json));
      pipe.sadd(keys.idx(p.family, p.scope, p.scopeId), `${p.metric}:${p.window}`);
      pipe.sadd(keys.ids(p.family, p.scope), p.scopeId);
      // Readers keep snapshots per family generation: a loaded snapshot is a change.
      pipe.incr(keys.gen(p.family));
    }
    for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
  }
  if (r.rows.length) await deps.db.query('DELETE FROM latest_snapshot');
  return r.rows.length;
}

/**
 * Gives an emptied cache (the mark of a rebuild is gone) its "latest" snapshots before the API reports
 * healthy: those a graceful stop saved, else recomputed from the store. Run before the publishers start
 * (loading saved snapshots writes them as they are).
 */
export async function rebuildLatest(
  deps: Pick<Deps, 'db' | 'redis' | 'metrics' | 'config' | 'log'>,
  opts: RebuildOptions = {},
): Promise<RebuildResult> {
  const t0 = performance.now();
  const mark = rebuiltMark(deps.config.topicPrefix);
  if (!opts.force && (await deps.redis.exists(mark))) return { skipped: true, keys: 0, points: 0, ms: 0 };
  if (!opts.force) {
    const restored = await restoreSaved(deps);
    if (restored) {
      await deps.redis.set(mark, String(Date.now()));
      const result = {
        skipped: false,
        keys: restored,
        points: restored,
        ms: Math.round(performance.now() - t0),
      };
      deps.log.info(result, 'latest snapshots loaded from the last stop');
      return result;
    }
  }
  // The version before any read: a publication claimed after it wins on the same window (it read later).
  const version = Number((await deps.db.query(`SELECT nextval('ind_version') AS v`)).rows[0].v);
  const rows = await latestDirtyRows(deps.db, opts.lookbackDays);
  const sink = createRedisSink(deps);
  const chunk = opts.chunkRows ?? 1000;
  let points = 0;
  for (const lane of ['direct', 'derived'] as const) {
    for (let i = 0; i < rows.length; i += chunk) {
      const pts = await computeDirty(deps.db, rows.slice(i, i + chunk), { lane });
      points += pts.length;
      await sink.write(pts, { version, live: false });
    }
  }
  await deps.redis.set(mark, String(Date.now()));
  const result = { skipped: false, keys: rows.length, points, ms: Math.round(performance.now() - t0) };
  deps.log.info(result, 'latest snapshots rebuilt from the store');
  return result;
}

/**
 * "Latest" of one family and scope (one entity with `id`) computed from the store, as a rebuild computes it:
 * what the API serves while Redis is down. Only the scope's own keys are computed (and, for sales, the mines'
 * hours behind every scope's hourly points), each series at its newest window.
 */
export async function latestFromStore(
  db: Deps['db'],
  family: Family,
  scope: Scope,
  id?: string,
): Promise<LatestEntry[]> {
  const rows = (await latestDirtyRows(db)).filter(
    (r) =>
      (r.scope === scope && (id === undefined || r.scopeId === id)) ||
      (family === 'sales' && r.kind === 'trade' && r.scope === 'mine' && r.otFrom !== null),
  );
  if (!rows.length) return [];
  const best = new Map<string, LatestEntry>();
  for (const lane of ['direct', 'derived'] as const) {
    for (const p of await computeDirty(db, rows, { lane })) {
      if (p.family !== family || p.scope !== scope || (id !== undefined && p.scopeId !== id)) continue;
      const k = `${p.scopeId}\u0001${p.metric}\u0001${p.window}`;
      const cur = best.get(k);
      if (cur && Date.parse(cur.windowStart) >= p.windowStart) continue;
      best.set(k, latestEntry(p, 0));
    }
  }
  return [...best.values()];
}
