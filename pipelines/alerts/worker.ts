/**
 * The alert worker. Consumes `coal.indicators` as its own consumer group (the
 * topic is keyed by entity, so one entity's updates reach one worker in order;
 * replaying it from the beginning rebuilds the same alerts), folds each batch
 * into the rule states and stores the alert states it raises in one transaction
 * (rules.ts, store.ts), then commits. Three loops follow the store: the outbox
 * publisher (`coal.alerts` + the Redis live channel), the webhook deliverer,
 * and the stale-feed check (the one clock-driven rule).
 */
import { retry, type Batch, type Deps, type TopicSpec } from '../../infra/core/index.ts';
import { createKafkaTopicSink, createWireCodec, type KafkaTopicSink } from '../../sinks/index.ts';
import { topicOf } from '../contracts/types.ts';
import type { IndicatorUpdateMessage } from '../indicators/contract.ts';
import { ALERT_SCHEMA, ALERT_TOPIC, toAlertMessage, type AlertMessage } from './contract.ts';
import {
  DEFAULT_CADENCES_MS,
  parseRuleConfig,
  type EvaluateOptions,
  type RuleId,
  type RuleParams,
} from './rules.ts';
import { applyUpdates, checkForecasts, checkStale, loadThresholds } from './store.ts';
import { deliverRound, eventOfRow, stateCols, type WebhookOptions } from './webhooks.ts';

export const ALERT_GROUP = 'coalflow.alerts';

/** Redis channel of live alert states (JSON of `AlertMessage`). */
export const alertChannel = (prefix: string) => `coalflow:${prefix}alerts:live`;

export function alertTopics(): TopicSpec[] {
  return [
    { topic: ALERT_TOPIC, config: { 'cleanup.policy': 'delete', 'retention.ms': String(90 * 86_400_000) } },
  ];
}

export interface AlertWorkerOptions {
  /** Consumer group (before the topic prefix). Default `coalflow.alerts`. */
  groupId?: string;
  /** Per-rule threshold overrides; default: COALFLOW_ALERT_RULES. */
  rules?: Partial<Record<RuleId, Partial<RuleParams>>>;
  /** Rules switched off. */
  disabled?: RuleId[];
  /** Stale-feed cadences per `family|scope`, ms; default `DEFAULT_CADENCES_MS`. Empty: no stale-feed rule. */
  cadencesMs?: Record<string, number>;
  /** How often the stale-feed rule looks at the clock, ms; 0 = never. Default: COALFLOW_ALERT_STALE_CHECK_MS (60000). */
  staleCheckMs?: number;
  /** How often the newest forecasts are checked for an early warning, ms; 0 = never. Default 300000 (forecasts change every few hours). */
  forecastCheckMs?: number;
  /** Polling of the outbox and deliveries when nothing woke them, ms. Default 500. */
  pollMs?: number;
  /** How often subscriber thresholds are re-read, ms. Default 10000. */
  thresholdsRefreshMs?: number;
  webhooks?: WebhookOptions;
  /** Deliver webhooks in this process. Default true. */
  deliver?: boolean;
}

export interface AlertWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once the outbox is empty and no delivery is due (tests, tools). */
  idle(timeoutMs?: number): Promise<void>;
  stats: { updates: number; states: number; published: number; deliveries: number; undecodable: number };
}

export function startAlertWorker(deps: Deps, opts: AlertWorkerOptions = {}): AlertWorker {
  const log = deps.log.child({ component: 'alerts' });
  const codec = createWireCodec(deps);
  const source = deps.topic(topicOf.indicators);
  const sink: KafkaTopicSink<AlertMessage> = createKafkaTopicSink<AlertMessage>(deps, {
    topic: ALERT_TOPIC,
    schema: ALERT_SCHEMA,
    codec,
  });
  const pollMs = opts.pollMs ?? 500;
  // Bad operator configuration fails here, at start, naming itself.
  const configured = parseRuleConfig(deps.config.alertRules ?? '');
  const webhookOpts: WebhookOptions = {
    maxConsecutiveFailures: deps.config.alertWebhookMaxFailures,
    ...opts.webhooks,
  };
  const cadences = opts.cadencesMs ?? DEFAULT_CADENCES_MS;
  const stats = { updates: 0, states: 0, published: 0, deliveries: 0, undecodable: 0 };
  let thresholds = new Map<string, Partial<RuleParams>>();
  const evalOpts: EvaluateOptions = {
    rules: opts.rules ?? configured.rules,
    disabled: opts.disabled ?? configured.disabled,
    thresholds: (rule, scope, id) => thresholds.get(`${rule}|${scope}|${id}`),
  };
  const consumer = deps.broker.consumer({
    groupId: deps.topic(opts.groupId ?? ALERT_GROUP),
    topics: [source],
    fromBeginning: true,
    maxBatchSize: 500,
  });
  let stopping = false;
  const timers: NodeJS.Timeout[] = [];
  let wake: (() => void) | null = null;
  const kick = () => {
    const w = wake;
    wake = null;
    w?.();
  };

  async function handle(batch: Batch): Promise<void> {
    const msgs: { key: string; value: IndicatorUpdateMessage }[] = [];
    const dead: { key: string; value: string; headers: Record<string, string> }[] = [];
    for (const r of batch.records) {
      try {
        const v = (await codec.decode(source, r.value)) as unknown as IndicatorUpdateMessage;
        if (
          typeof v.family !== 'string' ||
          typeof v.scope !== 'string' ||
          typeof v.scopeId !== 'string' ||
          !Array.isArray(v.points)
        )
          throw new Error('not an indicator update');
        msgs.push({
          key: r.key ?? `${v.family}|${v.scope}|${v.scopeId}`,
          value: { ...v, version: Number(v.version) },
        });
      } catch (err) {
        // Not ours to repair (the indicator contract is registered: a bug upstream): its bytes go to the DLQ, the partition moves on.
        stats.undecodable++;
        dead.push({
          key: 'indicators',
          value: JSON.stringify({
            reason: 'alert_decode',
            message: (err as Error).message,
            topic: batch.topic,
            partition: batch.partition,
            offset: r.offset,
            receivedAt: new Date().toISOString(),
            payloadBase64: r.value.toString('base64'),
          }),
          headers: { 'coalflow-reason': 'alert_decode' },
        });
        log.error(
          { topic: batch.topic, partition: batch.partition, offset: r.offset, err: (err as Error).message },
          'undecodable indicator update sent to the DLQ',
        );
      }
    }
    if (dead.length) await deps.broker.produce(deps.topic(topicOf.dlq), dead);
    const events = await applyUpdates(deps.db, msgs, { ...evalOpts, cadences });
    stats.updates += msgs.length;
    stats.states += events.length;
    if (events.length) kick();
  }

  /** Outbox: alert states not yet on coal.alerts and the live channel, claimed with a lease. */
  async function publishRound(): Promise<number> {
    const now = Date.now();
    const rows = (
      await deps.db.query(
        `WITH due AS (SELECT alert_id, seq, at FROM alert_states WHERE published_ms IS NULL AND publish_lease < $1 ORDER BY created_ms, alert_id, seq LIMIT 500 FOR UPDATE SKIP LOCKED)
       UPDATE alert_states s SET publish_lease = $2 FROM due WHERE s.alert_id = due.alert_id AND s.seq = due.seq AND s.at = due.at
       RETURNING ${stateCols('s')}`,
        [now, now + 30_000],
      )
    ).rows;
    if (!rows.length) return 0;
    const msgs = rows
      .map((r) => toAlertMessage(eventOfRow(r)))
      .sort((a, b) => a.alertId.localeCompare(b.alertId) || a.seq - b.seq);
    await sink.write(msgs.map((m) => ({ key: m.alertId, value: m })));
    const channel = alertChannel(deps.config.topicPrefix);
    for (const m of msgs) await deps.redis.publish(channel, JSON.stringify(m));
    await deps.db.query(
      `UPDATE alert_states SET published_ms = $3 WHERE (alert_id, seq) IN (SELECT * FROM unnest($1::text[], $2::int[]))`,
      [msgs.map((m) => m.alertId), msgs.map((m) => m.seq), Date.now()],
    );
    stats.published += msgs.length;
    return msgs.length;
  }

  /** Publishes and delivers until stopped; woken by new states, else every pollMs. */
  async function loop(): Promise<void> {
    while (!stopping) {
      let n = 0;
      try {
        // Side by side: the webhook need not wait for coal.alerts and the live channel (nor the other way round).
        const [p, d] = await Promise.allSettled([
          publishRound(),
          opts.deliver !== false ? deliverRound(deps.db, log, webhookOpts) : 0,
        ]);
        if (d.status === 'fulfilled') {
          stats.deliveries += d.value;
          n += d.value;
        }
        if (p.status === 'fulfilled') n += p.value;
        for (const r of [p, d]) if (r.status === 'rejected') throw r.reason;
      } catch (err) {
        if (!stopping)
          log.warn({ err: (err as Error).message }, 'alert publication or delivery round failed');
      }
      if (n) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
        const t = setTimeout(() => {
          wake = null;
          resolve();
        }, pollMs);
        t.unref();
      });
    }
  }
  let looping: Promise<void> | null = null;

  const refreshThresholds = async () => {
    try {
      thresholds = await loadThresholds(deps.db);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'reading alert thresholds failed');
    }
  };

  return {
    stats,
    async start() {
      // A topic just created may not be in every broker's metadata yet ("does not host this topic-partition"): retried.
      await retry(
        () =>
          deps.broker.createTopics([
            { topic: source },
            { topic: deps.topic(topicOf.dlq) },
            ...alertTopics().map((t) => ({ ...t, topic: deps.topic(t.topic) })),
          ]),
        { attempts: 5, initialDelayMs: 500 },
      );
      await codec.register(deps.topic(ALERT_TOPIC), ALERT_SCHEMA);
      await refreshThresholds();
      timers.push(setInterval(refreshThresholds, opts.thresholdsRefreshMs ?? 10_000));
      const staleMs = opts.staleCheckMs ?? deps.config.alertStaleCheckMs ?? 60_000;
      if (staleMs > 0 && Object.keys(cadences).length) {
        timers.push(
          setInterval(() => {
            checkStale(deps.db, Date.now(), cadences)
              .then((ev) => {
                stats.states += ev.length;
                if (ev.length) kick();
              })
              .catch((err) => log.warn({ err: (err as Error).message }, 'stale-feed check failed'));
          }, staleMs),
        );
      }
      const forecastMs = opts.forecastCheckMs ?? 300_000;
      if (forecastMs > 0) {
        const checked = new Map<string, number>();
        timers.push(
          setInterval(() => {
            checkForecasts(deps.db, evalOpts, checked)
              .then((ev) => {
                stats.states += ev.length;
                if (ev.length) kick();
              })
              .catch((err) =>
                log.warn({ err: (err as Error).message }, 'forecast early-warning check failed'),
              );
          }, forecastMs),
        );
      }
      for (const t of timers) t.unref();
      await consumer.run(handle);
      looping = loop();
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const t of timers) clearInterval(t);
      const steps = [
        () => consumer.stop(),
        async () => {
          kick();
          await looping;
        },
        () => sink.close(),
      ];
      for (const s of steps) {
        try {
          await s();
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'alert worker stop step failed');
        }
      }
    },
    async idle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await deps.db.query<{ n: string }>(
          `SELECT (SELECT count(*) FROM alert_states WHERE published_ms IS NULL)
                + (SELECT count(*) FROM alert_deliveries d JOIN alert_webhooks w ON w.id = d.webhook_id AND w.enabled
                   WHERE d.status = 'pending' AND d.next_attempt_ms <= $1) AS n`,
          [Date.now()],
        );
        if (Number(r.rows[0]!.n) === 0) return;
        if (Date.now() > deadline) throw new Error('alert worker not idle in time');
        kick();
        await new Promise((res) => setTimeout(res, 50));
      }
    },
  };
}
