/**
 * Embedded mode only: the in-process broker lives as long as its process, so
 * records accepted by `coalflow import` (a separate process) or by HTTP are
 * also kept in `ingest_outbox`, and `start` replays them into the broker at
 * boot: the rows after the consumed mark (outbox-mark.ts), so a start costs what
 * was not yet consumed, not the whole retained history. Consumers are
 * idempotent on the record id, so replaying a little more is safe.
 */
import type { Deps } from '../../infra/core/index.ts';
import { topicOf, type FeedName, type FeedRecordMap } from '../contracts/types.ts';
import { ingestContext } from './context.ts';
import { readOutboxMark } from './outbox-mark.ts';

/** Produces the outbox records after the consumed mark (every one with `all`) onto their canonical topics, oldest first. Returns how many. */
export async function replayOutbox(
  deps: Deps,
  opts: { pageSize?: number; all?: boolean } = {},
): Promise<number> {
  const ctx = ingestContext(deps);
  const page = opts.pageSize ?? 1000;
  let last = opts.all ? '0' : await readOutboxMark(deps.db);
  let total = 0;
  for (;;) {
    const res = await deps.db.query(
      'SELECT id, feed, key, record FROM ingest_outbox WHERE id > $1::bigint ORDER BY id LIMIT $2',
      [last, page],
    );
    if (!res.rowCount) break;
    const byFeed = new Map<FeedName, { key: string; value: Buffer }[]>();
    for (const row of res.rows) {
      const feed = row.feed as FeedName;
      const record = row.record as FeedRecordMap[FeedName];
      const value = await ctx.serde.encode(feed, record);
      const list = byFeed.get(feed) ?? [];
      list.push({ key: row.key as string, value });
      byFeed.set(feed, list);
      last = String(row.id);
    }
    for (const [feed, msgs] of byFeed) await deps.broker.produce(deps.topic(topicOf.canonical(feed)), msgs);
    total += res.rowCount;
  }
  if (total) ctx.log.info({ records: total }, 'outbox replayed into the in-process broker');
  return total;
}
