/**
 * Source column names to canonical field names. Headers of real exports vary:
 * full-width brackets, units in brackets (`净重(吨)`, `核定产能（万吨/年）`),
 * whitespace inside names (PDF copies: `结算人员 姓名`), snake_case or camelCase
 * English. Keys are normalized before lookup; a unit in the header is kept and
 * applied to values that carry no unit of their own.
 */
import type { FeedName } from './types.ts';
import {
  EVENT_TIME_ALIASES,
  MONTH_ALIASES,
  YEAR_ALIASES,
  inputFields,
  YARD_MARKERS,
  type FieldSpec,
} from './fields.ts';
import { cleanText, isEmpty } from './parse.ts';

/** Lower-case, NFKC, without whitespace, separators, punctuation and brackets. */
export function normKey(key: string): string {
  return key
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s_\-.·・、，,。:：;；'"“”‘’/\\|()[\]{}【】（）<>《》]/g, '');
}

const BRACKET_SUFFIX = /[(（[【]([^()（）[\]【】]*)[)）\]】]\s*$/;

/** Splits `净重(吨)` into the key without the bracketed suffix and the unit inside it. */
export function splitHeader(key: string): { base: string; unit: string } | null {
  const k = key.normalize('NFKC').trim();
  const m = BRACKET_SUFFIX.exec(k);
  if (!m) return null;
  return { base: k.slice(0, m.index), unit: m[1]!.trim() };
}

interface AliasTarget {
  field: string;
  implies?: Readonly<Record<string, string>>;
}

export interface AliasIndex {
  feed: FeedName;
  byKey: Map<string, AliasTarget>;
  specs: Map<string, FieldSpec>;
  yardMarkers: Set<string>;
}

const indexes = new Map<FeedName, AliasIndex>();

/** Pseudo fields every feed reads: a generic event time, a year and a month. */
export const TIME_FIELD = '_time';
export const YEAR_FIELD = '_year';
export const MONTH_FIELD = '_month';

export function aliasIndex(feed: FeedName): AliasIndex {
  let idx = indexes.get(feed);
  if (idx) return idx;
  const byKey = new Map<string, AliasTarget>();
  const specs = new Map<string, FieldSpec>();
  const add = (alias: string, target: AliasTarget) => {
    const k = normKey(alias);
    if (!byKey.has(k)) byKey.set(k, target);
  };
  for (const f of inputFields(feed)) {
    specs.set(f.name, f);
    add(f.name, { field: f.name });
    for (const a of f.aliases ?? []) add(a, { field: f.name, implies: f.implies?.[a] });
  }
  for (const a of EVENT_TIME_ALIASES) add(a, { field: TIME_FIELD });
  for (const a of YEAR_ALIASES) add(a, { field: YEAR_FIELD });
  for (const a of MONTH_ALIASES) add(a, { field: MONTH_FIELD });
  idx = { feed, byKey, specs, yardMarkers: new Set(YARD_MARKERS.map(normKey)) };
  indexes.set(feed, idx);
  return idx;
}

/** The canonical field a source key maps to in a feed, if any. */
export function fieldOfKey(feed: FeedName, key: string): string | undefined {
  const idx = aliasIndex(feed);
  const direct = idx.byKey.get(normKey(key));
  if (direct) return direct.field;
  const split = splitHeader(key);
  return split ? idx.byKey.get(normKey(split.base))?.field : undefined;
}

export interface Mapped {
  /** Canonical field -> source value (units from headers already attached). */
  values: Record<string, unknown>;
  /** Values implied by the column names used (e.g. priceKind from 坑口价). */
  implied: Record<string, string>;
  /** Unknown source fields, kept (as text) in the extension map. */
  ext: Record<string, string>;
  /** True when coal-yard columns (全市煤场运销信息) were seen. */
  yard: boolean;
}

const NUMERIC = /^[\s+\-.,0-9eE]+$/;
const NUMBER_KINDS = new Set([
  'weight',
  'stock',
  'capacity',
  'price',
  'money',
  'kcal',
  'pct',
  'count',
  'mw',
  'minutes',
  'number',
]);

/**
 * Maps a source object onto canonical field names. The first non-empty value
 * of a field wins; a second, different value for the same field is kept in
 * `ext` under its source key rather than silently lost.
 */
export function mapAliases(feed: FeedName, raw: Record<string, unknown>): Mapped {
  const idx = aliasIndex(feed);
  const out: Mapped = { values: {}, implied: {}, ext: {}, yard: false };
  for (const [rawKey, value] of Object.entries(raw)) {
    const nk = normKey(rawKey);
    let target = idx.byKey.get(nk);
    let unit = '';
    if (!target) {
      const split = splitHeader(rawKey);
      if (split) {
        target = idx.byKey.get(normKey(split.base));
        unit = split.unit;
      }
    }
    if (idx.yardMarkers.has(nk)) out.yard = true;
    if (!target) {
      if (!isEmpty(value)) out.ext[rawKey.trim()] = cleanText(value);
      continue;
    }
    if (isEmpty(value)) continue;
    if (target.implies) Object.assign(out.implied, target.implies);
    let v = value;
    const spec = idx.specs.get(target.field);
    if (
      unit &&
      spec &&
      NUMBER_KINDS.has(spec.kind) &&
      (typeof v === 'number' || (typeof v === 'string' && NUMERIC.test(v)))
    ) {
      v = `${String(v).trim()}${unit}`;
    }
    if (target.field in out.values) {
      if (cleanText(out.values[target.field]) !== cleanText(v)) out.ext[rawKey.trim()] = cleanText(value);
      continue;
    }
    out.values[target.field] = v;
  }
  return out;
}
