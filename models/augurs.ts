/**
 * State-space exponential smoothing from `@bsull/augurs` (Rust, compiled to WebAssembly):
 *  - `ets`: AutoETS, the model (error, trend incl. damped, no season) with the lowest AICc;
 *    augurs' AutoETS has no seasonal models, so seasonality is left to
 *  - `mstl`: MSTL decomposition at the seasonal period, AutoETS on the seasonally adjusted part.
 * The WebAssembly modules are compiled on first use only (a few ms), so importing this file is cheap.
 * Values are divided by their mean absolute value before fitting and multiplied back after: the
 * optimiser then sees numbers near 1 whether the series is in tonnes or yuan.
 * Fits see the last 240 points at most (5 seasons when a season is longer): the smoothing weights
 * of older points are negligible for these models, and the AutoETS search grows with the length.
 * Forecast distribution: the model's own 80% interval, read as a normal sd per step.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AutoETS, initSync as initEts } from '@bsull/augurs/ets';
import { MSTL, initSync as initMstl } from '@bsull/augurs/mstl';
import type { ModelSpec } from './types.ts';

const Z80 = 1.2815515655446004;
export const MAX_FIT_POINTS = 240;

function recent(y: readonly number[], period: number): readonly number[] {
  const keep = Math.max(MAX_FIT_POINTS, 5 * period);
  return y.length > keep ? y.slice(-keep) : y;
}
let etsReady = false;
let mstlReady = false;

function wasmBytes(entry: string): Buffer {
  const js = createRequire(import.meta.url).resolve(`@bsull/augurs/${entry}`);
  return readFileSync(js.replace(/\.js$/, '_bg.wasm'));
}

function ensureEts(): void {
  if (!etsReady) initEts({ module: wasmBytes('ets') });
  etsReady = true;
}

function ensureMstl(): void {
  if (!mstlReady) initMstl({ module: wasmBytes('mstl') });
  mstlReady = true;
}

interface Fitted {
  point: number[];
  sd: number[] | undefined;
}

function scaleOf(y: readonly number[]): number {
  let s = 0;
  for (const v of y) s += Math.abs(v);
  s /= y.length;
  return s > 0 ? s : 1;
}

function readForecast(
  f: { point: number[]; intervals?: { lower: number[]; upper: number[] } | undefined },
  scale: number,
): Fitted {
  const point = Array.from(f.point, (v) => v * scale);
  const iv = f.intervals;
  const sd = iv ? Array.from(iv.upper, (u, i) => ((u - iv.lower[i]!) * scale) / (2 * Z80)) : undefined;
  return { point, sd: sd && sd.every((v) => Number.isFinite(v) && v >= 0) ? sd : undefined };
}

export function autoEtsForecast(all: readonly number[], horizon: number): Fitted {
  ensureEts();
  const y = recent(all, 1);
  const scale = scaleOf(y);
  const model = new AutoETS(1, 'ZZN');
  try {
    model.fit(Float64Array.from(y, (v) => v / scale));
    return readForecast(model.predict(horizon, 0.8), scale);
  } finally {
    model.free();
  }
}

export function mstlForecast(all: readonly number[], horizon: number, period: number): Fitted {
  ensureMstl();
  const y = recent(all, period);
  const scale = scaleOf(y);
  const model = MSTL.ets([period]);
  try {
    model.fit(Float64Array.from(y, (v) => v / scale));
    return readForecast(model.predict(horizon, 0.8), scale);
  } finally {
    model.free();
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const etsSpec: ModelSpec = {
  name: 'ets',
  create: () => {
    let sd: number[] | undefined;
    return {
      forecast: (w) => {
        try {
          const f = autoEtsForecast(w.values, w.futureDays.length);
          sd = f.sd;
          return f.point;
        } catch (err) {
          throw new Error(`AutoETS: ${message(err)}`, { cause: err });
        }
      },
      sd: () => sd,
    };
  },
};

export const mstlSpec: ModelSpec = {
  name: 'mstl',
  create: (ctx, n) => {
    if (ctx.period <= 1) return { skip: 'skipped: no seasonal period (无季节周期)' };
    if (n < 3 * ctx.period)
      return { skip: `skipped: needs 3 seasons of ${ctx.period} (需要至少 3 个季节周期)` };
    let sd: number[] | undefined;
    return {
      forecast: (w) => {
        try {
          const f = mstlForecast(w.values, w.futureDays.length, ctx.period);
          sd = f.sd;
          return f.point;
        } catch (err) {
          throw new Error(`MSTL: ${message(err)}`, { cause: err });
        }
      },
      sd: () => sd,
    };
  },
};
