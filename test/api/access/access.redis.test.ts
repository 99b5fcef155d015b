/**
 * The access layer end to end on the embedded TimescaleDB and real Redis: keys, grants, per-entity views,
 * disclosure control with secondary suppression, one audit row per request, metering and the bill, rate limits
 * and quotas, route declarations.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { indicatorRoutes } from '../../../api/routes/indicators.ts';
import { ingestRoutes } from '../../../api/routes/ingest.ts';
import { forecastRoutes } from '../../../api/routes/forecasts.ts';
import { metricsRoutes } from '../../../api/routes/metrics.ts';
import { accessRoutes, createAccess, bill } from '../../../api/access/index.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { createRedisSink } from '../../../pipelines/indicators/snapshots.ts';
import { CITY_ID, type IndicatorPoint } from '../../../pipelines/indicators/model.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey, type TestKey } from '../../helpers/access.ts';

const test = suite('api/access');
let rt: Runtime;
let app: FastifyInstance;
let op: TestKey;
let ent: TestKey;
let plant: TestKey;
let bureau: TestKey;
let _outsider: TestKey;

const MINE_A = '91150602MA0000001A';
const MINE_B = '91150602MA0000002B';
const MINE_OTHER = '91150621MA0000009C';
const PLANT = '91150602MA00000P01';
const OTHER_PLANT = '91150602MA00000P02';
const DAY = Date.parse('2026-10-14T16:00:00Z');

function pt(
  family: IndicatorPoint['family'],
  metric: string,
  scope: IndicatorPoint['scope'],
  scopeId: string,
  value: number,
  contributors: number | null,
  topShare: number | null = null,
  unit = 't',
): IndicatorPoint {
  return {
    family,
    metric,
    scope,
    scopeId,
    window: 'day',
    windowStart: DAY,
    value,
    unit,
    n: 10,
    contributors,
    topShare,
  };
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await rt.db.query(sql, params)).rows[0].n);
}

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'redis' });
  app = await buildApp(rt, {
    plugins: [ingestRoutes, indicatorRoutes, forecastRoutes, metricsRoutes, accessRoutes],
    access: createAccess(rt, { ratePerSecond: 10_000, auditFlushMs: 20 }),
  });
  op = await testKey(app, 'operator');
  ent = await testKey(app, 'enterprise', {
    products: ['indicator.sales', 'indicator.price', 'live'],
    mines: [MINE_A, MINE_B],
    purpose: '经营分析 / operations',
    tier: 'industry',
  });
  plant = await testKey(app, 'coal_user', {
    products: ['indicator.days_of_stock'],
    users: [PLANT],
    purpose: '保供 / supply',
    tier: 'industry',
    quotaPerDay: 3,
  });
  bureau = await testKey(app, 'government', {
    products: ['indicator.sales', 'indicator.days_of_stock', 'forecast'],
    mines: ['*'],
    users: ['*'],
    purpose: '公共治理 / governance',
    tier: 'public',
  });
  _outsider = await testKey(
    app,
    'enterprise',
    { products: ['indicator.transport'], purpose: '物流 / logistics', tier: 'industry' },
    '91150621MA0000009C',
  );
  const sink = createRedisSink(rt);
  await sink.write(
    [
      pt('sales', 'volume_t', 'mine', MINE_A, 1000, null),
      pt('sales', 'volume_t', 'mine', MINE_B, 2000, null),
      pt('sales', 'volume_t', 'mine', MINE_OTHER, 3000, null),
      // Regions: 150602 has 2 contributing groups (suppressed), 150621 and 150627 pass; 150621 is the smaller one.
      pt('sales', 'volume_t', 'region', '150602', 3000, 2, 0.6),
      pt('sales', 'volume_t', 'region', '150621', 5000, 4, 0.4),
      pt('sales', 'volume_t', 'region', '150627', 9000, 5, 0.3),
      pt('sales', 'volume_t', 'region', '150622', 7000, 3, 0.9),
      pt('sales', 'volume_t', 'city', CITY_ID, 24000, 14, 0.2),
      pt('days_of_stock', 'days', 'user', PLANT, 18.5, null, null, 'days'),
      pt('days_of_stock', 'days', 'user', OTHER_PLANT, 9.2, null, null, 'days'),
    ],
    { version: 1, live: false },
  );
});
test.after(async () => {
  const keys = await rt.redis.keys(`coalflow:${rt.config.topicPrefix}*`);
  if (keys.length) await rt.redis.del(...keys);
  await app?.close();
  await rt?.close();
});

const get = (url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers });

test('no key: 401 problem+json with a stable code, Chinese then English', async () => {
  const res = await get('/v1/indicators/latest?family=sales&scope=city');
  assert.is(res.statusCode, 401);
  assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
  assert.is(res.json().code, 'UNAUTHORIZED');
  assert.match(res.json().message, /密钥.*\/ .*key/);
});

test('unknown, malformed, revoked and expired keys: 401', async () => {
  const forged = ent.key.slice(0, -4) + 'AAAA';
  assert.is(
    (await get('/v1/indicators/latest?family=sales&scope=city', { authorization: `Bearer ${forged}` }))
      .statusCode,
    401,
  );
  assert.is(
    (await get('/v1/indicators/latest?family=sales&scope=city', { 'x-api-key': 'not-a-key' })).statusCode,
    401,
  );
  const k1 = await testKey(app, 'government', {
    products: ['indicator.sales'],
    purpose: 'x',
    tier: 'public',
  });
  assert.is((await get('/v1/indicators/latest?family=sales&scope=city', k1.headers)).statusCode, 200);
  const rev = await app.inject({
    method: 'POST',
    url: `/v1/access/keys/${k1.keyId}/revoke`,
    headers: op.headers,
  });
  assert.is(rev.statusCode, 200, rev.body);
  assert.is((await get('/v1/indicators/latest?family=sales&scope=city', k1.headers)).statusCode, 401);
  const k2 = await testKey(app, 'government', {
    products: ['indicator.sales'],
    purpose: 'x',
    tier: 'public',
  });
  assert.is(
    (await get('/v1/indicators/latest?family=sales&scope=city', { 'x-api-key': k2.key })).statusCode,
    200,
  );
  await app.inject({
    method: 'POST',
    url: `/v1/access/keys/${k2.keyId}/expire`,
    headers: op.headers,
    payload: {},
  });
  assert.is((await get('/v1/indicators/latest?family=sales&scope=city', k2.headers)).statusCode, 401);
});

test('out of grant: 403 (product not granted, operator route, other entity); unregistered product: served to no one', async () => {
  const r1 = await get('/v1/indicators/latest?family=transport&scope=city', ent.headers);
  assert.is(r1.statusCode, 403);
  assert.is(r1.json().code, 'FORBIDDEN');
  assert.is((await get('/v1/rejects', ent.headers)).statusCode, 403);
  assert.is((await get('/v1/access/keys', bureau.headers)).statusCode, 403);
  assert.is((await get(`/v1/days-of-stock?user=${OTHER_PLANT}`, plant.headers)).statusCode, 403);
  // A grant may only name registered products.
  const bad = await app.inject({
    method: 'POST',
    url: `/v1/access/subscribers/${ent.subscriberId}/grants`,
    headers: op.headers,
    payload: { products: ['indicator.secret'], purpose: 'x', tier: 'industry' },
  });
  assert.is(bad.statusCode, 400);
  // A product removed from the register stops being served even to a holder of a grant.
  await rt.db.query(`DELETE FROM access_products WHERE code = 'forecast'`);
  app.access.invalidate();
  const r2 = await get('/v1/forecasts', bureau.headers);
  assert.is(r2.statusCode, 403);
  assert.is(r2.json().code, 'PRODUCT_NOT_REGISTERED');
  await app.access.store.ensureProducts();
  app.access.invalidate();
  assert.is((await get('/v1/forecasts', bureau.headers)).statusCode, 200);
});

test("own entities in full; others' per-entity figures refused or left out; explicit grant sees them", async () => {
  const own = await get(`/v1/indicators/latest?family=sales&scope=mine&id=${MINE_A}`, ent.headers);
  assert.is(own.statusCode, 200, own.body);
  assert.is(own.json().entities[0].points[0].value, 1000);
  const other = await get(`/v1/indicators/latest?family=sales&scope=mine&id=${MINE_OTHER}`, ent.headers);
  assert.is(other.statusCode, 403);
  const list = await get('/v1/indicators/latest?family=sales&scope=mine', ent.headers);
  assert.equal(
    list
      .json()
      .entities.map((e: { scopeId: string }) => e.scopeId)
      .sort(),
    [MINE_A, MINE_B],
  );
  const gov = await get('/v1/indicators/latest?family=sales&scope=mine', bureau.headers);
  assert.is(gov.json().entities.length, 3);
  const dos = await get(`/v1/days-of-stock?user=${PLANT}`, plant.headers);
  assert.is(dos.statusCode, 200, dos.body);
  assert.is(dos.json().daysOfStock, 18.5);
  assert.is((await get(`/v1/days-of-stock?user=${OTHER_PLANT}`, bureau.headers)).json().daysOfStock, 9.2);
});

test('aggregates: a cell with 2 contributing groups suppressed, a dominated cell suppressed, no complementary cell needed when two are', async () => {
  const res = await get('/v1/indicators/latest?family=sales&scope=region', ent.headers);
  const by = Object.fromEntries(
    res
      .json()
      .entities.map((e: { scopeId: string; points: { value: number | null; suppressed?: boolean }[] }) => [
        e.scopeId,
        e.points[0],
      ]),
  );
  assert.is(by['150602'].suppressed, true);
  assert.is(by['150602'].value, null);
  assert.is(by['150622'].suppressed, true, 'top share 0.9 > 0.85');
  assert.is(by['150621'].value, 5000);
  assert.is(by['150627'].value, 9000);
});

test('secondary suppression: a lone suppressed cell takes the smallest sibling with it, whichever ids are asked', async () => {
  await createRedisSink(rt).write([pt('sales', 'volume_t', 'region', '150622', 7000, 3, 0.5)], {
    version: 2,
    live: false,
  });
  const res = await get('/v1/indicators/latest?family=sales&scope=region', bureau.headers);
  const by = Object.fromEntries(
    res
      .json()
      .entities.map((e: { scopeId: string; points: { value: number | null; suppressed?: boolean }[] }) => [
        e.scopeId,
        e.points[0],
      ]),
  );
  assert.is(by['150602'].suppressed, true);
  assert.is(by['150621'].suppressed, true, 'the smallest published sibling is suppressed too');
  assert.is(by['150627'].value, 9000);
  assert.is(by['150622'].value, 7000);
  const one = await get('/v1/indicators/latest?family=sales&scope=region&id=150621', bureau.headers);
  assert.is(one.json().entities[0].points[0].suppressed, true);
  const city = await get('/v1/indicators/latest?family=sales&scope=city', bureau.headers);
  assert.is(city.json().entities[0].points[0].value, 24000);
});

test('each call writes exactly one audit row with key, subscriber, route, params, purpose, status, cells', async () => {
  await app.access.flush();
  const before = await count('SELECT count(*) AS n FROM access_audit');
  const k = await testKey(app, 'government', {
    products: ['indicator.sales'],
    purpose: '审计测试 / audit test',
    tier: 'public',
  });
  const urls = [
    '/v1/indicators/latest?family=sales&scope=region',
    '/v1/indicators/latest?family=price&scope=city',
    '/healthz',
    '/v1/indicators/catalog',
    '/v1/nope',
  ];
  for (const u of urls) await get(u, k.headers);
  await get('/v1/indicators/latest?family=sales&scope=region'); // no key
  await app.access.flush();
  const rows = (await rt.db.query('SELECT * FROM access_audit WHERE seq > 0 ORDER BY seq')).rows.slice(
    before,
  );
  assert.is(rows.length, urls.length + 1 - 1, 'every request but the 404 of an unknown route has one row');
  const first = rows[0];
  assert.is(first.key_id, k.keyId);
  assert.is(first.subscriber_id, k.subscriberId);
  assert.is(first.route, '/v1/indicators/latest');
  assert.equal(first.params, { family: 'sales', scope: 'region' });
  assert.is(first.purpose, '审计测试 / audit test');
  assert.is(first.status, 200);
  assert.is(first.cells_returned + first.cells_suppressed, 4, JSON.stringify(first));
  assert.ok(first.cells_suppressed >= 1);
  assert.ok(Number(first.bytes) > 0);
  assert.is(rows[1].status, 403);
  assert.is(rows.at(-1).status, 401);
  assert.is(rows.at(-1).key_id, null);
  const seqs = rows.map((r) => Number(r.seq));
  assert.equal(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'rows in a strict sequence',
  );
  const q = await get(`/v1/access/audit?subscriber=${k.subscriberId}`, op.headers);
  assert.is(q.statusCode, 200, q.body);
  assert.is(q.json().items.length, 4);
});

test("the month's bill equals the recorded usage; public governance is free", async () => {
  const month = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 7);
  const k = await testKey(
    app,
    'enterprise',
    { products: ['indicator.sales'], purpose: '计费 / billing', tier: 'industry' },
    '91150602MA0000003D',
  );
  for (let i = 0; i < 7; i++) await get('/v1/indicators/latest?family=sales&scope=region', k.headers);
  await get('/v1/indicators/latest?family=price&scope=city', k.headers); // 403: not metered
  await app.access.flush();
  const audited = (
    await rt.db.query(
      `SELECT count(*)::int AS calls, sum(cells_returned)::int AS rows, sum(bytes)::int AS bytes FROM access_audit WHERE subscriber_id = $1 AND status < 400`,
      [k.subscriberId],
    )
  ).rows[0];
  const [st] = await bill(rt.db, month, k.subscriberId);
  const line = st!.lines.find((l) => l.product === 'indicator.sales')!;
  assert.equal({ calls: line.calls, rows: line.rows, bytes: line.bytes }, audited);
  assert.is(line.calls, 7);
  const expected = Math.round((7 * 0.01 + (audited.rows / 1000) * 0.1) * 100) / 100;
  assert.is(line.amountYuan, expected);
  assert.is(st!.totalYuan, expected);
  const http = await get(`/v1/access/bill?month=${month}&subscriber=${bureau.subscriberId}`, op.headers);
  assert.is(http.statusCode, 200);
  assert.is(http.json().items[0].totalYuan, 0);
});

test('quota: an exhausted daily quota is QUOTA_EXHAUSTED with Retry-After', async () => {
  const k = await testKey(app, 'coal_user', {
    products: ['indicator.days_of_stock'],
    users: [PLANT],
    purpose: '配额 / quota',
    tier: 'industry',
    quotaPerDay: 2,
  });
  for (let i = 0; i < 2; i++)
    assert.is((await get(`/v1/days-of-stock?user=${PLANT}`, k.headers)).statusCode, 200);
  await new Promise((r) => setTimeout(r, 50)); // the quota count is added when the response ends
  const res = await get(`/v1/days-of-stock?user=${PLANT}`, k.headers);
  assert.is(res.statusCode, 429);
  assert.is(res.json().code, 'QUOTA_EXHAUSTED');
  assert.ok(Number(res.headers['retry-after']) > 0);
});

test('rate limit per key in Redis: 429 RATE_LIMITED with Retry-After', async () => {
  const small = await buildApp(rt, {
    plugins: [indicatorRoutes],
    access: createAccess(rt, { ratePerSecond: 3 }),
  });
  try {
    const k = await testKey(small, 'government', {
      products: ['indicator.sales'],
      purpose: 'x',
      tier: 'public',
    });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++)
      codes.push(
        (
          await small.inject({
            method: 'GET',
            url: '/v1/indicators/latest?family=sales&scope=city',
            headers: k.headers,
          })
        ).statusCode,
      );
    assert.ok(codes.includes(200));
    const res = await small.inject({
      method: 'GET',
      url: '/v1/indicators/latest?family=sales&scope=city',
      headers: k.headers,
    });
    assert.ok(codes.includes(429) || res.statusCode === 429, codes.join(','));
    const limited = res.statusCode === 429 ? res : null;
    if (limited) {
      assert.is(limited.json().code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers['retry-after']) >= 1);
    }
    // Another key has its own budget.
    const k2 = await testKey(small, 'government', {
      products: ['indicator.sales'],
      purpose: 'x',
      tier: 'public',
    });
    assert.is(
      (
        await small.inject({
          method: 'GET',
          url: '/v1/indicators/latest?family=sales&scope=city',
          headers: k2.headers,
        })
      ).statusCode,
      200,
    );
  } finally {
    await small.close();
  }
});

test('a route declaring no product, operator or public role fails at startup', async () => {
  const undeclared = async (a: FastifyInstance) => {
    a.get('/v1/open-by-accident', async () => ({ ok: true }));
  };
  try {
    const bad = await buildApp(rt, { plugins: [undeclared] });
    await bad.ready();
    await bad.close();
    assert.unreachable('should have failed');
  } catch (err) {
    assert.match((err as Error).message, /open-by-accident.*config/);
  }
});

test('/metrics: open on loopback, else an operator key; /healthz open; /docs serves OpenAPI 3', async () => {
  const remote = await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3' });
  assert.is(remote.statusCode, 401);
  assert.is(
    (await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3', headers: op.headers }))
      .statusCode,
    200,
  );
  assert.is(
    (await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3', headers: ent.headers }))
      .statusCode,
    403,
  );
  assert.is(
    (await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' })).statusCode,
    200,
  );
  assert.is((await get('/healthz')).statusCode, 200);
  const spec = await get('/docs/json');
  assert.is(spec.statusCode, 200);
  assert.match(spec.json().openapi, /^3\./);
  assert.ok(spec.json().paths['/v1/access/keys']);
});

test('operator routes: create subscriber, grant, key (shown once, stored hashed), rotate', async () => {
  const s = await app.inject({
    method: 'POST',
    url: '/v1/access/subscribers',
    headers: op.headers,
    payload: { name: '某电厂', kind: 'coal_user' },
  });
  assert.is(s.statusCode, 201, s.body);
  const id = s.json().id;
  const bad = await app.inject({
    method: 'POST',
    url: '/v1/access/subscribers',
    headers: op.headers,
    payload: { name: '无代码集团', kind: 'enterprise' },
  });
  assert.is(bad.statusCode, 400);
  const g = await app.inject({
    method: 'POST',
    url: `/v1/access/subscribers/${id}/grants`,
    headers: op.headers,
    payload: { products: ['indicator.days_of_stock'], users: [PLANT], purpose: '保供', tier: 'industry' },
  });
  assert.is(g.statusCode, 201, g.body);
  const k = await app.inject({
    method: 'POST',
    url: '/v1/access/keys',
    headers: op.headers,
    payload: { subscriberId: id },
  });
  assert.is(k.statusCode, 201, k.body);
  const key = k.json().key as string;
  const stored = (
    await rt.db.query('SELECT secret_sha256 FROM access_keys WHERE key_id = $1', [k.json().keyId])
  ).rows[0].secret_sha256;
  assert.not.ok(key.includes(stored));
  assert.is(
    (await get(`/v1/days-of-stock?user=${PLANT}`, { authorization: `Bearer ${key}` })).statusCode,
    200,
  );
  const listed = await get(`/v1/access/keys?subscriber=${id}`, op.headers);
  assert.not.match(listed.body, key.slice(-20));
  const r = await app.inject({
    method: 'POST',
    url: `/v1/access/keys/${k.json().keyId}/rotate`,
    headers: op.headers,
    payload: {},
  });
  assert.is(r.statusCode, 201, r.body);
  app.access.invalidate();
  assert.is(
    (await get(`/v1/days-of-stock?user=${PLANT}`, { authorization: `Bearer ${key}` })).statusCode,
    401,
  );
  assert.is(
    (await get(`/v1/days-of-stock?user=${PLANT}`, { authorization: `Bearer ${r.json().key}` })).statusCode,
    200,
  );
  const me = await get('/v1/me', { authorization: `Bearer ${r.json().key}` });
  assert.is(me.json().subscriberId, id);
});

test('a plain fastify app is unaffected (forecast routes can be mounted without the access layer)', async () => {
  const plain = Fastify();
  await plain.register(forecastRoutes, { db: rt.db });
  assert.is((await plain.inject({ method: 'GET', url: '/v1/forecasts' })).statusCode, 200);
  await plain.close();
});

test.run();
