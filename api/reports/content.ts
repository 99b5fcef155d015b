/**
 * Report content: one document of tables and chart specs per period and audience. Every figure is read
 * through the API's series query (`series`) and served through the API's disclosure control (`serve`), so a
 * report shows what `/v1/indicators/series` returns for the same period and scope:
 * - a day, a month and a year read the `day`, `mtd` and `ytd` window at the period's start;
 * - a week (no stored week window), and metrics without the period's window, combine the API's day (or month)
 *   points of the period: flows are summed, stocks take the last day, rates and prices the mean of the days;
 *   a combined cell is suppressed when any of its points is.
 */
import type pg from 'pg';
import { listLatestForecasts, latestForecast } from '../../models/index.ts';
import {
  audienceSees,
  CITY_ID,
  listAlerts,
  metricDef,
  regionName,
  series,
  type Scope,
  type Window,
} from '../../pipelines/index.ts';
import { serve } from '../routes/indicators.ts';
import { previousPeriod, sameLastYear, type Period } from './period.ts';

export type Lang = 'zh' | 'en';
/** A label in both languages; `localize` picks one. */
export interface L {
  zh: string;
  en: string;
}

export interface Column {
  key: string;
  label: L;
  unit?: string;
  type: 'text' | 'number';
}
export type Cell = string | number | null;
export interface Table {
  id: string;
  title: L;
  columns: Column[];
  rows: Record<string, Cell>[];
  note?: L;
}
export interface ChartSpec {
  id: string;
  title: L;
  type: 'bar' | 'line';
  unit: string;
  categories: string[];
  series: { name: L; data: (number | null)[] }[];
}
export interface Section {
  id: string;
  title: L;
  tables: Table[];
  charts: ChartSpec[];
  note?: L;
}

/** Who a report is for: the city (null) or one subscriber, with the entities and regions it may see. */
export interface Audience {
  subscriberId: string;
  regions: string[] | '*';
  mines: string[];
  users: string[];
}

/** One alert as a report lists it (from the alert workers' store, `storedAlerts`). */
export interface ReportAlert {
  at: string;
  severity: string;
  kind: string;
  scope: string;
  scopeId: string;
  message: string;
}
export type AlertsSource = (period: Period, audience: Audience | null) => Promise<ReportAlert[]>;

/** The market-risk alerts stored by the alert workers that were open at some time in the period, as the audience may see them. */
export function storedAlerts(db: pg.Pool): AlertsSource {
  return async (period, audience) => {
    const rows = await listAlerts(db, { fromMs: period.from, toMs: period.to, limit: 500 });
    return rows
      .filter(
        (r) => !audience || audienceSees(audience, { scope: r.scope, scopeId: r.scopeId, region: r.region }),
      )
      .map((r) => ({
        at: r.startedAt,
        severity: r.severity,
        kind: r.rule,
        scope: r.scope,
        scopeId: r.scopeId,
        message: r.title,
      }));
  };
}

export interface ReportDoc {
  meta: {
    title: L;
    period: Period['kind'];
    key: string;
    from: string;
    to: string;
    timezone: 'Asia/Shanghai';
    audience: Audience | null;
    generatedAt: string;
  };
  sections: Section[];
}

/** Days of stock below this are listed first and flagged. */
export const DAYS_OF_STOCK_THRESHOLD = 7;

type Agg = 'sum' | 'last' | 'mean';
interface Fig {
  value: number | null;
  suppressed: boolean;
}

const PERIOD_WINDOW: Record<Period['kind'], Window | null> = {
  day: 'day',
  week: null,
  month: 'mtd',
  year: 'ytd',
};
const FALLBACK: Record<Period['kind'], Window[]> = {
  day: ['day'],
  week: ['day'],
  month: ['mtd', 'day'],
  year: ['ytd', 'mtd', 'day'],
};

const r2 = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);

/**
 * The figure of one metric per scope id for a period, via the API's series read and disclosure control.
 */
export async function periodFigures(
  db: pg.Pool,
  family: string,
  metric: string,
  scope: Scope,
  ids: string[] | null,
  p: Period,
  agg: Agg,
): Promise<Map<string, Fig>> {
  const def = metricDef(family, metric);
  if (!def) throw new TypeError(`unknown metric ${family}:${metric}`);
  const win = FALLBACK[p.kind].find((w) => def.windows.includes(w) && def.scopes.includes(scope));
  const out = new Map<string, Fig>();
  if (!win) return out;
  const exact = win === PERIOD_WINDOW[p.kind];
  const pts = await series(db, def, scope, ids, win, p.from, exact ? p.from : p.to - 1);
  const by = new Map<string, { value: number | null; suppressed: boolean }[]>();
  for (const pt of pts) {
    const s = serve(pt);
    (by.get(pt.scopeId) ?? by.set(pt.scopeId, []).get(pt.scopeId)!).push({
      value: s.value,
      suppressed: !!s.suppressed,
    });
  }
  for (const [id, list] of by) {
    if (exact || agg === 'last') {
      const last = list.at(-1)!;
      out.set(id, { value: last.value, suppressed: last.suppressed });
      continue;
    }
    if (list.some((x) => x.suppressed)) {
      out.set(id, { value: null, suppressed: true });
      continue;
    }
    const vals = list.map((x) => x.value).filter((v): v is number => v !== null);
    const sum = vals.reduce((a, b) => a + b, 0);
    out.set(id, {
      value: vals.length ? Math.round((agg === 'sum' ? sum : sum / vals.length) * 1e6) / 1e6 : null,
      suppressed: false,
    });
  }
  return out;
}

/** Percentage change, null when undefined. */
export function pctChange(cur: number | null, base: number | null): number | null {
  if (cur === null || base === null || base === 0) return null;
  return r2((100 * (cur - base)) / Math.abs(base));
}

const BAND_LABEL: Record<string, L> = {
  lt4500: { zh: '<4500 大卡', en: '<4500 kcal' },
  '4500': { zh: '4500–4999 大卡', en: '4500–4999 kcal' },
  '5000': { zh: '5000–5499 大卡', en: '5000–5499 kcal' },
  '5500': { zh: '≥5500 大卡', en: '≥5500 kcal' },
  unknown: { zh: '未知', en: 'unknown' },
};
function entityLabel(scope: Scope, id: string): string {
  if (scope === 'city') return '鄂尔多斯市 Ordos';
  if (scope === 'region') return regionName(id) ?? id;
  if (scope === 'band') return BAND_LABEL[id]?.zh ?? id;
  return id;
}

const fv = (f: Fig | undefined): number | null => (f && !f.suppressed ? f.value : null);
const note = (f: Fig | undefined): string => (f?.suppressed ? '已抑制 suppressed' : '');

const C = {
  scope: (zh: string, en: string): Column => ({ key: 'id', label: { zh, en }, type: 'text' }),
  name: (): Column => ({ key: 'name', label: { zh: '名称', en: 'Name' }, type: 'text' }),
  num: (key: string, zh: string, en: string, unit?: string): Column => ({
    key,
    label: { zh, en },
    unit,
    type: 'number',
  }),
  text: (key: string, zh: string, en: string): Column => ({ key, label: { zh, en }, type: 'text' }),
};

export interface BuildOptions {
  audience?: Audience | null;
  /** Where the period's alerts come from. Default: the alert store (`storedAlerts`). */
  alerts?: AlertsSource;
  /** Clock for `generatedAt`. */
  now?: () => number;
}

/** Builds the report document of a period (the city report, or a subscriber's variant with `audience`). */
export async function buildReport(db: pg.Pool, p: Period, opts: BuildOptions = {}): Promise<ReportDoc> {
  const audience = opts.audience ?? null;
  const prev = previousPeriod(p);
  const yoy = sameLastYear(p);
  const regionAllowed = (id: string) =>
    !audience || audience.regions === '*' || audience.regions.includes(id);
  const cityAllowed = !audience || audience.regions === '*';
  const sections: Section[] = [];
  const PERIOD_ZH: Record<Period['kind'], string> = {
    day: '日报',
    week: '周报',
    month: '月报',
    year: '年报',
  };
  const PERIOD_EN: Record<Period['kind'], string> = {
    day: 'daily report',
    week: 'weekly report',
    month: 'monthly report',
    year: 'annual report',
  };

  // ---------------------------------------------------------- production and sales
  {
    const tables: Table[] = [];
    const charts: ChartSpec[] = [];
    const scopes: [Scope, L][] = [
      ['city', { zh: '全市', en: 'City' }],
      ['region', { zh: '旗区', en: 'Region' }],
      ['coal_type', { zh: '煤种', en: 'Coal type' }],
      ['band', { zh: '热值段', en: 'Calorific band' }],
    ];
    for (const [scope, label] of scopes) {
      if (scope === 'city' && !cityAllowed) continue;
      const [vol, val, vp, vy, px] = await Promise.all([
        periodFigures(db, 'sales', 'volume_t', scope, null, p, 'sum'),
        periodFigures(db, 'sales', 'value_yuan', scope, null, p, 'sum'),
        periodFigures(db, 'sales', 'volume_t', scope, null, prev, 'sum'),
        periodFigures(db, 'sales', 'volume_t', scope, null, yoy, 'sum'),
        periodFigures(db, 'price', 'vwap_yuan_per_t', scope, null, p, 'mean'),
      ]);
      const ids = [...new Set([...vol.keys(), ...vp.keys(), ...vy.keys()])]
        .filter((id) => scope !== 'region' || regionAllowed(id))
        .sort();
      const rows = ids.map((id) => {
        const cur = fv(vol.get(id));
        return {
          id,
          name: entityLabel(scope, id),
          volume_t: cur,
          value_yuan: fv(val.get(id)),
          vwap_yuan_per_t:
            p.kind === 'week'
              ? cur && fv(val.get(id)) !== null
                ? Math.round((fv(val.get(id))! / cur) * 1e6) / 1e6
                : null
              : fv(px.get(id)),
          prev_volume_t: fv(vp.get(id)),
          mom_pct: pctChange(cur, fv(vp.get(id))),
          last_year_volume_t: fv(vy.get(id)),
          yoy_pct: pctChange(cur, fv(vy.get(id))),
          disclosure: note(vol.get(id)),
        };
      });
      tables.push({
        id: `sales_${scope}`,
        title: { zh: `${label.zh}销量与销售额`, en: `Sales by ${label.en.toLowerCase()}` },
        columns: [
          C.scope(label.zh, label.en),
          C.name(),
          C.num('volume_t', '销量', 'Volume', 't'),
          C.num('value_yuan', '销售额', 'Value', 'yuan'),
          C.num('vwap_yuan_per_t', '均价', 'Average price', 'yuan/t'),
          C.num('prev_volume_t', '上期销量', 'Previous period', 't'),
          C.num('mom_pct', '环比', 'vs previous', '%'),
          C.num('last_year_volume_t', '去年同期', 'Same period last year', 't'),
          C.num('yoy_pct', '同比', 'vs last year', '%'),
          C.text('disclosure', '披露', 'Disclosure'),
        ],
        rows,
      });
      if (scope === 'region' || scope === 'band') {
        charts.push({
          id: `sales_${scope}_chart`,
          title: { zh: `${label.zh}销量对比`, en: `Sales by ${label.en.toLowerCase()}` },
          type: 'bar',
          unit: 't',
          categories: rows.map((r) => String(r.name)),
          series: [
            { name: { zh: '本期', en: 'This period' }, data: rows.map((r) => r.volume_t) },
            { name: { zh: '上期', en: 'Previous' }, data: rows.map((r) => r.prev_volume_t) },
            { name: { zh: '去年同期', en: 'Last year' }, data: rows.map((r) => r.last_year_volume_t) },
          ],
        });
      }
    }
    // Production: capacity utilisation by region (and city).
    const util = await periodFigures(db, 'production', 'utilisation_pct', 'region', null, p, 'mean');
    const utilRows = [...util.keys()]
      .filter(regionAllowed)
      .sort()
      .map((id) => ({
        id,
        name: entityLabel('region', id),
        utilisation_pct: r2(fv(util.get(id))),
        disclosure: note(util.get(id)),
      }));
    tables.push({
      id: 'production_region',
      title: { zh: '旗区产能利用率', en: 'Capacity utilisation by region' },
      columns: [
        C.scope('旗区', 'Region'),
        C.name(),
        C.num('utilisation_pct', '产能利用率', 'Utilisation', '%'),
        C.text('disclosure', '披露', 'Disclosure'),
      ],
      rows: utilRows,
    });
    // Daily trend of city sales inside the period.
    if (cityAllowed && p.kind !== 'day') {
      const trendWin: Window = p.kind === 'year' ? 'mtd' : 'day';
      const pts = await series(
        db,
        metricDef('sales', 'volume_t')!,
        'city',
        [CITY_ID],
        trendWin,
        p.from,
        p.to - 1,
      );
      const served = pts.map((x) => ({ at: x.windowStart, s: serve(x) }));
      charts.push({
        id: 'sales_city_trend',
        title: { zh: '全市销量走势', en: 'City sales trend' },
        type: 'line',
        unit: 't',
        categories: served.map((x) =>
          new Date(x.at + 8 * 3600_000).toISOString().slice(0, trendWin === 'mtd' ? 7 : 10),
        ),
        series: [{ name: { zh: '销量', en: 'Volume' }, data: served.map((x) => x.s.value) }],
      });
    }
    sections.push({
      id: 'production_sales',
      title: { zh: '生产与销售', en: 'Production and sales' },
      tables,
      charts,
    });
  }

  // ---------------------------------------------------------- prices
  {
    const tables: Table[] = [];
    const charts: ChartSpec[] = [];
    if (cityAllowed) {
      const [idx, quote, vwap] = await Promise.all([
        periodFigures(db, 'price', 'pithead_index', 'city', [CITY_ID], p, 'mean'),
        periodFigures(db, 'price', 'pithead_quote_yuan_per_t', 'city', [CITY_ID], p, 'mean'),
        periodFigures(db, 'price', 'vwap_yuan_per_t', 'city', [CITY_ID], p, 'mean'),
      ]);
      tables.push({
        id: 'price_city',
        title: { zh: '全市价格与坑口价格指数', en: 'City prices and pithead price index' },
        columns: [
          C.scope('范围', 'Scope'),
          C.num('pithead_index', '坑口价格指数', 'Pithead price index', 'index'),
          C.num('pithead_quote_yuan_per_t', '坑口报价', 'Pithead quote', 'yuan/t'),
          C.num('vwap_yuan_per_t', '成交均价', 'Traded average', 'yuan/t'),
          C.text('disclosure', '披露', 'Disclosure'),
        ],
        rows: [
          {
            id: CITY_ID,
            pithead_index: r2(fv(idx.get(CITY_ID))),
            pithead_quote_yuan_per_t: r2(fv(quote.get(CITY_ID))),
            vwap_yuan_per_t: r2(fv(vwap.get(CITY_ID))),
            disclosure: note(idx.get(CITY_ID)),
          },
        ],
      });
      const days = await series(
        db,
        metricDef('price', 'pithead_index')!,
        'city',
        [CITY_ID],
        'day',
        p.from,
        p.to - 1,
      );
      if (days.length > 1) {
        charts.push({
          id: 'price_index_trend',
          title: { zh: '坑口价格指数走势', en: 'Pithead price index' },
          type: 'line',
          unit: 'index',
          categories: days.map((x) => new Date(x.windowStart + 8 * 3600_000).toISOString().slice(0, 10)),
          series: [{ name: { zh: '指数', en: 'Index' }, data: days.map((x) => serve(x).value) }],
        });
      }
    }
    const [bandPx, typePx] = await Promise.all([
      periodFigures(db, 'price', 'vwap_yuan_per_t', 'band', null, p, 'mean'),
      periodFigures(db, 'price', 'vwap_yuan_per_t', 'coal_type', null, p, 'mean'),
    ]);
    const bandRows = [...bandPx.keys()].sort().map((id) => ({
      id,
      name: entityLabel('band', id),
      vwap_yuan_per_t: r2(fv(bandPx.get(id))),
      disclosure: note(bandPx.get(id)),
    }));
    const typeRows = [...typePx.keys()].sort().map((id) => ({
      id,
      name: id,
      vwap_yuan_per_t: r2(fv(typePx.get(id))),
      disclosure: note(typePx.get(id)),
    }));
    const pxCols = (zh: string, en: string) => [
      C.scope(zh, en),
      C.name(),
      C.num('vwap_yuan_per_t', '成交均价', 'Traded average', 'yuan/t'),
      C.text('disclosure', '披露', 'Disclosure'),
    ];
    tables.push({
      id: 'price_band',
      title: { zh: '热值段成交均价', en: 'Traded price by calorific band' },
      columns: pxCols('热值段', 'Band'),
      rows: bandRows,
    });
    tables.push({
      id: 'price_coal_type',
      title: { zh: '煤种成交均价', en: 'Traded price by coal type' },
      columns: pxCols('煤种', 'Coal type'),
      rows: typeRows,
    });
    charts.push({
      id: 'price_band_chart',
      title: { zh: '热值段成交均价', en: 'Traded price by band' },
      type: 'bar',
      unit: 'yuan/t',
      categories: bandRows.map((r) => r.name),
      series: [{ name: { zh: '均价', en: 'Average' }, data: bandRows.map((r) => r.vwap_yuan_per_t) }],
    });
    sections.push({ id: 'prices', title: { zh: '价格', en: 'Prices' }, tables, charts });
  }

  // ---------------------------------------------------------- inventories
  {
    const tables: Table[] = [];
    const charts: ChartSpec[] = [];
    const [mineTot, ports, days, cons] = await Promise.all([
      periodFigures(db, 'inventory', 'mine_stock_total_t', 'region', null, p, 'last'),
      periodFigures(db, 'inventory', 'port_stock_t', 'port', null, p, 'last'),
      periodFigures(db, 'days_of_stock', 'days', 'user', audience ? audience.users : null, p, 'last'),
      periodFigures(
        db,
        'days_of_stock',
        'avg_daily_consumption_t',
        'user',
        audience ? audience.users : null,
        p,
        'last',
      ),
    ]);
    tables.push({
      id: 'inventory_mines',
      title: {
        zh: '煤矿库存（上报与估算合计，期末）',
        en: 'Mine stock (reported and estimated, end of period)',
      },
      columns: [
        C.scope('旗区', 'Region'),
        C.name(),
        C.num('mine_stock_total_t', '煤矿库存合计', 'Mine stock', 't'),
        C.text('disclosure', '披露', 'Disclosure'),
      ],
      rows: [...mineTot.keys()]
        .filter(regionAllowed)
        .sort()
        .map((id) => ({
          id,
          name: entityLabel('region', id),
          mine_stock_total_t: fv(mineTot.get(id)),
          disclosure: note(mineTot.get(id)),
        })),
    });
    tables.push({
      id: 'inventory_ports',
      title: { zh: '港口/站台场存（期末）', en: 'Port and yard stock (end of period)' },
      columns: [C.scope('港口', 'Port'), C.num('port_stock_t', '场存', 'Stock', 't')],
      rows: [...ports.keys()].sort().map((id) => ({ id, port_stock_t: fv(ports.get(id)) })),
    });
    const userRows = [...days.keys()]
      .map((id) => {
        const d = fv(days.get(id));
        return {
          id,
          days: r2(d),
          avg_daily_consumption_t: r2(fv(cons.get(id))),
          below_threshold: d !== null && d < DAYS_OF_STOCK_THRESHOLD ? '是 yes' : '',
        };
      })
      .sort((a, b) =>
        a.below_threshold === b.below_threshold
          ? (a.days ?? Infinity) - (b.days ?? Infinity) || a.id.localeCompare(b.id)
          : a.below_threshold
            ? -1
            : 1,
      );
    tables.push({
      id: 'inventory_users',
      title: {
        zh: `用煤企业可用天数（低于 ${DAYS_OF_STOCK_THRESHOLD} 天在前）`,
        en: `Coal users' days of stock (below ${DAYS_OF_STOCK_THRESHOLD} days first)`,
      },
      columns: [
        C.scope('用煤企业', 'Coal user'),
        C.num('days', '可用天数', 'Days of stock', 'days'),
        C.num('avg_daily_consumption_t', '日均耗煤', 'Average daily use', 't/day'),
        C.text('below_threshold', '低于阈值', 'Below threshold'),
      ],
      rows: userRows,
    });
    charts.push({
      id: 'days_of_stock_chart',
      title: { zh: '用煤企业可用天数', en: 'Days of stock' },
      type: 'bar',
      unit: 'days',
      categories: userRows.slice(0, 20).map((r) => r.id),
      series: [{ name: { zh: '可用天数', en: 'Days' }, data: userRows.slice(0, 20).map((r) => r.days) }],
    });
    sections.push({ id: 'inventories', title: { zh: '库存', en: 'Inventories' }, tables, charts });
  }

  // ---------------------------------------------------------- transport
  {
    const tables: Table[] = [];
    const charts: ChartSpec[] = [];
    const [req, appr, shipped, capUse, trucks, tonnage, vessels, freight] = await Promise.all([
      periodFigures(db, 'transport', 'requested_cars', 'route', null, p, 'sum'),
      periodFigures(db, 'transport', 'approved_cars', 'route', null, p, 'sum'),
      periodFigures(db, 'transport', 'rail_shipped_t', 'route', null, p, 'sum'),
      periodFigures(db, 'transport', 'route_capacity_use_pct', 'route', null, p, 'mean'),
      periodFigures(db, 'transport', 'trucks', 'direction', null, p, 'sum'),
      periodFigures(db, 'transport', 'truck_tonnage_t', 'direction', null, p, 'sum'),
      periodFigures(db, 'transport', 'vessels_waiting', 'port', null, p, 'last'),
      periodFigures(db, 'transport', 'freight_yuan_per_t', 'freight_route', null, p, 'mean'),
    ]);
    const routes = [...new Set([...req.keys(), ...appr.keys(), ...shipped.keys()])].sort();
    const routeRows = routes.map((id) => ({
      id,
      requested_cars: fv(req.get(id)),
      approved_cars: fv(appr.get(id)),
      approval_ratio_pct: pctOf(fv(appr.get(id)), fv(req.get(id))),
      rail_shipped_t: fv(shipped.get(id)),
      route_capacity_use_pct: r2(fv(capUse.get(id))),
    }));
    tables.push({
      id: 'transport_rail',
      title: { zh: '铁路请批车与线路运力', en: 'Rail requests, approvals and route capacity' },
      columns: [
        C.scope('线路', 'Route'),
        C.num('requested_cars', '请车数', 'Cars requested', 'cars'),
        C.num('approved_cars', '批车数', 'Cars approved', 'cars'),
        C.num('approval_ratio_pct', '批车率', 'Approval ratio', '%'),
        C.num('rail_shipped_t', '发运量', 'Shipped', 't'),
        C.num('route_capacity_use_pct', '运力利用率', 'Capacity used', '%'),
      ],
      rows: routeRows,
    });
    charts.push({
      id: 'rail_chart',
      title: { zh: '线路请车与批车', en: 'Cars requested and approved by route' },
      type: 'bar',
      unit: 'cars',
      categories: routes,
      series: [
        { name: { zh: '请车', en: 'Requested' }, data: routeRows.map((r) => r.requested_cars) },
        { name: { zh: '批车', en: 'Approved' }, data: routeRows.map((r) => r.approved_cars) },
      ],
    });
    tables.push({
      id: 'transport_highway',
      title: { zh: '公路货车流量', en: 'Highway truck flows' },
      columns: [
        C.scope('方向', 'Direction'),
        C.num('trucks', '货车数', 'Trucks', 'trucks'),
        C.num('truck_tonnage_t', '运量', 'Tonnage', 't'),
      ],
      rows: [...trucks.keys()]
        .sort()
        .map((id) => ({ id, trucks: fv(trucks.get(id)), truck_tonnage_t: fv(tonnage.get(id)) })),
    });
    tables.push({
      id: 'transport_ports',
      title: { zh: '船舶待港（期末）', en: 'Vessels waiting (end of period)' },
      columns: [C.scope('港口', 'Port'), C.num('vessels_waiting', '待港船舶', 'Vessels waiting', 'vessels')],
      rows: [...vessels.keys()].sort().map((id) => ({ id, vessels_waiting: fv(vessels.get(id)) })),
    });
    tables.push({
      id: 'transport_freight',
      title: { zh: '海运煤炭运价', en: 'Sea freight' },
      columns: [C.scope('航线', 'Route'), C.num('freight_yuan_per_t', '运价', 'Freight', 'yuan/t')],
      rows: [...freight.keys()].sort().map((id) => ({ id, freight_yuan_per_t: r2(fv(freight.get(id))) })),
    });
    sections.push({ id: 'transport', title: { zh: '运输', en: 'Transport' }, tables, charts });
  }

  // ---------------------------------------------------------- balance
  if (cityAllowed) {
    const m = ['production_t', 'shipments_t', 'consumption_t', 'net_t'] as const;
    const figs = await Promise.all(
      m.map((x) => periodFigures(db, 'balance', x, 'city', [CITY_ID], p, 'sum')),
    );
    const row: Record<string, Cell> = { id: CITY_ID };
    m.forEach((x, i) => {
      row[x] = fv(figs[i]!.get(CITY_ID));
    });
    const cols = [
      C.scope('范围', 'Scope'),
      C.num('production_t', '产量', 'Production', 't'),
      C.num('shipments_t', '外运量', 'Shipments', 't'),
      C.num('consumption_t', '本地消耗', 'Local use', 't'),
      C.num('net_t', '供需差', 'Net', 't'),
    ];
    sections.push({
      id: 'balance',
      title: { zh: '供需平衡', en: 'Supply-demand balance' },
      tables: [
        { id: 'balance_city', title: { zh: '全市供需平衡', en: 'City balance' }, columns: cols, rows: [row] },
      ],
      charts: [
        {
          id: 'balance_chart',
          title: { zh: '供需平衡', en: 'Balance' },
          type: 'bar',
          unit: 't',
          categories: m.map((x) => cols.find((c) => c.key === x)!.label.zh),
          series: [{ name: { zh: '本期', en: 'This period' }, data: m.map((x) => row[x] as number | null) }],
        },
      ],
    });
  }

  // ---------------------------------------------------------- forecasts
  {
    const list = (await listLatestForecasts(db)).slice(0, 12);
    const rows: Record<string, Cell>[] = [];
    for (const s of list) {
      const fc = await latestForecast(db, s.seriesKey);
      if (!fc) continue;
      const next = fc.points[0];
      rows.push({
        id: s.seriesKey,
        name: s.label ?? s.seriesKey,
        model: s.model,
        target_date: next?.date ?? null,
        value: r2(next?.value ?? null),
        lo80: r2(next?.lo80 ?? null),
        hi80: r2(next?.hi80 ?? null),
        lo95: r2(next?.lo95 ?? null),
        hi95: r2(next?.hi95 ?? null),
        mase: r2(fc.mase),
        coverage80_pct: r2(fc.coverage ? fc.coverage.p80 * 100 : null),
      });
    }
    sections.push({
      id: 'forecasts',
      title: { zh: '预测', en: 'Forecasts' },
      charts: [],
      tables: [
        {
          id: 'forecasts',
          title: { zh: '最新预测与回测精度', en: 'Latest forecasts and measured accuracy' },
          columns: [
            C.scope('序列', 'Series'),
            C.name(),
            C.text('model', '模型', 'Model'),
            C.text('target_date', '预测日期', 'Target date'),
            C.num('value', '预测值', 'Forecast'),
            C.num('lo80', '80%下限', '80% low'),
            C.num('hi80', '80%上限', '80% high'),
            C.num('lo95', '95%下限', '95% low'),
            C.num('hi95', '95%上限', '95% high'),
            C.num('mase', '回测 MASE', 'Backtest MASE'),
            C.num('coverage80_pct', '80%区间覆盖率', '80% interval coverage', '%'),
          ],
          rows,
        },
      ],
    });
  }

  // ---------------------------------------------------------- alerts
  {
    const alerts = await (opts.alerts ?? storedAlerts(db))(p, audience);
    sections.push({
      id: 'alerts',
      title: { zh: '预警', en: 'Alerts' },
      charts: [],
      note: alerts.length ? undefined : { zh: '本期无预警。', en: 'No alerts in this period.' },
      tables: [
        {
          id: 'alerts',
          title: { zh: '本期预警', en: 'Alerts of the period' },
          columns: [
            C.text('at', '时间', 'Time'),
            C.text('severity', '级别', 'Severity'),
            C.text('kind', '类型', 'Kind'),
            C.text('scope', '范围', 'Scope'),
            C.text('scopeId', '对象', 'Entity'),
            C.text('message', '内容', 'Message'),
          ],
          rows: alerts.map((a) => ({ ...a })),
        },
      ],
    });
  }

  // ---------------------------------------------------------- data quality
  {
    const iso = (ms: number) => new Date(ms).toISOString();
    const [acc, rej, late, fresh] = await Promise.all([
      db.query(
        `SELECT feed, count(*)::int AS n FROM ingest_seen WHERE state = 'produced' AND claimed_at >= $1 AND claimed_at < $2 GROUP BY feed ORDER BY feed`,
        [iso(p.from), iso(p.to)],
      ),
      db.query(
        `SELECT feed, reason, count(*)::int AS n FROM ingest_rejects WHERE received_at >= $1 AND received_at < $2 GROUP BY feed, reason ORDER BY feed, reason`,
        [iso(p.from), iso(p.to)],
      ),
      db.query(
        `SELECT feed, count(*)::int AS n FROM ind_corrections WHERE event_time >= $1 AND event_time < $2 GROUP BY feed ORDER BY feed`,
        [iso(p.from), iso(p.to)],
      ),
      db.query(
        `SELECT feed, max(claimed_at) AS last FROM ingest_seen WHERE claimed_at < $1 GROUP BY feed ORDER BY feed`,
        [iso(p.to)],
      ),
    ]);
    const lateBy = new Map(late.rows.map((r) => [r.feed as string, Number(r.n)]));
    const freshBy = new Map(fresh.rows.map((r) => [r.feed as string, r.last as Date | string]));
    const feeds = [
      ...new Set([...acc.rows.map((r) => r.feed as string), ...lateBy.keys(), ...freshBy.keys()]),
    ].sort();
    const accBy = new Map(acc.rows.map((r) => [r.feed as string, Number(r.n)]));
    const rejBy = new Map<string, number>();
    for (const r of rej.rows) rejBy.set(r.feed, (rejBy.get(r.feed) ?? 0) + Number(r.n));
    const hours = (v: Date | string | undefined) =>
      v === undefined ? null : r2((Math.min(p.to, Date.now()) - new Date(v).getTime()) / 3600_000);
    sections.push({
      id: 'quality',
      title: { zh: '数据质量', en: 'Data quality' },
      charts: [],
      tables: [
        {
          id: 'quality_feeds',
          title: { zh: '各数据源接收与时效', en: 'Records per feed and freshness' },
          columns: [
            C.scope('数据源', 'Feed'),
            C.num('accepted', '接收', 'Accepted', 'records'),
            C.num('rejected', '拒收', 'Rejected', 'records'),
            C.num('late_corrections', '迟到修正', 'Late corrections', 'records'),
            C.num('hours_since_last', '距最近记录', 'Since last record', 'h'),
          ],
          rows: feeds.map((id) => ({
            id,
            accepted: accBy.get(id) ?? 0,
            rejected: rejBy.get(id) ?? 0,
            late_corrections: lateBy.get(id) ?? 0,
            hours_since_last: hours(freshBy.get(id)),
          })),
        },
        {
          id: 'quality_rejects',
          title: { zh: '拒收原因', en: 'Rejected records by reason' },
          columns: [
            C.scope('数据源', 'Feed'),
            C.text('reason', '原因', 'Reason'),
            C.num('count', '条数', 'Records', 'records'),
          ],
          rows: rej.rows.map((r) => ({ id: r.feed, reason: r.reason, count: Number(r.n) })),
        },
      ],
    });
  }

  // ---------------------------------------------------------- own entities (subscriber variant)
  if (audience && (audience.mines.length || audience.users.length)) {
    const tables: Table[] = [];
    if (audience.mines.length) {
      const [vol, val] = await Promise.all([
        periodFigures(db, 'sales', 'volume_t', 'mine', audience.mines, p, 'sum'),
        periodFigures(db, 'sales', 'value_yuan', 'mine', audience.mines, p, 'sum'),
      ]);
      tables.push({
        id: 'own_mines',
        title: { zh: '本单位煤矿销售', en: 'Own mines: sales' },
        columns: [
          C.scope('煤矿', 'Mine'),
          C.num('volume_t', '销量', 'Volume', 't'),
          C.num('value_yuan', '销售额', 'Value', 'yuan'),
        ],
        rows: [...audience.mines]
          .sort()
          .map((id) => ({ id, volume_t: fv(vol.get(id)), value_yuan: fv(val.get(id)) })),
      });
    }
    sections.unshift({ id: 'own', title: { zh: '本单位', en: 'Own entities' }, tables, charts: [] });
  }

  return {
    meta: {
      title: {
        zh: `鄂尔多斯市煤炭${PERIOD_ZH[p.kind]} ${p.key}`,
        en: `Ordos coal ${PERIOD_EN[p.kind]} ${p.key}`,
      },
      period: p.kind,
      key: p.key,
      from: new Date(p.from).toISOString(),
      to: new Date(p.to).toISOString(),
      timezone: 'Asia/Shanghai',
      audience,
      generatedAt: new Date((opts.now ?? Date.now)()).toISOString(),
    },
    sections,
  };
}

function pctOf(a: number | null, b: number | null): number | null {
  return a === null || !b ? null : r2((100 * a) / b);
}

/** The document in one language: every label becomes a string. */
export function localize(doc: ReportDoc, lang: Lang) {
  const t = (l: L | undefined) => (l ? l[lang] : undefined);
  return {
    meta: { ...doc.meta, title: t(doc.meta.title)!, lang },
    sections: doc.sections.map((s) => ({
      id: s.id,
      title: t(s.title)!,
      ...(s.note ? { note: t(s.note) } : {}),
      tables: s.tables.map((tb) => ({
        id: tb.id,
        title: t(tb.title)!,
        columns: tb.columns.map((c) => ({ key: c.key, label: t(c.label)!, unit: c.unit, type: c.type })),
        rows: tb.rows,
      })),
      charts: s.charts.map((c) => ({
        ...c,
        title: t(c.title)!,
        series: c.series.map((x) => ({ name: t(x.name)!, data: x.data })),
      })),
    })),
  };
}
export type LocalDoc = ReturnType<typeof localize>;
export type LocalTable = LocalDoc['sections'][number]['tables'][number];

/** Figures that changed between two versions of a report: "section/table/row/column: old → new". */
export function diffReports(before: ReportDoc, after: ReportDoc): string[] {
  const flat = (d: ReportDoc) => {
    const m = new Map<string, Cell>();
    for (const s of d.sections)
      for (const t of s.tables)
        for (const r of t.rows)
          for (const c of t.columns)
            if (c.type === 'number') m.set(`${s.id}/${t.id}/${r.id ?? ''}/${c.key}`, r[c.key] ?? null);
    return m;
  };
  const a = flat(before);
  const b = flat(after);
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (k.startsWith('quality/') && k.endsWith('/hours_since_last')) continue;
    const x = a.get(k) ?? null;
    const y = b.get(k) ?? null;
    if (x !== y) out.push(`${k}: ${x ?? '—'} → ${y ?? '—'}`);
  }
  return out.sort();
}
