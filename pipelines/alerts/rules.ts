/**
 * Market-risk rules, pure: `evaluate(update, state, opts) => { events, state }`.
 *
 * The state is per entity (the `coal.indicators` key `family|scope|id`): the
 * day series the rules watch (value and snapshot version per day) and the
 * alerts open on it. Rules are evaluated in event time, at the latest day of a
 * series whenever an update changes that series; a point whose version is not
 * newer than the one held is ignored, so a redelivered or replayed message
 * changes nothing. Alert ids are a hash of (rule, series, start day): replaying
 * the topic gives the same ids, and two workers can only write the same rows.
 * Only the stale-feed rule looks at a clock (`staleCheck`).
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../infra/core/index.ts';
import type { IndicatorUpdateMessage } from '../indicators/contract.ts';

export type Severity = 'warning' | 'critical';
export type AlertKind = 'open' | 'update' | 'end';

export type RuleId =
  | 'price_fall'
  | 'price_rise'
  | 'oversupply'
  | 'stock_build'
  | 'days_of_stock_low'
  | 'rail_approval_low'
  | 'vessel_queue_spike'
  | 'route_capacity_low'
  | 'stale_feed'
  | 'forecast_breach';

/** How a rule turns a day series into one number. */
export type Measure =
  /** % change of the value over `days` (from the last value at or before t − days). */
  | 'change'
  /** The value itself. */
  | 'level'
  /** Consecutive days (ending at t) with a value above 0. */
  | 'streak'
  /** The value ÷ the mean of the previous `days` days. */
  | 'spike';

export interface RuleParams {
  /** Threshold of a warning, in the measure's unit (%, days, ratio …). */
  warning: number;
  /** Threshold of a critical alert; null: the rule has warnings only. */
  critical: number | null;
  /** Days the measure looks back (change, spike); for `streak` the thresholds are days already. */
  days: number;
  /** How far past a threshold (back towards calm) the measure must go before the severity drops: no flapping. */
  hysteresis: number;
  /** Spike: the value must be at least this large (tiny queues are not spikes). */
  minValue?: number;
}

export interface RuleDef {
  id: RuleId;
  zh: string;
  en: string;
  measure: Measure;
  /** 'above': the alert is on when the measure is at or above the threshold; 'below': at or below. */
  direction: 'above' | 'below';
  /** Series it watches: family, scopes, metric (day window). */
  series: readonly { family: string; scopes: readonly string[]; metric: string }[];
  defaults: RuleParams;
}

const PRICE_SERIES = [
  { family: 'price', scopes: ['coal_type', 'band', 'region', 'city'], metric: 'vwap_yuan_per_t' },
  { family: 'price', scopes: ['mine', 'coal_type', 'band', 'city'], metric: 'pithead_quote_yuan_per_t' },
  { family: 'price', scopes: ['port', 'coal_type', 'band'], metric: 'port_fob_yuan_per_t' },
  { family: 'price', scopes: ['city'], metric: 'pithead_index' },
] as const;

/** The rule catalogue and each rule's default thresholds (overridable per rule, and per entity by its subscriber). */
export const RULES: readonly RuleDef[] = [
  {
    id: 'price_fall',
    zh: '价格大幅下跌',
    en: 'sharp price fall',
    measure: 'change',
    direction: 'below',
    series: PRICE_SERIES,
    defaults: { warning: -10, critical: -20, days: 7, hysteresis: 3 },
  },
  {
    id: 'price_rise',
    zh: '价格大幅上涨',
    en: 'sharp price rise',
    measure: 'change',
    direction: 'above',
    series: PRICE_SERIES,
    defaults: { warning: 10, critical: 20, days: 7, hysteresis: 3 },
  },
  {
    id: 'oversupply',
    zh: '供过于求',
    en: 'oversupply',
    measure: 'streak',
    direction: 'above',
    series: [{ family: 'balance', scopes: ['city'], metric: 'net_t' }],
    defaults: { warning: 3, critical: 7, days: 7, hysteresis: 2 },
  },
  {
    id: 'stock_build',
    zh: '库存快速累积',
    en: 'stocks building',
    measure: 'change',
    direction: 'above',
    series: [
      { family: 'inventory', scopes: ['mine'], metric: 'mine_stock_t' },
      { family: 'inventory', scopes: ['region', 'city'], metric: 'mine_stock_total_t' },
      { family: 'inventory', scopes: ['port'], metric: 'port_stock_t' },
    ],
    defaults: { warning: 20, critical: 40, days: 7, hysteresis: 5 },
  },
  {
    id: 'days_of_stock_low',
    zh: '可用天数偏低',
    en: 'days of stock low',
    measure: 'level',
    direction: 'below',
    series: [{ family: 'days_of_stock', scopes: ['user', 'sector', 'city'], metric: 'days' }],
    defaults: { warning: 7, critical: 3, days: 1, hysteresis: 1 },
  },
  {
    id: 'rail_approval_low',
    zh: '铁路批车率偏低',
    en: 'rail approval ratio low',
    measure: 'level',
    direction: 'below',
    series: [{ family: 'transport', scopes: ['route', 'route_dir', 'city'], metric: 'approval_ratio_pct' }],
    defaults: { warning: 60, critical: 40, days: 1, hysteresis: 5 },
  },
  {
    id: 'vessel_queue_spike',
    zh: '船舶待港激增',
    en: 'vessel queue spike',
    measure: 'spike',
    direction: 'above',
    series: [{ family: 'transport', scopes: ['port'], metric: 'vessels_waiting' }],
    defaults: { warning: 1.5, critical: 2, days: 7, hysteresis: 0.2, minValue: 5 },
  },
  {
    id: 'route_capacity_low',
    zh: '线路发运远低于运力',
    en: 'route shipments far below capacity',
    measure: 'level',
    direction: 'below',
    series: [{ family: 'transport', scopes: ['route', 'route_dir'], metric: 'route_capacity_use_pct' }],
    defaults: { warning: 50, critical: 30, days: 1, hysteresis: 5 },
  },
];

export const RULE_IDS: readonly RuleId[] = [...RULES.map((r) => r.id), 'stale_feed', 'forecast_breach'];

/** `family|scope` pairs some rule watches. */
export const WATCHED_SCOPES: ReadonlySet<string> = new Set(
  RULES.flatMap((r) => r.series.flatMap((x) => x.scopes.map((sc) => `${x.family}|${sc}`))),
);

export function ruleDef(id: string): RuleDef | undefined {
  return RULES.find((r) => r.id === id);
}

/** Threshold overrides: per rule (operator config) and per entity (a subscriber's own thresholds). */
export type ThresholdLookup = (
  rule: RuleId,
  scope: string,
  scopeId: string,
) => Partial<RuleParams> | undefined;

export interface AlertEvidence {
  /** Series key `family:scope:id:metric:day`. */
  series: string;
  /** The days the measure was computed from (ISO-8601 starts). */
  window: { from: string; to: string };
  values: { t: string; v: number | null }[];
  measure: number;
  threshold: number;
  params: RuleParams;
}

/** One state of an alert: its opening, a change of severity or evidence, or its end. */
export interface AlertEvent {
  alertId: string;
  /** 1 = open, then +1 per update; the delivery idempotency key is `alertId:seq`. */
  seq: number;
  kind: AlertKind;
  rule: RuleId;
  family: string;
  scope: string;
  scopeId: string;
  metric: string;
  severity: Severity;
  /** Event time the alert started (ms). */
  startedMs: number;
  /** Event time of this state (ms). */
  atMs: number;
  title: string;
  evidence: AlertEvidence;
}

interface ActiveAlert {
  id: string;
  seq: number;
  severity: Severity;
  startedMs: number;
  rule: RuleId;
  metric: string;
}

/** Per-entity state (JSON: stored as is). */
export interface EntityState {
  /** metric → day start (ms, as a string key) → [value, version]. */
  series: Record<string, Record<string, [number | null, number]>>;
  /** `rule|metric` → the open alert. */
  active: Record<string, ActiveAlert>;
  /** `rule|metric` → [start day, alerts started that day]: an alert re-opened the day another ended gets its own id. */
  opened?: Record<string, [number, number]>;
  /** Arrival time (computedAt, ms) of the entity's last update: for the stale-feed rule. */
  lastSeenMs: number | null;
}

export const emptyState = (): EntityState => ({ series: {}, active: {}, lastSeenMs: null });

const DAY_MS = 86_400_000;
/** Days of history kept per series: the longest look-back plus slack for gaps. */
export const KEEP_DAYS = 45;

export function alertId(
  rule: string,
  family: string,
  scope: string,
  scopeId: string,
  metric: string,
  startedMs: number,
  nth = 1,
): string {
  return createHash('sha256')
    .update(`${rule}|${family}|${scope}|${scopeId}|${metric}|${startedMs}${nth > 1 ? `|${nth}` : ''}`)
    .digest('hex')
    .slice(0, 32);
}

export function paramsOf(
  def: RuleDef,
  scope: string,
  scopeId: string,
  lookup?: ThresholdLookup,
  perRule?: Partial<Record<RuleId, Partial<RuleParams>>>,
): RuleParams {
  return { ...def.defaults, ...perRule?.[def.id], ...lookup?.(def.id, scope, scopeId) };
}

/** The severity a measure earns, given the current one (hysteresis: leaving a level needs the margin). */
export function severityOf(
  m: number,
  dir: 'above' | 'below',
  p: RuleParams,
  current: Severity | null,
): Severity | null {
  const past = (x: number, t: number) => (dir === 'above' ? x >= t : x <= t);
  // Back towards calm by the margin: `above` rules must fall below t − h, `below` rules rise above t + h.
  const clear = (x: number, t: number) => (dir === 'above' ? x < t - p.hysteresis : x > t + p.hysteresis);
  const crit = p.critical;
  if (crit !== null && past(m, crit)) return 'critical';
  if (current === 'critical' && crit !== null && !clear(m, crit)) return 'critical';
  if (past(m, p.warning)) return 'warning';
  if (current && !clear(m, p.warning)) return 'warning';
  return null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The measure at day `t` of a series, or null when the series does not have what it needs. */
export function measureAt(
  def: RuleDef,
  series: Record<string, [number | null, number]>,
  t: number,
  p: RuleParams,
): { m: number; from: number; values: { t: number; v: number | null }[] } | null {
  const v = (d: number) => series[String(d)]?.[0] ?? null;
  const cur = v(t);
  if (cur === null) return null;
  switch (def.measure) {
    case 'level':
      return { m: cur, from: t, values: [{ t, v: cur }] };
    case 'change': {
      // The last value at or before t − days, within a few days of it (a gap in reports is not a change).
      for (let d = t - p.days * DAY_MS; d >= t - (p.days + 3) * DAY_MS; d -= DAY_MS) {
        const base = v(d);
        if (base === null || base === 0) continue;
        return {
          m: Math.round(((cur - base) / Math.abs(base)) * 100 * 1e4) / 1e4,
          from: d,
          values: [
            { t: d, v: base },
            { t, v: cur },
          ],
        };
      }
      return null;
    }
    case 'streak': {
      let n = 0;
      const values: { t: number; v: number | null }[] = [];
      for (let d = t; n <= KEEP_DAYS; d -= DAY_MS) {
        const x = v(d);
        if (x === null || x <= 0) break;
        values.unshift({ t: d, v: x });
        n++;
      }
      // The day that broke the run is evidence too.
      if (!n) values.push({ t, v: cur });
      return { m: n, from: values[0]!.t, values };
    }
    case 'spike': {
      const prev: number[] = [];
      const values: { t: number; v: number | null }[] = [];
      for (let d = t - p.days * DAY_MS; d < t; d += DAY_MS) {
        const x = v(d);
        values.push({ t: d, v: x });
        if (x !== null) prev.push(x);
      }
      values.push({ t, v: cur });
      // Half the look-back at least, so one report is not a baseline.
      if (prev.length < Math.ceil(p.days / 2)) return null;
      const mean = prev.reduce((a, b) => a + b, 0) / prev.length;
      if (cur < (p.minValue ?? 0)) return { m: 0, from: t - p.days * DAY_MS, values };
      if (mean <= 0) return null;
      return { m: Math.round((cur / mean) * 1e4) / 1e4, from: t - p.days * DAY_MS, values };
    }
  }
}

export function titleOf(
  def: Pick<RuleDef, 'zh' | 'en'>,
  scope: string,
  scopeId: string,
  metric: string,
  m: number,
  unit: string,
): string {
  return `${def.zh}：${scope} ${scopeId} ${metric} ${m}${unit} / ${def.en}: ${scope} ${scopeId} ${metric} ${m}${unit}`;
}

const unitOf = (def: RuleDef, p: RuleParams) =>
  def.measure === 'change'
    ? `%（${p.days}日）`
    : def.measure === 'streak'
      ? ' days'
      : def.measure === 'spike'
        ? '×'
        : '';

export interface EvaluateOptions {
  /** Per-rule overrides of the defaults (operator configuration). */
  rules?: Partial<Record<RuleId, Partial<RuleParams>>>;
  /** Per-entity overrides (a subscriber's thresholds for its own entities). */
  thresholds?: ThresholdLookup;
  /** Rules switched off. */
  disabled?: readonly RuleId[];
}

/** Rules watching a (family, scope, metric). */
function rulesFor(family: string, scope: string, metric: string, disabled: readonly RuleId[]): RuleDef[] {
  return RULES.filter(
    (r) =>
      !disabled.includes(r.id) &&
      r.series.some((s) => s.family === family && s.metric === metric && s.scopes.includes(scope)),
  );
}

/**
 * Folds one indicator update into the entity's state and returns the alert
 * states it causes. Pure: the same (update, state) always gives the same result.
 */
export function evaluate(
  msg: IndicatorUpdateMessage,
  state: EntityState,
  opts: EvaluateOptions = {},
): { events: AlertEvent[]; state: EntityState; changed: boolean } {
  const next: EntityState = {
    series: { ...state.series },
    active: { ...state.active },
    opened: { ...state.opened },
    lastSeenMs: state.lastSeenMs,
  };
  const events: AlertEvent[] = [];
  const disabled = opts.disabled ?? [];
  const arrived = Date.parse(msg.computedAt);

  // The feed spoke again: a stale-feed alert on this entity ends.
  const stale = next.active['stale_feed|*'];
  if (stale && Number.isFinite(arrived)) {
    events.push(
      staleEvent(
        stale,
        msg.family,
        msg.scope,
        msg.scopeId,
        'end',
        arrived,
        state.lastSeenMs ?? arrived,
        arrived,
      ),
    );
    delete next.active['stale_feed|*'];
  }
  if (Number.isFinite(arrived) && (next.lastSeenMs === null || arrived > next.lastSeenMs))
    next.lastSeenMs = arrived;

  // Merge the watched day points (highest version wins).
  const changed = new Map<string, Set<number>>();
  const latestBefore = new Map<string, number>();
  for (const p of msg.points) {
    if (p.window !== 'day') continue;
    if (
      !rulesFor(msg.family, msg.scope, p.metric, disabled).length &&
      !FORECAST_INPUTS.has(`${msg.family}|${msg.scope}|${p.metric}`)
    )
      continue;
    const ws = Date.parse(p.windowStart);
    if (!Number.isFinite(ws)) continue;
    if (!latestBefore.has(p.metric))
      latestBefore.set(
        p.metric,
        Math.max(-Infinity, ...Object.keys(state.series[p.metric] ?? {}).map(Number)),
      );
    const s =
      next.series[p.metric] === state.series[p.metric]
        ? { ...state.series[p.metric] }
        : next.series[p.metric]!;
    const held = s[String(ws)];
    if (held && held[1] >= msg.version) continue;
    if (held && held[0] === p.value) {
      s[String(ws)] = [p.value, msg.version];
      next.series[p.metric] = s;
      continue;
    }
    s[String(ws)] = [p.value, msg.version];
    next.series[p.metric] = s;
    (changed.get(p.metric) ?? changed.set(p.metric, new Set()).get(p.metric)!).add(ws);
  }

  for (const metric of [...changed.keys()]
    .filter((m) => rulesFor(msg.family, msg.scope, m, disabled).length)
    .sort()) {
    const s = next.series[metric]!;
    const days = Object.keys(s).map(Number);
    const latestDay = Math.max(...days);
    // Every new day in event-time order (an update may carry several); a change of older days only moves the latest.
    const before = latestBefore.get(metric)!;
    const at = [...changed.get(metric)!].filter((d) => d > before).sort((a, b) => a - b);
    if (at.at(-1) !== latestDay) at.push(latestDay);
    for (const latest of at) evalAt(metric, s, latest);
    // Old days go: the state stays small.
    for (const d of days) if (d < latestDay - KEEP_DAYS * DAY_MS) delete s[String(d)];
  }
  // Unchanged but for the arrival time: the caller may skip storing it (the stale-feed rule needs minutes, not ms).
  return { events, state: next, changed: changed.size > 0 || events.length > 0 };

  function evalAt(metric: string, s: Record<string, [number | null, number]>, latest: number): void {
    for (const def of rulesFor(msg.family, msg.scope, metric, disabled)) {
      const p = paramsOf(def, msg.scope, msg.scopeId, opts.thresholds, opts.rules);
      const key = `${def.id}|${metric}`;
      const open = next.active[key];
      // A late update of a day before the alert started does not rewrite it.
      const r = measureAt(def, s, latest, p);
      if (!r) continue;
      let sev = severityOf(r.m, def.direction, p, open?.severity ?? null);
      // Oversupply ends only after `hysteresis` calm days in a row (one balanced day is not the end of a glut).
      if (def.measure === 'streak' && open && !sev) {
        let calm = 0;
        for (let d = latest; calm < p.hysteresis; d -= DAY_MS) {
          const x = s[String(d)]?.[0];
          if (x === undefined || x === null || x > 0) break;
          calm++;
        }
        if (calm < p.hysteresis) sev = open.severity;
      }
      const threshold = sev === 'critical' && p.critical !== null ? p.critical : p.warning;
      const evidence: AlertEvidence = {
        series: `${msg.family}:${msg.scope}:${msg.scopeId}:${metric}:day`,
        window: { from: iso(r.from), to: iso(latest + DAY_MS) },
        values: r.values.map((x) => ({ t: iso(x.t), v: x.v })),
        measure: r.m,
        threshold,
        params: p,
      };
      const base = {
        rule: def.id,
        family: msg.family,
        scope: msg.scope,
        scopeId: msg.scopeId,
        metric,
        atMs: latest,
        evidence,
        title: titleOf(def, msg.scope, msg.scopeId, metric, r.m, unitOf(def, p)),
      };
      if (!open && sev) {
        const prev = next.opened![key];
        const nth = prev && prev[0] === latest ? prev[1] + 1 : 1;
        next.opened![key] = [latest, nth];
        const id = alertId(def.id, msg.family, msg.scope, msg.scopeId, metric, latest, nth);
        next.active[key] = { id, seq: 1, severity: sev, startedMs: latest, rule: def.id, metric };
        events.push({ ...base, alertId: id, seq: 1, kind: 'open', severity: sev, startedMs: latest });
      } else if (open && sev && sev !== open.severity) {
        next.active[key] = { ...open, seq: open.seq + 1, severity: sev };
        events.push({
          ...base,
          alertId: open.id,
          seq: open.seq + 1,
          kind: 'update',
          severity: sev,
          startedMs: open.startedMs,
        });
      } else if (open && !sev && latest >= open.startedMs) {
        delete next.active[key];
        events.push({
          ...base,
          alertId: open.id,
          seq: open.seq + 1,
          kind: 'end',
          severity: open.severity,
          startedMs: open.startedMs,
        });
      }
    }
  }
}

// ---------------------------------------------------------------- stale feed (clock-driven)

/** Expected cadence of updates per `family|scope` (ms): silence beyond it opens a stale-feed alert. */
export const DEFAULT_CADENCES_MS: Readonly<Record<string, number>> = {
  'sales|mine': 6 * 3600_000,
  'sales|city': 2 * 3600_000,
  'price|city': 36 * 3600_000,
  'inventory|port': 36 * 3600_000,
  'days_of_stock|user': 36 * 3600_000,
  'transport|route': 36 * 3600_000,
};

function staleEvent(
  a: ActiveAlert,
  family: string,
  scope: string,
  scopeId: string,
  kind: AlertKind,
  atMs: number,
  lastSeenMs: number,
  nowMs: number,
): AlertEvent {
  const silentH = Math.round(((nowMs - lastSeenMs) / 3600_000) * 10) / 10;
  return {
    alertId: a.id,
    seq: kind === 'open' ? 1 : a.seq + 1,
    kind,
    rule: 'stale_feed',
    family,
    scope,
    scopeId,
    metric: '*',
    severity: a.severity,
    startedMs: a.startedMs,
    atMs,
    title:
      kind === 'end'
        ? `数据恢复：${family} ${scope} ${scopeId} / feed back: ${family} ${scope} ${scopeId}`
        : `数据中断：${family} ${scope} ${scopeId} 已 ${silentH} 小时无更新 / stale feed: ${family} ${scope} ${scopeId} silent for ${silentH} h`,
    evidence: {
      series: `${family}:${scope}:${scopeId}:*`,
      window: { from: iso(lastSeenMs), to: iso(nowMs) },
      values: [{ t: iso(lastSeenMs), v: null }],
      measure: silentH,
      threshold: 0,
      params: { warning: 0, critical: null, days: 0, hysteresis: 0 },
    },
  };
}

/**
 * The clock-driven rule: an entity silent beyond its cadence gets one stale-feed
 * alert (id from its last update time, so two workers checking at once agree).
 */
export function staleCheck(
  key: string,
  state: EntityState,
  nowMs: number,
  cadences: Readonly<Record<string, number>> = DEFAULT_CADENCES_MS,
): { events: AlertEvent[]; state: EntityState } {
  const [family = '', scope = '', ...rest] = key.split('|');
  const scopeId = rest.join('|');
  const cadence = cadences[`${family}|${scope}`];
  if (
    !cadence ||
    state.lastSeenMs === null ||
    state.active['stale_feed|*'] ||
    nowMs - state.lastSeenMs <= cadence
  )
    return { events: [], state };
  const startedMs = state.lastSeenMs + cadence;
  const a: ActiveAlert = {
    id: alertId('stale_feed', family, scope, scopeId, '*', state.lastSeenMs),
    seq: 1,
    severity: 'warning',
    startedMs,
    rule: 'stale_feed',
    metric: '*',
  };
  return {
    events: [staleEvent(a, family, scope, scopeId, 'open', startedMs, state.lastSeenMs, nowMs)],
    state: { ...state, active: { ...state.active, 'stale_feed|*': a } },
  };
}

// ---------------------------------------------------------------- forecast-based early warning

/** Series kept in the rule state for the forecast check only (`family|scope|metric`). */
export const FORECAST_INPUTS: ReadonlySet<string> = new Set(['days_of_stock|user|avg_daily_consumption_t']);

/** Which forecast series (models/ series keys) the early warning reads, and the entity and metric they warn on. */
export function forecastTarget(seriesKey: string): {
  key: string;
  family: string;
  scope: string;
  scopeId: string;
  metric: string;
  kind: 'price' | 'days';
} | null {
  const [kind, scope, ...rest] = seriesKey.split(':');
  const id = rest.join(':');
  if (kind === 'price_vwap' && scope && ['band', 'coal_type', 'region', 'city', 'mine'].includes(scope)) {
    const scopeId = scope === 'city' ? id || '150600' : id;
    if (!scopeId) return null;
    return {
      key: `price|${scope}|${scopeId}`,
      family: 'price',
      scope,
      scopeId,
      metric: 'vwap_yuan_per_t',
      kind: 'price',
    };
  }
  if (kind === 'user_stock' && scope === 'user' && id)
    return {
      key: `days_of_stock|user|${id}`,
      family: 'days_of_stock',
      scope: 'user',
      scopeId: id,
      metric: 'days',
      kind: 'days',
    };
  return null;
}

export interface ForecastInput {
  seriesKey: string;
  /** Last day of the data the forecast was trained on (ms): the event time of its warning. */
  trainedToMs: number;
  points: readonly ForecastPoint[];
}

const latestOf = (series: Record<string, [number | null, number]> | undefined): number | null => {
  if (!series) return null;
  const days = Object.keys(series)
    .map(Number)
    .sort((a, b) => b - a);
  for (const d of days) {
    const v = series[String(d)]![0];
    if (v !== null) return v;
  }
  return null;
};

/**
 * Early warning from the newest forecast of a series: days of stock (forecast stock's 80 % interval ÷ the
 * plant's mean daily consumption, against the days-of-stock thresholds, the plant's own included) or price
 * (the interval against a fall or rise of the price rules' thresholds from the last price). Opens, updates or
 * ends one `forecast_breach` alert per entity and metric; the same forecast twice changes nothing.
 */
export function forecastCheck(
  f: ForecastInput,
  state: EntityState,
  opts: EvaluateOptions = {},
): { events: AlertEvent[]; state: EntityState } {
  const t = forecastTarget(f.seriesKey);
  const disabled = opts.disabled ?? [];
  if (!t || disabled.includes('forecast_breach')) return { events: [], state };
  let breach: ReturnType<typeof forecastBreach> = null;
  let params: RuleParams;
  let zh: string;
  let en: string;
  let pts: ForecastPoint[];
  if (t.kind === 'days') {
    const use = latestOf(state.series.avg_daily_consumption_t);
    if (use === null || use <= 0) return { events: [], state };
    params = paramsOf(ruleDef('days_of_stock_low')!, t.scope, t.scopeId, opts.thresholds, opts.rules);
    pts = f.points.map((p) => ({
      targetMs: p.targetMs,
      value: p.value / use,
      lo80: p.lo80 / use,
      hi80: p.hi80 / use,
    }));
    breach = forecastBreach(pts, 'below', params);
    zh = '预测可用天数将低于阈值';
    en = 'forecast days of stock below threshold';
  } else {
    const last = latestOf(state.series.vwap_yuan_per_t);
    if (last === null || last <= 0) return { events: [], state };
    // In % of the last price, so the price rules' thresholds apply as they are.
    pts = f.points.map((p) => ({
      targetMs: p.targetMs,
      value: (p.value / last - 1) * 100,
      lo80: (p.lo80 / last - 1) * 100,
      hi80: (p.hi80 / last - 1) * 100,
    }));
    const fall = paramsOf(ruleDef('price_fall')!, t.scope, t.scopeId, opts.thresholds, opts.rules);
    const rise = paramsOf(ruleDef('price_rise')!, t.scope, t.scopeId, opts.thresholds, opts.rules);
    const down = forecastBreach(pts, 'below', fall);
    const up = forecastBreach(pts, 'above', rise);
    breach = down && (!up || down.severity === 'critical' || up.severity !== 'critical') ? down : up;
    params = breach === up && up ? rise : fall;
    zh = '预测价格大幅波动';
    en = 'forecast sharp price move';
  }
  const key = `forecast_breach|${t.metric}`;
  const open = state.active[key];
  const next: EntityState = { ...state, active: { ...state.active }, opened: { ...state.opened } };
  const m = breach ? Math.round(breach.bound * 1e4) / 1e4 : 0;
  const evidence: AlertEvidence = {
    series: `forecast:${f.seriesKey}`,
    window: {
      from: iso(pts[0]?.targetMs ?? f.trainedToMs),
      to: iso((breach?.atMs ?? pts.at(-1)?.targetMs ?? f.trainedToMs) + DAY_MS),
    },
    values: pts
      .filter((p) => !breach || p.targetMs <= breach.atMs)
      .map((p) => ({
        t: iso(p.targetMs),
        v:
          Math.round((t.kind === 'days' ? p.lo80 : breach && breach.threshold > 0 ? p.hi80 : p.lo80) * 1e4) /
          1e4,
      })),
    measure: m,
    threshold: breach?.threshold ?? params.warning,
    params,
  };
  const base = {
    rule: 'forecast_breach' as const,
    family: t.family,
    scope: t.scope,
    scopeId: t.scopeId,
    metric: t.metric,
    atMs: f.trainedToMs,
    evidence,
    title: `${zh}：${t.scope} ${t.scopeId} 80% 区间 ${m}${t.kind === 'days' ? ' 天' : '%'}（${breach ? iso(breach.atMs).slice(0, 10) : '—'}）/ ${en}: ${t.scope} ${t.scopeId} 80% interval ${m}${t.kind === 'days' ? ' days' : '%'}`,
  };
  if (breach && !open) {
    const prev = next.opened![key];
    const nth = prev && prev[0] === f.trainedToMs ? prev[1] + 1 : 1;
    next.opened![key] = [f.trainedToMs, nth];
    const id = alertId('forecast_breach', t.family, t.scope, t.scopeId, t.metric, f.trainedToMs, nth);
    next.active[key] = {
      id,
      seq: 1,
      severity: breach.severity,
      startedMs: f.trainedToMs,
      rule: 'forecast_breach',
      metric: t.metric,
    };
    return {
      events: [
        { ...base, alertId: id, seq: 1, kind: 'open', severity: breach.severity, startedMs: f.trainedToMs },
      ],
      state: next,
    };
  }
  if (breach && open && breach.severity !== open.severity) {
    next.active[key] = { ...open, seq: open.seq + 1, severity: breach.severity };
    return {
      events: [
        {
          ...base,
          alertId: open.id,
          seq: open.seq + 1,
          kind: 'update',
          severity: breach.severity,
          startedMs: open.startedMs,
        },
      ],
      state: next,
    };
  }
  if (!breach && open) {
    delete next.active[key];
    return {
      events: [
        {
          ...base,
          alertId: open.id,
          seq: open.seq + 1,
          kind: 'end',
          severity: open.severity,
          startedMs: open.startedMs,
        },
      ],
      state: next,
    };
  }
  return { events: [], state };
}

export interface ForecastPoint {
  targetMs: number;
  value: number;
  lo80: number;
  hi80: number;
}

/**
 * Early warning from a forecast: the first day within the horizon where the 80 %
 * interval reaches past the threshold ('below': lo80 ≤ threshold, e.g. days of
 * stock; 'above': hi80 ≥ threshold). Null when the interval stays clear.
 */
export function forecastBreach(
  points: readonly ForecastPoint[],
  direction: 'above' | 'below',
  p: Pick<RuleParams, 'warning' | 'critical'>,
): { severity: Severity; atMs: number; bound: number; threshold: number } | null {
  for (const f of [...points].sort((a, b) => a.targetMs - b.targetMs)) {
    const bound = direction === 'below' ? f.lo80 : f.hi80;
    const past = (t: number) => (direction === 'below' ? bound <= t : bound >= t);
    if (p.critical !== null && past(p.critical))
      return { severity: 'critical', atMs: f.targetMs, bound, threshold: p.critical };
    if (past(p.warning)) return { severity: 'warning', atMs: f.targetMs, bound, threshold: p.warning };
  }
  return null;
}

// ---------------------------------------------------------------- configuration

const PARAM_NAMES: readonly (keyof RuleParams)[] = ['warning', 'critical', 'days', 'hysteresis', 'minValue'];

/**
 * Parses the operator's rule configuration (COALFLOW_ALERT_RULES): per-rule thresholds and the rules switched
 * off. A bad rule, threshold or value fails at start and names itself.
 */
export function parseRuleConfig(json: string): {
  rules: Partial<Record<RuleId, Partial<RuleParams>>>;
  disabled: RuleId[];
} {
  if (!json.trim()) return { rules: {}, disabled: [] };
  const fail = (what: string): never => {
    throw new ConfigError(`COALFLOW_ALERT_RULES 无效：${what} / COALFLOW_ALERT_RULES is invalid: ${what}`);
  };
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch (err) {
    return fail(`JSON ${(err as Error).message}`);
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return fail('not an object');
  const rules: Partial<Record<RuleId, Partial<RuleParams>>> = {};
  let disabled: RuleId[] = [];
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (k === 'disabled') {
      if (
        !Array.isArray(v) ||
        !v.every((x) => typeof x === 'string' && (RULE_IDS as readonly string[]).includes(x))
      )
        fail(`disabled must list rules of ${RULE_IDS.join('|')}`);
      disabled = v as RuleId[];
      continue;
    }
    if (!ruleDef(k)) fail(`unknown rule ${k} (${RULES.map((r) => r.id).join('|')})`);
    if (!v || typeof v !== 'object' || Array.isArray(v)) fail(`${k} must be an object of thresholds`);
    const p: Partial<RuleParams> = {};
    for (const [name, x] of Object.entries(v as Record<string, unknown>)) {
      if (!(PARAM_NAMES as readonly string[]).includes(name))
        fail(`${k}.${name} is not a threshold (${PARAM_NAMES.join('|')})`);
      if (name === 'critical' && x === null) {
        p.critical = null;
        continue;
      }
      if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${k}.${name} must be a number`);
      (p as Record<string, number>)[name] = x as number;
    }
    rules[k as RuleId] = p;
  }
  return { rules, disabled };
}
