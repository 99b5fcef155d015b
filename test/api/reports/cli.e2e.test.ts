/**
 * `coalflow report` on the embedded default (no service configured): prints the paths it wrote; bad input
 * exits 2 with a bilingual message.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../..', import.meta.url).pathname;
const test = suite('api/reports/cli (e2e)');
const dir = mkdtempSync(join(tmpdir(), 'coalflow-report-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const env = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  LOG_LEVEL: 'warn',
  COALFLOW_DATA_DIR: join(dir, 'pglite'),
  ...extra,
});
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'report', ...args], {
    cwd: root,
    env: env(),
    encoding: 'utf8',
    timeout: 180_000,
  });

test('report --period month --date 2026-10 writes the requested formats and prints their paths', () => {
  const out = join(dir, 'out');
  const r = run(['--period', 'month', '--date', '2026-10', '--format', 'json,xlsx,html', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const paths = r.stdout.trim().split('\n');
  assert.is(paths.length, 3);
  for (const p of paths) assert.ok(existsSync(p), p);
  const json = JSON.parse(
    readFileSync(
      paths.find((p) => p.endsWith('.json'))!,
      'utf8',
    ),
  );
  assert.is(json.meta.key, '2026-10');
  assert.match(json.meta.title, '鄂尔多斯市煤炭月报');
  assert.match(paths[0]!, /coalflow-month-2026-10-v1\./);
  // A second run is the next version of the same period.
  const again = run(['--period', 'month', '--date', '2026-10', '--format', 'json', '--out', out]);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, 'coalflow-month-2026-10-v2.json');
});

test('bad input exits 2 and says why in Chinese and English', () => {
  const r = run(['--period', 'quarter', '--date', '2026-10']);
  assert.is(r.status, 2);
  assert.match(r.stderr, 'INPUT_INVALID');
  assert.match(r.stderr, 'period must be one of');
  const f = run(['--period', 'day', '--date', '2026-10-05', '--format', 'docx']);
  assert.is(f.status, 2);
  assert.match(f.stderr, 'format must be one of');
});

test.run();
