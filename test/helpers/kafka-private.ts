/**
 * A private Kafka broker for tests that stop and restart one (the shared broker on 9092 serves every other
 * suite): KRaft, its own ports and data directory, started with `infra/scripts/kafka-up.sh` from the jars that
 * script already resolved into `.infra/kafka/libs` — in this checkout (CI) or, in a git worktree, in the main
 * checkout. Nothing is downloaded here.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ROOT } from './process.ts';

/** The resolved Kafka jars, or null when none were resolved on this machine. */
export function kafkaLibs(): string | null {
  const candidates = [join(ROOT, '.infra/kafka/libs')];
  try {
    const common = execFileSync('git', ['rev-parse', '--git-common-dir'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    candidates.push(join(dirname(resolve(ROOT, common)), '.infra/kafka/libs'));
  } catch {
    /* not a git checkout */
  }
  for (const dir of candidates)
    if (existsSync(dir) && readdirSync(dir).some((f) => /^kafka_2\.13-.*\.jar$/.test(f))) return dir;
  return null;
}

/** Whether `pid` runs: a zombie (killed, not reaped yet) does not. */
function runs(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)?.[0] !== 'Z';
  } catch {
    return true;
  }
}

export interface PrivateKafka {
  port: number;
  bootstrap: string;
  /**
   * Starts (or restarts on the same data directory); resolves with the wall time it took, ms. The test's event
   * loop runs meanwhile (a `coalflow start` spawned before it boots at the same time).
   */
  start(opts?: { warmUp?: boolean }): Promise<number>;
  /** SIGKILLs the broker (a crash, not a controlled shutdown). */
  kill(): void;
  /** SIGKILLs it (if running: its data goes too, no controlled shutdown needed) and removes its directory. */
  destroy(): void;
}

export function privateKafka(dir: string, libs: string, port: number, controllerPort: number): PrivateKafka {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'libs'))) symlinkSync(libs, join(dir, 'libs'));
  const env = {
    ...process.env,
    KAFKA_INFRA_DIR: dir,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    KAFKA_HEAP: '384m',
    KAFKA_START_TIMEOUT: '90',
    // A faster start for a short-lived broker: no optimizing JIT, the JDK's class-data archive, a serial collector.
    KAFKA_JVM_OPTS: '-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto',
    // A restart after a SIGKILL registers only once the old incarnation's session expired (default 9 s).
    KAFKA_EXTRA_PROPERTIES: ['broker.heartbeat.interval.ms=500', 'broker.session.timeout.ms=3000'].join('\n'),
  };
  const pidFile = join(dir, 'kafka.pid');
  const pid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0);
  return {
    port,
    bootstrap: `127.0.0.1:${port}`,
    async start(opts = {}) {
      const t0 = Date.now();
      await promisify(execFile)('bash', [join(ROOT, 'infra/scripts/kafka-up.sh')], {
        env: { ...env, ...(opts.warmUp ? {} : { KAFKA_SKIP_WARMUP: '1' }) },
      });
      return Date.now() - t0;
    },
    kill() {
      const p = pid();
      if (!p) return;
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
      // Dead once gone or a zombie: the broker's parent is init, which may reap it a second or two later.
      for (let i = 0; i < 200 && runs(p); i++) execFileSync('sleep', ['0.05']);
      rmSync(pidFile, { force: true });
    },
    destroy() {
      this.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
