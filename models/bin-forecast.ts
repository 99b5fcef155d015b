/** Stand-alone entry: `node --import tsx models/bin-forecast.ts --input FILE.csv [...]`. */
import { forecastCli } from './cli.ts';

process.exitCode = await forecastCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
