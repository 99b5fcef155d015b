/**
 * Calendar effects that move Ordos coal volumes: the Spring Festival shutdown of mines and the
 * Inner Mongolia heating season (central heating runs 15 October – 15 April).
 */
import { dayFromYmd, daysInMonth, ymdFromDay } from './dates.ts';
import type { Frequency } from './types.ts';

/** Chinese New Year (正月初一) by Gregorian year. */
export const CHINESE_NEW_YEAR: Readonly<Record<number, string>> = {
  2015: '2015-02-19',
  2016: '2016-02-08',
  2017: '2017-01-28',
  2018: '2018-02-16',
  2019: '2019-02-05',
  2020: '2020-01-25',
  2021: '2021-02-12',
  2022: '2022-02-01',
  2023: '2023-01-22',
  2024: '2024-02-10',
  2025: '2025-01-29',
  2026: '2026-02-17',
  2027: '2027-02-06',
  2028: '2028-01-26',
  2029: '2029-02-13',
  2030: '2030-02-03',
  2031: '2031-01-23',
  2032: '2032-02-11',
  2033: '2033-01-31',
  2034: '2034-02-19',
  2035: '2035-02-08',
};

/**
 * The Spring Festival window: from 7 days before New Year to the Lantern Festival (day 15),
 * when many mines stop or slow down and transport thins out.
 */
export const SPRING_FESTIVAL_WINDOW = { daysBefore: 7, daysAfter: 15 } as const;

const cnyDay = new Map<number, number>(
  Object.entries(CHINESE_NEW_YEAR).map(([y, d]) => {
    const [yy, mm, dd] = d.split('-').map(Number) as [number, number, number];
    return [Number(y), dayFromYmd(yy, mm, dd)];
  }),
);

/**
 * 1 inside the Spring Festival window, 0 outside; null for years outside the 2015–2035 table
 * (unknown: the regression then treats the day as "no festival").
 */
export function inSpringFestival(dayNum: number): boolean | null {
  const { year } = ymdFromDay(dayNum);
  // The earliest New Year (21 Jan) minus 7 days and the latest (20 Feb) plus 15 stay in the same year.
  const cny = cnyDay.get(year);
  if (cny === undefined) return null;
  return (
    dayNum >= cny - SPRING_FESTIVAL_WINDOW.daysBefore && dayNum <= cny + SPRING_FESTIVAL_WINDOW.daysAfter
  );
}

/** Heating season in Inner Mongolia: 15 October to 15 April inclusive. */
export function inHeatingSeason(dayNum: number): boolean {
  const { month, day } = ymdFromDay(dayNum);
  if (month >= 11 || month <= 3) return true;
  if (month === 10) return day >= 15;
  if (month === 4) return day <= 15;
  return false;
}

/**
 * The calendar days an observation stands for: the day itself; for a week the 7 days centred on
 * the date (sources disagree on whether a week is dated by its start or its end, centring halves
 * the error either way); for a month the whole calendar month.
 */
export function periodDays(dayNum: number, frequency: Frequency): { start: number; end: number } {
  if (frequency === 'day') return { start: dayNum, end: dayNum };
  if (frequency === 'week') return { start: dayNum - 3, end: dayNum + 3 };
  const { year, month } = ymdFromDay(dayNum);
  const start = dayFromYmd(year, month, 1);
  return { start, end: start + daysInMonth(year, month) - 1 };
}

/** Fractions (0–1) of the observation's period inside the Spring Festival window and the heating season. */
export function calendarFractions(
  dayNum: number,
  frequency: Frequency,
): { springFestival: number; heating: number } {
  const { start, end } = periodDays(dayNum, frequency);
  let sf = 0;
  let heat = 0;
  for (let d = start; d <= end; d++) {
    if (inSpringFestival(d) === true) sf++;
    if (inHeatingSeason(d)) heat++;
  }
  const len = end - start + 1;
  return { springFestival: sf / len, heating: heat / len };
}
