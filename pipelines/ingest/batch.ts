/**
 * One batch through ingest, for every source: core (decode, aliases, validate,
 * desensitize), dedupe against the shared `ingest_seen` table, canonical
 * records to `coal.<feed>.v1`, rejects to `coal.dlq` and `ingest_rejects`.
 *
 * Effectively once: a record is *claimed* (feed, recordId, source position)
 * before it is produced and marked *produced* after. If the process dies in
 * between, the broker redelivers the same position: the claim is recognised
 * as ours (same position) and the record is produced then, never mistaken for
 * a duplicate. Only another position carrying the same id is a duplicate,
 * counted once and not forwarded. A claim whose owner died without a
 * redelivery (an HTTP request or file import) is released on failure, or can
 * be taken over after `claimTimeoutMs`.
 */
import { randomUUID } from 'node:crypto';
import type { ProduceRecord } from '../../infra/core/index.ts';
import type { Mapped } from '../contracts/aliases.ts';
import type { ReasonCode } from '../contracts/reasons.ts';
import { toIsoCst } from '../contracts/parse.ts';
import { ACCEPTED_HEADER, topicOf, type FeedName } from '../contracts/types.ts';
import { decodePayload, finishRecord, mapRecord, mineNeedingRegion, type Accepted, type Outcome, type Rejected, type Source } from './core.ts';
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
  /** Release our claims when the batch fails (sources without redelivery). Default: true unless source is kafka/simulator. */
  releaseOnFailure?: boolean;
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
  const res = await ctx.deps.db.query('SELECT mine_id, region_code FROM mine_registry WHERE mine_id = ANY($1::text[])', [missing]);
  for (const row of res.rows) ctx.regions.set(row.mine_id as string, row.region_code as string);
}

/** Processes one batch of one feed. Throws (nothing committed, claims released when asked) on broker or database failure. */
export async function processBatch(ctx: IngestContext, feed: FeedName, items: BatchItem[], opts: BatchOptions): Promise<ItemResult[]> {
  const { deps } = ctx;
  const work: Work[] = items.map((item, index) => ({ index, item }));
  const nowMs = Date.now();

  // 1. decode + aliases; look up regions of mines the rows do not place themselves.
  const mapped = new Map<number, Mapped>();
  const needRegion: string[] = [];
  for (const w of work) {
    const d = decodePayload(w.item.payload);
    if (!d.ok) { w.outcome = d.rejected; continue; }
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
    if (firstOf.has(id)) { w.status = 'duplicate'; continue; }
    firstOf.set(id, w);
    const cached = ctx.seen.get(dedupeKey(feed, id));
    if (cached !== undefined) {
      w.status = cached === w.item.ref ? 'accepted' : 'duplicate';
      continue;
    }
    candidates.push(w);
  }
  const claimedRefs: string[] = [];
  if (candidates.length) {
    const ids = candidates.map((w) => (w.outcome as Accepted).record.recordId);
    const refs = candidates.map((w) => w.item.ref);
    const won = await deps.db.query(
      `INSERT INTO ingest_seen (feed, record_id, source_ref)
       SELECT $1, u.id, u.ref FROM unnest($2::text[], $3::text[]) AS u(id, ref)
       ON CONFLICT (feed, record_id) DO NOTHING RETURNING record_id`, [feed, ids, refs]);
    const wonIds = new Set(won.rows.map((r) => r.record_id as string));
    const lost = candidates.filter((w) => !wonIds.has((w.outcome as Accepted).record.recordId));
    for (const w of candidates) if (wonIds.has((w.outcome as Accepted).record.recordId)) { w.produce = true; claimedRefs.push(w.item.ref); }
    if (lost.length) {
      const prior = await deps.db.query(
        `SELECT record_id, source_ref, state, claimed_at < now() - make_interval(secs => $3) AS stale
         FROM ingest_seen WHERE feed = $1 AND record_id = ANY($2::text[])`,
        [feed, lost.map((w) => (w.outcome as Accepted).record.recordId), ctx.claimTimeoutMs / 1000]);
      const byId = new Map(prior.rows.map((r) => [r.record_id as string, r]));
      for (const w of lost) {
        const id = (w.outcome as Accepted).record.recordId;
        const p = byId.get(id);
        if (p && p.source_ref === w.item.ref) {
          // Our own claim from an earlier attempt at this position: a retry, not a duplicate.
          if (p.state === 'produced') w.status = 'accepted';
          else { w.produce = true; claimedRefs.push(w.item.ref); }
        } else if (p && p.state === 'claimed' && p.stale) {
          const took = await deps.db.query(
            `UPDATE ingest_seen SET source_ref = $4, claimed_at = now()
             WHERE feed = $1 AND record_id = $2 AND source_ref = $3 AND state = 'claimed' RETURNING record_id`,
            [feed, id, p.source_ref, w.item.ref]);
          if (took.rowCount) { w.produce = true; claimedRefs.push(w.item.ref); } else w.status = 'duplicate';
        } else {
          w.status = 'duplicate';
        }
      }
    }
  }

  const release = opts.releaseOnFailure ?? !(opts.source === 'kafka' || opts.source === 'simulator');
  try {
    // 4. encode and produce the canonical records.
    const toProduce = work.filter((w) => w.produce);
    const messages: ProduceRecord[] = [];
    for (const w of toProduce) {
      const acc = w.outcome as Accepted;
      try {
        const value = await ctx.serde.encode(feed, acc.record);
        messages.push({ key: acc.key, value, timestamp: Date.parse(acc.record.eventTime) || undefined, headers: { 'coalflow-feed': feed, [ACCEPTED_HEADER]: String(Date.now()) } });
      } catch (err) {
        w.produce = false;
        w.outcome = { status: 'rejected', reason: 'contract_violation', message: `不符合数据契约 / does not match the contract: ${(err as Error).message.slice(0, 200)}` };
        await deps.db.query(`DELETE FROM ingest_seen WHERE feed = $1 AND record_id = $2 AND source_ref = $3 AND state = 'claimed'`, [feed, acc.record.recordId, w.item.ref]);
      }
    }
    const canonicalTopic = deps.topic(topicOf.canonical(feed));
    if (messages.length) {
      await deps.broker.produce(canonicalTopic, messages);
      deps.metrics.eventsOut.inc({ topic: canonicalTopic }, messages.length);
    }

    // 5. rejects: DLQ topic and table (idempotent per source position).
    const rejects = work.filter((w) => w.outcome?.status === 'rejected');
    const rejectIds = new Map<string, string>();
    if (rejects.length && opts.recordRejects !== false) {
      const receivedAt = (w: Work) => toIsoCst(w.item.receivedAtMs ?? nowMs);
      // The original record: the JSON value when it parses, else the text as received.
      const original = (w: Work): unknown => {
        const p = Buffer.isBuffer(w.item.payload) ? w.item.payload.toString('utf8') : w.item.payload;
        if (typeof p !== 'string') return p;
        try { return JSON.parse(p) as unknown; } catch { return p; }
      };
      const dlqTopic = deps.topic(topicOf.dlq);
      await deps.broker.produce(dlqTopic, rejects.map((w) => {
        const r = w.outcome as Rejected;
        return {
          key: feed,
          value: JSON.stringify({ feed, reason: r.reason, message: r.message, source: opts.source, sourceRef: w.item.ref, receivedAt: receivedAt(w), payload: original(w) }),
          headers: { 'coalflow-feed': feed, 'coalflow-reason': r.reason },
        };
      }));
      deps.metrics.eventsOut.inc({ topic: dlqTopic }, rejects.length);
      const payloadJson: (string | null)[] = [];
      const payloadText: (string | null)[] = [];
      for (const w of rejects) {
        const p = original(w);
        if (p !== null && typeof p === 'object') { payloadJson.push(JSON.stringify(p).replace(/\\u0000/g, '')); payloadText.push(null); } else { payloadJson.push(null); payloadText.push(typeof p === 'string' ? p : JSON.stringify(p)); }
      }
      const ins = await deps.db.query(
        `INSERT INTO ingest_rejects (feed, reason, message, source, source_ref, payload, payload_text, received_at)
         SELECT $1, u.reason, u.message, $2, u.ref, u.payload::jsonb, u.payload_text, u.received_at::timestamptz
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u(reason, message, ref, payload, payload_text, received_at)
         ON CONFLICT (source_ref) DO NOTHING RETURNING id, source_ref`,
        [feed, opts.source,
          rejects.map((w) => (w.outcome as Rejected).reason), rejects.map((w) => (w.outcome as Rejected).message), rejects.map((w) => w.item.ref),
          payloadJson, payloadText, rejects.map(receivedAt)]);
      for (const row of ins.rows) rejectIds.set(row.source_ref as string, String(row.id));
      for (const w of rejects) deps.metrics.deadLetters.inc({ feed, reason: (w.outcome as Rejected).reason });
    }

    // 6. mark produced; keep the outbox (embedded mode) and the mine registry.
    const produced = work.filter((w) => w.produce);
    if (produced.length) {
      const ids = produced.map((w) => (w.outcome as Accepted).record.recordId);
      await deps.db.query(
        `UPDATE ingest_seen s SET state = 'produced', produced_at = now()
         FROM unnest($2::text[], $3::text[]) AS u(id, ref)
         WHERE s.feed = $1 AND s.record_id = u.id AND s.source_ref = u.ref`,
        [feed, ids, produced.map((w) => w.item.ref)]);
      if (ctx.useOutbox && (opts.source === 'file' || opts.source === 'http')) {
        await deps.db.query(
          `INSERT INTO ingest_outbox (feed, record_id, key, record)
           SELECT $1, u.id, u.key, u.record::jsonb FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, key, record)
           ON CONFLICT (feed, record_id) DO NOTHING`,
          [feed, ids, produced.map((w) => (w.outcome as Accepted).key), produced.map((w) => JSON.stringify((w.outcome as Accepted).record))]);
      }
      for (const w of produced) ctx.seen.set(dedupeKey(feed, (w.outcome as Accepted).record.recordId), w.item.ref);
      await rememberRegions(ctx, feed, produced.map((w) => w.outcome as Accepted));
    }

    const results: ItemResult[] = work.map((w) => {
      if (w.outcome?.status === 'rejected') {
        return { index: w.index, status: 'rejected', reason: w.outcome.reason, message: w.outcome.message, rejectId: rejectIds.get(w.item.ref) };
      }
      const recordId = (w.outcome as Accepted).record.recordId;
      if (w.produce) return { index: w.index, status: 'accepted', recordId };
      return { index: w.index, status: w.status ?? 'duplicate', recordId };
    });
    const dups = results.filter((r) => r.status === 'duplicate').length;
    if (dups) deps.metrics.duplicates.inc({ feed }, dups);
    return results;
  } catch (err) {
    if (release && claimedRefs.length) {
      await deps.db.query(`DELETE FROM ingest_seen WHERE feed = $1 AND state = 'claimed' AND source_ref = ANY($2::text[])`, [feed, claimedRefs])
        .catch(() => undefined);
    }
    throw err;
  }
}

async function rememberRegions(ctx: IngestContext, feed: FeedName, accepted: Accepted[]): Promise<void> {
  if (feed !== 'mines' && feed !== 'sales' && feed !== 'mine_inventory') return;
  const fresh = new Map<string, string>();
  for (const a of accepted) {
    const r = a.record as { mineId?: string; regionCode?: string };
    if (r.mineId && r.regionCode && ctx.regions.get(r.mineId) !== r.regionCode) fresh.set(r.mineId, r.regionCode);
  }
  if (!fresh.size) return;
  await ctx.deps.db.query(
    `INSERT INTO mine_registry (mine_id, region_code) SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT (mine_id) DO UPDATE SET region_code = EXCLUDED.region_code, updated_at = now()`,
    [[...fresh.keys()], [...fresh.values()]]);
  for (const [id, region] of fresh) ctx.regions.set(id, region);
}

/** A fresh id for one HTTP request or file import run (part of each copy's source position). */
export function newRunId(): string {
  return randomUUID();
}
