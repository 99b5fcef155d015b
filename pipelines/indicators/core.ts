/**
 * The pure core of the indicator workers: lateness classification against a
 * per-partition watermark, and the mapping of one canonical record to its fact
 * row and its cell deltas. No I/O here; the runner and the Timescale sink do that.
 */
import type {
  CoalUserRecord,
  FeedName,
  FeedRecordMap,
  HighwayRecord,
  MineInventoryRecord,
  MineRecord,
  PortRecord,
  PriceRecord,
  RailRecord,
  SaleRecord,
} from '../contracts/types.ts';
import {
  bandOf,
  CELLS,
  CITY_ID,
  dayStart,
  hourStart,
  windowStart,
  type CellName,
  type Scope,
  type TumblingWindow,
} from './model.ts';

// ---------------------------------------------------------------- lateness

export type Lateness = 'on_time' | 'late' | 'too_late';

/** Per-partition event-time state. The watermark is `maxEventMs - allowedLatenessMs`. */
export interface WatermarkState {
  maxEventMs: number;
}

/**
 * Classifies records in partition (offset) order: `late` when behind the
 * largest event time seen so far but within the allowed lateness, `too_late`
 * when older than the watermark. Deterministic for a partition's log, given the
 * persisted state, whatever the batch boundaries.
 */
export function classify(
  eventMs: readonly number[],
  state: WatermarkState,
  allowedLatenessMs: number,
): { classes: Lateness[]; state: WatermarkState } {
  let max = state.maxEventMs;
  const classes = eventMs.map((t): Lateness => {
    const c: Lateness = t >= max ? 'on_time' : t >= max - allowedLatenessMs ? 'late' : 'too_late';
    if (t > max) max = t;
    return c;
  });
  return { classes, state: { maxEventMs: max } };
}

// ---------------------------------------------------------------- event time

export function eventMsOf<F extends FeedName>(feed: F, r: FeedRecordMap[F]): number {
  const t = feed === 'sales' ? (r as SaleRecord).grossTime || r.eventTime : r.eventTime;
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw new RangeError(`bad event time ${String(t)}`);
  return ms;
}

// ---------------------------------------------------------------- deltas

/** A change to one cell, in scaled integers (see CELLS scales). */
export interface CellDelta {
  cell: CellName;
  scope: Scope;
  scopeId: string;
  win: TumblingWindow;
  ws: number;
  a: number;
  b: number;
  n: number;
  /** Last-by-event-time value (scaled), with its event time and record id as the order key. */
  lastV: number | null;
  lastT: number;
  lastRid: string;
}

/** A company's share of a cell of company data (aggregate scopes only): for contributors and dominance. */
export interface ContribDelta {
  cell: CellName;
  scope: Scope;
  scopeId: string;
  win: TumblingWindow;
  ws: number;
  company: string;
  /** Scaled like the cell's `a` (tonnes to the kilogram). */
  v: number;
}

export function scaled(x: number | undefined | null, scale: number): number | null {
  if (x === undefined || x === null || !Number.isFinite(x)) return null;
  return Math.round(x * 10 ** scale);
}

/** Formats a scaled integer as an exact decimal string. */
export function decimal(v: number, scale: number): string {
  if (!scale) return String(v);
  const neg = v < 0;
  const s = String(Math.abs(v)).padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -scale)}.${s.slice(-scale)}`;
}

interface Emit {
  cell(
    cell: CellName,
    scopes: readonly (readonly [Scope, string | undefined])[],
    wins: readonly TumblingWindow[],
    v: { a?: number | null; b?: number | null; n?: number; last?: number | null },
  ): void;
  contrib(
    cell: CellName,
    scopes: readonly (readonly [Scope, string | undefined])[],
    wins: readonly TumblingWindow[],
    company: string,
    v: number,
  ): void;
}

function emitter(eventMs: number, rid: string, cells: CellDelta[], contribs: ContribDelta[]): Emit {
  return {
    cell(cell, scopes, wins, v) {
      const a = v.a === undefined || v.a === null ? 0 : v.a;
      const b = v.b === undefined || v.b === null ? 0 : v.b;
      const last = v.last === undefined ? null : v.last;
      for (const [scope, id] of scopes) {
        if (id === undefined || id === '') continue;
        for (const win of wins) {
          cells.push({
            cell,
            scope,
            scopeId: id,
            win,
            ws: windowStart(win, eventMs),
            a,
            b,
            n: v.n ?? 1,
            lastV: last,
            lastT: eventMs,
            lastRid: rid,
          });
        }
      }
    },
    contrib(cell, scopes, wins, company, v) {
      for (const [scope, id] of scopes) {
        if (id === undefined || id === '') continue;
        for (const win of wins)
          contribs.push({ cell, scope, scopeId: id, win, ws: windowStart(win, eventMs), company, v });
      }
    },
  };
}

const S = (scale: number) => (x: number | undefined | null) => scaled(x, scale);
const t3 = S(3);
const y2 = S(2);
const i0 = S(0);

/**
 * The cells one record feeds. `tooLate` records (older than the watermark) no
 * longer touch hourly windows; they still reach day and longer windows as corrections.
 */
export function deltasOf<F extends FeedName>(
  feed: F,
  record: FeedRecordMap[F],
  eventMs: number,
  tooLate: boolean,
): { cells: CellDelta[]; contribs: ContribDelta[] } {
  const cells: CellDelta[] = [];
  const contribs: ContribDelta[] = [];
  const e = emitter(eventMs, record.recordId, cells, contribs);
  const hourDay: readonly TumblingWindow[] = tooLate ? ['day'] : ['hour', 'day'];
  switch (feed) {
    case 'sales': {
      const r = record as SaleRecord;
      const band = bandOf(r.calorificKcal);
      const agg = [
        ['region', r.regionCode],
        ['coal_type', r.coalType],
        ['band', band],
        ['city', CITY_ID],
      ] as const;
      const { net, value } = saleAmounts(r);
      // Sales hours (every scope) and the per-mine 24 h are read from the hour rollup (ind_sales_hour,
      // `saleHours`), with their contributors: no hour cells.
      e.cell('trade', [['mine', r.mineId]], ['day', 'mtd', 'ytd'], { a: net, b: value, n: 1 });
      e.cell('trade', agg, ['day', 'mtd', 'ytd'], { a: net, b: value, n: 1 });
      e.contrib('trade', agg, ['day', 'mtd', 'ytd'], companyOf(r), net);
      break;
    }
    case 'prices': {
      const r = record as PriceRecord;
      const cell = `quote_${r.priceKind}` as CellName;
      if (!(cell in CELLS)) break;
      const p = y2(r.priceYuanPerT);
      if (p === null) break;
      const wins: readonly TumblingWindow[] =
        r.priceKind === 'annual' ? ['ytd'] : r.priceKind === 'monthly' ? ['mtd'] : ['day', 'mtd'];
      const scopes: [Scope, string | undefined][] = [
        ['coal_type', r.coalType],
        ['city', CITY_ID],
      ];
      if (r.priceKind !== 'annual' && r.priceKind !== 'monthly')
        scopes.push(['band', bandOf(r.calorificKcal)]);
      if (r.priceKind === 'pithead') scopes.push(['mine', r.mineId]);
      e.cell(cell, scopes, wins, { a: p, n: 1, last: p });
      break;
    }
    case 'ports': {
      const r = record as PortRecord;
      const port = [['port', r.port]] as const;
      const stock = t3(r.stockT);
      if (stock !== null) e.cell('port_stock', port, ['day'], { last: stock });
      const fob = y2(r.fobPriceYuanPerT);
      if (fob !== null)
        e.cell(
          'port_fob',
          [...port, ['coal_type', r.coalType], ['band', bandOf(r.calorificKcal)]],
          ['day', 'mtd'],
          { a: fob, n: 1, last: fob },
        );
      const imp = t3(r.importT);
      if (imp !== null) e.cell('import_qty', [...port, ['city', CITY_ID]], ['day', 'mtd'], { a: imp });
      const ip = y2(r.importPriceYuanPerT);
      if (ip !== null) e.cell('import_price', port, ['day', 'mtd'], { a: ip, n: 1, last: ip });
      const vessels = i0(r.vesselsWaiting);
      if (vessels !== null) e.cell('vessels', port, ['day'], { last: vessels });
      const fr = y2(r.freightYuanPerT);
      if (fr !== null)
        e.cell('freight', [['freight_route', r.freightRoute || r.port]], ['day', 'mtd'], {
          a: fr,
          n: 1,
          last: fr,
        });
      break;
    }
    case 'rail': {
      const r = record as RailRecord;
      if (r.period === 'month') {
        const coal = t3(r.shippedT);
        const other = t3(r.otherT);
        if (coal !== null || other !== null)
          e.cell(
            'rail_month',
            [
              ['route', r.route],
              ['city', CITY_ID],
            ],
            ['mtd', 'ytd'],
            { a: coal, b: other },
          );
        break;
      }
      const rd = routeDir(r.route, r.direction);
      const all = [
        ['route_dir', rd],
        ['route', r.route],
        ['city', CITY_ID],
      ] as const;
      if (r.requestedCars != null || r.approvedCars != null) {
        e.cell('rail_cars', all, ['day', 'mtd'], { a: i0(r.requestedCars), b: i0(r.approvedCars) });
      }
      const shipped = t3(r.shippedT);
      if (shipped !== null) {
        e.cell('rail_shipped', all, ['day', 'mtd'], { a: shipped });
        const cap = t3(r.routeCapacityT);
        if (cap !== null && cap > 0)
          e.cell(
            'rail_capacity_use',
            [
              ['route_dir', rd],
              ['route', r.route],
            ],
            ['day', 'mtd'],
            { a: shipped, b: cap },
          );
      }
      const transit = t3(r.inTransitT);
      if (transit !== null) e.cell('rail_transit', [['route_dir', rd]], ['day'], { last: transit });
      break;
    }
    case 'highway': {
      const r = record as HighwayRecord;
      const gd = `${r.gate}|${r.direction}`;
      e.cell(
        'hw_trucks',
        [
          ['gate_dir', gd],
          ['gate', r.gate],
          ['direction', r.direction],
        ],
        hourDay,
        { a: i0(r.trucks), b: t3(r.tonnageT), n: 1 },
      );
      const ci = t3(r.congestionIndex);
      if (ci !== null)
        e.cell(
          'hw_congestion',
          [
            ['gate_dir', gd],
            ['gate', r.gate],
          ],
          hourDay,
          { a: ci, n: 1 },
        );
      break;
    }
    case 'coal_users': {
      const r = record as CoalUserRecord;
      const agg = [
        ['user', r.userId],
        ['sector', r.sector],
        ['city', CITY_ID],
      ] as const;
      const cons = t3(r.consumptionT);
      const users = [
        ['sector', r.sector],
        ['city', CITY_ID],
      ] as const;
      if (cons !== null) {
        e.cell('user_consumption', agg, ['day', 'mtd'], { a: cons });
        e.contrib('user_consumption', users, ['day', 'mtd'], r.userId, cons);
      }
      const intake = t3(r.intakeT);
      if (intake !== null) {
        e.cell('user_intake', agg, ['day', 'mtd'], { a: intake });
        e.contrib('user_intake', users, ['day', 'mtd'], r.userId, intake);
      }
      const stock = t3(r.stockT);
      if (stock !== null) e.cell('user_stock', [['user', r.userId]], ['day'], { last: stock });
      const load = t3(r.powerLoadMw);
      if (load !== null)
        e.cell(
          'user_load',
          [
            ['user', r.userId],
            ['sector', r.sector],
          ],
          ['day'],
          { a: load, n: 1 },
        );
      break;
    }
    case 'mine_inventory': {
      const r = record as MineInventoryRecord;
      const stock = t3(r.stockT);
      if (stock !== null) e.cell('mine_stock', [['mine', r.mineId]], ['day'], { last: stock });
      break;
    }
    case 'mines':
      // Master data and status: kept as facts and in the mine dimension; read by derived metrics.
      void (record as MineRecord);
      break;
  }
  return { cells, contribs };
}

/** A sale's tonnage (kg) and value (fen) as the trade cells add them. */
function saleAmounts(r: SaleRecord): { net: number; value: number } {
  return { net: t3(r.netT) ?? 0, value: y2(r.totalPriceYuan) ?? 0 };
}

/** Sales records that feed exactly the same cells and contributors, with their sums (see `groupSales`). */
export interface SaleGroup<T> {
  /** A member (any member's deltas have the group's keys). */
  first: T;
  tooLate: boolean;
  /** Sums in the trade cells' scales (kg, fen) and the record count. */
  net: number;
  value: number;
  n: number;
  /** Event-time range of the members, and their earliest acceptance time. */
  minMs: number;
  maxMs: number;
  acceptedMs: number | null;
}

/**
 * Sales deltas are linear: every cell a sale feeds adds its tonnage, value and a count, and which cells it
 * feeds depends only on its mine, region, coal type, band, company, day and whether it is too late for
 * hourly windows. Records alike in these are summed first, so a batch makes one set of deltas per group
 * (a few per mine and day) instead of one per record; the sums are exact (scaled integers).
 */
export function groupSales<
  T extends { record: SaleRecord; eventMs: number; lateness: Lateness; acceptedMs?: number | null },
>(items: Iterable<T>): SaleGroup<T>[] {
  const m = new Map<string, SaleGroup<T>>();
  for (const it of items) {
    const r = it.record;
    const tooLate = it.lateness === 'too_late';
    const k = `${r.mineId}\u0001${r.regionCode}\u0001${r.coalType}\u0001${bandOf(r.calorificKcal)}\u0001${companyOf(r)}\u0001${dayStart(it.eventMs)}\u0001${tooLate ? 1 : 0}`;
    const { net, value } = saleAmounts(r);
    const acc = it.acceptedMs ?? null;
    const g = m.get(k);
    if (!g) {
      m.set(k, {
        first: it,
        tooLate,
        net,
        value,
        n: 1,
        minMs: it.eventMs,
        maxMs: it.eventMs,
        acceptedMs: acc,
      });
      continue;
    }
    g.net += net;
    g.value += value;
    g.n++;
    if (it.eventMs < g.minMs) g.minMs = it.eventMs;
    if (it.eventMs > g.maxMs) g.maxMs = it.eventMs;
    if (acc !== null && (g.acceptedMs === null || acc < g.acceptedMs)) g.acceptedMs = acc;
  }
  return [...m.values()];
}

/** The deltas of a group of sales (`groupSales`): those of one member, with the group's sums. */
export function saleGroupDeltas(g: SaleGroup<{ record: SaleRecord; eventMs: number }>): {
  cells: CellDelta[];
  contribs: ContribDelta[];
} {
  const d = deltasOf('sales', g.first.record, g.first.eventMs, g.tooLate);
  for (const c of d.cells) {
    c.a = g.net;
    c.b = g.value;
    c.n = g.n;
  }
  for (const c of d.contribs) c.v = g.net;
  return d;
}

/** One row of the sales hour rollup (`ind_sales_hour`, migration 009): sums in kg and fen, and the count. */
export interface SaleHourDelta {
  hour: number;
  mineId: string;
  company: string;
  regionCode: string;
  coalType: string;
  band: string;
  a: number;
  b: number;
  n: number;
}

/**
 * Sales summed per hour at the grain of the hour rollup (mine, company, region, coal type, band): the on-time
 * and late records only — a record older than the watermark no longer reaches hourly windows.
 */
export function saleHours(
  items: Iterable<{ record: SaleRecord; eventMs: number; lateness: Lateness }>,
): SaleHourDelta[] {
  const m = new Map<string, SaleHourDelta>();
  for (const it of items) {
    if (it.lateness === 'too_late') continue;
    const r = it.record;
    const { net, value } = saleAmounts(r);
    addSaleHour(
      m,
      {
        hour: hourStart(it.eventMs),
        mineId: r.mineId,
        company: companyOf(r),
        regionCode: r.regionCode,
        coalType: r.coalType,
        band: bandOf(r.calorificKcal),
        a: net,
        b: value,
        n: 1,
      },
      true,
    );
  }
  return [...m.values()];
}

/** Sums rollup rows of the same key across the batches of a transaction (the inputs are not modified). */
export function mergeSaleHours(lists: Iterable<readonly SaleHourDelta[]>): SaleHourDelta[] {
  const m = new Map<string, SaleHourDelta>();
  for (const list of lists) for (const d of list) addSaleHour(m, d, false);
  return [...m.values()];
}

/** Adds a row to its key's sum; `own`: the row is the caller's to keep (a fresh one), else it is copied. */
function addSaleHour(m: Map<string, SaleHourDelta>, d: SaleHourDelta, own: boolean): void {
  const k = `${d.hour}\u0001${d.mineId}\u0001${d.company}\u0001${d.regionCode}\u0001${d.coalType}\u0001${d.band}`;
  const g = m.get(k);
  if (g) {
    g.a += d.a;
    g.b += d.b;
    g.n += d.n;
  } else m.set(k, own ? d : { ...d });
}

export function companyOf(r: { creditCode?: string; mineId: string }): string {
  return r.creditCode || r.mineId;
}

export function routeDir(route: string, direction: string | undefined): string {
  return `${route}|${direction || '-'}`;
}

// ---------------------------------------------------------------- batch aggregation

export function cellKey(d: Pick<CellDelta, 'cell' | 'scope' | 'scopeId' | 'win' | 'ws'>): string {
  return `${d.cell}\u0001${d.scope}\u0001${d.scopeId}\u0001${d.win}\u0001${d.ws}`;
}

/** Sums deltas per cell (exact: scaled integers) and keeps the last value by (event time, record id). */
export function mergeCells(deltas: Iterable<CellDelta>): CellDelta[] {
  const m = createCellMerger();
  m.add(deltas);
  return m.values();
}

/** `mergeCells` a list at a time (the deltas added need not outlive `add`: merged cells are copies). */
export function createCellMerger(): { add(deltas: Iterable<CellDelta>): void; values(): CellDelta[] } {
  const m = new Map<string, CellDelta>();
  return {
    add(deltas) {
      for (const d of deltas) {
        const k = cellKey(d);
        const cur = m.get(k);
        if (!cur) {
          m.set(k, { ...d });
          continue;
        }
        cur.a += d.a;
        cur.b += d.b;
        cur.n += d.n;
        if (
          d.lastV !== null &&
          (cur.lastV === null || d.lastT > cur.lastT || (d.lastT === cur.lastT && d.lastRid > cur.lastRid))
        ) {
          cur.lastV = d.lastV;
          cur.lastT = d.lastT;
          cur.lastRid = d.lastRid;
        }
      }
    },
    values: () => [...m.values()],
  };
}

/** Sums a company's shares per cell, a list at a time. */
export function createContribMerger(): {
  add(deltas: Iterable<ContribDelta>): void;
  values(): ContribDelta[];
} {
  const m = new Map<string, ContribDelta>();
  return {
    add(deltas) {
      for (const d of deltas) {
        const k = `${d.cell}\u0001${d.scope}\u0001${d.scopeId}\u0001${d.win}\u0001${d.ws}\u0001${d.company}`;
        const cur = m.get(k);
        if (cur) cur.v += d.v;
        else m.set(k, { ...d });
      }
    },
    values: () => [...m.values()],
  };
}
