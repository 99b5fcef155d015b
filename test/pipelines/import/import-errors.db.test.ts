import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { importCli } from '../../../pipelines/import/cli.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('pipelines/import: failures say why, rejects name their lines and are stored once');
const FIXTURE = join(new URL('../../../', import.meta.url).pathname, 'test/fixtures/sales_utf8.csv');
let rt: Runtime;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
});

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await importCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    runtime: rt,
  });
  return { code, stdout, stderr };
}
const rejectCount = async () =>
  (await rt.db.query(`SELECT count(*)::int AS n FROM ingest_rejects`)).rows[0].n as number;

test('a wrong --feed rejects every row: exit 2 with the reason', async () => {
  const r = await cli([FIXTURE, '--feed', 'rail', '--json']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /INPUT_INVALID.*全部 21 行均被拒收.*--feed.*\/ all 21 rows rejected/);
});

test('the summary gives the line numbers of rejects; importing again stores no reject twice', async () => {
  const before = await rejectCount();
  const first = await cli([FIXTURE, '--feed', 'sales', '--json']);
  assert.is(first.code, 0, first.stderr);
  const s = JSON.parse(first.stdout) as {
    rejected: Record<string, number>;
    rejectedLines: Record<string, number[]>;
  };
  for (const [reason, n] of Object.entries(s.rejected)) {
    assert.is(s.rejectedLines[reason]!.length, n, reason);
    for (const line of s.rejectedLines[reason]!) assert.ok(line >= 2 && line <= 22, `${reason} line ${line}`);
  }
  const stored = await rejectCount();
  assert.is(
    stored - before,
    Object.values(s.rejected).reduce((a, b) => a + b, 0),
  );
  const human = await cli([FIXTURE, '--feed', 'sales']);
  assert.is(human.code, 0);
  assert.match(human.stdout, /行 lines \d+/);
  assert.is(await rejectCount(), stored, 'rejects of a re-imported file are not stored again');
});

test('a missing file is INPUT_INVALID: exit 2', async () => {
  const r = await cli([join(FIXTURE, '..', 'nope.csv'), '--feed', 'sales']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /INPUT_INVALID/);
});

test.run();
