/**
 * The Kafka broker crashes while records flow and comes back ~10 s later on the same data directory. A private
 * broker (its own ports and data directory; the shared one serves the other suites) is SIGKILLed while a client
 * posts weighbridge sales to `coalflow start`'s ingest route, re-sending any batch that got no 200 as a real
 * client would. Producers, consumers and the API recover on their own; `/healthz` shows the broker down during
 * the outage and, after it, back up with the outage (from, to, last error) in its history; the stored facts and
 * daily tonnage per region and city equal the test's own computation over what it sent: nothing lost or doubled.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuntime } from '../../infra/compose.ts';
import { loadConfig } from '../../infra/core/config.ts';
import { createLogger } from '../../infra/core/log.ts';
import { metricDef } from '../../pipelines/indicators/model.ts';
import { series } from '../../pipelines/indicators/queries.ts';
import { eventually, uniq } from '../helpers/runtime.ts';
import {
  expectedTotals,
  freePort,
  healthy,
  killGroup,
  rawSales,
  spawnCoalflow,
  testBroker,
  type Proc,
} from '../helpers/process.ts';
import { kafkaLibs, privateKafka, type PrivateKafka } from '../helpers/kafka-private.ts';

const s = suite<{ proc: Proc | null; kafka: PrivateKafka | null; dir: string }>(
  'infra: Kafka broker restarted while records flow',
  { proc: null, kafka: null, dir: '' },
);

s.after(async (ctx) => {
  if (ctx.proc) await killGroup(ctx.proc);
  ctx.kafka?.destroy();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

interface Health {
  ok: boolean;
  components: {
    broker: {
      state: string;
      history?: {
        state: string;
        since: string;
        lastError: { message: string; at: string } | null;
        outages: { from: string; to: string | null; ms: number; error: string }[];
      };
    };
  };
}

s(
  'producers, consumers and the API recover by themselves; /healthz tells the outage; nothing lost',
  async (ctx) => {
    const libs = kafkaLibs();
    if (!libs) {
      // Only where Kafka was never resolved (the run then uses a broker it did not start); said, not hidden.
      console.log('! no resolved Kafka jars (.infra/kafka/libs): the broker-restart test cannot run here');
      return;
    }
    ctx.dir = mkdtempSync(join(tmpdir(), 'coalflow-brk-'));
    const kafka = (ctx.kafka = privateKafka(
      join(ctx.dir, 'kafka'),
      libs,
      await freePort(),
      await freePort(),
    ));
    const firstStartMs = kafka.start({ warmUp: true });
    console.log(`  private broker started in ${firstStartMs} ms`);

    const run = uniq('B');
    const env: Record<string, string> = {
      LOG_LEVEL: 'warn',
      KAFKA_BROKERS: kafka.bootstrap,
      COALFLOW_TOPIC_PARTITIONS: '3',
      COALFLOW_TOKEN_SECRET: 'test-secret',
      COALFLOW_DATA_DIR: join(ctx.dir, 'pglite'),
      COALFLOW_SIMULATOR: 'false',
      COALFLOW_DEMO_KEYS: 'true',
      COALFLOW_DEMO_KEYS_FILE: join(ctx.dir, 'demo-keys.json'),
      COALFLOW_FORECAST_INTERVAL_MS: '0',
      COALFLOW_EMBEDDED_MAINTENANCE_MS: '0',
    };
    if (process.env.SCHEMA_REGISTRY_URL) env.SCHEMA_REGISTRY_URL = process.env.SCHEMA_REGISTRY_URL;
    const p = (ctx.proc = spawnCoalflow(['start'], env, await freePort()));
    await healthy(p);
    const key = await eventually(
      () =>
        (
          JSON.parse(readFileSync(env.COALFLOW_DEMO_KEYS_FILE!, 'utf8')) as {
            keys: { kind: string; key: string }[];
          }
        ).keys.find((k) => k.kind === 'operator')?.key,
      { timeoutMs: 60_000, intervalMs: 200, what: 'the demo operator key' },
    );
    const base = `http://127.0.0.1:${p.port}`;
    const health = async (): Promise<Health | null> => {
      try {
        return (await (
          await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) })
        ).json()) as Health;
      } catch {
        return null;
      }
    };

    // The client: 40 batches of 50 sales; a batch without a 200 is sent again after a pause (ingest dedupes).
    const sales = rawSales(run, 2000);
    const batches = Array.from({ length: 40 }, (_, b) => sales.slice(b * 50, b * 50 + 50));
    let acked = 0;
    let refused = 0;
    const client = (async () => {
      for (const batch of batches) {
        for (;;) {
          const res = await fetch(`${base}/v1/ingest/sales`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body: JSON.stringify(batch.map((x) => x.record)),
            signal: AbortSignal.timeout(60_000),
          }).catch(() => null);
          if (res?.status === 200) {
            const body = (await res.json()) as { summary: { accepted: number; duplicates: number } };
            assert.is(body.summary.accepted + body.summary.duplicates, batch.length, 'every record accepted');
            break;
          }
          refused++;
          await new Promise((r) => setTimeout(r, 500));
        }
        acked++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    // The crash, once records flow.
    await eventually(() => acked >= 8, { timeoutMs: 60_000, what: 'records flowing' });
    kafka.kill();
    const killedAt = Date.now();
    const seenDown = (await eventually(
      async () => {
        const h = await health();
        return h && h.components.broker.state === 'down' && h.components.broker.history?.state === 'down'
          ? h
          : null;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: '/healthz: broker down' },
    ))!;
    assert.is(seenDown.ok, false);
    assert.ok(seenDown.components.broker.history!.lastError, 'the last error is shown');
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - killedAt))));
    const restartMs = kafka.start();
    console.log(`  private broker restarted in ${restartMs} ms (down ${Date.now() - killedAt} ms in all)`);

    // Back: /healthz up, the outage recorded with its end.
    const back = (await eventually(
      async () => {
        const h = await health();
        return h && h.ok && h.components.broker.state === 'up' && h.components.broker.history?.state === 'ok'
          ? h
          : null;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: '/healthz: broker back' },
    ))!;
    const outages = back.components.broker.history!.outages;
    assert.ok(outages.length >= 1, 'the outage is recorded');
    const o = outages.at(-1)!;
    assert.ok(o.to !== null && Date.parse(o.to) > Date.parse(o.from), `outage ${JSON.stringify(o)}`);
    assert.ok(Date.parse(o.from) >= killedAt - 1000, 'it began at the crash');
    assert.ok(o.error.length > 0);

    await client;
    assert.ok(refused > 0 || acked === batches.length, 'the client was refused during the outage, or waited');

    // Consumers recovered: the indicator group reaches the end of the canonical topic.
    const admin = testBroker(kafka.bootstrap);
    let last = '';
    try {
      await eventually(
        async () => {
          const parts = await admin.lag('coalflow-indicators', 'coal.sales.v1');
          const end = parts.reduce((a, x) => a + Number(x.end), 0);
          last = JSON.stringify(parts);
          return end >= sales.length && parts.every((x) => x.committed === x.end);
        },
        {
          timeoutMs: 90_000,
          intervalMs: 250,
          what: 'indicators caught up after the restart',
        },
      ).catch((err: Error) => {
        const said = p
          .stderr()
          .split('\n')
          .filter((l) => l.includes('"component":"indicators"') || l.includes('"component":"broker"'))
          .slice(-5);
        throw new Error(`${err.message} (lag ${last}) ${said.join('\n')}`);
      });
    } finally {
      await admin.close();
    }
    process.kill(-p.child.pid!, 'SIGTERM');
    assert.is((await p.exited).code, 0, 'clean exit');

    const rt = await buildRuntime(loadConfig({ ...env, KAFKA_BROKERS: '' }), {
      log: createLogger({ level: 'error' }),
    });
    try {
      const facts = await rt.db.query(
        `SELECT count(*)::int AS n, count(DISTINCT record_id)::int AS d FROM fact_sales WHERE record_id LIKE $1`,
        [`${run}-%`],
      );
      assert.is(facts.rows[0].d, sales.length, 'every sale stored');
      assert.is(facts.rows[0].n, sales.length, 'none twice');
      const expected = expectedTotals(sales);
      const days = [...new Set(sales.map((x) => x.day))].sort();
      let checked = 0;
      for (const scope of ['region', 'city'] as const) {
        for (const pt of await series(
          rt.db,
          metricDef('sales', 'volume_t')!,
          scope,
          null,
          'day',
          days[0]!,
          days.at(-1)!,
        )) {
          const e = expected.get(`${scope}:${pt.scopeId}:${pt.windowStart}`);
          assert.ok(e, `unexpected cell ${scope}:${pt.scopeId}:${pt.windowStart}`);
          assert.is(Math.round(pt.value! * 1000), e!.kg, `tonnage ${scope} ${pt.scopeId}`);
          assert.is(pt.n, e!.n, `count ${scope} ${pt.scopeId}`);
          checked++;
        }
      }
      assert.is(checked, expected.size, 'every expected cell present');
    } finally {
      await rt.close();
    }
  },
);

s.run();
