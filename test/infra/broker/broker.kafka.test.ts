import { KafkaBroker } from '../../../infra/broker/kafka.ts';
import { createLogger } from '../../../infra/log.ts';
import { TEST_KAFKA } from '../../helpers/runtime.ts';
import { brokerContract } from './contract.ts';

brokerContract('kafka', async () => new KafkaBroker({
  brokers: TEST_KAFKA.split(','), clientId: 'coalflow-test', log: createLogger({ level: 'error' }), partitions: 3, replicationFactor: 1,
})).run();
