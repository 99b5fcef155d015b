import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runForecastJobs, type ForecastJob } from '../../models/pool.ts';
import { dailyVolume, monthlyProduction } from '../../models/synthetic.ts';

const jobs: ForecastJob[] = [
  // No neural model here: its training has a wall-clock cap, so under CPU contention its result depends on timing.
  {
    key: 'a',
    points: dailyVolume({ seed: 1, days: 200 }),
    opts: { models: ['snaive', 'holt_winters', 'regression'], horizon: 7 },
  },
  { key: 'short', points: dailyVolume({ seed: 1, days: 5 }) },
  {
    key: 'b',
    points: monthlyProduction({ seed: 2, months: 72 }),
    opts: { models: ['snaive', 'regression'] },
  },
];

const strip = (rs: Awaited<ReturnType<typeof runForecastJobs>>) => rs.map(({ ms: _ms, ...r }) => r);

test('worker threads give the same results as the calling thread, in job order', async () => {
  const seen: string[] = [];
  const threaded = await runForecastJobs(jobs, { workers: 2, onResult: (r) => void seen.push(r.key) });
  const inline = await runForecastJobs(jobs, { workers: 0 });
  assert.equal(
    threaded.map((r) => r.key),
    ['a', 'short', 'b'],
  );
  assert.equal(seen.sort(), ['a', 'b', 'short']);
  assert.equal(strip(threaded), strip(inline));
  const short = threaded[1]!;
  assert.ok(!short.ok && short.code === 'INPUT_INVALID' && /too few points/.test(short.message));
});

test('an aborted run marks jobs not started as ABORTED', async () => {
  const ac = new AbortController();
  ac.abort();
  const rs = await runForecastJobs(jobs, { workers: 1, signal: ac.signal });
  assert.ok(rs.every((r) => !r.ok && r.code === 'ABORTED'));
});

test.run();
