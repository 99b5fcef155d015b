/**
 * Formula injection end to end: sales whose coal type is a spreadsheet formula (`=cmd|' /C calc'!A0`, `+`, `-`,
 * `@`, and tab/CR prefixes that ingest trims) are ingested over HTTP, become coal-type indicators, and reach the
 * daily report. Read back with exceljs, every cell holding one of them is text that starts with an apostrophe,
 * and no cell of the workbook is a formula; the JSON report keeps the value as it is.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import ExcelJS from 'exceljs';
import { startSystem, type System } from '../../../infra/system.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { generateReport, parsePeriod } from '../../../api/reports/index.ts';
import { eventually, testRuntime } from '../../helpers/runtime.ts';
import { operatorHeaders } from '../../helpers/access.ts';
import { SAMPLES } from '../../pipelines/ingest/samples.ts';

const test = suite('api/reports: formula injection in exports');
let rt: Runtime;
let sys: System;

const FORMULAS = ["=cmd|' /C calc'!A0", '+SUM(1,2)', '-2+3+cmd|x', '@SUM(A1:A9)', '\t=1+1', '\r=2+2'];
/** What ingest keeps of each (a tab or CR at the ends of a value is trimmed as whitespace). */
const STORED = FORMULAS.map((f) => f.trim());
const COMPANIES = ['91150622MA0007A001', '91150622MA0007B002', '91150622MA0007C003', '91150622MA0007D004'];

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock', overrides: { forecastIntervalMs: 0 } });
  sys = await startSystem(rt, ['worker', 'api'], { listen: false });
});
test.after(async () => {
  await sys?.stop();
});

const cst = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');

test('formula-like coal types reach the XLSX report escaped, and no cell is a formula', async () => {
  const app = sys.app!;
  const H = await operatorHeaders(app);
  const t = Date.now() - 20 * 60_000;
  const day = cst(t).slice(0, 10);
  // Four companies per coal type: each cell passes disclosure control and is published.
  const records = FORMULAS.flatMap((coal, i) =>
    COMPANIES.map((code, j) => ({
      ...SAMPLES.sales,
      销售编号: `FX${Date.now()}${i}${j}`,
      企业名称: `测试煤矿${j}`,
      统一社会信用代码: code,
      煤种名称: coal,
      过空时间: cst(t - 30 * 60_000),
      过重时间: cst(t),
    })),
  );
  const res = await app.inject({ method: 'POST', url: '/v1/ingest/sales', headers: H, payload: records });
  assert.is(res.statusCode, 200, res.body);
  const results = res.json().results as { status: string; reason?: string; message?: string }[];
  assert.ok(
    results.every((r) => r.status === 'accepted'),
    JSON.stringify(results.filter((r) => r.status !== 'accepted')),
  );
  await eventually(
    async () => {
      const r = await rt.db.query(
        `SELECT count(DISTINCT scope_id)::int AS n FROM ind_cell WHERE scope = 'coal_type' AND scope_id = ANY($1)`,
        [STORED],
      );
      return r.rows[0].n === STORED.length;
    },
    { timeoutMs: 40_000, what: 'coal-type indicators of the hostile values' },
  ).catch(async (err) => {
    const r = await rt.db.query(`SELECT DISTINCT scope_id FROM ind_cell WHERE scope = 'coal_type'`);
    throw new Error(`${(err as Error).message}; coal types stored: ${JSON.stringify(r.rows)}`);
  });

  const report = await generateReport(rt.db, {
    period: parsePeriod('day', day),
    audience: null,
    formats: ['xlsx', 'json'],
  });
  const json = report.files.get('json')!.toString();
  for (const s of STORED) assert.ok(json.includes(JSON.stringify(s).slice(1, -1)), `JSON report holds ${s}`);

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(report.files.get('xlsx')! as unknown as ArrayBuffer);
  const hits: string[] = [];
  const formulas: string[] = [];
  wb.eachSheet((ws) =>
    ws.eachRow((row) =>
      row.eachCell((cell) => {
        if (cell.type === ExcelJS.ValueType.Formula || cell.type === ExcelJS.ValueType.SharedString)
          formulas.push(`${ws.name}!${cell.address}`);
        const v = cell.value;
        if (typeof v !== 'string') return;
        const bare = v.replace(/^'/, '');
        if (STORED.includes(bare)) {
          hits.push(v);
          assert.ok(v.startsWith("'"), `${ws.name}!${cell.address} holds ${JSON.stringify(v)} unescaped`);
        }
        assert.not.ok(
          /^[=+\-@\t\r]/.test(v),
          `${ws.name}!${cell.address} starts a formula: ${JSON.stringify(v)}`,
        );
      }),
    ),
  );
  assert.equal(formulas, [], 'formula cells in the workbook');
  for (const s of STORED) assert.ok(hits.includes(`'${s}`), `the report's XLSX shows ${s} (escaped)`);
});

test.run();
