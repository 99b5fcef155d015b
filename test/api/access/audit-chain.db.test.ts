/**
 * The audit trail's hash chain on the embedded TimescaleDB: a clean chain verifies (route, CLI, verifyAudit);
 * an altered, deleted or forged row is found and named; two writers on separate connections form one chain.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { indicatorRoutes } from '../../../api/routes/indicators.ts';
import { accessRoutes, createAccess, verifyAudit, rowBody, rowHash } from '../../../api/access/index.ts';
import { auditCli, type WithDb } from '../../../api/access/cli.ts';
import { createAuditWriter, type AuditRow } from '../../../api/access/audit.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey, type TestKey } from '../../helpers/access.ts';

const test = suite('api/access/audit-chain');
let rt: Runtime;
let app: FastifyInstance;
let op: TestKey;
let ent: TestKey;
const withDb: WithDb = (fn) => fn(rt.db as pg.Pool);

function io() {
  const o = { out: '', err: '' };
  const w = (k: 'out' | 'err') => ({
    write: (s: string) => {
      o[k] += s;
    },
  });
  return { o, io: { stdout: w('out'), stderr: w('err') } };
}

async function verifyRoute() {
  const r = await app.inject({ method: 'GET', url: '/v1/audit/verify', headers: op.headers });
  assert.is(r.statusCode, 200, r.body);
  return {
    body: r.body,
    json: r.json() as { ok: boolean; rows: number; firstBad: number | null; reason: string },
  };
}

async function seqs(): Promise<string[]> {
  await app.access.flush();
  return (await rt.db.query(`SELECT seq::text AS s FROM access_audit ORDER BY seq`)).rows.map((r) => r.s);
}

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  app = await buildApp(rt, {
    plugins: [indicatorRoutes, accessRoutes],
    access: createAccess(rt, { ratePerSecond: 10_000, auditFlushMs: 20 }),
  });
  op = await testKey(app, 'operator');
  ent = await testKey(app, 'enterprise', {
    products: ['indicator.sales'],
    mines: ['91150602MA0000001A'],
    purpose: '经营分析 / operations',
    tier: 'industry',
  });
  // Varied rows: served, refused (403, 401), query parameters in several orders, Chinese text.
  for (let i = 0; i < 6; i++) {
    await app.inject({
      method: 'GET',
      url: `/v1/indicators/latest?scope=region&family=sales&id=r${i}`,
      headers: ent.headers,
    });
    await app.inject({
      method: 'GET',
      url: '/v1/indicators/latest?family=price&scope=city',
      headers: ent.headers,
    });
    await app.inject({
      method: 'GET',
      url: `/v1/me?z=${encodeURIComponent('鄂尔多斯')}&a=${i}`,
      headers: ent.headers,
    });
    await app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: 'Bearer cf_0000000000_nope' },
    });
  }
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

test('a clean chain verifies: route answers ok/rows/firstBad first, CLI exits 0, every row is chained', async () => {
  const all = await seqs();
  assert.ok(all.length >= 24, `rows: ${all.length}`);
  const { body, json } = await verifyRoute();
  assert.ok(body.startsWith('{"ok":true,"rows":'), body);
  assert.is(json.firstBad, null);
  assert.ok(json.rows >= 24);
  const nulls = await rt.db.query(
    `SELECT count(*)::int AS n FROM access_audit WHERE row_hash IS NULL OR prev_hash IS NULL`,
  );
  assert.is(nulls.rows[0].n, 0);
  // The stored hash is the one the documented canonical form gives (recomputed here from the row as read).
  const r = (await rt.db.query(`SELECT * FROM access_audit ORDER BY seq DESC LIMIT 1`)).rows[0];
  const body2 = rowBody({
    at: new Date(r.at).getTime(),
    keyId: r.key_id,
    subscriberId: r.subscriber_id,
    method: r.method,
    route: r.route,
    product: r.product,
    params: r.params,
    purpose: r.purpose,
    status: r.status,
    cellsReturned: r.cells_returned,
    cellsSuppressed: r.cells_suppressed,
    bytes: Number(r.bytes),
    durationMs: r.duration_ms,
  });
  assert.is(rowHash(r.prev_hash, String(r.seq), body2), r.row_hash);
  const x = io();
  assert.is(await auditCli(['audit', 'verify'], x.io, withDb), 0, x.o.err);
  assert.match(x.o.out, /audit log intact/);
  const j = io();
  assert.is(await auditCli(['verify', '--json'], j.io, withDb), 0);
  assert.is(JSON.parse(j.o.out).ok, true);
});

test('an altered row is found and named (route, CLI exit 1, verifyAudit); restoring it heals the chain', async () => {
  const all = await seqs();
  const target = all[Math.floor(all.length / 2)]!;
  const before = (await rt.db.query(`SELECT status, params FROM access_audit WHERE seq = $1`, [target]))
    .rows[0];
  await rt.db.query(`UPDATE access_audit SET status = 200 WHERE seq = $1`, [target]);
  if (before.status === 200)
    await rt.db.query(`UPDATE access_audit SET status = 201 WHERE seq = $1`, [target]);
  let v = await verifyRoute();
  assert.is(v.json.ok, false);
  assert.is(v.json.firstBad, Number(target));
  assert.ok(v.body.startsWith(`{"ok":false,"rows":`), v.body);
  const x = io();
  assert.is(await auditCli(['audit', 'verify'], x.io, withDb), 1);
  assert.match(x.o.out, new RegExp(`seq ${target}\\b`));
  await rt.db.query(`UPDATE access_audit SET status = $2 WHERE seq = $1`, [target, before.status]);
  assert.is((await verifyAudit(rt.db as pg.Pool)).ok, true);

  // jsonb params: a reordered object is the same value, a changed value is not.
  await rt.db.query(`UPDATE access_audit SET params = params || '{"injected": "x"}'::jsonb WHERE seq = $1`, [
    target,
  ]);
  v = await verifyRoute();
  assert.equal([v.json.ok, v.json.firstBad], [false, Number(target)]);
  await rt.db.query(`UPDATE access_audit SET params = $2::jsonb WHERE seq = $1`, [
    target,
    JSON.stringify(before.params),
  ]);
  assert.is((await verifyAudit(rt.db as pg.Pool)).ok, true);
});

test('a deleted row is found at the next seq; a deleted last row at the head', async () => {
  const all = await seqs();
  const i = Math.floor(all.length / 3);
  const saved = (await rt.db.query(`SELECT * FROM access_audit WHERE seq = $1`, [all[i]])).rows[0];
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [all[i]]);
  let v = await verifyAudit(rt.db as pg.Pool, { pageSize: 5 });
  assert.equal([v.ok, v.firstBad], [false, Number(all[i + 1])]);
  const cols = Object.keys(saved);
  const insert = `INSERT INTO access_audit (${cols.join(',')}) VALUES (${cols.map((_, k) => `$${k + 1}`).join(',')})`;
  await rt.db.query(
    insert,
    cols.map((c) => (c === 'params' ? JSON.stringify(saved[c]) : saved[c])),
  );
  assert.is((await verifyAudit(rt.db as pg.Pool, { pageSize: 5 })).ok, true);

  const lastSaved = (await rt.db.query(`SELECT * FROM access_audit WHERE seq = $1`, [all.at(-1)])).rows[0];
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [all.at(-1)]);
  v = await verifyAudit(rt.db as pg.Pool);
  assert.equal([v.ok, v.firstBad], [false, Number(all.at(-1))]);
  await rt.db.query(
    insert,
    cols.map((c) => (c === 'params' ? JSON.stringify(lastSaved[c]) : lastSaved[c])),
  );
  assert.is((await verifyAudit(rt.db as pg.Pool)).ok, true);
});

test('a forged row is found: between two rows, and appended with a correct-looking hash after the head', async () => {
  const all = await seqs();
  const i = Math.floor(all.length / 4);
  const orig = (await rt.db.query(`SELECT * FROM access_audit WHERE seq = $1`, [all[i]])).rows[0];
  // Replace a row with a forgery whose own hash is computed correctly: the next row's link no longer holds.
  const forged = { ...orig, subscriber_id: 'someone-else', params: { forged: true } };
  const fbody = rowBody({
    at: new Date(forged.at).getTime(),
    keyId: forged.key_id,
    subscriberId: forged.subscriber_id,
    method: forged.method,
    route: forged.route,
    product: forged.product,
    params: forged.params,
    purpose: forged.purpose,
    status: forged.status,
    cellsReturned: forged.cells_returned,
    cellsSuppressed: forged.cells_suppressed,
    bytes: Number(forged.bytes),
    durationMs: forged.duration_ms,
  });
  forged.row_hash = rowHash(forged.prev_hash, String(forged.seq), fbody);
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [all[i]]);
  const cols = Object.keys(orig);
  const insert = `INSERT INTO access_audit (${cols.join(',')}) VALUES (${cols.map((_, k) => `$${k + 1}`).join(',')})`;
  const put = (row: Record<string, unknown>) =>
    rt.db.query(
      insert,
      cols.map((c) => (c === 'params' ? JSON.stringify(row[c]) : row[c])),
    );
  await put(forged);
  let v = await verifyAudit(rt.db as pg.Pool);
  assert.equal([v.ok, v.firstBad], [false, Number(all[i + 1])]);
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [all[i]]);
  await put(orig);
  assert.is((await verifyAudit(rt.db as pg.Pool)).ok, true);

  // Inserted between two rows with a random hash: named itself.
  const mid = {
    ...orig,
    seq: String(BigInt(all.at(-1)!) + 5n),
    row_hash: 'f'.repeat(64),
    prev_hash: '0'.repeat(64),
  };
  await put(mid);
  v = await verifyAudit(rt.db as pg.Pool);
  assert.equal([v.ok, v.firstBad], [false, Number(mid.seq)]);
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [mid.seq]);

  // Appended after the head, linked to it and hashed correctly: still not an append of the chain.
  const head = (await rt.db.query(`SELECT seq::text AS seq, row_hash FROM access_audit_chain`)).rows[0];
  const tail = { ...orig, seq: String(BigInt(head.seq) + 1n), prev_hash: head.row_hash };
  tail.row_hash = rowHash(
    tail.prev_hash,
    tail.seq,
    fbody.replace(JSON.stringify(orig.subscriber_id ?? null), '"x"'),
  );
  await put(tail);
  v = await verifyAudit(rt.db as pg.Pool);
  assert.equal([v.ok, v.firstBad], [false, Number(tail.seq)]);
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [tail.seq]);
  assert.is((await verifyAudit(rt.db as pg.Pool)).ok, true);
});

test('two writers on separate connections, flushing concurrently, form one valid chain', async () => {
  const pools = [0, 1].map(() => new pg.Pool({ ...(rt.db as pg.Pool).options, max: 2 }));
  try {
    const writers = pools.map((p) => createAuditWriter(p, rt.log, { flushMs: 5, maxBatch: 7 }));
    const row = (w: number, i: number): AuditRow => ({
      at: Date.now(),
      keyId: `k${w}`,
      subscriberId: `writer-${w}`,
      method: 'GET',
      route: '/v1/test',
      product: 'indicator.sales',
      params: { i: String(i), nested: { b: [1, 2.5, 'x'], a: null }, 中文: '值' },
      purpose: null,
      status: 200,
      cellsReturned: i,
      cellsSuppressed: 0,
      bytes: 100 + i,
      durationMs: 0.1 + i / 3,
    });
    const before = Number((await rt.db.query(`SELECT count(*)::int AS n FROM access_audit`)).rows[0].n);
    const rounds = 10;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 20; i++) writers.forEach((w, k) => w.record(row(k, r * 20 + i)));
      await Promise.all(writers.map((w) => w.flush()));
    }
    await Promise.all(writers.map((w) => w.close()));
    const after = Number((await rt.db.query(`SELECT count(*)::int AS n FROM access_audit`)).rows[0].n);
    assert.is(after - before, 2 * rounds * 20);
    // Both writers' rows interleave in the one chain.
    const subs = await rt.db.query(
      `SELECT subscriber_id, count(*)::int AS n FROM access_audit WHERE subscriber_id LIKE 'writer-%' GROUP BY 1 ORDER BY 1`,
    );
    assert.equal(subs.rows, [
      { subscriber_id: 'writer-0', n: rounds * 20 },
      { subscriber_id: 'writer-1', n: rounds * 20 },
    ]);
    const v = await verifyAudit(rt.db as pg.Pool, { pageSize: 50 });
    assert.is(v.ok, true, v.reason ?? '');
    assert.is(v.rows, after);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('from/to verify a period anchored on its first row; a bad date is a 400', async () => {
  let rows = (await rt.db.query(`SELECT seq::text AS s, at FROM access_audit ORDER BY seq`)).rows;
  const mid = rows[Math.floor(rows.length / 2)]!;
  // A row stamped before the period but chained inside it (another process's clock, a late flush).
  const w = createAuditWriter(rt.db as pg.Pool, rt.log, { flushMs: 5, maxBatch: 7 });
  w.record({
    at: new Date(mid.at).getTime() - 60_000,
    keyId: 'late',
    subscriberId: 'late-writer',
    method: 'GET',
    route: '/v1/test',
    product: null,
    params: {},
    purpose: null,
    status: 200,
    cellsReturned: 0,
    cellsSuppressed: 0,
    bytes: 1,
    durationMs: 0.1,
  });
  await w.close();
  rows = (await rt.db.query(`SELECT seq::text AS s, at FROM access_audit ORDER BY seq`)).rows;
  const v = await verifyAudit(rt.db as pg.Pool, { from: new Date(mid.at).toISOString() });
  assert.is(v.ok, true, v.reason ?? '');
  assert.ok(v.rows > 0 && v.rows < rows.length);
  assert.is(v.anchor?.genesis, false);
  const r = await app.inject({ method: 'GET', url: '/v1/audit/verify?from=nonsense', headers: op.headers });
  assert.is(r.statusCode, 400);
  const denied = await app.inject({ method: 'GET', url: '/v1/audit/verify', headers: ent.headers });
  assert.is(denied.statusCode, 403);
});

test.run();
