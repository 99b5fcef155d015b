import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODELS, readSeriesCsv, selectAndForecast } from '../../models/index.ts';

// The public series live beside the repository (CI clones it next to a copy of shared/).
const REAL = fileURLToPath(new URL('../../../shared/data/real-series/', import.meta.url));
const files = existsSync(REAL)
  ? readdirSync(REAL)
      .filter((f) => f.endsWith('.csv'))
      .sort()
  : [];

if (files.length === 0) {
  console.log(`  skipped: no real series in ${REAL} (跳过：未找到公开真实序列)`);
}

for (const f of files) {
  test(`${f}: the served forecast is never worse than the better naive on the backtest`, async () => {
    const { points } = await readSeriesCsv(join(REAL, f));
    const r = selectAndForecast(points);
    const mase = (m: string) => r.backtest.find((b) => b.model === m)!.mase!;
    assert.equal(
      r.backtest.map((b) => b.model),
      [...DEFAULT_MODELS],
    );
    assert.ok(
      mase(r.model) <= Math.min(mase('naive'), mase('snaive')),
      `${r.model} ${mase(r.model)} vs naive ${mase('naive')} / snaive ${mase('snaive')}`,
    );
    assert.is(r.backtest.find((b) => b.model === 'naive')!.origins, 10);
    for (const b of r.backtest) if (b.mase !== null) assert.ok(b.smape! >= 0 && b.smape! <= 200);
    assert.ok(r.coverage.points >= 10 * r.horizon);
    assert.ok(r.coverage.p80 > 0 && r.coverage.p80 <= r.coverage.p95 && r.coverage.p95 <= 1);
    if (f.includes('weekly')) assert.is(r.partialWeeksScaled, true, 'EIA year-end weeks are partial');
  });
}

test.run();
