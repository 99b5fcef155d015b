import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import ExcelJS from 'exceljs';
import type { Runtime } from '../../../infra/compose.ts';
import { topicOf } from '../../../pipelines/contracts/types.ts';
import { importCli } from '../../../pipelines/import/cli.ts';
import { decodeText, readTable } from '../../../pipelines/import/read.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('pipelines/import (kafka)');
const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;
// The fixtures: 10 good rows, 2 repeated 销售编号, 9 bad rows (see test/fixtures/*.csv).
const EXPECTED = {
  accepted: 10,
  duplicates: 2,
  rejected: {
    net_mismatch: 2,
    tare_after_gross: 1,
    weight_implausible: 1,
    price_out_of_band: 1,
    region_unknown: 1,
    invalid_time: 1,
    missing_field: 1,
    invalid_number: 1,
  },
};

let rt: Runtime;
let dir: string;

test.before(async () => {
  rt = await testRuntime({ broker: 'kafka', cache: 'mock' });
  dir = mkdtempSync(join(tmpdir(), 'coalflow-import-'));
});

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (rt) {
    await rt.broker.deleteTopics(feedTopics(rt).map((t) => t.topic)).catch(() => undefined);
    await rt.close();
  }
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await importCli(args, {
    stdout: {
      write: (s: string) => {
        out += s;
      },
    },
    stderr: {
      write: (s: string) => {
        err += s;
      },
    },
    runtime: rt,
  });
  return { code, out, err };
}

const sorted = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort());

test('encoding detection: UTF-8 (BOM stripped) and GB18030', async () => {
  const utf = await readTable(join(FIXTURES, 'sales_utf8.csv'), 'sales');
  const gb = await readTable(join(FIXTURES, 'sales_gb18030.csv'), 'sales');
  assert.is(utf.encoding, 'utf8');
  assert.is(gb.encoding, 'gb18030');
  assert.is(utf.headers[0], '销售编号');
  assert.equal(gb.headers, utf.headers);
  assert.is(utf.rows.length, 21);
  assert.is(gb.rows[0]!.values['企业名称'], utf.rows[0]!.values['企业名称']);
  assert.is(decodeText(Buffer.from('\uFEFFa,b')).text, 'a,b');
});

test("CSV (UTF-8) with the seed's Chinese headers: exact counts as one JSON object", async () => {
  const r = await run([join(FIXTURES, 'sales_utf8.csv'), '--feed', 'sales', '--json']);
  assert.is(r.code, 0, r.err);
  const summary = JSON.parse(r.out);
  assert.equal(Object.keys(summary), ['accepted', 'duplicates', 'rejected', 'rejectedLines']);
  const { rejectedLines: _lines, ...counts } = summary;
  assert.equal(
    { ...counts, rejected: sorted(counts.rejected) },
    { ...EXPECTED, rejected: sorted(EXPECTED.rejected) },
  );
  const rejects = await rt.db.query(
    `SELECT reason, count(*)::int AS n FROM ingest_rejects WHERE source = 'file' GROUP BY reason`,
  );
  assert.equal(
    sorted(Object.fromEntries(rejects.rows.map((x) => [x.reason, x.n]))),
    sorted(EXPECTED.rejected),
  );
  const dlq = await rt.broker.lag('nobody', rt.topic(topicOf.dlq));
  assert.is(
    dlq.reduce((a, p) => a + Number(p.end), 0),
    9,
    'nine records on the DLQ',
  );
});

test('importing the same file again: every good row is a duplicate', async () => {
  const r = await run([join(FIXTURES, 'sales_utf8.csv'), '--feed', 'sales', '--json']);
  const summary = JSON.parse(r.out);
  assert.is(summary.accepted, 0);
  assert.is(summary.duplicates, 12);
});

test('CSV (GB18030): the same counts, human summary with reasons', async () => {
  const r = await run([join(FIXTURES, 'sales_gb18030.csv'), '--feed', 'sales']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /接收 accepted\s+10/);
  assert.match(r.out, /重复 duplicates\s+2/);
  assert.match(r.out, /net_mismatch\s+2/);
  assert.match(r.out, /gb18030/);
});

test('XLSX (exceljs, with date cells and numbers): the same counts', async () => {
  const table = await readTable(join(FIXTURES, 'sales_utf8.csv'), 'sales');
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('销售明细');
  ws.addRow(['煤矿运销信息导出']); // a title line above the header, as exports have
  ws.addRow(table.headers);
  for (const row of table.rows) {
    const cells = table.headers.map((h) => {
      let v = row.values[h] as string | undefined;
      if (v !== undefined && h.includes('时间') && /^2025-03-0\d \d\d:\d\d:\d\d$/.test(v)) {
        // A real date cell: exceljs stores wall-clock time as if UTC.
        return new Date(`${v.replace(' ', 'T')}Z`);
      }
      if (v !== undefined && /^\d+(\.\d+)?$/.test(v) && !h.includes('编号') && h !== '行政区划')
        return Number(v);
      if (v !== undefined) v = v.replace(/^XSU/, 'XSX');
      return v ?? null;
    });
    ws.addRow(cells);
  }
  const file = join(dir, 'sales.xlsx');
  await wb.xlsx.writeFile(file);
  const r = await run([file, '--feed', 'sales', '--json']);
  assert.is(r.code, 0, r.err);
  const { rejectedLines: _lines, ...summary } = JSON.parse(r.out);
  assert.equal(
    { ...summary, rejected: sorted(summary.rejected) },
    { ...EXPECTED, rejected: sorted(EXPECTED.rejected) },
  );
});

test('usage errors and unreadable files (INPUT_INVALID) exit 2 with a message', async () => {
  assert.is((await run(['x.csv'])).code, 2, 'missing --feed');
  assert.is((await run(['x.csv', '--feed', 'nope'])).code, 2);
  const r = await run([join(dir, 'missing.csv'), '--feed', 'sales']);
  assert.is(r.code, 2);
  assert.match(r.err, /ENOENT/);
});

test.run();
