import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDb {
  /** postgres:// URL on loopback for `pg`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Takes the data directory for this process: PGlite has no postmaster.pid, and two processes on one
 * directory corrupt it ("could not seek to end of file"). A lock file holds the owner's pid; a live owner
 * is an error, a dead one's lock is taken over. Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  // Beside the directory, not in it: initdb wants an empty directory.
  const path = `${dir.replace(/[\\/]+$/, '')}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      const owned = () => Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid);
      // Right after a crash the old database process may still be dying: give it a few seconds.
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      for (const until = Date.now() + LOCK_OWNER_WAIT_MS; owned() && Date.now() < until;)
        Atomics.wait(sleeper, 0, 0, 100);
      if (owned()) {
        throw new Error(
          `数据目录 ${dir} 正被进程 ${pid} 使用，请先停止它或换用 COALFLOW_DATA_DIR / data directory ${dir} is in use by process ${pid}: stop it or set another COALFLOW_DATA_DIR`,
          { cause: err },
        );
      }
      rmSync(path, { force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (killed, not yet reaped) holds nothing any more.
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)?.[0] !== 'Z';
  } catch {
    return true;
  }
}

/** How long a start waits for the owner of a data directory's lock to go away (a crashed process still dying). */
const LOCK_OWNER_WAIT_MS = 10_000;

/**
 * Embedded TimescaleDB (PGlite + TimescaleDB 2.23 in WASM) served over the
 * Postgres wire on loopback, so the same `pg` code runs against it and a real server.
 * PGlite is single-session: use a pool of one connection against it.
 * @param dataDir directory for persistence; '' or 'memory' keeps it in memory.
 * @param port TCP port on 127.0.0.1; 0 picks a free one.
 */
export async function startEmbeddedDb(opts: { dataDir?: string; port?: number } = {}): Promise<EmbeddedDb> {
  const dir = opts.dataDir && opts.dataDir !== 'memory' ? opts.dataDir : undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const unlock = dir ? lockDataDir(dir) : () => undefined;
  let db: PGlite;
  try {
    db = await PGlite.create({ dataDir: dir, extensions: { timescaledb } });
  } catch (err) {
    unlock();
    throw err;
  }
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  // On a reopened data directory the extension library is not loaded until first
  // use, and hypertable inserts then fail ("invalid INSERT on the root table",
  // "continuous_agg_invalidation_trigger is not supported under the current license").
  await db.exec(`LOAD 'timescaledb'`);
  const port = opts.port || (await freePort());
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 100 });
  await server.start();
  let closing: Promise<void> | null = null;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    port,
    close() {
      closing ??= (async () => {
        try {
          await server.stop();
        } catch {
          /* continue */
        }
        try {
          await db.close();
        } finally {
          unlock();
        }
      })();
      return closing;
    },
  };
}

/**
 * The embedded TimescaleDB in a child process (`infra/db/embedded-server.ts`),
 * same URL contract as `startEmbeddedDb`. `rss()` asks the child for its RSS.
 */
export async function startEmbeddedDbProcess(
  opts: { dataDir?: string; port?: number; startTimeoutMs?: number } = {},
): Promise<EmbeddedDb & { pid: number; rss(): Promise<number> }> {
  // The child runs TypeScript like this process: through tsx's loader, by absolute URL (any cwd).
  const loader = import.meta.resolve('tsx');
  const child = fork(new URL('./embedded-server.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', loader],
    env: {
      ...process.env,
      COALFLOW_EMBEDDED_DATA_DIR: opts.dataDir || 'memory',
      COALFLOW_EMBEDDED_PORT: String(opts.port ?? 0),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // A failure to spawn or signal the child is reported through 'exit' and the start timeout, never as an unhandled 'error'.
  child.on('error', () => undefined);
  const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`embedded database process did not start within ${opts.startTimeoutMs ?? 60_000} ms`));
    }, opts.startTimeoutMs ?? 60_000);
    child.on('message', (m: { type?: string; url?: string; port?: number; message?: string }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({ url: m.url!, port: m.port! });
      }
      if (m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(m.message));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`embedded database process exited with ${code}`));
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let closing: Promise<void> | null = null;
  return {
    ...ready,
    pid: child.pid!,
    rss: () =>
      new Promise<number>((resolve) => {
        const onMsg = (m: { type?: string; rss?: number }) => {
          if (m.type === 'rss') {
            child.off('message', onMsg);
            resolve(m.rss!);
          }
        };
        child.on('message', onMsg);
        child.send({ type: 'rss' });
      }),
    close() {
      closing ??= (async () => {
        if (child.exitCode !== null) return;
        child.send({ type: 'close' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
