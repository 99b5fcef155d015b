/**
 * Forecast bench: train + backtest + forecast for 200 synthetic series (80 daily volumes with
 * weekday pattern, trend, Spring Festival dip and heating uplift; 60 weekly prices; 60 monthly
 * production series) plus the real series in /work/shared/data/real-series, through the same
 * worker-thread pool the scheduler uses (one thread per core) and the scheduler's default neural
 * budget; a catalogue-sized retrain on a year of data (the shapes and counts the catalogue forms
 * from a year of simulator indicators); then one 300-point monthly forecast with every default
 * candidate through the CLI function, in-process and as a fresh `coalflow forecast` process
 * (start-up included; wall and CPU time, since the machine is shared). Prints a JSON summary.
 *
 *   node --import tsx infra/bench/forecast.ts [--workers N] [--neural-budget-ms 200] [--models a,b]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { quantile } from 'simple-statistics';
import {
  BATCH_NEURAL_BUDGET_MS,
  forecastCli,
  readSeriesCsv,
  runForecastJobs,
  type ForecastJob,
} from '../../models/index.ts';
import { dailyVolume, monthlyProduction, weeklyPrice } from '../../models/synthetic.ts';

const REAL_DIR =
  process.env.COALFLOW_REAL_SERIES_DIR ??
  new URL('../../../shared/data/real-series', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;

async function syntheticJobs(): Promise<ForecastJob[]> {
  const jobs: ForecastJob[] = [];
  for (let i = 0; i < 80; i++) {
    jobs.push({
      key: `synthetic.daily.${i}`,
      points: dailyVolume({
        seed: 1000 + i,
        days: 730,
        start: '2023-06-01',
        level: 8000 + 100 * i,
        trendPerDay: (i % 5) - 1,
        calendar: true,
      }),
    });
  }
  for (let i = 0; i < 60; i++)
    jobs.push({
      key: `synthetic.weekly.${i}`,
      points: weeklyPrice({ seed: 2000 + i, weeks: 260, level: 600 + 5 * i }),
    });
  for (let i = 0; i < 60; i++)
    jobs.push({
      key: `synthetic.monthly.${i}`,
      points: monthlyProduction({ seed: 3000 + i, months: 120, level: 3000 + 50 * i }),
    });
  return jobs;
}

/**
 * A year of the catalogue (models/catalog.ts) on the simulator's entities: daily sales volume and value
 * (city, 9 banners, 3 coal types), daily price (city, 3 coal types, 3 bands), rail (city, 6 routes),
 * ports (8), coal users (city, 3 sectors): 52 daily series of 365 days with h 28; weekly price on the
 * same 7 keys (52 weeks, h 13); monthly production (city, 9 banners; 12 months, h 3).
 */
function catalogueYearJobs(): ForecastJob[] {
  const jobs: ForecastJob[] = [];
  for (let i = 0; i < 52; i++) {
    jobs.push({
      key: `catalogue.daily.${i}`,
      points: dailyVolume({
        seed: 5000 + i,
        days: 365,
        start: '2025-01-01',
        level: 5000 + 300 * i,
        trendPerDay: (i % 3) - 1,
        calendar: true,
      }),
      opts: { frequency: 'day', horizon: 28 },
    });
  }
  for (let i = 0; i < 7; i++)
    jobs.push({
      key: `catalogue.weekly.${i}`,
      points: weeklyPrice({ seed: 6000 + i, weeks: 52, level: 600 + 10 * i }),
      opts: { frequency: 'week', horizon: 13 },
    });
  for (let i = 0; i < 10; i++)
    jobs.push({
      key: `catalogue.monthly.${i}`,
      points: monthlyProduction({ seed: 7000 + i, months: 12, level: 3000 + 100 * i }),
      opts: { frequency: 'month', horizon: 3 },
    });
  return jobs;
}

async function realJobs(): Promise<ForecastJob[]> {
  if (!existsSync(REAL_DIR)) return [];
  const files = readdirSync(REAL_DIR)
    .filter((f) => f.endsWith('.csv'))
    .sort();
  return Promise.all(
    files.map(async (f) => ({
      key: `real.${f.replace(/\.csv$/, '')}`,
      points: (await readSeriesCsv(join(REAL_DIR, f))).points,
    })),
  );
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      workers: { type: 'string' },
      'neural-budget-ms': { type: 'string' },
      models: { type: 'string' },
    },
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
  const neuralRows = okResults.flatMap((r) =>
    r.backtest.filter((b) => b.model === 'lstm' || b.model === 'gru'),
  );

  const catalogue = catalogueYearJobs();
  const k0 = performance.now();
  const catalogueResults = await runForecastJobs(catalogue, { workers });
  const catalogueSeconds = Number(((performance.now() - k0) / 1000).toFixed(2));
  const catalogueFailed = catalogueResults
    .filter((r) => !r.ok)
    .map((r) => (r.ok ? '' : `${r.key}: ${r.message}`));

  // One CLI forecast with the CLI defaults on a 300-point monthly series (the last 300 Newcastle prices).
  const realMonthly = join(REAL_DIR, 'worldbank_coal_australia_newcastle_monthly.csv');
  const tmp = mkdtempSync(join(os.tmpdir(), 'coalflow-bench-'));
  const cliFile = join(tmp, 'monthly300.csv');
  const monthlyPoints = existsSync(realMonthly)
    ? (await readSeriesCsv(realMonthly)).points.slice(-300)
    : monthlyProduction({ seed: 1, months: 300 });
  writeFileSync(
    cliFile,
    ['date,value', ...monthlyPoints.map((p) => `${String(p.date).slice(0, 7)},${p.value}`)].join('\n'),
  );
  const sink = { write: () => true };
  const c0 = performance.now();
  const code = await forecastCli(['forecast', '--input', cliFile], { stdout: sink, stderr: sink });
  const cliMs = Math.round(performance.now() - c0);
  if (code !== 0) throw new Error(`CLI forecast failed with exit code ${code}`);
  // As a user runs it (`npx coalflow forecast`: infra/bin/coalflow.mjs), wall and CPU time of the process.
  const cliProcess: { wallMs: number; cpuMs: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const p0 = performance.now();
    const run = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        'cpu %U %S',
        process.execPath,
        join(ROOT, 'infra/bin/coalflow.mjs'),
        'forecast',
        '--input',
        cliFile,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    if (run.status !== 0) throw new Error(`coalflow forecast exited ${run.status}: ${run.stderr}`);
    const out = run.stderr.toString();
    const m = /cpu ([\d.]+) ([\d.]+)/.exec(out);
    cliProcess.push({
      wallMs: Math.round(performance.now() - p0),
      cpuMs: m ? Math.round(1000 * (Number(m[1]) + Number(m[2]))) : -1,
    });
  }
  rmSync(tmp, { recursive: true, force: true });
  const cliProcessMs = Math.min(...cliProcess.map((c) => c.wallMs));
  const cliProcessCpuMs = Math.min(...cliProcess.map((c) => c.cpuMs));

  const summary = {
    bench: 'forecast',
    series: results.length,
    synthetic: jobs.filter((j) => j.key.startsWith('synthetic.')).length,
    real: jobs.filter((j) => j.key.startsWith('real.')).length,
    failed: results.flatMap((r) => (r.ok ? [] : [{ key: r.key, code: r.code, message: r.message }])),
    models: models ?? 'all',
    neuralBudgetMsPerModel: neuralBudgetMs,
    neuralRows: {
      scored: neuralRows.filter((b) => b.mase !== null).length,
      skipped: neuralRows.filter((b) => b.mase === null).length,
    },
    neuralPlanExample: neuralRows.find((b) => b.mase !== null)?.note ?? null,
    workers,
    totalSeconds: Number(totalSeconds.toFixed(2)),
    // Sum of per-series times inside the workers: roughly the single-core cost.
    seriesSecondsSum: Number((ms.reduce((a, b) => a + b, 0) / 1000).toFixed(2)),
    perSeriesMs: {
      p50: Math.round(quantile(ms, 0.5)),
      p95: Math.round(quantile(ms, 0.95)),
      max: Math.round(Math.max(...ms)),
    },
    chosenModels: chosen,
    meanCoverage: {
      p80: Number(mean(okResults.map((r) => r.coverage.p80)).toFixed(3)),
      p95: Number(mean(okResults.map((r) => r.coverage.p95)).toFixed(3)),
    },
    catalogueYear: { series: catalogue.length, seconds: catalogueSeconds, failed: catalogueFailed },
    cli300MonthlyMs: cliMs,
    cliProcessMs,
    cliProcessCpuMs,
    cliProcessRuns: cliProcess,
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(1))),
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${cores} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(summary, null, 2));
}

await main();
