import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derivedWindows, publishSlices, PUBLISH_SLICE_ROWS } from '../../../pipelines/indicators/runner.ts';
import { FAR } from '../../../pipelines/indicators/publish.ts';
import { monthStart, nextMonthStart } from '../../../pipelines/indicators/model.ts';
import type { ClaimedRow } from '../../../pipelines/indicators/outbox.ts';

const D = 86_400_000;
const T = Date.parse('2024-01-01T00:00:00+08:00');
const row = (over: Partial<ClaimedRow> = {}): ClaimedRow => ({
  kind: 'trade',
  scope: 'mine',
  scopeId: 'M1',
  evFrom: T,
  evTo: T + 100 * D,
  otFrom: T + 95 * D,
  otTo: T + 100 * D,
  acceptedMs: 5,
  ver: 9,
  ...over,
});

test('a long direct range is cut into contiguous month-long parts; hourly ranges clipped to them', () => {
  const parts = publishSlices([row()], 'direct').flat();
  assert.ok(parts.length >= 4);
  assert.is(parts[0]!.evFrom, T);
  assert.is(parts.at(-1)!.evTo, T + 100 * D);
  for (let i = 1; i < parts.length; i++)
    assert.is(parts[i]!.evFrom, parts[i - 1]!.evTo + 1, 'no gap, no overlap');
  for (const p of parts) {
    assert.ok(p.evTo - p.evFrom < 31 * D + 1);
    if (p.otFrom !== null) assert.ok(p.otFrom >= p.evFrom && p.otTo! <= p.evTo && p.otFrom <= p.otTo!);
    assert.is(p.ver, 9);
  }
  const hourly = parts.filter((p) => p.otFrom !== null);
  assert.is(hourly.at(-1)!.otTo, T + 100 * D);
  assert.is(Math.min(...hourly.map((p) => p.otFrom!)), T + 95 * D);
  assert.ok(parts.slice(0, -1).every((p) => p.otFrom === null || p.evTo >= T + 95 * D));
});

test('derived rows are never cut; rows are grouped at most PUBLISH_SLICE_ROWS to a slice', () => {
  assert.equal(publishSlices([row()], 'derived'), [[row()]]);
  const many = Array.from({ length: PUBLISH_SLICE_ROWS * 2 + PUBLISH_SLICE_ROWS / 2 }, (_, i) =>
    row({ scopeId: `M${i}`, evTo: T + D, otTo: T + D, otFrom: T }),
  );
  const slices = publishSlices(many, 'direct');
  assert.equal(
    slices.map((s) => s.length),
    [PUBLISH_SLICE_ROWS, PUBLISH_SLICE_ROWS, PUBLISH_SLICE_ROWS / 2],
  );
  assert.equal(slices.flat(), many);
});

test('cut ranges are published a calendar month at a time: a slice never mixes months', () => {
  const rows = Array.from({ length: 30 }, (_, i) =>
    row({ scopeId: `M${i}`, evFrom: T + i * D, evTo: T + 200 * D }),
  );
  const slices = publishSlices(rows, 'direct');
  for (const s of slices) assert.is(new Set(s.map((p) => monthStart(p.evFrom))).size, 1);
  for (const p of slices.flat())
    assert.is(monthStart(p.evFrom), monthStart(p.evTo), 'a part stays within its month');
  const months = slices.map((s) => monthStart(s[0]!.evFrom));
  assert.equal(
    months,
    [...months].sort((a, b) => a - b),
    'in time order',
  );
  // Every key's range is covered exactly.
  for (const r of rows) {
    const mine = slices
      .flat()
      .filter((p) => p.scopeId === r.scopeId)
      .sort((a, b) => a.evFrom - b.evFrom);
    assert.is(mine[0]!.evFrom, r.evFrom);
    assert.is(mine.at(-1)!.evTo, r.evTo);
  }
});

test('derived windows: one unclamped window for a short span; calendar months, open at both ends, for a long one', () => {
  assert.equal(derivedWindows([row({ evFrom: T, evTo: T + 5 * D, otFrom: null })], T + 10 * D), [null]);
  const ws = derivedWindows(
    [
      row({ evFrom: T + 40 * D, evTo: T + 50 * D, otFrom: null }),
      row({ evFrom: T + 3 * D, evTo: T + 4 * D, otFrom: null }),
    ],
    T + 150 * D,
  );
  assert.ok(ws.length >= 5, `${ws.length} windows`);
  const w = ws as { from: number; to: number }[];
  assert.is(w[0]!.from, 0);
  assert.is(w.at(-1)!.to, FAR);
  for (let i = 1; i < w.length; i++) {
    assert.is(w[i]!.from, w[i - 1]!.to + 1, 'contiguous');
    assert.is(monthStart(w[i]!.from), w[i]!.from, 'month aligned');
  }
  assert.is(w[0]!.to, nextMonthStart(T) - 1, 'the first window ends with the month of the earliest row');
  assert.ok(
    w.at(-1)!.from <= T + 150 * D && w.at(-1)!.from > T + 120 * D,
    'the last window holds the latest data',
  );
});

test.run();
