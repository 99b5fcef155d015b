/**
 * The embedded database's process keeps no memory per query: its JS heap, collected before each reading
 * (`--expose-gc`), stays where it was after 20,000 queries over the wire. PGlite kept every protocol message of
 * every query for the process's life when served over the socket (≈ 1.3 kB a query, +26 MB here).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { startEmbeddedDbProcess } from '../../infra/db/embedded.ts';

test('20,000 queries over the wire leave the database process heap where it was', async () => {
  const before = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${before ?? ''} --expose-gc`.trim();
  const emb = await startEmbeddedDbProcess({}).finally(() => {
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
  });
  const pool = new pg.Pool({ connectionString: emb.url, max: 1 });
  try {
    await pool.query('CREATE TABLE m (a int)');
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await pool.query('SELECT count(*)::int AS n FROM m WHERE a = $1', [i]);
        assert.is(r.rows[0].n, 0);
      }
    };
    await run(2000);
    const heap0 = (await emb.memory())!.heapUsed;
    await run(20_000);
    const heap1 = (await emb.memory())!.heapUsed;
    const grewMb = (heap1 - heap0) / 2 ** 20;
    console.log(
      `  database process heap: ${(heap0 / 2 ** 20).toFixed(1)} → ${(heap1 / 2 ** 20).toFixed(1)} MB`,
    );
    assert.ok(grewMb < 5, `the heap grew ${grewMb.toFixed(1)} MB over 20,000 queries`);
  } finally {
    await pool.end();
    await emb.close();
  }
});

test.run();
