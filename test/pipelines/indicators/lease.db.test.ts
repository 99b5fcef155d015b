/**
 * Publication leases: a round that outlives its lease keeps it (renewal), and
 * gives it up when it ends; on the embedded TimescaleDB over the wire.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, testRuntime } from '../../helpers/runtime.ts';
import { createFeedSerde } from '../../../pipelines/contracts/serde.ts';
import { FEEDS, topicOf, type FeedName } from '../../../pipelines/contracts/types.ts';
import { startIndicatorWorkers } from '../../../pipelines/indicators/runner.ts';
import { buildFixture } from './fixture.ts';

test('a publication round longer than its lease renews it, so no other publisher takes the keys meanwhile', async () => {
  const rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  const observed: { now: number; leasedUntil: number; owners: string[] }[] = [];
  let slowed = 0;
  const w = startIndicatorWorkers(rt, {
    lagIntervalMs: 0,
    publishLeaseMs: 2000,
    publishKafka: false,
    faultHook: async (stage) => {
      if (stage !== 'afterPublishRedis' || slowed++ >= 2) return;
      // This round is slow: two and a half leases long.
      await new Promise((r) => setTimeout(r, 5000));
      const before = Date.now();
      const r = await rt.db.query(
        `SELECT min(lease_until) AS lu, array_agg(DISTINCT lease_owner) AS owners FROM ind_dirty WHERE lease_owner IS NOT NULL`,
      );
      observed.push({ now: before, leasedUntil: Number(r.rows[0].lu), owners: r.rows[0].owners ?? [] });
    },
  });
  try {
    await rt.broker.createTopics(FEEDS.map((f) => ({ topic: rt.topic(topicOf.canonical(f)) })));
    const serde = createFeedSerde(rt);
    const byFeed = new Map<FeedName, { key: string; value: Buffer }[]>();
    const records = buildFixture().slice(0, 200);
    for (const p of records)
      (byFeed.get(p.feed) ?? byFeed.set(p.feed, []).get(p.feed)!).push({
        key: p.key,
        value: await serde.encode(p.feed, p.record as never),
      });
    for (const [feed, list] of byFeed) await rt.broker.produce(rt.topic(topicOf.canonical(feed)), list);
    await w.start();
    await eventually(() => w.stats().records >= records.length, {
      timeoutMs: 60_000,
      what: 'all records stored',
    });
    await w.idle({ timeoutMs: 60_000 });
    // The first round of each lane is slow (both may be running at once).
    assert.ok(observed.length >= 1 && observed.length <= 2, `slow rounds: ${observed.length}`);
    for (const o of observed) {
      assert.ok(o.owners.length >= 1, 'keys were leased during the round');
      assert.ok(o.leasedUntil > o.now, `lease renewed past now (${o.leasedUntil - o.now} ms left)`);
    }
    // After the rounds, nothing stays leased and the outbox is empty.
    const left = await rt.db.query('SELECT count(*)::int AS n FROM ind_dirty');
    assert.is(left.rows[0].n, 0);
  } finally {
    await w.stop();
    await rt.close();
  }
});

test.run();
