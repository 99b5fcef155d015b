/**
 * The embedded database's process is supervised: killed, it is started again on the same data directory and
 * port, the pool's next connection reaches it and the data is intact. An in-memory database cannot come back
 * (its data died with it): that is reported as fatal instead of restarting an empty one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedDbProcess, type DbProcessEvent } from '../../infra/db/embedded.ts';
import type { CoalflowError } from '../../infra/core/index.ts';
import { eventually } from '../helpers/runtime.ts';

test('a killed embedded database process is restarted on its data directory and port; data intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalflow-sup-'));
  const events: DbProcessEvent[] = [];
  const fatal: CoalflowError[] = [];
  const emb = await startEmbeddedDbProcess({
    dataDir: join(dir, 'db'),
    onEvent: (e) => events.push(e),
    onFatal: (e) => fatal.push(e),
  });
  const pool = new pg.Pool({ connectionString: emb.url, max: 1 });
  pool.on('error', () => undefined);
  pool.on('connect', (c) => c.on('error', () => undefined));
  try {
    await pool.query('CREATE TABLE t (id int PRIMARY KEY, v float8)');
    await pool.query('INSERT INTO t SELECT g, g * 1.5 FROM generate_series(1, 1000) g');
    const first = emb.pid;
    const port = emb.port;
    process.kill(first, 'SIGKILL');
    await eventually(() => events.some((e) => e.type === 'down'), { timeoutMs: 5000, what: 'down event' });
    assert.is(emb.state(), 'down');
    // The pool's connection broke with the process; the next query (a new connection) reaches the new one.
    const r = await eventually(
      async () => (await pool.query('SELECT count(*)::int AS n, sum(v)::float8 AS s FROM t')).rows[0],
      { timeoutMs: 40_000, intervalMs: 250, what: 'the restarted database' },
    );
    assert.is(r.n, 1000);
    assert.is(r.s, (1.5 * 1000 * 1001) / 2);
    assert.is.not(emb.pid, first, 'a new process');
    assert.is(emb.port, port, 'on the same port');
    assert.is(emb.restarts, 1);
    assert.is(emb.state(), 'up');
    assert.equal(
      events.map((e) => e.type),
      ['down', 'up'],
    );
    assert.equal(fatal, []);
    await pool.query('INSERT INTO t VALUES (1001, 1)');
  } finally {
    await pool.end();
    await emb.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an in-memory embedded database that dies is fatal, not restarted empty', async () => {
  const fatal: CoalflowError[] = [];
  const emb = await startEmbeddedDbProcess({ dataDir: 'memory', onFatal: (e) => fatal.push(e) });
  try {
    const pid = emb.pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => fatal.length > 0, { timeoutMs: 10_000, what: 'fatal report' });
    assert.is(fatal[0]!.code, 'SERVICE_UNAVAILABLE');
    assert.match(fatal[0]!.message, /COALFLOW_DATA_DIR/);
    assert.is(emb.pid, pid, 'no new process');
    assert.is(emb.restarts, 0);
  } finally {
    await emb.close();
  }
});

test.run();
