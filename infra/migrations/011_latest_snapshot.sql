-- The "latest" snapshots (Redis hashes) saved at a graceful stop when the cache does not persist itself
-- (ioredis-mock, the embedded default), and loaded back at the next start before the API answers: restoring
-- them is a read of this table instead of recomputing every key from the store. Emptied once loaded, so a
-- start after a crash (no save) recomputes them (pipelines/indicators/rebuild.ts).
CREATE TABLE IF NOT EXISTS latest_snapshot (
  key text PRIMARY KEY,
  ws bigint NOT NULL,
  ver bigint NOT NULL,
  json text NOT NULL
);
