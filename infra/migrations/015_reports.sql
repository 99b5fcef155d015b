-- Reports (api/reports/): generation jobs, finished report versions and their files. Every statement is
-- idempotent (migrations run statement by statement, outside a transaction).
-- Files are kept in the database beside their version row: every API and worker process sees the same
-- reports without a shared file system, a version and its files are written in one transaction, and a
-- report is small (tens to hundreds of kB per format).

CREATE TABLE IF NOT EXISTS report_jobs (
  id              bigserial   PRIMARY KEY,
  period          text        NOT NULL CHECK (period IN ('day', 'week', 'month', 'year')),
  period_key      text        NOT NULL,
  -- 'city' for the city report, else the subscriber id of the audience.
  audience_key    text        NOT NULL DEFAULT 'city',
  audience        jsonb,
  formats         text[]      NOT NULL,
  trigger         text        NOT NULL CHECK (trigger IN ('schedule', 'manual')),
  status          text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  error           text,
  report_id       bigint,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz
);
-- A scheduled run exists once per period and audience, whatever the number of workers.
CREATE UNIQUE INDEX IF NOT EXISTS report_jobs_scheduled_once ON report_jobs (period, period_key, audience_key) WHERE trigger = 'schedule';
CREATE INDEX IF NOT EXISTS report_jobs_queue ON report_jobs (status, next_attempt_at);

CREATE TABLE IF NOT EXISTS reports (
  id           bigserial   PRIMARY KEY,
  period       text        NOT NULL,
  period_key   text        NOT NULL,
  audience_key text        NOT NULL,
  audience     jsonb,
  -- 1, 2, 3 … per (period, period_key, audience_key): a regeneration is a new version.
  version      integer     NOT NULL,
  content      jsonb       NOT NULL,
  -- Figures that changed against the previous version ("section/table/row/column: old → new").
  changes      jsonb       NOT NULL DEFAULT '[]',
  job_id       bigint,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (period, period_key, audience_key, version)
);

CREATE TABLE IF NOT EXISTS report_files (
  report_id bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
  format    text   NOT NULL,
  lang      text   NOT NULL,
  bytes     bytea  NOT NULL,
  PRIMARY KEY (report_id, format, lang)
);
