/**
 * The alert worker on the real services: indicator updates on coal.indicators
 * → alert states in TimescaleDB, on coal.alerts and the live channel → signed
 * webhooks delivered exactly once per state through an outage of the receiver;
 * a replay by a second group adds nothing, a replay into empty tables gives the
 * same alerts; the API lists, acknowledges and streams them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { eventually, testRuntime } from '../../helpers/runtime.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { buildApp } from '../../../api/server.ts';
import { alertRoutes } from '../../../api/routes/alerts.ts';
import { createKafkaTopicSink } from '../../../sinks/kafka.ts';
import { createWireCodec } from '../../../sinks/index.ts';
import { INDICATOR_SCHEMA, type IndicatorUpdateMessage } from '../../../pipelines/indicators/contract.ts';
import {
  ALERT_SCHEMA,
  ALERT_TOPIC,
  startAlertWorker,
  verifySignature,
  type AlertWorker,
} from '../../../pipelines/alerts/index.ts';

const test = suite('pipelines/alerts (kafka)');
const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T00:00:00+08:00');

let rt: Runtime & { prefix: string };
let app: FastifyInstance;
let worker: AlertWorker | null = null;
let server: Server;
let url = '';
/** Webhook secret per receiver path. */
const secrets = new Map<string, string>();
/** The receiver: answers 503 while `down`; records each verified delivery. */
const receiver = {
  down: true,
  refused: 0,
  badSignature: 0,
  got: [] as { key: string; type: string; body: Record<string, unknown> }[],
};

function msg(
  family: string,
  scope: string,
  scopeId: string,
  metric: string,
  day: number,
  value: number,
  version: number,
): { key: string; value: IndicatorUpdateMessage } {
  return {
    key: `${family}|${scope}|${scopeId}`,
    value: {
      family,
      scope,
      scopeId,
      version,
      computedAt: new Date(T0 + (day + 1) * DAY).toISOString(),
      points: [
        {
          metric,
          window: 'day',
          windowStart: new Date(T0 + day * DAY).toISOString(),
          value,
          unit: '',
          n: null,
          contributors: null,
          topShare: null,
        },
      ],
    },
  };
}

/** Days of stock of user U1 falling through 7 and 3, then recovering; a calm user U2; a price fall on band 5500. */
function updates(): { key: string; value: IndicatorUpdateMessage }[] {
  const out: { key: string; value: IndicatorUpdateMessage }[] = [];
  let v = 1;
  [12, 10, 8, 6.5, 5, 2.5, 2, 5, 9, 12].forEach((x, d) =>
    out.push(msg('days_of_stock', 'user', 'U1', 'days', d, x, v++)),
  );
  [15, 15.5, 14.8, 15.2, 15.1, 14.9, 15.3, 15, 15.2, 14.7].forEach((x, d) =>
    out.push(msg('days_of_stock', 'user', 'U2', 'days', d, x, v++)),
  );
  [800, 801, 799, 802, 800, 798, 801, 800, 700, 690].forEach((x, d) =>
    out.push(msg('price', 'band', '5500', 'vwap_yuan_per_t', d, x, v++)),
  );
  return out;
}

const webhooks = { initialBackoffMs: 100, maxBackoffMs: 400, maxConsecutiveFailures: 1000 };

async function states(): Promise<string[]> {
  const r = await rt.db.query(
    `SELECT alert_id, seq, kind, severity, rule, scope_id, at, evidence FROM alert_states ORDER BY alert_id, seq`,
  );
  return r.rows.map((x) => JSON.stringify({ ...x, at: (x.at as Date).toISOString() }));
}

test.before(async () => {
  rt = await testRuntime();
  // The access layer is tested on its own; here the routes see the operator's audience (or the one given).
  app = await buildApp(rt, { plugins: [alertRoutes], access: false });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (receiver.down) {
        receiver.refused++;
        res.writeHead(503).end();
        return;
      }
      if (
        !verifySignature(
          secrets.get(req.url ?? '') ?? '',
          req.headers['x-coalflow-signature'] as string | undefined,
          body,
        )
      ) {
        receiver.badSignature++;
        res.writeHead(401).end();
        return;
      }
      const parsed = JSON.parse(body) as Record<string, unknown>;
      receiver.got.push({
        key: req.headers['idempotency-key'] as string,
        type: parsed.type as string,
        body: parsed,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

test.after(async () => {
  await worker?.stop();
  await app?.close();
  server?.close();
  if (rt) {
    const topics = (await rt.broker.listTopics()).filter((t) => t.startsWith(rt.prefix));
    await rt.broker.deleteTopics(topics).catch(() => undefined);
    const keys = await rt.redis.keys(`coalflow:${rt.prefix}*`);
    if (keys.length) await rt.redis.del(...keys);
    await rt.close();
  }
});

test('webhook registration is validated and returns the secret once', async () => {
  const badUrl = await app.inject({
    method: 'POST',
    url: '/v1/alert-webhooks',
    payload: { subscriberId: 'S1', url: 'not a url' },
  });
  assert.is(badUrl.statusCode, 400);
  assert.match(badUrl.json().error.message, /url/);
  const badAud = await app.inject({
    method: 'POST',
    url: '/v1/alert-webhooks',
    payload: { subscriberId: 'S1', url, audience: { users: 'U1' } },
  });
  assert.is(badAud.statusCode, 400);
  const ok = await app.inject({
    method: 'POST',
    url: '/v1/alert-webhooks',
    payload: { subscriberId: 'S1', url, audience: { regions: [], users: ['U1'] } },
  });
  assert.is(ok.statusCode, 201);
  const secret = ok.json().secret as string;
  assert.match(secret, /^whsec_/);
  secrets.set('/hook', secret);
  const list = await app.inject({ method: 'GET', url: '/v1/alert-webhooks?subscriber=S1' });
  assert.is(list.json().webhooks.length, 1);
  assert.is(list.json().webhooks[0].secret, undefined, 'the secret is not listed');
});

test('indicator updates raise alerts; the webhook gets each state once, signed, after an outage', async () => {
  // The live stream of the API (operator audience) while the worker runs.
  const sse: string[] = [];
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const ctrl = new AbortController();
  const stream = fetch(`${address}/v1/alerts/live`, { signal: ctrl.signal })
    .then(async (res) => {
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        sse.push(Buffer.from(value).toString());
      }
    })
    .catch(() => undefined);
  await eventually(() => sse.join('').includes('event: ready'), { what: 'SSE ready' });

  const producer = createKafkaTopicSink<IndicatorUpdateMessage>(rt, {
    topic: 'coal.indicators',
    schema: INDICATOR_SCHEMA,
  });
  worker = startAlertWorker(rt, { pollMs: 50, staleCheckMs: 0, webhooks });
  await worker.start();
  // A record that is not an indicator update: to the DLQ, nothing else lost.
  await rt.broker.produce(rt.topic('coal.indicators'), [
    { key: 'days_of_stock|user|U1', value: Buffer.from('not avro') },
  ]);
  await producer.write(updates());

  // U1: open warning, critical, back to warning, end = 4 states; price fall: 1 state. U2 stays calm.
  await eventually(async () => (await states()).length === 5, {
    what: 'five alert states',
    timeoutMs: 30_000,
  });
  // The receiver is down: attempts are refused and retried.
  await eventually(() => receiver.refused >= 3, { what: 'refused attempts' });
  assert.is(receiver.got.length, 0);
  receiver.down = false;
  // The webhook's audience holds user U1 only (the band price alert is market-wide: it goes too).
  await eventually(() => receiver.got.length >= 5, {
    what: 'deliveries after the outage',
    timeoutMs: 30_000,
  });
  await worker.idle();
  await new Promise((r) => setTimeout(r, 500));
  const keys = receiver.got.map((g) => g.key);
  assert.is(new Set(keys).size, keys.length, 'each state exactly once');
  assert.is(keys.length, 5);
  assert.is(receiver.badSignature, 0);
  const u1 = receiver.got.filter((g) => (g.body.alert as { scopeId: string }).scopeId === 'U1');
  assert.equal(
    u1.map((g) => g.type),
    ['alert.open', 'alert.update', 'alert.update', 'alert.end'],
    'in order',
  );
  assert.equal(
    u1.map((g) => (g.body.alert as { severity: string }).severity),
    ['warning', 'critical', 'warning', 'warning'],
  );

  // The delivery log holds the failed attempts and the successes.
  const hooks = (await app.inject({ method: 'GET', url: '/v1/alert-webhooks' })).json().webhooks;
  const log = (
    await app.inject({ method: 'GET', url: `/v1/alert-webhooks/${hooks[0].id}/deliveries` })
  ).json().log as { httpStatus: number | null }[];
  assert.ok(log.some((l) => l.httpStatus === 503) && log.filter((l) => l.httpStatus === 204).length === 5);

  // coal.alerts carries the five states (registered contract), the live stream too.
  const codec = createWireCodec(rt);
  await codec.register(rt.topic(ALERT_TOPIC), ALERT_SCHEMA);
  const seen: string[] = [];
  const c = rt.broker.consumer({
    groupId: `${rt.prefix}check`,
    topics: [rt.topic(ALERT_TOPIC)],
    fromBeginning: true,
  });
  await c.run(async (b) => {
    for (const r of b.records) {
      const v = await codec.decode(rt.topic(ALERT_TOPIC), r.value);
      seen.push(`${v.alertId}:${v.seq}`);
    }
  });
  await eventually(() => seen.length >= 5, { what: 'coal.alerts messages', timeoutMs: 30_000 });
  await c.stop();
  assert.equal([...new Set(seen)].sort(), [...new Set(keys)].sort());
  await eventually(() => (sse.join('').match(/event: alert/g) ?? []).length === 5, {
    what: 'five live alert events',
  });
  assert.is(worker.stats.undecodable, 1);
  const dlq: string[] = [];
  const d = rt.broker.consumer({
    groupId: `${rt.prefix}dlq`,
    topics: [rt.topic('coal.dlq')],
    fromBeginning: true,
  });
  await d.run(async (b) => {
    for (const r of b.records) dlq.push(JSON.parse(r.value.toString()).reason);
  });
  await eventually(() => dlq.length >= 1, { what: 'DLQ record' });
  await d.stop();
  assert.equal(dlq, ['alert_decode']);
  ctrl.abort();
  await stream;
});

test('GET /v1/alerts filters by active and time; acknowledgement is idempotent', async () => {
  const all = (await app.inject({ method: 'GET', url: '/v1/alerts' })).json().alerts as {
    id: string;
    active: boolean;
    scopeId: string;
    rule: string;
    acked: boolean;
  }[];
  assert.is(all.length, 2);
  const active = (await app.inject({ method: 'GET', url: '/v1/alerts?active=true' })).json()
    .alerts as typeof all;
  assert.equal(
    active.map((a) => a.rule),
    ['price_fall'],
  );
  const ended = (await app.inject({ method: 'GET', url: '/v1/alerts?active=false' })).json()
    .alerts as typeof all;
  assert.equal(
    ended.map((a) => a.scopeId),
    ['U1'],
  );
  const before = (await app.inject({ method: 'GET', url: '/v1/alerts?to=2025-03-02' })).json()
    .alerts as typeof all;
  assert.is(before.length, 0, 'nothing started before 2 March');
  assert.is((await app.inject({ method: 'GET', url: '/v1/alerts?active=maybe' })).statusCode, 400);
  const id = active[0]!.id;
  const ack1 = await app.inject({ method: 'POST', url: `/v1/alerts/${id}/ack` });
  const ack2 = await app.inject({ method: 'POST', url: `/v1/alerts/${id}/ack` });
  assert.is(ack1.statusCode, 200);
  assert.is(ack1.json().ackedAt, ack2.json().ackedAt);
  const after = (await app.inject({ method: 'GET', url: '/v1/alerts?active=true' })).json()
    .alerts as typeof all;
  assert.is(after[0]!.acked, true);
  assert.is((await app.inject({ method: 'POST', url: '/v1/alerts/nope/ack' })).statusCode, 404);
  const one = (await app.inject({ method: 'GET', url: `/v1/alerts/${ended[0]!.id}` })).json();
  assert.equal(
    one.states.map((s: { kind: string }) => s.kind),
    ['open', 'update', 'update', 'end'],
  );
});

test('replay: a second group over the same topic adds nothing; replaying into empty tables gives identical alerts', async () => {
  const first = await states();
  await worker!.stop();
  worker = startAlertWorker(rt, { groupId: 'replay-1', pollMs: 50, staleCheckMs: 0, webhooks });
  await worker.start();
  await eventually(
    async () =>
      (await rt.broker.lag(rt.topic('replay-1'), rt.topic('coal.indicators'))).every(
        (p) => p.committed === p.end,
      ),
    { what: 'replay 1 caught up', timeoutMs: 30_000 },
  );
  assert.equal(await states(), first);
  await worker.idle();
  assert.is(new Set(receiver.got.map((g) => g.key)).size, receiver.got.length, 'no delivery twice');
  await worker.stop();

  await rt.db.query('TRUNCATE alert_states, alerts, alert_rule_state, alert_deliveries');
  worker = startAlertWorker(rt, {
    groupId: 'replay-2',
    pollMs: 50,
    staleCheckMs: 0,
    webhooks,
    deliver: false,
  });
  await worker.start();
  await eventually(async () => (await states()).length === first.length, {
    what: 'replay 2 alerts',
    timeoutMs: 30_000,
  });
  await eventually(
    async () =>
      (await rt.broker.lag(rt.topic('replay-2'), rt.topic('coal.indicators'))).every(
        (p) => p.committed === p.end,
      ),
    { what: 'replay 2 caught up', timeoutMs: 30_000 },
  );
  assert.equal(await states(), first);
});

test('a subscriber sets its own threshold only for its own entities', async () => {
  const ok = await app.inject({
    method: 'PUT',
    url: '/v1/alerts/thresholds/days_of_stock_low/user/U9',
    payload: { warning: 12, critical: 4 },
  });
  assert.is(ok.statusCode, 200);
  assert.is(
    (await app.inject({ method: 'PUT', url: '/v1/alerts/thresholds/nope/user/U9', payload: { warning: 1 } }))
      .statusCode,
    400,
  );
  assert.is(
    (
      await app.inject({
        method: 'PUT',
        url: '/v1/alerts/thresholds/days_of_stock_low/user/U9',
        payload: { warnin: 1 },
      })
    ).statusCode,
    400,
  );
  assert.is(
    (
      await app.inject({
        method: 'PUT',
        url: '/v1/alerts/thresholds/days_of_stock_low/port/P1',
        payload: { warning: 1 },
      })
    ).statusCode,
    400,
  );
  // A subscriber whose audience does not hold the user is refused.
  const { alertRoutesWith } = await import('../../../api/routes/alerts.ts');
  const sub = await buildApp(rt, {
    plugins: [alertRoutesWith(() => ({ subscriberId: 'S2', regions: [], mines: [], users: ['U2'] }))],
    access: false,
  });
  assert.is(
    (
      await sub.inject({
        method: 'PUT',
        url: '/v1/alerts/thresholds/days_of_stock_low/user/U9',
        payload: { warning: 10 },
      })
    ).statusCode,
    403,
  );
  assert.is(
    (
      await sub.inject({
        method: 'PUT',
        url: '/v1/alerts/thresholds/days_of_stock_low/user/U2',
        payload: { warning: 16 },
      })
    ).statusCode,
    200,
  );
  // Its alert list holds market-wide alerts, not U1's.
  const seen = (await sub.inject({ method: 'GET', url: '/v1/alerts' })).json().alerts as {
    scopeId: string;
  }[];
  assert.ok(seen.length >= 1 && seen.every((a) => a.scopeId !== 'U1'));
  await sub.close();

  // The worker applies U2's threshold (16 days): its calm series around 15 days now warns.
  await worker!.stop();
  await rt.db.query('TRUNCATE alert_states, alerts, alert_rule_state, alert_deliveries');
  worker = startAlertWorker(rt, {
    groupId: 'replay-3',
    pollMs: 50,
    staleCheckMs: 0,
    webhooks,
    deliver: false,
  });
  await worker.start();
  await eventually(
    async () => (await rt.db.query(`SELECT 1 FROM alerts WHERE scope_id = 'U2'`)).rowCount === 1,
    { what: 'U2 alert by its own threshold', timeoutMs: 30_000 },
  );
});

test('a webhook failing N times in a row is disabled, with a notice to operators', async () => {
  await worker!.stop();
  receiver.down = true;
  const dead = (
    await app.inject({
      method: 'POST',
      url: '/v1/alert-webhooks',
      payload: { subscriberId: 'S3', url: `${url}3`, audience: { regions: '*' } },
    })
  ).json();
  secrets.set('/hook3', dead.secret);
  await rt.db.query('TRUNCATE alert_states, alerts, alert_rule_state, alert_deliveries');
  worker = startAlertWorker(rt, {
    groupId: 'replay-4',
    pollMs: 50,
    staleCheckMs: 0,
    webhooks: { ...webhooks, maxConsecutiveFailures: 3 },
  });
  await worker.start();
  await eventually(
    async () => {
      const hooks = (await app.inject({ method: 'GET', url: '/v1/alert-webhooks?subscriber=S3' })).json()
        .webhooks;
      return hooks[0]?.enabled === false;
    },
    { what: 'webhook disabled', timeoutMs: 30_000 },
  );
  const notices = (await app.inject({ method: 'GET', url: '/v1/alert-notices' })).json().notices as {
    kind: string;
    webhookId: string;
    message: string;
  }[];
  assert.ok(
    notices.some(
      (n) =>
        n.kind === 'webhook_disabled' &&
        n.webhookId === dead.id &&
        n.message.includes('停用') &&
        n.message.includes('disabled'),
    ),
  );
  const attempts = (
    await rt.db.query('SELECT count(*)::int AS n FROM alert_delivery_log WHERE webhook_id = $1', [dead.id])
  ).rows[0].n;
  await new Promise((r) => setTimeout(r, 500));
  assert.is(
    (await rt.db.query('SELECT count(*)::int AS n FROM alert_delivery_log WHERE webhook_id = $1', [dead.id]))
      .rows[0].n,
    attempts,
    'no attempts once disabled',
  );
  // Enabled again, its pending states go out.
  receiver.down = false;
  assert.is(
    (await app.inject({ method: 'POST', url: `/v1/alert-webhooks/${dead.id}/enable` })).statusCode,
    200,
  );
  await eventually(
    async () =>
      (
        await rt.db.query(
          `SELECT count(*)::int AS n FROM alert_deliveries WHERE webhook_id = $1 AND status = 'pending'`,
          [dead.id],
        )
      ).rows[0].n === 0,
    { what: 'pending deliveries after enabling', timeoutMs: 30_000 },
  );
});

test.run();
