import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMonthMs, parseNumber, parseTimeMs, toIsoCst } from '../../../pipelines/contracts/parse.ts';
import { resolveChinaRegion, resolveOrdosRegion } from '../../../pipelines/contracts/regions.ts';
import { normKey, splitHeader, mapAliases } from '../../../pipelines/contracts/aliases.ts';
import { ValidationError } from '../../../infra/core/errors.ts';

const iso = (v: unknown) => {
  const ms = parseTimeMs(v);
  return ms === null ? null : toIsoCst(ms);
};

test('numbers: separators, full-width digits, units, kg', () => {
  assert.is(parseNumber('20,720.40', 'money', 'x'), 20720.4);
  assert.is(parseNumber('３３．５', 'weight', 'x'), 33.5);
  assert.is(parseNumber('33.5吨', 'weight', 'x'), 33.5);
  assert.is(parseNumber('33,500 kg', 'weight', 'x'), 33.5);
  assert.is(parseNumber('33500公斤', 'weight', 'x'), 33.5);
  assert.is(parseNumber('1250', 'capacity', 'x'), 12_500_000, 'bare capacities are 万吨/年');
  assert.is(parseNumber('300万吨/年', 'capacity', 'x'), 3_000_000);
  assert.is(parseNumber('2400000', 'capacity', 'x'), 2_400_000);
  assert.is(parseNumber('23.0', 'kcal', 'x'), Math.round(23 * 238.846), 'MJ/kg converted');
  assert.is(parseNumber('120万千瓦', 'mw', 'x'), 1200);
  assert.throws(
    () => parseNumber('abc', 'weight', 'netT'),
    (e: unknown) => e instanceof ValidationError && e.reason === 'invalid_number',
  );
  assert.throws(
    () => parseNumber('33磅', 'weight', 'netT'),
    (e: unknown) => e instanceof ValidationError && /磅/.test(e.message),
  );
  assert.throws(
    () => parseNumber('1.5', 'count', 'trucks'),
    (e: unknown) => e instanceof ValidationError,
  );
});

test('times: naive forms are +08:00; ISO offsets, Chinese dates, Excel serials, epochs', () => {
  assert.is(iso('2025-03-01 08:12:33'), '2025-03-01T08:12:33+08:00');
  assert.is(iso('2025/3/1 8:12'), '2025-03-01T08:12:00+08:00');
  assert.is(iso('2025-03-01T00:12:33Z'), '2025-03-01T08:12:33+08:00');
  assert.is(iso('2025-03-01T08:12:33+0800'), '2025-03-01T08:12:33+08:00');
  assert.is(iso('2025年3月1日 8时12分'), '2025-03-01T08:12:00+08:00');
  assert.is(iso('20250301081233'), '2025-03-01T08:12:33+08:00');
  assert.is(iso('2025-03-01'), '2025-03-01T00:00:00+08:00');
  assert.is(iso(45717.5), '2025-03-01T12:00:00+08:00', 'Excel serial, local');
  assert.is(iso(1740788553), '2025-03-01T08:22:33+08:00');
  assert.is(iso('2025-02-30 08:00'), null);
  assert.is(iso('昨天'), null);
  assert.is(iso('2025-13-45'), null);
  assert.is(toIsoCst(parseMonthMs('2025', '3')!), '2025-03-01T00:00:00+08:00');
  assert.is(toIsoCst(parseMonthMs(undefined, '2025年3月')!), '2025-03-01T00:00:00+08:00');
  assert.is(toIsoCst(parseMonthMs(2024, undefined)!), '2024-01-01T00:00:00+08:00');
});

test('regions: codes and names of the nine Ordos banners; other codes refused for mines', () => {
  assert.is(resolveOrdosRegion('150622'), '150622');
  assert.is(resolveOrdosRegion('准格尔旗'), '150622');
  assert.is(resolveOrdosRegion('内蒙古自治区鄂尔多斯市鄂托克前旗'), '150623');
  assert.is(resolveOrdosRegion('鄂托克旗'), '150624');
  assert.is(resolveOrdosRegion('伊旗'), '150627');
  assert.is(resolveOrdosRegion('150627000000'), '150627');
  assert.is(resolveOrdosRegion('150699'), null);
  assert.is(resolveOrdosRegion('110101'), null);
  assert.is(resolveChinaRegion('131082'), '131082');
  assert.is(resolveChinaRegion('991234'), null);
});

test('headers: normalized (full-width brackets, units, spaces) and mapped; unknown columns kept in ext', () => {
  assert.is(normKey(' 净 重 '), '净重');
  assert.equal(splitHeader('净重（吨）'), { base: '净重', unit: '吨' });
  const m = mapAliases('sales', {
    '净重(kg)': '33500',
    ' 煤种 ': '5500',
    煤类: '动力煤',
    Gross_T: 49,
    '车 牌 号': 'x',
    自定义列: 'v',
    空列: '',
  });
  assert.is(m.values.netT, '33500kg');
  assert.is(m.values.coalType, '5500');
  assert.is(m.values.grossT, 49);
  assert.is(m.values.plate, 'x');
  assert.equal(m.ext, { 煤类: '动力煤', 自定义列: 'v' });
  assert.ok(m.yard, '煤类 marks a coal-yard export');
  const p = mapAliases('prices', { 神华外购价黄骅港: 850 });
  assert.equal(p.implied, { priceKind: 'shenhua_huanghua', location: '黄骅港' });
});

test.run();
