/**
 * Reads CSV (UTF-8 or GB18030) and XLSX exports into rows keyed by their
 * header, with the source line number of each row.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import iconv from 'iconv-lite';
import { parse } from 'csv-parse/sync';
import { InputError } from '../../infra/core/index.ts';
import { fieldOfKey } from '../contracts/aliases.ts';
import type { FeedName } from '../contracts/types.ts';

export type Encoding = 'auto' | 'utf8' | 'gb18030';

export interface TableRow {
  /** 1-based line (CSV) or row number (XLSX) in the file. */
  line: number;
  values: Record<string, unknown>;
}

export interface Table {
  format: 'csv' | 'xlsx';
  encoding: 'utf8' | 'gb18030' | 'xlsx';
  headers: string[];
  rows: TableRow[];
}

/**
 * UTF-8 when the bytes are valid UTF-8 (BOM stripped), else GB18030 (a superset
 * of GBK/GB2312, what Chinese Excel saves as "CSV").
 */
export function decodeText(
  buf: Buffer,
  encoding: Encoding = 'auto',
): { text: string; encoding: 'utf8' | 'gb18030' } {
  const strip = (s: string) => s.replace(/^\uFEFF/, '');
  if (encoding === 'gb18030') return { text: strip(iconv.decode(buf, 'gb18030')), encoding: 'gb18030' };
  try {
    return { text: strip(new TextDecoder('utf-8', { fatal: true }).decode(buf)), encoding: 'utf8' };
  } catch {
    if (encoding === 'utf8')
      throw new InputError('文件不是有效的 UTF-8 / the file is not valid UTF-8 (try --encoding gb18030)');
    return { text: strip(iconv.decode(buf, 'gb18030')), encoding: 'gb18030' };
  }
}

/** Some exports put a title line above the header: take the first of the first 10 rows naming two known fields. */
function headerIndex(rows: unknown[][], feed: FeedName): number {
  for (let i = 0; i < Math.min(10, rows.length); i++) {
    const known = rows[i]!.filter(
      (c) => typeof c === 'string' && c.trim() && fieldOfKey(feed, c) !== undefined,
    ).length;
    if (known >= 2) return i;
  }
  return 0;
}

function toRows(
  matrix: { cells: unknown[]; line: number }[],
  feed: FeedName,
): { headers: string[]; rows: TableRow[] } {
  if (!matrix.length) return { headers: [], rows: [] };
  const h = headerIndex(
    matrix.map((m) => m.cells),
    feed,
  );
  const headers = matrix[h]!.cells.map((c) => String(c ?? '').trim());
  const rows: TableRow[] = [];
  for (const m of matrix.slice(h + 1)) {
    const values: Record<string, unknown> = {};
    let any = false;
    m.cells.forEach((c, i) => {
      const key = headers[i] || `column${i + 1}`;
      if (c === null || c === undefined || (typeof c === 'string' && c.trim() === '')) return;
      values[key] = c;
      any = true;
    });
    if (any) rows.push({ line: m.line, values });
  }
  return { headers, rows };
}

export function parseCsv(text: string, feed: FeedName): { headers: string[]; rows: TableRow[] } {
  const first = text.slice(0, text.indexOf('\n') === -1 ? text.length : text.indexOf('\n'));
  const delimiter = (first.match(/\t/g)?.length ?? 0) > (first.match(/,/g)?.length ?? 0) ? '\t' : ',';
  const records = parse(text, {
    delimiter,
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    trim: true,
    info: true,
  }) as unknown as { record: string[]; info: { lines: number } }[];
  return toRows(
    records.map((r) => ({ cells: r.record, line: r.info.lines })),
    feed,
  );
}

/** exceljs reads a date cell as the UTC instant of the wall-clock text: give the wall-clock text back (naive = +08:00). */
function dateText(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

function cellValue(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (v instanceof Date) return dateText(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.richText)) return (o.richText as { text: string }[]).map((t) => t.text).join('');
    if ('result' in o) return cellValue(o.result);
    if ('text' in o) return cellValue(o.text);
    if ('error' in o) return undefined;
    return undefined;
  }
  return v;
}

export async function parseXlsx(
  buf: Buffer,
  feed: FeedName,
  sheet?: string,
): Promise<{ headers: string[]; rows: TableRow[] }> {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf as never);
  const ws = sheet ? wb.getWorksheet(sheet) : wb.worksheets[0];
  if (!ws)
    throw new InputError(`工作表 ${sheet ?? '(第一个)'} 不存在 / worksheet ${sheet ?? '(first)'} not found`);
  const matrix: { cells: unknown[]; line: number }[] = [];
  ws.eachRow({ includeEmpty: false }, (row, rowNumber) => {
    const values = row.values as unknown[];
    matrix.push({ cells: values.slice(1).map(cellValue), line: rowNumber });
  });
  return toRows(matrix, feed);
}

/** Reads a CSV or XLSX file (by extension; `.xlsx`/`.xlsm` are workbooks, anything else CSV). */
export async function readTable(
  file: string,
  feed: FeedName,
  opts: { encoding?: Encoding; sheet?: string } = {},
): Promise<Table> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new InputError(
      `无法读取文件 ${file} / cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.xlsx' || ext === '.xlsm' || buf.subarray(0, 2).toString('latin1') === 'PK') {
    try {
      return { format: 'xlsx', encoding: 'xlsx', ...(await parseXlsx(buf, feed, opts.sheet)) };
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(
        `无法读取 XLSX ${file} / cannot read workbook ${file}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const { text, encoding } = decodeText(buf, opts.encoding);
  try {
    return { format: 'csv', encoding, ...parseCsv(text, feed) };
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new InputError(
      `CSV 解析失败${line ? `（第 ${line} 行）` : ''} / cannot parse CSV${line ? ` (line ${line})` : ''}: ${(err as Error).message}`,
      { line, cause: err },
    );
  }
}
