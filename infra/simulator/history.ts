/**
 * Seeded history for the embedded default: the simulator starts a week back,
 * but a daily forecast needs 22 days and a monthly one 14 months, so a
 * newcomer would wait weeks for forecasts. Before its first start the
 * simulator writes daily history for the months before it, quickly: one
 * simulated day of the same world is run through the real mapping (aliases,
 * validation, desensitization, fact columns), and each entity's day is then
 * repeated backwards with the seasonal, weekly and price movements of the
 * generator and some noise: sales as one daily row per banner, coal type and
 * band (mine `hist:<banner>|<coal type>|<band>`), rail, ports, coal users and
 * price quotes as their daily reports.
 *
 * Written straight into the fact tables (record ids `hist:…`, idempotent) and
 * their daily, weekly and monthly aggregates, which the forecasts read; not
 * into the real-time cells, so "latest" and the windows start with the live
 * simulation. A sales history row stands for a day's sales of its group:
 * transaction counts of seeded days are one per row.
 */
import type { Deps } from '../core/index.ts';
import {
  createDesensitizer,
  loadPolicy,
  processRaw,
  eventMsOf,
  FACTS,
  type FeedName,
  type FactColumn,
} from '../../pipelines/index.ts';
import { Generator } from './generator.ts';
import { Rng } from './world.ts';

const DAY = 86_400_000;
const CST = 8 * 3600_000;
const SEEDED: readonly FeedName[] = ['sales', 'rail', 'ports', 'coal_users', 'prices'];
/** Continuous aggregates over the seeded facts, parents before children. */
const AGGREGATES = [
  'sales_daily',
  'sales_weekly',
  'sales_monthly',
  'sales_yearly',
  'prices_daily',
  'ports_daily',
  'rail_daily',
  'coal_users_daily',
];

export interface HistoryOptions {
  seed: number;
  /** History ends at the start (CST) of the day of this time, ms: the simulator's first day. */
  beforeMs: number;
  days: number;
  /** Rows per INSERT: small enough that the single embedded session keeps answering the API between them. Default 1000. */
  chunkRows?: number;
  /** Stops between chunks when set (the system is stopping). */
  signal?: { aborted: boolean };
}

export interface HistoryResult {
  skipped: boolean;
  from: string;
  to: string;
  rows: Record<string, number>;
  ms: number;
}

const dayStartCst = (ms: number) => Math.floor((ms + CST) / DAY) * DAY - CST;
const isoDay = (ms: number) => new Date(ms + CST).toISOString().slice(0, 10);
const markKey = (deps: Pick<Deps, 'config'>, seed: number) =>
  `simulator-history:${deps.config.topicPrefix}:${seed}`;

function season(ms: number): number {
  const doy = (ms / DAY) % 365.25;
  return (
    1 +
    0.08 * Math.cos((2 * Math.PI * (doy - 15)) / 365.25) +
    0.02 * Math.cos((4 * Math.PI * (doy - 200)) / 365.25)
  );
}
function weekly(ms: number): number {
  const dow = new Date(ms + CST).getUTCDay();
  return dow === 0 ? 0.92 : dow === 6 ? 0.96 : 1.02;
}

interface Template {
  feed: FeedName;
  offsetMs: number;
  values: (string | number | boolean | null)[];
}

/** One simulated day of the world through the real mapping: each entity's daily facts. */
function templates(deps: Pick<Deps, 'config'>, seed: number, dayStart: number): Template[] {
  const gen = new Generator({ seed, startTime: dayStart, badShare: 0, dupShare: 0 });
  const ctx = {
    desensitizer: createDesensitizer(loadPolicy(deps.config.policyFile), deps.config.tokenSecret),
    nowMs: Date.now(),
    receivedAtMs: Date.now(),
  };
  const sales = new Map<string, Template>();
  const out: Template[] = [];
  for (const e of gen.advance(dayStart + DAY)) {
    if (!SEEDED.includes(e.feed)) continue;
    const o = processRaw(e.feed, e.raw, ctx);
    if (o.status !== 'ok') continue;
    const spec = FACTS[e.feed] as { columns: FactColumn<unknown>[] };
    const values = spec.columns.map((c) => c.get(o.record));
    if (e.feed === 'rail' && spec.columns.some((c, i) => c.name === 'period' && values[i] !== 'day'))
      continue;
    const t = eventMsOf(e.feed, o.record as never);
    if (t < dayStart || t >= dayStart + DAY) continue;
    if (e.feed !== 'sales') {
      out.push({ feed: e.feed, offsetMs: t - dayStart, values });
      continue;
    }
    // Sales: one row per banner, coal type and band for the day, at noon (what the forecasts read; a row per
    // mine would be ~20 times more rows to write for no series of the catalogue).
    const col = (name: string) => spec.columns.findIndex((c) => c.name === name);
    const key = ['region_code', 'coal_type', 'band'].map((n) => String(values[col(n)])).join('|');
    const cur = sales.get(key);
    if (!cur) {
      values[col('mine_id')] = `hist:${key}`;
      values[col('company')] = `hist:${key}`;
      sales.set(key, { feed: 'sales', offsetMs: 12 * 3600_000, values });
      continue;
    }
    spec.columns.forEach((c, i) => {
      if (c.type === 'numeric') cur.values[i] = Number(cur.values[i]) + Number(values[i]);
    });
  }
  return [...sales.values(), ...out];
}

/**
 * Seeds `days` days of daily history before the simulator's first day, once per seed and topic prefix
 * (a mark in coalflow_meta). Safe to run again: rows are keyed and inserted with ON CONFLICT DO NOTHING.
 */
export async function seedHistory(
  deps: Pick<Deps, 'db' | 'config' | 'log'>,
  opts: HistoryOptions,
): Promise<HistoryResult> {
  const t0 = performance.now();
  const end = dayStartCst(opts.beforeMs);
  const from = end - opts.days * DAY;
  const result: HistoryResult = {
    skipped: false,
    from: isoDay(from),
    to: isoDay(end - DAY),
    rows: {},
    ms: 0,
  };
  const done = await deps.db.query('SELECT 1 FROM coalflow_meta WHERE key = $1', [markKey(deps, opts.seed)]);
  if (done.rowCount || opts.days <= 0) return { ...result, skipped: true };
  const ref = end - DAY;
  const tpl = templates(deps, opts.seed, ref);
  const rng = new Rng((opts.seed ^ 0x48157) >>> 0);
  const entityNoise = tpl.map(() => 1);
  const chunk = opts.chunkRows ?? 1000;
  const buffers = new Map<FeedName, unknown[][]>();
  const flush = async (feed: FeedName) => {
    const rows = buffers.get(feed);
    if (!rows?.length) return;
    buffers.set(feed, []);
    const spec = FACTS[feed] as { table: string; columns: FactColumn<unknown>[] };
    const types = ['text', 'timestamptz', ...spec.columns.map((c) => c.type)];
    const cols = ['record_id', 'event_time', ...spec.columns.map((c) => c.name)];
    const params = types.map((_, i) => rows.map((r) => r[i]));
    await deps.db.query(
      `INSERT INTO ${spec.table} (${cols.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ON CONFLICT DO NOTHING`,
      params,
    );
    result.rows[feed] = (result.rows[feed] ?? 0) + rows.length;
  };
  // Backwards from the template day: a price walk (mean-reverting) and the generator's seasonal and weekly shape.
  let price = 1;
  for (let d = ref; d >= from; d -= DAY) {
    if (opts.signal?.aborted) return { ...result, ms: Math.round(performance.now() - t0) };
    price = 1 + 0.97 * (price - 1) + rng.normal(0, 0.008);
    const vol = (season(d) / season(ref)) * (weekly(d) / weekly(ref));
    tpl.forEach((t, k) => {
      entityNoise[k] = 1 + 0.7 * (entityNoise[k]! - 1) + rng.normal(0, 0.03);
      const spec = FACTS[t.feed] as { columns: FactColumn<unknown>[] };
      const f = vol * entityNoise[k]! * (1 + rng.normal(0, 0.03));
      const values = spec.columns.map((c, i) => {
        const v = t.values[i];
        if (typeof v !== 'number') return v;
        const x = /price|fob|freight/.test(c.name)
          ? v * price
          : c.name === 'value_yuan'
            ? v * f * price
            : /stock/.test(c.name)
              ? v * (0.5 + 0.5 * f)
              : v * f;
        return c.type === 'int' ? Math.round(x) : Math.round(x * 100) / 100;
      });
      const list = buffers.get(t.feed) ?? buffers.set(t.feed, []).get(t.feed)!;
      list.push([`hist:${t.feed}:${k}:${isoDay(d)}`, new Date(d + t.offsetMs).toISOString(), ...values]);
    });
    for (const [feed, rows] of buffers) if (rows.length >= chunk) await flush(feed);
  }
  for (const feed of buffers.keys()) await flush(feed);
  // The aggregates the forecasts read, over the seeded range (a refresh policy only covers recent months), a quarter at a time.
  for (const agg of AGGREGATES) {
    const start =
      agg === 'sales_yearly'
        ? Date.UTC(new Date(from).getUTCFullYear(), 0, 1) - CST
        : agg === 'sales_monthly'
          ? from - 31 * DAY
          : from - 7 * DAY;
    // Equal slices of at most ~6 weeks (each at least two buckets wide; short statements keep /healthz answering); months and years at once.
    const n =
      agg === 'sales_yearly' || agg === 'sales_monthly'
        ? 1
        : Math.max(1, Math.ceil((end - start) / (46 * DAY)));
    const width = (end - start) / n;
    for (let i = 0; i < n; i++) {
      if (opts.signal?.aborted) return { ...result, ms: Math.round(performance.now() - t0) };
      // Overlapping by 8 days: a refresh only fills the buckets wholly inside its window, so day and week
      // buckets across a slice boundary would otherwise be in neither.
      const a = new Date(Math.max(start, start + i * width - 8 * DAY)).toISOString();
      const b = new Date(i === n - 1 ? end : Math.min(end, start + (i + 1) * width + 8 * DAY)).toISOString();
      await deps.db.query(`CALL refresh_continuous_aggregate('${agg}', '${a}', '${b}')`);
    }
  }
  await deps.db.query(
    `INSERT INTO coalflow_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [markKey(deps, opts.seed), JSON.stringify({ from: result.from, to: result.to, rows: result.rows })],
  );
  result.ms = Math.round(performance.now() - t0);
  deps.log.info(result, 'simulator history seeded');
  return result;
}
