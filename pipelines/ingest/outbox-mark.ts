/**
 * Embedded mode: how far `ingest_outbox` is known to be consumed, so a start
 * replays only the rest into the in-process broker (its cost follows what was
 * not yet consumed, not the whole retained history).
 *
 * The mark is an outbox id M such that every row up to M is stored by the
 * indicator workers. It moves in two steps: read M (the newest row), then the
 * end offsets of the canonical topics; once the indicator group has committed
 * past those ends, every row up to M is consumed (a row is inserted after its
 * record was produced, so its record lies below the ends read after it). A
 * crash before the mark moved only replays a little more: consumers are
 * idempotent on the record id.
 */
import type { Deps } from '../../infra/core/index.ts';
import { FEEDS, topicOf } from '../contracts/types.ts';

const MARK_KEY = 'ingest_outbox_consumed_id';

/** The outbox id up to which every row is consumed ('0' when none is known). */
export async function readOutboxMark(db: Deps['db']): Promise<string> {
  const r = await db.query('SELECT value FROM coalflow_meta WHERE key = $1', [MARK_KEY]);
  return r.rowCount ? String(r.rows[0].value) : '0';
}

async function writeOutboxMark(db: Deps['db'], id: string): Promise<void> {
  // Only forward: GREATEST keeps a newer mark written meanwhile.
  await db.query(
    `INSERT INTO coalflow_meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = GREATEST(coalflow_meta.value::bigint, EXCLUDED.value::bigint)::text, updated_at = now()`,
    [MARK_KEY, id],
  );
}

export interface OutboxMark {
  start(): Promise<void>;
  /** One step of the two (see the module doc); resolves to the mark after it. */
  tick(): Promise<string>;
  stop(): Promise<void>;
}

export interface OutboxMarkOptions {
  /** The consumer group that stores the canonical records (prefixed like topics). */
  groupId: string;
  /** Time between steps, ms. Default 5000. */
  intervalMs?: number;
}

export function createOutboxMark(deps: Deps, opts: OutboxMarkOptions): OutboxMark {
  const topics = FEEDS.map((f) => deps.topic(topicOf.canonical(f)));
  const log = deps.log.child({ component: 'outbox-mark' });
  let pending: { id: string; ends: Map<string, number[]> } | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> = Promise.resolve();
  const ends = async () => {
    const m = new Map<string, number[]>();
    for (const t of topics)
      m.set(
        t,
        (await deps.broker.lag(opts.groupId, t)).map((p) => Number(p.end)),
      );
    return m;
  };
  const tick = async (): Promise<string> => {
    const mark = await readOutboxMark(deps.db);
    if (pending) {
      let done = true;
      for (const t of topics) {
        const lag = await deps.broker.lag(opts.groupId, t);
        const want = pending.ends.get(t) ?? [];
        if (lag.some((p) => Number(p.committed) < (want[p.partition] ?? 0))) {
          done = false;
          break;
        }
      }
      if (!done) return mark;
      await writeOutboxMark(deps.db, pending.id);
      const moved = pending.id;
      pending = null;
      return BigInt(moved) > BigInt(mark) ? moved : mark;
    }
    const r = await deps.db.query('SELECT max(id)::text AS id FROM ingest_outbox WHERE id > $1::bigint', [
      mark,
    ]);
    const id = r.rows[0]?.id as string | null;
    if (id) pending = { id, ends: await ends() };
    return mark;
  };
  const loop = () => {
    running = tick()
      .catch((err) => log.warn({ err: (err as Error).message }, 'outbox mark step failed'))
      .finally(() => {
        if (timer) timer = setTimeout(loop, opts.intervalMs ?? 5000).unref();
      });
  };
  return {
    async start() {
      if (timer) return;
      timer = setTimeout(loop, opts.intervalMs ?? 5000).unref();
    },
    tick,
    async stop() {
      const t = timer;
      timer = null;
      if (t) clearTimeout(t);
      await running;
    },
  };
}
