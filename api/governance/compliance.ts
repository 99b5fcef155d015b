/**
 * The monthly usage and compliance report for the data bureau (定期向数据主管部门提交公共数据资源使用情况) and the
 * evaluation view with the plan's four headings (绩效评估: 公共数据资源授权运营情况、数据质量与应用成效、安全合规水平、
 * 经济与社会效益). Every figure is read from the tables that record it — the register (`access_products`), grants,
 * the metering table (`access_usage_daily`, through `bill`), the audit trail (`access_audit`), the ingest
 * bookkeeping (`ingest_seen`, `ingest_rejects`), late corrections (`ind_corrections`) — for one month in
 * Asia/Shanghai. The figures become a report document rendered by the report renderers (HTML, PDF, XLSX, JSON).
 */
import type pg from 'pg';
import { bill, verifyAudit } from '../access/index.ts';
import { monthRange } from '../access/bill.ts';
import type { ReportDoc, Section, Column } from '../reports/content.ts';

export interface StopEvent {
  at: string;
  /** What was stopped or resumed: a data product, a subscriber, or all outside access. */
  target: 'product' | 'subscriber' | 'all';
  id: string;
  /** suspended, resumed, retired, stop, resume … as recorded. */
  action: string;
  actor: string;
  reason: string;
}

/** Whether a table exists (tables of newer parts of the system may not be migrated on this database). */
async function tableExists(db: pg.Pool, name: string): Promise<boolean> {
  const r = await db.query('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
  return r.rows[0]?.ok === true;
}

/**
 * Suspensions of data products (the lifecycle's `product_events`) and emergency stops (`emergency_stops`) in
 * [fromMs, toMs), oldest first; [] for a table that does not exist.
 */
export async function suspensionsAndStops(db: pg.Pool, fromMs: number, toMs: number): Promise<StopEvent[]> {
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  const out: StopEvent[] = [];
  if (await tableExists(db, 'product_events')) {
    const r = await db.query(
      `SELECT at, product, from_state, to_state, actor, reason FROM product_events
      WHERE at >= $1 AND at < $2 AND (to_state IN ('suspended', 'retired') OR from_state = 'suspended') ORDER BY at, id`,
      [from, to],
    );
    for (const x of r.rows)
      out.push({
        at: new Date(x.at).toISOString(),
        target: 'product',
        id: x.product,
        action: x.from_state === 'suspended' && x.to_state !== 'retired' ? 'resumed' : x.to_state,
        actor: x.actor,
        reason: x.reason ?? '',
      });
  }
  if (await tableExists(db, 'emergency_stops')) {
    const r = await db.query(
      `SELECT at, action, target_kind, target, actor, reason FROM emergency_stops WHERE at >= $1 AND at < $2 ORDER BY at, id`,
      [from, to],
    );
    for (const x of r.rows)
      out.push({
        at: new Date(x.at).toISOString(),
        target: x.target_kind,
        id: x.target,
        action: x.action,
        actor: x.actor,
        reason: x.reason ?? '',
      });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

/** The hash-chain verification of the audit trail, when the system provides one. */
export type AuditVerifier = (
  db: pg.Pool,
  opts: { from?: string; to?: string },
) => Promise<{ ok: boolean; rows: number; firstBad: string | null; reason?: string | null }>;

export interface AuditIntegrity {
  /** Audit rows recorded in the month. */
  rows: number;
  firstSeq: string | null;
  lastSeq: string | null;
  /** Sequence numbers missing between the month's first and last row. */
  missingSeqs: number;
  /** The first gaps: the seq before and after each. */
  gaps: { after: string; before: string }[];
  /** Hash-chain verification of the month's rows; null when no verifier is connected. */
  chain: { ok: boolean; rows: number; firstBad: string | null; reason: string | null } | null;
}

/**
 * Row count and `seq` contiguity of the month's audit rows (a deleted row leaves a gap; so can an audit write that
 * failed and was retried, which consumed sequence numbers), and the hash chain's verdict when `verify` is given.
 */
/** The audit log's hash chain over the period (`verifyAudit` of the access layer), in the report's terms. */
const chainVerifier: AuditVerifier = async (db, opts) => {
  const r = await verifyAudit(db, opts);
  return {
    ok: r.ok,
    rows: r.rows,
    firstBad: r.firstBad === null ? null : String(r.firstBad),
    reason: r.reason,
  };
};

export async function auditIntegrity(
  db: pg.Pool,
  fromMs: number,
  toMs: number,
  verify?: AuditVerifier,
): Promise<AuditIntegrity> {
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  const [n, gaps] = await Promise.all([
    db.query(
      `SELECT count(*)::int AS n, min(seq)::text AS lo, max(seq)::text AS hi FROM access_audit WHERE at >= $1 AND at < $2`,
      [from, to],
    ),
    db.query(
      `SELECT prev::text AS after, seq::text AS before, (seq - prev - 1)::bigint AS missing FROM (
        SELECT seq, lag(seq) OVER (ORDER BY seq) AS prev FROM access_audit WHERE at >= $1 AND at < $2) x
      WHERE seq - prev > 1 ORDER BY seq`,
      [from, to],
    ),
  ]);
  const chain = await (verify ?? chainVerifier)(db, { from, to });
  return {
    rows: Number(n.rows[0].n),
    firstSeq: n.rows[0].lo,
    lastSeq: n.rows[0].hi,
    missingSeqs: gaps.rows.reduce((s, g) => s + Number(g.missing), 0),
    gaps: gaps.rows.slice(0, 20).map((g) => ({ after: g.after, before: g.before })),
    chain: chain && {
      ok: chain.ok,
      rows: chain.rows,
      firstBad: chain.firstBad,
      reason: chain.reason ?? null,
    },
  };
}

export interface ComplianceFigures {
  month: string;
  from: string;
  to: string;
  generatedAt: string;
  products: { code: string; name: string; state: string | null; subscribers: string[] }[];
  subscribers: { id: string; name: string; kind: string; products: string[]; tiers: string[] }[];
  /** Served calls and data volume per product and tier (the metering table, as billed). */
  usage: {
    product: string;
    tier: string;
    subscribers: number;
    calls: number;
    rows: number;
    bytes: number;
    amountYuan: number;
  }[];
  fees: { subscriberId: string; name: string; kind: string; totalYuan: number }[];
  feesTotalYuan: number;
  /** Cells returned and suppressed by disclosure control per product (audit trail, served calls). */
  disclosure: { product: string; calls: number; cellsReturned: number; cellsSuppressed: number }[];
  quality: {
    feed: string;
    accepted: number;
    rejected: number;
    late: number;
    hoursSinceLast: number | null;
  }[];
  rejects: { feed: string; reason: string; count: number }[];
  security: {
    failedAuthentications: number;
    refused: number;
    rateLimited: number;
    byRoute: { status: number; route: string; count: number }[];
    stops: StopEvent[];
  };
  audit: AuditIntegrity;
  reports: number;
  alerts: number;
  evaluation: Evaluation;
}

export interface EvaluationItem {
  id: string;
  zh: string;
  en: string;
  value: number | string | null;
  unit: string;
}
export interface EvaluationHeading {
  id: 'authorized_operation' | 'quality_and_results' | 'security_compliance' | 'economic_social_benefit';
  zh: string;
  en: string;
  items: EvaluationItem[];
}
export interface Evaluation {
  month: string;
  /** The bureau decides: 通过评估 / 限期整改 / 未通过评估. The view gives the evidence. */
  headings: EvaluationHeading[];
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const cstMidnight = (d: string) => Date.parse(`${d}T00:00:00+08:00`);

export interface ComplianceOptions {
  verifyAudit?: AuditVerifier;
  now?: number;
}

/** Every figure of one month's report (`month` = YYYY-MM, Asia/Shanghai). */
export async function complianceFigures(
  db: pg.Pool,
  month: string,
  opts: ComplianceOptions = {},
): Promise<ComplianceFigures> {
  const range = monthRange(month);
  const fromMs = cstMidnight(range.from);
  const toMs = cstMidnight(range.to);
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  const now = opts.now ?? Date.now();
  const hasState = (
    await db.query(
      `SELECT 1 FROM information_schema.columns WHERE table_name = 'access_products' AND column_name = 'state'`,
    )
  ).rowCount;
  const [
    statements,
    products,
    grants,
    subs,
    disclosure,
    acc,
    rej,
    late,
    fresh,
    sec,
    byRoute,
    reports,
    alerts,
  ] = await Promise.all([
    bill(db, month),
    db.query(
      `SELECT code, name, ${hasState ? 'state' : 'NULL::text AS state'} FROM access_products ORDER BY code`,
    ),
    // Grants in force at some time in the month (as the bill reads them).
    db.query(
      `SELECT subscriber_id, products, tier FROM access_grants WHERE valid_from < $2 AND (valid_to IS NULL OR valid_to > $1)`,
      [from, to],
    ),
    db.query('SELECT id, name, kind FROM access_subscribers ORDER BY id'),
    db.query(
      `SELECT product, count(*)::int AS calls, sum(cells_returned)::float8 AS cr, sum(cells_suppressed)::float8 AS cs
        FROM access_audit WHERE at >= $1 AND at < $2 AND product IS NOT NULL AND status < 400 GROUP BY product ORDER BY product`,
      [from, to],
    ),
    db.query(
      `SELECT feed, count(*)::int AS n FROM ingest_seen WHERE state = 'produced' AND claimed_at >= $1 AND claimed_at < $2 GROUP BY feed`,
      [from, to],
    ),
    db.query(
      `SELECT feed, reason, count(*)::int AS n FROM ingest_rejects WHERE received_at >= $1 AND received_at < $2 GROUP BY feed, reason ORDER BY feed, reason`,
      [from, to],
    ),
    db.query(
      `SELECT feed, count(*)::int AS n FROM ind_corrections WHERE event_time >= $1 AND event_time < $2 GROUP BY feed`,
      [from, to],
    ),
    db.query(`SELECT feed, max(claimed_at) AS last FROM ingest_seen WHERE claimed_at < $1 GROUP BY feed`, [
      to,
    ]),
    db.query(
      `SELECT status, count(*)::int AS n FROM access_audit WHERE at >= $1 AND at < $2 AND status IN (401, 403, 429) GROUP BY status`,
      [from, to],
    ),
    db.query(
      `SELECT status, route, count(*)::int AS n FROM access_audit WHERE at >= $1 AND at < $2 AND status IN (401, 403, 429)
        GROUP BY status, route ORDER BY n DESC, status, route LIMIT 20`,
      [from, to],
    ),
    db.query(`SELECT count(*)::int AS n FROM reports WHERE created_at >= $1 AND created_at < $2`, [from, to]),
    db.query(`SELECT count(*)::int AS n FROM alerts WHERE started_at >= $1 AND started_at < $2`, [from, to]),
  ]);
  const [stops, audit] = await Promise.all([
    suspensionsAndStops(db, fromMs, toMs),
    auditIntegrity(db, fromMs, toMs, opts.verifyAudit),
  ]);

  const subsOf = new Map<string, Set<string>>();
  const productsOf = new Map<string, Set<string>>();
  const tiersOf = new Map<string, Set<string>>();
  for (const g of grants.rows)
    for (const p of g.products as string[]) {
      (subsOf.get(p) ?? subsOf.set(p, new Set()).get(p)!).add(g.subscriber_id);
      (
        productsOf.get(g.subscriber_id) ?? productsOf.set(g.subscriber_id, new Set()).get(g.subscriber_id)!
      ).add(p);
      (tiersOf.get(g.subscriber_id) ?? tiersOf.set(g.subscriber_id, new Set()).get(g.subscriber_id)!).add(
        g.tier,
      );
    }

  const usage = new Map<string, ComplianceFigures['usage'][number] & { subs: Set<string> }>();
  for (const s of statements)
    for (const l of s.lines) {
      if (!l.calls && !l.amountYuan) continue;
      const k = `${l.product}\u0001${l.tier}`;
      const u =
        usage.get(k) ??
        usage
          .set(k, {
            product: l.product,
            tier: l.tier,
            subscribers: 0,
            calls: 0,
            rows: 0,
            bytes: 0,
            amountYuan: 0,
            subs: new Set(),
          })
          .get(k)!;
      u.subs.add(s.subscriberId);
      u.calls += Number(l.calls);
      u.rows += Number(l.rows);
      u.bytes += Number(l.bytes);
      u.amountYuan = round2(u.amountYuan + l.amountYuan);
    }

  const secBy = new Map(sec.rows.map((r) => [Number(r.status), Number(r.n)]));
  const lateBy = new Map(late.rows.map((r) => [r.feed as string, Number(r.n)]));
  const accBy = new Map(acc.rows.map((r) => [r.feed as string, Number(r.n)]));
  const freshBy = new Map(fresh.rows.map((r) => [r.feed as string, new Date(r.last).getTime()]));
  const rejBy = new Map<string, number>();
  for (const r of rej.rows) rejBy.set(r.feed, (rejBy.get(r.feed) ?? 0) + Number(r.n));
  const feeds = [...new Set([...accBy.keys(), ...rejBy.keys(), ...lateBy.keys(), ...freshBy.keys()])].sort();
  const asOf = Math.min(toMs, now);

  const figures: Omit<ComplianceFigures, 'evaluation'> = {
    month,
    from,
    to,
    generatedAt: new Date(now).toISOString(),
    products: products.rows.map((p) => ({
      code: p.code,
      name: p.name,
      state: p.state,
      subscribers: [...(subsOf.get(p.code) ?? [])].sort(),
    })),
    subscribers: subs.rows
      .filter((s) => productsOf.has(s.id))
      .map((s) => ({
        id: s.id,
        name: s.name,
        kind: s.kind,
        products: [...productsOf.get(s.id)!].sort(),
        tiers: [...tiersOf.get(s.id)!].sort(),
      })),
    usage: [...usage.values()]
      .map(({ subs: set, ...u }) => ({ ...u, subscribers: set.size }))
      .sort((a, b) => a.product.localeCompare(b.product) || a.tier.localeCompare(b.tier)),
    fees: statements
      .filter((s) => s.totalYuan > 0)
      .map((s) => ({ subscriberId: s.subscriberId, name: s.name, kind: s.kind, totalYuan: s.totalYuan })),
    feesTotalYuan: round2(statements.reduce((a, s) => a + s.totalYuan, 0)),
    disclosure: disclosure.rows.map((r) => ({
      product: r.product,
      calls: Number(r.calls),
      cellsReturned: Number(r.cr),
      cellsSuppressed: Number(r.cs),
    })),
    quality: feeds.map((feed) => ({
      feed,
      accepted: accBy.get(feed) ?? 0,
      rejected: rejBy.get(feed) ?? 0,
      late: lateBy.get(feed) ?? 0,
      hoursSinceLast: freshBy.has(feed) ? round2((asOf - freshBy.get(feed)!) / 3600_000) : null,
    })),
    rejects: rej.rows.map((r) => ({ feed: r.feed, reason: r.reason, count: Number(r.n) })),
    security: {
      failedAuthentications: secBy.get(401) ?? 0,
      refused: secBy.get(403) ?? 0,
      rateLimited: secBy.get(429) ?? 0,
      byRoute: byRoute.rows.map((r) => ({ status: Number(r.status), route: r.route, count: Number(r.n) })),
      stops,
    },
    audit,
    reports: Number(reports.rows[0].n),
    alerts: Number(alerts.rows[0].n),
  };
  return { ...figures, evaluation: evaluate(figures) };
}

/** The evaluation view: the month's evidence under the plan's four headings. */
export function evaluate(f: Omit<ComplianceFigures, 'evaluation'>): Evaluation {
  const sum = <T>(xs: T[], g: (x: T) => number) => xs.reduce((a, x) => a + g(x), 0);
  const calls = sum(f.usage, (u) => u.calls);
  const publicCalls = sum(
    f.usage.filter((u) => u.tier === 'public'),
    (u) => u.calls,
  );
  const accepted = sum(f.quality, (q) => q.accepted);
  const rejected = sum(f.quality, (q) => q.rejected);
  const kinds = (k: string) => f.subscribers.filter((s) => s.kind === k).length;
  const served = new Set<string>();
  const returned = sum(f.disclosure, (d) => d.cellsReturned);
  const suppressed = sum(f.disclosure, (d) => d.cellsSuppressed);
  for (const u of f.usage) if (u.calls) served.add(u.product);
  const item = (id: string, zh: string, en: string, value: number | string | null, unit = '') => ({
    id,
    zh,
    en,
    value,
    unit,
  });
  const pct = (a: number, b: number) => (b > 0 ? round2((100 * a) / b) : null);
  return {
    month: f.month,
    headings: [
      {
        id: 'authorized_operation',
        zh: '公共数据资源授权运营情况',
        en: 'Authorized operation of public data resources',
        items: [
          item(
            'products_registered',
            '已登记数据产品',
            'Data products registered',
            f.products.length,
            'products',
          ),
          item(
            'products_published',
            '在用（已发布）数据产品',
            'Data products published',
            f.products.filter((p) => p.state === null || p.state === 'published').length,
            'products',
          ),
          item(
            'products_used',
            '本月有调用的数据产品',
            'Data products called this month',
            served.size,
            'products',
          ),
          item('subscribers', '授权订户', 'Subscribers with a grant', f.subscribers.length, 'subscribers'),
          item(
            'subscribers_enterprise',
            '其中：煤炭企业',
            'of which coal enterprises',
            kinds('enterprise'),
            'subscribers',
          ),
          item(
            'subscribers_coal_user',
            '其中：用煤单位',
            'of which coal users',
            kinds('coal_user'),
            'subscribers',
          ),
          item(
            'subscribers_government',
            '其中：政府部门',
            'of which government bodies',
            kinds('government'),
            'subscribers',
          ),
          item('calls', '服务调用', 'Calls served', calls, 'calls'),
          item(
            'public_share',
            '公益（免费）调用占比',
            'Share of public-governance (free) calls',
            pct(publicCalls, calls),
            '%',
          ),
        ],
      },
      {
        id: 'quality_and_results',
        zh: '数据质量与应用成效',
        en: 'Data quality and application results',
        items: [
          item('records_accepted', '接收记录', 'Records accepted', accepted, 'records'),
          item('records_rejected', '拒收记录', 'Records rejected', rejected, 'records'),
          item('reject_rate', '拒收率', 'Reject rate', pct(rejected, accepted + rejected), '%'),
          item(
            'late_corrections',
            '迟到修正',
            'Late corrections',
            sum(f.quality, (q) => q.late),
            'records',
          ),
          item(
            'feeds_fresh',
            '月末 24 小时内有数据的数据源',
            'Feeds with a record in the last 24 h of the month',
            f.quality.filter((q) => q.hoursSinceLast !== null && q.hoursSinceLast <= 24).length,
            'feeds',
          ),
          item('feeds', '数据源', 'Feeds', f.quality.length, 'feeds'),
          item('reports', '生成报告', 'Reports generated', f.reports, 'reports'),
          item('alerts', '发出预警', 'Alerts raised', f.alerts, 'alerts'),
          item('cells_returned', '提供数据单元格', 'Cells served', returned, 'cells'),
        ],
      },
      {
        id: 'security_compliance',
        zh: '安全合规水平',
        en: 'Security and compliance',
        items: [
          item(
            'failed_auth',
            '认证失败',
            'Failed authentications (401)',
            f.security.failedAuthentications,
            'requests',
          ),
          item(
            'refused',
            '越权拒绝',
            'Refused: outside the grant or unregistered (403)',
            f.security.refused,
            'requests',
          ),
          item(
            'rate_limited',
            '限流与配额拒绝',
            'Rate-limited or over quota (429)',
            f.security.rateLimited,
            'requests',
          ),
          item(
            'stops',
            '暂停与紧急中止',
            'Suspensions and emergency stops',
            f.security.stops.length,
            'events',
          ),
          item(
            'cells_suppressed',
            '披露控制抑制单元格',
            'Cells suppressed by disclosure control',
            suppressed,
            'cells',
          ),
          item('audit_rows', '审计记录', 'Audit rows', f.audit.rows, 'rows'),
          item(
            'audit_seq_missing',
            '审计序号缺口',
            'Audit sequence numbers missing',
            f.audit.missingSeqs,
            'rows',
          ),
          item(
            'audit_chain',
            '审计哈希链校验',
            'Audit hash chain',
            f.audit.chain === null
              ? '未接入 / not connected'
              : f.audit.chain.ok
                ? '通过 / ok'
                : `失败 / failed at ${f.audit.chain.firstBad}`,
          ),
        ],
      },
      {
        id: 'economic_social_benefit',
        zh: '经济与社会效益',
        en: 'Economic and social benefit',
        items: [
          item(
            'fees',
            '运营服务费（产业类）',
            'Operation service fees billed (industry)',
            f.feesTotalYuan,
            'yuan',
          ),
          item('paying_subscribers', '付费订户', 'Subscribers billed', f.fees.length, 'subscribers'),
          item('public_calls', '公共治理免费调用', 'Free public-governance calls', publicCalls, 'calls'),
          item('industry_calls', '产业发展计费调用', 'Metered industry calls', calls - publicCalls, 'calls'),
          item(
            'volume_mib',
            '提供数据量',
            'Data served',
            round2(sum(f.usage, (u) => u.bytes) / 1048576),
            'MiB',
          ),
          item(
            'rows',
            '提供数据行',
            'Rows (cells) served',
            sum(f.usage, (u) => u.rows),
            'rows',
          ),
        ],
      },
    ],
  };
}

const C = {
  text: (key: string, zh: string, en: string): Column => ({ key, label: { zh, en }, type: 'text' }),
  num: (key: string, zh: string, en: string, unit?: string): Column => ({
    key,
    label: { zh, en },
    unit,
    type: 'number',
  }),
};

/** The evaluation view as report sections (one table per heading). */
export function evaluationSections(e: Evaluation): Section[] {
  return [
    {
      id: 'evaluation',
      title: { zh: '绩效评估视图', en: 'Evaluation view' },
      note: {
        zh: '按实施方案绩效评估的四项内容列示本月证据；评估结论（通过评估、限期整改、未通过评估）由主管部门作出。',
        en: 'The month’s evidence under the plan’s four evaluation headings; the bureau decides the result (pass, rectify within a deadline, fail).',
      },
      charts: [],
      tables: e.headings.map((h) => ({
        id: `evaluation_${h.id}`,
        title: { zh: h.zh, en: h.en },
        columns: [
          C.text('indicator', '指标', 'Indicator'),
          C.text('value', '数值', 'Value'),
          C.text('unit', '单位', 'Unit'),
        ],
        rows: h.items.map((i) => ({
          id: i.id,
          indicator: `${i.zh} / ${i.en}`,
          value: i.value === null ? null : String(i.value),
          unit: i.unit,
        })),
      })),
    },
  ];
}

/** The report document of a month's figures (rendered by the report renderers). */
export function complianceDoc(f: ComplianceFigures): ReportDoc {
  const sections: Section[] = [
    {
      id: 'products',
      title: { zh: '数据产品与订户', en: 'Products and subscribers' },
      charts: [],
      tables: [
        {
          id: 'products',
          title: { zh: '已登记数据产品', en: 'Registered data products' },
          columns: [
            C.text('id', '产品代码', 'Product'),
            C.text('name', '名称', 'Name'),
            C.text('state', '状态', 'State'),
            C.num('subscribers', '授权订户数', 'Subscribers', 'subscribers'),
            C.text('subscriber_ids', '订户', 'Subscriber ids'),
          ],
          rows: f.products.map((p) => ({
            id: p.code,
            name: p.name,
            state: p.state ?? 'published',
            subscribers: p.subscribers.length,
            subscriber_ids: p.subscribers.join(', '),
          })),
        },
        {
          id: 'subscribers',
          title: { zh: '本月授权订户', en: 'Subscribers with a grant in force' },
          columns: [
            C.text('id', '订户', 'Subscriber'),
            C.text('name', '名称', 'Name'),
            C.text('kind', '类型', 'Kind'),
            C.text('tiers', '层级', 'Tiers'),
            C.text('products', '数据产品', 'Products'),
          ],
          rows: f.subscribers.map((s) => ({
            id: s.id,
            name: s.name,
            kind: s.kind,
            tiers: s.tiers.join(', '),
            products: s.products.join(', '),
          })),
        },
      ],
    },
    {
      id: 'usage',
      title: { zh: '调用量、数据量与费用', en: 'Calls, data volume and fees' },
      charts: f.usage.length
        ? [
            {
              id: 'usage_calls',
              title: { zh: '各数据产品调用量', en: 'Calls per data product' },
              type: 'bar',
              unit: 'calls',
              categories: [...new Set(f.usage.map((u) => u.product))],
              series: ['public', 'industry'].map((tier) => ({
                name:
                  tier === 'public'
                    ? { zh: '公益（免费）', en: 'public (free)' }
                    : { zh: '产业（计费）', en: 'industry (metered)' },
                data: [...new Set(f.usage.map((u) => u.product))].map(
                  (p) => f.usage.find((u) => u.product === p && u.tier === tier)?.calls ?? 0,
                ),
              })),
            },
          ]
        : [],
      tables: [
        {
          id: 'usage',
          title: { zh: '按数据产品与层级', en: 'Per data product and tier' },
          columns: [
            C.text('id', '数据产品', 'Product'),
            C.text('tier', '层级', 'Tier'),
            C.num('subscribers', '订户', 'Subscribers', 'subscribers'),
            C.num('calls', '调用', 'Calls', 'calls'),
            C.num('rows', '数据行', 'Rows', 'rows'),
            C.num('bytes', '数据量', 'Volume', 'bytes'),
            C.num('amount', '费用', 'Fees', 'yuan'),
          ],
          rows: f.usage.map((u) => ({
            id: u.product,
            tier: u.tier,
            subscribers: u.subscribers,
            calls: u.calls,
            rows: u.rows,
            bytes: u.bytes,
            amount: u.amountYuan,
          })),
        },
        {
          id: 'fees',
          title: { zh: '计费订户', en: 'Subscribers billed' },
          columns: [
            C.text('id', '订户', 'Subscriber'),
            C.text('name', '名称', 'Name'),
            C.text('kind', '类型', 'Kind'),
            C.num('total', '费用', 'Total', 'yuan'),
          ],
          rows: [
            ...f.fees.map((s) => ({ id: s.subscriberId, name: s.name, kind: s.kind, total: s.totalYuan })),
            { id: 'total', name: '合计 / total', kind: '', total: f.feesTotalYuan },
          ],
        },
        {
          id: 'disclosure',
          title: { zh: '披露控制（可用不可见）', en: 'Disclosure control' },
          columns: [
            C.text('id', '数据产品', 'Product'),
            C.num('calls', '调用', 'Calls', 'calls'),
            C.num('returned', '返回单元格', 'Cells returned', 'cells'),
            C.num('suppressed', '抑制单元格', 'Cells suppressed', 'cells'),
          ],
          rows: f.disclosure.map((d) => ({
            id: d.product,
            calls: d.calls,
            returned: d.cellsReturned,
            suppressed: d.cellsSuppressed,
          })),
        },
      ],
    },
    {
      id: 'quality',
      title: { zh: '数据质量', en: 'Data quality' },
      charts: [],
      tables: [
        {
          id: 'quality_feeds',
          title: {
            zh: '各数据源接收、拒收、迟到与时效',
            en: 'Accepted, rejected and late records, freshness',
          },
          columns: [
            C.text('id', '数据源', 'Feed'),
            C.num('accepted', '接收', 'Accepted', 'records'),
            C.num('rejected', '拒收', 'Rejected', 'records'),
            C.num('late', '迟到修正', 'Late corrections', 'records'),
            C.num('hours_since_last', '距最近记录', 'Since last record', 'h'),
          ],
          rows: f.quality.map((q) => ({
            id: q.feed,
            accepted: q.accepted,
            rejected: q.rejected,
            late: q.late,
            hours_since_last: q.hoursSinceLast,
          })),
        },
        {
          id: 'quality_rejects',
          title: { zh: '拒收原因', en: 'Rejected records by reason' },
          columns: [
            C.text('id', '数据源', 'Feed'),
            C.text('reason', '原因', 'Reason'),
            C.num('count', '条数', 'Records', 'records'),
          ],
          rows: f.rejects.map((r) => ({ id: r.feed, reason: r.reason, count: r.count })),
        },
      ],
    },
    {
      id: 'security',
      title: { zh: '安全事件', en: 'Security events' },
      charts: [],
      tables: [
        {
          id: 'security_summary',
          title: { zh: '认证失败、越权与限流', en: 'Failed authentications, refusals, rate limits' },
          columns: [C.text('id', '事件', 'Event'), C.num('count', '次数', 'Count', 'requests')],
          rows: [
            { id: '401 认证失败 / failed authentication', count: f.security.failedAuthentications },
            { id: '403 越权或未登记 / outside the grant or unregistered', count: f.security.refused },
            { id: '429 限流或配额 / rate-limited or over quota', count: f.security.rateLimited },
          ],
        },
        {
          id: 'security_routes',
          title: { zh: '按路由', en: 'By route' },
          columns: [
            C.num('status', '状态码', 'Status'),
            C.text('id', '路由', 'Route'),
            C.num('count', '次数', 'Count', 'requests'),
          ],
          rows: f.security.byRoute.map((r) => ({ status: r.status, id: r.route, count: r.count })),
        },
        {
          id: 'security_stops',
          title: { zh: '暂停与紧急中止', en: 'Suspensions and emergency stops' },
          columns: [
            C.text('at', '时间', 'Time'),
            C.text('target', '对象类型', 'Target'),
            C.text('id', '对象', 'Id'),
            C.text('action', '动作', 'Action'),
            C.text('actor', '操作人', 'Actor'),
            C.text('reason', '原因', 'Reason'),
          ],
          rows: f.security.stops.map((s) => ({ ...s })),
        },
      ],
    },
    {
      id: 'audit',
      title: { zh: '审计日志完整性', en: 'Audit-log integrity' },
      note:
        f.audit.chain === null
          ? {
              zh: '哈希链校验未接入：下表为记录数与序号连续性（重试的审计写入也会留下序号缺口）。',
              en: 'Hash-chain verification not connected: the table shows row count and sequence contiguity (a retried audit write also leaves a gap).',
            }
          : undefined,
      charts: [],
      tables: [
        {
          id: 'audit',
          title: { zh: '本月审计记录', en: 'Audit rows of the month' },
          columns: [C.text('id', '项目', 'Item'), C.text('value', '数值', 'Value')],
          rows: [
            { id: 'rows', value: String(f.audit.rows) },
            { id: 'first_seq', value: f.audit.firstSeq },
            { id: 'last_seq', value: f.audit.lastSeq },
            { id: 'missing_seqs', value: String(f.audit.missingSeqs) },
            {
              id: 'gaps',
              value: f.audit.gaps.map((g) => `${g.after}→${g.before}`).join(', ') || '—',
            },
            {
              id: 'hash_chain',
              value:
                f.audit.chain === null
                  ? '未接入 / not connected'
                  : f.audit.chain.ok
                    ? `通过 / ok (${f.audit.chain.rows})`
                    : `失败 / failed at seq ${f.audit.chain.firstBad}: ${f.audit.chain.reason ?? ''}`,
            },
          ],
        },
      ],
    },
    ...evaluationSections(f.evaluation),
  ];
  return {
    meta: {
      title: {
        zh: `公共数据资源使用情况与合规月报 ${f.month}`,
        en: `Monthly usage and compliance report ${f.month}`,
      },
      period: 'month',
      key: f.month,
      from: f.from,
      to: f.to,
      timezone: 'Asia/Shanghai',
      audience: null,
      generatedAt: f.generatedAt,
    },
    sections,
  };
}
