/**
 * Governance bench: sandbox queries over a year of daily sales of 300 mines (written straight into the fact
 * table, the continuous aggregates refreshed as their policies would), and the monthly compliance report over a
 * month of audit and metering rows, in all four formats. Embedded TimescaleDB in its own process. Prints a JSON
 * summary (median of `--repeat` runs of each, ms).
 *
 *   node --import tsx infra/bench/governance.ts [--mines 300] [--audit 50000] [--repeat 5]
 */
import { parseArgs } from 'node:util';
import { createLogger, loadConfig } from '../core/index.ts';
import { buildRuntime } from '../compose.ts';
import { REGIONS } from './common.ts';
import { complianceDoc, complianceFigures, normalizeQuery, runSandbox } from '../../api/governance/index.ts';
import type { SandboxQuery } from '../../api/governance/sandbox.ts';
import { localize } from '../../api/reports/content.ts';
import { FORMATS, renderAll } from '../../api/reports/render.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
};

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: { mines: { type: 'string' }, audit: { type: 'string' }, repeat: { type: 'string' } },
  });
  const mines = Number(args.mines ?? 300);
  const auditRows = Number(args.audit ?? 50_000);
  const repeat = Number(args.repeat ?? 5);
  const env = { COALFLOW_DATA_DIR: 'memory', COALFLOW_SIMULATOR: 'false', LOG_LEVEL: 'warn' };
  const rt = await buildRuntime(loadConfig(env, { dataDir: 'memory' }), {
    log: createLogger({ level: 'warn' }),
  });
  try {
    let t = performance.now();
    // One sale per mine and day over 366 days; 40 owning groups; regions, coal types and bands spread.
    await rt.db.query(
      `INSERT INTO fact_sales (record_id, event_time, mine_id, company, region_code, coal_type, band, net_t, value_yuan)
      SELECT 'b-' || m || '-' || d, timestamptz '2025-10-01 10:00:00+08' + make_interval(days => d), 'mine-' || m, 'group-' || (m % 40),
        ($2::text[])[1 + m % array_length($2::text[], 1)], (ARRAY['动力煤', '块煤', '沫煤'])[1 + m % 3],
        (ARRAY['5500', '5000', '4500', 'lt4500'])[1 + (m / 3) % 4], 50 + (m * 7 + d * 13) % 400, (50 + (m * 7 + d * 13) % 400) * (550 + (m + d) % 200)
      FROM generate_series(0, $1::int - 1) m, generate_series(0, 365) d`,
      [mines, REGIONS],
    );
    for (const v of ['sales_daily', 'sales_weekly', 'sales_monthly'])
      await rt.db.query(`CALL refresh_continuous_aggregate('${v}', NULL, NULL)`);
    const fillMs = performance.now() - t;

    const queries: Record<string, SandboxQuery> = {
      region_month_year: {
        measures: ['tonnage', 'value', 'vwap', 'trips'],
        dimensions: ['region', 'month'],
        range: { from: '2025-10-01', to: '2026-09-30' },
      },
      type_band_week_year: {
        measures: ['tonnage', 'vwap'],
        dimensions: ['coal_type', 'band', 'week'],
        range: { from: '2025-10-01', to: '2026-09-30' },
      },
      region_day_quarter: {
        measures: ['tonnage'],
        dimensions: ['region', 'day'],
        range: { from: '2026-07-01', to: '2026-09-30' },
      },
    };
    const sandbox: Record<string, { ms: number; cells: number; suppressed: number }> = {};
    for (const [name, q] of Object.entries(queries)) {
      const n = normalizeQuery(q);
      const times: number[] = [];
      let last = null;
      for (let i = 0; i < repeat; i++) {
        t = performance.now();
        last = await runSandbox(rt.db, n, { regions: null });
        times.push(performance.now() - t);
      }
      sandbox[name] = { ms: median(times), cells: last!.cellsReturned, suppressed: last!.cellsSuppressed };
    }

    // A month of audit rows and their usage, as the audit writer leaves them.
    await rt.db.query(
      `INSERT INTO access_audit (seq, at, key_id, subscriber_id, method, route, product, params, purpose, status, cells_returned, cells_suppressed, bytes, duration_ms)
      SELECT nextval('access_audit_seq'), timestamptz '2026-10-01 00:00:00+08' + (i * interval '1 second') * (2678400.0 / $1::int), 'k' || (i % 20), 's' || (i % 20), 'GET',
        '/v1/indicators/latest', 'indicator.' || (ARRAY['sales', 'price', 'inventory'])[1 + i % 3], '{}'::jsonb, 'p',
        CASE WHEN i % 97 = 0 THEN 401 WHEN i % 89 = 0 THEN 403 WHEN i % 83 = 0 THEN 429 ELSE 200 END, 12, 2, 2048, 3
      FROM generate_series(1, $1::int) i`,
      [auditRows],
    );
    await rt.db.query(
      `INSERT INTO access_usage_daily (subscriber_id, product, day, calls, rows, bytes)
      SELECT subscriber_id, product, (at AT TIME ZONE 'Asia/Shanghai')::date, count(*), sum(cells_returned), sum(bytes) FROM access_audit
      WHERE status < 400 GROUP BY 1, 2, 3 ON CONFLICT DO NOTHING`,
    );
    const figureTimes: number[] = [];
    const renderTimes: number[] = [];
    for (let i = 0; i < repeat; i++) {
      t = performance.now();
      const f = await complianceFigures(rt.db, '2026-10');
      figureTimes.push(performance.now() - t);
      t = performance.now();
      await renderAll(localize(complianceDoc(f), 'zh'), FORMATS);
      renderTimes.push(performance.now() - t);
    }
    console.log(
      JSON.stringify(
        {
          salesRows: mines * 366,
          fillMs: Math.round(fillMs),
          sandboxMs: sandbox,
          compliance: { auditRows, figuresMs: median(figureTimes), renderAllFormatsMs: median(renderTimes) },
        },
        null,
        2,
      ),
    );
  } finally {
    await rt.close();
  }
}

await main();
