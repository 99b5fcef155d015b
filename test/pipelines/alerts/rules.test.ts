import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  emptyState,
  evaluate,
  forecastBreach,
  forecastCheck,
  parseRuleConfig,
  severityOf,
  staleCheck,
  type AlertEvent,
  type EntityState,
  type EvaluateOptions,
} from '../../../pipelines/alerts/rules.ts';
import type { IndicatorUpdateMessage } from '../../../pipelines/indicators/contract.ts';

const test = suite('pipelines/alerts/rules');
const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T00:00:00+08:00');

/** One message per day of the series, in order; returns every alert state and the final state. */
function run(
  family: string,
  scope: string,
  scopeId: string,
  metric: string,
  values: (number | null)[],
  opts: EvaluateOptions = {},
  state: EntityState = emptyState(),
  from = 0,
) {
  const events: AlertEvent[] = [];
  let s = state;
  values.forEach((v, i) => {
    const day = T0 + (from + i) * DAY;
    const msg: IndicatorUpdateMessage = {
      family,
      scope,
      scopeId,
      version: from + i + 1,
      computedAt: new Date(day + DAY).toISOString(),
      points: [
        {
          metric,
          window: 'day',
          windowStart: new Date(day).toISOString(),
          value: v,
          unit: '',
          n: null,
          contributors: null,
          topShare: null,
        },
      ],
    };
    const r = evaluate(msg, s, opts);
    events.push(...r.events);
    s = r.state;
  });
  return { events, state: s };
}

const calm = (base: number, n: number, amp = 0.01) =>
  Array.from({ length: n }, (_, i) => Math.round(base * (1 + amp * Math.sin(i)) * 100) / 100);

test('price fall: a 15 % fall over 7 days opens a warning, 25 % makes it critical, recovery ends it', () => {
  const series = [...calm(800, 8), 760, 720, 690, 680, 600, 590, 800, 800, 800, 800, 800, 800, 800, 800];
  const all = run('price', 'band', '5500', 'vwap_yuan_per_t', series).events;
  const events = all.filter((e) => e.rule === 'price_fall');
  assert.equal(
    events.map((e) => `${e.kind}:${e.severity}`),
    ['open:warning', 'update:critical', 'end:critical'],
  );
  // The rebound (590 → 800 within a week) is a sharp rise of its own.
  assert.equal(
    all.filter((e) => e.rule === 'price_rise').map((e) => `${e.kind}:${e.severity}`),
    ['open:warning', 'update:critical', 'end:critical'],
  );
  assert.ok(events.every((e) => e.rule === 'price_fall' && e.alertId === events[0]!.alertId));
  assert.equal(
    events.map((e) => e.seq),
    [1, 2, 3],
  );
  const open = events[0]!;
  assert.ok(open.evidence.measure <= -10, 'measure beyond the threshold');
  assert.is(open.evidence.values.length, 2);
  assert.ok(open.title.includes('价格大幅下跌') && open.title.includes('sharp price fall'));
});

test('price rise on the city pithead index and on port FOB', () => {
  const rise = [...calm(100, 8), 104, 108, 112, 115];
  assert.equal(
    run('price', 'city', '150600', 'pithead_index', rise).events.map((e) => `${e.rule}:${e.kind}`),
    ['price_rise:open'],
  );
  assert.equal(
    run('price', 'port', 'CFD', 'port_fob_yuan_per_t', rise).events.map((e) => `${e.rule}:${e.kind}`),
    ['price_rise:open'],
  );
});

test('calm prices stay quiet', () => {
  for (const metric of ['vwap_yuan_per_t', 'pithead_quote_yuan_per_t']) {
    assert.is(run('price', 'coal_type', '动力煤', metric, calm(650, 60, 0.03)).events.length, 0);
  }
});

test('oversupply: surplus days in a row open it; it ends only after calm days in a row', () => {
  const net = [-5, -3, 10, 20, 30, 40, 50, 60, 70, 80, -1, 5, -2, -3, -4];
  const { events } = run('balance', 'city', '150600', 'net_t', net);
  // Open on the third surplus day, critical on the seventh; one balanced day restarts the run (down to warning),
  // the end needs two balanced days in a row.
  assert.equal(
    events.map((e) => `${e.kind}:${e.severity}@${(e.atMs - T0) / DAY}`),
    ['open:warning@4', 'update:critical@8', 'update:warning@11', 'end:warning@13'],
  );
  assert.is(run('balance', 'city', '150600', 'net_t', [-1, 2, -3, 4, -5, 6, -7, 8, -1, 2]).events.length, 0);
});

test('stocks building: mine and port stocks growing beyond 20 % over 7 days', () => {
  const build = [...calm(10000, 8), 11000, 12000, 13000];
  assert.equal(
    run('inventory', 'mine', 'M1', 'mine_stock_t', build).events.map((e) => `${e.rule}:${e.kind}`),
    ['stock_build:open'],
  );
  assert.equal(
    run('inventory', 'port', 'P1', 'port_stock_t', build).events.map((e) => `${e.rule}:${e.kind}`),
    ['stock_build:open'],
  );
  assert.is(run('inventory', 'port', 'P1', 'port_stock_t', calm(10000, 40, 0.05)).events.length, 0);
});

test('days of stock: warning below 7, critical below 3, per-plant thresholds', () => {
  const { events } = run('days_of_stock', 'user', 'U1', 'days', [12, 10, 8, 6.5, 5, 2.5, 2, 5, 9, 12]);
  assert.equal(
    events.map((e) => `${e.kind}:${e.severity}`),
    ['open:warning', 'update:critical', 'update:warning', 'end:warning'],
  );
  assert.is(run('days_of_stock', 'user', 'U1', 'days', calm(15, 30, 0.1)).events.length, 0);
  // A plant that wants warning at 12 days (its own threshold) is warned where the default stays quiet.
  const own: EvaluateOptions = {
    thresholds: (rule, scope, id) =>
      rule === 'days_of_stock_low' && scope === 'user' && id === 'U2' ? { warning: 12 } : undefined,
  };
  assert.equal(
    run('days_of_stock', 'user', 'U2', 'days', [15, 13, 11.5], own).events.map((e) => e.kind),
    ['open'],
  );
  assert.is(run('days_of_stock', 'user', 'U1', 'days', [15, 13, 11.5], own).events.length, 0);
});

test('transport: approval ratio low, vessel queue spike, route far below capacity', () => {
  assert.equal(
    run('transport', 'route', 'R1', 'approval_ratio_pct', [90, 85, 70, 55, 35]).events.map(
      (e) => `${e.rule}:${e.kind}:${e.severity}`,
    ),
    ['rail_approval_low:open:warning', 'rail_approval_low:update:critical'],
  );
  assert.equal(
    run('transport', 'port', 'P1', 'vessels_waiting', [20, 22, 19, 21, 20, 18, 22, 21, 35, 45]).events.map(
      (e) => `${e.rule}:${e.kind}:${e.severity}`,
    ),
    ['vessel_queue_spike:open:warning', 'vessel_queue_spike:update:critical'],
  );
  // Small queues doubling are no spike (minValue).
  assert.is(run('transport', 'port', 'P1', 'vessels_waiting', [1, 2, 1, 2, 1, 2, 1, 2, 4]).events.length, 0);
  assert.equal(
    run('transport', 'route_dir', 'R1|up', 'route_capacity_use_pct', [80, 75, 45]).events.map((e) => e.rule),
    ['route_capacity_low'],
  );
  assert.is(run('transport', 'route', 'R1', 'approval_ratio_pct', calm(85, 30, 0.1)).events.length, 0);
  assert.is(run('transport', 'port', 'P1', 'vessels_waiting', calm(20, 30, 0.1)).events.length, 0);
});

test('hysteresis: a noisy series around the threshold opens once and does not flap', () => {
  const noisy = [9, 8, 6.9, 7.1, 6.8, 7.3, 6.95, 7.6, 6.7, 7.9, 7.2, 6.9];
  const { events } = run('days_of_stock', 'user', 'U1', 'days', noisy);
  assert.equal(
    events.map((e) => e.kind),
    ['open'],
  );
  // Only well past the margin (7 + 1) does it end.
  const more = run(
    'days_of_stock',
    'user',
    'U1',
    'days',
    [8.5],
    {},
    run('days_of_stock', 'user', 'U1', 'days', noisy).state,
    noisy.length,
  );
  assert.equal(
    more.events.map((e) => e.kind),
    ['end'],
  );
  // Price change noise around −10 %.
  const price = [...Array(7).fill(1000), 1000, 895, 905, 898, 910, 893, 906];
  assert.is(run('price', 'band', '5000', 'vwap_yuan_per_t', price).events.length, 1);
  assert.equal(
    severityOf(6.9, 'below', { warning: 7, critical: 3, days: 1, hysteresis: 1 }, 'warning'),
    'warning',
  );
  assert.equal(
    severityOf(7.9, 'below', { warning: 7, critical: 3, days: 1, hysteresis: 1 }, 'warning'),
    'warning',
  );
  assert.equal(
    severityOf(8.1, 'below', { warning: 7, critical: 3, days: 1, hysteresis: 1 }, 'warning'),
    null,
  );
});

test('replay: the same updates twice give identical alerts; a redelivered update changes nothing', () => {
  const series = [...calm(800, 8), 700, 690, 600, 800, 800];
  const a = run('price', 'band', '5500', 'vwap_yuan_per_t', series);
  const b = run('price', 'band', '5500', 'vwap_yuan_per_t', series);
  assert.equal(a.events, b.events);
  assert.ok(a.events.length > 0);
  // Feeding the same messages again into the final state (redelivery): no new events.
  const again = run('price', 'band', '5500', 'vwap_yuan_per_t', series, {}, a.state);
  assert.is(again.events.length, 0);
});

test('an update carrying several new days is evaluated day by day, in event time', () => {
  const values = [10, 10, 2, 10, 2.5, 9];
  const msg: IndicatorUpdateMessage = {
    family: 'days_of_stock',
    scope: 'user',
    scopeId: 'U1',
    version: 1,
    computedAt: new Date(T0 + 7 * DAY).toISOString(),
    // Out of order within the message on purpose.
    points: values
      .map((v, d) => ({
        metric: 'days',
        window: 'day',
        windowStart: new Date(T0 + d * DAY).toISOString(),
        value: v,
        unit: 'days',
        n: null,
        contributors: null,
        topShare: null,
      }))
      .reverse(),
  };
  const one = evaluate(msg, emptyState()).events;
  assert.equal(
    one.map((e) => `${e.kind}:${e.severity}@${(e.atMs - T0) / DAY}`),
    ['open:critical@2', 'end:critical@3', 'open:critical@4', 'end:critical@5'],
  );
  // The same as day-by-day messages.
  assert.equal(
    run('days_of_stock', 'user', 'U1', 'days', values).events.map((e) => e.alertId),
    one.map((e) => e.alertId),
  );
});

test('an alert re-opened on the day another ended has its own id', () => {
  let st = emptyState();
  const ev: AlertEvent[] = [];
  [10, 2, 10, 2].forEach((v, i) => {
    const r = evaluate(
      {
        family: 'days_of_stock',
        scope: 'user',
        scopeId: 'U1',
        version: i + 1,
        computedAt: new Date(T0 + i * 1000).toISOString(),
        points: [
          {
            metric: 'days',
            window: 'day',
            windowStart: new Date(T0).toISOString(),
            value: v,
            unit: 'days',
            n: null,
            contributors: null,
            topShare: null,
          },
        ],
      },
      st,
    );
    st = r.state;
    ev.push(...r.events);
  });
  assert.equal(
    ev.map((e) => `${e.kind}:${e.seq}`),
    ['open:1', 'end:2', 'open:1'],
  );
  assert.is.not(ev[2]!.alertId, ev[0]!.alertId);
});

test('per-rule overrides and disabled rules', () => {
  const series = [...calm(800, 8), 740];
  assert.is(run('price', 'band', '5500', 'vwap_yuan_per_t', series).events.length, 0);
  assert.is(
    run('price', 'band', '5500', 'vwap_yuan_per_t', series, { rules: { price_fall: { warning: -5 } } }).events
      .length,
    1,
  );
  assert.is(
    run('price', 'band', '5500', 'vwap_yuan_per_t', series, {
      rules: { price_fall: { warning: -5 } },
      disabled: ['price_fall'],
    }).events.length,
    0,
  );
});

test('stale feed: silence beyond the cadence opens one alert; the next update ends it', () => {
  const { state } = run('sales', 'mine', 'M1', 'volume_t', [100]);
  const seen = state.lastSeenMs!;
  assert.is(staleCheck('sales|mine|M1', state, seen + 5 * 3600_000).events.length, 0);
  const s1 = staleCheck('sales|mine|M1', state, seen + 7 * 3600_000);
  assert.equal(
    s1.events.map((e) => `${e.rule}:${e.kind}`),
    ['stale_feed:open'],
  );
  // A second check (or another worker) gives nothing new; the same silence gives the same id.
  assert.is(staleCheck('sales|mine|M1', s1.state, seen + 9 * 3600_000).events.length, 0);
  assert.is(
    staleCheck('sales|mine|M1', state, seen + 8 * 3600_000).events[0]!.alertId,
    s1.events[0]!.alertId,
  );
  const back = run('sales', 'mine', 'M1', 'volume_t', [120], {}, s1.state, 1);
  assert.equal(
    back.events.map((e) => `${e.rule}:${e.kind}`),
    ['stale_feed:end'],
  );
  // Unwatched entities have no cadence.
  assert.is(staleCheck('sales|band|5500', state, seen + 100 * 3600_000).events.length, 0);
});

test('operator rule configuration: thresholds per rule, rules switched off, bad keys named', () => {
  const c = parseRuleConfig('{"price_fall": {"warning": -5, "critical": null}, "disabled": ["stale_feed"]}');
  assert.equal(c, { rules: { price_fall: { warning: -5, critical: null } }, disabled: ['stale_feed'] });
  assert.equal(parseRuleConfig(''), { rules: {}, disabled: [] });
  assert.throws(() => parseRuleConfig('{"price_dive": {}}'), /price_dive/);
  assert.throws(() => parseRuleConfig('{"price_fall": {"warnin": 1}}'), /price_fall\.warnin/);
  assert.throws(() => parseRuleConfig('{"price_fall": {"warning": "x"}}'), /must be a number/);
  assert.throws(() => parseRuleConfig('{'), /COALFLOW_ALERT_RULES/);
});

test('forecast early warning: the 80 % interval crossing within the horizon', () => {
  const pts = [0, 1, 2, 3].map((i) => ({
    targetMs: T0 + i * DAY,
    value: 10 - i,
    lo80: 8 - 1.5 * i,
    hi80: 12 - i,
  }));
  const w = forecastBreach(pts, 'below', { warning: 7, critical: 3 });
  assert.equal(w && { s: w.severity, d: (w.atMs - T0) / DAY }, { s: 'warning', d: 1 });
  assert.is(forecastBreach(pts, 'below', { warning: 1, critical: 0 }), null);
  assert.equal(forecastBreach(pts, 'above', { warning: 11, critical: 12 })?.severity, 'critical');
});

test('forecast check: a plant whose forecast stock reaches below 7 days within the horizon is warned once; a calm forecast ends it', () => {
  const msg: IndicatorUpdateMessage = {
    family: 'days_of_stock',
    scope: 'user',
    scopeId: 'U1',
    version: 1,
    computedAt: new Date(T0 + DAY).toISOString(),
    points: [
      {
        metric: 'days',
        window: 'day',
        windowStart: new Date(T0).toISOString(),
        value: 12,
        unit: 'days',
        n: null,
        contributors: null,
        topShare: null,
      },
      {
        metric: 'avg_daily_consumption_t',
        window: 'day',
        windowStart: new Date(T0).toISOString(),
        value: 1000,
        unit: 't/day',
        n: null,
        contributors: null,
        topShare: null,
      },
    ],
  };
  const st = evaluate(msg, emptyState()).state;
  const falling = {
    seriesKey: 'user_stock:user:U1',
    trainedToMs: T0,
    points: [1, 2, 3, 4, 5].map((d) => ({
      targetMs: T0 + d * DAY,
      value: 12000 - 1000 * d,
      lo80: 11000 - 1400 * d,
      hi80: 13000 - 600 * d,
    })),
  };
  const a = forecastCheck(falling, st);
  assert.equal(
    a.events.map(
      (e) =>
        `${e.rule}:${e.kind}:${e.severity}@${e.evidence.window.to ? (Date.parse(e.evidence.window.to) - T0) / DAY - 1 : 0}`,
    ),
    ['forecast_breach:open:warning@3'],
  );
  assert.is(forecastCheck(falling, a.state).events.length, 0, 'the same forecast again: nothing new');
  const calm = {
    ...falling,
    trainedToMs: T0 + DAY,
    points: falling.points.map((p) => ({ ...p, value: 12000, lo80: 11000, hi80: 13000 })),
  };
  assert.equal(
    forecastCheck(calm, a.state).events.map((e) => e.kind),
    ['end'],
  );
  assert.is(forecastCheck(calm, st).events.length, 0, 'calm forecast, no alert');
  // Price: the interval falling more than 10 % below the last price.
  const ps = run('price', 'band', '5500', 'vwap_yuan_per_t', [800]).state;
  const drop = {
    seriesKey: 'price_vwap:band:5500',
    trainedToMs: T0,
    points: [1, 2].map((d) => ({ targetMs: T0 + d * DAY, value: 790, lo80: 760 - 30 * d, hi80: 820 })),
  };
  assert.equal(
    forecastCheck(drop, ps).events.map((e) => `${e.kind}:${e.scopeId}`),
    ['open:5500'],
  );
});

test.run();
