/**
 * A read-only or full data directory for the embedded database: `start` refuses it with a clear error
 * (code, the directory, the fix) and exits nonzero, touching nothing in it; a running `start` whose disk fills
 * stops cleanly and exits nonzero; once the directory is writable and has room again, the next start works and
 * every record is there. The directory lives on a tmpfs of its own, mounted by this test (root: tests and CI
 * run as root here), remounted read-only and filled with `fallocate`; the test unmounts it at the end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniq } from '../helpers/runtime.ts';
import {
  freePort,
  healthy,
  killGroup,
  netCenti,
  operatorKey,
  sale,
  spawnCoalflow,
  startEnv,
  withDataDir,
  type Proc,
} from '../helpers/process.ts';

const MIN_FREE_MB = 64;

/** Every file's path and content under `dir`, hashed: equal before and after = nothing touched. */
function digest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const s = suite<{ proc: Proc | null; mnt: string; tmp: string }>('infra: read-only or full data directory', {
  proc: null,
  mnt: '',
  tmp: '',
});
s.after(async (ctx) => {
  if (ctx.proc) await killGroup(ctx.proc);
  if (ctx.mnt) {
    try {
      execFileSync('umount', ['-l', ctx.mnt]);
    } catch {
      /* not mounted */
    }
  }
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
});

s(
  'refused with DATA_DIR_NOT_WRITABLE / DATA_DIR_FULL and exit 1, directory untouched; the next start has every record',
  async (ctx) => {
    ctx.tmp = mkdtempSync(join(tmpdir(), 'coalflow-dd-'));
    ctx.mnt = join(ctx.tmp, 'mnt');
    execFileSync('mkdir', ['-p', ctx.mnt]);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192m', 'tmpfs', ctx.mnt], { stdio: 'pipe' });
    } catch (err) {
      ctx.mnt = '';
      throw new Error(
        `this test mounts a tmpfs (root with CAP_SYS_ADMIN, as tests and CI run here): ${(err as Error).message}`,
        { cause: err },
      );
    }
    const dataDir = join(ctx.mnt, 'pglite');
    const env = startEnv(ctx.tmp, {
      COALFLOW_DATA_DIR: dataDir,
      COALFLOW_DATA_DIR_MIN_FREE_MB: String(MIN_FREE_MB),
    });
    /** Starts `start` (without waiting for it: a refused one exits at once). */
    const start = async () => (ctx.proc = spawnCoalflow(['start'], env, await freePort()));
    const run = uniq('D');
    const records = Array.from({ length: 200 }, (_, i) => sale(`${run}-${i}`, 20 + ((i * 37) % 1500) / 100));
    const expected = netCenti(records);

    const fillerPath = join(ctx.mnt, 'filler');
    /** Leaves half the threshold free on the tmpfs. */
    const fill = () => {
      const avail = execFileSync('df', ['-B1', '--output=avail', ctx.mnt])
        .toString()
        .trim()
        .split('\n')
        .at(-1)!;
      execFileSync('fallocate', [
        '-l',
        String(Math.max(1, Number(avail) - (MIN_FREE_MB / 2) * 1048576)),
        fillerPath,
      ]);
    };

    // 1. A start on the tmpfs takes records in; then the disk fills while it runs: a clean stop and exit 1.
    const first = await start();
    await healthy(first);
    const key = await operatorKey(env);
    const res = await fetch(`http://127.0.0.1:${first.port}/v1/ingest/sales`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(records),
    });
    assert.is(res.status, 200);
    fill();
    assert.is((await first.exited).code, 1, 'exit code when the disk fills while running');
    assert.match(first.stderr(), /\[DATA_DIR_FULL\]/);
    assert.ok(first.stderr().includes(dataDir), 'names the directory');
    const before = digest(dataDir);

    // 2. Still full: a start is refused, exit 1, nothing touched.
    const full = await start();
    assert.is((await full.exited).code, 1, 'exit code on a full disk');
    assert.match(full.stderr(), /\[DATA_DIR_FULL\]/);
    assert.ok(full.stderr().includes(dataDir), 'names the directory');
    assert.match(full.stderr(), /free space or grow the file system/);
    assert.is(digest(dataDir), before, 'untouched by the refused start');
    rmSync(fillerPath);

    // 3. Read-only: refused, exit 1, nothing touched.
    execFileSync('mount', ['-o', 'remount,ro', ctx.mnt]);
    const ro = await start();
    assert.is((await ro.exited).code, 1, 'exit code on a read-only directory');
    assert.match(ro.stderr(), /\[DATA_DIR_NOT_WRITABLE\]/);
    assert.ok(ro.stderr().includes(dataDir), 'names the directory');
    assert.match(ro.stderr(), /remount it read-write/);
    execFileSync('mount', ['-o', 'remount,rw', ctx.mnt]);
    assert.is(digest(dataDir), before, 'untouched by the refused start');

    // 5. Room again: the next start opens the directory and every record is there, once.
    await withDataDir(
      env,
      async (rt) => {
        const r = await rt.db.query(
          `SELECT count(*)::int AS n, coalesce(sum(round((record->>'netT')::numeric * 100)), 0)::bigint AS centi
       FROM ingest_outbox WHERE feed = 'sales' AND record_id LIKE $1`,
          [`${run}-%`],
        );
        assert.is(r.rows[0].n, records.length, 'every record');
        assert.is(Number(r.rows[0].centi), expected, 'net weight equals the independent sum');
      },
      { COALFLOW_DATA_DIR_MIN_FREE_MB: '0' },
    );
  },
);

s.run();
