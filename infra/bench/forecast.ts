/**
 * Forecast bench: train + backtest + forecast for 200 synthetic series (80 daily volumes with
 * weekday pattern, trend, Spring Festival dip and heating uplift; 60 weekly prices; 60 monthly
 * production series) plus the real series in /work/shared/data/real-series, through the same
 * worker-thread pool the scheduler uses (one thread per core) and the scheduler's default neural
 * budget; then one forecast through the CLI function with CLI defaults, in-process and as a
 * fresh process. Prints a JSON summary.
 *
 *   node --import tsx infra/bench/forecast.ts [--workers N] [--neural-budget-ms 200] [--models a,b]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { quantile } from 'simple-statistics';
import { BATCH_NEURAL_BUDGET_MS, forecastCli, readSeriesCsv, runForecastJobs, type ForecastJob } from '../../models/index.ts';
import { dailyVolume, monthlyProduction, weeklyPrice } from '../../models/synthetic.ts';

const REAL_DIR = process.env.COALFLOW_REAL_SERIES_DIR ?? '/work/shared/data/real-series';
const ROOT = new URL('../../', import.meta.url).pathname;

async function syntheticJobs(): Promise<ForecastJob[]> {
  const jobs: ForecastJob[] = [];
  for (let i = 0; i < 80; i++) {
    jobs.push({
      key: `synthetic.daily.${i}`,
      points: dailyVolume({ seed: 1000 + i, days: 730, start: '2023-06-01', level: 8000 + 100 * i, trendPerDay: (i % 5) - 1, calendar: true }),
    });
  }
  for (let i = 0; i < 60; i++) jobs.push({ key: `synthetic.weekly.${i}`, points: weeklyPrice({ seed: 2000 + i, weeks: 260, level: 600 + 5 * i }) });
  for (let i = 0; i < 60; i++) jobs.push({ key: `synthetic.monthly.${i}`, points: monthlyProduction({ seed: 3000 + i, months: 120, level: 3000 + 50 * i }) });
  return jobs;
}

async function realJobs(): Promise<ForecastJob[]> {
  if (!existsSync(REAL_DIR)) return [];
  const files = readdirSync(REAL_DIR).filter((f) => f.endsWith('.csv')).sort();
  return Promise.all(files.map(async (f) => ({ key: `real.${f.replace(/\.csv$/, '')}`, points: (await readSeriesCsv(join(REAL_DIR, f))).points })));
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: { workers: { type: 'string' }, 'neural-budget-ms': { type: 'string' }, models: { type: 'string' } },
  });
  const cores = os.cpus().length;
  const workers = Number(args.workers ?? cores);
  const neuralBudgetMs = Number(args['neural-budget-ms'] ?? BATCH_NEURAL_BUDGET_MS);
  const models = args.models?.split(',');

  const jobs = [...(await syntheticJobs()), ...(await realJobs())];
  for (const j of jobs) j.opts = { models, neuralBudgetMs };
  const t0 = performance.now();
  const results = await runForecastJobs(jobs, { workers });
  const totalSeconds = (performance.now() - t0) / 1000;
  const ms = results.map((r) => r.ms);
  const okResults = results.flatMap((r) => (r.ok ? [r.result] : []));
  const chosen: Record<string, number> = {};
  for (const r of okResults) chosen[r.model] = (chosen[r.model] ?? 0) + 1;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const neuralRows = okResults.flatMap((r) => r.backtest.filter((b) => b.model === 'lstm' || b.model === 'gru'));

  // One CLI forecast with the CLI defaults (all models, neural budget 1000 ms per model).
  const cliFile = join(REAL_DIR, 'worldbank_coal_australia_newcastle_monthly.csv');
  let cliMs: number | null = null;
  let cliProcessMs: number | null = null;
  if (existsSync(cliFile)) {
    const sink = { write: () => true };
    const c0 = performance.now();
    const code = await forecastCli(['forecast', '--input', cliFile, '--horizon', '12'], { stdout: sink, stderr: sink });
    cliMs = Math.round(performance.now() - c0);
    if (code !== 0) throw new Error(`CLI forecast failed with exit code ${code}`);
    const p0 = performance.now();
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'models/bin-forecast.ts'), '--input', cliFile, '--horizon', '12'], { cwd: ROOT, stdio: 'ignore' });
    cliProcessMs = Math.round(performance.now() - p0);
  }

  const summary = {
    bench: 'forecast',
    series: results.length,
    synthetic: jobs.filter((j) => j.key.startsWith('synthetic.')).length,
    real: jobs.filter((j) => j.key.startsWith('real.')).length,
    failed: results.flatMap((r) => (r.ok ? [] : [{ key: r.key, code: r.code, message: r.message }])),
    models: models ?? 'all',
    neuralBudgetMsPerModel: neuralBudgetMs,
    neuralRows: { scored: neuralRows.filter((b) => b.mase !== null).length, skipped: neuralRows.filter((b) => b.mase === null).length },
    neuralPlanExample: neuralRows.find((b) => b.mase !== null)?.note ?? null,
    workers,
    totalSeconds: Number(totalSeconds.toFixed(2)),
    // Sum of per-series times inside the workers: roughly the single-core cost.
    seriesSecondsSum: Number((ms.reduce((a, b) => a + b, 0) / 1000).toFixed(2)),
    perSeriesMs: { p50: Math.round(quantile(ms, 0.5)), p95: Math.round(quantile(ms, 0.95)), max: Math.round(Math.max(...ms)) },
    chosenModels: chosen,
    meanCoverage: {
      p80: Number(mean(okResults.map((r) => r.coverage.p80)).toFixed(3)),
      p95: Number(mean(okResults.map((r) => r.coverage.p95)).toFixed(3)),
    },
    cliMs,
    cliProcessMs,
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${cores} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(summary, null, 2));
}

await main();
