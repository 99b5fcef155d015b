/**
 * Lenient parsing of the values real exports carry: thousands separators,
 * full-width digits, units in the value or in the header, Chinese dates,
 * Excel serial dates. Everything that cannot be read unambiguously is
 * rejected with a stable reason rather than guessed.
 */
import { ValidationError } from '../../infra/core/index.ts';

/** What a number measures; decides which units are accepted and the target unit. */
export type NumberKind =
  | 'weight' // t (truck weighing): t/吨, kg/公斤/千克, 万吨
  | 'stock' // t (stocks, shipments): t/吨, 万吨, kg
  | 'capacity' // t per year: 万吨/年 (also bare numbers <= 10000), t/吨/年, Mt
  | 'price' // yuan per t
  | 'money' // yuan: 元, 万元
  | 'kcal' // kcal/kg: kcal, 大卡, 千卡; MJ/kg converted (bare numbers < 50 are MJ/kg)
  | 'pct'
  | 'count' // non-negative integer: 辆, 车, 艘, 列, 次
  | 'mw' // MW: 兆瓦, 万千瓦, kW
  | 'minutes'
  | 'number';

const MJ_TO_KCAL = 238.846;

const UNIT_FACTORS: Record<NumberKind, Record<string, number>> = {
  weight: { '': 1, t: 1, 吨: 1, kg: 0.001, 公斤: 0.001, 千克: 0.001, 万吨: 1e4 },
  stock: { '': 1, t: 1, 吨: 1, kg: 0.001, 公斤: 0.001, 千克: 0.001, 万吨: 1e4, mt: 1e6, 百万吨: 1e6 },
  capacity: {
    t: 1,
    吨: 1,
    '吨/年': 1,
    't/a': 1,
    't/yr': 1,
    万吨: 1e4,
    '万吨/年': 1e4,
    '万t/a': 1e4,
    mt: 1e6,
    'mt/a': 1e6,
    'mt/yr': 1e6,
  },
  price: { '': 1, 元: 1, '元/吨': 1, '元/t': 1, 'yuan/t': 1, 'cny/t': 1 },
  money: { '': 1, 元: 1, 万元: 1e4, yuan: 1, cny: 1 },
  kcal: {
    kcal: 1,
    'kcal/kg': 1,
    大卡: 1,
    千卡: 1,
    '千卡/千克': 1,
    'mj/kg': MJ_TO_KCAL,
    mj: MJ_TO_KCAL,
    '兆焦/千克': MJ_TO_KCAL,
  },
  pct: { '': 1, '%': 1 },
  count: { '': 1, 辆: 1, 车: 1, 艘: 1, 列: 1, 次: 1, 个: 1, 条: 1 },
  mw: { '': 1, mw: 1, 兆瓦: 1, 万千瓦: 10, 万kw: 10, kw: 0.001, 千瓦: 0.001 },
  minutes: { '': 1, min: 1, 分钟: 1, h: 60, 小时: 60, 天: 1440, d: 1440 },
  number: { '': 1 },
};

// `NaN` is not "no value": a text NaN is rejected as invalid_number like Infinity.
const EMPTY = new Set(['', '-', '--', '—', '/', 'n/a', 'na', 'null', 'none', 'undefined']);

/** True for the values exports use for "no value". */
export function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v === 'number') return Number.isNaN(v);
  if (typeof v === 'string') return EMPTY.has(v.normalize('NFKC').trim().toLowerCase());
  return false;
}

/**
 * Parses a number with an optional unit into the target unit of `kind`.
 * `label` names the field in the error (never the value of a personal field:
 * numbers are not personal). Returns the number; throws ValidationError('invalid_number').
 */
export function parseNumber(value: unknown, kind: NumberKind, label: string): number {
  let num: number;
  let unit = '';
  if (typeof value === 'number') {
    num = value;
  } else if (typeof value === 'string') {
    const s = value
      .normalize('NFKC')
      .trim()
      .replace(/\s+/g, '')
      .replace(/(\d),(?=\d{3}(?!\d))/g, '$1');
    const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(.*)$/i.exec(s);
    if (!m) throw invalidNumber(label, value);
    num = Number(m[1]);
    unit = m[2]!.toLowerCase();
  } else {
    throw invalidNumber(label, value);
  }
  if (!Number.isFinite(num)) throw invalidNumber(label, value);
  if (kind === 'capacity' && unit === '') {
    // Capacities are published in 万吨/年; no mine has a capacity of 10 000 t/yr or less.
    return num <= 10_000 ? num * 1e4 : num;
  }
  if (kind === 'kcal' && unit === '') return num < 50 ? Math.round(num * MJ_TO_KCAL) : num;
  const factor = UNIT_FACTORS[kind][unit];
  if (factor === undefined) throw invalidNumber(label, value, unit);
  const out = num * factor;
  if (kind === 'count' && (!Number.isInteger(out) || out < 0)) {
    throw new ValidationError(
      'invalid_number',
      `字段 ${label} 应为非负整数 / ${label} must be a non-negative integer`,
      { context: { field: label } },
    );
  }
  // Conversions such as 33500 kg -> 33.5 t must not leave binary noise behind.
  return Math.round(out * 1e6) / 1e6;
}

function invalidNumber(label: string, value: unknown, unit?: string): ValidationError {
  const shown =
    typeof value === 'string' || typeof value === 'number' ? String(value).slice(0, 40) : typeof value;
  return new ValidationError(
    'invalid_number',
    unit
      ? `字段 ${label} 的单位“${unit}”无法识别（值 ${shown}）/ unknown unit "${unit}" in ${label} (value ${shown})`
      : `字段 ${label} 不是有效数字（值 ${shown}）/ ${label} is not a valid number (value ${shown})`,
    { context: { field: label } },
  );
}

/** Asia/Shanghai has had no DST since 1991: a fixed +08:00 is exact for the data we handle. */
export const CST_OFFSET_MS = 8 * 3600_000;
const EXCEL_EPOCH_DAYS = 25569; // 1970-01-01 as an Excel (1900 system) serial

function fromLocalParts(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  offsetMs: number | null,
): number | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return null;
  const utc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const check = new Date(utc);
  if (check.getUTCDate() !== d && !(h === 24)) return null; // 2025-02-30
  return utc - (offsetMs ?? CST_OFFSET_MS);
}

function offsetOf(tz: string | undefined): number | null {
  if (!tz) return null;
  if (tz === 'Z' || tz === 'z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(tz);
  if (!m) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600_000 + Number(m[3] ?? 0) * 60_000);
}

/**
 * Parses a time into epoch ms. Accepted: ISO-8601 with or without offset,
 * `2025-03-01 08:12:33`, `2025/3/1 8:12`, `2025.3.1`, `2025年3月1日 8时12分`,
 * `20250301081233`, date-only forms (midnight), epoch seconds or milliseconds,
 * Excel serial days (20000..80000) and Date objects. Times without an offset are
 * Asia/Shanghai (+08:00). Returns null when the value is not a time.
 */
export function parseTimeMs(value: unknown): number | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
  if (typeof value === 'number') return numericTime(value);
  if (typeof value !== 'string') return null;
  const s = value.normalize('NFKC').trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s) && !/^\d{8}(\d{6})?$/.test(s)) return numericTime(Number(s));
  let m =
    /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T\s]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(
      s,
    );
  if (m) {
    const tz = m[8];
    const off = offsetOf(tz);
    if (tz && off === null) return null;
    return fromLocalParts(
      +m[1]!,
      +m[2]!,
      +m[3]!,
      +(m[4] ?? 0),
      +(m[5] ?? 0),
      +(m[6] ?? 0),
      m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0,
      off,
    );
  }
  m = /^(\d{4})年(\d{1,2})月(\d{1,2})日?(?:\s*(\d{1,2})[时:点](?:(\d{1,2})分?)?(?::?(\d{1,2})秒?)?)?$/.exec(
    s,
  );
  if (m) return fromLocalParts(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), 0, null);
  m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?$/.exec(s);
  if (m) return fromLocalParts(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), 0, null);
  return null;
}

function numericTime(n: number): number | null {
  if (!Number.isFinite(n) || n <= 0) return null;
  if (n > 1e11 && n < 1e14) return Math.round(n); // epoch ms
  if (n > 1e9 && n < 1e11) return Math.round(n * 1000); // epoch s
  if (n >= 20_000 && n < 80_000) return Math.round((n - EXCEL_EPOCH_DAYS) * 86_400_000) - CST_OFFSET_MS; // Excel serial, local time
  return null;
}

/** Parses a month (`2025-03`, `2025年3月`, or year + month given apart) into the first instant of the month (+08:00). */
export function parseMonthMs(year: unknown, month: unknown): number | null {
  const ms = typeof month === 'string' ? month.normalize('NFKC').trim() : month;
  if (typeof ms === 'string') {
    const m = /^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$/.exec(ms);
    if (m) return fromLocalParts(+m[1]!, +m[2]!, 1, 0, 0, 0, 0, null);
  }
  const y =
    typeof year === 'number'
      ? year
      : typeof year === 'string'
        ? Number(year.normalize('NFKC').replace(/年$/, '').trim())
        : NaN;
  const mo =
    typeof ms === 'number' ? ms : typeof ms === 'string' ? Number(ms.replace(/月$/, '').trim()) : NaN;
  if (!Number.isInteger(y) || y < 1990 || y > 2200) return null;
  if (ms === undefined || ms === null || ms === '') return fromLocalParts(y, 1, 1, 0, 0, 0, 0, null);
  if (!Number.isInteger(mo) || mo < 1 || mo > 12) return null;
  return fromLocalParts(y, mo, 1, 0, 0, 0, 0, null);
}

/** ISO-8601 in Asia/Shanghai with an explicit offset: `2025-03-01T08:12:33+08:00` (ms only when non-zero). */
export function toIsoCst(ms: number): string {
  const d = new Date(ms + CST_OFFSET_MS);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = d.getUTCMilliseconds() ? `.${p(d.getUTCMilliseconds(), 3)}` : '';
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac}+08:00`;
}

/** `YYYY-MM-DD` in Asia/Shanghai. */
export function toDateCst(ms: number): string {
  return toIsoCst(ms).slice(0, 10);
}

/** Normalizes free text: NFKC (full-width to half-width), trimmed, inner whitespace collapsed. */
export function cleanText(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s =
    typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : JSON.stringify(v);
  return s.normalize('NFKC').replace(/\s+/g, ' ').trim();
}
