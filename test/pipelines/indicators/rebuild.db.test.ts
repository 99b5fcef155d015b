/**
 * "Latest" after an emptied cache (ioredis-mock after a restart): rebuilt from
 * the store before the API answers, equal to what the publications had made,
 * and never older than a newer point already there. In-process broker,
 * embedded TimescaleDB over the wire.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { startSystem } from '../../../infra/system.ts';
import { createFeedSerde } from '../../../pipelines/contracts/serde.ts';
import { FEEDS, topicOf } from '../../../pipelines/contracts/types.ts';
import { rebuildLatest, saveLatest } from '../../../pipelines/indicators/rebuild.ts';
import { startIndicatorWorkers } from '../../../pipelines/indicators/runner.ts';
import { createRedisSink } from '../../../pipelines/indicators/snapshots.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { testKey } from '../../helpers/access.ts';
import { buildFixture } from './fixture.ts';

const test = suite('pipelines/indicators rebuild (db)');
let rt: Runtime & { prefix: string };

/** Every snapshot in the cache, without its version (a rebuild writes its own). */
async function snapshots(): Promise<Map<string, string>> {
  const keys = (await rt.redis.keys(`coalflow:${rt.prefix}latest:*`)).sort();
  const out = new Map<string, string>();
  for (const k of keys) {
    const j = JSON.parse(String(await rt.redis.hget(k, 'json'))) as Record<string, unknown>;
    delete j.version;
    out.set(k, JSON.stringify(j));
  }
  return out;
}

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock', overrides: { forecastIntervalMs: 0 } });
  const serde = createFeedSerde(rt);
  const byFeed = new Map<string, { key: string; value: Buffer }[]>();
  for (const p of buildFixture()) {
    const list = byFeed.get(p.feed) ?? byFeed.set(p.feed, []).get(p.feed)!;
    list.push({ key: p.key, value: await serde.encode(p.feed, p.record as never) });
  }
  await rt.broker.createTopics(FEEDS.map((f) => ({ topic: rt.topic(topicOf.canonical(f)) })));
  for (const [feed, msgs] of byFeed)
    await rt.broker.produce(rt.topic(topicOf.canonical(feed as never)), msgs);
  const w = startIndicatorWorkers(rt, {
    publishKafka: false,
    lagIntervalMs: 0,
    publishDerivedIntervalMs: 100,
  });
  await w.start();
  const total = [...byFeed.values()].reduce((a, l) => a + l.length, 0);
  const deadline = Date.now() + 120_000;
  while (w.stats().records < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await w.idle({ timeoutMs: 120_000 });
  await w.stop();
});
test.after(async () => {
  await rt?.close();
});

test('an emptied cache gets back every snapshot the publications had made, before the API answers', async () => {
  const published = await snapshots();
  assert.ok(published.size > 100, `snapshots: ${published.size}`);

  // A graceful stop saves them; the next start loads them as they were, without recomputing.
  assert.is(await saveLatest(rt), published.size);
  await rt.redis.flushall();
  const loaded = await rebuildLatest(rt);
  assert.is(loaded.keys, published.size);
  assert.equal(await snapshots(), published);
  assert.is(
    Number((await rt.db.query('SELECT count(*) AS n FROM latest_snapshot')).rows[0].n),
    0,
    'loaded once: a later crash recomputes',
  );

  // After a crash (nothing saved), the start recomputes them from the store.
  await rt.redis.flushall();
  const sys = await startSystem(rt, ['worker', 'api'], { listen: false });
  try {
    // No wait: the system is started, so the API answers with the rebuilt snapshots at once.
    const bureau = await testKey(sys.app!, 'government', {
      products: ['indicator.sales'],
      purpose: '测试 / test',
      tier: 'public',
    });
    const res = await sys.app!.inject({
      method: 'GET',
      url: '/v1/indicators/latest?family=sales&scope=city',
      headers: bureau.headers,
    });
    assert.is(res.statusCode, 200);
    assert.ok(JSON.stringify(res.json()).includes('"value"'), res.body.slice(0, 300));
    const rebuilt = await snapshots();
    const missing = [...published.keys()].filter((k) => !rebuilt.has(k));
    assert.equal(missing, [], `missing after the rebuild: ${missing.slice(0, 5).join(', ')}`);
    const differ = [...published.keys()].filter((k) => rebuilt.get(k) !== published.get(k));
    assert.equal(
      differ.slice(0, 5).map((k) => [published.get(k), rebuilt.get(k)]),
      [],
    );
    // A second rebuild is skipped while the cache keeps its mark.
    assert.is((await rebuildLatest(rt)).skipped, true);

    // A rebuild never replaces a newer snapshot (a publication meanwhile) with an older one.
    const [key] = await rt.redis.keys(`coalflow:${rt.prefix}latest:sales:city:*:day`);
    assert.ok(key, 'a city day snapshot');
    const cur = JSON.parse(String(await rt.redis.hget(key!, 'json')));
    const newer = {
      family: cur.family,
      metric: cur.metric,
      scope: cur.scope,
      scopeId: cur.scopeId,
      window: cur.window,
      windowStart: Date.parse(cur.windowStart) + 86_400_000,
      value: 1,
      unit: cur.unit,
      n: 1,
      contributors: null,
      topShare: null,
    };
    await createRedisSink(rt).write([newer as never], { version: 2 ** 40, live: false });
    await rebuildLatest(rt, { force: true });
    const after = JSON.parse(String(await rt.redis.hget(key!, 'json')));
    assert.is(after.value, 1);
    assert.is(Date.parse(after.windowStart), newer.windowStart);
  } finally {
    await sys.stop();
  }
});

test.run();
