-- Audit of every API request: append-only (the application only inserts), one row per request, in a strict
-- sequence (`seq`) so a hash chain over (seq order) can be added without rewriting rows (`row_hash` stays NULL
-- until then). Retention: 3 years by default, never below 6 months (api/access/audit.ts enforces the floor).
CREATE SEQUENCE IF NOT EXISTS access_audit_seq;
CREATE TABLE IF NOT EXISTS access_audit (
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  key_id text,
  subscriber_id text,
  method text NOT NULL,
  route text NOT NULL,
  product text,
  params jsonb NOT NULL DEFAULT '{}'::jsonb,
  purpose text,
  status int NOT NULL,
  cells_returned int NOT NULL DEFAULT 0,
  cells_suppressed int NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  duration_ms real,
  row_hash text,
  PRIMARY KEY (seq, at)
);
SELECT create_hypertable('access_audit', by_range('at', INTERVAL '30 days'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS access_audit_subscriber_at_idx ON access_audit (subscriber_id, at DESC);

-- Metering: usage per subscriber, product and day (China Standard Time), summed in the same transaction as the
-- audit rows it counts, so the bill always equals the audited usage.
CREATE TABLE IF NOT EXISTS access_usage_daily (
  subscriber_id text NOT NULL,
  product text NOT NULL,
  day date NOT NULL,
  calls bigint NOT NULL DEFAULT 0,
  rows bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (subscriber_id, product, day)
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_name = 'access_audit') THEN
    PERFORM add_retention_policy('access_audit', INTERVAL '3 years');
  END IF;
END
$$;
