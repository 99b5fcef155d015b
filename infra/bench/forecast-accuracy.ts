/**
 * Forecast accuracy on the real public series: for each CSV in the real-series folder (default
 * `../shared/data/real-series/` beside the repository, or COALFLOW_REAL_SERIES_DIR), one
 * `selectAndForecast` with the CLI defaults; prints the README table (markdown: MASE and sMAPE of
 * every candidate and both benchmarks over the same origins, the chosen model, coverage) to stderr
 * and a JSON summary (with the mean MASE ratio chosen / naive) to stdout.
 *
 *   npm run bench -- forecast-accuracy        node --import tsx infra/bench/forecast-accuracy.ts [--models a,b]
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readSeriesCsv, selectAndForecast, type ForecastResult } from '../../models/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const REAL_DIR = process.env.COALFLOW_REAL_SERIES_DIR ?? resolve(ROOT, '../shared/data/real-series');

function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined ? '—' : x.toFixed(digits);
}

export interface AccuracyRow {
  series: string;
  points: number;
  result: ForecastResult;
  ms: number;
}

export function accuracyTable(rows: readonly AccuracyRow[]): string {
  const models = [...new Set(rows.flatMap((r) => r.result.backtest.map((b) => b.model)))];
  const lines: string[] = [];
  lines.push(
    `| series | n, h, period, origins | ${models.join(' | ')} | chosen | chosen / naive MASE | coverage p80 / p95 (points) |`,
  );
  lines.push(`|---|---|${models.map(() => '---').join('|')}|---|---|---|`);
  for (const { series, points, result: r } of rows) {
    const cell = (m: string) => {
      const b = r.backtest.find((x) => x.model === m);
      if (!b || b.mase === null) return '—';
      const s = `${fmt(b.mase)} / ${fmt(b.smape, 1)}`;
      return m === r.model ? `**${s}**` : s;
    };
    const naive = r.backtest.find((b) => b.model === 'naive')!.mase!;
    const chosen = r.backtest.find((b) => b.model === r.model)!.mase!;
    const origins = r.backtest.find((b) => b.model === 'naive')!.origins;
    const label =
      r.selection === 'benchmark'
        ? `${r.model} (benchmark)`
        : r.members
          ? `combo (${r.members.join(', ')})`
          : r.model;
    lines.push(
      `| ${series} | ${points}, ${r.horizon}, ${r.seasonalPeriod}, ${origins} | ${models.map(cell).join(' | ')} | ${label} | ${fmt(chosen / naive)} | ${fmt(r.coverage.p80, 2)} / ${fmt(r.coverage.p95, 2)} (${r.coverage.points}) |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { models: { type: 'string' } } });
  if (!existsSync(REAL_DIR)) {
    console.error(`real series folder not found: ${REAL_DIR}`);
    console.log(JSON.stringify({ bench: 'forecast-accuracy', skipped: `no ${REAL_DIR}` }));
    return;
  }
  const models = args.models?.split(',');
  const rows: AccuracyRow[] = [];
  for (const f of readdirSync(REAL_DIR)
    .filter((x) => x.endsWith('.csv'))
    .sort()) {
    const csv = await readSeriesCsv(join(REAL_DIR, f));
    const t0 = performance.now();
    const result = selectAndForecast(csv.points, { models });
    rows.push({
      series: f.replace(/\.csv$/, ''),
      points: csv.points.length,
      result,
      ms: Math.round(performance.now() - t0),
    });
  }
  console.error(accuracyTable(rows));
  const ratios = rows.map(
    ({ result: r }) =>
      r.backtest.find((b) => b.model === r.model)!.mase! / r.backtest.find((b) => b.model === 'naive')!.mase!,
  );
  const summary = {
    bench: 'forecast-accuracy',
    series: rows.map((r) => ({
      series: r.series,
      chosen: r.result.model,
      selection: r.result.selection,
      members: r.result.members,
      ratioToNaive: Number(
        (
          r.result.backtest.find((b) => b.model === r.result.model)!.mase! /
          r.result.backtest.find((b) => b.model === 'naive')!.mase!
        ).toFixed(4),
      ),
      coverage: r.result.coverage,
      ms: r.ms,
    })),
    meanRatioToNaive: Number((ratios.reduce((a, b) => a + b, 0) / Math.max(1, ratios.length)).toFixed(4)),
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(summary, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
