/**
 * The batched rate-limit store on real Redis: exact within one process, counts of several processes (two stores
 * on two connections) meet in Redis after a flush, windows end with Redis's.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { TEST_REDIS, uniq } from '../../helpers/runtime.ts';
import { createLogger } from '../../../infra/core/log.ts';
import { batchedRedisStore } from '../../../api/access/ratelimit.ts';

const test = suite('api/access/ratelimit (redis)');
const ns = `coalflow:${uniq('test')}.rl:`;
const clients = [0, 1].map(() => new Redis(TEST_REDIS, { lazyConnect: true }));
const log = createLogger({ level: 'error' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function incr(store: { incr: (...a: never[]) => void }, key: string, windowMs = 2000) {
  return new Promise<{ current: number; ttl: number }>((resolve, reject) =>
    (
      store.incr as (
        k: string,
        cb: (e: Error | null, r?: { current: number; ttl: number }) => void,
        w: number,
        m: number,
      ) => void
    )(key, (e, r) => (e ? reject(e) : resolve(r!)), windowMs, 100),
  );
}

test.before(async () => {
  await Promise.all(clients.map((c) => c.connect()));
});
test.after(async () => {
  const keys = await clients[0]!.keys(`${ns}*`);
  if (keys.length) await clients[0]!.del(...keys);
  clients.forEach((c) => c.disconnect());
});

test('counts are exact in one process and reach Redis in one script per flush', async () => {
  const Store = batchedRedisStore({ redis: clients[0]!, log, nameSpace: ns, flushMs: 10 });
  const s = new Store();
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) seen.push((await incr(s, 'k1')).current);
  assert.equal(seen, [1, 2, 3, 4, 5]);
  await sleep(100);
  assert.is(Number(await clients[0]!.get(`${ns}k1`)), 5);
  const ttl = await clients[0]!.pttl(`${ns}k1`);
  assert.ok(ttl > 0 && ttl <= 2000, String(ttl));
});

test('two processes: each counts the other’s requests from the reply to its next flush', async () => {
  const A = batchedRedisStore({ redis: clients[0]!, log, nameSpace: ns, flushMs: 10 });
  const B = batchedRedisStore({ redis: clients[1]!, log, nameSpace: ns, flushMs: 10 });
  const a = new A();
  const b = new B();
  for (let i = 0; i < 3; i++) await incr(a, 'k2');
  for (let i = 0; i < 4; i++) await incr(b, 'k2');
  await sleep(100);
  // Redis holds all 7; a process learns the others' counts with the reply to its own next flush.
  assert.is(Number(await clients[0]!.get(`${ns}k2`)), 7);
  assert.is((await incr(a, 'k2')).current, 4);
  await sleep(100);
  assert.is((await incr(a, 'k2')).current, 9);
  await incr(b, 'k2');
  await sleep(100);
  assert.is((await incr(b, 'k2')).current, 11);
});

test('a new window starts when the old one ends', async () => {
  const Store = batchedRedisStore({ redis: clients[0]!, log, nameSpace: ns, flushMs: 10 });
  const s = new Store();
  for (let i = 0; i < 3; i++) await incr(s, 'k3', 200);
  await sleep(350);
  assert.is((await incr(s, 'k3', 200)).current, 1);
});

test.run();
