/**
 * Webhooks per subscriber: registration, and the deliverer that POSTs each
 * queued alert state (`alert_deliveries`), signed (sign.ts), retried with
 * backoff until delivered or `maxAgeMs` old, one log row per attempt. After
 * `maxConsecutiveFailures` failed attempts in a row a webhook is disabled and
 * operators get a notice (table `alert_notices`, log warning). An alert's
 * states go to a webhook in order: a state waits while an earlier one of the
 * same alert is pending. The receiver sees each state once per 2xx answer; the
 * `Idempotency-Key` (`alertId:seq`) lets it drop a repeat after a lost answer.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { OPEN_GATE, type AccessGate, type Logger } from '../../infra/core/index.ts';
import type { Audience } from './audience.ts';
import { toAlertMessage } from './contract.ts';
import {
  backoffMs,
  EVENT_ID_HEADER,
  IDEMPOTENCY_HEADER,
  newSecret,
  SIGNATURE_HEADER,
  signatureHeader,
} from './sign.ts';
import type { AlertEvent, AlertEvidence, RuleId } from './rules.ts';

type Q = Pick<pg.Pool, 'query'>;

export interface WebhookOptions {
  /** First retry delay, ms (doubled per attempt, with jitter). Default 5000. */
  initialBackoffMs?: number;
  /** Longest retry delay, ms. Default 3600000 (1 h). */
  maxBackoffMs?: number;
  /** A state not delivered within this age (ms) expires, with a notice. Default 86400000 (24 h). */
  maxAgeMs?: number;
  /** Failed attempts in a row after which a webhook is disabled. Default 50. */
  maxConsecutiveFailures?: number;
  /** Timeout of one POST, ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Deliveries claimed per round. Default 100. */
  batch?: number;
  /** Lease on claimed deliveries, ms (a crashed deliverer's are retried after it). Default 30000. */
  leaseMs?: number;
  /**
   * Whether the `alert` product may go out now (lifecycle and emergency stop; wired by the composition root).
   * Deliveries it refuses are held, not attempted and not counted as failures: they go out in order once the
   * product or the subscriber is served again (and expire after `maxAgeMs` like any other). Default: refuses nothing.
   */
  gate?: AccessGate;
}

/** The data product whose grants and lifecycle alert webhooks follow. */
export const ALERT_PRODUCT = 'alert';

export interface Webhook {
  id: string;
  subscriberId: string;
  url: string;
  audience: Omit<Audience, 'subscriberId'>;
  enabled: boolean;
  consecutiveFailures: number;
  disabledAt: string | null;
  disabledReason: string | null;
}

export async function registerWebhook(
  db: Q,
  subscriberId: string,
  url: string,
  audience: Omit<Audience, 'subscriberId'>,
): Promise<Webhook & { secret: string }> {
  const id = `wh_${randomBytes(8).toString('hex')}`;
  const secret = newSecret();
  await db.query(
    'INSERT INTO alert_webhooks (id, subscriber_id, url, secret, audience) VALUES ($1, $2, $3, $4, $5)',
    [id, subscriberId, url, secret, JSON.stringify(audience)],
  );
  return {
    id,
    subscriberId,
    url,
    audience,
    enabled: true,
    consecutiveFailures: 0,
    disabledAt: null,
    disabledReason: null,
    secret,
  };
}

const HOOK_COLS = `id, subscriber_id AS "subscriberId", url, audience, enabled, consecutive_failures AS "consecutiveFailures",
  disabled_at AS "disabledAt", disabled_reason AS "disabledReason"`;

export async function listWebhooks(db: Q, subscriberId?: string | null): Promise<Webhook[]> {
  const r = await db.query<Webhook>(
    `SELECT ${HOOK_COLS} FROM alert_webhooks WHERE ($1::text IS NULL OR subscriber_id = $1) ORDER BY created_at, id`,
    [subscriberId ?? null],
  );
  return r.rows;
}

/** Enables (resets the failure count: pending deliveries resume) or disables a webhook. */
export async function setWebhookEnabled(db: Q, id: string, enabled: boolean): Promise<boolean> {
  const r = await db.query(
    `UPDATE alert_webhooks SET enabled = $2, consecutive_failures = 0,
       disabled_at = CASE WHEN $2 THEN NULL ELSE now() END, disabled_reason = CASE WHEN $2 THEN NULL ELSE 'operator' END WHERE id = $1`,
    [id, enabled],
  );
  return (r.rowCount ?? 0) > 0;
}

export async function deleteWebhook(db: Q, id: string): Promise<boolean> {
  await db.query('DELETE FROM alert_deliveries WHERE webhook_id = $1', [id]);
  return ((await db.query('DELETE FROM alert_webhooks WHERE id = $1', [id])).rowCount ?? 0) > 0;
}

export async function deliveryLog(db: Q, webhookId: string, limit = 200): Promise<unknown[]> {
  const r = await db.query(
    `SELECT alert_id AS "alertId", seq, attempt, at_ms AS "atMs", http_status AS "httpStatus", error, duration_ms AS "durationMs"
     FROM alert_delivery_log WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2`,
    [webhookId, limit],
  );
  return r.rows.map((x) => ({ ...x, atMs: Number(x.atMs) }));
}

export async function listNotices(db: Q, limit = 200): Promise<unknown[]> {
  const r = await db.query(
    'SELECT id::text, kind, webhook_id AS "webhookId", subscriber_id AS "subscriberId", message, at FROM alert_notices ORDER BY id DESC LIMIT $1',
    [limit],
  );
  return r.rows;
}

interface Claimed extends StateRow {
  webhook_id: string;
  attempts: number;
  created_ms: string;
  url: string;
  secret: string;
  subscriber_id: string;
}

/** The JSON body a webhook receives for one alert state. */
export function webhookBody(e: AlertEvent & { region: string | null }, sentMs: number): string {
  return JSON.stringify({
    id: `${e.alertId}:${e.seq}`,
    type: `alert.${e.kind}`,
    sentAt: new Date(sentMs).toISOString(),
    alert: toAlertMessage(e),
  });
}

interface StateRow {
  alert_id: string;
  seq: number;
  kind: AlertEvent['kind'];
  rule: RuleId;
  family: string;
  scope: string;
  scope_id: string;
  metric: string;
  region: string | null;
  severity: AlertEvent['severity'];
  started_ms: string;
  at_ms: string;
  title: string;
  evidence: AlertEvidence;
}

export function eventOfRow(r: StateRow): AlertEvent & { region: string | null } {
  return {
    alertId: r.alert_id,
    seq: r.seq,
    kind: r.kind,
    rule: r.rule,
    family: r.family,
    scope: r.scope,
    scopeId: r.scope_id,
    metric: r.metric,
    region: r.region,
    severity: r.severity,
    startedMs: Number(r.started_ms),
    atMs: Number(r.at_ms),
    title: r.title,
    evidence: r.evidence,
  };
}

/** Columns of an `alert_states` row as `eventOfRow` reads them (`a`: the table's alias). */
export const stateCols = (
  a = 'alert_states',
) => `${a}.alert_id, ${a}.seq, ${a}.kind, ${a}.rule, ${a}.family, ${a}.scope, ${a}.scope_id, ${a}.metric, ${a}.region,
  ${a}.severity, (extract(epoch FROM ${a}.started_at) * 1000)::bigint AS started_ms, (extract(epoch FROM ${a}.at) * 1000)::bigint AS at_ms, ${a}.title, ${a}.evidence`;

/**
 * One delivery round: claims due deliveries of enabled webhooks (with a lease,
 * `SKIP LOCKED`: several deliverers share the work), POSTs them, records the
 * outcome. Returns the number of attempts made.
 */
export async function deliverRound(
  db: pg.Pool,
  log: Logger,
  o: WebhookOptions = {},
  nowMs = Date.now(),
): Promise<number> {
  const initial = o.initialBackoffMs ?? 5000;
  const maxBackoff = o.maxBackoffMs ?? 3_600_000;
  const maxAge = o.maxAgeMs ?? 86_400_000;
  const maxFail = o.maxConsecutiveFailures ?? 50;
  const timeout = o.requestTimeoutMs ?? 10_000;
  const refused = (o.gate ?? OPEN_GATE).refused(ALERT_PRODUCT);
  if (refused.all) return 0;
  // Claim and read in one statement (the embedded store is one session shared with the indicators: few statements, not many).
  const claimed = (
    await db.query<Claimed>(
      `WITH due AS (
       SELECT d.webhook_id, d.alert_id, d.seq FROM alert_deliveries d JOIN alert_webhooks w ON w.id = d.webhook_id AND w.enabled
         AND NOT (w.subscriber_id = ANY($4::text[]))
       WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 AND d.lease_until < $1
         AND NOT EXISTS (SELECT 1 FROM alert_deliveries e WHERE e.webhook_id = d.webhook_id AND e.alert_id = d.alert_id AND e.seq < d.seq AND e.status = 'pending')
       ORDER BY d.next_attempt_ms, d.alert_id, d.seq LIMIT $2 FOR UPDATE OF d SKIP LOCKED)
     UPDATE alert_deliveries d SET lease_until = $3 FROM due, alert_webhooks w, alert_states s
     WHERE d.webhook_id = due.webhook_id AND d.alert_id = due.alert_id AND d.seq = due.seq AND w.id = d.webhook_id
       AND s.alert_id = d.alert_id AND s.seq = d.seq
     RETURNING d.webhook_id, d.attempts, d.created_ms, w.url, w.secret, w.subscriber_id, ${stateCols('s')}`,
      [nowMs, o.batch ?? 100, nowMs + (o.leaseMs ?? 30_000), refused.subscribers],
    )
  ).rows;
  if (!claimed.length) return 0;
  claimed.sort((a, b) => a.alert_id.localeCompare(b.alert_id) || a.seq - b.seq);
  interface Outcome {
    c: Claimed;
    attempt: number;
    atMs: number;
    status: number | null;
    error: string | null;
    ms: number;
    result: 'delivered' | 'pending' | 'expired' | 'released';
    nextMs: number;
  }
  const outcomes: Outcome[] = [];
  // Per webhook, one at a time (an alert's states in order); webhooks in parallel.
  const perHook = new Map<string, Claimed[]>();
  for (const c of claimed)
    (perHook.get(c.webhook_id) ?? perHook.set(c.webhook_id, []).get(c.webhook_id)!).push(c);
  await Promise.all(
    [...perHook.values()].map(async (list) => {
      let failed = false;
      for (const c of list) {
        // After a failure the webhook's other states wait for the next round (their own schedule, untouched).
        if (failed) {
          outcomes.push({
            c,
            attempt: c.attempts,
            atMs: 0,
            status: null,
            error: null,
            ms: 0,
            result: 'released',
            nextMs: 0,
          });
          continue;
        }
        const key = `${c.alert_id}:${c.seq}`;
        const t0 = Date.now();
        const body = webhookBody(eventOfRow(c), t0);
        let status: number | null = null;
        let error: string | null = null;
        try {
          const res = await fetch(c.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [SIGNATURE_HEADER]: signatureHeader(c.secret, body, t0),
              [EVENT_ID_HEADER]: key,
              [IDEMPOTENCY_HEADER]: key,
              'user-agent': 'coalflow-alerts/1',
            },
            body,
            signal: AbortSignal.timeout(timeout),
          });
          status = res.status;
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) error = `HTTP ${res.status}`;
        } catch (err) {
          error = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
        }
        const now = Date.now();
        const attempt = c.attempts + 1;
        if (error) failed = true;
        const result = !error ? 'delivered' : now - Number(c.created_ms) >= maxAge ? 'expired' : 'pending';
        outcomes.push({
          c,
          attempt,
          atMs: t0,
          status,
          error,
          ms: now - t0,
          result,
          nextMs: now + backoffMs(attempt, initial, maxBackoff),
        });
      }
    }),
  );

  const tried = outcomes.filter((x) => x.result !== 'released');
  // Consecutive failures per webhook: reset by a success, then the failures after the last one.
  const fails = new Map<string, { reset: boolean; add: number }>();
  for (const x of tried) {
    const f = fails.get(x.c.webhook_id) ?? { reset: false, add: 0 };
    if (x.result === 'delivered') {
      f.reset = true;
      f.add = 0;
    } else f.add++;
    fails.set(x.c.webhook_id, f);
  }
  const col = <T>(fn: (x: Outcome) => T) => outcomes.map(fn);
  const hooks = (
    await db.query<{ id: string; consecutive_failures: number; enabled: boolean; subscriber_id: string }>(
      `WITH o AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bigint[], $6::int[], $7::text[], $8::int[], $9::text[], $10::bigint[])
                  AS o(webhook_id, alert_id, seq, attempt, at_ms, http_status, error, duration_ms, result, next_ms)),
     logged AS (INSERT INTO alert_delivery_log (webhook_id, alert_id, seq, attempt, at_ms, http_status, error, duration_ms)
                SELECT webhook_id, alert_id, seq, attempt, at_ms, http_status, error, duration_ms FROM o WHERE result <> 'released'),
     moved AS (UPDATE alert_deliveries d SET
                 status = CASE WHEN o.result = 'released' THEN d.status ELSE o.result END,
                 attempts = o.attempt,
                 next_attempt_ms = CASE WHEN o.result = 'pending' THEN o.next_ms ELSE d.next_attempt_ms END,
                 last_status = CASE WHEN o.result = 'released' THEN d.last_status ELSE o.http_status END,
                 last_error = CASE WHEN o.result = 'released' THEN d.last_error ELSE o.error END,
                 delivered_ms = CASE WHEN o.result = 'delivered' THEN o.at_ms + o.duration_ms ELSE d.delivered_ms END,
                 lease_until = 0
               FROM o WHERE d.webhook_id = o.webhook_id AND d.alert_id = o.alert_id AND d.seq = o.seq)
     UPDATE alert_webhooks w SET consecutive_failures = CASE WHEN f.reset THEN 0 ELSE w.consecutive_failures END + f.add
     FROM unnest($11::text[], $12::boolean[], $13::int[]) AS f(id, reset, add) WHERE w.id = f.id
     RETURNING w.id, w.consecutive_failures, w.enabled, w.subscriber_id`,
      [
        col((x) => x.c.webhook_id),
        col((x) => x.c.alert_id),
        col((x) => x.c.seq),
        col((x) => x.attempt),
        col((x) => x.atMs),
        col((x) => x.status),
        col((x) => x.error),
        col((x) => x.ms),
        col((x) => x.result),
        col((x) => x.nextMs),
        [...fails.keys()],
        [...fails.values()].map((f) => f.reset),
        [...fails.values()].map((f) => f.add),
      ],
    )
  ).rows;

  for (const x of tried.filter((t) => t.result === 'expired')) {
    const key = `${x.c.alert_id}:${x.c.seq}`;
    await db.query(
      `INSERT INTO alert_notices (kind, webhook_id, subscriber_id, message) VALUES ('delivery_expired', $1, $2, $3)`,
      [
        x.c.webhook_id,
        x.c.subscriber_id,
        `预警 ${key} 在 ${Math.round(maxAge / 3600_000)} 小时内未能送达，已放弃 / alert state ${key} not delivered within ${Math.round(maxAge / 3600_000)} h: given up`,
      ],
    );
    log.warn({ webhook: x.c.webhook_id, alert: key }, 'alert delivery expired');
  }
  for (const h of hooks) {
    if (!h.enabled || h.consecutive_failures < maxFail) continue;
    const last = tried.filter((t) => t.c.webhook_id === h.id).at(-1)?.error ?? '';
    const r = await db.query(
      `UPDATE alert_webhooks SET enabled = false, disabled_at = now(), disabled_reason = $2 WHERE id = $1 AND enabled`,
      [h.id, `${h.consecutive_failures} consecutive failures, last: ${last}`],
    );
    if (!r.rowCount) continue;
    await db.query(
      `INSERT INTO alert_notices (kind, webhook_id, subscriber_id, message) VALUES ('webhook_disabled', $1, $2, $3)`,
      [
        h.id,
        h.subscriber_id,
        `订阅方 ${h.subscriber_id} 的 webhook ${h.id} 连续失败 ${h.consecutive_failures} 次，已停用（最后错误：${last}）/ webhook ${h.id} of subscriber ${h.subscriber_id} disabled after ${h.consecutive_failures} consecutive failures (last: ${last})`,
      ],
    );
    log.warn(
      { webhook: h.id, subscriber: h.subscriber_id, failures: h.consecutive_failures },
      'webhook disabled after consecutive failures',
    );
  }
  return tried.length;
}
