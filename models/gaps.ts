/**
 * Missing months. Chinese monthly statistics are often published for January and February together
 * (the Spring Festival moves between them), so a series may have no January row and a February row
 * covering both months; other series simply skip a month. A sequence with holes puts every later
 * month at the wrong seasonal position, so the grid is made regular first:
 *  - a flow whose rows after a hole are about k times their neighbours (k = months covered) has the
 *    value split evenly over the k months;
 *  - otherwise (levels, prices, single-month values) the missing months are interpolated linearly.
 * Forecasts are then made month by month on the regular grid.
 */
import { median } from 'simple-statistics';
import { dayFromYmd, daysInMonth, ymdFromDay } from './dates.ts';

export interface FilledMonths {
  days: number[];
  values: number[];
  /** Number of months added. */
  added: number;
  /** True when rows after a hole were treated as totals over the months they cover. */
  split: boolean;
}

const monthIndex = (day: number) => {
  const { year, month } = ymdFromDay(day);
  return year * 12 + month - 1;
};

/** Regular monthly grid, or null when no month is missing (or a hole is longer than 3 months). */
export function fillMonthGaps(days: readonly number[], values: readonly number[]): FilledMonths | null {
  const idx = days.map(monthIndex);
  const spans = idx.map((m, i) => (i === 0 ? 1 : m - idx[i - 1]!));
  if (spans.every((k) => k === 1) || spans.some((k) => k < 1 || k > 3)) return null;
  // Is the row after a hole a total over the months it covers? Compare with neighbouring full rows.
  const ratios: number[] = [];
  const covered: number[] = [];
  for (let i = 1; i < values.length; i++) {
    if (spans[i] === 1) continue;
    const near: number[] = [];
    for (let j = Math.max(0, i - 3); j <= Math.min(values.length - 1, i + 3); j++)
      if (j !== i && spans[j] === 1) near.push(values[j]!);
    if (near.length < 2) continue;
    const ref = median(near);
    if (ref > 0) {
      ratios.push(values[i]! / ref);
      covered.push(spans[i]!);
    }
  }
  const split =
    ratios.length > 0 &&
    values.every((v) => v >= 0) &&
    Math.abs(median(ratios) - median(covered)) < Math.abs(median(ratios) - 1);
  const outDays: number[] = [days[0]!];
  const outValues: number[] = [values[0]!];
  let added = 0;
  for (let i = 1; i < days.length; i++) {
    const k = spans[i]!;
    const { day } = ymdFromDay(days[i]!);
    for (let s = k - 1; s >= 1; s--) {
      const m = idx[i]! - s;
      const y = Math.floor(m / 12);
      const mo = (m % 12) + 1;
      outDays.push(dayFromYmd(y, mo, Math.min(day, daysInMonth(y, mo))));
      outValues.push(split ? values[i]! / k : values[i - 1]! + ((values[i]! - values[i - 1]!) * (k - s)) / k);
      added++;
    }
    outDays.push(days[i]!);
    outValues.push(split ? values[i]! / k : values[i]!);
  }
  return { days: outDays, values: outValues, added, split };
}
