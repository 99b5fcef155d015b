import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { simulate, startSimulator } from '../../../infra/simulator/index.ts';
import { FEEDS, topicOf } from '../../../pipelines/contracts/types.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { startIngestWorkers, type IngestWorkers } from '../../../pipelines/ingest/worker.ts';
import { eventually, testRuntime } from '../../helpers/runtime.ts';

const test = suite('infra/simulator (kafka)');
let rt: Runtime;
let workers: IngestWorkers;

test.before(async () => {
  rt = await testRuntime({ broker: 'kafka', cache: 'mock' });
  await rt.broker.createTopics(feedTopics(rt));
  workers = await startIngestWorkers(rt);
});
test.after(async () => {
  await workers?.stop();
  if (rt) {
    await rt.broker.deleteTopics(feedTopics(rt).map((t) => t.topic)).catch(() => undefined);
    await rt.close();
  }
});

const ends = async (topic: string) =>
  (await rt.broker.lag('nobody', rt.topic(topic))).reduce((a, p) => a + Number(p.end), 0);

test('an accelerated hour of traffic: every good record on its canonical topic, every bad one on the DLQ, duplicates counted', async () => {
  const opts = {
    seed: 11,
    badShare: 0.05,
    dupShare: 0.03,
    startTime: Math.floor((Date.now() - 3600_000) / 60_000) * 60_000,
  };
  const sim = startSimulator(rt, { ...opts, speed: 36_000, intervalMs: 50 });
  await sim.start();
  await eventually(() => sim.now() >= Date.now() - 120_000, { what: 'simulated clock to catch up' });
  await sim.stop();
  const events = simulate(opts, sim.now());
  const produced = Object.values(sim.produced()).reduce((a, b) => a + b, 0);
  assert.is(produced, events.length, 'the runner produced exactly what the generator made');
  const good = (f: string) => events.filter((e) => e.feed === f && e.kind === 'good').length;
  const bad = events.filter((e) => e.kind === 'bad').length;
  const dups = events.filter((e) => e.kind === 'dup').length;
  assert.ok(bad > 0 && dups > 0);
  await eventually(
    async () => {
      for (const f of FEEDS) if ((await ends(topicOf.canonical(f))) < good(f)) return false;
      return (await ends(topicOf.dlq)) >= bad;
    },
    { timeoutMs: 40_000, what: 'all records through ingest' },
  );
  for (const f of FEEDS) assert.is(await ends(topicOf.canonical(f)), good(f), f);
  assert.is(await ends(topicOf.dlq), bad);
  const d = await rt.metrics.duplicates.get();
  assert.is(
    d.values.reduce((a, v) => a + v.value, 0),
    dups,
  );
});

test.run();
