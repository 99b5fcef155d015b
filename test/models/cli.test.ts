import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { forecastCli } from '../../models/cli.ts';
import { parseSeriesCsv } from '../../models/csv.ts';

import { fileURLToPath } from 'node:url';

// The public series live beside the repository (CI clones it next to a copy of shared/).
const REAL = fileURLToPath(new URL('../../../shared/data/real-series/', import.meta.url));
const HAVE_REAL = existsSync(REAL);
if (!HAVE_REAL) console.log(`  skipped real-series CLI tests: no ${REAL} (跳过：未找到公开真实序列)`);
const dir = mkdtempSync(join(tmpdir(), 'coalflow-forecast-cli-'));

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await forecastCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

const monthly = (n: number, from = 2015) =>
  Array.from(
    { length: n },
    (_, i) =>
      `${from + Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')},${(100 + 10 * Math.sin(i / 2) + i).toFixed(2)}`,
  );

test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const [name, frequency, horizon, lastDate, models] of [
  ['worldbank_coal_australia_newcastle_monthly.csv', 'month', 12, '2025-11-01', undefined],
  ['worldbank_coal_colombia_monthly.csv', 'month', 6, '2018-05-01', 'naive,snaive,holt_winters,regression'],
  ['worldbank_coal_south_africa_monthly.csv', 'month', 12, '2025-11-01', 'holt_winters,regression'],
  ['eia_us_coal_production_weekly.csv', 'week', 13, '2020-12-05', undefined],
] as const) {
  if (!HAVE_REAL) continue;
  test(`real series ${name}: valid JSON, ${frequency}, ${horizon} points`, async () => {
    const args = ['forecast', '--input', join(REAL, name), '--horizon', String(horizon)];
    if (models) args.push('--models', models);
    const r = await run(args);
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.is(out.frequency, frequency);
    assert.is(out.trainedTo, lastDate);
    assert.is(out.points.length, horizon);
    assert.ok(out.points[0].date > lastDate);
    for (const p of out.points) {
      assert.equal(Object.keys(p), ['date', 'value', 'lo80', 'hi80', 'lo95', 'hi95']);
      assert.ok(p.lo95 <= p.lo80 && p.lo80 <= p.value && p.value <= p.hi80 && p.hi80 <= p.hi95);
      assert.ok(p.lo95 >= 0, 'prices and tonnages are never negative');
    }
    for (const b of out.backtest) {
      assert.type(b.model, 'string');
      assert.ok(b.mase === null || (typeof b.mase === 'number' && b.mase >= 0));
      assert.ok(b.smape === null || (b.smape >= 0 && b.smape <= 200));
    }
    assert.ok(out.backtest.some((b: { model: string }) => b.model === out.model));
    assert.ok(out.coverage.p80 >= 0 && out.coverage.p80 <= 1 && out.coverage.p95 >= out.coverage.p80);
    if (models === undefined) assert.is(out.backtest.length, 8);
    assert.ok(out.selection === 'model' || out.selection === 'benchmark');
  });
}

if (HAVE_REAL)
  test('EIA year,week,short_tons header is read as week-ending dates', async () => {
    const csv = parseSeriesCsv(await readFile(join(REAL, 'eia_us_coal_production_weekly.csv')));
    assert.is(csv.valueColumn, 'short_tons');
    assert.equal(csv.points[0], { date: '1984-01-07', value: 12791946 });
    assert.is(csv.lines[0], 2);
  });

test('accepts headers in Chinese, slashes, ISO date-times, no header, GBK, tabs and thousands separators', async () => {
  const rows = monthly(60);
  const variants: [string, string | Buffer][] = [
    ['zh.csv', `日期,数值\n${rows.map((r) => r.replace(/^(\d{4})-0?(\d+)/, '$1/$2/1')).join('\n')}\n`],
    [
      'iso.csv',
      `timestamp,value\n${rows.map((r) => r.replace(/^(\d{4}-\d{2})/, '$1-01T00:00:00Z')).join('\n')}\n`,
    ],
    ['noheader.csv', `${rows.join('\n')}\n`],
    ['gbk.csv', iconv.encode(`月份,产量（万吨）\n${rows.join('\n')}\n`, 'gbk')],
    ['tabs.tsv', `date\tvalue\n${rows.map((r) => r.replace(',', '\t')).join('\n')}\n`],
    [
      'thousands.csv',
      `date,value\n${rows
        .map((r) => {
          const [d, v] = r.split(',');
          return `${d},"${Math.round(Number(v) * 1000).toLocaleString('en-US')}"`;
        })
        .join('\n')}\n`,
    ],
  ];
  for (const [name, content] of variants) {
    const r = await run(['--input', file(name, content), '--models', 'naive,holt_winters', '--horizon', '6']);
    assert.is(r.code, 0, `${name}: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    assert.is(out.frequency, 'month', name);
    assert.is(out.points.length, 6, name);
    assert.is(out.trainedFrom, '2015-01-01', name);
  }
});

test('malformed input: exit 2 with line number and reason in Chinese and English', async () => {
  const rows = monthly(60);
  const withRow = (i: number, row: string) =>
    ['date,value', ...rows.slice(0, i), row, ...rows.slice(i)].join('\n');
  const cases: [string, string, RegExp][] = [
    ['bad-value.csv', withRow(5, '2019-06,abc'), /第 7 行: 数值无效 "abc" \/ line 7: invalid value "abc"/],
    [
      'bad-date.csv',
      withRow(3, '2015-13,5'),
      /第 5 行: 日期无效 "2015-13" \/ line 5: invalid date "2015-13"/,
    ],
    ['missing-value.csv', withRow(3, '2030-01,'), /第 5 行: 数值缺失 \/ line 5: missing value/],
    [
      'unsorted.csv',
      withRow(10, '2015-02,5'),
      /第 12 行: .*line 12: duplicate date 2015-02-01 \(same as line 3\)/,
    ],
    [
      'descending.csv',
      ['date,value', '2015-03,1', '2015-02,2', ...rows.slice(3)].join('\n'),
      /第 3 行: 日期未按升序排列.*line 3: dates not in ascending order: 2015-02-01 comes after 2015-03-01 on line 2/,
    ],
    [
      'too-few.csv',
      ['date,value', ...rows.slice(0, 20)].join('\n'),
      /数据点太少.*too few points: a horizon of 12 needs at least 21 points, got 20/,
    ],
    ['one-column.csv', 'date\n2015-01\n2015-02', /missing value column|only one column/],
    ['empty.csv', '', /文件为空 \/ the file is empty/],
    ['quotes.csv', 'date,value\n2015-01,1\n2015-02,"2\n', /line \d+: malformed CSV/],
    [
      'quarterly.csv',
      [
        'date,value',
        ...Array.from(
          { length: 40 },
          (_, i) => `${2000 + Math.floor(i / 4)}-${String(1 + 3 * (i % 4)).padStart(2, '0')},${i}`,
        ),
      ].join('\n'),
      /cannot detect frequency: median spacing 9\d days/,
    ],
  ];
  for (const [name, content, re] of cases) {
    const r = await run(['--input', file(name, content)]);
    assert.is(r.code, 2, `${name}: ${r.stderr}`);
    assert.is(r.stdout, '', name);
    assert.match(r.stderr, re, name);
  }
});

test('usage errors: exit 2', async () => {
  const ok = file('ok.csv', ['date,value', ...monthly(60)].join('\n'));
  const cases: [string[], RegExp][] = [
    [['--input', join(dir, 'nope.csv')], /文件不存在: .*nope\.csv \/ file not found: .*nope\.csv/],
    [[], /missing --input/],
    [['--input', ok, '--horizon', 'abc'], /invalid --horizon "abc"/],
    [['--input', ok, '--horizon', '0'], /invalid --horizon "0"/],
    [['--input', ok, '--frequency', 'year'], /invalid --frequency "year"/],
    [['--input', ok, '--frequency', 'day'], /frequency day does not match the data/],
    [['--input', ok, '--models', 'naive,prophet'], /unknown model "prophet"/],
    [['--input', ok, '--bogus'], /bad arguments/],
    [['--input', dir], /not a file/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const help = await run(['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /usage: coalflow forecast --input/);
});

test.run();
