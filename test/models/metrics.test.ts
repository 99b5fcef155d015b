import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mae, mase, seasonalNaiveScale, smape, empiricalQuantile } from '../../models/metrics.ts';
import {
  applyIntervals,
  outOfWindowCoverage,
  planOrigins,
  spreadOf,
  stepQuantiles,
} from '../../models/backtest.ts';
import { InputError } from '../../infra/core/errors.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

test('mae: mean absolute error', () => {
  // |1-2| + |2-2| + |3-5| = 3 → 1
  close(mae([1, 2, 3], [2, 2, 5]), 1);
});

test('smape: 200·|F−A|/(|A|+|F|), zero/zero counts 0', () => {
  // 200·1/3 = 66.667; 0; 200·2/8 = 50 → mean 38.889
  close(smape([1, 2, 3], [2, 2, 5]), (200 / 3 + 0 + 50) / 3);
  close(smape([0, 0], [0, 0]), 0);
  close(smape([0], [5]), 200);
});

test('seasonalNaiveScale and mase by hand', () => {
  const train = [10, 12, 14, 11, 13, 15];
  // m = 3: |11-10| + |13-12| + |15-14| = 3 over 3 → 1
  close(seasonalNaiveScale(train, 3), 1);
  // m = 1: |2|+|2|+|3|+|2|+|2| = 11 over 5 → 2.2
  close(seasonalNaiveScale(train, 1), 2.2);
  // forecast errors 1 and 3 → MAE 2 → MASE 2 / 1
  close(mase([12, 14], [13, 11], train, 3), 2);
  close(mase([12, 14], [13, 11], train, 1), 2 / 2.2);
});

test('mase on a flat training window does not divide by zero', () => {
  const v = mase([5], [5], [5, 5, 5, 5], 1);
  close(v, 0);
  assert.ok(mase([5], [6], [5, 5, 5, 5], 1) > 1e6);
});

test('metrics reject mismatched lengths', () => {
  assert.throws(() => mae([1, 2], [1]), RangeError);
  assert.throws(() => smape([], []), RangeError);
});

test('empiricalQuantile follows simple-statistics (nearest rank)', () => {
  const xs = [5, 1, 4, 2, 3];
  // rank 5·0.5 = 2.5 → 3rd value; 5·0.7 = 3.5 → 4th; 5·0.8 = 4 (exact, odd length) → element [4].
  close(empiricalQuantile(xs, 0.5), 3);
  close(empiricalQuantile(xs, 0.7), 4);
  close(empiricalQuantile(xs, 0.8), 5);
  close(empiricalQuantile([1, 2, 3, 4], 0.5), 2.5);
});

test('stepQuantiles pools neighbouring steps until the pool is large enough', () => {
  // 2 origins × 3 standardised residuals; with minPool 2 step 1 needs no pooling.
  const z = [
    [1, -2, 3],
    [-1, 2, -3],
  ];
  const q = stepQuantiles(z, 3, 2);
  close(q[0]!.q80, 1);
  close(q[2]!.q80, 3);
  // minPool 6: every step pools all six |z|.
  const q2 = stepQuantiles(z, 3, 6);
  for (const s of q2) close(s.q95, empiricalQuantile([1, 2, 3, 1, 2, 3], 0.95));
});

test('applyIntervals scales the quantiles by the spread, is symmetric and floors at zero when asked', () => {
  const q = [{ q80: 2, q95: 5 }];
  assert.equal(applyIntervals([3], q, false), [{ value: 3, lo80: 1, hi80: 5, lo95: -2, hi95: 8 }]);
  assert.equal(applyIntervals([3], q, true), [{ value: 3, lo80: 1, hi80: 5, lo95: 0, hi95: 8 }]);
  assert.equal(applyIntervals([3], q, false, [0.5]), [{ value: 3, lo80: 2, hi80: 4, lo95: 0.5, hi95: 5.5 }]);
});

test('spreadOf: the model sd when it has one, else naive one-step MAE × √step', () => {
  assert.equal(spreadOf([1, 2, 3], 2, [4, 5]), [4, 5]);
  const s = spreadOf([10, 12, 10, 12], 4, undefined);
  close(s[0]!, 2);
  close(s[3]!, 4);
  // An invalid model sd (0 or the wrong length) falls back too.
  close(spreadOf([10, 12, 10, 12], 2, [0, 1])[1]!, 2 * Math.SQRT2);
});

test('coverage judges each origin with intervals from origins whose windows do not overlap it', () => {
  // Four origins one step apart with h = 1 (no overlaps), spreads 1, residuals 1, 1, 1, 10.
  const cov = outOfWindowCoverage(
    [10, 11, 12, 13],
    [[0], [0], [0], [0]],
    [[1], [1], [1], [1]],
    [[1], [1], [1], [10]],
    false,
  );
  // Origin 4 gets width from {1, 1, 1} → 10 is outside; the others get width from {1, 1, 10} → inside.
  assert.is(cov.points, 4);
  close(cov.p80, 3 / 4);
  close(cov.p95, 3 / 4);
  // With h = 2, origins 10 and 11 overlap each other and are judged only by 14 and 15 (and vice versa).
  const wide = outOfWindowCoverage(
    [10, 11, 14, 15],
    [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ],
    [
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 1],
    ],
    [
      [5, 5],
      [5, 5],
      [1, 1],
      [1, 1],
    ],
    false,
  );
  // Origins 14 and 15 (judged by 10, 11 → width 5) are inside; 10 and 11 (judged by 14, 15 → width 1) are not.
  close(wide.p80, 0.5);
});

test('planOrigins spreads up to 10 origins over the last 20% and falls back to no seasonality', () => {
  // 200 points, h 12: origins from 160 to 188.
  const p = planOrigins(200, 12, 12);
  assert.is(p.period, 12);
  assert.is(p.origins.length, 10);
  assert.is(p.origins[0], 160);
  assert.is(p.origins[9], 188);
  for (let i = 1; i < 10; i++) assert.ok(p.origins[i]! > p.origins[i - 1]!);
  // Short series: at least 2 origins ending at the last point, even when 20% is less than a horizon.
  assert.equal(planOrigins(40, 6, 12), { period: 12, origins: [32, 33, 34] });
  assert.equal(planOrigins(40, 12, 12), { period: 12, origins: [27, 28] });
  // 30 monthly points with h = 6 cannot hold 26 training points before the origins: period 1.
  assert.equal(planOrigins(30, 6, 12).period, 1);
  assert.throws(
    () => planOrigins(20, 12, 12),
    (e: unknown) => e instanceof InputError && /too few points/.test((e as Error).message),
  );
});

test.run();
