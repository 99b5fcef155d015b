/**
 * The report schedule under a controlled clock on the embedded TimescaleDB: two workers tick at the same
 * instants; each scheduled period is enqueued and generated exactly once; a failing job is retried with
 * backoff and then recorded as failed with its reason.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testRuntime } from '../../helpers/runtime.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { createReportScheduler } from '../../../api/reports/scheduler.ts';

const test = suite('api/reports/scheduler (db)');
let rt: Runtime;
let clock = 0;

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
});

const worker = () =>
  createReportScheduler({
    db: rt.db,
    log: rt.log,
    formats: ['json', 'xlsx'],
    now: () => clock,
    retryBaseMs: 60_000,
    maxAttempts: 2,
  });
const count = async (sql: string, args: unknown[] = []) => Number((await rt.db.query(sql, args)).rows[0].n);

test('a monthly run fires at 08:00 on the 1st, exactly once with two workers', async () => {
  const a = worker();
  const b = worker();
  clock = Date.parse('2026-11-01T07:59:00+08:00');
  await Promise.all([a.tick(), b.tick()]);
  assert.is(
    await count(`SELECT count(*) AS n FROM report_jobs WHERE period = 'month' AND period_key = '2026-10'`),
    0,
    'not before its time',
  );
  // Catch-up of the last due run of each schedule (made once, whatever the number of workers).
  assert.is(
    await count(`SELECT count(*) AS n FROM report_jobs WHERE period = 'month' AND period_key = '2026-09'`),
    1,
  );
  assert.is(
    await count(`SELECT count(*) AS n FROM report_jobs WHERE period = 'day' AND period_key = '2026-10-31'`),
    1,
    'the 07:00 daily run of the same morning',
  );

  clock = Date.parse('2026-11-01T08:00:00+08:00');
  const [ra, rb] = await Promise.all([a.tick(), b.tick()]);
  const monthJobs = (
    await rt.db.query(`SELECT * FROM report_jobs WHERE period = 'month' AND period_key = '2026-10'`)
  ).rows;
  assert.is(monthJobs.length, 1);
  assert.is(monthJobs[0].status, 'done');
  assert.is(monthJobs[0].attempts, 1);
  assert.is(
    [...ra, ...rb].filter((j) => j.period === 'month' && j.periodKey === '2026-10').length,
    1,
    'one worker ran it',
  );
  assert.is(
    await count(`SELECT count(*) AS n FROM reports WHERE period = 'month' AND period_key = '2026-10'`),
    1,
  );
  assert.is(
    await count(
      `SELECT count(*) AS n FROM report_files f JOIN reports r ON r.id = f.report_id WHERE r.period = 'month' AND r.period_key = '2026-10'`,
    ),
    2,
  );

  // Later ticks and a restarted worker do not run it again.
  clock = Date.parse('2026-11-01T09:30:00+08:00');
  const c = worker();
  await Promise.all([a.tick(), c.tick()]);
  assert.is(
    await count(`SELECT count(*) AS n FROM report_jobs WHERE period = 'month' AND period_key = '2026-10'`),
    1,
  );
  assert.is(
    await count(`SELECT count(*) AS n FROM reports WHERE period = 'month' AND period_key = '2026-10'`),
    1,
  );
  // The daily report of 31 October (fired at 07:00 the same morning) exists once.
  assert.is(
    await count(`SELECT count(*) AS n FROM reports WHERE period = 'day' AND period_key = '2026-10-31'`),
    1,
  );
  await Promise.all([a.stop(), b.stop(), c.stop()]);
});

test('a failing job is retried with backoff, then done; bad input fails at once with its reason', async () => {
  const a = worker();
  // The store refuses the files (a retriable database error): queued again, later.
  await rt.db.query('ALTER TABLE report_files RENAME TO report_files_away');
  await rt.db.query(
    `INSERT INTO report_jobs (period, period_key, audience_key, formats, trigger, next_attempt_at) VALUES ('day', '2026-10-05', 'city', '{json}', 'manual', $1)`,
    [new Date(clock).toISOString()],
  );
  await a.tick();
  let j = (await rt.db.query(`SELECT * FROM report_jobs WHERE period_key = '2026-10-05'`)).rows[0];
  assert.is(j.status, 'queued');
  assert.is(j.attempts, 1);
  assert.match(j.error, /report_files/);
  assert.ok(new Date(j.next_attempt_at).getTime() > clock, 'retry later');
  await rt.db.query('ALTER TABLE report_files_away RENAME TO report_files');
  await a.tick();
  assert.is(
    (await rt.db.query(`SELECT attempts FROM report_jobs WHERE period_key = '2026-10-05'`)).rows[0].attempts,
    1,
    'not before its backoff',
  );
  clock += 120_000;
  await a.tick();
  j = (await rt.db.query(`SELECT * FROM report_jobs WHERE period_key = '2026-10-05'`)).rows[0];
  assert.is(j.status, 'done');
  assert.is(j.attempts, 2);
  assert.ok(j.report_id);

  await rt.db.query(
    `INSERT INTO report_jobs (period, period_key, audience_key, formats, trigger, next_attempt_at) VALUES ('month', '2026-13', 'city', '{json}', 'manual', $1)`,
    [new Date(clock).toISOString()],
  );
  await a.tick();
  j = (await rt.db.query(`SELECT * FROM report_jobs WHERE period_key = '2026-13'`)).rows[0];
  assert.is(j.status, 'failed');
  assert.is(j.attempts, 1);
  assert.match(j.error, /date "2026-13"/);
  await a.stop();
});

test.run();
