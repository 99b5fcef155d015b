/** Benchmarks every other model has to beat. */
import type { ModelSpec } from './types.ts';

/** Naive: every future value equals the last observation. */
export function naiveForecast(values: readonly number[], horizon: number): number[] {
  const last = values[values.length - 1]!;
  return new Array<number>(horizon).fill(last);
}

/** Seasonal naive: each future value repeats the value one season earlier; period 1 = naive. */
export function seasonalNaiveForecast(values: readonly number[], horizon: number, period: number): number[] {
  const m = Math.max(1, period);
  if (values.length < m) return naiveForecast(values, horizon);
  const n = values.length;
  const out: number[] = [];
  for (let k = 1; k <= horizon; k++) out.push(values[n - m + ((k - 1) % m)]!);
  return out;
}

export const naiveSpec: ModelSpec = {
  name: 'naive',
  create: () => ({ forecast: (w) => naiveForecast(w.values, w.futureDays.length) }),
};

export const seasonalNaiveSpec: ModelSpec = {
  name: 'snaive',
  create: (ctx) => ({ forecast: (w) => seasonalNaiveForecast(w.values, w.futureDays.length, ctx.period) }),
};
