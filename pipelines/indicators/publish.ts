/**
 * From claimed outbox keys (outbox.ts) to the indicator points to publish: the
 * cells' own metrics at every window the keys' event ranges cover (so a late
 * record's window update is published), trailing windows at each key's latest
 * anchor, and the derived metrics whose inputs are dirty — for all claimed keys
 * at once, one query per derived metric (and scope where it must), so the cost
 * of a publication round hardly depends on how many batches it covers.
 */
import {
  CITY_ID,
  DAY_MS,
  dayStart,
  HOUR_MS,
  hourStart,
  METRICS_BY_CELL,
  monthStart,
  TRAILING,
  TUMBLING,
  windowStart,
  yearStart,
  type CellName,
  type IndicatorPoint,
  type Scope,
  type TumblingWindow,
} from './model.ts';
import type { DirtyRow } from './outbox.ts';
import {
  balance,
  cellPoints,
  daysOfStock,
  mineStockEstimate,
  mineStockTotal,
  operating,
  portStockChange,
  priceIndex,
  readCellRanges,
  salesHourPoints,
  salesMine24h,
  trailingLatestPoints,
  utilisationMany,
  vwapChangeMany,
  type Db,
  type RangeQuery,
} from './queries.ts';

export interface PublishOptions {
  /**
   * Which points: 'direct' = the cells' own points at every tumbling window the keys' ranges cover and the
   * sales hours; 'derived' = trailing windows and derived metrics; 'all' (default) = both.
   */
  lane?: 'direct' | 'derived' | 'all';
  /** Base month (YYYY-MM) of the city pithead price index; default: the first month with trades in every basket band. */
  priceIndexBaseMonth?: string | null;
  /**
   * Derived lane only: compute just the days in [from, to] (a catch-up round is published a month at a time,
   * so that its points never pile up for a year at once). Values at the latest anchor (trailing windows, the
   * per-mine 24 h) come with the slice that reaches the end (`to` ≥ the latest data).
   */
  clamp?: { from: number; to: number } | null;
  /** Direct lane: false leaves out the sales hours (the caller publishes them a day at a time: `directHourPoints`). */
  hours?: boolean;
}

/** The hours whose sales the rows' on-time records touched (direct lane), in order. */
export function directHours(rows: readonly DirtyRow[]): number[] {
  const hours = new Set<number>();
  for (const r of rows) {
    if (r.kind !== 'trade' || r.scope !== 'mine' || r.otFrom === null || r.otTo === null) continue;
    for (let h = hourStart(r.otFrom); h <= hourStart(r.otTo); h += HOUR_MS) hours.add(h);
  }
  return [...hours].sort((a, b) => a - b);
}

/**
 * Hourly sales points of the given hours (a subset of `directHours(rows)`): every aggregate scope, and the
 * mines among the rows within their own hourly range.
 */
export async function directHourPoints(
  db: Db,
  rows: readonly DirtyRow[],
  hours: readonly number[],
): Promise<IndicatorPoint[]> {
  if (!hours.length) return [];
  // A mine may come as several parts of its range (a long range cut at months): keep each of them.
  const mineHours = new Map<string, { from: number; to: number }[]>();
  for (const r of rows) {
    if (r.kind !== 'trade' || r.scope !== 'mine' || r.otFrom === null || r.otTo === null) continue;
    const list = mineHours.get(r.scopeId) ?? mineHours.set(r.scopeId, []).get(r.scopeId)!;
    list.push({ from: hourStart(r.otFrom), to: hourStart(r.otTo) });
  }
  const out: IndicatorPoint[] = [];
  for (const p of await salesHourPoints(db, { hours: [...hours] })) {
    if (p.scope !== 'mine') {
      out.push(p);
      continue;
    }
    if (mineHours.get(p.scopeId)?.some((h) => p.windowStart >= h.from && p.windowStart <= h.to)) out.push(p);
  }
  return out;
}

interface Touch {
  ids: Set<string>;
  from: number;
  to: number;
}
/** "Up to the latest data": day series are clamped to the last day with data in the store. */
export const FAR = Date.parse('2200-01-01T00:00:00Z');
/** The range a change on [from, to] moves for values that look forward (later days, rebased index, cumulative stock). */
const onwards = (t: Touch): Touch => ({ ids: t.ids, from: t.from, to: FAR });
function touch(m: Map<string, Touch>, k: string, id: string, ws: number) {
  const t = m.get(k);
  if (!t) {
    m.set(k, { ids: new Set([id]), from: ws, to: ws });
    return;
  }
  t.ids.add(id);
  if (ws < t.from) t.from = ws;
  if (ws > t.to) t.to = ws;
}
const rq = (scope: Scope, win: TumblingWindow, t: Touch): RangeQuery => ({
  scope,
  ids: [...t.ids],
  win,
  from: t.from,
  to: t.to,
});

/**
 * Computes every point the claimed dirty keys stand for, for all of them at
 * once: one read of their cells, then one query per derived metric and scope
 * over the union of their ids and ranges (not one per key or per batch).
 */
export async function computeDirty(
  db: Db,
  rows: readonly DirtyRow[],
  opts: PublishOptions = {},
): Promise<IndicatorPoint[]> {
  // Cells of every dirty key at every tumbling window its event range covers.
  const t = new Map<string, Touch>();
  const cellQ: { cell: string; scope: string; id: string; win: TumblingWindow; from: number; to: number }[] =
    [];
  const pairs = new Map<CellName, Map<string, { scope: Scope; scopeId: string }>>();
  const rec = new Map<string, DirtyRow[]>();
  for (const r of rows) {
    if (r.kind.startsWith('rec:')) {
      (rec.get(r.kind) ?? rec.set(r.kind, []).get(r.kind)!).push(r);
      continue;
    }
    const cell = r.kind as CellName;
    for (const win of TUMBLING) {
      let from: number;
      let to: number;
      if (win === 'hour') {
        if (r.otFrom === null || r.otTo === null) continue;
        from = hourStart(r.otFrom);
        to = hourStart(r.otTo);
      } else {
        from = windowStart(win, r.evFrom);
        to = windowStart(win, r.evTo);
      }
      touch(t, `${cell}|${r.scope}|${win}`, r.scopeId, from);
      touch(t, `${cell}|${r.scope}|${win}`, r.scopeId, to);
      // Sales hours come from the hour rollup (salesHourPoints), not from hour cells.
      if (!(cell === 'trade' && win === 'hour'))
        cellQ.push({ cell, scope: r.scope, id: r.scopeId, win, from, to });
    }
    const m = pairs.get(cell) ?? pairs.set(cell, new Map()).get(cell)!;
    m.set(`${r.scope}\u0001${r.scopeId}`, { scope: r.scope, scopeId: r.scopeId });
  }
  const lane = opts.lane ?? 'all';
  const clamp = opts.clamp ?? null;
  /** Whether this call computes the values at the latest anchor (every call but the early slices of a clamped round). */
  const latest = !clamp || clamp.to >= FAR;
  const direct = lane !== 'derived';
  const derived = lane !== 'direct';
  const points = direct && cellQ.length ? await cellPoints(db, await readCellRanges(db, cellQ)) : [];

  // Hourly sales (all scopes) of the hours on-time sales touched, and the per-mine trailing 24 h, from the hour rollup.
  const mineRows = rows.filter((r) => r.kind === 'trade' && r.scope === 'mine');
  if (direct && opts.hours !== false) points.push(...(await directHourPoints(db, rows, directHours(rows))));
  if (!derived) return points;
  if (mineRows.length && latest)
    points.push(
      ...(await salesMine24h(
        db,
        mineRows.map((r) => r.scopeId),
        null,
        null,
      )),
    );

  // Trailing windows (day based) at each dirty key's latest anchor.
  for (const [cell, ps] of latest ? pairs : []) {
    const defs = METRICS_BY_CELL.get(cell) ?? [];
    const list = [...ps.values()].filter((p) =>
      defs.some(
        (d) =>
          d.scopes.includes(p.scope) &&
          d.windows.some((w) => w === '7d' || w === '30d' || (w === '24h' && cell !== 'trade')),
      ),
    );
    if (!list.length) continue;
    const wins = new Set(defs.flatMap((d) => d.windows));
    for (const w of TRAILING) {
      if (!wins.has(w) || (w === '24h' && cell === 'trade')) continue;
      points.push(...(await trailingLatestPoints(db, cell, list, w)));
    }
  }

  // Derived metrics whose inputs are dirty. One after another: the embedded
  // store is a single session, and a failure must not leave others unobserved.
  const get = (cell: CellName, scope: Scope, win: TumblingWindow) => t.get(`${cell}|${scope}|${win}`);
  const jobs: (() => Promise<IndicatorPoint[]>)[] = [];
  /** The query's range within the clamp (null: nothing of it in this slice). */
  const cq = (q: RangeQuery): RangeQuery | null => {
    if (!clamp) return q;
    const from = Math.max(q.from, clamp.from);
    const to = Math.min(q.to, clamp.to);
    return from <= to ? { ...q, from, to } : null;
  };
  const one = (fn: (db: Db, q: RangeQuery) => Promise<IndicatorPoint[]>, q: RangeQuery) => {
    const c = cq(q);
    if (c) jobs.push(() => fn(db, c));
  };
  const many = (fn: (db: Db, qs: RangeQuery[]) => Promise<IndicatorPoint[]>, qs: RangeQuery[]) => {
    const cs = qs.map(cq).filter((q): q is RangeQuery => q !== null);
    if (cs.length) jobs.push(() => fn(db, cs));
  };
  const run = (
    fn: (db: Db, q: RangeQuery) => Promise<IndicatorPoint[]>,
    scope: Scope,
    win: TumblingWindow,
    tt: Touch | undefined,
  ) => {
    if (tt) one(fn, rq(scope, win, tt));
  };
  const hull = (...ts: (Touch | undefined)[]): Touch | undefined => {
    const xs = ts.filter((x): x is Touch => !!x);
    if (!xs.length) return undefined;
    return {
      ids: new Set(xs.flatMap((x) => [...x.ids])),
      from: Math.min(...xs.map((x) => x.from)),
      to: Math.max(...xs.map((x) => x.to)),
    };
  };
  const recIds = (kind: string, scope: Scope) => [
    ...new Set((rec.get(kind) ?? []).filter((r) => r.scope === scope).map((r) => r.scopeId)),
  ];
  const recFrom = (kind: string) => {
    const l = rec.get(kind) ?? [];
    return l.length ? dayStart(Math.min(...l.map((r) => r.evFrom))) : null;
  };

  // Sales.
  const city = get('trade', 'city', 'day');
  const mine = get('trade', 'mine', 'day');
  // Utilisation: every (scope, window) in one statement, collected here and from mine status below.
  const util: RangeQuery[] = [];
  for (const scope of ['mine', 'region', 'city'] as const)
    for (const win of ['day', 'mtd', 'ytd'] as const) {
      const tt = get('trade', scope, win);
      if (tt) util.push(rq(scope, win, tt));
    }
  // A day's price moves its own change and those of the next day and the same day next week.
  const vw: RangeQuery[] = [];
  for (const scope of ['region', 'coal_type', 'band', 'city'] as const) {
    const tt = get('trade', scope, 'day');
    if (tt) vw.push(rq(scope, 'day', { ids: tt.ids, from: tt.from, to: tt.to + 7 * DAY_MS }));
  }
  if (vw.length) many(vwapChangeMany, vw);
  // The base month's prices and tonnages move every day's index.
  run((d, q) => priceIndex(d, q, opts.priceIndexBaseMonth ?? null), 'city', 'day', city && onwards(city));
  // Statuses are carried forward to the latest day with data: new days need the operating rate too.
  if (city) {
    one(operating, { scope: 'city', ids: [CITY_ID], win: 'day', from: city.from, to: city.to });
    const regions = get('trade', 'region', 'day');
    if (regions)
      one(operating, {
        scope: 'region',
        ids: [...regions.ids],
        win: 'day',
        from: regions.from,
        to: regions.to,
      });
    if (mine) one(operating, { scope: 'mine', ids: [...mine.ids], win: 'day', from: mine.from, to: mine.to });
  }

  // Mine status and capacity: a status holds until the next one, so every day from the record's on moves.
  const minesFrom = recFrom('rec:mines');
  if (minesFrom !== null) {
    const later = { win: 'day' as const, from: minesFrom, to: FAR };
    const mineIds = recIds('rec:mines', 'mine');
    const regionIds = recIds('rec:mines', 'region');
    one(operating, { scope: 'mine', ids: mineIds, ...later });
    one(operating, { scope: 'region', ids: regionIds, ...later });
    one(operating, { scope: 'city', ids: [CITY_ID], ...later });
    // Utilisation of the windows holding the records' events, onwards.
    for (const win of ['day', 'mtd', 'ytd'] as const) {
      const from = windowStart(win, minesFrom);
      util.push({ scope: 'mine', ids: mineIds, win, from, to: FAR });
      util.push({ scope: 'region', ids: regionIds, win, from, to: FAR });
      util.push({ scope: 'city', ids: [CITY_ID], win, from, to: FAR });
    }
  }

  if (util.length) many(utilisationMany, util);

  // Estimated mine stock is cumulative: sales, stock reports and status all move it onwards.
  const est = hull(
    mine,
    get('mine_stock', 'mine', 'day'),
    minesFrom === null
      ? undefined
      : { ids: new Set(recIds('rec:mines', 'mine')), from: minesFrom, to: minesFrom },
  );
  run(mineStockEstimate, 'mine', 'day', est && onwards(est));
  // A stock report counts until the mine's next one (at most 60 days): later days move too.
  const invFrom = recFrom('rec:mine_inventory');
  if (invFrom !== null) {
    const regions = recIds('rec:mine_inventory', 'region');
    if (regions.length)
      one(mineStockTotal, { scope: 'region', ids: regions, win: 'day', from: invFrom, to: FAR });
    one(mineStockTotal, { scope: 'city', ids: [CITY_ID], win: 'day', from: invFrom, to: FAR });
  }

  // Ports.
  const ps = get('port_stock', 'port', 'day');
  run(portStockChange, 'port', 'day', ps && { ids: ps.ids, from: ps.from, to: ps.to + 30 * DAY_MS });

  // Days of stock: a consumption change moves the following week too.
  const stock = get('user_stock', 'user', 'day');
  const cons = get('user_consumption', 'user', 'day');
  if (stock || cons) {
    const u = hull(stock, cons)!;
    const span = { win: 'day' as const, from: u.from, to: u.to + 7 * DAY_MS };
    const sectors = recIds('rec:coal_users', 'sector');
    one(daysOfStock, { scope: 'user', ids: [...u.ids], ...span });
    if (sectors.length) one(daysOfStock, { scope: 'sector', ids: sectors, ...span });
    one(daysOfStock, { scope: 'city', ids: [CITY_ID], ...span });
  }

  // Balance: production (sales), rail and highway shipments, consumption.
  const bal = hull(
    city,
    get('user_consumption', 'city', 'day'),
    get('rail_shipped', 'city', 'day'),
    get('hw_trucks', 'direction', 'day'),
  );
  run(balance, 'city', 'day', bal);

  for (const job of jobs) for (const p of await job()) points.push(p);
  return points;
}

/** The windows a mines record's capacity change touches for utilisation (day, month and year of its event). */
export function utilisationWindows(eventMs: number): { win: TumblingWindow; ws: number }[] {
  return [
    { win: 'day', ws: dayStart(eventMs) },
    { win: 'mtd', ws: monthStart(eventMs) },
    { win: 'ytd', ws: yearStart(eventMs) },
  ];
}
