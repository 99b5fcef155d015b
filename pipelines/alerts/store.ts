/**
 * Alert storage: rule state per entity, alert states (hypertable), the current
 * alerts, webhook deliveries, acknowledgements and thresholds. Everything a
 * batch of indicator updates causes is written in one transaction, so the
 * offsets committed after it never get ahead of the alerts.
 */
import type pg from 'pg';
import { audienceSees, type Audience } from './audience.ts';
import { emptyState, evaluate, staleCheck, type AlertEvent, type EntityState, type EvaluateOptions, type RuleParams } from './rules.ts';
import type { IndicatorUpdateMessage } from '../indicators/contract.ts';

type Q = Pick<pg.PoolClient, 'query'>;

export interface StoredAlertEvent extends AlertEvent { region: string | null }

async function tx<T>(db: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await db.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

/** Region of each mine (for audiences granted by region). */
async function regionsOf(c: Q, events: AlertEvent[]): Promise<Map<string, string>> {
  const mines = [...new Set(events.filter((e) => e.scope === 'mine').map((e) => e.scopeId))];
  if (!mines.length) return new Map();
  const r = await c.query<{ mine_id: string; region_code: string }>('SELECT mine_id, region_code FROM ind_mine_dim WHERE mine_id = ANY($1::text[])', [mines]);
  return new Map(r.rows.map((x) => [x.mine_id, x.region_code]));
}

/**
 * Stores alert states (new ones only: a replayed state is a conflict and does
 * nothing), moves the current alert row forward, and queues a delivery to every
 * enabled webhook whose audience sees the alert. Returns the new states.
 */
export async function storeEvents(c: Q, events: AlertEvent[], nowMs: number): Promise<StoredAlertEvent[]> {
  if (!events.length) return [];
  const regions = await regionsOf(c, events);
  const hooks = (await c.query<{ id: string; subscriber_id: string; audience: Omit<Audience, 'subscriberId'> }>('SELECT id, subscriber_id, audience FROM alert_webhooks WHERE enabled')).rows;
  const out: StoredAlertEvent[] = [];
  for (const e of events) {
    const region = e.scope === 'region' ? e.scopeId : e.scope === 'mine' ? regions.get(e.scopeId) ?? null : null;
    const ins = await c.query(
      `INSERT INTO alert_states (alert_id, seq, kind, rule, family, scope, scope_id, metric, region, severity, started_at, at, title, evidence, created_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11::float8 / 1000), to_timestamp($12::float8 / 1000), $13, $14, $15)
       ON CONFLICT DO NOTHING`,
      [e.alertId, e.seq, e.kind, e.rule, e.family, e.scope, e.scopeId, e.metric, region, e.severity, e.startedMs, e.atMs, e.title, JSON.stringify(e.evidence), nowMs],
    );
    if (!ins.rowCount) continue;
    await c.query(
      `INSERT INTO alerts (id, rule, family, scope, scope_id, metric, region, severity, active, seq, title, evidence, started_at, updated_at, ended_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, to_timestamp($13::float8 / 1000), to_timestamp($14::float8 / 1000), $15)
       ON CONFLICT (id) DO UPDATE SET severity = EXCLUDED.severity, active = EXCLUDED.active, seq = EXCLUDED.seq, title = EXCLUDED.title,
         evidence = EXCLUDED.evidence, updated_at = EXCLUDED.updated_at, ended_at = EXCLUDED.ended_at
       WHERE alerts.seq < EXCLUDED.seq`,
      [e.alertId, e.rule, e.family, e.scope, e.scopeId, e.metric, region, e.severity, e.kind !== 'end', e.seq, e.title, JSON.stringify(e.evidence),
        e.startedMs, e.atMs, e.kind === 'end' ? new Date(e.atMs) : null],
    );
    const to = hooks.filter((h) => audienceSees(h.audience, { scope: e.scope, scopeId: e.scopeId, region })).map((h) => h.id);
    if (to.length) {
      await c.query(
        `INSERT INTO alert_deliveries (webhook_id, alert_id, seq, created_ms, next_attempt_ms)
         SELECT w, $2, $3, $4, $4 FROM unnest($1::text[]) AS w ON CONFLICT DO NOTHING`,
        [to, e.alertId, e.seq, nowMs],
      );
    }
    out.push({ ...e, region });
  }
  return out;
}

async function loadStates(c: Q, keys: string[]): Promise<Map<string, EntityState>> {
  const r = await c.query<{ key: string; state: EntityState }>('SELECT key, state FROM alert_rule_state WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE', [keys]);
  return new Map(r.rows.map((x) => [x.key, x.state]));
}

async function saveStates(c: Q, states: Map<string, EntityState>): Promise<void> {
  if (!states.size) return;
  const keys = [...states.keys()];
  await c.query(
    `INSERT INTO alert_rule_state (key, state, last_seen_ms)
     SELECT k, s, l FROM unnest($1::text[], $2::jsonb[], $3::bigint[]) AS t(k, s, l)
     ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, last_seen_ms = EXCLUDED.last_seen_ms`,
    [keys, keys.map((k) => JSON.stringify(states.get(k))), keys.map((k) => states.get(k)!.lastSeenMs)],
  );
}

/** Folds a batch of indicator updates (in topic order) into the rule states and stores what they raise. */
export async function applyUpdates(db: pg.Pool, msgs: { key: string; value: IndicatorUpdateMessage }[], opts: EvaluateOptions, nowMs = Date.now()): Promise<StoredAlertEvent[]> {
  if (!msgs.length) return [];
  return tx(db, async (c) => {
    const keys = [...new Set(msgs.map((m) => m.key))].sort();
    const held = await loadStates(c, keys);
    const states = new Map<string, EntityState>();
    const events: AlertEvent[] = [];
    for (const m of msgs) {
      const r = evaluate(m.value, states.get(m.key) ?? held.get(m.key) ?? emptyState(), opts);
      states.set(m.key, r.state);
      events.push(...r.events);
    }
    await saveStates(c, states);
    return storeEvents(c, events, nowMs);
  });
}

/** The clock-driven rule over every entity silent for longer than the shortest cadence. */
export async function checkStale(db: pg.Pool, nowMs: number, cadences: Readonly<Record<string, number>>): Promise<StoredAlertEvent[]> {
  const min = Math.min(...Object.values(cadences));
  if (!Number.isFinite(min)) return [];
  const cand = await db.query<{ key: string }>(
    `SELECT key FROM alert_rule_state WHERE last_seen_ms < $1 AND NOT (state->'active' ? 'stale_feed|*') ORDER BY key LIMIT 1000`, [nowMs - min]);
  const keys = cand.rows.map((r) => r.key).filter((k) => cadences[k.split('|').slice(0, 2).join('|')] !== undefined);
  if (!keys.length) return [];
  return tx(db, async (c) => {
    const held = await loadStates(c, keys);
    const states = new Map<string, EntityState>();
    const events: AlertEvent[] = [];
    for (const [key, s] of held) {
      const r = staleCheck(key, s, nowMs, cadences);
      if (r.events.length) { states.set(key, r.state); events.push(...r.events); }
    }
    await saveStates(c, states);
    return storeEvents(c, events, nowMs);
  });
}

/** Subscriber thresholds as a lookup for the rules. */
export async function loadThresholds(db: Q): Promise<Map<string, Partial<RuleParams>>> {
  const r = await db.query<{ rule: string; scope: string; scope_id: string; params: Partial<RuleParams> }>('SELECT rule, scope, scope_id, params FROM alert_thresholds');
  return new Map(r.rows.map((x) => [`${x.rule}|${x.scope}|${x.scope_id}`, x.params]));
}

export interface AlertRow {
  id: string; rule: string; family: string; scope: string; scopeId: string; metric: string; region: string | null;
  severity: string; active: boolean; seq: number; title: string; evidence: unknown; startedAt: string; updatedAt: string; endedAt: string | null;
  acked?: boolean;
}

const ALERT_COLS = `id, rule, family, scope, scope_id AS "scopeId", metric, region, severity, active, seq, title, evidence,
  started_at AS "startedAt", updated_at AS "updatedAt", ended_at AS "endedAt"`;

export async function listAlerts(db: Q, q: { active?: boolean | null; fromMs?: number | null; toMs?: number | null; subscriberId?: string | null; limit?: number }): Promise<AlertRow[]> {
  const r = await db.query<AlertRow & { acked: boolean }>(
    `SELECT ${ALERT_COLS}, EXISTS (SELECT 1 FROM alert_acks k WHERE k.alert_id = a.id AND k.subscriber_id = $4) AS acked
     FROM alerts a
     WHERE ($1::boolean IS NULL OR active = $1)
       AND ($2::float8 IS NULL OR COALESCE(ended_at, 'infinity') >= to_timestamp($2::float8 / 1000))
       AND ($3::float8 IS NULL OR started_at < to_timestamp($3::float8 / 1000))
     ORDER BY started_at DESC, id LIMIT $5`,
    [q.active ?? null, q.fromMs ?? null, q.toMs ?? null, q.subscriberId ?? '', q.limit ?? 1000],
  );
  return r.rows.map((x) => ({ ...x, startedAt: iso(x.startedAt), updatedAt: iso(x.updatedAt), endedAt: x.endedAt ? iso(x.endedAt) : null }));
}

export async function getAlert(db: Q, id: string): Promise<AlertRow | null> {
  const r = await db.query<AlertRow>(`SELECT ${ALERT_COLS} FROM alerts a WHERE id = $1`, [id]);
  const x = r.rows[0];
  return x ? { ...x, startedAt: iso(x.startedAt), updatedAt: iso(x.updatedAt), endedAt: x.endedAt ? iso(x.endedAt) : null } : null;
}

/** Idempotent: the first acknowledgement's time is kept. */
export async function ackAlert(db: Q, id: string, subscriberId: string): Promise<{ ackedAt: string }> {
  await db.query('INSERT INTO alert_acks (alert_id, subscriber_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [id, subscriberId]);
  const r = await db.query<{ acked_at: Date }>('SELECT acked_at FROM alert_acks WHERE alert_id = $1 AND subscriber_id = $2', [id, subscriberId]);
  return { ackedAt: iso(r.rows[0]!.acked_at) };
}

function iso(v: unknown): string {
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}
