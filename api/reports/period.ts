/**
 * Report periods in Asia/Shanghai: a day, an ISO week, a calendar month or a year, each with its
 * previous period and the same period one year earlier (for comparisons).
 */
import { InputError } from '../../infra/core/index.ts';
import {
  cstDate,
  cstDayMs,
  DAY_MS,
  monthStart,
  nextMonthStart,
  TZ_OFFSET_MS,
  weekStart,
  yearStart,
} from '../../pipelines/index.ts';

export type PeriodKind = 'day' | 'week' | 'month' | 'year';
export const PERIOD_KINDS: readonly PeriodKind[] = ['day', 'week', 'month', 'year'];

export interface Period {
  kind: PeriodKind;
  /** Stable key: 2026-10-05, 2026-W41, 2026-10, 2026. */
  key: string;
  /** Start (ms, inclusive) and end (ms, exclusive). */
  from: number;
  to: number;
  /** Day starts (ms) inside the period. */
  days: number[];
}

function ymd(ms: number): { y: number; m: number; d: number } {
  const t = new Date(ms + TZ_OFFSET_MS);
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO week-year and week number of the CST day holding `ms`. */
export function isoWeek(ms: number): { year: number; week: number } {
  const mon = weekStart(ms);
  const thu = mon + 3 * DAY_MS;
  const year = ymd(thu).y;
  const jan4 = cstDayMs(`${year}-01-04`);
  return { year, week: Math.floor((mon - weekStart(jan4)) / DAY_MS / 7) + 1 };
}

function make(kind: PeriodKind, from: number): Period {
  let to: number;
  let key: string;
  const { y, m } = ymd(from);
  switch (kind) {
    case 'day':
      to = from + DAY_MS;
      key = cstDate(from);
      break;
    case 'week': {
      to = from + 7 * DAY_MS;
      const w = isoWeek(from);
      key = `${w.year}-W${pad(w.week)}`;
      break;
    }
    case 'month':
      to = nextMonthStart(from);
      key = `${y}-${pad(m)}`;
      break;
    case 'year':
      to = cstDayMs(`${y + 1}-01-01`);
      key = String(y);
      break;
  }
  const days: number[] = [];
  for (let d = from; d < to; d += DAY_MS) days.push(d);
  return { kind, key, from, to, days };
}

/** The period of `kind` containing the instant `ms`. */
export function periodAt(kind: PeriodKind, ms: number): Period {
  switch (kind) {
    case 'day':
      return make(kind, Math.floor((ms + TZ_OFFSET_MS) / DAY_MS) * DAY_MS - TZ_OFFSET_MS);
    case 'week':
      return make(kind, weekStart(ms));
    case 'month':
      return make(kind, monthStart(ms));
    case 'year':
      return make(kind, yearStart(ms));
  }
}

/**
 * Parses a period and a date: `day 2026-10-05`, `week 2026-W41` (or any day in it), `month 2026-10`
 * (or a day in it), `year 2026`.
 */
export function parsePeriod(kind: unknown, date: unknown): Period {
  if (typeof kind !== 'string' || !(PERIOD_KINDS as readonly string[]).includes(kind)) {
    throw new InputError(
      `period 无效，可选 ${PERIOD_KINDS.join('|')} / period must be one of ${PERIOD_KINDS.join('|')}`,
    );
  }
  const k = kind as PeriodKind;
  const s = typeof date === 'string' ? date.trim() : '';
  const bad = (): never => {
    throw new InputError(
      `date "${s}" 与 period=${k} 不符（如 2026-10-05、2026-W41、2026-10、2026） / date "${s}" does not fit period=${k} (e.g. 2026-10-05, 2026-W41, 2026-10, 2026)`,
    );
  };
  let ms: number;
  const wk = /^(\d{4})-W(\d{2})$/.exec(s);
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    ms = Date.parse(`${s}T00:00:00+08:00`);
    if (!Number.isFinite(ms) || cstDate(ms) !== s) bad();
  } else if (wk && k === 'week') {
    const jan4 = cstDayMs(`${wk[1]}-01-04`);
    const n = Number(wk[2]);
    if (n < 1 || n > 53) bad();
    ms = weekStart(jan4) + (n - 1) * 7 * DAY_MS;
    if (isoWeek(ms).year !== Number(wk[1])) bad();
  } else if (/^\d{4}-\d{2}$/.test(s) && (k === 'month' || k === 'year')) {
    const mm = Number(s.slice(5));
    if (mm < 1 || mm > 12) bad();
    ms = cstDayMs(`${s}-01`);
  } else if (/^\d{4}$/.test(s) && k === 'year') {
    ms = cstDayMs(`${s}-01-01`);
  } else {
    return bad();
  }
  if (ymd(ms).y < 2000 || ymd(ms).y > 2100) bad();
  return periodAt(k, ms);
}

/** The period just before. */
export function previousPeriod(p: Period): Period {
  return periodAt(p.kind, p.from - 1);
}

/** The same period one year earlier (a week: the same ISO week number, or the last one). */
export function sameLastYear(p: Period): Period {
  const { y, m, d } = ymd(p.from);
  switch (p.kind) {
    case 'day': {
      const day = m === 2 && d === 29 ? 28 : d;
      return periodAt('day', cstDayMs(`${y - 1}-${pad(m)}-${pad(day)}`));
    }
    case 'week':
      return periodAt('week', p.from - 52 * 7 * DAY_MS);
    case 'month':
      return periodAt('month', cstDayMs(`${y - 1}-${pad(m)}-01`));
    case 'year':
      return periodAt('year', cstDayMs(`${y - 1}-01-01`));
  }
}

/** The period a scheduled run at `ms` reports on: the last complete one. */
export function lastCompletePeriod(kind: PeriodKind, ms: number): Period {
  return previousPeriod(periodAt(kind, ms));
}
