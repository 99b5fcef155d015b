/**
 * Data product lifecycle (登记 → 数据安全审查 → 发布): draft → under_review → approved → published → suspended →
 * retired; suspended → published resumes, retired is final, any other step is refused (PRODUCT_TRANSITION_INVALID).
 * Only published products are served. Every step is one row of the append-only `product_events` (migration 017):
 * who, when, why, and the review record attached at under_review and approved.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { CoalflowError, PolicyError } from '../../infra/core/index.ts';
import {
  checkMinimumNecessary,
  FAMILIES,
  readLatest,
  type Family,
  type FieldCheck,
  type Policy,
} from '../../pipelines/index.ts';
import { MAX_TOP_SHARE, MIN_CONTRIBUTORS, serve, type ServedPoint } from '../routes/indicators.ts';
import { countCells, secondarySuppress, type EntityPoints } from './disclosure.ts';

export const PRODUCT_STATES = [
  'draft',
  'under_review',
  'approved',
  'published',
  'suspended',
  'retired',
] as const;
export type ProductState = (typeof PRODUCT_STATES)[number];

/** Each command and the one step it makes. */
export const STEPS = {
  submit: { from: 'draft', to: 'under_review' },
  approve: { from: 'under_review', to: 'approved' },
  publish: { from: 'approved', to: 'published' },
  suspend: { from: 'published', to: 'suspended' },
  resume: { from: 'suspended', to: 'published' },
  retire: { from: 'suspended', to: 'retired' },
} as const satisfies Record<string, { from: ProductState; to: ProductState }>;
export type Step = keyof typeof STEPS;
export const STEP_NAMES = Object.keys(STEPS) as Step[];
/** Steps that must say why. */
const NEEDS_REASON: ReadonlySet<Step> = new Set(['suspend', 'resume', 'retire']);

/** Who made a change: `key:<keyId>` (with the subscriber) from the API, `cli:<name>` from the command line. */
export interface Actor {
  actor: string;
  subscriberId?: string | null;
}

export interface Review {
  /** Each field of the product against the minimum-necessary-use list. */
  fields: FieldCheck[];
  /** True when every field is on the list (required for approval). */
  fieldsAllowed: boolean;
  /** Disclosure control every response of the product passes. */
  disclosure: { minContributors: number; maxTopShare: number; secondarySuppression: boolean };
  /** What a subscriber granted every region would see now (indicator products), after disclosure control. */
  sample: {
    family: string;
    scope: string;
    entities: EntityPoints[];
    cellsReturned: number;
    cellsSuppressed: number;
  } | null;
  note: string;
  at: string;
  by: string;
}

export interface ProductEvent {
  id: string;
  at: string;
  product: string;
  from: ProductState | null;
  to: ProductState;
  actor: string;
  subscriberId: string | null;
  reason: string;
  review: Review | null;
}

const SAMPLE_SCOPES = ['region', 'sector', 'coal_type', 'city'] as const;

/** The indicator family an `indicator.<family>[.<variant>]` product serves, if any. */
export function familyOfProduct(code: string): Family | null {
  const [head, f] = code.split('.');
  return head === 'indicator' && f && (FAMILIES as readonly string[]).includes(f) ? (f as Family) : null;
}

/** The review record: fields checked, disclosure settings, and a sample computed from the indicator store. */
export async function buildReview(
  deps: { redis: Redis; prefix: string; policy?: Policy },
  product: { code: string; fields: string[] },
  by: string,
): Promise<Review> {
  const fields = checkMinimumNecessary(product.fields ?? [], deps.policy);
  const family = familyOfProduct(product.code);
  let sample: Review['sample'] = null;
  let note = '';
  if (family) {
    for (const scope of SAMPLE_SCOPES) {
      const entries = await readLatest(deps.redis, deps.prefix, family, scope as never, undefined, 50);
      if (!entries.length) continue;
      const by = new Map<string, ServedPoint[]>();
      for (const e of entries)
        (by.get(e.scopeId) ?? by.set(e.scopeId, []).get(e.scopeId)!).push(
          serve({ ...e, scope: scope as never }),
        );
      const entities = [...by].map(([scopeId, points]) => ({ scopeId, points }));
      secondarySuppress(entities);
      const cells = countCells(entities);
      sample = {
        family,
        scope,
        entities: entities.slice(0, 5).map((e) => ({ scopeId: e.scopeId, points: e.points.slice(0, 8) })),
        cellsReturned: cells.returned,
        cellsSuppressed: cells.suppressed,
      };
      break;
    }
    if (!sample) note = `指标库中尚无 ${family} 数据 / no ${family} data in the indicator store yet`;
  } else
    note = '非指标类产品，样例见其接口 / not an indicator product: see its routes for the shape it serves';
  return {
    fields,
    fieldsAllowed: fields.every((f) => f.allowed),
    disclosure: { minContributors: MIN_CONTRIBUTORS, maxTopShare: MAX_TOP_SHARE, secondarySuppression: true },
    sample,
    note,
    at: new Date().toISOString(),
    by,
  };
}

const notFound = (code: string) =>
  new CoalflowError('NOT_FOUND', `数据产品 ${code} 未登记 / data product ${code} is not registered`);

/**
 * Makes one lifecycle step, atomically: the product's state moves only from the step's `from` state, and the
 * event is written in the same statement. A review is built for `submit` and `approve`; approval is refused
 * when a field is not on the minimum-necessary-use list.
 */
export async function transition(
  deps: { db: pg.Pool; redis: Redis; prefix: string; policy?: Policy },
  code: string,
  step: Step,
  who: Actor,
  reason = '',
): Promise<ProductEvent> {
  const s = STEPS[step];
  if (!s)
    throw new CoalflowError(
      'INPUT_INVALID',
      `未知步骤 ${step}，可选 ${STEP_NAMES.join('|')} / unknown step ${step}: one of ${STEP_NAMES.join('|')}`,
    );
  if (NEEDS_REASON.has(step) && !reason.trim())
    throw new CoalflowError('INPUT_INVALID', `${step} 须说明原因（reason）/ ${step} needs a reason`);
  const cur = await deps.db.query('SELECT code, state, fields FROM access_products WHERE code = $1', [code]);
  const row = cur.rows[0];
  if (!row) throw notFound(code);
  let review: Review | null = null;
  if (step === 'submit' || step === 'approve') {
    review = await buildReview(deps, { code, fields: row.fields }, who.actor);
    if (step === 'approve' && !review.fieldsAllowed) {
      const refused = review.fields.filter((f) => !f.allowed).map((f) => f.field);
      throw new PolicyError(
        'POLICY_FIELD_NOT_ALLOWED',
        `数据产品 ${code} 使用了最小必要使用清单之外的字段：${refused.join('、')}，不能批准 / data product ${code} uses fields outside the minimum-necessary-use list: ${refused.join(', ')}; not approved`,
        { context: { product: code, fields: refused } },
      );
    }
  }
  const r = await deps.db.query(
    `WITH up AS (
       UPDATE access_products SET state = $3, state_changed_at = now(), review = COALESCE($6::jsonb, review)
       WHERE code = $1 AND state = $2 RETURNING code)
     INSERT INTO product_events (product, from_state, to_state, actor, subscriber_id, reason, review)
     SELECT code, $2, $3, $4, $5, $7, $6::jsonb FROM up
     RETURNING id::text, at, product, from_state, to_state, actor, subscriber_id, reason, review`,
    [code, s.from, s.to, who.actor, who.subscriberId ?? null, review ? JSON.stringify(review) : null, reason],
  );
  if (!r.rowCount) {
    const now = (await deps.db.query('SELECT state FROM access_products WHERE code = $1', [code])).rows[0];
    if (!now) throw notFound(code);
    throw new CoalflowError(
      'PRODUCT_TRANSITION_INVALID',
      `数据产品 ${code} 当前为 ${now.state}，不能执行 ${step}（须为 ${s.from}）/ data product ${code} is ${now.state}: ${step} needs ${s.from}`,
      { context: { product: code, state: now.state, step, needs: s.from } },
    );
  }
  return eventOf(r.rows[0]);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a database row, typed by the event it becomes
function eventOf(x: Record<string, any>): ProductEvent {
  return {
    id: x.id,
    at: new Date(x.at).toISOString(),
    product: x.product,
    from: x.from_state,
    to: x.to_state,
    actor: x.actor,
    subscriberId: x.subscriber_id,
    reason: x.reason,
    review: x.review,
  };
}

/**
 * Lifecycle events in [from, to) (ISO times or dates; either may be left out), oldest first; optionally of one
 * product. For the compliance report: registrations, reviews, publications, suspensions and retirements.
 */
export async function productEvents(
  db: Pick<pg.Pool, 'query'>,
  from?: string | null,
  to?: string | null,
  product?: string | null,
): Promise<ProductEvent[]> {
  const r = await db.query(
    `SELECT id::text, at, product, from_state, to_state, actor, subscriber_id, reason, review FROM product_events
     WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2) AND ($3::text IS NULL OR product = $3)
     ORDER BY id`,
    [from || null, to || null, product || null],
  );
  return r.rows.map(eventOf);
}
