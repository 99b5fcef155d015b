-- When the embedded database's maintenance (infra/db/maintenance.ts) last ran each TimescaleDB job: PGlite has
-- no scheduler and does not record job statistics, and counting from each start would never run a job whose
-- interval is longer than the time between restarts. Unused with a TimescaleDB server (its scheduler runs the jobs).
CREATE TABLE IF NOT EXISTS embedded_job_runs (
  job_id int PRIMARY KEY,
  last_run timestamptz NOT NULL
);
