/**
 * LSTM / GRU time-step networks (brain.js) on the normalised seasonal differences of the series.
 *
 * Why differences: a small, briefly trained network that has learnt little then predicts a
 * difference near its mean, i.e. it degrades gracefully to seasonal naive with drift instead
 * of producing a flat line in normalised units.
 *
 * Cost control (brain.js trains on the CPU, one time step at a time):
 *  - one hidden layer of 8 units, input windows of 12 steps, at most 96 most recent windows,
 *    at most 30 passes at learning rate 0.005;
 *  - iterations are derived from `neuralBudgetMs` with a fixed per-step cost estimate, so they do
 *    not depend on machine speed and results stay reproducible; below the minimum the model is
 *    skipped and the backtest row says why;
 *  - warm start: the runner is called on growing windows in time order (backtest origins, then
 *    the final fit); each fit continues from the previous network, which has only seen data
 *    before the earlier cut-off, so there is no look-ahead. Later fits need fewer iterations;
 *  - no wall-clock cap: training stops after the planned iterations only, so the output depends on
 *    the data, the options and the seed, never on how busy the machine is.
 * Weight initialisation uses brain.js' Math.random, which is replaced by a seeded generator while
 * the network is built, trained and run (all synchronous, so nothing else sees the swap).
 */
import { createRequire } from 'node:module';
import type * as Brain from 'brain.js';
import { mean, standardDeviation } from 'simple-statistics';
import type { ModelRunner, ModelSpec, SeriesContext, TrainWindow } from './types.ts';
import { mulberry32 } from '../infra/core/index.ts';

const WINDOW = 12;
const HIDDEN = 8;
const MAX_WINDOWS = 96;
const MIN_WINDOWS = 24;
const MAX_ITER = 30;
const MIN_ITER = 8;
/** Low rate + many windows + few passes: on a few dozen windows the net overfits noise within 60 passes. */
const LEARNING_RATE = 0.005;
/** Later (warm-started) fits run this fraction of the first fit's iterations. */
const WARM_FRACTION = 1 / 3;
/** Estimated ms per time step per training window per iteration (hidden 8, measured on a 2-core VM). */
export const STEP_COST_MS = 0.007;

export { mulberry32 };

/** brain.js is loaded on first use: most forecasts never train a network, and it costs ~0.2 s to load. */
let brain: typeof Brain | null = null;
function loadBrain(): typeof Brain {
  brain ??= createRequire(import.meta.url)('brain.js') as typeof Brain;
  return brain;
}

function withRandom<T>(rng: () => number, fn: () => T): T {
  const original = Math.random;
  Math.random = rng;
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

export interface NeuralPlan {
  windows: number;
  firstIterations: number;
  warmIterations: number;
  estimatedMs: number;
}

/** Largest training plan within budget; null when even the minimum does not fit. */
export function planNeural(budgetMs: number, fits: number, availableWindows: number): NeuralPlan | null {
  const seqLen = WINDOW + 1;
  const perIterPerWindow = seqLen * STEP_COST_MS;
  const cost = (w: number, it: number) =>
    w * perIterPerWindow * (it + (fits - 1) * Math.ceil(it * WARM_FRACTION));
  let windows = Math.min(MAX_WINDOWS, availableWindows);
  if (windows < MIN_WINDOWS) return null;
  let it = MAX_ITER;
  while (it > MIN_ITER && cost(windows, it) > budgetMs) it--;
  while (windows > MIN_WINDOWS && cost(windows, it) > budgetMs) windows--;
  if (cost(windows, it) > budgetMs) return null;
  // Spend what is left of the budget on iterations again.
  while (it < MAX_ITER && cost(windows, it + 1) <= budgetMs) it++;
  return {
    windows,
    firstIterations: it,
    warmIterations: Math.max(1, Math.ceil(it * WARM_FRACTION)),
    estimatedMs: Math.round(cost(windows, it)),
  };
}

function createNeural(name: 'lstm' | 'gru', ctx: SeriesContext, _n: number): ModelRunner | { skip: string } {
  const lag = Math.max(1, ctx.period);
  const available = ctx.firstOrigin - lag - WINDOW;
  if (available < MIN_WINDOWS)
    return { skip: `skipped: series too short for ${WINDOW}-step windows (需要更长的序列)` };
  const plan = planNeural(ctx.neuralBudgetMs, ctx.fits, available);
  if (plan === null)
    return {
      skip: `skipped: estimated training time exceeds budget ${ctx.neuralBudgetMs} ms (超出训练时间预算)`,
    };
  const rng = mulberry32((ctx.seed ^ (name === 'lstm' ? 0x1f2e3d : 0x4c5b6a)) >>> 0);
  const { recurrent } = loadBrain();
  const Ctor = name === 'lstm' ? recurrent.LSTMTimeStep : recurrent.GRUTimeStep;
  let net: InstanceType<typeof Ctor> | null = null;
  let fitsDone = 0;

  return {
    note: () =>
      `${name.toUpperCase()} hidden ${HIDDEN}, window ${WINDOW}, ${plan.windows} windows, ${plan.firstIterations}+${plan.warmIterations}×${ctx.fits - 1} iterations (warm start)`,
    forecast(train: TrainWindow): number[] {
      const y = train.values;
      const h = train.futureDays.length;
      const d: number[] = [];
      for (let t = lag; t < y.length; t++) d.push(y[t]! - y[t - lag]!);
      const mu = mean(d);
      const sd = standardDeviation(d) || 1;
      // Roughly into [-1, 1]: brain.js' output layer is linear but trains best on small values.
      const z = d.map((v) => (v - mu) / (3 * sd));
      const sequences: number[][] = [];
      for (let end = z.length; end - (WINDOW + 1) >= 0 && sequences.length < plan.windows; end--) {
        sequences.push(z.slice(end - (WINDOW + 1), end));
      }
      sequences.reverse();
      const iterations = fitsDone === 0 ? plan.firstIterations : plan.warmIterations;
      const out = withRandom(rng, () => {
        net ??= new Ctor({ inputSize: 1, hiddenLayers: [HIDDEN], outputSize: 1 });
        net.train(sequences, { iterations, errorThresh: 1e-5, learningRate: LEARNING_RATE, log: false });
        return net.forecast(z.slice(-WINDOW), h) as unknown as ArrayLike<number>;
      });
      fitsDone++;
      const dz = Array.from(out, (v) => v * 3 * sd + mu);
      const ext = [...y];
      for (let k = 0; k < h; k++) ext.push(ext[ext.length - lag]! + dz[k]!);
      const res = ext.slice(y.length);
      if (res.some((v) => !Number.isFinite(v))) throw new Error(`${name} produced a non-finite forecast`);
      return res;
    },
  };
}

export const lstmSpec: ModelSpec = { name: 'lstm', create: (ctx, n) => createNeural('lstm', ctx, n) };
export const gruSpec: ModelSpec = { name: 'gru', create: (ctx, n) => createNeural('gru', ctx, n) };
