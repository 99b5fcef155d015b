/**
 * The broker contract: the same tests run against the in-process broker and
 * real Kafka (broker.inprocess.test.ts, broker.kafka.test.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Batch, Broker, ConsumedRecord } from '../../../infra/core/broker.ts';
import { eventually, uniq } from '../../helpers/runtime.ts';

export function brokerContract(name: string, make: () => Promise<Broker>) {
  const s = suite<{ broker: Broker; topics: string[] }>(`broker contract: ${name}`, {
    broker: null as never,
    topics: [],
  });

  s.before(async (ctx) => {
    ctx.broker = await make();
  });
  s.after(async (ctx) => {
    try {
      await ctx.broker.deleteTopics(ctx.topics);
    } finally {
      await ctx.broker.close();
    }
  });

  async function topic(ctx: { broker: Broker; topics: string[] }, partitions = 3): Promise<string> {
    const t = uniq('contract.');
    ctx.topics.push(t);
    await ctx.broker.createTopics([{ topic: t, partitions }]);
    return t;
  }

  s('createTopics is idempotent and listTopics shows the topic', async (ctx) => {
    const t = await topic(ctx);
    await ctx.broker.createTopics([{ topic: t, partitions: 3 }]);
    assert.ok((await ctx.broker.listTopics()).includes(t));
  });

  s('records with the same key land on one partition, in order, with increasing offsets', async (ctx) => {
    const t = await topic(ctx);
    const keys = ['mine-a', 'mine-b', 'mine-c', 'mine-d'];
    await ctx.broker.produce(
      t,
      Array.from({ length: 40 }, (_, i) => ({
        key: keys[i % 4]!,
        value: JSON.stringify({ i }),
        headers: { h: String(i) },
      })),
    );
    const seen: ConsumedRecord[] = [];
    const c = ctx.broker.consumer({ groupId: uniq('g'), topics: [t] });
    await c.run(async (b) => {
      seen.push(...b.records);
    });
    await eventually(() => seen.length >= 40, { what: '40 records' });
    await c.stop();
    assert.is(seen.length, 40);
    for (const k of keys) {
      const mine = seen.filter((r) => r.key === k);
      assert.is(mine.length, 10);
      assert.is(new Set(mine.map((r) => r.partition)).size, 1, `key ${k} on one partition`);
      const order = mine.map((r) => JSON.parse(r.value.toString()).i as number);
      assert.equal(
        order,
        [...order].sort((a, b) => a - b),
        `key ${k} in order`,
      );
      const offs = mine.map((r) => Number(r.offset));
      assert.ok(offs.every((o, i) => i === 0 || o > offs[i - 1]!));
    }
    assert.is(seen.find((r) => JSON.parse(r.value.toString()).i === 7)!.headers.h, '7');
  });

  s("partition of a key matches Kafka's murmur2 partitioner", async (ctx) => {
    // kafkajs DefaultPartitioner (Java-compatible murmur2): toPositive(murmur2(key)) % n
    const t = await topic(ctx, 6);
    await ctx.broker.produce(t, [
      { key: 'ordos', value: 'x' },
      { key: '150621', value: 'y' },
    ]);
    const seen: ConsumedRecord[] = [];
    const c = ctx.broker.consumer({ groupId: uniq('g'), topics: [t] });
    await c.run(async (b) => {
      seen.push(...b.records);
    });
    await eventually(() => seen.length >= 2);
    await c.stop();
    const kafkajs = (await import('kafkajs')).default;
    const part = kafkajs.Partitioners.DefaultPartitioner();
    const meta = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 0 }));
    for (const r of seen) {
      assert.is(
        r.partition,
        part({ topic: t, partitionMetadata: meta, message: { key: r.key!, value: null } } as never),
      );
    }
  });

  s('committed offsets survive: a new member of the group continues after the last commit', async (ctx) => {
    const t = await topic(ctx, 1);
    const g = uniq('g');
    await ctx.broker.produce(
      t,
      Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })),
    );
    const first: string[] = [];
    const c1 = ctx.broker.consumer({ groupId: g, topics: [t] });
    await c1.run(async (b) => {
      first.push(...b.records.map((r) => r.value.toString()));
    });
    await eventually(() => first.length >= 10);
    await c1.stop();
    await ctx.broker.produce(
      t,
      Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: String(10 + i) })),
    );
    const second: string[] = [];
    const c2 = ctx.broker.consumer({ groupId: g, topics: [t] });
    await c2.run(async (b) => {
      second.push(...b.records.map((r) => r.value.toString()));
    });
    await eventually(() => second.length >= 5);
    await new Promise((r) => setTimeout(r, 300));
    await c2.stop();
    assert.equal(second, ['10', '11', '12', '13', '14']);
    const lag = await ctx.broker.lag(g, t);
    assert.equal(
      lag.map((l) => [l.committed, l.end]),
      [['15', '15']],
    );
  });

  s('a failing handler is not committed: its records are delivered again', async (ctx) => {
    const t = await topic(ctx, 1);
    await ctx.broker.produce(
      t,
      Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: String(i) })),
    );
    let calls = 0;
    const got: string[] = [];
    const c = ctx.broker.consumer({ groupId: uniq('g'), topics: [t] });
    await c.run(async (b: Batch) => {
      calls++;
      if (calls === 1) throw new Error('sink down');
      got.push(...b.records.map((r) => r.value.toString()));
    });
    await eventually(() => got.length >= 5, { timeoutMs: 30_000, what: 'redelivery' });
    await c.stop();
    assert.ok(calls >= 2);
    assert.equal(got.slice(0, 5), ['0', '1', '2', '3', '4']);
  });

  s(
    'a consumer group shares partitions; a member leaving hands its partitions over without loss',
    async (ctx) => {
      const t = await topic(ctx, 4);
      const g = uniq('g');
      const keys = Array.from({ length: 16 }, (_, i) => `key-${i}`);
      const seenBy = new Map<string, Set<string>>();
      const note = (who: string) => async (b: Batch) => {
        for (const r of b.records) {
          const v = r.value.toString();
          (seenBy.get(v) ?? seenBy.set(v, new Set()).get(v)!).add(who);
        }
      };
      const assigned: Record<string, number[]>[] = [];
      const c1 = ctx.broker.consumer({
        groupId: g,
        topics: [t],
        onAssign: (a) => {
          assigned.push(a);
        },
      });
      await c1.run(note('c1'));
      const c2 = ctx.broker.consumer({ groupId: g, topics: [t] });
      await c2.run(note('c2'));
      await eventually(
        () => {
          const a1 = c1.assignment()[t] ?? [];
          const a2 = c2.assignment()[t] ?? [];
          return a1.length > 0 && a2.length > 0 && a1.length + a2.length === 4;
        },
        { timeoutMs: 30_000, what: 'both members assigned' },
      );
      const a1 = c1.assignment()[t]!,
        a2 = c2.assignment()[t]!;
      assert.is(new Set([...a1, ...a2]).size, 4, 'partitions split, none shared');
      assert.ok(assigned.length >= 1, 'onAssign called');
      await ctx.broker.produce(
        t,
        keys.map((k, i) => ({ key: k, value: `a${i}` })),
      );
      await eventually(() => seenBy.size >= 16, { timeoutMs: 30_000, what: 'first wave' });
      await c2.stop();
      await ctx.broker.produce(
        t,
        keys.map((k, i) => ({ key: k, value: `b${i}` })),
      );
      await eventually(() => seenBy.size >= 32, { timeoutMs: 40_000, what: 'second wave after member left' });
      await c1.stop();
      for (let i = 0; i < 16; i++) assert.ok(seenBy.get(`b${i}`)!.has('c1'), 'remaining member took over');
    },
  );

  return s;
}
