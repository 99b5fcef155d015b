/**
 * Which indicator series the city forecasts, at which frequency and horizon
 * (the plan asks for daily volume and value per city/region/coal type, daily and weekly
 * price per coal type, monthly production per city/region, port stocks,
 * coal-user consumption). Production is forecast from weighbridge sales
 * tonnage (the sales feed is the only complete per-mine production proxy);
 * rail shipments are forecast beside it.
 */
import { minimumLength } from './backtest.ts';
import type { SeriesSource } from './scheduler.ts';
import type { Frequency, SeriesPoint } from './types.ts';

export interface CatalogEntry {
  /** Indicator series kind (pipelines/indicators/series.ts). */
  kind: string;
  scopes: string[];
  frequency: Frequency;
  /** Preferred horizon first; a shorter one is used while the history is short. */
  horizons: number[];
  label: string;
}

export const FORECAST_CATALOG: CatalogEntry[] = [
  {
    kind: 'sales_volume',
    scopes: ['city', 'region', 'coal_type'],
    frequency: 'day',
    horizons: [28, 7],
    label: '日交易量 t',
  },
  {
    kind: 'sales_value',
    scopes: ['city', 'region', 'coal_type'],
    frequency: 'day',
    horizons: [28, 7],
    label: '日交易额 元',
  },
  {
    kind: 'price_vwap',
    scopes: ['city', 'coal_type', 'band'],
    frequency: 'day',
    horizons: [28, 7],
    label: '日成交均价 元/t',
  },
  {
    kind: 'price_vwap',
    scopes: ['city', 'coal_type', 'band'],
    frequency: 'week',
    horizons: [13, 4],
    label: '周成交均价 元/t',
  },
  {
    kind: 'sales_volume',
    scopes: ['city', 'region'],
    frequency: 'month',
    horizons: [12, 3],
    label: '月产量（地磅销量口径）t',
  },
  {
    kind: 'rail_shipped',
    scopes: ['city', 'route'],
    frequency: 'day',
    horizons: [28, 7],
    label: '铁路日发运量 t',
  },
  { kind: 'port_stock', scopes: ['port'], frequency: 'day', horizons: [28, 7], label: '港口场存 t' },
  {
    kind: 'user_consumption',
    scopes: ['city', 'sector'],
    frequency: 'day',
    horizons: [28, 7],
    label: '用煤企业日耗 t',
  },
];

const PERIOD_ZH: Record<Frequency, string> = { day: '日', week: '周', month: '月' };

/** Stored key of a forecast: the indicator series key and its frequency. */
export const forecastKey = (seriesKey: string, frequency: Frequency) => `${seriesKey}@${frequency}`;

/** A catalogue series left out of a retrain run, and why (served by the retrain endpoint). */
export interface SkippedSeries {
  key: string;
  reason: 'no_data' | 'too_short';
  points: number;
  needed: number;
  message: string;
}

/**
 * Builds the sources for one retrain run from the series that exist now; a
 * series too short for even its shortest horizon waits for more data, and is
 * reported to `onSkip` (as is a catalogue scope without any series).
 */
export async function catalogSources(
  listKeys: () => Promise<string[]>,
  load: (seriesKey: string, frequency: Frequency) => Promise<SeriesPoint[]>,
  catalog: readonly CatalogEntry[] = FORECAST_CATALOG,
  onSkip?: (s: SkippedSeries) => void,
): Promise<SeriesSource[]> {
  const keys = await listKeys();
  const out: SeriesSource[] = [];
  for (const entry of catalog) {
    const needed = minimumLength(Math.min(...entry.horizons));
    const seen = new Set<string>();
    for (const key of keys) {
      const [head, scope] = key.split(':');
      if (head !== entry.kind || !scope || !entry.scopes.includes(scope)) continue;
      seen.add(scope);
      const points = await load(key, entry.frequency);
      const horizon = entry.horizons.find((h) => points.length >= minimumLength(h));
      if (horizon === undefined) {
        onSkip?.({
          key: forecastKey(key, entry.frequency),
          reason: 'too_short',
          points: points.length,
          needed,
          message: `历史不足：${points.length} 个${PERIOD_ZH[entry.frequency]}，至少需要 ${needed} 个 / history too short: ${points.length} ${entry.frequency}s, needs ${needed}`,
        });
        continue;
      }
      out.push({
        key: forecastKey(key, entry.frequency),
        label: `${entry.label} · ${key}`,
        frequency: entry.frequency,
        horizon,
        load: async () => points,
      });
    }
    for (const scope of entry.scopes) {
      if (seen.has(scope)) continue;
      onSkip?.({
        key: forecastKey(`${entry.kind}:${scope}`, entry.frequency),
        reason: 'no_data',
        points: 0,
        needed,
        message: `尚无数据 / no data yet`,
      });
    }
  }
  return out;
}
