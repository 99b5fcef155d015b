/**
 * `coalflow forecast --input FILE.csv [--horizon N] [--frequency day|week|month] [--models a,b] [--seed N]`
 * Prints the ForecastResult as JSON on stdout. Exit codes: 0 ok, 2 bad input or usage, 1 unexpected error.
 */
import { parseArgs } from 'node:util';
import { CoalflowError, InputError } from '../infra/core/index.ts';
import { readSeriesCsv } from './csv.ts';
import { MAX_HORIZON, selectAndForecast } from './select.ts';
import { DEFAULT_MODELS, MODEL_NAMES, type Frequency } from './types.ts';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

export const FORECAST_USAGE = `用法 / usage: coalflow forecast --input FILE.csv [--horizon N] [--frequency day|week|month] [--models ${MODEL_NAMES.join(',')}] [--seed N]
  --input      CSV 文件，列为 date,value（可有表头） / CSV file with date,value columns (header optional)
  --horizon    预测步数，默认 日28 周13 月12 / steps ahead, default day 28, week 13, month 12
  --frequency  频率，默认按日期间隔识别 / frequency, detected from the dates by default
  --models     候选模型，逗号分隔，默认 ${DEFAULT_MODELS.join(',')}（lstm、gru 需指定） / candidate models, comma separated, default ${DEFAULT_MODELS.join(',')} (lstm, gru on request)
  --seed       随机种子（神经网络） / random seed for the neural networks (default 42)
`;

function positiveInt(name: string, text: string, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || Number(text) > max) {
    throw new InputError(
      `参数 --${name} 无效 "${text}"（应为 1–${max} 的整数） / invalid --${name} "${text}" (integer 1–${max})`,
    );
  }
  return Number(text);
}

export async function forecastCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = argv[0] === 'forecast' ? argv.slice(1) : [...argv];
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: {
          input: { type: 'string', short: 'i' },
          horizon: { type: 'string', short: 'h' },
          frequency: { type: 'string', short: 'f' },
          models: { type: 'string', short: 'm' },
          seed: { type: 'string' },
          help: { type: 'boolean' },
        },
        strict: true,
        allowPositionals: false,
      });
    } catch (err) {
      throw new InputError(`参数错误: ${(err as Error).message} / bad arguments: ${(err as Error).message}`);
    }
    const v = parsed.values;
    if (v.help) {
      io.stdout.write(FORECAST_USAGE);
      return 0;
    }
    if (v.input === undefined || v.input === '') throw new InputError('缺少 --input / missing --input');
    let frequency: Frequency | undefined;
    if (v.frequency !== undefined) {
      if (v.frequency !== 'day' && v.frequency !== 'week' && v.frequency !== 'month') {
        throw new InputError(
          `参数 --frequency 无效 "${v.frequency}"（day、week 或 month） / invalid --frequency "${v.frequency}" (day, week or month)`,
        );
      }
      frequency = v.frequency;
    }
    const horizon = v.horizon === undefined ? undefined : positiveInt('horizon', v.horizon, MAX_HORIZON);
    const seed = v.seed === undefined ? undefined : positiveInt('seed', v.seed, 2 ** 31 - 1);
    const models = v.models === undefined ? undefined : v.models.split(',').filter((s) => s.trim() !== '');

    const csv = await readSeriesCsv(v.input);
    const result = selectAndForecast(csv.points, { horizon, frequency, models, seed });
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof InputError) {
      io.stderr.write(`错误 / error: ${err.message}\n`);
      return 2;
    }
    const msg =
      err instanceof CoalflowError
        ? `${err.code}: ${err.message}`
        : err instanceof Error
          ? (err.stack ?? err.message)
          : String(err);
    io.stderr.write(`内部错误 / internal error: ${msg}\n`);
    return 1;
  }
}
