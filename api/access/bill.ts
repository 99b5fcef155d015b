/**
 * Monthly statements from recorded usage (`access_usage_daily`) and each product's fee rule: per call, per
 * 1,000 rows, per MiB, per subscription (while an industry grant names the product in the month), with a cap.
 * Public-governance use (public-tier grants, government and operator subscribers) is free.
 */
import type pg from 'pg';
import { InputError } from '../../infra/core/index.ts';
import type { FeeRule } from './store.ts';

export interface StatementLine {
  product: string;
  calls: number;
  rows: number;
  bytes: number;
  tier: 'public' | 'industry';
  usageYuan: number;
  subscriptionYuan: number;
  capped: boolean;
  amountYuan: number;
}
export interface Statement {
  subscriberId: string;
  name: string;
  kind: string;
  month: string;
  lines: StatementLine[];
  totalYuan: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export function monthRange(month: string): { from: string; to: string } {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month))
    throw new InputError(`月份格式应为 YYYY-MM：${month} / month must be YYYY-MM: ${month}`);
  const [y, m] = month.split('-').map(Number) as [number, number];
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return { from: `${month}-01`, to: `${next}-01` };
}

export async function bill(db: pg.Pool, month: string, subscriberId?: string): Promise<Statement[]> {
  const { from, to } = monthRange(month);
  const [subs, usage, grants, products] = await Promise.all([
    db.query(
      'SELECT id, name, kind FROM access_subscribers WHERE ($1::text IS NULL OR id = $1) ORDER BY id',
      [subscriberId ?? null],
    ),
    db.query(
      `SELECT subscriber_id, product, sum(calls)::float8 AS calls, sum(rows)::float8 AS rows, sum(bytes)::float8 AS bytes FROM access_usage_daily
      WHERE day >= $1::date AND day < $2::date GROUP BY 1, 2`,
      [from, to],
    ),
    // Grants in force at some time in the month.
    db.query(
      `SELECT subscriber_id, products, tier FROM access_grants WHERE valid_from < ($2::date::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND (valid_to IS NULL OR valid_to > ($1::date::timestamp AT TIME ZONE 'Asia/Shanghai'))`,
      [from, to],
    ),
    db.query('SELECT code, fee FROM access_products'),
  ]);
  const fee = new Map<string, FeeRule>(products.rows.map((r) => [r.code, r.fee as FeeRule]));
  const out: Statement[] = [];
  for (const s of subs.rows) {
    const free = s.kind === 'government' || s.kind === 'operator';
    const mine = grants.rows.filter((g) => g.subscriber_id === s.id);
    const industry = new Set(
      mine.filter((g) => g.tier === 'industry').flatMap((g) => g.products as string[]),
    );
    const lines = new Map<string, StatementLine>();
    const line = (product: string) =>
      lines.get(product) ??
      lines
        .set(product, {
          product,
          calls: 0,
          rows: 0,
          bytes: 0,
          tier: !free && industry.has(product) ? 'industry' : 'public',
          usageYuan: 0,
          subscriptionYuan: 0,
          capped: false,
          amountYuan: 0,
        })
        .get(product)!;
    for (const u of usage.rows.filter((r) => r.subscriber_id === s.id)) {
      const l = line(u.product);
      l.calls = u.calls;
      l.rows = u.rows;
      l.bytes = u.bytes;
    }
    if (!free) for (const p of industry) line(p);
    for (const l of lines.values()) {
      if (l.tier === 'public') continue;
      const f = fee.get(l.product) ?? {};
      l.usageYuan = round2(
        l.calls * (f.perCallYuan ?? 0) +
          (l.rows / 1000) * (f.perThousandRowsYuan ?? 0) +
          (l.bytes / 1048576) * (f.perMbYuan ?? 0),
      );
      l.subscriptionYuan = f.perSubscriptionYuan ?? 0;
      const raw = round2(l.usageYuan + l.subscriptionYuan);
      l.capped = f.capYuan !== undefined && f.capYuan !== null && raw > f.capYuan;
      l.amountYuan = l.capped ? f.capYuan! : raw;
    }
    const sorted = [...lines.values()].sort((a, b) => a.product.localeCompare(b.product));
    out.push({
      subscriberId: s.id,
      name: s.name,
      kind: s.kind,
      month,
      lines: sorted,
      totalYuan: round2(sorted.reduce((a, l) => a + l.amountYuan, 0)),
    });
  }
  return out;
}

/** Plain-text statements, one block per subscriber. */
export function formatBill(statements: Statement[]): string {
  const out: string[] = [];
  for (const s of statements) {
    out.push(`账单 / statement ${s.month}  ${s.name} (${s.subscriberId}, ${s.kind})`);
    out.push(
      `  ${'产品 product'.padEnd(26)}${'层级 tier'.padEnd(12)}${'调用 calls'.padStart(12)}${'行 rows'.padStart(12)}${'字节 bytes'.padStart(14)}${'金额 yuan'.padStart(12)}`,
    );
    for (const l of s.lines) {
      out.push(
        `  ${l.product.padEnd(26)}${l.tier.padEnd(12)}${String(l.calls).padStart(12)}${String(l.rows).padStart(12)}${String(l.bytes).padStart(14)}${l.amountYuan.toFixed(2).padStart(12)}${l.capped ? ' (封顶 / cap)' : ''}`,
      );
    }
    out.push(`  合计 / total ${s.totalYuan.toFixed(2)} 元 / yuan`, '');
  }
  return out.join('\n');
}
