/** The sinks other folders use. Each follows the shared contract: `write(batch)`, `close()`. */
export { createTimescaleSink, type TimescaleSink, type FactBatch, type FactItem, type WriteResult } from './timescale.ts';
export { createRedisSink, readLatest, redisKeys, type RedisSink, type LatestEntry } from './redis.ts';
export { createKafkaTopicSink, type KafkaTopicSink, type WireRecord } from './kafka.ts';
