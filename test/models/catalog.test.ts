import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogSources, forecastKey } from '../../models/catalog.ts';
import type { Frequency, SeriesPoint } from '../../models/types.ts';

const days = (n: number): SeriesPoint[] => Array.from({ length: n }, (_, i) => ({ date: new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString().slice(0, 10), value: 100 + i }));

test('catalogue: series in scope get the longest horizon their history allows; short ones wait', async () => {
  const keys = ['sales_volume:city', 'sales_volume:region:150621', 'sales_volume:mine:m1', 'port_stock:port:黄骅港', 'mine_stock:city'];
  const lengths: Record<string, number> = { 'sales_volume:city': 450, 'sales_volume:region:150621': 25, 'port_stock:port:黄骅港': 5 };
  const loads: string[] = [];
  const sources = await catalogSources(async () => keys, async (key: string, f: Frequency) => {
    loads.push(`${key}@${f}`);
    const n = lengths[key] ?? 0;
    return f === 'day' ? days(n) : f === 'week' ? days(Math.floor(n / 7)) : days(Math.floor(n / 30));
  });
  const byKey = new Map(sources.map((s) => [s.key, s]));
  assert.is(byKey.get(forecastKey('sales_volume:city', 'day'))?.horizon, 28);
  assert.is(byKey.get(forecastKey('sales_volume:region:150621', 'day'))?.horizon, 7, 'short history: shorter horizon');
  assert.is(byKey.get(forecastKey('sales_volume:city', 'month'))?.horizon, 3, '15 months: the short monthly horizon');
  assert.not.ok(byKey.has(forecastKey('port_stock:port:黄骅港', 'day')), 'too short: waits for data');
  assert.not.ok([...byKey.keys()].some((k) => k.startsWith('sales_volume:mine:')), 'mine scope is not in the catalogue');
  assert.not.ok(loads.some((l) => l.startsWith('mine_stock')), 'kinds outside the catalogue are not loaded');
  assert.is((await byKey.get(forecastKey('sales_volume:city', 'day'))!.load()).length, 450);
});

test.run();
