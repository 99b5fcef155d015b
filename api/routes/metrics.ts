/**
 * `GET /metrics` in the Prometheus text format, from the runtime's registry.
 * The consumer-lag gauge is refreshed on scrape (bounded by a timeout) so a
 * scrape shows the lag even between the workers' own periodic refreshes.
 */
import type { FastifyInstance } from 'fastify';
import { refreshConsumerLag, type Deps } from '../../infra/core/index.ts';
import { FEEDS, topicOf, INDICATOR_GROUP } from '../../pipelines/index.ts';
import { SCHEMAS } from './schemas.ts';

export interface LagTarget {
  groupId: string;
  topics: string[];
}

export interface MetricsRouteOptions {
  deps: Deps;
  /** Groups and topics (without prefix) whose lag is refreshed on scrape. Default: the indicator workers on the canonical topics. */
  lagTargets?: LagTarget[];
  /** Longest wait for the lag refresh on a scrape, ms. Default 2000. */
  lagTimeoutMs?: number;
}

export async function metricsRoutes(app: FastifyInstance, opts: MetricsRouteOptions): Promise<void> {
  const { deps } = opts;
  const targets = opts.lagTargets ?? [
    { groupId: INDICATOR_GROUP, topics: FEEDS.map((f) => topicOf.canonical(f)) },
  ];
  app.get(
    '/metrics',
    { config: { operator: true, loopback: true }, schema: SCHEMAS.metrics },
    async (_req, reply) => {
      await Promise.race([
        Promise.all(
          targets.map((t) =>
            refreshConsumerLag(
              deps,
              deps.topic(t.groupId),
              t.topics.map((name) => deps.topic(name)),
            ),
          ),
        ),
        new Promise((r) => setTimeout(r, opts.lagTimeoutMs ?? 2000).unref()),
      ]);
      const body = await deps.metrics.registry.metrics();
      return reply.header('content-type', deps.metrics.registry.contentType).send(body);
    },
  );
}
