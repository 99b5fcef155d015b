import client from 'prom-client';

/** Metric names are constants; components record through this object only. */
export const METRIC = {
  eventsIn: 'coalflow_events_in_total',
  eventsOut: 'coalflow_events_out_total',
  deadLetters: 'coalflow_dead_letters_total',
  duplicates: 'coalflow_duplicates_total',
  consumerLag: 'coalflow_consumer_lag',
  e2eLatency: 'coalflow_end_to_end_latency_seconds',
  sinkLatency: 'coalflow_sink_write_seconds',
  sinkErrors: 'coalflow_sink_errors_total',
  watermarkLag: 'coalflow_watermark_lag_seconds',
  lateRecords: 'coalflow_late_records_total',
  httpRequests: 'coalflow_http_requests_total',
} as const;

export interface Metrics {
  registry: client.Registry;
  eventsIn: client.Counter<'topic'>;
  eventsOut: client.Counter<'topic'>;
  deadLetters: client.Counter<'feed' | 'reason'>;
  duplicates: client.Counter<'feed'>;
  consumerLag: client.Gauge<'group' | 'topic' | 'partition'>;
  e2eLatency: client.Histogram<'family' | 'lane'>;
  sinkLatency: client.Histogram<'sink'>;
  sinkErrors: client.Counter<'sink'>;
  watermarkLag: client.Gauge<'worker'>;
  lateRecords: client.Counter<'feed' | 'kind'>;
  httpRequests: client.Counter<'route' | 'status'>;
}

/** One registry per composition root (tests build several side by side). */
export function createMetrics(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'coalflow_' });
  const r = [registry];
  return {
    registry,
    eventsIn: new client.Counter({
      name: METRIC.eventsIn,
      help: 'Records consumed per topic',
      labelNames: ['topic'],
      registers: r,
    }),
    eventsOut: new client.Counter({
      name: METRIC.eventsOut,
      help: 'Records produced per topic',
      labelNames: ['topic'],
      registers: r,
    }),
    deadLetters: new client.Counter({
      name: METRIC.deadLetters,
      help: 'Records sent to the dead-letter topic',
      labelNames: ['feed', 'reason'],
      registers: r,
    }),
    duplicates: new client.Counter({
      name: METRIC.duplicates,
      help: 'Duplicate records dropped',
      labelNames: ['feed'],
      registers: r,
    }),
    consumerLag: new client.Gauge({
      name: METRIC.consumerLag,
      help: 'Consumer lag per partition (records)',
      labelNames: ['group', 'topic', 'partition'],
      registers: r,
    }),
    e2eLatency: new client.Histogram({
      name: METRIC.e2eLatency,
      help: 'Record accepted to indicator visible in Redis (lane direct: the cells the record feeds; derived: trailing windows and derived metrics)',
      labelNames: ['family', 'lane'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    sinkLatency: new client.Histogram({
      name: METRIC.sinkLatency,
      help: 'Sink write latency',
      labelNames: ['sink'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    sinkErrors: new client.Counter({
      name: METRIC.sinkErrors,
      help: 'Sink write errors',
      labelNames: ['sink'],
      registers: r,
    }),
    watermarkLag: new client.Gauge({
      name: METRIC.watermarkLag,
      help: 'Wall clock minus event-time watermark',
      labelNames: ['worker'],
      registers: r,
    }),
    lateRecords: new client.Counter({
      name: METRIC.lateRecords,
      help: 'Late records (within lateness: update; beyond: correction)',
      labelNames: ['feed', 'kind'],
      registers: r,
    }),
    httpRequests: new client.Counter({
      name: METRIC.httpRequests,
      help: 'HTTP requests',
      labelNames: ['route', 'status'],
      registers: r,
    }),
  };
}

/** Sets the consumer-lag gauge (records behind, per partition) of a group on the given (prefixed) topics. */
export async function refreshConsumerLag(
  deps: {
    broker: {
      lag(groupId: string, topic: string): Promise<{ partition: number; committed: string; end: string }[]>;
    };
    metrics: Metrics;
  },
  groupId: string,
  topics: Iterable<string>,
): Promise<void> {
  for (const topic of topics) {
    try {
      for (const p of await deps.broker.lag(groupId, topic)) {
        deps.metrics.consumerLag.set(
          { group: groupId, topic, partition: String(p.partition) },
          Math.max(0, Number(BigInt(p.end) - BigInt(p.committed))),
        );
      }
    } catch {
      /* topic or group not there yet */
    }
  }
}
