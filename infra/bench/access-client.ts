/**
 * Load client of the access bench, run in its own process so it does not share the server's event loop:
 * keeps `concurrency` keep-alive requests in flight over the given URLs for `seconds`, prints one JSON line.
 * Args: JSON { urls: string[], headers: Record<string,string>[], concurrency, seconds }.
 */
import http from 'node:http';

const { urls, headers, concurrency, seconds } = JSON.parse(process.argv[2]!) as {
  urls: string[];
  headers: Record<string, string>[];
  concurrency: number;
  seconds: number;
};
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const lat: number[] = [];
const statuses: Record<string, number> = {};
let i = 0;
const end = performance.now() + seconds * 1000;

function one(): Promise<void> {
  const k = i++ % urls.length;
  const u = new URL(urls[k]!);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get(
      { agent, host: u.hostname, port: u.port, path: u.pathname + u.search, headers: headers[k] },
      (res) => {
        res.resume();
        res.on('end', () => {
          lat.push(performance.now() - t0);
          statuses[res.statusCode!] = (statuses[res.statusCode!] ?? 0) + 1;
          resolve();
        });
      },
    );
    req.on('error', () => {
      statuses.error = (statuses.error ?? 0) + 1;
      resolve();
    });
  });
}

async function loop(): Promise<void> {
  while (performance.now() < end) await one();
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, loop));
const wall = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p: number) =>
  Math.round((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0) * 100) / 100;
console.log(
  JSON.stringify({
    requests: lat.length,
    reqPerS: Math.round(lat.length / wall),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: q(1),
    statuses,
  }),
);
agent.destroy();
