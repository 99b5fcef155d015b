import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { storedAlerts } from '../../../api/reports/content.ts';
import { parsePeriod } from '../../../api/reports/period.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('api/reports alerts section (db)');
let rt: Runtime;
test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  const row = (
    id: string,
    scope: string,
    scopeId: string,
    region: string | null,
    start: string,
    end: string | null,
  ) =>
    rt.db.query(
      `INSERT INTO alerts (id, rule, family, scope, scope_id, metric, region, severity, active, seq, title, evidence, started_at, updated_at, ended_at)
     VALUES ($1, 'price_fall', 'price', $2, $3, 'vwap', $4, 'warning', $5, 1, $6, '{}', $7, $7, $8)`,
      [id, scope, scopeId, region, end === null, `预警 ${id}`, start, end],
    );
  await row('a-city', 'city', '150600', null, '2026-10-03T02:00:00Z', '2026-10-06T02:00:00Z');
  await row('a-mine', 'mine', 'M1', '150621', '2026-10-10T02:00:00Z', null);
  await row('a-before', 'city', '150600', null, '2026-08-01T02:00:00Z', '2026-08-02T02:00:00Z');
  await row('a-after', 'city', '150600', null, '2026-11-02T02:00:00Z', null);
});
test.after(async () => {
  await rt?.close();
});

test("a month's report lists the alerts open during it, and an audience sees only its own entities' alerts", async () => {
  const oct = parsePeriod('month', '2026-10');
  const all = await storedAlerts(rt.db)(oct, null);
  assert.equal(all.map((a) => a.message).sort(), ['预警 a-city', '预警 a-mine']);
  const other = await storedAlerts(rt.db)(oct, {
    subscriberId: 's',
    regions: ['150602'],
    mines: ['M9'],
    users: [],
  });
  assert.equal(
    other.map((a) => a.message),
    ['预警 a-city'],
    "a market-wide alert, not another company's mine",
  );
  const owner = await storedAlerts(rt.db)(oct, { subscriberId: 's', regions: [], mines: ['M1'], users: [] });
  assert.equal(owner.map((a) => a.message).sort(), ['预警 a-city', '预警 a-mine']);
});

test.run();
