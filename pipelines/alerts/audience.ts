/**
 * Who sees an alert. An `Audience` is what a subscriber's grant for the `alert`
 * product allows (built by the access layer from `allowedScope`): regions (or
 * '*'), and its own mines and coal users. Market-wide alerts (prices, the city
 * balance, ports, rail routes) go to every audience; an alert on one mine or
 * coal user only to audiences holding that entity (or its region, or '*').
 */
export interface Audience {
  subscriberId: string;
  regions: string[] | '*';
  mines: string[];
  users: string[];
}

export interface AlertScope {
  scope: string;
  scopeId: string;
  region?: string | null;
}

/** Scopes whose alerts concern one company's entity. */
const ENTITY_SCOPES = new Set(['mine', 'user']);

export function audienceSees(a: Omit<Audience, 'subscriberId'>, s: AlertScope): boolean {
  if (a.regions === '*') return true;
  if (s.scope === 'region') return a.regions.includes(s.scopeId);
  if (!ENTITY_SCOPES.has(s.scope)) return true;
  if (s.scope === 'mine' && (a.mines.includes(s.scopeId) || a.mines.includes('*'))) return true;
  if (s.scope === 'user' && (a.users.includes(s.scopeId) || a.users.includes('*'))) return true;
  return !!s.region && a.regions.includes(s.region);
}

/** Parses an audience given as JSON (webhook registration); throws a RangeError naming the field. */
export function parseAudience(v: unknown, subscriberId: string): Audience {
  const o = (v ?? {}) as Record<string, unknown>;
  const list = (x: unknown, name: string): string[] => {
    if (x === undefined) return [];
    if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) throw new RangeError(name);
    return x as string[];
  };
  const regions = o.regions === '*' ? '*' : list(o.regions, 'regions');
  return { subscriberId, regions, mines: list(o.mines, 'mines'), users: list(o.users, 'users') };
}
