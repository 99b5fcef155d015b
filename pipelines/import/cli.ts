/**
 * `coalflow import FILE --feed <feed> [--json]`: CSV (UTF-8 / GB18030) or XLSX
 * exports with the seed's Chinese headers, through the same ingest path as
 * every other source, with a progress bar and a summary of accepted,
 * rejected by reason and duplicates.
 *
 * Without any environment it runs on the embedded default (TimescaleDB in
 * `.data/pglite`, in-process broker): accepted records then also go to the
 * outbox table that `coalflow start` replays at boot.
 */
import { basename } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { CoalflowError, type Deps } from '../../infra/core/index.ts';
import { REASONS, type ReasonCode } from '../contracts/reasons.ts';
import { FEEDS, type FeedName } from '../contracts/types.ts';
import { ensureFeedTopics } from '../ingest/topics.ts';
import { ingestRecords, isFeed } from '../ingest/ingest.ts';
import { newRunId } from '../ingest/batch.ts';
import { readTable, type Encoding } from './read.ts';

export interface ImportSummary {
  accepted: number;
  duplicates: number;
  rejected: Record<string, number>;
  /** Line numbers of the file (header is line 1) of the rejected rows, per reason. */
  rejectedLines: Record<string, number[]>;
}

export interface ImportIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  /** Environment for the runtime (default process.env). */
  env?: Record<string, string | undefined>;
  /** A runtime to use instead of building one (tests); it is not closed. */
  runtime?: Runtime;
  /**
   * Builds the runtime when none is given (the composition root passes it: this folder does not
   * import the composition root). Logs must go to stderr: stdout carries only the summary.
   */
  openRuntime?: (env: Record<string, string | undefined>) => Promise<Runtime>;
}

/** What importing needs of a runtime: its deps and a way to release them. */
export type Runtime = Deps & { close(): Promise<void> };

export interface ImportOptions {
  encoding?: Encoding;
  sheet?: string;
  /** Records per ingest batch. Default 500. */
  batchSize?: number;
  onProgress?(done: number, total: number): void;
}

/** Imports one file into `feed` on a runtime. */
export async function importFile(
  deps: Deps,
  file: string,
  feed: FeedName,
  opts: ImportOptions = {},
): Promise<ImportSummary & { rows: number; encoding: string; format: string }> {
  const table = await readTable(file, feed, { encoding: opts.encoding, sheet: opts.sheet });
  await ensureFeedTopics(deps);
  // A fresh run id per import: importing the same file again counts its rows as duplicates.
  const runId = newRunId();
  const out = await ingestRecords(
    deps,
    feed,
    table.rows.map((r) => r.values),
    'file',
    {
      runId,
      refOf: (i) => `file:${runId}:${table.rows[i]!.line}`,
      chunkSize: opts.batchSize,
      onProgress: (done, total) => opts.onProgress?.(done, total),
    },
  );
  deps.log.info({ feed, file: basename(file), rows: table.rows.length, ...out.summary }, 'file imported');
  const rejectedLines: Record<string, number[]> = {};
  for (const r of out.results)
    if (r.status === 'rejected') (rejectedLines[r.reason!] ??= []).push(table.rows[r.index]!.line);
  return {
    ...out.summary,
    rejectedLines,
    rows: table.rows.length,
    encoding: table.encoding,
    format: table.format,
  };
}

function humanSummary(file: string, r: ImportSummary & { rows: number; encoding: string }): string {
  const lines = [
    `导入完成 / import finished: ${basename(file)} (${r.encoding}, ${r.rows} 行 rows)`,
    `  接收 accepted    ${r.accepted}`,
    `  重复 duplicates  ${r.duplicates}`,
    `  拒收 rejected    ${Object.values(r.rejected).reduce((a, b) => a + b, 0)}`,
  ];
  for (const [reason, n] of Object.entries(r.rejected).sort((a, b) => b[1] - a[1])) {
    const text = REASONS[reason as ReasonCode];
    lines.push(`    ${reason.padEnd(20)} ${String(n).padStart(6)}  ${text ? `${text[0]} / ${text[1]}` : ''}`);
    const at = r.rejectedLines[reason] ?? [];
    lines.push(
      `      行 lines ${at.slice(0, 20).join(', ')}${at.length > 20 ? ` …（另 ${at.length - 20} 行 / ${at.length - 20} more）` : ''}`,
    );
  }
  if (Object.keys(r.rejected).length)
    lines.push(
      '  拒收记录可用 GET /v1/rejects 查询，修正后 POST /v1/rejects/:id/replay 重放 / list rejects with GET /v1/rejects, replay fixed ones with POST /v1/rejects/:id/replay',
    );
  return `${lines.join('\n')}\n`;
}

/**
 * Entry of `coalflow import`. `argv` are the arguments after `import`.
 * Exit codes: 0 imported (rejects are outcomes, not failures), 1 failure, 2 usage,
 * or every row rejected (the file does not fit the feed: most often a wrong --feed).
 */
export async function importCli(argv: string[], io: ImportIo): Promise<number> {
  const cmd = new Command('coalflow import')
    .description('导入 CSV（UTF-8/GB18030）或 XLSX 导出文件 / import a CSV (UTF-8 or GB18030) or XLSX export')
    .argument('<file>', 'CSV or XLSX file with the source (Chinese or English) headers')
    .addOption(new Option('--feed <feed>', '数据源 / feed').choices([...FEEDS]).makeOptionMandatory())
    .option('--json', '以一个 JSON 对象输出汇总 / print the summary as one JSON object')
    .addOption(
      new Option('--encoding <enc>', 'CSV 编码 / CSV encoding')
        .choices(['auto', 'utf8', 'gb18030'])
        .default('auto'),
    )
    .option('--sheet <name>', 'XLSX 工作表 / worksheet (default: the first)')
    .addOption(new Option('--batch <n>', 'records per batch').argParser((v) => Number(v)).default(500))
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  let file: string;
  let o: { feed: string; json?: boolean; encoding: Encoding; sheet?: string; batch: number };
  try {
    cmd.parse(argv, { from: 'user' });
    file = cmd.args[0]!;
    o = cmd.opts();
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  if (!isFeed(o.feed) || !(o.batch > 0)) {
    io.stderr.write('✘ invalid --feed or --batch\n');
    return 2;
  }

  let rt: Runtime | undefined = io.runtime;
  const own = !rt;
  const bar = o.json
    ? null
    : new cliProgress.SingleBar(
        {
          stream: io.stderr as NodeJS.WritableStream,
          format: '导入 importing {bar} {percentage}% | {value}/{total} 行 rows',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
  try {
    if (!rt) {
      if (!io.openRuntime) throw new Error('importCli needs io.runtime or io.openRuntime');
      rt = await io.openRuntime(io.env ?? process.env);
    }
    let started = false;
    const result = await importFile(rt, file, o.feed, {
      encoding: o.encoding,
      sheet: o.sheet,
      batchSize: o.batch,
      onProgress: (done, total) => {
        if (!bar) return;
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
    });
    bar?.stop();
    const summary: ImportSummary = {
      accepted: result.accepted,
      duplicates: result.duplicates,
      rejected: result.rejected,
      rejectedLines: result.rejectedLines,
    };
    io.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : humanSummary(file, result));
    const rejected = Object.values(result.rejected).reduce((a, b) => a + b, 0);
    if (result.rows > 0 && rejected === result.rows) {
      const [top] = Object.entries(result.rejected).sort((a, b) => b[1] - a[1]);
      io.stderr.write(
        `✘ [INPUT_INVALID] 全部 ${result.rows} 行均被拒收（主要原因 ${top![0]}），文件与数据源 ${o.feed} 不符：--feed 是否正确？` +
          ` / all ${result.rows} rows rejected (mostly ${top![0]}): the file does not fit feed ${o.feed}; is --feed right?\n`,
      );
      return 2;
    }
    return 0;
  } catch (err) {
    bar?.stop();
    const msg = err instanceof CoalflowError ? `[${err.code}] ${err.message}` : (err as Error).message;
    io.stderr.write(`✘ ${msg}\n`);
    return err instanceof CoalflowError && err.code === 'INPUT_INVALID' ? 2 : 1;
  } finally {
    if (own && rt) await rt.close();
  }
}
