-- Rejects are deduplicated like records: the same rejected record sent again (a file imported twice, a
-- client re-sending a batch) is one open reject, found by a keyed hash of the feed and the stored payload.
-- Rows from before this column have no key and are left as they are.
ALTER TABLE ingest_rejects ADD COLUMN IF NOT EXISTS payload_key text;
CREATE UNIQUE INDEX IF NOT EXISTS ingest_rejects_open_payload ON ingest_rejects (feed, payload_key) WHERE status = 'open' AND payload_key IS NOT NULL;
