/**
 * One error hierarchy for the whole system. Every error carries a stable `code`
 * (listed in the README), whether retrying can help, and an optional cause.
 * Messages shown to operators are Chinese first, English after a " / ".
 */

/**
 * Every error code of the system and the HTTP status it is answered with (null: never an HTTP answer — the
 * process exits with it, or it only appears in summaries). The README's "Error codes" table lists exactly these,
 * with the same statuses (test/architecture/error-codes.test.ts checks both ways).
 */
export const ERROR_CODES = {
  CONFIG_INVALID: null,
  SERVICE_UNAVAILABLE: 503,
  DB_NO_TIMESCALEDB: null,
  DATA_DIR_NOT_WRITABLE: null,
  DATA_DIR_FULL: null,
  MIGRATION_FAILED: null,
  BROKER_ERROR: 503,
  SINK_WRITE_FAILED: 503,
  RECORD_INVALID: 400,
  INPUT_INVALID: 400,
  PAYLOAD_TOO_LARGE: 413,
  POLICY_FIELD_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  FORECAST_NOT_FOUND: 404,
  CONFLICT: 409,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  PRODUCT_NOT_REGISTERED: 403,
  PRODUCT_NOT_PUBLISHED: 403,
  PRODUCT_TRANSITION_INVALID: 409,
  ACCESS_SUSPENDED: 403,
  RATE_LIMITED: 429,
  QUOTA_EXHAUSTED: 429,
  QUERY_TOO_LARGE: 400,
  WORKER_CRASHED: null,
  ABORTED: null,
  INTERNAL: 500,
} as const satisfies Record<string, number | null>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface CoalflowErrorOptions {
  cause?: unknown;
  retriable?: boolean;
  context?: Record<string, unknown>;
  /** HTTP status when it differs from the code's (e.g. 415 for an unsupported content type, an INPUT_INVALID). */
  status?: number;
}

export class CoalflowError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;
  /** The HTTP status this error is answered with. */
  readonly status: number;
  constructor(code: ErrorCode, message: string, opts: CoalflowErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.context = opts.context ?? {};
    this.status = opts.status ?? ERROR_CODES[code] ?? (this.retriable ? 503 : 500);
  }
  toJSON() {
    return { code: this.code, message: this.message, retriable: this.retriable, ...this.context };
  }
}

/** Bad configuration: unknown key, bad value, missing service. Fails at startup. */
export class ConfigError extends CoalflowError {
  constructor(message: string, opts: CoalflowErrorOptions = {}) {
    super('CONFIG_INVALID', message, opts);
  }
}

/** A required service (Kafka, database, Redis, registry) is missing or unsuitable. */
export class ServiceError extends CoalflowError {
  constructor(
    code: 'SERVICE_UNAVAILABLE' | 'DB_NO_TIMESCALEDB',
    message: string,
    opts: CoalflowErrorOptions = {},
  ) {
    super(code, message, { retriable: code === 'SERVICE_UNAVAILABLE', ...opts });
  }
}

/**
 * The embedded database's data directory cannot be used: read-only (or not writable by this user), or too little
 * free space on its file system. Nothing was written to it; the process exits with code 1.
 */
export class DataDirError extends CoalflowError {
  constructor(
    code: 'DATA_DIR_NOT_WRITABLE' | 'DATA_DIR_FULL',
    message: string,
    opts: CoalflowErrorOptions & { dir?: string } = {},
  ) {
    const { dir, ...rest } = opts;
    super(code, message, { ...rest, retriable: false, context: { ...rest.context, dir } });
  }
}

/** A database migration failed; the message names the file and the statement. */
export class MigrationError extends CoalflowError {
  constructor(message: string, opts: CoalflowErrorOptions = {}) {
    super('MIGRATION_FAILED', message, { ...opts, retriable: false });
  }
}

/** Broker failures, with topic/partition/offset context. */
export class BrokerError extends CoalflowError {
  constructor(
    message: string,
    opts: CoalflowErrorOptions & { topic?: string; partition?: number; offset?: string } = {},
  ) {
    const { topic, partition, offset, ...rest } = opts;
    super('BROKER_ERROR', message, {
      retriable: true,
      ...rest,
      context: { ...rest.context, topic, partition, offset },
    });
  }
}

/** A sink write failed; retriable by default since sinks are idempotent. */
export class SinkError extends CoalflowError {
  constructor(sink: string, message: string, opts: CoalflowErrorOptions = {}) {
    super('SINK_WRITE_FAILED', message, { retriable: true, ...opts, context: { ...opts.context, sink } });
  }
}

/** A record failed decoding, contract or domain validation. Never retriable: it goes to the DLQ. */
export class ValidationError extends CoalflowError {
  readonly reason: string;
  constructor(reason: string, message: string, opts: CoalflowErrorOptions = {}) {
    super('RECORD_INVALID', message, { ...opts, retriable: false, context: { ...opts.context, reason } });
    this.reason = reason;
  }
}

/** Input file or CLI argument problems (line number and reason in the message). */
export class InputError extends CoalflowError {
  constructor(message: string, opts: CoalflowErrorOptions & { line?: number } = {}) {
    const { line, ...rest } = opts;
    super('INPUT_INVALID', message, { ...rest, retriable: false, context: { ...rest.context, line } });
  }
}

/** Access refused by authorization or the minimum-necessary-use policy. */
export class PolicyError extends CoalflowError {
  constructor(
    code: 'POLICY_FIELD_NOT_ALLOWED' | 'FORBIDDEN' | 'UNAUTHORIZED',
    message: string,
    opts: CoalflowErrorOptions = {},
  ) {
    super(code, message, { ...opts, retriable: false });
  }
}

export function isProgrammingError(err: unknown): boolean {
  return (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof SyntaxError ||
    err instanceof ReferenceError
  );
}

/**
 * Refused by the access layer, with the HTTP status it is served with: UNAUTHORIZED (401), FORBIDDEN (403),
 * PRODUCT_NOT_REGISTERED (403), RATE_LIMITED (429), QUOTA_EXHAUSTED (429).
 */
export class AccessError extends CoalflowError {
  constructor(
    code:
      | 'UNAUTHORIZED'
      | 'FORBIDDEN'
      | 'PRODUCT_NOT_REGISTERED'
      | 'PRODUCT_NOT_PUBLISHED'
      | 'ACCESS_SUSPENDED'
      | 'RATE_LIMITED'
      | 'QUOTA_EXHAUSTED',
    status: number,
    message: string,
    opts: CoalflowErrorOptions = {},
  ) {
    super(code, message, {
      ...opts,
      status,
      retriable: code === 'RATE_LIMITED' || code === 'QUOTA_EXHAUSTED',
    });
  }
}
