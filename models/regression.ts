/**
 * Linear regression on calendar features with an AR(1) correction of the residuals.
 *
 * Columns: intercept, linear trend, and by frequency
 *   day:   weekday dummies; month dummies (≥ 1 year of data); Spring Festival window flag; heating-season flag
 *   week:  annual Fourier terms (3 harmonics with ≥ 2 years, 1 with ≥ 1 year); Spring Festival and heating fractions
 *   month: month dummies (≥ 2 years, else the heating fraction); Spring Festival fraction
 * Fitted by ridge-stabilised least squares on the most recent window (day 3 years, week 5 years,
 * month 10 years) so an old regime does not fix today's trend. The residual AR(1) coefficient ρ
 * carries the last residual into the forecast as ρ^k, which makes the model track level shifts.
 */
import { calendarFractions } from './calendar.ts';
import { ymdFromDay, weekday } from './dates.ts';
import { dot, ridgeFit } from './linalg.ts';
import type { Frequency, ModelSpec } from './types.ts';

const MAX_WINDOW: Record<Frequency, number> = { day: 3 * 365, week: 5 * 52, month: 10 * 12 };
const MIN_POINTS = 8;

interface Design {
  weekday: boolean;
  monthDummies: boolean;
  fourier: number;
  springFestival: boolean;
  heating: boolean;
}

function chooseDesign(frequency: Frequency, spanDays: number): Design {
  if (frequency === 'day') {
    return { weekday: true, monthDummies: spanDays >= 365, fourier: 0, springFestival: true, heating: true };
  }
  if (frequency === 'week') {
    return {
      weekday: false,
      monthDummies: false,
      fourier: spanDays >= 730 ? 3 : spanDays >= 365 ? 1 : 0,
      springFestival: true,
      heating: true,
    };
  }
  const monthDummies = spanDays >= 730;
  // Month dummies already absorb the heating season (a fixed share of each month), so use one or the other.
  return { weekday: false, monthDummies, fourier: 0, springFestival: true, heating: !monthDummies };
}

function row(dayNum: number, t: number, frequency: Frequency, d: Design): number[] {
  const r = [1, t];
  if (d.weekday) {
    const wd = weekday(dayNum);
    for (let k = 1; k < 7; k++) r.push(wd === k ? 1 : 0);
  }
  if (d.monthDummies) {
    const { month } = ymdFromDay(dayNum);
    for (let k = 2; k <= 12; k++) r.push(month === k ? 1 : 0);
  }
  if (d.fourier > 0) {
    const { year } = ymdFromDay(dayNum);
    const doy = dayNum - Math.floor(Date.UTC(year, 0, 1) / 86_400_000);
    for (let k = 1; k <= d.fourier; k++) {
      const a = (2 * Math.PI * k * doy) / 365.25;
      r.push(Math.sin(a), Math.cos(a));
    }
  }
  if (d.springFestival || d.heating) {
    const f = calendarFractions(dayNum, frequency);
    if (d.springFestival) r.push(f.springFestival);
    if (d.heating) r.push(f.heating);
  }
  return r;
}

export interface RegressionFit {
  beta: number[];
  rho: number;
  lastResidual: number;
  design: Design;
  n: number;
}

export function fitRegression(
  values: readonly number[],
  days: readonly number[],
  frequency: Frequency,
): RegressionFit {
  const start = Math.max(0, values.length - MAX_WINDOW[frequency]);
  const y = values.slice(start);
  const ds = days.slice(start);
  const n = y.length;
  if (n < MIN_POINTS) throw new RangeError(`regression needs at least ${MIN_POINTS} points`);
  const design = chooseDesign(frequency, ds[n - 1]! - ds[0]!);
  // Trend in units of the window length keeps the column on the same scale as the dummies.
  const X = ds.map((d, i) => row(d, i / n, frequency, design));
  const beta = ridgeFit(X, y);
  const resid = y.map((v, i) => v - dot(X[i]!, beta));
  let num = 0;
  let den = 0;
  for (let i = 1; i < n; i++) {
    num += resid[i]! * resid[i - 1]!;
    den += resid[i - 1]! * resid[i - 1]!;
  }
  const rho = den > 0 ? Math.min(0.98, Math.max(-0.5, num / den)) : 0;
  return { beta, rho, lastResidual: resid[n - 1]!, design, n };
}

export function regressionForecast(
  fit: RegressionFit,
  futureDays: readonly number[],
  frequency: Frequency,
): number[] {
  let carry = fit.lastResidual;
  return futureDays.map((d, k) => {
    carry *= fit.rho;
    return dot(row(d, (fit.n + k) / fit.n, frequency, fit.design), fit.beta) + carry;
  });
}

export const regressionSpec: ModelSpec = {
  name: 'regression',
  create: (ctx) => ({
    forecast: (w) =>
      regressionForecast(fitRegression(w.values, w.days, ctx.frequency), w.futureDays, ctx.frequency),
  }),
};
