/**
 * The monthly usage and compliance report and the evaluation view: figures equal the audit and metering tables
 * (computed independently here with SQL), security events, suspensions and stops from their tables when they
 * exist, audit-log integrity (a deleted row shows as a gap), PDF (pdftotext), XLSX == JSON, access, the CLI.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { createAccess } from '../../../api/access/index.ts';
import {
  complianceCli,
  complianceFigures,
  governanceRoutes,
  suspensionsAndStops,
  type ComplianceFigures,
  type Evaluation,
} from '../../../api/governance/index.ts';
import { readXlsxTables, type localize } from '../../../api/reports/index.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey, type TestKey } from '../../helpers/access.ts';

const test = suite('api/governance/compliance (db)');
let rt: Runtime;
let app: FastifyInstance;
let op: TestKey;
let bureau: TestKey;
let ent: TestKey;
let limited: TestKey;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'coalflow-compliance-'));
/** The current month in Asia/Shanghai: what the requests below are audited in. */
const MONTH = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 7);
const FROM = `${MONTH}-01T00:00:00+08:00`;
const RANGE = { from: '2026-10-01', to: '2026-10-31' };

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  app = await buildApp(rt, {
    plugins: [governanceRoutes],
    access: createAccess(rt, { ratePerSecond: 3, auditFlushMs: 50 }),
  });
  op = await testKey(app, 'operator');
  bureau = await testKey(app, 'government', {
    products: ['sandbox', 'indicator.sales'],
    purpose: '公共治理 / public governance',
    tier: 'public',
  });
  ent = await testKey(app, 'enterprise', {
    products: ['sandbox', 'indicator.sales'],
    purpose: '市场分析 / market analysis',
    tier: 'industry',
  });
  limited = await testKey(app, 'enterprise', {
    products: ['sandbox', 'indicator.sales'],
    regions: ['150602'],
    purpose: '本旗区 / own region',
    tier: 'industry',
  });
  // Data quality bookkeeping of the month.
  await rt.db.query(
    `INSERT INTO ingest_seen (feed, record_id, source_ref, state, claimed_at, produced_at)
    SELECT 'sales', 'cmp-' || i, 'test:' || i, 'produced', now() - interval '1 minute', now() FROM generate_series(1, 7) i`,
  );
  await rt.db.query(
    `INSERT INTO ingest_rejects (feed, reason, message, source, source_ref, received_at)
    SELECT 'sales', CASE WHEN i < 3 THEN 'net_mismatch' ELSE 'missing_field' END, 'm', 'test', 'cmp-rej-' || i, now() FROM generate_series(1, 4) i`,
  );
  await rt.db.query(
    `INSERT INTO ind_corrections (feed, record_id, event_time, watermark) VALUES ('prices', 'cmp-late-1', now(), now())`,
  );
  // Traffic: served sandbox calls (public and industry), 401s, 403s, 429s.
  const q = (key: TestKey | null, body: unknown) =>
    app.inject({
      method: 'POST',
      url: '/v1/sandbox/query',
      headers: key ? key.headers : {},
      payload: body as object,
    });
  for (let i = 0; i < 2; i++) await q(bureau, { measures: ['tonnage'], range: RANGE });
  await q(ent, { measures: ['tonnage'], dimensions: ['region'], range: RANGE });
  await q(null, { measures: ['tonnage'], range: RANGE });
  await app.inject({
    method: 'POST',
    url: '/v1/sandbox/query',
    headers: { authorization: 'Bearer cf_0000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' },
    payload: {},
  });
  await q(limited, { measures: ['tonnage'], filters: { region: ['150621'] }, range: RANGE });
  await app.inject({ method: 'GET', url: `/v1/compliance/reports/${MONTH}`, headers: ent.headers });
  const burst = await Promise.all(
    Array.from({ length: 8 }, () =>
      q(limited, { measures: ['tonnage'], filters: { region: ['150602'] }, range: RANGE }),
    ),
  );
  assert.ok(
    burst.some((r) => r.statusCode === 429),
    'the burst is rate-limited',
  );
  await app.access.flush();
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

test("the month's figures equal the audit trail and the metering table", async () => {
  const f = await complianceFigures(rt.db, MONTH);
  const audit = async (sql: string) =>
    (
      await rt.db.query(
        `SELECT ${sql} FROM access_audit WHERE at >= $1 AND at < ($1::timestamptz + interval '1 month')`,
        [FROM],
      )
    ).rows;
  const [a401, a403, a429] = await Promise.all(
    [401, 403, 429].map((s) => audit(`count(*) FILTER (WHERE status = ${s})::int AS n`)),
  );
  assert.ok(a401![0].n >= 2 && a403![0].n >= 2 && a429![0].n >= 1, 'the traffic produced each kind');
  assert.is(f.security.failedAuthentications, a401![0].n);
  assert.is(f.security.refused, a403![0].n);
  assert.is(f.security.rateLimited, a429![0].n);
  // Calls and volume per product: the metering table; calls also equal the audit rows of served calls.
  const usage = (
    await rt.db.query(
      `SELECT product, sum(calls)::int AS calls, sum(rows)::int AS rows, sum(bytes)::int AS bytes FROM access_usage_daily
      WHERE day >= $1::date AND day < ($1::date + interval '1 month') GROUP BY product`,
      [`${MONTH}-01`],
    )
  ).rows;
  const served = (
    await rt.db.query(
      `SELECT product, count(*)::int AS calls, sum(cells_returned)::int AS cr, sum(cells_suppressed)::int AS cs FROM access_audit
      WHERE status < 400 AND product IS NOT NULL AND subscriber_id IS NOT NULL AND at >= $1 AND at < ($1::timestamptz + interval '1 month')
      GROUP BY product`,
      [FROM],
    )
  ).rows;
  assert.ok(usage.length > 0);
  for (const u of usage) {
    const lines = f.usage.filter((x) => x.product === u.product);
    assert.is(
      lines.reduce((s, x) => s + x.calls, 0),
      u.calls,
      `calls of ${u.product}`,
    );
    assert.is(
      lines.reduce((s, x) => s + x.rows, 0),
      u.rows,
      `rows of ${u.product}`,
    );
    assert.is(
      lines.reduce((s, x) => s + x.bytes, 0),
      u.bytes,
      `bytes of ${u.product}`,
    );
    assert.is(served.find((s) => s.product === u.product)!.calls, u.calls, `audit = usage for ${u.product}`);
  }
  const sandbox = f.disclosure.find((d) => d.product === 'sandbox')!;
  const s = served.find((x) => x.product === 'sandbox')!;
  assert.is(sandbox.cellsReturned, s.cr);
  assert.is(sandbox.cellsSuppressed, s.cs);
  // Tiers: the bureau's calls are public, the enterprises' industry; fees from the fee rule of the register.
  const bySub = (
    await rt.db.query(
      `SELECT subscriber_id, sum(calls)::int AS calls, sum(rows)::int AS rows FROM access_usage_daily
      WHERE product = 'sandbox' AND day >= $1::date AND day < ($1::date + interval '1 month') GROUP BY 1`,
      [`${MONTH}-01`],
    )
  ).rows;
  const pub = f.usage.find((x) => x.product === 'sandbox' && x.tier === 'public')!;
  assert.is(pub.calls, bySub.find((x) => x.subscriber_id === bureau.subscriberId)!.calls);
  assert.is(pub.amountYuan, 0);
  const fee = (await rt.db.query(`SELECT fee FROM access_products WHERE code = 'sandbox'`)).rows[0].fee;
  const expected = bySub
    .filter((x) => x.subscriber_id !== bureau.subscriberId)
    .reduce(
      (sum, x) =>
        sum + Math.round((x.calls * fee.perCallYuan + (x.rows / 1000) * fee.perThousandRowsYuan) * 100) / 100,
      0,
    );
  assert.ok(Math.abs(f.feesTotalYuan - expected) < 0.005, `fees ${f.feesTotalYuan} vs ${expected}`);
  // Products and subscribers; data quality.
  assert.equal(
    f.products.find((p) => p.code === 'sandbox')!.subscribers,
    [bureau.subscriberId, ent.subscriberId, limited.subscriberId].sort(),
  );
  const sales = f.quality.find((q) => q.feed === 'sales')!;
  assert.is(sales.accepted, 7);
  assert.is(sales.rejected, 4);
  assert.is(f.quality.find((q) => q.feed === 'prices')!.late, 1);
  assert.equal(
    f.rejects.map((r) => [r.reason, r.count]),
    [
      ['missing_field', 2],
      ['net_mismatch', 2],
    ],
  );
  const rows = (await audit('count(*)::int AS n'))[0].n;
  assert.is(f.audit.rows, rows);
  // The hash chain over the month holds, and covers every row of it.
  assert.equal(f.audit.chain, { ok: true, rows, firstBad: null, reason: null });
});

test('suspensions and emergency stops come from their tables; audit gaps and the broken chain are found', async () => {
  const from = Date.parse(FROM);
  assert.equal(await suspensionsAndStops(rt.db, from, from + 40 * 86_400_000), []);
  await rt.db.query(
    `INSERT INTO emergency_stops (action, target_kind, target, actor, reason) VALUES ('stop', 'subscriber', 'sub-under-review', 'cli:值班员', '疑似数据泄露 / suspected leak')`,
  );
  await rt.db.query(
    `INSERT INTO product_events (product, from_state, to_state, actor, reason) VALUES ('sandbox', 'published', 'suspended', 'cli:值班员', '安全审查 / review'),
      ('sandbox', 'suspended', 'published', 'cli:值班员', '恢复 / resumed'), ('forecast', 'draft', 'under_review', 'cli:x', '')`,
  );
  const stops = await suspensionsAndStops(rt.db, from, from + 40 * 86_400_000);
  assert.equal(stops.map((s) => [s.target, s.id, s.action]).sort(), [
    ['product', 'sandbox', 'resumed'],
    ['product', 'sandbox', 'suspended'],
    ['subscriber', 'sub-under-review', 'stop'],
  ]);
  const before = await complianceFigures(rt.db, MONTH);
  assert.is(before.security.stops.length, 3);
  // Deleting one audit row in the middle leaves a gap that the integrity section names.
  const mid = (
    await rt.db.query(`SELECT seq::text FROM access_audit WHERE at >= $1 ORDER BY seq OFFSET 3 LIMIT 1`, [
      FROM,
    ])
  ).rows[0].seq;
  await rt.db.query(`DELETE FROM access_audit WHERE seq = $1`, [mid]);
  const after = await complianceFigures(rt.db, MONTH);
  assert.is(after.audit.rows, before.audit.rows - 1);
  assert.is(after.audit.missingSeqs, before.audit.missingSeqs + 1);
  assert.ok(after.audit.gaps.some((g) => BigInt(g.after) < BigInt(mid) && BigInt(g.before) > BigInt(mid)));
  // The hash chain names the row after the deleted one.
  assert.is(after.audit.chain?.ok, false);
  assert.ok(
    BigInt(after.audit.chain!.firstBad!) > BigInt(mid),
    `first bad ${after.audit.chain?.firstBad} after ${mid}`,
  );
  const sec = after.evaluation.headings.find((h) => h.id === 'security_compliance')!;
  assert.is(sec.items.find((i) => i.id === 'stops')!.value, 3);
  assert.is(sec.items.find((i) => i.id === 'audit_seq_missing')!.value, after.audit.missingSeqs);
  // Another verifier can be given (its verdict is shown as is).
  const verified = await complianceFigures(rt.db, MONTH, {
    verifyAudit: async () => ({ ok: false, rows: 9, firstBad: mid, reason: 'broken link' }),
  });
  assert.equal(verified.audit.chain, { ok: false, rows: 9, firstBad: mid, reason: 'broken link' });
});

test('the evaluation view has the plan’s four headings; operators and government bodies only', async () => {
  const res = await app.inject({
    method: 'GET',
    url: `/v1/compliance/evaluation/${MONTH}`,
    headers: bureau.headers,
  });
  assert.is(res.statusCode, 200, res.body);
  const e = res.json() as Evaluation;
  assert.equal(
    e.headings.map((h) => h.zh),
    ['公共数据资源授权运营情况', '数据质量与应用成效', '安全合规水平', '经济与社会效益'],
  );
  const seed = readFileSync(
    new URL('../../../../shared/seed/000_661c7bdff7464580.txt', import.meta.url),
    'utf8',
  );
  for (const h of e.headings) assert.ok(seed.includes(h.zh), `the plan names ${h.zh}`);
  const forbidden = await app.inject({
    method: 'GET',
    url: `/v1/compliance/evaluation/${MONTH}`,
    headers: ent.headers,
  });
  assert.is(forbidden.statusCode, 403);
  const noKey = await app.inject({ method: 'GET', url: `/v1/compliance/reports/${MONTH}` });
  assert.is(noKey.statusCode, 401);
  const bad = await app.inject({ method: 'GET', url: `/v1/compliance/reports/2026-13`, headers: op.headers });
  assert.is(bad.statusCode, 400);
});

test('PDF renders the headings (pdftotext); XLSX equals JSON; the CLI writes the files; the route serves each format', async () => {
  let out = '';
  let err = '';
  const io = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    openRuntime: async () => ({ db: rt.db, close: async () => undefined }),
  };
  const dir = path.join(tmp, 'all');
  const code = await complianceCli(['--month', MONTH, '--format', 'json,xlsx,pdf', '--out', dir], io);
  assert.is(code, 0, err);
  const files = out.trim().split('\n');
  assert.equal(
    files.map((f) => path.extname(f)),
    ['.json', '.xlsx', '.pdf'],
  );
  const doc = JSON.parse(readFileSync(files[0]!, 'utf8')) as ReturnType<typeof localize> & {
    figures: ComplianceFigures;
  };
  assert.is(doc.figures.month, MONTH);
  const sheets = await readXlsxTables(readFileSync(files[1]!));
  for (const s of doc.sections) {
    const got = [...sheets.entries()].find(([name]) => name === s.title.slice(0, 31))?.[1];
    assert.ok(got, `sheet ${s.title}`);
    assert.is(got!.length, s.tables.length, `tables of ${s.title}`);
    s.tables.forEach((t, i) => {
      const g = got![i]!;
      assert.is(g.title, t.title);
      assert.equal(
        g.header,
        t.columns.map((col) => (col.unit ? `${col.label} (${col.unit})` : col.label)),
      );
      assert.is(g.rows.length, t.rows.length, `rows of ${t.title}`);
      t.rows.forEach((row, j) =>
        t.columns.forEach((col, k) => {
          const v = row[col.key] ?? null;
          assert.is(g.rows[j]![k] ?? null, v, `${t.title}[${j}].${col.key}`);
          if (typeof v === 'number') assert.type(g.rows[j]![k], 'number');
        }),
      );
    });
  }
  const text = execFileSync('pdftotext', ['-layout', files[2]!, '-']).toString().replace(/\s+/g, '');
  for (const h of [
    '公共数据资源使用情况与合规月报',
    '安全事件',
    '审计日志完整性',
    '公共数据资源授权运营情况',
    '数据质量与应用成效',
    '安全合规水平',
    '经济与社会效益',
  ])
    assert.ok(text.includes(h), `PDF shows ${h}`);
  // One format with a file name: exactly that file.
  out = '';
  const file = path.join(tmp, 'f.pdf');
  assert.is(await complianceCli(['--month', MONTH, '--format', 'pdf', '--out', file], io), 0, err);
  assert.is(out.trim(), file);
  assert.is(await complianceCli(['--month', '2026-13'], io), 2);

  const json = await app.inject({
    method: 'GET',
    url: `/v1/compliance/reports/${MONTH}`,
    headers: op.headers,
  });
  assert.is(json.statusCode, 200);
  assert.is((json.json() as { figures: ComplianceFigures }).figures.month, MONTH);
  const xlsx = await app.inject({
    method: 'GET',
    url: `/v1/compliance/reports/${MONTH}?format=xlsx`,
    headers: op.headers,
  });
  assert.is(xlsx.statusCode, 200);
  assert.ok((await readXlsxTables(xlsx.rawPayload)).size > 5);
  const pdf = await app.inject({
    method: 'GET',
    url: `/v1/compliance/reports/${MONTH}?format=pdf&lang=en`,
    headers: bureau.headers,
  });
  assert.is(pdf.statusCode, 200);
  assert.is(pdf.headers['content-type'], 'application/pdf');
  writeFileSync(path.join(tmp, 'en.pdf'), pdf.rawPayload);
  assert.match(
    execFileSync('pdftotext', [path.join(tmp, 'en.pdf'), '-']).toString(),
    'Security and compliance',
  );
  const html = await app.inject({
    method: 'GET',
    url: `/v1/compliance/reports/${MONTH}?format=html`,
    headers: op.headers,
  });
  assert.match(html.body, '<h2>绩效评估视图</h2>');
});

test.run();
