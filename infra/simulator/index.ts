/**
 * The simulator runner: produces the generator's raw JSON to `coal.raw.<feed>`
 * (header `coalflow-source: simulator`) at `speed` simulated seconds per wall
 * second. Simulated time never passes the wall clock (ingest rejects future
 * times): an accelerated run starts in the past (default 7 days ago) and,
 * once it has caught up, follows the wall clock.
 */
import type { ProduceRecord, Deps } from '../core/index.ts';
import { topicOf, ensureFeedTopics, type FeedName } from '../../pipelines/index.ts';
import { Generator, type SimEvent } from './generator.ts';

export { Generator, simulate, type GeneratorOptions, type SimEvent } from './generator.ts';
export { createWorld, type World } from './world.ts';

export interface SimulatorOptions {
  /** Simulated seconds per wall-clock second. Default config.simSpeed (600). */
  speed?: number;
  /** PRNG seed. Default config.simSeed (42). */
  seed?: number;
  /** Share of bad records, 0..1. Default config.simBadShare. */
  badShare?: number;
  /** Share of duplicate sales, 0..1. Default config.simDupShare. */
  dupShare?: number;
  /** Simulated start, ms. Default: now minus 7 days when speed > 1, else now. */
  startTime?: number;
  /** Wall-clock interval between produce rounds, ms. Default 250. */
  intervalMs?: number;
}

export interface Simulator {
  start(): Promise<void>;
  /** Stops after the round in hand. Safe to call twice. */
  stop(): Promise<void>;
  /** Simulated time reached, ms. */
  now(): number;
  /** Records produced so far, per feed. */
  produced(): Record<string, number>;
}

export function startSimulator(deps: Deps, opts: SimulatorOptions = {}): Simulator {
  const speed = opts.speed ?? deps.config.simSpeed;
  const startTime = opts.startTime ?? (speed > 1 ? Date.now() - 7 * 86_400_000 : Date.now());
  const gen = new Generator({
    seed: opts.seed ?? deps.config.simSeed,
    startTime,
    badShare: opts.badShare ?? deps.config.simBadShare,
    dupShare: opts.dupShare ?? deps.config.simDupShare,
  });
  const log = deps.log.child({ component: 'simulator' });
  const counts: Record<string, number> = {};
  let timer: NodeJS.Timeout | null = null;
  let round: Promise<void> = Promise.resolve();
  let running = false;
  let stopping: Promise<void> | null = null;
  let wallStart = 0;

  async function produce(events: SimEvent[]): Promise<void> {
    const byFeed = new Map<FeedName, ProduceRecord[]>();
    for (const e of events) {
      const list = byFeed.get(e.feed) ?? [];
      list.push({ key: e.key, value: typeof e.raw === 'string' ? e.raw : JSON.stringify(e.raw), timestamp: e.timeMs, headers: { 'coalflow-source': 'simulator' } });
      byFeed.set(e.feed, list);
    }
    for (const [feed, records] of byFeed) {
      for (let i = 0; i < records.length; i += 2000) await deps.broker.produce(deps.topic(topicOf.raw(feed)), records.slice(i, i + 2000));
      counts[feed] = (counts[feed] ?? 0) + records.length;
    }
  }

  const tick = () => {
    if (!running) return;
    round = (async () => {
      const target = Math.min(startTime + (Date.now() - wallStart) * speed, Date.now());
      try {
        await produce(gen.advance(target));
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'simulator produce failed; retrying next round');
      }
      if (running) timer = setTimeout(tick, opts.intervalMs ?? 250);
    })();
  };

  return {
    async start() {
      if (running) return;
      await ensureFeedTopics(deps);
      running = true;
      wallStart = Date.now();
      log.info({ speed, seed: opts.seed ?? deps.config.simSeed, startTime: new Date(startTime).toISOString() }, 'simulator started');
      tick();
    },
    stop() {
      stopping ??= (async () => {
        running = false;
        if (timer) clearTimeout(timer);
        await round;
      })();
      return stopping;
    },
    now: () => gen.now,
    produced: () => ({ ...counts }),
  };
}
