/**
 * The API's one error shape, `application/problem+json` (RFC 9457) with the stable code:
 * `{"type", "title", "status", "code", "message", "error": {"code", "message", …}}`, Chinese first, English after
 * " / ". Routes throw a `CoalflowError`; the error handler (server.ts) renders it here. What fastify itself refuses
 * (bad JSON, a body over the limit, an unknown route) is mapped onto the documented codes.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { CoalflowError, type ErrorCode } from '../infra/core/index.ts';

/** Sends one error in the documented shape. */
export function sendProblem(
  reply: FastifyReply,
  status: number,
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({
      type: `urn:coalflow:error:${code}`,
      title: message,
      status,
      code,
      message,
      error: { code, message, ...extra },
    });
}

/** Renders any error a route or hook threw. */
export function sendError(
  reply: FastifyReply,
  err: unknown,
  log: { error(o: object, msg: string): void },
): FastifyReply {
  if (err instanceof CoalflowError) {
    const retryAfterS = (err as CoalflowError & { retryAfterS?: number }).retryAfterS;
    if (retryAfterS) reply.header('retry-after', String(retryAfterS));
    if (err.status >= 500) log.error({ code: err.code, err: err.message }, 'request failed');
    const { code: _c, message: _m, ...extra } = err.toJSON();
    return sendProblem(reply, err.status, err.code, err.message, extra);
  }
  const known = fastifyErrorReply(err as FastifyError) ?? databaseErrorReply(err);
  if (known) return sendProblem(reply, known.status, known.code, known.message);
  if (storeUnreachable(err)) {
    reply.header('retry-after', '5');
    return sendProblem(
      reply,
      503,
      'SERVICE_UNAVAILABLE',
      '数据库或缓存暂不可用，请稍后重试 / the database or the cache is unavailable: retry shortly',
    );
  }
  log.error({ err: (err as Error)?.message }, 'request failed');
  return sendProblem(reply, 500, 'INTERNAL', '内部错误 / internal error');
}

/** Connection-level failures of the database or Redis (refused, reset, server shut down, client gave up). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03']);
function storeUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  return (
    typeof e.message === 'string' &&
    /Connection terminated|Client has encountered a connection error/.test(e.message)
  );
}

/**
 * A database refusal caused by the request's own values (a safety net behind the routes' validation): text
 * PostgreSQL cannot hold (NUL), a value that is not of the column's type or out of its range, a duplicate
 * of something that exists, a reference to something that does not. Anything else stays a 500.
 */
export function databaseErrorReply(
  err: unknown,
): { status: number; code: ErrorCode; message: string } | null {
  const sqlstate = (err as { code?: unknown } | null)?.code;
  if (typeof sqlstate !== 'string' || !/^[0-9A-Z]{5}$/.test(sqlstate)) return null;
  if (sqlstate === '23505')
    return { status: 409, code: 'CONFLICT', message: '已存在（重复的标识）/ already exists (duplicate id)' };
  if (sqlstate === '23503')
    return {
      status: 400,
      code: 'INPUT_INVALID',
      message: '引用的对象不存在 / refers to something that does not exist',
    };
  if (sqlstate.startsWith('22'))
    return {
      status: 400,
      code: 'INPUT_INVALID',
      message:
        '参数值无效（含 NUL 等无法保存的字符，或类型、范围不符）/ a value is invalid (a NUL or other character that cannot be stored, or the wrong type or range)',
    };
  return null;
}

/** Largest request body accepted (the documented limit). */
export const BODY_LIMIT_BYTES = 32 * 1024 * 1024;

/**
 * Offset of the first character where `text` stops being valid JSON (its
 * length when the text ends too early), or -1 when it is valid. Used only to
 * explain a parse failure: V8's messages do not always carry a position.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  // Containers are tracked on an explicit stack: no recursion, whatever the depth.
  const stack: ('{' | '[')[] = [];
  const str = (): boolean => {
    if (text[i] !== '"') return false;
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i++;
            return false;
          }
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          i++;
          return false;
        }
        i += 2;
        continue;
      }
      i++;
    }
    return false;
  };
  const scalar = (): boolean => {
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) return false;
    i += m[0].length;
    return true;
  };
  ws();
  for (;;) {
    // Expecting a value.
    ws();
    if (text[i] === '{' || text[i] === '[') {
      const open = text[i] as '{' | '[';
      i++;
      ws();
      if (text[i] === (open === '{' ? '}' : ']')) {
        i++;
      } else {
        stack.push(open);
        if (open === '{') {
          if (!str()) return i;
          ws();
          if (text[i] !== ':') return i;
          i++;
        }
        continue;
      }
    } else if (text[i] === '"') {
      if (!str()) return i;
    } else if (!scalar()) return i;
    // After a value: close containers or take the next member.
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (!top) {
        ws();
        return i === n ? -1 : i;
      }
      if (text[i] === ',') {
        i++;
        ws();
        if (top === '{') {
          if (!str()) return i;
          ws();
          if (text[i] !== ':') return i;
          i++;
        }
        break;
      }
      if (text[i] === (top === '{' ? '}' : ']')) {
        stack.pop();
        i++;
        continue;
      }
      return i;
    }
  }
}

/** `第 2 行第 5 列` / `line 2, column 5` of an offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Installs the JSON body parser (fastify's own, with its prototype-poisoning
 * guard) that explains where a body stops being JSON, the not-found handler,
 * and returns the mapping of fastify's own errors to documented codes.
 */
export function installHttpErrors(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      const err = Object.assign(
        new Error(
          '请求体为空，但 content-type 为 application/json / empty body with content-type application/json',
        ),
        { statusCode: 400, code: 'INPUT_INVALID' },
      );
      return done(err, undefined);
    }
    parse(req, text, (err, value) => {
      if (!err) return done(null, value);
      const at = jsonErrorOffset(text);
      const where = at >= 0 ? lineColumn(text, at) : null;
      const pos = where ? `（第 ${where.line} 行第 ${where.column} 列，字符 ${at}）` : '';
      const posEn = where ? ` (line ${where.line}, column ${where.column}, offset ${at})` : '';
      const poisoned = at < 0;
      const e = Object.assign(
        new Error(
          poisoned
            ? '请求体含不允许的键（__proto__ / constructor.prototype）/ body holds a forbidden key (__proto__ or constructor.prototype)'
            : `请求体不是有效的 JSON${pos} / body is not valid JSON${posEn}`,
        ),
        { statusCode: 400, code: 'INPUT_INVALID' },
      );
      done(e, undefined);
    });
  });
  app.setNotFoundHandler((req, reply) => {
    sendProblem(
      reply,
      404,
      'NOT_FOUND',
      `没有这个接口：${req.method} ${req.url.split('?')[0]} / no such route: ${req.method} ${req.url.split('?')[0]}`,
    );
  });
}

/** The documented code and message for an error fastify raised itself (status below 500), or null. */
export function fastifyErrorReply(
  err: FastifyError,
): { status: number; code: ErrorCode; message: string } | null {
  const status = err.statusCode ?? 500;
  if (status >= 500) return null;
  if (err.code === 'INPUT_INVALID') return { status, code: 'INPUT_INVALID', message: err.message };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        message: `请求体超过上限 ${BODY_LIMIT_BYTES / 1024 / 1024} MB，请分批发送 / body larger than ${BODY_LIMIT_BYTES / 1024 / 1024} MB; send it in smaller batches`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'INPUT_INVALID',
        message: `不支持的 content-type，请用 application/json、application/x-ndjson 或 text/plain / unsupported content-type; use application/json, application/x-ndjson or text/plain`,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        status: 400,
        code: 'INPUT_INVALID',
        message:
          '请求体为空，但 content-type 为 application/json / empty body with content-type application/json',
      };
    default:
      return {
        status,
        code: status === 404 ? 'NOT_FOUND' : 'INPUT_INVALID',
        message: `请求无效：${err.message} / invalid request: ${err.message}`,
      };
  }
}
