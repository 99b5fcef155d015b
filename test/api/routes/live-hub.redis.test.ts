/**
 * The live hub's resume buffer on the real Redis: a reconnecting client gets exactly the messages it missed while
 * they are kept; what is kept per channel is bounded by count and by size (a family's message can be 150 kB), and
 * an id older than what is kept gets null (the stream answers with a reset), never a silent gap.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { createLiveHub, type LiveMessage } from '../../../api/routes/live-hub.ts';
import { eventually, TEST_REDIS, uniq } from '../../helpers/runtime.ts';

test('resume within the kept messages; bounded by count and bytes; older ids are refused', async () => {
  const redis = new Redis(TEST_REDIS);
  const hub = createLiveHub(redis, { keep: 50, keepBytes: 1_050_000 });
  const big = uniq('live-big');
  const small = uniq('live-small');
  const got = new Map<string, LiveMessage[]>([
    [big, []],
    [small, []],
  ]);
  try {
    for (const ch of [big, small]) await hub.subscribe(ch, (m) => got.get(ch)!.push(m));
    // 30 messages of 100 kB: 10 fit in 1.05 MB. 80 small ones on another channel: at most 50 by count.
    for (let i = 0; i < 30; i++) await redis.publish(big, `${i}:${'x'.repeat(100_000)}`);
    for (let i = 0; i < 80; i++) await redis.publish(small, `${i}`);
    await eventually(() => got.get(big)!.length === 30 && got.get(small)!.length === 80, {
      timeoutMs: 10_000,
      what: 'all messages delivered',
    });
    const b = got.get(big)!;
    const s = got.get(small)!;
    // Resuming after message 25 of the big channel: 26..29, in order.
    assert.equal(
      hub.since(big, b[25]!.id)!.map((m) => m.body.split(':')[0]),
      ['26', '27', '28', '29'],
    );
    // The kept ones: the last 10 (20..29); an id before them is refused.
    const keptBig = hub.since(big, b[19]!.id);
    assert.ok(keptBig, 'message 19 is still the edge of what is kept');
    assert.is(keptBig!.length, 10);
    assert.is(hub.since(big, b[5]!.id), null, 'an id older than what is kept');
    // By count: the last 50 of 80.
    assert.is(hub.since(small, s[29]!.id)!.length, 50);
    assert.is(hub.since(small, s[10]!.id), null);
    // The newest id: nothing missed. An id of another process start: refused.
    assert.equal(hub.since(small, s[79]!.id), []);
    assert.is(hub.since(small, `x${s[79]!.id}`), null);
  } finally {
    await hub.close();
    redis.disconnect();
  }
});

test.run();
