/**
 * The report schedule in Asia/Shanghai. Each tick enqueues the last complete period of every schedule whose
 * most recent fire time has passed (idempotent: one scheduled job per period and audience, so several
 * workers and restarts enqueue it once, and a run missed while every worker was down is made up at start),
 * then works through due jobs. The clock is injected so tests can drive it.
 */
import { Cron } from 'croner';
import type pg from 'pg';
import { ConfigError, OPEN_GATE, type AccessGate, type Logger } from '../../infra/core/index.ts';
import type { AlertsSource, Audience } from './content.ts';
import { lastCompletePeriod, type PeriodKind } from './period.ts';
import { FORMATS, type Format } from './render.ts';
import { claimJob, enqueueJob, runJob, type JobRow } from './store.ts';

/** Cron expressions (minute hour day month weekday) in Asia/Shanghai. */
export interface ReportSchedule {
  /** Daily report of the previous day. Default 07:00. */
  day: string;
  /** Weekly report of the previous ISO week. Default Monday 07:30. */
  week: string;
  /** Monthly report of the previous month. Default the 1st, 08:00. */
  month: string;
  /** Annual report of the previous year. Default 1 January, 09:00. */
  year: string;
}
export const DEFAULT_SCHEDULE: ReportSchedule = {
  day: '0 7 * * *',
  week: '30 7 * * 1',
  month: '0 8 1 * *',
  year: '0 9 1 1 *',
};
export const TIMEZONE = 'Asia/Shanghai';

export interface SchedulerOptions {
  db: pg.Pool;
  log: Logger;
  schedule?: Partial<ReportSchedule>;
  /** Audiences that get their own scheduled variant besides the city report. */
  audiences?: () => Promise<Audience[]>;
  formats?: readonly Format[];
  /** Time between ticks, ms. Default 30 000. */
  tickMs?: number;
  /** Wait before the first tick, ms: a starting process first serves and catches up on its feeds. Default 60 000. */
  firstTickMs?: number;
  /** A running job older than this is taken over by another worker, ms. Default 15 min. */
  staleMs?: number;
  maxAttempts?: number;
  retryBaseMs?: number;
  alerts?: AlertsSource;
  now?: () => number;
  /**
   * Whether the `report` product may go out (lifecycle and emergency stop; wired by the composition root). While
   * it is not published nothing is scheduled; a subscriber's variant is not scheduled while that subscriber is
   * stopped. The city report is still made during an emergency stop (in-domain work: operators read it; the API
   * refuses it to everyone else). Default: refuses nothing.
   */
  gate?: AccessGate;
}

/** The data product scheduled reports belong to. */
export const REPORT_PRODUCT = 'report';

export interface ReportScheduler {
  /** Enqueues what is due at `now` and runs due jobs; returns the jobs this worker finished or failed. */
  tick(): Promise<JobRow[]>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createReportScheduler(o: SchedulerOptions): ReportScheduler {
  const now = o.now ?? Date.now;
  const sched: ReportSchedule = { ...DEFAULT_SCHEDULE, ...o.schedule };
  const crons = (Object.keys(sched) as PeriodKind[]).map((kind) => {
    try {
      return { kind, cron: new Cron(sched[kind], { timezone: TIMEZONE, paused: true }) };
    } catch (err) {
      throw new ConfigError(
        `报告计划 ${kind}="${sched[kind]}" 无效：${(err as Error).message} / report schedule ${kind}="${sched[kind]}" is invalid: ${(err as Error).message}`,
      );
    }
  });
  const staleMs = o.staleMs ?? 15 * 60_000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  let stopped = false;

  async function enqueueDue(): Promise<void> {
    const t = now();
    const gate = o.gate ?? OPEN_GATE;
    if (!gate.published(REPORT_PRODUCT)) return;
    const audiences = [
      null,
      ...(o.audiences ? await o.audiences() : []).filter((a) => gate.serves(REPORT_PRODUCT, a.subscriberId)),
    ];
    for (const { kind, cron } of crons) {
      // Croner's previous run is strictly before the reference: a second later counts a fire at `t` itself.
      const last = cron.previousRuns(1, new Date(t + 1000))[0];
      if (!last || last.getTime() > t) continue;
      const period = lastCompletePeriod(kind, last.getTime());
      for (const audience of audiences) {
        const j = await enqueueJob(o.db, {
          period,
          audience,
          formats: o.formats ?? FORMATS,
          trigger: 'schedule',
          now: t,
        });
        if (j)
          o.log.info(
            { jobId: j.id, period: kind, key: period.key, audience: j.audienceKey },
            'report job scheduled',
          );
      }
    }
  }

  async function tick(): Promise<JobRow[]> {
    await enqueueDue();
    const out: JobRow[] = [];
    while (!stopped) {
      const j = await claimJob(o.db, now(), staleMs);
      if (!j) break;
      const r = await runJob(o.db, j, {
        maxAttempts: o.maxAttempts,
        retryBaseMs: o.retryBaseMs,
        alerts: o.alerts,
        now,
      });
      if (r.status === 'failed' || r.status === 'queued')
        o.log.warn(
          { jobId: r.id, status: r.status, attempts: r.attempts, err: r.error },
          'report job did not finish',
        );
      out.push(r);
    }
    return out;
  }

  const loop = () => {
    if (stopped) return;
    running = tick()
      .catch((err) => o.log.warn({ err: (err as Error).message }, 'report tick failed'))
      .finally(() => {
        running = null;
        if (!stopped) timer = setTimeout(loop, o.tickMs ?? 30_000);
      });
  };

  return {
    tick,
    async start() {
      stopped = false;
      timer = setTimeout(loop, o.firstTickMs ?? 60_000);
      timer.unref?.();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
      for (const c of crons) c.cron.stop();
    },
  };
}
