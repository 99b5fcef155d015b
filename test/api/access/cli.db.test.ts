import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { billCli, keysCli, type WithDb } from '../../../api/access/cli.ts';
import { createAccessStore } from '../../../api/access/store.ts';
import { setAuditRetention } from '../../../api/access/audit.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('api/access/cli');
let rt: Runtime;
const withDb: WithDb = (fn) => fn(rt.db as pg.Pool);

function io() {
  const o = { out: '', err: '' };
  return {
    o,
    io: {
      stdout: {
        write: (s: string) => {
          o.out += s;
        },
      },
      stderr: {
        write: (s: string) => {
          o.err += s;
        },
      },
    },
  };
}

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
});

test('keys: subscriber, grant, create (shown once), list without secrets, rotate, revoke', async () => {
  let x = io();
  assert.is(
    await keysCli(
      [
        'subscriber',
        '--id',
        'cli-ent',
        '--name',
        '某煤业集团',
        '--kind',
        'enterprise',
        '--credit-code',
        '91150602MA0000001A',
        '--json',
      ],
      x.io,
      withDb,
    ),
    0,
    x.o.err,
  );
  x = io();
  assert.is(await keysCli(['subscriber', '--name', '无代码', '--kind', 'enterprise'], x.io, withDb), 2);
  assert.match(x.o.err, /统一社会信用代码/);
  x = io();
  assert.is(
    await keysCli(
      [
        'grant',
        '--subscriber',
        'cli-ent',
        '--products',
        'indicator.sales,live',
        '--mines',
        '91150602MA0000001A',
        '--purpose',
        '经营',
        '--tier',
        'industry',
        '--quota',
        '1000',
        '--valid-from',
        '2026-01-01',
      ],
      x.io,
      withDb,
    ),
    0,
    x.o.err,
  );
  x = io();
  assert.is(
    await keysCli(
      [
        'grant',
        '--subscriber',
        'cli-ent',
        '--products',
        'indicator.nope',
        '--purpose',
        'x',
        '--tier',
        'industry',
      ],
      x.io,
      withDb,
    ),
    2,
  );
  x = io();
  assert.is(await keysCli(['create', '--subscriber', 'cli-ent', '--json'], x.io, withDb), 0, x.o.err);
  const created = JSON.parse(x.o.out) as { keyId: string; key: string };
  const store = createAccessStore(rt.db);
  assert.ok(await store.principal(created.key));
  x = io();
  assert.is(await keysCli(['list', '--subscriber', 'cli-ent'], x.io, withDb), 0);
  assert.ok(x.o.out.includes(created.keyId));
  assert.not.ok(x.o.out.includes(created.key.slice(-20)), 'the secret is never listed');
  x = io();
  assert.is(await keysCli(['rotate', created.keyId, '--json'], x.io, withDb), 0, x.o.err);
  const rotated = JSON.parse(x.o.out) as { key: string; keyId: string };
  assert.is(await store.principal(created.key), null);
  assert.ok(await store.principal(rotated.key));
  x = io();
  assert.is(await keysCli(['revoke', rotated.keyId], x.io, withDb), 0);
  assert.is(await store.principal(rotated.key), null);
  x = io();
  assert.is(await keysCli(['frobnicate'], x.io, withDb), 2);
});

test('bill: one statement per subscriber from the fee rules, table and JSON; caps; public governance free', async () => {
  const store = createAccessStore(rt.db);
  await store.createSubscriber({ id: 'cli-gov', name: '能源局', kind: 'government' });
  await store.addGrant('cli-gov', { products: ['indicator.sales'], purpose: '治理', tier: 'public' });
  await rt.db.query(`INSERT INTO access_usage_daily (subscriber_id, product, day, calls, rows, bytes) VALUES
    ('cli-ent', 'indicator.sales', '2026-10-03', 100, 5000, 1000), ('cli-ent', 'indicator.sales', '2026-10-20', 50, 1000, 1000),
    ('cli-ent', 'indicator.sales', '2026-11-01', 999, 0, 0), ('cli-gov', 'indicator.sales', '2026-10-05', 70, 700, 70)`);
  let x = io();
  assert.is(await billCli(['--month', '2026-10', '--json'], x.io, withDb), 0, x.o.err);
  const st = JSON.parse(x.o.out) as {
    subscriberId: string;
    totalYuan: number;
    lines: { product: string; calls: number; amountYuan: number }[];
  }[];
  const ent = st.find((s) => s.subscriberId === 'cli-ent')!;
  const sales = ent.lines.find((l) => l.product === 'indicator.sales')!;
  assert.is(sales.calls, 150);
  assert.is(sales.amountYuan, Math.round((150 * 0.01 + 6 * 0.1) * 100) / 100);
  // live: per MiB with no usage: 0; the grant made it an industry line.
  assert.is(ent.lines.find((l) => l.product === 'live')!.amountYuan, 0);
  assert.is(st.find((s) => s.subscriberId === 'cli-gov')!.totalYuan, 0);
  x = io();
  assert.is(await billCli(['--month', '2026-10'], x.io, withDb), 0);
  assert.match(x.o.out, /某煤业集团/);
  assert.match(x.o.out, /合计 \/ total 2\.10/);
  await rt.db.query(
    `INSERT INTO access_usage_daily (subscriber_id, product, day, calls, rows, bytes) VALUES ('cli-ent', 'indicator.sales', '2026-10-21', 1000000, 0, 0)`,
  );
  x = io();
  await billCli(['--month', '2026-10', '--json', '--subscriber', 'cli-ent'], x.io, withDb);
  const capped = JSON.parse(x.o.out)[0].lines.find(
    (l: { product: string }) => l.product === 'indicator.sales',
  );
  assert.is(capped.amountYuan, 2000);
  assert.is(capped.capped, true);
  x = io();
  assert.is(await billCli(['--month', '2026-13'], x.io, withDb), 2);
});

test('audit retention: 3 years by default, settable, never below 6 months', async () => {
  const policy = async () =>
    (
      await rt.db.query(
        `SELECT config->>'drop_after' AS d FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_name = 'access_audit'`,
      )
    ).rows.map((r) => r.d);
  assert.equal(await policy(), ['3 years']);
  const refused = await setAuditRetention(rt.db, 100).then(
    () => null,
    (err: Error) => err,
  );
  assert.match(refused?.message ?? '', /6 个月/);
  assert.equal(await policy(), ['3 years'], 'a refused change leaves the policy');
  await setAuditRetention(rt.db, 400);
  assert.equal(await policy(), ['400 days']);
});

test.run();
