import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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
 * Embedded TimescaleDB (PGlite + TimescaleDB 2.23 in WASM) served over the
 * Postgres wire on loopback, so the same `pg` code runs against it and a real server.
 * PGlite is single-session: use a pool of one connection against it.
 * @param dataDir directory for persistence; '' or 'memory' keeps it in memory.
 * @param port TCP port on 127.0.0.1; 0 picks a free one.
 */
export async function startEmbeddedDb(opts: { dataDir?: string; port?: number } = {}): Promise<EmbeddedDb> {
  const dir = opts.dataDir && opts.dataDir !== 'memory' ? opts.dataDir : undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const db = await PGlite.create({ dataDir: dir, extensions: { timescaledb } });
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
        try { await server.stop(); } catch { /* continue */ }
        await db.close();
      })();
      return closing;
    },
  };
}

/**
 * The embedded TimescaleDB in a child process (`infra/db/embedded-server.ts`),
 * same URL contract as `startEmbeddedDb`. `rss()` asks the child for its RSS.
 */
export async function startEmbeddedDbProcess(opts: { dataDir?: string; port?: number; startTimeoutMs?: number } = {}): Promise<EmbeddedDb & { pid: number; rss(): Promise<number> }> {
  // The child runs TypeScript like this process: through tsx's loader, by absolute URL (any cwd).
  const loader = import.meta.resolve('tsx');
  const child = fork(new URL('./embedded-server.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', loader],
    env: { ...process.env, COALFLOW_EMBEDDED_DATA_DIR: opts.dataDir || 'memory', COALFLOW_EMBEDDED_PORT: String(opts.port ?? 0) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`embedded database process did not start within ${opts.startTimeoutMs ?? 60_000} ms`)); }, opts.startTimeoutMs ?? 60_000);
    child.on('message', (m: { type?: string; url?: string; port?: number; message?: string }) => {
      if (m.type === 'ready') { clearTimeout(timer); resolve({ url: m.url!, port: m.port! }); }
      if (m.type === 'error') { clearTimeout(timer); reject(new Error(m.message)); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`embedded database process exited with ${code}`)); });
  });
  const exited = new Promise<void>((resolve) => { if (child.exitCode !== null) resolve(); else child.once('exit', () => resolve()); });
  let closing: Promise<void> | null = null;
  return {
    ...ready,
    pid: child.pid!,
    rss: () => new Promise<number>((resolve) => {
      const onMsg = (m: { type?: string; rss?: number }) => { if (m.type === 'rss') { child.off('message', onMsg); resolve(m.rss!); } };
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
