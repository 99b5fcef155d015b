/**
 * `npm run bench`: runs each benchmark in its own process (so one's memory
 * does not colour another's), collects the JSON summary each prints last, and
 * writes them all to bench-results.json. Speed and memory are measured here,
 * never in tests. `npm run bench -- ingest` runs only the named ones.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';

const root = new URL('../..', import.meta.url).pathname;
const ALL = ['ingest', 'indicators', 'forecast'];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = (wanted.length ? wanted : ALL).filter((n) => existsSync(join(root, `infra/bench/${n}.ts`)));

function lastJson(text: string): unknown {
  // The summary is the last top-level JSON object printed.
  for (let i = text.lastIndexOf('\n{'); i >= -1; i = text.lastIndexOf('\n{', i - 1)) {
    try { return JSON.parse(text.slice(i + 1)); } catch { if (i <= 0) break; }
  }
  return null;
}

const results: Record<string, unknown> = {};
for (const name of names) {
  console.error(`\n▶ bench ${name}`);
  const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, `infra/bench/${name}.ts`)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; process.stdout.write(d); });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
  results[name] = out.code === 0 ? lastJson(out.stdout) : { failed: true, exitCode: out.code };
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

const summary = {
  date: new Date().toISOString(),
  cpuCalibrationMs: calibrate(),
  machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
  results,
};
writeFileSync(join(root, 'bench-results.json'), JSON.stringify(summary, null, 2) + '\n');
console.error('\nwritten bench-results.json');
