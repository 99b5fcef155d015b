/** The dashboard's views. Each loads its panels independently: a panel the key is not granted says so, the rest still show. */
import { ApiError, download, get, kind, post, text, type LiveMessage } from './api.ts';
import { barChart, lineChart, type Band, type SeriesLine } from './charts.ts';
import {
  DAY_MS,
  latest,
  merge,
  pairs,
  pick,
  series,
  total,
  valueOf,
  type Entity,
  type Latest,
} from './data.ts';
import { day, getLang, half, num, pct, t, type Word } from './i18n.ts';

export interface View {
  id: 'overview' | 'inventory' | 'prices' | 'transport' | 'operators' | 'reports';
  label: Word;
  /** Families whose live stream the view follows. */
  families: string[];
  render(root: HTMLElement): Promise<void>;
  onLive?(m: LiveMessage): void;
  /** Stops timers. */
  leave?(): void;
}

/** Below this many days of stock a coal user is listed first and marked (the alert rule's warning level). */
export const DAYS_OF_STOCK_THRESHOLD = 7;

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function panel(id: string, title: Word, body = '', cls = ''): string {
  return `<section class="panel ${cls}" id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${t(title)}</h2><div class="body">${body}</div></section>`;
}

function chartBox(id: string): string {
  return `<div class="chart" id="${id}" role="img" data-points="0"></div>`;
}

/** Runs a panel's loader; a refusal or failure is written into the panel instead of breaking the view. */
async function load(root: HTMLElement, id: string, fn: (body: HTMLElement) => Promise<void>): Promise<void> {
  const el = root.querySelector<HTMLElement>(`#${id} .body`);
  if (!el) return;
  el.setAttribute('aria-busy', 'true');
  try {
    await fn(el);
    el.dataset.state = 'ok';
  } catch (err) {
    const e = err as ApiError;
    const denied = e instanceof ApiError && (e.status === 403 || e.status === 401);
    const missing = e instanceof ApiError && e.status === 404;
    el.dataset.state = denied ? 'denied' : 'error';
    el.innerHTML = `<p class="note ${denied ? 'denied' : ''}">${denied ? t('notGranted') : missing ? t('unavailable') : t('error')}${e?.message && !missing ? `：${esc(half(e.message))}` : ''}</p>`;
  } finally {
    el.removeAttribute('aria-busy');
  }
}

function empty(el: HTMLElement, chartId?: string): void {
  const note = document.createElement('p');
  note.className = 'note';
  note.textContent = t('noData');
  if (chartId) el.querySelector(`#${chartId}`)?.replaceWith(note);
  else el.append(note);
}

// ------------------------------------------------------------------------------------------- overview

function sameDay(points: [string, number | null][], iso: string, back: 'week' | 'year'): number | null {
  const d = new Date(iso);
  if (back === 'week') d.setTime(d.getTime() - 7 * DAY_MS);
  else d.setUTCFullYear(d.getUTCFullYear() - 1);
  const want = d.toISOString();
  return points.find(([s]) => s === want)?.[1] ?? null;
}

function change(now: number | null, then: number | null): number | null {
  return now === null || then === null || then === 0 ? null : ((now - then) / Math.abs(then)) * 100;
}

interface Kpi {
  id: string;
  label: Word;
  family: string;
  metric: string;
  unit: string;
  points: [string, number | null][];
}

function kpiHtml(k: Kpi): string {
  const last = [...k.points].reverse().find(([, v]) => v !== null) ?? null;
  const now = last?.[1] ?? null;
  const week = last ? sameDay(k.points, last[0], 'week') : null;
  const year = last ? sameDay(k.points, last[0], 'year') : null;
  const cw = change(now, week);
  const cy = change(now, year);
  const cls = (v: number | null) => (v === null ? '' : v >= 0 ? 'up' : 'down');
  return `<div class="kpi-value" data-value="${now ?? ''}">${num(now)}<span class="unit"> ${k.unit}</span></div>
    <div class="kpi-date">${last ? day(last[0]) : '—'}</div>
    <dl class="kpi-cmp"><div><dt>${t('vsWeek')}</dt><dd class="${cls(cw)}">${pct(cw)}</dd></div><div><dt>${t('vsYear')}</dt><dd class="${cls(cy)}">${pct(cy)}</dd></div></dl>`;
}

export function overviewView(): View {
  const kpis: Kpi[] = [
    {
      id: 'kpi-production',
      label: 'production',
      family: 'balance',
      metric: 'production_t',
      unit: 't',
      points: [],
    },
    { id: 'kpi-sales', label: 'sales', family: 'sales', metric: 'volume_t', unit: 't', points: [] },
    {
      id: 'kpi-shipments',
      label: 'shipments',
      family: 'balance',
      metric: 'shipments_t',
      unit: 't',
      points: [],
    },
  ];
  let root: HTMLElement | null = null;
  let ports: Latest | null = null;
  let dos: Latest | null = null;
  let priceIndex: [string, number | null][] = [];
  let sortKey: 'days' | 'user' | 'avg' | 'change' = 'days';
  let sortDir = 1;

  const drawPorts = () => {
    const el = root?.querySelector<HTMLElement>('#p-ports .body');
    if (!el || !ports) return;
    const rows = ports.entities
      .map((e) => ({
        id: e.scopeId,
        v: valueOf(e, 'port_stock_t'),
        d: pick(e, 'port_stock_t')?.windowStart ?? '',
      }))
      .filter((r) => r.v !== null)
      .sort((a, b) => b.v! - a.v!);
    if (!rows.length) {
      el.innerHTML = '';
      empty(el);
      return;
    }
    if (!el.querySelector('#chart-ports'))
      el.innerHTML = `${chartBox('chart-ports')}<div class="scroll"><table class="compact" id="port-table"><caption class="sr">${t('portStocks')}</caption><thead><tr><th scope="col">${t('entity')}</th><th scope="col" class="n">t</th><th scope="col">${t('updated')}</th></tr></thead><tbody></tbody></table></div>`;
    barChart(
      el.querySelector<HTMLElement>('#chart-ports')!,
      rows.map((r) => r.id),
      [{ name: t('portStocks'), data: rows.map((r) => r.v) }],
      ['t'],
    );
    el.querySelector('#port-table tbody')!.innerHTML = rows
      .map(
        (r) =>
          `<tr data-id="${esc(r.id)}"><th scope="row">${esc(r.id)}</th><td class="n">${num(r.v)}</td><td>${day(r.d)}</td></tr>`,
      )
      .join('');
  };

  const drawDos = () => {
    const el = root?.querySelector<HTMLElement>('#p-dos .body');
    if (!el || !dos) return;
    const rows = dos.entities
      .map((e) => ({
        id: e.scopeId,
        days: valueOf(e, 'days'),
        avg: valueOf(e, 'avg_daily_consumption_t'),
        change: valueOf(e, 'days_change_7d'),
      }))
      .filter((r) => r.days !== null);
    if (!rows.length) {
      el.innerHTML = '';
      empty(el);
      return;
    }
    const below = (r: { days: number | null }) => (r.days! < DAYS_OF_STOCK_THRESHOLD ? 0 : 1);
    const val = (r: (typeof rows)[number]) =>
      sortKey === 'user'
        ? r.id
        : sortKey === 'avg'
          ? (r.avg ?? -Infinity)
          : sortKey === 'change'
            ? (r.change ?? -Infinity)
            : r.days!;
    rows.sort((a, b) => {
      // Those below the threshold come first whatever the column; the column orders within each group.
      const g = below(a) - below(b);
      if (g) return g;
      const x = val(a),
        y = val(b);
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
    });
    const th = (k: typeof sortKey, w: Word, n = false) =>
      `<th scope="col" class="${n ? 'n' : ''}" aria-sort="${sortKey === k ? (sortDir > 0 ? 'ascending' : 'descending') : 'none'}"><button type="button" data-sort="${k}" title="${t('sortBy')}">${t(w)}${sortKey === k ? (sortDir > 0 ? ' ▲' : ' ▼') : ''}</button></th>`;
    el.innerHTML = `<p class="hint">${t('threshold')}: ${DAYS_OF_STOCK_THRESHOLD} ${getLang() === 'zh' ? '天' : 'days'}</p>
      <div class="scroll"><table id="dos-table"><thead><tr>${th('user', 'user')}${th('days', 'days', true)}${th('avg', 'avgUse', true)}${th('change', 'change7d', true)}</tr></thead><tbody>
      ${rows.map((r) => `<tr class="${below(r) ? '' : 'below'}" data-id="${esc(r.id)}"><th scope="row">${esc(r.id)}${below(r) ? '' : ` <span class="tag">${t('belowThreshold')}</span>`}</th><td class="n">${num(r.days, 1)}</td><td class="n">${num(r.avg)}</td><td class="n">${num(r.change, 1)}</td></tr>`).join('')}
      </tbody></table></div>`;
    el.querySelectorAll<HTMLButtonElement>('button[data-sort]').forEach((b) =>
      b.addEventListener('click', () => {
        const k = b.dataset.sort as typeof sortKey;
        sortDir = sortKey === k ? -sortDir : 1;
        sortKey = k;
        drawDos();
        root?.querySelector<HTMLButtonElement>(`#p-dos button[data-sort="${k}"]`)?.focus();
      }),
    );
  };

  const drawKpi = (k: Kpi) => {
    const el = root?.querySelector<HTMLElement>(`#${k.id} .body`);
    if (el) el.innerHTML = kpiHtml(k);
  };

  const drawPriceIndex = () => {
    const el = root?.querySelector<HTMLElement>('#p-price .body');
    if (!el) return;
    const last = [...priceIndex].reverse().find(([, v]) => v !== null);
    if (!last) {
      el.innerHTML = '';
      empty(el);
      return;
    }
    if (!el.querySelector('#chart-price-index'))
      el.innerHTML = `<div class="kpi-value small" id="price-index-value"></div>${chartBox('chart-price-index')}`;
    el.querySelector('#price-index-value')!.innerHTML =
      `${num(last[1], 1)} <span class="unit">(${day(last[0])})</span>`;
    lineChart(
      el.querySelector<HTMLElement>('#chart-price-index')!,
      [{ name: t('priceIndex'), data: priceIndex }],
      [],
      '',
      { legend: { show: false }, grid: { top: 8, bottom: 4, left: 8, right: 12, containLabel: true } },
    );
  };

  return {
    id: 'overview',
    label: 'overview',
    families: ['balance', 'sales', 'price', 'inventory', 'days_of_stock'],
    async render(r) {
      root = r;
      r.innerHTML = `<div class="kpis">${kpis.map((k) => panel(k.id, k.label, `<p class="note">${t('loading')}</p>`, 'kpi')).join('')}${panel('p-price', 'priceIndex', '', 'kpi wide')}</div>
        <div class="grid2">${panel('p-ports', 'portStocks')}${panel('p-dos', 'daysOfStock')}</div>
        ${panel('p-alerts', 'alerts')}`;
      await Promise.all([
        ...kpis.map((k) =>
          load(r, k.id, async () => {
            const s = await series(k.family, k.metric, 'city', 372);
            k.points = s.series[0] ? pairs(s.series[0]) : [];
            drawKpi(k);
          }),
        ),
        load(r, 'p-price', async () => {
          const s = await series('price', 'pithead_index', 'city', 90);
          priceIndex = s.series[0] ? pairs(s.series[0]) : [];
          drawPriceIndex();
        }),
        load(r, 'p-ports', async () => {
          ports = await latest('inventory', 'port');
          drawPorts();
        }),
        load(r, 'p-dos', async () => {
          dos = await latest('days_of_stock', 'user');
          drawDos();
        }),
        load(r, 'p-alerts', async (el) => {
          const body = await get<{ items?: Record<string, unknown>[]; alerts?: Record<string, unknown>[] }>(
            '/v1/alerts?active=true',
          );
          const items = body.items ?? body.alerts ?? [];
          el.innerHTML = items.length
            ? `<div class="scroll"><table id="alerts-table"><thead><tr><th scope="col">${t('severity')}</th><th scope="col">${t('rule')}</th><th scope="col">${t('entity')}</th><th scope="col">${t('message')}</th><th scope="col">${t('since')}</th></tr></thead><tbody>${items
                .slice(0, 50)
                .map((a) => {
                  const title = half(String(a.title ?? ''));
                  return `<tr class="sev-${esc(String(a.severity ?? ''))}"><td>${esc(String(a.severity ?? ''))}</td><td>${esc(String(a.rule ?? ''))}</td><td>${esc(String(a.scopeId ?? ''))}</td><td>${esc(title)}</td><td>${esc(day(String(a.startedAt ?? new Date(0).toISOString())))}</td></tr>`;
                })
                .join('')}</tbody></table></div>`
            : `<p class="note">${t('noAlerts')}</p>`;
        }),
      ]);
    },
    onLive(m) {
      if (merge(ports, m.family, m.points)) drawPorts();
      if (merge(dos, m.family, m.points)) drawDos();
      for (const k of kpis) {
        const hits = m.points.filter(
          (p) => m.family === k.family && p.scope === 'city' && p.metric === k.metric && p.window === 'day',
        );
        if (!hits.length) continue;
        for (const p of hits) {
          const i = k.points.findIndex(([s]) => s === p.windowStart);
          if (i >= 0) k.points[i] = [p.windowStart, p.value];
          else {
            k.points.push([p.windowStart, p.value]);
            k.points.sort((a, b) => a[0].localeCompare(b[0]));
          }
        }
        drawKpi(k);
      }
      const pi = m.points.filter(
        (p) =>
          m.family === 'price' && p.scope === 'city' && p.metric === 'pithead_index' && p.window === 'day',
      );
      if (pi.length) {
        for (const p of pi) {
          const i = priceIndex.findIndex(([s]) => s === p.windowStart);
          if (i >= 0) priceIndex[i] = [p.windowStart, p.value];
          else {
            priceIndex.push([p.windowStart, p.value]);
            priceIndex.sort((a, b) => a[0].localeCompare(b[0]));
          }
        }
        drawPriceIndex();
      }
    },
  };
}

// ------------------------------------------------------------------------------------------- inventory

interface ForecastBody {
  seriesKey: string;
  model: string;
  points: { date: string; value: number; lo80: number; hi80: number; lo95: number; hi95: number }[];
}

async function forecast(key: string): Promise<ForecastBody | null> {
  try {
    return await get<ForecastBody>(`/v1/forecasts/${encodeURIComponent(key)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** A forecast date (YYYY-MM-DD, local) as the window start the history uses. */
const cstStart = (d: string) => new Date(Date.parse(`${d}T00:00:00+08:00`)).toISOString();

async function trendPanel(
  el: HTMLElement,
  chartId: string,
  history: [string, number | null][],
  key: string,
): Promise<void> {
  // Without a forecast (not trained yet, or the product not granted) the history still shows.
  const f = await forecast(key).catch(() => null);
  if (!history.length && !f) {
    empty(el);
    return;
  }
  el.innerHTML =
    chartBox(chartId) +
    (f ? `<p class="hint">${t('forecast')}: ${esc(f.model)}</p>` : `<p class="hint">${t('noForecast')}</p>`);
  const lines: SeriesLine[] = [{ name: t('history'), data: history }];
  const bands: Band[] = [];
  if (f?.points.length) {
    const pts = f.points.map((p) => ({ ...p, at: cstStart(p.date) }));
    bands.push({
      name: t('interval95'),
      lower: pts.map((p) => [p.at, p.lo95]),
      upper: pts.map((p) => [p.at, p.hi95]),
      opacity: 0.15,
    });
    bands.push({
      name: t('interval80'),
      lower: pts.map((p) => [p.at, p.lo80]),
      upper: pts.map((p) => [p.at, p.hi80]),
      opacity: 0.3,
    });
    lines.push({ name: t('forecast'), data: pts.map((p) => [p.at, p.value]), dashed: true });
  }
  lineChart(el.querySelector<HTMLElement>(`#${chartId}`)!, lines, bands, 't');
}

export function inventoryView(): View {
  return {
    id: 'inventory',
    label: 'inventory',
    families: [],
    async render(r) {
      r.innerHTML = `<div class="grid3">${panel('p-mine', 'mineStock')}${panel('p-portstock', 'portStockTotal')}${panel('p-userstock', 'userStock')}</div>`;
      await Promise.all([
        load(r, 'p-mine', async (el) => {
          const s = await series('inventory', 'mine_stock_total_t', 'city', 180);
          await trendPanel(el, 'chart-mine', s.series[0] ? pairs(s.series[0]) : [], 'mine_stock:city@day');
        }),
        load(r, 'p-portstock', async (el) => {
          const s = await series('inventory', 'port_stock_t', 'port', 180);
          await trendPanel(el, 'chart-portstock', total(s.series), 'port_stock:city@day');
        }),
        load(r, 'p-userstock', async (el) => {
          const s = await series('inventory', 'user_stock_t', 'user', 180);
          await trendPanel(el, 'chart-userstock', total(s.series), 'user_stock:city@day');
        }),
      ]);
    },
  };
}

// ------------------------------------------------------------------------------------------- prices

/** The `n` entities with the most points (a chart of every coal type would be unreadable). */
function busiest(entities: Entity[], n = 6): Entity[] {
  return [...entities]
    .sort(
      (a, b) =>
        b.points.filter((p) => p.value !== null).length - a.points.filter((p) => p.value !== null).length,
    )
    .slice(0, n);
}

async function multiLine(
  el: HTMLElement,
  chartId: string,
  family: string,
  metric: string,
  scope: string,
  days: number,
  unit: string,
): Promise<void> {
  const s = await series(family, metric, scope, days);
  const ents = busiest(s.series.filter((e) => e.points.some((p) => p.value !== null)));
  if (!ents.length) {
    empty(el);
    return;
  }
  el.innerHTML = chartBox(chartId);
  lineChart(
    el.querySelector<HTMLElement>(`#${chartId}`)!,
    ents.map((e) => ({ name: e.scopeId, data: pairs(e) })),
    [],
    unit,
  );
}

export function pricesView(): View {
  return {
    id: 'prices',
    label: 'prices',
    families: [],
    async render(r) {
      r.innerHTML = `<div class="grid2">${panel('p-pithead', 'pithead')}${panel('p-fob', 'portFob')}</div>${panel('p-vwap', 'vwap')}`;
      await Promise.all([
        load(r, 'p-pithead', (el) =>
          multiLine(el, 'chart-pithead', 'price', 'pithead_quote_yuan_per_t', 'coal_type', 90, '元/t'),
        ),
        load(r, 'p-fob', (el) =>
          multiLine(el, 'chart-fob', 'price', 'port_fob_yuan_per_t', 'coal_type', 90, '元/t'),
        ),
        load(r, 'p-vwap', (el) =>
          multiLine(el, 'chart-vwap', 'price', 'vwap_yuan_per_t', 'coal_type', 30, '元/t'),
        ),
      ]);
    },
  };
}

// ------------------------------------------------------------------------------------------- transport

export function transportView(): View {
  let root: HTMLElement | null = null;
  const snap: Record<string, Latest | null> = { route: null, gate: null, port: null };
  const draw = () => {
    if (!root) return;
    const routeEl = root.querySelector<HTMLElement>('#p-approval .body');
    const r = snap.route;
    if (routeEl && r) {
      const ents = r.entities.filter((e) => valueOf(e, 'approval_ratio_pct') !== null);
      if (!ents.length) {
        routeEl.innerHTML = '';
        empty(routeEl);
      } else {
        if (!routeEl.querySelector('#chart-approval')) routeEl.innerHTML = chartBox('chart-approval');
        barChart(
          routeEl.querySelector<HTMLElement>('#chart-approval')!,
          ents.map((e) => e.scopeId),
          [{ name: t('railApproval'), data: ents.map((e) => valueOf(e, 'approval_ratio_pct')) }],
          ['%'],
        );
      }
      const useEl = root.querySelector<HTMLElement>('#p-routeuse .body')!;
      const used = r.entities.filter(
        (e) => valueOf(e, 'rail_shipped_t') !== null || valueOf(e, 'route_capacity_use_pct') !== null,
      );
      if (!used.length) {
        useEl.innerHTML = '';
        empty(useEl);
      } else {
        if (!useEl.querySelector('#chart-routeuse')) useEl.innerHTML = chartBox('chart-routeuse');
        barChart(
          useEl.querySelector<HTMLElement>('#chart-routeuse')!,
          used.map((e) => e.scopeId),
          [
            { name: t('shipped'), data: used.map((e) => valueOf(e, 'rail_shipped_t')) },
            {
              name: t('capacityUse'),
              data: used.map((e) => valueOf(e, 'route_capacity_use_pct')),
              yAxisIndex: 1,
            },
          ],
          ['t', '%'],
        );
      }
    }
    const gateEl = root.querySelector<HTMLElement>('#p-trucks .body');
    if (gateEl && snap.gate) {
      const ents = snap.gate.entities.filter((e) => valueOf(e, 'trucks') !== null);
      if (!ents.length) {
        gateEl.innerHTML = '';
        empty(gateEl);
      } else {
        if (!gateEl.querySelector('#chart-trucks')) gateEl.innerHTML = chartBox('chart-trucks');
        barChart(
          gateEl.querySelector<HTMLElement>('#chart-trucks')!,
          ents.map((e) => e.scopeId),
          [{ name: t('trucks'), data: ents.map((e) => valueOf(e, 'trucks')) }],
        );
      }
    }
    const portEl = root.querySelector<HTMLElement>('#p-vessels .body');
    if (portEl && snap.port) {
      const ents = snap.port.entities.filter((e) => valueOf(e, 'vessels_waiting') !== null);
      if (!ents.length) {
        portEl.innerHTML = '';
        empty(portEl);
      } else {
        if (!portEl.querySelector('#chart-vessels')) portEl.innerHTML = chartBox('chart-vessels');
        barChart(
          portEl.querySelector<HTMLElement>('#chart-vessels')!,
          ents.map((e) => e.scopeId),
          [{ name: t('vessels'), data: ents.map((e) => valueOf(e, 'vessels_waiting')) }],
        );
      }
    }
  };
  return {
    id: 'transport',
    label: 'transport',
    families: ['transport'],
    async render(r) {
      root = r;
      r.innerHTML = `<div class="grid2">${panel('p-approval', 'railApproval')}${panel('p-routeuse', 'routeUse')}</div><div class="grid2">${panel('p-trucks', 'trucks')}${panel('p-vessels', 'vessels')}</div>`;
      await Promise.all([
        load(r, 'p-approval', async () => {
          snap.route = await latest('transport', 'route');
          draw();
        }),
        load(r, 'p-trucks', async () => {
          snap.gate = await latest('transport', 'gate');
          draw();
        }),
        load(r, 'p-vessels', async () => {
          snap.port = await latest('transport', 'port');
          draw();
        }),
      ]);
    },
    onLive(m) {
      let changed = false;
      for (const s of Object.values(snap)) changed = merge(s, m.family, m.points) || changed;
      if (changed) draw();
    },
  };
}

// ------------------------------------------------------------------------------------------- operators

const FEEDS = ['sales', 'mines', 'mine_inventory', 'prices', 'rail', 'highway', 'ports', 'coal_users'];
const FEED_ZH: Record<string, string> = {
  sales: '过磅销售',
  mines: '煤矿',
  mine_inventory: '煤矿库存',
  prices: '价格',
  rail: '铁路',
  highway: '公路卡口',
  ports: '港口',
  coal_users: '用煤企业',
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, enough of it for counters and gauges. */
export function parseMetrics(body: string): Sample[] {
  const out: Sample[] = [];
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

interface Reject {
  id: string;
  feed: string;
  reason: string;
  message: string;
  receivedAt: string;
  status: string;
  payload: unknown;
}

export function operatorsView(): View {
  let timer: ReturnType<typeof setInterval> | null = null;
  const seen = new Map<string, { count: number; at: number | null }>();
  let root: HTMLElement | null = null;

  const drawFeeds = async (el: HTMLElement) => {
    const samples = parseMetrics(await text('/metrics'));
    const sum = (name: string, f: (l: Record<string, string>) => boolean) =>
      samples.filter((s) => s.name === name && f(s.labels)).reduce((n, s) => n + s.value, 0);
    const now = Date.now();
    const rows = FEEDS.map((feed) => {
      const accepted = sum('coalflow_events_out_total', (l) => l.topic?.endsWith(`coal.${feed}.v1`) ?? false);
      const rejected = sum('coalflow_dead_letters_total', (l) => l.feed === feed);
      const lag = sum('coalflow_consumer_lag', (l) => l.topic?.endsWith(`coal.${feed}.v1`) ?? false);
      const prev = seen.get(feed);
      const count = accepted + rejected;
      // Freshness as the page observes it: when the feed's count last moved.
      const at = !prev ? null : count !== prev.count ? now : prev.at;
      seen.set(feed, { count, at });
      return { feed, accepted, rejected, lag, at };
    });
    el.innerHTML = `<div class="scroll"><table id="feeds-table"><thead><tr><th scope="col">${t('feed')}</th><th scope="col" class="n">${t('accepted')}</th><th scope="col" class="n">${t('rejected')}</th><th scope="col" class="n">${t('lag')}</th><th scope="col">${t('lastSeen')}</th></tr></thead><tbody>
      ${rows.map((r) => `<tr data-feed="${r.feed}"><th scope="row">${getLang() === 'zh' ? `${FEED_ZH[r.feed]} <span class="unit">${r.feed}</span>` : r.feed}</th><td class="n">${num(r.accepted)}</td><td class="n">${num(r.rejected)}</td><td class="n ${r.lag > 0 ? 'warn' : ''}">${num(r.lag)}</td><td>${r.at === null ? '—' : `${Math.round((now - r.at) / 1000)} ${t('secondsAgo')}`}</td></tr>`).join('')}
      </tbody></table></div>`;
    const reasons = new Map<string, number>();
    for (const s of samples)
      if (s.name === 'coalflow_dead_letters_total')
        reasons.set(s.labels.reason ?? '?', (reasons.get(s.labels.reason ?? '?') ?? 0) + s.value);
    const rEl = root?.querySelector<HTMLElement>('#p-reasons .body');
    if (rEl) {
      const rs = [...reasons.entries()].sort((a, b) => b[1] - a[1]);
      if (!rs.length) {
        rEl.innerHTML = '';
        empty(rEl);
      } else {
        if (!rEl.querySelector('#chart-reasons')) rEl.innerHTML = chartBox('chart-reasons');
        barChart(
          rEl.querySelector<HTMLElement>('#chart-reasons')!,
          rs.map(([k]) => k),
          [{ name: t('rejected'), data: rs.map(([, v]) => v) }],
        );
      }
    }
  };

  const drawRejects = async (el: HTMLElement) => {
    const body = await get<{ rejects: Reject[] }>('/v1/rejects?status=open&limit=50');
    if (!body.rejects.length) {
      el.innerHTML = '';
      empty(el);
      return;
    }
    el.innerHTML = `<div class="scroll tall"><table id="rejects-table"><thead><tr><th scope="col">#</th><th scope="col">${t('feed')}</th><th scope="col">${t('reason')}</th><th scope="col">${t('message')}</th><th scope="col">${t('received')}</th><th scope="col"></th></tr></thead><tbody>
      ${body.rejects.map((r) => `<tr data-id="${esc(r.id)}"><td>${esc(r.id)}</td><td>${esc(r.feed)}</td><td>${esc(r.reason)}</td><td>${esc(half(r.message))}</td><td>${esc(r.receivedAt.slice(0, 16).replace('T', ' '))}</td><td><button type="button" data-fix="${esc(r.id)}">${t('fix')}</button></td></tr>`).join('')}
      </tbody></table></div><div id="fix-box"></div>`;
    const byId = new Map(body.rejects.map((r) => [r.id, r]));
    el.querySelectorAll<HTMLButtonElement>('button[data-fix]').forEach((b) =>
      b.addEventListener('click', () => {
        const r = byId.get(b.dataset.fix!)!;
        const box = el.querySelector<HTMLElement>('#fix-box')!;
        box.innerHTML = `<form class="fix" aria-label="${t('fix')} #${esc(r.id)}"><label for="fix-json">${t('fix')} #${esc(r.id)} (${esc(r.feed)}, ${esc(r.reason)})</label>
        <textarea id="fix-json" rows="8" spellcheck="false">${esc(JSON.stringify(r.payload, null, 2))}</textarea>
        <div class="row"><button type="submit">${t('replay')}</button><button type="button" data-cancel>${t('cancel')}</button><span class="result" role="status"></span></div></form>`;
        const form = box.querySelector('form')!;
        const area = box.querySelector<HTMLTextAreaElement>('#fix-json')!;
        area.focus();
        box.querySelector('[data-cancel]')!.addEventListener('click', () => {
          box.innerHTML = '';
          b.focus();
        });
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const out = box.querySelector<HTMLElement>('.result')!;
          try {
            const res = await post<{ status: string }>(
              `/v1/rejects/${encodeURIComponent(r.id)}/replay`,
              area.value,
              'text/plain',
            );
            out.textContent = `${t('replayDone')}: ${res.status}`;
            void load(root!, 'p-rejects', drawRejects);
          } catch (err) {
            out.textContent = `${t('error')}: ${half((err as Error).message)}`;
          }
        });
      }),
    );
  };

  return {
    id: 'operators',
    label: 'operators',
    families: [],
    async render(r) {
      root = r;
      r.innerHTML = `<p class="hint">${t('operatorOnly')}</p><div class="grid2">${panel('p-feeds', 'feeds')}${panel('p-reasons', 'rejectsByReason')}</div>${panel('p-rejects', 'rejectList')}`;
      await Promise.all([load(r, 'p-feeds', drawFeeds), load(r, 'p-rejects', drawRejects)]);
      timer = setInterval(() => {
        if (root) void load(root, 'p-feeds', drawFeeds);
      }, 5000);
    },
    leave() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

// ------------------------------------------------------------------------------------------- reports

interface ReportItem {
  id: number;
  period: string;
  periodKey: string;
  version: number;
  formats: string[];
  createdAt: string;
  links?: Record<string, string>;
}

export function reportsView(): View {
  let root: HTMLElement | null = null;
  const drawList = async (el: HTMLElement) => {
    const body = await get<{ items: ReportItem[] }>('/v1/reports');
    if (!body.items.length) {
      el.innerHTML = `<p class="note">${t('noReports')}</p>`;
      return;
    }
    el.innerHTML = `<div class="scroll tall"><table id="reports-table"><thead><tr><th scope="col">#</th><th scope="col">${t('kind')}</th><th scope="col">${t('period')}</th><th scope="col">${t('created')}</th><th scope="col">${t('download')}</th></tr></thead><tbody>
      ${body.items.map((r) => `<tr data-id="${r.id}"><td>${r.id}</td><td>${esc(r.period)}</td><td>${esc(r.periodKey)} v${r.version}</td><td>${esc(r.createdAt.slice(0, 16).replace('T', ' '))}</td><td class="dl">${r.formats.map((f) => `<button type="button" data-dl="${r.id}" data-format="${esc(f)}">${esc(f.toUpperCase())}</button>`).join(' ')}</td></tr>`).join('')}
      </tbody></table></div>`;
    el.querySelectorAll<HTMLButtonElement>('button[data-dl]').forEach((b) =>
      b.addEventListener('click', async () => {
        const lang = getLang() === 'en' ? '?lang=en' : '';
        try {
          await download(
            `/v1/reports/${b.dataset.dl}/${b.dataset.format}${lang}`,
            `coalflow-report-${b.dataset.dl}.${b.dataset.format}`,
          );
        } catch (err) {
          b.title = half((err as Error).message);
          b.classList.add('failed');
        }
      }),
    );
  };
  return {
    id: 'reports',
    label: 'reports',
    families: [],
    async render(r) {
      root = r;
      const today = new Date(Date.now() + 8 * 3600_000 - DAY_MS).toISOString().slice(0, 10);
      // Generating is for operators (the API refuses others); without an access layer everyone is one.
      const operator = kind() === null || kind() === 'operator';
      r.innerHTML = `${
        operator
          ? panel(
              'p-generate',
              'generate',
              `<form id="generate-form" class="row">
          <label>${t('kind')} <select name="period"><option value="day">day</option><option value="week">week</option><option value="month" selected>month</option><option value="year">year</option></select></label>
          <label>${t('period')} <input name="date" type="date" value="${today}" required></label>
          <button type="submit">${t('submit')}</button><span class="result" role="status"></span></form>
          <p class="hint">${t('operatorOnly')}</p>`,
            )
          : ''
      }
        ${panel('p-reports', 'reportList')}`;
      r.querySelector<HTMLFormElement>('#generate-form')?.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target as HTMLFormElement);
        const out = r.querySelector<HTMLElement>('#generate-form .result')!;
        try {
          const res = await post<{ jobId: number; links?: { job?: string } }>('/v1/reports', {
            period: f.get('period'),
            date: f.get('date'),
          });
          out.textContent = `${t('reportQueued')} (#${res.jobId})`;
          // The job runs in the API process; the list is read again until the new report shows.
          for (let i = 0; i < 30 && root === r; i++) {
            await new Promise((ok) => setTimeout(ok, 2000));
            if (res.links?.job) {
              const j = await get<{ status: string; error?: string }>(res.links.job).catch(() => null);
              if (j && (j.status === 'done' || j.status === 'failed')) {
                out.textContent = `${t('reportQueued')} (#${res.jobId}): ${j.status}${j.error ? ` ${half(j.error)}` : ''}`;
                break;
              }
            }
          }
          await load(r, 'p-reports', drawList);
        } catch (err) {
          out.textContent = `${t('error')}: ${half((err as Error).message)}`;
        }
      });
      await load(r, 'p-reports', drawList);
    },
    leave() {
      root = null;
    },
  };
}
