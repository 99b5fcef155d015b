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
