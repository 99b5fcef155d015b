import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildRuntime } from '../../../infra/compose.ts';
import { loadConfig } from '../../../infra/core/config.ts';
import { createLogger } from '../../../infra/core/log.ts';
import { topicOf } from '../../../pipelines/contracts/types.ts';
import { replayOutbox } from '../../../pipelines/ingest/outbox.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';

const test = suite('pipelines/import cli (embedded default, no environment)');
const ROOT = new URL('../../../', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/fixtures/sales_utf8.csv');
const run = promisify(execFile);
let dir: string;

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'coalflow-embedded-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

// Only PATH and the data directory: no Kafka, database or Redis configured.
const env = () => ({ PATH: process.env.PATH ?? '', COALFLOW_DATA_DIR: dir });
const importOnce = async () => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'infra/cli.ts', 'import', FIXTURE, '--feed', 'sales', '--json'],
    { cwd: ROOT, env: env(), timeout: 60_000 },
  );
  return JSON.parse(stdout) as { accepted: number; duplicates: number; rejected: Record<string, number> };
};

test('import on the embedded default persists dedupe and an outbox that start replays', async () => {
  const first = await importOnce();
  assert.is(first.accepted, 10);
  assert.is(first.duplicates, 2);
  assert.is(
    Object.values(first.rejected).reduce((a, b) => a + b, 0),
    9,
  );
  const second = await importOnce();
  assert.is(second.accepted, 0, 'dedupe survived the process');
  assert.is(second.duplicates, 12);

  const rt = await buildRuntime(loadConfig(env()), { log: createLogger({ level: 'warn' }) });
  try {
    await rt.broker.createTopics(feedTopics(rt));
    assert.is(await replayOutbox(rt), 10);
    const lag = await rt.broker.lag('nobody', rt.topic(topicOf.canonical('sales')));
    assert.is(
      lag.reduce((a, p) => a + Number(p.end), 0),
      10,
    );
  } finally {
    await rt.close();
  }
});

test.run();
