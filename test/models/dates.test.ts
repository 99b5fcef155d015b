import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  dayFromYearWeek,
  dayFromYmd,
  detectFrequency,
  formatDay,
  futureDays,
  isTradingDaySeries,
  parseDateText,
  seasonalPeriodFor,
  weekday,
} from '../../models/dates.ts';
import {
  calendarFractions,
  CHINESE_NEW_YEAR,
  inHeatingSeason,
  inSpringFestival,
} from '../../models/calendar.ts';

const p = (s: string) => {
  const d = parseDateText(s);
  return d === null ? null : formatDay(d);
};

test('parseDateText accepts the documented forms', () => {
  assert.is(p('2024-01'), '2024-01-01');
  assert.is(p('2024-01-31'), '2024-01-31');
  assert.is(p('2024/1/1'), '2024-01-01');
  assert.is(p('2024/1'), '2024-01-01');
  assert.is(p('20240229'), '2024-02-29');
  assert.is(p('2024年3月'), '2024-03-01');
  assert.is(p('2024年3月5日'), '2024-03-05');
  assert.is(p('2024-01-01T00:00:00Z'), '2024-01-01');
  // Instants get their date in China Standard Time: Asia/Shanghai buckets and UTC midnights both work.
  assert.is(p('2024-01-01T00:00:00+08:00'), '2024-01-01');
  assert.is(p('2023-12-31T16:00:00Z'), '2024-01-01');
  assert.is(p('2024-01-01T23:30:00+08:00'), '2024-01-01');
  assert.is(p('2024-01-01 08:00'), '2024-01-01');
  assert.is(p(' 2024-01-02 '), '2024-01-02');
});

test('parseDateText rejects invalid dates', () => {
  for (const s of [
    '',
    'abc',
    '2023-02-29',
    '2024-13',
    '2024-00-10',
    '2024-1-32',
    '24-01-01',
    '1/1/2024',
    '2024-01-01T25:00:00Z',
  ]) {
    assert.is(parseDateText(s), null, s);
  }
});

test('weekday and EIA year/week dates', () => {
  assert.is(weekday(dayFromYmd(2024, 1, 1)), 1); // Monday
  assert.is(weekday(dayFromYmd(1970, 1, 1)), 4); // Thursday
  // 1985-01-01 was a Tuesday: week 1 ends Saturday 5 Jan, week 53 is cut at 31 Dec.
  assert.is(formatDay(dayFromYearWeek(1985, 1)!), '1985-01-05');
  assert.is(formatDay(dayFromYearWeek(1985, 2)!), '1985-01-12');
  assert.is(formatDay(dayFromYearWeek(1985, 53)!), '1985-12-31');
  assert.is(formatDay(dayFromYearWeek(1986, 1)!), '1986-01-04');
  assert.is(dayFromYearWeek(1985, 54), null);
  assert.is(dayFromYearWeek(1985, 0), null);
});

test('detectFrequency uses the median spacing', () => {
  const days = (start: string, step: number, n: number) =>
    Array.from({ length: n }, (_, i) => parseDateText(start)! + step * i);
  assert.is(detectFrequency(days('2024-01-01', 1, 30)).frequency, 'day');
  assert.is(detectFrequency(days('2024-01-06', 7, 30)).frequency, 'week');
  const months = Array.from({ length: 24 }, (_, i) => dayFromYmd(2020, 1 + i, 1));
  assert.is(detectFrequency(months).frequency, 'month');
  // A few gaps do not change the median.
  const gappy = days('2024-01-01', 1, 30).filter((_, i) => i % 10 !== 5);
  assert.is(detectFrequency(gappy).frequency, 'day');
  // Quarterly is not supported.
  const quarters = Array.from({ length: 12 }, (_, i) => dayFromYmd(2020, 1 + 3 * i, 1));
  assert.is(detectFrequency(quarters).frequency, null);
  assert.is(detectFrequency(quarters).medianSpacingDays, 91);
});

test('seasonal periods: day 7 (5 on trading days), month 12, week 52 only with two full years', () => {
  assert.is(seasonalPeriodFor('day', 50), 7);
  assert.is(seasonalPeriodFor('day', 50, true), 5);
  assert.is(seasonalPeriodFor('month', 50), 12);
  assert.is(seasonalPeriodFor('week', 103), 1);
  assert.is(seasonalPeriodFor('week', 104), 52);
});

test('trading-day series: detected from absent weekends, forecast dates skip weekends', () => {
  // 2024-01-01 was a Monday.
  const start = dayFromYmd(2024, 1, 1);
  const calendar = Array.from({ length: 60 }, (_, i) => start + i);
  const trading = calendar.filter((d) => weekday(d) !== 0 && weekday(d) !== 6);
  assert.ok(isTradingDaySeries(trading));
  assert.not.ok(isTradingDaySeries(calendar));
  // One exceptional weekend trading day (a make-up working day) in 150 is still a trading-day series.
  const long = Array.from({ length: 210 }, (_, i) => start + i).filter(
    (d) => weekday(d) !== 0 && (weekday(d) !== 6 || d === start + 5),
  );
  assert.ok(isTradingDaySeries(long));
  // Friday 2024-01-05 → Monday, Tuesday.
  assert.equal(futureDays(dayFromYmd(2024, 1, 5), 'day', 3, true).map(formatDay), [
    '2024-01-08',
    '2024-01-09',
    '2024-01-10',
  ]);
});

test('futureDays steps by day, week and month (keeping month ends)', () => {
  const d = parseDateText('2024-01-31')!;
  assert.equal(futureDays(d, 'day', 2).map(formatDay), ['2024-02-01', '2024-02-02']);
  assert.equal(futureDays(d, 'week', 2).map(formatDay), ['2024-02-07', '2024-02-14']);
  assert.equal(futureDays(d, 'month', 3).map(formatDay), ['2024-02-29', '2024-03-31', '2024-04-30']);
  assert.equal(futureDays(parseDateText('2024-11-15')!, 'month', 3).map(formatDay), [
    '2024-12-15',
    '2025-01-15',
    '2025-02-15',
  ]);
});

test('Chinese New Year table covers 2015–2035', () => {
  for (let y = 2015; y <= 2035; y++) {
    const d = CHINESE_NEW_YEAR[y]!;
    assert.ok(d.startsWith(`${y}-0`), `${y}: ${d}`);
    assert.ok(d >= `${y}-01-21` && d <= `${y}-02-20`, `${y}: ${d} outside 21 Jan – 20 Feb`);
  }
});

test('Spring Festival window and heating season', () => {
  // CNY 2024 = 10 Feb; window 3 Feb – 25 Feb.
  assert.is(inSpringFestival(parseDateText('2024-02-02')!), false);
  assert.is(inSpringFestival(parseDateText('2024-02-03')!), true);
  assert.is(inSpringFestival(parseDateText('2024-02-25')!), true);
  assert.is(inSpringFestival(parseDateText('2024-02-26')!), false);
  assert.is(inSpringFestival(parseDateText('2010-02-14')!), null);
  assert.is(inHeatingSeason(parseDateText('2024-10-14')!), false);
  assert.is(inHeatingSeason(parseDateText('2024-10-15')!), true);
  assert.is(inHeatingSeason(parseDateText('2024-01-10')!), true);
  assert.is(inHeatingSeason(parseDateText('2024-04-15')!), true);
  assert.is(inHeatingSeason(parseDateText('2024-04-16')!), false);
  assert.is(inHeatingSeason(parseDateText('2024-07-01')!), false);
  // February 2024 (29 days): 23 days in the festival window, all heating.
  const feb = calendarFractions(parseDateText('2024-02-01')!, 'month');
  assert.ok(Math.abs(feb.springFestival - 23 / 29) < 1e-12);
  assert.is(feb.heating, 1);
  // October: 17 of 31 days heating.
  assert.ok(Math.abs(calendarFractions(parseDateText('2024-10-01')!, 'month').heating - 17 / 31) < 1e-12);
});

test.run();
