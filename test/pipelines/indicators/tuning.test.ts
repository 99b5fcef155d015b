import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INDICATOR_TUNING } from '../../../pipelines/indicators/tuning.ts';
import { resolveTuning } from '../../../pipelines/indicators/worker-context.ts';

test('the tuning object is frozen and every knob is a positive number or zero', () => {
  assert.ok(Object.isFrozen(INDICATOR_TUNING));
  for (const [k, v] of Object.entries(INDICATOR_TUNING)) assert.ok(typeof v === 'number' && v >= 0, k);
});

test("a worker's options override their knobs; the rest keep the defaults", () => {
  const t = resolveTuning({ maxBatchSize: 7, publishLeaseMs: 1234, lagIntervalMs: 0 });
  assert.is(t.maxBatchRecords, 7);
  assert.is(t.publishLeaseMs, 1234);
  assert.is(t.lagIntervalMs, 0);
  assert.is(t.commitLingerMs, INDICATOR_TUNING.commitLingerMs);
  assert.equal(resolveTuning({}), { ...INDICATOR_TUNING });
});

test.run();
