/**
 * SIGKILL of the whole process (API, workers and the embedded database's child, one process group) while
 * batches are in flight, on the real broker: raw weighbridge sales go to `coal.raw.sales` in two waves; the
 * process is killed as soon as the indicator workers have committed records (the second wave arrives after the
 * first restart, so that kill lands mid-stream: uncommitted batches, open store transactions), restarted on the
 * same data directory each time, and finally catches up. The stored facts and
 * the daily tonnage and counts per region and for the city equal what the test computes from the records it
 * sent: none lost, none counted twice. The sales are of March 2025, older than the topics' retention: their log
 * time must be when they were produced, or retention deletes them before a restarted worker reads them.
 * KEEP_KILL_DIR=1 keeps the data directory and the topics of a run for a look afterwards.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuntime } from '../../infra/compose.ts';
import { loadConfig } from '../../infra/core/config.ts';
import { createLogger } from '../../infra/core/log.ts';
import { metricDef } from '../../pipelines/indicators/model.ts';
import { series } from '../../pipelines/indicators/queries.ts';
import { eventually, TEST_KAFKA, uniq } from '../helpers/runtime.ts';
import {
  expectedTotals,
  freePort,
  healthy,
  killGroup,
  rawSales,
  spawnCoalflow,
  testBroker,
  type Proc,
  type RawSale,
} from '../helpers/process.ts';

const s = suite<{ procs: Proc[]; dir: string; prefix: string }>(
  'infra: SIGKILL mid-batch on the real broker',
  {
    procs: [],
    dir: '',
    prefix: '',
  },
);

s.after(async (ctx) => {
  for (const p of ctx.procs) await killGroup(p);
  if (ctx.prefix && !process.env.KEEP_KILL_DIR) {
    const admin = testBroker(TEST_KAFKA);
    try {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(ctx.prefix));
      await admin.deleteTopics(topics);
    } catch {
      /* best effort */
    } finally {
      await admin.close();
    }
  }
  if (ctx.dir && !process.env.KEEP_KILL_DIR) rmSync(ctx.dir, { recursive: true, force: true });
  else if (ctx.dir) console.log('kept', ctx.dir, ctx.prefix);
});

s('killed twice mid-stream and restarted: every sale counted exactly once', async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'coalflow-kill-'));
  ctx.prefix = `${uniq('kill')}.`;
  const run = uniq('S');
  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    KAFKA_BROKERS: TEST_KAFKA,
    COALFLOW_TOPIC_PREFIX: ctx.prefix,
    COALFLOW_TOPIC_PARTITIONS: '3',
    COALFLOW_TOKEN_SECRET: 'test-secret',
    COALFLOW_DATA_DIR: join(ctx.dir, 'pglite'),
    COALFLOW_SIMULATOR: 'false',
    COALFLOW_DEMO_KEYS: 'false',
    COALFLOW_DEMO_KEYS_FILE: join(ctx.dir, 'demo-keys.json'),
    COALFLOW_FORECAST_INTERVAL_MS: '0',
    COALFLOW_EMBEDDED_MAINTENANCE_MS: '0',
  };
  if (process.env.SCHEMA_REGISTRY_URL) env.SCHEMA_REGISTRY_URL = process.env.SCHEMA_REGISTRY_URL;
  const broker = testBroker(TEST_KAFKA);
  const raw = `${ctx.prefix}coal.raw.sales`;
  const canonical = `${ctx.prefix}coal.sales.v1`;
  const group = `${ctx.prefix}coalflow-indicators`;
  const sent: RawSale[] = [];
  const send = async (list: RawSale[]) => {
    for (let i = 0; i < list.length; i += 500)
      await broker.produce(
        raw,
        list.slice(i, i + 500).map((x) => ({ key: x.key, value: JSON.stringify(x.record) })),
      );
    sent.push(...list);
  };
  /** Sales the indicator group has committed (canonical offsets), and the canonical records ingest produced. */
  const progress = async () => {
    const parts = await broker.lag(group, canonical).catch(() => []);
    const rawParts = await broker.lag(`${ctx.prefix}coalflow-ingest`, raw).catch(() => []);
    return {
      committed: parts.reduce((a, p) => a + Number(p.committed), 0),
      canonical: parts.reduce((a, p) => a + Number(p.end), 0),
      // Raw records ingest has consumed (the canonical topic may hold a few twice: a produce repeated after a kill).
      ingested: rawParts.reduce((a, p) => a + Number(p.committed), 0),
      // Every raw record consumed (the raw topic itself may hold a batch twice if the test's produce was retried).
      rawDone:
        rawParts.length > 0 &&
        rawParts.every((p) => p.committed === p.end) &&
        rawParts.reduce((a, p) => a + Number(p.end), 0) >= sent.length,
    };
  };
  const start = async () => {
    const p = spawnCoalflow(['start'], env, await freePort());
    ctx.procs.push(p);
    await healthy(p);
    return p;
  };

  try {
    // Wave 1 waits in the raw topic; the process is killed once ingest and the indicators are both under way.
    await broker.createTopics([{ topic: raw }]);
    await send(rawSales(run, 3000));
    let p = await start();
    const total1 = sent.length;
    await eventually(
      async () => {
        const g = await progress();
        return g.committed > 0;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: 'indicators mid-stream' },
    );
    await killGroup(p);
    const atKill1 = await progress();

    // Restart; wave 2 arrives while it catches up; killed again mid-stream.
    p = await start();
    await send(rawSales(run, 3000, 3000));
    const before2 = (await progress()).committed;
    await eventually(
      async () => {
        const g = await progress();
        return g.committed > before2;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: 'indicators mid-stream again' },
    );
    await killGroup(p);
    const atKill2 = await progress();

    // Last start: catch up to the end, then a graceful stop. (Outbox keys a killed process held a lease on stay
    // dirty until the lease expires: they are published by whichever process runs then, none is lost.)
    p = await start();
    await eventually(
      async () => {
        const g = await progress();
        return g.rawDone && g.canonical === g.committed;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'the indicators caught up' },
    );
    process.kill(-p.child.pid!, 'SIGTERM');
    const exit = await p.exited;
    assert.is(exit.code, 0, `clean exit: ${p.stderr().slice(-500)}`);
    // On a loaded machine the first start may finish wave 1 before it answers; the second kill lands mid-stream.
    assert.ok(atKill1.committed < total1 || atKill2.committed < sent.length, 'a kill was mid-stream');
    console.log(
      `  killed at ${atKill1.committed}/${total1} and ${atKill2.committed}/${sent.length} committed`,
    );
  } finally {
    await broker.close();
  }

  // Independent check on the data directory.
  const rt = await buildRuntime(loadConfig({ ...env, KAFKA_BROKERS: '' }), {
    log: createLogger({ level: 'error' }),
  });
  try {
    const facts = await rt.db.query(
      `SELECT count(*)::int AS n, count(DISTINCT record_id)::int AS d FROM fact_sales WHERE record_id LIKE $1`,
      [`${run}-%`],
    );
    if (facts.rows[0].d !== sent.length) {
      const have = new Set(
        (
          await rt.db.query(`SELECT record_id FROM fact_sales WHERE record_id LIKE $1`, [`${run}-%`])
        ).rows.map((r) => r.record_id as string),
      );
      const missing = sent.map((x) => x.record.销售编号 as string).filter((id) => !have.has(id));
      const idx = missing.map((id) => Number(id.split('-').at(-1)));
      const seen = await rt.db.query(
        `SELECT state, count(*)::int AS n, min(source_ref) AS a, max(source_ref) AS b FROM ingest_seen
          WHERE record_id = ANY($1::text[]) GROUP BY 1`,
        [missing],
      );
      console.log('  missing', missing.length, 'from', Math.min(...idx), 'to', Math.max(...idx), seen.rows);
    }
    assert.is(facts.rows[0].d, sent.length, 'every sale stored');
    assert.is(facts.rows[0].n, sent.length, 'none twice');
    const expected = expectedTotals(sent);
    const def = metricDef('sales', 'volume_t')!;
    const days = [...new Set(sent.map((x) => x.day))].sort();
    let checked = 0;
    for (const scope of ['region', 'city'] as const) {
      const pts = await series(rt.db, def, scope, null, 'day', days[0]!, days.at(-1)!);
      for (const pt of pts) {
        const e = expected.get(`${scope}:${pt.scopeId}:${pt.windowStart}`);
        assert.ok(e, `unexpected cell ${scope}:${pt.scopeId}:${pt.windowStart}`);
        assert.is(Math.round(pt.value! * 1000), e!.kg, `tonnage ${scope} ${pt.scopeId} ${pt.windowStart}`);
        assert.is(pt.n, e!.n, `count ${scope} ${pt.scopeId} ${pt.windowStart}`);
        checked++;
      }
    }
    assert.is(checked, expected.size, 'every expected cell present');
  } finally {
    await rt.close();
  }
});

s.run();
