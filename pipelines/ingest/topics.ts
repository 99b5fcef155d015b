import { retry, type TopicSpec, type Deps } from '../../infra/core/index.ts';
import { FEEDS, topicOf } from '../contracts/types.ts';

/** Topics ingest needs (raw, canonical, DLQ), with the configured prefix; the composition root creates them at start. */
export function feedTopics(deps: Pick<Deps, 'topic'>): TopicSpec[] {
  return [
    ...FEEDS.map((f) => ({ topic: deps.topic(topicOf.raw(f)) })),
    ...FEEDS.map((f) => ({ topic: deps.topic(topicOf.canonical(f)) })),
    { topic: deps.topic(topicOf.dlq) },
  ];
}

/**
 * Creates the feed topics and, on Kafka, waits until every partition answers
 * from its leader: producing into a topic whose leaders have not settled can
 * leave kafkajs's idempotent producer with OUT_OF_ORDER_SEQUENCE_NUMBER.
 */
export async function ensureFeedTopics(deps: Pick<Deps, 'topic' | 'broker' | 'kinds'>): Promise<void> {
  const specs = feedTopics(deps);
  await deps.broker.createTopics(specs);
  if (deps.kinds.broker !== 'kafka') return;
  for (const s of specs)
    await retry(() => deps.broker.lag('coalflow-topic-check', s.topic), {
      attempts: 10,
      initialDelayMs: 100,
    });
}
