/**
 * Dates as UTC day numbers (days since 1970-01-01): plain integers make spacing, weekdays and
 * calendar windows simple arithmetic, and no time zone can shift a date.
 */
import { median } from 'simple-statistics';
import type { Frequency } from './types.ts';

const MS_PER_DAY = 86_400_000;

export function dayFromYmd(year: number, month: number, day: number): number {
  return Math.floor(Date.UTC(year, month - 1, day) / MS_PER_DAY);
}

export function ymdFromDay(dayNum: number): { year: number; month: number; day: number } {
  const d = new Date(dayNum * MS_PER_DAY);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** 0 = Sunday … 6 = Saturday. 1970-01-01 was a Thursday. */
export function weekday(dayNum: number): number {
  return (((dayNum + 4) % 7) + 7) % 7;
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function formatDay(dayNum: number): string {
  const { year, month, day } = ymdFromDay(dayNum);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function validYmd(y: number, m: number, d: number): number | null {
  if (!Number.isInteger(y) || y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m))
    return null;
  return dayFromYmd(y, m, d);
}

/**
 * Accepts `2024-01`, `2024-01-01`, `2024/1/1`, `2024/1`, `20240101`, `2024年1月1日`, `2024年1月`
 * and ISO date-times. A date-time without offset keeps its written date; one with `Z` or an
 * offset is an instant and gets its calendar date in China Standard Time (see `dayOfInstant`).
 * Month-only forms mean the first day of the month. Returns null when the text is not a valid date.
 */
export function parseDateText(text: string): number | null {
  const s = text.trim();
  let m = /^(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?$/.exec(s);
  if (m) return validYmd(Number(m[1]), Number(m[2]), m[3] === undefined ? 1 : Number(m[3]));
  m = /^(\d{4})(\d{2})(\d{2})$/.exec(s);
  if (m) return validYmd(Number(m[1]), Number(m[2]), Number(m[3]));
  m = /^(\d{4})年(\d{1,2})月(?:(\d{1,2})日)?$/.exec(s);
  if (m) return validYmd(Number(m[1]), Number(m[2]), m[3] === undefined ? 1 : Number(m[3]));
  m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (m) {
    if (validYmd(Number(m[1]), Number(m[2]), Number(m[3])) === null) return null;
    if (m[7] === undefined) return validYmd(Number(m[1]), Number(m[2]), Number(m[3]));
    const ms = Date.parse(s.replace(' ', 'T'));
    return Number.isFinite(ms) ? dayOfInstant(ms) : null;
  }
  return null;
}

const CST_OFFSET_MS = 8 * 3_600_000;

/**
 * The calendar date of an instant in China Standard Time (UTC+8, no daylight saving). Right for
 * both ways dates reach us as instants: buckets from `time_bucket(…, 'Asia/Shanghai')`
 * (local midnight = 16:00 UTC the day before) and dates stored as UTC midnight.
 */
export function dayOfInstant(ms: number): number {
  return Math.floor((ms + CST_OFFSET_MS) / MS_PER_DAY);
}

/**
 * Year + week number → the week's last day. Follows the EIA convention of the real weekly series:
 * weeks end on Saturday, week 1 ends on the year's first Saturday, and a partial last week
 * (week 53) ends on 31 December, so consecutive years never produce the same date.
 */
export function dayFromYearWeek(year: number, week: number): number | null {
  if (
    !Number.isInteger(year) ||
    !Number.isInteger(week) ||
    week < 1 ||
    week > 53 ||
    year < 1800 ||
    year > 2200
  )
    return null;
  const jan1 = dayFromYmd(year, 1, 1);
  const firstSaturday = jan1 + ((6 - weekday(jan1) + 7) % 7);
  const end = firstSaturday + 7 * (week - 1);
  const dec31 = dayFromYmd(year, 12, 31);
  if (end > dec31 + 6) return null;
  return Math.min(end, dec31);
}

/** Frequency from the median spacing between consecutive dates, or null when it fits none. */
export function detectFrequency(days: readonly number[]): {
  frequency: Frequency | null;
  medianSpacingDays: number;
} {
  if (days.length < 2) return { frequency: null, medianSpacingDays: NaN };
  const gaps: number[] = [];
  for (let i = 1; i < days.length; i++) gaps.push(days[i]! - days[i - 1]!);
  const med = median(gaps);
  let frequency: Frequency | null = null;
  if (med >= 1 && med <= 2) frequency = 'day';
  else if (med >= 5 && med <= 9) frequency = 'week';
  else if (med >= 26 && med <= 35) frequency = 'month';
  return { frequency, medianSpacingDays: med };
}

/**
 * Base seasonal period: day→7, or 5 for a trading-day series (weekends absent); month→12;
 * week→52 only with at least two full years of data (select.ts also requires an annual pattern).
 */
export function seasonalPeriodFor(frequency: Frequency, n: number, tradingDays = false): number {
  if (frequency === 'day') return tradingDays ? 5 : 7;
  if (frequency === 'month') return 12;
  return n >= 104 ? 52 : 1;
}

/**
 * A day series quoted on trading days only: at least 10 points and (almost) no Saturday or Sunday
 * dates (≤ 1%, a few exceptional trading weekends such as China's make-up working days are allowed).
 */
export function isTradingDaySeries(days: readonly number[]): boolean {
  if (days.length < 10) return false;
  let weekend = 0;
  for (const d of days) {
    const w = weekday(d);
    if (w === 0 || w === 6) weekend++;
  }
  return weekend <= 0.01 * days.length;
}

export const DEFAULT_HORIZON: Record<Frequency, number> = { day: 28, week: 13, month: 12 };

/**
 * The next `count` dates after `lastDay`. Monthly steps keep the day of month (clamped to the
 * month's length), or stay on month ends when the last date is a month end; trading days skip weekends.
 */
export function futureDays(
  lastDay: number,
  frequency: Frequency,
  count: number,
  tradingDays = false,
): number[] {
  const out: number[] = [];
  if (frequency === 'month') {
    const { year, month, day } = ymdFromDay(lastDay);
    const monthEnd = day === daysInMonth(year, month);
    for (let k = 1; k <= count; k++) {
      const y = year + Math.floor((month - 1 + k) / 12);
      const mo = ((month - 1 + k) % 12) + 1;
      const dim = daysInMonth(y, mo);
      out.push(dayFromYmd(y, mo, monthEnd ? dim : Math.min(day, dim)));
    }
  } else if (tradingDays && frequency === 'day') {
    // Weekends are skipped; holidays are not known ahead, so they stay forecast dates.
    for (let d = lastDay + 1; out.length < count; d++) {
      const w = weekday(d);
      if (w !== 0 && w !== 6) out.push(d);
    }
  } else {
    const step = frequency === 'day' ? 1 : 7;
    for (let k = 1; k <= count; k++) out.push(lastDay + step * k);
  }
  return out;
}
