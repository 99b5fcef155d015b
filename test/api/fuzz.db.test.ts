/**
 * Hostile and malformed bodies to every write route of the running system
 * (ingest of every feed, replay of rejects, retrain): nested far beyond the
 * limit, NUL and other control characters, unpaired surrogates, mixed shapes,
 * wrong content types. Afterwards the process serves /healthz 200, no request
 * failed with a 5xx, and the personal data planted in the bodies is in no API
 * response, no topic other than the in-domain DLQ, and no table other than the
 * in-domain rejects (which the API serves masked).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startSystem, type System } from '../../infra/system.ts';
import type { Runtime } from '../../infra/compose.ts';
import type { ProduceRecord } from '../../infra/core/index.ts';
import { FEEDS } from '../../pipelines/contracts/types.ts';
import { testRuntime } from '../helpers/runtime.ts';
import { operatorHeaders } from '../helpers/access.ts';
import { SAMPLES } from '../pipelines/ingest/samples.ts';

const test = suite('api: fuzzing every write route');
let rt: Runtime;
let sys: System;
const produced: { topic: string; value: Buffer }[] = [];

/** Personal data planted in the bodies; none may leave the rejects' domain in clear. */
const SECRETS = [
  '张三丰',
  '李四光',
  'Wang Wei',
  '13912345678',
  '139 1234 5678',
  '139-1234-5678',
  '1234 5678',
  '晋B·7Q321',
  '7Q321',
  '150622199001011234',
];
const PERSONAL_KEYS = [
  '司机姓名',
  '手机',
  '车牌号',
  '客户名称',
  '联系电话',
  '身份证号',
  '备注',
  'remark',
  'note',
  '说明',
];

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock', overrides: { forecastIntervalMs: 0 } });
  const produce = rt.broker.produce.bind(rt.broker);
  rt.broker.produce = async (topic: string, records: ProduceRecord[]) => {
    await produce(topic, records);
    for (const r of records)
      produced.push({ topic, value: Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value) });
  };
  sys = await startSystem(rt, ['worker', 'api'], { listen: false });
});
test.after(async () => {
  await sys?.stop();
});

/** A small deterministic generator (mulberry32): the same bodies on every run. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const r = rng(20261130);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const WEIRD = [
  '\u0000',
  '\r\n',
  '\t',
  '\u0007',
  '\u007f',
  '\u0085',
  '\u2028',
  '\ufeff',
  '\ud800',
  '\udc00',
  '😀',
  '',
  ' ',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '０１２',
  '33,500',
  '__proto__',
  '{"a":1}',
  '5500\r\n混煤\t',
];
const secret = () => pick(SECRETS);

function nest(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = r() < 0.5 ? [v] : { [pick(['a', '净重', '备注', '司机姓名'])]: v };
  return v;
}

function weirdValue(depth = 0): unknown {
  const k = r();
  if (k < 0.25) return `${pick(WEIRD)}${pick(['5500', '33.42', '准格尔旗', '混煤', ''])}${pick(WEIRD)}`;
  if (k < 0.35) return Math.floor(r() * 1e6) / 100;
  if (k < 0.4) return pick([true, false, null, -1, 0, 1e308]);
  if (k < 0.5 && depth < 3) return [weirdValue(depth + 1), weirdValue(depth + 1)];
  if (k < 0.6 && depth < 3) return { [pick(PERSONAL_KEYS)]: secret(), x: weirdValue(depth + 1) };
  if (k < 0.65) return nest(20 + Math.floor(r() * 40), secret());
  return pick(Object.values(SAMPLES.sales) as unknown[]);
}

/** A record of `feed` with some fields replaced by weird values and personal data planted. */
function record(feed: (typeof FEEDS)[number]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...SAMPLES[feed] };
  for (const key of Object.keys(out)) if (r() < 0.3) out[key] = weirdValue();
  for (let i = 0; i < 3; i++)
    out[pick(PERSONAL_KEYS)] = r() < 0.7 ? secret() : `联系人 ${secret()} 电话 ${secret()}`;
  if (r() < 0.2) out[`${pick(WEIRD)}key${pick(WEIRD)}`] = weirdValue();
  if (r() < 0.3)
    out['销售编号'] = `${pick(['XS', 'S'])}${Math.floor(r() * 1e9)}${pick(['', '\u0000', '\r\n', '\ud800'])}`;
  return out;
}

function body(feed: (typeof FEEDS)[number]): { payload: string | Buffer; contentType: string } {
  const k = r();
  if (k < 0.35)
    return {
      payload: JSON.stringify(
        Array.from({ length: 1 + Math.floor(r() * 5) }, () => (r() < 0.85 ? record(feed) : weirdValue())),
      ),
      contentType: 'application/json',
    };
  if (k < 0.45) return { payload: JSON.stringify(record(feed)), contentType: 'application/json' };
  if (k < 0.55)
    return {
      payload: Array.from({ length: 3 }, () =>
        r() < 0.7
          ? JSON.stringify(record(feed))
          : pick(['{broken', JSON.stringify(nest(1200, 1)), '\u0000', '[1,2]', 'null']),
      ).join(pick(['\n', '\r\n'])),
      contentType: pick(['application/x-ndjson', 'text/plain']),
    };
  if (k < 0.6)
    return {
      payload: JSON.stringify(nest(300 + Math.floor(r() * 3000), record(feed))),
      contentType: 'application/json',
    };
  if (k < 0.65) return { payload: JSON.stringify([record(feed)]), contentType: 'text/plain' };
  if (k < 0.7)
    return { payload: `[${JSON.stringify(record(feed)).slice(0, -3)}`, contentType: 'application/json' };
  if (k < 0.75)
    return {
      payload: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc3, 0x28, 0x7d]),
      contentType: pick(['application/json', 'text/plain']),
    };
  if (k < 0.8)
    return {
      payload: JSON.stringify({ __proto__: { admin: true }, ...record(feed) })
        .replace('"admin"', '"admin"')
        .replace('{', '{"__proto__":{"x":1},'),
      contentType: 'application/json',
    };
  if (k < 0.85)
    return {
      payload: JSON.stringify(weirdValue()),
      contentType: pick(['application/json', 'application/octet-stream', 'text/plain']),
    };
  if (k < 0.9) return { payload: '', contentType: pick(['application/json', 'text/plain']) };
  return {
    payload: JSON.stringify(Array.from({ length: 3 }, () => record(feed))),
    contentType: 'application/json; charset=utf-8',
  };
}

test('hostile bodies to every write route leave the system healthy and personal data in the domain', async () => {
  const app = sys.app!;
  const operator = await operatorHeaders(app);
  const responses: string[] = [];
  const failures: string[] = [];
  const rejectIds = new Set<string>();
  const ring: unknown[] = [];
  const send = async (
    method: 'POST' | 'GET',
    url: string,
    payload?: string | Buffer,
    contentType?: string,
  ) => {
    const res = await app.inject({
      method,
      url,
      payload,
      headers: { ...operator, ...(contentType ? { 'content-type': contentType } : {}) },
    });
    responses.push(res.body);
    // The requests before a first server error, to reproduce it (a dead database fails every later request).
    if (res.statusCode >= 500 && !failures.length)
      failures.push(`first server error after: ${JSON.stringify(ring)}`);
    ring.push({ url, contentType, payload: String(payload).slice(0, 2000), status: res.statusCode });
    if (ring.length > 3) ring.shift();
    if (res.statusCode >= 500 && !url.endsWith('/retrain'))
      failures.push(`${method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
    else if (res.statusCode >= 400 && !(res.statusCode === 422 && url.endsWith('/replay'))) {
      const e = res.json() as { error?: { code?: string; message?: string } };
      if (!e.error?.code || !/\/ /.test(e.error.message ?? ''))
        failures.push(
          `${method} ${url} → ${res.statusCode} not in the documented shape: ${res.body.slice(0, 200)}`,
        );
    }
    return res;
  };

  for (let i = 0; i < 160; i++) {
    const feed = pick(FEEDS);
    const b = body(feed);
    const url =
      r() < 0.05
        ? `/v1/ingest/${encodeURIComponent(pick(['coal\u0000', '..%2f', '销售', 'x'.repeat(300)]))}`
        : `/v1/ingest/${feed}`;
    const res = await send('POST', url, b.payload, b.contentType);
    if (res.statusCode === 200)
      for (const x of res.json().results as { rejectId?: string }[])
        if (x.rejectId) rejectIds.add(x.rejectId);
  }
  assert.ok(rejectIds.size > 20, `rejects to replay: ${rejectIds.size}`);

  // Replays: stored originals, fuzzed patches, masked views sent back, ids that do not exist.
  const ids = [...rejectIds];
  for (let i = 0; i < 60; i++) {
    const id = r() < 0.85 ? pick(ids) : pick(['0', '999999999', 'abc', '-1', '1e3', '%00', '9'.repeat(30)]);
    const k = r();
    if (k < 0.2) {
      await send('POST', `/v1/rejects/${id}/replay`);
      continue;
    }
    if (k < 0.4) {
      const view = await send('GET', `/v1/rejects/${id}`);
      if (view.statusCode === 200)
        await send(
          'POST',
          `/v1/rejects/${id}/replay`,
          JSON.stringify({ ...view.json().payload, 净重: weirdValue() }),
          'application/json',
        );
      continue;
    }
    const b = body(pick(FEEDS));
    await send(
      'POST',
      `/v1/rejects/${id}/replay`,
      k < 0.7 ? JSON.stringify({ [pick(PERSONAL_KEYS)]: secret(), 净重: weirdValue() }) : b.payload,
      b.contentType,
    );
  }
  for (const payload of ['', '{}', JSON.stringify(nest(2000, 1)), '\u0000'])
    await send('POST', '/v1/forecasts/retrain', payload, 'application/json');

  assert.equal(failures, [], failures.join('\n'));
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.is(health.statusCode, 200, health.body);

  // Served rejects (every page) are masked.
  const list = await send('GET', '/v1/rejects?limit=1000');
  assert.ok((list.json().rejects as unknown[]).length > 20);
  for (const id of ids.slice(0, 50)) await send('GET', `/v1/rejects/${id}`);
  const all = responses.join('\n');
  for (const s of SECRETS) {
    const at = all.indexOf(s);
    assert.ok(at < 0, `an API response holds ${s}: …${all.slice(Math.max(0, at - 300), at + 100)}…`);
  }

  // Let the indicator workers store what was accepted, then look everywhere outside the rejects.
  await new Promise((res) => setTimeout(res, 3000));
  for (const m of produced) {
    if (m.topic.endsWith('coal.dlq')) continue;
    for (const s of SECRETS) assert.not.ok(m.value.includes(s), `topic ${m.topic} holds ${s}`);
  }
  const tables = await rt.db.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'ingest_rejects'`,
  );
  assert.ok(tables.rows.length > 5);
  for (const { table_name: t } of tables.rows as { table_name: string }[]) {
    const dump = await rt.db.query(`SELECT coalesce(string_agg(x::text, E'\\n'), '') AS d FROM "${t}" x`);
    for (const s of SECRETS) assert.not.ok((dump.rows[0].d as string).includes(s), `table ${t} holds ${s}`);
  }
  const accepted = await rt.db.query(`SELECT count(*)::int AS n FROM ingest_seen`);
  assert.ok(accepted.rows[0].n > 0, 'some fuzzed records were accepted (the check above is not vacuous)');
});

test.run();
