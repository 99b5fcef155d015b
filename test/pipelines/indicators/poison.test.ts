/** Which store failures make a record poison (dead-lettered after bounded retries) and which are outages (redelivered). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SinkError } from '../../../infra/core/index.ts';
import {
  isPoisonError,
  poisonLetter,
  rootMessage,
  sqlStateOf,
} from '../../../pipelines/indicators/poison.ts';

/** What `pg` throws for a server error: an Error with a SQLSTATE `code` and a `severity`. */
const pgError = (code: string, message: string) =>
  Object.assign(new Error(message), { code, severity: 'ERROR' });
const wrapped = (cause: unknown) =>
  new SinkError('timescale', '写入 TimescaleDB 失败 / TimescaleDB write failed', { cause });

test('data exceptions, integrity and limit violations are poison, through the sink wrapper', () => {
  for (const [code, msg] of [
    ['22003', 'numeric field overflow'],
    ['22021', 'invalid byte sequence for encoding "UTF8": 0x00'],
    ['22008', 'timestamp out of range'],
    ['23502', 'null value in column violates not-null constraint'],
    ['54000', 'index row size exceeds maximum'],
  ] as const) {
    const err = wrapped(pgError(code, msg));
    assert.ok(isPoisonError(err), code);
    assert.is(sqlStateOf(err), code);
    assert.is(rootMessage(err), msg);
  }
  assert.ok(isPoisonError(wrapped(new TypeError("Cannot read properties of undefined (reading 'x')"))));
});

test('outages and unknown failures are not poison: the batch is redelivered', () => {
  for (const err of [
    wrapped(pgError('08006', 'connection failure')),
    wrapped(pgError('57P01', 'terminating connection due to administrator command')),
    wrapped(pgError('53100', 'could not extend file: No space left on device')),
    wrapped(pgError('40001', 'could not serialize access')),
    wrapped(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
    wrapped(new Error('Connection terminated unexpectedly')),
    new Error('injected crash'),
  ])
    assert.not.ok(isPoisonError(err), rootMessage(err));
  // A 5-letter code without a severity is not a server's SQLSTATE.
  assert.is(sqlStateOf(Object.assign(new Error('x'), { code: 'EPIPE1' })), null);
});

test('the dead letter keeps the record bytes, where it was, the error and the attempts', () => {
  const value = Buffer.from([0, 0, 0, 0, 7, 1, 2, 3]);
  const letter = poisonLetter(
    'sales',
    { topic: 'coal.sales.v1', partition: 2, offset: '41', key: 'M1', value, headers: {}, timestamp: 0 },
    'S-1',
    wrapped(pgError('22003', 'numeric field overflow')),
    3,
  );
  const body = JSON.parse(letter.value);
  assert.is(letter.key, 'sales');
  assert.is(letter.headers['coalflow-reason'], 'indicator_store');
  assert.equal(
    { ...body, receivedAt: undefined },
    {
      feed: 'sales',
      reason: 'indicator_store',
      message: 'numeric field overflow',
      sqlState: '22003',
      recordId: 'S-1',
      attempts: 3,
      topic: 'coal.sales.v1',
      partition: 2,
      offset: '41',
      receivedAt: undefined,
      payloadBase64: value.toString('base64'),
    },
  );
});

test.run();
