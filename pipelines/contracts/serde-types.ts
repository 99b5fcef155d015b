import type { FeedName, FeedRecordMap } from './types.ts';

/**
 * Agreed interface of the wire-format serde (implemented in serde.ts).
 * Confluent wire format: magic byte 0, 4-byte schema id, Avro body; schemas
 * registered under `<topic>-value` with BACKWARD compatibility.
 */
export interface FeedSerde {
  /** Registers every feed's canonical schema (and the indicator and DLQ schemas) once; idempotent. */
  registerAll(): Promise<void>;
  encode<F extends FeedName>(feed: F, record: FeedRecordMap[F]): Promise<Buffer>;
  decode<F extends FeedName>(feed: F, value: Buffer): Promise<FeedRecordMap[F]>;
}
