/**
 * The ingest role for the composition root: creates the feed topics,
 * registers the contracts, checks the policy, replays the embedded outbox
 * and runs the raw-topic workers.
 */
import type { Deps } from '../../infra/core/index.ts';
import { ingestContext } from './context.ts';
import { replayOutbox } from './outbox.ts';
import { ensureFeedTopics } from './topics.ts';
import { createIngestWorkers, type IngestWorkerOptions } from './worker.ts';

export interface IngestService {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createIngestService(
  deps: Deps,
  opts: IngestWorkerOptions & { replayOutbox?: boolean } = {},
): IngestService {
  const workers = createIngestWorkers(deps, opts);
  return {
    async start() {
      const ctx = ingestContext(deps); // loads and checks the policy: a bad policy fails the start
      await ensureFeedTopics(deps);
      await ctx.serde.registerAll();
      if (ctx.useOutbox && opts.replayOutbox !== false) await replayOutbox(deps);
      await workers.start();
    },
    stop: () => workers.stop(),
  };
}
