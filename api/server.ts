import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyError } from 'fastify';
import { CoalflowError, AccessError, type Deps } from '../infra/core/index.ts';
import { BODY_LIMIT_BYTES, fastifyErrorReply, installHttpErrors } from './errors.ts';
import { createAccess, type AccessLayer } from './access/index.ts';
import { SCHEMAS } from './routes/schemas.ts';

export interface AppOptions {
  /** Extra route plugins (each registered encapsulated with `{ deps }`). */
  plugins?: ((app: FastifyInstance, opts: { deps: Deps }) => Promise<void>)[];
  /** The access layer (keys, grants, audit, rate limits). Default: one built from `deps`; `false` only for measuring its cost. */
  access?: AccessLayer | false;
}

async function componentState(name: string, check: () => Promise<unknown>): Promise<{ state: 'up' | 'down'; error?: string }> {
  try {
    await Promise.race([check(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref())]);
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

  app.setErrorHandler((err: FastifyError | CoalflowError, req, reply) => {
    if (err instanceof AccessError) {
      const retryAfterS = (err as AccessError & { retryAfterS?: number }).retryAfterS;
      if (retryAfterS) reply.header('retry-after', String(retryAfterS));
      return reply.status(err.status).type('application/problem+json').send({
        type: `urn:coalflow:error:${err.code}`, title: err.message, status: err.status, code: err.code, message: err.message, error: { code: err.code, message: err.message },
      });
    }
    if (err instanceof CoalflowError) {
      const status = err.code === 'UNAUTHORIZED' ? 401 : err.code === 'FORBIDDEN' || err.code === 'POLICY_FIELD_NOT_ALLOWED' ? 403
        : err.code === 'RECORD_INVALID' || err.code === 'INPUT_INVALID' ? 400 : err.retriable ? 503 : 500;
      return reply.status(status).send({ error: err.toJSON() });
    }
    const known = fastifyErrorReply(err as FastifyError);
    if (known) return reply.status(known.status).send(known.body);
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 500) req.log.error({ err: err.message }, 'request failed');
    return reply.status(status).send({
      error: { code: (err as FastifyError).code ?? 'INTERNAL', message: status >= 500 ? '内部错误 / internal error' : err.message },
    });
  });

  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });

  const access = opts.access === false ? null : opts.access ?? createAccess(deps, { ratePerSecond: deps.config.ratePerSecond, metricsLoopbackOpen: deps.config.metricsLoopbackOpen, auditRetentionDays: deps.config.auditRetentionDays });
  if (access) {
    await access.install(app);
    app.addHook('onClose', async () => { await access.close(); });
  }

  app.get('/healthz', { config: { public: true }, schema: SCHEMAS.healthz }, async (_req, reply) => {
    const [broker, db, cache] = await Promise.all([
      componentState('broker', () => deps.broker.listTopics()),
      componentState('db', () => deps.db.query('SELECT 1')),
      componentState('cache', () => deps.redis.ping()),
    ]);
    const ok = broker.state === 'up' && db.state === 'up' && cache.state === 'up';
    return reply.status(ok ? 200 : 503).send({
      broker: deps.kinds.broker,
      db: deps.kinds.db,
      cache: deps.kinds.cache,
      registry: deps.kinds.registry,
      ok,
      components: { broker, db, cache, registry: { state: 'up' as const } },
    });
  });

  for (const plugin of opts.plugins ?? []) await app.register(plugin, { deps });
  return app;
}
