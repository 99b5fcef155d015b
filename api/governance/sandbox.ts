/**
 * Sandbox queries (可用不可见): an analyst's aggregate query — measures, dimensions, filters and a bounded date
 * range — runs inside the domain against the indicator store's continuous aggregates (`sales_daily`,
 * `mine_inventory_daily`, `coal_users_daily`), never against ingest tables, and only aggregates leave it. The
 * query is a whitelist: every measure, dimension and time grain maps onto a fixed SQL fragment written here; what
 * the caller typed reaches the database only as bound parameters. Every result cell passes the same disclosure
 * control as the indicator API (at least `MIN_CONTRIBUTORS` owning groups, the largest at most `MAX_TOP_SHARE`),
 * then secondary suppression (`secondarySuppress`) along every grouped dimension, so no published sibling set lets
 * a suppressed cell be recovered by subtraction.
 */
import type pg from 'pg';
import { CoalflowError, InputError } from '../../infra/core/index.ts';
import { secondarySuppress, type EntityPoints } from '../access/disclosure.ts';
import { MAX_TOP_SHARE, MIN_CONTRIBUTORS } from '../routes/indicators.ts';

/** Longest date range of one query, days (inclusive of both ends). */
export const SANDBOX_MAX_RANGE_DAYS = 366;
/** Most cells (rows × measures) one answer may hold. */
export const SANDBOX_MAX_CELLS = 20_000;

export type Source = 'sales' | 'mine_stock' | 'users';

export interface MeasureDef {
  source: Source;
  /** The indicator product whose grant the measure needs, besides `sandbox`. */
  product: string;
  zh: string;
  en: string;
  unit: string;
}

export const MEASURES = {
  tonnage: { source: 'sales', product: 'indicator.sales', zh: '销量', en: 'tonnage sold', unit: 't' },
  value: { source: 'sales', product: 'indicator.sales', zh: '销售额', en: 'sales value', unit: 'yuan' },
  vwap: {
    source: 'sales',
    product: 'indicator.price',
    zh: '成交均价(量加权)',
    en: 'volume-weighted average price',
    unit: 'yuan/t',
  },
  trips: {
    source: 'sales',
    product: 'indicator.sales',
    zh: '过磅车次',
    en: 'weighbridge trips',
    unit: 'count',
  },
  stock: {
    source: 'mine_stock',
    product: 'indicator.inventory',
    zh: '煤矿场地库存(上报)',
    en: 'mine yard stock (reported)',
    unit: 't',
  },
  user_stock: {
    source: 'users',
    product: 'indicator.inventory',
    zh: '用煤企业库存',
    en: 'coal users’ stock',
    unit: 't',
  },
  consumption: {
    source: 'users',
    product: 'indicator.days_of_stock',
    zh: '耗煤量',
    en: 'consumption',
    unit: 't',
  },
  days_of_stock: {
    source: 'users',
    product: 'indicator.days_of_stock',
    zh: '可用天数',
    en: 'days of stock',
    unit: 'days',
  },
} as const satisfies Record<string, MeasureDef>;
export type Measure = keyof typeof MEASURES;
export const MEASURE_KEYS = Object.keys(MEASURES) as Measure[];

/** Non-time dimensions, the sources offering them and their column in the source's daily rows. */
export const DIMENSIONS = {
  region: { zh: '旗区', en: 'region', sources: ['sales', 'mine_stock'] as Source[], column: 'region_code' },
  coal_type: { zh: '煤种', en: 'coal type', sources: ['sales'] as Source[], column: 'coal_type' },
  band: { zh: '热值段', en: 'calorific band', sources: ['sales'] as Source[], column: 'band' },
  sector: { zh: '行业', en: 'sector', sources: ['users'] as Source[], column: 'sector' },
} as const;
export type Dimension = keyof typeof DIMENSIONS;
export const DIMENSION_KEYS = Object.keys(DIMENSIONS) as Dimension[];

/** Time grains: Asia/Shanghai days, ISO weeks (Monday) and months. */
export const GRAINS = {
  day: `d.bucket`,
  week: `time_bucket('1 week', d.bucket, 'Asia/Shanghai')`,
  month: `time_bucket('1 month', d.bucket, 'Asia/Shanghai')`,
} as const;
export type Grain = keyof typeof GRAINS;
export const GRAIN_KEYS = Object.keys(GRAINS) as Grain[];

export interface SandboxQuery {
  measures: Measure[];
  dimensions?: (Dimension | Grain)[];
  filters?: Partial<Record<Dimension, string[]>>;
  range: { from: string; to: string };
}

/** The request body's JSON schema (fastify validates it before the handler; unknown keys are refused). */
const filterValues = {
  type: 'array',
  minItems: 1,
  maxItems: 50,
  items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' },
} as const;
const date = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } as const;
export const SANDBOX_QUERY_SCHEMA = {
  type: 'object',
  required: ['measures', 'range'],
  propertyNames: { enum: ['measures', 'dimensions', 'filters', 'range'] },
  properties: {
    measures: {
      type: 'array',
      minItems: 1,
      maxItems: MEASURE_KEYS.length,
      items: { type: 'string', enum: MEASURE_KEYS },
    },
    dimensions: {
      type: 'array',
      maxItems: 4,
      items: { type: 'string', enum: [...DIMENSION_KEYS, ...GRAIN_KEYS] },
    },
    filters: {
      type: 'object',
      propertyNames: { enum: DIMENSION_KEYS },
      properties: Object.fromEntries(DIMENSION_KEYS.map((k) => [k, filterValues])),
    },
    range: {
      type: 'object',
      required: ['from', 'to'],
      propertyNames: { enum: ['from', 'to'] },
      properties: { from: date, to: date },
    },
  },
} as const;

export interface NormalQuery {
  measures: Measure[];
  dimensions: Dimension[];
  grain: Grain | null;
  filters: Partial<Record<Dimension, string[]>>;
  range: { from: string; to: string };
}

const DAY_MS = 86_400_000;
const dayMs = (d: string) => Date.parse(`${d}T00:00:00Z`);

/**
 * Checks what the schema cannot (one source, dimensions the source offers, one time grain, a real and bounded
 * range) and returns the query in one canonical form: what is audited and what runs.
 */
export function normalizeQuery(q: SandboxQuery): NormalQuery {
  const measures = [...new Set(q.measures)];
  for (const m of measures)
    if (!(m in MEASURES)) throw new InputError(`未知指标 ${m} / unknown measure ${m}`);
  const sources = [...new Set(measures.map((m) => MEASURES[m].source))];
  if (sources.length !== 1)
    throw new InputError(
      `一次查询的指标须来自同一数据集：${measures.join(', ')} 来自 ${sources.join(' / ')} / measures of one query must come from one data set: ${measures.join(', ')} span ${sources.join(', ')}`,
    );
  const source = sources[0]!;
  const dims = [...new Set(q.dimensions ?? [])];
  const grains = dims.filter((d): d is Grain => d in GRAINS);
  if (grains.length > 1)
    throw new InputError(
      `时间维度最多一个（day、week 或 month）/ at most one time dimension (day, week or month): ${grains.join(', ')}`,
    );
  const dimensions = dims.filter((d): d is Dimension => d in DIMENSIONS);
  const filters: Partial<Record<Dimension, string[]>> = {};
  for (const d of [...dimensions, ...(Object.keys(q.filters ?? {}) as Dimension[])]) {
    if (!(d in DIMENSIONS)) throw new InputError(`未知维度 ${d} / unknown dimension ${d}`);
    if (!(DIMENSIONS[d].sources as readonly Source[]).includes(source))
      throw new InputError(
        `维度 ${d} 不适用于指标 ${measures.join(', ')}（可用：${dimsOf(source).join(', ')}）/ dimension ${d} does not apply to ${measures.join(', ')} (available: ${dimsOf(source).join(', ')})`,
      );
  }
  for (const [d, vals] of Object.entries(q.filters ?? {}) as [Dimension, string[]][])
    filters[d] = [...new Set(vals)].sort();
  const from = dayMs(q.range.from);
  const to = dayMs(q.range.to);
  if (
    !Number.isFinite(from) ||
    !Number.isFinite(to) ||
    new Date(from).toISOString().slice(0, 10) !== q.range.from ||
    new Date(to).toISOString().slice(0, 10) !== q.range.to
  )
    throw new InputError(
      'range.from/to 应为有效日期 YYYY-MM-DD / range.from and to must be valid YYYY-MM-DD dates',
    );
  if (to < from) throw new InputError('range.from 晚于 range.to / range.from is after range.to');
  const days = (to - from) / DAY_MS + 1;
  if (days > SANDBOX_MAX_RANGE_DAYS)
    throw new CoalflowError(
      'QUERY_TOO_LARGE',
      `查询时间范围 ${days} 天，超过上限 ${SANDBOX_MAX_RANGE_DAYS} 天，请缩小范围或分段查询 / the range spans ${days} days, more than the ${SANDBOX_MAX_RANGE_DAYS} allowed: narrow it or split the query`,
      { context: { days, maxDays: SANDBOX_MAX_RANGE_DAYS } },
    );
  return {
    measures,
    dimensions: DIMENSION_KEYS.filter((d) => dimensions.includes(d)),
    grain: grains[0] ?? null,
    filters: Object.fromEntries(
      DIMENSION_KEYS.filter((d) => filters[d]).map((d) => [d, filters[d]!]),
    ) as NormalQuery['filters'],
    range: { from: q.range.from, to: q.range.to },
  };
}

export function dimsOf(source: Source): Dimension[] {
  return DIMENSION_KEYS.filter((d) => (DIMENSIONS[d].sources as readonly Source[]).includes(source));
}

export const sourceOf = (q: NormalQuery): Source => MEASURES[q.measures[0]!].source;

/** The indicator products a query's measures need. */
export function productsOf(q: NormalQuery): string[] {
  return [...new Set(q.measures.map((m) => MEASURES[m].product))].sort();
}

/**
 * One statement per source: daily rows of the continuous aggregate, filtered by the range and by the filters on
 * dimensions the answer does not group by (those on grouped dimensions apply after suppression, so the outcome of
 * secondary suppression does not depend on them), summed per time bucket, grouped dimensions and entity (mine or
 * plant); the owning groups are looked up after. Only fixed fragments are concatenated;
 * values are parameters ($1 … $n).
 */
/** The sales aggregate a query reads: monthly or weekly when the range is made of whole buckets of that grain. */
export function salesTable(q: NormalQuery): 'sales_daily' | 'sales_weekly' | 'sales_monthly' {
  const from = new Date(`${q.range.from}T00:00:00Z`);
  const next = new Date(Date.parse(`${q.range.to}T00:00:00Z`) + DAY_MS);
  const wholeMonths = from.getUTCDate() === 1 && next.getUTCDate() === 1;
  const wholeWeeks = from.getUTCDay() === 1 && next.getUTCDay() === 1;
  if ((q.grain === 'month' || q.grain === null) && wholeMonths) return 'sales_monthly';
  if ((q.grain === 'week' || q.grain === null) && wholeWeeks) return 'sales_weekly';
  return 'sales_daily';
}

export function compile(q: NormalQuery, sqlFilters: Partial<Record<Dimension, string[]>>): pg.QueryConfig {
  const source = sourceOf(q);
  const values: unknown[] = [q.range.from, q.range.to];
  const where = [
    `d.bucket >= ($1::date::timestamp AT TIME ZONE 'Asia/Shanghai')`,
    `d.bucket < (($2::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')`,
  ];
  for (const dim of dimsOf(source)) {
    const vals = sqlFilters[dim];
    if (!vals) continue;
    values.push(vals);
    where.push(`d.${DIMENSIONS[dim].column} = ANY($${values.length}::text[])`);
  }
  const t = q.grain ? GRAINS[q.grain] : 'NULL::timestamptz';
  const dimCols = q.dimensions.map((dim) => `d.${DIMENSIONS[dim].column}::text AS ${dim}`);
  const dimGroup = q.dimensions.map((dim) => `d.${DIMENSIONS[dim].column}`);
  if (source === 'sales') {
    // A range of whole months (or ISO weeks) reads the monthly (weekly) aggregate: a twelfth of the rows, and no
    // per-row time bucketing; any other range reads the daily one.
    const table = salesTable(q);
    const tt = table === 'sales_daily' ? t : q.grain ? 'd.bucket' : 'NULL::timestamptz';
    return {
      text: `SELECT ${tt} AS t, ${[...dimCols, 'd.mine_id AS entity'].join(', ')}, sum(d.net_t)::float8 AS tonnage, sum(d.value_yuan)::float8 AS value, sum(d.n)::float8 AS trips
FROM ${table} d WHERE ${where.join(' AND ')} GROUP BY ${['1', ...dimGroup, 'd.mine_id'].join(', ')}`,
      values,
    };
  }
  if (source === 'mine_stock') {
    // Each mine's last report within the bucket (within the range when there is no time dimension), summed.
    return {
      text: `SELECT DISTINCT ON (1, d.mine_id) ${t} AS t, ${[...dimCols, 'd.mine_id AS entity'].join(', ')}, d.stock_t::float8 AS stock
FROM mine_inventory_daily d WHERE ${where.join(' AND ')} ORDER BY 1, d.mine_id, d.bucket DESC`,
      values,
    };
  }
  // Coal users: each plant is its own organisation; per plant and bucket the consumption summed, the days with a
  // consumption report and the last stock.
  return {
    text: `SELECT ${t} AS t, ${[...dimCols, 'd.user_id AS entity'].join(', ')}, sum(d.consumption_t)::float8 AS cons, count(d.consumption_t)::int AS cdays,
  ((array_agg(d.stock_t ORDER BY d.bucket DESC) FILTER (WHERE d.stock_t IS NOT NULL))[1])::float8 AS stock
FROM coal_users_daily d WHERE ${where.join(' AND ')} GROUP BY ${['1', ...dimGroup, 'd.user_id'].join(', ')}`,
    values,
  };
}

/**
 * The owning group of each mine: the credit code of its newest sale (as the indicator cells count contributors),
 * else its master record, else the mine itself. One index lookup per mine; joined in the process (a join in the
 * statement made the planner, without statistics on the embedded database, loop over every daily row).
 */
async function ownersOf(db: pg.Pool, mines: string[]): Promise<Map<string, string>> {
  if (!mines.length) return new Map();
  const r = await db.query(
    `SELECT m.mine_id, COALESCE(c.company, md.company, m.mine_id) AS company FROM unnest($1::text[]) AS m(mine_id)
    LEFT JOIN ind_mine_dim md ON md.mine_id = m.mine_id
    LEFT JOIN LATERAL (SELECT f.company FROM fact_sales f WHERE f.mine_id = m.mine_id ORDER BY f.event_time DESC LIMIT 1) c ON true`,
    [mines],
  );
  return new Map(r.rows.map((x) => [x.mine_id as string, x.company as string]));
}

export interface SandboxCell {
  key: Record<string, string | null>;
  values: Partial<Record<Measure, number | null>>;
  contributors: number;
  suppressed: boolean;
}

export interface SandboxResult {
  query: NormalQuery;
  measures: { measure: Measure; zh: string; en: string; unit: string }[];
  disclosure: { minContributors: number; maxTopShare: number };
  cells: SandboxCell[];
  cellsReturned: number;
  cellsSuppressed: number;
}

interface Acc {
  key: Record<string, string | null>;
  companies: Map<string, number[]>;
  sums: number[];
  /** days_of_stock: Σ stock and Σ mean daily consumption over plants with both. */
  dosStock: number;
  dosAvg: number;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** Grant view of a query: which region values it may see (null = all) — filled by the caller from the grants. */
export interface SandboxView {
  regions: string[] | null;
}

/**
 * Runs a normalized query: compile, read, aggregate per cell, primary then secondary suppression, then the
 * filters on grouped dimensions and the caller's regions. Throws `QUERY_TOO_LARGE` past `SANDBOX_MAX_CELLS`.
 */
export async function runSandbox(db: pg.Pool, q: NormalQuery, view: SandboxView): Promise<SandboxResult> {
  const source = sourceOf(q);
  // Filters (and a region restriction) on grouped dimensions are applied after suppression; others in SQL.
  const post: Partial<Record<Dimension, string[]>> = {};
  const sqlFilters: Partial<Record<Dimension, string[]>> = {};
  const restrict = { ...q.filters };
  if (view.regions && dimsOf(source).includes('region'))
    restrict.region = restrict.region
      ? restrict.region.filter((r) => view.regions!.includes(r))
      : [...view.regions];
  for (const [d, vals] of Object.entries(restrict) as [Dimension, string[]][])
    (q.dimensions.includes(d) ? post : sqlFilters)[d] = vals;
  const r = await db.query(compile(q, sqlFilters));
  const owners =
    source === 'users' ? null : await ownersOf(db, [...new Set(r.rows.map((x) => x.entity as string))]);

  const cells = new Map<string, Acc>();
  const bases =
    source === 'sales' ? ['tonnage', 'value'] : source === 'mine_stock' ? ['stock'] : ['stock', 'cons'];
  for (const row of r.rows) {
    const t = row.t === null ? null : new Date(row.t).toISOString();
    const key: Record<string, string | null> = {};
    if (q.grain) key[q.grain] = t;
    for (const d of q.dimensions) key[d] = row[d] ?? null;
    const k = JSON.stringify(key);
    let acc = cells.get(k);
    if (!acc) {
      acc = { key, companies: new Map(), sums: [0, 0, 0, 0], dosStock: 0, dosAvg: 0 };
      cells.set(k, acc);
    }
    const company = owners ? (owners.get(row.entity) ?? String(row.entity)) : String(row.entity);
    const part = acc.companies.get(company) ?? bases.map(() => 0);
    bases.forEach((b, i) => (part[i]! += Number(row[b] ?? 0)));
    acc.companies.set(company, part);
    if (source === 'sales') {
      acc.sums[0]! += Number(row.tonnage);
      acc.sums[1]! += Number(row.value);
      acc.sums[2]! += Number(row.trips);
    } else if (source === 'mine_stock') {
      acc.sums[0]! += Number(row.stock);
    } else {
      acc.sums[0]! += Number(row.stock ?? 0);
      acc.sums[1]! += Number(row.cons ?? 0);
      if (row.stock !== null && Number(row.cdays) > 0) {
        acc.dosStock += Number(row.stock);
        acc.dosAvg += Number(row.cons) / Number(row.cdays);
      }
    }
  }

  const list = [...cells.values()].sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));
  const out = list.map((acc) => {
    let top = 0;
    bases.forEach((_, i) => {
      const total = [...acc.companies.values()].reduce((s, p) => s + p[i]!, 0);
      const max = Math.max(0, ...[...acc.companies.values()].map((p) => p[i]!));
      if (total > 0) top = Math.max(top, max / total);
    });
    const contributors = acc.companies.size;
    const values: Partial<Record<Measure, number | null>> = {};
    for (const m of q.measures) values[m] = measureValue(m, acc);
    return {
      key: acc.key,
      values,
      contributors,
      topShare: top,
      suppressed: contributors < MIN_CONTRIBUTORS || top > MAX_TOP_SHARE,
      primary: acc.sums[0]!,
    };
  });

  // Secondary suppression along each grouped dimension: the cells that differ only in that dimension add up to
  // a total published elsewhere (the city, a coarser query), so one suppressed cell among them takes the smallest
  // published sibling with it; repeated until nothing changes (a new suppression may expose another line).
  for (let pass = 0; pass < 10 && q.dimensions.length; pass++) {
    let changed = false;
    for (const d of q.dimensions) {
      const ents: EntityPoints[] = out.map((c, i) => {
        const line = JSON.stringify({ ...c.key, [d]: undefined });
        return {
          scopeId: String(i),
          points: [
            {
              metric: 'cell',
              window: 'day',
              windowStart: line,
              value: c.primary,
              unit: '',
              n: null,
              contributors: c.contributors,
              ...(c.suppressed ? { suppressed: true as const } : {}),
            },
          ],
        };
      });
      if (secondarySuppress(ents) > 0) {
        changed = true;
        ents.forEach((e, i) => {
          if (e.points[0]!.suppressed) out[i]!.suppressed = true;
        });
      }
    }
    if (!changed) break;
  }

  const kept = out.filter((c) =>
    (Object.entries(post) as [Dimension, string[]][]).every(([d, vals]) => vals.includes(c.key[d] ?? '')),
  );
  const total = kept.length * q.measures.length;
  if (total > SANDBOX_MAX_CELLS)
    throw new CoalflowError(
      'QUERY_TOO_LARGE',
      `结果有 ${total} 个单元格，超过上限 ${SANDBOX_MAX_CELLS}：请减少维度、用更粗的时间粒度或缩小范围 / the answer would hold ${total} cells, more than the ${SANDBOX_MAX_CELLS} allowed: fewer dimensions, a coarser grain or a shorter range`,
      { context: { cells: total, maxCells: SANDBOX_MAX_CELLS } },
    );
  const result: SandboxCell[] = kept.map((c) => ({
    key: c.key,
    values: c.suppressed ? Object.fromEntries(q.measures.map((m) => [m, null])) : c.values,
    contributors: c.contributors,
    suppressed: c.suppressed,
  }));
  const suppressedRows = result.filter((c) => c.suppressed).length;
  return {
    query: q,
    measures: q.measures.map((m) => ({
      measure: m,
      zh: MEASURES[m].zh,
      en: MEASURES[m].en,
      unit: MEASURES[m].unit,
    })),
    disclosure: { minContributors: MIN_CONTRIBUTORS, maxTopShare: MAX_TOP_SHARE },
    cells: result,
    cellsReturned: (result.length - suppressedRows) * q.measures.length,
    cellsSuppressed: suppressedRows * q.measures.length,
  };
}

function measureValue(m: Measure, acc: Acc): number | null {
  const [a, b, c] = acc.sums as [number, number, number, number];
  switch (m) {
    case 'tonnage':
      return round6(a);
    case 'value':
      return round6(b);
    case 'trips':
      return c;
    case 'vwap':
      return a > 0 ? round6(b / a) : null;
    case 'stock':
    case 'user_stock':
      return round6(a);
    case 'consumption':
      return round6(b);
    case 'days_of_stock':
      return acc.dosAvg > 0 ? round6(acc.dosStock / acc.dosAvg) : null;
  }
}
