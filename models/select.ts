/**
 * Selection and forecast for one series: train candidate models, score them by rolling-origin
 * backtest, pick the best by MASE (never one that fails to beat seasonal naive), and forecast
 * with empirical 80% / 95% intervals and their measured coverage.
 */
import { InputError } from '../infra/core/index.ts';
import { applyIntervals, leaveOneOriginOutCoverage, planOrigins, stepQuantiles } from './backtest.ts';
import { naiveSpec, seasonalNaiveSpec } from './baselines.ts';
import { dayOfInstant, DEFAULT_HORIZON, detectFrequency, formatDay, futureDays, parseDateText, seasonalPeriodFor } from './dates.ts';
import { parseNumber } from './csv.ts';
import { holtWintersSpec } from './holt-winters.ts';
import { mase, smape } from './metrics.ts';
import { gruSpec, lstmSpec } from './neural.ts';
import { regressionSpec } from './regression.ts';
import {
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

const SPECS: Record<ModelName, ModelSpec> = {
  naive: naiveSpec,
  snaive: seasonalNaiveSpec,
  holt_winters: holtWintersSpec,
  regression: regressionSpec,
  lstm: lstmSpec,
  gru: gruSpec,
};

export const MAX_HORIZON = 366;
const DEFAULT_SEED = 42;
const DEFAULT_NEURAL_BUDGET_MS = 1000;

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
  if (names === undefined || names.length === 0) return [...MODEL_NAMES];
  const out: ModelName[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (!(MODEL_NAMES as readonly string[]).includes(name)) {
      throw new InputError(`未知模型 "${raw}"，可选: ${MODEL_NAMES.join(', ')} / unknown model "${raw}", choose from: ${MODEL_NAMES.join(', ')}`);
    }
    if (!out.includes(name as ModelName)) out.push(name as ModelName);
  }
  // Seasonal naive is the reference of the selection rule, so it always runs.
  if (!out.includes('snaive')) out.push('snaive');
  return MODEL_NAMES.filter((m) => out.includes(m));
}

/** Validates points (finite values, valid strictly increasing dates) and returns day numbers. */
function prepare(series: readonly SeriesPoint[]): { days: number[]; values: number[] } {
  const days: number[] = [];
  const values: number[] = [];
  series.forEach((p, i) => {
    const d = p.date instanceof Date ? (Number.isFinite(p.date.getTime()) ? dayOfInstant(p.date.getTime()) : null) : typeof p.date === 'string' ? parseDateText(p.date) : null;
    if (d === null) throw new InputError(`第 ${i + 1} 个点: 日期无效 "${String(p.date)}" / point ${i + 1}: invalid date "${String(p.date)}"`);
    const v = typeof p.value === 'string' ? parseNumber(p.value) : p.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InputError(`第 ${i + 1} 个点: 数值无效 "${String(p.value)}" / point ${i + 1}: invalid value "${String(p.value)}"`);
    }
    if (days.length > 0 && d <= days[days.length - 1]!) {
      const date = formatDay(d);
      throw d === days[days.length - 1]!
        ? new InputError(`第 ${i + 1} 个点: 日期重复 ${date} / point ${i + 1}: duplicate date ${date}`)
        : new InputError(`第 ${i + 1} 个点: 日期未按升序排列 ${date} / point ${i + 1}: dates not in ascending order (${date})`);
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

interface ModelRun {
  name: ModelName;
  runner: ModelRunner | null;
  score: BacktestScore;
  forecasts: number[][];
}

/**
 * Backtests the candidate models on one series, selects one and forecasts `horizon` steps.
 * Throws InputError for unusable input (bad points, too few points, unknown model names).
 */
export function selectAndForecast(series: readonly SeriesPoint[], opts: ForecastOptions = {}): ForecastResult {
  const { days, values } = prepare(series);
  if (days.length < 3) {
    throw new InputError(`数据点太少：至少需要 3 个，实际 ${days.length} 个 / too few points: need at least 3, got ${days.length}`);
  }
  const frequency = resolveFrequency(days, opts.frequency);
  const horizon = opts.horizon ?? DEFAULT_HORIZON[frequency];
  if (!Number.isInteger(horizon) || horizon < 1 || horizon > MAX_HORIZON) {
    throw new InputError(`预测步数无效 "${horizon}"（1–${MAX_HORIZON}） / invalid horizon "${horizon}" (1–${MAX_HORIZON})`);
  }
  const n = values.length;
  const plan = planOrigins(n, horizon, seasonalPeriodFor(frequency, n), opts.origins);
  const ctx: SeriesContext = {
    frequency,
    period: plan.period,
    horizon,
    seed: opts.seed ?? DEFAULT_SEED,
    fits: plan.origins.length + 1,
    neuralBudgetMs: opts.neuralBudgetMs ?? DEFAULT_NEURAL_BUDGET_MS,
  };
  const actuals = plan.origins.map((o) => values.slice(o, o + horizon));
  const floorAtZero = values.every((v) => v >= 0);

  const runs: ModelRun[] = resolveModels(opts.models).map((name) => {
    const created = SPECS[name].create(ctx, n);
    if ('skip' in created) {
      return { name, runner: null, forecasts: [], score: { model: name, mase: null, smape: null, origins: 0, note: created.skip } };
    }
    const forecasts: number[][] = [];
    const mases: number[] = [];
    const smapes: number[] = [];
    try {
      for (const [i, o] of plan.origins.entries()) {
        const f = created.forecast({ values: values.slice(0, o), days: days.slice(0, o), futureDays: days.slice(o, o + horizon) });
        if (f.length !== horizon || f.some((v) => !Number.isFinite(v))) throw new Error('invalid forecast output');
        const fc = floorAtZero ? f.map((v) => Math.max(0, v)) : f;
        forecasts.push(fc);
        mases.push(mase(actuals[i]!, fc, values.slice(0, o), plan.period));
        smapes.push(smape(actuals[i]!, fc));
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return { name, runner: null, forecasts: [], score: { model: name, mase: null, smape: null, origins: 0, note: `failed: ${msg}` } };
    }
    const note = created.note?.();
    const score: BacktestScore = {
      model: name,
      mase: round(mases.reduce((a, b) => a + b, 0) / mases.length, 4),
      smape: round(smapes.reduce((a, b) => a + b, 0) / smapes.length, 4),
      origins: plan.origins.length,
    };
    if (note !== undefined) score.note = note;
    return { name, runner: created, forecasts, score };
  });

  const reference = runs.find((r) => r.name === 'snaive')!;
  let chosen = reference;
  for (const r of runs) {
    if (r.score.mase === null || r === reference) continue;
    // Strictly better than seasonal naive, then strictly better than the best so far (ties keep the earlier, simpler model).
    if (r.score.mase < reference.score.mase! && r.score.mase < chosen.score.mase!) chosen = r;
  }

  const future = futureDays(days[n - 1]!, frequency, horizon);
  const finalFit = (r: ModelRun): number[] => {
    const f = r.runner!.forecast({ values, days, futureDays: future });
    if (f.length !== horizon || f.some((v) => !Number.isFinite(v))) throw new Error('invalid forecast output');
    return f;
  };
  let point: number[];
  try {
    point = finalFit(chosen);
  } catch (err) {
    // Seasonal naive cannot fail on data the backtest already ran on: fall back to it and say why.
    if (chosen === reference) throw err;
    chosen.score.note = `${chosen.score.note ? `${chosen.score.note}; ` : ''}final fit failed, fell back to snaive: ${(err as Error).message}`;
    chosen = reference;
    point = finalFit(chosen);
  }
  const residuals = chosen.forecasts.map((f, o) => f.map((v, j) => actuals[o]![j]! - v));
  const intervals = applyIntervals(point, stepQuantiles(residuals, horizon), floorAtZero);
  const coverage = leaveOneOriginOutCoverage(chosen.forecasts, actuals, floorAtZero);

  return {
    frequency,
    model: chosen.name,
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
}
