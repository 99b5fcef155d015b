/**
 * The Redis sink: the latest snapshot of every indicator series (what the
 * API's "latest" reads) and a pub/sub channel per family for live subscribers.
 *
 * Keys (prefix = the configured topic prefix, so tests stay apart):
 *   coalflow:{prefix}latest:<family>:<scope>:<id>:<metric>:<window>  hash {ws, ver, json}
 *   coalflow:{prefix}idx:<family>:<scope>:<id>                      set of "<metric>:<window>"
 *   coalflow:{prefix}ids:<family>:<scope>                           set of ids
 *   coalflow:{prefix}gen:<family>                                   counter, raised with every snapshot moved
 *   channel coalflow:{prefix}live:<family>                          JSON {family, version, points}
 * A snapshot is replaced only by a newer window, or the same window at a
 * version at least as high (Lua, atomic): workers racing on a city-wide cell,
 * or a late record updating an older window, never move "latest" backwards.
 * Reads are one script each (the generation and the snapshots at once); a reader keeps what it read with its
 * generation and is answered "unchanged" while the family's counter stays the same.
 */
import type { Redis } from 'ioredis';
import { evalLua, luaScript, SinkError, type Deps } from '../../infra/core/index.ts';
import { isoOf, type Family, type IndicatorPoint, type Scope, type Window } from './model.ts';

export interface PublishedPoint extends IndicatorPoint {
  version: number;
}

export interface RedisSink {
  /** Writes snapshots and publishes one message per family. Returns how many snapshots moved. */
  write(points: IndicatorPoint[], meta: { version: number; live?: boolean }): Promise<{ updated: number }>;
  close(): Promise<void>;
}

const STRIDE = 8;
const CHUNK = 400;
const LIVE_CHUNK = 1000;

const SET_LATEST = luaScript(`
local n = 0
for i, k in ipairs(KEYS) do
  local b = (i - 1) * ${STRIDE}
  local ws = tonumber(ARGV[b + 1])
  local ver = tonumber(ARGV[b + 2])
  local cur = redis.call('HMGET', k, 'ws', 'ver')
  local cws = tonumber(cur[1])
  local cver = tonumber(cur[2])
  if (not cws) or ws > cws or (ws == cws and ver >= cver) then
    redis.call('HSET', k, 'ws', ARGV[b + 1], 'ver', ARGV[b + 2], 'json', ARGV[b + 3])
    redis.call('SADD', ARGV[b + 4], ARGV[b + 6])
    redis.call('SADD', ARGV[b + 5], ARGV[b + 7])
    redis.call('INCR', ARGV[b + 8])
    n = n + 1
  end
end
return n`);

export function redisKeys(prefix: string) {
  const base = `coalflow:${prefix}`;
  return {
    latest: (p: Pick<IndicatorPoint, 'family' | 'scope' | 'scopeId' | 'metric' | 'window'>) =>
      `${base}latest:${p.family}:${p.scope}:${p.scopeId}:${p.metric}:${p.window}`,
    idx: (family: string, scope: string, id: string) => `${base}idx:${family}:${scope}:${id}`,
    ids: (family: string, scope: string) => `${base}ids:${family}:${scope}`,
    live: (family: string) => `${base}live:${family}`,
    gen: (family: string) => `${base}gen:${family}`,
  };
}

/** One point as "latest" serves it. */
export function latestEntry(p: IndicatorPoint, version: number): LatestEntry {
  return {
    family: p.family,
    metric: p.metric,
    scope: p.scope,
    scopeId: p.scopeId,
    window: p.window,
    windowStart: isoOf(p.windowStart),
    value: p.value,
    unit: p.unit,
    n: p.n,
    contributors: p.contributors,
    topShare: p.topShare,
    version,
  };
}

/** The JSON stored and published for one point. */
export function pointJson(p: IndicatorPoint, version: number): string {
  return JSON.stringify(latestEntry(p, version));
}

export function createRedisSink(deps: Pick<Deps, 'redis' | 'metrics' | 'config'>): RedisSink {
  const keys = redisKeys(deps.config.topicPrefix);
  const redis = deps.redis;
  return {
    async write(points, meta) {
      if (!points.length) return { updated: 0 };
      const t0 = performance.now();
      try {
        // Within the batch keep, per series, only the point that could win: the newest window.
        const best = new Map<string, IndicatorPoint>();
        for (const p of points) {
          const k = keys.latest(p);
          const cur = best.get(k);
          if (!cur || p.windowStart >= cur.windowStart) best.set(k, p);
        }
        const list = [...best.entries()];
        // Each point's JSON once: the snapshots are a subset of the live points.
        const json = new Map<IndicatorPoint, string>();
        const jsonOf = (p: IndicatorPoint) => {
          let j = json.get(p);
          if (j === undefined) {
            j = pointJson(p, meta.version);
            json.set(p, j);
          }
          return j;
        };
        const evals: Promise<unknown>[] = [];
        for (let i = 0; i < list.length; i += CHUNK) {
          const chunk = list.slice(i, i + CHUNK);
          const args: (string | number)[] = [];
          for (const [, p] of chunk) {
            args.push(
              p.windowStart,
              meta.version,
              jsonOf(p),
              keys.idx(p.family, p.scope, p.scopeId),
              keys.ids(p.family, p.scope),
              `${p.metric}:${p.window}`,
              p.scopeId,
              keys.gen(p.family),
            );
          }
          // Sent back to back (ioredis pipelines them on the connection); not in a MULTI: each chunk is atomic by itself.
          evals.push(
            evalLua(
              redis,
              SET_LATEST,
              chunk.map(([k]) => k),
              args,
            ),
          );
        }
        const settled = await Promise.allSettled(evals);
        let updated = 0;
        for (const s of settled) {
          if (s.status === 'rejected') throw s.reason;
          updated += Number(s.value ?? 0);
        }
        const pipe = redis.pipeline();
        if (meta.live !== false) {
          const byFamily = new Map<Family, IndicatorPoint[]>();
          for (const p of points)
            (byFamily.get(p.family) ?? byFamily.set(p.family, []).get(p.family)!).push(p);
          for (const [family, list2] of byFamily) {
            for (let i = 0; i < list2.length; i += LIVE_CHUNK) {
              const body = `{"family":${JSON.stringify(family)},"version":${meta.version},"points":[${list2
                .slice(i, i + LIVE_CHUNK)
                .map(jsonOf)
                .join(',')}]}`;
              pipe.publish(keys.live(family), body);
            }
          }
        }
        for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
        deps.metrics.sinkLatency.observe({ sink: 'redis' }, (performance.now() - t0) / 1000);
        return { updated };
      } catch (err) {
        deps.metrics.sinkErrors.inc({ sink: 'redis' });
        throw new SinkError('redis', `写入 Redis 失败 / Redis write failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
    async close() {
      /* the connection belongs to the runtime */
    },
  };
}

export interface LatestEntry {
  family: Family;
  metric: string;
  scope: Scope;
  scopeId: string;
  window: Window;
  windowStart: string;
  value: number | null;
  unit: string;
  n: number | null;
  contributors: number | null;
  topShare: number | null;
  version: number;
}

/**
 * Reads the family's generation and, when it differs from the caller's, every snapshot of one entity or of a
 * scope (ids sorted, at most `limit`), in one round trip. Returns {gen} alone when nothing changed.
 */
const READ_LATEST = luaScript(`
local gen = redis.call('GET', KEYS[1]) or '0'
if gen == ARGV[6] then return {gen} end
local base, family, scope = ARGV[1], ARGV[2], ARGV[3]
local ids
if ARGV[4] ~= '' then
  ids = {ARGV[4]}
else
  ids = redis.call('SMEMBERS', base .. 'ids:' .. family .. ':' .. scope)
  table.sort(ids)
end
local limit = tonumber(ARGV[5])
local out = {gen}
for i, one in ipairs(ids) do
  if i > limit then break end
  local members = redis.call('SMEMBERS', base .. 'idx:' .. family .. ':' .. scope .. ':' .. one)
  table.sort(members)
  for _, m in ipairs(members) do
    local j = redis.call('HGET', base .. 'latest:' .. family .. ':' .. scope .. ':' .. one .. ':' .. m, 'json')
    if j then out[#out + 1] = j end
  end
end
return out`);

async function readScript(
  redis: Redis,
  prefix: string,
  family: Family,
  scope: Scope,
  id: string | undefined,
  limit: number,
  knownGen: string,
): Promise<{ gen: string; entries: LatestEntry[] | null }> {
  const keys = redisKeys(prefix);
  const r = (await evalLua(
    redis,
    READ_LATEST,
    [keys.gen(family)],
    [`coalflow:${prefix}`, family, scope, id ?? '', limit, knownGen],
  )) as string[];
  const gen = String(r[0]);
  if (r.length === 1 && gen === knownGen) return { gen, entries: null };
  const entries: LatestEntry[] = [];
  for (let i = 1; i < r.length; i++) entries.push(JSON.parse(String(r[i])) as LatestEntry);
  return { gen, entries };
}

/** Latest snapshots of one entity (all metrics and windows), or of every entity of a scope when `id` is omitted. */
export async function readLatest(
  redis: Redis,
  prefix: string,
  family: Family,
  scope: Scope,
  id?: string,
  limit = 500,
): Promise<LatestEntry[]> {
  const keys = redisKeys(prefix);
  const ids =
    id !== undefined ? [id] : (await redis.smembers(keys.ids(family, scope))).sort().slice(0, limit);
  const out: LatestEntry[] = [];
  for (const one of ids) {
    const members = (await redis.smembers(keys.idx(family, scope, one))).sort();
    if (!members.length) continue;
    const pipe = redis.pipeline();
    for (const m of members) {
      const [metric, window] = m.split(':') as [string, Window];
      pipe.hget(keys.latest({ family, scope, scopeId: one, metric, window }), 'json');
    }
    for (const [err, v] of (await pipe.exec()) ?? [])
      if (!err && v) out.push(JSON.parse(String(v)) as LatestEntry);
  }
  return out;
}

export type LatestReader = (family: Family, scope: Scope, id?: string) => Promise<readonly LatestEntry[]>;

/**
 * `readLatest` with what it read kept in this process: each call still asks Redis (one short script), which
 * answers "unchanged" while the family's generation stays the same, so the snapshots are parsed once per change
 * and never served stale. The entries returned are shared: callers must not change them.
 */
export function createLatestReader(
  redis: Redis,
  prefix: string,
  opts: { maxEntries?: number; script?: boolean } = {},
): LatestReader {
  const max = opts.maxEntries ?? 2000;
  // ioredis-mock's Lua differs from Redis's: there, the plain commands (no keeping).
  if (opts.script === false) return (family, scope, id) => readLatest(redis, prefix, family, scope, id);
  const cache = new Map<string, { gen: string; entries: LatestEntry[] }>();
  return async (family, scope, id) => {
    const k = `${family}\u0001${scope}\u0001${id ?? ''}`;
    const hit = cache.get(k);
    const r = await readScript(redis, prefix, family, scope, id, 500, hit?.gen ?? '');
    if (r.entries === null && hit) return hit.entries;
    const entries = r.entries ?? [];
    // No generation yet (an emptied cache, snapshots written by something else): nothing to keep.
    if (r.gen === '0') return entries;
    if (cache.size >= max) cache.clear();
    cache.set(k, { gen: r.gen, entries });
    return entries;
  };
}
