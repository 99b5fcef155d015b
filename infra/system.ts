import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/server.ts';
import { forecastRoutes } from '../api/routes/forecasts.ts';
import type { Runtime } from './compose.ts';
import type { TopicSpec } from './broker/types.ts';

export type Role = 'worker' | 'api' | 'simulator';

export interface Startable { start(): Promise<void>; stop(): Promise<void> }

/** Topics the system needs, created at start (idempotent). */
export function systemTopics(rt: Runtime): TopicSpec[] {
  const names: TopicSpec[] = [];
  return names.map((s) => ({ ...s, topic: rt.topic(s.topic) }));
}

export interface System {
  app: FastifyInstance | null;
  /** Stops workers (finishing and committing their batch), the API, then the runtime. Safe to call twice. */
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
  try {
    await rt.broker.createTopics(systemTopics(rt));
    if (roles.includes('api')) {
      app = await buildApp(rt, { plugins: [forecastRoutes] });
      if (opts.listen !== false) {
        await app.listen({ port: rt.config.port, host: rt.config.host });
        rt.log.info({ port: rt.config.port }, 'API listening');
      }
    }
    return { app, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
