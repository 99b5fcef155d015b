import type { FastifyInstance } from 'fastify';
import {
  alertRoutes,
  buildApp,
  dashboardRoutes,
  forecastRoutes,
  indicatorRoutes,
  ingestRoutes,
  metricsRoutes,
  accessRoutes,
  lifecycleRoutes,
  SCHEMAS,
  createReportScheduler,
  reportRoutes,
  createGovernance,
  governanceRoutes,
} from '../api/index.ts';
import {
  catalogSources,
  startSchedule,
  FORECAST_CATALOG,
  type Schedule,
  type SkippedSeries,
} from '../models/index.ts';
import {
  createIngestService,
  indicatorTopics,
  listSeriesKeys,
  loadSeries,
  startIndicatorWorkers,
  startAlertWorker,
  createOutboxMark,
  INDICATOR_GROUP,
  rebuildLatest,
  saveLatest,
} from '../pipelines/index.ts';
import type { Runtime } from './compose.ts';
import { startSimulator } from './simulator/index.ts';
import { CoalflowError } from './core/index.ts';

export type Role = 'worker' | 'api' | 'simulator';

export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface System {
  app: FastifyInstance | null;
  /** The forecast schedule of a worker (null without the worker role). */
  forecasts: Schedule | null;
  /** Stops the simulator, workers (finishing and committing their batch), the API, then the runtime. Safe to call twice. */
  stop(): Promise<void>;
}

/** Retrains the forecast catalogue on the worker's schedule (and on demand through `runNow`). */
function forecastSchedule(rt: Runtime): Startable & { schedule: Schedule | null; skipped: SkippedSeries[] } {
  const self = {
    schedule: null as Schedule | null,
    /** The catalogue series the last run left out, and why. */
    skipped: [] as SkippedSeries[],
    async start() {
      self.schedule = startSchedule({
        deps: rt,
        // 0 = on demand only: the longest timer Node allows (~24.8 days), never run at start.
        intervalMs: rt.config.forecastIntervalMs || 2 ** 31 - 1,
        runOnStart: rt.config.forecastIntervalMs > 0,
        sources: async () => {
          const skipped: SkippedSeries[] = [];
          const out = await catalogSources(
            () => listSeriesKeys(rt.db),
            (key, f) => loadSeries(rt.db, key, f),
            FORECAST_CATALOG,
            (x) => skipped.push(x),
          );
          self.skipped = skipped;
          return out;
        },
      });
    },
    async stop() {
      await self.schedule?.stop();
    },
  };
  return self;
}

/**
 * A Redis that comes back after an outage may have come back empty (restarted without persistence): its
 * "latest" snapshots are then rebuilt from the store (rebuildLatest does nothing when the cache kept its mark).
 * Keys published while it was down stay dirty in the outbox and are published again by the workers' retries.
 */
function cacheReturn(rt: Runtime): Startable {
  let lost = false;
  let rebuilding: Promise<unknown> = Promise.resolve();
  const onClose = () => {
    lost = true;
  };
  const onReady = () => {
    if (!lost) return;
    lost = false;
    rt.log.warn('Redis is back: checking the latest snapshots');
    rebuilding = rebuilding.then(() =>
      rebuildLatest(rt).catch((err) =>
        rt.log.warn({ err: (err as Error).message }, 'latest snapshots not rebuilt after Redis came back'),
      ),
    );
  };
  return {
    async start() {
      rt.redis.on('close', onClose);
      rt.redis.on('ready', onReady);
    },
    async stop() {
      rt.redis.off('close', onClose);
      rt.redis.off('ready', onReady);
      await rebuilding;
    },
  };
}

/**
 * Starts the requested roles on a runtime. `start` runs them all in one
 * process; `worker` and `api` run them apart so a deployment scales out.
 */
export async function startSystem(
  rt: Runtime,
  roles: Role[],
  opts: { listen?: boolean } = {},
): Promise<System> {
  const started: Startable[] = [];
  let app: FastifyInstance | null = null;
  let forecasts: Schedule | null = null;
  let skippedSeries: () => SkippedSeries[] = () => [];
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of [...started].reverse()) {
        try {
          await s.stop();
        } catch (err) {
          rt.log.warn({ err: (err as Error).message }, 'stop step failed');
        }
      }
      if (app) {
        try {
          await app.close();
        } catch {
          /* continue */
        }
      }
      await rt.close();
    })());
  const run = async (s: Startable) => {
    await s.start();
    started.push(s);
  };
  // One view of product states and emergency stops per process: the API, webhooks and the report schedule share it.
  const governance = createGovernance(rt, { refreshMs: rt.config.governanceRefreshMs, ensureDefaults: true });
  try {
    await run(governance);
    await rt.broker.createTopics(indicatorTopics().map((t) => ({ ...t, topic: rt.topic(t.topic) })));
    if (roles.includes('worker')) {
      // Creates the feed topics, registers the contracts and checks the policy before consuming.
      const ingest = createIngestService(rt);
      await run(ingest);
      // An emptied cache (ioredis-mock after a restart) gets "latest" back before the publishers start and the API
      // answers; a cache that does not persist itself has its snapshots saved at stop (after the publishers drained).
      await rebuildLatest(rt);
      if (rt.kinds.cache === 'ioredis-mock')
        await run({
          start: async () => undefined,
          stop: async () => {
            await saveLatest(rt);
          },
        });
      await run(startIndicatorWorkers(rt));
      if (rt.kinds.cache === 'redis') await run(cacheReturn(rt));
      // At a stop, intake ends first (stops run in reverse): the raw-topic consumers stop before the indicator
      // workers finish their batch and publish, so a stop under load does not go on ingesting the backlog.
      await run({ start: async () => undefined, stop: () => ingest.stop() });
      // In-process broker: records how far the outbox is consumed, so the next start replays only the rest.
      if (rt.kinds.broker === 'in-process')
        await run(createOutboxMark(rt, { groupId: rt.topic(INDICATOR_GROUP) }));
      await run(startAlertWorker(rt, { webhooks: { gate: governance } }));
      const f = forecastSchedule(rt);
      await run(f);
      forecasts = f.schedule;
      skippedSeries = () => f.skipped;
      await run(
        createReportScheduler({
          db: rt.db,
          log: rt.log.child({ component: 'reports' }),
          schedule: rt.config.reportCron,
          gate: governance,
        }),
      );
    }
    if (roles.includes('api')) {
      const schedule = forecasts;
      // On-demand retraining needs a worker in this process (`start`); a lone API answers 503.
      const retrainRoute = async (a: FastifyInstance) => {
        a.post(
          '/v1/forecasts/retrain',
          { config: { operator: true }, schema: SCHEMAS.retrain },
          async (_req, _reply) => {
            if (!schedule) {
              throw new CoalflowError(
                'SERVICE_UNAVAILABLE',
                '本进程未运行 worker，无法重新训练 / no worker in this process to retrain',
              );
            }
            const summary = await schedule.runNow();
            if (!summary)
              throw new CoalflowError('INTERNAL', '重新训练失败，见日志 / retrain failed, see the logs');
            return {
              trained: summary.ok.length,
              failed: summary.failed,
              ms: Math.round(summary.ms),
              series: summary.ok,
              skipped: skippedSeries(),
            };
          },
        );
      };
      app = await buildApp(rt, {
        governance,
        plugins: [
          ingestRoutes,
          indicatorRoutes,
          forecastRoutes,
          metricsRoutes,
          retrainRoute,
          accessRoutes,
          lifecycleRoutes,
          alertRoutes,
          reportRoutes,
          governanceRoutes,
          dashboardRoutes,
        ],
      });
      if (opts.listen !== false) {
        await app.listen({ port: rt.config.port, host: rt.config.host });
        rt.log.info({ port: rt.config.port }, 'API listening');
      }
    }
    if (roles.includes('simulator')) {
      const sim = startSimulator(rt);
      await run(sim);
      // Seeded history (first start only) makes every forecast family trainable: retrain once it is in.
      const schedule = forecasts;
      void sim
        .history()
        .then((h) => (h && !h.skipped && schedule ? schedule.runNow() : null))
        .catch((err) => rt.log.warn({ err: (err as Error).message }, 'retrain after seeding history failed'));
    }
    return { app, forecasts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
