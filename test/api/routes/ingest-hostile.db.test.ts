import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { operatorHeaders } from '../../helpers/access.ts';
import { ingestRoutes } from '../../../api/routes/ingest.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { BrokerError, type ProduceRecord } from '../../../infra/core/index.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { ingestContext } from '../../../pipelines/ingest/context.ts';
import { testRuntime, uniq } from '../../helpers/runtime.ts';
import { PLATE, SAMPLES, SECRETS } from '../../pipelines/ingest/samples.ts';

const test = suite('api/routes/ingest with hostile input');
let rt: Runtime;
let app: FastifyInstance;
const produced: { topic: string; value: Buffer }[] = [];
let failDlqOnce = false;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  await rt.broker.createTopics(feedTopics(rt));
  // Records every produced message (to look for personal data) and can fail the DLQ produce once.
  const produce = rt.broker.produce.bind(rt.broker);
  rt.broker.produce = async (topic: string, records: ProduceRecord[]) => {
    if (failDlqOnce && topic.endsWith('coal.dlq')) {
      failDlqOnce = false;
      throw new BrokerError('injected failure', { topic });
    }
    await produce(topic, records);
    for (const r of records)
      produced.push({ topic, value: Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value) });
  };
  app = await buildApp(rt, { plugins: [ingestRoutes] });
  // Every request of this file as an operator (the ingest and reject routes are operators'); a test's own headers win.
  const H = await operatorHeaders(app);
  const inject = app.inject.bind(app);
  app.inject = ((o: InjectOptions) =>
    inject({ ...o, headers: { ...H, ...(o.headers ?? {}) } })) as unknown as typeof app.inject;
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

const sale = (id: string, extra: Record<string, unknown> = {}) => ({
  ...SAMPLES.sales,
  销售编号: id,
  ...extra,
});
const post = (payload: unknown, headers: Record<string, string> = {}, feed = 'sales') =>
  app.inject({ method: 'POST', url: `/v1/ingest/${feed}`, payload: payload as string, headers });
const healthy = async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200;
const nested = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

test('a body nested 1,000 deep is a 400 INPUT_INVALID; the database stays up', async () => {
  const res = await post(nested(1000), { 'content-type': 'application/json' });
  assert.is(res.statusCode, 400, res.body);
  assert.is(res.json().error.code, 'INPUT_INVALID');
  assert.match(res.json().error.message, /嵌套.*\/ body nested deeper than 32/);
  assert.ok(await healthy());
  const arr = await post(`[${nested(1000)}]`, { 'content-type': 'application/json' });
  assert.is(arr.statusCode, 400);
  assert.ok(await healthy());
});

test('an NDJSON line nested 1,000 deep is a per-record reject, stored as text; the others are accepted', async () => {
  const id = uniq('DEEP');
  const res = await post([JSON.stringify(sale(id)), nested(1000)].join('\n'), {
    'content-type': 'application/x-ndjson',
  });
  assert.is(res.statusCode, 200, res.body);
  const out = res.json();
  assert.equal(
    out.results.map((r: { status: string }) => r.status),
    ['accepted', 'rejected'],
  );
  assert.is(out.results[1].reason, 'nesting_too_deep');
  const row = await rt.db.query(
    'SELECT payload, length(payload_text) AS n FROM ingest_rejects WHERE id = $1',
    [out.results[1].rejectId],
  );
  assert.is(row.rows[0].payload, null);
  assert.is(Number(row.rows[0].n), nested(1000).length, 'nothing lost: the original text is kept');
  assert.ok(await healthy());
});

test('NUL in any field: a per-record reject, the rest accepted, the reject recorded even when the NUL is in 销售编号', async () => {
  const ids = [uniq('N1'), uniq('N2'), uniq('N3')];
  const body = [
    sale(ids[0]!),
    sale(ids[1]!, { 备注: 'a\u0000b' }),
    sale(`${ids[2]}\u0000`),
    sale(uniq('N4'), { 净重: 'NaN' }),
  ];
  const res = await post(body);
  assert.is(res.statusCode, 200, res.body);
  const r = res.json().results;
  assert.equal(
    r.map((x: { status: string; reason?: string }) => x.reason ?? x.status),
    ['accepted', 'control_character', 'control_character', 'invalid_number'],
  );
  const stored = await rt.db.query(`SELECT payload->>'销售编号' AS id FROM ingest_rejects WHERE id = $1`, [
    r[2].rejectId,
  ]);
  assert.is(stored.rows[0].id, `${ids[2]}\u2400`, 'NUL shown as U+2400');
  // Sent again: the accepted one is a duplicate, the rejects are the same rejects (not stored twice).
  const again = (await post(body)).json().results;
  assert.equal(
    again.map((x: { status: string }) => x.status),
    ['duplicate', 'rejected', 'rejected', 'rejected'],
  );
  assert.is(again[1].rejectId, r[1].rejectId);
  assert.is(again[2].rejectId, r[2].rejectId);
});

test('control characters inside a dimension value do not create a new coal type', async () => {
  const res = await post([sale(uniq('C'), { 煤种名称: '5500\r\n混煤\t' })]);
  assert.is(res.json().results[0].reason, 'control_character');
});

test('a batch is all or nothing: a failure after the claims stores nothing, and the re-send is accepted', async () => {
  const ids = [uniq('A1'), uniq('A2')];
  const body = [sale(ids[0]!), sale(ids[1]!), sale(uniq('A3'), { 净重: '1' })];
  failDlqOnce = true;
  const before = produced.length;
  const failed = await post(body);
  assert.is(failed.statusCode, 503, failed.body);
  assert.is(failed.json().error.code, 'BROKER_ERROR');
  assert.not.ok(
    produced.slice(before).some((m) => m.topic.endsWith('coal.sales.v1')),
    'no canonical record of the failed batch',
  );
  const seen = await rt.db.query(
    'SELECT count(*)::int AS n FROM ingest_seen WHERE record_id = ANY($1::text[])',
    [ids],
  );
  assert.is(seen.rows[0].n, 0, 'nothing claimed');
  const outbox = await rt.db.query(
    'SELECT count(*)::int AS n FROM ingest_outbox WHERE record_id = ANY($1::text[])',
    [ids],
  );
  assert.is(outbox.rows[0].n, 0);
  ingestContext(rt).seen.set('x', 'y'); // the front cache is only filled after a commit: nothing to clear
  const retry = (await post(body)).json();
  assert.equal(retry.summary.accepted, 2, JSON.stringify(retry));
});

test('GET /v1/rejects masks every payload shape: an array as text/plain, nested objects', async () => {
  const person = {
    手机: '13812345678',
    车牌号: PLATE,
    司机姓名: '张三丰',
    明细: [{ 联系电话: '+86 139 1234 5678', 客户名称: '王建国' }],
  };
  const res = await post(JSON.stringify([person]), { 'content-type': 'text/plain' });
  assert.is(res.statusCode, 200);
  const nestedRes = await post([
    sale(uniq('M'), { 净重: '1', 附加: { 司机: { 姓名: '张三丰', 手机: '139 1234 5678' } } }),
  ]);
  assert.is(nestedRes.json().results[0].status, 'rejected');
  const list = await app.inject({ method: 'GET', url: '/v1/rejects?limit=1000' });
  const text = list.body;
  for (const s of [...SECRETS, '张三丰', '13812345678', '139 1234 5678', '+86 139 1234 5678'])
    assert.not.ok(text.includes(s), `reject list shows ${s}`);
  const one = list.json().rejects.find((r: { id: string }) => r.id === res.json().results[0].rejectId);
  assert.ok(one, 'the text/plain reject is listed');
  assert.ok(JSON.stringify(one.payload).includes('手机'), 'shape kept: keys are shown');
});

test('free text (备注, remark) never leaves ingest: canonical topic, outbox, facts', async () => {
  const id = uniq('F');
  const res = await post([
    sale(id, { 备注: '司机 李四 电话 +86 139 1234 5678', remark: 'Wang Wei 13912345678' }),
  ]);
  assert.is(res.json().results[0].status, 'accepted', res.body);
  const row = await rt.db.query('SELECT record::text AS r FROM ingest_outbox WHERE record_id = $1', [id]);
  const rec = row.rows[0].r as string;
  for (const s of ['李四', 'Wang Wei', '1234 5678', '13912345678', '备注', 'remark'])
    assert.not.ok(rec.includes(s), `outbox holds ${s}`);
  for (const m of produced)
    for (const s of ['李四', 'Wang Wei', '1234 5678'])
      assert.not.ok(m.value.includes(s) && !m.topic.endsWith('coal.dlq'), `${m.topic} holds ${s}`);
});

test('replay: a fix is a patch on the original, and a masked value never re-enters', async () => {
  const id = uniq('R');
  const res = await post([sale(id, { 净重: '30' })]);
  const rejectId = res.json().results[0].rejectId;
  assert.is(res.json().results[0].reason, 'net_mismatch');
  const view = (await app.inject({ method: 'GET', url: `/v1/rejects/${rejectId}` })).json();
  // The operator sends back what they saw, with the weight fixed: the masked plate is not taken.
  const fix = { ...view.payload, 净重: '33.42' };
  const ok = await app.inject({ method: 'POST', url: `/v1/rejects/${rejectId}/replay`, payload: fix });
  assert.is(ok.statusCode, 200, ok.body);
  assert.ok(ok.json().keptMasked.includes('车牌号'));
  const direct = await post([sale(uniq('R2'))]);
  const tokenOf = async (rid: string) =>
    (await rt.db.query(`SELECT record->>'plateToken' AS t FROM ingest_outbox WHERE record_id = $1`, [rid]))
      .rows[0]?.t;
  assert.is(
    await tokenOf(id),
    await tokenOf(direct.json().results[0].recordId),
    'plate token of the original plate',
  );
  // A partial fix alone is enough.
  const id2 = uniq('P');
  const r2 = (await post([sale(id2, { 净重: '30' })])).json().results[0];
  const partial = await app.inject({
    method: 'POST',
    url: `/v1/rejects/${r2.rejectId}/replay`,
    payload: { 净重: 33.42 },
  });
  assert.is(partial.statusCode, 200, partial.body);
  assert.is(partial.json().status, 'replayed');
});

test('errors in the documented shape: bad JSON with its position, body limit, unknown route', async () => {
  const bad = await post('[{"净重": 1,,}]', { 'content-type': 'application/json' });
  assert.is(bad.statusCode, 400);
  assert.is(bad.json().error.code, 'INPUT_INVALID');
  assert.match(
    bad.json().error.message,
    /不是有效的 JSON（第 1 行第 11 列.*\/ body is not valid JSON \(line 1, column 11/,
  );
  const big = await post(`[${'1,'.repeat(17 * 1024 * 1024)}1]`, { 'content-type': 'application/json' });
  assert.is(big.statusCode, 413);
  assert.is(big.json().error.code, 'PAYLOAD_TOO_LARGE');
  assert.match(big.json().error.message, /32 MB/);
  const none = await app.inject({ method: 'GET', url: '/v1/nothing-here' });
  assert.is(none.statusCode, 404);
  assert.is(none.json().error.code, 'NOT_FOUND');
  const feed = await post([], {}, 'coal_trains');
  assert.is(feed.json().error.code, 'NOT_FOUND');
  assert.ok(await healthy());
});

test.run();
