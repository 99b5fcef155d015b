/**
 * Rolling-origin evaluation and empirical prediction intervals.
 *
 * Origins: K (2–5) cut-offs spaced one horizon apart, the last one a horizon before the end, so
 * the K test windows tile the last K·h observations without overlap; each fit sees only the data
 * before its cut-off.
 *
 * Intervals: for horizon step s the interval is forecast ± the 80% (95%) empirical quantile of
 * the absolute backtest residuals |actual − forecast| at that step. K residuals per step are too
 * few for a 95% quantile, so steps s' around s are pooled (the neighbourhood grows until it holds
 * at least MIN_POOL residuals), each rescaled by √(s/s') on the random-walk assumption that error
 * spread grows with √step. Symmetric, because with 20–60 residuals one quantile of |e| is far
 * steadier than two separate tail quantiles, and a past bias (a price rally in the backtest
 * years) should not be projected into the future interval. When the series has never been
 * negative, no bound goes below 0.
 *
 * Coverage: leave-one-origin-out. The actuals of each origin are checked against intervals built
 * from the residuals of the other origins only; the reported coverage is the fraction of all
 * backtest points inside. It is honest about the interval method but uses K−1 origins' residuals
 * where the published interval uses K, and the same backtest chose the model (a mild optimism).
 */
import { InputError } from '../infra/core/index.ts';
import { empiricalQuantile } from './metrics.ts';

export const MAX_ORIGINS = 5;
export const MIN_ORIGINS = 2;
/** Residuals wanted per horizon step before quantiles are taken. */
export const MIN_POOL = 20;

export interface OriginPlan {
  period: number;
  /** Training lengths (cut-off indices); the test window of origin o is [o, o + h). */
  origins: number[];
}

function minTrainFor(period: number): number {
  return period > 1 ? 2 * period + 2 : 8;
}

/** Smallest series length the planner accepts for a horizon (without seasonality). */
export function minimumLength(horizon: number): number {
  return minTrainFor(1) + MIN_ORIGINS * horizon;
}

/**
 * Chooses origins; falls back to no seasonality when two full seasons plus two test windows do not
 * fit. Throws InputError when even that is impossible.
 */
export function planOrigins(n: number, horizon: number, basePeriod: number, maxOrigins = MAX_ORIGINS): OriginPlan {
  const candidates = basePeriod > 1 ? [basePeriod, 1] : [1];
  for (const period of candidates) {
    const k = Math.min(Math.max(MIN_ORIGINS, maxOrigins), Math.floor((n - minTrainFor(period)) / horizon));
    if (k >= MIN_ORIGINS) {
      const origins: number[] = [];
      for (let i = k; i >= 1; i--) origins.push(n - i * horizon);
      return { period, origins };
    }
  }
  const need = minimumLength(horizon);
  throw new InputError(
    `数据点太少：预测 ${horizon} 步需要至少 ${need} 个数据点，实际 ${n} 个 / too few points: a horizon of ${horizon} needs at least ${need} points, got ${n}`,
    { context: { needed: need, got: n } },
  );
}

export interface StepQuantiles {
  /** 80% and 95% quantiles of the absolute (rescaled) residuals: the interval half-widths. */
  q80: number;
  q95: number;
}

/** Per-step half-widths from residuals[origin][step] (see the file comment for the pooling). */
export function stepQuantiles(residuals: readonly (readonly number[])[], horizon: number, minPool = MIN_POOL): StepQuantiles[] {
  const out: StepQuantiles[] = [];
  for (let s = 1; s <= horizon; s++) {
    let pool: number[] = [];
    for (let r = 0; r < horizon; r++) {
      pool = [];
      for (let s2 = Math.max(1, s - r); s2 <= Math.min(horizon, s + r); s2++) {
        const f = Math.sqrt(s / s2);
        for (const res of residuals) {
          const e = res[s2 - 1];
          if (e !== undefined && Number.isFinite(e)) pool.push(Math.abs(e) * f);
        }
      }
      if (pool.length >= minPool) break;
    }
    if (pool.length === 0) throw new RangeError('no residuals to build intervals from');
    out.push({ q80: empiricalQuantile(pool, 0.8), q95: empiricalQuantile(pool, 0.95) });
  }
  return out;
}

export interface Interval {
  lo80: number;
  hi80: number;
  lo95: number;
  hi95: number;
}

export function applyIntervals(forecast: readonly number[], q: readonly StepQuantiles[], floorAtZero: boolean): (Interval & { value: number })[] {
  const floor = (v: number) => (floorAtZero ? Math.max(0, v) : v);
  return forecast.map((f, j) => {
    const s = q[j]!;
    const value = floor(f);
    return {
      value,
      lo80: floor(f - s.q80),
      hi80: floor(f + s.q80),
      lo95: floor(f - s.q95),
      hi95: floor(f + s.q95),
    };
  });
}

/** Leave-one-origin-out coverage of the 80% and 95% intervals. */
export function leaveOneOriginOutCoverage(
  forecasts: readonly (readonly number[])[],
  actuals: readonly (readonly number[])[],
  floorAtZero: boolean,
): { p80: number; p95: number; points: number } {
  const k = forecasts.length;
  let in80 = 0;
  let in95 = 0;
  let total = 0;
  const residuals = forecasts.map((f, o) => f.map((v, j) => actuals[o]![j]! - v));
  for (let o = 0; o < k; o++) {
    const others = residuals.filter((_, i) => i !== o);
    const h = forecasts[o]!.length;
    const iv = applyIntervals(forecasts[o]!, stepQuantiles(others, h), floorAtZero);
    for (let j = 0; j < h; j++) {
      const a = actuals[o]![j]!;
      const b = iv[j]!;
      if (a >= b.lo80 && a <= b.hi80) in80++;
      if (a >= b.lo95 && a <= b.hi95) in95++;
      total++;
    }
  }
  return { p80: total ? in80 / total : 0, p95: total ? in95 / total : 0, points: total };
}
