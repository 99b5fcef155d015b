/**
 * Daily, weekly and monthly series for reports and forecasts, read from the
 * continuous aggregates (sales_daily/weekly/monthly, prices_daily, ports_daily,
 * rail_daily, highway_daily, coal_users_daily, mine_inventory_daily), so they
 * include late corrections. Keys: `<kind>:<scope>[:<id>]`, e.g.
 *   sales_volume:city            sales_volume:region:150621     price_vwap:band:5500
 *   price_quote.pithead:coal_type:动力煤   port_stock:port:黄骅港   rail_shipped:route_dir:包神线|北
 * Dates are CST (`YYYY-MM-DD`, weeks start on Monday, months on the 1st).
 * Flows are summed per period; prices are volume- or count-weighted means;
 * stocks and queues are the period mean of the daily (closing) values.
 */
import type { Db } from './queries.ts';
import type { Frequency, SeriesPoint } from '../../models/index.ts';

interface Kind {
  source: string;
  /** Per-day value across the selected entities: Σnum (or Σnum/Σden). */
  num: string;
  den?: string;
  /** 'sum': Σ over days; 'ratio': Σnum/Σden over days; 'mean': mean of the daily values. */
  outer: 'sum' | 'ratio' | 'mean';
  /** Inner aggregation of `num` across entities of a day. Default sum. */
  inner?: 'sum' | 'avg';
  scale?: number;
  /** Scope → SQL expression of its id (null: the whole city). */
  scopes: Record<string, string | null>;
  /** Extra filter (`kind.param` forms fill $3). */
  param?: string;
  doc: string;
}

const SALES_SCOPES = {
  city: null,
  region: 'region_code',
  coal_type: 'coal_type',
  band: 'band',
  mine: 'mine_id',
};

export const SERIES_KINDS: Record<string, Kind> = {
  sales_volume: { source: 'sales', num: 'net_t', outer: 'sum', scopes: SALES_SCOPES, doc: '销量 t' },
  sales_value: { source: 'sales', num: 'value_yuan', outer: 'sum', scopes: SALES_SCOPES, doc: '销售额 元' },
  sales_count: { source: 'sales', num: 'n', outer: 'sum', scopes: SALES_SCOPES, doc: '交易笔数' },
  price_vwap: {
    source: 'sales',
    num: 'value_yuan',
    den: 'net_t',
    outer: 'ratio',
    scopes: SALES_SCOPES,
    doc: '量加权成交均价 元/t',
  },
  price_quote: {
    source: 'prices_daily',
    num: 'price_sum',
    den: 'n',
    outer: 'ratio',
    scopes: { city: null, coal_type: 'coal_type', band: 'band' },
    param: 'price_kind',
    doc: '价格观测均价 元/t（price_quote.<pithead|shenhua_batuta|shenhua_huanghua>）',
  },
  port_stock: {
    source: 'ports_daily',
    num: 'stock_t',
    outer: 'mean',
    scopes: { city: null, port: 'port', port_kind: 'kind' },
    doc: '港口/站台场存 t（期内日均）',
  },
  port_fob: {
    source: 'ports_daily',
    num: 'fob_price_yuan_per_t',
    inner: 'avg',
    outer: 'mean',
    scopes: { city: null, port: 'port' },
    doc: '平仓价 元/t',
  },
  port_vessels: {
    source: 'ports_daily',
    num: 'vessels_waiting',
    outer: 'mean',
    scopes: { city: null, port: 'port' },
    doc: '待港船舶数（期内日均）',
  },
  port_freight: {
    source: 'ports_daily',
    num: 'freight_yuan_per_t',
    inner: 'avg',
    outer: 'mean',
    scopes: { city: null, port: 'port' },
    doc: '海运运价 元/t',
  },
  port_import: {
    source: 'ports_daily',
    num: 'import_t',
    outer: 'sum',
    scopes: { city: null, port: 'port' },
    doc: '进口煤量 t',
  },
  rail_shipped: {
    source: 'rail_daily',
    num: 'shipped_t',
    outer: 'sum',
    scopes: { city: null, route: 'route', route_dir: `route || '|' || COALESCE(direction, '-')` },
    doc: '铁路发运量 t',
  },
  rail_approval: {
    source: 'rail_daily',
    num: 'approved_cars',
    den: 'requested_cars',
    outer: 'ratio',
    scale: 100,
    scopes: { city: null, route: 'route', route_dir: `route || '|' || COALESCE(direction, '-')` },
    doc: '批车率 %',
  },
  highway_trucks: {
    source: 'highway_daily',
    num: 'trucks',
    outer: 'sum',
    scopes: { city: null, gate: 'gate', gate_dir: `gate || '|' || direction`, direction: 'direction' },
    doc: '公路货车流量 辆',
  },
  highway_tonnage: {
    source: 'highway_daily',
    num: 'tonnage_t',
    outer: 'sum',
    scopes: { city: null, gate: 'gate', gate_dir: `gate || '|' || direction`, direction: 'direction' },
    doc: '公路运量 t',
  },
  user_consumption: {
    source: 'coal_users_daily',
    num: 'consumption_t',
    outer: 'sum',
    scopes: { city: null, sector: 'sector', user: 'user_id' },
    doc: '用煤企业耗煤 t',
  },
  user_intake: {
    source: 'coal_users_daily',
    num: 'intake_t',
    outer: 'sum',
    scopes: { city: null, sector: 'sector', user: 'user_id' },
    doc: '用煤企业入库 t',
  },
  user_stock: {
    source: 'coal_users_daily',
    num: 'stock_t',
    outer: 'mean',
    scopes: { city: null, sector: 'sector', user: 'user_id' },
    doc: '用煤企业库存 t（期内日均）',
  },
  mine_stock: {
    source: 'mine_inventory_daily',
    num: 'stock_t',
    outer: 'mean',
    scopes: { city: null, region: 'region_code', mine: 'mine_id' },
    doc: '煤矿场地库存（上报）t（期内日均）',
  },
};

export interface ParsedKey {
  kind: string;
  param: string | null;
  scope: string;
  id: string | null;
}

export function parseSeriesKey(key: string): ParsedKey {
  const [head, scope, ...rest] = key.split(':');
  const [kind, param] = (head ?? '').split('.') as [string, string | undefined];
  const k = SERIES_KINDS[kind];
  if (!k) throw new RangeError(`未知序列 ${key} / unknown series kind "${kind}"`);
  if (!scope || !(scope in k.scopes))
    throw new RangeError(
      `序列 ${key} 的范围无效 / scope of "${key}" must be one of ${Object.keys(k.scopes).join('|')}`,
    );
  if (k.param && !param)
    throw new RangeError(`序列 ${key} 需要 ${kind}.<${k.param}> / "${kind}" needs a .<${k.param}> suffix`);
  const id = rest.length ? rest.join(':') : null;
  if (k.scopes[scope] !== null && id === null)
    throw new RangeError(`序列 ${key} 缺少 id / "${key}" needs an id`);
  return { kind, param: param ?? null, scope, id };
}

const TRUNC: Record<Frequency, string> = { day: '1 day', week: '1 week', month: '1 month' };

/** Loads one series (see the module doc for keys). Empty when nothing matches. */
export async function loadSeries(db: Db, key: string, frequency: Frequency = 'day'): Promise<SeriesPoint[]> {
  const p = parseSeriesKey(key);
  const k = SERIES_KINDS[p.kind]!;
  const idExpr = k.scopes[p.scope];
  const params: unknown[] = [];
  const where: string[] = [];
  if (idExpr !== null && idExpr !== undefined) {
    params.push(p.id);
    where.push(`${idExpr} = $${params.length}`);
  }
  if (k.param) {
    params.push(p.param);
    where.push(`${k.param} = $${params.length}`);
  }
  // Sales have their own weekly and monthly continuous aggregates (hierarchical, on sales_daily).
  const source =
    k.source === 'sales'
      ? frequency === 'week'
        ? 'sales_weekly'
        : frequency === 'month'
          ? 'sales_monthly'
          : 'sales_daily'
      : k.source;
  const periodExpr =
    k.source === 'sales' ? 'bucket' : `time_bucket('${TRUNC[frequency]}', bucket, 'Asia/Shanghai')`;
  const inner = k.inner === 'avg' ? 'avg' : 'sum';
  const num = `${inner}(${k.num})`;
  const den = k.den ? `sum(${k.den})` : 'NULL::numeric';
  const outer =
    k.outer === 'sum' ? 'sum(num)' : k.outer === 'ratio' ? 'sum(num) / NULLIF(sum(den), 0)' : 'avg(num)';
  const sql = `
    SELECT to_char(${periodExpr} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS date, (${outer} * ${k.scale ?? 1})::float8 AS value
    FROM (
      SELECT bucket, ${num} AS num, ${den} AS den FROM ${source}
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      GROUP BY bucket HAVING ${num} IS NOT NULL) d
    GROUP BY 1 ORDER BY 1`;
  const r = await db.query(sql, params);
  return r.rows
    .filter((x) => x.value !== null)
    .map((x) => ({ date: String(x.date), value: Math.round(Number(x.value) * 1e6) / 1e6 }));
}

/** Every series key with data (for the forecast engineer: typically hundreds, per entity × kind). */
export async function listSeriesKeys(db: Db): Promise<string[]> {
  const keys: string[] = [];
  const distinct = new Map<string, Promise<string[]>>();
  const ids = (source: string, expr: string, param?: { col: string; value: string }) => {
    const k = `${source}\u0001${expr}\u0001${param?.value ?? ''}`;
    if (!distinct.has(k)) {
      const table = source === 'sales' ? 'sales_daily' : source;
      distinct.set(
        k,
        db
          .query(
            `SELECT DISTINCT ${expr} AS id FROM ${table} WHERE ${expr} IS NOT NULL${param ? ` AND ${param.col} = $1` : ''} ORDER BY 1`,
            param ? [param.value] : [],
          )
          .then((r) => r.rows.map((x) => String(x.id))),
      );
    }
    return distinct.get(k)!;
  };
  for (const [name, k] of Object.entries(SERIES_KINDS)) {
    const variants = k.param
      ? (await db.query(`SELECT DISTINCT ${k.param} AS v FROM ${k.source} ORDER BY 1`)).rows.map((x) => ({
          prefix: `${name}.${x.v}`,
          param: { col: k.param!, value: String(x.v) },
        }))
      : [{ prefix: name, param: undefined }];
    for (const v of variants) {
      for (const [scope, expr] of Object.entries(k.scopes)) {
        if (expr === null) {
          const any = await db.query(
            `SELECT 1 FROM ${k.source === 'sales' ? 'sales_daily' : k.source}${v.param ? ` WHERE ${v.param.col} = $1` : ''} LIMIT 1`,
            v.param ? [v.param.value] : [],
          );
          if (any.rowCount) keys.push(`${v.prefix}:${scope}`);
          continue;
        }
        for (const id of await ids(k.source, expr, v.param)) keys.push(`${v.prefix}:${scope}:${id}`);
      }
    }
  }
  return keys;
}
