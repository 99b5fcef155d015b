/**
 * Subscribers, keys, grants and registered products in the database (migration 013).
 * A key is `cf_<keyId>_<secret>`: the key id is public (audit rows and lists show it), the secret is 32 random
 * bytes shown once; only its SHA-256 is stored (a high-entropy secret needs no slow hash).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { CoalflowError, InputError } from '../../infra/core/index.ts';
import { FAMILIES } from '../../pipelines/index.ts';
import type { Grant, Principal, SubscriberKind, Tier } from './principal.ts';
import type { Actor, ProductState } from './lifecycle.ts';

export const KINDS: readonly SubscriberKind[] = ['enterprise', 'coal_user', 'government', 'operator'];

export interface FeeRule {
  /** Yuan per served call. */
  perCallYuan?: number;
  /** Yuan per month while an industry grant names the product. */
  perSubscriptionYuan?: number;
  /** Yuan per 1,000 rows (cells) returned. */
  perThousandRowsYuan?: number;
  /** Yuan per MiB returned. */
  perMbYuan?: number;
  /** Most a subscriber pays for the product in a month. */
  capYuan?: number | null;
}

export interface Product {
  code: string;
  name: string;
  fields: string[];
  fee: FeeRule;
  /** Lifecycle state (api/access/lifecycle.ts); only `published` is served. A new registration is a `draft`. */
  state?: ProductState;
}

/** Products registered at start (existing rows are kept: an operator's changes win). */
export const DEFAULT_PRODUCTS: readonly Product[] = [
  ...FAMILIES.map((f) => ({
    code: `indicator.${f}`,
    name: `${f} 指标 / ${f} indicators`,
    fields:
      f === 'sales' || f === 'price'
        ? ['净重', '过重时间', '煤种名称', '单价', '煤矿名称']
        : f === 'days_of_stock'
          ? ['库存', '日耗', '用煤企业名称']
          : ['煤矿名称', '日期'],
    fee: { perCallYuan: 0.01, perThousandRowsYuan: 0.1, capYuan: 2000 },
  })),
  { code: 'forecast', name: '预测 / forecasts', fields: ['日期', '数值'], fee: { perSubscriptionYuan: 500 } },
  {
    code: 'report',
    name: '报告 / reports',
    fields: ['净重', '过重时间', '煤种名称'],
    fee: { perSubscriptionYuan: 300 },
  },
  { code: 'alert', name: '预警 / alerts', fields: ['库存', '日耗'], fee: { perSubscriptionYuan: 200 } },
  {
    code: 'live',
    name: '实时推送 / live stream',
    fields: ['净重', '过重时间', '煤种名称'],
    fee: { perMbYuan: 1, capYuan: 1000 },
  },
  {
    code: 'sandbox',
    name: '沙箱聚合查询 / sandbox aggregate queries',
    fields: ['净重', '过重时间', '煤种名称', '单价', '库存', '日耗'],
    fee: { perCallYuan: 0.05, perThousandRowsYuan: 0.5, capYuan: 3000 },
  },
];

export interface KeyRow {
  keyId: string;
  subscriberId: string;
  label: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  rotatedFrom: string | null;
}

export interface NewGrant {
  products: string[];
  regions?: string[] | '*';
  mines?: string[];
  users?: string[];
  purpose: string;
  validFrom?: string;
  validTo?: string | null;
  quotaPerDay?: number | null;
  tier: Tier;
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

const KEY_RE = /^cf_([0-9a-f]{10})_([A-Za-z0-9_-]{43})$/;

/** Splits a presented key; null when it is not one of ours. */
export function parseKey(key: string): { keyId: string; secret: string } | null {
  const m = KEY_RE.exec(key);
  return m ? { keyId: m[1]!, secret: m[2]! } : null;
}

export function secretMatches(secret: string, storedSha256: string): boolean {
  const a = Buffer.from(sha256(secret), 'hex');
  const b = Buffer.from(storedSha256, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

function iso(v: unknown): string | null {
  return v === null || v === undefined ? null : new Date(v as string).toISOString();
}

function when(v: string | null | undefined, name: string): string | null {
  if (v === undefined || v === null || v === '') return null;
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new InputError(`${name} 不是有效时间 / ${name} is not a valid date-time`);
  return new Date(ms).toISOString();
}

export function createAccessStore(db: pg.Pool) {
  const self = {
    /** Registers the default products as published (they are what the system serves out of the box). */
    async ensureProducts(products: readonly Product[] = DEFAULT_PRODUCTS): Promise<void> {
      await db.query(
        `WITH ins AS (
          INSERT INTO access_products (code, name, fields, fee, state)
          SELECT p->>'code', p->>'name', ARRAY(SELECT jsonb_array_elements_text(p->'fields')), p->'fee', 'published' FROM jsonb_array_elements($1::jsonb) AS p
          ON CONFLICT (code) DO NOTHING RETURNING code)
        INSERT INTO product_events (product, from_state, to_state, actor, reason)
        SELECT code, NULL, 'published', 'system:defaults', '默认数据产品 / default data product' FROM ins`,
        [JSON.stringify(products)],
      );
    },
    /**
     * Registers (登记) a new product as a draft, recording who did it. Re-registering an existing code changes its
     * name and fee; its fields only while it is a draft (after that they were reviewed: refused with
     * PRODUCT_TRANSITION_INVALID).
     */
    async registerProduct(p: Product, who: Actor = { actor: 'system' }): Promise<Product> {
      if (!/^[a-z][a-z0-9_.]{1,63}$/.test(p.code))
        throw new InputError(
          '产品代码无效（小写字母、数字、_ 和 .）/ invalid product code (lower-case letters, digits, _ and .)',
        );
      if (!p.name) throw new InputError('缺少产品名称 / product name is required');
      const fields = p.fields ?? [];
      const old = await db.query('SELECT state, fields FROM access_products WHERE code = $1', [p.code]);
      if (old.rowCount) {
        const was = old.rows[0];
        const same = JSON.stringify([...was.fields].sort()) === JSON.stringify([...fields].sort());
        if (!same && was.state !== 'draft')
          throw new CoalflowError(
            'PRODUCT_TRANSITION_INVALID',
            `数据产品 ${p.code} 已过审查（${was.state}），不能更改字段；请登记新产品 / data product ${p.code} was reviewed (${was.state}): its fields cannot change; register a new product`,
            { context: { product: p.code, state: was.state } },
          );
        await db.query('UPDATE access_products SET name = $2, fields = $3, fee = $4 WHERE code = $1', [
          p.code,
          p.name,
          fields,
          JSON.stringify(p.fee ?? {}),
        ]);
        return { code: p.code, name: p.name, fields, fee: p.fee ?? {}, state: was.state };
      }
      await db.query(
        `WITH ins AS (INSERT INTO access_products (code, name, fields, fee, state) VALUES ($1, $2, $3, $4, 'draft')
          ON CONFLICT (code) DO NOTHING RETURNING code)
        INSERT INTO product_events (product, from_state, to_state, actor, subscriber_id, reason)
        SELECT code, NULL, 'draft', $5, $6, '登记 / registered' FROM ins`,
        [p.code, p.name, fields, JSON.stringify(p.fee ?? {}), who.actor, who.subscriberId ?? null],
      );
      return { code: p.code, name: p.name, fields, fee: p.fee ?? {}, state: 'draft' };
    },
    async products(): Promise<Product[]> {
      const r = await db.query('SELECT code, name, fields, fee, state FROM access_products ORDER BY code');
      return r.rows.map((x) => ({
        code: x.code,
        name: x.name,
        fields: x.fields,
        fee: x.fee,
        state: x.state,
      }));
    },
    async createSubscriber(s: {
      id?: string;
      name: string;
      kind: SubscriberKind;
      creditCode?: string | null;
    }): Promise<{ id: string; name: string; kind: SubscriberKind; creditCode: string | null }> {
      if (!KINDS.includes(s.kind))
        throw new InputError(`kind 应为 ${KINDS.join('|')} / kind must be one of ${KINDS.join('|')}`);
      if (!s.name) throw new InputError('缺少订户名称 / subscriber name is required');
      if (
        s.kind === 'enterprise' &&
        !/^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/.test(s.creditCode ?? '')
      ) {
        throw new InputError(
          '煤炭企业须有 18 位统一社会信用代码 / an enterprise needs its 18-character unified social credit code',
        );
      }
      const id = s.id || `sub_${randomBytes(5).toString('hex')}`;
      await db.query('INSERT INTO access_subscribers (id, name, kind, credit_code) VALUES ($1, $2, $3, $4)', [
        id,
        s.name,
        s.kind,
        s.creditCode ?? null,
      ]);
      return { id, name: s.name, kind: s.kind, creditCode: s.creditCode ?? null };
    },
    async subscribers(): Promise<
      { id: string; name: string; kind: SubscriberKind; creditCode: string | null; createdAt: string }[]
    > {
      const r = await db.query(
        'SELECT id, name, kind, credit_code, created_at FROM access_subscribers ORDER BY created_at, id',
      );
      return r.rows.map((x) => ({
        id: x.id,
        name: x.name,
        kind: x.kind,
        creditCode: x.credit_code,
        createdAt: iso(x.created_at)!,
      }));
    },
    async addGrant(subscriberId: string, g: NewGrant): Promise<Grant> {
      const known = new Set((await self.products()).map((p) => p.code));
      if (!Array.isArray(g.products) || !g.products.length)
        throw new InputError('授权须列出数据产品 / a grant names at least one product');
      const unknown = g.products.filter((p) => !known.has(p));
      if (unknown.length)
        throw new InputError(
          `未登记的数据产品：${unknown.join(', ')} / unregistered products: ${unknown.join(', ')}`,
        );
      if (!g.purpose) throw new InputError('授权须说明用途 / a grant states its purpose');
      if (g.tier !== 'public' && g.tier !== 'industry')
        throw new InputError('tier 应为 public|industry / tier must be public or industry');
      if (
        g.quotaPerDay !== undefined &&
        g.quotaPerDay !== null &&
        !(Number.isInteger(g.quotaPerDay) && g.quotaPerDay > 0)
      )
        throw new InputError('quotaPerDay 应为正整数 / quotaPerDay must be a positive integer');
      const sub = await db.query('SELECT 1 FROM access_subscribers WHERE id = $1', [subscriberId]);
      if (!sub.rowCount)
        throw new InputError(`订户 ${subscriberId} 不存在 / subscriber ${subscriberId} not found`);
      const regions = g.regions === undefined || g.regions === '*' ? ['*'] : g.regions;
      const r = await db.query(
        `INSERT INTO access_grants (subscriber_id, products, regions, mines, users, purpose, valid_from, valid_to, quota_per_day, tier)
        VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::timestamptz, now()), $8, $9, $10) RETURNING *`,
        [
          subscriberId,
          g.products,
          regions,
          g.mines ?? [],
          g.users ?? [],
          g.purpose,
          when(g.validFrom, 'validFrom'),
          when(g.validTo, 'validTo'),
          g.quotaPerDay ?? null,
          g.tier,
        ],
      );
      return grantOf(r.rows[0]);
    },
    async grants(subscriberId: string): Promise<Grant[]> {
      const r = await db.query('SELECT * FROM access_grants WHERE subscriber_id = $1 ORDER BY id', [
        subscriberId,
      ]);
      return r.rows.map(grantOf);
    },
    /** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
    async createKey(
      subscriberId: string,
      opts: { label?: string; expiresAt?: string | null; rotatedFrom?: string } = {},
    ): Promise<{ keyId: string; key: string; expiresAt: string | null }> {
      const sub = await db.query('SELECT 1 FROM access_subscribers WHERE id = $1', [subscriberId]);
      if (!sub.rowCount)
        throw new InputError(`订户 ${subscriberId} 不存在 / subscriber ${subscriberId} not found`);
      const keyId = randomBytes(5).toString('hex');
      const secret = randomBytes(32).toString('base64url');
      const expiresAt = when(opts.expiresAt, 'expiresAt');
      await db.query(
        'INSERT INTO access_keys (key_id, subscriber_id, secret_sha256, label, expires_at, rotated_from) VALUES ($1, $2, $3, $4, $5, $6)',
        [keyId, subscriberId, sha256(secret), opts.label ?? '', expiresAt, opts.rotatedFrom ?? null],
      );
      return { keyId, key: `cf_${keyId}_${secret}`, expiresAt };
    },
    async keys(subscriberId?: string): Promise<KeyRow[]> {
      const r = await db.query(
        `SELECT key_id, subscriber_id, label, created_at, expires_at, revoked_at, rotated_from FROM access_keys
        WHERE ($1::text IS NULL OR subscriber_id = $1) ORDER BY created_at, key_id`,
        [subscriberId ?? null],
      );
      return r.rows.map((x) => ({
        keyId: x.key_id,
        subscriberId: x.subscriber_id,
        label: x.label,
        createdAt: iso(x.created_at)!,
        expiresAt: iso(x.expires_at),
        revokedAt: iso(x.revoked_at),
        rotatedFrom: x.rotated_from,
      }));
    },
    async revokeKey(keyId: string): Promise<boolean> {
      const r = await db.query(
        'UPDATE access_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_id = $1',
        [keyId],
      );
      return (r.rowCount ?? 0) > 0;
    },
    async expireKey(keyId: string, at?: string): Promise<boolean> {
      const r = await db.query(
        'UPDATE access_keys SET expires_at = COALESCE($2::timestamptz, now()) WHERE key_id = $1',
        [keyId, when(at, 'at')],
      );
      return (r.rowCount ?? 0) > 0;
    },
    /** A new key for the same subscriber; the old one stops after `graceSeconds` (0 = at once). */
    async rotateKey(
      keyId: string,
      graceSeconds = 0,
    ): Promise<{ keyId: string; key: string; expiresAt: string | null } | null> {
      const old = await db.query(
        'SELECT subscriber_id, label, expires_at FROM access_keys WHERE key_id = $1 AND revoked_at IS NULL',
        [keyId],
      );
      if (!old.rowCount) return null;
      const fresh = await self.createKey(old.rows[0].subscriber_id, {
        label: old.rows[0].label,
        expiresAt: iso(old.rows[0].expires_at),
        rotatedFrom: keyId,
      });
      await db.query(
        `UPDATE access_keys SET expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + make_interval(secs => $2)) WHERE key_id = $1`,
        [keyId, graceSeconds],
      );
      return fresh;
    },
    /** The principal behind a presented key, or null when the key is unknown, wrong, revoked or expired. */
    async principal(
      presented: string,
      now = Date.now(),
    ): Promise<{ principal: Principal; expiresAt: number | null } | null> {
      const parsed = parseKey(presented);
      if (!parsed) return null;
      const r = await db.query(
        `SELECT k.secret_sha256, k.expires_at, k.revoked_at, s.id, s.name, s.kind FROM access_keys k
        JOIN access_subscribers s ON s.id = k.subscriber_id WHERE k.key_id = $1`,
        [parsed.keyId],
      );
      const row = r.rows[0];
      if (!row || !secretMatches(parsed.secret, row.secret_sha256) || row.revoked_at) return null;
      const expiresAt = row.expires_at ? new Date(row.expires_at).getTime() : null;
      if (expiresAt !== null && expiresAt <= now) return null;
      const grants = await self.grants(row.id);
      const tier: Tier =
        row.kind === 'government' ||
        row.kind === 'operator' ||
        (grants.length > 0 && grants.every((g) => g.tier === 'public'))
          ? 'public'
          : 'industry';
      return {
        principal: {
          keyId: parsed.keyId,
          subscriberId: row.id,
          subscriberName: row.name,
          kind: row.kind,
          tier,
          grants,
        },
        expiresAt,
      };
    },
  };
  return self;
}
export type AccessStore = ReturnType<typeof createAccessStore>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a database row, typed by the Grant it becomes
function grantOf(x: Record<string, any>): Grant {
  return {
    id: String(x.id),
    products: x.products,
    regions: (x.regions as string[]).includes('*') ? '*' : x.regions,
    mines: x.mines,
    users: x.users,
    purpose: x.purpose,
    validFrom: iso(x.valid_from)!,
    validTo: iso(x.valid_to),
    quotaPerDay: x.quota_per_day,
    tier: x.tier,
  };
}
