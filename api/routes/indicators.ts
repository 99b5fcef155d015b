/**
 * Indicator API: latest snapshots (Redis), series (TimescaleDB), days of stock
 * for coal users, and live updates over SSE (Redis pub/sub). Only aggregates
 * are served, never fact rows; aggregate cells of company data pass a simple
 * disclosure control (minimum contributors, dominance) and carry their
 * contributor count so a fuller control layer can be added in front.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError, CoalflowError, type Deps } from '../../infra/core/index.ts';
import {
  AGGREGATE_SCOPES,
  DAY_MS,
  FAMILIES,
  METRICS,
  metricDef,
  WINDOWS,
  DAYS_OF_STOCK_FLAT,
  series,
  createLatestReader,
  latestFromStore,
  redisKeys,
  type Family,
  type IndicatorPoint,
  type MetricDef,
  type Scope,
  type Window,
  type LatestEntry,
} from '../../pipelines/index.ts';
import { refuseEntity, viewEntities, visible } from '../access/view.ts';
import { secondarySuppress } from '../access/disclosure.ts';
import { SCHEMAS } from './schemas.ts';
import { createLiveHub, type LiveMessage } from './live-hub.ts';
import { timeParam } from './params.ts';

/** Set on "latest" while the database is down: the Redis snapshots are served, but nothing new reaches them. */
export const STALE_HEADER = 'X-Coalflow-Stale';
/** Set to `db-fallback` on "latest" answered from the store because Redis is down. */
export const SOURCE_HEADER = 'X-Coalflow-Source';
/** How long a "latest" computed from the store (Redis down) is reused, ms: the computation reads many tables. */
export const FALLBACK_REUSE_MS = 5000;

/** When the database went down (ISO 8601), with `STALE_HEADER`. */
export const STALE_SINCE_HEADER = 'X-Coalflow-Stale-Since';

/** Aggregate cells with fewer contributing companies are suppressed. */
export const MIN_CONTRIBUTORS = 3;
/** Aggregate cells where one company holds more than this share are suppressed (dominance rule). */
export const MAX_TOP_SHARE = 0.85;
/** Longest series one request may ask for: hourly windows / other windows. */
export const MAX_RANGE_HOURLY_MS = 62 * DAY_MS;
export const MAX_RANGE_MS = 3 * 366 * DAY_MS;

export interface ServedPoint {
  metric: string;
  window: Window;
  windowStart: string;
  value: number | null;
  unit: string;
  n: number | null;
  contributors: number | null;
  topShare?: number | null;
  suppressed?: true;
}

/** True when the cell must not be shown (company data in an aggregate scope with too few or a dominant contributor). */
export function isSuppressed(
  def: MetricDef | undefined,
  scope: Scope,
  p: { contributors: number | null; topShare: number | null },
): boolean {
  if (!def || def.disclosure !== 'company' || !AGGREGATE_SCOPES.has(scope)) return false;
  return (p.contributors ?? 0) < MIN_CONTRIBUTORS || (p.topShare ?? 0) > MAX_TOP_SHARE;
}

export function serve(
  p: Pick<
    IndicatorPoint | LatestEntry,
    'family' | 'metric' | 'scope' | 'window' | 'value' | 'unit' | 'n' | 'contributors' | 'topShare'
  > & { windowStart: number | string },
): ServedPoint {
  const def = metricDef(p.family, p.metric);
  const windowStart =
    typeof p.windowStart === 'number' ? new Date(p.windowStart).toISOString() : p.windowStart;
  if (isSuppressed(def, p.scope, p)) {
    return {
      metric: p.metric,
      window: p.window,
      windowStart,
      value: null,
      unit: p.unit,
      n: null,
      contributors: p.contributors,
      suppressed: true,
    };
  }
  return {
    metric: p.metric,
    window: p.window,
    windowStart,
    value: p.value,
    unit: p.unit,
    n: p.n,
    contributors: p.contributors,
    topShare: p.topShare,
  };
}

function bad(msg: string): never {
  throw new InputError(msg);
}

function family(v: unknown): Family {
  if (typeof v !== 'string' || !(FAMILIES as readonly string[]).includes(v))
    bad(`family 无效，可选 ${FAMILIES.join('|')} / family must be one of ${FAMILIES.join('|')}`);
  return v as Family;
}

function scopeOf(v: unknown, f: Family): Scope {
  const scopes = new Set(METRICS.filter((m) => m.family === f).flatMap((m) => m.scopes));
  if (typeof v !== 'string' || !scopes.has(v as Scope))
    bad(`scope 无效，${f} 可选 ${[...scopes].join('|')} / scope must be one of ${[...scopes].join('|')}`);
  return v as Scope;
}

type Q = Record<string, string | undefined>;

/** The points of one live message a caller may see: its entities, granted regions, aggregates after suppression. */
function livePoints(
  s: import('../access/principal.ts').Scope | null,
  raw: (LatestEntry & { windowStart: string })[],
) {
  const groups = new Map<Scope, { scopeId: string; points: ServedPoint[] }[]>();
  for (const p of raw) {
    if (!visible(s, p.scope, p.scopeId)) continue;
    const list = groups.get(p.scope) ?? groups.set(p.scope, []).get(p.scope)!;
    let ent = list.find((e) => e.scopeId === p.scopeId);
    if (!ent) list.push((ent = { scopeId: p.scopeId, points: [] }));
    ent.points.push(serve(p));
  }
  const out: ({ scope: Scope; scopeId: string } & ServedPoint)[] = [];
  for (const [scope, ents] of groups) {
    if (AGGREGATE_SCOPES.has(scope)) secondarySuppress(ents);
    for (const e of ents) for (const p of e.points) out.push({ scope, scopeId: e.scopeId, ...p });
  }
  return out;
}

export async function indicatorRoutes(app: FastifyInstance, opts: { deps: Deps }): Promise<void> {
  const { deps } = opts;
  const prefix = deps.config.topicPrefix;
  // Snapshots parsed once per change of their family (one short Redis script per request checks the generation).
  const latest = createLatestReader(deps.redis, prefix, { script: deps.kinds.cache === 'redis' });

  app.get('/v1/indicators/catalog', { config: { public: true }, schema: SCHEMAS.catalog }, async () => ({
    families: FAMILIES,
    windows: WINDOWS,
    disclosure: { minContributors: MIN_CONTRIBUTORS, maxTopShare: MAX_TOP_SHARE },
    metrics: METRICS.map((m) => ({
      family: m.family,
      metric: m.metric,
      zh: m.zh,
      unit: m.unit,
      scopes: m.scopes,
      windows: m.windows,
      disclosure: m.disclosure,
    })),
  }));

  /** "Latest" computed from the store while Redis is down, reused briefly (one computation per key at a time). */
  const fallbacks = new Map<string, { at: number; entries: Promise<LatestEntry[]> }>();
  const fallbackLatest = (f: Family, scope: Scope, id: string | undefined) => {
    const k = `${f}|${scope}|${id ?? ''}`;
    const hit = fallbacks.get(k);
    if (hit && Date.now() - hit.at < FALLBACK_REUSE_MS) return hit.entries;
    if (fallbacks.size > 500) fallbacks.clear();
    const entries = latestFromStore(deps.db, f, scope, id);
    fallbacks.set(k, { at: Date.now(), entries });
    entries.catch(() => fallbacks.delete(k));
    return entries;
  };

  app.get(
    '/v1/indicators/latest',
    { config: { product: 'indicator.*' }, schema: SCHEMAS.latest },
    async (req: FastifyRequest<{ Querystring: Q }>, reply: FastifyReply) => {
      const f = family(req.query.family);
      const scope = scopeOf(req.query.scope, f);
      const id = req.query.id || undefined;
      // The snapshots stay served while the database is down, but nothing new reaches them: say so.
      const downSince = deps.health?.dbDownSince();
      if (downSince) {
        reply.header(STALE_HEADER, 'db-unavailable');
        reply.header(STALE_SINCE_HEADER, new Date(downSince).toISOString());
      }
      // Aggregate cells are read with all their siblings: secondary suppression looks at the whole group.
      const entityId = AGGREGATE_SCOPES.has(scope) ? undefined : id;
      let entries: readonly LatestEntry[] | null = null;
      // Redis down (a real one: its client is not ready, or the read fails): the same snapshot from the store.
      if (deps.kinds.cache !== 'redis' || deps.redis.status === 'ready') {
        try {
          entries = await latest(f, scope, entityId);
        } catch (err) {
          if (deps.kinds.cache !== 'redis') throw err;
          req.log.warn(
            { err: (err as Error).message },
            'latest: Redis read failed, answering from the store',
          );
        }
      }
      if (!entries) {
        entries = await fallbackLatest(f, scope, entityId);
        reply.header(SOURCE_HEADER, 'db-fallback');
      }
      const byId = new Map<string, ServedPoint[]>();
      for (const e of entries)
        (byId.get(e.scopeId) ?? byId.set(e.scopeId, []).get(e.scopeId)!).push(serve(e));
      return {
        family: f,
        scope,
        entities: viewEntities(
          req,
          scope,
          [...byId.entries()].map(([scopeId, points]) => ({ scopeId, points })),
          id ? [id] : null,
        ),
      };
    },
  );

  app.get(
    '/v1/indicators/series',
    { config: { product: 'indicator.*' }, schema: SCHEMAS.series },
    async (req: FastifyRequest<{ Querystring: Q }>) => {
      const f = family(req.query.family);
      const def = metricDef(f, String(req.query.metric ?? ''));
      if (!def) bad(`metric 无效：见 /v1/indicators/catalog / unknown metric: see /v1/indicators/catalog`);
      const scope = scopeOf(req.query.scope, f);
      if (!def.scopes.includes(scope))
        bad(
          `${def.metric} 不支持 scope=${scope}（可选 ${def.scopes.join('|')}）/ scope must be one of ${def.scopes.join('|')}`,
        );
      const window = (req.query.window ?? 'day') as Window;
      if (!def.windows.includes(window))
        bad(
          `${def.metric} 不支持 window=${window}（可选 ${def.windows.join('|')}）/ window must be one of ${def.windows.join('|')}`,
        );
      const to = timeParam(req.query.to, 'to') ?? Date.now();
      const from = timeParam(req.query.from, 'from') ?? to - 30 * DAY_MS;
      if (from > to) bad('from 晚于 to / from is after to');
      const max = window === 'hour' || window === '24h' ? MAX_RANGE_HOURLY_MS : MAX_RANGE_MS;
      if (to - from > max)
        bad(
          `时间范围过长（最多 ${Math.round(max / DAY_MS)} 天）/ range too long (at most ${Math.round(max / DAY_MS)} days)`,
        );
      const ids = req.query.id
        ? req.query.id
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : null;
      const pts = await series(
        deps.db,
        def,
        scope,
        AGGREGATE_SCOPES.has(scope) ? null : ids,
        window,
        from,
        to,
      );
      const byId = new Map<string, ServedPoint[]>();
      for (const p of pts) (byId.get(p.scopeId) ?? byId.set(p.scopeId, []).get(p.scopeId)!).push(serve(p));
      return {
        family: f,
        metric: def.metric,
        zh: def.zh,
        unit: def.unit,
        scope,
        window,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        series: viewEntities(
          req,
          scope,
          [...byId.entries()].map(([scopeId, points]) => ({ scopeId, points })),
          ids,
        ),
      };
    },
  );

  app.get(
    '/v1/days-of-stock',
    { config: { product: 'indicator.days_of_stock' }, schema: SCHEMAS.daysOfStock },
    async (req: FastifyRequest<{ Querystring: Q }>, _reply: FastifyReply) => {
      const user = req.query.user;
      if (!user) bad('缺少 user 参数 / user is required');
      if (!visible(req.accessScope, 'user', user)) refuseEntity('user', user);
      const entries = (await latest('days_of_stock', 'user', user)).filter((e) => e.window === 'day');
      let pick = (metric: string) => entries.find((e) => e.metric === metric) ?? null;
      if (!entries.length) {
        // Not in the cache (e.g. after a flush): read the last 14 days from the store.
        const to = Date.now();
        const pts: IndicatorPoint[] = [];
        for (const m of ['days', 'avg_daily_consumption_t', 'days_change_7d'])
          pts.push(
            ...(await series(
              deps.db,
              metricDef('days_of_stock', m)!,
              'user',
              [user],
              'day',
              to - 400 * DAY_MS,
              to,
            )),
          );
        const last = (metric: string) => pts.filter((p) => p.metric === metric).at(-1) ?? null;
        pick = (metric: string) => {
          const p = last(metric);
          return p
            ? ({ ...p, windowStart: new Date(p.windowStart).toISOString(), version: 0 } as LatestEntry)
            : null;
        };
      }
      const days = pick('days');
      if (!days)
        throw new CoalflowError(
          'NOT_FOUND',
          `未找到用煤企业 ${user} 的可用天数 / no days-of-stock for user ${user}`,
        );
      const change = pick('days_change_7d')?.value ?? null;
      req.accessCells = { returned: 1, suppressed: 0 };
      return {
        user,
        asOf: days.windowStart,
        daysOfStock: days.value,
        avgDailyConsumptionT: pick('avg_daily_consumption_t')?.value ?? null,
        windowDays: 7,
        change7d: change,
        trend:
          change === null
            ? 'unknown'
            : change > DAYS_OF_STOCK_FLAT
              ? 'rising'
              : change < -DAYS_OF_STOCK_FLAT
                ? 'falling'
                : 'flat',
      };
    },
  );

  const hub = createLiveHub(deps.redis);
  app.addHook('onClose', async () => {
    await hub.close();
  });

  app.get(
    '/v1/live/:family',
    { config: { product: 'live' }, schema: SCHEMAS.live },
    async (req: FastifyRequest<{ Params: { family: string } }>, reply: FastifyReply) => {
      const f = family(req.params.family);
      const channel = redisKeys(prefix).live(f);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`: ${f} 实时指标 / live indicators\n\n`);
      const heartbeat = setInterval(() => res.write(': ping\n\n'), 15_000);
      heartbeat.unref();
      let unsubscribe: (() => void) | null = null;
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe?.();
      };
      req.raw.on('close', close);
      res.on('error', close);
      let sent = 0;
      const send = (m: LiveMessage) => {
        try {
          const body = JSON.parse(m.body) as {
            family: Family;
            version: number;
            points: (LatestEntry & { windowStart: string })[];
          };
          const points = livePoints(req.accessScope, body.points);
          if (!points.length) return;
          sent += points.length;
          req.accessCells = { returned: sent, suppressed: 0 };
          res.write(
            `id: ${m.id}\nevent: indicators\ndata: ${JSON.stringify({ family: body.family, version: body.version, points })}\n\n`,
          );
        } catch {
          /* a malformed message is skipped */
        }
      };
      try {
        unsubscribe = await hub.subscribe(channel, (m) => {
          if (!closed) send(m);
        });
        const last = req.headers['last-event-id'];
        if (typeof last === 'string' && last) {
          const missed = hub.since(channel, last);
          if (missed) for (const m of missed) send(m);
          else res.write('event: reset\ndata: {}\n\n');
        }
        res.write('event: ready\ndata: {}\n\n');
      } catch (err) {
        res.write(`event: error\ndata: ${JSON.stringify({ message: '订阅失败 / subscribe failed' })}\n\n`);
        res.end();
        close();
        req.log.warn({ err: (err as Error).message }, 'live subscribe failed');
      }
    },
  );
}
