/**
 * Alert storage: rule state per entity, alert states (hypertable), the current
 * alerts, webhook deliveries, acknowledgements and thresholds. Everything a
 * batch of indicator updates causes is written in one transaction, so the
 * offsets committed after it never get ahead of the alerts.
 */
import type pg from 'pg';
import { audienceSees, type Audience } from './audience.ts';
import {
  emptyState,
  evaluate,
  forecastCheck,
  forecastTarget,
  staleCheck,
  WATCHED_SCOPES,
  type AlertEvent,
  type EntityState,
  type EvaluateOptions,
  type RuleParams,
} from './rules.ts';
import type { IndicatorUpdateMessage } from '../indicators/contract.ts';

type Q = Pick<pg.PoolClient, 'query'>;

export interface StoredAlertEvent extends AlertEvent {
  region: string | null;
}

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
  const r = await c.query<{ mine_id: string; region_code: string }>(
    'SELECT mine_id, region_code FROM ind_mine_dim WHERE mine_id = ANY($1::text[])',
    [mines],
  );
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
  const all = events.map((e) => ({
    ...e,
    region: e.scope === 'region' ? e.scopeId : e.scope === 'mine' ? (regions.get(e.scopeId) ?? null) : null,
  }));
  // One statement per table whatever the number of states (the embedded store is one session shared with the indicators).
  const ins = await c.query<{ alert_id: string; seq: number }>(
    `INSERT INTO alert_states (alert_id, seq, kind, rule, family, scope, scope_id, metric, region, severity, started_at, at, title, evidence, created_ms)
     SELECT a, q, k, r, f, s, i, m, g, v, to_timestamp(st / 1000), to_timestamp(t / 1000), ti, ev, $15
     FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::jsonb[])
       AS x(a, q, k, r, f, s, i, m, g, v, st, t, ti, ev)
     ON CONFLICT DO NOTHING RETURNING alert_id, seq`,
    [
      all.map((e) => e.alertId),
      all.map((e) => e.seq),
      all.map((e) => e.kind),
      all.map((e) => e.rule),
      all.map((e) => e.family),
      all.map((e) => e.scope),
      all.map((e) => e.scopeId),
      all.map((e) => e.metric),
      all.map((e) => e.region),
      all.map((e) => e.severity),
      all.map((e) => e.startedMs),
      all.map((e) => e.atMs),
      all.map((e) => e.title),
      all.map((e) => JSON.stringify(e.evidence)),
      nowMs,
    ],
  );
  const fresh = new Set(ins.rows.map((r) => `${r.alert_id}:${r.seq}`));
  const out = all.filter((e) => fresh.has(`${e.alertId}:${e.seq}`));
  if (!out.length) return [];
  // The current row of each alert: its newest state among the new ones.
  const last = new Map<string, StoredAlertEvent>();
  for (const e of out) if ((last.get(e.alertId)?.seq ?? 0) < e.seq) last.set(e.alertId, e);
  const cur = [...last.values()];
  await c.query(
    `INSERT INTO alerts (id, rule, family, scope, scope_id, metric, region, severity, active, seq, title, evidence, started_at, updated_at, ended_at)
     SELECT a, r, f, s, i, m, g, v, k <> 'end', q, ti, ev, to_timestamp(st / 1000), to_timestamp(t / 1000), CASE WHEN k = 'end' THEN to_timestamp(t / 1000) END
     FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::jsonb[])
       AS x(a, q, k, r, f, s, i, m, g, v, st, t, ti, ev)
     ON CONFLICT (id) DO UPDATE SET severity = EXCLUDED.severity, active = EXCLUDED.active, seq = EXCLUDED.seq, title = EXCLUDED.title,
       evidence = EXCLUDED.evidence, updated_at = EXCLUDED.updated_at, ended_at = EXCLUDED.ended_at
     WHERE alerts.seq < EXCLUDED.seq`,
    [
      cur.map((e) => e.alertId),
      cur.map((e) => e.seq),
      cur.map((e) => e.kind),
      cur.map((e) => e.rule),
      cur.map((e) => e.family),
      cur.map((e) => e.scope),
      cur.map((e) => e.scopeId),
      cur.map((e) => e.metric),
      cur.map((e) => e.region),
      cur.map((e) => e.severity),
      cur.map((e) => e.startedMs),
      cur.map((e) => e.atMs),
      cur.map((e) => e.title),
      cur.map((e) => JSON.stringify(e.evidence)),
    ],
  );
  const hooks = (
    await c.query<{ id: string; audience: Omit<Audience, 'subscriberId'> }>(
      'SELECT id, audience FROM alert_webhooks WHERE enabled',
    )
  ).rows;
  const d = { hook: [] as string[], id: [] as string[], seq: [] as number[] };
  for (const e of out) {
    for (const h of hooks) {
      if (!audienceSees(h.audience, e)) continue;
      d.hook.push(h.id);
      d.id.push(e.alertId);
      d.seq.push(e.seq);
    }
  }
  if (d.hook.length) {
    await c.query(
      `INSERT INTO alert_deliveries (webhook_id, alert_id, seq, created_ms, next_attempt_ms)
       SELECT w, a, q, $4, $4 FROM unnest($1::text[], $2::text[], $3::int[]) AS x(w, a, q) ON CONFLICT DO NOTHING`,
      [d.hook, d.id, d.seq, nowMs],
    );
  }
  return out;
}

interface Held {
  state: EntityState;
  rev: number;
}

async function loadStates(c: Q, keys: string[], lock = true): Promise<Map<string, Held>> {
  const r = await c.query<{ key: string; state: EntityState; rev: string }>(
    `SELECT key, state, rev::text FROM alert_rule_state WHERE key = ANY($1::text[]) ORDER BY key${lock ? ' FOR UPDATE' : ''}`,
    [keys],
  );
  return new Map(r.rows.map((x) => [x.key, { state: x.state, rev: Number(x.rev) }]));
}

async function saveStates(c: Q, states: Map<string, EntityState>): Promise<void> {
  if (!states.size) return;
  const keys = [...states.keys()];
  await c.query(
    `INSERT INTO alert_rule_state (key, state, last_seen_ms)
     SELECT k, s, l FROM unnest($1::text[], $2::jsonb[], $3::bigint[]) AS t(k, s, l)
     ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, last_seen_ms = EXCLUDED.last_seen_ms, rev = alert_rule_state.rev + 1`,
    [keys, keys.map((k) => JSON.stringify(states.get(k))), keys.map((k) => states.get(k)!.lastSeenMs)],
  );
}

/** Arrival times closer than this to the stored one are not written (the stale-feed rule counts in hours). */
const LAST_SEEN_STEP_MS = 60_000;

/**
 * Folds a batch of indicator updates (in topic order) into the rule states and stores what they raise.
 * Updates of entities no rule watches (and no stale-feed cadence covers) are passed over; a state that only
 * saw a newer arrival time is written at most once a minute.
 */
export async function applyUpdates(
  db: pg.Pool,
  msgs: { key: string; value: IndicatorUpdateMessage }[],
  opts: EvaluateOptions & { cadences?: Readonly<Record<string, number>> },
  nowMs = Date.now(),
): Promise<StoredAlertEvent[]> {
  const watched = (m: IndicatorUpdateMessage) =>
    WATCHED_SCOPES.has(`${m.family}|${m.scope}`) || opts.cadences?.[`${m.family}|${m.scope}`] !== undefined;
  const mine = msgs.filter((m) => watched(m.value));
  if (!mine.length) return [];
  const keys = [...new Set(mine.map((m) => m.key))].sort();
  const fold = (held: Map<string, Held>) => {
    const states = new Map<string, EntityState>();
    const dirty = new Set<string>();
    const events: AlertEvent[] = [];
    for (const m of mine) {
      const before = held.get(m.key)?.state;
      const r = evaluate(m.value, states.get(m.key) ?? before ?? emptyState(), opts);
      states.set(m.key, r.state);
      if (r.changed || !before || (r.state.lastSeenMs ?? 0) - (before.lastSeenMs ?? 0) >= LAST_SEEN_STEP_MS)
        dirty.add(m.key);
      events.push(...r.events);
    }
    return { states: new Map([...dirty].map((k) => [k, states.get(k)!])), events };
  };
  // The rules run outside the transaction (the embedded store is one session: holding it while JavaScript
  // works would stall everyone); inside, the states are locked and checked unchanged, else folded again.
  const read = await loadStates(db, keys, false);
  let out = fold(read);
  return tx(db, async (c) => {
    const held = await loadStates(c, keys);
    const moved = keys.some((k) => held.get(k)?.rev !== read.get(k)?.rev);
    if (moved) out = fold(held);
    await saveStates(c, out.states);
    return storeEvents(c, out.events, nowMs);
  });
}

/** The clock-driven rule over every entity silent for longer than the shortest cadence. */
export async function checkStale(
  db: pg.Pool,
  nowMs: number,
  cadences: Readonly<Record<string, number>>,
): Promise<StoredAlertEvent[]> {
  const min = Math.min(...Object.values(cadences));
  if (!Number.isFinite(min)) return [];
  const cand = await db.query<{ key: string }>(
    `SELECT key FROM alert_rule_state WHERE last_seen_ms < $1 AND NOT (state->'active' ? 'stale_feed|*') ORDER BY key LIMIT 1000`,
    [nowMs - min],
  );
  const keys = cand.rows
    .map((r) => r.key)
    .filter((k) => cadences[k.split('|').slice(0, 2).join('|')] !== undefined);
  if (!keys.length) return [];
  return tx(db, async (c) => {
    const held = await loadStates(c, keys);
    const states = new Map<string, EntityState>();
    const events: AlertEvent[] = [];
    for (const [key, { state: s }] of held) {
      const r = staleCheck(key, s, nowMs, cadences);
      if (r.events.length) {
        states.set(key, r.state);
        events.push(...r.events);
      }
    }
    await saveStates(c, states);
    return storeEvents(c, events, nowMs);
  });
}

const cstDay = (d: string) => Date.parse(`${d.slice(0, 10)}T00:00:00+08:00`);

/**
 * Forecast-based early warning over the newest daily forecast of each watched series (price VWAP, plant stock),
 * for the versions not checked yet (`checked`: series key → model version id, kept by the caller).
 */
export async function checkForecasts(
  db: pg.Pool,
  opts: EvaluateOptions,
  checked: Map<string, number>,
  nowMs = Date.now(),
): Promise<StoredAlertEvent[]> {
  const v = await db.query<{ id: string; series_key: string; trained_to: string }>(
    `SELECT DISTINCT ON (series_key) id::text, series_key, trained_to::text FROM model_versions
     WHERE frequency = 'day' AND (series_key LIKE 'price_vwap:%' OR series_key LIKE 'user_stock:user:%')
     ORDER BY series_key, version DESC`,
  );
  const todo = v.rows.filter(
    (r) => forecastTarget(r.series_key) && checked.get(r.series_key) !== Number(r.id),
  );
  if (!todo.length) return [];
  const pts = await db.query<{ id: string; d: string; value: number; lo80: number; hi80: number }>(
    `SELECT model_version_id::text AS id, target_date::text AS d, value, lo80, hi80 FROM forecasts WHERE model_version_id = ANY($1::bigint[]) ORDER BY target_date`,
    [todo.map((r) => r.id)],
  );
  const byId = new Map<string, { targetMs: number; value: number; lo80: number; hi80: number }[]>();
  for (const p of pts.rows)
    (byId.get(p.id) ?? byId.set(p.id, []).get(p.id)!).push({
      targetMs: cstDay(p.d),
      value: Number(p.value),
      lo80: Number(p.lo80),
      hi80: Number(p.hi80),
    });
  const out = await tx(db, async (c) => {
    const keys = [...new Set(todo.map((r) => forecastTarget(r.series_key)!.key))].sort();
    const held = await loadStates(c, keys);
    const states = new Map<string, EntityState>();
    const events: AlertEvent[] = [];
    for (const r of todo) {
      const key = forecastTarget(r.series_key)!.key;
      const before = states.get(key) ?? held.get(key)?.state;
      if (!before) continue;
      const res = forecastCheck(
        { seriesKey: r.series_key, trainedToMs: cstDay(r.trained_to), points: byId.get(r.id) ?? [] },
        before,
        opts,
      );
      if (res.events.length) {
        states.set(key, res.state);
        events.push(...res.events);
      }
    }
    await saveStates(c, states);
    return storeEvents(c, events, nowMs);
  });
  for (const r of todo) checked.set(r.series_key, Number(r.id));
  return out;
}

/** Subscriber thresholds as a lookup for the rules. */
export async function loadThresholds(db: Q): Promise<Map<string, Partial<RuleParams>>> {
  const r = await db.query<{ rule: string; scope: string; scope_id: string; params: Partial<RuleParams> }>(
    'SELECT rule, scope, scope_id, params FROM alert_thresholds',
  );
  return new Map(r.rows.map((x) => [`${x.rule}|${x.scope}|${x.scope_id}`, x.params]));
}

export interface AlertRow {
  id: string;
  rule: string;
  family: string;
  scope: string;
  scopeId: string;
  metric: string;
  region: string | null;
  severity: string;
  active: boolean;
  seq: number;
  title: string;
  evidence: unknown;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  acked?: boolean;
}

const ALERT_COLS = `id, rule, family, scope, scope_id AS "scopeId", metric, region, severity, active, seq, title, evidence,
  started_at AS "startedAt", updated_at AS "updatedAt", ended_at AS "endedAt"`;

export async function listAlerts(
  db: Q,
  q: {
    active?: boolean | null;
    fromMs?: number | null;
    toMs?: number | null;
    subscriberId?: string | null;
    limit?: number;
  },
): Promise<AlertRow[]> {
  const r = await db.query<AlertRow & { acked: boolean }>(
    `SELECT ${ALERT_COLS}, EXISTS (SELECT 1 FROM alert_acks k WHERE k.alert_id = a.id AND k.subscriber_id = $4) AS acked
     FROM alerts a
     WHERE ($1::boolean IS NULL OR active = $1)
       AND ($2::float8 IS NULL OR COALESCE(ended_at, 'infinity') >= to_timestamp($2::float8 / 1000))
       AND ($3::float8 IS NULL OR started_at < to_timestamp($3::float8 / 1000))
     ORDER BY started_at DESC, id LIMIT $5`,
    [q.active ?? null, q.fromMs ?? null, q.toMs ?? null, q.subscriberId ?? '', q.limit ?? 1000],
  );
  return r.rows.map((x) => ({
    ...x,
    startedAt: iso(x.startedAt),
    updatedAt: iso(x.updatedAt),
    endedAt: x.endedAt ? iso(x.endedAt) : null,
  }));
}

export async function getAlert(db: Q, id: string): Promise<AlertRow | null> {
  const r = await db.query<AlertRow>(`SELECT ${ALERT_COLS} FROM alerts a WHERE id = $1`, [id]);
  const x = r.rows[0];
  return x
    ? {
        ...x,
        startedAt: iso(x.startedAt),
        updatedAt: iso(x.updatedAt),
        endedAt: x.endedAt ? iso(x.endedAt) : null,
      }
    : null;
}

/** Idempotent: the first acknowledgement's time is kept. */
export async function ackAlert(db: Q, id: string, subscriberId: string): Promise<{ ackedAt: string }> {
  await db.query('INSERT INTO alert_acks (alert_id, subscriber_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    id,
    subscriberId,
  ]);
  const r = await db.query<{ acked_at: Date }>(
    'SELECT acked_at FROM alert_acks WHERE alert_id = $1 AND subscriber_id = $2',
    [id, subscriberId],
  );
  return { ackedAt: iso(r.rows[0]!.acked_at) };
}

function iso(v: unknown): string {
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}
