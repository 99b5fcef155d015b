/**
 * Generic output adapters. Each follows the shared contract: `write(batch)`, `close()`;
 * what is written (indicator store, snapshots) lives with the pipeline that owns it.
 */
export {
  createKafkaTopicSink,
  type KafkaTopicSink,
  type KafkaTopicSinkOptions,
  type WireRecord,
} from './kafka.ts';
export { createWireCodec, loadSchemaRegistry, type WireCodec } from './wire.ts';
