/**
 * Load client of the soak, in its own process so it does not share the server's event loop: an open loop of
 * `rate` requests per second over the mix (one every 1000/rate ms whatever the answers do, at most 400 in flight),
 * and `sse` live subscribers counting the events they receive, for `seconds`. Prints one JSON line.
 * Args: JSON { base, mix: [label, url, authorization][], rate, seconds, sse: { urls: string[] } }.
 */
import http from 'node:http';

const { base, mix, rate, seconds, sse } = JSON.parse(process.argv[2]!) as {
  base: string;
  mix: [string, string, string][];
  rate: number;
  seconds: number;
  sse: { urls: string[] };
};
const u0 = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: 400 });
const lat = new Map<string, number[]>();
const statuses = new Map<string, Record<string, number>>();
const errorSamples: string[] = [];
let errors = 0;
let inFlight = 0;
let skipped = 0;

function one(i: number): void {
  const [label, path, authorization] = mix[i % mix.length]!;
  inFlight++;
  const t0 = performance.now();
  const done = (status: string) => {
    inFlight--;
    (lat.get(label) ?? lat.set(label, []).get(label)!).push(performance.now() - t0);
    const st = statuses.get(label) ?? statuses.set(label, {}).get(label)!;
    st[status] = (st[status] ?? 0) + 1;
    if (!/^[23]/.test(status)) {
      errors++;
      if (errorSamples.length < 10) errorSamples.push(`${label} ${status}`);
    }
  };
  const req = http.get(
    { agent, host: u0.hostname, port: u0.port, path, headers: { authorization } },
    (res) => {
      res.resume();
      res.on('end', () => done(String(res.statusCode)));
    },
  );
  req.on('error', (err) => done(`error ${err.message}`));
}

let sseEvents = 0;
let sseErrors = 0;
const streams: http.ClientRequest[] = [];
for (const url of sse.urls) {
  const req = http.get({ host: u0.hostname, port: u0.port, path: url }, (res) => {
    if (res.statusCode !== 200) sseErrors++;
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      for (const l of d.split('\n')) if (l.startsWith('data:')) sseEvents++;
    });
  });
  req.on('error', () => {
    if (!stopping) sseErrors++;
  });
  streams.push(req);
}

let stopping = false;
const t0 = performance.now();
let sent = 0;
await new Promise<void>((resolve) => {
  const tick = setInterval(() => {
    const elapsed = (performance.now() - t0) / 1000;
    const due = Math.floor(Math.min(elapsed, seconds) * rate);
    while (sent < due) {
      if (inFlight < 400) one(sent);
      else skipped++;
      sent++;
    }
    if (elapsed >= seconds) {
      clearInterval(tick);
      resolve();
    }
  }, 5);
});
while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
stopping = true;
for (const s of streams) s.destroy();
const routes = Object.fromEntries(
  [...lat.entries()].map(([label, xs]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => Math.round((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0) * 10) / 10;
    return [label, { n: s.length, p50Ms: q(0.5), p99Ms: q(0.99), statuses: statuses.get(label) }];
  }),
);
console.log(JSON.stringify({ sent, skipped, errors, errorSamples, sseEvents, sseErrors, routes }));
agent.destroy();
process.exit(0);
