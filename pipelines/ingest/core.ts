/**
 * The pure core of ingest, shared by every source (raw topics, HTTP, file
 * import, simulator): decode -> map aliases -> validate -> desensitize.
 * No I/O: deduplication, the DLQ and producing are the runner's job.
 */
import { ValidationError } from '../../infra/core/index.ts';
import { mapAliases, type Mapped } from '../contracts/aliases.ts';
import { REASONS, type ReasonCode } from '../contracts/reasons.ts';
import { regionInText } from '../contracts/regions.ts';
import { cleanText } from '../contracts/parse.ts';
import { breakInFields, MAX_RECORD_DEPTH, shapeProblem } from '../contracts/screen.ts';
import type { FeedName, FeedRecordMap } from '../contracts/types.ts';
import { validateMapped } from '../contracts/validate.ts';
import type { Desensitizer } from '../desensitize/desensitize.ts';

export type Source = 'kafka' | 'http' | 'file' | 'simulator';

export interface CoreContext {
  desensitizer: Desensitizer;
  nowMs: number;
  receivedAtMs: number;
  regionOfMine?(mineId: string): string | undefined;
}

export type Accepted<F extends FeedName = FeedName> = {
  status: 'ok';
  feed: F;
  record: FeedRecordMap[F];
  /** Partition key on the canonical topic (the entity). */
  key: string;
};

export type Rejected = { status: 'rejected'; reason: ReasonCode; message: string };
export type Outcome<F extends FeedName = FeedName> = Accepted<F> | Rejected;

export function rejection(err: unknown): Rejected {
  if (err instanceof ValidationError && err.reason in REASONS) {
    return { status: 'rejected', reason: err.reason as ReasonCode, message: err.message };
  }
  throw err;
}

/** A raw value (Buffer, JSON text, or an already-parsed object) as a JSON object, or a decode_error rejection. */
export function decodePayload(
  value: unknown,
): { ok: true; obj: Record<string, unknown> } | { ok: false; rejected: Rejected } {
  let v = value;
  if (Buffer.isBuffer(v)) v = v.toString('utf8');
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v.replace(/^\uFEFF/, ''));
    } catch {
      return {
        ok: false,
        rejected: { status: 'rejected', reason: 'decode_error', message: '不是有效的 JSON / not valid JSON' },
      };
    }
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    return {
      ok: false,
      rejected: {
        status: 'rejected',
        reason: 'decode_error',
        message: '应为 JSON 对象 / expected a JSON object',
      },
    };
  }
  const problem = shapeProblem(v as Record<string, unknown>);
  if (problem?.kind === 'depth') {
    return {
      ok: false,
      rejected: {
        status: 'rejected',
        reason: 'nesting_too_deep',
        message: `JSON 嵌套超过 ${MAX_RECORD_DEPTH} 层 / JSON nested deeper than ${MAX_RECORD_DEPTH} levels`,
      },
    };
  }
  if (problem?.kind === 'surrogate') {
    return {
      ok: false,
      rejected: {
        status: 'rejected',
        reason: 'decode_error',
        message: `含不成对的 Unicode 代理字符：${problem.where} / unpaired UTF-16 surrogate in ${problem.where}`,
      },
    };
  }
  if (problem) {
    return {
      ok: false,
      rejected: {
        status: 'rejected',
        reason: 'control_character',
        message: `含控制字符：${problem.where} / control character in ${problem.where}`,
      },
    };
  }
  return { ok: true, obj: v as Record<string, unknown> };
}

/** The entity key of a canonical record: mine, route, gate, port, user, or price series. */
export function keyOf<F extends FeedName>(feed: F, record: FeedRecordMap[F]): string {
  const r = record as unknown as Record<string, string | undefined>;
  switch (feed) {
    case 'sales':
    case 'mines':
    case 'mine_inventory':
      return r.mineId!;
    case 'rail':
      return r.route!;
    case 'highway':
      return r.gate!;
    case 'ports':
      return r.port!;
    case 'coal_users':
      return r.userId!;
    case 'prices':
      return `${r.priceKind}:${r.location ?? r.mineId ?? ''}`;
    default:
      return r.recordId!;
  }
}

/**
 * The mine a sales or inventory row belongs to when it names no region and
 * its name does not contain one: the runner looks these up (煤矿基本信息) first.
 */
export function mineNeedingRegion(feed: FeedName, m: Mapped): string | undefined {
  if (feed !== 'sales' && feed !== 'mine_inventory') return undefined;
  if (m.values.regionCode !== undefined) return undefined;
  const name = m.values.mineName === undefined ? '' : cleanText(m.values.mineName);
  if (name && regionInText(name)) return undefined;
  const id =
    cleanText(m.values.mineId) ||
    cleanText(m.values.creditCode).toUpperCase() ||
    (name ? `name:${name.replace(/\s+/g, '')}` : '');
  return id || undefined;
}

/** Maps a decoded object's keys onto the feed's contract fields. */
export function mapRecord(feed: FeedName, obj: Record<string, unknown>): Mapped {
  return mapAliases(feed, obj);
}

/** Longest text a contract field may hold, characters (names, codes, reasons); free text of unknown columns is not bound by it. */
export const MAX_FIELD_CHARS = 1000;

/** Validates and desensitizes one mapped record. */
export function finishRecord<F extends FeedName>(feed: F, mapped: Mapped, ctx: CoreContext): Outcome<F> {
  const broken = breakInFields(mapped.values);
  if (broken) {
    return {
      status: 'rejected',
      reason: 'control_character',
      message: `字段值中间含换行或制表符：${broken} / line break or tab inside the value of ${broken}`,
    };
  }
  // A contract field holds text, a number or a date: an object or array there is refused without echoing it
  // (it may carry anything, personal data included, into the message).
  const shaped = Object.entries(mapped.values).find(
    ([, v]) => v !== null && typeof v === 'object' && !(v instanceof Date),
  );
  if (shaped) {
    const kind = Array.isArray(shaped[1]) ? '数组 / array' : '对象 / object';
    return {
      status: 'rejected',
      reason: 'invalid_value',
      message: `字段 ${shaped[0]} 应为文本、数字或时间，而不是${kind.split(' / ')[0]} / ${shaped[0]} must be text, a number or a time, not an ${kind.split(' / ')[1]}`,
    };
  }
  // A huge value (a 10 MB "coal type") would become an entity key, a Redis key and an index entry: refused.
  const long = Object.entries(mapped.values).find(
    ([, v]) => typeof v === 'string' && v.length > MAX_FIELD_CHARS,
  );
  if (long)
    return {
      status: 'rejected',
      reason: 'invalid_value',
      message: `字段 ${long[0]} 过长（${(long[1] as string).length} 字符，上限 ${MAX_FIELD_CHARS}）/ ${long[0]} is too long (${(long[1] as string).length} characters, at most ${MAX_FIELD_CHARS})`,
    };
  try {
    const validated = validateMapped(feed, mapped, {
      nowMs: ctx.nowMs,
      receivedAtMs: ctx.receivedAtMs,
      hashId: ctx.desensitizer.hashId,
      regionOfMine: ctx.regionOfMine,
    });
    const record = ctx.desensitizer.apply(validated);
    return { status: 'ok', feed, record, key: keyOf(feed, record) };
  } catch (err) {
    const r = rejection(err);
    // Messages quote offending values: phone, id-number and plate patterns in them are masked.
    return { ...r, message: ctx.desensitizer.scrub(r.message) };
  }
}

/** decode -> map -> validate -> desensitize, for one raw value. */
export function processRaw<F extends FeedName>(feed: F, value: unknown, ctx: CoreContext): Outcome<F> {
  const d = decodePayload(value);
  if (!d.ok) return d.rejected;
  return finishRecord(feed, mapRecord(feed, d.obj), ctx);
}
