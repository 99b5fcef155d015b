/**
 * A crash during HTTP ingest loses nothing: the whole process tree of `start`
 * (API and embedded database) is SIGKILLed while a batch is in flight, at
 * several points; after each restart the client re-sends every batch it got no
 * acknowledgement for. In the end the stored records sum to exactly what the
 * client generated, computed independently.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniq } from '../helpers/runtime.ts';
import {
  killGroup,
  netCenti,
  operatorKey,
  sale,
  startCoalflow,
  startEnv,
  withDataDir,
  type Proc,
} from '../helpers/process.ts';

const s = suite<{ proc: Proc | null; dir: string }>('infra: SIGKILL during HTTP ingest', {
  proc: null,
  dir: '',
});
s.after(async (ctx) => {
  if (ctx.proc) await killGroup(ctx.proc);
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

s('batches re-sent after a SIGKILL of the process tree are all stored, once', async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'coalflow-crash-'));
  const env = startEnv(ctx.dir);
  /** The operator's demo key of the running start (each start writes fresh ones). */
  let key = '';
  const run = uniq('K');
  const batches = Array.from({ length: 12 }, (_, b) =>
    Array.from({ length: 100 }, (_, i) => sale(`${run}-${b}-${i}`, 20 + (((b * 100 + i) * 7) % 2000) / 100)),
  );
  const expected = netCenti(batches.flat());

  const start = async () => {
    const p = (ctx.proc = await startCoalflow(env));
    key = await operatorKey(env);
    return p;
  };
  const send = (b: number) =>
    fetch(`http://127.0.0.1:${ctx.proc!.port}/v1/ingest/sales`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(batches[b]),
    }).then(
      async (res) =>
        res.status === 200 &&
        ((await res.json()) as { summary: { accepted: number; duplicates: number } }).summary,
    );

  const acked = new Set<number>();
  // Kill points: while a batch is in flight, 0, 20, 80 and 200 ms after sending it.
  const killAfterMs = [0, 20, 80, 200];
  let next = 0;
  for (const delay of killAfterMs) {
    const p = await start();
    // Re-send everything not acknowledged so far, then a few batches normally.
    for (let b = 0; b < next; b++)
      if (!acked.has(b)) {
        if (await send(b)) acked.add(b);
      }
    for (let k = 0; k < 2 && next < batches.length; k++, next++) if (await send(next)) acked.add(next);
    if (next >= batches.length) {
      await killGroup(p);
      break;
    }
    const inFlight = next++;
    const pending = send(inFlight).then(
      (ok) => {
        if (ok) acked.add(inFlight);
      },
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, delay));
    await killGroup(p);
    await pending;
  }
  const last = await start();
  for (let b = 0; b < batches.length; b++)
    if (!acked.has(b)) {
      const ok = await send(b);
      assert.ok(ok, `batch ${b} accepted after restart`);
      acked.add(b);
    }
  await killGroup(last);

  // Open the data directory directly: every record stored exactly once, summing to the client's own total.
  await withDataDir(env, async (rt) => {
    const res = await rt.db.query(
      `SELECT count(*)::int AS n, coalesce(sum(round((record->>'netT')::numeric * 100)), 0)::bigint AS centi
       FROM ingest_outbox WHERE feed = 'sales' AND record_id LIKE $1`,
      [`${run}-%`],
    );
    assert.is(res.rows[0].n, 1200, 'every record in the outbox');
    assert.is(Number(res.rows[0].centi), expected, 'net weight equals the independent sum');
    const seen = await rt.db.query(
      `SELECT count(*)::int AS n FROM ingest_seen WHERE feed = 'sales' AND record_id LIKE $1 AND state = 'produced'`,
      [`${run}-%`],
    );
    assert.is(seen.rows[0].n, 1200, 'seen exactly the stored ones');
  });
});

s.run();
