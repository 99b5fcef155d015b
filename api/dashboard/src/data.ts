/** Shapes of the indicator API and small helpers over them. */
import { get, type LivePoint } from './api.ts';

export interface Served {
  metric: string;
  window: string;
  windowStart: string;
  value: number | null;
  unit: string;
  suppressed?: true;
}
export interface Entity {
  scopeId: string;
  points: Served[];
}
export interface Latest {
  family: string;
  scope: string;
  entities: Entity[];
}
export interface SeriesBody {
  family: string;
  metric: string;
  zh: string;
  unit: string;
  scope: string;
  series: Entity[];
}

export const DAY_MS = 86_400_000;

export function latest(family: string, scope: string): Promise<Latest> {
  return get<Latest>(`/v1/indicators/latest?family=${family}&scope=${scope}`);
}

export function series(
  family: string,
  metric: string,
  scope: string,
  days: number,
  window = 'day',
  id?: string,
): Promise<SeriesBody> {
  const to = Date.now();
  const from = new Date(to - days * DAY_MS).toISOString();
  return get<SeriesBody>(
    `/v1/indicators/series?family=${family}&metric=${metric}&scope=${scope}&window=${window}&from=${encodeURIComponent(from)}${id ? `&id=${encodeURIComponent(id)}` : ''}`,
  );
}

/** The newest point of a metric (and window) of one entity. */
export function pick(e: Entity | undefined, metric: string, window = 'day'): Served | null {
  let best: Served | null = null;
  for (const p of e?.points ?? [])
    if (p.metric === metric && p.window === window && (!best || p.windowStart > best.windowStart)) best = p;
  return best;
}

export function valueOf(e: Entity | undefined, metric: string, window = 'day'): number | null {
  return pick(e, metric, window)?.value ?? null;
}

/** Folds live points into a latest snapshot: newer or same window replaces. Returns whether anything changed. */
export function merge(l: Latest | null, family: string, points: LivePoint[]): boolean {
  if (!l || l.family !== family) return false;
  let changed = false;
  for (const p of points) {
    if (p.scope !== l.scope) continue;
    let e = l.entities.find((x) => x.scopeId === p.scopeId);
    if (!e) l.entities.push((e = { scopeId: p.scopeId, points: [] }));
    const i = e.points.findIndex((x) => x.metric === p.metric && x.window === p.window);
    const served: Served = {
      metric: p.metric,
      window: p.window,
      windowStart: p.windowStart,
      value: p.value,
      unit: p.unit,
      ...(p.suppressed ? { suppressed: true as const } : {}),
    };
    if (i < 0) {
      e.points.push(served);
      changed = true;
    } else if (e.points[i]!.windowStart <= p.windowStart) {
      e.points[i] = served;
      changed = true;
    }
  }
  return changed;
}

/** A series as [date, value] pairs (points without a value stay as gaps). */
export function pairs(e: Entity): [string, number | null][] {
  return e.points.map((p) => [p.windowStart, p.value]);
}

/** Sums several entities' series per window start (e.g. every port's stock into the city's). */
export function total(entities: Entity[]): [string, number][] {
  const by = new Map<string, number>();
  for (const e of entities)
    for (const p of e.points)
      if (p.value !== null) by.set(p.windowStart, (by.get(p.windowStart) ?? 0) + p.value);
  return [...by.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}
