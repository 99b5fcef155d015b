/**
 * The TimescaleDB sink of the indicator workers. One `write` is one
 * transaction: insert the batch's facts (ON CONFLICT DO NOTHING, RETURNING the
 * rows that were new), then apply the cell and contributor deltas of the new
 * records only, move the partition's watermark, log corrections and mark the
 * outbox keys the new records made stale (`ind_dirty`, see
 * pipelines/indicators/outbox.ts) — three round trips in all. A replay, a
 * redelivery after a crash, or a second worker racing on the same records
 * therefore changes nothing twice: effectively once, with state in the store.
 * Publication (Redis, coal.indicators) reads the outbox later, elsewhere.
 */
import type pg from 'pg';
import { SinkError, type Deps } from '../../infra/core/index.ts';
import type { FeedName, FeedRecordMap, MineRecord } from '../contracts/types.ts';
import { FACTS } from './facts.ts';
import { CELLS } from './model.ts';
import { createDirtyAcc, dirtyParams, DIRTY_UPSERT_SQL, mergeDirty, type DirtyRow } from './outbox.ts';
import {
  createCellMerger,
  createContribMerger,
  decimal,
  deltasOf,
  groupSales,
  mergeSaleHours,
  saleGroupDeltas,
  saleHours,
  type CellDelta,
  type ContribDelta,
  type Lateness,
  type SaleHourDelta,
  type WatermarkState,
} from './core.ts';

export interface FactItem<F extends FeedName = FeedName> {
  record: FeedRecordMap[F];
  eventMs: number;
  lateness: Lateness;
  /** Watermark (ms) in force when the record was classified. */
  watermarkMs: number;
  /** The record's cell deltas; omitted when the plan carries them merged (`Planned.merged`): derived again if needed. */
  cells?: CellDelta[];
  contribs?: ContribDelta[];
  /** Acceptance time (ms) of the record by ingest, for the end-to-end latency; null when unknown. */
  acceptedMs?: number | null;
}

export interface FactBatch<F extends FeedName = FeedName> {
  feed: F;
  topic: string;
  partition: number;
  /** Records in the consumed batch (for fault hooks and logs). */
  records?: number;
}

/**
 * Turns the partition's persisted event-time state into the batch's items
 * (lateness and deltas) and the state after it. Called inside the transaction,
 * with the state row locked: a worker that just took the partition over sees
 * exactly what the previous owner committed.
 */
export type Plan = (prev: WatermarkState) => Planned;

export interface Planned {
  items: FactItem[];
  next: WatermarkState;
  /**
   * The items' deltas and outbox keys merged (`premerge`: sales a group of alike records at a time, other feeds a
   * record at a time) so that no per-record delta outlives the planning: used when all the items turn out new,
   * the usual case; otherwise the sink derives the new items' deltas again.
   */
  merged?: Merged;
}

export interface Merged {
  cells: CellDelta[];
  contribs: ContribDelta[];
  dirty: DirtyRow[];
  hours: SaleHourDelta[];
}

/** The merged deltas and outbox keys of a partition batch's items (see `Planned.merged`). */
export function premerge(feed: FeedName, items: readonly FactItem[]): Merged {
  const cells = createCellMerger();
  const contribs = createContribMerger();
  const dirty = createDirtyAcc(feed);
  if (feed === 'sales' && !items.some((it) => it.cells)) {
    // The high-volume feed: alike records summed first (one set of deltas per mine, day and attributes).
    for (const g of groupSales(items as FactItem<'sales'>[])) {
      const d = saleGroupDeltas(g);
      cells.add(d.cells);
      contribs.add(d.contribs);
      // The outbox keys' ranges are min/max over the members: marking the first and last event time is the same.
      dirty.add({
        record: g.first.record,
        eventMs: g.minMs,
        lateness: g.first.lateness,
        cells: d.cells,
        acceptedMs: g.acceptedMs,
      });
      if (g.maxMs !== g.minMs)
        dirty.add({
          record: g.first.record,
          eventMs: g.maxMs,
          lateness: g.first.lateness,
          cells: d.cells,
          acceptedMs: g.acceptedMs,
        });
    }
  } else {
    for (const it of items) {
      const d =
        it.cells && it.contribs
          ? { cells: it.cells, contribs: it.contribs }
          : deltasOf(feed, it.record as never, it.eventMs, it.lateness === 'too_late');
      cells.add(d.cells);
      contribs.add(d.contribs);
      dirty.add({
        record: it.record,
        eventMs: it.eventMs,
        lateness: it.lateness,
        cells: d.cells,
        acceptedMs: it.acceptedMs,
      });
    }
  }
  const hours = feed === 'sales' ? saleHours(items as FactItem<'sales'>[]) : [];
  return { cells: cells.values(), contribs: contribs.values(), dirty: dirty.rows(), hours };
}

export interface WriteResult {
  items: FactItem[];
  /** Outbox keys marked dirty with the write (publication is the publisher's job). */
  dirty: DirtyRow[];
  /** Records whose facts were new (their deltas were applied). */
  inserted: number;
  duplicates: number;
  corrections: number;
}

/** Test seam: called at named points of a write; throwing aborts the transaction. */
export type FaultHook = (stage: 'afterFacts' | 'beforeCommit', batches: FactBatch[]) => void | Promise<void>;

export interface TimescaleSink {
  write(batch: FactBatch, plan: Plan): Promise<WriteResult>;
  /** Several partitions' batches in one transaction; results in the same order. */
  writeMany(writes: PartitionWrite[]): Promise<WriteResult[]>;
  /** Persisted max event time per partition of a topic (for the watermark). */
  loadWatermarks(topic: string): Promise<Map<number, number>>;
  close(): Promise<void>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;
const LATENESS_CODE: Record<Lateness, number> = { on_time: 0, late: 1, too_late: 2 };

export function insertFactsSql(feed: FeedName): string {
  const spec = FACTS[feed];
  const cols = ['record_id', 'event_time', 'lateness', ...spec.columns.map((c) => c.name)];
  const types = ['text', 'timestamptz', 'smallint', ...spec.columns.map((c) => c.type)];
  const unnest = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  // Only the count comes back (rows would cost a transfer and a parse per record): when it falls short of the
  // rows offered, freshFactsSql tells which of them this transaction inserted.
  return `WITH i AS (INSERT INTO ${spec.table} (${cols.join(', ')}) SELECT * FROM unnest(${unnest}) ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*)::int AS n FROM i`;
}

/** A feed's fact rows as the column arrays of its insert statement (`insertFactsSql`). */
export function factColumns(
  feed: FeedName,
  items: readonly Pick<FactItem, 'record' | 'eventMs' | 'lateness'>[],
): unknown[][] {
  const spec = FACTS[feed];
  const cols: unknown[][] = Array.from({ length: 3 + spec.columns.length }, () => []);
  for (const it of items) {
    cols[0]!.push(it.record.recordId);
    cols[1]!.push(iso(it.eventMs));
    cols[2]!.push(LATENESS_CODE[it.lateness]);
    spec.columns.forEach((c, i) => cols[3 + i]!.push((c.get as (r: unknown) => unknown)(it.record) ?? null));
  }
  return cols;
}

/** The offered facts that the current transaction inserted (xmin is its id): the new ones when some were duplicates. */
function freshFactsSql(feed: FeedName): string {
  return `SELECT f.record_id, f.event_time FROM ${FACTS[feed].table} f JOIN unnest($1::text[], $2::timestamptz[]) AS k(rid, t)
    ON f.record_id = k.rid AND f.event_time = k.t WHERE f.xmin = pg_current_xact_id()::xid`;
}

const APPLY_SQL = `
WITH c AS (
  INSERT INTO ind_cell (family, cell, scope, scope_id, win, window_start, a, b, n, last_v, last_t, last_rid)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::numeric[], $8::numeric[], $9::bigint[], $10::numeric[], $11::timestamptz[], $12::text[])
  ON CONFLICT (cell, scope, scope_id, win, window_start) DO UPDATE SET
    a = ind_cell.a + excluded.a,
    b = ind_cell.b + excluded.b,
    n = ind_cell.n + excluded.n,
    last_v = CASE WHEN excluded.last_t IS NOT NULL AND (ind_cell.last_t IS NULL OR (excluded.last_t, excluded.last_rid) > (ind_cell.last_t, ind_cell.last_rid)) THEN excluded.last_v ELSE ind_cell.last_v END,
    last_t = CASE WHEN excluded.last_t IS NOT NULL AND (ind_cell.last_t IS NULL OR (excluded.last_t, excluded.last_rid) > (ind_cell.last_t, ind_cell.last_rid)) THEN excluded.last_t ELSE ind_cell.last_t END,
    last_rid = CASE WHEN excluded.last_t IS NOT NULL AND (ind_cell.last_t IS NULL OR (excluded.last_t, excluded.last_rid) > (ind_cell.last_t, ind_cell.last_rid)) THEN excluded.last_rid ELSE ind_cell.last_rid END,
    updated_at = now()
  RETURNING 1
), k AS (
  INSERT INTO ind_contrib (cell, scope, scope_id, win, window_start, company, v)
  SELECT * FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[], $18::text[], $19::numeric[])
  ON CONFLICT (cell, scope, scope_id, win, window_start, company) DO UPDATE SET v = ind_contrib.v + excluded.v
  RETURNING 1
), w AS (
  INSERT INTO ind_watermark (topic, partition, max_event_ms) SELECT * FROM unnest($20::text[], $21::int[], $22::bigint[])
  ON CONFLICT (topic, partition) DO UPDATE SET max_event_ms = GREATEST(ind_watermark.max_event_ms, excluded.max_event_ms)
  RETURNING 1
), x AS (
  INSERT INTO ind_corrections (feed, record_id, event_time, watermark)
  SELECT * FROM unnest($23::text[], $24::text[], $25::timestamptz[], $26::timestamptz[])
  ON CONFLICT DO NOTHING
  RETURNING 1
), d AS (${DIRTY_UPSERT_SQL(27)}
), s AS (
  INSERT INTO ind_sales_hour (hour, mine_id, company, region_code, coal_type, band, a, b, n)
  SELECT * FROM unnest($36::timestamptz[], $37::text[], $38::text[], $39::text[], $40::text[], $41::text[], $42::numeric[], $43::numeric[], $44::bigint[])
  ON CONFLICT (hour, mine_id, company, region_code, coal_type, band) DO UPDATE SET
    a = ind_sales_hour.a + excluded.a, b = ind_sales_hour.b + excluded.b, n = ind_sales_hour.n + excluded.n
  RETURNING 1
)
SELECT (SELECT count(*) FROM c) AS cells, (SELECT count(*) FROM k) AS contribs, (SELECT count(*) FROM w) AS w, (SELECT count(*) FROM x) AS x,
  (SELECT count(*) FROM d) AS dirty, (SELECT count(*) FROM s) AS hours`;

const MINE_DIM_SQL = `
INSERT INTO ind_mine_dim (mine_id, company, region_code, status, approved_capacity_t_per_year, event_time, record_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[], $7::text[])
ON CONFLICT (mine_id) DO UPDATE SET company = excluded.company, region_code = excluded.region_code, status = excluded.status,
  approved_capacity_t_per_year = excluded.approved_capacity_t_per_year, event_time = excluded.event_time, record_id = excluded.record_id
WHERE (excluded.event_time, excluded.record_id) > (ind_mine_dim.event_time, ind_mine_dim.record_id)`;

function cellParams(cells: CellDelta[]): unknown[] {
  const cols: unknown[][] = Array.from({ length: 12 }, () => []);
  for (const c of cells) {
    const def = CELLS[c.cell];
    const hasLast = c.lastV !== null;
    cols[0]!.push(def.family);
    cols[1]!.push(c.cell);
    cols[2]!.push(c.scope);
    cols[3]!.push(c.scopeId);
    cols[4]!.push(c.win);
    cols[5]!.push(iso(c.ws));
    cols[6]!.push(decimal(c.a, def.scaleA));
    cols[7]!.push(decimal(c.b, def.scaleB));
    cols[8]!.push(c.n);
    cols[9]!.push(hasLast ? decimal(c.lastV!, def.scaleLast) : null);
    cols[10]!.push(hasLast ? iso(c.lastT) : null);
    cols[11]!.push(hasLast ? c.lastRid : null);
  }
  return cols;
}

function contribParams(contribs: ContribDelta[]): unknown[] {
  const cols: unknown[][] = Array.from({ length: 7 }, () => []);
  for (const k of contribs) {
    cols[0]!.push(k.cell);
    cols[1]!.push(k.scope);
    cols[2]!.push(k.scopeId);
    cols[3]!.push(k.win);
    cols[4]!.push(iso(k.ws));
    cols[5]!.push(k.company);
    cols[6]!.push(decimal(k.v, CELLS[k.cell].scaleA));
  }
  return cols;
}

function hourParams(hours: SaleHourDelta[]): unknown[] {
  const cols: unknown[][] = Array.from({ length: 9 }, () => []);
  const { scaleA, scaleB } = CELLS.trade;
  for (const h of hours) {
    cols[0]!.push(iso(h.hour));
    cols[1]!.push(h.mineId);
    cols[2]!.push(h.company);
    cols[3]!.push(h.regionCode);
    cols[4]!.push(h.coalType);
    cols[5]!.push(h.band);
    cols[6]!.push(decimal(h.a, scaleA));
    cols[7]!.push(decimal(h.b, scaleB));
    cols[8]!.push(h.n);
  }
  return cols;
}

/** One partition's batch and its plan, for `writeMany`. */
export interface PartitionWrite {
  batch: FactBatch;
  plan: Plan;
}

export function createTimescaleSink(
  deps: Pick<Deps, 'db' | 'metrics' | 'log'>,
  opts: { faultHook?: FaultHook } = {},
): TimescaleSink {
  const sqlCache = new Map<FeedName, string>();
  const factSql = (feed: FeedName) => {
    let sql = sqlCache.get(feed);
    if (!sql) {
      sql = insertFactsSql(feed);
      sqlCache.set(feed, sql);
    }
    return sql;
  };

  /**
   * One transaction for the batches of several partitions (and feeds): lock their
   * watermark rows, plan each against its own, insert the facts feed by feed,
   * then one statement for every cell, contributor, watermark, correction and
   * outbox key of the new facts, merged across the batches (fewer, larger
   * upserts: the per-statement cost of the store is paid once per group).
   */
  async function writeMany(writes: PartitionWrite[]): Promise<WriteResult[]> {
    if (!writes.length) return [];
    const t0 = performance.now();
    let client: pg.PoolClient | null = null;
    try {
      client = await deps.db.connect();
      // One round trip: begin, and lock the partitions' watermark rows in a fixed order (no deadlock between workers).
      const keys = [
        ...new Set(writes.map((w) => `${literal(w.batch.topic)}, ${Math.trunc(w.batch.partition)}`)),
      ].sort();
      const begun = (await client.query(
        `BEGIN; SELECT topic, partition, max_event_ms FROM ind_watermark WHERE (topic, partition) IN (${keys.map((k) => `(${k})`).join(', ')}) ORDER BY topic, partition FOR UPDATE`,
      )) as unknown as pg.QueryResult[];
      const prevOf = new Map(
        begun[1]!.rows.map((r) => [
          `${r.topic as string}\u0001${Number(r.partition)}`,
          Number(r.max_event_ms),
        ]),
      );
      const planned = writes.map((w) => ({
        w,
        p: w.plan({ maxEventMs: prevOf.get(`${w.batch.topic}\u0001${w.batch.partition}`) ?? -Infinity }),
      }));
      // Facts, feed by feed. One fact per (record id, event time): a duplicate inside the group must not count twice.
      const seen = new Set<string>();
      const feeds = [...new Set(writes.map((w) => w.batch.feed))];
      const itemsOf = new Map<FeedName, FactItem[]>();
      /** The first occurrence of each fact in the group: the only one that can be new. */
      const offered = new Set<FactItem>();
      for (const { w, p } of planned) {
        const list = itemsOf.get(w.batch.feed) ?? itemsOf.set(w.batch.feed, []).get(w.batch.feed)!;
        for (const it of p.items) {
          const k = `${w.batch.feed}\u0001${it.record.recordId}\u0001${it.eventMs}`;
          if (seen.has(k)) continue;
          seen.add(k);
          list.push(it);
          offered.add(it);
        }
      }
      /** Feeds whose offered facts were all new, and the new keys of the others. */
      const allFresh = new Set<FeedName>();
      const fresh = new Set<string>();
      for (const feed of feeds) {
        const items = itemsOf.get(feed)!;
        if (!items.length) continue;
        const cols = factColumns(feed, items);
        // Named (prepared) statements: parsed and planned once per connection, not per batch.
        const ins = await client.query({ name: `coalflow_facts_${feed}`, text: factSql(feed), values: cols });
        const n = Number(ins.rows[0].n);
        if (n === items.length) {
          allFresh.add(feed);
          continue;
        }
        if (n === 0) continue;
        const got = await client.query({
          name: `coalflow_fresh_${feed}`,
          text: freshFactsSql(feed),
          values: [cols[0], cols[1]],
        });
        for (const r of got.rows)
          fresh.add(`${feed}\u0001${r.record_id as string}\u0001${(r.event_time as Date).getTime()}`);
      }
      await opts.faultHook?.(
        'afterFacts',
        writes.map((w) => w.batch),
      );
      // Which planned items are new facts: first occurrences whose feed's facts were all new, or whose key is fresh.
      const isNew = (feed: FeedName, it: FactItem) =>
        offered.has(it) &&
        (allFresh.has(feed) || fresh.has(`${feed}\u0001${it.record.recordId}\u0001${it.eventMs}`));
      const perWrite = planned.map(({ w, p }) => {
        const news = p.items.filter((it) => isNew(w.batch.feed, it));
        const merged = p.merged && news.length === p.items.length ? p.merged : premerge(w.batch.feed, news);
        return {
          w,
          p,
          news,
          late: news.filter((it) => it.lateness === 'too_late'),
          merged,
          dirty: merged.dirty,
        };
      });
      const cellMerger = createCellMerger();
      const contribMerger = createContribMerger();
      for (const x of perWrite) {
        cellMerger.add(x.merged.cells);
        contribMerger.add(x.merged.contribs);
      }
      const cells = cellMerger.values();
      const contribs = contribMerger.values();
      const dirty = mergeDirty(perWrite.flatMap((x) => x.dirty));
      const wm = new Map<string, { topic: string; partition: number; max: number }>();
      for (const { w, p } of planned) {
        const k = `${w.batch.topic}\u0001${w.batch.partition}`;
        const cur = wm.get(k);
        const max = Math.max(0, p.next.maxEventMs);
        if (!cur || max > cur.max) wm.set(k, { topic: w.batch.topic, partition: w.batch.partition, max });
      }
      const wms = [...wm.values()];
      const lates = perWrite.flatMap((x) => x.late.map((it) => ({ feed: x.w.batch.feed, it })));
      const params = [
        ...cellParams(cells),
        ...contribParams(contribs),
        wms.map((x) => x.topic),
        wms.map((x) => x.partition),
        wms.map((x) => x.max),
        lates.map((x) => x.feed),
        lates.map((x) => x.it.record.recordId),
        lates.map((x) => iso(x.it.eventMs)),
        lates.map((x) => iso(x.it.watermarkMs)),
        ...dirtyParams(dirty, Date.now()),
        // One batch: its rollup rows are already summed.
        ...hourParams(
          perWrite.length === 1
            ? perWrite[0]!.merged.hours
            : mergeSaleHours(perWrite.map((x) => x.merged.hours)),
        ),
      ];
      await client.query({ name: 'coalflow_apply', text: APPLY_SQL, values: params });
      const mineNews = perWrite.filter((x) => x.w.batch.feed === 'mines').flatMap((x) => x.news);
      if (mineNews.length) {
        const latest = new Map<string, FactItem>();
        for (const it of mineNews) {
          const r = it.record as MineRecord;
          const cur = latest.get(r.mineId);
          if (
            !cur ||
            it.eventMs > cur.eventMs ||
            (it.eventMs === cur.eventMs && r.recordId > cur.record.recordId)
          )
            latest.set(r.mineId, it);
        }
        const rows = [...latest.values()];
        const m = (f: (r: MineRecord, it: FactItem) => unknown) =>
          rows.map((it) => f(it.record as MineRecord, it));
        await client.query(MINE_DIM_SQL, [
          m((r) => r.mineId),
          m((r) => r.creditCode || r.mineId),
          m((r) => r.regionCode),
          m((r) => r.status),
          m((r) => (Number.isFinite(r.approvedCapacityTPerYear) ? r.approvedCapacityTPerYear : null)),
          m((_r, it) => iso(it.eventMs)),
          m((r) => r.recordId),
        ]);
      }
      await opts.faultHook?.(
        'beforeCommit',
        writes.map((w) => w.batch),
      );
      await client.query('COMMIT');
      deps.metrics.sinkLatency.observe({ sink: 'timescale' }, (performance.now() - t0) / 1000);
      return perWrite.map((x) => ({
        items: x.p.items,
        dirty: x.dirty,
        inserted: x.news.length,
        duplicates: x.p.items.length - x.news.length,
        corrections: x.late.length,
      }));
    } catch (err) {
      deps.metrics.sinkErrors.inc({ sink: 'timescale' });
      if (client) {
        try {
          await client.query('ROLLBACK');
          // After an error the server may hold statements the client does not know it made (the embedded
          // server can drop the reply that confirms one): forget them on both sides, the next write prepares anew.
          await client.query('DEALLOCATE ALL');
          (
            client as unknown as { connection: { parsedStatements: Record<string, string> } }
          ).connection.parsedStatements = {};
        } catch {
          /* the connection is released below */
        }
      }
      throw new SinkError(
        'timescale',
        `写入 TimescaleDB 失败 / TimescaleDB write failed: ${(err as Error).message}`,
        {
          cause: err,
          context: {
            feeds: [...new Set(writes.map((w) => w.batch.feed))].join(','),
            partitions: writes.length,
          },
        },
      );
    } finally {
      client?.release();
    }
  }

  return {
    async write(batch, plan) {
      return (await writeMany([{ batch, plan }]))[0]!;
    },
    writeMany,
    async loadWatermarks(topic) {
      const r = await deps.db.query('SELECT partition, max_event_ms FROM ind_watermark WHERE topic = $1', [
        topic,
      ]);
      return new Map(r.rows.map((x) => [Number(x.partition), Number(x.max_event_ms)]));
    },
    async close() {
      /* the pool belongs to the runtime */
    },
  };
}
