import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedDb } from '../../infra/db/embedded.ts';

test('a persisted embedded TimescaleDB reopens with hypertables and continuous aggregates writable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalflow-pgl-'));
  try {
    for (const round of [1, 2]) {
      const emb = await startEmbeddedDb({ dataDir: join(dir, 'db') });
      const pool = new pg.Pool({ connectionString: emb.url, max: 1 });
      try {
        if (round === 1) {
          await pool.query('CREATE TABLE t (ts timestamptz NOT NULL, v float8)');
          await pool.query(`SELECT create_hypertable('t', by_range('ts'))`);
          await pool.query(`CREATE MATERIALIZED VIEW t_day WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket('1 day', ts) AS d, sum(v) AS s FROM t GROUP BY d WITH NO DATA`);
        }
        await pool.query(`INSERT INTO t VALUES ('2026-01-0${round} 10:00+08', ${round * 10})`);
        const r = await pool.query('SELECT sum(s)::float8 AS s FROM t_day');
        assert.is(r.rows[0].s, round === 1 ? 10 : 30, `round ${round}`);
      } finally {
        await pool.end();
        await emb.close();
      }
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test.run();
