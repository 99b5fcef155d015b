/**
 * The test entry (`npm test`): checks the real services the integration tests
 * need (Kafka, Redis), starts them when they are not running, fails with a
 * clear message naming what is missing, then runs every uvu suite under test/.
 * `--unit` runs only suites without a service in their file name; a plain argument
 * keeps the suites whose path contains it.
 *
 * Independent suites run in parallel: the files are spread over `TEST_SHARDS`
 * child processes (default 3; 1 runs them all in this process), heaviest first,
 * each shard's output printed whole when it ends, then one closing line
 * `N passed, N failed, N skipped` for all of them. Every suite owns its topics,
 * key prefixes, ports and database, so shards never share state.
 *
 * Each suite file's wall time (its import and its suites) is printed when it ends (`  ⏱ 12.3 s`); before
 * the closing line, the files that took over `SLOW_SUITE_S` seconds are listed, the slowest first.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Socket } from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import { ensureServices, type ServiceSpec, type StartedServices } from './helpers/services.ts';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
/** `--files a b …`: a shard started by the parent runs exactly these (services are the parent's job). */
const filesAt = args.indexOf('--files');
const shardFiles = filesAt >= 0 ? args.slice(filesAt + 1) : null;
const filter = shardFiles ? undefined : args.find((a) => !a.startsWith('--'));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : /\.test\.ts$/.test(f) ? [p] : [];
  });
}

function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

function hostPort(s: string, defPort: number): [string, number] {
  const u = s.includes('://') ? new URL(s) : new URL(`x://${s}`);
  return [u.hostname || '127.0.0.1', Number(u.port) || defPort];
}

/** Kafka, the schema registry and Redis, each started (and, at the end, stopped) only when not already running. */
function serviceSpecs(): ServiceSpec[] {
  const kafka = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',')[0]!;
  const [kh, kp] = hostPort(kafka, 9092);
  const specs: ServiceSpec[] = [
    {
      name: `Kafka on ${kafka}`,
      isUp: () => portOpen(kh, kp),
      start: () => {
        if (kh !== '127.0.0.1' && kh !== 'localhost')
          throw new Error(`Kafka at ${kafka} is not reachable (KAFKA_BROKERS)`);
        try {
          execFileSync('bash', [join(root, 'infra/scripts/kafka-up.sh')], { stdio: 'inherit' });
        } catch {
          throw new Error(
            'Could not start Kafka (see the output above). It needs Java 17+ (apt-get install openjdk-17-jre-headless) and Maven (apt-get install maven) to resolve org.apache.kafka:kafka_2.13.',
          );
        }
      },
      stop: () => {
        execFileSync('bash', [join(root, 'infra/scripts/kafka-down.sh')], { stdio: 'inherit' });
      },
    },
  ];
  // Schema registry: the real one (Apicurio's Confluent API) when it can run; else the client's mock.
  if (!process.env.SCHEMA_REGISTRY_URL) {
    const url = 'http://127.0.0.1:8081/apis/ccompat/v7';
    const up = async () => {
      try {
        return (await fetch(`${url}/subjects`)).ok;
      } catch {
        return false;
      }
    };
    specs.push({
      name: 'Schema registry',
      optional: true,
      isUp: async () => (await up()) || portOpen('127.0.0.1', 8081),
      start: async () => {
        execFileSync('bash', [join(root, 'infra/scripts/registry-up.sh')], { stdio: 'inherit' });
        if (!(await up())) throw new Error('not answering');
      },
      stop: () => {
        execFileSync('bash', [join(root, 'infra/scripts/registry-down.sh')], { stdio: 'inherit' });
      },
    });
  }
  const redis = process.env.TEST_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const [rh, rp] = hostPort(redis, 6379);
  specs.push({
    name: `Redis on ${rh}:${rp}`,
    isUp: () => portOpen(rh, rp),
    start: async () => {
      try {
        execFileSync(
          'redis-server',
          [
            '--daemonize',
            'yes',
            '--port',
            String(rp),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
          ],
          { stdio: 'inherit' },
        );
      } catch {
        throw new Error(
          'Redis is not running and redis-server is not installed: apt-get install redis-server',
        );
      }
      for (let i = 0; i < 50 && !(await portOpen(rh, rp)); i++) await new Promise((r) => setTimeout(r, 100));
    },
    stop: () => {
      execFileSync('redis-cli', ['-h', rh, '-p', String(rp), 'shutdown', 'nosave'], { stdio: 'ignore' });
    },
  });
  return specs;
}

const SERVICE_MARK = /\.(kafka|redis|db|e2e|registry)\./;
let files = shardFiles ?? walk(join(root, 'test')).sort();
if (unitOnly) files = files.filter((f) => !SERVICE_MARK.test(f));
if (filter) files = files.filter((f) => f.includes(filter));

let services: StartedServices | null = null;
if (!shardFiles && !unitOnly && files.some((f) => SERVICE_MARK.test(f))) {
  try {
    services = await ensureServices(serviceSpecs());
    // The registry, if up (already or started now), is the real one for the tests.
    if (!process.env.SCHEMA_REGISTRY_URL) {
      const url = 'http://127.0.0.1:8081/apis/ccompat/v7';
      if (
        await fetch(`${url}/subjects`).then(
          (r) => r.ok,
          () => false,
        )
      )
        process.env.SCHEMA_REGISTRY_URL = url;
      else console.log("! No schema registry could run: tests use the client's mock registry (see README).");
    }
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        void services!.stop().finally(() => process.exit(130));
      });
    }
  } catch (err) {
    console.error(`\n✘ ${(err as Error).message}\n`);
    process.exit(1);
  }
}

interface Totals {
  total: number;
  passed: number;
  skipped: number;
  /** Wall time of each suite file, ms, by its path relative to the root. */
  times: Record<string, number>;
}
const TOTALS_MARK = '@@coalflow-test-totals ';
/** A suite file slower than this (seconds) is listed at the end. */
const SLOW_SUITE_S = 60;
/** Longest wait for one suite (seconds) before the shard reports it and stops. */
const SUITE_TIMEOUT_S = Number(process.env.COALFLOW_TEST_SUITE_TIMEOUT_S) || 480;

/** Runs the files' suites in this process with uvu; returns uvu's totals and each file's wall time. */
async function runHere(list: string[]): Promise<Totals> {
  let captured = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    captured += String(chunk);
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  (globalThis as Record<string, unknown>).UVU_DEFER = 1;
  const uvu = await import('uvu');
  const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
  const times: Record<string, number> = {};
  let idx = 0;
  for (const f of list) {
    const name = relative(root, f);
    (globalThis as Record<string, unknown>).UVU_INDEX = idx++;
    const group: unknown[] = [name];
    queue.push(group);
    const importStart = Date.now();
    await import(f);
    const importMs = Date.now() - importStart;
    // uvu runs a file's suites one after another: time them from the first one's start to the last one's end.
    const runs = group.slice(1) as (() => Promise<unknown>)[];
    if (!runs.length) continue;
    let started = 0;
    group.splice(
      1,
      runs.length,
      ...runs.map((run, i) => async () => {
        if (i === 0) started = Date.now();
        // A suite that hangs must not hold the whole run silently until CI's limit: name it and stop the shard.
        const watchdog = setTimeout(() => {
          process.stderr.write(
            `\n✘ ${name} did not finish within ${SUITE_TIMEOUT_S} s (COALFLOW_TEST_SUITE_TIMEOUT_S); stopping\n`,
          );
          process.exit(1);
        }, SUITE_TIMEOUT_S * 1000);
        watchdog.unref();
        try {
          return await run();
        } finally {
          clearTimeout(watchdog);
          if (i === runs.length - 1) {
            times[name] = importMs + Date.now() - started;
            process.stdout.write(`  ⏱ ${(times[name] / 1000).toFixed(1)} s\n`);
          }
        }
      }),
    );
  }
  await uvu.exec(false);
  process.stdout.write = write;
  const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
  return {
    total: Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0),
    passed: Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0),
    skipped: Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0),
    times,
  };
}

/** A rough cost of a suite, to spread the heavy ones over the shards: its services, then its size. */
function weight(f: string): number {
  const kind = /\.e2e\./.test(f) ? 8 : /\.kafka\./.test(f) ? 5 : /\.(db|redis|registry)\./.test(f) ? 2 : 0.3;
  return kind * (1 + statSync(f).size / 20_000);
}

/** Spreads the files over `n` child processes (heaviest first, to the lightest shard) and sums their totals. */
async function runShards(list: string[], n: number): Promise<Totals> {
  const shards = Array.from({ length: n }, () => ({ files: [] as string[], load: 0 }));
  for (const f of [...list].sort((a, b) => weight(b) - weight(a))) {
    const lightest = shards.reduce((a, b) => (b.load < a.load ? b : a));
    lightest.files.push(f);
    lightest.load += weight(f);
  }
  const sum: Totals = { total: 0, passed: 0, skipped: 0, times: {} };
  await Promise.all(
    shards
      .filter((sh) => sh.files.length)
      .map(
        (sh, i) =>
          new Promise<void>((resolve) => {
            const child = spawn(
              process.execPath,
              [
                '--import',
                'tsx',
                join(root, 'test/run.ts'),
                ...(unitOnly ? ['--unit'] : []),
                '--files',
                ...sh.files.sort(),
              ],
              {
                cwd: root,
                env: process.env,
                stdio: ['ignore', 'pipe', 'pipe'],
              },
            );
            let out = '';
            child.stdout.on('data', (d) => {
              out += d;
            });
            child.stderr.on('data', (d) => {
              out += d;
            });
            child.on('close', (code, signal) => {
              const line = out.split('\n').find((l) => l.startsWith(TOTALS_MARK));
              const t = line ? (JSON.parse(line.slice(TOTALS_MARK.length)) as Totals) : null;
              const shown = out
                .split('\n')
                .filter((l) => !l.startsWith(TOTALS_MARK))
                .join('\n');
              process.stdout.write(`\n──── shard ${i + 1}/${n}: ${sh.files.length} files ────\n${shown}\n`);
              if (t) {
                sum.total += t.total;
                sum.passed += t.passed;
                sum.skipped += t.skipped;
                Object.assign(sum.times, t.times);
              }
              // A shard that died before reporting counts as one failure, so the run cannot pass by losing suites.
              if (!t || code !== 0) {
                if (!t) {
                  sum.total += 1;
                  console.log(`✘ shard ${i + 1} ended (${signal ?? code}) without its totals`);
                }
                process.exitCode = 1;
              }
              resolve();
            });
          }),
      ),
  );
  return sum;
}

const shardCount = shardFiles
  ? 1
  : Math.min(files.length, Math.max(1, Number(process.env.TEST_SHARDS || 3) || 1));
const t0 = Date.now();
const totals = shardCount > 1 ? await runShards(files, shardCount) : await runHere(files);
const failed = totals.total - totals.passed - totals.skipped;
if (shardFiles) {
  // A shard reports to the parent, which prints the one closing line.
  console.log(`${TOTALS_MARK}${JSON.stringify(totals)}`);
} else {
  const slow = Object.entries(totals.times)
    .filter(([, ms]) => ms > SLOW_SUITE_S * 1000)
    .sort((a, b) => b[1] - a[1]);
  if (slow.length) {
    console.log(`\nSuites over ${SLOW_SUITE_S} s, slowest first:`);
    for (const [f, ms] of slow) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}`);
  } else if (Object.keys(totals.times).length) console.log(`\nNo suite over ${SLOW_SUITE_S} s.`);
  console.log(
    `\n${files.length} suites in ${shardCount} shard${shardCount > 1 ? 's' : ''}, ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  console.log(`\n${totals.passed} passed, ${failed} failed, ${totals.skipped} skipped`);
}
const code = failed > 0 || totals.total === 0 || process.exitCode ? 1 : 0;
// What this run started, it stops (services that were already running stay up).
await services?.stop();
// Open handles (sockets of clients a failed test left) must not keep CI waiting.
setTimeout(() => process.exit(code), 200).unref();
process.exitCode = code;
