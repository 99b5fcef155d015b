import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { publishSlices } from '../../../pipelines/indicators/runner.ts';
import type { ClaimedRow } from '../../../pipelines/indicators/outbox.ts';

const D = 86_400_000;
const T = Date.parse('2024-01-01T00:00:00+08:00');
const row = (over: Partial<ClaimedRow> = {}): ClaimedRow => ({
  kind: 'trade', scope: 'mine', scopeId: 'M1', evFrom: T, evTo: T + 100 * D, otFrom: T + 95 * D, otTo: T + 100 * D, acceptedMs: 5, ver: 9, ...over,
});

test('a long direct range is cut into contiguous month-long parts; hourly ranges clipped to them', () => {
  const parts = publishSlices([row()], 'direct').flat();
  assert.ok(parts.length >= 4);
  assert.is(parts[0]!.evFrom, T);
  assert.is(parts.at(-1)!.evTo, T + 100 * D);
  for (let i = 1; i < parts.length; i++) assert.is(parts[i]!.evFrom, parts[i - 1]!.evTo + 1, 'no gap, no overlap');
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

test('derived rows are never cut; rows are grouped at most 1000 to a slice', () => {
  assert.equal(publishSlices([row()], 'derived'), [[row()]]);
  const many = Array.from({ length: 2500 }, (_, i) => row({ scopeId: `M${i}`, evTo: T + D, otTo: T + D, otFrom: T }));
  const slices = publishSlices(many, 'direct');
  assert.equal(slices.map((s) => s.length), [1000, 1000, 500]);
  assert.equal(slices.flat(), many);
});

test.run();
