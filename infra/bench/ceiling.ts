/**
 * Ceilings: how fast the platform's parts go on this machine, whatever design
 * sits on top of them. The same sales records as the indicator bench (real
 * Kafka broker, embedded TimescaleDB in its own process, real Redis) are read
 * by a fresh consumer group in each stage, which adds one part to the last:
 *
 *  A. consume + decode: the canonical topic read by a group member (8
 *     partitions at once, 5000-record batches) and decoded by the workers'
 *     fast reader; offsets committed; nothing stored;
 *  B. + facts: each batch's facts inserted into fact_sales with the store's
 *     own statement (unnest, ON CONFLICT DO NOTHING: the dedupe) before its
 *     offsets are committed;
 *  C. + state in memory: the sales cells (mine, region, coal type, band,
 *     city × hour, day, month, year, with company contributions) kept in the
 *     worker and checkpointed every second: changed cells upserted with their
 *     absolute values (idempotent), their points to Redis (latest + live) and
 *     coal.indicators. The work of a stateful worker that reads nothing back,
 *     without its restore-on-rebalance and trailing/derived metrics.
 *
 * A is the most any worker reaches on this broker and client; B the most a
 * worker reaches that keeps every fact in the embedded database; C what a
 * redesign of the indicator worker around in-memory keyed state would start
 * from. Prints one JSON summary.
 *
 *   node --import tsx infra/bench/ceiling.ts [--records 100000]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createFeedSerde } from '../../pipelines/contracts/serde.ts';
import { topicOf, type SaleRecord } from '../../pipelines/contracts/types.ts';
import { createFastDecoder } from '../../pipelines/indicators/decode.ts';
import {
  INDICATOR_SCHEMA,
  toMessages,
  type IndicatorUpdateMessage,
} from '../../pipelines/indicators/contract.ts';
import {
  bandOf,
  CITY_ID,
  dayStart,
  hourStart,
  isoOf,
  monthStart,
  round6,
  yearStart,
  type IndicatorPoint,
  type Scope,
  type TumblingWindow,
} from '../../pipelines/indicators/model.ts';
import { companyOf } from '../../pipelines/indicators/core.ts';
import { createKafkaTopicSink } from '../../sinks/kafka.ts';
import { createRedisSink } from '../../pipelines/indicators/snapshots.ts';
import { factColumns, insertFactsSql } from '../../pipelines/indicators/store.ts';
import type { Runtime } from '../compose.ts';
import { benchRuntime, cpuMeter, sales, sleep } from './common.ts';

const { values: args } = parseArgs({ options: { records: { type: 'string', default: '100000' } } });
const N = Number(args.records);
const MINES = 300;

interface Cell {
  scope: Scope;
  id: string;
  win: TumblingWindow;
  ws: number;
  a: number;
  b: number;
  n: number;
  companies: Map<string, number> | null;
}

/** The sales cells in memory: sums in kg and fen, company shares for aggregate scopes; `dirty` since the last checkpoint. */
function createState() {
  /** window → window start → scope → id → cell: lookups by number and short string, no key built per record. */
  const cells = new Map<TumblingWindow, Map<number, Map<Scope, Map<string, Cell>>>>();
  let size = 0;
  const dirty = new Set<Cell>();
  const WINS: [TumblingWindow, (ms: number) => number][] = [
    ['hour', hourStart],
    ['day', dayStart],
    ['mtd', monthStart],
    ['ytd', yearStart],
  ];
  const SCOPES: Scope[] = ['mine', 'region', 'coal_type', 'band', 'city'];
  return {
    dirty,
    size: () => size,
    add(r: SaleRecord, eventMs: number) {
      const net = Math.round(r.netT * 1000);
      const value = Math.round((r.totalPriceYuan ?? 0) * 100);
      const company = companyOf(r);
      const ids = [r.mineId, r.regionCode, r.coalType, bandOf(r.calorificKcal), CITY_ID];
      for (const [win, start] of WINS) {
        const ws = start(eventMs);
        let byWs = cells.get(win);
        if (!byWs) {
          byWs = new Map();
          cells.set(win, byWs);
        }
        let byScope = byWs.get(ws);
        if (!byScope) {
          byScope = new Map();
          byWs.set(ws, byScope);
        }
        for (let i = 0; i < SCOPES.length; i++) {
          const scope = SCOPES[i]!;
          const id = ids[i]!;
          let byId = byScope.get(scope);
          if (!byId) {
            byId = new Map();
            byScope.set(scope, byId);
          }
          let c = byId.get(id);
          if (!c) {
            c = { scope, id, win, ws, a: 0, b: 0, n: 0, companies: scope === 'mine' ? null : new Map() };
            byId.set(id, c);
            size++;
          }
          c.a += net;
          c.b += value;
          c.n++;
          if (c.companies) c.companies.set(company, (c.companies.get(company) ?? 0) + net);
          dirty.add(c);
        }
      }
    },
  };
}

function pointsOf(c: Cell): IndicatorPoint[] {
  let contributors: number | null = null;
  let topShare: number | null = null;
  if (c.companies) {
    contributors = c.companies.size;
    let max = 0;
    for (const v of c.companies.values()) if (v > max) max = v;
    topShare = c.a > 0 ? round6(max / c.a) : null;
  }
  const p = (
    family: IndicatorPoint['family'],
    metric: string,
    value: number | null,
    unit: string,
  ): IndicatorPoint => ({
    family,
    metric,
    scope: c.scope,
    scopeId: c.id,
    window: c.win,
    windowStart: c.ws,
    value,
    unit,
    n: c.n,
    contributors,
    topShare,
  });
  return [
    p('sales', 'volume_t', c.a / 1000, 't'),
    p('sales', 'value_yuan', c.b / 100, 'yuan'),
    p('sales', 'count', c.n, 'count'),
    p('price', 'vwap_yuan_per_t', c.a > 0 ? round6(c.b / 100 / (c.a / 1000)) : null, 'yuan/t'),
  ];
}

const CHECKPOINT_SQL = `
INSERT INTO ind_cell (family, cell, scope, scope_id, win, window_start, a, b, n)
SELECT 'sales', 'trade', * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::numeric[], $6::numeric[], $7::bigint[])
ON CONFLICT (cell, scope, scope_id, win, window_start) DO UPDATE SET a = excluded.a, b = excluded.b, n = excluded.n`;

async function stage(rt: Runtime, topic: string, name: 'A' | 'B' | 'C'): Promise<Record<string, unknown>> {
  const decoder = createFastDecoder(rt);
  const factSql = insertFactsSql('sales');
  const state = name === 'C' ? createState() : null;
  const redis = createRedisSink(rt);
  const kafka = createKafkaTopicSink<IndicatorUpdateMessage>(rt, {
    topic: topicOf.indicators,
    schema: INDICATOR_SCHEMA,
  });
  let version = 0;
  let points = 0;
  let checkpoints = 0;
  /** Checkpoint: changed cells' absolute values to the store, their points to Redis and Kafka. */
  const checkpoint = async () => {
    if (!state || !state.dirty.size) return;
    const list = [...state.dirty];
    state.dirty.clear();
    version++;
    await rt.db.query(CHECKPOINT_SQL, [
      list.map((c) => c.scope),
      list.map((c) => c.id),
      list.map((c) => c.win),
      list.map((c) => isoOf(c.ws)),
      list.map((c) => String(c.a / 1000)),
      list.map((c) => String(c.b / 100)),
      list.map((c) => c.n),
    ]);
    const pts = list.flatMap(pointsOf);
    points += pts.length;
    await redis.write(pts, { version });
    const msgs = toMessages(pts, version);
    for (let i = 0; i < msgs.length; i += 50)
      await kafka.write(msgs.slice(i, i + 50).map((m) => ({ key: m.key, value: m.value })));
    checkpoints++;
  };
  let chain: Promise<void> = Promise.resolve();
  const timer = state
    ? setInterval(() => {
        chain = chain.then(checkpoint);
      }, 1000)
    : null;
  let handled = 0;
  const cpu = cpuMeter(rt);
  const t0 = performance.now();
  const consumer = rt.broker.consumer({
    groupId: rt.topic(`ceiling-${name}`),
    topics: [topic],
    concurrency: 8,
    maxBatchSize: 5000,
  });
  await consumer.run(async (batch) => {
    const decoded: { record: SaleRecord; eventMs: number; lateness: 'on_time' }[] = [];
    for (const m of batch.records) {
      const record = (await decoder.decode('sales', m.value)) as SaleRecord;
      decoded.push({ record, eventMs: Date.parse(record.grossTime), lateness: 'on_time' });
    }
    if (name !== 'A')
      await rt.db.query({ name: 'ceiling_facts', text: factSql, values: factColumns('sales', decoded) });
    if (state) for (const d of decoded) state.add(d.record, d.eventMs);
    handled += decoded.length;
  });
  while (handled < N) await sleep(10);
  if (timer) clearInterval(timer);
  await chain;
  await checkpoint();
  const s = (performance.now() - t0) / 1000;
  const used = cpu();
  await consumer.stop();
  return {
    recordsPerS: Math.round(N / s),
    seconds: Math.round(s * 10) / 10,
    cpu: used,
    ...(state ? { cells: state.size(), checkpoints, points } : {}),
  };
}

async function main() {
  const rt = await benchRuntime({ prefix: 'ceil' });
  const summary: Record<string, unknown> = {
    bench: 'ceiling',
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    setup: {
      broker: rt.kinds.broker,
      db: `${rt.kinds.db}${rt.dbProcess ? ' in its own process' : ''}`,
      cache: rt.kinds.cache,
      records: N,
      mines: MINES,
    },
  };
  try {
    const serde = createFeedSerde(rt);
    await serde.registerAll();
    const topic = rt.topic(topicOf.canonical('sales'));
    await rt.broker.createTopics([{ topic }, { topic: rt.topic(topicOf.indicators) }]);
    const start = Date.parse('2024-01-01T00:00:00+08:00');
    let batch: { key: string; value: Buffer }[] = [];
    for (const r of sales(1, start, N, Math.floor(86_400_000 / (MINES * 30)), 'c', MINES)) {
      batch.push({ key: r.mineId, value: await serde.encode('sales', r) });
      if (batch.length === 5000) {
        await rt.broker.produce(topic, batch);
        batch = [];
      }
    }
    if (batch.length) await rt.broker.produce(topic, batch);
    for (const name of ['A', 'B', 'C'] as const) {
      await rt.db.query('TRUNCATE fact_sales');
      const r = await stage(rt, topic, name);
      summary[name] = r;
      console.error(name, r);
    }
  } finally {
    await rt.close();
  }
  console.log(JSON.stringify(summary, null, 2));
}

await main();
