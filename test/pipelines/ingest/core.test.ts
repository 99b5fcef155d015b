import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePayload, keyOf, processRaw } from '../../../pipelines/ingest/core.ts';
import { createDesensitizer } from '../../../pipelines/desensitize/desensitize.ts';
import { loadPolicy } from '../../../pipelines/desensitize/policy.ts';
import { FEEDS } from '../../../pipelines/contracts/types.ts';
import { SAMPLES } from './samples.ts';

const ctx = {
  desensitizer: createDesensitizer(loadPolicy(), 's'),
  nowMs: Date.now(),
  receivedAtMs: Date.now(),
};

test('decode: Buffers, JSON text (with BOM), objects; anything else is a decode_error', () => {
  assert.ok(decodePayload(Buffer.from('{"a":1}')).ok);
  assert.ok(decodePayload('\uFEFF{"a":1}').ok);
  assert.ok(decodePayload({ a: 1 }).ok);
  for (const bad of ['{oops', '[1,2]', '42', null, 'null']) {
    const d = decodePayload(bad);
    assert.ok(!d.ok && d.rejected.reason === 'decode_error', String(bad));
  }
});

test('every feed: Chinese and English keys give the same canonical record', () => {
  const chinese = processRaw('sales', SAMPLES.sales, ctx);
  const english = processRaw(
    'sales',
    {
      saleId: 'XS20250301000123',
      regionCode: '150622',
      mineName: '准格尔旗黑岱沟露天煤矿',
      coalType: '5500混煤',
      calorificKcal: 5500,
      grossT: 49.52,
      tareT: 16.1,
      netT: 33.42,
      unitPriceYuanPerT: 620,
      totalPriceYuan: 20720.4,
      customer: '王建国',
      destination: '河北省唐山市曹妃甸区港城大道88号',
      plate: '蒙K8A123',
      tareTime: '2025-03-01T08:12:00+08:00',
      grossTime: '2025-03-01T08:40:12+08:00',
      driverPhone: '13912345678',
      备注: '联系 139****5678',
    },
    ctx,
  );
  assert.equal(english, chinese);
  for (const feed of FEEDS) assert.is(processRaw(feed, SAMPLES[feed], ctx).status, 'ok', feed);
});

test('entity keys per feed', () => {
  const key = (feed: (typeof FEEDS)[number]) => {
    const o = processRaw(feed, SAMPLES[feed], ctx);
    return o.status === 'ok' ? keyOf(feed, o.record) : null;
  };
  assert.is(key('sales'), 'name:准格尔旗黑岱沟露天煤矿');
  assert.is(key('mines'), '91150622MA0N1B2C3D');
  assert.is(key('rail'), '准池铁路');
  assert.is(key('highway'), '包茂高速沙圪堵收费站');
  assert.is(key('ports'), '秦皇岛港');
  assert.is(key('coal_users'), 'name:国能三河电厂');
  assert.is(key('prices'), 'pithead:name:哈尔乌素露天煤矿');
});

test.run();
