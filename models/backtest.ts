/**
 * Rolling-origin evaluation and calibrated prediction intervals.
 *
 * Origins: up to 10 cut-offs spread evenly over the last 20% of the series (the last one a horizon
 * before the end, so every test window is complete); the same origins for every model, each fit
 * sees only the data before its cut-off. Short series get at least 2 origins ending at the last point.
 *
 * Intervals: every backtest residual is divided by the forecast's own spread at that step (the
 * model's forecast sd where it has a distribution, otherwise the naive one-step MAE of its training
 * window times √step, the random-walk growth). For step s the 80% (95%) half-width is the empirical
 * quantile of those standardised |residuals| at s, pooled with neighbouring steps until there are at
 * least MIN_POOL, times the final forecast's spread at s. So the model's distribution gives the shape
 * and the backtest the width: an over-confident model gets wider intervals. Symmetric on purpose.
 * When the series has never been negative, no bound goes below 0.
 *
 * Coverage: each origin's actuals are checked against intervals built only from the origins whose
 * test windows do not overlap it (the origins are closer than a horizon apart, and overlapping
 * windows share errors), or from all others when fewer than 2 remain. The same backtest chose the
 * model, so it is still mildly optimistic.
 */
import { InputError } from '../infra/core/index.ts';
import { empiricalQuantile } from './metrics.ts';

export const MAX_ORIGINS = 10;
export const MIN_ORIGINS = 2;
/** Share of the series the origins are spread over. */
export const TEST_SHARE = 0.2;
/** Standardised residuals wanted per horizon step before quantiles are taken. */
export const MIN_POOL = 20;

export interface OriginPlan {
  period: number;
  /** Training lengths (cut-off indices), ascending; the test window of origin o is [o, o + h). */
  origins: number[];
}

function minTrainFor(period: number): number {
  return period > 1 ? 2 * period + 2 : 8;
}

/** Smallest series length the planner accepts for a horizon (without seasonality). */
export function minimumLength(horizon: number): number {
  return minTrainFor(1) + horizon + MIN_ORIGINS - 1;
}

/**
 * Chooses origins; falls back to no seasonality when two full seasons before the first origin do not
 * fit. Throws InputError when even that is impossible.
 */
export function planOrigins(
  n: number,
  horizon: number,
  basePeriod: number,
  maxOrigins = MAX_ORIGINS,
): OriginPlan {
  const candidates = basePeriod > 1 ? [basePeriod, 1] : [1];
  const k = Math.max(MIN_ORIGINS, maxOrigins);
  const last = n - horizon;
  for (const period of candidates) {
    const minTrain = minTrainFor(period);
    let first = Math.max(minTrain, n - Math.round(TEST_SHARE * n));
    if (last - first + 1 < MIN_ORIGINS) first = Math.max(minTrain, last - (MIN_ORIGINS - 1));
    if (last - first + 1 < MIN_ORIGINS) continue;
    const count = Math.min(k, last - first + 1);
    const origins: number[] = [];
    for (let i = 0; i < count; i++) {
      const o = count === 1 ? last : Math.round(first + (i * (last - first)) / (count - 1));
      if (origins[origins.length - 1] !== o) origins.push(o);
    }
    return { period, origins };
  }
  const need = minimumLength(horizon);
  throw new InputError(
    `数据点太少：预测 ${horizon} 步需要至少 ${need} 个数据点，实际 ${n} 个 / too few points: a horizon of ${horizon} needs at least ${need} points, got ${n}`,
    { context: { needed: need, got: n } },
  );
}

export interface StepQuantiles {
  /** 80% and 95% quantiles of the standardised |residuals|: half-widths in units of the spread. */
  q80: number;
  q95: number;
}

/** Per-step quantiles of standardised |residuals| z[origin][step], pooling neighbouring steps. */
export function stepQuantiles(
  z: readonly (readonly number[])[],
  horizon: number,
  minPool = MIN_POOL,
): StepQuantiles[] {
  const out: StepQuantiles[] = [];
  for (let s = 1; s <= horizon; s++) {
    let pool: number[] = [];
    for (let r = 0; r < horizon; r++) {
      pool = [];
      for (let s2 = Math.max(1, s - r); s2 <= Math.min(horizon, s + r); s2++) {
        for (const res of z) {
          const e = res[s2 - 1];
          if (e !== undefined && Number.isFinite(e)) pool.push(Math.abs(e));
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

/** Intervals forecast ± q·spread per step. */
export function applyIntervals(
  forecast: readonly number[],
  q: readonly StepQuantiles[],
  floorAtZero: boolean,
  spread: readonly number[] = forecast.map(() => 1),
): (Interval & { value: number })[] {
  const floor = (v: number) => (floorAtZero ? Math.max(0, v) : v);
  return forecast.map((f, j) => {
    const s = q[j]!;
    const w = spread[j]!;
    const value = floor(f);
    return {
      value,
      lo80: Math.min(value, floor(f - s.q80 * w)),
      hi80: Math.max(value, floor(f + s.q80 * w)),
      lo95: Math.min(value, floor(f - s.q95 * w)),
      hi95: Math.max(value, floor(f + s.q95 * w)),
    };
  });
}

/**
 * Spread per step: the model's sd where it has one (and it is positive), else the naive
 * one-step MAE of the training window times √step.
 */
export function spreadOf(
  train: readonly number[],
  horizon: number,
  sd: readonly number[] | undefined,
): number[] {
  if (sd && sd.length === horizon && sd.every((v) => Number.isFinite(v) && v > 0)) return [...sd];
  let s = 0;
  for (let t = 1; t < train.length; t++) s += Math.abs(train[t]! - train[t - 1]!);
  let base = train.length > 1 ? s / (train.length - 1) : 0;
  if (!(base > 0)) base = 1e-9 * (1 + Math.abs(train[train.length - 1] ?? 0));
  return Array.from({ length: horizon }, (_, j) => base * Math.sqrt(j + 1));
}

/**
 * Coverage of the 80% and 95% intervals, each origin judged with intervals from the origins whose
 * test windows do not overlap its own (see the file comment).
 */
export function outOfWindowCoverage(
  origins: readonly number[],
  forecasts: readonly (readonly number[])[],
  spreads: readonly (readonly number[])[],
  actuals: readonly (readonly number[])[],
  floorAtZero: boolean,
): { p80: number; p95: number; points: number } {
  const k = forecasts.length;
  let in80 = 0;
  let in95 = 0;
  let total = 0;
  const z = forecasts.map((f, o) => f.map((v, j) => (actuals[o]![j]! - v) / spreads[o]![j]!));
  for (let o = 0; o < k; o++) {
    const h = forecasts[o]!.length;
    let others = z.filter((_, i) => i !== o && Math.abs(origins[i]! - origins[o]!) >= h);
    if (others.length < 2) others = z.filter((_, i) => i !== o);
    if (others.length === 0) continue;
    const iv = applyIntervals(forecasts[o]!, stepQuantiles(others, h), floorAtZero, spreads[o]!);
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
