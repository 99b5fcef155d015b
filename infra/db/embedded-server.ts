/**
 * The embedded TimescaleDB as a process of its own (`embeddedDb: 'process'`):
 * forked by `startEmbeddedDbProcess`, it serves PGlite on loopback and reports
 * its URL over IPC. A separate process gives the database its own core (PGlite
 * is single-threaded WASM: in the worker's process every query would stall the
 * worker's event loop) and models production, where the database is a server.
 * It exits when told to close, and when its parent goes away.
 */
import { startEmbeddedDb } from './embedded.ts';

const dataDir = process.env.COALFLOW_EMBEDDED_DATA_DIR ?? 'memory';
const port = Number(process.env.COALFLOW_EMBEDDED_PORT ?? 0);
const minFreeBytes = Number(process.env.COALFLOW_EMBEDDED_MIN_FREE_BYTES ?? 0) || 0;
try {
  const db = await startEmbeddedDb({ dataDir, port, minFreeBytes });
  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
    try {
      await db.close();
    } catch {
      /* exiting anyway */
    }
    process.exit(code);
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'close') void close(0);
    else if (m?.type === 'rss') {
      // Run with --expose-gc (tests, diagnostics), the heap is collected first: heapUsed is then what is retained.
      (globalThis as { gc?: () => void }).gc?.();
      const mem = process.memoryUsage();
      process.send?.({ type: 'rss', rss: mem.rss, mem });
    }
  });
  process.on('disconnect', () => {
    void close(0);
  });
  // A SIGTERM or SIGINT sent to the whole process group (systemd's control group, Ctrl-C in a terminal, `kill --
  // -pgid`) reaches this child too. Closing at once would pull the database from under the parent's own graceful
  // stop (workers finishing their batch, the outbox publication): seen as outbox keys left unpublished after a
  // clean exit. The parent decides: it sends 'close' when its stop is done, and its death disconnects the IPC
  // channel. Only a signal while no parent is connected, or a parent that never says so within its shutdown
  // budget (+5 s), closes the database here.
  const budgetMs = Number(process.env.COALFLOW_SHUTDOWN_TIMEOUT_MS) || 30_000;
  const onSignal = () => {
    if (!process.connected) return void close(0);
    setTimeout(() => void close(0), budgetMs + 5000);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.send?.({ type: 'ready', url: db.url, port: db.port });
} catch (err) {
  const e = err as Error & { code?: unknown; context?: { dir?: string } };
  process.send?.({
    type: 'error',
    message: e.message,
    code: typeof e.code === 'string' ? e.code : undefined,
    dir: e.context?.dir,
  });
  process.exit(1);
}
