import { pino, destination, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs. Redaction is a second line of defence: raw personal data is
 * desensitized at ingest and must never reach a log call in the first place.
 */
export function createLogger(
  opts: {
    level?: string;
    name?: string;
    /** 'stdout' (default) or 'stderr', e.g. for CLIs whose stdout is JSON. */ to?: 'stdout' | 'stderr';
  } = {},
): Logger {
  return pino(
    {
      name: opts.name ?? 'coalflow',
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          '*.plate',
          '*.phone',
          '*.customer',
          '*.driver',
          '*.contact',
          '*.车牌号',
          '*.客户名称',
          '*.移动电话',
          'payload',
          '*.payload',
          'raw',
          '*.raw',
        ],
        censor: '[redacted]',
      },
    },
    destination(opts.to === 'stderr' ? 2 : 1),
  );
}
