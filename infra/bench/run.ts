/**
 * `npm run bench`: runs each benchmark in its own process (so one's memory
 * does not colour another's), collects the JSON summary each prints last, and
 * writes them to bench-results.json (benches not run keep their last results). Speed and memory are measured here,
 * never in tests. `npm run bench -- ingest` runs only the named ones;
 * `--repeat N` runs each N times (fresh processes) and reports every run and
 * the median of each figure: on a shared 2-core machine one run of the same
 * code varies by ±15 %, so a single figure cannot tell a change from noise.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';

const root = new URL('../..', import.meta.url).pathname;
const ALL = [
  'ingest',
  'indicators',
  'ceiling',
  'forecast',
  'startup',
  'access',
  'alerts',
  'reports',
  'governance',
];
const argv = process.argv.slice(2);
const repeatAt = argv.indexOf('--repeat');
const repeat = repeatAt >= 0 ? Math.max(1, Number(argv[repeatAt + 1]) || 1) : 1;
const wanted = argv.filter((a, i) => !a.startsWith('-') && (repeatAt < 0 || i !== repeatAt + 1));
const names = (wanted.length ? wanted : ALL).filter((n) => existsSync(join(root, `infra/bench/${n}.ts`)));

function lastJson(text: string): unknown {
  // The summary is the last top-level JSON object printed.
  for (let i = text.lastIndexOf('\n{'); i >= -1; i = text.lastIndexOf('\n{', i - 1)) {
    try {
      return JSON.parse(text.slice(i + 1));
    } catch {
      if (i <= 0) break;
    }
  }
  return null;
}

/** Field-wise median of several runs' summaries: numbers become their median, anything else is the first run's. */
function medianOf(runs: unknown[]): unknown {
  const first = runs[0];
  if (typeof first === 'number') {
    const xs = runs.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
    const mid = Math.floor(xs.length / 2);
    return xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  }
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    return Object.fromEntries(
      Object.keys(first).map((k) => [
        k,
        medianOf(runs.map((r) => (r as Record<string, unknown> | null)?.[k])),
      ]),
    );
  }
  return first;
}

const results: Record<string, unknown> = {};
for (const name of names) {
  const runs: unknown[] = [];
  for (let i = 0; i < repeat; i++) runs.push(await runOne(name, i));
  const ok = runs.filter((r) => r && !(r as { failed?: boolean }).failed);
  results[name] = repeat === 1 ? runs[0] : { median: ok.length ? medianOf(ok) : null, runs };
}

async function runOne(name: string, i: number): Promise<unknown> {
  console.error(`\n▶ bench ${name}${repeat > 1 ? ` (run ${i + 1}/${repeat})` : ''}`);
  const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, `infra/bench/${name}.ts`)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      process.stdout.write(d);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
  return out.code === 0 ? lastJson(out.stdout) : { failed: true, exitCode: out.code };
}
/** Machine speed of the day: a fixed CPU-only workload (the same on every run), so figures of different days compare. */
function calibrate(): number {
  const t = performance.now();
  let a = 1;
  let acc = 0;
  for (let i = 0; i < 30_000_000; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    acc += (x ^ (x >>> 14)) >>> 0;
  }
  if (acc === 42) console.error('');
  return Math.round(performance.now() - t);
}

// Benches not run this time keep their last results (each carries its own date and machine).
const file = join(root, 'bench-results.json');
let previous: Record<string, unknown> = {};
try {
  previous = (JSON.parse(readFileSync(file, 'utf8')) as { results?: Record<string, unknown> }).results ?? {};
} catch {
  /* first run */
}
const summary = {
  date: new Date().toISOString(),
  ran: names,
  repeat,
  cpuCalibrationMs: calibrate(),
  machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
  results: { ...previous, ...results },
};
writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
console.error('\nwritten bench-results.json');
