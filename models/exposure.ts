/**
 * Irregular weeks. Weekly totals are often reported per calendar year, so the weeks at a year's end
 * are partial (EIA: week 53 runs to 31 December, week 1 to the first Saturday): a 2-day week is not a
 * collapse in production. When a weekly series is such a flow, each value is divided by the share of
 * a full week it covers (its spacing from the previous date / 7), the models see full-week
 * equivalents, and forecasts are multiplied back by the share of their target week. A weekly price
 * (an average) is not scaled: a series is treated as a flow only when its short weeks are lower than
 * their neighbours roughly in proportion to their length. Longer gaps (a missing week) are not scaled.
 */
import { median } from 'simple-statistics';

/** Shares (0, 1] per observation when the series is a weekly flow with partial weeks, else null. */
export function weekExposure(days: readonly number[], values: readonly number[]): number[] | null {
  const n = days.length;
  const share = days.map((d, i) => (i === 0 ? 1 : Math.min(1, Math.max(1, d - days[i - 1]!) / 7)));
  const ratios: number[] = [];
  const shares: number[] = [];
  for (let i = 1; i < n; i++) {
    if (share[i]! >= 1) continue;
    const neighbours: number[] = [];
    for (let j = Math.max(0, i - 3); j <= Math.min(n - 1, i + 3); j++)
      if (j !== i && share[j]! >= 1) neighbours.push(values[j]!);
    if (neighbours.length < 2) continue;
    const ref = median(neighbours);
    if (!(ref > 0)) continue;
    ratios.push(values[i]! / ref);
    shares.push(share[i]!);
  }
  if (ratios.length < 2 || values.some((v) => v < 0)) return null;
  const r = median(ratios);
  const s = median(shares);
  return r < 0.85 && Math.abs(r - s) < 0.25 ? share : null;
}
