import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/server.ts';
import { forecastRoutes } from '../api/routes/forecasts.ts';
import { ingestRoutes } from '../api/routes/ingest.ts';
import { createIngestService } from '../pipelines/index.ts';
import type { Runtime } from './compose.ts';
import { startSimulator } from './simulator/index.ts';

export type Role = 'worker' | 'api' | 'simulator';

export interface Startable { start(): Promise<void>; stop(): Promise<void> }

export interface System {
  app: FastifyInstance | null;
  /** Stops the simulator, workers (finishing and committing their batch), the API, then the runtime. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the requested roles on a runtime. `start` runs them all in one
 * process; `worker` and `api` run them apart so a deployment scales out.
 */
export async function startSystem(rt: Runtime, roles: Role[], opts: { listen?: boolean } = {}): Promise<System> {
  const started: Startable[] = [];
  let app: FastifyInstance | null = null;
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= (async () => {
    for (const s of [...started].reverse()) {
      try { await s.stop(); } catch (err) { rt.log.warn({ err: (err as Error).message }, 'stop step failed'); }
    }
    if (app) { try { await app.close(); } catch { /* continue */ } }
    await rt.close();
  })());
  const run = async (s: Startable) => { await s.start(); started.push(s); };
  try {
    if (roles.includes('worker')) {
      // Creates the feed topics, registers the contracts and checks the policy before consuming.
      await run(createIngestService(rt));
    }
    if (roles.includes('api')) {
      app = await buildApp(rt, { plugins: [ingestRoutes, forecastRoutes] });
      if (opts.listen !== false) {
        await app.listen({ port: rt.config.port, host: rt.config.host });
        rt.log.info({ port: rt.config.port }, 'API listening');
      }
    }
    if (roles.includes('simulator')) await run(startSimulator(rt));
    return { app, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
