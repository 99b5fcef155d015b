-- Two publication lanes in the indicator outbox (pipelines/indicators/outbox.ts):
-- lane 0 (direct) = the points of the cells a record feeds (tumbling windows,
-- sales hours), published within a second; lane 1 (derived) = trailing windows
-- and derived metrics (utilisation, operating rate, stock estimates, days of
-- stock, index, balance), which read much more and are republished on a
-- cadence (publishDerivedIntervalMs). Every change dirties its key in both lanes.
-- Rows dirtied before this migration become lane 0; lane 1 gets a copy of each.
ALTER TABLE ind_dirty ADD COLUMN IF NOT EXISTS lane smallint NOT NULL DEFAULT 0;
ALTER TABLE ind_dirty DROP CONSTRAINT IF EXISTS ind_dirty_pkey;
ALTER TABLE ind_dirty ADD CONSTRAINT ind_dirty_pkey PRIMARY KEY (lane, kind, scope, scope_id);
DROP INDEX IF EXISTS ind_dirty_first_idx;
INSERT INTO ind_dirty (kind, scope, scope_id, ev_from, ev_to, ot_from, ot_to, accepted_ms, first_dirty_ms, ver, lane)
SELECT kind, scope, scope_id, ev_from, ev_to, ot_from, ot_to, accepted_ms, first_dirty_ms, ver, 1 FROM ind_dirty WHERE lane = 0
ON CONFLICT DO NOTHING;
CREATE INDEX IF NOT EXISTS ind_dirty_lane_first_idx ON ind_dirty (lane, first_dirty_ms);
