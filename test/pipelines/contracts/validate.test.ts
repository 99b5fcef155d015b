import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mapAliases } from '../../../pipelines/contracts/aliases.ts';
import { validateMapped, type ValidateContext } from '../../../pipelines/contracts/validate.ts';
import { avroSchemaOf } from '../../../pipelines/contracts/schemas.ts';
import { canonicalFields } from '../../../pipelines/contracts/fields.ts';
import { FEEDS, type FeedName } from '../../../pipelines/contracts/types.ts';
import { ValidationError } from '../../../infra/core/errors.ts';
import { SAMPLES } from '../ingest/samples.ts';

const ctx: ValidateContext = {
  nowMs: Date.parse('2025-03-02T00:00:00+08:00'),
  receivedAtMs: Date.parse('2025-03-01T12:00:00+08:00'),
  hashId: (t) => `H${t.length}`,
};
const v = <F extends FeedName>(feed: F, raw: Record<string, unknown>, c: ValidateContext = ctx) =>
  validateMapped(feed, mapAliases(feed, raw), c);
const reason = (feed: FeedName, raw: Record<string, unknown>, c: ValidateContext = ctx) => {
  try {
    v(feed, raw, c);
    return 'ok';
  } catch (e) {
    if (e instanceof ValidationError) return e.reason;
    throw e;
  }
};

test('every sample validates; the contract carries what the Avro schema says', () => {
  for (const feed of FEEDS) {
    const out = v(feed, SAMPLES[feed]);
    const names = new Set(avroSchemaOf(feed).fields.map((f) => f.name));
    for (const k of Object.keys(out.record)) assert.ok(names.has(k), `${feed}.${k} in schema`);
    for (const f of canonicalFields(feed))
      if (f.required) assert.ok(f.name in out.record, `${feed}.${f.name} present`);
  }
});

test('sales: weights, derived values, times, personal fields set aside', () => {
  const r = v('sales', SAMPLES.sales);
  assert.is(r.record.netT, 33.42);
  assert.is(r.record.totalPriceYuan, 20720.4);
  assert.is(r.record.eventTime, '2025-03-01T08:40:12+08:00');
  assert.is(r.record.tareTime, '2025-03-01T08:12:00+08:00');
  assert.is(r.record.mineId, 'name:准格尔旗黑岱沟露天煤矿');
  assert.equal(Object.keys(r.personal).sort(), ['customer', 'driverPhone', 'plate']);
  assert.not.ok(JSON.stringify(r.record).includes('8A123'));
  const noNet = { ...SAMPLES.sales } as Record<string, unknown>;
  delete noNet['净重'];
  assert.is(v('sales', noNet).record.netT, 33.42, 'net derived from gross - tare');
});

test('sales: domain rules give stable reasons', () => {
  const s = SAMPLES.sales;
  assert.is(reason('sales', { ...s, 净重: '30' }), 'net_mismatch');
  assert.is(reason('sales', { ...s, 净重: '33.45' }), 'ok', 'within 0.05 t');
  assert.is(reason('sales', { ...s, 毛重: '149.52', 净重: '133.42' }), 'weight_implausible');
  assert.is(
    reason('sales', { ...s, 毛重: '49520', 皮重: '16100', 净重: '33420' }),
    'weight_implausible',
    'unitless kilograms are refused',
  );
  assert.is(reason('sales', { ...s, 毛重: '49520kg', 皮重: '16100kg', 净重: '33420kg' }), 'ok');
  assert.is(reason('sales', { ...s, 净重: '-3' }), 'weight_implausible');
  assert.is(reason('sales', { ...s, 过空时间: '2025-03-01 09:00' }), 'tare_after_gross');
  assert.is(reason('sales', { ...s, 单价: '9999', 总价: '' }), 'price_out_of_band');
  assert.is(reason('sales', { ...s, 总价: '30000' }), 'total_mismatch');
  assert.is(reason('sales', { ...s, 行政区划: '150699' }), 'region_unknown');
  assert.is(reason('sales', { ...s, 过重时间: '昨天' }), 'invalid_time');
  assert.is(
    reason('sales', { ...s, 过空时间: '2025-03-03 08:00', 过重时间: '2025-03-03 09:00' }),
    'future_time',
  );
  assert.is(reason('sales', { ...s, 煤种名称: '' }), 'missing_field');
  assert.is(reason('sales', { ...s, 统一社会信用代码: '123' }), 'invalid_value');
});

test('sales without 行政区划: from the mine name, else from the mine registry, else region_unknown', () => {
  const s = { ...SAMPLES.sales } as Record<string, unknown>;
  delete s['行政区划'];
  assert.is(v('sales', s).record.regionCode, '150622', 'name contains 准格尔旗');
  const anon = { ...s, 企业名称: '黑岱沟露天煤矿' };
  assert.is(reason('sales', anon), 'region_unknown');
  const withRegistry = {
    ...ctx,
    regionOfMine: (id: string) => (id === 'name:黑岱沟露天煤矿' ? '150622' : undefined),
  };
  assert.is(v('sales', anon, withRegistry).record.regionCode, '150622');
});

test('yard exports (全市煤场运销信息) without 销售编号 get a keyed content id, stable across key styles', () => {
  const yard = {
    提供企业名称: '某集运站',
    行政区划: '150627',
    煤种: '5500',
    毛重: 48,
    皮重: 15,
    净重: 33,
    单价: 600,
    入矿时间: '2025-03-01 07:00',
    出矿时间: '2025-03-01 07:50',
    车牌号: '蒙K12345',
  };
  const a = v('sales', yard);
  assert.is(a.record.siteKind, 'yard');
  assert.ok(a.record.recordId.startsWith('h:'));
  assert.is(a.record.saleId, a.record.recordId);
  assert.is(v('sales', { ...yard }).record.recordId, a.record.recordId);
});

test('mines, rail, highway, ports, coal users, prices: mapping and rules', () => {
  const m = v('mines', SAMPLES.mines).record;
  assert.is(m.approvedCapacityTPerYear, 35_000_000);
  assert.is(m.designCapacityTPerYear, 20_000_000);
  assert.is(m.status, 'producing');
  assert.is(m.lat, 39.78);
  assert.is(m.mineId, '91150622MA0N1B2C3D');
  assert.is(reason('mines', { ...SAMPLES.mines, 生产状态: '不知道' }), 'invalid_value');
  const rail = v('rail', { 境内铁路: '准池铁路', 年份: 2025, 月份: 2, '煤炭(万吨)': 850, 其它: 12 }).record;
  assert.is(rail.period, 'month');
  assert.is(rail.shippedT, 8_500_000);
  assert.is(rail.eventTime, '2025-02-01T00:00:00+08:00');
  assert.is(v('highway', SAMPLES.highway).record.trucks, 1240);
  assert.is(v('highway', { ...SAMPLES.highway, 统计周期: '当日' }).record.windowMinutes, 1440);
  assert.is(reason('highway', { ...SAMPLES.highway, 方向: '上' }), 'invalid_value');
  assert.is(v('ports', SAMPLES.ports).record.stockT, 5_605_000);
  assert.is(reason('ports', { ...SAMPLES.ports, 平仓价: '12' }), 'price_out_of_band');
  const u = v('coal_users', SAMPLES.coal_users).record;
  assert.is(u.sector, 'power');
  assert.is(u.powerLoadMw, 1200);
  assert.is(u.regionCode, '131082', 'coal users may be outside Ordos');
  assert.is(v('prices', SAMPLES.prices).record.priceKind, 'pithead');
  assert.is(v('prices', { 年份: 2024, 价格: 650 }).record.priceKind, 'annual');
  assert.is(v('prices', { 年份: 2024, 月份: 5, 价格: 650 }).record.priceKind, 'monthly');
});

test.run();
