/**
 * Alert bench, on the real Kafka broker, Redis and the embedded TimescaleDB:
 * canonical records at `--rate` records/s (sales, plus a daily report of each
 * of `--plants` coal users) go through the indicator worker (store, derived
 * days of stock, coal.indicators) and the alert worker (rules, store,
 * coal.alerts) to a webhook receiver on loopback. The plants' stocks swing
 * between 2 and 10 days every report, so each report opens or ends a
 * days-of-stock alert. Latency = the webhook's arrival − the produce time of
 * the report that raised the alert (the record's acceptance): p50/p99.
 * Prints one JSON summary (machine and date included).
 *
 *   node --import tsx infra/bench/alerts.ts [--seconds 120] [--rate 200] [--plants 10]
 */
import os from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createFeedSerde } from '../../pipelines/contracts/serde.ts';
import { ACCEPTED_HEADER, topicOf, type CoalUserRecord, type SaleRecord } from '../../pipelines/contracts/types.ts';
import { startIndicatorWorkers } from '../../pipelines/indicators/runner.ts';
import { startAlertWorker } from '../../pipelines/alerts/index.ts';
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
const cst = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().replace('Z', '+08:00');

async function main() {
  const rt = await benchRuntime({ prefix: 'benchal' });
  const serde = createFeedSerde(rt);
  await serde.registerAll();
  const salesTopic = rt.topic(topicOf.canonical('sales'));
  const usersTopic = rt.topic(topicOf.canonical('coal_users'));
  await rt.broker.createTopics([{ topic: salesTopic }, { topic: usersTopic }, { topic: rt.topic(topicOf.indicators) }]);

  // The receiver: verifies each signature, records arrival per (plant, day).
  const arrivals: { key: string; at: number }[] = [];
  let badSignatures = 0;
  let secret = '';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const at = Date.now();
      if (!verifySignature(secret, req.headers['x-coalflow-signature'] as string | undefined, body)) { badSignatures++; res.writeHead(401).end(); return; }
      const a = (JSON.parse(body) as { alert: { scope: string; scopeId: string; at: string } }).alert;
      if (a.scope === 'user') arrivals.push({ key: `${a.scopeId}|${Date.parse(a.at)}`, at });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hook = await registerWebhook(rt.db, 'bench', `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { regions: '*', mines: [], users: [] });
  secret = hook.secret;

  const indicators = startIndicatorWorkers(rt, { lagIntervalMs: 0, workerId: 'bench', feeds: ['sales', 'coal_users'] });
  const alerts = startAlertWorker(rt, { staleCheckMs: 0, pollMs: 100 });
  await indicators.start();
  await alerts.start();

  // Plants: a week of 10 days of stock first (the consumption baseline), then 2 / 10 days alternately.
  const day0 = Date.parse('2025-01-01T00:00:00+08:00');
  const report = (p: number, d: number): CoalUserRecord => {
    const burn = 1000;
    const days = d < 8 ? 10 : (d + p) % 2 === 0 ? 2 : 10;
    return {
      recordId: `u${p}-${d}`, eventTime: cst(day0 + d * DAY + 20 * 3600_000), userId: `PLANT${p}`, userName: `电厂${p}`, sector: 'power',
      creditCode: `CU${p}`, regionCode: REGIONS[p % REGIONS.length]!, consumptionT: burn, intakeT: burn, stockT: days * burn,
    };
  };
  const sentAt = new Map<string, number>();
  const gen = sales(3, Date.now() - 60_000, RATE * SECONDS, Math.floor(1000 / RATE), 'al', MINES);
  const cpu = cpuMeter(rt);
  const t0 = Date.now();
  let sent = 0;
  // One tick a second: each plant's next daily report, and the sales that make up the rest of the rate.
  for (let s = 0; s < SECONDS; s++) {
    const due = t0 + s * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const users: CoalUserRecord[] = [];
    for (let p = 0; p < PLANTS; p++) users.push(report(p, s));
    const now = Date.now();
    await rt.broker.produce(usersTopic, await Promise.all(users.map(async (u) => ({
      key: u.creditCode!, value: await serde.encode('coal_users', u), headers: { [ACCEPTED_HEADER]: String(now) },
    }))));
    for (const u of users) sentAt.set(`${u.userId}|${Date.parse(u.eventTime.slice(0, 10) + 'T00:00:00+08:00')}`, now);
    // The sales of this second, spread over it in 10 sends.
    for (let k = 0; k < 10; k++) {
      const recs: SaleRecord[] = [];
      for (let i = 0; i < (RATE - PLANTS) / 10; i++) { const x = gen.next(); if (!x.done) recs.push(x.value); }
      const at = Date.now();
      await rt.broker.produce(salesTopic, await Promise.all(recs.map(async (r) => ({ key: r.mineId, value: await serde.encode('sales', r), headers: { [ACCEPTED_HEADER]: String(at) } }))));
      sent += recs.length;
      const next = due + (k + 1) * 100 - Date.now();
      if (next > 0 && k < 9) await sleep(next);
    }
    sent += users.length;
  }
  const elapsed = (Date.now() - t0) / 1000;
  // Let the tail arrive.
  await sleep(5000);
  const lat = arrivals.filter((a) => sentAt.has(a.key)).map((a) => a.at - sentAt.get(a.key)!).sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : null);
  const summary = {
    bench: 'alerts',
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    setup: { broker: rt.kinds.broker, db: rt.kinds.db, cache: rt.kinds.cache, plants: PLANTS, mines: MINES, seconds: SECONDS },
    recordsPerS: Math.round(sent / elapsed),
    alertStates: alerts.stats.states,
    delivered: arrivals.length,
    badSignatures,
    latency: { samples: lat.length, p50Ms: q(0.5), p90Ms: q(0.9), p99Ms: q(0.99), maxMs: lat.at(-1) ?? null },
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
