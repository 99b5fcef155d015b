/**
 * Operator routes of governance: the data product lifecycle (`/v1/products…`) and the emergency stop
 * (`/v1/emergency…`). Every change is recorded with the caller's key id and subscriber, and announced to every
 * process (`Governance.changed`), so it holds everywhere within the refresh period (1 s by default).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CoalflowError, type Deps } from '../../infra/core/index.ts';
import { emergencyState, emergencyStops, setEmergency, type StopKind } from './emergency.ts';
import { productEvents, PRODUCT_STATES, STEP_NAMES, transition, type Step } from './lifecycle.ts';
import type { Product } from './store.ts';

const str = { type: 'string' } as const;
const strs = { type: 'array', items: str } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const anyObj = { type: 'object', additionalProperties: true } as const;
const problem = {
  type: 'object',
  properties: { code: str, message: str },
  additionalProperties: true,
} as const;
const errors = {
  400: problem,
  401: problem,
  403: problem,
  404: problem,
  409: problem,
  429: problem,
} as const;
const productOut = {
  type: 'object',
  properties: {
    code: str,
    name: str,
    fields: strs,
    fee: anyObj,
    state: { type: 'string', enum: [...PRODUCT_STATES] },
    review: { anyOf: [anyObj, { type: 'null' }] },
  },
} as const;
const eventOut = {
  type: 'object',
  properties: {
    id: str,
    at: str,
    product: str,
    from: nullableStr,
    to: str,
    actor: str,
    subscriberId: nullableStr,
    reason: str,
    review: { anyOf: [anyObj, { type: 'null' }] },
  },
} as const;
const stopOut = {
  type: 'object',
  properties: {
    id: str,
    at: str,
    action: { type: 'string', enum: ['stop', 'resume'] },
    kind: { type: 'string', enum: ['all', 'subscriber', 'product'] },
    target: str,
    actor: str,
    subscriberId: nullableStr,
    reason: str,
  },
} as const;
const stateOut = {
  type: 'object',
  properties: {
    all: { type: 'boolean' },
    subscribers: strs,
    products: strs,
    stops: { type: 'array', items: stopOut },
  },
} as const;
const period = {
  type: 'object',
  additionalProperties: false,
  properties: { from: str, to: str },
} as const;

function actorOf(req: FastifyRequest): { actor: string; subscriberId: string | null } {
  const p = req.principal;
  return { actor: p ? `key:${p.keyId}` : 'anonymous', subscriberId: p?.subscriberId ?? null };
}

export async function lifecycleRoutes(app: FastifyInstance, opts: { deps: Deps }): Promise<void> {
  const { deps } = opts;
  const access = app.access;
  const gov = access.governance;
  const op = { operator: true };
  const tdeps = { db: deps.db, redis: deps.redis, prefix: deps.config.topicPrefix };

  app.get(
    '/v1/products',
    {
      config: op,
      schema: {
        summary: '数据产品及其生命周期状态 / data products and their lifecycle state',
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: productOut } } },
          ...errors,
        },
      },
    },
    async () => {
      const r = await deps.db.query(
        'SELECT code, name, fields, fee, state, review FROM access_products ORDER BY code',
      );
      return { items: r.rows };
    },
  );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/products/events',
    {
      config: op,
      schema: {
        summary: '生命周期事件（登记、审查、发布、暂停、下线）/ lifecycle events in [from, to)',
        querystring: period,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: eventOut } } },
          ...errors,
        },
      },
    },
    async (req) => ({ items: await productEvents(deps.db, req.query.from, req.query.to) }),
  );

  app.get<{ Params: { code: string } }>(
    '/v1/products/:code',
    {
      config: op,
      schema: {
        summary: '一个数据产品：状态、审查记录与全部事件 / one product: state, review record and every event',
        params: { type: 'object', properties: { code: str } },
        response: {
          200: {
            type: 'object',
            properties: { product: productOut, events: { type: 'array', items: eventOut } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const r = await deps.db.query(
        'SELECT code, name, fields, fee, state, review FROM access_products WHERE code = $1',
        [req.params.code],
      );
      if (!r.rowCount)
        throw new CoalflowError(
          'NOT_FOUND',
          `数据产品 ${req.params.code} 未登记 / data product ${req.params.code} is not registered`,
        );
      return { product: r.rows[0], events: await productEvents(deps.db, null, null, req.params.code) };
    },
  );

  app.post<{ Body: Product }>(
    '/v1/products',
    {
      config: op,
      schema: {
        summary: '登记新数据产品（草稿）/ register a new data product (draft)',
        body: {
          type: 'object',
          required: ['code', 'name', 'fields'],
          additionalProperties: false,
          properties: { code: str, name: str, fields: strs, fee: anyObj },
        },
        response: { 201: productOut, ...errors },
      },
    },
    async (req, reply) => {
      const p = await access.store.registerProduct(req.body, actorOf(req));
      await gov.changed();
      return reply.status(201).send(p);
    },
  );

  app.post<{ Params: { code: string; step: Step }; Body: { reason?: string } | undefined }>(
    '/v1/products/:code/:step',
    {
      config: op,
      schema: {
        summary:
          '生命周期步骤：submit 送审、approve 批准、publish 发布、suspend 暂停、resume 恢复、retire 下线 / lifecycle step',
        params: {
          type: 'object',
          required: ['code', 'step'],
          properties: { code: str, step: { type: 'string', enum: STEP_NAMES } },
        },
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { reason: { type: 'string', maxLength: 2000 } },
        },
        response: { 200: eventOut, ...errors },
      },
    },
    async (req) => {
      const e = await transition(
        tdeps,
        req.params.code,
        req.params.step,
        actorOf(req),
        req.body?.reason ?? '',
      );
      await gov.changed();
      return e;
    },
  );

  const stopBody = {
    type: 'object',
    required: ['reason'],
    additionalProperties: false,
    properties: {
      all: { type: 'boolean' },
      subscriber: str,
      product: str,
      reason: { type: 'string', minLength: 1, maxLength: 2000 },
    },
  } as const;
  const target = (b: { all?: boolean; subscriber?: string; product?: string }): [StopKind, string | null] => {
    const n = [b.all === true, !!b.subscriber, !!b.product].filter(Boolean).length;
    if (n !== 1)
      throw new CoalflowError(
        'INPUT_INVALID',
        '须且仅须指定 all、subscriber 或 product 之一 / give exactly one of all, subscriber or product',
      );
    return b.all ? ['all', null] : b.subscriber ? ['subscriber', b.subscriber] : ['product', b.product!];
  };
  const change = (action: 'stop' | 'resume') => ({
    config: op,
    schema: {
      summary:
        action === 'stop'
          ? '紧急停止：关闭某订户、某数据产品或全部对外访问 / emergency stop of a subscriber, a product or all outside access'
          : '恢复紧急停止的访问 / resume access stopped in an emergency',
      body: stopBody,
      response: {
        200: {
          type: 'object',
          properties: {
            changed: { type: 'boolean' },
            event: { anyOf: [stopOut, { type: 'null' }] },
            state: stateOut,
          },
        },
        ...errors,
      },
    },
  });
  for (const action of ['stop', 'resume'] as const)
    app.post<{ Body: { all?: boolean; subscriber?: string; product?: string; reason: string } }>(
      `/v1/emergency/${action}`,
      change(action),
      async (req) => {
        const [kind, t] = target(req.body);
        const r = await setEmergency(deps.db, action, kind, t, actorOf(req), req.body.reason);
        await gov.changed();
        return r;
      },
    );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/emergency',
    {
      config: op,
      schema: {
        summary: '当前紧急停止状态与停止/恢复记录 / current emergency stops and the stop/resume log',
        querystring: period,
        response: {
          200: {
            type: 'object',
            properties: { ...stateOut.properties, events: { type: 'array', items: stopOut } },
          },
          ...errors,
        },
      },
    },
    async (req) => ({
      ...(await emergencyState(deps.db)),
      events: await emergencyStops(deps.db, req.query.from, req.query.to),
    }),
  );
}
