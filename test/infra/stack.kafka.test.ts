/**
 * The real stack end to end: records go through the real Kafka broker, are
 * consumed in a group, written to and read back from the embedded TimescaleDB
 * over the Postgres wire with `pg`, and cached in real Redis.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, testRuntime, uniq } from '../helpers/runtime.ts';
import type { Runtime } from '../../infra/compose.ts';

const s = suite<{ rt: Runtime & { prefix: string } }>('stack: kafka + timescaledb + redis', {
  rt: null as never,
});

s.before(async (ctx) => {
  ctx.rt = await testRuntime({ broker: 'kafka', cache: 'redis' });
});
s.after(async (ctx) => {
  const rt = ctx.rt;
  if (!rt) return;
  try {
    await rt.broker.deleteTopics([rt.topic('stack')]);
    const keys = await rt.redis.keys(`${rt.prefix}*`);
    if (keys.length) await rt.redis.del(...keys);
  } finally {
    await rt.close();
  }
});

s('runtime reports real components', async ({ rt }) => {
  assert.is(rt.kinds.broker, 'kafka');
  assert.is(rt.kinds.cache, 'redis');
  assert.match(rt.kinds.db, /^timescaledb 2\.\d+ \(embedded\)$/);
});

s('produce → consume in a group → TimescaleDB hypertable → Redis', async ({ rt }) => {
  const topic = rt.topic('stack');
  await rt.broker.createTopics([{ topic, partitions: 3 }]);
  const table = uniq('stack_');
  await rt.db.query(
    `CREATE TABLE ${table} (ts timestamptz NOT NULL, mine text NOT NULL, net_t double precision NOT NULL, PRIMARY KEY (mine, ts))`,
  );
  await rt.db.query(`SELECT create_hypertable('${table}', by_range('ts'))`);
  const mines = ['m1', 'm2', 'm3', 'm4', 'm5'];
  const base = Date.parse('2026-01-05T00:00:00Z');
  const records = Array.from({ length: 50 }, (_, i) => ({
    mine: mines[i % 5]!,
    ts: new Date(base + i * 60_000).toISOString(),
    netT: 30 + (i % 6),
  }));
  await rt.broker.produce(
    topic,
    records.map((r) => ({ key: r.mine, value: JSON.stringify(r) })),
  );

  let consumed = 0;
  const c = rt.broker.consumer({ groupId: uniq('stack-g'), topics: [topic] });
  await c.run(async (batch) => {
    const rows = batch.records.map((r) => JSON.parse(r.value.toString()) as (typeof records)[number]);
    await rt.db.query(
      `INSERT INTO ${table} (ts, mine, net_t) SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[]) ON CONFLICT DO NOTHING`,
      [rows.map((r) => r.ts), rows.map((r) => r.mine), rows.map((r) => r.netT)],
    );
    consumed += rows.length;
  });
  await eventually(() => consumed >= 50, { what: '50 records consumed' });
  await c.stop();

  const { rows } = await rt.db.query(
    `SELECT mine, sum(net_t)::float8 AS t, count(*)::int AS n FROM ${table} GROUP BY mine ORDER BY mine`,
  );
  const expected = mines.map((m) => {
    const mine = records.filter((r) => r.mine === m);
    return { mine: m, t: mine.reduce((a, r) => a + r.netT, 0), n: mine.length };
  });
  assert.equal(rows, expected);

  for (const r of rows) await rt.redis.hset(`${rt.prefix}latest:${r.mine}`, { t: String(r.t) });
  const back = await rt.redis.hget(`${rt.prefix}latest:m3`, 't');
  assert.is(Number(back), expected[2]!.t);
  const hyper = await rt.db.query(
    `SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = $1`,
    [table],
  );
  assert.is(hyper.rows[0].n, 1);
});

s.run();
