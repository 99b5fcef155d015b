/**
 * `ingestRecords`: the entry for HTTP batch ingest, file import and replays.
 * Same core and dedupe as the raw-topic workers; returns a result per record.
 */
import type { Deps } from '../../infra/core/index.ts';
import { FEEDS, type FeedName } from '../contracts/types.ts';
import {
  addToSummary,
  emptySummary,
  newRunId,
  processBatch,
  type ItemResult,
  type Summary,
} from './batch.ts';
import { ingestContext } from './context.ts';
import type { Source } from './core.ts';

export interface IngestOptions {
  /** Identifies this submission; part of each record's source position. Default: a new UUID. */
  runId?: string;
  /** Source position of item i (default `<source>:<runId>:<i>`); file import passes line numbers. */
  refOf?(index: number): string;
  /** Records per internal batch. Default 500. */
  chunkSize?: number;
  /** Record rejects in the DLQ and the rejects table. Default true. */
  recordRejects?: boolean;
  /** Called after each chunk (progress bars). */
  onProgress?(done: number, total: number, summary: Summary): void;
}

export interface IngestResult {
  runId: string;
  summary: Summary;
  results: ItemResult[];
}

export function isFeed(name: string): name is FeedName {
  return (FEEDS as readonly string[]).includes(name);
}

/**
 * Validates, desensitizes, deduplicates and produces `raw` records of one feed.
 * Items may be objects (English or Chinese keys), JSON text or Buffers.
 * Throws on broker/database failure (claims released; safe to resubmit).
 */
export async function ingestRecords(
  deps: Deps,
  feed: FeedName,
  raw: readonly unknown[],
  source: Exclude<Source, 'kafka'>,
  opts: IngestOptions = {},
): Promise<IngestResult> {
  const ctx = ingestContext(deps);
  const runId = opts.runId ?? newRunId();
  const refOf = opts.refOf ?? ((i: number) => `${source}:${runId}:${i}`);
  const chunk = opts.chunkSize ?? 500;
  const summary = emptySummary();
  const results: ItemResult[] = [];
  const receivedAtMs = Date.now();
  for (let start = 0; start < raw.length; start += chunk) {
    const slice = raw
      .slice(start, start + chunk)
      .map((payload, j) => ({ payload, ref: refOf(start + j), receivedAtMs }));
    const res = await processBatch(ctx, feed, slice, { source, recordRejects: opts.recordRejects });
    for (const r of res) {
      r.index += start;
      results.push(r);
    }
    addToSummary(summary, res);
    opts.onProgress?.(Math.min(raw.length, start + chunk), raw.length, summary);
  }
  return { runId, summary, results };
}
