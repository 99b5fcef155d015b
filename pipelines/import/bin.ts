// Temporary entry for manual runs until infra/cli.ts wires `coalflow import`:
//   node --import tsx pipelines/import/bin.ts FILE --feed sales [--json]
import { importCli } from './cli.ts';

process.exitCode = await importCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
