/**
 * Operator routes of the access layer (subscribers, grants, keys, products, audit, usage, bills) and `/v1/me`.
 * Each has JSON schemas for the request and the response (served as OpenAPI at /docs).
 */
import type { FastifyInstance } from 'fastify';
import { CoalflowError, type Deps } from '../../infra/core/index.ts';
import { bill, monthRange } from './bill.ts';
import { queryAudit } from './audit.ts';
import { verifyAudit } from './chain.ts';
import { KINDS, type NewGrant, type Product } from './store.ts';

const str = { type: 'string' } as const;
const strs = { type: 'array', items: str } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const anyObj = { type: 'object', additionalProperties: true } as const;
const problem = {
  type: 'object',
  properties: { code: str, message: str },
  additionalProperties: true,
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 429: problem } as const;
const keyOut = {
  type: 'object',
  properties: { keyId: str, key: str, expiresAt: nullableStr, notice: str },
} as const;
const keyRow = {
  type: 'object',
  properties: {
    keyId: str,
    subscriberId: str,
    label: str,
    createdAt: str,
    expiresAt: nullableStr,
    revokedAt: nullableStr,
    rotatedFrom: nullableStr,
  },
} as const;
const grantSchema = {
  type: 'object',
  properties: {
    id: str,
    products: strs,
    regions: { anyOf: [strs, { type: 'string', enum: ['*'] }] },
    mines: strs,
    users: strs,
    purpose: str,
    validFrom: str,
    validTo: nullableStr,
    quotaPerDay: { type: ['integer', 'null'] },
    tier: { type: 'string', enum: ['public', 'industry'] },
  },
} as const;
const NOTICE = '密钥仅显示这一次，请妥善保存 / the key is shown only this once: store it safely';

export async function accessRoutes(app: FastifyInstance, opts: { deps: Deps }): Promise<void> {
  const { deps } = opts;
  const access = app.access;
  const op = { operator: true };
  const notFound = (what: string) => new CoalflowError('NOT_FOUND', `${what} 不存在 / ${what} not found`);

  app.get(
    '/v1/me',
    {
      config: { authenticated: true },
      schema: {
        summary: "当前密钥的订户与授权 / the caller's subscriber and grants",
        response: {
          200: {
            type: 'object',
            properties: {
              keyId: str,
              subscriberId: str,
              subscriberName: str,
              kind: str,
              tier: str,
              grants: { type: 'array', items: grantSchema },
            },
          },
          ...errors,
        },
      },
    },
    async (req) => req.principal!,
  );

  app.get(
    '/v1/access/subscribers',
    {
      config: op,
      schema: {
        summary: '订户列表 / subscribers',
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: anyObj } } },
          ...errors,
        },
      },
    },
    async () => ({ items: await access.store.subscribers() }),
  );

  app.post<{ Body: { id?: string; name: string; kind: (typeof KINDS)[number]; creditCode?: string } }>(
    '/v1/access/subscribers',
    {
      config: op,
      schema: {
        summary: '新建订户 / create a subscriber',
        body: {
          type: 'object',
          required: ['name', 'kind'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{2,64}$' },
            name: str,
            kind: { type: 'string', enum: [...KINDS] },
            creditCode: str,
          },
        },
        response: { 201: anyObj, ...errors },
      },
    },
    async (req, reply) => reply.status(201).send(await access.store.createSubscriber(req.body)),
  );

  app.post<{ Params: { id: string }; Body: NewGrant }>(
    '/v1/access/subscribers/:id/grants',
    {
      config: op,
      schema: {
        summary: '授予数据产品 / grant data products',
        params: { type: 'object', properties: { id: str } },
        body: {
          type: 'object',
          required: ['products', 'purpose', 'tier'],
          additionalProperties: false,
          properties: {
            products: strs,
            regions: { anyOf: [strs, { type: 'string', enum: ['*'] }] },
            mines: strs,
            users: strs,
            purpose: str,
            validFrom: str,
            validTo: nullableStr,
            quotaPerDay: { type: ['integer', 'null'], minimum: 1 },
            tier: { type: 'string', enum: ['public', 'industry'] },
          },
        },
        response: { 201: grantSchema, ...errors },
      },
    },
    async (req, reply) => {
      const g = await access.store.addGrant(req.params.id, req.body);
      access.invalidate();
      return reply.status(201).send(g);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/access/subscribers/:id/grants',
    {
      config: op,
      schema: {
        summary: "订户的授权 / a subscriber's grants",
        params: { type: 'object', properties: { id: str } },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: grantSchema } } },
          ...errors,
        },
      },
    },
    async (req) => ({ items: await access.store.grants(req.params.id) }),
  );

  app.get<{ Querystring: { subscriber?: string } }>(
    '/v1/access/keys',
    {
      config: op,
      schema: {
        summary: '密钥列表（不含密钥本身）/ keys (never the secret)',
        querystring: { type: 'object', properties: { subscriber: str } },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: keyRow } } },
          ...errors,
        },
      },
    },
    async (req) => ({ items: await access.store.keys(req.query.subscriber) }),
  );

  app.post<{ Body: { subscriberId: string; label?: string; expiresAt?: string } }>(
    '/v1/access/keys',
    {
      config: op,
      schema: {
        summary: '新建密钥（仅显示一次）/ create a key (shown once)',
        body: {
          type: 'object',
          required: ['subscriberId'],
          additionalProperties: false,
          properties: { subscriberId: str, label: str, expiresAt: str },
        },
        response: { 201: keyOut, ...errors },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send({ ...(await access.store.createKey(req.body.subscriberId, req.body)), notice: NOTICE }),
  );

  const keyParams = { type: 'object', properties: { keyId: str } } as const;
  app.post<{ Params: { keyId: string }; Body: { graceSeconds?: number } | undefined }>(
    '/v1/access/keys/:keyId/rotate',
    {
      config: op,
      schema: {
        summary: '轮换密钥 / rotate a key',
        params: keyParams,
        body: {
          type: ['object', 'null'],
          properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: 30 * 86400 } },
        },
        response: { 201: keyOut, ...errors },
      },
    },
    async (req, reply) => {
      const fresh = await access.store.rotateKey(req.params.keyId, req.body?.graceSeconds ?? 0);
      access.invalidate();
      if (!fresh) throw notFound(`密钥 ${req.params.keyId} / key ${req.params.keyId}`);
      return reply.status(201).send({ ...fresh, notice: NOTICE });
    },
  );

  app.post<{ Params: { keyId: string } }>(
    '/v1/access/keys/:keyId/revoke',
    {
      config: op,
      schema: {
        summary: '吊销密钥 / revoke a key',
        params: keyParams,
        response: {
          200: { type: 'object', properties: { keyId: str, revoked: { type: 'boolean' } } },
          ...errors,
        },
      },
    },
    async (req, _reply) => {
      const ok = await access.store.revokeKey(req.params.keyId);
      access.invalidate();
      if (!ok) throw notFound(`密钥 ${req.params.keyId} / key ${req.params.keyId}`);
      return { keyId: req.params.keyId, revoked: true };
    },
  );

  app.post<{ Params: { keyId: string }; Body: { at?: string } | undefined }>(
    '/v1/access/keys/:keyId/expire',
    {
      config: op,
      schema: {
        summary: '设定密钥到期（默认立即）/ expire a key (now by default)',
        params: keyParams,
        body: { type: ['object', 'null'], properties: { at: str } },
        response: {
          200: { type: 'object', properties: { keyId: str, expired: { type: 'boolean' } } },
          ...errors,
        },
      },
    },
    async (req, _reply) => {
      const ok = await access.store.expireKey(req.params.keyId, req.body?.at);
      access.invalidate();
      if (!ok) throw notFound(`密钥 ${req.params.keyId} / key ${req.params.keyId}`);
      return { keyId: req.params.keyId, expired: true };
    },
  );

  const productSchema = {
    type: 'object',
    required: ['code', 'name'],
    properties: { code: str, name: str, fields: strs, fee: anyObj, state: str },
  } as const;
  app.get(
    '/v1/access/products',
    {
      config: op,
      schema: {
        summary: '已登记数据产品 / registered data products',
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: productSchema } } },
          ...errors,
        },
      },
    },
    async () => ({ items: await access.store.products() }),
  );

  app.post<{ Body: Product }>(
    '/v1/access/products',
    {
      config: op,
      schema: {
        summary: '登记数据产品 / register a data product',
        body: {
          ...productSchema,
          properties: { code: str, name: str, fields: strs, fee: anyObj },
          additionalProperties: false,
        },
        response: { 201: productSchema, ...errors },
      },
    },
    async (req, reply) => {
      const p = await access.store.registerProduct(req.body, {
        actor: `key:${req.principal!.keyId}`,
        subscriberId: req.principal!.subscriberId,
      });
      await access.governance.changed();
      return reply.status(201).send(p);
    },
  );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/audit/verify',
    {
      config: op,
      schema: {
        summary: '校验审计日志哈希链 / verify the audit log’s hash chain',
        description:
          '逐页检查每行的前一哈希与本行哈希；ok=false 时 firstBad 为第一处不符的 seq / checks each row’s link and hash page by page; when ok is false, firstBad is the first seq that does not hold',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { from: str, to: str },
        },
        response: {
          200: {
            type: 'object',
            required: ['ok', 'rows', 'firstBad'],
            properties: {
              ok: { type: 'boolean' },
              rows: { type: 'integer' },
              firstBad: { type: ['integer', 'null'] },
              reason: nullableStr,
              anchor: {
                type: ['object', 'null'],
                properties: { seq: { type: 'integer' }, prevHash: str, genesis: { type: 'boolean' } },
              },
              lastSeq: { type: ['integer', 'null'] },
              unchained: { type: 'integer' },
            },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      await access.flush();
      return verifyAudit(deps.db, { from: req.query.from, to: req.query.to });
    },
  );

  app.get<{
    Querystring: { subscriber?: string; from?: string; to?: string; limit?: number; after?: string };
  }>(
    '/v1/access/audit',
    {
      config: op,
      schema: {
        summary: '审计记录（按订户与时段）/ audit rows by subscriber and period',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            subscriber: str,
            from: str,
            to: str,
            limit: { type: 'integer', minimum: 1, maximum: 10000 },
            after: { type: 'string', pattern: '^\\d+$' },
          },
        },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: anyObj } } },
          ...errors,
        },
      },
    },
    async (req) => {
      await access.flush();
      return {
        items: await queryAudit(deps.db, {
          subscriberId: req.query.subscriber,
          from: req.query.from,
          to: req.query.to,
          limit: req.query.limit,
          afterSeq: req.query.after,
        }),
      };
    },
  );

  app.get<{ Querystring: { month: string; subscriber?: string } }>(
    '/v1/access/usage',
    {
      config: op,
      schema: {
        summary: '按订户、产品、日的用量 / usage per subscriber, product and day',
        querystring: { type: 'object', required: ['month'], properties: { month: str, subscriber: str } },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: anyObj } } },
          ...errors,
        },
      },
    },
    async (req) => {
      await access.flush();
      const { from, to } = monthRange(req.query.month);
      const r = await deps.db.query(
        `SELECT subscriber_id, product, to_char(day, 'YYYY-MM-DD') AS day, calls::float8, rows::float8, bytes::float8 FROM access_usage_daily
      WHERE day >= $1::date AND day < $2::date AND ($3::text IS NULL OR subscriber_id = $3) ORDER BY subscriber_id, product, day`,
        [from, to, req.query.subscriber ?? null],
      );
      return {
        items: r.rows.map((x) => ({
          subscriberId: x.subscriber_id,
          product: x.product,
          day: x.day,
          calls: x.calls,
          rows: x.rows,
          bytes: x.bytes,
        })),
      };
    },
  );

  app.get<{ Querystring: { month: string; subscriber?: string } }>(
    '/v1/access/bill',
    {
      config: op,
      schema: {
        summary: '月度账单 / monthly statements',
        querystring: { type: 'object', required: ['month'], properties: { month: str, subscriber: str } },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: anyObj } } },
          ...errors,
        },
      },
    },
    async (req) => {
      await access.flush();
      return { items: await bill(deps.db, req.query.month, req.query.subscriber) };
    },
  );
}
