-- Indicators (pipelines/indicators): facts, cells, bookkeeping, continuous aggregates.
-- Every statement is idempotent (migrations run statement by statement, outside a transaction).
--
-- Facts: the desensitized canonical fields per feed, keyed (record_id, event_time).
-- Inserting them ON CONFLICT DO NOTHING is the dedupe that makes each cell
-- update exactly-once. `lateness`: 0 on time, 1 late within the allowed
-- lateness, 2 older than the watermark (a correction: no hourly window).
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS fact_sales (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  mine_id text NOT NULL,
  company text NOT NULL,
  region_code text NOT NULL,
  coal_type text NOT NULL,
  band text NOT NULL,
  net_t numeric(14,3) NOT NULL,
  value_yuan numeric(16,2) NOT NULL,
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_sales', by_range('event_time', INTERVAL '7 days'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS fact_sales_mine_time_idx ON fact_sales (mine_id, event_time DESC);

CREATE TABLE IF NOT EXISTS fact_mines (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  mine_id text NOT NULL,
  company text NOT NULL,
  region_code text NOT NULL,
  status text NOT NULL,
  approved_capacity_t_per_year numeric(16,3),
  design_capacity_t_per_year numeric(16,3),
  stop_reason text,
  expected_resume_date text,
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_mines', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS fact_mines_mine_time_idx ON fact_mines (mine_id, event_time DESC);

CREATE TABLE IF NOT EXISTS fact_mine_inventory (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  mine_id text NOT NULL,
  region_code text NOT NULL,
  stock_t numeric(14,3) NOT NULL,
  coal_type text,
  calorific_kcal integer,
  sulfur_pct numeric(6,3),
  ash_pct numeric(6,3),
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_mine_inventory', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS fact_mine_inventory_mine_time_idx ON fact_mine_inventory (mine_id, event_time DESC);

CREATE TABLE IF NOT EXISTS fact_rail (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  route text NOT NULL,
  direction text,
  period text NOT NULL,
  requested_cars integer,
  approved_cars integer,
  shipped_t numeric(14,3),
  route_capacity_t numeric(14,3),
  other_t numeric(14,3),
  in_transit_t numeric(14,3),
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_rail', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS fact_highway (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  gate text NOT NULL,
  direction text NOT NULL,
  trucks integer NOT NULL,
  tonnage_t numeric(14,3),
  congestion_index numeric(10,3),
  window_minutes integer,
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_highway', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS fact_ports (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  port text NOT NULL,
  kind text NOT NULL,
  stock_t numeric(14,3),
  fob_price_yuan_per_t numeric(12,2),
  coal_type text,
  band text,
  import_t numeric(14,3),
  import_price_yuan_per_t numeric(12,2),
  vessels_waiting integer,
  freight_yuan_per_t numeric(12,2),
  freight_route text,
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_ports', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS fact_coal_users (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  user_id text NOT NULL,
  sector text NOT NULL,
  region_code text,
  intake_t numeric(14,3),
  consumption_t numeric(14,3),
  stock_t numeric(14,3),
  power_load_mw numeric(12,3),
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_coal_users', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS fact_prices (
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  price_kind text NOT NULL,
  location text,
  mine_id text,
  coal_type text NOT NULL,
  band text,
  price_yuan_per_t numeric(12,2) NOT NULL,
  lateness smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (record_id, event_time)
);
SELECT create_hypertable('fact_prices', by_range('event_time', INTERVAL '30 days'), if_not_exists => TRUE);

-- Compression: facts older than 7 days are compressed per entity. Late
-- corrections still insert into compressed chunks (TimescaleDB >= 2.11 DML).
ALTER TABLE fact_sales SET (timescaledb.compress, timescaledb.compress_segmentby = 'mine_id', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_mines SET (timescaledb.compress, timescaledb.compress_segmentby = 'mine_id', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_mine_inventory SET (timescaledb.compress, timescaledb.compress_segmentby = 'mine_id', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_rail SET (timescaledb.compress, timescaledb.compress_segmentby = 'route', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_highway SET (timescaledb.compress, timescaledb.compress_segmentby = 'gate', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_ports SET (timescaledb.compress, timescaledb.compress_segmentby = 'port', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_coal_users SET (timescaledb.compress, timescaledb.compress_segmentby = 'user_id', timescaledb.compress_orderby = 'event_time DESC');
ALTER TABLE fact_prices SET (timescaledb.compress, timescaledb.compress_segmentby = 'coal_type', timescaledb.compress_orderby = 'event_time DESC');
SELECT add_compression_policy('fact_sales', INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('fact_mines', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('fact_mine_inventory', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('fact_rail', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('fact_highway', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('fact_ports', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('fact_coal_users', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('fact_prices', INTERVAL '30 days', if_not_exists => true);
-- Retention: raw facts are kept three years; cells and aggregates are kept longer.
SELECT add_retention_policy('fact_sales', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_mines', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_mine_inventory', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_rail', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_highway', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_ports', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_coal_users', INTERVAL '3 years', if_not_exists => true);
SELECT add_retention_policy('fact_prices', INTERVAL '3 years', if_not_exists => true);

-- Cells: exact additive state per (cell, scope, scope id, window, window start);
-- `a`, `b` are exact decimal sums, `n` a count, `last_*` the last value by
-- (event time, record id). Updated only in the transaction that inserts the facts.
CREATE TABLE IF NOT EXISTS ind_cell (
  family text NOT NULL,
  cell text NOT NULL,
  scope text NOT NULL,
  scope_id text NOT NULL,
  win text NOT NULL,
  window_start timestamptz NOT NULL,
  a numeric NOT NULL DEFAULT 0,
  b numeric NOT NULL DEFAULT 0,
  n bigint NOT NULL DEFAULT 0,
  last_v numeric,
  last_t timestamptz,
  last_rid text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cell, scope, scope_id, win, window_start)
);
SELECT create_hypertable('ind_cell', by_range('window_start', INTERVAL '30 days'), if_not_exists => TRUE);
-- Month and year cells start on the 1st and are updated all period long: compress only well after.
ALTER TABLE ind_cell SET (timescaledb.compress, timescaledb.compress_segmentby = 'cell, scope, win', timescaledb.compress_orderby = 'scope_id, window_start DESC');
SELECT add_compression_policy('ind_cell', INTERVAL '400 days', if_not_exists => true);
SELECT add_retention_policy('ind_cell', INTERVAL '10 years', if_not_exists => true);

-- Each company's part of a cell of company data in aggregate scopes: contributors and dominance.
CREATE TABLE IF NOT EXISTS ind_contrib (
  cell text NOT NULL,
  scope text NOT NULL,
  scope_id text NOT NULL,
  win text NOT NULL,
  window_start timestamptz NOT NULL,
  company text NOT NULL,
  v numeric NOT NULL DEFAULT 0,
  PRIMARY KEY (cell, scope, scope_id, win, window_start, company)
);
SELECT create_hypertable('ind_contrib', by_range('window_start', INTERVAL '30 days'), if_not_exists => TRUE);
ALTER TABLE ind_contrib SET (timescaledb.compress, timescaledb.compress_segmentby = 'cell, scope, win', timescaledb.compress_orderby = 'scope_id, window_start DESC');
SELECT add_compression_policy('ind_contrib', INTERVAL '400 days', if_not_exists => true);
SELECT add_retention_policy('ind_contrib', INTERVAL '10 years', if_not_exists => true);

-- Event-time progress per source partition (max event time seen), moved in the same transaction as the cells.
CREATE TABLE IF NOT EXISTS ind_watermark (
  topic text NOT NULL,
  partition integer NOT NULL,
  max_event_ms bigint NOT NULL,
  PRIMARY KEY (topic, partition)
);

-- Records older than the watermark: counted in day and longer windows as corrections.
CREATE TABLE IF NOT EXISTS ind_corrections (
  feed text NOT NULL,
  record_id text NOT NULL,
  event_time timestamptz NOT NULL,
  watermark timestamptz NOT NULL,
  PRIMARY KEY (feed, record_id, event_time)
);

-- Latest master data per mine (by event time, then record id).
CREATE TABLE IF NOT EXISTS ind_mine_dim (
  mine_id text PRIMARY KEY,
  company text NOT NULL,
  region_code text NOT NULL,
  status text NOT NULL,
  approved_capacity_t_per_year numeric(16,3),
  event_time timestamptz NOT NULL,
  record_id text NOT NULL
);

-- Continuous aggregates (what reports and forecasts read). Real-time
-- (materialized_only = false): correct before any refresh; refresh policies
-- materialize the last 90 days, the workers refresh older ranges that received corrections.
CREATE MATERIALIZED VIEW IF NOT EXISTS sales_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, mine_id, region_code, coal_type, band,
       sum(net_t) AS net_t, sum(value_yuan) AS value_yuan, count(*) AS n
FROM fact_sales GROUP BY 1, 2, 3, 4, 5 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS sales_weekly WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 week', bucket, 'Asia/Shanghai') AS bucket, mine_id, region_code, coal_type, band,
       sum(net_t) AS net_t, sum(value_yuan) AS value_yuan, sum(n) AS n
FROM sales_daily GROUP BY 1, 2, 3, 4, 5 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS sales_monthly WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 month', bucket, 'Asia/Shanghai') AS bucket, mine_id, region_code, coal_type, band,
       sum(net_t) AS net_t, sum(value_yuan) AS value_yuan, sum(n) AS n
FROM sales_daily GROUP BY 1, 2, 3, 4, 5 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS sales_yearly WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 year', bucket, 'Asia/Shanghai') AS bucket, mine_id, region_code, coal_type, band,
       sum(net_t) AS net_t, sum(value_yuan) AS value_yuan, sum(n) AS n
FROM sales_monthly GROUP BY 1, 2, 3, 4, 5 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS prices_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, price_kind, coal_type, band,
       sum(price_yuan_per_t) AS price_sum, count(*) AS n
FROM fact_prices GROUP BY 1, 2, 3, 4 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS ports_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, port, kind,
       last(stock_t, event_time) FILTER (WHERE stock_t IS NOT NULL) AS stock_t,
       avg(fob_price_yuan_per_t) AS fob_price_yuan_per_t,
       sum(import_t) AS import_t,
       avg(import_price_yuan_per_t) AS import_price_yuan_per_t,
       last(vessels_waiting, event_time) FILTER (WHERE vessels_waiting IS NOT NULL) AS vessels_waiting,
       avg(freight_yuan_per_t) AS freight_yuan_per_t
FROM fact_ports GROUP BY 1, 2, 3 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS rail_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, route, direction,
       sum(requested_cars) AS requested_cars, sum(approved_cars) AS approved_cars,
       sum(shipped_t) AS shipped_t, sum(route_capacity_t) AS route_capacity_t
FROM fact_rail WHERE period = 'day' GROUP BY 1, 2, 3 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS highway_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, gate, direction,
       sum(trucks) AS trucks, sum(tonnage_t) AS tonnage_t, avg(congestion_index) AS congestion_index
FROM fact_highway GROUP BY 1, 2, 3 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS coal_users_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, user_id, sector,
       sum(consumption_t) AS consumption_t, sum(intake_t) AS intake_t,
       last(stock_t, event_time) FILTER (WHERE stock_t IS NOT NULL) AS stock_t
FROM fact_coal_users GROUP BY 1, 2, 3 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS mine_inventory_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 day', event_time, 'Asia/Shanghai') AS bucket, mine_id, region_code,
       last(stock_t, event_time) AS stock_t
FROM fact_mine_inventory GROUP BY 1, 2, 3 WITH NO DATA;

SELECT add_continuous_aggregate_policy('sales_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('sales_weekly', start_offset => INTERVAL '120 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour', if_not_exists => true);
SELECT add_continuous_aggregate_policy('sales_monthly', start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour', if_not_exists => true);
SELECT add_continuous_aggregate_policy('sales_yearly', start_offset => INTERVAL '4 years', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 day', if_not_exists => true);
SELECT add_continuous_aggregate_policy('prices_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('ports_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('rail_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('highway_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('coal_users_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('mine_inventory_daily', start_offset => INTERVAL '90 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);

-- Version of published snapshots: taken when a worker reads the store, so the
-- higher version always saw at least what a lower one saw (Redis keeps the highest).
CREATE SEQUENCE IF NOT EXISTS ind_version;
