import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffMs, newSecret, signatureHeader, verifySignature } from '../../../pipelines/alerts/sign.ts';
import { audienceSees, parseAudience } from '../../../pipelines/alerts/audience.ts';

const test = suite('pipelines/alerts/sign');

test('a signature verifies over the raw body with the secret, within the tolerance only', () => {
  const secret = newSecret();
  const body = '{"id":"a:1","type":"alert.open"}';
  const now = Date.parse('2025-03-01T00:00:00Z');
  const h = signatureHeader(secret, body, now);
  assert.match(h, /^t=\d+,v1=[0-9a-f]{64}$/);
  assert.ok(verifySignature(secret, h, body, now + 1000));
  assert.not.ok(verifySignature(secret, h, `${body} `, now), 'body changed');
  assert.not.ok(verifySignature(newSecret(), h, body, now), 'other secret');
  assert.not.ok(verifySignature(secret, h, body, now + 301_000), 'too old');
  assert.not.ok(verifySignature(secret, undefined, body, now));
  assert.not.ok(verifySignature(secret, 't=abc,v1=00', body, now));
});

test('backoff doubles up to its cap, with jitter between half and all of it', () => {
  assert.is(
    backoffMs(1, 100, 1000, () => 1),
    100,
  );
  assert.is(
    backoffMs(3, 100, 1000, () => 1),
    400,
  );
  assert.is(
    backoffMs(10, 100, 1000, () => 1),
    1000,
  );
  assert.is(
    backoffMs(3, 100, 1000, () => 0),
    200,
  );
});

test("audiences: market-wide alerts to all, an entity's to its holders, its region or everyone", () => {
  const a = { regions: ['150602'], mines: ['M1'], users: ['U1'] };
  assert.ok(audienceSees(a, { scope: 'band', scopeId: '5500' }));
  assert.ok(audienceSees(a, { scope: 'user', scopeId: 'U1' }));
  assert.not.ok(audienceSees(a, { scope: 'user', scopeId: 'U2' }));
  assert.ok(audienceSees(a, { scope: 'mine', scopeId: 'M9', region: '150602' }));
  assert.not.ok(audienceSees(a, { scope: 'mine', scopeId: 'M9', region: '150603' }));
  assert.not.ok(audienceSees(a, { scope: 'region', scopeId: '150603' }));
  assert.ok(audienceSees({ regions: '*', mines: [], users: [] }, { scope: 'user', scopeId: 'U2' }));
  assert.equal(parseAudience({ regions: '*' }, 'S'), {
    subscriberId: 'S',
    regions: '*',
    mines: [],
    users: [],
  });
  assert.throws(() => parseAudience({ users: 'U1' }, 'S'), /users/);
});

test.run();
