import { InProcessBroker } from '../../../infra/broker/in-process.ts';
import { brokerContract } from './contract.ts';

brokerContract('in-process', async () => new InProcessBroker({ partitions: 3 })).run();
