/**
 * Alert API: list and acknowledge alerts, the live stream of alert states (SSE),
 * a subscriber's own thresholds, and the operators' webhook registry. Every
 * subscriber route declares `config.product: 'alert'` and filters by the
 * caller's `Audience`; webhook routes are operator-only (`config.operator`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoalflowError, InputError, PolicyError, type Deps } from '../../infra/core/index.ts';
import { audienceOf } from '../access/index.ts';
import {
  ackAlert,
  alertChannel,
  audienceSees,
  deleteWebhook,
  deliveryLog,
  getAlert,
  listAlerts,
  listNotices,
  listWebhooks,
  parseAudience,
  registerWebhook,
  ruleDef,
  RULES,
  setWebhookEnabled,
  type AlertMessage,
  type Audience,
  type RuleParams,
} from '../../pipelines/index.ts';
import { timeParam } from './params.ts';

/** Who is asking: the access layer's grant for `alert`, as an Audience (null: not granted). */
export type AudienceResolver = (req: FastifyRequest) => Audience | null;

/** Without an access layer in front, the caller is the operator and sees everything. */
export const operatorAudience: AudienceResolver = () => ({
  subscriberId: 'operator',
  regions: '*',
  mines: [],
  users: [],
});

/** The caller's grant for the `alert` product, from the access layer's principal (operator view when the layer is off). */
export const principalAudience: AudienceResolver = (req) =>
  req.principal ? audienceOf(req.principal, 'alert') : operatorAudience(req);

/** Longest period one alert list may span (from, to), days: refused beyond, with a clear message. */
export const ALERTS_MAX_RANGE_DAYS = 3 * 366;

function bad(msg: string): never {
  throw new InputError(msg);
}

function boolParam(v: unknown, name: string): boolean | null {
  if (v === undefined || v === '') return null;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return bad(`${name} 应为 true/false / ${name} must be true or false`);
}

const PARAM_KEYS = ['warning', 'critical', 'days', 'hysteresis', 'minValue'] as const;

function paramsOf(body: unknown): Partial<RuleParams> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    bad('请求体应为阈值对象 / body must be an object of thresholds');
  const out: Partial<RuleParams> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (!(PARAM_KEYS as readonly string[]).includes(k))
      bad(`未知阈值 ${k}（可选 ${PARAM_KEYS.join('|')}）/ unknown threshold ${k}`);
    if (k === 'critical' && v === null) {
      out.critical = null;
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${k} 应为数值 / ${k} must be a number`);
    if ((k === 'days' && (!Number.isInteger(v) || v < 1 || v > 30)) || (k === 'hysteresis' && v < 0))
      bad(`${k} 超出范围 / ${k} out of range`);
    (out as Record<string, number>)[k] = v;
  }
  if (!Object.keys(out).length) bad('至少给出一个阈值 / give at least one threshold');
  return out;
}

function ownsEntity(a: Audience, scope: string, scopeId: string): boolean {
  const has = (list: string[]) => list.includes(scopeId) || list.includes('*');
  return a.regions === '*' || (scope === 'user' && has(a.users)) || (scope === 'mine' && has(a.mines));
}

export function alertRoutesWith(audienceOf: AudienceResolver) {
  return async function alertRoutes(app: FastifyInstance, opts: { deps: Deps }): Promise<void> {
    const { deps } = opts;
    const product = { product: 'alert' };
    const operator = { operator: true };
    const need = (req: FastifyRequest): Audience => {
      const a = audienceOf(req);
      if (!a) throw new PolicyError('FORBIDDEN', '未授权使用预警产品 / not granted the alert product');
      return a;
    };

    app.get(
      '/v1/alerts',
      { config: product },
      async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
        const a = need(req);
        const active = boolParam(req.query.active, 'active');
        const from = timeParam(req.query.from, 'from');
        const to = timeParam(req.query.to, 'to');
        if (from !== null && to !== null && from > to) bad('from 晚于 to / from is after to');
        if ((to ?? Date.now()) - (from ?? (to ?? Date.now()) - 1) > ALERTS_MAX_RANGE_DAYS * 86_400_000)
          bad(
            `时间范围过长（最多 ${ALERTS_MAX_RANGE_DAYS} 天）/ range too long (at most ${ALERTS_MAX_RANGE_DAYS} days)`,
          );
        const rows = await listAlerts(deps.db, {
          active,
          fromMs: from,
          toMs: to,
          subscriberId: a.subscriberId,
        });
        return { alerts: rows.filter((r) => audienceSees(a, r)) };
      },
    );

    app.get('/v1/alerts/rules', { config: product }, async () => ({
      rules: RULES.map((r) => ({
        id: r.id,
        zh: r.zh,
        en: r.en,
        measure: r.measure,
        direction: r.direction,
        series: r.series,
        defaults: r.defaults,
      })),
    }));

    app.get(
      '/v1/alerts/:id',
      { config: product },
      async (req: FastifyRequest<{ Params: { id: string } }>, _reply: FastifyReply) => {
        const a = need(req);
        const row = await getAlert(deps.db, req.params.id);
        if (!row || !audienceSees(a, row))
          throw new CoalflowError('NOT_FOUND', `未找到预警 ${req.params.id} / no alert ${req.params.id}`);
        const states = await deps.db.query(
          `SELECT seq, kind, severity, at, title, evidence FROM alert_states WHERE alert_id = $1 ORDER BY seq`,
          [row.id],
        );
        return { ...row, states: states.rows };
      },
    );

    app.post(
      '/v1/alerts/:id/ack',
      { config: product },
      async (req: FastifyRequest<{ Params: { id: string } }>, _reply: FastifyReply) => {
        const a = need(req);
        const row = await getAlert(deps.db, req.params.id);
        if (!row || !audienceSees(a, row))
          throw new CoalflowError('NOT_FOUND', `未找到预警 ${req.params.id} / no alert ${req.params.id}`);
        const r = await ackAlert(deps.db, row.id, a.subscriberId);
        return { id: row.id, subscriberId: a.subscriberId, ackedAt: r.ackedAt };
      },
    );

    // A subscriber's own thresholds for its entities (per-plant days of stock and the like).
    app.get('/v1/alerts/thresholds', { config: product }, async (req) => {
      const a = need(req);
      const r = await deps.db.query(
        `SELECT rule, scope, scope_id AS "scopeId", params, updated_at AS "updatedAt" FROM alert_thresholds
        WHERE $1::boolean OR subscriber_id = $2 ORDER BY rule, scope, scope_id`,
        [a.regions === '*', a.subscriberId],
      );
      return { thresholds: r.rows };
    });

    app.put(
      '/v1/alerts/thresholds/:rule/:scope/:scopeId',
      { config: product },
      async (
        req: FastifyRequest<{ Params: { rule: string; scope: string; scopeId: string }; Body: unknown }>,
      ) => {
        const a = need(req);
        const { rule, scope, scopeId } = req.params;
        const def = ruleDef(rule);
        if (!def) bad(`未知规则 ${rule}（见 /v1/alerts/rules）/ unknown rule ${rule} (see /v1/alerts/rules)`);
        if (!def.series.some((s) => s.scopes.includes(scope)))
          bad(`规则 ${rule} 不适用于 scope=${scope} / rule ${rule} does not apply to scope ${scope}`);
        if (!ownsEntity(a, scope, scopeId))
          throw new PolicyError(
            'FORBIDDEN',
            `只能为本单位的主体设置阈值 / thresholds may be set only for your own entities`,
          );
        const params = paramsOf(req.body);
        await deps.db.query(
          `INSERT INTO alert_thresholds (rule, scope, scope_id, subscriber_id, params) VALUES ($1, $2, $3, $4, $5)
          ON CONFLICT (rule, scope, scope_id) DO UPDATE SET params = EXCLUDED.params, subscriber_id = EXCLUDED.subscriber_id, updated_at = now()`,
          [rule, scope, scopeId, a.subscriberId, JSON.stringify(params)],
        );
        return { rule, scope, scopeId, params };
      },
    );

    app.delete(
      '/v1/alerts/thresholds/:rule/:scope/:scopeId',
      { config: product },
      async (req: FastifyRequest<{ Params: { rule: string; scope: string; scopeId: string } }>) => {
        const a = need(req);
        const { rule, scope, scopeId } = req.params;
        if (!ownsEntity(a, scope, scopeId))
          throw new PolicyError(
            'FORBIDDEN',
            `只能为本单位的主体设置阈值 / thresholds may be set only for your own entities`,
          );
        const r = await deps.db.query(
          'DELETE FROM alert_thresholds WHERE rule = $1 AND scope = $2 AND scope_id = $3',
          [rule, scope, scopeId],
        );
        return { deleted: r.rowCount ?? 0 };
      },
    );

    // Live alert states over SSE, filtered by the caller's audience.
    app.get(
      '/v1/alerts/live',
      { config: { ...product, stream: true } },
      async (req: FastifyRequest, reply: FastifyReply) => {
        const a = need(req);
        const sub = deps.redis.duplicate();
        // Redis down: the connection retries by itself (and resubscribes); its errors are not the process's.
        sub.on('error', (err: Error) =>
          req.log.debug({ err: err.message }, 'live alerts: Redis connection error'),
        );
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(': 实时预警 / live alerts\n\n');
        const heartbeat = setInterval(() => res.write(': ping\n\n'), 15_000);
        heartbeat.unref();
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          clearInterval(heartbeat);
          sub.quit().catch(() => sub.disconnect());
        };
        req.raw.on('close', close);
        sub.on('message', (_ch: string, message: string) => {
          try {
            const m = JSON.parse(message) as AlertMessage;
            if (!audienceSees(a, m)) return;
            res.write(`id: ${m.alertId}:${m.seq}\nevent: alert\ndata: ${message}\n\n`);
          } catch {
            /* a malformed message is skipped */
          }
        });
        try {
          await sub.subscribe(alertChannel(deps.config.topicPrefix));
          res.write('event: ready\ndata: {}\n\n');
        } catch (err) {
          res.write(`event: error\ndata: ${JSON.stringify({ message: '订阅失败 / subscribe failed' })}\n\n`);
          res.end();
          close();
          req.log.warn({ err: (err as Error).message }, 'alert live subscribe failed');
        }
      },
    );

    // Operators: webhooks per subscriber id, their delivery log, notices.
    app.post(
      '/v1/alert-webhooks',
      { config: operator },
      async (req: FastifyRequest<{ Body: unknown }>, reply: FastifyReply) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        if (typeof b.subscriberId !== 'string' || !b.subscriberId.trim())
          bad('缺少 subscriberId / subscriberId is required');
        if (typeof b.url !== 'string') bad('缺少 url / url is required');
        let url: URL;
        try {
          url = new URL(b.url);
        } catch {
          return bad(`url 无效 / url is not a URL: ${b.url}`);
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:')
          bad('url 须为 http(s) / url must be http or https');
        let audience: Audience;
        try {
          audience = parseAudience(b.audience, b.subscriberId);
        } catch (err) {
          return bad(
            `audience.${(err as Error).message} 应为字符串数组 / audience.${(err as Error).message} must be an array of strings`,
          );
        }
        const { subscriberId: _s, ...aud } = audience;
        const hook = await registerWebhook(deps.db, b.subscriberId, url.toString(), aud);
        return reply.code(201).send(hook);
      },
    );

    app.get(
      '/v1/alert-webhooks',
      { config: operator },
      async (req: FastifyRequest<{ Querystring: { subscriber?: string } }>) => ({
        webhooks: await listWebhooks(deps.db, req.query.subscriber || null),
      }),
    );

    for (const [action, enabled] of [
      ['enable', true],
      ['disable', false],
    ] as const) {
      app.post(
        `/v1/alert-webhooks/:id/${action}`,
        { config: operator },
        async (req: FastifyRequest<{ Params: { id: string } }>, _reply: FastifyReply) => {
          if (!(await setWebhookEnabled(deps.db, req.params.id, enabled)))
            throw new CoalflowError(
              'NOT_FOUND',
              `未找到 webhook ${req.params.id} / no webhook ${req.params.id}`,
            );
          return { id: req.params.id, enabled };
        },
      );
    }

    app.delete(
      '/v1/alert-webhooks/:id',
      { config: operator },
      async (req: FastifyRequest<{ Params: { id: string } }>, _reply: FastifyReply) => {
        if (!(await deleteWebhook(deps.db, req.params.id)))
          throw new CoalflowError(
            'NOT_FOUND',
            `未找到 webhook ${req.params.id} / no webhook ${req.params.id}`,
          );
        return { id: req.params.id, deleted: true };
      },
    );

    app.get(
      '/v1/alert-webhooks/:id/deliveries',
      { config: operator },
      async (req: FastifyRequest<{ Params: { id: string } }>) => ({
        webhookId: req.params.id,
        log: await deliveryLog(deps.db, req.params.id),
      }),
    );

    app.get('/v1/alert-notices', { config: operator }, async () => ({ notices: await listNotices(deps.db) }));
  };
}

/** The alert routes, filtered by the caller's grant for `alert` (access layer). */
export const alertRoutes = alertRoutesWith(principalAudience);
