import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { TEST_REDIS, uniq } from '../helpers/runtime.ts';
import { createMetrics } from '../../infra/core/metrics.ts';
import {
  createLatestReader,
  createRedisSink,
  readLatest,
  redisKeys,
} from '../../pipelines/indicators/snapshots.ts';
import type { IndicatorPoint } from '../../pipelines/indicators/model.ts';

const test = suite('sinks/redis (redis)');
const prefix = `${uniq('test')}.`;
const redis = new Redis(TEST_REDIS, { lazyConnect: true });
const sink = createRedisSink({ redis, metrics: createMetrics(), config: { topicPrefix: prefix } as never });
const p = (over: Partial<IndicatorPoint>): IndicatorPoint => ({
  family: 'sales',
  metric: 'volume_t',
  scope: 'mine',
  scopeId: 'M1',
  window: 'day',
  windowStart: 1000,
  value: 1,
  unit: 't',
  n: 1,
  contributors: null,
  topShare: null,
  ...over,
});

test.before(async () => {
  await redis.connect();
});
test.after(async () => {
  const keys = await redis.keys(`coalflow:${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

test('latest keeps the newest window, then the highest version of it', async () => {
  await sink.write([p({ windowStart: 2000, value: 2 })], { version: 5 });
  await sink.write([p({ windowStart: 1000, value: 1 })], { version: 9 }); // a late update of an older window
  let [e] = await readLatest(redis, prefix, 'sales', 'mine', 'M1');
  assert.is(e!.value, 2);
  await sink.write([p({ windowStart: 2000, value: 3 })], { version: 4 }); // a stale snapshot of the same window
  [e] = await readLatest(redis, prefix, 'sales', 'mine', 'M1');
  assert.is(e!.value, 2);
  await sink.write([p({ windowStart: 2000, value: 4 })], { version: 6 });
  [e] = await readLatest(redis, prefix, 'sales', 'mine', 'M1');
  assert.is(e!.value, 4);
  assert.is(e!.version, 6);
});

test('one batch with several windows of a series keeps the newest; entities are indexed', async () => {
  await sink.write(
    [
      p({ scopeId: 'M2', windowStart: 3000, value: 30 }),
      p({ scopeId: 'M2', windowStart: 1000, value: 10 }),
      p({ scopeId: 'M2', metric: 'count', value: 7 }),
    ],
    { version: 1 },
  );
  const all = await readLatest(redis, prefix, 'sales', 'mine');
  assert.equal([...new Set(all.map((x) => x.scopeId))].sort(), ['M1', 'M2']);
  const m2 = all.filter((x) => x.scopeId === 'M2');
  assert.is(m2.find((x) => x.metric === 'volume_t')!.value, 30);
  assert.is(m2.find((x) => x.metric === 'count')!.value, 7);
});

test('each family gets one live message per batch', async () => {
  const sub = redis.duplicate();
  const got: string[] = [];
  sub.on('message', (_c, m) => got.push(m));
  await sub.subscribe(redisKeys(prefix).live('price'));
  await sink.write(
    [
      p({ family: 'price', metric: 'vwap_yuan_per_t' }),
      p({ family: 'price', metric: 'vwap_yuan_per_t', scopeId: 'M9' }),
    ],
    { version: 2 },
  );
  for (let i = 0; i < 50 && !got.length; i++) await new Promise((r) => setTimeout(r, 20));
  sub.disconnect();
  assert.is(got.length, 1);
  assert.is(JSON.parse(got[0]!).points.length, 2);
});

test('on an auto-pipelined connection, a first read in the same tick as other commands neither fails nor kills the process', async () => {
  // Each read on a new connection: its scripts are unknown to the process, as after a start.
  for (let round = 0; round < 5; round++) {
    const auto = new Redis(TEST_REDIS, { enableAutoPipelining: true });
    const crashed: unknown[] = [];
    const onCrash = (err: unknown) => crashed.push(err);
    process.on('uncaughtException', onCrash);
    try {
      await sink.write([p({ scopeId: `AP${round}`, value: round })], { version: 1, live: false });
      const read = createLatestReader(auto, prefix);
      const [pong, entries, again] = await Promise.all([
        auto.ping(),
        read('sales', 'mine', `AP${round}`),
        auto.get(`coalflow:${prefix}gen:sales`),
      ]);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(crashed, [], 'no exception outside the promises');
      assert.is(pong, 'PONG');
      assert.is(entries.length, 1);
      assert.is(entries[0]!.value, round);
      assert.ok(Number(again) > 0);
    } finally {
      process.off('uncaughtException', onCrash);
      auto.disconnect();
    }
  }
});

test('a latest reader keeps what it read until the family changes, and then reads the change', async () => {
  const read = createLatestReader(redis, prefix);
  await sink.write([p({ scopeId: 'R1', value: 10, windowStart: 5000 })], { version: 1 });
  const a = await read('sales', 'mine', 'R1');
  assert.is(a[0]!.value, 10);
  // Unchanged family: the same entries (parsed once).
  assert.is(await read('sales', 'mine', 'R1'), a);
  // Another family moves: sales entries stay the ones already read.
  await sink.write([p({ family: 'price', metric: 'vwap_yuan_per_t', scopeId: 'R1' })], { version: 2 });
  assert.is(await read('sales', 'mine', 'R1'), a);
  // A newer sales snapshot: read at once, never stale.
  await sink.write([p({ scopeId: 'R1', value: 11, windowStart: 6000 })], { version: 3 });
  const b = await read('sales', 'mine', 'R1');
  assert.is.not(b, a);
  assert.is(b[0]!.value, 11);
  // A write that moves nothing (an older window) keeps the generation.
  await sink.write([p({ scopeId: 'R1', value: 1, windowStart: 10 })], { version: 4 });
  assert.is(await read('sales', 'mine', 'R1'), b);
  // The scope's list (all ids) is read the same way, sorted by id.
  const all = await read('sales', 'mine');
  const ids = all.map((e) => e.scopeId);
  assert.equal(ids, [...ids].sort());
  assert.ok(new Set(ids).size >= 2);
  assert.ok(all.some((e) => e.scopeId === 'R1' && e.value === 11));
});

test.run();
