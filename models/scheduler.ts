/**
 * Periodic retraining: load each series, select and forecast, store a new model version.
 *
 * Training is synchronous CPU work (0.02–1.5 s a series, see the bench), so it runs on worker
 * threads (models/pool.ts): the run uses every core and the caller's event loop stays free.
 */
import type pg from 'pg';
import type { Logger } from '../infra/core/index.ts';
import { runForecastJobs, type ForecastJob } from './pool.ts';
import { saveForecast } from './store.ts';
import type { Frequency, SeriesPoint } from './types.ts';

export interface SeriesSource {
  /** Stable key, e.g. `sales.volume.daily:region=东胜区`. */
  key: string;
  /** Human-readable name (Chinese), stored with each version. */
  label: string;
  /** Detected from the dates when absent. */
  frequency?: Frequency;
  /** Steps ahead; default by frequency (day 28, week 13, month 12). */
  horizon?: number;
  /** Candidate models; default all. */
  models?: string[];
  /** Neural training budget per model for this series (ms); default `RetrainOptions.neuralBudgetMs`. */
  neuralBudgetMs?: number;
  load(): Promise<SeriesPoint[]>;
}

export interface SchedulerDeps {
  db: pg.Pool;
  log: Logger;
}

export interface RetrainOptions {
  seed?: number;
  /**
   * Neural training budget per model per series in batch runs, ms. Default 200: with the
   * single-series default of 1000 ms, 200 series would spend ~7 CPU-minutes in brain.js.
   */
  neuralBudgetMs?: number;
  /** Worker threads for the training; 0 trains in the calling thread. Default: available parallelism. */
  workers?: number;
  /** Stops after the series in progress. */
  signal?: AbortSignal;
}

export interface RetrainSummary {
  ok: { key: string; model: string; mase: number | null; version: number; ms: number }[];
  failed: { key: string; code: string; message: string }[];
  ms: number;
}

export const BATCH_NEURAL_BUDGET_MS = 200;

/** Adapts a loader `(seriesKey) => points` (e.g. SQL over a continuous aggregate) to SeriesSources. */
export function seriesSourcesFrom(
  defs: readonly Omit<SeriesSource, 'load'>[],
  loader: (seriesKey: string) => Promise<SeriesPoint[]>,
): SeriesSource[] {
  return defs.map((d) => ({ ...d, load: () => loader(d.key) }));
}

/**
 * Retrains every source: loads the series, forecasts them on worker threads, stores each result
 * as it arrives. A series that fails to load, forecast or save is logged and reported; the others
 * carry on.
 */
export async function retrainAll(
  deps: SchedulerDeps,
  sources: readonly SeriesSource[],
  opts: RetrainOptions = {},
): Promise<RetrainSummary> {
  const log = deps.log.child({ component: 'forecast-scheduler' });
  const started = performance.now();
  const summary: RetrainSummary = { ok: [], failed: [], ms: 0 };
  const fail = (key: string, err: unknown) => {
    const code =
      typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    summary.failed.push({ key, code, message });
    log.warn({ seriesKey: key, code, err: message }, 'forecast retrain failed');
  };

  const jobs: ForecastJob[] = [];
  const byKey = new Map<string, SeriesSource>();
  for (const src of sources) {
    if (opts.signal?.aborted) break;
    try {
      const points = await src.load();
      jobs.push({
        key: src.key,
        points,
        opts: {
          frequency: src.frequency,
          horizon: src.horizon,
          models: src.models,
          seed: opts.seed,
          neuralBudgetMs: src.neuralBudgetMs ?? opts.neuralBudgetMs ?? BATCH_NEURAL_BUDGET_MS,
        },
      });
      byKey.set(src.key, src);
    } catch (err) {
      fail(src.key, err);
    }
  }

  await runForecastJobs(jobs, {
    workers: opts.workers,
    signal: opts.signal,
    onResult: async (r) => {
      if (!r.ok) return fail(r.key, Object.assign(new Error(r.message), { code: r.code }));
      try {
        const result = r.result;
        const saved = await saveForecast(deps.db, r.key, result, { label: byKey.get(r.key)?.label });
        const mase = result.backtest.find((b) => b.model === result.model)?.mase ?? null;
        const ms = Math.round(r.ms);
        summary.ok.push({ key: r.key, model: result.model, mase, version: saved.version, ms });
        log.info(
          {
            seriesKey: r.key,
            model: result.model,
            mase,
            version: saved.version,
            coverage: result.coverage,
            ms,
          },
          'forecast retrained',
        );
      } catch (err) {
        fail(r.key, err);
      }
    },
  });
  summary.ms = Math.round(performance.now() - started);
  log.info(
    { ok: summary.ok.length, failed: summary.failed.length, ms: summary.ms },
    'forecast retrain run finished',
  );
  return summary;
}

export interface ScheduleOptions extends RetrainOptions {
  /** Time between the end of one run and the start of the next, ms. */
  intervalMs: number;
  deps: SchedulerDeps;
  /** The series, or a function listing them anew for each run. */
  sources: readonly SeriesSource[] | (() => Promise<readonly SeriesSource[]>);
  /** Run once right away (default true) instead of waiting a first interval. */
  runOnStart?: boolean;
}

export interface Schedule {
  /** Starts a run now, or joins the one in progress (runs never overlap); null once stopped or if the run failed. */
  runNow(): Promise<RetrainSummary | null>;
  /** Cancels the timer and waits for a run in progress to finish its current series. Safe to call twice. */
  stop(): Promise<void>;
}

export function startSchedule(opts: ScheduleOptions): Schedule {
  if (!Number.isFinite(opts.intervalMs) || opts.intervalMs < 1000) {
    throw new RangeError(`intervalMs must be at least 1000, got ${opts.intervalMs}`);
  }
  const abort = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<RetrainSummary | null> | null = null;
  let stopped = false;

  const runOnce = async (): Promise<RetrainSummary | null> => {
    try {
      const sources = typeof opts.sources === 'function' ? await opts.sources() : opts.sources;
      return await retrainAll(opts.deps, sources, { ...opts, signal: abort.signal });
    } catch (err) {
      opts.deps.log.error(
        { component: 'forecast-scheduler', err: (err as Error).message },
        'forecast run failed',
      );
      return null;
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void runNow(), opts.intervalMs);
    // A pending retrain must not keep the process alive on shutdown.
    timer.unref();
  };

  function runNow(): Promise<RetrainSummary | null> {
    if (stopped) return Promise.resolve(null);
    if (running) return running;
    if (timer) clearTimeout(timer);
    running = runOnce().finally(() => {
      running = null;
      schedule();
    });
    return running;
  }

  if (opts.runOnStart ?? true) void runNow();
  else schedule();

  let stopping: Promise<void> | null = null;
  return {
    runNow,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        abort.abort();
        if (timer) clearTimeout(timer);
        await running;
      })();
      return stopping;
    },
  };
}
