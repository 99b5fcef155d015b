/**
 * Report jobs and finished reports (tables from infra/migrations/015_reports.sql).
 * A job is enqueued once per scheduled period and audience (unique index), claimed by one worker at a time
 * (an atomic UPDATE … WHERE status = 'queued' on a row locked with SKIP LOCKED), retried with backoff and
 * recorded as queued, running, done or failed with the reason.
 */
import type pg from 'pg';
import { CoalflowError, isProgrammingError } from '../../infra/core/index.ts';
import {
  buildReport,
  diffReports,
  localize,
  type AlertsSource,
  type Audience,
  type Lang,
  type ReportDoc,
} from './content.ts';
import { parsePeriod, type Period, type PeriodKind } from './period.ts';
import { FORMATS, renderAll, type Format } from './render.ts';

export interface JobRow {
  id: number;
  period: PeriodKind;
  periodKey: string;
  audienceKey: string;
  audience: Audience | null;
  formats: Format[];
  trigger: 'schedule' | 'manual';
  status: 'queued' | 'running' | 'done' | 'failed';
  attempts: number;
  nextAttemptAt: string;
  error: string | null;
  reportId: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ReportSummary {
  id: number;
  period: PeriodKind;
  periodKey: string;
  audienceKey: string;
  version: number;
  formats: string[];
  changes: string[];
  createdAt: string;
}

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());
function job(r: Record<string, unknown>): JobRow {
  return {
    id: Number(r.id),
    period: r.period as PeriodKind,
    periodKey: r.period_key as string,
    audienceKey: r.audience_key as string,
    audience: (r.audience as Audience | null) ?? null,
    formats: r.formats as Format[],
    trigger: r.trigger as JobRow['trigger'],
    status: r.status as JobRow['status'],
    attempts: Number(r.attempts),
    nextAttemptAt: iso(r.next_attempt_at)!,
    error: (r.error as string | null) ?? null,
    reportId: r.report_id === null ? null : Number(r.report_id),
    createdAt: iso(r.created_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}

export const audienceKey = (a: Audience | null | undefined) => (a ? `sub:${a.subscriberId}` : 'city');

/** Enqueues a job; a scheduled one only once per period and audience (null when it already exists). */
export async function enqueueJob(
  db: pg.Pool,
  j: {
    period: Period;
    audience?: Audience | null;
    formats?: readonly Format[];
    trigger: 'schedule' | 'manual';
    now?: number;
  },
): Promise<JobRow | null> {
  const r = await db.query(
    `
    INSERT INTO report_jobs (period, period_key, audience_key, audience, formats, trigger, next_attempt_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (period, period_key, audience_key) WHERE trigger = 'schedule' DO NOTHING
    RETURNING *`,
    [
      j.period.kind,
      j.period.key,
      audienceKey(j.audience),
      j.audience ? JSON.stringify(j.audience) : null,
      [...(j.formats ?? FORMATS)],
      j.trigger,
      new Date(j.now ?? Date.now()).toISOString(),
    ],
  );
  return r.rows[0] ? job(r.rows[0]) : null;
}

/** Claims the oldest due job (or one whose worker stopped while running it for longer than `staleMs`). */
export async function claimJob(db: pg.Pool, now: number, staleMs: number): Promise<JobRow | null> {
  const r = await db.query(
    `
    UPDATE report_jobs SET status = 'running', attempts = attempts + 1, started_at = $1, error = NULL
    WHERE id = (
      SELECT id FROM report_jobs
      WHERE (status = 'queued' AND next_attempt_at <= $1) OR (status = 'running' AND started_at < $2)
      ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
    AND ((status = 'queued' AND next_attempt_at <= $1) OR (status = 'running' AND started_at < $2))
    RETURNING *`,
    [new Date(now).toISOString(), new Date(now - staleMs).toISOString()],
  );
  return r.rows[0] ? job(r.rows[0]) : null;
}

export async function getJob(db: pg.Pool, id: number): Promise<JobRow | null> {
  const r = await db.query('SELECT * FROM report_jobs WHERE id = $1', [id]);
  return r.rows[0] ? job(r.rows[0]) : null;
}

export async function listJobs(db: pg.Pool, limit = 100): Promise<JobRow[]> {
  return (await db.query('SELECT * FROM report_jobs ORDER BY id DESC LIMIT $1', [limit])).rows.map(job);
}

/** Latest stored version of a period and audience. */
async function latestContent(
  db: pg.Pool,
  period: PeriodKind,
  key: string,
  aKey: string,
): Promise<{ version: number; content: ReportDoc } | null> {
  const r = await db.query(
    'SELECT version, content FROM reports WHERE period = $1 AND period_key = $2 AND audience_key = $3 ORDER BY version DESC LIMIT 1',
    [period, key, aKey],
  );
  return r.rows[0] ? { version: Number(r.rows[0].version), content: r.rows[0].content as ReportDoc } : null;
}

/**
 * Builds, renders and stores a report as the next version of its period and audience, with the figures that
 * changed since the previous version. Returns the new report's id.
 */
export async function generateReport(
  db: pg.Pool,
  j: {
    period: Period;
    audience: Audience | null;
    formats: readonly Format[];
    jobId?: number | null;
    alerts?: AlertsSource;
    now?: () => number;
  },
): Promise<{ id: number; version: number; changes: string[]; files: Map<Format, Buffer>; doc: ReportDoc }> {
  const doc = await buildReport(db, j.period, { audience: j.audience, alerts: j.alerts, now: j.now });
  const aKey = audienceKey(j.audience);
  const files = await renderAll(localize(doc, 'zh'), j.formats);
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    // Versions of one period and audience are numbered in order even when two jobs finish together.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `report:${j.period.kind}:${j.period.key}:${aKey}`,
    ]);
    const prev = await latestContent(client as unknown as pg.Pool, j.period.kind, j.period.key, aKey);
    const changes = prev ? diffReports(prev.content, doc) : [];
    const version = (prev?.version ?? 0) + 1;
    const r = await client.query(
      `INSERT INTO reports (period, period_key, audience_key, audience, version, content, changes, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
      [
        j.period.kind,
        j.period.key,
        aKey,
        j.audience ? JSON.stringify(j.audience) : null,
        version,
        JSON.stringify(doc),
        JSON.stringify(changes),
        j.jobId ?? null,
      ],
    );
    const id = Number(r.rows[0].id);
    for (const [format, bytes] of files)
      await client.query(
        'INSERT INTO report_files (report_id, format, lang, bytes) VALUES ($1, $2, $3, $4)',
        [id, format, 'zh', bytes],
      );
    await client.query('COMMIT');
    return { id, version, changes, files, doc };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export interface RunOptions {
  /** Attempts before a job is marked failed. Default 4. */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt (with jitter), ms. Default 30 000. */
  retryBaseMs?: number;
  alerts?: AlertsSource;
  now?: () => number;
}

/** Runs one claimed job to done, or back to queued with backoff, or to failed with the reason. */
export async function runJob(db: pg.Pool, j: JobRow, opts: RunOptions = {}): Promise<JobRow> {
  const now = opts.now ?? Date.now;
  try {
    const p = parsePeriod(j.period, j.periodKey);
    const r = await generateReport(db, {
      period: p,
      audience: j.audience,
      formats: j.formats,
      jobId: j.id,
      alerts: opts.alerts,
      now,
    });
    const u = await db.query(
      `UPDATE report_jobs SET status = 'done', report_id = $2, finished_at = $3, error = NULL WHERE id = $1 RETURNING *`,
      [j.id, r.id, new Date(now()).toISOString()],
    );
    return job(u.rows[0]);
  } catch (err) {
    const reason = (err as Error).message ?? String(err);
    const max = opts.maxAttempts ?? 4;
    const base = opts.retryBaseMs ?? 30_000;
    // Bad input (a period that does not parse) and programming errors would fail the same way again.
    const permanent = isProgrammingError(err) || (err instanceof CoalflowError && !err.retriable);
    if (!permanent && j.attempts < max) {
      const delay = Math.round(base * 2 ** (j.attempts - 1) * (0.5 + Math.random() / 2));
      const u = await db.query(
        `UPDATE report_jobs SET status = 'queued', error = $2, next_attempt_at = $3 WHERE id = $1 RETURNING *`,
        [j.id, reason, new Date(now() + delay).toISOString()],
      );
      return job(u.rows[0]);
    }
    const u = await db.query(
      `UPDATE report_jobs SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1 RETURNING *`,
      [j.id, reason, new Date(now()).toISOString()],
    );
    return job(u.rows[0]);
  }
}

/** Reports visible to an audience (null = operator: all). A subscriber sees its own and, when granted, city reports. */
export async function listReports(
  db: pg.Pool,
  filter: { audienceKeys: string[] | null; period?: PeriodKind; limit?: number },
): Promise<ReportSummary[]> {
  const r = await db.query(
    `
    SELECT r.id, r.period, r.period_key, r.audience_key, r.version, r.changes, r.created_at, array_agg(f.format ORDER BY f.format) FILTER (WHERE f.format IS NOT NULL) AS formats
    FROM reports r LEFT JOIN report_files f ON f.report_id = r.id AND f.lang = 'zh'
    WHERE ($1::text[] IS NULL OR r.audience_key = ANY($1)) AND ($2::text IS NULL OR r.period = $2)
    GROUP BY r.id ORDER BY r.id DESC LIMIT $3`,
    [filter.audienceKeys, filter.period ?? null, filter.limit ?? 100],
  );
  return r.rows.map((x) => ({
    id: Number(x.id),
    period: x.period,
    periodKey: x.period_key,
    audienceKey: x.audience_key,
    version: Number(x.version),
    formats: x.formats ?? [],
    changes: x.changes,
    createdAt: iso(x.created_at)!,
  }));
}

export async function getReport(
  db: pg.Pool,
  id: number,
): Promise<(ReportSummary & { content: ReportDoc }) | null> {
  const r = await db.query(
    `SELECT r.*, (SELECT array_agg(format ORDER BY format) FROM report_files WHERE report_id = r.id AND lang = 'zh') AS formats FROM reports r WHERE r.id = $1`,
    [id],
  );
  const x = r.rows[0];
  if (!x) return null;
  return {
    id: Number(x.id),
    period: x.period,
    periodKey: x.period_key,
    audienceKey: x.audience_key,
    version: Number(x.version),
    formats: x.formats ?? [],
    changes: x.changes,
    createdAt: iso(x.created_at)!,
    content: x.content,
  };
}

/** A report's file: stored in Chinese; another language is rendered from the stored content and kept. */
export async function reportFile(
  db: pg.Pool,
  id: number,
  format: Format,
  lang: Lang,
): Promise<Buffer | null> {
  const r = await db.query(
    'SELECT bytes FROM report_files WHERE report_id = $1 AND format = $2 AND lang = $3',
    [id, format, lang],
  );
  if (r.rows[0]) return r.rows[0].bytes as Buffer;
  const rep = await getReport(db, id);
  if (!rep) return null;
  const bytes = (await renderAll(localize(rep.content, lang), [format])).get(format)!;
  await db.query(
    'INSERT INTO report_files (report_id, format, lang, bytes) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
    [id, format, lang, bytes],
  );
  return bytes;
}
