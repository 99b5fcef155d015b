/**
 * Emergency stop (立即中止数据处理行为, 暂时关闭使用权限): closes all outside access of one subscriber, one product or
 * everyone at once — API, live streams, webhooks, scheduled report delivery — while ingestion, indicators and
 * operator routes keep running. Append-only (`emergency_stops`, migration 018): a target's state is its latest row.
 */
import type pg from 'pg';
import { CoalflowError } from '../../infra/core/index.ts';
import type { Actor } from './lifecycle.ts';

export type StopKind = 'all' | 'subscriber' | 'product';

export interface StopEvent {
  id: string;
  at: string;
  action: 'stop' | 'resume';
  kind: StopKind;
  /** Subscriber id, product code, or '*' for all. */
  target: string;
  actor: string;
  subscriberId: string | null;
  reason: string;
}

/** Targets stopped now, with who stopped them, when and why. */
export interface EmergencyState {
  all: boolean;
  subscribers: string[];
  products: string[];
  stops: StopEvent[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a database row, typed by the event it becomes
function eventOf(x: Record<string, any>): StopEvent {
  return {
    id: String(x.id),
    at: new Date(x.at).toISOString(),
    action: x.action,
    kind: x.target_kind,
    target: x.target,
    actor: x.actor,
    subscriberId: x.subscriber_id ?? null,
    reason: x.reason,
  };
}

/** Current stops from rows `{kind, target, …}` of the latest event per target whose action is 'stop'. */
export function stateOf(stops: StopEvent[]): EmergencyState {
  return {
    all: stops.some((s) => s.kind === 'all'),
    subscribers: stops.filter((s) => s.kind === 'subscriber').map((s) => s.target),
    products: stops.filter((s) => s.kind === 'product').map((s) => s.target),
    stops,
  };
}

export const CURRENT_STOPS_SQL = `SELECT * FROM (SELECT DISTINCT ON (target_kind, target) id, at, action, target_kind, target, actor, subscriber_id, reason
  FROM emergency_stops ORDER BY target_kind, target, id DESC) s WHERE action = 'stop' ORDER BY id`;

export async function emergencyState(db: Pick<pg.Pool, 'query'>): Promise<EmergencyState> {
  return stateOf((await db.query(CURRENT_STOPS_SQL)).rows.map(eventOf));
}

/**
 * Stops or resumes one target. A change is recorded (who, when, why); asking for the state a target already has
 * records nothing and answers `changed: false`. Resuming `all` lifts the stop of everyone; stops of single
 * subscribers or products stay until resumed themselves.
 */
export async function setEmergency(
  db: Pick<pg.Pool, 'query'>,
  action: 'stop' | 'resume',
  kind: StopKind,
  target: string | null,
  who: Actor,
  reason: string,
): Promise<{ changed: boolean; event: StopEvent | null; state: EmergencyState }> {
  if (!reason?.trim())
    throw new CoalflowError(
      'INPUT_INVALID',
      '紧急停止/恢复须说明原因（reason）/ a stop or resume needs a reason',
    );
  const t = kind === 'all' ? '*' : (target ?? '').trim();
  if (!t)
    throw new CoalflowError(
      'INPUT_INVALID',
      `须指定${kind === 'subscriber' ? '订户' : '数据产品'} / a ${kind} is required`,
    );
  if (kind === 'subscriber' && action === 'stop') {
    const r = await db.query('SELECT kind FROM access_subscribers WHERE id = $1', [t]);
    if (!r.rowCount) throw new CoalflowError('NOT_FOUND', `订户 ${t} 不存在 / subscriber ${t} not found`);
  }
  if (kind === 'product' && action === 'stop') {
    const r = await db.query('SELECT 1 FROM access_products WHERE code = $1', [t]);
    if (!r.rowCount)
      throw new CoalflowError('NOT_FOUND', `数据产品 ${t} 未登记 / data product ${t} is not registered`);
  }
  const r = await db.query(
    `INSERT INTO emergency_stops (action, target_kind, target, actor, subscriber_id, reason)
     SELECT $1, $2, $3, $4, $5, $6
     WHERE COALESCE((SELECT action FROM emergency_stops WHERE target_kind = $2 AND target = $3 ORDER BY id DESC LIMIT 1), 'resume') <> $1
     RETURNING id, at, action, target_kind, target, actor, subscriber_id, reason`,
    [action, kind, t, who.actor, who.subscriberId ?? null, reason.trim()],
  );
  return {
    changed: (r.rowCount ?? 0) > 0,
    event: r.rows[0] ? eventOf(r.rows[0]) : null,
    state: await emergencyState(db),
  };
}

/** Stop and resume events in [from, to) (ISO times or dates; either may be left out), oldest first. */
export async function emergencyStops(
  db: Pick<pg.Pool, 'query'>,
  from?: string | null,
  to?: string | null,
): Promise<StopEvent[]> {
  const r = await db.query(
    `SELECT id, at, action, target_kind, target, actor, subscriber_id, reason FROM emergency_stops
     WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2) ORDER BY id`,
    [from || null, to || null],
  );
  return r.rows.map(eventOf);
}
