/**
 * Reads a `date,value` series from CSV. Every problem is an InputError naming the line.
 *
 * Accepted: an optional header row; header names like date/month/week/日期/月份 for the date and
 * value/数值 or simply the last column for the value; `year,week,<value>` files (EIA convention,
 * see `dayFromYearWeek`); comma, semicolon or tab separators; UTF-8 (with or without BOM) or GBK
 * (Excel on Chinese Windows); thousands separators in quoted numbers ("12,345").
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import iconv from 'iconv-lite';
import { InputError } from '../infra/core/index.ts';
import { dayFromYearWeek, formatDay, parseDateText } from './dates.ts';
import type { Observation } from './types.ts';

export interface CsvSeries {
  points: Observation[];
  /** Source line of each point, for error messages further down. */
  lines: number[];
  dateColumn: string;
  valueColumn: string;
}

const DATE_NAMES = [
  'date',
  'day',
  'month',
  'week',
  'period',
  'time',
  'timestamp',
  'datetime',
  'ds',
  '日期',
  '月份',
  '时间',
  '周',
  '期间',
];
const VALUE_NAMES = ['value', 'values', 'y', 'val', '值', '数值'];

function lineError(line: number, zh: string, en: string, extra: Record<string, unknown> = {}): InputError {
  return new InputError(`第 ${line} 行: ${zh} / line ${line}: ${en}`, { line, context: extra });
}

export function parseNumber(text: string): number | null {
  let s = text.trim().replace(/\s+/g, '');
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

function decode(buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return iconv.decode(buf, 'gbk');
  }
}

function detectDelimiter(text: string): string {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  if (first.includes('\t') && !first.includes(',')) return '\t';
  if (first.includes(';') && !first.includes(',')) return ';';
  return ',';
}

interface Layout {
  kind: 'date' | 'yearWeek';
  dateIdx: number;
  weekIdx: number;
  valueIdx: number;
  dateColumn: string;
  valueColumn: string;
}

function layoutFromHeader(header: string[]): Layout {
  const names = header.map((h) => h.trim().toLowerCase());
  const yearIdx = names.indexOf('year');
  const weekIdx = names.findIndex((n) => n === 'week' || n === 'week_number' || n === 'weeknum');
  let valueIdx = names.findIndex((n) => VALUE_NAMES.includes(n));
  if (yearIdx >= 0 && weekIdx >= 0) {
    if (valueIdx < 0)
      valueIdx = names.findIndex((_, i) => i !== yearIdx && i !== weekIdx && i === names.length - 1);
    if (valueIdx < 0) throw lineError(1, '找不到数值列', 'no value column found');
    return {
      kind: 'yearWeek',
      dateIdx: yearIdx,
      weekIdx,
      valueIdx,
      dateColumn: `${header[yearIdx]}+${header[weekIdx]}`,
      valueColumn: header[valueIdx]!,
    };
  }
  let dateIdx = names.findIndex((n) => DATE_NAMES.includes(n));
  if (dateIdx < 0) dateIdx = names.findIndex((n) => n.includes('date') || n.includes('日期'));
  if (dateIdx < 0) dateIdx = 0;
  if (valueIdx < 0 || valueIdx === dateIdx) {
    valueIdx = names.length - 1;
    if (valueIdx === dateIdx) throw lineError(1, '只有一列，缺少数值列', 'only one column, no value column');
  }
  return {
    kind: 'date',
    dateIdx,
    weekIdx: -1,
    valueIdx,
    dateColumn: header[dateIdx]!,
    valueColumn: header[valueIdx]!,
  };
}

/** A first row is a header when none of its cells is a date and it is not all numbers. */
function looksLikeHeader(row: string[]): boolean {
  return row.every((c) => parseDateText(c) === null) && row.some((c) => parseNumber(c) === null);
}

export function parseSeriesCsv(input: string | Buffer): CsvSeries {
  const text = typeof input === 'string' ? input : decode(input);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      delimiter: detectDelimiter(text),
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const line =
      typeof (err as { lines?: unknown }).lines === 'number' ? (err as { lines: number }).lines : 0;
    throw new InputError(
      `第 ${line} 行: CSV 格式错误 / line ${line}: malformed CSV (${(err as Error).message})`,
      { line, cause: err },
    );
  }
  if (records.length === 0) throw new InputError('文件为空 / the file is empty');

  let layout: Layout;
  let body = records;
  if (looksLikeHeader(records[0]!.record)) {
    layout = layoutFromHeader(records[0]!.record);
    body = records.slice(1);
  } else {
    const width = records[0]!.record.length;
    if (width < 2) throw lineError(records[0]!.info.lines, '缺少数值列', 'missing value column');
    layout = {
      kind: 'date',
      dateIdx: 0,
      weekIdx: -1,
      valueIdx: width - 1,
      dateColumn: 'column 1',
      valueColumn: `column ${width}`,
    };
  }

  const points: Observation[] = [];
  const lines: number[] = [];
  const seen = new Map<number, number>();
  let prev: { day: number; line: number } | null = null;
  for (const { record, info } of body) {
    const line = info.lines;
    const dateText = record[layout.dateIdx];
    const valueText = record[layout.valueIdx];
    if (dateText === undefined || dateText === '') throw lineError(line, '日期缺失', 'missing date');
    let day: number | null;
    if (layout.kind === 'yearWeek') {
      const weekText = record[layout.weekIdx] ?? '';
      const y = parseNumber(dateText);
      const w = parseNumber(weekText);
      day = y === null || w === null ? null : dayFromYearWeek(y, w);
      if (day === null)
        throw lineError(
          line,
          `年/周无效 "${dateText},${weekText}"`,
          `invalid year/week "${dateText},${weekText}"`,
        );
    } else {
      day = parseDateText(dateText);
      if (day === null) throw lineError(line, `日期无效 "${dateText}"`, `invalid date "${dateText}"`);
    }
    if (valueText === undefined || valueText === '') throw lineError(line, '数值缺失', 'missing value');
    const value = parseNumber(valueText);
    if (value === null) throw lineError(line, `数值无效 "${valueText}"`, `invalid value "${valueText}"`);
    const dup = seen.get(day);
    if (dup !== undefined) {
      throw lineError(
        line,
        `日期重复 ${formatDay(day)}（与第 ${dup} 行相同）`,
        `duplicate date ${formatDay(day)} (same as line ${dup})`,
      );
    }
    if (prev !== null && day < prev.day) {
      throw lineError(
        line,
        `日期未按升序排列：${formatDay(day)} 在第 ${prev.line} 行的 ${formatDay(prev.day)} 之后`,
        `dates not in ascending order: ${formatDay(day)} comes after ${formatDay(prev.day)} on line ${prev.line}`,
      );
    }
    seen.set(day, line);
    prev = { day, line };
    points.push({ date: formatDay(day), value });
    lines.push(line);
  }
  return { points, lines, dateColumn: layout.dateColumn, valueColumn: layout.valueColumn };
}

export async function readSeriesCsv(path: string): Promise<CsvSeries> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new InputError(`文件不存在: ${path} / file not found: ${path}`, { cause: err });
    if (code === 'EISDIR') throw new InputError(`不是文件: ${path} / not a file: ${path}`, { cause: err });
    throw new InputError(`无法读取文件: ${path} (${code ?? 'error'}) / cannot read file: ${path}`, {
      cause: err,
    });
  }
  return parseSeriesCsv(buf);
}
