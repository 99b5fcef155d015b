/**
 * Reads of the indicator store. Every published value is computed here, from
 * cells and facts, by the same functions for the workers (narrow: the keys a
 * batch touched) and for the API (a range): a value is a function of the facts
 * alone, whatever the order they arrived in.
 */
import type pg from 'pg';
import {
  AGGREGATE_SCOPES,
  allows,
  applyFormula,
  CELLS,
  CITY_ID,
  DAY_MS,
  HOUR_MS,
  INDEX_BASKET,
  METRICS,
  METRICS_BY_CELL,
  round6,
  type CellMetric,
  type CellName,
  type DerivedMetric,
  type Family,
  type IndicatorPoint,
  type MetricDef,
  type Scope,
  type TrailingWindow,
  type TumblingWindow,
  type Window,
} from './model.ts';

export type Db = Pick<pg.Pool, 'query'>;

const iso = (ms: number) => new Date(ms).toISOString();
const f = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const ms = (v: unknown): number => (v instanceof Date ? v.getTime() : Date.parse(String(v)));

// ---------------------------------------------------------------- cells

export interface CellKey {
  cell: CellName;
  scope: Scope;
  scopeId: string;
  win: TumblingWindow;
  ws: number;
}
export interface CellRow extends CellKey {
  a: number;
  b: number;
  n: number;
  last: number | null;
}

export function keyOf(k: CellKey): string {
  return `${k.cell}\u0001${k.scope}\u0001${k.scopeId}\u0001${k.win}\u0001${k.ws}`;
}

/** Current state of the given cells, and a snapshot version (see ind_version). */
export async function readCells(db: Db, keys: CellKey[]): Promise<{ rows: CellRow[]; version: number }> {
  const r = await db.query(
    `
    WITH v AS (SELECT nextval('ind_version') AS ver)
    SELECT c.cell, c.scope, c.scope_id, c.win, c.window_start, c.a::float8 AS a, c.b::float8 AS b, c.n, c.last_v::float8 AS last, (SELECT ver FROM v) AS ver
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS k(cell, scope, scope_id, win, ws)
    JOIN ind_cell c ON c.cell = k.cell AND c.scope = k.scope AND c.scope_id = k.scope_id AND c.win = k.win AND c.window_start = k.ws
    UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT ver FROM v)`,
    [
      keys.map((k) => k.cell),
      keys.map((k) => k.scope),
      keys.map((k) => k.scopeId),
      keys.map((k) => k.win),
      keys.map((k) => iso(k.ws)),
    ],
  );
  let version = 0;
  const rows: CellRow[] = [];
  for (const x of r.rows) {
    version = Number(x.ver);
    if (x.cell === null) continue;
    rows.push({
      cell: x.cell,
      scope: x.scope,
      scopeId: x.scope_id,
      win: x.win,
      ws: ms(x.window_start),
      a: Number(x.a),
      b: Number(x.b),
      n: Number(x.n),
      last: f(x.last),
    });
  }
  return { rows, version };
}

/** Cells of many (cell, scope, id, window) keys, each over its own range of window starts (inclusive); one query. */
export async function readCellRanges(
  db: Db,
  keys: { cell: string; scope: string; id: string; win: TumblingWindow; from: number; to: number }[],
): Promise<CellRow[]> {
  if (!keys.length) return [];
  const r = await db.query(
    `
    SELECT c.cell, c.scope, c.scope_id, c.win, c.window_start, c.a::float8 AS a, c.b::float8 AS b, c.n, c.last_v::float8 AS last
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[]) AS k(cell, scope, scope_id, win, f, t)
    JOIN ind_cell c ON c.cell = k.cell AND c.scope = k.scope AND c.scope_id = k.scope_id AND c.win = k.win AND c.window_start >= k.f AND c.window_start <= k.t`,
    [
      keys.map((k) => k.cell),
      keys.map((k) => k.scope),
      keys.map((k) => k.id),
      keys.map((k) => k.win),
      keys.map((k) => iso(k.from)),
      keys.map((k) => iso(k.to)),
    ],
  );
  return r.rows.map((x) => ({
    cell: x.cell,
    scope: x.scope,
    scopeId: x.scope_id,
    win: x.win,
    ws: ms(x.window_start),
    a: Number(x.a),
    b: Number(x.b),
    n: Number(x.n),
    last: f(x.last),
  }));
}

/** Cells of one kind over a range of window starts (inclusive). */
export async function cellRange(
  db: Db,
  cell: CellName,
  scope: Scope,
  ids: string[] | null,
  win: TumblingWindow,
  from: number,
  to: number,
): Promise<CellRow[]> {
  const r = await db.query(
    `
    SELECT scope_id, window_start, a::float8 AS a, b::float8 AS b, n, last_v::float8 AS last FROM ind_cell
    WHERE cell = $1 AND scope = $2 AND win = $3 AND ($4::text[] IS NULL OR scope_id = ANY($4)) AND window_start >= $5 AND window_start <= $6
    ORDER BY scope_id, window_start`,
    [cell, scope, win, ids, iso(from), iso(to)],
  );
  return r.rows.map((x) => ({
    cell,
    scope,
    scopeId: x.scope_id,
    win,
    ws: ms(x.window_start),
    a: Number(x.a),
    b: Number(x.b),
    n: Number(x.n),
    last: f(x.last),
  }));
}

// ---------------------------------------------------------------- contributors

export interface Contributors {
  contributors: number;
  topShare: number | null;
}

/** Fact-table expression of a scope id, for contributors from facts (sales only). */
const SALES_SCOPE_SQL = `CASE k.scope WHEN 'region' THEN s.region_code WHEN 'coal_type' THEN s.coal_type WHEN 'band' THEN s.band WHEN 'city' THEN '${CITY_ID}' ELSE s.mine_id END`;

/**
 * Distinct companies and the largest one's share, per requested cell. Day and
 * longer windows come from ind_contrib; hours (sales) from the hour rollup (facts on time).
 */
export async function contributorsOf(
  db: Db,
  cell: CellName,
  keys: { scope: Scope; scopeId: string; win: TumblingWindow; ws: number }[],
): Promise<Map<string, Contributors>> {
  const out = new Map<string, Contributors>();
  const uniq = [...new Map(keys.map((k) => [keyOf({ cell, ...k }), k])).values()];
  const tumbling = uniq.filter((k) => k.win !== 'hour');
  const hours = uniq.filter((k) => k.win === 'hour');
  if (tumbling.length) {
    const r = await db.query(
      `
      SELECT k.scope, k.scope_id, k.win, k.ws, count(*) AS nc, (max(c.v) / NULLIF(sum(c.v), 0))::float8 AS top
      FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS k(scope, scope_id, win, ws)
      JOIN ind_contrib c ON c.cell = $1 AND c.scope = k.scope AND c.scope_id = k.scope_id AND c.win = k.win AND c.window_start = k.ws
      GROUP BY 1, 2, 3, 4`,
      [
        cell,
        tumbling.map((k) => k.scope),
        tumbling.map((k) => k.scopeId),
        tumbling.map((k) => k.win),
        tumbling.map((k) => iso(k.ws)),
      ],
    );
    for (const x of r.rows)
      out.set(keyOf({ cell, scope: x.scope, scopeId: x.scope_id, win: x.win, ws: ms(x.ws) }), {
        contributors: Number(x.nc),
        topShare: f(x.top) === null ? null : round6(Number(x.top)),
      });
  }
  if (hours.length && cell === 'trade') {
    const ranges = hours.map((k) => ({ ...k, from: k.ws, to: k.ws + HOUR_MS }));
    const m = await salesRangeContributors(db, ranges);
    for (const k of hours) {
      const v = m.get(`${k.scope}\u0001${k.scopeId}\u0001${k.ws}`);
      if (v) out.set(keyOf({ cell, ...k }), v);
    }
  }
  return out;
}

/** Contributors of sales over hour-aligned [from, to) ranges per scope id, from the hour rollup (hourly and 24 h windows). */
async function salesRangeContributors(
  db: Db,
  ranges: { scope: Scope; scopeId: string; from: number; to: number }[],
): Promise<Map<string, Contributors>> {
  const out = new Map<string, Contributors>();
  if (!ranges.length) return out;
  const r = await db.query(
    `
    SELECT scope, scope_id, f, count(*) AS nc, (max(v) / NULLIF(sum(v), 0))::float8 AS top FROM (
      SELECT k.scope, k.scope_id, k.f, s.company, sum(s.a) AS v
      FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS k(scope, scope_id, f, t)
      JOIN ind_sales_hour s ON s.hour >= k.f AND s.hour < k.t AND ${SALES_SCOPE_SQL} = k.scope_id
      GROUP BY 1, 2, 3, 4) x
    GROUP BY 1, 2, 3`,
    [
      ranges.map((k) => k.scope),
      ranges.map((k) => k.scopeId),
      ranges.map((k) => iso(k.from)),
      ranges.map((k) => iso(k.to)),
    ],
  );
  for (const x of r.rows)
    out.set(`${x.scope}\u0001${x.scope_id}\u0001${ms(x.f)}`, {
      contributors: Number(x.nc),
      topShare: f(x.top) === null ? null : round6(Number(x.top)),
    });
  return out;
}

/** Contributors over trailing day windows, from the day rows of ind_contrib. */
async function trailingDayContributors(
  db: Db,
  cell: CellName,
  anchors: { scope: Scope; scopeId: string; anchor: number }[],
  days: number,
): Promise<Map<string, Contributors>> {
  const out = new Map<string, Contributors>();
  if (!anchors.length) return out;
  const r = await db.query(
    `
    SELECT scope, scope_id, anchor, count(*) AS nc, (max(v) / NULLIF(sum(v), 0))::float8 AS top FROM (
      SELECT k.scope, k.scope_id, k.anchor, c.company, sum(c.v) AS v
      FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS k(scope, scope_id, anchor)
      JOIN ind_contrib c ON c.cell = $1 AND c.scope = k.scope AND c.scope_id = k.scope_id AND c.win = 'day'
        AND c.window_start > k.anchor - make_interval(days => $5) AND c.window_start <= k.anchor
      GROUP BY 1, 2, 3, 4) x
    GROUP BY 1, 2, 3`,
    [
      cell,
      anchors.map((a) => a.scope),
      anchors.map((a) => a.scopeId),
      anchors.map((a) => iso(a.anchor)),
      days,
    ],
  );
  for (const x of r.rows)
    out.set(`${x.scope}\u0001${x.scope_id}\u0001${ms(x.anchor)}`, {
      contributors: Number(x.nc),
      topShare: f(x.top) === null ? null : round6(Number(x.top)),
    });
  return out;
}

/** True when a metric's cells in this scope carry company contributors. */
export function needsContributors(def: MetricDef, scope: Scope): boolean {
  return def.disclosure === 'company' && AGGREGATE_SCOPES.has(scope);
}

// ---------------------------------------------------------------- cell metrics

function point(
  def: MetricDef,
  scope: Scope,
  scopeId: string,
  window: Window,
  windowStart: number,
  value: number | null,
  extra: Partial<IndicatorPoint> = {},
): IndicatorPoint {
  return {
    family: def.family,
    metric: def.metric,
    scope,
    scopeId,
    window,
    windowStart,
    value,
    unit: def.unit,
    n: null,
    contributors: null,
    topShare: null,
    ...extra,
  };
}

/** Points of every cell metric fed by the given cells (with contributors where the scope needs them). */
export async function cellPoints(db: Db, rows: CellRow[]): Promise<IndicatorPoint[]> {
  // Sales hours come from the hour rollup (salesHourPoints), with their contributors.
  rows = rows.filter((r) => !(r.cell === 'trade' && r.win === 'hour'));
  const needs = new Map<CellName, CellRow[]>();
  for (const row of rows) {
    const defs = METRICS_BY_CELL.get(row.cell) ?? [];
    if (defs.some((d) => needsContributors(d, row.scope)))
      (needs.get(row.cell) ?? needs.set(row.cell, []).get(row.cell)!).push(row);
  }
  const contrib = new Map<string, Contributors>();
  for (const [cell, list] of needs)
    for (const [k, v] of await contributorsOf(db, cell, list)) contrib.set(k, v);
  const out: IndicatorPoint[] = [];
  for (const row of rows) {
    for (const def of METRICS_BY_CELL.get(row.cell) ?? []) {
      if (!allows(def, row.scope, row.win)) continue;
      const c = needsContributors(def, row.scope)
        ? (contrib.get(keyOf(row)) ?? { contributors: 0, topShare: null })
        : null;
      out.push(
        point(def, row.scope, row.scopeId, row.win, row.ws, applyFormula(def.formula, row), {
          n: row.n,
          contributors: c?.contributors ?? null,
          topShare: c?.topShare ?? null,
        }),
      );
    }
  }
  return out;
}

const TRAILING: Record<TrailingWindow, { base: 'hour' | 'day'; count: number; frame: string }> = {
  '24h': { base: 'hour', count: 24, frame: `INTERVAL '23 hours'` },
  '7d': { base: 'day', count: 7, frame: `INTERVAL '6 days'` },
  '30d': { base: 'day', count: 30, frame: `INTERVAL '29 days'` },
};

/**
 * Trailing sums of a cell, anchored at each hour/day with data in [from, to]
 * (or, with `latestOnly`, at each key's latest hour/day).
 */
export async function trailingPoints(
  db: Db,
  cell: CellName,
  scope: Scope,
  ids: string[] | null,
  win: TrailingWindow,
  from: number,
  to: number,
  latestOnly = false,
): Promise<IndicatorPoint[]> {
  const t = TRAILING[win];
  const defs = (METRICS_BY_CELL.get(cell) ?? []).filter((d) => allows(d, scope, win));
  if (!defs.length) return [];
  const span = (t.count - 1) * (t.base === 'hour' ? HOUR_MS : DAY_MS);
  let rows: { scopeId: string; anchor: number; a: number; b: number; n: number }[];
  if (latestOnly) {
    rows = (
      await trailingLatest(
        db,
        cell,
        (ids ?? []).map((scopeId) => ({ scope, scopeId })),
        win,
      )
    ).map((x) => ({ ...x }));
  } else {
    const r = await db.query(
      `
      SELECT * FROM (
        SELECT scope_id, window_start AS anchor,
          (sum(a) OVER w)::float8 AS a, (sum(b) OVER w)::float8 AS b, sum(n) OVER w AS n
        FROM ind_cell
        WHERE cell = $1 AND scope = $2 AND win = $3 AND ($4::text[] IS NULL OR scope_id = ANY($4)) AND window_start >= $5 AND window_start <= $6
        WINDOW w AS (PARTITION BY scope_id ORDER BY window_start RANGE BETWEEN ${t.frame} PRECEDING AND CURRENT ROW)
      ) x WHERE anchor >= $7 ORDER BY scope_id, anchor`,
      [cell, scope, t.base, ids, iso(from - span), iso(to), iso(from)],
    );
    rows = r.rows.map((x) => ({
      scopeId: x.scope_id,
      anchor: ms(x.anchor),
      a: Number(x.a),
      b: Number(x.b),
      n: Number(x.n),
    }));
  }
  let contrib: Map<string, Contributors> | null = null;
  if (defs.some((d) => needsContributors(d, scope))) {
    contrib =
      t.base === 'day'
        ? new Map(
            [
              ...(await trailingDayContributors(
                db,
                cell,
                rows.map((r) => ({ ...r, scope })),
                t.count,
              )),
            ].map(([k, v]) => [k.slice(k.indexOf('\u0001') + 1), v]),
          )
        : cell === 'trade'
          ? await salesRangeContributors(
              db,
              rows.map((r) => ({ scope, scopeId: r.scopeId, from: r.anchor - span, to: r.anchor + HOUR_MS })),
            )
          : new Map();
  }
  const out: IndicatorPoint[] = [];
  for (const r of rows) {
    const key =
      t.base === 'day'
        ? `${r.scopeId}\u0001${r.anchor}`
        : `${scope}\u0001${r.scopeId}\u0001${r.anchor - span}`;
    for (const def of defs as CellMetric[]) {
      const c = needsContributors(def, scope)
        ? (contrib?.get(key) ?? { contributors: 0, topShare: null })
        : null;
      out.push(
        point(def, scope, r.scopeId, win, r.anchor, applyFormula(def.formula, { ...r, last: null }), {
          n: r.n,
          contributors: c?.contributors ?? null,
          topShare: c?.topShare ?? null,
        }),
      );
    }
  }
  return out;
}

/** Trailing sums anchored at each key's latest hour/day; one query for many (scope, id) pairs. */
export async function trailingLatest(
  db: Db,
  cell: CellName,
  pairs: { scope: Scope; scopeId: string }[],
  win: TrailingWindow,
): Promise<{ scope: Scope; scopeId: string; anchor: number; a: number; b: number; n: number }[]> {
  if (!pairs.length) return [];
  const t = TRAILING[win];
  // Per pair: its latest window by a backward index scan, then the frame's sum (index range): no join over all cells.
  const r = await db.query(
    `
    SELECT p.scope, p.scope_id, l.anchor, s.a, s.b, s.n
    FROM unnest($2::text[], $3::text[]) AS p(scope, scope_id)
    CROSS JOIN LATERAL (SELECT c.window_start AS anchor FROM ind_cell c WHERE c.cell = $1 AND c.scope = p.scope AND c.scope_id = p.scope_id AND c.win = $4
                        ORDER BY c.window_start DESC LIMIT 1) l
    CROSS JOIN LATERAL (SELECT sum(c.a)::float8 AS a, sum(c.b)::float8 AS b, sum(c.n) AS n FROM ind_cell c
                        WHERE c.cell = $1 AND c.scope = p.scope AND c.scope_id = p.scope_id AND c.win = $4
                          AND c.window_start >= l.anchor - ${t.frame} AND c.window_start <= l.anchor) s`,
    [cell, pairs.map((p) => p.scope), pairs.map((p) => p.scopeId), t.base],
  );
  return r.rows.map((x) => ({
    scope: x.scope,
    scopeId: x.scope_id,
    anchor: ms(x.anchor),
    a: Number(x.a),
    b: Number(x.b),
    n: Number(x.n),
  }));
}

/** Trailing points at each (scope, id)'s latest anchor, with contributors where needed (the publish path). */
export async function trailingLatestPoints(
  db: Db,
  cell: CellName,
  pairs: { scope: Scope; scopeId: string }[],
  win: TrailingWindow,
): Promise<IndicatorPoint[]> {
  const t = TRAILING[win];
  const defs = (METRICS_BY_CELL.get(cell) ?? []).filter((d) => d.windows.includes(win));
  const wanted = pairs.filter((p) => defs.some((d) => allows(d, p.scope, win)));
  const rows = await trailingLatest(db, cell, wanted, win);
  const span = (t.count - 1) * (t.base === 'hour' ? HOUR_MS : DAY_MS);
  const contrib = new Map<string, Contributors>();
  const needing = rows.filter((r) =>
    defs.some((d) => allows(d, r.scope, win) && needsContributors(d, r.scope)),
  );
  if (needing.length) {
    if (t.base === 'day') {
      for (const [k, v] of await trailingDayContributors(db, cell, needing, t.count)) contrib.set(k, v);
    } else if (cell === 'trade') {
      const m = await salesRangeContributors(
        db,
        needing.map((r) => ({
          scope: r.scope,
          scopeId: r.scopeId,
          from: r.anchor - span,
          to: r.anchor + HOUR_MS,
        })),
      );
      for (const r of needing) {
        const v = m.get(`${r.scope}\u0001${r.scopeId}\u0001${r.anchor - span}`);
        if (v) contrib.set(`${r.scope}\u0001${r.scopeId}\u0001${r.anchor}`, v);
      }
    }
  }
  const out: IndicatorPoint[] = [];
  for (const r of rows) {
    for (const def of defs as CellMetric[]) {
      if (!allows(def, r.scope, win)) continue;
      const c = needsContributors(def, r.scope)
        ? (contrib.get(`${r.scope}\u0001${r.scopeId}\u0001${r.anchor}`) ?? {
            contributors: 0,
            topShare: null,
          })
        : null;
      out.push(
        point(def, r.scope, r.scopeId, win, r.anchor, applyFormula(def.formula, { ...r, last: null }), {
          n: r.n,
          contributors: c?.contributors ?? null,
          topShare: c?.topShare ?? null,
        }),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------- sales hours (from the hour rollup)

const TRADE_DEFS = () => (METRICS_BY_CELL.get('trade') ?? []) as CellMetric[];

function tradePoints(
  scope: Scope,
  scopeId: string,
  window: Window,
  ws: number,
  a: number,
  b: number,
  n: number,
  c: Contributors | null,
): IndicatorPoint[] {
  const out: IndicatorPoint[] = [];
  for (const def of TRADE_DEFS()) {
    if (!allows(def, scope, window)) continue;
    const cc = needsContributors(def, scope) ? (c ?? { contributors: 0, topShare: null }) : null;
    out.push(
      point(def, scope, scopeId, window, ws, applyFormula(def.formula, { a, b, n, last: null }), {
        n,
        contributors: cc?.contributors ?? null,
        topShare: cc?.topShare ?? null,
      }),
    );
  }
  return out;
}

/**
 * Sales metrics of hourly windows, from the hour rollup (facts on time: older than the
 * watermark excluded), for every scope at once, with contributors. Either a
 * list of hours (the publish path) or a range (the API; one scope).
 */
export async function salesHourPoints(
  db: Db,
  q: { hours?: number[]; from?: number; to?: number; scope?: Scope; ids?: string[] | null },
): Promise<IndicatorPoint[]> {
  let hours = q.hours;
  if (!hours) {
    hours = [];
    for (let h = Math.floor(q.from! / HOUR_MS) * HOUR_MS; h <= q.to!; h += HOUR_MS) hours.push(h);
  }
  const mineIds = q.scope === 'mine' ? (q.ids ?? null) : null;
  // The hours as runs of consecutive hours (gaps of a few hours bridged), one range scan each: a join on the
  // hour list would probe every chunk of the hypertable once per hour (a year of hours: minutes). Rows of the
  // hour rollup (migration 009): a few per mine and hour, however many sales the hour holds.
  const wanted = new Set(hours);
  const sorted = [...wanted].sort((x, y) => x - y);
  const runs: [number, number][] = [];
  for (const h of sorted) {
    const last = runs.at(-1);
    if (last && h - last[1] <= 6 * HOUR_MS) last[1] = h;
    else runs.push([h, h]);
  }
  // One row per (hour, mine, company, region, coal type, band); the scopes are summed here, exactly (kg, fen).
  const rows: {
    h: Date;
    mine_id: string;
    company: string;
    region_code: string;
    coal_type: string;
    band: string;
    a: string;
    b: string;
    n: string;
  }[] = [];
  for (const [from, to] of runs) {
    const r = await db.query({
      name: 'coalflow_sales_hours',
      text: `SELECT s.hour AS h, s.mine_id, s.company, s.region_code, s.coal_type, s.band, s.a::text AS a, s.b::text AS b, s.n
        FROM ind_sales_hour s WHERE s.hour >= $1::timestamptz AND s.hour < $2::timestamptz AND ($3::text[] IS NULL OR s.mine_id = ANY($3))`,
      values: [iso(from), iso(to + HOUR_MS), mineIds],
    });
    for (const x of r.rows) if (wanted.has(ms(x.h))) rows.push(x);
  }
  interface Acc {
    a: number;
    b: number;
    n: number;
    companies: Map<string, number>;
  }
  const acc = new Map<string, Acc>();
  const wantScope = q.scope ?? null;
  const wantIds = q.ids ? new Set(q.ids) : null;
  for (const x of rows) {
    const hms = ms(x.h);
    const a = scaledDecimal(x.a, 3);
    const b = scaledDecimal(x.b, 2);
    const n = Number(x.n);
    const scopes: [Scope, string][] = [
      ['mine', x.mine_id],
      ['region', x.region_code],
      ['coal_type', x.coal_type],
      ['band', x.band],
      ['city', CITY_ID],
    ];
    for (const [scope, id] of scopes) {
      if (wantScope && scope !== wantScope) continue;
      if (wantIds && !wantIds.has(id)) continue;
      const k = `${scope}\u0001${id}\u0001${hms}`;
      let c = acc.get(k);
      if (!c) {
        c = { a: 0, b: 0, n: 0, companies: new Map() };
        acc.set(k, c);
      }
      c.a += a;
      c.b += b;
      c.n += n;
      c.companies.set(x.company, (c.companies.get(x.company) ?? 0) + a);
    }
  }
  const out: IndicatorPoint[] = [];
  for (const [k, c] of acc) {
    const [scope, id, hms] = k.split('\u0001') as [Scope, string, string];
    let top = 0;
    for (const v of c.companies.values()) if (v > top) top = v;
    const contrib =
      scope === 'mine'
        ? null
        : { contributors: c.companies.size, topShare: c.a > 0 ? round6(top / c.a) : null };
    out.push(...tradePoints(scope, id, 'hour', Number(hms), c.a / 1000, c.b / 100, c.n, contrib));
  }
  return out;
}

/** An exact decimal string as an integer in units of 10^-scale (numeric sums stay exact). */
export function scaledDecimal(s: string, scale: number): number {
  const neg = s.startsWith('-');
  const [i = '0', d = ''] = (neg ? s.slice(1) : s).split('.');
  const v = Number(i) * 10 ** scale + Number((d + '0'.repeat(scale)).slice(0, scale) || '0');
  return neg ? -v : v;
}

/**
 * Per-mine sales over the trailing 24 h (the hour rollup: on-time facts), anchored at each
 * mine's latest hour with sales (`from`/`to` null), or at every hour in range.
 */
export async function salesMine24h(
  db: Db,
  ids: string[] | null,
  from: number | null,
  to: number | null,
): Promise<IndicatorPoint[]> {
  const r =
    from === null || to === null
      ? await db.query(
          `
      WITH k AS (
        SELECT m.id AS mine_id, (SELECT s.hour FROM ind_sales_hour s WHERE s.mine_id = m.id ORDER BY s.hour DESC LIMIT 1) AS anchor
        FROM unnest($1::text[]) AS m(id))
      SELECT k.mine_id, k.anchor, sum(s.a)::float8 AS a, sum(s.b)::float8 AS b, sum(s.n) AS n
      FROM k JOIN ind_sales_hour s ON s.mine_id = k.mine_id AND s.hour >= k.anchor - INTERVAL '23 hours' AND s.hour <= k.anchor
      GROUP BY 1, 2`,
          [ids ?? []],
        )
      : await db.query(
          `
      SELECT mine_id, h AS anchor, (sum(a) OVER w)::float8 AS a, (sum(b) OVER w)::float8 AS b, sum(n) OVER w AS n FROM (
        SELECT mine_id, hour AS h, sum(a) AS a, sum(b) AS b, sum(n) AS n FROM ind_sales_hour
        WHERE ($1::text[] IS NULL OR mine_id = ANY($1)) AND hour >= $2::timestamptz - INTERVAL '23 hours' AND hour < $3::timestamptz + INTERVAL '1 hour'
        GROUP BY 1, 2) x
      WINDOW w AS (PARTITION BY mine_id ORDER BY h RANGE BETWEEN INTERVAL '23 hours' PRECEDING AND CURRENT ROW)`,
          [ids, iso(from), iso(to)],
        );
  const out: IndicatorPoint[] = [];
  for (const x of r.rows) {
    const anchor = ms(x.anchor);
    if (from !== null && anchor < from) continue;
    out.push(...tradePoints('mine', x.mine_id, '24h', anchor, Number(x.a), Number(x.b), Number(x.n), null));
  }
  return out;
}

// ---------------------------------------------------------------- derived metrics

export interface RangeQuery {
  scope: Scope;
  ids: string[] | null;
  win: TumblingWindow;
  from: number;
  to: number;
}

const def = (family: Family, metric: string) =>
  METRICS.find((m) => m.family === family && m.metric === metric) as DerivedMetric;

/** Capacity and status factor used by the production estimate. */
export const STATUS_OUTPUT_FACTOR: Record<string, number> = { producing: 1, limited: 0.5 };
/** A mine's last stock report counts towards regional totals for this long. */
export const STOCK_REPORT_MAX_AGE_DAYS = 60;

const SPAN: Record<TumblingWindow, string> = { hour: '1 hour', day: '1 day', mtd: '1 month', ytd: '1 year' };

/** production.utilisation_pct: tonnage sold / (approved capacity × covered days / 365). */
export async function utilisation(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  return utilisationMany(db, [q]);
}

/** utilisation_pct for several (scope, window, ids, range) queries in one statement (the publisher's batch). */
export async function utilisationMany(db: Db, qs: RangeQuery[]): Promise<IndicatorPoint[]> {
  // Explicit ids become one row per id; `ids: null` (every id of the scope) one row with a NULL id.
  const rows = qs
    .filter((q) => q.win !== 'hour')
    .flatMap((q) => (q.ids === null ? [null] : q.ids).map((id) => ({ q, id })));
  if (!rows.length) return [];
  const r = await db.query(
    `
    WITH q AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::interval[]) AS q(scope, win, scope_id, f, t, span)),
    cap AS (
      SELECT s.scope, s.id, sum(m.approved_capacity_t_per_year) AS cap
      FROM ind_mine_dim m CROSS JOIN LATERAL (VALUES ('mine', m.mine_id), ('region', m.region_code), ('city', '${CITY_ID}')) AS s(scope, id)
      WHERE m.status <> 'closed' AND m.approved_capacity_t_per_year > 0 GROUP BY 1, 2)
    SELECT DISTINCT c.scope, c.win, c.scope_id, c.window_start, c.a::float8 AS vol, cap.cap::float8 AS cap,
      (SELECT max(d.window_start) FROM ind_cell d WHERE d.cell = 'trade' AND d.scope = c.scope AND d.scope_id = c.scope_id AND d.win = 'day'
        AND d.window_start >= c.window_start
        AND d.window_start < ((c.window_start AT TIME ZONE 'Asia/Shanghai') + q.span) AT TIME ZONE 'Asia/Shanghai') AS last_day
    FROM q JOIN ind_cell c ON c.cell = 'trade' AND c.scope = q.scope AND c.win = q.win AND (q.scope_id IS NULL OR c.scope_id = q.scope_id)
      AND c.window_start >= q.f AND c.window_start <= q.t
    JOIN cap ON cap.scope = c.scope AND cap.id = c.scope_id`,
    [
      rows.map((x) => x.q.scope),
      rows.map((x) => x.q.win),
      rows.map((x) => x.id),
      rows.map((x) => iso(x.q.from)),
      rows.map((x) => iso(x.q.to)),
      rows.map((x) => SPAN[x.q.win]),
    ],
  );
  const d = def('production', 'utilisation_pct');
  const pts = r.rows.map((x) => {
    const ws = ms(x.window_start);
    const last = x.last_day ? ms(x.last_day) : ws;
    const days = Math.round((last - ws) / DAY_MS) + 1;
    const v = Number(x.cap) > 0 ? round6((100 * Number(x.vol)) / ((Number(x.cap) * days) / 365)) : null;
    return point(d, x.scope as Scope, x.scope_id, x.win as Window, ws, v);
  });
  return withContributors(db, 'trade', pts);
}

async function withContributors(db: Db, cell: CellName, pts: IndicatorPoint[]): Promise<IndicatorPoint[]> {
  const need = pts.filter(
    (p) => AGGREGATE_SCOPES.has(p.scope) && p.window !== '24h' && p.window !== '7d' && p.window !== '30d',
  );
  if (!need.length) return pts;
  const m = await contributorsOf(
    db,
    cell,
    need.map((p) => ({
      scope: p.scope,
      scopeId: p.scopeId,
      win: p.window as TumblingWindow,
      ws: p.windowStart,
    })),
  );
  for (const p of need) {
    const c = m.get(
      keyOf({ cell, scope: p.scope, scopeId: p.scopeId, win: p.window as TumblingWindow, ws: p.windowStart }),
    );
    p.contributors = c?.contributors ?? 0;
    p.topShare = c?.topShare ?? null;
  }
  return pts;
}

/** The latest day with any data: day series (status, stock totals) are carried forward up to it, not beyond. */
const LAST_DAY_SQL = `(SELECT max(window_start) FROM ind_cell WHERE win = 'day')`;

/** Days [from, to] (CST day starts) as a SQL series. */
const DAYS_SQL = (fromParam: string, toParam: string) =>
  `SELECT generate_series(${fromParam}::timestamptz, ${toParam}::timestamptz, INTERVAL '1 day') AS day`;

/**
 * production.operating_rate_pct (开工率), mines_producing, mines_total, capacity_t_per_year:
 * each mine's status as of the end of each day (its last status record up to then).
 * Producing = 'producing' or 'limited'; the base is every mine not 'closed'.
 */
export async function operating(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  const r = await db.query(
    `
    WITH lpd AS (
      SELECT DISTINCT ON (mine_id, d) mine_id, company, region_code, status, approved_capacity_t_per_year AS cap, d
      FROM (SELECT *, time_bucket('1 day', event_time, 'Asia/Shanghai') AS d FROM fact_mines WHERE event_time < $3::timestamptz + INTERVAL '1 day') m
      ORDER BY mine_id, d, event_time DESC, record_id DESC),
    iv AS (SELECT *, lead(d) OVER (PARTITION BY mine_id ORDER BY d) AS d_next FROM lpd),
    days AS (${DAYS_SQL(`GREATEST($2::timestamptz, (SELECT min(d) FROM lpd))`, `LEAST($3::timestamptz, COALESCE(${LAST_DAY_SQL}, (SELECT max(d) FROM lpd)))`)})
    SELECT s.id, days.day,
      count(*) FILTER (WHERE status IN ('producing', 'limited')) AS producing,
      count(*) FILTER (WHERE status <> 'closed') AS total,
      sum(cap) FILTER (WHERE status <> 'closed')::float8 AS cap,
      count(DISTINCT company) AS companies
    FROM days JOIN iv ON iv.d <= days.day AND (iv.d_next IS NULL OR iv.d_next > days.day)
    CROSS JOIN LATERAL (VALUES (CASE $1::text WHEN 'mine' THEN iv.mine_id WHEN 'region' THEN iv.region_code ELSE '${CITY_ID}' END)) AS s(id)
    WHERE ($4::text[] IS NULL OR s.id = ANY($4))
    GROUP BY 1, 2`,
    [q.scope, iso(q.from), iso(q.to), q.ids],
  );
  const out: IndicatorPoint[] = [];
  for (const x of r.rows) {
    const ws = ms(x.day);
    const extra = q.scope === 'mine' ? {} : { contributors: Number(x.companies), topShare: null };
    out.push(point(def('production', 'capacity_t_per_year'), q.scope, x.id, 'day', ws, f(x.cap), extra));
    if (q.scope === 'mine') continue;
    const total = Number(x.total);
    out.push(
      point(
        def('production', 'operating_rate_pct'),
        q.scope,
        x.id,
        'day',
        ws,
        total ? round6((100 * Number(x.producing)) / total) : null,
        { ...extra, n: total },
      ),
    );
    out.push(
      point(def('production', 'mines_producing'), q.scope, x.id, 'day', ws, Number(x.producing), extra),
    );
    out.push(point(def('production', 'mines_total'), q.scope, x.id, 'day', ws, total, extra));
  }
  return out;
}

/** price.vwap_dod_pct / vwap_wow_pct: day VWAP against the previous day and the same day a week before. */
export async function vwapChange(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  return vwapChangeMany(db, [q]);
}

/** vwap_dod_pct / vwap_wow_pct for several (scope, ids, range) queries in one statement. */
export async function vwapChangeMany(db: Db, qs: RangeQuery[]): Promise<IndicatorPoint[]> {
  const rows = qs.flatMap((q) => (q.ids === null ? [null] : q.ids).map((id) => ({ q, id })));
  if (!rows.length) return [];
  const r = await db.query(
    `
    SELECT DISTINCT c.scope, c.scope_id, c.window_start,
      (c.b / NULLIF(c.a, 0))::float8 AS v, (p.b / NULLIF(p.a, 0))::float8 AS v1, (w.b / NULLIF(w.a, 0))::float8 AS v7
    FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS q(scope, scope_id, f, t)
    JOIN ind_cell c ON c.cell = 'trade' AND c.scope = q.scope AND c.win = 'day' AND (q.scope_id IS NULL OR c.scope_id = q.scope_id) AND c.window_start >= q.f AND c.window_start <= q.t
    LEFT JOIN ind_cell p ON p.cell = c.cell AND p.scope = c.scope AND p.scope_id = c.scope_id AND p.win = 'day' AND p.window_start = c.window_start - INTERVAL '1 day'
    LEFT JOIN ind_cell w ON w.cell = c.cell AND w.scope = c.scope AND w.scope_id = c.scope_id AND w.win = 'day' AND w.window_start = c.window_start - INTERVAL '7 days'`,
    [
      rows.map((x) => x.q.scope),
      rows.map((x) => x.id),
      rows.map((x) => iso(x.q.from)),
      rows.map((x) => iso(x.q.to)),
    ],
  );
  const pct = (a: unknown, b: unknown) =>
    a === null || b === null || !Number(b) ? null : round6(100 * (Number(a) / Number(b) - 1));
  const out: IndicatorPoint[] = [];
  for (const x of r.rows) {
    out.push(
      point(def('price', 'vwap_dod_pct'), x.scope, x.scope_id, 'day', ms(x.window_start), pct(x.v, x.v1)),
    );
    out.push(
      point(def('price', 'vwap_wow_pct'), x.scope, x.scope_id, 'day', ms(x.window_start), pct(x.v, x.v7)),
    );
  }
  return withContributors(db, 'trade', out);
}

/**
 * price.pithead_index: fixed-base Laspeyres index of pithead transaction prices
 * for the basket 5500/5000/4500 kcal, base = 100 in the base month:
 *   I(d) = 100 × Σ_b q_b,0 · p_b,d / Σ_b q_b,0 · p_b,0
 * over the basket bands traded on day d (matched basket). p = volume-weighted
 * price, q_b,0 = tonnage of band b in the base month. The base month is
 * `baseMonth` (YYYY-MM) or, by default, the first month with trades in every band.
 */
export async function priceIndex(
  db: Db,
  q: RangeQuery,
  baseMonth: string | null = null,
): Promise<IndicatorPoint[]> {
  if (q.scope !== 'city') return [];
  const r = await db.query(
    `
    WITH base AS (
      SELECT COALESCE($4::timestamptz, (
        SELECT window_start FROM ind_cell WHERE cell = 'trade' AND scope = 'band' AND win = 'mtd' AND scope_id = ANY($1) AND a > 0
        GROUP BY window_start HAVING count(*) = cardinality($1) ORDER BY window_start LIMIT 1)) AS ws),
    bw AS (
      SELECT scope_id AS band, a AS q0, b / a AS p0 FROM ind_cell
      WHERE cell = 'trade' AND scope = 'band' AND win = 'mtd' AND scope_id = ANY($1) AND window_start = (SELECT ws FROM base) AND a > 0),
    d AS (
      SELECT window_start, scope_id AS band, b / a AS p FROM ind_cell
      WHERE cell = 'trade' AND scope = 'band' AND win = 'day' AND scope_id = ANY($1) AND a > 0 AND window_start >= $2 AND window_start <= $3)
    SELECT d.window_start, (100 * sum(bw.q0 * d.p) / NULLIF(sum(bw.q0 * bw.p0), 0))::float8 AS idx, count(*) AS bands
    FROM d JOIN bw USING (band) GROUP BY 1`,
    [[...INDEX_BASKET], iso(q.from), iso(q.to), baseMonth ? `${baseMonth}-01T00:00:00+08:00` : null],
  );
  const pts = r.rows.map((x) =>
    point(
      def('price', 'pithead_index'),
      'city',
      CITY_ID,
      'day',
      ms(x.window_start),
      f(x.idx) === null ? null : round6(Number(x.idx)),
      { n: Number(x.bands) },
    ),
  );
  return withContributors(db, 'trade', pts);
}

/**
 * inventory.mine_stock_est_t, as of the end of each day with data:
 * last reported stock S0 at t0 (or 0 at the start of the mine's first sale day
 * when it never reported) + production − shipments since t0, floored at 0.
 * Production = approved capacity / 365 per day × status factor (producing 1,
 * limited 0.5, otherwise 0; unknown status counts as producing); shipments =
 * weighbridge sales (net tonnage).
 */
export async function mineStockEstimate(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  if (q.scope !== 'mine') return [];
  // Shipments since t0 = the mine's sales up to the end of the day minus those up to the report (exact
  // sums of the same facts). "Up to the end of day d" = the mine's sales before the range (from the cumulative
  // cells: year cells of earlier years + month cells of earlier months + day cells of the month, at most ~45
  // cells, whatever the history) + a running sum of its day cells within the range. Per-mine values (first
  // sale day, sales before the range) are computed once per mine, not once per day.
  const before = (d: string) => `(
    (SELECT COALESCE(sum(c.a), 0) FROM ind_cell c WHERE c.cell = 'trade' AND c.scope = 'mine' AND c.scope_id = m.mine_id AND c.win = 'ytd'
       AND c.window_start < date_trunc('year', ${d} AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai')
  + (SELECT COALESCE(sum(c.a), 0) FROM ind_cell c WHERE c.cell = 'trade' AND c.scope = 'mine' AND c.scope_id = m.mine_id AND c.win = 'mtd'
       AND c.window_start >= date_trunc('year', ${d} AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'
       AND c.window_start < date_trunc('month', ${d} AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai')
  + (SELECT COALESCE(sum(c.a), 0) FROM ind_cell c WHERE c.cell = 'trade' AND c.scope = 'mine' AND c.scope_id = m.mine_id AND c.win = 'day'
       AND c.window_start >= date_trunc('month', ${d} AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai' AND c.window_start < ${d}))`;
  const r = await db.query(
    `
    WITH days AS (
      SELECT DISTINCT scope_id AS mine_id, window_start AS day FROM ind_cell
      WHERE cell IN ('trade', 'mine_stock') AND scope = 'mine' AND win = 'day' AND ($1::text[] IS NULL OR scope_id = ANY($1))
        AND window_start >= $2 AND window_start <= $3),
    mines AS MATERIALIZED (
      SELECT m.mine_id, m.lo, fs.t0, ${before('m.lo')} AS before_lo
      FROM (SELECT mine_id, min(day) AS lo FROM days GROUP BY 1) m
      LEFT JOIN LATERAL (SELECT min(c.window_start) AS t0 FROM ind_cell c WHERE c.cell = 'trade' AND c.scope = 'mine' AND c.win = 'ytd' AND c.scope_id = m.mine_id) y ON true
      LEFT JOIN LATERAL (SELECT min(c.window_start) AS t0 FROM ind_cell c WHERE c.cell = 'trade' AND c.scope = 'mine' AND c.win = 'day' AND c.scope_id = m.mine_id
                           AND c.window_start >= y.t0 AND c.window_start < y.t0 + INTERVAL '1 year 1 day') fs ON true),
    run AS (
      SELECT d.mine_id, d.day, mi.t0, mi.before_lo + sum(COALESCE(c.a, 0)) OVER (PARTITION BY d.mine_id ORDER BY d.day) AS cum
      FROM days d JOIN mines mi ON mi.mine_id = d.mine_id
      -- LATERAL … LIMIT 1 (never pulled up into a join): a primary-key lookup per day whatever the statistics.
      -- As a join, planned for a chunk not yet analyzed, it rescanned all mines' day cells once per day (4.6 s → 0.25 s).
      LEFT JOIN LATERAL (SELECT c.a FROM ind_cell c WHERE c.cell = 'trade' AND c.scope = 'mine' AND c.scope_id = d.mine_id AND c.win = 'day' AND c.window_start = d.day LIMIT 1) c ON true),
    x AS (
      SELECT d.mine_id, d.day, d.t0, d.cum, rep.stock_t, rep.event_time AS rep_t, time_bucket('1 day', rep.event_time, 'Asia/Shanghai') AS rep_day,
        st.status, st.cap
      FROM run d
      LEFT JOIN LATERAL (SELECT i.stock_t, i.event_time FROM fact_mine_inventory i WHERE i.mine_id = d.mine_id AND i.event_time < d.day + INTERVAL '1 day'
                         ORDER BY i.event_time DESC, i.record_id DESC LIMIT 1) rep ON true
      LEFT JOIN LATERAL (SELECT m.status, m.approved_capacity_t_per_year AS cap FROM fact_mines m WHERE m.mine_id = d.mine_id AND m.event_time < d.day + INTERVAL '1 day'
                         ORDER BY m.event_time DESC, m.record_id DESC LIMIT 1) st ON true)
    SELECT x.mine_id, x.day, x.stock_t::float8 AS s0, COALESCE(x.rep_t, x.t0) AS t0, x.rep_t IS NULL AS unreported, x.status, x.cap::float8 AS cap,
      (x.cum - CASE WHEN x.rep_t IS NULL THEN 0 ELSE ${before("(x.rep_day + INTERVAL '1 day')").replace(/m\.mine_id/g, 'x.mine_id')}
         - (SELECT COALESCE(sum(s.net_t), 0) FROM fact_sales s WHERE s.mine_id = x.mine_id AND s.event_time > x.rep_t AND s.event_time < x.rep_day + INTERVAL '1 day') END)::float8 AS shipped
    FROM x`,
    [q.ids, iso(q.from), iso(q.to)],
  );
  const d = def('inventory', 'mine_stock_est_t');
  const out: IndicatorPoint[] = [];
  for (const x of r.rows) {
    if (x.t0 === null || x.cap === null) continue;
    const day = ms(x.day);
    const elapsedDays = (day + DAY_MS - ms(x.t0)) / DAY_MS;
    const factor = x.status === null ? 1 : (STATUS_OUTPUT_FACTOR[x.status as string] ?? 0);
    const est =
      (x.s0 === null ? 0 : Number(x.s0)) + (Number(x.cap) / 365) * factor * elapsedDays - Number(x.shipped);
    out.push(point(d, 'mine', x.mine_id, 'day', day, round6(Math.max(0, est)), { n: x.unreported ? 0 : 1 }));
  }
  return out;
}

/** inventory.mine_stock_total_t: Σ of each mine's last reported stock (within 60 days) as of each day's end, up to the last report day. */
export async function mineStockTotal(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  if (q.scope !== 'region' && q.scope !== 'city') return [];
  const r = await db.query(
    `
    WITH lpd AS (
      SELECT DISTINCT ON (mine_id, d) mine_id, region_code, stock_t, d
      FROM (SELECT *, time_bucket('1 day', event_time, 'Asia/Shanghai') AS d FROM fact_mine_inventory
            WHERE event_time < $3::timestamptz + INTERVAL '1 day' AND event_time >= $2::timestamptz - make_interval(days => $5 + 1)) m
      ORDER BY mine_id, d, event_time DESC, record_id DESC),
    iv AS (SELECT *, lead(d) OVER (PARTITION BY mine_id ORDER BY d) AS d_next FROM lpd),
    days AS (${DAYS_SQL(`GREATEST($2::timestamptz, (SELECT min(d) FROM lpd))`, `LEAST($3::timestamptz, (SELECT max(d) FROM lpd))`)})
    SELECT s.id, days.day, sum(stock_t)::float8 AS total, count(*) AS mines, (max(stock_t) / NULLIF(sum(stock_t), 0))::float8 AS top
    FROM days JOIN iv ON iv.d <= days.day AND (iv.d_next IS NULL OR iv.d_next > days.day) AND iv.d > days.day - make_interval(days => $5)
    CROSS JOIN LATERAL (VALUES (CASE $1::text WHEN 'region' THEN iv.region_code ELSE '${CITY_ID}' END)) AS s(id)
    WHERE ($4::text[] IS NULL OR s.id = ANY($4))
    GROUP BY 1, 2`,
    [q.scope, iso(q.from), iso(q.to), q.ids, STOCK_REPORT_MAX_AGE_DAYS],
  );
  return r.rows.map((x) =>
    point(def('inventory', 'mine_stock_total_t'), q.scope, x.id, 'day', ms(x.day), round6(Number(x.total)), {
      n: Number(x.mines),
      contributors: Number(x.mines),
      topShare: f(x.top) === null ? null : round6(Number(x.top)),
    }),
  );
}

/** inventory.port_stock_change_t: closing stock of the day minus that of the previous day with a report (within 30 days). */
export async function portStockChange(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  if (q.scope !== 'port') return [];
  const r = await db.query(
    `
    SELECT * FROM (
      SELECT scope_id, window_start,
        (last_v - lag(last_v) OVER w)::float8 AS chg, lag(window_start) OVER w AS prev
      FROM ind_cell WHERE cell = 'port_stock' AND scope = 'port' AND win = 'day' AND ($1::text[] IS NULL OR scope_id = ANY($1))
        AND window_start >= $2::timestamptz - INTERVAL '30 days' AND window_start <= $3
      WINDOW w AS (PARTITION BY scope_id ORDER BY window_start)) x
    WHERE window_start >= $2`,
    [q.ids, iso(q.from), iso(q.to)],
  );
  return r.rows.map((x) =>
    point(
      def('inventory', 'port_stock_change_t'),
      'port',
      x.scope_id,
      'day',
      ms(x.window_start),
      x.prev === null || ms(x.window_start) - ms(x.prev) > 30 * DAY_MS ? null : round6(Number(x.chg)),
    ),
  );
}

/** Trailing window of the days-of-stock average consumption. */
export const DAYS_OF_STOCK_WINDOW_DAYS = 7;
/** Below this change (days) the days-of-stock trend is 'flat'. */
export const DAYS_OF_STOCK_FLAT = 0.5;

/**
 * days_of_stock.days (可用天数) = stock at the end of the day / average daily
 * consumption over the trailing 7 days (days with a consumption report);
 * sector and city: Σ stock / Σ average consumption of their users.
 * days_change_7d = days(d) − days(d − 7).
 */
export async function daysOfStock(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  const W = DAYS_OF_STOCK_WINDOW_DAYS;
  const r = await db.query(
    `
    WITH ud AS (SELECT DISTINCT ON (user_id) user_id, sector FROM fact_coal_users ORDER BY user_id, event_time DESC, record_id DESC),
    st AS (SELECT scope_id AS user_id, window_start AS day, last_v FROM ind_cell
           WHERE cell = 'user_stock' AND scope = 'user' AND win = 'day' AND last_v IS NOT NULL
             AND window_start >= $2::timestamptz - INTERVAL '7 days' AND window_start <= $3),
    co AS (SELECT scope_id AS user_id, window_start AS day, a FROM ind_cell
           WHERE cell = 'user_consumption' AND scope = 'user' AND win = 'day'
             AND window_start >= $2::timestamptz - make_interval(days => 7 + $5) AND window_start <= $3)
    SELECT st.user_id, ud.sector, st.day, st.last_v::float8 AS stock,
      (SELECT sum(co.a)::float8 FROM co WHERE co.user_id = st.user_id AND co.day > st.day - make_interval(days => $5) AND co.day <= st.day) AS csum,
      (SELECT count(*) FROM co WHERE co.user_id = st.user_id AND co.day > st.day - make_interval(days => $5) AND co.day <= st.day) AS cdays
    FROM st JOIN ud USING (user_id)
    WHERE ($1::text = 'city' OR ($1::text = 'user' AND ($4::text[] IS NULL OR st.user_id = ANY($4))) OR ($1::text = 'sector' AND ($4::text[] IS NULL OR ud.sector = ANY($4))))`,
    [q.scope, iso(q.from), iso(q.to), q.ids, W],
  );
  interface Acc {
    stock: number;
    avg: number;
    users: number;
    maxStock: number;
  }
  const acc = new Map<string, Acc>();
  for (const x of r.rows) {
    const cdays = Number(x.cdays);
    if (!cdays) continue;
    const avg = Number(x.csum) / cdays;
    const id = q.scope === 'user' ? x.user_id : q.scope === 'sector' ? x.sector : CITY_ID;
    const k = `${id}\u0001${ms(x.day)}`;
    const a = acc.get(k) ?? { stock: 0, avg: 0, users: 0, maxStock: 0 };
    a.stock += Number(x.stock);
    a.avg += avg;
    a.users++;
    a.maxStock = Math.max(a.maxStock, Number(x.stock));
    acc.set(k, a);
  }
  const out: IndicatorPoint[] = [];
  const agg = q.scope !== 'user';
  const dayValue = (k: string) => {
    const a = acc.get(k);
    return a && a.avg > 0 ? a.stock / a.avg : null;
  };
  for (const [k, a] of acc) {
    const [id, dayStr] = k.split('\u0001') as [string, string];
    const day = Number(dayStr);
    if (day < q.from) continue;
    const extra = agg
      ? { n: a.users, contributors: a.users, topShare: a.stock > 0 ? round6(a.maxStock / a.stock) : null }
      : { n: a.users };
    const days = dayValue(k);
    const prev = dayValue(`${id}\u0001${day - 7 * DAY_MS}`);
    out.push(
      point(
        def('days_of_stock', 'days'),
        q.scope,
        id,
        'day',
        day,
        days === null ? null : round6(days),
        extra,
      ),
    );
    out.push(
      point(def('days_of_stock', 'avg_daily_consumption_t'), q.scope, id, 'day', day, round6(a.avg), extra),
    );
    out.push(
      point(
        def('days_of_stock', 'days_change_7d'),
        q.scope,
        id,
        'day',
        day,
        days === null || prev === null ? null : round6(days - prev),
        extra,
      ),
    );
  }
  return out;
}

/**
 * balance (city, day): production_t = weighbridge sales (the mines' outbound
 * tonnage stands for output), shipments_t = rail shipped + highway outbound
 * tonnage, consumption_t = coal users' consumption, net_t = production − shipments − consumption.
 */
export async function balance(db: Db, q: RangeQuery): Promise<IndicatorPoint[]> {
  if (q.scope !== 'city') return [];
  const r = await db.query(
    `
    WITH d AS (
      SELECT DISTINCT window_start AS ws FROM ind_cell
      WHERE win = 'day' AND ((cell IN ('trade', 'rail_shipped', 'user_consumption') AND scope = 'city') OR (cell = 'hw_trucks' AND scope = 'direction' AND scope_id = 'out'))
        AND window_start >= $1 AND window_start <= $2)
    SELECT d.ws, COALESCE(t.a, 0)::float8 AS prod, (COALESCE(r.a, 0) + COALESCE(h.b, 0))::float8 AS ship, COALESCE(u.a, 0)::float8 AS cons,
      (COALESCE(t.a, 0) - COALESCE(r.a, 0) - COALESCE(h.b, 0) - COALESCE(u.a, 0))::float8 AS net
    FROM d
    LEFT JOIN ind_cell t ON t.cell = 'trade' AND t.scope = 'city' AND t.scope_id = '${CITY_ID}' AND t.win = 'day' AND t.window_start = d.ws
    LEFT JOIN ind_cell r ON r.cell = 'rail_shipped' AND r.scope = 'city' AND r.scope_id = '${CITY_ID}' AND r.win = 'day' AND r.window_start = d.ws
    LEFT JOIN ind_cell h ON h.cell = 'hw_trucks' AND h.scope = 'direction' AND h.scope_id = 'out' AND h.win = 'day' AND h.window_start = d.ws
    LEFT JOIN ind_cell u ON u.cell = 'user_consumption' AND u.scope = 'city' AND u.scope_id = '${CITY_ID}' AND u.win = 'day' AND u.window_start = d.ws`,
    [iso(q.from), iso(q.to)],
  );
  const out: IndicatorPoint[] = [];
  for (const x of r.rows) {
    const ws = ms(x.ws);
    out.push(point(def('balance', 'production_t'), 'city', CITY_ID, 'day', ws, round6(Number(x.prod))));
    out.push(point(def('balance', 'shipments_t'), 'city', CITY_ID, 'day', ws, round6(Number(x.ship))));
    out.push(point(def('balance', 'consumption_t'), 'city', CITY_ID, 'day', ws, round6(Number(x.cons))));
    out.push(point(def('balance', 'net_t'), 'city', CITY_ID, 'day', ws, round6(Number(x.net))));
  }
  // Company data: production and net follow the sales cell's contributors, consumption the users'.
  const sales = await contributorsOf(
    db,
    'trade',
    out.map((p) => ({
      scope: 'city' as Scope,
      scopeId: CITY_ID,
      win: 'day' as TumblingWindow,
      ws: p.windowStart,
    })),
  );
  const users = await contributorsOf(
    db,
    'user_consumption',
    out.map((p) => ({
      scope: 'city' as Scope,
      scopeId: CITY_ID,
      win: 'day' as TumblingWindow,
      ws: p.windowStart,
    })),
  );
  for (const p of out) {
    if (p.metric === 'shipments_t') continue;
    const src = p.metric === 'consumption_t' ? users : sales;
    const k = keyOf({
      cell: p.metric === 'consumption_t' ? 'user_consumption' : 'trade',
      scope: 'city',
      scopeId: CITY_ID,
      win: 'day',
      ws: p.windowStart,
    });
    const c = src.get(k);
    p.contributors = c?.contributors ?? 0;
    p.topShare = c?.topShare ?? null;
  }
  return out;
}

type DerivedFn = (db: Db, q: RangeQuery) => Promise<IndicatorPoint[]>;
/** Which query computes each derived metric. */
export const DERIVED: Record<string, DerivedFn> = {
  'production:utilisation_pct': utilisation,
  'production:operating_rate_pct': operating,
  'production:mines_producing': operating,
  'production:mines_total': operating,
  'production:capacity_t_per_year': operating,
  'price:vwap_dod_pct': vwapChange,
  'price:vwap_wow_pct': vwapChange,
  'price:pithead_index': (db, q) => priceIndex(db, q),
  'inventory:mine_stock_est_t': mineStockEstimate,
  'inventory:mine_stock_total_t': mineStockTotal,
  'inventory:port_stock_change_t': portStockChange,
  'days_of_stock:days': daysOfStock,
  'days_of_stock:avg_daily_consumption_t': daysOfStock,
  'days_of_stock:days_change_7d': daysOfStock,
  'balance:production_t': balance,
  'balance:shipments_t': balance,
  'balance:consumption_t': balance,
  'balance:net_t': balance,
};

/** One series of any metric over window starts in [from, to] (the API's series read). */
export async function series(
  db: Db,
  d: MetricDef,
  scope: Scope,
  ids: string[] | null,
  window: Window,
  from: number,
  to: number,
): Promise<IndicatorPoint[]> {
  if (!allows(d, scope, window)) return [];
  let pts: IndicatorPoint[];
  if (d.kind === 'cell' && d.cell === 'trade' && window === 'hour') {
    pts = await salesHourPoints(db, { from, to, scope, ids });
  } else if (d.kind === 'cell' && d.cell === 'trade' && window === '24h') {
    pts = await salesMine24h(db, ids, from, to);
  } else if (d.kind === 'cell') {
    if (window === '24h' || window === '7d' || window === '30d') {
      pts = await trailingPoints(db, d.cell, scope, ids, window, from, to);
    } else {
      pts = await cellPoints(db, await cellRange(db, d.cell, scope, ids, window, from, to));
    }
  } else {
    const fn = DERIVED[`${d.family}:${d.metric}`];
    if (!fn) return [];
    pts = await fn(db, { scope, ids, win: window as TumblingWindow, from, to });
  }
  return pts
    .filter((p) => p.family === d.family && p.metric === d.metric && p.scope === scope && p.window === window)
    .sort((a, b) => (a.scopeId < b.scopeId ? -1 : a.scopeId > b.scopeId ? 1 : a.windowStart - b.windowStart));
}

export { CELLS };
