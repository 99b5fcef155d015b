/**
 * Reads CSV (UTF-8 or GB18030) and XLSX exports into rows keyed by their
 * header, with the source line number of each row.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
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
  encoding: 'utf8' | 'gb18030' | 'utf16' | 'xlsx';
  headers: string[];
  rows: TableRow[];
}

/** Largest file `coalflow import` reads (and, for a workbook, the most its parts may unpack to): split larger exports. */
export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
function isUtf8(buf: Buffer): boolean {
  try {
    fatalUtf8.decode(buf);
    return true;
  } catch {
    return false;
  }
}

/**
 * Lines of a file that is not valid UTF-8 as a whole but holds valid multi-byte UTF-8 on some lines, while others
 * are not UTF-8: a file saved in two encodings (e.g. UTF-8 rows appended to a GB18030 export). Decoding it either
 * way garbles part of it, so it is refused, naming the lines.
 */
function mixedEncodingLines(buf: Buffer): { utf8: number[]; other: number[] } | null {
  const utf8: number[] = [];
  const other: number[] = [];
  let start = 0;
  for (let n = 1; start < buf.length; n++) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    const line = buf.subarray(start, end);
    if (line.some((b) => b >= 0x80)) (isUtf8(line) ? utf8 : other).push(n);
    start = end + 1;
  }
  return utf8.length && other.length ? { utf8, other } : null;
}

/**
 * UTF-8 when the bytes are valid UTF-8 (BOM stripped), UTF-16 when the file starts with its byte-order mark (Excel's
 * "Unicode text"), else GB18030 (a superset of GBK/GB2312, what Chinese Excel saves as "CSV"). A file mixing UTF-8
 * lines with lines in another encoding, or with invalid sequences, is refused (`INPUT_INVALID`, naming lines).
 */
export function decodeText(
  buf: Buffer,
  encoding: Encoding = 'auto',
): { text: string; encoding: 'utf8' | 'gb18030' | 'utf16' } {
  const strip = (s: string) => s.replace(/^\uFEFF/, '');
  if (encoding === 'gb18030') return { text: strip(iconv.decode(buf, 'gb18030')), encoding: 'gb18030' };
  if (
    encoding === 'auto' &&
    buf.length >= 2 &&
    ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff))
  )
    return { text: strip(iconv.decode(buf, buf[0] === 0xff ? 'utf16le' : 'utf16be')), encoding: 'utf16' };
  if (isUtf8(buf)) return { text: strip(buf.toString('utf8')), encoding: 'utf8' };
  if (encoding === 'utf8')
    throw new InputError('文件不是有效的 UTF-8 / the file is not valid UTF-8 (try --encoding gb18030)');
  const mixed = mixedEncodingLines(buf);
  if (mixed) {
    const at = (xs: number[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? ' …' : '');
    throw new InputError(
      `文件混用了编码：第 ${at(mixed.utf8)} 行是 UTF-8，第 ${at(mixed.other)} 行不是（GB18030 或无效字节），无法可靠读取；请另存为统一编码，或用 --encoding 指定 / ` +
        `the file mixes encodings: lines ${at(mixed.utf8)} are UTF-8, lines ${at(mixed.other)} are not (GB18030 or invalid bytes); save it in one encoding or name it with --encoding`,
      { line: mixed.other[0] },
    );
  }
  return { text: strip(iconv.decode(buf, 'gb18030')), encoding: 'gb18030' };
}

/**
 * What a workbook's parts unpack to, from the zip's central directory, checked before the workbook is opened: a zip
 * bomb (a small file that unpacks to gigabytes) is refused without inflating anything.
 */
export function zipUnpackedBytes(buf: Buffer): number {
  const bad = () =>
    new InputError('XLSX 文件已损坏（不是有效的 zip）/ the workbook is damaged (not a valid zip)');
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65_535); i--)
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw bad();
  const entries = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  let total = 0;
  for (let n = 0; n < entries; n++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== 0x02014b50) throw bad();
    const size = buf.readUInt32LE(at + 24);
    // ZIP64 marks sizes over 4 GiB with 0xFFFFFFFF: far beyond the limit either way.
    total += size === 0xffffffff ? Number.MAX_SAFE_INTEGER : size;
    at += 46 + buf.readUInt16LE(at + 28) + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
  }
  return total;
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

/** A file with a header and no row (or nothing at all) is refused: there is nothing to import, most often a wrong export. */
function nonEmpty(t: Table, file: string): Table {
  if (t.rows.length) return t;
  throw new InputError(
    t.headers.length
      ? `文件只有表头，没有数据行 / the file has a header and no rows: ${basename(file)}`
      : `文件为空 / the file is empty: ${basename(file)}`,
  );
}

/** Reads a CSV or XLSX file (by extension; `.xlsx`/`.xlsm` are workbooks, anything else CSV). */
export async function readTable(
  file: string,
  feed: FeedName,
  opts: { encoding?: Encoding; sheet?: string } = {},
): Promise<Table> {
  let buf: Buffer;
  const tooLarge = (what: string, n: number) =>
    new InputError(
      `文件${what}过大（${Math.ceil(n / 1024 / 1024)} MB，上限 ${IMPORT_MAX_BYTES / 1024 / 1024} MB），请拆分后分批导入 / ` +
        `the file${what ? ' unpacks to' : ' is'} ${Math.ceil(n / 1024 / 1024)} MB, over the limit of ${IMPORT_MAX_BYTES / 1024 / 1024} MB: split it and import the parts`,
    );
  try {
    // The size is checked before anything is read: a 100 MB file costs no memory to refuse.
    const size = (await stat(file)).size;
    if (size > IMPORT_MAX_BYTES) throw tooLarge('', size);
    buf = await readFile(file);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(
      `无法读取文件 ${file} / cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  if (buf.length === 0) throw new InputError(`文件为空 / the file is empty: ${basename(file)}`);
  const ext = extname(file).toLowerCase();
  if (ext === '.xlsx' || ext === '.xlsm' || buf.subarray(0, 2).toString('latin1') === 'PK') {
    const unpacked = zipUnpackedBytes(buf);
    if (unpacked > IMPORT_MAX_BYTES) throw tooLarge('解压后', unpacked);
    try {
      return nonEmpty(
        { format: 'xlsx', encoding: 'xlsx', ...(await parseXlsx(buf, feed, opts.sheet)) },
        file,
      );
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
    return nonEmpty({ format: 'csv', encoding, ...parseCsv(text, feed) }, file);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const line = (err as { lines?: number }).lines;
    throw new InputError(
      `CSV 解析失败${line ? `（第 ${line} 行）` : ''} / cannot parse CSV${line ? ` (line ${line})` : ''}: ${(err as Error).message}`,
      { line, cause: err },
    );
  }
}
