/**
 * Request and response JSON schemas of the indicator, forecast, ingest and system routes, for OpenAPI (/docs).
 * The handlers keep validating their input in code (with their own bilingual messages); these schemas never strip
 * a field (no `additionalProperties: false` on input, free-form nested objects on output).
 */
const str = { type: 'string' } as const;
const obj = { type: 'object', additionalProperties: true } as const;
const arr = { type: 'array', items: obj } as const;
const problem = {
  type: 'object',
  properties: { code: str, message: str, error: obj },
  additionalProperties: true,
} as const;
const refusals = { 400: problem, 401: problem, 403: problem, 404: problem, 429: problem } as const;
const family = {
  type: 'string',
  enum: ['production', 'sales', 'price', 'inventory', 'days_of_stock', 'transport', 'balance'],
} as const;

export const SCHEMAS = {
  healthz: { summary: '健康检查 / health', response: { 200: obj, 503: obj } },
  catalog: {
    summary: '指标目录 / indicator catalogue',
    response: {
      200: {
        type: 'object',
        properties: {
          families: { type: 'array', items: str },
          windows: { type: 'array', items: str },
          disclosure: obj,
          metrics: arr,
        },
      },
    },
  },
  latest: {
    summary: '最新指标快照（按授权过滤、披露控制）/ latest snapshot (filtered by grant, disclosure control)',
    querystring: {
      type: 'object',
      required: ['family', 'scope'],
      properties: { family: str, scope: str, id: str },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          family: str,
          scope: str,
          entities: { type: 'array', items: { type: 'object', properties: { scopeId: str, points: arr } } },
        },
      },
      ...refusals,
    },
  },
  series: {
    summary: '指标序列 / indicator series',
    querystring: {
      type: 'object',
      required: ['family', 'metric', 'scope'],
      properties: { family: str, metric: str, scope: str, id: str, window: str, from: str, to: str },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          family: str,
          metric: str,
          zh: str,
          unit: str,
          scope: str,
          window: str,
          from: str,
          to: str,
          series: { type: 'array', items: { type: 'object', properties: { scopeId: str, points: arr } } },
        },
      },
      ...refusals,
    },
  },
  daysOfStock: {
    summary: "用煤企业可用天数（本单位或明确授权）/ a coal user's days of stock (own or explicitly granted)",
    querystring: { type: 'object', required: ['user'], properties: { user: str } },
    response: {
      200: {
        type: 'object',
        properties: {
          user: str,
          asOf: str,
          daysOfStock: { type: ['number', 'null'] },
          avgDailyConsumptionT: { type: ['number', 'null'] },
          windowDays: { type: 'integer' },
          change7d: { type: ['number', 'null'] },
          trend: str,
        },
      },
      ...refusals,
    },
  },
  live: {
    summary:
      '实时指标 SSE（按授权过滤，支持 Last-Event-ID）/ live indicators over SSE (filtered by grant, Last-Event-ID resumes)',
    params: { type: 'object', properties: { family } },
    querystring: { type: 'object', properties: { key: str } },
    response: { ...refusals },
  },
  forecasts: {
    summary: '有预测的序列 / series with a forecast',
    response: { 200: { type: 'object', properties: { items: arr } }, ...refusals },
  },
  forecast: {
    summary: "序列的最新预测 / a series' newest forecast",
    params: { type: 'object', properties: { seriesKey: str } },
    response: { 200: obj, ...refusals },
  },
  retrain: {
    summary: '运营方：立即重新训练 / operators: retrain now',
    response: { 200: obj, 500: problem, 503: problem, ...refusals },
  },
  ingest: {
    summary: '运营方：批量接入（JSON 数组或 NDJSON）/ operators: batch ingest (JSON array or NDJSON)',
    params: { type: 'object', properties: { feed: str } },
    response: {
      200: { type: 'object', properties: { feed: str, runId: str, summary: obj, results: arr } },
      ...refusals,
    },
  },
  rejects: {
    summary: '运营方：拒收记录 / operators: rejected records',
    querystring: {
      type: 'object',
      properties: { feed: str, reason: str, status: str, limit: str, before: str },
    },
    response: { 200: { type: 'object', properties: { rejects: arr } }, ...refusals },
  },
  reject: {
    summary: '运营方：一条拒收记录 / operators: one reject',
    params: { type: 'object', properties: { id: str } },
    response: { 200: obj, ...refusals },
  },
  replay: {
    summary: '运营方：修正后重放 / operators: fix and replay',
    params: { type: 'object', properties: { id: str } },
    response: { 200: obj, 409: problem, 422: obj, ...refusals },
  },
  metrics: {
    summary: 'Prometheus 指标（本机开放或运营方密钥）/ Prometheus metrics (loopback or an operator key)',
    response: { ...refusals },
  },
} as const;
