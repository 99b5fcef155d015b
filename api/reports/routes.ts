/**
 * POST /v1/reports                 operators: enqueue a report {period, date, audience?, formats?} → 202 {jobId}
 * GET  /v1/reports/jobs/:id        operators: a job's status (queued, running, done, failed with the reason)
 * GET  /v1/reports                 reports the caller may see (its audience's, and city reports when granted)
 * GET  /v1/reports/:id             one report's metadata, what changed since the previous version, and its JSON
 * GET  /v1/reports/:id/:format     the file (json, html, pdf, xlsx); `?lang=en` for English
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CoalflowError, InputError, type Deps } from '../../infra/core/index.ts';
import { allowedScope as accessScope, type Principal } from '../access/index.ts';
import { localize, type AlertsSource, type Audience, type Lang } from './content.ts';
import { parsePeriod, PERIOD_KINDS, type PeriodKind } from './period.ts';
import { CONTENT_TYPES, FORMATS, type Format } from './render.ts';
import {
  claimJob,
  enqueueJob,
  getJob,
  getReport,
  listJobs,
  listReports,
  reportFile,
  runJob,
} from './store.ts';

/** `allowedScope(principal, 'report')` of the access layer: null when the product is not granted. */
export type AllowedScope = (
  principal: Principal,
  product: string,
) => { regions: string[] | '*'; mines: string[]; users: string[] } | null;

export interface ReportRoutesOptions {
  deps: Deps;
  /** The access layer's scope function (default: `allowedScope` of api/access). */
  allowedScope?: AllowedScope;
  alerts?: AlertsSource;
  /** Run enqueued jobs in this process at once (default true); workers also pick them up on their schedule. */
  runInProcess?: boolean;
}

/** Audience keys a caller may read: null = all (operators). */
export function visibleAudienceKeys(
  principal: Principal | null | undefined,
  allowedScope: AllowedScope = accessScope,
): string[] | null {
  if (!principal || principal.kind === 'operator') return null;
  const keys = [`sub:${principal.subscriberId}`];
  const scope = allowedScope(principal, 'report');
  if (scope && scope.regions === '*') keys.push('city');
  return keys;
}

function lang(v: unknown): Lang {
  if (v === undefined || v === '' || v === 'zh') return 'zh';
  if (v === 'en') return 'en';
  throw new InputError('lang 可选 zh|en / lang must be zh or en');
}

function audienceOf(v: unknown): Audience | null {
  if (v === undefined || v === null) return null;
  const a = v as Partial<Audience>;
  const list = (x: unknown, name: string) => {
    if (x === undefined) return [];
    if (!Array.isArray(x) || x.some((s) => typeof s !== 'string' || s.length > 64))
      throw new InputError(`audience.${name} 应为字符串数组 / audience.${name} must be an array of strings`);
    return x as string[];
  };
  if (
    typeof a !== 'object' ||
    typeof a.subscriberId !== 'string' ||
    !a.subscriberId ||
    a.subscriberId.length > 64
  ) {
    throw new InputError('audience.subscriberId 必填 / audience.subscriberId is required');
  }
  return {
    subscriberId: a.subscriberId,
    regions: a.regions === '*' ? '*' : list(a.regions, 'regions'),
    mines: list(a.mines, 'mines'),
    users: list(a.users, 'users'),
  };
}

export function formatsOf(v: unknown): Format[] {
  if (v === undefined || v === null || v === '') return [...FORMATS];
  const arr = Array.isArray(v)
    ? v
    : String(v)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  for (const f of arr)
    if (!(FORMATS as readonly string[]).includes(f as string))
      throw new InputError(
        `格式 ${String(f)} 无效，可选 ${FORMATS.join('|')} / format must be one of ${FORMATS.join('|')}`,
      );
  if (!arr.length) throw new InputError('formats 为空 / formats is empty');
  return [...new Set(arr as Format[])];
}

function id(v: string): number {
  if (!/^\d{1,15}$/.test(v)) throw new InputError(`报告编号无效 / invalid report id "${v.slice(0, 20)}"`);
  return Number(v);
}

const notFound = (what: string) =>
  new CoalflowError('NOT_FOUND', `未找到${what} / ${what === '报告' ? 'report' : 'job'} not found`);

export async function reportRoutes(app: FastifyInstance, opts: ReportRoutesOptions): Promise<void> {
  const { deps } = opts;
  const log = deps.log.child({ component: 'reports' });
  let draining: Promise<void> | null = null;
  const drain = () => {
    draining ??= (async () => {
      try {
        for (
          let j = await claimJob(deps.db, Date.now(), 15 * 60_000);
          j;
          j = await claimJob(deps.db, Date.now(), 15 * 60_000)
        ) {
          const r = await runJob(deps.db, j, { alerts: opts.alerts });
          log.info({ jobId: r.id, status: r.status, reportId: r.reportId }, 'report job ran');
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'report jobs stopped');
      } finally {
        draining = null;
      }
    })();
    return draining;
  };
  app.addHook('onClose', async () => {
    await draining;
  });

  const principal = (req: FastifyRequest) =>
    (req as FastifyRequest & { principal?: Principal | null }).principal;
  const canSee = (req: FastifyRequest, audienceKey: string) => {
    const keys = visibleAudienceKeys(principal(req), opts.allowedScope);
    return keys === null || keys.includes(audienceKey);
  };

  app.post(
    '/v1/reports',
    { config: { operator: true } },
    async (req: FastifyRequest<{ Body: Record<string, unknown> | undefined }>, reply) => {
      const b = req.body ?? {};
      if (typeof b !== 'object') throw new InputError('请求体应为 JSON 对象 / body must be a JSON object');
      const period = parsePeriod(b.period, b.date);
      const j = await enqueueJob(deps.db, {
        period,
        audience: audienceOf(b.audience),
        formats: formatsOf(b.formats),
        trigger: 'manual',
      });
      if (opts.runInProcess !== false) void drain();
      return reply.code(202).send({
        jobId: j!.id,
        status: j!.status,
        period: period.kind,
        key: period.key,
        links: { job: `/v1/reports/jobs/${j!.id}` },
      });
    },
  );

  app.get('/v1/reports/jobs', { config: { operator: true } }, async () => ({
    items: await listJobs(deps.db),
  }));

  app.get(
    '/v1/reports/jobs/:id',
    { config: { operator: true } },
    async (req: FastifyRequest<{ Params: { id: string } }>, _reply) => {
      const j = await getJob(deps.db, id(req.params.id));
      if (!j) throw notFound('任务');
      return j;
    },
  );

  app.get(
    '/v1/reports',
    { config: { product: 'report' } },
    async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
      const p = req.query.period;
      if (p !== undefined && !(PERIOD_KINDS as readonly string[]).includes(p))
        throw new InputError(
          `period 可选 ${PERIOD_KINDS.join('|')} / period must be one of ${PERIOD_KINDS.join('|')}`,
        );
      const items = await listReports(deps.db, {
        audienceKeys: visibleAudienceKeys(principal(req), opts.allowedScope),
        period: p as PeriodKind | undefined,
      });
      return {
        items: items.map((r) => ({
          ...r,
          links: Object.fromEntries(r.formats.map((f) => [f, `/v1/reports/${r.id}/${f}`])),
        })),
      };
    },
  );

  app.get(
    '/v1/reports/:id',
    { config: { product: 'report' } },
    async (
      req: FastifyRequest<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>,
      _reply,
    ) => {
      const r = await getReport(deps.db, id(req.params.id));
      if (!r || !canSee(req, r.audienceKey)) throw notFound('报告');
      const { content, ...meta } = r;
      return { ...meta, report: localize(content, lang(req.query.lang)) };
    },
  );

  app.get(
    '/v1/reports/:id/:format',
    { config: { product: 'report' } },
    async (
      req: FastifyRequest<{
        Params: { id: string; format: string };
        Querystring: Record<string, string | undefined>;
      }>,
      reply,
    ) => {
      const n = id(req.params.id);
      const format = formatsOf(req.params.format)[0]!;
      const l = lang(req.query.lang);
      const r = await getReport(deps.db, n);
      if (!r || !canSee(req, r.audienceKey)) throw notFound('报告');
      const bytes = await reportFile(deps.db, n, format, l);
      if (!bytes) throw notFound('报告');
      const name = `coalflow-${r.period}-${r.periodKey}-v${r.version}${l === 'en' ? '-en' : ''}.${format}`;
      return reply
        .header('content-type', CONTENT_TYPES[format])
        .header(
          'content-disposition',
          `${format === 'html' || format === 'json' ? 'inline' : 'attachment'}; filename="${name}"`,
        )
        .send(bytes);
    },
  );
}
