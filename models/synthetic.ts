/**
 * Seeded synthetic coal series with known structure, for tests and the bench (not for production).
 */
import { inHeatingSeason, inSpringFestival } from './calendar.ts';
import { dayFromYmd, formatDay, futureDays } from './dates.ts';
import { mulberry32 } from './neural.ts';
import type { Observation } from './types.ts';

export function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Weekday profile of mine-mouth sales (Sunday … Saturday): quieter weekends. */
const WEEKDAY_PROFILE = [-0.6, 0.2, 0.5, 0.3, 0.1, 0.0, -0.5];

export interface DailyVolumeOptions {
  seed: number;
  days: number;
  start?: string;
  /** Base daily tonnes. */
  level?: number;
  /** Tonnes per day added each day. */
  trendPerDay?: number;
  /** Amplitude of the weekday pattern, tonnes. */
  weekly?: number;
  /** Noise standard deviation, tonnes. */
  noise?: number;
  /** Include the Spring Festival dip and heating-season uplift. */
  calendar?: boolean;
}

/** Daily transaction volume: level + trend + weekday pattern (+ festival dip, heating uplift) + noise. */
export function dailyVolume(o: DailyVolumeOptions): Observation[] {
  const rng = mulberry32(o.seed);
  const [y, m, d] = (o.start ?? '2023-01-01').split('-').map(Number) as [number, number, number];
  const start = dayFromYmd(y, m, d);
  const level = o.level ?? 10_000;
  const out: Observation[] = [];
  for (let t = 0; t < o.days; t++) {
    const day = start + t;
    let v =
      level + (o.trendPerDay ?? 5) * t + (o.weekly ?? 1500) * WEEKDAY_PROFILE[(((day + 4) % 7) + 7) % 7]!;
    if (o.calendar) {
      if (inSpringFestival(day) === true) v *= 0.55;
      if (inHeatingSeason(day)) v *= 1.1;
    }
    v += (o.noise ?? 400) * gaussian(rng);
    out.push({ date: formatDay(day), value: Math.max(0, v) });
  }
  return out;
}

/** Weekly price (元/吨): mean-reverting AR(1) around a level with an annual winter premium. */
export function weeklyPrice(o: {
  seed: number;
  weeks: number;
  start?: string;
  level?: number;
}): Observation[] {
  const rng = mulberry32(o.seed);
  const [y, m, d] = (o.start ?? '2020-01-04').split('-').map(Number) as [number, number, number];
  const days = [dayFromYmd(y, m, d), ...futureDays(dayFromYmd(y, m, d), 'week', o.weeks - 1)];
  const level = o.level ?? 700;
  let dev = 0;
  return days.map((day, t) => {
    dev = 0.9 * dev + 12 * gaussian(rng);
    const season = 40 * Math.cos((2 * Math.PI * t) / 52.18);
    return { date: formatDay(day), value: level + season + dev };
  });
}

/** Monthly production (万吨): trend + heating-season peak + Spring Festival dip + noise. */
export function monthlyProduction(o: {
  seed: number;
  months: number;
  start?: string;
  level?: number;
}): Observation[] {
  const rng = mulberry32(o.seed);
  const [y, m] = (o.start ?? '2015-01').split('-').map(Number) as [number, number];
  const level = o.level ?? 5000;
  const out: Observation[] = [];
  for (let t = 0; t < o.months; t++) {
    const day = dayFromYmd(y, m + t, 1);
    const month = ((m - 1 + t) % 12) + 1;
    let v = level * (1 + 0.003 * t) + 300 * Math.cos((2 * Math.PI * (month - 1)) / 12);
    if (month === 2) v -= 600;
    v += 120 * gaussian(rng);
    out.push({ date: formatDay(day), value: v });
  }
  return out;
}

/** Gaussian random walk: nothing to learn beyond the last value. */
export function randomWalk(o: {
  seed: number;
  n: number;
  start?: string;
  step?: 'day' | 'month';
}): Observation[] {
  const rng = mulberry32(o.seed);
  const [y, m, d] = (o.start ?? '2015-01-01').split('-').map(Number) as [number, number, number];
  const first = dayFromYmd(y, m, d);
  const days = [first, ...futureDays(first, o.step ?? 'day', o.n - 1)];
  let v = 1000;
  return days.map((day) => {
    v += 10 * gaussian(rng);
    return { date: formatDay(day), value: v };
  });
}
