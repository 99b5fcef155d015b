import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedDb, startEmbeddedDbProcess } from '../../infra/db/embedded.ts';
import { testRuntime } from '../helpers/runtime.ts';
import { startEmbeddedMaintenance } from '../../infra/db/maintenance.ts';

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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a data directory serves one process at a time; a dead owner's lock is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalflow-pgl-'));
  try {
    const first = await startEmbeddedDbProcess({ dataDir: join(dir, 'db') });
    let second: Awaited<ReturnType<typeof startEmbeddedDbProcess>> | null = null;
    try {
      const err = await startEmbeddedDbProcess({ dataDir: join(dir, 'db') }).then(
        (x) => {
          second = x;
          return null;
        },
        (e: Error) => e,
      );
      assert.ok(err, 'a second process on the same directory is refused');
      assert.match(err!.message, new RegExp(`in use by process ${first.pid}`));
      assert.match(err!.message, /数据目录/);
    } finally {
      await (second as { close(): Promise<void> } | null)?.close();
      await first.close();
    }
    assert.not.ok(existsSync(join(dir, 'db.lock')), 'released on close');
    // A lock left by a process that died (no close): taken over.
    writeFileSync(join(dir, 'db.lock'), '2147483646');
    const again = await startEmbeddedDb({ dataDir: join(dir, 'db') });
    const pool = new pg.Pool({ connectionString: again.url, max: 1 });
    try {
      assert.is((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await pool.end();
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the embedded TimescaleDB in its own process serves the wire protocol, reports its RSS and exits on close', async () => {
  const emb = await startEmbeddedDbProcess({ dataDir: 'memory' });
  const pool = new pg.Pool({ connectionString: emb.url, max: 1 });
  try {
    assert.is.not(emb.pid, process.pid);
    const r = await pool.query(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
    assert.match(String(r.rows[0].extversion), /^2\./);
    await pool.query('CREATE TABLE p (ts timestamptz NOT NULL, v int)');
    await pool.query(`SELECT create_hypertable('p', by_range('ts'))`);
    await pool.query(
      `INSERT INTO p SELECT now() - make_interval(hours => g), g FROM generate_series(1, 1000) g`,
    );
    assert.is(Number((await pool.query('SELECT sum(v) AS s FROM p')).rows[0].s), 500500);
    const rss = await emb.rss();
    assert.ok(rss > 10 * 2 ** 20, `child RSS ${rss}`);
  } finally {
    await pool.end();
    await emb.close();
  }
  // The child is gone: signal 0 to its pid fails.
  assert.throws(() => process.kill(emb.pid, 0));
});

test('named statements keep working after a failed query on the embedded server (one session behind every connection)', async () => {
  const rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  try {
    const q = (v: number) =>
      rt.db.query({ name: 'coalflow_test_named', text: 'SELECT $1::int + 1 AS x', values: [v] });
    assert.is((await q(1)).rows[0].x, 2);
    // A failing statement: the embedded server drops that connection and the pool opens another.
    await rt.db.query(`SELECT timezone('Asia/Shanghai', INTERVAL '1 day')`).then(
      () => assert.unreachable('should fail'),
      (err: Error) => assert.match(err.message, /timezone/),
    );
    assert.is((await q(2)).rows[0].x, 3, 'the named statement is prepared anew, not "already exists"');
    await rt.db.query({ name: 'coalflow_test_bad', text: 'SELECT $1::int AS x', values: ['zz'] }).then(
      () => assert.unreachable('should fail'),
      () => undefined,
    );
    assert.is(
      (await rt.db.query({ name: 'coalflow_test_bad', text: 'SELECT $1::int AS x', values: [5] })).rows[0].x,
      5,
    );
  } finally {
    await rt.close();
  }
});

test('maintenance of the embedded database (no autovacuum there) vacuums and analyzes the tables that grew, and only those', async () => {
  const rt = await testRuntime({
    broker: 'in-process',
    cache: 'mock',
    overrides: { embeddedMaintenanceMs: 0 },
  });
  const m = startEmbeddedMaintenance(rt.db, rt.log, { intervalMs: 3_600_000 });
  try {
    await rt.db.query('CREATE TABLE maint_t (id int PRIMARY KEY, v text)');
    await rt.db.query(`INSERT INTO maint_t SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g`);
    const tuples = async () =>
      Number(
        (await rt.db.query(`SELECT reltuples FROM pg_class WHERE relname = 'maint_t'`)).rows[0].reltuples,
      );
    assert.ok((await tuples()) <= 0, 'never analyzed yet');
    const first = await m.runOnce();
    assert.ok(first.includes('public.maint_t'), `first pass: ${first.join(', ')}`);
    assert.is(await tuples(), 20000);
    const stats = await rt.db.query(`SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'maint_t'`);
    assert.ok(stats.rows[0].n >= 2, 'column statistics exist');
    assert.not.ok((await m.runOnce()).includes('public.maint_t'), 'unchanged: not vacuumed again');
    await rt.db.query(`INSERT INTO maint_t SELECT g, repeat('y', 50) FROM generate_series(20001, 30000) g`);
    assert.ok((await m.runOnce()).includes('public.maint_t'), 'grown by half: vacuumed again');
    assert.is(await tuples(), 30000);
    // A new maintenance (a restart on a reopened data directory) takes analyzed tables as they are.
    const again = startEmbeddedMaintenance(rt.db, rt.log, { intervalMs: 3_600_000 });
    try {
      await rt.db.query('CREATE TABLE maint_u (id int)');
      await rt.db.query('INSERT INTO maint_u SELECT generate_series(1, 1000)');
      const ran = await again.runOnce();
      assert.not.ok(ran.includes('public.maint_t'), 'analyzed before: not vacuumed at start');
      assert.ok(ran.includes('public.maint_u'), 'never analyzed: vacuumed');
    } finally {
      await again.stop();
    }
  } finally {
    await m.stop();
    await rt.close();
  }
});

test('maintenance runs the TimescaleDB jobs the embedded database has no scheduler for: retention drops old facts, ingest bookkeeping expires', async () => {
  const rt = await testRuntime({
    broker: 'in-process',
    cache: 'mock',
    overrides: { embeddedMaintenanceMs: 0 },
  });
  const m = startEmbeddedMaintenance(rt.db, rt.log, { intervalMs: 3_600_000 });
  try {
    const old = new Date(Date.now() - 4 * 365 * 86_400_000).toISOString();
    const recent = new Date(Date.now() - 86_400_000).toISOString();
    await rt.db.query(
      `INSERT INTO fact_sales (record_id, event_time, mine_id, company, region_code, coal_type, band, net_t, value_yuan)
      VALUES ('old', $1, 'M1', 'C1', '150602', '动力煤', '5000', 30, 9000), ('new', $2, 'M1', 'C1', '150602', '动力煤', '5000', 30, 9000)`,
      [old, recent],
    );
    await rt.db.query(`INSERT INTO ingest_seen (feed, record_id, source_ref, state, produced_at) VALUES
      ('sales', 'old', 'f', 'produced', now() - INTERVAL '40 days'), ('sales', 'new', 'f', 'produced', now() - INTERVAL '1 day'),
      ('sales', 'open', 'f', 'claimed', NULL)`);
    await rt.db.query(`INSERT INTO ingest_outbox (feed, record_id, key, record, created_at) VALUES
      ('sales', 'old', 'M1', '{}', now() - INTERVAL '40 days'), ('sales', 'new', 'M1', '{}', now() - INTERVAL '1 day')`);
    assert.equal(await m.runJobs(), [], 'nothing is due right after start');
    const ran = await m.runJobs({ all: true });
    const procs = new Set(ran.map((r) => r.proc));
    for (const p of [
      'policy_retention',
      'policy_compression',
      'policy_refresh_continuous_aggregate',
      'coalflow_ingest_retention',
    ])
      assert.ok(procs.has(p), `${p} ran`);
    assert.equal(
      ran.filter((r) => r.error),
      [],
      'no job failed',
    );
    const ids = async (sql: string) => (await rt.db.query(sql)).rows.map((r) => r.record_id as string).sort();
    assert.equal(
      await ids('SELECT record_id FROM fact_sales'),
      ['new'],
      'the 4-year-old fact is past the 3-year retention',
    );
    assert.equal(
      await ids('SELECT record_id FROM ingest_seen'),
      ['new', 'open'],
      'produced rows older than 30 days expire; open claims stay',
    );
    assert.equal(await ids('SELECT record_id FROM ingest_outbox'), ['new']);
    // Runs are recorded, so a restart does not start counting again: nothing is due just after; a job whose
    // last run is older than its interval is due at once, even for a maintenance started a moment ago.
    const restarted = startEmbeddedMaintenance(rt.db, rt.log, { intervalMs: 3_600_000 });
    try {
      assert.equal(await restarted.runJobs(), []);
      const ingest = ran.find((r) => r.proc === 'coalflow_ingest_retention')!.jobId;
      await rt.db.query(
        `UPDATE embedded_job_runs SET last_run = now() - INTERVAL '2 hours' WHERE job_id = $1`,
        [ingest],
      );
      assert.equal(
        (await restarted.runJobs()).map((r) => r.jobId),
        [ingest],
        'its hourly interval has passed',
      );
    } finally {
      await restarted.stop();
    }
  } finally {
    await m.stop();
    await rt.close();
  }
});

test.run();
