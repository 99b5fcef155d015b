-- Forecasts (models/): one model_versions row per retrain of a series, its forecast points in a
-- hypertable. Every statement is idempotent (migrations run statement by statement, outside a transaction).
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS model_versions (
  id              bigserial PRIMARY KEY,
  series_key      text        NOT NULL,
  label           text,
  model           text        NOT NULL,
  -- 1, 2, 3 … per series_key: the n-th retrain.
  version         integer     NOT NULL,
  frequency       text        NOT NULL CHECK (frequency IN ('day', 'week', 'month')),
  horizon         integer     NOT NULL CHECK (horizon > 0),
  seasonal_period integer     NOT NULL DEFAULT 1,
  trained_from    date        NOT NULL,
  trained_to      date        NOT NULL,
  -- [{model, mase, smape, origins, note?}] for every candidate model.
  backtest        jsonb       NOT NULL,
  -- {p80, p95, points}: leave-one-origin-out interval coverage.
  coverage        jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (series_key, version)
);

CREATE INDEX IF NOT EXISTS model_versions_series_version_idx ON model_versions (series_key, version DESC);

CREATE TABLE IF NOT EXISTS forecasts (
  series_key       text             NOT NULL,
  model_version_id bigint           NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
  target_date      date             NOT NULL,
  value            double precision NOT NULL,
  lo80             double precision NOT NULL,
  hi80             double precision NOT NULL,
  lo95             double precision NOT NULL,
  hi95             double precision NOT NULL,
  created_at       timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (model_version_id, target_date)
);

-- Partitioned by the forecast target; monthly chunks rather than the 7-day default because a
-- 12-month forecast would otherwise touch 52 chunks.
SELECT create_hypertable('forecasts', by_range('target_date', INTERVAL '1 month'), if_not_exists => TRUE);

CREATE INDEX IF NOT EXISTS forecasts_series_target_idx ON forecasts (series_key, target_date);
