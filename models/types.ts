/** Shared types of the forecasting module. */

export type Frequency = 'day' | 'week' | 'month';

export const MODEL_NAMES = [
  'naive',
  'snaive',
  'theta',
  'ets',
  'mstl',
  'holt_winters',
  'regression',
  'combo',
  'lstm',
  'gru',
] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
/** Candidates run when none are named: the networks are opt-in (they lost to the others on every real series). */
export const DEFAULT_MODELS: readonly ModelName[] = [
  'naive',
  'snaive',
  'theta',
  'ets',
  'mstl',
  'holt_winters',
  'regression',
  'combo',
];
/** The benchmarks every other candidate has to beat; both always run. */
export const BENCHMARKS: readonly ModelName[] = ['naive', 'snaive'];

/** One observation as read from a file or a database query. */
export interface SeriesPoint {
  /**
   * ISO date `YYYY-MM-DD` (or any form accepted by `parseDateText`), or a Date as `pg` returns for
   * timestamptz/date columns: read as its calendar date in China Standard Time (`dayOfInstant`).
   */
  date: string | Date;
  /** A number, or a numeric string as `pg` returns for `numeric` columns. */
  value: number | string;
}

/** A normalised observation: ISO date and number (what the CSV reader and the generators return). */
export interface Observation {
  date: string;
  value: number;
}

export interface ForecastPoint {
  date: string;
  value: number;
  lo80: number;
  hi80: number;
  lo95: number;
  hi95: number;
}

export interface BacktestScore {
  model: string;
  /** Mean over origins of MAE / in-sample seasonal-naive MAE; null when the model was skipped or failed. */
  mase: number | null;
  /** Symmetric MAPE in percent (0–200), mean over all backtest points; null when skipped or failed. */
  smape: number | null;
  /** Number of rolling origins the model was scored on. */
  origins: number;
  note?: string;
}

export interface Coverage {
  /** Fraction of backtest actuals inside the 80% interval built without their own origin (leave-one-origin-out). */
  p80: number;
  p95: number;
  /** Number of backtest points the coverage was measured on. */
  points: number;
}

export interface ForecastResult {
  frequency: Frequency;
  /** True when a day series is quoted on trading days only (no weekends): period 5, no weekend forecast dates. */
  tradingDays: boolean;
  /** True when a weekly flow's partial (year-end) weeks were modelled as full-week equivalents (exposure.ts). */
  partialWeeksScaled: boolean;
  model: ModelName;
  /**
   * `model`: a candidate beat both naive and seasonal naive on the backtest; `benchmark`: none did, and the
   * better of the two benchmarks is served.
   */
  selection: 'model' | 'benchmark';
  /**
   * Months missing from a monthly series that were filled before modelling (gaps.ts): `split` when the rows
   * after a hole were totals over the months they cover (January–February published together), else interpolated.
   */
  monthsFilled?: { added: number; split: boolean };
  /** Members of the combination when `model` is `combo`. */
  members?: ModelName[];
  points: ForecastPoint[];
  backtest: BacktestScore[];
  coverage: Coverage;
  /** Seasonal period used (1 = no seasonality). */
  seasonalPeriod: number;
  horizon: number;
  trainedFrom: string;
  trainedTo: string;
}

export interface ForecastOptions {
  /** Steps ahead; default day 28, week 13, month 12. */
  horizon?: number;
  /** Detected from the median date spacing when absent. */
  frequency?: Frequency;
  /** Candidate models; default all. `snaive` is always evaluated as the reference. */
  models?: readonly string[];
  /** Seed for the neural networks' weight initialisation. Default 42. */
  seed?: number;
  /** Rolling origins spread over the last 20% of the series (at least 2 are needed). Default 10. */
  origins?: number;
  /**
   * Estimated training-time budget per neural model (LSTM, GRU) for one series, all fits included, in ms.
   * Iterations and training windows are derived from it deterministically; a model that cannot get the
   * minimum within budget is skipped. Default 1000.
   */
  neuralBudgetMs?: number;
}

/** Internal: the training data one fit sees. Times are UTC day numbers (days since 1970-01-01). */
export interface TrainWindow {
  values: number[];
  days: number[];
  /** Day numbers of the forecast targets (length = horizon). */
  futureDays: number[];
}

export interface SeriesContext {
  frequency: Frequency;
  tradingDays: boolean;
  period: number;
  horizon: number;
  seed: number;
  /** Training length at the first backtest origin (the shortest window a fit sees). */
  firstOrigin: number;
  /** How many fits the runner will be asked for (backtest origins + final). */
  fits: number;
  neuralBudgetMs: number;
}

/** A model instance for one series; `forecast` is called on growing training windows, in time order. */
export interface ModelRunner {
  forecast(train: TrainWindow): number[];
  /**
   * Standard deviation of the model's own forecast distribution per step for the last `forecast` call,
   * when the model has one; intervals are then this shape scaled by the backtest (see backtest.ts).
   */
  sd?: () => number[] | undefined;
  /** Set by runners that want to annotate the backtest row (e.g. neural training details). */
  note?: () => string | undefined;
}

export interface ModelSpec {
  name: ModelName;
  /** Returns a runner or a reason to skip this model for the series. */
  create(ctx: SeriesContext, n: number): ModelRunner | { skip: string };
}
