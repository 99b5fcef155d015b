/**
 * `coalflow import` with hostile files: empty, BOM only, header only, UTF-16 with BOM, mixed UTF-8/GB18030,
 * invalid sequences, random bytes, a CSV broken half-way, malformed and truncated XLSX, an XLSX zip bomb, a 100 MB
 * file, a 5 MB field, formula-like values. Each failure is a clear INPUT_INVALID (exit 2) and leaves every table as
 * it was (nothing half-written); refusing the 100 MB file and the zip bomb costs no memory; formula-like values are
 * stored as the text they are.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import iconv from 'iconv-lite';
import type { Runtime } from '../../../infra/compose.ts';
import { importCli } from '../../../pipelines/import/cli.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('pipelines/import: hostile files');
const ROOT = new URL('../../../', import.meta.url).pathname;
const UTF8 = readFileSync(path.join(ROOT, 'test/fixtures/sales_utf8.csv'), 'utf8').replace(/^\uFEFF/, '');
const MB = 1024 * 1024;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'coalflow-hostile-files-'));
let rt: Runtime;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function cli(file: string, ...extra: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await importCli([file, '--feed', 'sales', '--json', ...extra], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    runtime: rt,
  });
  return { code, stdout, stderr };
}

/** Row counts of every table: a failed import must leave them all as they were. */
async function tables(): Promise<Record<string, number>> {
  const names = await rt.db.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  // One statement for all of them (a round trip per table made the suite slow on a busy machine).
  const sql = (names.rows as { table_name: string }[])
    .map(({ table_name: t }) => `SELECT '${t}' AS t, count(*)::int AS n FROM "${t}"`)
    .join(' UNION ALL ');
  const out: Record<string, number> = {};
  for (const r of (await rt.db.query(sql)).rows as { t: string; n: number }[]) out[r.t] = Number(r.n);
  return out;
}

function file(name: string, content: Buffer | string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, content);
  return p;
}

/** A refusal: exit 2, INPUT_INVALID with a Chinese then English message matching `re`, and no table changed. */
async function refusedWhole(p: string, re: RegExp): Promise<string> {
  const before = await tables();
  const r = await cli(p);
  assert.is(r.code, 2, `${path.basename(p)}: exit ${r.code} ${r.stderr}`);
  assert.match(r.stderr, /INPUT_INVALID/, r.stderr);
  assert.match(r.stderr, re, r.stderr);
  assert.match(r.stderr, /[^\x00-\x7f].*\/ [A-Za-z]/, `${path.basename(p)}: Chinese then English`);
  assert.equal(await tables(), before, `${path.basename(p)} changed a table`);
  return r.stderr;
}

/** A minimal zip (stored names, deflated data) of the given entries. */
function zip(entries: { name: string; data: Buffer; declaredSize?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const packed = zlib.deflateRawSync(e.data);
    const crc = zlib.crc32(e.data);
    const size = e.declaredSize ?? e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += 30 + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

test('empty, BOM-only and header-only files: INPUT_INVALID, nothing written', async () => {
  await refusedWhole(file('empty.csv', ''), /文件为空.*the file is empty/);
  await refusedWhole(file('bom.csv', '\uFEFF'), /文件为空.*the file is empty/);
  await refusedWhole(file('bom16.csv', Buffer.from([0xff, 0xfe])), /文件为空.*the file is empty/);
  await refusedWhole(file('empty.xlsx', ''), /文件为空.*the file is empty/);
  const header = UTF8.split('\n')[0]!;
  await refusedWhole(file('header.csv', `\uFEFF${header}\r\n`), /只有表头.*header and no rows/);
  await refusedWhole(file('header-gb.csv', iconv.encode(`${header}\n\n\n`, 'gb18030')), /只有表头/);
});

test('UTF-16 with a BOM (LE, tab-separated, and BE) imports like the UTF-8 file', async () => {
  const tsv = UTF8.split('\n')
    .map((l) => l.replace(/,/g, '\t'))
    .join('\r\n');
  const utf8 = await cli(file('utf8.csv', UTF8), '--batch', '7');
  assert.is(utf8.code, 0, utf8.stderr);
  const expected = JSON.parse(utf8.stdout) as { accepted: number; duplicates: number };
  assert.ok(expected.accepted > 5);
  // The same rows again: duplicates now, with the same counts of rejects, whatever the encoding.
  for (const [name, buf] of [
    ['le.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode(tsv, 'utf16le')])],
    ['be.csv', Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode(UTF8, 'utf16be')])],
  ] as const) {
    const r = await cli(file(name, buf));
    assert.is(r.code, 0, `${name}: ${r.stderr}`);
    const s = JSON.parse(r.stdout) as {
      accepted: number;
      duplicates: number;
      rejected: Record<string, number>;
    };
    assert.is(s.accepted, 0, name);
    assert.is(s.duplicates, expected.accepted + expected.duplicates, name);
  }
});

test('mixed encodings and invalid sequences: refused whole, naming the lines', async () => {
  const lines = UTF8.trimEnd().split('\n');
  // A UTF-8 header and first rows, then rows appended from a GB18030 export.
  const mixed = Buffer.concat([
    Buffer.from(`${lines.slice(0, 4).join('\n')}\n`),
    iconv.encode(`${lines.slice(4).join('\n')}\n`, 'gb18030'),
  ]);
  const msg = await refusedWhole(file('mixed.csv', mixed), /混用了编码.*mixes encodings/);
  assert.match(msg, /lines 1, 2, 3, 4 are UTF-8, lines 5,/);
  // A UTF-8 file with one invalid byte sequence in row 6.
  const broken = Buffer.from(`${lines.join('\n')}\n`);
  const at = broken.indexOf(Buffer.from(lines[5]!.slice(0, 10)));
  const bad = Buffer.concat([
    broken.subarray(0, at),
    Buffer.from([0xc3, 0x28, 0xe2, 0x82]),
    broken.subarray(at),
  ]);
  await refusedWhole(file('invalid.csv', bad), /混用了编码.*lines 6 are not/);
  // Naming the encoding decodes it that way: the GB18030 reading of UTF-8 rows is garbage, rejected per record.
  const forced = await cli(file('mixed2.csv', mixed), '--encoding', 'gb18030');
  assert.ok([0, 2].includes(forced.code), forced.stderr);
});

test('random bytes and a CSV broken half-way: refused, no accepted record', async () => {
  const seen = async () =>
    Number((await rt.db.query('SELECT count(*)::int AS n FROM ingest_seen')).rows[0].n);
  const s0 = await seen();
  const r = await cli(file('random.csv', randomBytes(MB)));
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /INPUT_INVALID/);
  assert.is(await seen(), s0, 'random bytes accepted as records');
  // Rows 2–5 are fine, row 6 opens a quote that never closes: the parse fails before anything is written.
  const lines = UTF8.trimEnd().split('\n');
  lines[5] = `"${lines[5]}`;
  await refusedWhole(file('unclosed.csv', `${lines.join('\n')}\n`), /CSV 解析失败.*cannot parse CSV/);
});

test('malformed, truncated and zip-bomb workbooks: refused before they are opened', async () => {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('销售');
  for (const l of UTF8.trimEnd().split('\n')) ws.addRow(l.split(','));
  const good = Buffer.from(await wb.xlsx.writeBuffer());
  await refusedWhole(
    file('garbage.xlsx', Buffer.concat([Buffer.from('PK'), randomBytes(4096)])),
    /损坏|cannot read/,
  );
  await refusedWhole(
    file('truncated.xlsx', good.subarray(0, Math.floor(good.length / 2))),
    /损坏|cannot read/,
  );
  await refusedWhole(
    file('nothing.xlsx', zip([{ name: 'hello.txt', data: Buffer.from('hello') }])),
    /cannot read workbook|worksheet \(first\) not found/,
  );
  // 200 MB of XML that deflates to ~200 kB.
  const sheet = Buffer.alloc(200 * MB, 0x20);
  const bomb = zip([
    { name: '[Content_Types].xml', data: Buffer.from('<Types/>') },
    { name: 'xl/worksheets/sheet1.xml', data: sheet },
  ]);
  assert.ok(bomb.length < 2 * MB, `bomb of ${bomb.length} bytes`);
  const p = file('bomb.xlsx', bomb);
  const rss0 = process.memoryUsage().rss;
  await refusedWhole(p, /解压后过大.*unpacks to 201 MB/);
  assert.ok(process.memoryUsage().rss - rss0 < 64 * MB, 'refusing the bomb unpacked it');
});

test('a 100 MB file is refused by its size before it is read', async () => {
  const p = path.join(tmp, 'huge.csv');
  writeFileSync(p, `${UTF8.split('\n')[0]}\n`);
  truncateSync(p, 100 * MB);
  const rss0 = process.memoryUsage().rss;
  await refusedWhole(p, /文件过大（100 MB，上限 64 MB）.*split it/);
  assert.ok(process.memoryUsage().rss - rss0 < 32 * MB, 'refusing the file read it');
});

test('a 5 MB field is a per-record reject; formula-like values are stored as text', async () => {
  const lines = UTF8.trimEnd().split('\n');
  const header = lines[0]!.split(',');
  const coal = header.findIndex((h) => /煤种/.test(h));
  const sid = header.findIndex((h) => /销售编号/.test(h));
  assert.ok(coal >= 0 && sid >= 0, header.join(','));
  const good = lines
    .slice(1)
    .find((l) => !/,,/.test(l))!
    .split(',');
  const FORMULAS = ["=cmd|' /C calc'!A0", '+1+1', '-2+3', '@SUM(A1:A9)', '=HYPERLINK("http://x","点")'];
  const rows = [
    ...FORMULAS.map((f, i) => {
      const c = [...good];
      c[coal] = `"${f.replace(/"/g, '""')}"`;
      c[sid] = `FX${i}${Date.now()}`;
      return c.join(',');
    }),
    (() => {
      const c = [...good];
      c[coal] = 'x'.repeat(5 * MB);
      c[sid] = `HUGE${Date.now()}`;
      return c.join(',');
    })(),
  ];
  const r = await cli(file('formula.csv', `${lines[0]}\n${rows.join('\n')}\n`));
  const s = JSON.parse(r.stdout) as {
    accepted: number;
    rejected: Record<string, number>;
    rejectedLines: Record<string, number[]>;
  };
  assert.is(s.rejectedLines.invalid_value?.includes(FORMULAS.length + 2), true, JSON.stringify(s));
  const stored = await rt.db.query(
    `SELECT reason, message FROM ingest_rejects WHERE reason = 'invalid_value' ORDER BY id DESC LIMIT 1`,
  );
  assert.match(stored.rows[0].message, /过长.*too long \(5242880 characters/);
  assert.is(s.accepted, FORMULAS.length, JSON.stringify(s));
  const out = await rt.db.query(`SELECT record FROM ingest_outbox WHERE record->>'saleId' LIKE 'FX%'`);
  const kept = out.rows.map((x) => (x.record as { coalType: string }).coalType).sort();
  assert.equal(kept, [...FORMULAS].sort(), 'formula-like values stored as the text they are');
});

test.run();
