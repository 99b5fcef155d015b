import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { ingestRoutes } from '../../../api/routes/ingest.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { topicOf } from '../../../pipelines/contracts/types.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { operatorHeaders } from '../../helpers/access.ts';
import { SAMPLES, SECRETS } from '../../pipelines/ingest/samples.ts';

const test = suite('api/routes/ingest');
let rt: Runtime;
let app: FastifyInstance;
let H: { authorization: string };

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  await rt.broker.createTopics(feedTopics(rt));
  app = await buildApp(rt, { plugins: [ingestRoutes] });
  H = await operatorHeaders(app);
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

test('POST /v1/ingest/:feed with a JSON array: per-record results and a summary', async () => {
  const body = [SAMPLES.sales, SAMPLES.sales, { ...SAMPLES.sales, 销售编号: 'X2', 净重: '1' }, 42];
  const res = await app.inject({ headers: H, method: 'POST', url: '/v1/ingest/sales', payload: body });
  assert.is(res.statusCode, 200, res.body);
  const out = res.json();
  assert.equal(out.summary, { accepted: 1, duplicates: 1, rejected: { net_mismatch: 1, decode_error: 1 } });
  assert.equal(
    out.results.map((r: { status: string }) => r.status),
    ['accepted', 'duplicate', 'rejected', 'rejected'],
  );
  assert.is(out.results[2].reason, 'net_mismatch');
  assert.match(out.results[2].message, /净重.*\/ net/);
  assert.ok(out.results[2].rejectId);
});

test('POST NDJSON: broken lines are decode errors, good lines accepted', async () => {
  const ndjson = [JSON.stringify(SAMPLES.ports), '{broken', JSON.stringify(SAMPLES.rail)].join('\n');
  const ports = await app.inject({
    method: 'POST',
    url: '/v1/ingest/ports',
    headers: { ...H, 'content-type': 'application/x-ndjson' },
    payload: ndjson,
  });
  assert.is(ports.statusCode, 200);
  const out = ports.json();
  assert.is(out.summary.accepted, 1);
  assert.is(out.summary.rejected.decode_error, 1);
  assert.is(out.results[2].status, 'rejected', 'a rail record is not a port observation');
});

test('unknown feed: 404 NOT_FOUND', async () => {
  const res = await app.inject({ headers: H, method: 'POST', url: '/v1/ingest/coal_trains', payload: [] });
  assert.is(res.statusCode, 404);
  assert.is(res.json().error.code, 'NOT_FOUND');
});

test('GET /v1/rejects masks personal data; replay with a fix lands on the canonical topic', async () => {
  const list = await app.inject({
    headers: H,
    method: 'GET',
    url: '/v1/rejects?feed=sales&reason=net_mismatch',
  });
  assert.is(list.statusCode, 200);
  const [r] = list.json().rejects;
  assert.ok(r.fields.includes('车牌号'));
  for (const s of SECRETS) assert.not.ok(JSON.stringify(r).includes(s), `reject view shows ${s}`);
  const before = await rt.broker.lag('x', rt.topic(topicOf.canonical('sales')));
  const bad = await app.inject({
    headers: H,
    method: 'POST',
    url: `/v1/rejects/${r.id}/replay`,
    payload: { ...SAMPLES.sales, 销售编号: 'X2', 净重: '2' },
  });
  assert.is(bad.statusCode, 422, 'still wrong: stays open');
  assert.is(bad.json().result.reason, 'net_mismatch');
  const ok = await app.inject({
    headers: H,
    method: 'POST',
    url: `/v1/rejects/${r.id}/replay`,
    payload: { ...SAMPLES.sales, 销售编号: 'X2' },
  });
  assert.is(ok.statusCode, 200, ok.body);
  assert.is(ok.json().status, 'replayed');
  const after = await rt.broker.lag('x', rt.topic(topicOf.canonical('sales')));
  const count = (l: typeof after) => l.reduce((a, p) => a + Number(p.end), 0);
  assert.is(count(after), count(before) + 1);
  const again = await app.inject({ headers: H, method: 'POST', url: `/v1/rejects/${r.id}/replay` });
  assert.is(again.statusCode, 409);
  assert.is(
    (await app.inject({ headers: H, method: 'POST', url: '/v1/rejects/999999/replay' })).statusCode,
    404,
  );
  assert.is(
    (await app.inject({ headers: H, method: 'GET', url: '/v1/rejects?reason=nope' })).statusCode,
    400,
  );
});

test.run();
