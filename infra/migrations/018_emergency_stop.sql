-- Emergency stop (api/access/emergency.ts): closes all outside access of a subscriber, a product or everyone at
-- once; ingestion, indicators and operator routes keep running. Append-only: the current state of a target is its
-- latest row (action 'stop' = stopped). The application only inserts.
CREATE TABLE IF NOT EXISTS emergency_stops (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  action text NOT NULL CHECK (action IN ('stop', 'resume')),
  target_kind text NOT NULL CHECK (target_kind IN ('all', 'subscriber', 'product')),
  -- '*' for all.
  target text NOT NULL,
  actor text NOT NULL,
  subscriber_id text,
  reason text NOT NULL
);
CREATE INDEX IF NOT EXISTS emergency_stops_at_idx ON emergency_stops (at);
CREATE INDEX IF NOT EXISTS emergency_stops_target_idx ON emergency_stops (target_kind, target, id);
