/**
 * Keys for API tests: a subscriber of a kind with an optional grant, created through the app's access layer.
 */
import type { FastifyInstance } from 'fastify';
import { uniq } from './runtime.ts';
import type { SubscriberKind } from '../../api/access/index.ts';
import type { NewGrant } from '../../api/access/store.ts';

export interface TestKey {
  subscriberId: string;
  keyId: string;
  key: string;
  headers: { authorization: string };
}

export async function testKey(
  app: FastifyInstance,
  kind: SubscriberKind,
  grant?: NewGrant,
  creditCode = '91150602MA0000000X',
): Promise<TestKey> {
  const store = app.access.store;
  const sub = await store.createSubscriber({
    id: uniq(`${kind}-`),
    name: `测试 ${kind}`,
    kind,
    creditCode: kind === 'enterprise' ? creditCode : null,
  });
  if (grant) await store.addGrant(sub.id, grant);
  const k = await store.createKey(sub.id, { label: 'test' });
  return { subscriberId: sub.id, keyId: k.keyId, key: k.key, headers: { authorization: `Bearer ${k.key}` } };
}

/** Headers of a fresh operator key. */
export async function operatorHeaders(app: FastifyInstance): Promise<{ authorization: string }> {
  return (await testKey(app, 'operator')).headers;
}
