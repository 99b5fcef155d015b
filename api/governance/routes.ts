/**
 * Governance routes: sandbox queries (`POST /v1/sandbox/query`, product `sandbox`), the monthly usage and
 * compliance report (`GET /v1/compliance/reports/:month`) and the evaluation view
 * (`GET /v1/compliance/evaluation/:month`), both for operators and government bodies (the data bureau receives
 * the report; other kinds get 403).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AccessError, InputError, type Deps } from '../../infra/core/index.ts';
import { allowedScope } from '../access/index.ts';
import { localize } from '../reports/content.ts';
import { CONTENT_TYPES, FORMATS, renderAll, type Format } from '../reports/render.ts';
import { complianceDoc, complianceFigures, type AuditVerifier } from './compliance.ts';
import {
  dimsOf,
  DIMENSIONS,
  DIMENSION_KEYS,
  GRAIN_KEYS,
  MEASURES,
  normalizeQuery,
  productsOf,
  runSandbox,
  SANDBOX_MAX_CELLS,
  SANDBOX_MAX_RANGE_DAYS,
  SANDBOX_QUERY_SCHEMA,
  sourceOf,
  type SandboxQuery,
} from './sandbox.ts';

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const obj = { type: 'object', additionalProperties: true } as const;
const problem = {
  type: 'object',
  properties: { code: str, message: str, error: obj },
  additionalProperties: true,
};
const refusals = { 400: problem, 401: problem, 403: problem, 429: problem } as const;

export interface GovernanceRoutesOptions {
  /** The audit trail's hash-chain verification, shown in the report's audit-log integrity section. */
  verifyAudit?: AuditVerifier;
}

function bureauOnly(req: FastifyRequest): void {
  const k = req.principal?.kind;
  if (k !== 'operator' && k !== 'government')
    throw new AccessError(
      'FORBIDDEN',
      403,
      '合规报告仅限运营方与政府部门 / the compliance report is for operators and government bodies only',
    );
}

function monthParam(v: string): string {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(v))
    throw new InputError(`月份格式应为 YYYY-MM：${v} / month must be YYYY-MM: ${v}`);
  return v;
}

export function governanceRoutesWith(o: GovernanceRoutesOptions = {}) {
  return async function governanceRoutes(app: FastifyInstance, opts: { deps: Deps }): Promise<void> {
    const { deps } = opts;

    app.get(
      '/v1/sandbox/catalog',
      {
        config: { public: true },
        schema: { summary: '沙箱查询目录 / sandbox query catalogue', response: { 200: obj } },
      },
      async () => ({
        measures: Object.entries(MEASURES).map(([measure, m]) => ({
          measure,
          zh: m.zh,
          en: m.en,
          unit: m.unit,
          product: m.product,
          dimensions: dimsOf(m.source),
        })),
        dimensions: DIMENSION_KEYS.map((d) => ({ dimension: d, zh: DIMENSIONS[d].zh, en: DIMENSIONS[d].en })),
        grains: GRAIN_KEYS,
        limits: { maxRangeDays: SANDBOX_MAX_RANGE_DAYS, maxCells: SANDBOX_MAX_CELLS },
      }),
    );

    app.post(
      '/v1/sandbox/query',
      {
        config: { product: 'sandbox' },
        schema: {
          summary:
            '沙箱聚合查询（可用不可见：仅聚合结果，经披露控制）/ sandbox aggregate query (aggregates only, disclosure-controlled)',
          body: SANDBOX_QUERY_SCHEMA,
          response: {
            200: {
              type: 'object',
              properties: {
                query: obj,
                measures: { type: 'array', items: obj },
                disclosure: obj,
                cells: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      key: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
                      values: { type: 'object', additionalProperties: { type: ['number', 'null'] } },
                      contributors: num,
                      suppressed: { type: 'boolean' },
                    },
                  },
                },
                cellsReturned: num,
                cellsSuppressed: num,
              },
            },
            ...refusals,
          },
        },
      },
      async (req: FastifyRequest<{ Body: SandboxQuery }>) => {
        req.auditExtra = { query: req.body };
        const q = normalizeQuery(req.body);
        req.auditExtra = { query: q };
        const p = req.principal!;
        const needed = productsOf(q);
        const registered = new Set((await app.access.store.products()).map((x) => x.code));
        const unregistered = needed.filter((x) => !registered.has(x));
        if (unregistered.length)
          throw new AccessError(
            'PRODUCT_NOT_REGISTERED',
            403,
            `数据产品 ${unregistered.join(', ')} 未登记，不对任何人提供 / data product ${unregistered.join(', ')} is not registered and is served to no one`,
          );
        let regions: string[] | null = null;
        if (p.kind !== 'operator') {
          const missing = needed.filter((x) => !allowedScope(p, x));
          if (missing.length)
            throw new AccessError(
              'FORBIDDEN',
              403,
              `查询所需的数据产品未获授权：${missing.join(', ')}（指标 ${q.measures.filter((m) => missing.includes(MEASURES[m].product)).join(', ')}）/ no grant for data product ${missing.join(', ')}, needed by measure ${q.measures.filter((m) => missing.includes(MEASURES[m].product)).join(', ')}`,
            );
          for (const s of [req.accessScope, ...needed.map((x) => allowedScope(p, x))])
            if (s && s.regions !== '*') {
              const allowed = s.regions;
              regions = regions ? regions.filter((r) => allowed.includes(r)) : [...allowed];
            }
          if (regions) {
            if (!dimsOf(sourceOf(q)).includes('region'))
              throw new AccessError(
                'FORBIDDEN',
                403,
                `指标 ${q.measures.join(', ')} 覆盖全市，而授权仅限旗区 ${regions.join(', ') || '（无）'} / measures ${q.measures.join(', ')} cover the whole city; the grant covers only regions ${regions.join(', ') || '(none)'}`,
              );
            const outside = (q.filters.region ?? []).filter((r) => !regions!.includes(r));
            if (outside.length)
              throw new AccessError(
                'FORBIDDEN',
                403,
                `旗区 ${outside.join(', ')} 不在授权范围内（授权：${regions.join(', ') || '无'}）/ regions ${outside.join(', ')} are outside the grant (granted: ${regions.join(', ') || 'none'})`,
              );
          }
        }
        const result = await runSandbox(deps.db, q, { regions });
        req.accessCells = { returned: result.cellsReturned, suppressed: result.cellsSuppressed };
        req.auditExtra = {
          query: q,
          result: {
            rows: result.cells.length,
            cellsReturned: result.cellsReturned,
            cellsSuppressed: result.cellsSuppressed,
          },
        };
        return result;
      },
    );

    app.get(
      '/v1/compliance/reports/:month',
      {
        config: { authenticated: true },
        schema: {
          summary:
            '公共数据资源使用情况与合规月报（运营方、政府部门）/ monthly usage and compliance report (operators, government bodies)',
          params: { type: 'object', required: ['month'], properties: { month: str } },
          querystring: {
            type: 'object',
            properties: {
              format: { type: 'string', enum: [...FORMATS] },
              lang: { type: 'string', enum: ['zh', 'en'] },
            },
          },
          response: { 200: {}, ...refusals },
        },
      },
      async (
        req: FastifyRequest<{
          Params: { month: string };
          Querystring: { format?: Format; lang?: 'zh' | 'en' };
        }>,
        reply: FastifyReply,
      ) => {
        bureauOnly(req);
        const month = monthParam(req.params.month);
        const format = req.query.format ?? 'json';
        const figures = await complianceFigures(deps.db, month, { verifyAudit: o.verifyAudit });
        const doc = localize(complianceDoc(figures), req.query.lang ?? 'zh');
        if (format === 'json') return reply.type(CONTENT_TYPES.json).send({ ...doc, figures });
        const bytes = (await renderAll(doc, [format])).get(format)!;
        return reply
          .type(CONTENT_TYPES[format])
          .header('content-disposition', `attachment; filename="coalflow-compliance-${month}.${format}"`)
          .send(bytes);
      },
    );

    app.get(
      '/v1/compliance/evaluation/:month',
      {
        config: { authenticated: true },
        schema: {
          summary:
            '绩效评估视图：授权运营、数据质量与应用成效、安全合规、经济与社会效益 / evaluation view under the plan’s four headings',
          params: { type: 'object', required: ['month'], properties: { month: str } },
          response: { 200: obj, ...refusals },
        },
      },
      async (req: FastifyRequest<{ Params: { month: string } }>) => {
        bureauOnly(req);
        const month = monthParam(req.params.month);
        return (await complianceFigures(deps.db, month, { verifyAudit: o.verifyAudit })).evaluation;
      },
    );
  };
}

export const governanceRoutes = governanceRoutesWith();
