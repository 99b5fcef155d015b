/**
 * The simulator runner: produces the generator's raw JSON to `coal.raw.<feed>`
 * (header `coalflow-source: simulator`) at `speed` simulated seconds per wall
 * second. Simulated time never passes the wall clock (ingest rejects future
 * times): an accelerated run starts in the past (default 7 days ago) and,
 * once it has caught up, follows the wall clock.
 */
import type { ProduceRecord, Deps } from '../core/index.ts';
import { topicOf, ensureFeedTopics, type FeedName } from '../../pipelines/index.ts';
import { Generator, type SimEvent, type GeneratorCheckpoint } from './generator.ts';
import { seedHistory, type HistoryResult } from './history.ts';

export {
  Generator,
  simulate,
  type GeneratorCheckpoint,
  type GeneratorOptions,
  type SimEvent,
} from './generator.ts';
export { createWorld, type World } from './world.ts';
export { seedHistory, type HistoryOptions, type HistoryResult } from './history.ts';

export interface SimulatorOptions {
  /** Simulated seconds per wall-clock second. Default config.simSpeed (600). */
  speed?: number;
  /** PRNG seed. Default config.simSeed (42). */
  seed?: number;
  /** Share of bad records, 0..1. Default config.simBadShare. */
  badShare?: number;
  /** Share of duplicate sales, 0..1. Default config.simDupShare. */
  dupShare?: number;
  /** Simulated start, ms. Default: where the last run with this seed stopped (its checkpoint), else now minus 7 days when speed > 1, else now. */
  startTime?: number;
  /**
   * Resume from the checkpoint of the last run with this seed and topic prefix (kept in the database). Default
   * true unless `startTime` is given. A restart therefore goes on where the last run stopped instead of replaying
   * its past: a round produced before a crash but after the last checkpoint is produced again identically, so
   * its records are duplicates of themselves.
   */
  resume?: boolean;
  /** Least time between two checkpoints while running, ms. Default 2000 (and one at stop). */
  checkpointIntervalMs?: number;
  /**
   * Days of daily history seeded before the first start (history.ts), in the background. Default
   * config.simHistoryDays when `startTime` is not given, else 0.
   */
  historyDays?: number;
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
  /** The seeding of history started with this run (null when none). */
  history(): Promise<HistoryResult | null>;
}

const checkpointKey = (deps: Deps, seed: number) => `simulator:${deps.config.topicPrefix}:${seed}`;

/** The checkpoint of the last run with this seed and topic prefix, if any. */
export async function loadSimulatorCheckpoint(deps: Deps, seed: number): Promise<GeneratorCheckpoint | null> {
  const r = await deps.db.query('SELECT value FROM coalflow_meta WHERE key = $1', [
    checkpointKey(deps, seed),
  ]);
  return r.rowCount ? (JSON.parse(String(r.rows[0].value)) as GeneratorCheckpoint) : null;
}

async function saveCheckpoint(deps: Deps, seed: number, cp: GeneratorCheckpoint): Promise<void> {
  await deps.db.query(
    `INSERT INTO coalflow_meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [checkpointKey(deps, seed), JSON.stringify(cp)],
  );
}

export function startSimulator(deps: Deps, opts: SimulatorOptions = {}): Simulator {
  const speed = opts.speed ?? deps.config.simSpeed;
  const seed = opts.seed ?? deps.config.simSeed;
  const resume = opts.resume ?? opts.startTime === undefined;
  let startTime = opts.startTime ?? (speed > 1 ? Date.now() - 7 * 86_400_000 : Date.now());
  const gen = new Generator({
    seed,
    startTime,
    badShare: opts.badShare ?? deps.config.simBadShare,
    dupShare: opts.dupShare ?? deps.config.simDupShare,
  });
  const log = deps.log.child({ component: 'simulator' });
  const checkpointEvery = opts.checkpointIntervalMs ?? 2000;
  const historyDays = opts.historyDays ?? (opts.startTime === undefined ? deps.config.simHistoryDays : 0);
  const historyStop = { aborted: false };
  let history: Promise<HistoryResult | null> = Promise.resolve(null);
  let lastCheckpoint = 0;
  /** The generator's state after the last round produced in full (what a checkpoint may record). */
  let produced: GeneratorCheckpoint | null = null;
  const checkpoint = async (force: boolean) => {
    if (!resume || !produced || (!force && Date.now() - lastCheckpoint < checkpointEvery)) return;
    const cp = produced;
    produced = null;
    lastCheckpoint = Date.now();
    try {
      await saveCheckpoint(deps, seed, cp);
    } catch (err) {
      produced ??= cp;
      log.warn({ err: (err as Error).message }, 'simulator checkpoint failed; retrying next round');
    }
  };
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
      list.push({
        key: e.key,
        value: typeof e.raw === 'string' ? e.raw : JSON.stringify(e.raw),
        headers: { 'coalflow-source': 'simulator' },
      });
      byFeed.set(e.feed, list);
    }
    for (const [feed, records] of byFeed) {
      for (let i = 0; i < records.length; i += 2000)
        await deps.broker.produce(deps.topic(topicOf.raw(feed)), records.slice(i, i + 2000));
      counts[feed] = (counts[feed] ?? 0) + records.length;
    }
  }

  const tick = () => {
    if (!running) return;
    round = (async () => {
      const target = Math.min(startTime + (Date.now() - wallStart) * speed, Date.now());
      // A failed round is produced again from the state before it: the same records, never a gap.
      const before = gen.checkpoint();
      try {
        await produce(gen.advance(target));
        if (resume) produced = gen.checkpoint();
      } catch (err) {
        gen.restore(before);
        log.warn({ err: (err as Error).message }, 'simulator produce failed; retrying next round');
      }
      await checkpoint(false);
      if (running) timer = setTimeout(tick, opts.intervalMs ?? 250);
    })();
  };

  return {
    async start() {
      if (running) return;
      await ensureFeedTopics(deps);
      const cp = resume ? await loadSimulatorCheckpoint(deps, seed) : null;
      const firstKey = `${checkpointKey(deps, seed)}:first-start`;
      if (cp) {
        gen.restore(cp);
        startTime = gen.now;
      } else if (historyDays > 0) {
        await deps.db.query(
          'INSERT INTO coalflow_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
          [firstKey, String(startTime)],
        );
      }
      if (historyDays > 0) {
        // Before the first run's start (a seeding a stop interrupted goes on at the next start; a finished one is not
        // repeated). In the background: the API is healthy meanwhile, and the live simulation starts at once.
        const first = await deps.db.query('SELECT value FROM coalflow_meta WHERE key = $1', [firstKey]);
        if (first.rowCount) {
          history = seedHistory(deps, {
            seed,
            beforeMs: Number(first.rows[0].value),
            days: historyDays,
            signal: historyStop,
          }).catch((err) => {
            log.warn({ err: (err as Error).message }, 'seeding history failed');
            return null;
          });
        }
      }
      running = true;
      wallStart = Date.now();
      log.info(
        { speed, seed, startTime: new Date(startTime).toISOString(), resumed: !!cp },
        'simulator started',
      );
      tick();
    },
    stop() {
      stopping ??= (async () => {
        running = false;
        historyStop.aborted = true;
        if (timer) clearTimeout(timer);
        await round;
        await checkpoint(true);
        await history;
      })();
      return stopping;
    },
    now: () => gen.now,
    produced: () => ({ ...counts }),
    history: () => history,
  };
}
