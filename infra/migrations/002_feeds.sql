-- Ingest bookkeeping. Every statement is idempotent (migrations run outside a transaction).

-- Deduplication by (feed, record id), shared by all workers and surviving restarts.
-- A record is first claimed (state 'claimed', with the source position that claimed it), then marked
-- 'produced' once it is on the canonical topic. A redelivery from the same source position is a retry,
-- not a duplicate; a different position with the same id is a duplicate.
CREATE TABLE IF NOT EXISTS ingest_seen (
  feed text NOT NULL,
  record_id text NOT NULL,
  source_ref text NOT NULL,
  state text NOT NULL DEFAULT 'claimed',
  claimed_at timestamptz NOT NULL DEFAULT now(),
  produced_at timestamptz,
  PRIMARY KEY (feed, record_id)
);

-- Rejected records (also on coal.dlq). The payload is the original record: it stays inside the domain
-- (原始数据不出域): the API shows it to operators only masked.
CREATE TABLE IF NOT EXISTS ingest_rejects (
  id bigserial PRIMARY KEY,
  feed text NOT NULL,
  reason text NOT NULL,
  message text NOT NULL,
  source text NOT NULL,
  source_ref text NOT NULL,
  payload jsonb,
  payload_text text,
  received_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL DEFAULT 'open',
  resolved_at timestamptz,
  resolved_record_id text
);
CREATE UNIQUE INDEX IF NOT EXISTS ingest_rejects_source_ref ON ingest_rejects (source_ref);
CREATE INDEX IF NOT EXISTS ingest_rejects_lookup ON ingest_rejects (feed, reason, status, id);

-- Region (行政区划) of each mine seen on the mines feed or on sales rows that carry one, so sales rows of
-- 销售明细表 (which has no 行政区划 column) can still be attributed to a banner.
CREATE TABLE IF NOT EXISTS mine_registry (
  mine_id text PRIMARY KEY,
  region_code text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Embedded mode only (in-process broker): canonical records accepted by a file import or HTTP ingest are
-- also kept here, and `start` replays them into the in-process broker at boot, since that broker lives
-- only as long as its process.
CREATE TABLE IF NOT EXISTS ingest_outbox (
  id bigserial PRIMARY KEY,
  feed text NOT NULL,
  record_id text NOT NULL,
  key text NOT NULL,
  record jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ingest_outbox_record ON ingest_outbox (feed, record_id);
