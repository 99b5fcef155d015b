/**
 * One batch through ingest, for every source: core (decode, aliases, validate,
 * desensitize), dedupe against the shared `ingest_seen` table, canonical
 * records to `coal.<feed>.v1`, rejects to `coal.dlq` and `ingest_rejects`.
 *
 * Effectively once: a record is *claimed* (feed, recordId, source position),
 * its reject or outbox row stored and the claim marked *produced* in one
 * transaction that commits only after the broker acknowledged the records.
 * A crash before the commit leaves no claim, so a re-send (or the broker's
 * redelivery) is stored; a crash between the produce and the commit leaves a
 * second copy on the canonical topic that consumers drop by record id. Only
 * another position carrying the same id is a duplicate, counted once and not
 * forwarded.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { ProduceRecord } from '../../infra/core/index.ts';
import type { Mapped } from '../contracts/aliases.ts';
import type { ReasonCode } from '../contracts/reasons.ts';
import { toIsoCst } from '../contracts/parse.ts';
import { jsonDepth, MAX_RECORD_DEPTH, storableJson, storableText } from '../contracts/screen.ts';
import { ACCEPTED_HEADER, topicOf, type FeedName } from '../contracts/types.ts';
import {
  decodePayload,
  finishRecord,
  mapRecord,
  mineNeedingRegion,
  type Accepted,
  type Outcome,
  type Rejected,
  type Source,
} from './core.ts';
import type { IngestContext } from './context.ts';

export interface BatchItem {
  /** Raw value: Buffer or JSON text (raw topics, NDJSON lines) or a parsed value (HTTP arrays, file rows). */
  payload: unknown;
  /** Position at the source, unique per copy: `topic:partition:offset`, `http:<request>:<index>`, `file:<run>:<line>`. */
  ref: string;
  receivedAtMs?: number;
}

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected';

export interface ItemResult {
  index: number;
  status: ItemStatus;
  recordId?: string;
  reason?: ReasonCode;
  message?: string;
  /** Row id in ingest_rejects (for replay). */
  rejectId?: string;
}

export interface BatchOptions {
  source: Source;
  /** Record rejects (DLQ + table). Default true; a replay attempt that fails again is only reported. */
  recordRejects?: boolean;
}

export interface Summary {
  accepted: number;
  duplicates: number;
  rejected: Record<string, number>;
}

export function emptySummary(): Summary {
  return { accepted: 0, duplicates: 0, rejected: {} };
}

export function addToSummary(s: Summary, results: ItemResult[]): Summary {
  for (const r of results) {
    if (r.status === 'accepted') s.accepted++;
    else if (r.status === 'duplicate') s.duplicates++;
    else s.rejected[r.reason!] = (s.rejected[r.reason!] ?? 0) + 1;
  }
  return s;
}

interface Work {
  index: number;
  item: BatchItem;
  outcome?: Outcome;
  /** Set when the item should be produced to the canonical topic. */
  produce?: boolean;
  status?: ItemStatus;
}

const dedupeKey = (feed: FeedName, id: string) => `${feed}\u0000${id}`;

async function fetchRegions(ctx: IngestContext, ids: string[]): Promise<void> {
  const missing = [...new Set(ids)].filter((id) => ctx.regions.get(id) === undefined);
  if (!missing.length) return;
  const res = await ctx.deps.db.query(
    'SELECT mine_id, region_code FROM mine_registry WHERE mine_id = ANY($1::text[])',
    [missing],
  );
  for (const row of res.rows) ctx.regions.set(row.mine_id as string, row.region_code as string);
}

/** Processes one batch of one feed, all or nothing. Throws (nothing committed, nothing claimed) on broker or database failure. */
export async function processBatch(
  ctx: IngestContext,
  feed: FeedName,
  items: BatchItem[],
  opts: BatchOptions,
): Promise<ItemResult[]> {
  const { deps } = ctx;
  const work: Work[] = items.map((item, index) => ({ index, item }));
  const nowMs = Date.now();

  // 1. decode + aliases; look up regions of mines the rows do not place themselves.
  const mapped = new Map<number, Mapped>();
  const needRegion: string[] = [];
  for (const w of work) {
    const d = decodePayload(w.item.payload);
    if (!d.ok) {
      w.outcome = d.rejected;
      continue;
    }
    const m = mapRecord(feed, d.obj);
    mapped.set(w.index, m);
    const mine = mineNeedingRegion(feed, m);
    if (mine) needRegion.push(mine);
  }
  if (needRegion.length) await fetchRegions(ctx, needRegion);

  // 2. validate + desensitize.
  for (const w of work) {
    const m = mapped.get(w.index);
    if (!m) continue;
    w.outcome = finishRecord(feed, m, {
      desensitizer: ctx.desensitizer,
      nowMs,
      receivedAtMs: w.item.receivedAtMs ?? nowMs,
      regionOfMine: (id) => ctx.regions.get(id),
    });
  }

  // 3. dedupe: within the batch, the front cache, then the shared table.
  const firstOf = new Map<string, Work>();
  const candidates: Work[] = [];
  for (const w of work) {
    if (w.outcome?.status !== 'ok') continue;
    const id = w.outcome.record.recordId;
    if (firstOf.has(id)) {
      w.status = 'duplicate';
      continue;
    }
    firstOf.set(id, w);
    const cached = ctx.seen.get(dedupeKey(feed, id));
    if (cached !== undefined) {
      w.status = cached === w.item.ref ? 'accepted' : 'duplicate';
      continue;
    }
    candidates.push(w);
  }
  // The claims and steps 4-7 run in one transaction: a claim becomes visible only together with the
  // rejects, the outbox rows and the "produced" mark, and only after the broker acknowledged the records. A crash
  // anywhere before COMMIT leaves nothing claimed, so a re-send of an unacknowledged batch is stored,
  // never dropped as a duplicate; a crash after the produce but before COMMIT gives a second copy on
  // the canonical topic, which consumers drop by record id.
  const client = await deps.db.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    if (candidates.length) {
      const ids = candidates.map((w) => (w.outcome as Accepted).record.recordId);
      const refs = candidates.map((w) => w.item.ref);
      const won = await client.query(
        `INSERT INTO ingest_seen (feed, record_id, source_ref)
         SELECT $1, u.id, u.ref FROM unnest($2::text[], $3::text[]) AS u(id, ref)
         ORDER BY u.id -- one lock order for concurrent batches sharing ids: they wait, never deadlock
         ON CONFLICT (feed, record_id) DO NOTHING RETURNING record_id`,
        [feed, ids, refs],
      );
      const wonIds = new Set(won.rows.map((r) => r.record_id as string));
      const lost = candidates.filter((w) => !wonIds.has((w.outcome as Accepted).record.recordId));
      for (const w of candidates) if (wonIds.has((w.outcome as Accepted).record.recordId)) w.produce = true;
      if (lost.length) {
        const prior = await client.query(
          `SELECT record_id, source_ref, state, claimed_at < now() - make_interval(secs => $3) AS stale
           FROM ingest_seen WHERE feed = $1 AND record_id = ANY($2::text[])`,
          [feed, lost.map((w) => (w.outcome as Accepted).record.recordId), ctx.claimTimeoutMs / 1000],
        );
        const byId = new Map(prior.rows.map((r) => [r.record_id as string, r]));
        for (const w of lost) {
          const id = (w.outcome as Accepted).record.recordId;
          const p = byId.get(id);
          if (p && p.source_ref === w.item.ref) {
            // Our own claim from an earlier attempt at this position: a retry, not a duplicate.
            if (p.state === 'produced') w.status = 'accepted';
            else w.produce = true;
          } else if (p && p.state === 'claimed' && p.stale) {
            // A claim left by a version that claimed outside the storing transaction.
            const took = await client.query(
              `UPDATE ingest_seen SET source_ref = $4, claimed_at = now()
               WHERE feed = $1 AND record_id = $2 AND source_ref = $3 AND state = 'claimed' RETURNING record_id`,
              [feed, id, p.source_ref, w.item.ref],
            );
            if (took.rowCount) w.produce = true;
            else w.status = 'duplicate';
          } else {
            w.status = 'duplicate';
          }
        }
      }
    }

    // 4. encode the canonical records (a record the registered schema refuses is a reject, not claimed).
    const messages: ProduceRecord[] = [];
    for (const w of work.filter((x) => x.produce)) {
      const acc = w.outcome as Accepted;
      try {
        const value = await ctx.serde.encode(feed, acc.record);
        messages.push({
          key: acc.key,
          value,
          headers: { 'coalflow-feed': feed, [ACCEPTED_HEADER]: String(Date.now()) },
        });
      } catch (err) {
        w.produce = false;
        w.outcome = {
          status: 'rejected',
          reason: 'contract_violation',
          message: `不符合数据契约 / does not match the contract: ${(err as Error).message.slice(0, 200)}`,
        };
        await client.query(
          `DELETE FROM ingest_seen WHERE feed = $1 AND record_id = $2 AND source_ref = $3 AND state = 'claimed'`,
          [feed, acc.record.recordId, w.item.ref],
        );
      }
    }

    // 5. rejects: table (one open reject per identical payload) and DLQ topic.
    const rejects = work.filter((w) => w.outcome?.status === 'rejected');
    const rejectIds = new Map<string, string>();
    const dlq: ProduceRecord[] = [];
    if (rejects.length && opts.recordRejects !== false) {
      const receivedAt = (w: Work) => toIsoCst(w.item.receivedAtMs ?? nowMs);
      const stored = rejects.map((w) => storedPayload(w.item.payload, (w.outcome as Rejected).reason));
      const keys = stored.map((p) =>
        ctx.desensitizer.hashId(`reject\u0000${feed}\u0000${p.json ?? `t:${p.text}`}`),
      );
      const ins = await client.query(
        `INSERT INTO ingest_rejects (feed, reason, message, source, source_ref, payload, payload_text, received_at, payload_key)
         SELECT $1, u.reason, u.message, $2, u.ref, u.payload::jsonb, u.payload_text, u.received_at::timestamptz, u.pkey
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS u(reason, message, ref, payload, payload_text, received_at, pkey)
         ON CONFLICT DO NOTHING RETURNING id, source_ref`,
        [
          feed,
          opts.source,
          rejects.map((w) => (w.outcome as Rejected).reason),
          rejects.map((w) => storableText((w.outcome as Rejected).message)),
          rejects.map((w) => w.item.ref),
          stored.map((p) => p.json),
          stored.map((p) => p.text),
          rejects.map(receivedAt),
          keys,
        ],
      );
      for (const row of ins.rows) rejectIds.set(row.source_ref as string, String(row.id));
      const fresh = rejects.map((w, i) => ({ w, i })).filter(({ w }) => rejectIds.has(w.item.ref));
      const known = rejects.map((w, i) => ({ w, i })).filter(({ w }) => !rejectIds.has(w.item.ref));
      if (known.length) {
        // Already recorded: this position before (a retry), or the same payload still open (a re-send).
        const prior = await client.query(
          `SELECT id, source_ref, payload_key FROM ingest_rejects
           WHERE source_ref = ANY($1::text[]) OR (feed = $2 AND status = 'open' AND payload_key = ANY($3::text[]))`,
          [known.map(({ w }) => w.item.ref), feed, known.map(({ i }) => keys[i]!)],
        );
        const byRef = new Map(prior.rows.map((r) => [r.source_ref as string, String(r.id)]));
        const byKey = new Map(prior.rows.map((r) => [r.payload_key as string, String(r.id)]));
        for (const { w, i } of known) {
          const id = byRef.get(w.item.ref) ?? byKey.get(keys[i]!);
          if (id) rejectIds.set(w.item.ref, id);
        }
      }
      for (const { w, i } of fresh) {
        const r = w.outcome as Rejected;
        dlq.push({
          key: feed,
          value: JSON.stringify({
            feed,
            reason: r.reason,
            message: r.message,
            source: opts.source,
            sourceRef: w.item.ref,
            receivedAt: receivedAt(w),
            rejectId: rejectIds.get(w.item.ref),
          }).replace(/}$/, `,"payload":${stored[i]!.json ?? JSON.stringify(stored[i]!.text)}}`),
          headers: { 'coalflow-feed': feed, 'coalflow-reason': r.reason },
        });
      }
    }

    // 6. mark produced; keep the outbox (embedded mode) and the mine registry.
    const produced = work.filter((w) => w.produce);
    if (produced.length) {
      const ids = produced.map((w) => (w.outcome as Accepted).record.recordId);
      await client.query(
        `UPDATE ingest_seen s SET state = 'produced', produced_at = now()
         FROM unnest($2::text[], $3::text[]) AS u(id, ref)
         WHERE s.feed = $1 AND s.record_id = u.id AND s.source_ref = u.ref`,
        [feed, ids, produced.map((w) => w.item.ref)],
      );
      if (ctx.useOutbox && (opts.source === 'file' || opts.source === 'http')) {
        await client.query(
          `INSERT INTO ingest_outbox (feed, record_id, key, record)
           SELECT $1, u.id, u.key, u.record::jsonb FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, key, record)
           ON CONFLICT (feed, record_id) DO NOTHING`,
          [
            feed,
            ids,
            produced.map((w) => (w.outcome as Accepted).key),
            produced.map((w) => JSON.stringify((w.outcome as Accepted).record)),
          ],
        );
      }
      await rememberRegions(
        ctx,
        client,
        feed,
        produced.map((w) => w.outcome as Accepted),
      );
    }

    // 7. produce, then commit: nothing counts as seen before the broker holds it. The DLQ goes first, so
    // a failure there leaves no canonical record behind; the canonical produce is the last step before COMMIT.
    if (dlq.length) {
      const dlqTopic = deps.topic(topicOf.dlq);
      await deps.broker.produce(dlqTopic, dlq);
      deps.metrics.eventsOut.inc({ topic: dlqTopic }, dlq.length);
    }
    const canonicalTopic = deps.topic(topicOf.canonical(feed));
    if (messages.length) {
      await deps.broker.produce(canonicalTopic, messages);
      deps.metrics.eventsOut.inc({ topic: canonicalTopic }, messages.length);
    }
    await client.query('COMMIT');
    for (const w of rejects) deps.metrics.deadLetters.inc({ feed, reason: (w.outcome as Rejected).reason });
    for (const w of produced)
      ctx.seen.set(dedupeKey(feed, (w.outcome as Accepted).record.recordId), w.item.ref);

    const results: ItemResult[] = work.map((w) => {
      if (w.outcome?.status === 'rejected') {
        return {
          index: w.index,
          status: 'rejected',
          reason: w.outcome.reason,
          message: w.outcome.message,
          rejectId: rejectIds.get(w.item.ref),
        };
      }
      const recordId = (w.outcome as Accepted).record.recordId;
      if (w.produce) return { index: w.index, status: 'accepted', recordId };
      return { index: w.index, status: w.status ?? 'duplicate', recordId };
    });
    const dups = results.filter((r) => r.status === 'duplicate').length;
    if (dups) deps.metrics.duplicates.inc({ feed }, dups);
    return results;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    // A connection that failed mid-transaction is not given back to the pool.
    client.release(broken);
  }
}

/**
 * The original record as it is kept among the rejects: JSON (for jsonb) when it is a JSON value no
 * deeper than the limit, else text. NUL becomes U+2400 (neither text nor jsonb holds U+0000).
 */
function storedPayload(payload: unknown, reason: string): { json: string | null; text: string | null } {
  const p = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
  if (typeof p === 'string') {
    if (reason === 'nesting_too_deep') return { json: null, text: storableText(p) };
    try {
      const v = JSON.parse(p) as unknown;
      // Deep JSON stays text whatever the reason (an array is a decode_error before its depth is looked at).
      if (v !== null && typeof v === 'object' && jsonDepth(v, MAX_RECORD_DEPTH) <= MAX_RECORD_DEPTH)
        return { json: storableJson(JSON.stringify(v)), text: null };
    } catch {
      /* kept as text */
    }
    return { json: null, text: storableText(p) };
  }
  if (p !== null && typeof p === 'object') {
    let json: string;
    try {
      json = JSON.stringify(p);
    } catch {
      return { json: null, text: '[不可序列化 / not serializable]' };
    }
    return jsonDepth(p, MAX_RECORD_DEPTH) > MAX_RECORD_DEPTH
      ? { json: null, text: storableText(json) }
      : { json: storableJson(json), text: null };
  }
  return { json: null, text: storableText(String(JSON.stringify(p))) };
}

async function rememberRegions(
  ctx: IngestContext,
  client: pg.PoolClient,
  feed: FeedName,
  accepted: Accepted[],
): Promise<void> {
  if (feed !== 'mines' && feed !== 'sales' && feed !== 'mine_inventory') return;
  const fresh = new Map<string, string>();
  for (const a of accepted) {
    const r = a.record as { mineId?: string; regionCode?: string };
    if (r.mineId && r.regionCode && ctx.regions.get(r.mineId) !== r.regionCode)
      fresh.set(r.mineId, r.regionCode);
  }
  if (!fresh.size) return;
  await client.query(
    `INSERT INTO mine_registry (mine_id, region_code) SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT (mine_id) DO UPDATE SET region_code = EXCLUDED.region_code, updated_at = now()`,
    [[...fresh.keys()], [...fresh.values()]],
  );
  for (const [id, region] of fresh) ctx.regions.set(id, region);
}

/** A fresh id for one HTTP request or file import run (part of each copy's source position). */
export function newRunId(): string {
  return randomUUID();
}
