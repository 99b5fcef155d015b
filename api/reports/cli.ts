/**
 * `coalflow report --period day|week|month|year --date D [--format pdf,xlsx,html,json] [--out DIR] [--lang zh|en]`
 * Builds the city report from the configured store (the embedded default without env), stores it as a new
 * version and writes its files; prints the paths. Exit codes: 0 ok, 2 bad input or usage, 1 unexpected error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { CoalflowError, InputError } from '../../infra/core/index.ts';
import { localize } from './content.ts';
import { parsePeriod } from './period.ts';
import { renderAll } from './render.ts';
import { formatsOf } from './routes.ts';
import { generateReport } from './store.ts';

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Opens the configured runtime (the composition root's); the CLI closes it. */
  openRuntime(): Promise<{ db: pg.Pool; close(): Promise<void> }>;
}

export const REPORT_USAGE = `用法 / usage: coalflow report --period day|week|month|year --date DATE [--format pdf,xlsx,html,json] [--out DIR] [--lang zh|en]
  --date  2026-10-05（日）、2026-W41（周）、2026-10（月）、2026（年） / a day, ISO week, month or year
`;

export async function reportCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = argv[0] === 'report' ? argv.slice(1) : [...argv];
  let rt: { close(): Promise<void> } | null = null;
  try {
    let v;
    try {
      v = parseArgs({
        args,
        options: {
          period: { type: 'string' },
          date: { type: 'string' },
          format: { type: 'string' },
          out: { type: 'string' },
          lang: { type: 'string' },
          help: { type: 'boolean' },
        },
      }).values;
    } catch (err) {
      throw new InputError(`${(err as Error).message}\n${REPORT_USAGE}`);
    }
    if (v.help) {
      io.stdout.write(REPORT_USAGE);
      return 0;
    }
    const period = parsePeriod(v.period, v.date);
    const formats = formatsOf(v.format);
    const lang =
      v.lang === undefined
        ? 'zh'
        : v.lang === 'en' || v.lang === 'zh'
          ? v.lang
          : (() => {
              throw new InputError('--lang 可选 zh|en / --lang must be zh or en');
            })();
    const runtime = await io.openRuntime();
    rt = runtime;
    const r = await generateReport(runtime.db, { period, audience: null, formats });
    const files = lang === 'zh' ? r.files : await renderAll(localize(r.doc, lang), formats);
    const dir = path.resolve(v.out ?? 'reports');
    await mkdir(dir, { recursive: true });
    for (const [format, bytes] of files) {
      const file = path.join(
        dir,
        `coalflow-${period.kind}-${period.key}-v${r.version}${lang === 'en' ? '-en' : ''}.${format}`,
      );
      await writeFile(file, bytes);
      io.stdout.write(`${file}\n`);
    }
    io.stderr.write(
      `报告 #${r.id} 第 ${r.version} 版${r.changes.length ? `，较上一版变化 ${r.changes.length} 项` : ''} / report #${r.id} version ${r.version}${r.changes.length ? `, ${r.changes.length} figures changed` : ''}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof CoalflowError) {
      io.stderr.write(`✘ [${err.code}] ${err.message}\n`);
      return err.code === 'INPUT_INVALID' ? 2 : 1;
    }
    io.stderr.write(`✘ ${(err as Error)?.stack ?? err}\n`);
    return 1;
  } finally {
    await rt?.close().catch(() => undefined);
  }
}
