/**
 * Who is calling and what they may see. `allowedScope` and `ownEntities` are the only questions other code asks;
 * code that filters per subscriber outside a request takes a plain `Audience` (see `audienceOf`).
 */
export type SubscriberKind = 'enterprise' | 'coal_user' | 'government' | 'operator';
export type Tier = 'public' | 'industry';

export interface Grant {
  id: string;
  /** Product codes (`indicator.price`, `forecast`, `live` …). */
  products: string[];
  /** Region codes, or '*' for every region. */
  regions: string[] | '*';
  /** Entities seen in full: the subscriber's own, or others' by explicit grant; '*' = every one. */
  mines: string[];
  users: string[];
  purpose: string;
  validFrom: string;
  validTo: string | null;
  /** Served calls per key and day (CST); null = no quota. */
  quotaPerDay: number | null;
  tier: Tier;
}

export interface Principal {
  keyId: string;
  subscriberId: string;
  subscriberName: string;
  kind: SubscriberKind;
  tier: Tier;
  grants: Grant[];
}

export interface Scope {
  regions: string[] | '*';
  mines: string[];
  users: string[];
}

/** Per-subscriber filter for code that runs outside a request (reports, alert delivery). */
export interface Audience {
  subscriberId: string;
  regions: string[] | '*';
  mines: string[];
  users: string[];
}

function validNow(g: Grant, now: number): boolean {
  return Date.parse(g.validFrom) <= now && (g.validTo === null || Date.parse(g.validTo) > now);
}

function union(a: string[], b: string[]): string[] {
  if (a.includes('*') || b.includes('*')) return ['*'];
  return [...new Set([...a, ...b])];
}

/** The union of the valid grants naming `product`; null = not granted. Operators may see everything. */
export function allowedScope(p: Principal, product: string, now = Date.now()): Scope | null {
  if (p.kind === 'operator') return { regions: '*', mines: ['*'], users: ['*'] };
  let out: Scope | null = null;
  for (const g of p.grants) {
    if (!g.products.includes(product) || !validNow(g, now)) continue;
    if (!out) {
      out = { regions: g.regions, mines: [...g.mines], users: [...g.users] };
      continue;
    }
    out = {
      regions: out.regions === '*' || g.regions === '*' ? '*' : [...new Set([...out.regions, ...g.regions])],
      mines: union(out.mines, g.mines),
      users: union(out.users, g.users),
    };
  }
  return out;
}

/** The subscriber's own entities (from every grant, valid or not): mines of an enterprise, the plant of a coal user. */
export function ownEntities(p: Principal): { mines: string[]; users: string[] } {
  const mines = new Set<string>();
  const users = new Set<string>();
  for (const g of p.grants) {
    for (const m of g.mines) if (m !== '*') mines.add(m);
    for (const u of g.users) if (u !== '*') users.add(u);
  }
  return { mines: [...mines], users: [...users] };
}

/** An `Audience` for one product (null = not granted). */
export function audienceOf(p: Principal, product: string): Audience | null {
  const s = allowedScope(p, product);
  return s && { subscriberId: p.subscriberId, ...s };
}

/** Whether the entity's own figures may be shown in full to this scope. */
export function seesEntity(s: Scope, kind: 'mine' | 'user', id: string): boolean {
  const list = kind === 'mine' ? s.mines : s.users;
  return list.includes('*') || list.includes(id);
}

export function seesRegion(s: Scope, region: string): boolean {
  return s.regions === '*' || s.regions.includes(region);
}
