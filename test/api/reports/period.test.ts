import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeFormula } from '../../../api/reports/render.ts';
import {
  isoWeek,
  lastCompletePeriod,
  parsePeriod,
  previousPeriod,
  sameLastYear,
} from '../../../api/reports/period.ts';

const test = suite('api/reports/period');
const at = (s: string) => Date.parse(s);

test('parses each period kind in Asia/Shanghai', () => {
  const d = parsePeriod('day', '2026-10-05');
  assert.is(d.from, at('2026-10-05T00:00:00+08:00'));
  assert.is(d.to, at('2026-10-06T00:00:00+08:00'));
  const m = parsePeriod('month', '2026-02');
  assert.is(m.key, '2026-02');
  assert.is(m.days.length, 28);
  const y = parsePeriod('year', '2024');
  assert.is(y.days.length, 366);
  const w = parsePeriod('week', '2026-W41');
  assert.is(w.from, at('2026-10-05T00:00:00+08:00'));
  assert.is(parsePeriod('week', '2026-10-07').key, '2026-W41');
  assert.is(parsePeriod('week', '2021-01-03').key, '2020-W53');
});

test('rejects bad input with a clear error', () => {
  for (const [k, d] of [
    ['quarter', '2026-10'],
    ['day', '2026-02-30'],
    ['month', '2026-13'],
    ['week', '2026-W60'],
    ['day', 'x'],
    ['year', '1899'],
  ]) {
    try {
      parsePeriod(k, d);
      assert.unreachable(`${k} ${d}`);
    } catch (err) {
      assert.is((err as { code?: string }).code, 'INPUT_INVALID', `${k} ${d}`);
      assert.match((err as Error).message, / \/ /);
    }
  }
});

test('previous period, same period last year and the period a scheduled run reports on', () => {
  assert.is(previousPeriod(parsePeriod('month', '2026-01')).key, '2025-12');
  assert.is(previousPeriod(parsePeriod('week', '2026-W01')).key, '2025-W52');
  assert.is(sameLastYear(parsePeriod('day', '2024-02-29')).key, '2023-02-28');
  assert.is(sameLastYear(parsePeriod('month', '2026-10')).key, '2025-10');
  assert.is(sameLastYear(parsePeriod('week', '2026-W41')).key, '2025-W41');
  assert.is(lastCompletePeriod('day', at('2026-11-01T07:00:00+08:00')).key, '2026-10-31');
  assert.is(lastCompletePeriod('week', at('2026-11-02T07:30:00+08:00')).key, '2026-W44');
  assert.is(lastCompletePeriod('month', at('2026-11-01T08:00:00+08:00')).key, '2026-10');
  assert.is(lastCompletePeriod('year', at('2027-01-01T09:00:00+08:00')).key, '2026');
  assert.equal(isoWeek(at('2026-12-31T12:00:00+08:00')), { year: 2026, week: 53 });
});

test('spreadsheet formula injection is escaped', () => {
  assert.is(escapeFormula('=HYPERLINK("x")'), '\'=HYPERLINK("x")');
  assert.is(escapeFormula('+1'), "'+1");
  assert.is(escapeFormula('@SUM(A1)'), "'@SUM(A1)");
  assert.is(escapeFormula('动力煤'), '动力煤');
});

test.run();
