/**
 * The dashboard's server side: the built page at `/` and its hashed assets, a clear 503 when the page is not
 * built, and the demo session that exists only on the embedded default and only for loopback callers.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { dashboardRoutes, offerDemoSession } from '../../../api/index.ts';

const s = suite<{ dist: string; apps: FastifyInstance[] }>('api/dashboard: routes', { dist: '', apps: [] });

s.before((ctx) => {
  ctx.dist = mkdtempSync(join(tmpdir(), 'coalflow-dashboard-dist-'));
  mkdirSync(join(ctx.dist, 'assets'));
  writeFileSync(join(ctx.dist, 'index.html'), '<!doctype html><title>coalflow</title>');
  writeFileSync(join(ctx.dist, 'assets', 'index-abc123.js'), 'console.log(1)');
});
s.after(async (ctx) => {
  for (const a of ctx.apps) await a.close();
  rmSync(ctx.dist, { recursive: true, force: true });
  offerDemoSession([]);
});

async function app(
  ctx: { apps: FastifyInstance[] },
  embedded: boolean,
  distDir: string,
): Promise<FastifyInstance> {
  const a = Fastify();
  await a.register(dashboardRoutes, { deps: { config: { embedded } as never }, distDir });
  ctx.apps.push(a);
  return a;
}

s('serves the page at / (revalidated) and hashed assets (cached for good)', async (ctx) => {
  const a = await app(ctx, false, ctx.dist);
  const page = await a.inject({ method: 'GET', url: '/' });
  assert.is(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /text\/html/);
  assert.is(page.headers['cache-control'], 'no-cache');
  assert.match(page.body, /<title>coalflow<\/title>/);
  const js = await a.inject({ method: 'GET', url: '/assets/index-abc123.js' });
  assert.is(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /javascript/);
  assert.match(js.headers['cache-control'] as string, /immutable/);
});

s('nothing outside the built files is reachable', async (ctx) => {
  const a = await app(ctx, false, ctx.dist);
  for (const url of [
    '/assets/..%2findex.html',
    '/assets/%2e%2e/%2e%2e/package.json',
    '/assets/nope.js',
    '/package.json',
  ]) {
    const res = await a.inject({ method: 'GET', url });
    assert.is(res.statusCode, 404, url);
  }
});

s('a page that was not built answers 503 naming the command', async (ctx) => {
  const a = await app(ctx, false, join(ctx.dist, 'missing'));
  const res = await a.inject({ method: 'GET', url: '/' });
  assert.is(res.statusCode, 503);
  assert.match(res.body, /npm run build:dashboard/);
});

s(
  'the demo session: embedded default only, loopback only, the energy bureau of this process',
  async (ctx) => {
    const real = await app(ctx, false, ctx.dist);
    assert.is(
      (await real.inject({ method: 'GET', url: '/dashboard/session' })).statusCode,
      404,
      'absent with real services',
    );

    const a = await app(ctx, true, ctx.dist);
    offerDemoSession([]);
    const none = await a.inject({ method: 'GET', url: '/dashboard/session', remoteAddress: '127.0.0.1' });
    assert.is(none.statusCode, 200);
    assert.equal(none.json(), { embedded: true, demo: null });

    const offered = offerDemoSession([
      { subscriberId: 'demo-operator', name: '平台运营方（演示）', key: 'cf_op' },
      { subscriberId: 'demo-government', name: '鄂尔多斯市能源局（演示）', key: 'cf_gov' },
    ]);
    assert.is(offered?.key, 'cf_gov', 'the energy bureau, never the operator');
    const res = await a.inject({ method: 'GET', url: '/dashboard/session', remoteAddress: '127.0.0.1' });
    assert.equal(res.json().demo, {
      key: 'cf_gov',
      name: '鄂尔多斯市能源局（演示）',
      subscriberId: 'demo-government',
    });
    assert.is(res.headers['cache-control'], 'no-store');

    const remote = await a.inject({ method: 'GET', url: '/dashboard/session', remoteAddress: '10.1.2.3' });
    assert.is(remote.statusCode, 404, 'not handed to another machine');
    assert.not.match(remote.body, /cf_gov/);
  },
);

s.run();
