/**
 * The sales hour rollup (migration 009, `ind_sales_hour`): what the store
 * transaction maintains as facts arrive equals what the migration backfills
 * from facts stored before it existed (a database upgraded with history), and
 * neither holds the records older than the watermark (no hourly window).
 * Embedded TimescaleDB over the wire.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedDb } from '../../../infra/db/embedded.ts';
import { migrate, MIGRATIONS_DIR } from '../../../infra/db/migrate.ts';
import { createLogger } from '../../../infra/core/log.ts';
import { createMetrics } from '../../../infra/core/metrics.ts';
import { classify } from '../../../pipelines/indicators/core.ts';
import type { SaleRecord } from '../../../pipelines/contracts/types.ts';
import {
  createTimescaleSink,
  factColumns,
  insertFactsSql,
  premerge,
  type FactItem,
} from '../../../pipelines/indicators/store.ts';
import { buildFixture } from './fixture.ts';

const LATENESS_MS = 48 * 3600_000;
const ROLLUP = `SELECT hour, mine_id, company, region_code, coal_type, band, a::text, b::text, n::int FROM ind_sales_hour
  ORDER BY hour, mine_id, company, region_code, coal_type, band`;

/** The fixture's sales as one partition would classify them, in batches of 40. */
function batches(): FactItem<'sales'>[][] {
  const sales = buildFixture()
    .filter((p) => p.feed === 'sales')
    .map((p) => p.record as SaleRecord);
  const out: FactItem<'sales'>[][] = [];
  let state = { maxEventMs: -Infinity };
  for (let i = 0; i < sales.length; i += 40) {
    const recs = sales.slice(i, i + 40);
    const evs = recs.map((r) => Date.parse(r.grossTime));
    const c = classify(evs, state, LATENESS_MS);
    out.push(
      recs.map((record, j) => ({
        record,
        eventMs: evs[j]!,
        lateness: c.classes[j]!,
        watermarkMs: state.maxEventMs,
      })),
    );
    state = c.state;
  }
  return out;
}

test("the rollup kept by the store equals the migration's backfill from facts stored before it", async () => {
  const all = batches();
  const tooLate = all.flat().filter((it) => it.lateness === 'too_late');
  assert.ok(tooLate.length >= 2, 'the fixture has records older than the watermark');
  const dir = mkdtempSync(join(tmpdir(), 'mig009-'));
  const a = await startEmbeddedDb({ dataDir: 'memory' });
  const b = await startEmbeddedDb({ dataDir: 'memory' });
  const pa = new pg.Pool({ connectionString: a.url, max: 1 });
  const pb = new pg.Pool({ connectionString: b.url, max: 1 });
  try {
    // A: the schema before 009, facts stored as the sink of that version stored them, then the upgrade.
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '009'))
      copyFileSync(join(MIGRATIONS_DIR, f), join(dir, f));
    await migrate(pa, dir);
    for (const items of all) await pa.query(insertFactsSql('sales'), factColumns('sales', items));
    copyFileSync(join(MIGRATIONS_DIR, '009_sales_hours.sql'), join(dir, '009_sales_hours.sql'));
    assert.equal((await migrate(pa, dir)).applied, ['009_sales_hours.sql']);
    // B: the current schema, the same batches through the store sink (twice: the replay adds nothing).
    await migrate(pb);
    const sink = createTimescaleSink({
      db: pb,
      metrics: createMetrics(),
      log: createLogger({ level: 'silent' }),
    });
    for (let round = 0; round < 2; round++) {
      for (const items of all) {
        await sink.write({ feed: 'sales', topic: 't', partition: 0 }, (prev) => ({
          items,
          next: { maxEventMs: Math.max(prev.maxEventMs, ...items.map((it) => it.eventMs)) },
          merged: premerge('sales', items),
        }));
      }
    }
    const backfilled = (await pa.query(ROLLUP)).rows;
    const kept = (await pb.query(ROLLUP)).rows;
    assert.ok(kept.length > 100, `rollup rows ${kept.length}`);
    assert.equal(kept, backfilled);
    // Records older than the watermark are in the facts but in no hour.
    const onTime = all.flat().length - tooLate.length;
    assert.is(
      kept.reduce((s, r) => s + Number(r.n), 0),
      onTime,
    );
  } finally {
    await pa.end();
    await pb.end();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
