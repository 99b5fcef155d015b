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
import { eventually, TEST_KAFKA, uniq } from '../helpers/runtime.ts';
import {
  assertStoredOnce,
  groupOffsets,
  killGroup,
  rawSales,
  startCoalflow,
  startEnv,
  testBroker,
  withDataDir,
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
  const env = startEnv(ctx.dir, {
    KAFKA_BROKERS: TEST_KAFKA,
    COALFLOW_TOPIC_PREFIX: ctx.prefix,
    COALFLOW_TOPIC_PARTITIONS: '3',
    COALFLOW_DEMO_KEYS: 'false',
  });
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
    const can = await groupOffsets(broker, group, canonical).catch(() => null);
    const ing = await groupOffsets(broker, `${ctx.prefix}coalflow-ingest`, raw).catch(() => null);
    return {
      committed: can?.committed ?? 0,
      canonical: can?.end ?? 0,
      // Raw records ingest has consumed (the canonical topic may hold a few twice: a produce repeated after a kill).
      ingested: ing?.committed ?? 0,
      // Every raw record consumed (the raw topic itself may hold a batch twice if the test's produce was retried).
      rawDone:
        !!ing &&
        ing.parts.length > 0 &&
        ing.parts.every((p) => p.committed === p.end) &&
        ing.end >= sent.length,
    };
  };
  const start = async () => {
    const p = await startCoalflow(env);
    ctx.procs.push(p);
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
  await withDataDir(env, (rt) => assertStoredOnce(rt.db, run, sent));
});

s.run();
