/**
 * From a batch's touched cells to the indicator points to publish: the cells'
 * own metrics at every touched window (so a late record's window update is
 * published), trailing windows at each touched key's latest anchor, and the
 * derived metrics whose inputs the batch touched. Redelivered (duplicate)
 * records touch their cells too, so a batch redelivered after a crash
 * republishes what the crash may have kept from Redis and Kafka.
 */
import type { CanonicalRecord, CoalUserRecord, FeedName, MineInventoryRecord, MineRecord, SaleRecord } from '../contracts/types.ts';
import type { CellDelta, Lateness } from './core.ts';
import {
  CITY_ID, DAY_MS, dayStart, hourStart, METRICS_BY_CELL, monthStart, TRAILING, yearStart,
  type CellName, type IndicatorPoint, type Scope, type TumblingWindow,
} from './model.ts';
import {
  balance, cellPoints, daysOfStock, keyOf, mineStockEstimate, mineStockTotal, operating, portStockChange, priceIndex,
  readCells, salesHourPoints, salesMine24h, trailingLatestPoints, utilisation, vwapChange, type CellKey, type CellRow, type Db, type RangeQuery,
} from './queries.ts';

export interface PublishOptions {
  /** Base month (YYYY-MM) of the city pithead price index; default: the first month with trades in every basket band. */
  priceIndexBaseMonth?: string | null;
}

export interface Updates {
  points: IndicatorPoint[];
  /** Snapshot version (monotonic across workers sharing the store). */
  version: number;
}

interface Touch { ids: Set<string>; from: number; to: number }
/** "Up to the latest data": day series are clamped to the last day with data in the store. */
const FAR = Date.parse('2200-01-01T00:00:00Z');
/** The range a change on [from, to] moves for values that look forward (later days, rebased index, cumulative stock). */
const onwards = (t: Touch): Touch => ({ ids: t.ids, from: t.from, to: FAR });
function touch(m: Map<string, Touch>, k: string, id: string, ws: number) {
  const t = m.get(k);
  if (!t) { m.set(k, { ids: new Set([id]), from: ws, to: ws }); return; }
  t.ids.add(id);
  if (ws < t.from) t.from = ws;
  if (ws > t.to) t.to = ws;
}
const rq = (scope: Scope, win: TumblingWindow, t: Touch): RangeQuery => ({ scope, ids: [...t.ids], win, from: t.from, to: t.to });

/** Computes every point a batch of records of one feed changed. */
export async function computeUpdates(
  db: Db, feed: FeedName, records: { record: CanonicalRecord; eventMs: number; lateness?: Lateness }[], cells: CellDelta[],
  written: { updated: CellRow[]; version: number } = { updated: [], version: 0 }, opts: PublishOptions = {},
): Promise<Updates> {
  const keys = new Map<string, CellKey>();
  for (const c of cells) {
    const k = { cell: c.cell, scope: c.scope, scopeId: c.scopeId, win: c.win, ws: c.ws };
    keys.set(keyOf(k), k);
  }
  // Cells this batch changed came back from the write; re-read only the rest (a redelivered batch's).
  const rows = [...written.updated];
  const have = new Set(rows.map(keyOf));
  const missing = [...keys.values()].filter((k) => !have.has(keyOf(k)));
  let version = written.version;
  if (missing.length || !version) {
    const r = await readCells(db, missing);
    rows.push(...r.rows);
    version = r.version;
  }
  const points = await cellPoints(db, rows);

  if (feed === 'sales') {
    // Hourly sales (all scopes) and the per-mine trailing 24 h, from the facts.
    const hours = new Set<number>();
    const mineHours = new Set<string>();
    const mines = new Set<string>();
    for (const { record, eventMs, lateness } of records) {
      const mine = (record as SaleRecord).mineId;
      mines.add(mine);
      if (lateness === 'too_late') continue;
      hours.add(hourStart(eventMs));
      mineHours.add(`${mine}\u0001${hourStart(eventMs)}`);
    }
    if (hours.size) {
      for (const p of await salesHourPoints(db, { hours: [...hours] })) {
        if (p.scope !== 'mine' || mineHours.has(`${p.scopeId}\u0001${p.windowStart}`)) points.push(p);
      }
    }
    if (mines.size) points.push(...await salesMine24h(db, [...mines], null, null));
  }

  // Trailing windows (day based) at each touched key's latest anchor.
  const trailingPairs = new Map<CellName, Map<string, { scope: Scope; scopeId: string }>>();
  for (const k of keys.values()) {
    const defs = METRICS_BY_CELL.get(k.cell) ?? [];
    if (!defs.some((d) => d.scopes.includes(k.scope) && d.windows.some((w) => w === '7d' || w === '30d' || (w === '24h' && k.cell !== 'trade')))) continue;
    const m = trailingPairs.get(k.cell) ?? trailingPairs.set(k.cell, new Map()).get(k.cell)!;
    m.set(`${k.scope}\u0001${k.scopeId}`, { scope: k.scope, scopeId: k.scopeId });
  }
  for (const [cell, pairs] of trailingPairs) {
    const wins = new Set((METRICS_BY_CELL.get(cell) ?? []).flatMap((d) => d.windows));
    for (const w of TRAILING) {
      if (!wins.has(w) || (w === '24h' && cell === 'trade')) continue;
      points.push(...await trailingLatestPoints(db, cell, [...pairs.values()], w));
    }
  }

  // Derived metrics whose inputs were touched. Run one after another: the
  // embedded store is a single session, and a failure must not leave others unobserved.
  const t = new Map<string, Touch>();
  for (const k of keys.values()) touch(t, `${k.cell}|${k.scope}|${k.win}`, k.scopeId, k.ws);
  const get = (cell: CellName, scope: Scope, win: TumblingWindow) => t.get(`${cell}|${scope}|${win}`);
  const jobs: (() => Promise<IndicatorPoint[]>)[] = [];
  const run = (fn: (db: Db, q: RangeQuery) => Promise<IndicatorPoint[]>, scope: Scope, win: TumblingWindow, tt: Touch | undefined) => {
    if (tt) jobs.push(() => fn(db, rq(scope, win, tt)));
  };
  const evs = records.map((r) => r.eventMs);
  const days = evs.length ? { from: dayStart(Math.min(...evs)), to: dayStart(Math.max(...evs)) } : null;
  switch (feed) {
    case 'sales': {
      for (const scope of ['mine', 'region', 'city'] as const) for (const win of ['day', 'mtd', 'ytd'] as const) run(utilisation, scope, win, get('trade', scope, win));
      // A day's price moves its own change and those of the next day and the same day next week.
      for (const scope of ['region', 'coal_type', 'band', 'city'] as const) {
        const tt = get('trade', scope, 'day');
        run(vwapChange, scope, 'day', tt && { ids: tt.ids, from: tt.from, to: tt.to + 7 * DAY_MS });
      }
      // The base month's prices and tonnages move every day's index; estimated stock is cumulative.
      const city = get('trade', 'city', 'day');
      run((d, q) => priceIndex(d, q, opts.priceIndexBaseMonth ?? null), 'city', 'day', city && onwards(city));
      const mine = get('trade', 'mine', 'day');
      run(mineStockEstimate, 'mine', 'day', mine && onwards(mine));
      run(balance, 'city', 'day', city);
      // Statuses are carried forward to the latest day with data: new days need the operating rate too.
      if (city) {
        jobs.push(() => operating(db, { scope: 'city', ids: [CITY_ID], win: 'day', from: city.from, to: city.to }));
        const regions = get('trade', 'region', 'day');
        if (regions) jobs.push(() => operating(db, { scope: 'region', ids: [...regions.ids], win: 'day', from: regions.from, to: regions.to }));
        if (mine) jobs.push(() => operating(db, { scope: 'mine', ids: [...mine.ids], win: 'day', from: mine.from, to: mine.to }));
      }
      break;
    }
    case 'mines': {
      if (!days) break;
      // Status and capacity: operating rate on the records' days; utilisation of the windows holding the records' events.
      const mines = new Map<string, Touch>();
      const regions = new Map<string, Touch>();
      for (const { record, eventMs } of records) {
        const r = record as MineRecord;
        for (const { win, ws } of utilisationWindows(eventMs)) {
          touch(mines, win, r.mineId, ws);
          touch(regions, win, r.regionCode, ws);
          touch(regions, `city:${win}`, CITY_ID, ws);
        }
      }
      // A status holds until the next one: every day from the record's on moves (up to the latest data).
      const later = { win: 'day' as const, from: days.from, to: FAR };
      const mineIds = [...new Set(records.map((r) => (r.record as MineRecord).mineId))];
      jobs.push(() => operating(db, { scope: 'mine', ids: mineIds, ...later }));
      jobs.push(() => operating(db, { scope: 'region', ids: [...new Set(records.map((r) => (r.record as MineRecord).regionCode))], ...later }));
      jobs.push(() => operating(db, { scope: 'city', ids: [CITY_ID], ...later }));
      jobs.push(() => mineStockEstimate(db, { scope: 'mine', ids: mineIds, ...later }));
      for (const win of ['day', 'mtd', 'ytd'] as const) {
        const m = mines.get(win);
        const r = regions.get(win);
        const c = regions.get(`city:${win}`);
        run(utilisation, 'mine', win, m && onwards(m));
        run(utilisation, 'region', win, r && onwards(r));
        run(utilisation, 'city', win, c && onwards(c));
      }
      break;
    }
    case 'mine_inventory': {
      const st = get('mine_stock', 'mine', 'day');
      run(mineStockEstimate, 'mine', 'day', st && onwards(st));
      if (days) {
        // A report counts until the mine's next one (at most 60 days): later days move too.
        const regions = [...new Set(records.map((r) => (r.record as MineInventoryRecord).regionCode))];
        jobs.push(() => mineStockTotal(db, { scope: 'region', ids: regions, win: 'day', from: days.from, to: FAR }));
        jobs.push(() => mineStockTotal(db, { scope: 'city', ids: [CITY_ID], win: 'day', from: days.from, to: FAR }));
      }
      break;
    }
    case 'ports': {
      const st = get('port_stock', 'port', 'day');
      run(portStockChange, 'port', 'day', st && { ids: st.ids, from: st.from, to: st.to + 30 * DAY_MS });
      break;
    }
    case 'coal_users': {
      const stock = get('user_stock', 'user', 'day');
      const cons = get('user_consumption', 'user', 'day');
      if (stock || cons) {
        const from = Math.min(stock?.from ?? Infinity, cons?.from ?? Infinity);
        const to = Math.max(stock?.to ?? -Infinity, cons?.to ?? -Infinity);
        // A consumption change moves days-of-stock for the following week too.
        const span = { win: 'day' as const, from, to: to + 7 * DAY_MS };
        const users = [...new Set([...(stock?.ids ?? []), ...(cons?.ids ?? [])])];
        const sectors = [...new Set(records.map((r) => (r.record as CoalUserRecord).sector))];
        jobs.push(() => daysOfStock(db, { scope: 'user', ids: users, ...span }));
        jobs.push(() => daysOfStock(db, { scope: 'sector', ids: sectors, ...span }));
        jobs.push(() => daysOfStock(db, { scope: 'city', ids: [CITY_ID], ...span }));
      }
      run(balance, 'city', 'day', get('user_consumption', 'city', 'day'));
      break;
    }
    case 'rail':
      run(balance, 'city', 'day', get('rail_shipped', 'city', 'day'));
      break;
    case 'highway':
      run(balance, 'city', 'day', get('hw_trucks', 'direction', 'day'));
      break;
    case 'prices':
      break;
  }
  for (const job of jobs) for (const p of await job()) points.push(p);
  return { points, version };
}

/** The windows a mines record's capacity change touches for utilisation (day, month and year of its event). */
export function utilisationWindows(eventMs: number): { win: TumblingWindow; ws: number }[] {
  return [{ win: 'day', ws: dayStart(eventMs) }, { win: 'mtd', ws: monthStart(eventMs) }, { win: 'ytd', ws: yearStart(eventMs) }];
}
