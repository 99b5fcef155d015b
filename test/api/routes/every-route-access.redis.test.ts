/**
 * Every route of the running app under the access rules. The routes are enumerated from the app itself
 * (`app.access.routes`, recorded as they are registered), so a route added anywhere is covered: each needs one
 * line in ROUTE_SAMPLES below (a URL with sample parameters, and a body for writes), or the first test fails
 * naming it.
 *
 * For every route that is not public: no key, a wrong key, a revoked key and an expired key get 401; a key whose
 * grants do not cover the route gets 403 (operator routes: any non-operator key). Then SQL-injection and other
 * hostile values in every query and path parameter (and top-level string fields of bodies) give no 5xx and no
 * data beyond the grant; scope escalation through parameters (another's entity, duplicated and array parameters,
 * case tricks, comma lists) is refused or filtered; oversized time ranges are refused with a clear message; path
 * traversal in report downloads and static files serves nothing; a burst beyond the rate limit gets 429 with
 * Retry-After and the counts add up.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { startSystem, type System } from '../../../infra/system.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { buildApp } from '../../../api/server.ts';
import { indicatorRoutes } from '../../../api/routes/indicators.ts';
import { createAccess } from '../../../api/access/index.ts';
import { createRedisSink } from '../../../pipelines/indicators/snapshots.ts';
import { CITY_ID, type IndicatorPoint } from '../../../pipelines/indicators/model.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey, type TestKey } from '../../helpers/access.ts';

/**
 * One line per route: `'METHOD /path/:param'` → a request the route can answer (path parameters filled in).
 * `body` for writes; `stream` for server-sent event routes (only the refusals are checked: a granted request
 * would stay open). Parameter values are what the hostile probes replace.
 */
interface Sample {
  url: string;
  body?: Record<string, unknown>;
  stream?: boolean;
}
const ROUTE_SAMPLES: Record<string, Sample> = {
  'GET /healthz': { url: '/healthz' },
  'GET /metrics': { url: '/metrics' },
  'GET /docs': { url: '/docs' },
  'GET /docs/json': { url: '/docs/json' },
  'GET /docs/yaml': { url: '/docs/yaml' },
  'GET /docs/static/index.html': { url: '/docs/static/index.html' },
  'GET /docs/static/swagger-initializer.js': { url: '/docs/static/swagger-initializer.js' },
  'GET /docs/static/*': { url: '/docs/static/swagger-ui.css' },
  'GET /': { url: '/' },
  'GET /assets/*': { url: '/assets/index.js' },
  'GET /dashboard/session': { url: '/dashboard/session' },
  'POST /v1/ingest/:feed': { url: '/v1/ingest/sales', body: { 销售编号: 'X1' } },
  'GET /v1/rejects': { url: '/v1/rejects?feed=sales&limit=10' },
  'GET /v1/rejects/:id': { url: '/v1/rejects/1' },
  'POST /v1/rejects/:id/replay': { url: '/v1/rejects/1/replay', body: { 净重: 33 } },
  'GET /v1/indicators/catalog': { url: '/v1/indicators/catalog' },
  'GET /v1/indicators/latest': { url: '/v1/indicators/latest?family=sales&scope=mine&id=MINE_A' },
  'GET /v1/indicators/series': {
    url: '/v1/indicators/series?family=sales&metric=volume_t&scope=mine&id=MINE_A&window=day&from=2026-10-01&to=2026-10-20',
  },
  'GET /v1/days-of-stock': { url: '/v1/days-of-stock?user=PLANT' },
  'GET /v1/live/:family': { url: '/v1/live/sales', stream: true },
  'GET /v1/forecasts': { url: '/v1/forecasts?family=sales' },
  'GET /v1/forecasts/:seriesKey': { url: '/v1/forecasts/sales.volume_t.city' },
  'POST /v1/forecasts/retrain': { url: '/v1/forecasts/retrain', body: {} },
  'GET /v1/me': { url: '/v1/me' },
  'GET /v1/access/subscribers': { url: '/v1/access/subscribers' },
  'POST /v1/access/subscribers': {
    url: '/v1/access/subscribers',
    body: { id: 'probe-sub', name: '探测', kind: 'coal_user' },
  },
  'POST /v1/access/subscribers/:id/grants': {
    url: '/v1/access/subscribers/probe-sub/grants',
    body: { products: ['forecast'], purpose: 'probe', tier: 'public' },
  },
  'GET /v1/access/subscribers/:id/grants': { url: '/v1/access/subscribers/probe-sub/grants' },
  'GET /v1/access/keys': { url: '/v1/access/keys?subscriber=probe-sub' },
  'POST /v1/access/keys': { url: '/v1/access/keys', body: { subscriberId: 'probe-sub', label: 'probe' } },
  'POST /v1/access/keys/:keyId/rotate': { url: '/v1/access/keys/0000000000/rotate', body: {} },
  'POST /v1/access/keys/:keyId/revoke': { url: '/v1/access/keys/0000000000/revoke', body: {} },
  'POST /v1/access/keys/:keyId/expire': { url: '/v1/access/keys/0000000000/expire', body: {} },
  'GET /v1/access/products': { url: '/v1/access/products' },
  'POST /v1/access/products': {
    url: '/v1/access/products',
    body: { code: 'probe.product', name: '探测', fields: [], fee: {} },
  },
  'GET /v1/access/audit': { url: '/v1/access/audit?subscriber=x&from=2026-10-01&to=2026-10-20&limit=5' },
  'GET /v1/access/usage': { url: '/v1/access/usage?month=2026-10&subscriber=x' },
  'GET /v1/access/bill': { url: '/v1/access/bill?month=2026-10&subscriber=x' },
  'GET /v1/alerts': { url: '/v1/alerts?active=true&from=2026-10-01&to=2026-10-20' },
  'GET /v1/alerts/rules': { url: '/v1/alerts/rules' },
  'GET /v1/alerts/:id': { url: '/v1/alerts/1' },
  'POST /v1/alerts/:id/ack': { url: '/v1/alerts/1/ack', body: {} },
  'GET /v1/alerts/thresholds': { url: '/v1/alerts/thresholds' },
  'PUT /v1/alerts/thresholds/:rule/:scope/:scopeId': {
    url: '/v1/alerts/thresholds/price_fall/mine/MINE_A',
    body: { warning: -8 },
  },
  'DELETE /v1/alerts/thresholds/:rule/:scope/:scopeId': {
    url: '/v1/alerts/thresholds/price_fall/mine/MINE_A',
  },
  'GET /v1/alerts/live': { url: '/v1/alerts/live', stream: true },
  'POST /v1/alert-webhooks': {
    url: '/v1/alert-webhooks',
    body: { subscriberId: 'probe-sub', url: 'https://example.invalid/hook' },
  },
  'GET /v1/alert-webhooks': { url: '/v1/alert-webhooks' },
  'POST /v1/alert-webhooks/:id/enable': { url: '/v1/alert-webhooks/1/enable', body: {} },
  'POST /v1/alert-webhooks/:id/disable': { url: '/v1/alert-webhooks/1/disable', body: {} },
  'DELETE /v1/alert-webhooks/:id': { url: '/v1/alert-webhooks/1' },
  'GET /v1/alert-webhooks/:id/deliveries': { url: '/v1/alert-webhooks/1/deliveries' },
  'GET /v1/alert-notices': { url: '/v1/alert-notices' },
  'POST /v1/reports': { url: '/v1/reports', body: { period: 'day', date: '2026-10-05', formats: ['json'] } },
  'GET /v1/reports/jobs': { url: '/v1/reports/jobs' },
  'GET /v1/reports/jobs/:id': { url: '/v1/reports/jobs/1' },
  'GET /v1/reports': { url: '/v1/reports?period=day' },
  'GET /v1/reports/:id': { url: '/v1/reports/1?lang=en' },
  'GET /v1/reports/:id/:format': { url: '/v1/reports/1/xlsx?lang=en' },
  'GET /v1/audit/verify': { url: '/v1/audit/verify?from=2026-10-01&to=2026-10-20' },
  'GET /v1/products': { url: '/v1/products' },
  'GET /v1/products/events': { url: '/v1/products/events?from=2026-10-01&to=2026-10-20' },
  'GET /v1/products/:code': { url: '/v1/products/forecast' },
  'POST /v1/products': { url: '/v1/products', body: { code: 'probe.lifecycle', name: '探测', fields: [] } },
  'POST /v1/products/:code/:step': { url: '/v1/products/probe.lifecycle/submit', body: { reason: 'probe' } },
  'POST /v1/emergency/stop': {
    url: '/v1/emergency/stop',
    body: { subscriber: 'probe-sub', reason: 'probe' },
  },
  'POST /v1/emergency/resume': {
    url: '/v1/emergency/resume',
    body: { subscriber: 'probe-sub', reason: 'probe' },
  },
  'GET /v1/emergency': { url: '/v1/emergency?from=2026-10-01&to=2026-10-20' },
  'GET /v1/sandbox/catalog': { url: '/v1/sandbox/catalog' },
  'POST /v1/sandbox/query': {
    url: '/v1/sandbox/query',
    body: { measures: ['tonnage'], dimensions: ['region'], range: { from: '2026-10-01', to: '2026-10-20' } },
  },
  'GET /v1/compliance/reports/:month': { url: '/v1/compliance/reports/2026-10?format=json' },
  'GET /v1/compliance/evaluation/:month': { url: '/v1/compliance/evaluation/2026-10' },
};

const test = suite('api: every route under the access rules');
let rt: Runtime;
let sys: System;
let app: FastifyInstance;
let op: TestKey;
let ent: TestKey;
let outsider: TestKey;
let revoked: TestKey;
let expired: TestKey;

// Canary entities: the enterprise key owns MINE_A and the plant PLANT is someone else's (the enterprise is not
// granted days of stock at all); MINE_OTHER and OTHER_PLANT must never reach the enterprise key.
const MINE_A = '91150602MA0007771A';
const MINE_OTHER = '91150621MA0007779C';
const PLANT = '91150602MA0077P771';
const OTHER_PLANT = '91150602MA0077P772';
const CANARIES = [MINE_OTHER, OTHER_PLANT];
const DAY = Date.parse('2026-10-14T16:00:00Z');
const fill = (url: string) =>
  url
    .replace(/MINE_A/g, MINE_A)
    .replace(/OTHER_PLANT/g, OTHER_PLANT)
    .replace(/PLANT/g, PLANT);

function pt(
  family: IndicatorPoint['family'],
  scope: IndicatorPoint['scope'],
  scopeId: string,
  value: number,
  metric = 'volume_t',
): IndicatorPoint {
  return {
    family,
    metric,
    scope,
    scopeId,
    window: 'day',
    windowStart: DAY,
    value,
    unit: 't',
    n: 10,
    contributors: scope === 'mine' || scope === 'user' ? null : 5,
    topShare: scope === 'mine' || scope === 'user' ? null : 0.3,
  };
}

test.before(async () => {
  rt = await testRuntime({
    broker: 'in-process',
    cache: 'redis',
    overrides: { ratePerSecond: 1_000_000, forecastIntervalMs: 0 },
  });
  // The API role alone (the worker's consumers are not what is tested); the feed topics ingest writes to exist.
  await rt.broker.createTopics(feedTopics(rt));
  sys = await startSystem(rt, ['api'], { listen: false });
  app = sys.app!;
  op = await testKey(app, 'operator');
  ent = await testKey(
    app,
    'enterprise',
    {
      products: ['indicator.sales', 'indicator.price', 'live', 'forecast', 'report', 'alert'],
      mines: [MINE_A],
      regions: ['150602'],
      purpose: '经营分析 / operations',
      tier: 'industry',
    },
    MINE_A,
  );
  // Grants a product no sample asks for: every product route is out of its grant.
  outsider = await testKey(app, 'coal_user', {
    products: ['indicator.transport'],
    users: [OTHER_PLANT],
    purpose: '物流 / logistics',
    tier: 'industry',
  });
  const everything = {
    products: [
      'indicator.sales',
      'indicator.price',
      'indicator.days_of_stock',
      'live',
      'forecast',
      'report',
      'alert',
    ],
    mines: ['*'],
    users: ['*'],
    purpose: 'x',
    tier: 'public' as const,
  };
  revoked = await testKey(app, 'government', everything);
  expired = await testKey(app, 'government', everything);
  await app.access.store.revokeKey(revoked.keyId);
  await app.access.store.expireKey(expired.keyId, new Date(Date.now() - 1000).toISOString());
  app.access.invalidate();
  await createRedisSink(rt).write(
    [
      pt('sales', 'mine', MINE_A, 1000),
      pt('sales', 'mine', MINE_OTHER, 3000),
      pt('sales', 'region', '150602', 4000),
      pt('sales', 'city', CITY_ID, 24000),
      pt('days_of_stock', 'user', PLANT, 18.5, 'days'),
      pt('days_of_stock', 'user', OTHER_PLANT, 9.2, 'days'),
    ],
    { version: 1, live: false },
  );
});
test.after(async () => {
  const keys = await rt?.redis.keys(`coalflow:${rt.config.topicPrefix}*`).catch(() => [] as string[]);
  if (keys?.length) await rt.redis.del(...keys);
  await sys?.stop();
});

const routeId = (r: { method: string; url: string }) => `${r.method} ${r.url}`;

async function call(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: method as 'GET',
    url,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A refusal in the documented shape: problem+json with the code, Chinese then English. */
function refused(res: LightMyRequestResponse, status: number, code: string, what: string): void {
  assert.is(res.statusCode, status, `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  assert.match(String(res.headers['content-type']), /application\/problem\+json/, what);
  const e = res.json() as { code: string; message: string };
  assert.is(e.code, code, what);
  assert.match(
    e.message,
    /[^\x00-\x7f].*\/ [A-Za-z]/,
    `${what}: Chinese then English: ${res.body.slice(0, 300)}`,
  );
}

test('every route of the app has a sample in ROUTE_SAMPLES (one line per route)', () => {
  const routes = app.access.routes.map(routeId);
  assert.ok(routes.length > 40, `routes enumerated: ${routes.length}`);
  const missing = routes.filter((r) => !(r in ROUTE_SAMPLES));
  assert.equal(
    missing,
    [],
    `add a line to ROUTE_SAMPLES in test/api/routes/every-route-access.redis.test.ts for: ${missing.join(', ')}`,
  );
});

test('no key, a wrong key, a revoked key, an expired key: 401 on every route that is not public', async () => {
  const wrong = `cf_${'0'.repeat(10)}_${'A'.repeat(43)}`;
  let checked = 0;
  for (const r of app.access.routes) {
    const s = ROUTE_SAMPLES[routeId(r)];
    if (!s || r.config.public) continue;
    const url = fill(s.url);
    const body = s.body;
    if (!r.config.loopback)
      refused(await call(r.method, url, {}, body), 401, 'UNAUTHORIZED', `${routeId(r)} no key`);
    for (const [what, h] of [
      ['wrong key', { authorization: `Bearer ${wrong}` }],
      ['malformed key', { 'x-api-key': "' OR '1'='1" }],
      ['revoked key', revoked.headers],
      ['expired key', expired.headers],
    ] as const)
      refused(await call(r.method, url, h, body), 401, 'UNAUTHORIZED', `${routeId(r)} ${what}`);
    checked++;
  }
  assert.ok(checked > 35, `routes checked: ${checked}`);
});

test('out of grant: 403 on every product and operator route (the route serves nothing)', async () => {
  for (const r of app.access.routes) {
    const s = ROUTE_SAMPLES[routeId(r)];
    if (!s || r.config.public || r.config.authenticated) continue;
    const res = await call(r.method, fill(s.url), outsider.headers, s.body);
    refused(res, 403, 'FORBIDDEN', `${routeId(r)} out of grant`);
  }
  // The one authenticated route answers any valid key, about that key only.
  const me = await call('GET', '/v1/me', outsider.headers);
  assert.is(me.statusCode, 200);
  assert.is(me.json().subscriberId, outsider.subscriberId);
});

const PROBES = [
  "' OR '1'='1",
  "x' UNION SELECT key_hash FROM access_keys--",
  '\u0000',
  '../../../../etc/passwd',
  '%_*',
  '-1e309',
  '准格尔旗\ud800',
  'x'.repeat(5000),
];

/** A path segment holding the probe; an unpaired surrogate goes as the invalid UTF-8 bytes it would be. */
function pathSegment(probe: string): string {
  try {
    return encodeURIComponent(probe);
  } catch {
    return encodeURIComponent(probe.replace(/[\ud800-\udfff]/g, '')) + '%ED%A0%80';
  }
}

/** The sample with one query parameter, path parameter or body string replaced by each probe. */
function* variants(routeUrl: string, s: Sample): Generator<{ url: string; body?: unknown; where: string }> {
  const base = fill(s.url);
  const [path, qs = ''] = base.split('?');
  const params = new URLSearchParams(qs);
  const pathParts = path!.split('/');
  const templateParts = routeUrl.split('/');
  for (const probe of PROBES) {
    for (const name of params.keys()) {
      const q = new URLSearchParams(params);
      q.set(name, probe);
      yield { url: `${path}?${q}`, body: s.body, where: `?${name}=` };
    }
    for (let i = 0; i < templateParts.length; i++) {
      const t = templateParts[i]!;
      if (!t.startsWith(':') && t !== '*') continue;
      const p = [...pathParts];
      p[i] = pathSegment(probe);
      yield { url: `${p.join('/')}${qs ? `?${qs}` : ''}`, body: s.body, where: t };
    }
    for (const [k, v] of Object.entries(s.body ?? {}))
      if (typeof v === 'string') yield { url: base, body: { ...s.body, [k]: probe }, where: `body.${k}` };
  }
}

test('SQL injection and hostile values in every parameter: no 5xx, no data beyond the grant, tables intact', async () => {
  const failures: string[] = [];
  let sent = 0;
  const keysBefore = Number((await rt.db.query('SELECT count(*) AS n FROM access_keys')).rows[0].n);
  for (const r of app.access.routes) {
    const s = ROUTE_SAMPLES[routeId(r)];
    if (!s || s.stream) continue;
    const who = r.config.operator ? op : ent;
    for (const v of variants(r.url, s)) {
      const res = await call(r.method, v.url, who.headers, v.body);
      sent++;
      const allowed5xx = routeId(r) === 'POST /v1/forecasts/retrain' && res.statusCode === 503; // no worker here
      if (res.statusCode >= 500 && !allowed5xx)
        failures.push(`${routeId(r)} ${v.where} → ${res.statusCode} ${res.body.slice(0, 160)}`);
      if (who === ent && res.statusCode < 300)
        for (const c of CANARIES)
          if (res.body.includes(c))
            failures.push(`${routeId(r)} ${v.where} served ${c} to the enterprise key`);
    }
  }
  assert.equal(failures, [], failures.join('\n'));
  assert.ok(sent > 250, `probes sent: ${sent}`);
  const keysAfter = Number((await rt.db.query('SELECT count(*) AS n FROM access_keys')).rows[0].n);
  assert.ok(keysAfter >= keysBefore, 'access_keys still there');
  assert.is((await call('GET', '/healthz')).statusCode, 200);
});

test('scope escalation through parameters: another entity is refused or left out, however it is asked', async () => {
  const own = await call('GET', `/v1/indicators/latest?family=sales&scope=mine&id=${MINE_A}`, ent.headers);
  assert.is(own.statusCode, 200, own.body);
  assert.ok(own.body.includes(MINE_A), 'own mine served (the checks below are not vacuous)');
  const list = await call('GET', '/v1/indicators/latest?family=sales&scope=mine', ent.headers);
  assert.is(list.statusCode, 200);
  assert.ok(list.body.includes(MINE_A) && !list.body.includes(MINE_OTHER), list.body.slice(0, 300));
  const tricks = [
    `/v1/indicators/latest?family=sales&scope=mine&id=${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=mine&id=${MINE_A}&id=${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=mine&id=${MINE_OTHER}&id=${MINE_A}`,
    `/v1/indicators/latest?family=sales&scope=mine&id=${MINE_A},${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=mine&id[]=${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=mine&id[0]=${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=mine&ID=${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=MINE&id=${MINE_OTHER}`,
    `/v1/indicators/latest?family=sales&scope=mine&id=${MINE_OTHER.toLowerCase()}`,
    `/v1/indicators/latest?family=sales&scope=mine&id=%20${MINE_OTHER}%20`,
    `/v1/indicators/latest?family=sales&family=days_of_stock&scope=user`,
    `/v1/indicators/latest?family=days_of_stock&scope=user&id=${OTHER_PLANT}`,
    `/v1/indicators/latest?family=sales&scope=mine&mine=${MINE_OTHER}&subscriber=${outsider.subscriberId}`,
    `/v1/indicators/latest?family=sales&scope=mine&mines=*&regions=*`,
    `/v1/indicators/series?family=sales&metric=volume_t&scope=mine&id=${MINE_A}&id=${MINE_OTHER}`,
    `/v1/indicators/series?family=sales&metric=volume_t&scope=mine&id=${MINE_A},${MINE_OTHER}`,
    `/v1/days-of-stock?user=${OTHER_PLANT}`,
    `/v1/days-of-stock?user=${PLANT}&user=${OTHER_PLANT}`,
    `/v1/live/days_of_stock?key=${ent.key}`,
    `/v1/reports?audience=${outsider.subscriberId}&subscriber=${outsider.subscriberId}`,
    `/v1/alerts?subscriber=${outsider.subscriberId}&scope=mine&scopeId=${MINE_OTHER}`,
    `/v1/access/audit?subscriber=${outsider.subscriberId}`,
  ];
  for (const url of tricks) {
    const res = await call('GET', url, ent.headers);
    assert.ok(res.statusCode < 500, `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
    // A refusal may name what was asked; an answer must not carry another's entity.
    if (res.statusCode < 300)
      for (const c of CANARIES)
        assert.not.ok(
          res.body.includes(c),
          `${url} → ${res.statusCode} served ${c}: ${res.body.slice(0, 300)}`,
        );
    assert.not.ok(
      res.body.includes(outsider.subscriberId) && res.statusCode === 200,
      `${url} names another subscriber`,
    );
  }
  // Asking for another's entity by name is refused outright, not answered empty.
  for (const url of [tricks[0]!, tricks[1]!, tricks[3]!, `/v1/days-of-stock?user=${OTHER_PLANT}`]) {
    const res = await call('GET', url, ent.headers);
    assert.ok([400, 403].includes(res.statusCode), `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
  }
});

test('oversized time ranges are refused with a clear message', async () => {
  const cases: [string, TestKey][] = [
    [
      '/v1/indicators/series?family=sales&metric=volume_t&scope=city&window=day&from=1900-01-01&to=2100-01-01',
      ent,
    ],
    [
      '/v1/indicators/series?family=sales&metric=volume_t&scope=city&window=hour&from=2026-01-01&to=2026-10-01',
      ent,
    ],
    ['/v1/access/audit?from=1900-01-01&to=2100-01-01', op],
    ['/v1/access/audit?from=-271821-04-20&to=%2B275760-09-13', op],
    ['/v1/alerts?from=1900-01-01&to=2100-01-01', ent],
  ];
  for (const [url, who] of cases) {
    const res = await call('GET', url, who.headers);
    refused(res, 400, 'INPUT_INVALID', url);
    assert.match(res.json().message, /时间范围过长.*\/ range too long/, `${url}: ${res.body}`);
  }
  const backwards = await call('GET', '/v1/access/audit?from=2026-10-20&to=2026-10-01', op.headers);
  refused(backwards, 400, 'INPUT_INVALID', 'audit from after to');
});

test('path traversal in report downloads and static files serves nothing', async () => {
  const urls = [
    '/v1/reports/..%2f..%2f..%2fetc%2fpasswd/pdf',
    '/v1/reports/1/..%2f..%2f..%2fetc%2fpasswd',
    '/v1/reports/%2e%2e%2f%2e%2e%2fpackage.json/json',
    '/v1/reports/1/%2e%2e%2f%2e%2e%2fpackage.json',
    '/v1/reports/%2fetc%2fpasswd/xlsx',
    '/v1/reports/1/%2fetc%2fpasswd',
    '/v1/reports/1%00/pdf',
    '/v1/reports/1/pdf%00.html',
    '/v1/reports/1/xlsx/../../../../etc/passwd',
    '/v1/reports/..\\..\\etc\\passwd/pdf',
    '/assets/..%2f..%2f..%2fpackage.json',
    '/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/assets/..%5c..%5c..%5cpackage.json',
    '/assets/%00',
    '/docs/static/..%2f..%2f..%2f..%2fpackage.json',
    '/docs/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
    '/%2e%2e/%2e%2e/etc/passwd',
  ];
  for (const url of urls) {
    const res = await call('GET', url, ent.headers);
    assert.ok(res.statusCode < 500, `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
    assert.not.ok(
      res.statusCode >= 200 && res.statusCode < 300 && /"name":\s*"coalflow"|root:x:0:0/.test(res.body),
      `${url} served a file`,
    );
    assert.not.ok(/root:x:0:0|"devDependencies"/.test(res.body), `${url} leaked a file`);
  }
});

test('a burst beyond the rate limit: the excess gets 429 RATE_LIMITED with Retry-After, and the counts add up', async () => {
  const LIMIT = 10;
  const N = 60;
  const small = await buildApp(rt, {
    plugins: [indicatorRoutes],
    access: createAccess(rt, { ratePerSecond: LIMIT }),
  });
  try {
    const k = await testKey(small, 'government', {
      products: ['indicator.sales'],
      purpose: 'x',
      tier: 'public',
    });
    const other = await testKey(small, 'government', {
      products: ['indicator.sales'],
      purpose: 'x',
      tier: 'public',
    });
    const url = '/v1/indicators/latest?family=sales&scope=city';
    const results = await Promise.all(
      Array.from({ length: N }, () => small.inject({ method: 'GET', url, headers: k.headers })),
    );
    const ok = results.filter((r) => r.statusCode === 200).length;
    const limited = results.filter((r) => r.statusCode === 429);
    assert.is(ok + limited.length, N, `statuses: ${results.map((r) => r.statusCode).join(',')}`);
    assert.ok(ok >= 1 && ok <= 2 * LIMIT, `served ${ok} of ${N} with a limit of ${LIMIT}/s`);
    assert.ok(limited.length >= N - 2 * LIMIT, `limited ${limited.length}`);
    for (const r of limited) {
      assert.is(r.json().code, 'RATE_LIMITED');
      assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After ${r.headers['retry-after']}`);
    }
    // Another key keeps its own budget during the burst.
    assert.is((await small.inject({ method: 'GET', url, headers: other.headers })).statusCode, 200);
    // Each request of the burst has its audit row, the 429s included.
    await small.access.flush();
    const rows = await rt.db.query(
      'SELECT status, count(*)::int AS n FROM access_audit WHERE key_id = $1 GROUP BY status',
      [k.keyId],
    );
    const audited = Object.fromEntries(
      (rows.rows as { status: number; n: number }[]).map((x) => [x.status, x.n]),
    );
    assert.is(audited[200] ?? 0, ok);
    assert.is(audited[429] ?? 0, limited.length);
  } finally {
    await small.close();
  }
});

test.run();
