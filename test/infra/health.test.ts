/** The history behind `/healthz`: state since when, last error, outages from the first failure to the next success. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHealthTracker } from '../../infra/core/health.ts';

test('an outage runs from the first failure to the next success, with its failures and last error', () => {
  let t = Date.parse('2026-11-30T10:00:00Z');
  const h = createHealthTracker({ now: () => t, keep: 2 });
  assert.is(h.snapshot().state, 'ok');
  assert.equal(h.snapshot().outages, []);
  t += 1000;
  h.ok();
  h.fail(new Error('connect ECONNREFUSED'));
  t += 4000;
  h.fail(new Error('Connection timeout'));
  let s = h.snapshot();
  assert.is(s.state, 'down');
  assert.is(s.since, '2026-11-30T10:00:01.000Z');
  assert.equal(s.lastError, { message: 'Connection timeout', at: '2026-11-30T10:00:05.000Z' });
  assert.equal(s.outages, [
    { from: '2026-11-30T10:00:01.000Z', to: null, ms: 4000, failures: 2, error: 'Connection timeout' },
  ]);
  t += 6000;
  h.ok();
  s = h.snapshot();
  assert.is(s.state, 'ok');
  assert.is(s.since, '2026-11-30T10:00:11.000Z');
  assert.is(s.outages[0]!.to, '2026-11-30T10:00:11.000Z');
  assert.is(s.outages[0]!.ms, 10_000);
  assert.ok(s.lastError, 'the last error stays visible after recovery');
  // Only the most recent outages are kept.
  for (let i = 0; i < 3; i++) {
    t += 1000;
    h.fail(new Error(`e${i}`));
    t += 1000;
    h.ok();
  }
  assert.equal(
    h.snapshot().outages.map((o) => o.error),
    ['e1', 'e2'],
  );
});

test.run();
