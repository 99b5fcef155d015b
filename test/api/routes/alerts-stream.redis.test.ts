/** The alert stream takes its key from `?key=` as well, since a browser's EventSource sends no headers. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { alertRoutes } from '../../../api/routes/alerts.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey } from '../../helpers/access.ts';

const test = suite('api/routes alert stream (redis)');
let rt: Runtime;
let app: FastifyInstance;
let port = 0;
test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'redis' });
  app = await buildApp(rt, { plugins: [alertRoutes] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

/** Status and content type of the stream's answer; the connection is dropped once the head arrived. */
const open = (path: string) =>
  new Promise<{ status: number; type: string }>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path }, (res) => {
      resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? '') });
      res.destroy();
    });
    req.on('error', reject);
  });

test('a granted key in ?key= opens the stream; no key or a wrong one is refused', async () => {
  const sub = await testKey(app, 'government', {
    products: ['alert'],
    purpose: '测试 / test',
    tier: 'public',
  });
  const ok = await open(`/v1/alerts/live?key=${encodeURIComponent(sub.key)}`);
  assert.is(ok.status, 200);
  assert.match(ok.type, /text\/event-stream/);
  assert.is((await open('/v1/alerts/live')).status, 401);
  assert.is((await open('/v1/alerts/live?key=cf_0000000000_nope')).status, 401);
  const other = await testKey(app, 'government', {
    products: ['indicator.price'],
    purpose: '测试 / test',
    tier: 'public',
  });
  assert.is((await open(`/v1/alerts/live?key=${encodeURIComponent(other.key)}`)).status, 403);
});

test.run();
