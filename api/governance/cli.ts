/**
 * `coalflow compliance --month YYYY-MM [--format pdf,xlsx,html,json] [--out FILE|DIR] [--lang zh|en]` builds the
 * monthly usage and compliance report from the configured store and writes it; `coalflow sandbox query --file
 * q.json --key KEY [--url URL]` sends a sandbox query to a running API (so it is authorized, audited and metered
 * like any other call) and prints the answer. Exit codes: 0 ok, 2 bad input or usage, 1 unexpected error.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { CoalflowError, InputError } from '../../infra/core/index.ts';
import { localize } from '../reports/content.ts';
import { FORMATS, renderAll, type Format } from '../reports/render.ts';
import { complianceDoc, complianceFigures, type AuditVerifier } from './compliance.ts';

export interface GovernanceCliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Opens the configured runtime (the composition root's); the CLI closes it. */
  openRuntime(): Promise<{ db: pg.Pool; close(): Promise<void> }>;
  verifyAudit?: AuditVerifier;
  fetch?: typeof fetch;
}

export const COMPLIANCE_USAGE = `用法 / usage: coalflow compliance --month YYYY-MM [--format pdf,xlsx,html,json] [--out FILE|DIR] [--lang zh|en]
  一种格式时 --out 可为文件名；多种格式时为目录（默认 ./reports/）/ with one format --out may name the file; with several, a directory (default ./reports/)
`;
export const SANDBOX_USAGE = `用法 / usage: coalflow sandbox query --file q.json --key KEY [--url http://127.0.0.1:8080]
  q.json: {"measures":["tonnage","vwap"],"dimensions":["region","month"],"filters":{"coal_type":["动力煤"]},"range":{"from":"2026-10-01","to":"2026-10-31"}}
`;

async function guarded(io: GovernanceCliIo, run: () => Promise<void>): Promise<number> {
  try {
    await run();
    return 0;
  } catch (err) {
    if (err instanceof CoalflowError) {
      io.stderr.write(`✘ [${err.code}] ${err.message}\n`);
      return err.code === 'INPUT_INVALID' ? 2 : 1;
    }
    io.stderr.write(`✘ ${(err as Error)?.stack ?? err}\n`);
    return 1;
  }
}

function formatsOf(v: string | undefined): Format[] {
  if (!v) return ['pdf'];
  const list = v.split(',').map((s) => s.trim()) as Format[];
  const bad = list.filter((f) => !FORMATS.includes(f));
  if (bad.length || !list.length)
    throw new InputError(
      `--format 可选 ${FORMATS.join(',')}：${bad.join(',')} / --format must be among ${FORMATS.join(',')}`,
    );
  return [...new Set(list)];
}

export async function complianceCli(argv: readonly string[], io: GovernanceCliIo): Promise<number> {
  const args = argv[0] === 'compliance' ? argv.slice(1) : [...argv];
  return guarded(io, async () => {
    let v;
    try {
      v = parseArgs({
        args,
        options: {
          month: { type: 'string' },
          format: { type: 'string' },
          out: { type: 'string' },
          lang: { type: 'string' },
          help: { type: 'boolean' },
        },
      }).values;
    } catch (err) {
      throw new InputError(`${(err as Error).message}\n${COMPLIANCE_USAGE}`);
    }
    if (v.help) {
      io.stdout.write(COMPLIANCE_USAGE);
      return;
    }
    if (!v.month) throw new InputError(`缺少 --month / --month is required\n${COMPLIANCE_USAGE}`);
    if (v.lang !== undefined && v.lang !== 'zh' && v.lang !== 'en')
      throw new InputError('--lang 可选 zh|en / --lang must be zh or en');
    const lang = (v.lang ?? 'zh') as 'zh' | 'en';
    const formats = formatsOf(v.format);
    const rt = await io.openRuntime();
    try {
      const figures = await complianceFigures(rt.db, v.month, { verifyAudit: io.verifyAudit });
      const doc = localize(complianceDoc(figures), lang);
      const files = await renderAll(doc, formats);
      const single = formats.length === 1 && v.out && path.extname(v.out) !== '';
      const dir = path.resolve(single ? path.dirname(v.out!) : (v.out ?? 'reports'));
      await mkdir(dir, { recursive: true });
      for (const [format, bytes] of files) {
        const file = single
          ? path.resolve(v.out!)
          : path.join(dir, `coalflow-compliance-${v.month}${lang === 'en' ? '-en' : ''}.${format}`);
        await writeFile(file, format === 'json' ? Buffer.from(JSON.stringify({ ...doc, figures })) : bytes);
        io.stdout.write(`${file}\n`);
      }
    } finally {
      await rt.close().catch(() => undefined);
    }
  });
}

export async function sandboxCli(argv: readonly string[], io: GovernanceCliIo): Promise<number> {
  const args = argv[0] === 'sandbox' ? argv.slice(1) : [...argv];
  return guarded(io, async () => {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        options: {
          file: { type: 'string' },
          key: { type: 'string' },
          url: { type: 'string' },
          help: { type: 'boolean' },
        },
      });
    } catch (err) {
      throw new InputError(`${(err as Error).message}\n${SANDBOX_USAGE}`);
    }
    const v = parsed.values;
    if (v.help) {
      io.stdout.write(SANDBOX_USAGE);
      return;
    }
    if (parsed.positionals[0] !== 'query' || !v.file || !v.key)
      throw new InputError(
        `需要 query、--file 与 --key / query, --file and --key are required\n${SANDBOX_USAGE}`,
      );
    let body: unknown;
    try {
      body = JSON.parse(await readFile(v.file, 'utf8'));
    } catch (err) {
      throw new InputError(
        `无法读取查询文件 ${v.file}：${(err as Error).message} / cannot read the query file ${v.file}`,
      );
    }
    const url = `${(v.url ?? 'http://127.0.0.1:8080').replace(/\/$/, '')}/v1/sandbox/query`;
    const res = await (io.fetch ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${v.key}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        const p = JSON.parse(text) as { code?: string; message?: string };
        message = `[${p.code}] ${p.message}`;
      } catch {
        /* not problem+json */
      }
      throw new InputError(`HTTP ${res.status} ${message}`);
    }
    io.stdout.write(`${text}\n`);
  });
}
