/**
 * Operator routes of ingest: HTTP batch ingest with per-record results, the
 * rejects list (payload masked: raw data never leaves the domain through the
 * API) and replay of a fixed reject.
 */
import type { FastifyInstance } from 'fastify';
import { CoalflowError, type Deps } from '../../infra/core/index.ts';
import {
  REASONS,
  FEEDS,
  ingestRecords,
  isFeed,
  getReject,
  listRejects,
  replayReject,
  jsonDepth,
  MAX_RECORD_DEPTH,
} from '../../pipelines/index.ts';

/** A body deeper than a batch of records at the depth limit is refused whole (nothing is stored). */
function tooDeep(body: unknown): boolean {
  return (
    body !== null && typeof body === 'object' && jsonDepth(body, MAX_RECORD_DEPTH + 1) > MAX_RECORD_DEPTH + 1
  );
}
const tooDeepError = () =>
  new CoalflowError(
    'INPUT_INVALID',
    `请求体 JSON 嵌套超过 ${MAX_RECORD_DEPTH} 层（每条记录）/ body nested deeper than ${MAX_RECORD_DEPTH} levels per record`,
  );
import { SCHEMAS } from './schemas.ts';

function unknownFeed(feed: string) {
  return new CoalflowError(
    'NOT_FOUND',
    `未知数据源 ${feed}，可用：${FEEDS.join(', ')} / unknown feed ${feed}; one of ${FEEDS.join(', ')}`,
  );
}

/** Splits an NDJSON body into lines; each line is decoded (or rejected as decode_error) on its own. */
function ndjsonItems(body: string): string[] {
  return body.split(/\r?\n/).filter((l) => l.trim() !== '');
}

export async function ingestRoutes(app: FastifyInstance, opts: { deps: Deps }): Promise<void> {
  const { deps } = opts;
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/ndjson', 'text/plain'],
    { parseAs: 'string' },
    (_req, body, done) => done(null, body),
  );

  app.post<{ Params: { feed: string } }>(
    '/v1/ingest/:feed',
    { config: { operator: true }, schema: SCHEMAS.ingest },
    async (req, reply) => {
      const { feed } = req.params;
      if (!isFeed(feed)) throw unknownFeed(feed);
      const body = req.body as unknown;
      if (tooDeep(body)) throw tooDeepError();
      let items: unknown[];
      if (typeof body === 'string') items = ndjsonItems(body);
      else if (Array.isArray(body)) items = body;
      else if (body && typeof body === 'object') items = [body];
      else {
        throw new CoalflowError(
          'INPUT_INVALID',
          '请求体应为 JSON 数组或 NDJSON / body must be a JSON array or NDJSON',
        );
      }
      const out = await ingestRecords(deps, feed, items, 'http');
      req.log.info({ feed, runId: out.runId, ...out.summary }, 'http ingest');
      return reply.send({ feed, runId: out.runId, summary: out.summary, results: out.results });
    },
  );

  app.get<{
    Querystring: { feed?: string; reason?: string; status?: string; limit?: string; before?: string };
  }>('/v1/rejects', { config: { operator: true }, schema: SCHEMAS.rejects }, async (req, reply) => {
    const q = req.query;
    if (q.feed && !isFeed(q.feed)) throw unknownFeed(q.feed);
    if (q.reason && !(q.reason in REASONS)) {
      throw new CoalflowError('INPUT_INVALID', `未知原因代码 ${q.reason} / unknown reason code ${q.reason}`);
    }
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
      throw new CoalflowError('INPUT_INVALID', 'limit 应为正整数 / limit must be a positive integer');
    }
    const rejects = await listRejects(deps, {
      feed: q.feed,
      reason: q.reason,
      status: q.status,
      limit,
      beforeId: q.before,
    });
    return reply.send({ rejects });
  });

  app.get<{ Params: { id: string } }>(
    '/v1/rejects/:id',
    { config: { operator: true }, schema: SCHEMAS.reject },
    async (req, reply) => {
      const r = await getReject(deps, req.params.id);
      if (!r)
        throw new CoalflowError(
          'NOT_FOUND',
          `拒收记录 ${req.params.id} 不存在 / reject ${req.params.id} not found`,
        );
      return reply.send(r);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/rejects/:id/replay',
    { config: { operator: true }, schema: SCHEMAS.replay },
    async (req, reply) => {
      const body = req.body as unknown;
      if (tooDeep(body)) throw tooDeepError();
      // The body is a patch on the original record held in the domain (a JSON object; a one-element array is accepted).
      let corrected: unknown;
      if (typeof body === 'string') {
        if (body.trim()) {
          try {
            corrected = JSON.parse(body) as unknown;
          } catch {
            throw new CoalflowError(
              'INPUT_INVALID',
              '修正内容应为 JSON 对象 / the fix must be a JSON object',
            );
          }
        }
      } else if (body && typeof body === 'object') corrected = Array.isArray(body) ? body[0] : body;
      if (
        corrected !== undefined &&
        (corrected === null || typeof corrected !== 'object' || Array.isArray(corrected))
      ) {
        throw new CoalflowError(
          'INPUT_INVALID',
          '修正内容应为 JSON 对象（只写要改的字段）/ the fix must be a JSON object holding the fields to change',
        );
      }
      const out = await replayReject(deps, req.params.id, corrected);
      if (!out.found)
        throw new CoalflowError(
          'NOT_FOUND',
          `拒收记录 ${req.params.id} 不存在 / reject ${req.params.id} not found`,
        );
      if (out.conflict) {
        throw new CoalflowError(
          'CONFLICT',
          `拒收记录 ${req.params.id} 已处理（${out.status}）/ reject already resolved (${out.status})`,
        );
      }
      req.log.info(
        { rejectId: req.params.id, status: out.status, reason: out.result.reason },
        'reject replayed',
      );
      return reply
        .status(out.status === 'open' ? 422 : 200)
        .send({ id: req.params.id, status: out.status, result: out.result, keptMasked: out.keptMasked });
    },
  );
}
