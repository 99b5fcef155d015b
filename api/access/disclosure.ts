/**
 * Secondary (complementary) suppression. The sibling cells of one aggregate scope (the regions, coal types, bands
 * or sectors) add up to the city total, which is published: if exactly one sibling were suppressed, the total
 * minus the others would give it back. So whenever exactly one cell of a sibling group is suppressed, the
 * smallest published sibling is suppressed with it. Applied to every company metric of an aggregate scope
 * (ratios too: conservative), per metric, window and window start, over all siblings of the scope, so the
 * outcome does not depend on which ids a request names.
 */
import type { ServedPoint } from '../routes/indicators.ts';

export interface EntityPoints {
  scopeId: string;
  points: ServedPoint[];
}

/** Suppresses complementary cells in place; returns how many it suppressed. */
export function secondarySuppress(entities: EntityPoints[]): number {
  const groups = new Map<string, { e: number; i: number }[]>();
  entities.forEach((ent, e) =>
    ent.points.forEach((p, i) => {
      if (p.contributors === null || p.contributors === undefined) return; // not company data
      const k = `${p.metric}\u0001${p.window}\u0001${p.windowStart}`;
      (groups.get(k) ?? groups.set(k, []).get(k)!).push({ e, i });
    }),
  );
  let added = 0;
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const at = (m: { e: number; i: number }) => entities[m.e]!.points[m.i]!;
    const suppressed = members.filter((m) => at(m).suppressed);
    if (suppressed.length !== 1) continue;
    let pick: { e: number; i: number } | null = null;
    for (const m of members) {
      const p = at(m);
      if (p.suppressed) continue;
      if (!pick || Math.abs(p.value ?? 0) < Math.abs(at(pick).value ?? 0)) pick = m;
    }
    if (!pick) continue;
    const p = at(pick);
    entities[pick.e]!.points[pick.i] = {
      metric: p.metric,
      window: p.window,
      windowStart: p.windowStart,
      value: null,
      unit: p.unit,
      n: null,
      contributors: p.contributors,
      suppressed: true,
    };
    added++;
  }
  return added;
}

/** Cells returned and suppressed in a response body's entities (for the audit row). */
export function countCells(entities: EntityPoints[]): { returned: number; suppressed: number } {
  let returned = 0;
  let suppressed = 0;
  for (const e of entities)
    for (const p of e.points) {
      if (p.suppressed) suppressed++;
      else returned++;
    }
  return { returned, suppressed };
}
