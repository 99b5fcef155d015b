import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mae, mase, seasonalNaiveScale, smape, empiricalQuantile } from '../../models/metrics.ts';
import { applyIntervals, leaveOneOriginOutCoverage, planOrigins, stepQuantiles } from '../../models/backtest.ts';
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

test('stepQuantiles pools neighbouring steps with √(s/s′) rescaling', () => {
  // 2 origins × 3 steps; with minPool 2 step 1 needs no pooling.
  const res = [[1, -2, 3], [-1, 2, -3]];
  const q = stepQuantiles(res, 3, 2);
  close(q[0]!.q80, 1);
  // minPool 6: every step pools all six residuals, rescaled to step s.
  const q2 = stepQuantiles(res, 3, 6);
  const atStep3 = [1 * Math.sqrt(3), 2 * Math.sqrt(3 / 2), 3, 1 * Math.sqrt(3), 2 * Math.sqrt(3 / 2), 3];
  close(q2[2]!.q95, empiricalQuantile(atStep3, 0.95));
  // Widths never shrink along the horizon for i.i.d.-like pools.
  assert.ok(q2[0]!.q80 <= q2[1]!.q80 && q2[1]!.q80 <= q2[2]!.q80);
});

test('applyIntervals is symmetric and floors at zero when asked', () => {
  const q = [{ q80: 2, q95: 5 }];
  assert.equal(applyIntervals([3], q, false), [{ value: 3, lo80: 1, hi80: 5, lo95: -2, hi95: 8 }]);
  assert.equal(applyIntervals([3], q, true), [{ value: 3, lo80: 1, hi80: 5, lo95: 0, hi95: 8 }]);
});

test('leave-one-origin-out coverage counts points inside intervals built from the other origins', () => {
  // Three origins, one step, forecasts 0, residuals 1, 1, 10.
  const cov = leaveOneOriginOutCoverage([[0], [0], [0]], [[1], [1], [10]], false);
  // Origin 3 gets width from {1, 1} → 10 is outside; origins 1 and 2 get width from {1, 10} → inside.
  assert.is(cov.points, 3);
  close(cov.p80, 2 / 3);
  close(cov.p95, 2 / 3);
});

test('planOrigins tiles the last K·h points and falls back to no seasonality', () => {
  assert.equal(planOrigins(100, 10, 7), { period: 7, origins: [50, 60, 70, 80, 90] });
  // 12-month season needs 26 training points; 40 points with h = 6: K = 2.
  assert.equal(planOrigins(40, 6, 12), { period: 12, origins: [28, 34] });
  // 30 monthly points with h = 6 cannot hold 26 + 12: falls back to period 1.
  assert.equal(planOrigins(30, 6, 12).period, 1);
  assert.throws(() => planOrigins(20, 12, 12), (e: unknown) => e instanceof InputError && /too few points/.test((e as Error).message));
});

test.run();
