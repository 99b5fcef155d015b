/** Query parameters shared by the routes, parsed the same way everywhere (a bad one is a 400 INPUT_INVALID). */
import { InputError } from '../../infra/core/index.ts';
import { cstDayMs } from '../../pipelines/index.ts';

/** Accepts YYYY-MM-DD (the day's start in Asia/Shanghai) or an ISO date-time; absent or empty gives null. */
export function timeParam(v: unknown, name: string): number | null {
  if (v === undefined || v === '') return null;
  if (typeof v !== 'string') throw new InputError(`${name} 格式无效 / ${name} must be a date`);
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(v) ? cstDayMs(v) : Date.parse(v);
  if (!Number.isFinite(ms))
    throw new InputError(
      `${name} 格式无效（YYYY-MM-DD 或 ISO-8601）/ ${name} must be YYYY-MM-DD or ISO-8601`,
    );
  return ms;
}
