import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { CoalflowError, DataDirError, ServiceError } from '../core/index.ts';
import { checkDataDir, dataDirFull, freeBytes } from './data-dir.ts';
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
 * What the socket server calls on the database, with one difference: PGlite keeps every protocol message it parses
 * in a list that only `execProtocol()` empties, and the socket server calls `execProtocolRaw()`, so the list held
 * every message of every query for the life of the process (measured: +80 MB of JS heap after garbage collection
 * over 62,000 one-row queries, ≈ 1.3 kB each; the soak's database process grew by gigabytes an hour). Here each
 * call goes through `execProtocol()`, which returns the same bytes and empties the list; errors stay in the bytes.
 */
function servedOverSocket(db: PGlite): PGlite {
  const served = {
    get waitReady() {
      return db.waitReady;
    },
    isInTransaction: () => db.isInTransaction(),
    runExclusive: <T>(fn: () => Promise<T>) => db.runExclusive(fn),
    exec: (query: string) => db.exec(query),
    execProtocolRaw: async (message: Uint8Array, opts: { syncToFs?: boolean } = {}) =>
      (await db.execProtocol(message, { syncToFs: opts.syncToFs, throwOnError: false })).data,
  };
  return served as unknown as PGlite;
}

/**
 * Embedded TimescaleDB (PGlite + TimescaleDB 2.23 in WASM) served over the
 * Postgres wire on loopback, so the same `pg` code runs against it and a real server.
 * PGlite is single-session: use a pool of one connection against it.
 * @param dataDir directory for persistence; '' or 'memory' keeps it in memory.
 * @param port TCP port on 127.0.0.1; 0 picks a free one.
 */
export async function startEmbeddedDb(
  opts: { dataDir?: string; port?: number; minFreeBytes?: number } = {},
): Promise<EmbeddedDb> {
  const dir = opts.dataDir && opts.dataDir !== 'memory' ? opts.dataDir : undefined;
  if (dir) checkDataDir(dir, opts.minFreeBytes ?? 0);
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
  const server = new PGLiteSocketServer({
    db: servedOverSocket(db),
    host: '127.0.0.1',
    port,
    maxConnections: 100,
  });
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

/** What the supervisor of the embedded database's process reports. */
export type DbProcessEvent =
  | { type: 'down'; pid: number; code: number | null; signal: string | null }
  | { type: 'up'; pid: number; restarts: number };

export interface EmbeddedDbProcessOptions {
  dataDir?: string;
  port?: number;
  /** Longest wait for the process to serve, ms. Default 120000 (a fresh directory takes 12 s on a quiet machine, over 60 s at load 20). */
  startTimeoutMs?: number;
  /** Least free space under the data directory, bytes: checked at each (re)start and every `diskCheckMs`. Default 0 (none). */
  minFreeBytes?: number;
  /** Period of the free-space check while running, ms. Default 5000; 0 = only at (re)start. */
  diskCheckMs?: number;
  /** Start attempts in a row after the process died before giving up. Default 5. */
  restartAttempts?: number;
  /** The process died, or is back. */
  onEvent?: (e: DbProcessEvent) => void;
  /**
   * The database cannot go on: its process died and cannot be restarted (the data directory turned read-only or
   * full, the attempts ran out, or an in-memory database whose data died with it), or the free space fell under
   * `minFreeBytes`. The owner should stop and exit with the error.
   */
  onFatal?: (err: CoalflowError) => void;
}

export interface EmbeddedDbProcess extends EmbeddedDb {
  /** The current child's pid (a new one after a restart). */
  readonly pid: number;
  /** How many times the process was restarted. */
  readonly restarts: number;
  state(): 'up' | 'down';
  rss(): Promise<number>;
  /** The process's memory as Node reports it (JS heap, external and array buffers: the WASM memory), or null when down. */
  memory(): Promise<NodeJS.MemoryUsage | null>;
}

interface Child {
  proc: ChildProcess;
  url: string;
  port: number;
  exited: Promise<void>;
}

/** Forks one child and waits for its URL (or its error). */
async function spawnDbChild(
  dataDir: string,
  port: number,
  startTimeoutMs: number,
  minFreeBytes: number,
): Promise<Child> {
  // The child runs TypeScript like this process: through tsx's loader, by absolute URL (any cwd).
  const loader = import.meta.resolve('tsx');
  const proc = fork(new URL('./embedded-server.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', loader],
    env: {
      ...process.env,
      COALFLOW_EMBEDDED_DATA_DIR: dataDir,
      COALFLOW_EMBEDDED_PORT: String(port),
      COALFLOW_EMBEDDED_MIN_FREE_BYTES: String(minFreeBytes),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // A failure to spawn or signal the child is reported through 'exit' and the start timeout, never as an unhandled 'error'.
  proc.on('error', () => undefined);
  const exited = new Promise<void>((res) => {
    if (proc.exitCode !== null || proc.signalCode !== null) res();
    else proc.once('exit', () => res());
  });
  const ready = await new Promise<{ url: string; port: number }>((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`embedded database process did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    proc.on(
      'message',
      (m: { type?: string; url?: string; port?: number; message?: string; code?: string; dir?: string }) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          res({ url: m.url!, port: m.port! });
        }
        if (m.type === 'error') {
          clearTimeout(timer);
          rej(
            m.code === 'DATA_DIR_NOT_WRITABLE' || m.code === 'DATA_DIR_FULL'
              ? new DataDirError(m.code, m.message ?? m.code, { dir: m.dir })
              : new Error(m.message),
          );
        }
      },
    );
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`embedded database process exited with ${code}`));
    });
  });
  return { proc, ...ready, exited };
}

/**
 * The embedded TimescaleDB in a child process (`infra/db/embedded-server.ts`), same URL contract as
 * `startEmbeddedDb`, under supervision: a child that dies (killed, crashed, out of memory) is started again on
 * the same data directory and port, so the pool's connections come back by themselves; before each start the
 * directory is checked (writable, free space). What cannot be restarted (an in-memory database, a directory
 * turned read-only or full, attempts run out) goes to `onFatal`, as does free space falling under
 * `minFreeBytes` while running.
 */
export async function startEmbeddedDbProcess(
  opts: EmbeddedDbProcessOptions = {},
): Promise<EmbeddedDbProcess> {
  const dataDir = opts.dataDir || 'memory';
  const persistent = dataDir !== 'memory';
  const minFree = opts.minFreeBytes ?? 0;
  const startTimeoutMs = opts.startTimeoutMs ?? 120_000;
  if (persistent) checkDataDir(dataDir, minFree);
  let child = await spawnDbChild(dataDir, opts.port ?? 0, startTimeoutMs, minFree);
  const port = child.port;
  let restarts = 0;
  let up = true;
  let closing: Promise<void> | null = null;
  let fatal = false;
  const giveUp = (err: CoalflowError) => {
    if (fatal || closing) return;
    fatal = true;
    if (diskTimer) clearInterval(diskTimer);
    opts.onFatal?.(err);
  };
  const supervise = (c: Child) => {
    c.proc.once('exit', (code, signal) => {
      if (closing || c !== child) return;
      up = false;
      opts.onEvent?.({ type: 'down', pid: c.proc.pid ?? 0, code, signal });
      void restart();
    });
  };
  async function restart(): Promise<void> {
    if (!persistent) {
      giveUp(
        new ServiceError(
          'SERVICE_UNAVAILABLE',
          '内存中的内嵌数据库进程已退出，其数据随之丢失：请重启 coalflow（持久数据请设 COALFLOW_DATA_DIR）/ the in-memory embedded database process exited and its data with it: restart coalflow (set COALFLOW_DATA_DIR for persistent data)',
        ),
      );
      return;
    }
    const attempts = opts.restartAttempts ?? 5;
    for (let attempt = 1; !closing && !fatal; attempt++) {
      try {
        checkDataDir(dataDir, minFree);
        const next = await spawnDbChild(dataDir, port, startTimeoutMs, minFree);
        if (closing) {
          next.proc.send({ type: 'close' });
          return;
        }
        child = next;
        restarts++;
        up = true;
        supervise(next);
        opts.onEvent?.({ type: 'up', pid: next.proc.pid ?? 0, restarts });
        return;
      } catch (err) {
        if (err instanceof CoalflowError && err.code.startsWith('DATA_DIR_')) return giveUp(err);
        if (attempt >= attempts) {
          return giveUp(
            new ServiceError(
              'SERVICE_UNAVAILABLE',
              `内嵌数据库进程退出后 ${attempt} 次重启均失败：${(err as Error).message} / the embedded database process could not be restarted after ${attempt} attempts: ${(err as Error).message}`,
              { cause: err },
            ),
          );
        }
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
      }
    }
  }
  supervise(child);
  const diskCheckMs = opts.diskCheckMs ?? 5000;
  const diskTimer =
    persistent && minFree > 0 && diskCheckMs > 0
      ? setInterval(() => {
          try {
            const free = freeBytes(dataDir);
            if (free < minFree) giveUp(dataDirFull(dataDir, free, minFree));
          } catch {
            /* checked again next time */
          }
        }, diskCheckMs)
      : null;
  diskTimer?.unref();
  const memory = () =>
    new Promise<NodeJS.MemoryUsage | null>((res) => {
      const c = child.proc;
      if (!c.connected) return res(null);
      const onMsg = (m: { type?: string; mem?: NodeJS.MemoryUsage }) => {
        if (m.type === 'rss') {
          c.off('message', onMsg);
          res(m.mem ?? null);
        }
      };
      c.on('message', onMsg);
      c.send({ type: 'rss' });
    });
  return {
    url: child.url,
    port,
    get pid() {
      return child.proc.pid!;
    },
    get restarts() {
      return restarts;
    },
    state: () => (up ? 'up' : 'down'),
    rss: async () => (await memory())?.rss ?? 0,
    memory,
    close() {
      closing ??= (async () => {
        if (diskTimer) clearInterval(diskTimer);
        const c = child;
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
        if (c.proc.connected) c.proc.send({ type: 'close' });
        else c.proc.kill('SIGTERM');
        const timer = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
        await c.exited;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
