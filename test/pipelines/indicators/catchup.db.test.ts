/**
 * Catching up: while the consumer is far behind its partitions' ends, the
 * publisher holds its rounds back (one per `catchUpPublishIntervalMs`), so a
 * replay's intermediate values are not republished batch after batch; once
 * caught up it publishes at once. In-process broker, embedded TimescaleDB over the wire.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, testRuntime } from '../../helpers/runtime.ts';
import { createFeedSerde } from '../../../pipelines/contracts/serde.ts';
import { topicOf, type SaleRecord } from '../../../pipelines/contracts/types.ts';
import { startIndicatorWorkers, type IndicatorWorkerOptions } from '../../../pipelines/indicators/runner.ts';
import { buildFixture } from './fixture.ts';

const SALES = buildFixture().filter((p) => p.feed === 'sales');
const COPIES = Math.ceil(1500 / SALES.length);

/** Consumes ~1500 sales in batches of 50; returns the publication rounds seen while consuming and after. */
async function run(opts: IndicatorWorkerOptions) {
  const rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  const w = startIndicatorWorkers(rt, {
    lagIntervalMs: 0,
    publishKafka: false,
    maxBatchSize: 50,
    concurrency: 1,
    commitLingerMs: 0,
    publishDerivedIntervalMs: 100,
    ...opts,
  });
  try {
    const topic = rt.topic(topicOf.canonical('sales'));
    await rt.broker.createTopics([{ topic }]);
    const serde = createFeedSerde(rt);
    const msgs: { key: string; value: Buffer }[] = [];
    for (let c = 0; c < COPIES; c++) {
      for (const p of SALES) {
        const r = {
          ...(p.record as SaleRecord),
          recordId: `${p.record.recordId}-c${c}`,
          saleId: `${(p.record as SaleRecord).saleId}-c${c}`,
        };
        msgs.push({ key: p.key, value: await serde.encode('sales', r) });
      }
    }
    await rt.broker.produce(topic, msgs);
    await w.start();
    await eventually(() => w.stats().records >= msgs.length, {
      timeoutMs: 120_000,
      intervalMs: 20,
      what: 'all records stored',
    });
    const whileConsuming = w.stats().rounds;
    const t0 = Date.now();
    await w.idle({ timeoutMs: 60_000 });
    const keys = await rt.redis.keys(`coalflow:${rt.prefix}latest:*`);
    return {
      records: msgs.length,
      whileConsuming,
      after: w.stats().rounds - whileConsuming,
      idleMs: Date.now() - t0,
      redisKeys: keys.length,
    };
  } finally {
    await w.stop();
    await rt.close();
  }
}

test('far behind, the publisher holds its rounds back; caught up, it publishes everything at once', async () => {
  const held = await run({ catchUpLagRecords: 200, catchUpPublishIntervalMs: 60_000 });
  const eager = await run({ catchUpLagRecords: 0 });
  assert.ok(held.records >= 1500, `records ${held.records}`);
  // Before the lag is known a round of each lane may run; then none until caught up.
  assert.ok(held.whileConsuming <= 2, `rounds while catching up: ${held.whileConsuming}`);
  assert.ok(
    eager.whileConsuming > held.whileConsuming + 2,
    `without the hold-off: ${eager.whileConsuming} rounds while consuming`,
  );
  // Caught up: published without waiting for the (minute-long) interval.
  assert.ok(held.after >= 1 && held.idleMs < 30_000, `after: ${held.after} rounds in ${held.idleMs} ms`);
  assert.ok(
    held.redisKeys > 50 && held.redisKeys === eager.redisKeys,
    `redis keys ${held.redisKeys} vs ${eager.redisKeys}`,
  );
});

test.run();
