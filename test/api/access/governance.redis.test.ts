/**
 * Governance on the embedded TimescaleDB and real Redis: the data product lifecycle (draft → … → retired, invalid
 * steps refused, the review record with its minimum-necessary check, disclosure settings and sample), the
 * emergency stop of a subscriber, a product and all outside access — seen by a second API instance whose own
 * refresh is a minute, so only the Redis announcement can make it refuse within 2 s — webhooks held while the
 * alert product or the subscriber is stopped, the report schedule, and the commands run in process.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { indicatorRoutes } from '../../../api/routes/indicators.ts';
import { forecastRoutes } from '../../../api/routes/forecasts.ts';
import {
  accessRoutes,
  createAccess,
  emergencyCli,
  emergencyStops,
  lifecycleRoutes,
  productEvents,
  productsCli,
} from '../../../api/access/index.ts';
import { createReportScheduler } from '../../../api/reports/scheduler.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { createRedisSink } from '../../../pipelines/indicators/snapshots.ts';
import { CITY_ID, type IndicatorPoint } from '../../../pipelines/indicators/model.ts';
import { storeEvents } from '../../../pipelines/alerts/store.ts';
import { deliverRound, registerWebhook } from '../../../pipelines/alerts/webhooks.ts';
import type { AlertEvent } from '../../../pipelines/alerts/rules.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey, type TestKey } from '../../helpers/access.ts';

const test = suite('api/access/governance');
let rt: Runtime;
/** The API instance the operator talks to. */
let app: FastifyInstance;
/** Another API instance on the same database and Redis, refreshing its own view only once a minute. */
let app2: FastifyInstance;
let op: TestKey;
let ent: TestKey;
let bureau: TestKey;
const DAY = Date.parse('2026-10-14T16:00:00Z');
const WEEKLY = 'indicator.sales.weekly';

function pt(
  scope: IndicatorPoint['scope'],
  scopeId: string,
  value: number,
  contributors: number,
  top: number,
) {
  return {
    family: 'sales',
    metric: 'volume_t',
    scope,
    scopeId,
    window: 'day',
    windowStart: DAY,
    value,
    unit: 't',
    n: 10,
    contributors,
    topShare: top,
  } as IndicatorPoint;
}

/** A route serving the new product, as any route declares what it serves. */
async function weeklyRoute(a: FastifyInstance): Promise<void> {
  a.get('/v1/test/weekly', { config: { product: WEEKLY } }, async () => ({ ok: true }));
}

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'redis' });
  app = await buildApp(rt, {
    plugins: [indicatorRoutes, forecastRoutes, accessRoutes, lifecycleRoutes, weeklyRoute],
    access: createAccess(rt, { ratePerSecond: 10_000, auditFlushMs: 20 }),
  });
  app2 = await buildApp(rt, {
    plugins: [indicatorRoutes, accessRoutes, weeklyRoute],
    access: createAccess(rt, { ratePerSecond: 10_000, auditFlushMs: 20, governanceRefreshMs: 60_000 }),
  });
  op = await testKey(app, 'operator');
  ent = await testKey(
    app,
    'enterprise',
    {
      products: ['indicator.sales', 'alert', 'report'],
      mines: ['*'],
      purpose: '经营 / operations',
      tier: 'industry',
    },
    '91150602MA0000001A',
  );
  bureau = await testKey(app, 'government', {
    products: ['indicator.sales', 'forecast', 'alert', 'report'],
    mines: ['*'],
    users: ['*'],
    purpose: '公共治理 / governance',
    tier: 'public',
  });
  await createRedisSink(rt).write(
    [
      pt('region', '150602', 3000, 2, 0.6),
      pt('region', '150621', 5000, 4, 0.4),
      pt('region', '150627', 9000, 5, 0.3),
      pt('region', '150622', 7000, 6, 0.3),
      pt('city', CITY_ID, 24000, 17, 0.2),
    ],
    { version: 1, live: false },
  );
});
test.after(async () => {
  const keys = await rt.redis.keys(`coalflow:${rt.config.topicPrefix}*`);
  if (keys.length) await rt.redis.del(...keys);
  await app?.close();
  await app2?.close();
  await rt?.close();
});

const call = (a: FastifyInstance, method: 'GET' | 'POST', url: string, headers: object, payload?: object) =>
  a.inject({ method, url, headers: headers as Record<string, string>, ...(payload ? { payload } : {}) });
const step = (code: string, s: string, reason?: string) =>
  call(app, 'POST', `/v1/products/${code}/${s}`, op.headers, reason === undefined ? {} : { reason });

/** Milliseconds from `act` until `check` holds on the answers of app2 (polled every 20 ms, at most 10 s). */
async function timeUntil(act: () => Promise<unknown>, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  await act();
  while (!(await check())) {
    if (Date.now() - t0 > 10_000) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}
const codeOn = async (a: FastifyInstance, url: string, k: TestKey) => {
  const r = await call(a, 'GET', url, k.headers);
  return r.statusCode === 200 ? 'OK' : (r.json().code as string);
};

test('a new product is a draft, served to no one until published; steps recorded; invalid steps refused', async () => {
  const reg = await call(app, 'POST', '/v1/products', op.headers, {
    code: WEEKLY,
    name: '周销量 / weekly sales',
    fields: ['净重', '过重时间', '煤种名称'],
  });
  assert.is(reg.statusCode, 201, reg.body);
  assert.is(reg.json().state, 'draft');
  const g = await call(app, 'POST', `/v1/access/subscribers/${bureau.subscriberId}/grants`, op.headers, {
    products: [WEEKLY],
    purpose: '周报 / weekly',
    tier: 'public',
  });
  assert.is(g.statusCode, 201, g.body);
  app.access.invalidate();

  const refused = await call(app, 'GET', '/v1/test/weekly', bureau.headers);
  assert.is(refused.statusCode, 403);
  assert.is(refused.json().code, 'PRODUCT_NOT_PUBLISHED');
  assert.match(refused.json().message, /未发布.*\/ .*not published/);

  for (const s of ['publish', 'approve', 'resume', 'retire', 'suspend']) {
    const r = await step(WEEKLY, s, 'x');
    assert.is(r.statusCode, 409, `${s} from draft`);
    assert.is(r.json().code, 'PRODUCT_TRANSITION_INVALID');
  }

  const sub = await step(WEEKLY, 'submit');
  assert.is(sub.statusCode, 200, sub.body);
  const review = sub.json().review;
  assert.ok(review.fieldsAllowed);
  assert.equal(
    review.fields.map((f: { field: string }) => f.field),
    ['净重', '过重时间', '煤种名称'],
  );
  assert.ok(review.fields.find((f: { field: string }) => f.field === '净重').matches.includes('sales.netT'));
  assert.equal(review.disclosure, { minContributors: 3, maxTopShare: 0.85, secondarySuppression: true });
  // The sample is what a subscriber would see: region 150602 has 2 groups (suppressed), and its smallest
  // sibling is suppressed with it (secondary suppression).
  assert.is(review.sample.scope, 'region');
  const cells = review.sample.entities.flatMap((e: { scopeId: string; points: { value: number | null }[] }) =>
    e.points.map((p) => ({ id: e.scopeId, value: p.value })),
  );
  assert.is(cells.find((c: { id: string }) => c.id === '150602').value, null);
  assert.is(cells.find((c: { id: string }) => c.id === '150621').value, null);
  assert.is(cells.find((c: { id: string }) => c.id === '150627').value, 9000);
  assert.is(review.sample.cellsSuppressed, 2);
  assert.is((await call(app, 'GET', '/v1/test/weekly', bureau.headers)).json().code, 'PRODUCT_NOT_PUBLISHED');

  assert.is((await step(WEEKLY, 'approve')).statusCode, 200);
  assert.is((await call(app, 'GET', '/v1/test/weekly', bureau.headers)).json().code, 'PRODUCT_NOT_PUBLISHED');
  assert.is((await step(WEEKLY, 'publish')).statusCode, 200);
  assert.is((await call(app, 'GET', '/v1/test/weekly', bureau.headers)).statusCode, 200);

  const noReason = await step(WEEKLY, 'suspend');
  assert.is(noReason.statusCode, 400);
  assert.is(noReason.json().code, 'INPUT_INVALID');
  // Suspending stops it on this instance at once and on the other within 2 s without a restart.
  const ms = await timeUntil(
    () => step(WEEKLY, 'suspend', '数据质量复核 / data quality check'),
    async () => (await codeOn(app2, '/v1/test/weekly', bureau)) === 'PRODUCT_NOT_PUBLISHED',
  );
  assert.ok(ms <= 2000, `refused on the other instance after ${ms} ms`);
  assert.is((await call(app, 'GET', '/v1/test/weekly', bureau.headers)).json().code, 'PRODUCT_NOT_PUBLISHED');
  assert.is((await step(WEEKLY, 'resume', '复核完成 / checked')).statusCode, 200);
  assert.is((await call(app, 'GET', '/v1/test/weekly', bureau.headers)).statusCode, 200);
  assert.is((await step(WEEKLY, 'retire', 'x')).statusCode, 409, 'retire only from suspended');
  assert.is((await step(WEEKLY, 'suspend', '下线前 / before retiring')).statusCode, 200);
  assert.is((await step(WEEKLY, 'retire', '由月度产品取代 / replaced')).statusCode, 200);
  for (const s of ['resume', 'publish', 'submit']) assert.is((await step(WEEKLY, s, 'x')).statusCode, 409);
  assert.is((await call(app, 'GET', '/v1/test/weekly', bureau.headers)).json().code, 'PRODUCT_NOT_PUBLISHED');

  const shown = await call(app, 'GET', `/v1/products/${WEEKLY}`, op.headers);
  assert.is(shown.statusCode, 200);
  assert.is(shown.json().product.state, 'retired');
  const events = shown.json().events as { from: string | null; to: string; actor: string; reason: string }[];
  assert.equal(
    events.map((e) => `${e.from ?? '-'}>${e.to}`),
    [
      '->draft',
      'draft>under_review',
      'under_review>approved',
      'approved>published',
      'published>suspended',
      'suspended>published',
      'published>suspended',
      'suspended>retired',
    ],
  );
  assert.ok(events.every((e) => e.actor === `key:${op.keyId}`));
  assert.is(events.at(-1)!.reason, '由月度产品取代 / replaced');
  // The read function for the compliance report.
  const all = await productEvents(rt.db, new Date(Date.now() - 3600_000).toISOString(), null);
  assert.is(all.filter((e) => e.product === WEEKLY).length, 8);
  assert.is((await productEvents(rt.db, new Date(Date.now() + 60_000).toISOString(), null)).length, 0);
  // Default products were registered as published.
  const list = (await call(app, 'GET', '/v1/products', op.headers)).json().items as {
    code: string;
    state: string;
  }[];
  assert.is(list.find((p) => p.code === 'indicator.sales')!.state, 'published');
  // Not for subscribers.
  assert.is((await call(app, 'GET', '/v1/products', bureau.headers)).json().code, 'FORBIDDEN');
});

test('approval refuses a field outside the minimum-necessary-use list; reviewed fields cannot change', async () => {
  const code = 'indicator.sales.plates';
  assert.is(
    (await call(app, 'POST', '/v1/products', op.headers, { code, name: '车辆', fields: ['净重', '车牌号'] }))
      .statusCode,
    201,
  );
  const sub = await step(code, 'submit');
  assert.is(sub.statusCode, 200);
  assert.is(sub.json().review.fieldsAllowed, false);
  const r = await step(code, 'approve');
  assert.is(r.statusCode, 403);
  assert.is(r.json().code, 'POLICY_FIELD_NOT_ALLOWED');
  assert.match(r.json().message, /车牌号/);
  assert.is(
    (await call(app, 'GET', `/v1/products/${code}`, op.headers)).json().product.state,
    'under_review',
  );
  const change = await call(app, 'POST', '/v1/products', op.headers, {
    code,
    name: '车辆',
    fields: ['净重'],
  });
  assert.is(change.statusCode, 409);
  assert.is(change.json().code, 'PRODUCT_TRANSITION_INVALID');
});

test('emergency stop of a subscriber, a product and all: refused within 2 s elsewhere, operators go on, /healthz shows it, reversible', async () => {
  const sales = '/v1/indicators/latest?family=sales&scope=city';
  assert.is(await codeOn(app2, sales, ent), 'OK');
  const stop = (body: object) => call(app, 'POST', '/v1/emergency/stop', op.headers, body);
  const resume = (body: object) => call(app, 'POST', '/v1/emergency/resume', op.headers, body);
  const timings: number[] = [];

  // A subscriber.
  timings.push(
    await timeUntil(
      () => stop({ subscriber: ent.subscriberId, reason: '疑似密钥泄露 / key suspected leaked' }),
      async () => (await codeOn(app2, sales, ent)) === 'ACCESS_SUSPENDED',
    ),
  );
  assert.is(await codeOn(app2, sales, bureau), 'OK', 'other subscribers go on');
  assert.is(await codeOn(app2, '/v1/me', ent), 'ACCESS_SUSPENDED');
  let h = (await call(app2, 'GET', '/healthz', {})).json();
  assert.equal(h.emergency, { all: false, subscribers: [ent.subscriberId], products: [] });
  timings.push(
    await timeUntil(
      () => resume({ subscriber: ent.subscriberId, reason: '已更换密钥 / key replaced' }),
      async () => (await codeOn(app2, sales, ent)) === 'OK',
    ),
  );

  // A product.
  timings.push(
    await timeUntil(
      () => stop({ product: 'indicator.sales', reason: '口径错误 / wrong definition' }),
      async () => (await codeOn(app2, sales, bureau)) === 'ACCESS_SUSPENDED',
    ),
  );
  assert.is(await codeOn(app, '/v1/forecasts', bureau), 'OK', 'other products go on');
  assert.is(await codeOn(app2, sales, op), 'OK', 'operators go on');
  h = (await call(app2, 'GET', '/healthz', {})).json();
  assert.equal(h.emergency.products, ['indicator.sales']);
  timings.push(
    await timeUntil(
      () => resume({ product: 'indicator.sales', reason: '已更正 / corrected' }),
      async () => (await codeOn(app2, sales, bureau)) === 'OK',
    ),
  );

  // All outside access.
  timings.push(
    await timeUntil(
      () => stop({ all: true, reason: '安全事件 / security incident' }),
      async () => (await codeOn(app2, sales, bureau)) === 'ACCESS_SUSPENDED',
    ),
  );
  assert.is(await codeOn(app2, sales, ent), 'ACCESS_SUSPENDED');
  assert.is(await codeOn(app, '/v1/forecasts', bureau), 'ACCESS_SUSPENDED');
  const refused = await call(app2, 'GET', sales, bureau.headers);
  assert.is(refused.statusCode, 403);
  assert.match(refused.json().message, /紧急停止.*安全事件/);
  assert.is(await codeOn(app2, sales, op), 'OK', 'operator routes keep running');
  assert.is(await codeOn(app, '/v1/access/products', op), 'OK');
  const health = await call(app2, 'GET', '/healthz', {});
  assert.is(health.statusCode, 200, '/healthz stays open');
  assert.equal(health.json().emergency, { all: true, subscribers: [], products: [] });
  const again = await stop({ all: true, reason: '重复 / again' });
  assert.is(again.json().changed, false, 'stopping what is stopped records nothing');
  timings.push(
    await timeUntil(
      () => resume({ all: true, reason: '已处置 / handled' }),
      async () => (await codeOn(app2, sales, bureau)) === 'OK',
    ),
  );
  for (const t of timings) assert.ok(t <= 2000, `took ${t} ms`);
  assert.equal((await call(app2, 'GET', '/healthz', {})).json().emergency, {
    all: false,
    subscribers: [],
    products: [],
  });

  // Refused requests.
  assert.is((await stop({ all: true })).statusCode, 400);
  assert.is((await stop({ all: true, product: 'forecast', reason: 'x' })).json().code, 'INPUT_INVALID');
  assert.is((await stop({ subscriber: 'nobody', reason: 'x' })).statusCode, 404);
  assert.is(
    (await call(app, 'POST', '/v1/emergency/stop', ent.headers, { all: true, reason: 'x' })).statusCode,
    403,
  );

  // The log: who, when, why.
  const log = (await call(app, 'GET', '/v1/emergency', op.headers)).json();
  assert.is(log.all, false);
  const mine = (log.events as { reason: string; actor: string; action: string }[]).filter((e) =>
    ['疑似密钥泄露 / key suspected leaked', '安全事件 / security incident', '已处置 / handled'].includes(
      e.reason,
    ),
  );
  assert.is(mine.length, 3);
  assert.ok(mine.every((e) => e.actor === `key:${op.keyId}`));
  assert.is((await emergencyStops(rt.db, null, null)).length, log.events.length);
  console.log(`  emergency stop/resume → refused/served on a second instance: ${timings.join(', ')} ms`);
});

test('webhooks: held while the alert product is suspended or the subscriber stopped, delivered after, in order', async () => {
  const got: { sub: string; id: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ sub: req.url!.slice(1), id: JSON.parse(body).id });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const aud = { regions: '*' as const, mines: [], users: [] };
    await registerWebhook(rt.db, ent.subscriberId, `${url}/ent`, aud);
    await registerWebhook(rt.db, bureau.subscriberId, `${url}/bureau`, aud);
    const ev = (seq: number): AlertEvent => ({
      alertId: 'gov-test-alert',
      seq,
      kind: seq === 1 ? 'open' : 'update',
      rule: 'price_fall',
      family: 'price',
      scope: 'city',
      scopeId: CITY_ID,
      metric: 'vwap',
      severity: 'warning',
      startedMs: DAY,
      atMs: DAY + seq * 3600_000,
      title: '价格下跌 / price fall',
      evidence: {
        series: 'price:city:x:vwap:day',
        window: { from: '2026-10-07', to: '2026-10-14' },
        values: [],
        measure: -12,
        threshold: -10,
        params: {} as never,
      },
    });
    const gate = app.access.governance;
    const log = rt.log;
    await storeEvents(rt.db, [ev(1)], Date.now());
    assert.is((await step('alert', 'suspend', '预警规则复核 / rule review')).statusCode, 200);
    assert.is(await deliverRound(rt.db, log, { gate }), 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.is(got.length, 0, 'nothing goes out while the product is suspended');
    const held = await rt.db.query(
      `SELECT status, attempts FROM alert_deliveries WHERE alert_id = 'gov-test-alert'`,
    );
    assert.ok(
      held.rows.every((r) => r.status === 'pending' && r.attempts === 0),
      'held, not failed',
    );
    assert.is((await step('alert', 'resume', '复核完成 / done')).statusCode, 200);
    assert.is(await deliverRound(rt.db, log, { gate }), 2);
    assert.equal(got.map((g) => `${g.sub}:${g.id}`).sort(), [
      'bureau:gov-test-alert:1',
      'ent:gov-test-alert:1',
    ]);

    // A stopped subscriber's deliveries wait; the others go on.
    await call(app, 'POST', '/v1/emergency/stop', op.headers, {
      subscriber: ent.subscriberId,
      reason: '核查 / check',
    });
    await storeEvents(rt.db, [ev(2)], Date.now());
    assert.is(await deliverRound(rt.db, log, { gate }), 1);
    assert.equal(got.at(-1), { sub: 'bureau', id: 'gov-test-alert:2' });
    assert.is(got.filter((g) => g.sub === 'ent').length, 1);
    await call(app, 'POST', '/v1/emergency/resume', op.headers, {
      subscriber: ent.subscriberId,
      reason: '完成 / done',
    });
    assert.is(await deliverRound(rt.db, log, { gate }), 1);
    assert.equal(got.at(-1), { sub: 'ent', id: 'gov-test-alert:2' });
  } finally {
    server.close();
    await rt.db.query(`DELETE FROM alert_deliveries WHERE alert_id = 'gov-test-alert'`);
    await rt.db.query('DELETE FROM alert_webhooks WHERE subscriber_id = ANY($1)', [
      [ent.subscriberId, bureau.subscriberId],
    ]);
  }
});

test('scheduled reports: none while the report product is suspended; a stopped subscriber gets no variant', async () => {
  const gate = app.access.governance;
  const audience = (k: TestKey) => ({
    subscriberId: k.subscriberId,
    regions: '*' as const,
    mines: [],
    users: [],
  });
  const sched = createReportScheduler({
    db: rt.db,
    log: rt.log,
    gate,
    formats: ['json'],
    audiences: async () => [audience(ent), audience(bureau)],
  });
  // Stopped: a tick only enqueues (this checks what is scheduled, not the reports themselves).
  await sched.stop();
  const jobs = async () =>
    (
      await rt.db.query(`SELECT DISTINCT audience_key FROM report_jobs WHERE trigger = 'schedule' ORDER BY 1`)
    ).rows.map((r) => r.audience_key as string);
  await rt.db.query(`DELETE FROM report_jobs`);
  assert.is((await step('report', 'suspend', '模板修订 / template revision')).statusCode, 200);
  await sched.tick();
  assert.equal(await jobs(), [], 'nothing scheduled while suspended');
  assert.is((await step('report', 'resume', '修订完成 / revised')).statusCode, 200);
  await call(app, 'POST', '/v1/emergency/stop', op.headers, {
    subscriber: ent.subscriberId,
    reason: '核查 / check',
  });
  await sched.tick();
  assert.equal(await jobs(), [`sub:${bureau.subscriberId}`, 'city'].sort());
  await call(app, 'POST', '/v1/emergency/resume', op.headers, {
    subscriber: ent.subscriberId,
    reason: '完成 / done',
  });
  await sched.tick();
  assert.ok((await jobs()).includes(`sub:${ent.subscriberId}`), 'scheduled again once resumed');
  await rt.db.query(`DELETE FROM report_jobs`);
});

test('commands in process: products and emergency against the database, announced to running instances', async () => {
  const out = { s: '', e: '' };
  const io = {
    stdout: { write: (s: string) => (out.s += s) },
    stderr: { write: (s: string) => (out.e += s) },
  };
  const open = async () => ({ ...rt, close: async () => undefined });
  const code = 'indicator.price.cli';
  assert.is(
    await productsCli(
      ['register', '--code', code, '--name', '价格', '--fields', '单价,煤种名称', '--by', '张三'],
      io,
      open,
    ),
    0,
    out.e,
  );
  assert.is(await productsCli(['submit', code, '--by', '张三'], io, open), 0, out.e);
  assert.is(await productsCli(['publish', code], io, open), 1, 'invalid step');
  assert.match(out.e, /PRODUCT_TRANSITION_INVALID/);
  assert.is(await productsCli(['approve', code, '--by', '李四'], io, open), 0, out.e);
  assert.is(await productsCli(['publish', code, '--by', '李四'], io, open), 0, out.e);
  assert.is(await productsCli(['suspend', code], io, open), 2, 'a suspension needs a reason');
  out.s = '';
  assert.is(await productsCli(['show', code, '--json'], io, open), 0, out.e);
  const shown = JSON.parse(out.s);
  assert.is(shown.product.state, 'published');
  assert.equal(
    shown.events.map((e: { actor: string }) => e.actor),
    ['cli:张三', 'cli:张三', 'cli:李四', 'cli:李四'],
  );

  // The command's announcement reaches the other instance (its own refresh is a minute away).
  const sales = '/v1/indicators/latest?family=sales&scope=city';
  const ms = await timeUntil(
    () =>
      emergencyCli(
        ['stop', '--subscriber', bureau.subscriberId, '--reason', '演练 / drill', '--by', '王五'],
        io,
        open,
      ),
    async () => (await codeOn(app2, sales, bureau)) === 'ACCESS_SUSPENDED',
  );
  assert.ok(ms <= 2000, `${ms} ms`);
  out.s = '';
  assert.is(await emergencyCli(['status', '--json'], io, open), 0);
  assert.equal(JSON.parse(out.s).subscribers, [bureau.subscriberId]);
  assert.is(await emergencyCli(['stop', '--reason', 'x'], io, open), 2, 'a target is needed');
  assert.is(
    await emergencyCli(
      ['resume', '--subscriber', bureau.subscriberId, '--reason', '演练结束 / drill over'],
      io,
      open,
    ),
    0,
  );
  await timeUntil(
    async () => undefined,
    async () => (await codeOn(app2, sales, bureau)) === 'OK',
  );
  const [stopped, resumed] = (await emergencyStops(rt.db)).slice(-2);
  assert.is(stopped!.actor, 'cli:王五');
  assert.is(stopped!.reason, '演练 / drill');
  assert.is(resumed!.action, 'resume');
  assert.match(resumed!.actor, /^cli:./);
});

test.run();
