/**
 * Embedded mode: a start replays only the outbox rows not yet consumed by the
 * indicator workers (the consumed mark), not the whole retained history.
 * In-process broker, embedded TimescaleDB over the wire.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { ingestRecords } from '../../../pipelines/ingest/ingest.ts';
import { createOutboxMark, readOutboxMark } from '../../../pipelines/ingest/outbox-mark.ts';
import { replayOutbox } from '../../../pipelines/ingest/outbox.ts';
import { ensureFeedTopics } from '../../../pipelines/ingest/topics.ts';
import {
  INDICATOR_GROUP,
  startIndicatorWorkers,
  type IndicatorWorkers,
} from '../../../pipelines/indicators/runner.ts';
import { eventually, testRuntime } from '../../helpers/runtime.ts';
import { SAMPLES } from './samples.ts';

const test = suite('pipelines/ingest outbox mark (db)');
let rt: Runtime;
let workers: IndicatorWorkers | null = null;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  await ensureFeedTopics(rt);
});
test.after(async () => {
  await workers?.stop();
  await rt?.close();
});

const sales = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ ...SAMPLES.sales, 销售编号: `XS-MARK-${from + i}` }));

test('consumed rows move the mark; a start replays only the rows after it', async () => {
  const first = await ingestRecords(rt, 'sales', sales(0, 40), 'http');
  assert.is(first.summary.accepted, 40);
  workers = startIndicatorWorkers(rt, { publish: false, lagIntervalMs: 0 });
  await workers.start();
  await eventually(() => workers!.stats().records >= 40, { what: 'indicators to store the 40 sales' });
  const mark = createOutboxMark(rt, { groupId: rt.topic(INDICATOR_GROUP) });
  const maxId = String((await rt.db.query('SELECT max(id) AS id FROM ingest_outbox')).rows[0].id);
  await eventually(async () => (await mark.tick()) === maxId, {
    what: 'the mark to reach the last consumed row',
  });
  assert.is(await readOutboxMark(rt.db), maxId);
  // A restart now has nothing to replay (it had 40 before the mark existed).
  assert.is(await replayOutbox(rt, { all: true }), 40);
  assert.is(await replayOutbox(rt), 0);

  // Rows accepted while no indicator worker stores them are not marked, and are replayed at the next start.
  await workers.stop();
  workers = null;
  await ingestRecords(rt, 'sales', sales(100, 15), 'http');
  for (let i = 0; i < 3; i++) await mark.tick();
  assert.is(await readOutboxMark(rt.db), maxId, 'mark unmoved while the new rows are not consumed');
  assert.is(await replayOutbox(rt), 15);
});

test.run();
