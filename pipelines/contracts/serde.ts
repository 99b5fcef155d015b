/** The canonical feed topics' serde, on the generic wire codec of sinks/. */
import type { Deps } from '../../infra/core/index.ts';
import { createWireCodec, type WireCodec } from '../../sinks/index.ts';
import type { FeedSerde } from './serde-types.ts';
import { FEEDS, topicOf, type FeedName, type FeedRecordMap } from './types.ts';
import { avroSchemaOf } from './schemas.ts';

export interface CoalSerde extends FeedSerde {
  readonly codec: WireCodec;
  /** Schema id per canonical topic after registration. */
  schemaIds(): Promise<Record<FeedName, number>>;
}

/**
 * The canonical-topic serde. `encode` registers the schemas on first use, so
 * callers need not order `registerAll()` before it (it stays idempotent).
 */
export function createFeedSerde(deps: Pick<Deps, 'registry' | 'topic'>): CoalSerde {
  const codec = createWireCodec(deps);
  let ready: Promise<Record<FeedName, number>> | null = null;
  const registerAll = () => {
    ready ??= (async () => {
      const ids = {} as Record<FeedName, number>;
      for (const feed of FEEDS)
        ids[feed] = await codec.register(deps.topic(topicOf.canonical(feed)), avroSchemaOf(feed));
      return ids;
    })();
    ready.catch(() => {
      ready = null;
    });
    return ready;
  };
  return {
    codec,
    async registerAll() {
      await registerAll();
    },
    schemaIds: registerAll,
    async encode<F extends FeedName>(feed: F, record: FeedRecordMap[F]): Promise<Buffer> {
      await registerAll();
      return codec.encode(deps.topic(topicOf.canonical(feed)), record);
    },
    async decode<F extends FeedName>(feed: F, value: Buffer): Promise<FeedRecordMap[F]> {
      return (await codec.decode(deps.topic(topicOf.canonical(feed)), value)) as unknown as FeedRecordMap[F];
    },
  };
}
