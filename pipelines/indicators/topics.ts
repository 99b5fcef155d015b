import type { TopicSpec } from '../../infra/core/index.ts';
import { ACCEPTED_HEADER, FEEDS, topicOf, type FeedName } from '../contracts/types.ts';
import { INDICATOR_TUNING } from './tuning.ts';

/** Topics this component needs besides the canonical feeds (names without the prefix). */
export function indicatorTopics(): TopicSpec[] {
  return [
    {
      topic: topicOf.indicators,
      config: {
        'cleanup.policy': 'delete',
        'retention.ms': String(INDICATOR_TUNING.indicatorsTopicRetentionMs),
      },
    },
  ];
}

/** The canonical topics the workers read (names without the prefix). */
export function indicatorSourceTopics(feeds: readonly FeedName[] = FEEDS): string[] {
  return feeds.map((f) => topicOf.canonical(f));
}

/** Header the ingest path may set with the acceptance time (ms) for the end-to-end latency. */
export { ACCEPTED_HEADER };
