/**
 * Seeded history: before its first start the simulator writes months of daily
 * history, so every forecast family of the catalogue has a series long enough
 * to train. Embedded TimescaleDB over the wire.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { seedHistory } from '../../../infra/simulator/history.ts';
import { catalogSources, FORECAST_CATALOG, type SkippedSeries } from '../../../models/catalog.ts';
import { listSeriesKeys, loadSeries } from '../../../pipelines/indicators/series.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('infra/simulator history (db)');
let rt: Runtime;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
});

test('seeded history: every catalogue family and scope can be trained; seeding runs once', async () => {
  const skippedBefore: SkippedSeries[] = [];
  assert.is(
    (
      await catalogSources(
        () => listSeriesKeys(rt.db),
        (k, f) => loadSeries(rt.db, k, f),
        FORECAST_CATALOG,
        (s) => skippedBefore.push(s),
      )
    ).length,
    0,
  );
  assert.ok(
    skippedBefore.length >= FORECAST_CATALOG.length,
    'an empty store: every family is named as skipped',
  );

  const beforeMs = Date.now() - 7 * 86_400_000;
  const r = await seedHistory(rt, { seed: 42, beforeMs, days: 460 });
  assert.is(r.skipped, false);
  console.error(`seeded ${JSON.stringify(r.rows)} in ${r.ms} ms`);
  assert.ok(
    r.rows.sales! > 5_000 && r.rows.rail! > 1000 && r.rows.ports! > 1000 && r.rows.coal_users! > 1000,
    JSON.stringify(r.rows),
  );

  const skipped: SkippedSeries[] = [];
  const sources = await catalogSources(
    () => listSeriesKeys(rt.db),
    (k, f) => loadSeries(rt.db, k, f),
    FORECAST_CATALOG,
    (s) => skipped.push(s),
  );
  for (const e of FORECAST_CATALOG) {
    for (const scope of e.scopes) {
      const ok = sources.some((s) => s.key.startsWith(`${e.kind}:${scope}`) && s.frequency === e.frequency);
      assert.ok(
        ok,
        `${e.kind}:${scope}@${e.frequency} trainable (skipped: ${JSON.stringify(skipped.filter((s) => s.key.startsWith(`${e.kind}:${scope}`)).slice(0, 2))})`,
      );
    }
  }
  // The daily city sales stay in the simulator's range (~17,600 loads of 30-35 t a day).
  const city = await loadSeries(rt.db, 'sales_volume:city', 'day');
  assert.ok(city.length >= 455, `days: ${city.length}`);
  const mean = city.reduce((a, p) => a + Number(p.value), 0) / city.length;
  assert.ok(mean > 400_000 && mean < 800_000, `mean daily tonnage ${mean}`);
  assert.ok(
    city.every((p) => p.date < new Date(beforeMs + 8 * 3600_000).toISOString().slice(0, 10)),
    "history ends before the simulator's first day",
  );

  const again = await seedHistory(rt, { seed: 42, beforeMs, days: 460 });
  assert.is(again.skipped, true);
});

test.run();
