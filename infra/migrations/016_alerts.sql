-- Market-risk alerts (pipelines/alerts/). Every statement is idempotent.
-- alert_states: one row per state of an alert (open, each update, end), keyed by the
-- deterministic alert id and its sequence number: replays and several workers write
-- the same rows (ON CONFLICT DO NOTHING). A hypertable on the state's event time.
CREATE TABLE IF NOT EXISTS alert_states (
  alert_id     text        NOT NULL,
  seq          integer     NOT NULL,
  kind         text        NOT NULL CHECK (kind IN ('open', 'update', 'end')),
  rule         text        NOT NULL,
  family       text        NOT NULL,
  scope        text        NOT NULL,
  scope_id     text        NOT NULL,
  metric       text        NOT NULL,
  region       text,
  severity     text        NOT NULL CHECK (severity IN ('warning', 'critical')),
  started_at   timestamptz NOT NULL,
  at           timestamptz NOT NULL,
  title        text        NOT NULL,
  evidence     jsonb       NOT NULL,
  -- When the worker stored it (ms); the latency of delivery starts here at the latest.
  created_ms   bigint      NOT NULL,
  -- Set once the state is on coal.alerts and the live channel (outbox); a publisher holds it with a lease (ms).
  published_ms bigint,
  publish_lease bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (alert_id, seq, at)
);
SELECT create_hypertable('alert_states', by_range('at', INTERVAL '30 days'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS alert_states_unpublished_idx ON alert_states (created_ms) WHERE published_ms IS NULL;

-- alerts: the current state of each alert (the latest seq), for GET /v1/alerts.
CREATE TABLE IF NOT EXISTS alerts (
  id          text        PRIMARY KEY,
  rule        text        NOT NULL,
  family      text        NOT NULL,
  scope       text        NOT NULL,
  scope_id    text        NOT NULL,
  metric      text        NOT NULL,
  region      text,
  severity    text        NOT NULL,
  active      boolean     NOT NULL,
  seq         integer     NOT NULL,
  title       text        NOT NULL,
  evidence    jsonb       NOT NULL,
  started_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  ended_at    timestamptz
);
CREATE INDEX IF NOT EXISTS alerts_started_idx ON alerts (started_at);
CREATE INDEX IF NOT EXISTS alerts_active_idx ON alerts (active) WHERE active;

-- Rule state per entity (the coal.indicators key): the watched day series and the open alerts.
CREATE TABLE IF NOT EXISTS alert_rule_state (
  key          text   PRIMARY KEY,
  state        jsonb  NOT NULL,
  last_seen_ms bigint,
  -- Bumped by every write: the rules run outside the transaction and re-run inside it only if a state moved meanwhile.
  rev          bigint NOT NULL DEFAULT 0
);

-- A subscriber's own thresholds for its entities (one set per rule and entity).
CREATE TABLE IF NOT EXISTS alert_thresholds (
  rule          text        NOT NULL,
  scope         text        NOT NULL,
  scope_id      text        NOT NULL,
  subscriber_id text        NOT NULL,
  params        jsonb       NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule, scope, scope_id)
);

CREATE TABLE IF NOT EXISTS alert_acks (
  alert_id      text        NOT NULL,
  subscriber_id text        NOT NULL,
  acked_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (alert_id, subscriber_id)
);

-- Webhooks per subscriber. `audience` = {regions: [...]|'*', mines: [...], users: [...]}.
CREATE TABLE IF NOT EXISTS alert_webhooks (
  id                   text        PRIMARY KEY,
  subscriber_id        text        NOT NULL,
  url                  text        NOT NULL,
  secret               text        NOT NULL,
  audience             jsonb       NOT NULL,
  enabled              boolean     NOT NULL DEFAULT true,
  consecutive_failures integer     NOT NULL DEFAULT 0,
  disabled_at          timestamptz,
  disabled_reason      text,
  created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_webhooks_subscriber_idx ON alert_webhooks (subscriber_id);

-- One row per (webhook, alert state): the delivery, retried with backoff until delivered or expired.
CREATE TABLE IF NOT EXISTS alert_deliveries (
  webhook_id      text    NOT NULL,
  alert_id        text    NOT NULL,
  seq             integer NOT NULL,
  status          text    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'expired')),
  attempts        integer NOT NULL DEFAULT 0,
  created_ms      bigint  NOT NULL,
  next_attempt_ms bigint  NOT NULL,
  lease_until     bigint  NOT NULL DEFAULT 0,
  last_status     integer,
  last_error      text,
  delivered_ms    bigint,
  PRIMARY KEY (webhook_id, alert_id, seq)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due_idx ON alert_deliveries (next_attempt_ms) WHERE status = 'pending';

-- The delivery log: one row per attempt.
CREATE TABLE IF NOT EXISTS alert_delivery_log (
  id          bigserial PRIMARY KEY,
  webhook_id  text      NOT NULL,
  alert_id    text      NOT NULL,
  seq         integer   NOT NULL,
  attempt     integer   NOT NULL,
  at_ms       bigint    NOT NULL,
  http_status integer,
  error       text,
  duration_ms integer   NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_delivery_log_webhook_idx ON alert_delivery_log (webhook_id, id);

-- Notices to operators (a webhook disabled after repeated failures, deliveries expired).
CREATE TABLE IF NOT EXISTS alert_notices (
  id            bigserial   PRIMARY KEY,
  kind          text        NOT NULL,
  webhook_id    text,
  subscriber_id text,
  message       text        NOT NULL,
  at            timestamptz NOT NULL DEFAULT now()
);
