/**
 * The error codes: one typed table (`ERROR_CODES`), the README's table says the same both ways, and no route
 * builds an error body by hand (they throw; api/errors.ts renders).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../infra/core/errors.ts';

const root = new URL('../..', import.meta.url).pathname;

function readmeTable(): Map<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Error codes');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 5));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([A-Z_]+)`\s*\|\s*([^|]*)\|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

test("every code in ERROR_CODES is in the README's table with its HTTP status, and nothing else is", () => {
  const rows = readmeTable();
  const codes = Object.keys(ERROR_CODES);
  assert.equal(
    codes.filter((c) => !rows.has(c)),
    [],
    'codes missing from the README',
  );
  assert.equal(
    [...rows.keys()].filter((c) => !(c in ERROR_CODES)),
    [],
    'README codes unknown to ERROR_CODES',
  );
  for (const [code, status] of Object.entries(ERROR_CODES))
    assert.is(rows.get(code), status === null ? '' : String(status), code);
});

function walk(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'dist') return [];
    return statSync(join(root, p)).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('no route or hook builds an error body by hand', () => {
  const handMade = /\.send\(\s*\{\s*error\s*:|\bcode:\s*'[A-Z][A-Z_]+',\s*message:/;
  const offenders = [...walk('api'), ...walk('infra')].filter(
    (f) =>
      !f.startsWith('infra/bench/') &&
      f !== 'api/errors.ts' &&
      handMade.test(readFileSync(join(root, f), 'utf8')),
  );
  assert.equal(offenders, []);
});

test.run();
