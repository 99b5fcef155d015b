import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../../infra/core/errors.ts';
import { selectAndForecast, type ForecastResult } from '../../models/index.ts';
import { fitHoltWinters, holtWintersForecast } from '../../models/holt-winters.ts';
import { fitRegression, regressionForecast } from '../../models/regression.ts';
import { inSpringFestival } from '../../models/calendar.ts';
import { dayFromYmd, formatDay, futureDays, parseDateText } from '../../models/dates.ts';
import { dailyVolume, monthlyProduction, randomWalk, weeklyPrice } from '../../models/synthetic.ts';

const FAST = ['naive', 'snaive', 'theta', 'holt_winters', 'regression'];
const SEASONAL_MODELS = ['theta', 'mstl', 'holt_winters', 'regression', 'combo'];

function assertWellFormed(r: ForecastResult, horizon: number) {
  assert.is(r.points.length, horizon);
  for (const p of r.points) {
    for (const k of ['value', 'lo80', 'hi80', 'lo95', 'hi95'] as const)
      assert.ok(Number.isFinite(p[k]), `${k} finite`);
    assert.ok(
      p.lo95 <= p.lo80 && p.lo80 <= p.value && p.value <= p.hi80 && p.hi80 <= p.hi95,
      JSON.stringify(p),
    );
  }
  const dates = r.points.map((p) => p.date);
  assert.equal([...dates].sort(), dates);
  assert.ok(dates[0]! > r.trainedTo);
  const naive = r.backtest.find((b) => b.model === 'naive')!;
  const snaive = r.backtest.find((b) => b.model === 'snaive')!;
  const chosen = r.backtest.find((b) => b.model === r.model)!;
  assert.ok(naive.mase !== null && snaive.mase !== null && chosen.mase !== null);
  if (r.selection === 'model') {
    // The selection rule: a candidate must beat both benchmarks.
    assert.ok(
      chosen.mase! < naive.mase! && chosen.mase! < snaive.mase!,
      `${r.model} ${chosen.mase} vs naive ${naive.mase}, snaive ${snaive.mase}`,
    );
    assert.not.ok(['naive', 'snaive'].includes(r.model));
  } else {
    assert.ok(['naive', 'snaive'].includes(r.model));
  }
}

test('Holt-Winters recovers a clean trend + weekly season', () => {
  const season = [5, -3, 2, 8, -6, -4, -2];
  const y = Array.from({ length: 140 }, (_, t) => 100 + 0.5 * t + season[t % 7]!);
  const fit = fitHoltWinters(y, 7);
  const f = holtWintersForecast(fit, 14);
  f.forEach((v, k) => {
    const t = 140 + k;
    const truth = 100 + 0.5 * t + season[t % 7]!;
    assert.ok(Math.abs(v - truth) / truth < 0.01, `step ${k + 1}: ${v} vs ${truth}`);
  });
});

test('calendar regression learns the weekday pattern and the Spring Festival dip', () => {
  const pts = dailyVolume({ seed: 3, days: 760, start: '2023-01-01', calendar: true, trendPerDay: 0 });
  const days = pts.map((p) => parseDateText(p.date)!);
  const values = pts.map((p) => p.value);
  const fit = fitRegression(values, days, 'day');
  const future = futureDays(days[days.length - 1]!, 'day', 60);
  const f = regressionForecast(fit, future, 'day');
  const inSf = f.filter((_, i) => inSpringFestival(future[i]!) === true);
  const outSf = f.filter((_, i) => inSpringFestival(future[i]!) === false);
  assert.ok(inSf.length > 5 && outSf.length > 5, 'horizon covers the 2025 festival');
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(mean(inSf) < 0.8 * mean(outSf), `festival ${mean(inSf)} vs ${mean(outSf)}`);
  // Sundays (profile −0.6) below Tuesdays (+0.5) outside the festival.
  const byWd = (wd: number) =>
    mean(f.filter((_, i) => (future[i]! + 4) % 7 === wd && inSpringFestival(future[i]!) === false));
  assert.ok(byWd(0) < byWd(2));
});

test('selection rule: on random walks naive is served, labelled as a benchmark', () => {
  for (const seed of [21, 22, 23, 24]) {
    const r = selectAndForecast(randomWalk({ seed, n: 200, step: 'month' }));
    assertWellFormed(r, 12);
    assert.is(r.model, 'naive', JSON.stringify(r.backtest));
    assert.is(r.selection, 'benchmark');
    // Every default candidate was scored on the same origins.
    assert.equal(
      r.backtest.map((b) => b.model),
      ['naive', 'snaive', 'theta', 'ets', 'mstl', 'holt_winters', 'regression', 'combo'],
    );
    for (const b of r.backtest) assert.is(b.origins, 10, `${b.model}: ${b.note}`);
  }
});

test('selection rule: on a strongly seasonal series a seasonal model is chosen', () => {
  for (const seed of [31, 32]) {
    const r = selectAndForecast(monthlyProduction({ seed, months: 120 }));
    assertWellFormed(r, 12);
    assert.is(r.selection, 'model');
    assert.is(r.seasonalPeriod, 12);
    assert.ok(SEASONAL_MODELS.includes(r.model), r.model);
    if (r.model === 'combo')
      assert.ok(
        r.members!.length === 3 && r.members!.every((m) => SEASONAL_MODELS.includes(m) || m === 'ets'),
      );
  }
});

test('daily volume with weekly season and trend: period 7, intervals calibrated on the backtest', () => {
  for (const seed of [1, 2]) {
    const r = selectAndForecast(dailyVolume({ seed, days: 730 }), { models: FAST });
    assert.is(r.frequency, 'day');
    assert.is(r.tradingDays, false);
    assert.is(r.seasonalPeriod, 7);
    assert.is(r.horizon, 28);
    assertWellFormed(r, 28);
    assert.is(r.selection, 'model');
    assert.ok(r.coverage.p80 >= 0.65 && r.coverage.p80 <= 0.95, `seed ${seed}: p80 ${r.coverage.p80}`);
    assert.ok(r.coverage.p95 >= 0.85, `seed ${seed}: p95 ${r.coverage.p95}`);
    assert.is(r.coverage.points, 10 * 28);
  }
});

test('a perfectly repeating series keeps seasonal naive', () => {
  const pattern = [3, 5, 9, 4, 4, 1, 7];
  const start = dayFromYmd(2024, 1, 1);
  const pts = Array.from({ length: 200 }, (_, t) => ({
    date: formatDay(start + t),
    value: 100 * pattern[t % 7]!,
  }));
  const r = selectAndForecast(pts, { horizon: 14 });
  assert.is(r.model, 'snaive');
  assert.is(r.selection, 'benchmark');
  assert.is(r.backtest.find((b) => b.model === 'snaive')!.mase, 0);
  r.points.forEach((p, k) => assert.is(p.value, 100 * pattern[(200 + k) % 7]!));
});

test('trading-day prices: period 5, no weekend forecast dates', () => {
  const start = dayFromYmd(2023, 1, 2);
  const walk = randomWalk({ seed: 8, n: 600 });
  const pts = walk
    .map((p, i) => ({ date: formatDay(start + i), value: p.value }))
    .filter((p) => {
      const wd = (parseDateText(p.date)! + 4) % 7;
      return wd !== 0 && wd !== 6;
    });
  const r = selectAndForecast(pts, { models: FAST, horizon: 20 });
  assert.is(r.tradingDays, true);
  assert.is(r.seasonalPeriod, 5);
  assertWellFormed(r, 20);
  for (const p of r.points) {
    const wd = (parseDateText(p.date)! + 4) % 7;
    assert.ok(wd !== 0 && wd !== 6, `${p.date} is a weekend`);
  }
});

test('weekly prices: no 52-week season without an annual pattern; kept with one', () => {
  const start = dayFromYmd(2015, 1, 3);
  const walk = randomWalk({ seed: 5, n: 400 }).map((p, i) => ({
    date: formatDay(start + 7 * i),
    value: p.value,
  }));
  const r = selectAndForecast(walk, { models: FAST });
  assert.is(r.frequency, 'week');
  assert.is(r.seasonalPeriod, 1);
  assertWellFormed(r, 13);
  const w = selectAndForecast(weeklyPrice({ seed: 11, weeks: 260 }), { models: FAST });
  assert.is(w.seasonalPeriod, 52);
  assertWellFormed(w, 13);
});

test('weekly flow with partial year-end weeks: modelled as full-week equivalents', () => {
  // Weeks end on Saturdays, and a week that spans a new year is split at 31 December (as EIA reports):
  // both parts are partial and their values proportional to the days they cover.
  const base = weeklyPrice({ seed: 3, weeks: 700 });
  const ends: number[] = [];
  for (let d = dayFromYmd(2010, 1, 2); d < dayFromYmd(2020, 1, 1); d += 7) {
    const dec31 = dayFromYmd(Number(formatDay(d).slice(0, 4)) - 1, 12, 31);
    if (ends.length > 0 && ends[ends.length - 1]! < dec31 && dec31 < d) ends.push(dec31);
    ends.push(d);
  }
  const pts = ends.map((d, i) => ({
    date: formatDay(d),
    value: (1000 + base[i]!.value) * (i === 0 ? 1 : (d - ends[i - 1]!) / 7),
  }));
  const r = selectAndForecast(pts, { models: FAST, frequency: 'week' });
  assert.is(r.partialWeeksScaled, true);
  assertWellFormed(r, 13);
  const plain = selectAndForecast(weeklyPrice({ seed: 11, weeks: 260 }), { models: FAST });
  assert.is(plain.partialWeeksScaled, false);
});

test('monthly series with January published together with February: split over both months, seasons stay aligned', () => {
  const full = monthlyProduction({ seed: 14, months: 120 });
  // Drop every January and put its value into February's row, as Jan–Feb cumulative statistics do.
  const combined = full.flatMap((p, i) =>
    p.date.slice(5, 7) === '01'
      ? []
      : p.date.slice(5, 7) === '02' && i > 0
        ? [{ date: p.date, value: p.value + full[i - 1]!.value }]
        : [p],
  );
  const r = selectAndForecast(combined);
  assert.ok(r.monthsFilled !== undefined && r.monthsFilled.split, JSON.stringify(r.monthsFilled));
  assert.is(r.monthsFilled!.added, 9);
  assert.is(r.seasonalPeriod, 12);
  assertWellFormed(r, 12);
  assert.is(r.selection, 'model');
  // A price series with a skipped month is interpolated, not split.
  const prices = randomWalk({ seed: 3, n: 120, step: 'month' }).filter((_, i) => i !== 60);
  const p = selectAndForecast(prices, { models: FAST });
  assert.equal(p.monthsFilled, { added: 1, split: false });
  assert.is(selectAndForecast(full, { models: FAST }).monthsFilled, undefined);
});

test('combination: mean of the best three, members listed', () => {
  const r = selectAndForecast(monthlyProduction({ seed: 12, months: 96 }), {
    models: ['naive', 'snaive', 'theta', 'holt_winters', 'regression', 'combo'],
    horizon: 6,
  });
  const combo = r.backtest.find((b) => b.model === 'combo')!;
  assert.ok(combo.mase !== null);
  assert.match(combo.note!, /final: \w+, \w+, \w+/);
  if (r.model === 'combo') assert.is(r.members!.length, 3);
  const one = selectAndForecast(monthlyProduction({ seed: 12, months: 96 }), {
    models: ['theta', 'combo'],
    horizon: 6,
  });
  assert.match(one.backtest.find((b) => b.model === 'combo')!.note!, /fewer than 2 candidates/);
});

test('networks are opt-in, trained by iterations only; short series skip them and say so', () => {
  const r = selectAndForecast(monthlyProduction({ seed: 9, months: 120 }), {
    models: ['naive', 'lstm', 'gru'],
    seed: 7,
  });
  for (const name of ['lstm', 'gru']) {
    const row = r.backtest.find((b) => b.model === name)!;
    assert.ok(row.mase !== null, row.note);
    assert.match(row.note!, /iterations/);
  }
  const short = selectAndForecast(monthlyProduction({ seed: 9, months: 40 }), {
    horizon: 6,
    models: ['lstm', 'gru'],
  });
  for (const name of ['lstm', 'gru']) {
    const row = short.backtest.find((b) => b.model === name)!;
    assert.is(row.mase, null);
    assert.is(row.origins, 0);
    assert.match(row.note!, /skipped/);
  }
  assertWellFormed(short, 6);
  const tiny = selectAndForecast(monthlyProduction({ seed: 9, months: 30 }), { horizon: 6, models: FAST });
  assert.is(tiny.seasonalPeriod, 1);
});

test('a tiny neural budget skips LSTM/GRU with the reason', () => {
  const r = selectAndForecast(dailyVolume({ seed: 1, days: 400 }), {
    models: ['snaive', 'lstm'],
    neuralBudgetMs: 10,
  });
  assert.match(r.backtest.find((b) => b.model === 'lstm')!.note!, /budget/);
});

test('rows as pg returns them: Date buckets (Asia/Shanghai midnight) and numeric strings', () => {
  const pts = monthlyProduction({ seed: 4, months: 60 });
  const asPg = pts.map((p) => ({ date: new Date(`${p.date}T00:00:00+08:00`), value: p.value.toFixed(3) }));
  const rounded = pts.map((p) => ({ date: p.date, value: Number(p.value.toFixed(3)) }));
  const opts = { models: FAST };
  assert.equal(selectAndForecast(asPg, opts), selectAndForecast(rounded, opts));
});

test('bad input is an InputError with a reason', () => {
  const good = dailyVolume({ seed: 1, days: 100 });
  const cases: [unknown[], RegExp, object?][] = [
    [good.slice(0, 2), /too few points/],
    [good.slice(0, 30), /too few points: a horizon of 28 needs at least 37/],
    [[good[1], good[0], ...good.slice(2)], /point 2: .*ascending/],
    [[good[0], good[0], ...good.slice(1)], /point 2: .*duplicate/],
    [[{ date: 'x', value: 1 }, ...good], /point 1: invalid date "x"/],
    [[{ date: good[0]!.date, value: NaN }, ...good.slice(1)], /point 1: invalid value/],
    [good, /unknown model "prophet"/, { models: ['prophet'] }],
    [good, /frequency month does not match/, { frequency: 'month' }],
    [good, /invalid horizon/, { horizon: 0 }],
  ];
  for (const [pts, re, opts] of cases) {
    try {
      selectAndForecast(pts as never, opts);
      assert.unreachable(String(re));
    } catch (err) {
      assert.instance(err, InputError, String(err));
      assert.match((err as Error).message, re);
    }
  }
});

test.run();
