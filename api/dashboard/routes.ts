/**
 * The dashboard page: the built front-end (api/dashboard/dist, made by `npm run build:dashboard`,
 * which `npm install` runs through `prepare`) served as static files at `/`. The page itself is
 * public; every data call it makes carries the subscriber's key and passes the access layer like
 * any other client.
 *
 * On the embedded default only, `GET /dashboard/session` hands the page the demo energy-bureau key
 * (offered by the command line right after it creates the demo keys, see `offerDemoSession`) so a
 * newcomer sees a live dashboard at once. It answers only on loopback and is not registered at all
 * when a real service (database, broker or cache) is configured.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { CoalflowError, type Deps } from '../../infra/core/index.ts';

/** Where `vite build` writes the page. */
export const DASHBOARD_DIST = new URL('./dist/', import.meta.url).pathname;
/** The demo subscriber the page opens as on the embedded default. */
export const DEMO_DASHBOARD_SUBSCRIBER = 'demo-government';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export interface DemoSession {
  key: string;
  name: string;
  subscriberId: string;
}

/** The demo key of this process (one API per process); kept in memory only, never written by this module. */
let demo: DemoSession | null = null;

/**
 * Offers the page a demo session (embedded default only: the route that hands it out does not exist
 * otherwise). Takes the demo keys the access layer just created and keeps the energy bureau's.
 */
export function offerDemoSession(
  keys: readonly { subscriberId: string; name: string; key: string }[],
): DemoSession | null {
  const k = keys.find((x) => x.subscriberId === DEMO_DASHBOARD_SUBSCRIBER);
  demo = k ? { key: k.key, name: k.name, subscriberId: k.subscriberId } : null;
  return demo;
}

export interface DashboardRoutesOptions {
  deps: Pick<Deps, 'config'>;
  /** Directory of the built page. Default api/dashboard/dist. */
  distDir?: string;
}

const NOT_BUILT = `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>coalflow</title>
<body style="font-family:sans-serif;max-width:40rem;margin:3rem auto;line-height:1.6">
<h1>仪表盘尚未构建 / The dashboard is not built</h1>
<p>请运行 <code>npm install</code>（会执行 <code>npm run build:dashboard</code>）后重启。<br>
Run <code>npm install</code> (it runs <code>npm run build:dashboard</code>) and restart.</p></body></html>`;

export async function dashboardRoutes(app: FastifyInstance, opts: DashboardRoutesOptions): Promise<void> {
  const dist = opts.distDir ?? DASHBOARD_DIST;
  const embedded = opts.deps.config.embedded;
  const page = { config: { public: true } };

  if (embedded) {
    app.get('/dashboard/session', page, async (req, reply) => {
      if (!LOOPBACK.has(req.ip)) throw new CoalflowError('NOT_FOUND', '未找到 / not found');
      reply.header('cache-control', 'no-store');
      return { embedded: true, demo };
    });
  }

  if (!existsSync(join(dist, 'index.html'))) {
    app.log.warn({ dist }, 'dashboard not built: run npm run build:dashboard');
    app.get('/', page, async (_req, reply) =>
      reply.status(503).type('text/html; charset=utf-8').send(NOT_BUILT),
    );
    return;
  }
  // The files are sent by @fastify/static (ranges, ETags, content types); the routes are declared here so each
  // carries its access declaration like every other route.
  await app.register(fastifyStatic, {
    root: dist,
    serve: false,
    // Hashed asset names change with their content: cache them; the page itself is always revalidated.
    setHeaders: (reply, path) => {
      reply.header(
        'cache-control',
        /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  app.get('/', page, async (_req, reply) => reply.sendFile('index.html'));
  app.get<{ Params: { '*': string } }>('/assets/*', page, async (req, reply) => {
    const name = req.params['*'];
    if (!/^[\w.-]+$/.test(name)) throw new CoalflowError('NOT_FOUND', '未找到 / not found');
    return reply.sendFile(`assets/${name}`);
  });
}
