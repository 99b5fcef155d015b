/**
 * The live stream per key on the real broker: records ingested over HTTP go through Kafka, the indicator workers
 * and Redis; an SSE client with an enterprise key receives only its own mine's per-entity updates (a bureau key
 * with an explicit grant receives the other mine's too), and a reconnect with Last-Event-ID gets what it missed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '../../../infra/compose.ts';
import { startSystem, type System } from '../../../infra/system.ts';
import { stopSystemAndCleanup, testRuntime } from '../../helpers/runtime.ts';
import { operatorHeaders, testKey, type TestKey } from '../../helpers/access.ts';

const s = suite<{ rt: Runtime & { prefix: string }; sys: System; port: number }>('api/access/live (kafka)', {
  rt: null as never,
  sys: null as never,
  port: 0,
});

const OWN = '91150622MA0L1TE01A';
const OTHER = '91150622MA0L1TE02B';

function cst(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
}

function sale(id: string, credit: string, name: string, t: number) {
  return {
    销售编号: id,
    行政区划: '150622',
    企业名称: name,
    统一社会信用代码: credit,
    煤种名称: '5500混煤',
    发热量: '5500大卡',
    毛重: '49.52',
    皮重: '16.10',
    净重: '33.42',
    单价: '620',
    总价: '20,720.40',
    过空时间: cst(t - 1800_000),
    过重时间: cst(t),
  };
}

interface Event {
  id?: string;
  event: string;
  data: any;
}

/** An SSE client collecting events until `stop()`. */
function listen(port: number, path: string, headers: Record<string, string> = {}) {
  const events: Event[] = [];
  let req: http.ClientRequest;
  const ready = new Promise<void>((resolve, reject) => {
    req = http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: Event = { event: 'message', data: null };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
          }
          if (block.startsWith(':')) continue;
          events.push(ev);
          if (ev.event === 'ready') resolve();
        }
      });
    });
    req.on('error', (e) => {
      if (!(e as NodeJS.ErrnoException).code?.includes('RESET')) reject(e);
    });
  });
  return { events, ready, stop: () => req.destroy() };
}

const points = (events: Event[]) =>
  events
    .filter((e) => e.event === 'indicators')
    .flatMap((e) => e.data.points as { scope: string; scopeId: string }[]);

async function until(fn: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

s.before(async (ctx) => {
  ctx.rt = await testRuntime({ broker: 'kafka', cache: 'redis', overrides: { forecastIntervalMs: 0 } });
  ctx.sys = await startSystem(ctx.rt, ['worker', 'api'], { listen: false });
  await ctx.sys.app!.listen({ port: 0, host: '127.0.0.1' });
  ctx.port = (ctx.sys.app!.server.address() as AddressInfo).port;
});
s.after(async (ctx) => {
  await stopSystemAndCleanup(ctx.rt, ctx.sys);
});

s("an enterprise key receives only its grants' updates; Last-Event-ID resumes", async ({ rt, sys, port }) => {
  const app = sys.app!;
  const op = await operatorHeaders(app);
  const ent: TestKey = await testKey(
    app,
    'enterprise',
    { products: ['indicator.sales', 'live'], mines: [OWN], purpose: '经营 / operations', tier: 'industry' },
    OWN,
  );
  const bureau = await testKey(app, 'government', {
    products: ['indicator.sales', 'live'],
    mines: ['*'],
    purpose: '治理 / governance',
    tier: 'public',
  });
  const noLive = await testKey(
    app,
    'enterprise',
    { products: ['indicator.sales'], mines: [OWN], purpose: 'x', tier: 'industry' },
    OWN,
  );

  const refused = await app.inject({ method: 'GET', url: '/v1/live/sales', headers: noLive.headers });
  assert.is(refused.statusCode, 403, 'live is its own product');

  const a = listen(port, `/v1/live/sales?key=${encodeURIComponent(ent.key)}`);
  const g = listen(port, '/v1/live/sales', bureau.headers);
  await Promise.all([a.ready, g.ready]);
  const now = Date.now();
  const res = await app.inject({
    method: 'POST',
    url: '/v1/ingest/sales',
    headers: op,
    payload: [
      sale('LIVE-OWN-1', OWN, '自有煤矿', now - 60_000),
      sale('LIVE-OTH-1', OTHER, '他人煤矿', now - 60_000),
    ],
  });
  assert.is(res.statusCode, 200, res.body);
  assert.is(res.json().summary.accepted, 2, res.body);

  await until(
    () =>
      points(g.events).some((p) => p.scope === 'mine' && p.scopeId === OTHER) &&
      points(g.events).some((p) => p.scope === 'mine' && p.scopeId === OWN),
    'the bureau sees both mines',
  );
  await until(
    () => points(a.events).some((p) => p.scope === 'mine' && p.scopeId === OWN),
    'the enterprise sees its mine',
  );
  await new Promise((r) => setTimeout(r, 500));
  const mines = new Set(
    points(a.events)
      .filter((p) => p.scope === 'mine')
      .map((p) => p.scopeId),
  );
  assert.equal([...mines], [OWN], 'no other mine reaches the enterprise');
  for (const p of points(a.events) as unknown as {
    scope: string;
    suppressed?: boolean;
    contributors: number | null;
  }[]) {
    if (p.scope === 'region' || p.scope === 'city')
      assert.ok(p.suppressed || (p.contributors ?? 0) >= 3, 'aggregates pass disclosure control');
  }
  const lastId = a.events.filter((e) => e.event === 'indicators').at(-1)!.id!;
  assert.match(lastId, /^[0-9a-z]+\.\d+$/);
  a.stop();

  // Missed while disconnected, then a reconnect with Last-Event-ID.
  const seen = points(g.events).length;
  await app.inject({
    method: 'POST',
    url: '/v1/ingest/sales',
    headers: op,
    payload: [sale('LIVE-OWN-2', OWN, '自有煤矿', now - 30_000)],
  });
  await until(() => points(g.events).length > seen, 'the second update is published');
  const b = listen(port, `/v1/live/sales?key=${encodeURIComponent(ent.key)}`, { 'last-event-id': lastId });
  await b.ready;
  const replayed = b.events.filter((e) => e.event === 'indicators');
  assert.ok(replayed.length > 0, 'missed updates are replayed');
  assert.ok(
    replayed.every((e) => Number(e.id!.split('.')[1]) > Number(lastId.split('.')[1])),
    'only what came after the last id',
  );
  assert.ok(
    replayed
      .flatMap((e) => e.data.points)
      .every((p: { scope: string; scopeId: string }) => p.scope !== 'mine' || p.scopeId === OWN),
  );
  const stale = listen(port, `/v1/live/sales?key=${encodeURIComponent(ent.key)}`, {
    'last-event-id': 'zz.1',
  });
  await stale.ready;
  assert.ok(stale.events.some((e) => e.event === 'reset'));
  b.stop();
  stale.stop();
  g.stop();

  // One audit row per stream.
  await new Promise((r) => setTimeout(r, 200));
  await app.access.flush();
  const rows = (
    await rt.db.query(
      `SELECT status, cells_returned FROM access_audit WHERE subscriber_id = $1 AND route = '/v1/live/:family' ORDER BY seq`,
      [ent.subscriberId],
    )
  ).rows;
  assert.is(rows.length, 3, 'three streams, three rows');
  assert.ok(rows.every((r) => r.status === 200));
  assert.ok(rows[0].cells_returned > 0, 'cells sent on the stream are counted');
});

s.run();
