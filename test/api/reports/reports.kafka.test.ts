/**
 * Reports from a fixed record set on the real broker (test/pipelines/indicators/fixture.ts, March 2024):
 * each period's figures are checked against the API's series routes and against an independent
 * computation (oracle.ts); the PDF's first page becomes a PNG (pdftoppm) and its Chinese text is read back
 * (pdftotext); the XLSX read back with exceljs equals the JSON; a late correction gives a new version that
 * lists what changed; the routes enqueue, list and serve reports by audience.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { eventually, testRuntime } from '../../helpers/runtime.ts';
import { operatorHeaders, testKey } from '../../helpers/access.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { createFeedSerde } from '../../../pipelines/contracts/serde.ts';
import { FEEDS, topicOf, type FeedName, type SaleRecord } from '../../../pipelines/contracts/types.ts';
import { startIndicatorWorkers, type IndicatorWorkers } from '../../../pipelines/indicators/runner.ts';
import { indicatorRoutes } from '../../../api/routes/indicators.ts';
import { buildApp } from '../../../api/server.ts';
import {
  generateReport,
  localize,
  parsePeriod,
  readXlsxTables,
  reportRoutes,
  type ReportDoc,
} from '../../../api/reports/index.ts';
import { buildFixture, T0, type Produced } from '../../pipelines/indicators/fixture.ts';
import { Oracle } from '../../pipelines/indicators/oracle.ts';

type RT = Runtime & { prefix: string };
const test = suite('api/reports/reports (kafka)');
const D = 86_400_000;
const FIXTURE = buildFixture();
let rt: RT;
let w: IndicatorWorkers;
let app: FastifyInstance;
let H: { authorization: string };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'coalflow-reports-'));

async function produce(records: Produced[]): Promise<void> {
  const serde = createFeedSerde(rt);
  const byFeed = new Map<FeedName, { key: string; value: Buffer }[]>();
  for (const p of records)
    (byFeed.get(p.feed) ?? byFeed.set(p.feed, []).get(p.feed)!).push({
      key: p.key,
      value: await serde.encode(p.feed, p.record as never),
    });
  for (const [feed, list] of byFeed) await rt.broker.produce(rt.topic(topicOf.canonical(feed)), list);
}

async function drained(): Promise<void> {
  await eventually(
    async () => {
      for (const f of FEEDS)
        for (const p of await rt.broker.lag(rt.topic('g-reports'), rt.topic(topicOf.canonical(f))))
          if (BigInt(p.end) !== BigInt(p.committed)) return false;
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 250, what: 'indicator group drained' },
  );
  await w.idle({ timeoutMs: 90_000 });
}

test.before(async () => {
  rt = await testRuntime({ broker: 'kafka', cache: 'redis' });
  await rt.broker.createTopics(FEEDS.map((f) => ({ topic: rt.topic(topicOf.canonical(f)) })));
  await produce(FIXTURE);
  w = startIndicatorWorkers(rt, { lagIntervalMs: 0, maxBatchSize: 100, groupId: 'g-reports' });
  await w.start();
  await drained();
  app = await buildApp(rt, { plugins: [indicatorRoutes, reportRoutes] });
  H = await operatorHeaders(app);
});

test.after(async () => {
  await app?.close();
  await w?.stop();
  if (rt) {
    await rt.broker.deleteTopics?.(FEEDS.map((f) => rt.topic(topicOf.canonical(f)))).catch(() => undefined);
    await rt.close();
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function apiSeries(
  metric: string,
  scope: string,
  window: string,
  from: number,
  to: number,
): Promise<Map<string, { value: number | null; suppressed?: boolean }[]>> {
  const r = await app.inject({
    headers: H,
    url: `/v1/indicators/series?family=sales&metric=${metric}&scope=${scope}&window=${window}&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
  });
  assert.is(r.statusCode, 200, r.body);
  return new Map(
    (r.json().series as { scopeId: string; points: { value: number | null; suppressed?: boolean }[] }[]).map(
      (s) => [s.scopeId, s.points],
    ),
  );
}

const table = (doc: ReportDoc, id: string) => doc.sections.flatMap((s) => s.tables).find((t) => t.id === id)!;
const close = (a: number | null | undefined, b: number, what: string) =>
  assert.ok(
    a !== null && a !== undefined && Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)),
    `${what}: ${a} vs ${b}`,
  );

const CASES = [
  { kind: 'day', date: '2024-03-05', window: 'day', zh: '日报' },
  { kind: 'week', date: '2024-W10', window: 'day', zh: '周报' },
  { kind: 'month', date: '2024-03', window: 'mtd', zh: '月报' },
  { kind: 'year', date: '2024', window: 'ytd', zh: '年报' },
] as const;

for (const c of CASES) {
  test(`${c.kind} report: city and region sales equal the API's series and the independent computation`, async () => {
    const oracle = new Oracle(FIXTURE, 3);
    const p = parsePeriod(c.kind, c.date);
    const r = await generateReport(rt.db, { period: p, audience: null, formats: ['json'] });
    assert.is(r.version, 1);
    assert.match(r.doc.meta.title.zh, c.zh);
    // The API: the period's own window, or its day points summed for a week.
    const api = await apiSeries('volume_t', 'city', c.window, p.from, c.kind === 'week' ? p.to - 1 : p.from);
    const apiCity = (api.get('150600') ?? []).reduce((s, x) => s + (x.value ?? 0), 0);
    // Independently: every sale of the period from the fixture (by the oracle's cells).
    let kg = 0;
    for (const d of p.days) kg += oracle.cell('city', '150600', 'day', d)?.kg ?? 0;
    const row = table(r.doc, 'sales_city').rows.find((x) => x.id === '150600')!;
    assert.ok(kg > 0, 'the period has sales');
    close(row.volume_t as number, apiCity, 'report vs API');
    close(row.volume_t as number, kg / 1000, 'report vs independent');
    // Regions: the same disclosure control as the API (suppressed cells are null in both).
    const apiRegion = await apiSeries(
      'volume_t',
      'region',
      c.window,
      p.from,
      c.kind === 'week' ? p.to - 1 : p.from,
    );
    for (const rr of table(r.doc, 'sales_region').rows) {
      const pts = apiRegion.get(rr.id as string) ?? [];
      if (pts.some((x) => x.suppressed)) {
        assert.is(rr.volume_t, null, `region ${rr.id} suppressed`);
        assert.match(String(rr.disclosure), '抑制');
      } else
        close(
          rr.volume_t as number,
          pts.reduce((s, x) => s + (x.value ?? 0), 0),
          `region ${rr.id}`,
        );
    }
    // Previous period and same period last year are read the same way.
    if (c.kind === 'day') {
      const prev = oracle.cell('city', '150600', 'day', p.from - D);
      close(row.prev_volume_t as number, (prev?.kg ?? 0) / 1000, 'previous day');
    }
    assert.is(row.last_year_volume_t ?? null, null, 'no sales a year earlier');
    // Average price: the API's own window for a day, month and year; value over volume for a week.
    let fen = 0;
    for (const d of p.days) fen += oracle.cell('city', '150600', 'day', d)?.fen ?? 0;
    close(row.vwap_yuan_per_t as number, fen / 100 / (kg / 1000), 'average price vs independent');
  });
}

test('monthly report in all formats: XLSX equals JSON, PDF page 1 renders Chinese, HTML is self-contained', async () => {
  const p = parsePeriod('month', '2024-03');
  const r = await generateReport(rt.db, {
    period: p,
    audience: null,
    formats: ['json', 'html', 'pdf', 'xlsx'],
  });
  const json = JSON.parse(r.files.get('json')!.toString()) as ReturnType<typeof localize>;
  assert.equal(json, JSON.parse(JSON.stringify(localize(r.doc, 'zh'))));

  const sheets = await readXlsxTables(r.files.get('xlsx')!);
  for (const s of json.sections) {
    const got = [...sheets.entries()].find(([name]) => name === s.title)?.[1];
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

  const pdf = path.join(tmp, 'm.pdf');
  writeFileSync(pdf, r.files.get('pdf')!);
  execFileSync('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', pdf, path.join(tmp, 'page')]);
  const png = readFileSync(path.join(tmp, 'page-1.png'));
  assert.equal([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  assert.ok(statSync(path.join(tmp, 'page-1.png')).size > 5000, 'page 1 has content');
  const text = execFileSync('pdftotext', ['-f', '1', '-l', '1', '-enc', 'UTF-8', pdf, '-']).toString();
  assert.match(text, '鄂尔多斯市煤炭月报 2024-03');
  assert.match(text, '生产与销售');
  assert.match(text, '全市销量走势');

  const html = r.files.get('html')!.toString();
  assert.match(html, '<svg');
  assert.match(html, '旗区销量对比');
  assert.not.match(html, /(src|href)="https?:/);
  assert.not.match(html, /<script/);
});

test('a late correction gives a new version that says what changed', async () => {
  const p = parsePeriod('month', '2024-03');
  const before = await generateReport(rt.db, { period: p, audience: null, formats: ['json'] });
  const base = FIXTURE.find((x) => x.feed === 'sales' && (x.record as SaleRecord).mineId === 'M5')!
    .record as SaleRecord;
  const cst = (ms: number) =>
    new Date(ms + 8 * 3600_000)
      .toISOString()
      .replace('Z', '+08:00')
      .replace(/\.\d{3}/, '');
  const late: SaleRecord = {
    ...base,
    recordId: 'S-LATE-1',
    grossTime: cst(T0 + 2 * D + 3600_000),
    tareTime: cst(T0 + 2 * D + 3000_000),
    netT: 31.5,
    grossT: 31.5 + (base.grossT - base.netT),
  };
  await produce([{ feed: 'sales', key: 'M5', record: late }]);
  await drained();
  const after = await generateReport(rt.db, { period: p, audience: null, formats: ['json'] });
  assert.is(after.version, before.version + 1);
  assert.ok(
    after.changes.some((x) => x.startsWith('production_sales/sales_city/150600/volume_t:')),
    after.changes.join('\n'),
  );
  const cur = table(after.doc, 'sales_city').rows[0]!.volume_t as number;
  const old = table(before.doc, 'sales_city').rows[0]!.volume_t as number;
  close(cur - old, 31.5, 'the correction is counted');
});

test('routes: operators enqueue (202), jobs finish, subscribers see only their audience or granted city reports', async () => {
  const bad = await app.inject({
    headers: H,
    method: 'POST',
    url: '/v1/reports',
    payload: { period: 'month', date: '2024-13' },
  });
  assert.is(bad.statusCode, 400);
  assert.match(bad.json().error.message, ' / ');
  const res = await app.inject({
    headers: H,
    method: 'POST',
    url: '/v1/reports',
    payload: { period: 'week', date: '2024-W10', formats: ['json', 'pdf'] },
  });
  assert.is(res.statusCode, 202, res.body);
  const jobId = res.json().jobId as number;
  const job = await eventually(
    async () => {
      const j = (await app.inject({ url: `/v1/reports/jobs/${jobId}`, headers: H })).json();
      return j.status === 'done' || j.status === 'failed' ? j : null;
    },
    { timeoutMs: 60_000, what: 'job done' },
  );
  assert.is(job.status, 'done', job.error);
  const S1 = await testKey(app, 'enterprise', {
    products: ['report'],
    regions: ['150627'],
    mines: ['M5'],
    purpose: '测试',
    tier: 'industry',
  });
  const SCITY = await testKey(app, 'government', {
    products: ['report'],
    regions: '*',
    purpose: '测试',
    tier: 'industry',
  });
  const S2 = await testKey(
    app,
    'enterprise',
    { products: ['report'], regions: ['150621'], purpose: '测试', tier: 'industry' },
    '91150621MA0000000Y',
  );
  const refused = await app.inject({
    method: 'POST',
    url: '/v1/reports',
    headers: S1.headers,
    payload: { period: 'day', date: '2024-03-05' },
  });
  assert.is(refused.statusCode, 403, 'only operators enqueue');
  const sub = await app.inject({
    headers: H,
    method: 'POST',
    url: '/v1/reports',
    payload: {
      period: 'week',
      date: '2024-W10',
      formats: ['json'],
      audience: { subscriberId: S1.subscriberId, regions: ['150627'], mines: ['M5'], users: [] },
    },
  });
  const subJob = sub.json().jobId as number;
  const sj = await eventually(
    async () => {
      const j = (await app.inject({ url: `/v1/reports/jobs/${subJob}`, headers: H })).json();
      return j.status === 'done' ? j : null;
    },
    { timeoutMs: 60_000, what: 'subscriber job done' },
  );

  const pdf = await app.inject({ url: `/v1/reports/${job.reportId}/pdf`, headers: H });
  assert.is(pdf.statusCode, 200);
  assert.is(pdf.headers['content-type'], 'application/pdf');
  assert.is(pdf.rawPayload.subarray(0, 5).toString(), '%PDF-');
  const en = await app.inject({ url: `/v1/reports/${job.reportId}?lang=en`, headers: H });
  assert.match(en.json().report.meta.title, 'Ordos coal weekly report 2024-W10');

  const own = await app.inject({ url: `/v1/reports/${sj.reportId}/json`, headers: H });
  const doc = own.json();
  assert.is(doc.sections[0].id, 'own', 'own entities first');
  const m5 = doc.sections[0].tables[0].rows[0];
  assert.is(m5.id, 'M5');
  assert.ok(m5.volume_t > 0, 'own mine in full');
  assert.ok(
    !doc.sections
      .flatMap((s: { tables: { id: string }[] }) => s.tables)
      .some((t: { id: string }) => t.id === 'sales_city'),
    'no city table without a city grant',
  );
  assert.ok(
    doc.sections
      .flatMap((s: { tables: { id: string; rows: { id: string }[] }[] }) => s.tables)
      .find((t: { id: string }) => t.id === 'sales_region')
      .rows.every((r: { id: string }) => r.id === '150627'),
    'only its regions',
  );

  const ids = (h: { authorization: string }) =>
    app
      .inject({ url: '/v1/reports', headers: h })
      .then((r) => r.json().items as { id: number; audienceKey: string }[]);
  const s1 = await ids(S1.headers);
  assert.ok(s1.length > 0 && s1.every((x) => x.audienceKey === `sub:${S1.subscriberId}`));
  const s2 = await ids(SCITY.headers);
  assert.ok(s2.length > 0 && s2.every((x) => x.audienceKey === 'city'));
  assert.is(
    (await app.inject({ url: `/v1/reports/${job.reportId}`, headers: S1.headers })).statusCode,
    404,
    'a city report is hidden without a grant',
  );
  assert.is(
    (await app.inject({ url: `/v1/reports/${sj.reportId}/json`, headers: S2.headers })).statusCode,
    404,
    "another subscriber's report is hidden",
  );
  assert.is((await app.inject({ url: '/v1/reports/x/pdf', headers: H })).statusCode, 400);
  assert.is((await app.inject({ url: `/v1/reports/${job.reportId}/docx`, headers: H })).statusCode, 400);
});

test.run();
