/** Worker-thread side of models/pool.ts: one job in, one result out. */
import { parentPort } from 'node:worker_threads';
import { runJob, type ForecastJob } from './pool.ts';

parentPort!.on('message', (job: ForecastJob) => {
  parentPort!.postMessage(runJob(job));
});
