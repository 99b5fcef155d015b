/**
 * A store for @fastify/rate-limit that keeps the counts in Redis (shared by every API process) without a Redis
 * round trip per request: each process counts its own requests and sends them in one pipeline per key every
 * `flushMs`; each reply carries the key's total in Redis (every process's requests) and the window's remaining
 * time, which the next requests are counted on. A key can therefore exceed its limit by what other processes
 * served in the last `flushMs`; within one process the limit is exact. One script per key and flush instead of
 * one per request took the largest share of the access layer's cost per request.
 */
import type { Redis } from 'ioredis';
import { evalLua, luaScript, type Logger } from '../../infra/core/index.ts';

const INCR = luaScript(`
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl
if c == tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
end
return {c, ttl}`);

interface Window {
  /** When this window ends (epoch ms), as Redis last said or as started here. */
  end: number;
  window: number;
  /** The key's total in Redis at the last reply (this process's sent requests included). */
  remote: number;
  /** Sent, no reply yet. */
  inflight: number;
  /** Not sent yet. */
  local: number;
}

type Cb = (err: Error | null, res?: { current: number; ttl: number }) => void;

export interface BatchedStoreOptions {
  redis: Redis;
  log: Logger;
  /** Key prefix in Redis. */
  nameSpace: string;
  /** How often counts are sent to Redis, ms. Default 25. */
  flushMs?: number;
}

/** Returns the store class @fastify/rate-limit constructs (`store` option). */
export function batchedRedisStore(opts: BatchedStoreOptions) {
  const flushMs = opts.flushMs ?? 25;
  const client = opts.redis;
  const incr = (key: string, n: number, windowMs: number) =>
    evalLua(client, INCR, [key], [n, windowMs]) as Promise<[number, number]>;

  class BatchedRedisStore {
    private readonly windows = new Map<string, Window>();
    private timer: NodeJS.Timeout | null = null;
    constructor(
      _params?: unknown,
      private readonly prefix = opts.nameSpace,
    ) {}

    private state(key: string, windowMs: number, now: number): Window {
      let w = this.windows.get(key);
      if (!w || now >= w.end) {
        if (this.windows.size > 50_000) this.windows.clear();
        w = { end: now + windowMs, window: windowMs, remote: 0, inflight: 0, local: 0 };
        this.windows.set(key, w);
      }
      return w;
    }

    private schedule(): void {
      if (this.timer) return;
      this.timer = setTimeout(() => void this.flush(), flushMs);
      this.timer.unref();
    }

    private async flush(): Promise<void> {
      this.timer = null;
      // Redis away: keep counting here (the limits hold per process) and try again in a second, without queueing
      // commands on the client's offline queue.
      if (client.status !== 'ready') {
        this.timer = setTimeout(() => void this.flush(), 1000);
        this.timer.unref();
        return;
      }
      const sends: Promise<void>[] = [];
      for (const [key, w] of this.windows) {
        if (!w.local) continue;
        const n = w.local;
        w.local = 0;
        w.inflight += n;
        sends.push(
          incr(this.prefix + key, n, w.window).then(
            ([total, ttl]) => {
              w.inflight -= n;
              const now = Date.now();
              // A reply for a window that ended here meanwhile no longer applies.
              if (now < w.end) {
                w.remote = Math.max(w.remote, Number(total));
                const t = Number(ttl);
                if (t > 0) w.end = now + t;
              }
            },
            (err: Error) => {
              // Counted here still; sent with the flush after the next request (no retry loop while Redis is away).
              w.inflight -= n;
              w.local += n;
              opts.log.warn({ err: err.message }, 'rate limit count failed');
            },
          ),
        );
      }
      await Promise.all(sends);
    }

    incr(key: string, cb: Cb, timeWindow: number): void {
      const now = Date.now();
      const w = this.state(key, timeWindow, now);
      w.local++;
      this.schedule();
      cb(null, { current: w.remote + w.inflight + w.local, ttl: Math.max(0, w.end - now) });
    }

    read(key: string, cb: Cb, timeWindow: number): void {
      const now = Date.now();
      const w = this.state(key, timeWindow, now);
      cb(null, { current: w.remote + w.inflight + w.local, ttl: Math.max(0, w.end - now) });
    }

    child(routeOptions: object): BatchedRedisStore {
      const r = (routeOptions as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo ?? {};
      return new BatchedRedisStore(
        undefined,
        `${this.prefix}${String(r.method ?? '')}${String(r.url ?? '')}-`,
      );
    }
  }
  return BatchedRedisStore;
}
