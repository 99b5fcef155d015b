/**
 * Sandbox queries on the embedded TimescaleDB: disclosure control per cell (2 owning groups suppressed, many
 * answered with figures equal to an independent computation over the stored facts), secondary suppression,
 * grants (products, regions), SQL-injection probes, the audit row's query and sizes, metering, limits, and the CLI.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { governanceRoutes, sandboxCli } from '../../../api/governance/index.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey, type TestKey } from '../../helpers/access.ts';

const test = suite('api/governance/sandbox (db)');
let rt: Runtime;
let app: FastifyInstance;
let op: TestKey;
let analyst: TestKey;
let regional: TestKey;
let noSandbox: TestKey;

const MANY = '150602'; // 5 owning groups
const TWO = '150621'; // 2 owning groups: suppressed
const FEW = '150622'; // 4 owning groups, smallest tonnage: taken by secondary suppression
const RANGE = { from: '2026-10-01', to: '2026-10-31' };

/** Deterministic pseudo-random numbers (the figures are checked against SQL, not hard-coded). */
function rng(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

async function seed(db: Runtime['db']): Promise<void> {
  const r = rng(7);
  const rows: unknown[][] = [];
  const groups: [string, number, number][] = [
    [MANY, 5, 400],
    [TWO, 2, 300],
    [FEW, 4, 20],
  ];
  let id = 0;
  for (const [region, n, scale] of groups)
    for (let g = 0; g < n; g++)
      for (let m = 0; m < 2; m++)
        for (let day = 3; day <= 20; day += 1) {
          const net = Math.round(scale * (0.5 + r()) * 1000) / 1000;
          const price = Math.round((600 + 200 * r()) * 100) / 100;
          rows.push([
            `sbx-${id++}`,
            new Date(
              Date.parse(`2026-10-${String(day).padStart(2, '0')}T10:00:00+08:00`) + m * 3600_000,
            ).toISOString(),
            `mine-${region}-${g}-${m}`,
            `9115${region}G${g}`,
            region,
            g % 2 ? '动力煤' : '炼焦煤',
            m ? '5000' : '5500',
            net,
            Math.round(net * price * 100) / 100,
          ]);
        }
  await db.query(
    `INSERT INTO fact_sales (record_id, event_time, mine_id, company, region_code, coal_type, band, net_t, value_yuan)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::numeric[])`,
    rows[0]!.map((_, i) => rows.map((x) => x[i])),
  );
  // Coal users: 4 power plants, 3 small building-materials plants, 1 chemicals plant.
  const users: unknown[][] = [];
  for (let u = 0; u < 8; u++)
    for (let day = 3; day <= 20; day++)
      users.push([
        `sbx-u-${u}-${day}`,
        `2026-10-${String(day).padStart(2, '0')}T12:00:00+08:00`,
        `user-${u}`,
        u < 4 ? 'power' : u < 7 ? 'building_materials' : 'chemicals',
        Math.round(1000 * (1 + r())),
        Math.round((u < 4 ? 20000 : 2000) * (1 + r())),
      ]);
  await db.query(
    `INSERT INTO fact_coal_users (record_id, event_time, user_id, sector, consumption_t, stock_t)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::numeric[], $6::numeric[])`,
    users[0]!.map((_, i) => users.map((x) => x[i])),
  );
}

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  app = await buildApp(rt, { plugins: [governanceRoutes] });
  await seed(rt.db);
  op = await testKey(app, 'operator');
  analyst = await testKey(app, 'enterprise', {
    products: [
      'sandbox',
      'indicator.sales',
      'indicator.price',
      'indicator.inventory',
      'indicator.days_of_stock',
    ],
    purpose: '市场分析 / market analysis',
    tier: 'industry',
  });
  regional = await testKey(app, 'enterprise', {
    products: ['sandbox', 'indicator.sales', 'indicator.days_of_stock'],
    regions: [MANY],
    purpose: '本旗区分析 / own region',
    tier: 'industry',
  });
  noSandbox = await testKey(app, 'government', {
    products: ['indicator.sales'],
    purpose: '监测 / monitoring',
    tier: 'public',
  });
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

interface Cell {
  key: Record<string, string | null>;
  values: Record<string, number | null>;
  contributors: number;
  suppressed: boolean;
}
interface Answer {
  cells: Cell[];
  cellsReturned: number;
  cellsSuppressed: number;
  query: unknown;
}

async function query(key: TestKey, body: unknown) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/sandbox/query',
    headers: key.headers,
    payload: body as object,
  });
  return { status: res.statusCode, body: res.json() as Answer & { code?: string; message?: string } };
}

const near = (a: number | null | undefined, b: number, what: string) =>
  assert.ok(
    a !== null && a !== undefined && Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)),
    `${what}: ${a} vs ${b}`,
  );

test('a region with many owning groups is answered and equals the facts; 2 groups are suppressed, and secondary suppression takes the smallest sibling', async () => {
  const { status, body } = await query(analyst, {
    measures: ['tonnage', 'value', 'vwap', 'trips'],
    dimensions: ['region'],
    range: RANGE,
  });
  assert.is(status, 200, JSON.stringify(body));
  const by = new Map(body.cells.map((c) => [c.key.region, c]));
  const indep = await rt.db.query(
    `SELECT region_code, sum(net_t)::float8 AS t, sum(value_yuan)::float8 AS v, count(*)::int AS n, count(DISTINCT company)::int AS g
    FROM fact_sales WHERE event_time >= '2026-10-01T00:00:00+08:00' AND event_time < '2026-11-01T00:00:00+08:00' AND record_id LIKE 'sbx-%'
    GROUP BY region_code`,
  );
  const x = new Map(indep.rows.map((r) => [r.region_code, r]));
  const many = by.get(MANY)!;
  assert.is(many.suppressed, false);
  assert.is(many.contributors, x.get(MANY).g);
  near(many.values.tonnage, x.get(MANY).t, 'tonnage');
  near(many.values.value, x.get(MANY).v, 'value');
  near(many.values.vwap, x.get(MANY).v / x.get(MANY).t, 'vwap');
  assert.is(many.values.trips, x.get(MANY).n);
  const two = by.get(TWO)!;
  assert.is(two.contributors, 2);
  assert.is(two.suppressed, true);
  assert.equal(two.values, { tonnage: null, value: null, vwap: null, trips: null });
  const few = by.get(FEW)!;
  assert.ok(few.contributors >= 3, 'primary disclosure would publish it');
  assert.is(
    few.suppressed,
    true,
    'secondary suppression: the city total minus the others would reveal the 2-group cell',
  );
  assert.is(body.cellsSuppressed, 8);
  assert.is(body.cellsReturned, 4);
});

test('time and band dimensions: weekly cells equal the facts grouped independently', async () => {
  const { status, body } = await query(analyst, {
    measures: ['tonnage'],
    dimensions: ['week', 'band'],
    filters: { region: [MANY] },
    range: RANGE,
  });
  assert.is(status, 200, JSON.stringify(body));
  const indep = await rt.db.query(
    `SELECT time_bucket('1 week', event_time, 'Asia/Shanghai') AS w, band, sum(net_t)::float8 AS t, count(DISTINCT company)::int AS g
    FROM fact_sales WHERE region_code = $1 AND record_id LIKE 'sbx-%' GROUP BY 1, 2`,
    [MANY],
  );
  assert.is(body.cells.length, indep.rows.length);
  for (const r of indep.rows) {
    const c = body.cells.find((x) => x.key.week === new Date(r.w).toISOString() && x.key.band === r.band);
    assert.ok(c, `cell ${new Date(r.w).toISOString()} ${r.band}`);
    assert.is(c!.contributors, r.g);
    if (!c!.suppressed) near(c!.values.tonnage, r.t, 'weekly tonnage');
    else assert.is(c!.values.tonnage, null);
  }
  assert.ok(body.cells.filter((c) => !c.suppressed).length >= 4, 'five groups in every week and band');
  // By coal type the same region splits 2 groups / 3 groups: the first suppressed, the second with it.
  const ct = await query(analyst, {
    measures: ['tonnage'],
    dimensions: ['coal_type'],
    filters: { region: [MANY] },
    range: RANGE,
  });
  assert.equal(ct.body.cells.map((c) => [c.contributors, c.suppressed]).sort(), [
    [2, true],
    [3, true],
  ]);
});

test('whole weeks read the weekly aggregate, other ranges the daily one: the same figures as the facts', async () => {
  for (const range of [
    { from: '2026-10-05', to: '2026-10-18' },
    { from: '2026-10-04', to: '2026-10-18' },
    { from: '2026-10-07', to: '2026-10-07' },
  ]) {
    const { status, body } = await query(analyst, {
      measures: ['tonnage'],
      filters: { region: [MANY] },
      range,
    });
    assert.is(status, 200);
    const x = (
      await rt.db.query(
        `SELECT sum(net_t)::float8 AS t FROM fact_sales WHERE region_code = $1 AND record_id LIKE 'sbx-%'
        AND event_time >= ($2::date::timestamp AT TIME ZONE 'Asia/Shanghai') AND event_time < (($3::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')`,
        [MANY, range.from, range.to],
      )
    ).rows[0];
    assert.is(body.cells.length, 1);
    near(body.cells[0]!.values.tonnage, x.t, `${range.from}..${range.to}`);
  }
});

test('coal users by sector: 4 power plants answered (days of stock from the same rows), 1 chemicals plant suppressed with the smallest sibling', async () => {
  const { status, body } = await query(analyst, {
    measures: ['consumption', 'user_stock', 'days_of_stock'],
    dimensions: ['sector'],
    range: { from: '2026-10-03', to: '2026-10-09' },
  });
  assert.is(status, 200, JSON.stringify(body));
  const power = body.cells.find((c) => c.key.sector === 'power')!;
  const chem = body.cells.find((c) => c.key.sector === 'chemicals')!;
  assert.is(chem.suppressed, true);
  assert.is(chem.contributors, 1);
  assert.is(body.cells.find((c) => c.key.sector === 'building_materials')!.suppressed, true, 'secondary');
  assert.is(power.suppressed, false);
  const r = await rt.db.query(
    `SELECT user_id, sum(consumption_t)::float8 AS c, count(*)::int AS d,
      (array_agg(stock_t ORDER BY event_time DESC))[1]::float8 AS s
    FROM fact_coal_users WHERE sector = 'power' AND event_time >= '2026-10-03T00:00:00+08:00' AND event_time < '2026-10-10T00:00:00+08:00'
    GROUP BY user_id`,
  );
  const cons = r.rows.reduce((a, x) => a + x.c, 0);
  const stock = r.rows.reduce((a, x) => a + x.s, 0);
  const avg = r.rows.reduce((a, x) => a + x.c / x.d, 0);
  near(power.values.consumption, cons, 'consumption');
  near(power.values.user_stock, stock, 'stock');
  near(power.values.days_of_stock, stock / avg, 'days of stock');
});

test('out of grant: a product, a region and a city-wide measure are refused naming what is outside; no sandbox grant is refused', async () => {
  const noPrice = await query(regional, { measures: ['vwap'], range: RANGE });
  assert.is(noPrice.status, 403);
  assert.match(noPrice.body.message!, 'indicator.price');
  assert.match(noPrice.body.message!, 'vwap');
  const region = await query(regional, {
    measures: ['tonnage'],
    filters: { region: [TWO, MANY] },
    range: RANGE,
  });
  assert.is(region.status, 403);
  assert.match(region.body.message!, TWO);
  assert.not.match(region.body.message!.split('/')[0]!.split('（')[0]!, MANY);
  const cityWide = await query(regional, { measures: ['consumption'], range: RANGE });
  assert.is(cityWide.status, 403);
  assert.match(cityWide.body.message!, MANY);
  const none = await query(noSandbox, { measures: ['tonnage'], range: RANGE });
  assert.is(none.status, 403);
  assert.match(none.body.message!, 'sandbox');
  // Within the grant: only the granted region, even grouped by region without a filter.
  const own = await query(regional, { measures: ['tonnage'], dimensions: ['region'], range: RANGE });
  assert.is(own.status, 200);
  assert.equal(
    own.body.cells.map((c) => c.key.region),
    [MANY],
  );
});

test('SQL-injection probes in every string field are refused or harmless', async () => {
  const before = (await rt.db.query(`SELECT count(*)::int AS n FROM fact_sales`)).rows[0].n;
  const probes: unknown[] = [
    { measures: ["tonnage'; DROP TABLE fact_sales; --"], range: RANGE },
    { measures: ['tonnage'], dimensions: ['region) FROM fact_sales; --'], range: RANGE },
    { measures: ['tonnage'], filters: { "region_code' OR 1=1 --": ['x'] }, range: RANGE },
    { measures: ['tonnage'], filters: { region: ["150602' OR '1'='1"] }, range: RANGE },
    {
      measures: ['tonnage'],
      filters: { coal_type: ["'; DELETE FROM fact_sales; --"] },
      dimensions: ['coal_type'],
      range: RANGE,
    },
    { measures: ['tonnage'], filters: { band: ['5000" OR ""="'] }, range: RANGE },
    {
      measures: ['consumption'],
      filters: { sector: ["power' UNION SELECT record_id FROM fact_sales --"] },
      range: RANGE,
    },
    { measures: ['tonnage'], range: { from: "2026-10-01' OR '1'='1", to: '2026-10-31' } },
    { measures: ['tonnage'], range: { from: '2026-10-01', to: "2026-10-31'::date; SELECT 1; --" } },
    { measures: ['tonnage'], range: RANGE, sql: 'SELECT * FROM fact_sales' },
    { measures: ['tonnage'], range: { ...RANGE, to: '2026-10-31', extra: "'" } },
  ];
  for (const p of probes) {
    const { status, body } = await query(analyst, p);
    assert.ok(status === 400 || status === 200, `${JSON.stringify(p)} → ${status}`);
    if (status === 200) assert.is(body.cells.length, 0, `${JSON.stringify(p)} matched rows`);
    else assert.is(body.code, 'INPUT_INVALID');
  }
  const after = (await rt.db.query(`SELECT count(*)::int AS n FROM fact_sales`)).rows[0].n;
  assert.is(after, before);
});

test('limits: an oversized range and mixed data sets are refused with a clear message', async () => {
  const big = await query(analyst, {
    measures: ['tonnage'],
    range: { from: '2025-01-01', to: '2026-10-31' },
  });
  assert.is(big.status, 400);
  assert.is(big.body.code, 'QUERY_TOO_LARGE');
  assert.match(big.body.message!, '366');
  const mixed = await query(analyst, { measures: ['tonnage', 'consumption'], range: RANGE });
  assert.is(mixed.status, 400);
  assert.match(mixed.body.message!, 'one data set');
  const wrongDim = await query(analyst, {
    measures: ['consumption'],
    dimensions: ['coal_type'],
    range: RANGE,
  });
  assert.is(wrongDim.status, 400);
  assert.match(wrongDim.body.message!, 'coal_type');
});

test('the audit row carries the normalized query and the result size; usage is metered per served call', async () => {
  const sub = await testKey(app, 'enterprise', {
    products: ['sandbox', 'indicator.sales'],
    purpose: '计量测试 / metering',
    tier: 'industry',
  });
  const q = {
    measures: ['trips', 'tonnage', 'tonnage'],
    dimensions: ['region', 'month'],
    range: RANGE,
    filters: { coal_type: ['炼焦煤', '动力煤'] },
  };
  const a = await query(sub, q);
  const b = await query(sub, { measures: ['tonnage'], range: RANGE });
  const refused = await query(sub, { measures: ['vwap'], range: RANGE });
  assert.is(a.status, 200);
  assert.is(b.status, 200);
  assert.is(refused.status, 403);
  await app.access.flush();
  const rows = (
    await rt.db.query(
      `SELECT status, params, cells_returned, cells_suppressed FROM access_audit WHERE subscriber_id = $1 AND route = '/v1/sandbox/query' ORDER BY seq`,
      [sub.subscriberId],
    )
  ).rows;
  assert.is(rows.length, 3);
  assert.equal(rows[0].params.query, a.body.query);
  assert.equal(rows[0].params.query.measures, ['trips', 'tonnage']);
  assert.equal(rows[0].params.query.filters.coal_type, ['动力煤', '炼焦煤']);
  assert.is(rows[0].cells_returned, a.body.cellsReturned);
  assert.is(rows[0].cells_suppressed, a.body.cellsSuppressed);
  assert.is(rows[0].params.result.rows, a.body.cells.length);
  assert.ok(a.body.cellsSuppressed > 0, 'the 2-group region is among the cells');
  assert.is(rows[2].status, 403);
  assert.equal(rows[2].params.query.measures, ['vwap']);
  const usage = (
    await rt.db.query(
      `SELECT sum(calls)::int AS calls, sum(rows)::int AS rows FROM access_usage_daily WHERE subscriber_id = $1 AND product = 'sandbox'`,
      [sub.subscriberId],
    )
  ).rows[0];
  assert.is(usage.calls, 2);
  assert.is(usage.rows, a.body.cellsReturned + b.body.cellsReturned);
});

test('hostile bodies never give a 5xx; the routes are in the OpenAPI document', async () => {
  const deep: Record<string, unknown> = {};
  let cur = deep;
  for (let i = 0; i < 40; i++) cur = cur.x = {} as Record<string, unknown>;
  const bodies: unknown[] = [
    null,
    [],
    'tonnage',
    42,
    { measures: {}, range: RANGE },
    { measures: [], range: RANGE },
    { measures: ['tonnage'], range: { from: 20261001, to: 20261031 } },
    { measures: ['tonnage'], range: { from: '2026-02-30', to: '2026-03-01' } },
    { measures: ['tonnage'], range: { from: '2026-10-31', to: '2026-10-01' } },
    { measures: ['tonnage'], filters: { region: [1, 2] }, range: RANGE },
    { measures: ['tonnage'], filters: { region: ['a\u0000b'] }, range: RANGE },
    {
      measures: ['tonnage'],
      filters: { region: Array.from({ length: 500 }, (_, i) => String(i)) },
      range: RANGE,
    },
    { measures: ['tonnage'], dimensions: ['day', 'week'], range: RANGE },
    { measures: ['tonnage'], range: RANGE, deep },
    { ...deep, measures: ['tonnage'], range: RANGE },
  ];
  for (const b of bodies) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/sandbox/query',
      headers: { ...analyst.headers, 'content-type': 'application/json' },
      payload: JSON.stringify(b),
    });
    // fastify coerces scalars into the schema's types (numbers to strings): such a body is a valid query.
    assert.ok(
      res.statusCode === 400 || (res.statusCode === 200 && res.json().cells.length === 0),
      `${JSON.stringify(b).slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`,
    );
    if (res.statusCode === 400)
      assert.match(res.headers['content-type'] as string, 'application/problem+json');
  }
  const docs = await app.inject({ method: 'GET', url: '/docs/json' });
  const paths = Object.keys((docs.json() as { paths: Record<string, unknown> }).paths);
  for (const p of [
    '/v1/sandbox/query',
    '/v1/sandbox/catalog',
    '/v1/compliance/reports/{month}',
    '/v1/compliance/evaluation/{month}',
  ])
    assert.ok(paths.includes(p), `${p} in /docs/json`);
  const cat = await app.inject({ method: 'GET', url: '/v1/sandbox/catalog' });
  assert.is(cat.statusCode, 200);
  assert.ok(
    (cat.json() as { measures: { measure: string }[] }).measures.some((m) => m.measure === 'days_of_stock'),
  );
});

test('operators see the same disclosure control; `coalflow sandbox query` sends a file to a running API', async () => {
  const { status, body } = await query(op, { measures: ['tonnage'], dimensions: ['region'], range: RANGE });
  assert.is(status, 200);
  assert.is(body.cells.find((c) => c.key.region === TWO)!.suppressed, true);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'coalflow-sandbox-'));
  const file = path.join(dir, 'q.json');
  writeFileSync(file, JSON.stringify({ measures: ['tonnage'], dimensions: ['region'], range: RANGE }));
  let out = '';
  let err = '';
  const io = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    openRuntime: async () => ({ db: rt.db, close: async () => undefined }),
  };
  const code = await sandboxCli(
    ['query', '--file', file, '--key', analyst.key, '--url', `http://127.0.0.1:${port}`],
    io,
  );
  assert.is(code, 0, err);
  const parsed = JSON.parse(out) as Answer;
  assert.equal(parsed.cells.map((c) => c.key.region).sort(), [MANY, TWO, FEW].sort());
  writeFileSync(file, JSON.stringify({ measures: ['vwap'], range: RANGE }));
  err = '';
  const refused = await sandboxCli(
    ['query', '--file', file, '--key', regional.key, '--url', `http://127.0.0.1:${port}`],
    io,
  );
  assert.is(refused, 2);
  assert.match(err, 'indicator.price');
});

test.run();
