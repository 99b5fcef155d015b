/** Forecast accuracy metrics. */
import { mean, quantileSorted } from 'simple-statistics';

export function mae(actual: readonly number[], forecast: readonly number[]): number {
  checkLengths(actual, forecast);
  let s = 0;
  for (let i = 0; i < actual.length; i++) s += Math.abs(actual[i]! - forecast[i]!);
  return s / actual.length;
}

/**
 * Symmetric MAPE in percent: mean of 200·|F−A| / (|A|+|F|); a term where both are 0 counts as 0.
 * Bounded in [0, 200].
 */
export function smape(actual: readonly number[], forecast: readonly number[]): number {
  checkLengths(actual, forecast);
  let s = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const f = forecast[i]!;
    const denom = Math.abs(a) + Math.abs(f);
    s += denom === 0 ? 0 : (200 * Math.abs(f - a)) / denom;
  }
  return s / actual.length;
}

/**
 * In-sample MAE of the seasonal-naive one-step forecast (y[t] predicted by y[t−m]); m = 1 gives
 * the naive random walk. This is the MASE denominator (Hyndman & Koehler 2006).
 */
export function seasonalNaiveScale(train: readonly number[], period: number): number {
  const m = Math.max(1, period);
  if (train.length <= m) throw new RangeError(`need more than ${m} training points for the MASE scale`);
  let s = 0;
  for (let t = m; t < train.length; t++) s += Math.abs(train[t]! - train[t - m]!);
  return s / (train.length - m);
}

/**
 * MASE of one forecast. A perfectly flat (seasonally repeating) training window has scale 0; the
 * scale then falls back to 1e-9·(1 + mean |y|) so a perfect forecast still scores 0 and any error
 * scores very badly, rather than dividing by zero.
 */
export function mase(
  actual: readonly number[],
  forecast: readonly number[],
  train: readonly number[],
  period: number,
): number {
  let scale = seasonalNaiveScale(train, period);
  if (!(scale > 0)) scale = 1e-9 * (1 + mean(train.map(Math.abs)));
  return mae(actual, forecast) / scale;
}

/** Empirical quantile (simple-statistics' definition: nearest rank, mean of two at exact ranks). */
export function empiricalQuantile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return quantileSorted(sorted, p);
}

function checkLengths(a: readonly number[], f: readonly number[]): void {
  if (a.length !== f.length || a.length === 0)
    throw new RangeError(
      `actual (${a.length}) and forecast (${f.length}) must have the same non-zero length`,
    );
}
