/**
 * Autovacuum for the embedded TimescaleDB. PGlite runs PostgreSQL in
 * single-user mode: no autovacuum worker, and the cumulative statistics that
 * would tell one which tables changed stay at zero. Without it the planner
 * never gets statistics (a query planned for empty tables ran 35× slower on a
 * day of data: nested loops over 8 million rows instead of a hash join) and the
 * queue-like tables (ind_dirty: inserted and deleted all the time; ind_cell,
 * ind_contrib: updated in place) only grow.
 *
 * This loop stands in for it: every `intervalMs` it reads each table's size
 * (chunks of hypertables one by one: a cheap catalog read) and runs
 * `VACUUM (ANALYZE)` on those that grew by `growth` (default 20 %, like
 * autovacuum's scale factor) plus 64 KB since it last did, or never were
 * (`ANALYZE` only for the insert-only fact tables: nothing to vacuum; a table
 * that already has statistics when first seen — a reopened data directory —
 * counts from its size then). It
 * goes through the application's pool, so it waits for the transaction in
 * hand like any other statement.
 *
 * Single-user mode has no background workers either, so TimescaleDB's job
 * scheduler never runs: the compression, retention and continuous-aggregate
 * policies of the migrations (and coalflow's own jobs) would be declared and
 * never applied. Each pass also runs, with `CALL run_job`, the jobs whose
 * schedule interval has passed since they last ran (recorded in
 * `embedded_job_runs`, so restarts do not reset the count; a job never run
 * counts from this start).
 *
 * A real server (`DATABASE_URL`) has its own autovacuum and scheduler: this is
 * started for the embedded database only.
 */
import type pg from 'pg';
import type { Logger } from '../core/index.ts';

export interface MaintenanceOptions {
  /** Check period, ms. Default 10000. */
  intervalMs?: number;
  /** Relative growth since the last vacuum that triggers the next. Default 0.2. */
  growth?: number;
  /** Absolute growth added to the threshold, bytes. Default 64 KiB. */
  minGrowthBytes?: number;
}

export interface Maintenance {
  /** One pass: vacuums and analyzes the tables that grew (resolves with their names), then runs the due jobs. */
  runOnce(): Promise<string[]>;
  /** Runs TimescaleDB's scheduled jobs: those due (default) or all; resolves with what ran. */
  runJobs(opts?: { all?: boolean }): Promise<{ jobId: number; proc: string; ms: number; error?: string }[]>;
  stop(): Promise<void>;
}

/** Tables (or hypertables, for their chunks) that are only ever inserted into: ANALYZE is enough, VACUUM would only cost. */
const INSERT_ONLY = /^fact_/;

const SIZES_SQL = `
  SELECT format('%I.%I', n.nspname, c.relname) AS rel, pg_relation_size(c.oid) AS bytes, c.reltuples >= 0 AS analyzed,
    COALESCE((SELECT h.table_name FROM _timescaledb_catalog.chunk ch JOIN _timescaledb_catalog.hypertable h ON h.id = ch.hypertable_id
              WHERE ch.schema_name = n.nspname AND ch.table_name = c.relname), c.relname) AS base
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname IN ('public', '_timescaledb_internal')`;

export function startEmbeddedMaintenance(
  db: Pick<pg.Pool, 'query'>,
  log: Logger,
  opts: MaintenanceOptions = {},
): Maintenance {
  const growth = opts.growth ?? 0.2;
  const minGrowth = opts.minGrowthBytes ?? 64 * 1024;
  /** Size of each table when it was last vacuumed. */
  const done = new Map<string, number>();
  let running: Promise<string[]> | null = null;
  let stopped = false;

  async function pass(): Promise<string[]> {
    const r = await db.query(SIZES_SQL);
    const due: { rel: string; bytes: number; base: string }[] = [];
    for (const row of r.rows) {
      const bytes = Number(row.bytes);
      let last = done.get(row.rel as string);
      if (bytes === 0) continue;
      // First sight of a table that already has statistics (a reopened data directory): its size now is the
      // baseline, instead of vacuuming the whole database at every start.
      if (last === undefined && row.analyzed) {
        done.set(row.rel as string, bytes);
        last = bytes;
      }
      if (last === undefined || bytes >= last * (1 + growth) + minGrowth)
        due.push({ rel: row.rel as string, bytes, base: row.base as string });
    }
    // Largest growth first: those are the plans most out of date.
    due.sort((a, b) => b.bytes - (done.get(b.rel) ?? 0) - (a.bytes - (done.get(a.rel) ?? 0)));
    const vacuumed: string[] = [];
    for (const d of due) {
      if (stopped) break;
      const t0 = performance.now();
      try {
        await db.query(INSERT_ONLY.test(d.base) ? `ANALYZE ${d.rel}` : `VACUUM (ANALYZE) ${d.rel}`);
        const after = await db.query('SELECT pg_relation_size($1::regclass) AS bytes', [d.rel]);
        done.set(d.rel, Number(after.rows[0]?.bytes ?? d.bytes));
        vacuumed.push(d.rel);
        log.debug(
          { rel: d.rel, bytes: d.bytes, ms: Math.round(performance.now() - t0) },
          'embedded db: vacuum analyze',
        );
      } catch (err) {
        // A chunk dropped by retention meanwhile, or the pool closing: next pass.
        done.delete(d.rel);
        log.debug({ rel: d.rel, err: (err as Error).message }, 'embedded db: vacuum skipped');
      }
    }
    return vacuumed;
  }

  const started = Date.now();
  async function runJobs({ all = false } = {}) {
    const r =
      await db.query(`SELECT j.job_id, j.proc_name, (EXTRACT(epoch FROM j.schedule_interval) * 1000)::float8 AS every_ms,
        (EXTRACT(epoch FROM e.last_run) * 1000)::float8 AS last_ms
      FROM timescaledb_information.jobs j LEFT JOIN embedded_job_runs e ON e.job_id = j.job_id
      WHERE j.scheduled AND j.job_id >= 1000 ORDER BY j.job_id`);
    const ran: { jobId: number; proc: string; ms: number; error?: string }[] = [];
    for (const j of r.rows) {
      if (stopped) break;
      const id = Number(j.job_id);
      if (!all && Date.now() - (j.last_ms === null ? started : Number(j.last_ms)) < Number(j.every_ms))
        continue;
      const t0 = performance.now();
      try {
        await db.query(`CALL run_job(${id})`);
        ran.push({ jobId: id, proc: j.proc_name as string, ms: Math.round(performance.now() - t0) });
      } catch (err) {
        ran.push({
          jobId: id,
          proc: j.proc_name as string,
          ms: Math.round(performance.now() - t0),
          error: (err as Error).message,
        });
        log.warn({ job: id, proc: j.proc_name, err: (err as Error).message }, 'embedded db: job failed');
      }
      await db
        .query(
          `INSERT INTO embedded_job_runs (job_id, last_run) VALUES ($1, now())
        ON CONFLICT (job_id) DO UPDATE SET last_run = excluded.last_run`,
          [id],
        )
        .catch(() => undefined);
    }
    if (ran.length) log.debug({ ran }, 'embedded db: jobs run');
    return ran;
  }

  const runOnce = () =>
    (running ??= pass()
      .then(async (v) => {
        await runJobs();
        return v;
      })
      .finally(() => {
        running = null;
      }));
  const timer = setInterval(() => {
    if (running || stopped) return;
    runOnce().catch((err) => log.warn({ err: (err as Error).message }, 'embedded db maintenance failed'));
  }, opts.intervalMs ?? 10_000);
  timer.unref();
  return {
    runOnce,
    runJobs,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
