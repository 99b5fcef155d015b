/**
 * The services a test run needs (Kafka, the schema registry, Redis): each is
 * started only when it is not running, and what the run started it also stops
 * at the end. Services that were already running are left running.
 */

export interface ServiceSpec {
  name: string;
  /** Whether the service answers now. */
  isUp(): Promise<boolean>;
  /** Starts it (throws when it cannot). */
  start(): Promise<void> | void;
  /** Stops what `start` started. */
  stop(): Promise<void> | void;
  /** A service the run can do without (the registry: the mock replaces it): a failed start is reported, not thrown. */
  optional?: boolean;
}

export interface StartedServices {
  /** Names of the services this run started. */
  readonly started: readonly string[];
  /** Stops them, last started first; every step runs even if one fails. Safe to call twice. */
  stop(): Promise<void>;
}

export async function ensureServices(
  specs: readonly ServiceSpec[],
  log: (line: string) => void = console.log,
): Promise<StartedServices> {
  const mine: ServiceSpec[] = [];
  const handle: StartedServices = {
    get started() {
      return mine.map((s) => s.name);
    },
    stop: (() => {
      let stopping: Promise<void> | null = null;
      return () =>
        (stopping ??= (async () => {
          for (const s of [...mine].reverse()) {
            try {
              log(`Stopping ${s.name} (started by this test run) …`);
              await s.stop();
            } catch (err) {
              log(`! Could not stop ${s.name}: ${(err as Error).message}`);
            }
          }
        })());
    })(),
  };
  try {
    for (const s of specs) {
      if (await s.isUp()) continue;
      log(`${s.name} not running: starting it for this test run …`);
      try {
        await s.start();
      } catch (err) {
        // A half-started service (a process that never answered) is stopped too.
        try {
          await s.stop();
        } catch {
          /* nothing more to do */
        }
        if (s.optional) {
          log(`! ${s.name} could not start: ${(err as Error).message}`);
          continue;
        }
        throw err;
      }
      mine.push(s);
    }
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
