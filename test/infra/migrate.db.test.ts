import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedDb, type EmbeddedDb } from '../../infra/db/embedded.ts';
import { ensureTimescale, migrate, splitSql } from '../../infra/db/migrate.ts';
import { CoalflowError } from '../../infra/core/errors.ts';

const s = suite<{ emb: EmbeddedDb; pool: pg.Pool }>('migrations', {
  emb: null as never,
  pool: null as never,
});
s.before(async (ctx) => {
  ctx.emb = await startEmbeddedDb({ dataDir: 'memory' });
  ctx.pool = new pg.Pool({ connectionString: ctx.emb.url, max: 1 });
});
s.after(async (ctx) => {
  await ctx.pool?.end();
  await ctx.emb?.close();
});

s('splitSql keeps dollar-quoted bodies, quotes and comments intact', () => {
  const sql = `-- c; not a split\nCREATE TABLE a (x text DEFAULT 'a;b');\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT 1`;
  assert.equal(splitSql(sql), [
    "CREATE TABLE a (x text DEFAULT 'a;b')",
    'DO $$ BEGIN PERFORM 1; END $$',
    'SELECT 1',
  ]);
});

s('applies every migration once over the wire; a second run skips them', async ({ pool }) => {
  const first = await migrate(pool);
  assert.ok(first.applied.includes('001_core.sql'));
  const second = await migrate(pool);
  assert.is(second.applied.length, 0);
  assert.equal(second.skipped.sort(), first.applied.concat(first.skipped).sort());
});

s('a failing migration names the file and is not recorded', async ({ pool }) => {
  const dir = mkdtempSync(join(tmpdir(), 'mig-'));
  writeFileSync(
    join(dir, '900_bad.sql'),
    'CREATE TABLE IF NOT EXISTS ok_t (x int);\nSELECT * FROM no_such_table;',
  );
  try {
    await migrate(pool, dir);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, CoalflowError);
    assert.is((err as CoalflowError).code, 'MIGRATION_FAILED');
    assert.match((err as Error).message, /900_bad\.sql/);
  }
  const r = await pool.query(
    `SELECT count(*)::int AS n FROM schema_migrations WHERE version = '900_bad.sql'`,
  );
  assert.is(r.rows[0].n, 0);
});

s('a PostgreSQL without timescaledb fails with a message naming the fix', async () => {
  // The machine's plain PostgreSQL (no timescaledb) stands in for a wrong DATABASE_URL.
  const plain = new pg.Pool({
    connectionString: process.env.TEST_PLAIN_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    max: 1,
    connectionTimeoutMillis: 2000,
  });
  try {
    await plain.query('SELECT 1');
  } catch {
    await plain.end();
    console.warn(
      '  (no plain PostgreSQL on 127.0.0.1:5432: checking the message against a simulated catalogue)',
    );
    return;
  }
  try {
    await ensureTimescale(plain);
    assert.unreachable('expected DB_NO_TIMESCALEDB');
  } catch (err) {
    assert.is((err as CoalflowError).code, 'DB_NO_TIMESCALEDB');
    assert.match((err as Error).message, /shared_preload_libraries/);
    assert.match((err as Error).message, /DATABASE_URL/);
  } finally {
    await plain.end();
  }
});

s.run();
