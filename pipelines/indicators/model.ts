/**
 * The indicator key model, windows and the catalog of cells and metrics.
 *
 * A *cell* is the stored, additive state of one measured quantity for one
 * (scope, scope id, window, window start): exact decimal sums `a`, `b`, a count
 * `n`, and a last-by-event-time value. Cells are the only state; they change
 * only together with the facts that feed them (one transaction), which makes
 * them exactly-once under replay, crash and rebalance.
 * A *metric* is what we publish: a formula over one cell (`vwap = b/a`), a
 * trailing sum of cells (24 h, 7 d, 30 d), or a derived query over several
 * cells and facts (utilisation, price index, days of stock, balance).
 * Everything derived is computed when read, from the store, so it is always a
 * function of the facts alone.
 */

export type Family =
  'production' | 'sales' | 'price' | 'inventory' | 'days_of_stock' | 'transport' | 'balance';
export const FAMILIES: readonly Family[] = [
  'production',
  'sales',
  'price',
  'inventory',
  'days_of_stock',
  'transport',
  'balance',
];

export type Scope =
  | 'mine'
  | 'region'
  | 'coal_type'
  | 'band'
  | 'city'
  | 'port'
  | 'port_kind'
  | 'route'
  | 'route_dir'
  | 'gate'
  | 'gate_dir'
  | 'direction'
  | 'freight_route'
  | 'user'
  | 'sector';

/** Tumbling windows (stored cells). `mtd`/`ytd` are calendar month/year; a past month's `mtd` is the full month. */
export type TumblingWindow = 'hour' | 'day' | 'mtd' | 'ytd';
/** Trailing windows, anchored at the end of an hour (24h) or a day (7d, 30d); computed from hour/day cells. */
export type TrailingWindow = '24h' | '7d' | '30d';
export type Window = TumblingWindow | TrailingWindow;
export const TUMBLING: readonly TumblingWindow[] = ['hour', 'day', 'mtd', 'ytd'];
export const TRAILING: readonly TrailingWindow[] = ['24h', '7d', '30d'];
export const WINDOWS: readonly Window[] = [...TUMBLING, ...TRAILING];

/** The city (鄂尔多斯市) as the top scope id. */
export const CITY_ID = '150600';

/** Scopes that aggregate several companies: served only with enough contributors (see the API). */
export const AGGREGATE_SCOPES: ReadonlySet<Scope> = new Set<Scope>([
  'region',
  'coal_type',
  'band',
  'city',
  'sector',
]);

// ---------------------------------------------------------------- time

/** Windows follow China Standard Time (UTC+8, no daylight saving since 1991). */
export const TZ_OFFSET_MS = 8 * 3600_000;
export const HOUR_MS = 3600_000;
export const DAY_MS = 86_400_000;

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

const isoCache = new Map<number, string>();
/**
 * ISO-8601 of a window start. Published points share a few window starts (every metric of an hour, every mine of
 * a day): formatted once each (a Date and a string per point were a measurable share of publication's CPU).
 */
export function isoOf(ms: number): string {
  let s = isoCache.get(ms);
  if (s === undefined) {
    if (isoCache.size >= 50_000) isoCache.clear();
    s = new Date(ms).toISOString();
    isoCache.set(ms, s);
  }
  return s;
}

export function dayStart(ms: number): number {
  return Math.floor((ms + TZ_OFFSET_MS) / DAY_MS) * DAY_MS - TZ_OFFSET_MS;
}
/** ISO week: Monday 00:00 CST. */
export function weekStart(ms: number): number {
  const day = Math.floor((ms + TZ_OFFSET_MS) / DAY_MS);
  return (day - ((day + 3) % 7)) * DAY_MS - TZ_OFFSET_MS;
}
export function monthStart(ms: number): number {
  const d = new Date(ms + TZ_OFFSET_MS);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - TZ_OFFSET_MS;
}
/** Start of the calendar month after the one holding `ms` (Asia/Shanghai). */
export function nextMonthStart(ms: number): number {
  const d = new Date(ms + TZ_OFFSET_MS);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - TZ_OFFSET_MS;
}
export function yearStart(ms: number): number {
  const d = new Date(ms + TZ_OFFSET_MS);
  return Date.UTC(d.getUTCFullYear(), 0, 1) - TZ_OFFSET_MS;
}
export function windowStart(win: TumblingWindow, ms: number): number {
  switch (win) {
    case 'hour':
      return hourStart(ms);
    case 'day':
      return dayStart(ms);
    case 'mtd':
      return monthStart(ms);
    case 'ytd':
      return yearStart(ms);
  }
}
/** End (exclusive) of a tumbling window starting at `ws`. */
export function windowEnd(win: TumblingWindow, ws: number): number {
  switch (win) {
    case 'hour':
      return ws + HOUR_MS;
    case 'day':
      return ws + DAY_MS;
    case 'mtd':
      return monthStart(ws + 32 * DAY_MS);
    case 'ytd':
      return yearStart(ws + 367 * DAY_MS);
  }
}
/** `YYYY-MM-DD` of the CST day containing `ms`. */
export function cstDate(ms: number): string {
  return new Date(ms + TZ_OFFSET_MS).toISOString().slice(0, 10);
}
/** Start (ms) of the CST day `YYYY-MM-DD`. */
export function cstDayMs(date: string): number {
  const ms = Date.parse(`${date.slice(0, 10)}T00:00:00+08:00`);
  if (!Number.isFinite(ms)) throw new RangeError(`bad date ${date}`);
  return ms;
}

// ---------------------------------------------------------------- bands

/** Calorific bands (kcal/kg, net as received): <4500, 4500–4999, 5000–5499, ≥5500. */
export type Band = 'lt4500' | '4500' | '5000' | '5500' | 'unknown';
export function bandOf(kcal: number | undefined | null): Band {
  if (kcal === undefined || kcal === null || !Number.isFinite(kcal) || kcal <= 0) return 'unknown';
  if (kcal >= 5500) return '5500';
  if (kcal >= 5000) return '5000';
  if (kcal >= 4500) return '4500';
  return 'lt4500';
}
/** Basket of the city pithead price index. */
export const INDEX_BASKET: readonly Band[] = ['5500', '5000', '4500'];

// ---------------------------------------------------------------- cells

/** Decimal places kept for each stored quantity: tonnes to the kilogram, money to the fen. */
export interface CellDef {
  family: Family;
  /** Decimal places of `a`, `b` and `last` (exact integer arithmetic in scaled units). */
  scaleA: number;
  scaleB: number;
  scaleLast: number;
}

export const CELLS = {
  trade: { family: 'sales', scaleA: 3, scaleB: 2, scaleLast: 0 },
  quote_pithead: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  quote_shenhua_batuta: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  quote_shenhua_huanghua: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  quote_annual: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  quote_monthly: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  port_fob: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  import_price: { family: 'price', scaleA: 2, scaleB: 0, scaleLast: 2 },
  port_stock: { family: 'inventory', scaleA: 0, scaleB: 0, scaleLast: 3 },
  mine_stock: { family: 'inventory', scaleA: 0, scaleB: 0, scaleLast: 3 },
  user_stock: { family: 'inventory', scaleA: 0, scaleB: 0, scaleLast: 3 },
  user_intake: { family: 'inventory', scaleA: 3, scaleB: 0, scaleLast: 0 },
  user_consumption: { family: 'days_of_stock', scaleA: 3, scaleB: 0, scaleLast: 0 },
  user_load: { family: 'days_of_stock', scaleA: 3, scaleB: 0, scaleLast: 0 },
  import_qty: { family: 'transport', scaleA: 3, scaleB: 0, scaleLast: 0 },
  vessels: { family: 'transport', scaleA: 0, scaleB: 0, scaleLast: 0 },
  freight: { family: 'transport', scaleA: 2, scaleB: 0, scaleLast: 2 },
  rail_cars: { family: 'transport', scaleA: 0, scaleB: 0, scaleLast: 0 },
  rail_shipped: { family: 'transport', scaleA: 3, scaleB: 0, scaleLast: 0 },
  rail_capacity_use: { family: 'transport', scaleA: 3, scaleB: 3, scaleLast: 0 },
  rail_transit: { family: 'transport', scaleA: 0, scaleB: 0, scaleLast: 3 },
  rail_month: { family: 'transport', scaleA: 3, scaleB: 3, scaleLast: 0 },
  hw_trucks: { family: 'transport', scaleA: 0, scaleB: 3, scaleLast: 0 },
  hw_congestion: { family: 'transport', scaleA: 3, scaleB: 0, scaleLast: 0 },
} as const satisfies Record<string, CellDef>;
export type CellName = keyof typeof CELLS;

// ---------------------------------------------------------------- metrics

export type Formula = 'a' | 'b' | 'n' | 'last' | 'b/a' | 'a/n' | '100*b/a' | '100*a/b';

/** Whose data a metric is made of: company data is subject to disclosure control in aggregate scopes. */
export type Disclosure = 'company' | 'public';

interface MetricBase {
  family: Family;
  metric: string;
  unit: string;
  scopes: readonly Scope[];
  windows: readonly Window[];
  disclosure: Disclosure;
  /** 中文名 for API consumers. */
  zh: string;
  /** Windows offered only for some scopes (e.g. sales 24h: per mine). */
  only?: Partial<Record<Window, readonly Scope[]>>;
}
export interface CellMetric extends MetricBase {
  kind: 'cell';
  cell: CellName;
  formula: Formula;
}
export interface DerivedMetric extends MetricBase {
  kind: 'derived';
}
export type MetricDef = CellMetric | DerivedMetric;

const SALES_SCOPES: readonly Scope[] = ['mine', 'region', 'coal_type', 'band', 'city'];
const SALES_WINDOWS: readonly Window[] = ['hour', 'day', 'mtd', 'ytd', '24h', '7d', '30d'];

function cm(
  family: Family,
  metric: string,
  zh: string,
  unit: string,
  cell: CellName,
  formula: Formula,
  scopes: readonly Scope[],
  windows: readonly Window[],
  disclosure: Disclosure = 'public',
): CellMetric {
  // Sales over a trailing 24 h are kept per mine (from the facts); aggregates use hour, day and the 7/30-day windows.
  const only = cell === 'trade' ? { '24h': ['mine'] as const } : undefined;
  return {
    kind: 'cell',
    family,
    metric,
    zh,
    unit,
    cell,
    formula,
    scopes,
    windows,
    disclosure,
    ...(only ? { only } : {}),
  };
}
function dm(
  family: Family,
  metric: string,
  zh: string,
  unit: string,
  scopes: readonly Scope[],
  windows: readonly Window[],
  disclosure: Disclosure = 'public',
): DerivedMetric {
  return { kind: 'derived', family, metric, zh, unit, scopes, windows, disclosure };
}

export const METRICS: readonly MetricDef[] = [
  // Sales and production
  cm('sales', 'volume_t', '销量', 't', 'trade', 'a', SALES_SCOPES, SALES_WINDOWS, 'company'),
  cm('sales', 'value_yuan', '销售额', 'yuan', 'trade', 'b', SALES_SCOPES, SALES_WINDOWS, 'company'),
  cm('sales', 'count', '交易笔数', 'count', 'trade', 'n', SALES_SCOPES, SALES_WINDOWS, 'company'),
  dm(
    'production',
    'utilisation_pct',
    '产能利用率',
    '%',
    ['mine', 'region', 'city'],
    ['day', 'mtd', 'ytd'],
    'company',
  ),
  dm('production', 'operating_rate_pct', '开工率', '%', ['region', 'city'], ['day'], 'company'),
  dm('production', 'mines_producing', '生产煤矿数', 'count', ['region', 'city'], ['day'], 'company'),
  dm('production', 'mines_total', '煤矿总数', 'count', ['region', 'city'], ['day'], 'company'),
  dm('production', 'capacity_t_per_year', '核定产能', 't/yr', ['mine', 'region', 'city'], ['day'], 'company'),
  // Price
  cm(
    'price',
    'vwap_yuan_per_t',
    '成交均价(量加权)',
    'yuan/t',
    'trade',
    'b/a',
    SALES_SCOPES,
    SALES_WINDOWS,
    'company',
  ),
  dm('price', 'vwap_dod_pct', '均价日环比', '%', ['region', 'coal_type', 'band', 'city'], ['day'], 'company'),
  dm('price', 'vwap_wow_pct', '均价周环比', '%', ['region', 'coal_type', 'band', 'city'], ['day'], 'company'),
  dm('price', 'pithead_index', '坑口价格指数', 'index', ['city'], ['day'], 'company'),
  cm(
    'price',
    'pithead_quote_yuan_per_t',
    '坑口报价',
    'yuan/t',
    'quote_pithead',
    'a/n',
    ['mine', 'coal_type', 'band', 'city'],
    ['day', 'mtd'],
  ),
  cm(
    'price',
    'shenhua_batuta_yuan_per_t',
    '神华外购价(巴图塔)',
    'yuan/t',
    'quote_shenhua_batuta',
    'a/n',
    ['coal_type', 'band', 'city'],
    ['day', 'mtd'],
  ),
  cm(
    'price',
    'shenhua_huanghua_yuan_per_t',
    '神华外购价(黄骅港)',
    'yuan/t',
    'quote_shenhua_huanghua',
    'a/n',
    ['coal_type', 'band', 'city'],
    ['day', 'mtd'],
  ),
  cm(
    'price',
    'annual_price_yuan_per_t',
    '煤炭年度价格',
    'yuan/t',
    'quote_annual',
    'a/n',
    ['coal_type', 'city'],
    ['ytd'],
  ),
  cm(
    'price',
    'monthly_price_yuan_per_t',
    '煤炭月度价格',
    'yuan/t',
    'quote_monthly',
    'a/n',
    ['coal_type', 'city'],
    ['mtd'],
  ),
  cm(
    'price',
    'port_fob_yuan_per_t',
    '港口平仓价',
    'yuan/t',
    'port_fob',
    'a/n',
    ['port', 'coal_type', 'band'],
    ['day', 'mtd'],
  ),
  cm(
    'price',
    'import_price_yuan_per_t',
    '进口煤价',
    'yuan/t',
    'import_price',
    'a/n',
    ['port'],
    ['day', 'mtd'],
  ),
  // Inventory
  cm('inventory', 'mine_stock_t', '煤矿场地库存(上报)', 't', 'mine_stock', 'last', ['mine'], ['day']),
  dm('inventory', 'mine_stock_est_t', '煤矿场地库存(估算)', 't', ['mine'], ['day'], 'company'),
  dm('inventory', 'mine_stock_total_t', '煤矿库存合计', 't', ['region', 'city'], ['day'], 'company'),
  cm('inventory', 'port_stock_t', '港口/站台场存', 't', 'port_stock', 'last', ['port'], ['day']),
  dm('inventory', 'port_stock_change_t', '港口场存日变化', 't', ['port'], ['day']),
  cm('inventory', 'user_stock_t', '用煤企业库存', 't', 'user_stock', 'last', ['user'], ['day']),
  cm(
    'inventory',
    'user_intake_t',
    '用煤企业入库量',
    't',
    'user_intake',
    'a',
    ['user', 'sector', 'city'],
    ['day', 'mtd', '7d'],
    'company',
  ),
  // Days of stock
  dm('days_of_stock', 'days', '可用天数', 'days', ['user', 'sector', 'city'], ['day'], 'company'),
  dm(
    'days_of_stock',
    'avg_daily_consumption_t',
    '日均耗煤(7日)',
    't/day',
    ['user', 'sector', 'city'],
    ['day'],
    'company',
  ),
  dm(
    'days_of_stock',
    'days_change_7d',
    '可用天数周变化',
    'days',
    ['user', 'sector', 'city'],
    ['day'],
    'company',
  ),
  cm(
    'days_of_stock',
    'consumption_t',
    '日耗',
    't',
    'user_consumption',
    'a',
    ['user', 'sector', 'city'],
    ['day', 'mtd', '7d'],
    'company',
  ),
  cm('days_of_stock', 'power_load_mw', '电负荷', 'MW', 'user_load', 'a/n', ['user', 'sector'], ['day']),
  // Transport
  cm(
    'transport',
    'requested_cars',
    '请车数',
    'cars',
    'rail_cars',
    'a',
    ['route_dir', 'route', 'city'],
    ['day', 'mtd'],
  ),
  cm(
    'transport',
    'approved_cars',
    '批车数',
    'cars',
    'rail_cars',
    'b',
    ['route_dir', 'route', 'city'],
    ['day', 'mtd'],
  ),
  cm(
    'transport',
    'approval_ratio_pct',
    '批车率(批车/请车)',
    '%',
    'rail_cars',
    '100*b/a',
    ['route_dir', 'route', 'city'],
    ['day', 'mtd'],
  ),
  cm(
    'transport',
    'rail_shipped_t',
    '铁路日发运量',
    't',
    'rail_shipped',
    'a',
    ['route_dir', 'route', 'city'],
    ['day', 'mtd', '7d', '30d'],
  ),
  cm(
    'transport',
    'route_capacity_use_pct',
    '线路运力利用率',
    '%',
    'rail_capacity_use',
    '100*a/b',
    ['route_dir', 'route'],
    ['day', 'mtd'],
  ),
  cm('transport', 'in_transit_t', '在途量(矿→港)', 't', 'rail_transit', 'last', ['route_dir'], ['day']),
  cm(
    'transport',
    'rail_month_coal_t',
    '境内铁路煤炭运量(月报)',
    't',
    'rail_month',
    'a',
    ['route', 'city'],
    ['mtd', 'ytd'],
  ),
  cm(
    'transport',
    'rail_month_other_t',
    '境内铁路其它运量(月报)',
    't',
    'rail_month',
    'b',
    ['route', 'city'],
    ['mtd', 'ytd'],
  ),
  cm(
    'transport',
    'trucks',
    '货车流量',
    'trucks',
    'hw_trucks',
    'a',
    ['gate_dir', 'gate', 'direction'],
    ['hour', 'day', '24h', '7d'],
  ),
  cm(
    'transport',
    'truck_tonnage_t',
    '公路运量',
    't',
    'hw_trucks',
    'b',
    ['gate_dir', 'gate', 'direction'],
    ['hour', 'day', '24h', '7d'],
  ),
  cm(
    'transport',
    'congestion_index',
    '拥堵指数',
    'index',
    'hw_congestion',
    'a/n',
    ['gate_dir', 'gate'],
    ['hour', 'day'],
  ),
  cm('transport', 'vessels_waiting', '船舶待港数', 'vessels', 'vessels', 'last', ['port'], ['day']),
  cm(
    'transport',
    'freight_yuan_per_t',
    '海运煤炭运价',
    'yuan/t',
    'freight',
    'a/n',
    ['freight_route'],
    ['day', 'mtd'],
  ),
  cm('transport', 'import_t', '进口煤量', 't', 'import_qty', 'a', ['port', 'city'], ['day', 'mtd']),
  // Supply-demand balance
  dm('balance', 'production_t', '产量(过磅销量)', 't', ['city'], ['day'], 'company'),
  dm('balance', 'shipments_t', '外运量(铁路+公路出)', 't', ['city'], ['day']),
  dm('balance', 'consumption_t', '本地消耗', 't', ['city'], ['day'], 'company'),
  dm('balance', 'net_t', '供需差', 't', ['city'], ['day'], 'company'),
];

/** Whether a metric is offered for this scope and window. */
export function allows(def: MetricDef, scope: Scope, window: Window): boolean {
  if (!def.scopes.includes(scope) || !def.windows.includes(window)) return false;
  const only = def.only?.[window];
  return !only || only.includes(scope);
}

const byKey = new Map(METRICS.map((m) => [`${m.family}:${m.metric}`, m]));
export function metricDef(family: string, metric: string): MetricDef | undefined {
  return byKey.get(`${family}:${metric}`);
}
/** Cell metrics fed by one cell. */
export const METRICS_BY_CELL: ReadonlyMap<CellName, readonly CellMetric[]> = (() => {
  const m = new Map<CellName, CellMetric[]>();
  for (const d of METRICS) if (d.kind === 'cell') (m.get(d.cell) ?? m.set(d.cell, []).get(d.cell)!).push(d);
  return m;
})();

/** One published indicator value. */
export interface IndicatorPoint {
  family: Family;
  metric: string;
  scope: Scope;
  scopeId: string;
  window: Window;
  /** ms since epoch; for trailing windows the start of the anchor hour/day (the window ends with it). */
  windowStart: number;
  value: number | null;
  unit: string;
  /** Records behind the value, when known. */
  n: number | null;
  /** Distinct companies in the cell (aggregate scopes of company data), when known. */
  contributors: number | null;
  /** Share of the largest company in the cell, 0..1, when known. */
  topShare: number | null;
}

/** Stable text key of an indicator series (without the window start). */
export function seriesKey(
  p: Pick<IndicatorPoint, 'family' | 'metric' | 'scope' | 'scopeId' | 'window'>,
): string {
  return `${p.family}:${p.scope}:${p.scopeId}:${p.metric}:${p.window}`;
}

/** Applies a cell formula; null when undefined (division by zero, no value). Rounded to 6 significant decimals. */
export function applyFormula(
  f: Formula,
  c: { a: number; b: number; n: number; last: number | null },
): number | null {
  let v: number | null;
  switch (f) {
    case 'a':
      v = c.a;
      break;
    case 'b':
      v = c.b;
      break;
    case 'n':
      v = c.n;
      break;
    case 'last':
      v = c.last;
      break;
    case 'b/a':
      v = c.a ? c.b / c.a : null;
      break;
    case 'a/n':
      v = c.n ? c.a / c.n : null;
      break;
    case '100*b/a':
      v = c.a ? (100 * c.b) / c.a : null;
      break;
    case '100*a/b':
      v = c.b ? (100 * c.a) / c.b : null;
      break;
  }
  return v === null || !Number.isFinite(v) ? null : round6(v);
}

export function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
