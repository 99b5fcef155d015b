/**
 * Each process's view of product states and emergency stops, and the `AccessGate` built on it. Read from the
 * database in one statement; a request never uses a view older than `refreshMs` (default 1 s: it reloads first),
 * a timer reloads it as often for what runs outside requests (open streams, webhooks, the report schedule), and a
 * change made anywhere is announced on the Redis channel `coalflow:{prefix}governance`, so other processes reload
 * at once. Open streams whose product or subscriber is no longer served are ended with an `event: suspended`.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { AccessGate, Logger, Refusal } from '../../infra/core/index.ts';
import { CURRENT_STOPS_SQL, stateOf, type EmergencyState, type StopEvent } from './emergency.ts';
import type { ProductState } from './lifecycle.ts';
import { createAccessStore } from './store.ts';

/** An open stream, ended when what it serves is stopped. */
export interface WatchedStream {
  subscriberId: string;
  operator: boolean;
  products: string[];
  end(code: 'PRODUCT_NOT_PUBLISHED' | 'ACCESS_SUSPENDED', message: string): void;
}

export interface Governance extends AccessGate {
  /** Reloads when the view is older than `refreshMs` or was invalidated. */
  fresh(): Promise<void>;
  /** Reloads now. */
  reload(): Promise<void>;
  /** Whether a view was ever loaded (the last one is kept while the database is unavailable). */
  loaded(): boolean;
  /**
   * `fresh()`, waiting at most `ms` once a view exists: a database that does not answer (hung, or paused) leaves
   * the last view in force instead of holding every request; the reload goes on and applies when it answers.
   */
  freshWithin(ms: number): Promise<void>;
  /** The next `fresh()` reloads. */
  invalidate(): void;
  /** After a change made here: reload now and tell every other process. */
  changed(): Promise<void>;
  /** The product's state; undefined = not registered. */
  productState(code: string): ProductState | undefined;
  emergency(): EmergencyState;
  /** The emergency stop refusing this subscriber (or one of these products), or null. */
  stopOf(subscriberId: string, products: readonly string[]): StopEvent | null;
  /** Registers an open stream; returns the function that forgets it. */
  watch(s: WatchedStream): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface GovernanceOptions {
  /** Longest age of the view, ms. Default 1000. */
  refreshMs?: number;
  /**
   * Register the default products (as published) at start, as the API does: a worker-only process on a fresh
   * database would otherwise see no `alert` or `report` product and hold their deliveries. Default false.
   */
  ensureDefaults?: boolean;
}

export const governanceChannel = (prefix: string) => `coalflow:${prefix}governance`;

export function createGovernance(
  deps: { db: Pick<pg.Pool, 'query'>; redis: Redis; log: Logger; config: { topicPrefix: string } },
  opts: GovernanceOptions = {},
): Governance {
  const refreshMs = opts.refreshMs ?? 1000;
  const channel = governanceChannel(deps.config.topicPrefix);
  let products = new Map<string, ProductState>();
  let emergency: EmergencyState = { all: false, subscribers: [], products: [], stops: [] };
  let loadedAt = 0;
  let everLoaded = false;
  let loading: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let sub: Redis | null = null;
  let started = false;
  const streams = new Set<WatchedStream>();

  function refusalOf(
    s: WatchedStream,
  ): { code: 'PRODUCT_NOT_PUBLISHED' | 'ACCESS_SUSPENDED'; msg: string } | null {
    for (const p of s.products) {
      const st = products.get(p);
      if (st !== 'published')
        return {
          code: 'PRODUCT_NOT_PUBLISHED',
          msg: `数据产品 ${p} 已停止提供（${st ?? '未登记'}）/ data product ${p} is no longer served (${st ?? 'not registered'})`,
        };
    }
    if (s.operator) return null;
    const stop = self.stopOf(s.subscriberId, s.products);
    return stop
      ? {
          code: 'ACCESS_SUSPENDED',
          msg: `访问已被紧急停止：${stop.reason} / access stopped in an emergency: ${stop.reason}`,
        }
      : null;
  }

  async function load(): Promise<void> {
    const r = await deps.db.query(
      `SELECT (SELECT COALESCE(json_object_agg(code, state), '{}'::json) FROM access_products) AS products,
              (SELECT COALESCE(json_agg(s), '[]'::json) FROM (${CURRENT_STOPS_SQL}) s) AS stops`,
    );
    const row = r.rows[0] ?? { products: {}, stops: [] };
    products = new Map(Object.entries(row.products as Record<string, ProductState>));
    emergency = stateOf(
      (row.stops as Record<string, unknown>[]).map((x) => ({
        id: String(x.id),
        at: new Date(x.at as string).toISOString(),
        action: 'stop',
        kind: x.target_kind as StopEvent['kind'],
        target: x.target as string,
        actor: x.actor as string,
        subscriberId: (x.subscriber_id as string | null) ?? null,
        reason: x.reason as string,
      })),
    );
    loadedAt = Date.now();
    everLoaded = true;
    for (const s of [...streams]) {
      const refused = refusalOf(s);
      if (!refused) continue;
      streams.delete(s);
      try {
        s.end(refused.code, refused.msg);
      } catch {
        /* the stream is gone already */
      }
    }
  }

  const self: Governance = {
    reload() {
      loading ??= load().finally(() => {
        loading = null;
      });
      return loading;
    },
    loaded() {
      return everLoaded;
    },
    async freshWithin(ms) {
      if (!everLoaded) return self.fresh();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        self.fresh().catch(() => undefined),
        new Promise<void>((r) => {
          t = setTimeout(r, ms);
        }),
      ]);
      clearTimeout(t);
    },
    async fresh() {
      if (Date.now() - loadedAt >= refreshMs) await self.reload();
    },
    invalidate() {
      loadedAt = 0;
    },
    async changed() {
      loadedAt = 0;
      await self.reload();
      await deps.redis.publish(channel, String(Date.now())).catch((err: Error) => {
        deps.log.warn({ err: err.message }, 'governance change not announced');
      });
    },
    productState: (code) => products.get(code),
    emergency: () => emergency,
    stopOf(subscriberId, list) {
      return (
        emergency.stops.find(
          (s) =>
            s.kind === 'all' ||
            (s.kind === 'subscriber' && s.target === subscriberId) ||
            (s.kind === 'product' && list.includes(s.target)),
        ) ?? null
      );
    },
    published: (product) => products.get(product) === 'published',
    serves(product, subscriberId) {
      return self.published(product) && !self.stopOf(subscriberId, [product]);
    },
    refused(product): Refusal {
      const all = !self.published(product) || emergency.all || emergency.products.includes(product);
      return { all, subscribers: all ? [] : [...emergency.subscribers] };
    },
    watch(s) {
      streams.add(s);
      return () => {
        streams.delete(s);
      };
    },
    async start() {
      if (started) return;
      started = true;
      if (opts.ensureDefaults) await createAccessStore(deps.db as pg.Pool).ensureProducts();
      await self.reload();
      // Stopped while starting: nothing is left running.
      if (!started) return;
      timer = setInterval(() => {
        self.reload().catch((err: Error) => {
          // A closed pool never comes back: this view's owner has shut down without stopping it.
          if (/after calling end on the pool/.test(err.message)) return void self.stop();
          deps.log.warn({ err: err.message }, 'governance reload failed');
        });
      }, refreshMs);
      timer.unref();
      try {
        sub = deps.redis.duplicate();
        sub.on('message', () => {
          loadedAt = 0;
          self
            .reload()
            .catch((err: Error) => deps.log.warn({ err: err.message }, 'governance reload failed'));
        });
        await sub.subscribe(channel);
        if (!started) await self.stop();
      } catch (err) {
        // The timer still bounds the delay.
        deps.log.warn({ err: (err as Error).message }, 'governance channel not subscribed');
      }
    },
    async stop() {
      started = false;
      if (timer) clearInterval(timer);
      timer = null;
      const s = sub;
      sub = null;
      if (s) await s.quit().catch(() => s.disconnect());
      await loading?.catch(() => undefined);
    },
  };
  return self;
}
