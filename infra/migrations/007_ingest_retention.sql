-- Retention of the ingest bookkeeping (pipelines/ingest): `ingest_seen` (the
-- dedupe of re-uploaded records) and `ingest_outbox` (embedded mode: accepted
-- records replayed into the in-process broker at boot) grew without bound.
-- A TimescaleDB job deletes what is older than config.days (default 30):
-- a record re-uploaded later than that passes ingest again and is still
-- counted once, by the indicators' fact key (record id, event time).
-- Only produced `ingest_seen` rows go: a claim still open belongs to an import
-- in progress (a stale one is taken over by the next import of the record).
-- A real TimescaleDB runs the job on its scheduler; the embedded one has none,
-- and infra/db/maintenance.ts runs due jobs in its place.
CREATE INDEX IF NOT EXISTS ingest_seen_produced_idx ON ingest_seen (produced_at) WHERE state = 'produced';
CREATE INDEX IF NOT EXISTS ingest_outbox_created_idx ON ingest_outbox (created_at);
CREATE OR REPLACE PROCEDURE coalflow_ingest_retention(job_id int, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  keep interval := make_interval(days => COALESCE((config->>'days')::int, 30));
BEGIN
  DELETE FROM ingest_seen WHERE state = 'produced' AND produced_at < now() - keep;
  DELETE FROM ingest_outbox WHERE created_at < now() - keep;
END
$$;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'coalflow_ingest_retention') THEN
    PERFORM add_job('coalflow_ingest_retention', '1 hour', config => '{"days": 30}');
  END IF;
END
$$;
