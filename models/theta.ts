/**
 * Theta method as in R's `forecast::thetaf` (Hyndman & Billah 2003, equivalent to simple exponential
 * smoothing with drift equal to half the slope of a linear trend): seasonal series (see
 * seasonality.ts) are seasonally adjusted first and reseasonalised after.
 *
 * SES: for each α the best initial level has a closed form (the one-step errors are linear in it),
 * so only α is searched: a grid of 0.01 steps, then golden-section refinement around the best point.
 * Forecast distribution: SES's, sd_h = σ·√(1 + (h−1)·α²), times the seasonal index.
 */
import { decompose, deseasonalize, isSeasonal, seasonalIndexAfter } from './seasonality.ts';
import type { ModelSpec } from './types.ts';

export interface SesFit {
  alpha: number;
  level0: number;
  /** Level after the last observation. */
  level: number;
  sse: number;
}

/** SSE and final level for a given α with the optimal initial level. */
function sesWithAlpha(y: readonly number[], alpha: number): SesFit {
  const n = y.length;
  const beta = 1 - alpha;
  // ℓ_{t−1} = c_t + βᵗ·ℓ0 with c computed from ℓ0 = 0; e_t = (y_t − c_t) − βᵗ·ℓ0.
  let c = 0;
  let w = 1;
  let num = 0;
  let den = 0;
  const cs: number[] = new Array(n);
  const ws: number[] = new Array(n);
  for (let t = 0; t < n; t++) {
    cs[t] = c;
    ws[t] = w;
    num += (y[t]! - c) * w;
    den += w * w;
    c = alpha * y[t]! + beta * c;
    w *= beta;
  }
  const level0 = den > 0 ? num / den : y[0]!;
  let sse = 0;
  for (let t = 0; t < n; t++) {
    const e = y[t]! - cs[t]! - ws[t]! * level0;
    sse += e * e;
  }
  return { alpha, level0, level: c + w * level0, sse };
}

export function fitSes(y: readonly number[]): SesFit {
  let best = sesWithAlpha(y, 0.01);
  for (let a = 0.02; a < 0.995; a += 0.01) {
    const f = sesWithAlpha(y, Number(a.toFixed(2)));
    if (f.sse < best.sse) best = f;
  }
  let lo = Math.max(1e-4, best.alpha - 0.01);
  let hi = Math.min(0.9999, best.alpha + 0.01);
  const g = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 30; i++) {
    const a = hi - g * (hi - lo);
    const b = lo + g * (hi - lo);
    if (sesWithAlpha(y, a).sse < sesWithAlpha(y, b).sse) hi = b;
    else lo = a;
  }
  const refined = sesWithAlpha(y, (lo + hi) / 2);
  return refined.sse < best.sse ? refined : best;
}

/** Slope of the least-squares line through (t, y_t), t = 0…n−1. */
function slope(y: readonly number[]): number {
  const n = y.length;
  const tm = (n - 1) / 2;
  let ym = 0;
  for (const v of y) ym += v;
  ym /= n;
  let sxy = 0;
  let sxx = 0;
  for (let t = 0; t < n; t++) {
    sxy += (t - tm) * (y[t]! - ym);
    sxx += (t - tm) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

export interface ThetaForecast {
  mean: number[];
  sd: number[];
  seasonal: boolean;
}

export function thetaForecast(y: readonly number[], horizon: number, period: number): ThetaForecast {
  const n = y.length;
  const seasonal = period > 1 && isSeasonal(y, period);
  const dec = seasonal ? decompose(y, period) : null;
  const x = dec ? deseasonalize(y, dec) : [...y];
  const fit = fitSes(x);
  const b = slope(x);
  const a = fit.alpha;
  const sigma = Math.sqrt(fit.sse / Math.max(1, n - 2));
  const decay = (1 - (1 - a) ** n) / a;
  const mean: number[] = [];
  const sd: number[] = [];
  for (let k = 1; k <= horizon; k++) {
    let f = fit.level + 0.5 * b * (k - 1 + decay);
    let s = sigma * Math.sqrt(1 + (k - 1) * a * a);
    if (dec) {
      const idx = seasonalIndexAfter(dec, n, k);
      if (dec.multiplicative) {
        f *= idx;
        s *= idx;
      } else f += idx;
    }
    mean.push(f);
    sd.push(s);
  }
  return { mean, sd, seasonal };
}

export const thetaSpec: ModelSpec = {
  name: 'theta',
  create: (ctx) => {
    let lastSd: number[] | undefined;
    return {
      forecast: (w) => {
        const f = thetaForecast(w.values, w.futureDays.length, ctx.period);
        lastSd = f.sd;
        return f.mean;
      },
      sd: () => lastSd,
    };
  },
};
