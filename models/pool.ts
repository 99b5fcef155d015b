/**
 * Runs `selectAndForecast` for many series on worker threads: training is synchronous CPU work,
 * so threads are what lets a batch use every core and keeps the caller's event loop (API, broker
 * consumers) responsive. Jobs are handed out one at a time, so slow and fast series balance out.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { selectAndForecast } from './select.ts';
import type { ForecastOptions, ForecastResult, SeriesPoint } from './types.ts';

export interface ForecastJob {
  key: string;
  points: SeriesPoint[];
  opts?: ForecastOptions;
}

export type ForecastJobResult =
  | { key: string; ok: true; result: ForecastResult; ms: number }
  | { key: string; ok: false; code: string; message: string; ms: number };

export interface PoolOptions {
  /** Worker threads; 0 runs in the calling thread. Default: available parallelism. */
  workers?: number;
  /** Stops handing out jobs; jobs not started end as `ABORTED`. */
  signal?: AbortSignal;
  /** Called as each job finishes (in completion order). */
  onResult?: (r: ForecastJobResult) => void | Promise<void>;
}

export function runJob(job: ForecastJob): ForecastJobResult {
  const t0 = performance.now();
  try {
    const result = selectAndForecast(job.points, job.opts);
    return { key: job.key, ok: true, result, ms: performance.now() - t0 };
  } catch (err) {
    const code =
      typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'INTERNAL';
    return {
      key: job.key,
      ok: false,
      code,
      message: err instanceof Error ? err.message : String(err),
      ms: performance.now() - t0,
    };
  }
}

function aborted(job: ForecastJob): ForecastJobResult {
  return { key: job.key, ok: false, code: 'ABORTED', message: 'stopped before this series ran', ms: 0 };
}

// Worker threads do not inherit tsx's loader hooks, so the worker registers them before loading
// the (TypeScript) worker module.
const WORKER_SOURCE = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((m) => { m.register(); return import(${JSON.stringify(new URL('./forecast-worker.ts', import.meta.url).href)}); })`;

/** Results in job order. */
export async function runForecastJobs(
  jobs: readonly ForecastJob[],
  opts: PoolOptions = {},
): Promise<ForecastJobResult[]> {
  const results = new Array<ForecastJobResult>(jobs.length);
  const workers = Math.min(jobs.length, Math.max(0, opts.workers ?? os.availableParallelism()));
  if (workers === 0) {
    for (const [i, job] of jobs.entries()) {
      results[i] = opts.signal?.aborted ? aborted(job) : runJob(job);
      await opts.onResult?.(results[i]!);
      // Let I/O in between series.
      await new Promise((r) => setImmediate(r));
    }
    return results;
  }

  let next = 0;
  let pendingCallbacks: Promise<void> = Promise.resolve();
  const finish = (i: number, r: ForecastJobResult) => {
    results[i] = r;
    if (opts.onResult) pendingCallbacks = pendingCallbacks.then(() => opts.onResult!(r));
  };

  const lane = () =>
    new Promise<void>((resolve) => {
      let current = -1;
      let started = 0;
      let crashes = 0;
      let w: Worker;
      const spawn = () => {
        w = new Worker(WORKER_SOURCE, { eval: true });
        w.on('message', (r: ForecastJobResult) => {
          crashes = 0;
          finish(current, r);
          feed();
        });
        // A crashed worker fails only its current job and a fresh one takes the rest; a worker
        // that keeps crashing (e.g. cannot load) ends its lane.
        w.on('error', (err) => {
          if (current >= 0 && results[current] === undefined) {
            finish(current, {
              key: jobs[current]!.key,
              ok: false,
              code: 'WORKER_CRASHED',
              message: err.message,
              ms: performance.now() - started,
            });
          }
          if (++crashes >= 3) return resolve();
          spawn();
          feed();
        });
      };
      const feed = () => {
        if (next >= jobs.length || opts.signal?.aborted) {
          current = -1;
          void w.terminate().then(() => resolve());
          return;
        }
        current = next++;
        started = performance.now();
        w.postMessage(jobs[current]);
      };
      spawn();
      feed();
    });

  await Promise.all(Array.from({ length: workers }, lane));
  for (const [i, job] of jobs.entries()) {
    if (results[i] !== undefined) continue;
    finish(
      i,
      opts.signal?.aborted
        ? aborted(job)
        : {
            key: job.key,
            ok: false,
            code: 'WORKER_CRASHED',
            message: 'no worker left to run the job',
            ms: 0,
          },
    );
  }
  await pendingCallbacks;
  return results;
}
