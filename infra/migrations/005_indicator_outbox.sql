-- Indicator outbox (pipelines/indicators/outbox.ts): the keys whose published
-- points are stale, written in the same transaction as the facts and cells
-- that made them stale, removed by a publisher after Redis and coal.indicators
-- have the new points. One row per (kind, scope, scope id): `kind` is a cell
-- name or `rec:<feed>` for inputs that are not cells (mine status, stock
-- reports per region, users per sector). Ranges are event-time window starts
-- (ms): ev_* over the finest non-hour window touched, ot_* over the hours
-- touched by records on time (NULL when none). A publisher claims rows with a
-- lease (lease_until, ms), publishes, then deletes the rows whose `ver` did not
-- move meanwhile: a crash mid-publication leaves them dirty.
CREATE TABLE IF NOT EXISTS ind_dirty (
  kind text NOT NULL,
  scope text NOT NULL,
  scope_id text NOT NULL,
  ev_from bigint NOT NULL,
  ev_to bigint NOT NULL,
  ot_from bigint,
  ot_to bigint,
  -- Earliest acceptance time (ms) of the records behind the pending change: the end-to-end latency.
  accepted_ms bigint,
  first_dirty_ms bigint NOT NULL,
  ver bigint NOT NULL,
  lease_until bigint NOT NULL DEFAULT 0,
  lease_owner text,
  PRIMARY KEY (kind, scope, scope_id)
);
CREATE INDEX IF NOT EXISTS ind_dirty_first_idx ON ind_dirty (first_dirty_ms);
CREATE SEQUENCE IF NOT EXISTS ind_dirty_ver;
