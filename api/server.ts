import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Deps } from '../infra/core/index.ts';
import { BODY_LIMIT_BYTES, installHttpErrors, sendError } from './errors.ts';
import { createAccess, type AccessLayer, type Governance } from './access/index.ts';
import { SCHEMAS } from './routes/schemas.ts';

export interface AppOptions {
  /** Extra route plugins (each registered encapsulated with `{ deps }`). */
  plugins?: ((app: FastifyInstance, opts: { deps: Deps }) => Promise<void>)[];
  /** The access layer (keys, grants, audit, rate limits). Default: one built from `deps`; `false` only for measuring its cost. */
  access?: AccessLayer | false;
  /** Product states and emergency stops shared with the process's webhooks and report schedule (default: the access layer's own). */
  governance?: Governance;
}

async function componentState(
  name: string,
  check: () => Promise<unknown>,
): Promise<{ state: 'up' | 'down'; error?: string }> {
  try {
    await Promise.race([
      check(),
      new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref()),
    ]);
    return { state: 'up' };
  } catch (err) {
    return { state: 'down', error: `${name}: ${(err as Error).message}` };
  }
}

/** Builds the fastify app without listening; tests use `app.inject()`. */
export async function buildApp(deps: Deps, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'api' }) as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: BODY_LIMIT_BYTES,
  });
  installHttpErrors(app);

  // One renderer for every error (api/errors.ts): routes and hooks throw, nothing builds an error body by hand.
  app.setErrorHandler((err, req, reply) => sendError(reply, err, req.log));

  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpRequests.inc({
      route: req.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    });
  });

  const access =
    opts.access === false
      ? null
      : (opts.access ??
        createAccess(deps, {
          ratePerSecond: deps.config.ratePerSecond,
          metricsLoopbackOpen: deps.config.metricsLoopbackOpen,
          auditRetentionDays: deps.config.auditRetentionDays,
          governanceRefreshMs: deps.config.governanceRefreshMs,
          ...(opts.governance ? { governance: opts.governance } : {}),
        }));
  if (access) {
    await access.install(app);
    app.addHook('onClose', async () => {
      await access.close();
    });
  }

  app.get('/healthz', { config: { public: true }, schema: SCHEMAS.healthz }, async (_req, reply) => {
    const [probe, db, cache] = await Promise.all([
      componentState('broker', () => deps.broker.listTopics()),
      // Known down (the runtime's watcher): answered at once, without queueing one more query behind a hung one.
      deps.health?.db() === 'down'
        ? Promise.resolve({ state: 'down' as const, error: 'db: unavailable' })
        : componentState('db', () => deps.db.query('SELECT 1')),
      componentState('cache', () => deps.redis.ping()),
    ]);
    // The database as the runtime's watcher saw it: down (hung or refused) since when, and the last outage that ended.
    const h = deps.health;
    const dbSeen = {
      ...db,
      ...(h?.dbDownSince() ? { downSince: new Date(h.dbDownSince()!).toISOString() } : {}),
      ...(h?.lastDbOutage()
        ? {
            lastOutage: {
              from: new Date(h.lastDbOutage()!.from).toISOString(),
              to: new Date(h.lastDbOutage()!.to).toISOString(),
            },
          }
        : {}),
    };
    // The probe says "now"; the adapter's history says what its clients went through meanwhile: the outages, with
    // their times, failures and last error (an outage ends at the first success of a produce, heartbeat or probe).
    if (probe.state === 'down') deps.broker.health?.fail(new Error(probe.error));
    const history = deps.broker.health?.snapshot();
    const broker = history ? { ...probe, history } : probe;
    const ok = broker.state === 'up' && db.state === 'up' && cache.state === 'up';
    // The emergency stop state, as this process enforces it (stays open during a stop).
    let emergency: { all: boolean; subscribers: string[]; products: string[] } | undefined;
    if (access) {
      if (deps.health?.db() !== 'down') await access.governance.freshWithin(250).catch(() => undefined);
      const e = access.governance.emergency();
      emergency = { all: e.all, subscribers: e.subscribers, products: e.products };
    }
    return reply.status(ok ? 200 : 503).send({
      broker: deps.kinds.broker,
      db: deps.kinds.db,
      cache: deps.kinds.cache,
      registry: deps.kinds.registry,
      ok,
      components: { broker, db: dbSeen, cache, registry: { state: 'up' as const } },
      ...(emergency ? { emergency } : {}),
    });
  });

  for (const plugin of opts.plugins ?? []) await app.register(plugin, { deps });
  return app;
}
