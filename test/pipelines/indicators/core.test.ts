import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  classify,
  createContribMerger,
  decimal,
  deltasOf,
  mergeCells,
  scaled,
  type CellDelta,
  type Lateness,
} from '../../../pipelines/indicators/core.ts';
import { premerge } from '../../../pipelines/indicators/store.ts';
import { mulberry32 } from '../../../infra/core/random.ts';
import {
  applyFormula,
  bandOf,
  cstDate,
  dayStart,
  hourStart,
  monthStart,
  weekStart,
  yearStart,
  allows,
  metricDef,
} from '../../../pipelines/indicators/model.ts';
import { toMessages } from '../../../pipelines/indicators/contract.ts';
import { scaledDecimal } from '../../../pipelines/indicators/queries.ts';
import { dirtyOf } from '../../../pipelines/indicators/outbox.ts';
import type { SaleRecord } from '../../../pipelines/contracts/types.ts';

const test = suite('pipelines/indicators/core');
const H = 3600_000;

test('classify: on time, late within the allowed lateness, too late beyond the watermark', () => {
  const t = Date.parse('2024-03-10T00:00:00+08:00');
  const { classes, state } = classify(
    [t, t - 10 * H, t + 5 * H, t - 40 * H, t - 60 * H],
    { maxEventMs: -Infinity },
    48 * H,
  );
  assert.equal(classes, ['on_time', 'late', 'on_time', 'late', 'too_late']);
  assert.is(state.maxEventMs, t + 5 * H);
});

test('classify is independent of batch boundaries', () => {
  const t = Date.parse('2024-03-10T00:00:00+08:00');
  const times = [t, t + 3 * H, t - 50 * H, t + 4 * H, t - 47 * H, t - 60 * H];
  const whole = classify(times, { maxEventMs: -Infinity }, 48 * H).classes;
  const a = classify(times.slice(0, 3), { maxEventMs: -Infinity }, 48 * H);
  const b = classify(times.slice(3), a.state, 48 * H);
  assert.equal([...a.classes, ...b.classes], whole);
});

test('windows follow China Standard Time', () => {
  const ms = Date.parse('2024-03-01T00:30:00+08:00'); // still Feb 29 in UTC
  assert.is(cstDate(ms), '2024-03-01');
  assert.is(new Date(dayStart(ms)).toISOString(), '2024-02-29T16:00:00.000Z');
  assert.is(new Date(monthStart(ms)).toISOString(), '2024-02-29T16:00:00.000Z');
  assert.is(new Date(yearStart(ms)).toISOString(), '2023-12-31T16:00:00.000Z');
  assert.is(new Date(hourStart(ms)).toISOString(), '2024-02-29T16:00:00.000Z');
  assert.is(cstDate(weekStart(ms)), '2024-02-26'); // Monday
});

test('calorific bands', () => {
  assert.equal(
    [bandOf(4499), bandOf(4500), bandOf(4999), bandOf(5000), bandOf(5499), bandOf(5500), bandOf(undefined)],
    ['lt4500', '4500', '4500', '5000', '5000', '5500', 'unknown'],
  );
});

const sale = (over: Partial<SaleRecord> = {}): SaleRecord => ({
  recordId: 'S1',
  eventTime: '2024-03-05T10:20:00+08:00',
  saleId: 'S1',
  mineId: 'M1',
  mineName: 'm',
  creditCode: 'C1',
  siteKind: 'mine',
  regionCode: '150621',
  coalType: '动力煤',
  calorificKcal: 5600,
  grossT: 50.1,
  tareT: 16.68,
  netT: 33.42,
  unitPriceYuanPerT: 650.5,
  totalPriceYuan: 21739.71,
  tareTime: '2024-03-05T10:00:00+08:00',
  grossTime: '2024-03-05T10:20:00+08:00',
  ...over,
});

test('a sale feeds mine and aggregate day/mtd/ytd (hours are read from the facts), and company contributions', () => {
  const s = sale();
  const { cells, contribs } = deltasOf('sales', s, Date.parse(s.grossTime), false);
  const keys = cells.map((c) => `${c.scope}:${c.scopeId}:${c.win}`).sort();
  assert.equal(keys, [
    'band:5500:day',
    'band:5500:mtd',
    'band:5500:ytd',
    'city:150600:day',
    'city:150600:mtd',
    'city:150600:ytd',
    'coal_type:动力煤:day',
    'coal_type:动力煤:mtd',
    'coal_type:动力煤:ytd',
    'mine:M1:day',
    'mine:M1:mtd',
    'mine:M1:ytd',
    'region:150621:day',
    'region:150621:mtd',
    'region:150621:ytd',
  ]);
  assert.ok(cells.every((c) => c.a === 33420 && c.b === 2173971 && c.n === 1));
  assert.is(contribs.length, 12);
  assert.ok(contribs.every((k) => k.company === 'C1' && k.v === 33420 && k.win !== 'hour'));
});

test('a sale older than the watermark skips hourly windows (a correction)', () => {
  const s = sale();
  const { cells } = deltasOf('sales', s, Date.parse(s.grossTime), true);
  assert.ok(cells.every((c) => c.win !== 'hour'));
  assert.is(cells.length, 15);
});

test('cell sums are exact (scaled integers) and last values order by (time, record id)', () => {
  const a = deltasOf('sales', sale({ recordId: 'A', netT: 0.1, totalPriceYuan: 0.1 }), 1, false).cells;
  const b = deltasOf('sales', sale({ recordId: 'B', netT: 0.2, totalPriceYuan: 0.2 }), 1, false).cells;
  const merged = mergeCells([...a, ...b]).find((c) => c.scope === 'mine' && c.win === 'day')!;
  assert.is(decimal(merged.a, 3), '0.300');
  assert.is(decimal(merged.b, 2), '0.30');
  const inv = (id: string, t: number, stockT: number) =>
    deltasOf(
      'mine_inventory',
      { recordId: id, eventTime: '', mineId: 'M1', regionCode: '150621', stockT },
      t,
      false,
    ).cells;
  const last = mergeCells([...inv('x2', 10, 2), ...inv('x1', 10, 1), ...inv('x0', 5, 9)])[0]!;
  assert.is(last.lastV, 2000);
  assert.is(last.lastRid, 'x2');
});

test('decimal and scaled round-trip', () => {
  assert.is(decimal(-5, 3), '-0.005');
  assert.is(decimal(123456, 2), '1234.56');
  assert.is(scaled(33.419999999, 3), 33420);
  assert.is(scaledDecimal('1234.5', 2), 123450);
  assert.is(scaledDecimal('-0.005', 3), -5);
});

test('formulas', () => {
  assert.is(applyFormula('b/a', { a: 2, b: 1301, n: 2, last: null }), 650.5);
  assert.is(applyFormula('100*b/a', { a: 0, b: 1, n: 0, last: null }), null);
  assert.is(applyFormula('a/n', { a: 10, b: 0, n: 4, last: null }), 2.5);
});

test('sales 24h windows are per mine only', () => {
  const d = metricDef('sales', 'volume_t')!;
  assert.ok(allows(d, 'mine', '24h'));
  assert.not.ok(allows(d, 'city', '24h'));
  assert.ok(allows(d, 'city', '7d'));
});

test('indicator messages group points per entity', () => {
  const p = {
    family: 'sales' as const,
    metric: 'volume_t',
    scope: 'mine' as const,
    scopeId: 'M1',
    window: 'day' as const,
    windowStart: 0,
    value: 1,
    unit: 't',
    n: 1,
    contributors: null,
    topShare: null,
  };
  const msgs = toMessages([p, { ...p, metric: 'count' }, { ...p, scopeId: 'M2' }], 7, 0);
  assert.is(msgs.length, 2);
  assert.is(msgs[0]!.key, 'sales|mine|M1');
  assert.is(msgs[0]!.value.points.length, 2);
  assert.is(msgs[0]!.value.version, 7);
});

test('indicator messages of a large entity are split (bounded message size), same version', () => {
  const p = {
    family: 'sales' as const,
    metric: 'volume_t',
    scope: 'city' as const,
    scopeId: '150600',
    window: 'hour' as const,
    windowStart: 0,
    value: 1,
    unit: 't',
    n: 1,
    contributors: 5,
    topShare: 0.3,
  };
  const pts = Array.from({ length: 2500 }, (_, i) => ({ ...p, windowStart: i * H }));
  const msgs = toMessages(pts, 9, 0, 1000);
  assert.equal(
    msgs.map((m) => m.value.points.length),
    [1000, 1000, 500],
  );
  assert.ok(msgs.every((m) => m.key === 'sales|city|150600' && m.value.version === 9));
});

test('outbox keys: a cell key per (cell, scope, id) with event ranges; on-time sales carry their hours on the mine key', () => {
  const a = sale({ recordId: 'a' });
  const b = sale({ recordId: 'b', grossTime: '2024-03-07T08:00:00+08:00' });
  const item = (r: SaleRecord, lateness: 'on_time' | 'too_late', acceptedMs: number | null) => {
    const eventMs = Date.parse(r.grossTime);
    return {
      record: r,
      eventMs,
      lateness,
      acceptedMs,
      cells: deltasOf('sales', r, eventMs, lateness === 'too_late').cells,
    };
  };
  const rows = dirtyOf('sales', [item(a, 'on_time', 500), item(b, 'too_late', 200)]);
  const mine = rows.find((r) => r.kind === 'trade' && r.scope === 'mine' && r.scopeId === 'M1')!;
  assert.is(mine.evFrom, Date.parse(a.grossTime));
  assert.is(mine.evTo, Date.parse(b.grossTime));
  assert.is(mine.otFrom, Date.parse(a.grossTime), 'only the on-time sale reaches hours');
  assert.is(mine.otTo, Date.parse(a.grossTime));
  assert.is(mine.acceptedMs, 200, 'earliest acceptance');
  const city = rows.find((r) => r.kind === 'trade' && r.scope === 'city')!;
  assert.is(city.otFrom, null, 'no hour cells for sales aggregates');
  assert.is(rows.length, new Set(rows.map((r) => `${r.kind}|${r.scope}|${r.scopeId}`)).size);
  const mines = dirtyOf('mines', [
    {
      record: { recordId: 'm', mineId: 'M1', regionCode: '150621' } as never,
      eventMs: 1000,
      lateness: 'on_time',
      cells: [],
    },
  ]);
  assert.equal(mines.map((r) => `${r.kind}|${r.scope}|${r.scopeId}`).sort(), [
    'rec:mines|city|150600',
    'rec:mines|mine|M1',
    'rec:mines|region|150621',
  ]);
});

test('sales merged in groups (mine, attributes, day, lateness) equal the record-by-record merge: cells, contributors, outbox keys', () => {
  const r = mulberry32(7);
  const t0 = Date.parse('2024-03-30T20:00:00+08:00');
  const kinds: Lateness[] = ['on_time', 'late', 'too_late'];
  const items = Array.from({ length: 3000 }, (_, i) => {
    const m = Math.floor(r() * 7);
    const rec = sale({
      recordId: `r${i}`,
      mineId: `M${m}`,
      creditCode: m === 6 ? '' : `C${m % 4}`,
      regionCode: m % 2 ? '150621' : '150622',
      coalType: r() < 0.2 ? '块煤' : '动力煤',
      calorificKcal: 4300 + Math.floor(r() * 1500),
      netT: Math.round((20 + r() * 20) * 100) / 100,
      totalPriceYuan: Math.round(r() * 30000 * 100) / 100,
      grossTime: new Date(t0 + Math.floor(r() * 4 * 86_400_000)).toISOString(),
    });
    return {
      record: rec,
      eventMs: Date.parse(rec.grossTime),
      lateness: kinds[Math.floor(r() * 3)]!,
      watermarkMs: 0,
      acceptedMs: r() < 0.3 ? null : Math.floor(r() * 1e6),
    };
  });
  const got = premerge('sales', items);
  const per = items.map((it) => ({
    ...it,
    ...deltasOf('sales', it.record, it.eventMs, it.lateness === 'too_late'),
  }));
  const contribs = createContribMerger();
  for (const p of per) contribs.add(p.contribs);
  const key = (o: object) => JSON.stringify(Object.entries(o).sort());
  const same = (a: object[], b: object[]) => assert.equal(a.map(key).sort(), b.map(key).sort());
  // Trade cells carry no last value: their (lastT, lastRid) are never stored.
  const bare = (cs: CellDelta[]) => cs.map((c) => (c.lastV === null ? { ...c, lastT: 0, lastRid: '' } : c));
  same(bare(got.cells), bare(mergeCells(per.flatMap((p) => p.cells))));
  same(got.contribs, contribs.values());
  same(got.dirty, dirtyOf('sales', per));
  assert.ok(got.cells.length < items.length / 5, 'grouped');
});

test.run();
