/**
 * A restart of the simulator goes on where the last run stopped (its checkpoint
 * in the database) instead of replaying its past: the two runs together produce
 * exactly what one uninterrupted run would, each record once. In-process broker,
 * embedded TimescaleDB over the wire.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { loadSimulatorCheckpoint, simulate, startSimulator } from '../../../infra/simulator/index.ts';
import { FEEDS, topicOf } from '../../../pipelines/contracts/types.ts';
import { eventually, testRuntime } from '../../helpers/runtime.ts';

const test = suite('infra/simulator resume (db)');
let rt: Runtime;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
});

async function rawRecords(n: number): Promise<string[]> {
  const values: string[] = [];
  const c = rt.broker.consumer({
    groupId: 'reader',
    topics: FEEDS.map((f) => rt.topic(topicOf.raw(f))),
    fromBeginning: true,
    maxBatchSize: 10_000,
  });
  await c.run(async (b) => {
    for (const r of b.records) values.push(r.value.toString('utf8'));
  });
  try {
    await eventually(() => values.length >= n, { timeoutMs: 20_000, what: `${n} raw records` });
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await c.stop();
  }
  return values;
}

test('stopped and started again, the simulator resumes at its checkpoint: each record produced once, as one run would', async () => {
  const opts = { seed: 5, badShare: 0.02, dupShare: 0.02 };
  const startTime = Math.floor((Date.now() - 3 * 3600_000) / 60_000) * 60_000;
  // First run: an hour of simulated time per wall second, stopped half-way through its past.
  const a = startSimulator(rt, { ...opts, startTime, resume: true, speed: 3600, intervalMs: 20 });
  await a.start();
  await eventually(() => a.now() >= startTime + 3600_000, { what: 'first run to advance an hour' });
  await a.stop();
  const stoppedAt = a.now();
  assert.is(
    (await loadSimulatorCheckpoint(rt, opts.seed))?.tick,
    stoppedAt / 60_000,
    'checkpoint at the stop',
  );
  // A restart as `start` makes it: no start time given.
  const b = startSimulator(rt, { ...opts, speed: 3600, intervalMs: 20 });
  await b.start();
  assert.ok(
    b.now() === stoppedAt,
    `resumed at ${new Date(b.now()).toISOString()}, stopped at ${new Date(stoppedAt).toISOString()}`,
  );
  await eventually(() => b.now() >= Date.now() - 5 * 60_000, {
    timeoutMs: 20_000,
    what: 'second run to catch up',
  });
  await b.stop();
  const expected = simulate({ ...opts, startTime }, b.now()).map((e) =>
    typeof e.raw === 'string' ? e.raw : JSON.stringify(e.raw),
  );
  const got = await rawRecords(expected.length);
  assert.is(got.length, expected.length, 'as many records as one uninterrupted run');
  assert.equal([...got].sort(), [...expected].sort());
  const ids = got.map((v) => /"(?:销售编号|saleId)":"([^"]+)"/.exec(v)?.[1]).filter(Boolean);
  const dupShareOk = ids.length - new Set(ids).size;
  // Only the generator's own re-sent duplicates repeat an id (dupShare 2 %), never a whole replayed stretch.
  assert.ok(dupShareOk < ids.length * 0.05, `${dupShareOk} repeated sale ids of ${ids.length}`);
});

test.run();
