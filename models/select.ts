/**
 * Selection and forecast for one series: train candidate models, score them on the same rolling
 * origins, and serve the best candidate only if it beats both naive and seasonal naive on MASE;
 * otherwise the better benchmark is served and labelled so. Intervals come from the chosen model's
 * own forecast distribution, calibrated on the backtest, with their measured coverage.
 */
import { InputError } from '../infra/core/index.ts';
import { etsSpec, mstlSpec } from './augurs.ts';
import { applyIntervals, outOfWindowCoverage, planOrigins, spreadOf, stepQuantiles } from './backtest.ts';
import { naiveSpec, seasonalNaiveSpec } from './baselines.ts';
import {
  dayOfInstant,
  DEFAULT_HORIZON,
  detectFrequency,
  formatDay,
  futureDays,
  isTradingDaySeries,
  parseDateText,
  seasonalPeriodFor,
} from './dates.ts';
import { parseNumber } from './csv.ts';
import { holtWintersSpec } from './holt-winters.ts';
import { mase, smape } from './metrics.ts';
import { gruSpec, lstmSpec } from './neural.ts';
import { regressionSpec } from './regression.ts';
import { weekExposure } from './exposure.ts';
import { fillMonthGaps } from './gaps.ts';
import { isSeasonal } from './seasonality.ts';
import { thetaSpec } from './theta.ts';
import {
  BENCHMARKS,
  DEFAULT_MODELS,
  MODEL_NAMES,
  type BacktestScore,
  type ForecastOptions,
  type ForecastResult,
  type Frequency,
  type ModelName,
  type ModelRunner,
  type ModelSpec,
  type SeriesContext,
  type SeriesPoint,
} from './types.ts';

const SPECS: Record<Exclude<ModelName, 'combo'>, ModelSpec> = {
  naive: naiveSpec,
  snaive: seasonalNaiveSpec,
  theta: thetaSpec,
  ets: etsSpec,
  mstl: mstlSpec,
  holt_winters: holtWintersSpec,
  regression: regressionSpec,
  lstm: lstmSpec,
  gru: gruSpec,
};

export const MAX_HORIZON = 366;
const DEFAULT_SEED = 42;
const DEFAULT_NEURAL_BUDGET_MS = 1000;
/** The combination averages this many candidates, the best by backtest MASE so far. */
export const COMBO_SIZE = 3;

function round(x: number, digits: number): number {
  const r = Number(x.toFixed(digits));
  return Object.is(r, -0) ? 0 : r;
}

/** Eight significant digits: enough for tonnes and yuan, no float noise in the JSON. */
function sig(x: number): number {
  const r = Number(x.toPrecision(8));
  return Object.is(r, -0) ? 0 : r;
}

export function resolveModels(names: readonly string[] | undefined): ModelName[] {
  if (names === undefined || names.length === 0) return [...DEFAULT_MODELS];
  const out: ModelName[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (!(MODEL_NAMES as readonly string[]).includes(name)) {
      throw new InputError(
        `未知模型 "${raw}"，可选: ${MODEL_NAMES.join(', ')} / unknown model "${raw}", choose from: ${MODEL_NAMES.join(', ')}`,
      );
    }
    if (!out.includes(name as ModelName)) out.push(name as ModelName);
  }
  // Both benchmarks are references of the selection rule, so they always run.
  for (const b of BENCHMARKS) if (!out.includes(b)) out.push(b);
  return MODEL_NAMES.filter((m) => out.includes(m));
}

/** Validates points (finite values, valid strictly increasing dates) and returns day numbers. */
function prepare(series: readonly SeriesPoint[]): { days: number[]; values: number[] } {
  const days: number[] = [];
  const values: number[] = [];
  series.forEach((p, i) => {
    const d =
      p.date instanceof Date
        ? Number.isFinite(p.date.getTime())
          ? dayOfInstant(p.date.getTime())
          : null
        : typeof p.date === 'string'
          ? parseDateText(p.date)
          : null;
    if (d === null)
      throw new InputError(
        `第 ${i + 1} 个点: 日期无效 "${String(p.date)}" / point ${i + 1}: invalid date "${String(p.date)}"`,
      );
    const v = typeof p.value === 'string' ? parseNumber(p.value) : p.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InputError(
        `第 ${i + 1} 个点: 数值无效 "${String(p.value)}" / point ${i + 1}: invalid value "${String(p.value)}"`,
      );
    }
    if (days.length > 0 && d <= days[days.length - 1]!) {
      const date = formatDay(d);
      throw d === days[days.length - 1]!
        ? new InputError(`第 ${i + 1} 个点: 日期重复 ${date} / point ${i + 1}: duplicate date ${date}`)
        : new InputError(
            `第 ${i + 1} 个点: 日期未按升序排列 ${date} / point ${i + 1}: dates not in ascending order (${date})`,
          );
    }
    days.push(d);
    values.push(v);
  });
  return { days, values };
}

export function resolveFrequency(days: readonly number[], requested: Frequency | undefined): Frequency {
  const { frequency, medianSpacingDays } = detectFrequency(days);
  if (requested !== undefined) {
    if (frequency !== null && frequency !== requested) {
      throw new InputError(
        `指定的频率 ${requested} 与数据不符（日期中位间隔 ${medianSpacingDays} 天，应为 ${frequency}） / frequency ${requested} does not match the data (median spacing ${medianSpacingDays} days suggests ${frequency})`,
      );
    }
    return requested;
  }
  if (frequency === null) {
    throw new InputError(
      `无法识别频率：日期中位间隔 ${medianSpacingDays} 天（支持日、周、月） / cannot detect frequency: median spacing ${medianSpacingDays} days (supported: day, week, month)`,
    );
  }
  return frequency;
}

/**
 * Seasonal period: the calendar's (see dates.ts), but a weekly series keeps 52 only when its recent
 * years show a clear annual pattern (seasonality.ts): prices quoted weekly have no annual season to copy.
 */
function choosePeriod(frequency: Frequency, values: readonly number[], tradingDays: boolean): number {
  const base = seasonalPeriodFor(frequency, values.length, tradingDays);
  if (frequency !== 'week' || base <= 1) return base;
  return isSeasonal(values, base) ? base : 1;
}

interface ModelRun {
  name: ModelName;
  runner: ModelRunner | null;
  score: BacktestScore;
  forecasts: number[][];
  spreads: number[][];
  /** MASE per origin (for the combination's running ranking). */
  mases: number[];
  members?: ModelName[];
}

function meanOf(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Critical value (one-sided 90%) of the test a candidate must pass against each benchmark: the mean
 * per-origin MASE difference plus this many standard errors must stay below 0. The standard error
 * counts the origins' test windows as only as many independent samples as non-overlapping windows
 * fit in their span. Why a test and not "lowest MASE": with seven candidates and a few independent
 * windows, one of them beats a random walk by 10–20% by luck alone (measured on simulated walks);
 * at 1.28 none of 12 simulated walks got a candidate that beat naive, while seasonal series kept theirs.
 */
export const EDGE_CRITICAL_VALUE = 1.28;
/**
 * And a candidate's MASE must be at least 5% below each benchmark's. The test alone lets through small,
 * steady gains on overlapping windows (a drift that held over the whole test span of a random walk, 3%);
 * a forecast that is not 5% better than "tomorrow equals today" is not worth a model's risk.
 */
export const MIN_GAIN = 0.05;

/**
 * Upper confidence bound of mean(candidate − benchmark) per-origin MASE, or the margin to the 5% gain when
 * that is larger; below 0 means clearly better.
 */
function clearEdge(candidate: readonly number[], bench: readonly number[], independent: number): number {
  const d = candidate.map((m, i) => m - bench[i]!);
  const mu = meanOf(d);
  const sd = d.length > 1 ? Math.sqrt(d.reduce((a, x) => a + (x - mu) ** 2, 0) / (d.length - 1)) : 0;
  const gap = meanOf(candidate) - (1 - MIN_GAIN) * meanOf(bench);
  return Math.max(mu + (EDGE_CRITICAL_VALUE * sd) / Math.sqrt(independent), gap);
}

/** Candidates ranked by mean MASE over their first `upto` (≥ 1) origins (ties keep catalogue order). */
function ranked(candidates: readonly ModelRun[], upto: number): ModelRun[] {
  return [...candidates].sort((a, b) => meanOf(a.mases.slice(0, upto)) - meanOf(b.mases.slice(0, upto)));
}

/**
 * Backtests the candidate models on one series, selects one and forecasts `horizon` steps.
 * Throws InputError for unusable input (bad points, too few points, unknown model names).
 */
export function selectAndForecast(
  series: readonly SeriesPoint[],
  opts: ForecastOptions = {},
): ForecastResult {
  let { days, values } = prepare(series);
  if (days.length < 3) {
    throw new InputError(
      `数据点太少：至少需要 3 个，实际 ${days.length} 个 / too few points: need at least 3, got ${days.length}`,
    );
  }
  const frequency = resolveFrequency(days, opts.frequency);
  // Missing months (e.g. January published with February) would shift every later seasonal position (gaps.ts).
  const filled = frequency === 'month' ? fillMonthGaps(days, values) : null;
  if (filled) ({ days, values } = filled);
  const tradingDays = frequency === 'day' && isTradingDaySeries(days);
  const horizon = opts.horizon ?? DEFAULT_HORIZON[frequency];
  if (!Number.isInteger(horizon) || horizon < 1 || horizon > MAX_HORIZON) {
    throw new InputError(
      `预测步数无效 "${horizon}"（1–${MAX_HORIZON}） / invalid horizon "${horizon}" (1–${MAX_HORIZON})`,
    );
  }
  const n = values.length;
  // Candidates see full-week equivalents of partial weeks (exposure.ts); the benchmarks keep their textbook definition on the raw values.
  const exposure = frequency === 'week' ? weekExposure(days, values) : null;
  const adjusted = exposure ? values.map((v, i) => v / exposure[i]!) : values;
  const plan = planOrigins(n, horizon, choosePeriod(frequency, adjusted, tradingDays), opts.origins);
  const ctx: SeriesContext = {
    frequency,
    tradingDays,
    period: plan.period,
    horizon,
    seed: opts.seed ?? DEFAULT_SEED,
    firstOrigin: plan.origins[0]!,
    fits: plan.origins.length + 1,
    neuralBudgetMs: opts.neuralBudgetMs ?? DEFAULT_NEURAL_BUDGET_MS,
  };
  const actuals = plan.origins.map((o) => values.slice(o, o + horizon));
  const floorAtZero = values.every((v) => v >= 0);
  const score = (name: ModelName, mases: number[], smapes: number[]): BacktestScore => ({
    model: name,
    mase: round(meanOf(mases), 4),
    smape: round(meanOf(smapes), 4),
    origins: plan.origins.length,
  });
  const failed = (name: ModelName, note: string): ModelRun => ({
    name,
    runner: null,
    forecasts: [],
    spreads: [],
    mases: [],
    score: { model: name, mase: null, smape: null, origins: 0, note },
  });

  const names = resolveModels(opts.models);
  const runs: ModelRun[] = names
    .filter((name): name is Exclude<ModelName, 'combo'> => name !== 'combo')
    .map((name) => {
      const created = SPECS[name].create(ctx, n);
      if ('skip' in created) return failed(name, created.skip);
      const forecasts: number[][] = [];
      const spreads: number[][] = [];
      const mases: number[] = [];
      const smapes: number[] = [];
      const exp = BENCHMARKS.includes(name) ? null : exposure;
      const input = exp ? adjusted : values;
      try {
        for (const [i, o] of plan.origins.entries()) {
          const train = values.slice(0, o);
          const raw = created.forecast({
            values: input.slice(0, o),
            days: days.slice(0, o),
            futureDays: days.slice(o, o + horizon),
          });
          if (raw.length !== horizon || raw.some((v) => !Number.isFinite(v)))
            throw new Error('invalid forecast output');
          const f = exp ? raw.map((v, j) => v * exp[o + j]!) : raw;
          const fc = floorAtZero ? f.map((v) => Math.max(0, v)) : f;
          forecasts.push(fc);
          const spread = spreadOf(input.slice(0, o), horizon, created.sd?.());
          spreads.push(exp ? spread.map((v, j) => v * exp[o + j]!) : spread);
          mases.push(mase(actuals[i]!, fc, train, plan.period));
          smapes.push(smape(actuals[i]!, fc));
        }
      } catch (err) {
        return failed(name, `failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      const run: ModelRun = {
        name,
        runner: created,
        forecasts,
        spreads,
        mases,
        score: score(name, mases, smapes),
      };
      const note = created.note?.();
      if (note !== undefined) run.score.note = note;
      return run;
    });

  const isCandidate = (r: ModelRun) => !BENCHMARKS.includes(r.name) && r.score.mase !== null;
  if (names.includes('combo')) {
    // At each origin the members are the best so far by MASE on the earlier origins only (all candidates
    // at the first origin), so the combination's score has no look-ahead.
    const pool = runs.filter(isCandidate);
    if (pool.length < 2) {
      runs.push(failed('combo', 'skipped: fewer than 2 candidates to combine (可组合的候选模型少于 2 个)'));
    } else {
      const forecasts: number[][] = [];
      const mases: number[] = [];
      const smapes: number[] = [];
      plan.origins.forEach((o, i) => {
        const members = i === 0 ? pool : ranked(pool, i).slice(0, COMBO_SIZE);
        const f = Array.from({ length: horizon }, (_, j) => meanOf(members.map((m) => m.forecasts[i]![j]!)));
        forecasts.push(f);
        mases.push(mase(actuals[i]!, f, values.slice(0, o), plan.period));
        smapes.push(smape(actuals[i]!, f));
      });
      const members = ranked(pool, plan.origins.length).slice(0, COMBO_SIZE);
      const spreads = plan.origins.map((o) => spreadOf(values.slice(0, o), horizon, undefined));
      const run: ModelRun = {
        name: 'combo',
        runner: null,
        forecasts,
        spreads,
        mases,
        score: score('combo', mases, smapes),
        members: members.map((m) => m.name),
      };
      run.score.note = `mean of the ${COMBO_SIZE} best so far by MASE; final: ${run.members!.join(', ')}`;
      runs.push(run);
    }
  }
  runs.sort((a, b) => MODEL_NAMES.indexOf(a.name) - MODEL_NAMES.indexOf(b.name));

  const naive = runs.find((r) => r.name === 'naive')!;
  const snaive = runs.find((r) => r.name === 'snaive')!;
  const span = plan.origins[plan.origins.length - 1]! - plan.origins[0]! + horizon;
  const independentWindows = Math.max(2, Math.min(plan.origins.length, span / horizon));
  // Seasonal naive is served over naive when it has the lower MASE by the same clear margin.
  const benchmark =
    snaive !== naive && clearEdge(snaive.mases, naive.mases, independentWindows) < 0 ? snaive : naive;
  let chosen = benchmark;
  for (const r of runs) {
    if (!isCandidate(r)) continue;
    const edge = Math.max(
      clearEdge(r.mases, naive.mases, independentWindows),
      clearEdge(r.mases, snaive.mases, independentWindows),
    );
    if (edge >= 0) {
      r.score.note = `${r.score.note ? `${r.score.note}; ` : ''}not clearly better than the benchmarks (未显著优于基准)`;
      continue;
    }
    // Clearly better than both benchmarks, then the lowest MASE (ties keep the earlier, simpler model).
    if (r.score.mase! < chosen.score.mase! || chosen === benchmark) chosen = r;
  }

  const future = futureDays(days[n - 1]!, frequency, horizon, tradingDays);
  const finalFit = (r: ModelRun): { mean: number[]; spread: number[] } => {
    if (r.name === 'combo') {
      const parts = r.members!.map((m) => finalFit(runs.find((x) => x.name === m)!).mean);
      return {
        mean: Array.from({ length: horizon }, (_, j) => meanOf(parts.map((p) => p[j]!))),
        spread: spreadOf(values, horizon, undefined),
      };
    }
    // Future weeks are full weeks, so full-week equivalents need no scaling back.
    const input = exposure && !BENCHMARKS.includes(r.name) ? adjusted : values;
    const f = r.runner!.forecast({ values: input, days, futureDays: future });
    if (f.length !== horizon || f.some((v) => !Number.isFinite(v)))
      throw new Error('invalid forecast output');
    return { mean: f, spread: spreadOf(input, horizon, r.runner!.sd?.()) };
  };
  let final: { mean: number[]; spread: number[] };
  try {
    final = finalFit(chosen);
  } catch (err) {
    // A benchmark cannot fail on data the backtest already ran on: fall back to it and say why.
    if (chosen === benchmark) throw err;
    chosen.score.note = `${chosen.score.note ? `${chosen.score.note}; ` : ''}final fit failed, fell back to ${benchmark.name}: ${(err as Error).message}`;
    chosen = benchmark;
    final = finalFit(chosen);
  }
  const z = chosen.forecasts.map((f, o) => f.map((v, j) => (actuals[o]![j]! - v) / chosen.spreads[o]![j]!));
  const intervals = applyIntervals(final.mean, stepQuantiles(z, horizon), floorAtZero, final.spread);
  const coverage = outOfWindowCoverage(plan.origins, chosen.forecasts, chosen.spreads, actuals, floorAtZero);

  const result: ForecastResult = {
    frequency,
    tradingDays,
    partialWeeksScaled: exposure !== null,
    model: chosen.name,
    selection: chosen === benchmark ? 'benchmark' : 'model',
    points: intervals.map((iv, j) => ({
      date: formatDay(future[j]!),
      value: sig(iv.value),
      lo80: sig(iv.lo80),
      hi80: sig(iv.hi80),
      lo95: sig(iv.lo95),
      hi95: sig(iv.hi95),
    })),
    backtest: runs.map((r) => r.score),
    coverage: { p80: round(coverage.p80, 4), p95: round(coverage.p95, 4), points: coverage.points },
    seasonalPeriod: plan.period,
    horizon,
    trainedFrom: formatDay(days[0]!),
    trainedTo: formatDay(days[n - 1]!),
  };
  if (chosen.members) result.members = chosen.members;
  if (filled) result.monthsFilled = { added: filled.added, split: filled.split };
  return result;
}
