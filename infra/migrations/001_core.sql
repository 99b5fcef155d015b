-- Core bookkeeping. Every statement is idempotent (migrations run outside a transaction).
CREATE TABLE IF NOT EXISTS coalflow_meta (
  key text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
