/**
 * Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's
 * secret, sent as `X-Coalflow-Signature: t=<unix seconds>,v1=<hex>`. A receiver
 * recomputes it over the raw body, compares in constant time and refuses
 * timestamps older than its tolerance (replay protection).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-coalflow-signature';
export const EVENT_ID_HEADER = 'x-coalflow-event-id';
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Default tolerance of `verifySignature`: 5 minutes. */
export const SIGNATURE_TOLERANCE_S = 300;

export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

export function signature(secret: string, timestampS: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex');
}

export function signatureHeader(secret: string, body: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${signature(secret, t, body)}`;
}

/** True when `header` signs `body` with `secret` within `toleranceS` of `nowMs`. */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowMs = Date.now(),
  toleranceS = SIGNATURE_TOLERANCE_S,
): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(
    header.split(',').map((kv) => kv.trim().split('=', 2) as [string, string]),
  );
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(nowMs / 1000 - t) > toleranceS) return false;
  const want = Buffer.from(signature(secret, t, body), 'hex');
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Delay before attempt `attempts + 1`: exponential from `initialMs`, capped at `maxMs`, with jitter (50–100 %). */
export function backoffMs(attempts: number, initialMs: number, maxMs: number, rand = Math.random): number {
  const d = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(d * (0.5 + rand() / 2));
}
