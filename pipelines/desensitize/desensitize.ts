/**
 * Applies the policy to a validated record: personal fields become keyed
 * tokens or disappear, times and addresses are generalized, unknown fields are
 * screened. Pure given the policy and the secret.
 */
import { createHmac } from 'node:crypto';
import { fieldOfKey } from '../contracts/aliases.ts';
import { FEED_FIELDS, PERSONAL_FIELDS } from '../contracts/fields.ts';
import { parseTimeMs, toIsoCst } from '../contracts/parse.ts';
import type { FeedName, FeedRecordMap } from '../contracts/types.ts';
import type { Validated } from '../contracts/validate.ts';
import { jsonDepth, MAX_RECORD_DEPTH } from '../contracts/screen.ts';
import type { Policy, Rule } from './policy.ts';

const PERSONAL = new Set(PERSONAL_FIELDS.map((f) => f.name));
/** Identifier fields: never scanned for phone/id patterns (credit codes look like id numbers). */
const ID_FIELDS = new Set(['recordId', 'saleId', 'mineId', 'userId', 'creditCode', 'regionCode']);

/** Canonical form of a value before tokenizing, so `蒙K 12345` and `蒙K·12345` give one token. */
export function normalizeForToken(field: string, value: string): string {
  const s = value.normalize('NFKC').trim();
  if (field === 'plate') return s.toUpperCase().replace(/[\s·.\-_]/g, '');
  if (field.endsWith('Phone')) return s.replace(/\D/g, '').replace(/^86(?=1\d{10}$)/, '');
  return s.replace(/\s+/g, '');
}

/** Masks the middle of a value: `13812345678` -> `138****5678`, `蒙K12345` -> `蒙K****5`. */
export function maskValue(value: string): string {
  const s = value.normalize('NFKC');
  const chars = [...s];
  if (/^1\d{10}$/.test(s)) return `${s.slice(0, 3)}****${s.slice(7)}`;
  if (chars.length <= 1) return '*';
  if (chars.length === 2) return `${chars[0]}*`;
  const keepHead = chars.length >= 6 ? 2 : 1;
  return `${chars.slice(0, keepHead).join('')}${'*'.repeat(chars.length - keepHead - 1)}${chars[chars.length - 1]}`;
}

/** Truncates an ISO time to the hour (+08:00). */
export function generalizeHour(iso: string): string {
  const ms = parseTimeMs(iso);
  if (ms === null) return iso;
  const h = 3600_000;
  const offset = 8 * h;
  return toIsoCst(Math.floor((ms + offset) / h) * h - offset);
}

/**
 * Cuts an address after the county-level unit: `河北省唐山市曹妃甸区港城大道88号`
 * -> `河北省唐山市曹妃甸区`. Text without any administrative unit is kept when short
 * and free of digits (`秦皇岛港`), otherwise dropped (returns undefined).
 */
export function generalizeDistrict(address: string): string | undefined {
  const s = address.normalize('NFKC').replace(/\s+/g, '');
  const m =
    /^((?:[^省市]{2,8}?(?:省|自治区|特别行政区))?)((?:[^市州盟]{1,10}?(?:市|自治州|州|盟|地区))?)((?:[^区县旗市\d]{1,8}?(?:区|县|旗|市))?)/.exec(
      s,
    );
  const prefix = m ? `${m[1]}${m[2]}${m[3]}` : '';
  // A port or station right after the unit (`河北省黄骅港`) is a place, not an address line.
  const rest = s.slice(prefix.length);
  if (prefix && /^[^\d]{1,6}(港|港区|站|码头|园区|开发区)$/.test(rest)) return s;
  if (prefix) return prefix;
  if (s.length <= 12 && !/\d/.test(s)) return s;
  return undefined;
}

export interface Desensitizer {
  readonly policy: Policy;
  /** Applies the policy; the result is what the canonical topic, the database and logs may hold. */
  apply<F extends FeedName>(v: Validated<F>): FeedRecordMap[F];
  /** Keyed token of a value of a personal field (stable: same input, same secret, same token). */
  token(field: string, value: string): string;
  /** Keyed hash for ids derived from content. */
  hashId(text: string): string;
  /** Screens free text for phone numbers, id numbers and plates (policy value patterns). */
  scrub(text: string): string;
  /** An operator view of a raw (rejected) payload: personal fields and patterns masked. */
  maskPayload(feed: FeedName | null, payload: unknown): unknown;
}

export function createDesensitizer(policy: Policy, secret: string): Desensitizer {
  if (!secret) throw new Error('desensitizer needs a token secret');
  const hmac = (domain: string, text: string) =>
    createHmac('sha256', secret).update(`${domain}\u0000${text}`).digest('base64url');
  const token = (field: string, value: string) =>
    `v1.${hmac(`token:${field}`, normalizeForToken(field, value)).slice(0, 22)}`;
  const hashId = (text: string) => hmac('record-id', text).slice(0, 24);

  const scrub = (text: string): string => {
    let out = text;
    for (const v of policy.ext.values) {
      out = out.replace(v.pattern, (m) => (v.rule === 'mask' ? maskValue(m) : ''));
    }
    return out;
  };

  const extOf = (
    feed: FeedName,
    ext: Record<string, string> | undefined,
  ): Record<string, string> | undefined => {
    if (!ext) return undefined;
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(ext)) {
      const mapped = fieldOfKey(feed, key);
      if (mapped && PERSONAL.has(mapped)) continue; // a second personal column: never kept
      const keyRule = policy.ext.keys.find((k) => k.pattern.test(key))?.rule ?? policy.ext.default;
      if (keyRule === 'drop') continue;
      out[key] = keyRule === 'mask' ? maskValue(value) : scrub(value); // 'keep': listed free text, patterns masked
    }
    return Object.keys(out).length ? out : undefined;
  };

  const kinds = new Map<FeedName, Map<string, string>>();
  const kindOf = (feed: FeedName, field: string) => {
    let m = kinds.get(feed);
    if (!m) kinds.set(feed, (m = new Map(FEED_FIELDS[feed].map((f) => [f.name, f.kind]))));
    return m.get(field);
  };

  function apply<F extends FeedName>(v: Validated<F>): FeedRecordMap[F] {
    const rules = policy.rules[v.feed];
    const src = v.record as unknown as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(src)) {
      if (field === 'ext') continue;
      const rule: Rule = rules[field] ?? 'keep';
      if (value === undefined) continue;
      switch (rule) {
        case 'keep':
          out[field] =
            typeof value === 'string' && !ID_FIELDS.has(field) && kindOf(v.feed, field) === 'string'
              ? scrub(value)
              : value;
          break;
        case 'drop':
          break;
        case 'mask':
          out[field] = maskValue(String(value));
          break;
        case 'token':
          out[`${field}Token`] = token(field, String(value));
          break;
        case 'generalize:hour':
          out[field] = generalizeHour(String(value));
          break;
        case 'generalize:district': {
          const g = generalizeDistrict(String(value));
          if (g !== undefined) out[field] = g;
          break;
        }
      }
    }
    for (const [field, value] of Object.entries(v.personal)) {
      const rule = rules[field] ?? 'drop';
      if (rule === 'token') out[`${field}Token`] = token(field, value);
    }
    const ext = extOf(v.feed, v.record.ext);
    if (ext) out.ext = ext;
    return out as unknown as FeedRecordMap[F];
  }

  /** Every leaf masked: the value of a personal key, whatever its shape. */
  const maskAll = (value: unknown, depth: number): unknown => {
    if (value === null || value === undefined || typeof value === 'boolean') return value;
    if (depth > MAX_RECORD_DEPTH) return '[…]';
    if (Array.isArray(value)) return value.map((x) => maskAll(x, depth + 1));
    if (typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, maskAll(v, depth + 1)]),
      );
    }
    return maskValue(String(value));
  };

  /**
   * One value of a raw payload for operators: keys of personal fields (by the
   * feed's aliases or the personal-key patterns) and unknown columns (free
   * text, where names cannot be detected) fully masked; other text screened
   * for phones, id numbers and plates; arrays and objects at any depth alike.
   */
  const maskDeep = (feed: FeedName | null, value: unknown, depth: number): unknown => {
    if (value === null || value === undefined || typeof value === 'boolean' || typeof value === 'number')
      return value;
    if (depth > MAX_RECORD_DEPTH) return '[…]';
    if (typeof value === 'string') return scrub(value);
    if (Array.isArray(value)) return value.map((x) => maskDeep(feed, x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      const field = feed ? fieldOfKey(feed, key) : undefined;
      const rule = field ? policy.rules[feed!][field] : undefined;
      const personalKey =
        (field && PERSONAL.has(field)) ||
        policy.ext.keys.some((k) => k.rule !== 'keep' && k.pattern.test(key));
      if (personalKey || !field || (rule && rule !== 'keep' && rule !== 'generalize:hour'))
        out[key] = maskAll(v, depth + 1);
      else out[key] = maskDeep(feed, v, depth + 1);
    }
    return out;
  };

  function maskPayload(feed: FeedName | null, payload: unknown): unknown {
    if (typeof payload === 'string') {
      // Text holding JSON (e.g. an array posted as text/plain) is masked like JSON; other text is shown by size only.
      try {
        const v = JSON.parse(payload) as unknown;
        if (v !== null && typeof v === 'object' && jsonDepth(v, MAX_RECORD_DEPTH) <= MAX_RECORD_DEPTH)
          return maskDeep(feed, v, 1);
      } catch {
        /* not JSON */
      }
      return `[非 JSON 文本 not JSON, ${payload.length} chars]`;
    }
    return maskDeep(feed, payload, 1);
  }

  return { policy, apply, token, hashId, scrub, maskPayload };
}
