/**
 * The Redis sink: the latest snapshot of every indicator series (what the
 * API's "latest" reads) and a pub/sub channel per family for live subscribers.
 *
 * Keys (prefix = the configured topic prefix, so tests stay apart):
 *   coalflow:{prefix}latest:<family>:<scope>:<id>:<metric>:<window>  hash {ws, ver, json}
 *   coalflow:{prefix}idx:<family>:<scope>:<id>                      set of "<metric>:<window>"
 *   coalflow:{prefix}ids:<family>:<scope>                           set of ids
 *   channel coalflow:{prefix}live:<family>                          JSON {family, version, points}
 * A snapshot is replaced only by a newer window, or the same window at a
 * version at least as high (Lua, atomic): workers racing on a city-wide cell,
 * or a late record updating an older window, never move "latest" backwards.
 */
import type { Redis } from 'ioredis';
import { SinkError, type Deps } from '../../infra/core/index.ts';
import { isoOf, type Family, type IndicatorPoint, type Scope, type Window } from './model.ts';

export interface PublishedPoint extends IndicatorPoint {
  version: number;
}

export interface RedisSink {
  /** Writes snapshots and publishes one message per family. Returns how many snapshots moved. */
  write(points: IndicatorPoint[], meta: { version: number; live?: boolean }): Promise<{ updated: number }>;
  close(): Promise<void>;
}

const STRIDE = 7;
const CHUNK = 400;
const LIVE_CHUNK = 1000;

const SET_LATEST = `
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
    n = n + 1
  end
end
return n`;

export function redisKeys(prefix: string) {
  const base = `coalflow:${prefix}`;
  return {
    latest: (p: Pick<IndicatorPoint, 'family' | 'scope' | 'scopeId' | 'metric' | 'window'>) =>
      `${base}latest:${p.family}:${p.scope}:${p.scopeId}:${p.metric}:${p.window}`,
    idx: (family: string, scope: string, id: string) => `${base}idx:${family}:${scope}:${id}`,
    ids: (family: string, scope: string) => `${base}ids:${family}:${scope}`,
    live: (family: string) => `${base}live:${family}`,
  };
}

/** The JSON stored and published for one point. */
export function pointJson(p: IndicatorPoint, version: number): string {
  return JSON.stringify({
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
  });
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
            );
          }
          // Sent back to back (ioredis pipelines them on the connection); not in a MULTI: each chunk is atomic by itself.
          evals.push(redis.eval(SET_LATEST, chunk.length, ...chunk.map(([k]) => k), ...args));
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
