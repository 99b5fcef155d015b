/**
 * 100 MB request bodies streamed to a listening API (chunked, and with the length declared up front): the answer
 * is 413 PAYLOAD_TOO_LARGE in problem+json before the client has sent the whole body, the server's memory grows
 * by far less than the body, nothing of the body is stored, and the server keeps serving. Without a key the same
 * body is refused with 401 before any of it is read.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/server.ts';
import { ingestRoutes } from '../../../api/routes/ingest.ts';
import { BODY_LIMIT_BYTES } from '../../../api/errors.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { feedTopics } from '../../../pipelines/ingest/topics.ts';
import { testRuntime } from '../../helpers/runtime.ts';
import { operatorHeaders } from '../../helpers/access.ts';
import { SAMPLES } from '../../pipelines/ingest/samples.ts';

const test = suite('api: 100 MB bodies');
const MB = 1024 * 1024;
const BODY = 100 * MB;
/** Growth of the process's RSS allowed while a 100 MB body is refused: the limit's worth of buffered chunks and slack, not the body. */
const RSS_BOUND = 96 * MB;
let rt: Runtime;
let app: FastifyInstance;
let port: number;
let H: { authorization: string };

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
  await rt.broker.createTopics(feedTopics(rt));
  app = await buildApp(rt, { plugins: [ingestRoutes] });
  H = await operatorHeaders(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
test.after(async () => {
  await app?.close();
  await rt?.close();
});

interface Outcome {
  status: number;
  contentType: string;
  body: string;
  sentAtAnswer: number;
  peakRssGrowth: number;
}

/**
 * `streamOnce`, again when the connection broke before the answer was read: a server that answers 413 early and
 * closes can reset the socket while the client is still writing (EPIPE/ECONNRESET), before the client has parsed
 * the answer that was sent; a real client retries, and the retry's answer is what is checked.
 */
async function stream(
  headers: Record<string, string | number>,
  chunk: Buffer,
  total: number,
  prefix = Buffer.alloc(0),
): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await streamOnce(headers, chunk, total, prefix);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt >= 3 || (code !== 'EPIPE' && code !== 'ECONNRESET')) throw err;
    }
  }
}

/** Streams `total` bytes of `chunk` repeated and stops at the server's answer (or when it closes the connection). */
function streamOnce(
  headers: Record<string, string | number>,
  chunk: Buffer,
  total: number,
  prefix = Buffer.alloc(0),
): Promise<Outcome> {
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    let sentAtAnswer = -1;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/ingest/sales', headers });
    req.on('response', (res) => {
      answered = true;
      sentAtAnswer = sent;
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        clearInterval(sampler);
        peak = Math.max(peak, process.memoryUsage().rss);
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type']),
          body: Buffer.concat(parts).toString(),
          sentAtAnswer,
          peakRssGrowth: peak - rss0,
        });
        req.destroy();
      });
    });
    req.on('error', (err) => {
      // The server may close the connection after answering; an error before any answer fails the test.
      if (!answered) {
        clearInterval(sampler);
        reject(err);
      }
    });
    const pump = () => {
      if (sent === 0 && prefix.length) {
        req.write(prefix);
        sent += prefix.length;
      }
      while (!answered && !req.destroyed && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered && !req.destroyed && sent >= total) req.end();
    };
    pump();
  });
}

const line = Buffer.from(`${JSON.stringify({ ...SAMPLES.sales, 备注: 'x'.repeat(400) })}\n`);
const lines = Buffer.concat(Array.from({ length: Math.ceil((64 * 1024) / line.length) }, () => line));
const seen = async () => Number((await rt.db.query('SELECT count(*)::int AS n FROM ingest_seen')).rows[0].n);
const rejects = async () =>
  Number((await rt.db.query('SELECT count(*)::int AS n FROM ingest_rejects')).rows[0].n);

function tooLarge(o: Outcome, what: string): void {
  assert.is(o.status, 413, `${what}: ${o.status} ${o.body.slice(0, 200)}`);
  assert.match(o.contentType, /application\/problem\+json/, what);
  const e = JSON.parse(o.body) as { code: string; message: string };
  assert.is(e.code, 'PAYLOAD_TOO_LARGE', what);
  assert.match(e.message, /请求体.*\/ .*body/i, what);
  assert.ok(
    o.sentAtAnswer >= 0 && o.sentAtAnswer < BODY,
    `${what}: answered after ${o.sentAtAnswer} of ${BODY} bytes`,
  );
  assert.ok(
    o.peakRssGrowth < RSS_BOUND,
    `${what}: RSS grew by ${Math.round(o.peakRssGrowth / MB)} MB (bound ${RSS_BOUND / MB} MB)`,
  );
}

test('100 MB of NDJSON, chunked: 413 before the end, bounded memory, nothing stored', async () => {
  const [s0, r0] = [await seen(), await rejects()];
  const o = await stream(
    { ...H, 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
    lines,
    BODY,
  );
  tooLarge(o, 'chunked NDJSON');
  assert.ok(o.sentAtAnswer >= BODY_LIMIT_BYTES, 'the limit, not something else, stopped it');
  assert.is(await seen(), s0);
  assert.is(await rejects(), r0);
  assert.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

test('100 MB JSON array with its length declared: refused at once from the header', async () => {
  const s0 = await seen();
  const o = await stream(
    { ...H, 'content-type': 'application/json', 'content-length': BODY },
    lines,
    BODY,
    Buffer.from('['),
  );
  tooLarge(o, 'declared length');
  assert.ok(o.sentAtAnswer < BODY_LIMIT_BYTES, `answered after ${o.sentAtAnswer} bytes`);
  assert.is(await seen(), s0);
});

test('100 MB of one huge JSON string field, chunked: 413, bounded memory', async () => {
  const o = await stream(
    { ...H, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    Buffer.alloc(256 * 1024, 'a'),
    BODY,
    Buffer.from('[{"销售编号":"'),
  );
  tooLarge(o, 'huge field');
});

test('100 MB without a key: 401 before the body is read', async () => {
  const o = await stream(
    { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
    lines,
    BODY,
  );
  assert.is(o.status, 401, o.body.slice(0, 200));
  assert.is(JSON.parse(o.body).code, 'UNAUTHORIZED');
  assert.ok(o.sentAtAnswer < BODY_LIMIT_BYTES, `answered after ${o.sentAtAnswer} bytes`);
  assert.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

test.run();
