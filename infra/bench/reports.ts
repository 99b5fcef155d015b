/**
 * Reports bench: fills the embedded default (in-process broker, embedded TimescaleDB in its own process,
 * ioredis-mock) with simulator data for October 2026 through ingest and the indicator workers, then times a
 * monthly and an annual city report with all charts in all four formats, and measures the API's latency for
 * "latest" (GET /v1/indicators/latest) on its own and while reports are generated. Writes page 1 and 2 of the
 * monthly PDF as PNG under api/reports/samples/ when pdftoppm is installed. Prints a JSON summary.
 *
 * Three simulated days by default (≈ 57,000 records): filling a whole month through ingest and the indicator
 * workers takes far longer than the reports on these machines; `--days 31` fills the month.
 *
 *   node --import tsx infra/bench/reports.ts [--days 3] [--repeat 3]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createLogger, loadConfig } from '../core/index.ts';
import { buildRuntime } from '../compose.ts';
import { simulate } from '../simulator/index.ts';
import { topicOf, type FeedName } from '../../pipelines/contracts/types.ts';
import { createIngestService } from '../../pipelines/index.ts';
import { startIndicatorWorkers } from '../../pipelines/indicators/index.ts';
import { indicatorRoutes } from '../../api/routes/indicators.ts';
import { buildApp } from '../../api/server.ts';
import { generateReport, parsePeriod, FORMATS } from '../../api/reports/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : null;
};
const r1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { days: { type: 'string' }, repeat: { type: 'string' } } });
  const days = Number(args.days ?? 3);
  const repeat = Number(args.repeat ?? 3);
  const env = {
    COALFLOW_DATA_DIR: 'memory',
    COALFLOW_SIMULATOR: 'false',
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    COALFLOW_TOPIC_PARTITIONS: '3',
  };
  const rt = await buildRuntime(loadConfig(env, { dataDir: 'memory' }), {
    log: createLogger({ level: env.LOG_LEVEL }),
  });
  const ingest = createIngestService(rt);
  const workers = startIndicatorWorkers(rt, { lagIntervalMs: 0 });
  await ingest.start();
  await workers.start();

  // Simulator data, produced a day at a time onto the raw topics.
  const t0 = Date.parse('2026-10-01T00:00:00+08:00');
  const fillStart = performance.now();
  let produced = 0;
  const gen = { seed: 42, startTime: t0, badShare: 0.01, dupShare: 0.01 };
  const events = simulate(gen, t0 + days * 86_400_000);
  const byFeed = new Map<FeedName, { key: string; value: string }[]>();
  for (const e of events)
    (byFeed.get(e.feed) ?? byFeed.set(e.feed, []).get(e.feed)!).push({
      key: e.key,
      value: typeof e.raw === 'string' ? e.raw : JSON.stringify(e.raw),
    });
  for (const [feed, list] of byFeed) {
    for (let i = 0; i < list.length; i += 5000)
      await rt.broker.produce(rt.topic(topicOf.raw(feed)), list.slice(i, i + 5000));
    produced += list.length;
  }
  // Drained: every raw and canonical topic committed by its group, then the publication idle.
  const groups: [string, (f: FeedName) => string][] = [
    [rt.topic('coalflow-ingest'), topicOf.raw],
    [rt.topic('coalflow-indicators'), topicOf.canonical],
  ];
  for (;;) {
    let behind = 0;
    for (const [g, name] of groups)
      for (const f of byFeed.keys())
        for (const p of await rt.broker.lag(g, rt.topic(name(f))))
          behind += Number(BigInt(p.end) - BigInt(p.committed));
    if (behind === 0) break;
    await sleep(1000);
  }
  await workers.idle({ timeoutMs: 600_000 });
  const fillS = (performance.now() - fillStart) / 1000;
  const sales = Number((await rt.db.query('SELECT count(*) AS n FROM fact_sales')).rows[0].n);

  const app = await buildApp(rt, { plugins: [indicatorRoutes] });
  const latency = async (ms: number, during?: () => Promise<unknown>) => {
    const lat: number[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const s = performance.now();
        const r = await app.inject({ url: '/v1/indicators/latest?family=sales&scope=city' });
        if (r.statusCode !== 200) throw new Error(`latest ${r.statusCode}`);
        lat.push(performance.now() - s);
        await sleep(20);
      }
    })();
    if (during) await during();
    else await sleep(ms);
    stop = true;
    await loop;
    return { n: lat.length, p50Ms: r1(q(lat, 0.5)), p99Ms: r1(q(lat, 0.99)), maxMs: r1(Math.max(...lat)) };
  };

  const idle = await latency(5000);
  const month = parsePeriod('month', '2026-10');
  const year = parsePeriod('year', '2026');
  const timed = async (p: typeof month) => {
    const s = performance.now();
    const r = await generateReport(rt.db, { period: p, audience: null, formats: FORMATS });
    return { ms: performance.now() - s, r };
  };
  const monthMs: number[] = [];
  const yearMs: number[] = [];
  let pdf: Buffer | null = null;
  let sizes: Record<string, number> = {};
  for (let i = 0; i < repeat; i++) {
    const m = await timed(month);
    monthMs.push(m.ms);
    pdf = m.r.files.get('pdf')!;
    sizes = Object.fromEntries([...m.r.files].map(([f, b]) => [f, Math.round(b.length / 1024)]));
    yearMs.push((await timed(year)).ms);
  }
  const during = await latency(0, async () => {
    await timed(month);
    await timed(year);
  });

  let png: string[] = [];
  try {
    const dir = join(ROOT, 'api/reports/samples');
    mkdirSync(dir, { recursive: true });
    const tmp = join(os.tmpdir(), `coalflow-bench-${Date.now()}.pdf`);
    writeFileSync(tmp, pdf!);
    execFileSync('pdftoppm', [
      '-png',
      '-r',
      '80',
      '-f',
      '1',
      '-l',
      '2',
      tmp,
      join(dir, 'monthly-2026-10-page'),
    ]);
    rmSync(tmp);
    png = [
      'api/reports/samples/monthly-2026-10-page-1.png',
      'api/reports/samples/monthly-2026-10-page-2.png',
    ];
  } catch (err) {
    console.error(`no PNG (pdftoppm missing?): ${(err as Error).message}`);
  }

  await app.close();
  await workers.stop();
  await ingest.stop();
  await rt.close();
  const summary = {
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    data: { simulatedDays: days, records: produced, sales, fillSeconds: r1(fillS) },
    monthlyAllFormatsMs: monthMs.map((x) => Math.round(x)),
    annualAllFormatsMs: yearMs.map((x) => Math.round(x)),
    monthlyMedianMs: Math.round(q(monthMs, 0.5)!),
    annualMedianMs: Math.round(q(yearMs, 0.5)!),
    monthlySizesKiB: sizes,
    latestApi: { idle, whileGenerating: during },
    png,
  };
  console.log(JSON.stringify(summary, null, 2));
}

await main();
