import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogSources, FORECAST_CATALOG, forecastKey, type SkippedSeries } from '../../models/catalog.ts';
import type { Frequency, SeriesPoint } from '../../models/types.ts';
import { minimumLength } from '../../models/backtest.ts';

const days = (n: number): SeriesPoint[] =>
  Array.from({ length: n }, (_, i) => ({
    date: new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString().slice(0, 10),
    value: 100 + i,
  }));

test('catalogue: series in scope get the longest horizon their history allows; short ones wait', async () => {
  const keys = [
    'sales_volume:city',
    'sales_volume:region:150621',
    'sales_volume:mine:m1',
    'port_stock:port:黄骅港',
    'mine_stock:city',
  ];
  const lengths: Record<string, number> = {
    'sales_volume:city': 450,
    'sales_volume:region:150621': 25,
    'port_stock:port:黄骅港': 5,
  };
  const loads: string[] = [];
  const sources = await catalogSources(
    async () => keys,
    async (key: string, f: Frequency) => {
      loads.push(`${key}@${f}`);
      const n = lengths[key] ?? 0;
      return f === 'day' ? days(n) : f === 'week' ? days(Math.floor(n / 7)) : days(Math.floor(n / 30));
    },
  );
  const byKey = new Map(sources.map((s) => [s.key, s]));
  assert.is(byKey.get(forecastKey('sales_volume:city', 'day'))?.horizon, 28);
  assert.is(
    byKey.get(forecastKey('sales_volume:region:150621', 'day'))?.horizon,
    7,
    'short history: shorter horizon',
  );
  assert.is(
    byKey.get(forecastKey('sales_volume:city', 'month'))?.horizon,
    3,
    '15 months: the short monthly horizon',
  );
  assert.not.ok(byKey.has(forecastKey('port_stock:port:黄骅港', 'day')), 'too short: waits for data');
  assert.not.ok(
    [...byKey.keys()].some((k) => k.startsWith('sales_volume:mine:')),
    'mine scope is not in the catalogue',
  );
  assert.not.ok(
    loads.some((l) => l.startsWith('mine_stock')),
    'kinds outside the catalogue are not loaded',
  );
  assert.is((await byKey.get(forecastKey('sales_volume:city', 'day'))!.load()).length, 450);
});

test('catalogue: every series left out is named with its reason (too short, with the length needed; no data)', async () => {
  const skipped: SkippedSeries[] = [];
  await catalogSources(
    async () => ['sales_volume:city', 'port_stock:port:黄骅港'],
    async (key: string, f: Frequency) => (f === 'day' ? days(key.startsWith('port') ? 5 : 40) : days(2)),
    FORECAST_CATALOG,
    (s) => skipped.push(s),
  );
  const by = new Map(skipped.map((s) => [s.key, s]));
  const port = by.get(forecastKey('port_stock:port:黄骅港', 'day'));
  const needed = minimumLength(
    Math.min(...FORECAST_CATALOG.find((e) => e.kind === 'port_stock' && e.frequency === 'day')!.horizons),
  );
  assert.ok(needed > 5);
  assert.equal(
    { reason: port?.reason, points: port?.points, needed: port?.needed },
    { reason: 'too_short', points: 5, needed },
  );
  assert.match(port!.message, new RegExp(`历史不足.*history too short: 5 days, needs ${needed}`));
  assert.is(by.get(forecastKey('sales_volume:city', 'month'))?.reason, 'too_short');
  assert.not.ok(by.has(forecastKey('sales_volume:city', 'day')), '40 days: trained, not skipped');
  assert.is(by.get(forecastKey('sales_volume:region', 'day'))?.reason, 'no_data');
  assert.is(by.get(forecastKey('user_consumption:sector', 'day'))?.reason, 'no_data');
  // Every catalogue family and scope is either trainable or named.
  for (const e of FORECAST_CATALOG)
    for (const sc of e.scopes) {
      assert.ok(
        [...by.keys()].some((k) => k.startsWith(`${e.kind}:${sc}`) && k.endsWith(`@${e.frequency}`)) ||
          (e.kind === 'sales_volume' && sc === 'city' && e.frequency === 'day'),
        `${e.kind}:${sc}@${e.frequency}`,
      );
    }
});

test.run();
