/**
 * Seasonality test and classical decomposition, as used by the Theta method (Hyndman & Billah 2003,
 * R's `forecast::thetaf`): a series is treated as seasonal when its autocorrelation at the seasonal
 * lag exceeds the 90% bound built from the lower lags; it is then divided (or, with values ≤ 0,
 * reduced) by seasonal indices from a centred moving average.
 */

/** Sample autocorrelations at lags 1…maxLag. */
export function acf(y: readonly number[], maxLag: number): number[] {
  const n = y.length;
  let mu = 0;
  for (const v of y) mu += v;
  mu /= n;
  let c0 = 0;
  for (const v of y) c0 += (v - mu) ** 2;
  const out: number[] = [];
  for (let k = 1; k <= maxLag; k++) {
    let c = 0;
    for (let t = k; t < n; t++) c += (y[t]! - mu) * (y[t - k]! - mu);
    out.push(c0 > 0 ? c / c0 : 0);
  }
  return out;
}

/** Seasons of recent data the strength is measured on: a season drifts (and weekly calendars shift) over decades. */
export const STRENGTH_SEASONS = 6;
/** Strength above which a series is treated as seasonal; random walks score 0.05–0.3 on 6 seasons. */
export const STRENGTH_THRESHOLD = 0.4;

/** Seasonal when the strength of seasonality over the last 6 seasons reaches 0.4 (at least 3 seasons needed). */
export function isSeasonal(y: readonly number[], period: number): boolean {
  if (period <= 1 || y.length < 3 * period) return false;
  return seasonalStrength(y.slice(-STRENGTH_SEASONS * period), period) >= STRENGTH_THRESHOLD;
}

/**
 * thetaf's test: |r_m| > 1.645·√((1 + 2·Σ_{k<m} r_k²) / n), only with at least 3 seasons of data.
 * Kept for reference: it flags random walks as seasonal (their long-lag autocorrelations are all high).
 */
export function acfSeasonal(y: readonly number[], period: number): boolean {
  if (period <= 1 || y.length < 3 * period) return false;
  const r = acf(y, period);
  let s = 0;
  for (let k = 0; k < period - 1; k++) s += r[k]! ** 2;
  const bound = 1.645 * Math.sqrt((1 + 2 * s) / y.length);
  return Math.abs(r[period - 1]!) > bound;
}

export interface Decomposition {
  multiplicative: boolean;
  /** Seasonal index by position t mod period (mean 1 when multiplicative, 0 when additive). */
  indices: number[];
  period: number;
}

/** Classical decomposition: seasonal indices from the detrended series (centred 2×m moving average). */
export function decompose(y: readonly number[], period: number): Decomposition {
  const m = period;
  const n = y.length;
  const multiplicative = y.every((v) => v > 0);
  const half = Math.floor(m / 2);
  const sums = new Array<number>(m).fill(0);
  const counts = new Array<number>(m).fill(0);
  for (let t = half; t < n - half; t++) {
    let ma: number;
    if (m % 2 === 0) {
      let s = 0.5 * (y[t - half]! + y[t + half]!);
      for (let k = t - half + 1; k < t + half; k++) s += y[k]!;
      ma = s / m;
    } else {
      let s = 0;
      for (let k = t - half; k <= t + half; k++) s += y[k]!;
      ma = s / m;
    }
    const d = multiplicative ? y[t]! / ma : y[t]! - ma;
    if (!Number.isFinite(d)) continue;
    sums[t % m]! += d;
    counts[t % m]!++;
  }
  let indices = sums.map((s, i) => (counts[i]! > 0 ? s / counts[i]! : multiplicative ? 1 : 0));
  const avg = indices.reduce((a, b) => a + b, 0) / m;
  indices = multiplicative ? indices.map((v) => v / avg) : indices.map((v) => v - avg);
  return { multiplicative, indices, period: m };
}

/** Removes the seasonal component from y (positions 0…n−1). */
export function deseasonalize(y: readonly number[], d: Decomposition): number[] {
  return y.map((v, t) => (d.multiplicative ? v / d.indices[t % d.period]! : v - d.indices[t % d.period]!));
}

/** Index of step k (1-based) after a series of length n. */
export function seasonalIndexAfter(d: Decomposition, n: number, k: number): number {
  return d.indices[(n + k - 1) % d.period]!;
}

/**
 * Strength of seasonality (Wang, Smith & Hyndman 2006): 1 − Var(remainder) / Var(detrended), with the
 * classical additive decomposition; 0 for none, near 1 for a season that repeats exactly. Unlike an
 * autocorrelation test, a random walk (whose long-lag autocorrelations are all high) scores near 0.
 */
export function seasonalStrength(y: readonly number[], period: number): number {
  const m = period;
  const n = y.length;
  if (m <= 1 || n < 3 * m) return 0;
  const half = Math.floor(m / 2);
  const detrended: number[] = [];
  const pos: number[] = [];
  for (let t = half; t < n - half; t++) {
    let s: number;
    if (m % 2 === 0) {
      s = 0.5 * (y[t - half]! + y[t + half]!);
      for (let k = t - half + 1; k < t + half; k++) s += y[k]!;
    } else {
      s = 0;
      for (let k = t - half; k <= t + half; k++) s += y[k]!;
    }
    detrended.push(y[t]! - s / m);
    pos.push(t % m);
  }
  const sums = new Array<number>(m).fill(0);
  const counts = new Array<number>(m).fill(0);
  detrended.forEach((d, i) => {
    sums[pos[i]!]! += d;
    counts[pos[i]!]!++;
  });
  const idx = sums.map((s, i) => (counts[i]! ? s / counts[i]! : 0));
  const variance = (xs: readonly number[]) => {
    const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
    return xs.reduce((a, b) => a + (b - mu) ** 2, 0) / xs.length;
  };
  const vd = variance(detrended);
  if (!(vd > 0)) return 0;
  const rem = detrended.map((d, i) => d - idx[pos[i]!]!);
  return Math.max(0, 1 - variance(rem) / vd);
}
