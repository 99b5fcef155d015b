/**
 * The `coal.indicators` contract: one message per entity (family, scope, id)
 * and publication round (several when it has more than MAX_POINTS_PER_MESSAGE points), keyed `family|scope|id` so an entity's updates stay in
 * order on one partition, carrying every point of that entity the batch
 * changed. Registered under `coal.indicators-value` (BACKWARD). Consumers keep,
 * per (metric, window, windowStart), the point with the highest `version`.
 * Contributors and the top share travel with each point so a consumer outside
 * the domain can apply the same disclosure control as the API.
 */
import { SCHEMA_NAMESPACE } from '../contracts/schemas.ts';
import { isoOf, type IndicatorPoint } from './model.ts';

export const INDICATOR_SCHEMA = {
  type: 'record',
  name: 'IndicatorUpdate',
  namespace: SCHEMA_NAMESPACE,
  doc: '煤炭指标更新（按主体聚合）/ indicator updates of one entity',
  fields: [
    {
      name: 'family',
      type: 'string',
      doc: 'production|sales|price|inventory|days_of_stock|transport|balance',
    },
    {
      name: 'scope',
      type: 'string',
      doc: 'mine|region|coal_type|band|city|port|route|route_dir|gate|gate_dir|direction|freight_route|user|sector',
    },
    { name: 'scopeId', type: 'string' },
    { name: 'version', type: 'long', doc: 'snapshot version: higher saw at least what lower saw' },
    { name: 'computedAt', type: 'string', doc: 'ISO-8601' },
    {
      name: 'points',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'IndicatorPointV1',
          fields: [
            { name: 'metric', type: 'string' },
            { name: 'window', type: 'string', doc: 'hour|day|mtd|ytd|24h|7d|30d' },
            {
              name: 'windowStart',
              type: 'string',
              doc: 'ISO-8601; trailing windows: start of the anchor hour/day, which ends the window',
            },
            { name: 'value', type: ['null', 'double'], default: null },
            { name: 'unit', type: 'string' },
            { name: 'n', type: ['null', 'long'], default: null },
            { name: 'contributors', type: ['null', 'int'], default: null },
            { name: 'topShare', type: ['null', 'double'], default: null },
          ],
        },
      },
    },
  ],
} as const;

export interface IndicatorUpdateMessage {
  family: string;
  scope: string;
  scopeId: string;
  version: number;
  computedAt: string;
  points: {
    metric: string;
    window: string;
    windowStart: string;
    value: number | null;
    unit: string;
    n: number | null;
    contributors: number | null;
    topShare: number | null;
  }[];
}

/** Most points in one message: keeps a message (and a produce request) well under the broker's 1 MB limit. */
export const MAX_POINTS_PER_MESSAGE = 1000;

/** Groups points per entity into messages (an entity with more points than `maxPoints` gets several, same version). */
export function toMessages(
  points: IndicatorPoint[],
  version: number,
  now = Date.now(),
  maxPoints = MAX_POINTS_PER_MESSAGE,
): { key: string; value: IndicatorUpdateMessage }[] {
  const m = new Map<string, IndicatorUpdateMessage>();
  const out: { key: string; value: IndicatorUpdateMessage }[] = [];
  const computedAt = new Date(now).toISOString();
  for (const p of points) {
    const key = `${p.family}|${p.scope}|${p.scopeId}`;
    let msg = m.get(key);
    if (!msg || msg.points.length >= maxPoints) {
      msg = { family: p.family, scope: p.scope, scopeId: p.scopeId, version, computedAt, points: [] };
      m.set(key, msg);
      out.push({ key, value: msg });
    }
    msg.points.push({
      metric: p.metric,
      window: p.window,
      windowStart: isoOf(p.windowStart),
      value: p.value,
      unit: p.unit,
      n: p.n,
      contributors: p.contributors,
      topShare: p.topShare,
    });
  }
  return out;
}
