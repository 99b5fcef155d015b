/**
 * The access layer: authenticates each request (`Authorization: Bearer <key>`, `X-API-Key: <key>`, and `?key=` on
 * the live stream, which EventSource cannot give headers), enforces what the route declares in its `config`
 * (`public`, `operator`, `authenticated`, or `product`), checks the product is registered and granted, applies
 * quotas and rate limits, and writes exactly one audit row per request. A route that declares nothing makes the
 * app fail at startup.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { AccessError, ConfigError, ServiceError, type Deps } from '../../infra/core/index.ts';
import { FAMILIES } from '../../pipelines/index.ts';
import { registerDocs } from './docs.ts';
import {
  cstDay,
  createAuditWriter,
  DEFAULT_AUDIT_RETENTION_DAYS,
  setAuditRetention,
  type AuditWriter,
} from './audit.ts';
import { allowedScope, type Grant, type Principal, type Scope } from './principal.ts';
import { createAccessStore, type AccessStore } from './store.ts';
import { createGovernance, type Governance } from './governance.ts';
import { batchedRedisStore } from './ratelimit.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The data product a route serves; `indicator.*` = `indicator.<family>` from the `family` param or query. */
    product?: string;
    /** Operator-only route. */
    operator?: boolean;
    /** Open route (no key). */
    public?: boolean;
    /** Any valid key (no product). */
    authenticated?: boolean;
    /** With `operator`: open without a key from loopback when `metricsLoopbackOpen` is set. */
    loopback?: boolean;
    /** A server-sent event stream: the key may also come as `?key=` (browsers' EventSource sends no headers). */
    stream?: boolean;
  }
  interface FastifyRequest {
    /** The caller, set by the access layer (null on public routes). */
    principal: Principal | null;
    /** What the caller may see of the route's product (null = everything: public route or operator). */
    accessScope: Scope | null;
    /** Cells the handler returned and suppressed, for the audit row and metering. */
    accessCells: { returned: number; suppressed: number } | null;
    /** What the handler adds to the audit row's params (e.g. a sandbox query's normalized body and result size). */
    auditExtra: Record<string, unknown> | null;
    accessState: {
      product: string | null;
      bytes: number;
      audited: boolean;
      quota: number | null;
      purpose: string | null;
    } | null;
  }
  interface FastifyInstance {
    access: AccessLayer;
  }
}

export interface AccessOptions {
  /** `/metrics` without a key from loopback. Default true. */
  metricsLoopbackOpen?: boolean;
  /** Requests per key per second (per client address on public routes). Default 100. */
  ratePerSecond?: number;
  /** Requests per second for operator keys. Default 1000. */
  operatorRatePerSecond?: number;
  /** How long a looked-up key is trusted before it is read again (revocations by another process take this long), ms. Default 5000. */
  keyCacheMs?: number;
  /** Longest an audit row waits before it is written, ms. Default 500 (each flush is one statement in the database). */
  auditFlushMs?: number;
  /** Route prefix served open (the OpenAPI UI). Default '/docs'. */
  docsPrefix?: string;
  /** Audit retention, days (at least 183); applied at install when it differs from the database's policy. Default 1095 (the migration's 3 years). */
  auditRetentionDays?: number;
  /** Product states and emergency stops shared with the rest of the process (the composition root's); default: one of its own. */
  governance?: Governance;
  /** Longest age of the product states and emergency stops a request is checked against, ms. Default 1000. */
  governanceRefreshMs?: number;
}

/** A route of the app and what it declared to the access layer. */
export interface DeclaredRoute {
  method: string;
  url: string;
  config: {
    product?: string;
    operator?: boolean;
    public?: boolean;
    authenticated?: boolean;
    loopback?: boolean;
    stream?: boolean;
  };
}

export interface AccessLayer {
  store: AccessStore;
  /** Every route registered after `install`, with its declaration (HEAD twins of GET routes left out): what access reviews and tests enumerate. */
  routes: DeclaredRoute[];
  audit: AuditWriter;
  options: Required<Omit<AccessOptions, 'governance'>>;
  /** Product states and emergency stops (also the `AccessGate` of webhooks and scheduled reports). */
  governance: Governance;
  /** Forgets cached keys and products (after a revoke, rotate or registration). */
  invalidate(): void;
  /** Installs the hooks on the root app; call before any route is registered. */
  install(app: FastifyInstance): Promise<void>;
  /** Writes every pending audit row. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The longest a request waits for the governance view to reload before the last view is used, ms. */
const GOVERNANCE_WAIT_MS = 500;

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function presentedKey(req: FastifyRequest, allowQuery: boolean): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  if (allowQuery) {
    const q = (req.query as Record<string, unknown> | undefined)?.key;
    if (typeof q === 'string' && q) return q;
  }
  return null;
}

function productOf(req: FastifyRequest, declared: string): string | null {
  if (!declared.endsWith('.*')) return declared;
  const f =
    (req.params as Record<string, unknown> | undefined)?.family ??
    (req.query as Record<string, unknown> | undefined)?.family;
  // An invalid family is the route's 400 to give; nothing is served either way.
  return typeof f === 'string' && (FAMILIES as readonly string[]).includes(f)
    ? `${declared.slice(0, -2)}.${f}`
    : null;
}

const unauthorized = () =>
  new AccessError(
    'UNAUTHORIZED',
    401,
    '缺少或无效的 API 密钥（未知、已吊销或已过期）/ missing or invalid API key (unknown, revoked or expired)',
  );

/** Longest parameter value kept in an audit row (a hostile 100 kB value is recorded by its start and length). */
const AUDIT_VALUE_MAX = 256;

/**
 * A parameter value as the audit row can hold it: PostgreSQL's jsonb refuses NUL and unpaired surrogates (one such
 * row made the whole batch fail, again at each retry), so NUL becomes U+2400 (␀), as among the ingest rejects, an
 * unpaired surrogate U+FFFD, and long text is cut.
 */
function auditValue(v: unknown): unknown {
  if (typeof v === 'string') {
    const s = v
      .replace(/\u0000/g, '\u2400')
      .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
    return s.length > AUDIT_VALUE_MAX ? `${s.slice(0, AUDIT_VALUE_MAX)}…(${s.length})` : s;
  }
  if (Array.isArray(v)) return v.slice(0, 20).map(auditValue);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .slice(0, 50)
        .map(([k, x]) => [auditValue(k) as string, auditValue(x)]),
    );
  return v;
}

function auditParams(req: FastifyRequest): Record<string, unknown> {
  const q = { ...(req.query as Record<string, unknown> | undefined) };
  delete q.key; // a key in the query string never reaches the audit trail
  return {
    ...(auditValue({ ...q, ...(req.params as Record<string, unknown> | undefined) }) as Record<
      string,
      unknown
    >),
    ...req.auditExtra,
  };
}

/** A grant's validity as epoch ms, parsed once per grant object (a request checks it on every call). */
const validityOf = new WeakMap<Grant, [number, number]>();
function validity(g: Grant): [number, number] {
  let v = validityOf.get(g);
  if (!v) {
    v = [Date.parse(g.validFrom), g.validTo === null ? Infinity : Date.parse(g.validTo)];
    validityOf.set(g, v);
  }
  return v;
}

function nextCstMidnightSeconds(now = Date.now()): number {
  const day = 86_400_000;
  const cst = now + 8 * 3600_000;
  return Math.max(1, Math.ceil((Math.floor(cst / day) * day + day - cst) / 1000));
}

export function createAccess(
  deps: Pick<Deps, 'db' | 'redis' | 'log' | 'config' | 'kinds' | 'health'>,
  opts: AccessOptions = {},
): AccessLayer {
  const options: Required<Omit<AccessOptions, 'governance'>> = {
    metricsLoopbackOpen: opts.metricsLoopbackOpen ?? true,
    ratePerSecond: opts.ratePerSecond ?? 100,
    operatorRatePerSecond: opts.operatorRatePerSecond ?? 1000,
    keyCacheMs: opts.keyCacheMs ?? 5000,
    auditFlushMs: opts.auditFlushMs ?? 500,
    docsPrefix: opts.docsPrefix ?? '/docs',
    auditRetentionDays: opts.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS,
    governanceRefreshMs: opts.governanceRefreshMs ?? 1000,
  };
  const log = deps.log.child({ component: 'access' });
  const store = createAccessStore(deps.db);
  const ownGovernance = !opts.governance;
  const governance = opts.governance ?? createGovernance(deps, { refreshMs: options.governanceRefreshMs });
  const audit = createAuditWriter(deps.db, log, { flushMs: options.auditFlushMs });
  const keyCache = new Map<string, { p: Principal | null; until: number; expiresAt: number }>();
  const dbDown = () => deps.health?.db() === 'down';
  const dbUnavailable = (cause?: unknown) =>
    new ServiceError(
      'SERVICE_UNAVAILABLE',
      '数据库暂不可用，无法核验此密钥，请稍后重试 / the database is unavailable and this key cannot be checked: retry shortly',
      { cause },
    );
  /** Served calls per quota key (key id and CST day), as last known. */
  const used = new Map<string, number>();
  /** Served calls not yet added to Redis: sent in one pipeline per flush period (one INCR per call cost half the throughput). */
  const pendingQuota = new Map<string, number>();
  let quotaTimer: NodeJS.Timeout | null = null;
  async function flushQuota(): Promise<void> {
    if (quotaTimer) {
      clearTimeout(quotaTimer);
      quotaTimer = null;
    }
    if (!pendingQuota.size) return;
    // Redis down: the counts wait here (one number per key and day) and go when it is back.
    if (deps.kinds.cache === 'redis' && deps.redis.status !== 'ready') {
      quotaTimer = setTimeout(() => void flushQuota(), Math.max(1000, options.auditFlushMs));
      quotaTimer.unref();
      return;
    }
    const batch = [...pendingQuota];
    pendingQuota.clear();
    const pipe = deps.redis.pipeline();
    for (const [k, n] of batch) pipe.incrby(k, n).expire(k, 2 * 86_400);
    try {
      const res = (await pipe.exec()) ?? [];
      batch.forEach(([k], i) => {
        const n = Number(res[2 * i]?.[1]);
        if (Number.isFinite(n)) used.set(k, Math.max(used.get(k) ?? 0, n));
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'quota count failed');
      for (const [k, n] of batch) pendingQuota.set(k, (pendingQuota.get(k) ?? 0) + n);
    }
  }
  let ready: Promise<void> | null = null;
  const quotaKey = (keyId: string, day: string) => `coalflow:${deps.config.topicPrefix}quota:${keyId}:${day}`;

  /** Look-ups in flight per key: concurrent requests with an expired key share one database read. */
  const reading = new Map<string, Promise<Principal | null>>();
  function lookup(key: string): Promise<Principal | null> | Principal | null {
    const hit = keyCache.get(key);
    if (hit && hit.until > Date.now()) return hit.p;
    // Without this, every request in flight when a key's cache expired read the key itself: under load hundreds of
    // reads queued on the database session and every route of that key waited behind them (found by the soak).
    let p = reading.get(key);
    if (!p) {
      p = readKey(key, hit).finally(() => reading.delete(key));
      reading.set(key, p);
    }
    return p;
  }

  async function readKey(
    key: string,
    hit: { p: Principal | null; until: number; expiresAt: number } | undefined,
  ): Promise<Principal | null> {
    const now = Date.now();
    // While the database is down a key read before is trusted as last read (until its own expiry): the API keeps
    // serving the Redis snapshots. A revocation made meanwhile takes effect when the database answers again.
    const usable = hit && hit.expiresAt > now ? hit : null;
    // A key not seen before is still looked up (it waits for a hung server): the watcher can also call a merely
    // busy database down, and refusing keys on that guess would turn load into 503s.
    if (dbDown() && usable) return usable.p;
    let found: Awaited<ReturnType<typeof store.principal>>;
    try {
      found = await store.principal(key, now);
    } catch (err) {
      if (usable) return usable.p;
      throw dbUnavailable(err);
    }
    // Unknown keys are remembered briefly too, so a flood of bad keys does not reach the database each time.
    const expiresAt = found?.expiresAt ?? Infinity;
    const until = Math.min(now + (found ? options.keyCacheMs : 1000), expiresAt);
    if (keyCache.size > 10_000) keyCache.clear();
    keyCache.set(key, { p: found?.principal ?? null, until, expiresAt });
    return found?.principal ?? null;
  }

  const suspended = (reason: string) =>
    new AccessError(
      'ACCESS_SUSPENDED',
      403,
      `访问已被紧急停止：${reason} / access stopped in an emergency: ${reason}`,
    );

  /**
   * The governance view no older than its refresh period; while the database is unavailable, the last view
   * loaded (lifecycle and stop changes wait for the database, as registrations do).
   */
  async function governanceFresh(): Promise<void> {
    if (governance.loaded() && dbDown()) return;
    try {
      await governance.freshWithin(GOVERNANCE_WAIT_MS);
    } catch (err) {
      if (!governance.loaded()) throw dbUnavailable(err);
    }
  }

  function record(req: FastifyRequest, reply: FastifyReply): void {
    const st = req.accessState;
    if (!st || st.audited) return;
    st.audited = true;
    const p = req.principal;
    const status = reply.raw.headersSent || reply.sent ? reply.statusCode : reply.raw.statusCode;
    audit.record({
      at: Date.now(),
      keyId: p?.keyId ?? null,
      subscriberId: p?.subscriberId ?? null,
      method: req.method,
      route: req.routeOptions.url ?? req.url.split('?')[0]!,
      product: st.product,
      params: auditParams(req),
      purpose: st.purpose,
      status,
      cellsReturned: req.accessCells?.returned ?? 0,
      cellsSuppressed: req.accessCells?.suppressed ?? 0,
      bytes: st.bytes,
      durationMs: reply.elapsedTime,
    });
    if (st.quota !== null && p && status < 400) {
      const k = quotaKey(p.keyId, cstDay(Date.now()));
      used.set(k, (used.get(k) ?? 0) + 1);
      pendingQuota.set(k, (pendingQuota.get(k) ?? 0) + 1);
      if (!quotaTimer) {
        quotaTimer = setTimeout(() => void flushQuota(), options.auditFlushMs);
        quotaTimer.unref();
      }
    }
  }

  async function authorize(req: FastifyRequest): Promise<void> {
    const cfg = req.routeOptions.config ?? {};
    const st = {
      product: null as string | null,
      bytes: 0,
      audited: false,
      quota: null as number | null,
      purpose: null as string | null,
    };
    req.accessState = st;
    if (audit.full() && !cfg.public)
      throw new ServiceError(
        'SERVICE_UNAVAILABLE',
        '审计记录暂无法写入（数据库不可用），暂停服务以免出现未审计的访问，请稍后重试 / audit rows cannot be written (database unavailable): nothing is served unaudited, retry shortly',
      );
    const key = presentedKey(req, cfg.product === 'live' || cfg.stream === true);
    if (cfg.public) {
      // Open, but a presented key still names the caller in the audit trail.
      if (key) req.principal = await lookup(key);
      return;
    }
    if (!key) {
      if (
        cfg.operator &&
        cfg.loopback &&
        options.metricsLoopbackOpen &&
        LOOPBACK.has(req.socket?.remoteAddress ?? '')
      )
        return;
      throw unauthorized();
    }
    const [p] = await Promise.all([lookup(key), governanceFresh()]);
    if (!p) throw unauthorized();
    req.principal = p;
    // Operators keep working through an emergency stop (it closes outside access only).
    if (p.kind !== 'operator') {
      const stop = governance.stopOf(p.subscriberId, []);
      if (stop) throw suspended(stop.reason);
    }
    if (cfg.operator) {
      if (p.kind !== 'operator') throw new AccessError('FORBIDDEN', 403, '此操作仅限运营方 / operator only');
      return;
    }
    if (cfg.authenticated || !cfg.product) return;
    const needed =
      cfg.product === 'live' ? ['live', productOf(req, 'indicator.*')] : [productOf(req, cfg.product)];
    let scope: Scope | null = null;
    for (const product of needed) {
      if (product === null) continue;
      st.product ??= product;
      const state = governance.productState(product);
      if (state === undefined)
        throw new AccessError(
          'PRODUCT_NOT_REGISTERED',
          403,
          `数据产品 ${product} 未登记，不对任何人提供 / data product ${product} is not registered and is served to no one`,
        );
      if (state !== 'published')
        throw new AccessError(
          'PRODUCT_NOT_PUBLISHED',
          403,
          `数据产品 ${product} 未发布（当前 ${state}），不对任何人提供 / data product ${product} is not published (${state}) and is served to no one`,
          { context: { product, state } },
        );
      if (p.kind !== 'operator') {
        const stop = governance.stopOf(p.subscriberId, [product]);
        if (stop) throw suspended(stop.reason);
      }
      const s = allowedScope(p, product);
      if (!s)
        throw new AccessError(
          'FORBIDDEN',
          403,
          `未获授权使用数据产品 ${product} / no grant for data product ${product}`,
        );
      scope ??= s;
    }
    if (p.kind === 'operator') return;
    req.accessScope = scope;
    const now = Date.now();
    const grants = p.grants.filter((g) => {
      if (!g.products.includes(st.product ?? '')) return false;
      const [from, to] = validity(g);
      return from <= now && to > now;
    });
    st.purpose = grants.map((g) => g.purpose).join('; ') || null;
    const quotas = grants.map((g) => g.quotaPerDay).filter((q): q is number => q !== null);
    if (quotas.length && quotas.length === grants.length) {
      st.quota = Math.max(...quotas);
      // The count kept in Redis is read once per key and day; after that each served call's INCR reply keeps the
      // local copy current (other processes' calls arrive with those replies).
      const k = quotaKey(p.keyId, cstDay(now));
      let n = used.get(k);
      if (n === undefined) {
        // Redis down: counted from this process's calls until it is back (the quota holds per process meanwhile).
        n =
          deps.kinds.cache === 'redis' && deps.redis.status !== 'ready'
            ? 0
            : Number((await deps.redis.get(k).catch(() => 0)) ?? 0);
        if (used.size > 10_000) used.clear();
        used.set(k, n);
      }
      if (n >= st.quota) {
        throw Object.assign(
          new AccessError(
            'QUOTA_EXHAUSTED',
            429,
            `今日调用配额（${st.quota} 次）已用完 / today's quota of ${st.quota} calls is used up`,
          ),
          { retryAfterS: nextCstMidnightSeconds(now) },
        );
      }
    }
  }

  const routes: DeclaredRoute[] = [];
  const layer: AccessLayer = {
    store,
    routes,
    audit,
    options,
    governance,
    invalidate() {
      keyCache.clear();
      reading.clear();
      governance.invalidate();
    },
    async install(app) {
      ready ??= (async () => {
        await store.ensureProducts();
        await governance.start();
        if (options.auditRetentionDays !== DEFAULT_AUDIT_RETENTION_DAYS) {
          const r = await deps.db.query(
            `SELECT config->>'drop_after' AS d FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_name = 'access_audit'`,
          );
          if (r.rows[0]?.d !== `${options.auditRetentionDays} days`)
            await setAuditRetention(deps.db, options.auditRetentionDays);
        }
      })();
      await ready;
      app.decorate('access', layer);
      app.decorateRequest('principal', null);
      app.decorateRequest('accessScope', null);
      app.decorateRequest('accessCells', null);
      app.decorateRequest('auditExtra', null);
      app.decorateRequest('accessState', null);
      app.addHook('onRoute', (route) => {
        const cfg = (route.config ?? {}) as Record<string, unknown>;
        const note = (config: Record<string, unknown>) => {
          for (const method of [route.method].flat())
            if (method !== 'HEAD')
              routes.push({ method, url: route.url, config: config as DeclaredRoute['config'] });
        };
        if (route.url === options.docsPrefix || route.url.startsWith(`${options.docsPrefix}/`)) {
          route.config = { ...cfg, public: true } as never;
          note(route.config as Record<string, unknown>);
          return;
        }
        const declared = ['public', 'operator', 'authenticated', 'product'].filter((k) => cfg[k]);
        if (declared.length !== 1) {
          throw new ConfigError(
            `路由 ${route.method} ${route.url} 须在 config 中声明且仅声明一个 product / operator / public / authenticated（当前：${declared.join(',') || '无'}）/ ` +
              `route ${route.method} ${route.url} must declare exactly one of config.product, operator, public or authenticated (has: ${declared.join(',') || 'none'})`,
          );
        }
        note(cfg);
      });
      app.addHook('onRequest', async (req, reply) => {
        if (req.is404) return; // fastify's not-found answer serves nothing
        reply.raw.once('close', () => record(req, reply));
        await authorize(req);
        const cfg = req.routeOptions.config ?? {};
        const p = req.principal;
        if (p && (cfg.stream || cfg.product === 'live')) {
          // An open stream stops delivering as soon as its product or its subscriber is stopped.
          const products =
            cfg.product === 'live'
              ? ['live', productOf(req, 'indicator.*')].filter((x): x is string => x !== null)
              : cfg.product
                ? [productOf(req, cfg.product)].filter((x): x is string => x !== null)
                : [];
          const forget = governance.watch({
            subscriberId: p.subscriberId,
            operator: p.kind === 'operator',
            products,
            end: (code, message) => {
              const res = reply.raw;
              // Ending the response (not the socket) lets a keep-alive client reuse its connection; the route's own
              // cleanup runs on the request's 'close', which follows the end of the response.
              if (res.headersSent && !res.writableEnded) {
                res.write(`event: suspended\ndata: ${JSON.stringify({ code, message })}\n\n`);
                res.end();
              } else if (!res.headersSent) res.destroy();
            },
          });
          reply.raw.once('close', forget);
        }
      });
      await app.register(rateLimit, {
        global: true,
        hook: 'preHandler',
        timeWindow: 1000,
        // Counted in Redis in batches (ratelimit.ts): no Redis round trip per request.
        ...(deps.kinds.cache === 'redis'
          ? {
              store: batchedRedisStore({
                redis: deps.redis,
                log,
                nameSpace: `coalflow:${deps.config.topicPrefix}rl:`,
              }),
            }
          : {}),
        keyGenerator: (req) => req.principal?.keyId ?? `ip:${req.ip}`,
        max: (req) =>
          req.principal?.kind === 'operator' ? options.operatorRatePerSecond : options.ratePerSecond,
        allowList: (req) => req.is404 === true,
        errorResponseBuilder: (_req, ctx) =>
          new AccessError(
            'RATE_LIMITED',
            429,
            `请求过于频繁，请 ${Math.ceil(ctx.ttl / 1000)} 秒后重试 / too many requests, retry in ${Math.ceil(ctx.ttl / 1000)} s`,
          ),
      });
      await registerDocs(app, options.docsPrefix);
      app.addHook('onSend', async (req, _reply, payload) => {
        if (req.accessState) {
          req.accessState.bytes =
            typeof payload === 'string'
              ? Buffer.byteLength(payload)
              : Buffer.isBuffer(payload)
                ? payload.length
                : 0;
        }
        return payload;
      });
      app.addHook('onResponse', async (req, reply) => {
        record(req, reply);
      });
    },
    flush: async () => {
      await Promise.all([audit.flush(), flushQuota()]);
    },
    close: async () => {
      await Promise.all([audit.close(), flushQuota(), ownGovernance ? governance.stop() : undefined]);
    },
  };
  return layer;
}
