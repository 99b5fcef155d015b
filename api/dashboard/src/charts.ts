/**
 * ECharts with only what the page draws (tree-shaken), SVG renderer: crisp at any zoom, and the drawn
 * marks are elements a test can count. `aria` gives each chart a spoken description.
 */
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import {
  AriaComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  MarkLineComponent,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import { getLang } from './i18n.ts';

echarts.use([
  BarChart,
  LineChart,
  AriaComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  MarkLineComponent,
  SVGRenderer,
]);

/** Colour-blind-safe palette (Okabe–Ito), dark enough on white. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

const live = new Set<echarts.ECharts>();

export interface SeriesLine {
  name: string;
  data: [string, number | null][];
  dashed?: boolean;
  area?: boolean;
}
export interface Band {
  name: string;
  lower: [string, number][];
  upper: [string, number][];
  opacity: number;
}

function base(): echarts.EChartsCoreOption {
  return {
    color: PALETTE,
    aria: { enabled: true, decal: { show: false } },
    textStyle: { fontFamily: 'inherit', color: '#1a1a1a' },
    tooltip: { trigger: 'axis' },
    grid: { left: 56, right: 16, top: 48, bottom: 28, containLabel: true },
    legend: { top: 0, type: 'scroll', textStyle: { color: '#1a1a1a' } },
    animation: false,
  };
}

/** Creates (or reuses) the chart in `el` and records how many points it draws in `data-points`. */
export function chart(el: HTMLElement, option: echarts.EChartsCoreOption, points: number): echarts.ECharts {
  let c = echarts.getInstanceByDom(el);
  if (!c) {
    c = echarts.init(el, undefined, { renderer: 'svg', locale: getLang() === 'zh' ? 'ZH' : 'EN' });
    live.add(c);
  }
  c.setOption({ ...base(), ...option }, { notMerge: true });
  el.dataset.points = String(points);
  return c;
}

export function lineChart(
  el: HTMLElement,
  lines: SeriesLine[],
  bands: Band[] = [],
  yName = '',
  extra: echarts.EChartsCoreOption = {},
): echarts.ECharts {
  const series: unknown[] = [];
  for (const b of bands) {
    // A band is drawn as a transparent lower line and the stacked difference filled above it.
    const upper = new Map(b.upper);
    series.push({
      name: b.name,
      type: 'line',
      stack: b.name,
      data: b.lower,
      symbol: 'none',
      lineStyle: { opacity: 0 },
      tooltip: { show: false },
    });
    series.push({
      name: b.name,
      type: 'line',
      stack: b.name,
      symbol: 'none',
      lineStyle: { opacity: 0 },
      areaStyle: { color: PALETTE[1], opacity: b.opacity },
      data: b.lower.map(([d, lo]) => [d, (upper.get(d) ?? lo) - lo]),
      tooltip: { show: false },
    });
  }
  lines.forEach((l, i) =>
    series.push({
      name: l.name,
      type: 'line',
      data: l.data,
      showSymbol: l.data.length < 40,
      connectNulls: false,
      lineStyle: { width: 2, type: l.dashed ? 'dashed' : 'solid' },
      ...(l.dashed ? { color: PALETTE[1] } : { color: PALETTE[i % PALETTE.length] }),
    }),
  );
  const points = lines.reduce((n, l) => n + l.data.filter(([, v]) => v !== null).length, 0);
  return chart(
    el,
    {
      xAxis: { type: 'time', axisLabel: { color: '#333', hideOverlap: true } },
      yAxis: {
        type: 'value',
        name: yName,
        scale: true,
        axisLabel: { color: '#333' },
        nameTextStyle: { color: '#333' },
      },
      series,
      ...extra,
    },
    points,
  );
}

export function barChart(
  el: HTMLElement,
  categories: string[],
  bars: { name: string; data: (number | null)[]; yAxisIndex?: number }[],
  yNames: string[] = [''],
  markAt?: number,
): echarts.ECharts {
  const points = bars.reduce((n, b) => n + b.data.filter((v) => v !== null).length, 0);
  return chart(
    el,
    {
      // One series: the panel's title names it, a legend would only take room.
      ...(bars.length === 1
        ? { legend: { show: false }, grid: { left: 56, right: 16, top: 24, bottom: 28, containLabel: true } }
        : {}),
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: {
        type: 'category',
        data: categories,
        axisLabel: { color: '#333', interval: 0, rotate: categories.length > 6 ? 30 : 0, fontSize: 11 },
      },
      yAxis: yNames.map((n) => ({
        type: 'value',
        name: n,
        axisLabel: { color: '#333' },
        nameTextStyle: { color: '#333' },
      })),
      series: bars.map((b, i) => ({
        name: b.name,
        type: 'bar',
        data: b.data,
        yAxisIndex: b.yAxisIndex ?? 0,
        itemStyle: { color: PALETTE[i % PALETTE.length] },
        ...(markAt !== undefined && i === 0
          ? {
              markLine: {
                symbol: 'none',
                data: [{ yAxis: markAt }],
                lineStyle: { color: '#000', type: 'dashed' },
                label: { color: '#000' },
              },
            }
          : {}),
      })),
    },
    points,
  );
}

/** Disposes every chart (before a view is replaced). */
export function disposeAll(): void {
  for (const c of live) c.dispose();
  live.clear();
}

window.addEventListener('resize', () => {
  for (const c of live) c.resize();
});
