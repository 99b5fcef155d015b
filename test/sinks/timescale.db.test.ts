/**
 * The indicator store sink's group commit (several partitions' batches in one
 * transaction) and the two publication lanes, on the embedded TimescaleDB over the wire.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testRuntime } from '../helpers/runtime.ts';
import type { Runtime } from '../../infra/compose.ts';
import { createTimescaleSink, premerge, type PartitionWrite } from '../../pipelines/indicators/store.ts';
import { classify, deltasOf, eventMsOf } from '../../pipelines/indicators/core.ts';
import { computeDirty, FAR } from '../../pipelines/indicators/publish.ts';
import { CLAIM_SQL, claimedOf, LANES } from '../../pipelines/indicators/outbox.ts';
import type { FeedName } from '../../pipelines/contracts/types.ts';
import type { IndicatorPoint } from '../../pipelines/indicators/model.ts';
import { buildFixture, type Produced } from '../pipelines/indicators/fixture.ts';

const test = suite('sinks/timescale (db)');
const FIXTURE = buildFixture();
let a: Runtime;
let b: Runtime;

test.before(async () => {
  [a, b] = await Promise.all([
    testRuntime({ broker: 'in-process', cache: 'mock' }),
    testRuntime({ broker: 'in-process', cache: 'mock' }),
  ]);
});
test.after(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

const plan = (feed: FeedName, recs: Produced[]) => (prev: { maxEventMs: number }) => {
  const evs = recs.map((p) => eventMsOf(feed, p.record as never));
  const { classes, state } = classify(evs, prev, 48 * 3600_000);
  return {
    items: recs.map((p, i) => ({
      record: p.record,
      eventMs: evs[i]!,
      lateness: classes[i]!,
      watermarkMs: 0,
      acceptedMs: null,
      ...deltasOf(feed, p.record as never, evs[i]!, classes[i] === 'too_late'),
    })),
    next: state,
  };
};

/** As the consumer plans (runner.ts): items without their deltas, which come merged with the plan. */
const planMerged = (feed: FeedName, recs: Produced[]) => (prev: { maxEventMs: number }) => {
  const { items, next } = plan(feed, recs)(prev);
  const bare = items.map(({ cells: _c, contribs: _k, ...it }) => it);
  return { items: bare, next, merged: premerge(feed, bare) };
};

/** The fixture as partition batches: per feed, split in two partitions by key parity, in chunks of `size`. */
function writesOf(size: number, merged = false): PartitionWrite[] {
  const out: PartitionWrite[] = [];
  const feeds = [...new Set(FIXTURE.map((p) => p.feed))];
  for (const feed of feeds) {
    for (const part of [0, 1]) {
      const recs = FIXTURE.filter((p) => p.feed === feed && p.key.charCodeAt(p.key.length - 1) % 2 === part);
      for (let i = 0; i < recs.length; i += size) {
        const chunk = recs.slice(i, i + size);
        out.push({
          batch: { feed, topic: `t.${feed}`, partition: part },
          plan: merged ? planMerged(feed, chunk) : plan(feed, chunk),
        });
      }
    }
  }
  return out;
}

const dump = async (rt: Runtime) => ({
  cells: (
    await rt.db.query(
      `SELECT cell, scope, scope_id, win, window_start, a::text, b::text, n, last_v::text FROM ind_cell ORDER BY 1, 2, 3, 4, 5`,
    )
  ).rows,
  contribs: (
    await rt.db.query(
      `SELECT cell, scope, scope_id, win, window_start, company, v::text FROM ind_contrib ORDER BY 1, 2, 3, 4, 5, 6`,
    )
  ).rows,
  watermarks: (
    await rt.db.query(`SELECT topic, partition, max_event_ms::text FROM ind_watermark ORDER BY 1, 2`)
  ).rows,
  dirty: (
    await rt.db.query(
      `SELECT lane, kind, scope, scope_id, ev_from::text, ev_to::text, ot_from::text, ot_to::text FROM ind_dirty ORDER BY 1, 2, 3, 4`,
    )
  ).rows,
});

test('one transaction for many partitions and feeds gives the same store as one per batch; a redelivered group adds nothing', async () => {
  const sa = createTimescaleSink(a);
  const sb = createTimescaleSink(b);
  // a: one batch per transaction, in order, deltas per item. b: all batches of a "round" (one chunk of every
  // partition) together, deltas merged with the plan (as the consumer does).
  let insertedA = 0;
  for (const w of writesOf(7)) insertedA += (await sa.write(w.batch, w.plan)).inserted;
  const groups = new Map<number, PartitionWrite[]>();
  const perPartition = new Map<string, number>();
  for (const w of writesOf(7, true)) {
    const k = `${w.batch.topic}:${w.batch.partition}`;
    const i = perPartition.get(k) ?? 0;
    perPartition.set(k, i + 1);
    (groups.get(i) ?? groups.set(i, []).get(i)!).push(w);
  }
  assert.ok(
    groups.size > 1 && [...groups.values()].some((g) => new Set(g.map((w) => w.batch.feed)).size > 3),
    'groups mix feeds and partitions',
  );
  let inserted = 0;
  for (const g of groups.values()) inserted += (await sb.writeMany(g)).reduce((s, r) => s + r.inserted, 0);
  const distinct = new Set(
    FIXTURE.map((p) => `${p.feed}:${p.record.recordId}:${eventMsOf(p.feed, p.record as never)}`),
  ).size;
  assert.is(inserted, distinct, 'each distinct record is a new fact once');
  assert.is(insertedA, distinct);
  const da = await dump(a);
  const db = await dump(b);
  assert.ok(da.cells.length > 100 && da.contribs.length > 20, `cells ${da.cells.length}`);
  assert.equal(db.cells, da.cells);
  assert.equal(db.contribs, da.contribs);
  assert.equal(db.watermarks, da.watermarks);
  assert.equal(
    db.dirty.map(({ ev_from, ev_to, ot_from, ot_to, ...k }) => k),
    da.dirty.map(({ ev_from, ev_to, ot_from, ot_to, ...k }) => k),
  );
  // Every key is dirty in both lanes.
  assert.is(db.dirty.filter((r) => r.lane === 0).length, db.dirty.filter((r) => r.lane === 1).length);
  // The same group again (a redelivery after a crash): duplicates only.
  const again = await sb.writeMany([...groups.values()][0]!);
  assert.is(
    again.reduce((s, r) => s + r.inserted, 0),
    0,
  );
  assert.ok(again.reduce((s, r) => s + r.duplicates, 0) > 0);
  assert.equal((await dump(b)).cells, da.cells);
});

/** Claims every dirty key of a lane on runtime b (a minute-long lease). */
async function claimAll(lane: keyof typeof LANES, owner: string) {
  const claim = await b.db.query(CLAIM_SQL, [Date.now(), owner, 100_000, 60_000, LANES[lane]]);
  const rows = claim.rows.map(claimedOf);
  assert.ok(rows.length > 20);
  return rows;
}
const key = (p: IndicatorPoint) =>
  `${p.family}|${p.metric}|${p.scope}|${p.scopeId}|${p.window}|${p.windowStart}`;

test('the direct and derived lanes split the points of a key set: disjoint, and together all of them', async () => {
  const rows = await claimAll('direct', 'test');
  const direct = await computeDirty(b.db, rows, { lane: 'direct' });
  const derived = await computeDirty(b.db, rows, { lane: 'derived' });
  const all = await computeDirty(b.db, rows, { lane: 'all' });
  assert.ok(direct.length > 0 && derived.length > 0);
  const dk = new Set(direct.map(key));
  assert.ok(!derived.some((p) => dk.has(key(p))), 'no point in both lanes');
  assert.equal([...direct, ...derived].map(key).sort(), all.map(key).sort());
  assert.ok(
    direct.every((p) => !['7d', '30d', '24h'].includes(p.window)),
    'trailing windows are derived',
  );
  assert.ok(
    derived.some((p) => p.metric === 'utilisation_pct') &&
      !direct.some((p) => p.metric === 'utilisation_pct'),
  );
});

test('a group mixing new facts, stored ones and a repeat inside the group applies the new ones once', async () => {
  const sink = createTimescaleSink(a);
  const sales = FIXTURE.filter((p) => p.feed === 'sales').slice(0, 12);
  assert.is(sales.length, 12);
  const fresh = sales
    .slice(0, 6)
    .map((p) => ({ ...p, record: { ...p.record, recordId: `${p.record.recordId}-new` } }));
  const cityTons = async () =>
    Number(
      (
        await a.db.query(
          `SELECT COALESCE(sum(a), 0)::text AS t FROM ind_cell WHERE cell = 'trade' AND scope = 'city' AND win = 'day'`,
        )
      ).rows[0].t,
    );
  const before = await cityTons();
  // Partition 0: three new and the six stored; partition 1: the other three new and a repeat of the first new one.
  const res = await sink.writeMany([
    {
      batch: { feed: 'sales', topic: 't.mixed', partition: 0 },
      plan: planMerged('sales', [...fresh.slice(0, 3), ...sales.slice(6)]),
    },
    {
      batch: { feed: 'sales', topic: 't.mixed', partition: 1 },
      plan: planMerged('sales', [...fresh.slice(3), fresh[0]!]),
    },
  ]);
  assert.is(res[0]!.inserted, 3);
  assert.is(res[0]!.duplicates, 6);
  assert.is(res[1]!.inserted, 3);
  assert.is(res[1]!.duplicates, 1, 'the repeat inside the group counts once');
  const added = fresh.reduce((s, p) => s + Number((p.record as { netT: number }).netT), 0);
  assert.ok(added > 0);
  assert.ok(
    Math.abs((await cityTons()) - before - added) < 1e-6,
    'the city day tonnage grew by the new records only',
  );
});

test('a derived round computed in day windows publishes exactly the points of the whole round', async () => {
  const rows = await claimAll('derived', 'test-derived');
  const whole = await computeDirty(b.db, rows, { lane: 'derived' });
  // Cut at two days inside the fixture's range: before, between, after (open to the future).
  const D = 86_400_000;
  const cut1 = Date.parse('2024-03-05T00:00:00+08:00');
  const cut2 = Date.parse('2024-03-08T00:00:00+08:00');
  const windows = [
    { from: 0, to: cut1 - 1 },
    { from: cut1, to: cut2 - 1 },
    { from: cut2, to: FAR },
  ];
  const parts = [];
  for (const clamp of windows) parts.push(await computeDirty(b.db, rows, { lane: 'derived', clamp }));
  assert.ok(
    parts.every((p) => p.length > 0),
    `points per window: ${parts.map((p) => p.length).join(', ')}`,
  );
  const union = parts.flat();
  const day = (p: IndicatorPoint) => p.windowStart;
  // Day points fall in their own window only.
  for (const [i, w] of windows.entries()) {
    for (const p of parts[i]!)
      if (p.window === 'day') assert.ok(day(p) >= w.from && day(p) <= w.to, `${key(p)} in window ${i}`);
  }
  // (Two jobs may compute the same point, e.g. a city's operating rate for its sales and for a mine's status: in the whole round too.)
  assert.equal([...new Set(union.map(key))].sort(), [...new Set(whole.map(key))].sort(), 'the same points');
  const val = (ps: IndicatorPoint[]) => Object.fromEntries(ps.map((p) => [key(p), p.value]));
  assert.equal(val(union), val(whole));
  assert.ok(
    whole.some((p) => p.window === 'day' && day(p) < cut1) &&
      whole.some((p) => p.window === 'day' && day(p) >= cut2 && day(p) < cut2 + 3 * D),
  );
});

test.run();
