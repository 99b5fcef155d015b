/**
 * Alert bench, on the real Kafka broker, Redis and the embedded TimescaleDB:
 * canonical records at `--rate` records/s (sales, plus a daily report of each
 * of `--plants` coal users) go through the indicator worker (store, derived
 * days of stock, coal.indicators) and the alert worker (rules, store,
 * coal.alerts) to a webhook receiver on loopback. The plants report every
 * second, their stocks swinging between 2 and 10 days, so each report opens or
 * ends a days-of-stock alert. Latency = the webhook's arrival − the produce
 * time of the report that raised the alert (the record's acceptance): p50/p99.
 * Prints one JSON summary (machine and date included).
 *
 *   node --import tsx infra/bench/alerts.ts [--seconds 120] [--rate 200] [--plants 10]
 */
import os from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createFeedSerde } from '../../pipelines/contracts/serde.ts';
import {
  ACCEPTED_HEADER,
  topicOf,
  type CoalUserRecord,
  type SaleRecord,
} from '../../pipelines/contracts/types.ts';
import { startIndicatorWorkers } from '../../pipelines/indicators/runner.ts';
import { ALERT_TOPIC, startAlertWorker } from '../../pipelines/alerts/index.ts';
import { retry } from '../core/index.ts';
import { registerWebhook } from '../../pipelines/alerts/webhooks.ts';
import { verifySignature } from '../../pipelines/alerts/sign.ts';
import { benchRuntime, cpuMeter, mb, REGIONS, sales, sleep } from './common.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '200' },
    plants: { type: 'string', default: '10' },
    mines: { type: 'string', default: '300' },
  },
});
const SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const PLANTS = Number(args.plants);
const MINES = Number(args.mines);
const DAY = 86_400_000;
/** The report number a days-of-stock value carries in its decimals. */
const reportOf = (days: number) => Math.round((days - Math.floor(days)) * 10_000);
const cst = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().replace('Z', '+08:00');

async function main() {
  const rt = await benchRuntime({ prefix: 'benchal' });
  const serde = createFeedSerde(rt);
  await serde.registerAll();
  const salesTopic = rt.topic(topicOf.canonical('sales'));
  const usersTopic = rt.topic(topicOf.canonical('coal_users'));
  // Every topic at once, retried: a topic just created may not be in the broker's metadata yet.
  await retry(
    () =>
      rt.broker.createTopics(
        [
          salesTopic,
          usersTopic,
          rt.topic(topicOf.indicators),
          rt.topic(topicOf.dlq),
          rt.topic(ALERT_TOPIC),
        ].map((topic) => ({ topic })),
      ),
    { attempts: 5, initialDelayMs: 500 },
  );

  // The receiver: verifies each signature, records arrival per (plant, day).
  const arrivals: { key: string; at: number }[] = [];
  let badSignatures = 0;
  let secret = '';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const at = Date.now();
      if (!verifySignature(secret, req.headers['x-coalflow-signature'] as string | undefined, body)) {
        badSignatures++;
        res.writeHead(401).end();
        return;
      }
      const a = (
        JSON.parse(body) as {
          alert: { scope: string; scopeId: string; evidence: { values: { v: number | null }[] } };
        }
      ).alert;
      const v = a.evidence.values.at(-1)?.v;
      if (a.scope === 'user' && typeof v === 'number')
        arrivals.push({ key: `${a.scopeId}|${reportOf(v)}`, at });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hook = await registerWebhook(
    rt.db,
    'bench',
    `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    { regions: '*', mines: [], users: [] },
  );
  secret = hook.secret;

  const indicators = startIndicatorWorkers(rt, {
    lagIntervalMs: 0,
    workerId: 'bench',
    feeds: ['sales', 'coal_users'],
  });
  const alerts = startAlertWorker(rt, { staleCheckMs: 0, pollMs: 100 });
  await indicators.start();
  await alerts.start();

  // Plants: a week of daily reports (1,000 t a day: the consumption baseline), then reports every second today, the
  // stock swinging between 2 and 10 days. Each report's stock carries its number in the decimals (days = 2 or 10 +
  // k/10,000), so the alert state it raised names it in its evidence: latency per report, not per day.
  const today = Date.now();
  const dayStartCst = (ms: number) => Math.floor((ms + 8 * 3600_000) / DAY) * DAY - 8 * 3600_000;
  const plant = (p: number, over: Partial<CoalUserRecord>): CoalUserRecord => ({
    recordId: '',
    eventTime: '',
    userId: `PLANT${p}`,
    userName: `电厂${p}`,
    sector: 'power',
    creditCode: `CU${p}`,
    regionCode: REGIONS[p % REGIONS.length]!,
    ...over,
  });
  const warm: CoalUserRecord[] = [];
  for (let p = 0; p < PLANTS; p++) {
    for (let d = 7; d >= 1; d--)
      warm.push(
        plant(p, {
          recordId: `w${p}-${d}`,
          eventTime: cst(dayStartCst(today) - d * DAY + 12 * 3600_000),
          consumptionT: 1000,
          intakeT: 1000,
          stockT: 10_000,
        }),
      );
    warm.push(
      plant(p, {
        recordId: `t${p}`,
        eventTime: cst(dayStartCst(today) + 60_000),
        consumptionT: 1000,
        intakeT: 1000,
        stockT: 10_000,
      }),
    );
  }
  await rt.broker.produce(
    usersTopic,
    await Promise.all(
      warm.map(async (u) => ({ key: u.creditCode!, value: await serde.encode('coal_users', u) })),
    ),
  );
  await sleep(3000);
  /** Report number k of a plant → when it was accepted. */
  const sentAt = new Map<string, number>();
  let k = 0;
  const gen = sales(3, Date.now() - 60_000, RATE * SECONDS, Math.floor(1000 / RATE), 'al', MINES);
  const cpu = cpuMeter(rt);
  const t0 = Date.now();
  let sent = 0;
  // One tick a second: each plant's next report, and the sales that make up the rest of the rate.
  for (let s = 0; s < SECONDS; s++) {
    const due = t0 + s * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const users: CoalUserRecord[] = [];
    const now = Date.now();
    for (let p = 0; p < PLANTS; p++) {
      k++;
      const days = ((s + p) % 2 === 0 ? 2 : 10) + k / 10_000;
      users.push(
        plant(p, {
          recordId: `r${k}`,
          eventTime: cst(Math.max(now, dayStartCst(today) + 120_000)),
          stockT: Math.round(days * 1000 * 1000) / 1000,
        }),
      );
      sentAt.set(`PLANT${p}|${k}`, now);
    }
    await rt.broker.produce(
      usersTopic,
      await Promise.all(
        users.map(async (u) => ({
          key: u.creditCode!,
          value: await serde.encode('coal_users', u),
          headers: { [ACCEPTED_HEADER]: String(now) },
        })),
      ),
    );
    // The sales of this second, spread over it in 10 sends.
    for (let j = 0; j < 10; j++) {
      const recs: SaleRecord[] = [];
      for (let i = 0; i < (RATE - PLANTS) / 10; i++) {
        const x = gen.next();
        if (!x.done) recs.push(x.value);
      }
      const at = Date.now();
      await rt.broker.produce(
        salesTopic,
        await Promise.all(
          recs.map(async (r) => ({
            key: r.mineId,
            value: await serde.encode('sales', r),
            headers: { [ACCEPTED_HEADER]: String(at) },
          })),
        ),
      );
      sent += recs.length;
      const next = due + (j + 1) * 100 - Date.now();
      if (next > 0 && j < 9) await sleep(next);
    }
    sent += users.length;
  }
  const elapsed = (Date.now() - t0) / 1000;
  // Let the tail arrive.
  await sleep(5000);
  const lat = arrivals
    .filter((a) => sentAt.has(a.key))
    .map((a) => a.at - sentAt.get(a.key)!)
    .sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : null);
  // Where the time goes: accepted → alert state stored (indicators + alert worker) → webhook delivered.
  const stages = await rt.db.query<{
    u: string;
    v: number | null;
    created: string;
    delivered: string | null;
  }>(
    `SELECT s.scope_id AS u, (s.evidence->'values'->-1->>'v')::float8 AS v, s.created_ms::text AS created, d.delivered_ms::text AS delivered
     FROM alert_states s LEFT JOIN alert_deliveries d ON d.alert_id = s.alert_id AND d.seq = s.seq WHERE s.scope = 'user'`,
  );
  const toStore: number[] = [];
  const toDeliver: number[] = [];
  for (const r of stages.rows) {
    const acc = r.v === null ? undefined : sentAt.get(`${r.u}|${reportOf(r.v)}`);
    if (acc === undefined) continue;
    toStore.push(Number(r.created) - acc);
    if (r.delivered) toDeliver.push(Number(r.delivered) - Number(r.created));
  }
  const pq = (xs: number[], p: number) => {
    const ys = [...xs].sort((a, b) => a - b);
    return ys.length ? ys[Math.min(ys.length - 1, Math.floor(p * ys.length))]! : null;
  };
  const summary = {
    bench: 'alerts',
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    setup: {
      broker: rt.kinds.broker,
      db: rt.kinds.db,
      cache: rt.kinds.cache,
      plants: PLANTS,
      mines: MINES,
      seconds: SECONDS,
    },
    recordsPerS: Math.round(sent / elapsed),
    alertStates: alerts.stats.states,
    delivered: arrivals.length,
    badSignatures,
    latency: { samples: lat.length, p50Ms: q(0.5), p90Ms: q(0.9), p99Ms: q(0.99), maxMs: lat.at(-1) ?? null },
    stages: {
      acceptedToStored: { p50Ms: pq(toStore, 0.5), p99Ms: pq(toStore, 0.99) },
      storedToDelivered: { p50Ms: pq(toDeliver, 0.5), p99Ms: pq(toDeliver, 0.99) },
    },
    indicators: {
      derivedRounds: indicators.stats().derivedRounds,
      rounds: indicators.stats().rounds,
      stageMs: Object.fromEntries(
        Object.entries(indicators.stats().stageMs).map(([k, v]) => [k, Math.round(v)]),
      ),
    },
    rssMb: mb(process.memoryUsage().rss),
    cpu: cpu(),
  };
  await alerts.stop();
  await indicators.stop();
  server.close();
  const topics = (await rt.broker.listTopics()).filter((t) => t.startsWith(rt.config.topicPrefix));
  await rt.broker.deleteTopics(topics).catch(() => undefined);
  await rt.close();
  console.log(JSON.stringify(summary, null, 2));
}

main().catch((err) => {
  console.error(err);
  console.log(JSON.stringify({ bench: 'alerts', failed: true, error: (err as Error).message }));
  process.exit(1);
});
