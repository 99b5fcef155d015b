/**
 * The desensitization policy (脱敏策略) and the minimum-necessary-use list
 * (最小必要使用清单), read from a JSON file and checked against the contract
 * table at load: a field without a rule, a rule a field cannot take, or a
 * product listing a field its feed does not have fails at startup, naming itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, PolicyError } from '../../infra/core/index.ts';
import { canonicalFields, FEED_FIELDS, inputFields, PERSONAL_FIELDS } from '../contracts/fields.ts';
import { FEEDS, type FeedName } from '../contracts/types.ts';

export type Rule = 'keep' | 'drop' | 'mask' | 'token' | 'generalize:hour' | 'generalize:district';
export const RULES: readonly Rule[] = [
  'keep',
  'drop',
  'mask',
  'token',
  'generalize:hour',
  'generalize:district',
];

export interface ValuePattern {
  name: string;
  pattern: RegExp;
  rule: 'mask' | 'drop';
}

export interface Policy {
  version: number;
  /** Rule per source field, per feed ("*" already merged in). */
  rules: Record<FeedName, Record<string, Rule>>;
  ext: {
    default: 'keep' | 'drop';
    keys: { pattern: RegExp; rule: 'drop' | 'mask' | 'keep' }[];
    values: ValuePattern[];
  };
  /** product -> feed -> allowed canonical fields. */
  products: Record<string, Partial<Record<FeedName, ReadonlySet<string>>>>;
  source: string;
}

interface PolicyFile {
  version?: number;
  fields?: Record<string, Record<string, string>>;
  ext?: {
    default?: string;
    keys?: { pattern: string; rule: string }[];
    values?: { name?: string; pattern: string; rule: string }[];
  };
  products?: Record<string, Record<string, string[]> | string>;
}

export const DEFAULT_POLICY_FILE = new URL('./policy.json', import.meta.url).pathname;
const REPO_ROOT = new URL('../../', import.meta.url).pathname;

function bad(source: string, what: string, en: string): never {
  throw new ConfigError(`脱敏策略 ${source} 无效：${what} / invalid policy ${source}: ${en}`);
}

/** Parses and checks a policy object against the contract table. */
export function parsePolicy(json: unknown, source = 'policy'): Policy {
  const f = json as PolicyFile;
  if (!f || typeof f !== 'object' || !f.fields) bad(source, '缺少 fields', 'missing "fields"');
  const known = new Set(['*', ...FEEDS]);
  for (const k of Object.keys(f.fields))
    if (!known.has(k)) bad(source, `未知数据源 ${k}`, `unknown feed "${k}" in fields`);
  const common = f.fields['*'] ?? {};
  const personal = new Set(PERSONAL_FIELDS.map((p) => p.name));
  const rules = {} as Policy['rules'];
  for (const feed of FEEDS) {
    const own = f.fields[feed] ?? {};
    const inputs = inputFields(feed);
    const names = new Set(inputs.map((x) => x.name));
    for (const k of Object.keys(own))
      if (!names.has(k))
        bad(source, `${feed}.${k} 不是该数据源的字段`, `${feed}.${k} is not a field of ${feed}`);
    const canon = new Map(canonicalFields(feed).map((x) => [x.name, x]));
    const r: Record<string, Rule> = {};
    for (const spec of inputs) {
      const rule = (own[spec.name] ?? common[spec.name]) as Rule | undefined;
      if (!rule) bad(source, `${feed}.${spec.name} 没有规则`, `no rule for ${feed}.${spec.name}`);
      if (!RULES.includes(rule))
        bad(
          source,
          `${feed}.${spec.name} 的规则 ${rule} 未知`,
          `unknown rule "${rule}" for ${feed}.${spec.name}`,
        );
      if (personal.has(spec.name) && rule !== 'drop' && rule !== 'token') {
        bad(
          source,
          `个人信息字段 ${feed}.${spec.name} 只能 drop 或 token`,
          `personal field ${feed}.${spec.name} must be dropped or tokenized`,
        );
      }
      if (rule === 'token' && !canon.has(`${spec.name}Token`)) {
        bad(
          source,
          `${feed}.${spec.name} 的 token 规则需要契约字段 ${spec.name}Token`,
          `token rule on ${feed}.${spec.name} needs a contract field ${spec.name}Token`,
        );
      }
      if (rule === 'drop' && canon.get(spec.name)?.required)
        bad(
          source,
          `必填字段 ${feed}.${spec.name} 不能 drop`,
          `required field ${feed}.${spec.name} cannot be dropped`,
        );
      if (rule === 'generalize:hour' && spec.kind !== 'time')
        bad(
          source,
          `${feed}.${spec.name} 不是时间字段`,
          `generalize:hour on non-time field ${feed}.${spec.name}`,
        );
      if ((rule === 'generalize:district' || rule === 'mask') && spec.kind !== 'string')
        bad(source, `${feed}.${spec.name} 不是文本字段`, `${rule} on non-text field ${feed}.${spec.name}`);
      if (spec.name === 'recordId' && rule !== 'keep')
        bad(source, 'recordId 必须 keep', 'recordId must be kept');
      r[spec.name] = rule;
    }
    rules[feed] = r;
  }
  const ext = f.ext ?? {};
  const extDefault = ext.default ?? 'keep';
  if (extDefault !== 'keep' && extDefault !== 'drop')
    bad(source, 'ext.default 只能 keep/drop', 'ext.default must be keep or drop');
  const re = (p: string) => {
    try {
      return new RegExp(p, 'giu');
    } catch {
      return bad(source, `正则无效 ${p}`, `invalid pattern ${p}`);
    }
  };
  const keys = (ext.keys ?? []).map((k) => {
    if (k.rule !== 'drop' && k.rule !== 'mask' && k.rule !== 'keep')
      bad(source, 'ext.keys 规则只能 drop/mask/keep', 'ext.keys rules must be drop, mask or keep');
    return { pattern: new RegExp(k.pattern, 'iu'), rule: k.rule as 'drop' | 'mask' | 'keep' };
  });
  const values = (ext.values ?? []).map((v) => {
    if (v.rule !== 'drop' && v.rule !== 'mask')
      bad(source, 'ext.values 规则只能 drop/mask', 'ext.values rules must be drop or mask');
    return { name: v.name ?? v.pattern, pattern: re(v.pattern), rule: v.rule as 'drop' | 'mask' };
  });
  const products: Policy['products'] = {};
  for (const [product, byFeed] of Object.entries(f.products ?? {})) {
    if (product === 'comment' || typeof byFeed === 'string') continue;
    const p: Partial<Record<FeedName, ReadonlySet<string>>> = {};
    for (const [feed, fields] of Object.entries(byFeed)) {
      if (!FEEDS.includes(feed as FeedName))
        bad(
          source,
          `产品 ${product} 引用未知数据源 ${feed}`,
          `product ${product} lists unknown feed ${feed}`,
        );
      const canon = new Set([...canonicalFields(feed as FeedName).map((x) => x.name), 'ext']);
      for (const field of fields) {
        if (!canon.has(field))
          bad(
            source,
            `产品 ${product} 引用 ${feed}.${field}，该字段不在规范记录中`,
            `product ${product} lists ${feed}.${field}, which is not a canonical field`,
          );
      }
      p[feed as FeedName] = new Set(fields);
    }
    products[product] = p;
  }
  return { version: f.version ?? 1, rules, ext: { default: extDefault, keys, values }, products, source };
}

const cache = new Map<string, Policy>();

/** Resolves a policy path: absolute, relative to the working directory, or relative to the repository. */
export function resolvePolicyPath(file?: string): string {
  if (!file) return DEFAULT_POLICY_FILE;
  if (isAbsolute(file)) return file;
  const cwd = resolve(file);
  return existsSync(cwd) ? cwd : resolve(REPO_ROOT, file);
}

/** Loads (once per path) and checks the policy file. Throws ConfigError naming the problem. */
export function loadPolicy(file?: string): Policy {
  const path = resolvePolicyPath(file);
  let p = cache.get(path);
  if (p) return p;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(
      `无法读取脱敏策略 ${path} / cannot read policy ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  p = parsePolicy(json, path);
  cache.set(path, p);
  return p;
}

/** The canonical fields a data product may use from a feed (empty when none). */
export function productFields(product: string, feed: FeedName, policy: Policy = loadPolicy()): string[] {
  return [...(policy.products[product]?.[feed] ?? [])];
}

/**
 * Refuses (PolicyError POLICY_FIELD_NOT_ALLOWED) a data product asking for a
 * field that the minimum-necessary-use list does not give it. Call at start,
 * with `loadPolicy(deps.config.policyFile)` as `policy` (default: the shipped file).
 */
export function assertProductFields(
  product: string,
  feed: FeedName,
  fields: readonly string[],
  policy: Policy = loadPolicy(),
): void {
  const p = policy.products[product];
  if (!p) {
    throw new PolicyError(
      'POLICY_FIELD_NOT_ALLOWED',
      `数据产品 ${product} 不在最小必要使用清单中 / data product ${product} is not in the minimum-necessary-use list`,
      { context: { product } },
    );
  }
  const allowed = p[feed];
  const refused = fields.filter((f) => !allowed?.has(f));
  if (refused.length) {
    throw new PolicyError(
      'POLICY_FIELD_NOT_ALLOWED',
      `数据产品 ${product} 未获准使用 ${refused.map((f) => `${feed}.${f}`).join('、')}（最小必要使用清单）/ data product ${product} may not use ${refused.map((f) => `${feed}.${f}`).join(', ')} (minimum-necessary-use list)`,
      { context: { product, feed, fields: refused } },
    );
  }
}

/** Keeps only the fields a product may use (defence in depth after assertProductFields). */
export function projectForProduct<T extends object>(
  product: string,
  feed: FeedName,
  record: T,
  policy: Policy = loadPolicy(),
): Partial<T> {
  const allowed = policy.products[product]?.[feed];
  const out: Partial<T> = {};
  if (!allowed) return out;
  for (const [k, v] of Object.entries(record)) if (allowed.has(k)) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Every field name of a feed's contract (for tools and docs). */
export function contractFieldNames(feed: FeedName): string[] {
  return FEED_FIELDS[feed].map((f) => f.name);
}
