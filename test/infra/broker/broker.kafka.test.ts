import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KafkaBroker } from '../../../infra/broker/kafka.ts';
import { createLogger } from '../../../infra/core/log.ts';
import { eventually, TEST_KAFKA, uniq } from '../../helpers/runtime.ts';
import { brokerContract } from './contract.ts';

const make = (level = 'error') =>
  new KafkaBroker({
    brokers: TEST_KAFKA.split(','),
    clientId: 'coalflow-test',
    log: createLogger({ level }),
    partitions: 3,
    replicationFactor: 1,
  });

brokerContract('kafka', async () => make()).run();

test('kafka: a member stalled past its session timeout (event loop blocked, no heartbeat) rejoins and keeps consuming', async () => {
  const broker = make('silent');
  const topic = uniq('stall.');
  try {
    await broker.createTopics([{ topic, partitions: 1 }]);
    await broker.produce(topic, [{ key: 'k', value: 'stall' }]);
    const seen: string[] = [];
    let stalled = false;
    const c = broker.consumer({ groupId: uniq('g'), topics: [topic] });
    await c.run(async (b) => {
      for (const r of b.records) {
        const v = r.value.toString();
        if (v === 'stall' && !stalled) {
          stalled = true;
          // Longer than the 10 s session timeout, synchronously: the coordinator drops this member.
          const until = Date.now() + 12_000;
          while (Date.now() < until) {
            /* blocked */
          }
        }
        seen.push(v);
      }
    });
    await eventually(() => stalled, { what: 'the stall', timeoutMs: 30_000 });
    await broker.produce(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: `after-${i}` })),
    );
    await eventually(() => seen.filter((v) => v.startsWith('after-')).length >= 5, {
      what: 'records produced after the stall',
      timeoutMs: 90_000,
    });
    await c.stop();
    assert.ok(seen.includes('stall'));
    assert.equal([...new Set(seen.filter((v) => v.startsWith('after-')))].sort(), [
      'after-0',
      'after-1',
      'after-2',
      'after-3',
      'after-4',
    ]);
  } finally {
    await broker.deleteTopics([topic]).catch(() => undefined);
    await broker.close();
  }
});

test.run();
