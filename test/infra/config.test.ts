import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../infra/core/config.ts';
import { ConfigError } from '../../infra/core/errors.ts';

test('embedded default when no service is configured', () => {
  const c = loadConfig({});
  assert.ok(c.embedded);
  assert.is(c.port, 8080);
  assert.is(c.topicPartitions, 6);
  assert.ok(c.simulator);
  assert.ok(Object.isFrozen(c));
});

test('PORT overrides; real services switch off the embedded default and require a token secret', () => {
  assert.is(loadConfig({ PORT: '9000' }).port, 9000);
  assert.throws(
    () => loadConfig({ KAFKA_BROKERS: 'k:9092' }),
    (e: unknown) => e instanceof ConfigError && /COALFLOW_TOKEN_SECRET/.test((e as Error).message),
  );
  const c = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9092', COALFLOW_TOKEN_SECRET: 's' });
  assert.equal(c.kafkaBrokers, ['a:9092', 'b:9092']);
  assert.not.ok(c.embedded);
  assert.not.ok(c.simulator);
});

test('an unknown COALFLOW_ key fails and names itself', () => {
  assert.throws(() => loadConfig({ COALFLOW_TOPIC_PARTITONS: '3' }), /COALFLOW_TOPIC_PARTITONS/);
});

test('a bad value fails with the key and the range', () => {
  assert.throws(
    () => loadConfig({ COALFLOW_TOPIC_PARTITIONS: 'six' }),
    /COALFLOW_TOPIC_PARTITIONS.*1\.\.1000/,
  );
  assert.throws(() => loadConfig({ COALFLOW_SIMULATOR: 'maybe' }), /true\/false/);
  assert.throws(
    () => loadConfig({ COALFLOW_EMBEDDED_DB: 'thread' }),
    /COALFLOW_EMBEDDED_DB.*process, inline/,
  );
});

test('the embedded database runs in its own process unless asked inline', () => {
  assert.is(loadConfig({}).embeddedDb, 'process');
  assert.is(loadConfig({ COALFLOW_EMBEDDED_DB: 'inline' }).embeddedDb, 'inline');
});

test('overrides from CLI flags pass the same validation as the environment', () => {
  assert.throws(
    () => loadConfig({}, { port: Number('abc') }),
    (e: unknown) =>
      e instanceof ConfigError && e.code === 'CONFIG_INVALID' && /PORT/.test((e as Error).message),
  );
  assert.throws(
    () => loadConfig({}, { simSpeed: -5 }),
    (e: unknown) => e instanceof ConfigError && /COALFLOW_SIM_SPEED/.test((e as Error).message),
  );
  assert.is(loadConfig({ PORT: '9000' }, { port: 9100 }).port, 9100);
  assert.is(loadConfig({}, { dataDir: 'memory' }).dataDir, 'memory');
});

test('the config is frozen all the way down', () => {
  const c = loadConfig({ KAFKA_BROKERS: 'a:9092', COALFLOW_TOKEN_SECRET: 's' });
  assert.ok(Object.isFrozen(c.kafkaBrokers));
  assert.throws(() => {
    (c.kafkaBrokers as string[]).push('b:9092');
  });
});

test.run();
