/**
 * Additive Holt-Winters exponential smoothing with a damped trend (Gardner & McKenzie).
 * Parameters are chosen by minimising the one-step-ahead SSE on the training window: a coarse
 * grid, then a few rounds of coordinate search with halving steps. φ = 0 switches the trend off
 * (simple exponential smoothing, seasonal when m > 1), so the grid also covers "no trend".
 */
import { mean } from 'simple-statistics';
import type { ModelSpec } from './types.ts';

export interface HoltWintersParams {
  alpha: number;
  beta: number;
  gamma: number;
  phi: number;
}

export interface HoltWintersFit extends HoltWintersParams {
  period: number;
  sse: number;
  level: number;
  trend: number;
  /** Seasonal states indexed by position mod period; `lastIndex` is the position of the last observation. */
  seasonals: number[];
  lastIndex: number;
}

interface Init {
  level: number;
  trend: number;
  seasonals: number[];
  start: number;
}

function initialState(y: readonly number[], m: number): Init {
  if (m > 1) {
    const first = y.slice(0, m);
    const second = y.slice(m, 2 * m);
    const level = mean(first);
    const trend = (mean(second) - level) / m;
    return { level, trend, seasonals: first.map((v) => v - level), start: m };
  }
  const k = Math.min(y.length - 1, 4);
  return { level: y[0]!, trend: k > 0 ? (y[k]! - y[0]!) / k : 0, seasonals: [0], start: 1 };
}

/** Runs the recursions; returns SSE and the final state. */
function run(y: readonly number[], m: number, p: HoltWintersParams, init: Init): HoltWintersFit {
  const { alpha, beta, gamma, phi } = p;
  const s = [...init.seasonals];
  let level = init.level;
  let trend = init.trend;
  let sse = 0;
  const seasonal = m > 1;
  for (let t = init.start; t < y.length; t++) {
    const idx = seasonal ? t % m : 0;
    const st = seasonal ? s[idx]! : 0;
    const yt = y[t]!;
    const damped = phi * trend;
    const e = yt - (level + damped + st);
    sse += e * e;
    const newLevel = alpha * (yt - st) + (1 - alpha) * (level + damped);
    trend = beta * (newLevel - level) + (1 - beta) * damped;
    if (seasonal) s[idx] = gamma * (yt - newLevel) + (1 - gamma) * st;
    level = newLevel;
  }
  return { ...p, period: m, sse, level, trend, seasonals: s, lastIndex: y.length - 1 };
}

const ALPHAS = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];
const BETAS = [0.01, 0.05, 0.15];
const GAMMAS = [0.01, 0.1, 0.25];
const PHIS = [0, 0.9, 0.98];

export function fitHoltWinters(y: readonly number[], period: number): HoltWintersFit {
  const m = period > 1 && y.length >= 2 * period + 2 ? period : 1;
  if (y.length < 3) throw new RangeError('Holt-Winters needs at least 3 points');
  const init = initialState(y, m);
  const gammas = m > 1 ? GAMMAS : [0];
  let best: HoltWintersFit | null = null;
  for (const phi of PHIS) {
    for (const beta of phi === 0 ? [0] : BETAS) {
      for (const alpha of ALPHAS) {
        for (const gamma of gammas) {
          const f = run(y, m, { alpha, beta, gamma, phi }, init);
          if (best === null || f.sse < best.sse) best = f;
        }
      }
    }
  }
  let cur = best!;
  // Coordinate search around the grid optimum; φ stays 0 when the grid preferred no trend.
  const steps: Record<keyof HoltWintersParams, number> = { alpha: 0.05, beta: 0.02, gamma: 0.05, phi: 0.02 };
  const bounds: Record<keyof HoltWintersParams, [number, number]> = {
    alpha: [0.01, 0.99],
    beta: [0, 0.5],
    gamma: [0, 0.6],
    phi: [0.8, 0.995],
  };
  const keys: (keyof HoltWintersParams)[] = ['alpha'];
  if (cur.phi > 0) keys.push('beta', 'phi');
  if (m > 1) keys.push('gamma');
  for (let round = 0; round < 4; round++) {
    for (const key of keys) {
      for (const dir of [-1, 1]) {
        const [lo, hi] = bounds[key];
        const v = Math.min(hi, Math.max(lo, cur[key] + dir * steps[key]));
        if (v === cur[key]) continue;
        const f = run(
          y,
          m,
          { alpha: cur.alpha, beta: cur.beta, gamma: cur.gamma, phi: cur.phi, [key]: v },
          init,
        );
        if (f.sse < cur.sse) cur = f;
      }
      steps[key] /= 2;
    }
  }
  return cur;
}

export function holtWintersForecast(fit: HoltWintersFit, horizon: number): number[] {
  const out: number[] = [];
  let damp = 0;
  let phiK = 1;
  for (let k = 1; k <= horizon; k++) {
    phiK *= fit.phi;
    damp += phiK;
    const s = fit.period > 1 ? fit.seasonals[(fit.lastIndex + k) % fit.period]! : 0;
    out.push(fit.level + damp * fit.trend + s);
  }
  return out;
}

export const holtWintersSpec: ModelSpec = {
  name: 'holt_winters',
  create: (ctx) => ({
    forecast: (w) => holtWintersForecast(fitHoltWinters(w.values, ctx.period), w.futureDays.length),
  }),
};
