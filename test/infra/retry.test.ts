import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { retry } from '../../infra/core/retry.ts';
import { SinkError, ValidationError } from '../../infra/core/errors.ts';

async function rejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (pattern) assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable('expected a rejection');
}

test('retries a retriable failure until it succeeds', async () => {
  let n = 0;
  const v = await retry(
    async () => {
      if (++n < 3) throw new SinkError('db', 'down');
      return 'ok';
    },
    { initialDelayMs: 1 },
  );
  assert.is(v, 'ok');
  assert.is(n, 3);
});

test('never retries programming errors or non-retriable errors', async () => {
  let n = 0;
  await rejects(() =>
    retry(
      async () => {
        n++;
        throw new TypeError('bug');
      },
      { initialDelayMs: 1 },
    ),
  );
  assert.is(n, 1);
  n = 0;
  await rejects(() =>
    retry(
      async () => {
        n++;
        throw new ValidationError('x', 'bad');
      },
      { initialDelayMs: 1 },
    ),
  );
  assert.is(n, 1);
});

test('bail stops at once with the given error', async () => {
  let n = 0;
  try {
    await retry(
      async (bail) => {
        n++;
        bail(new Error('stop'));
      },
      { initialDelayMs: 1 },
    );
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).message, 'stop');
  }
  assert.is(n, 1);
});

test('gives up after the configured attempts with the last error', async () => {
  let n = 0;
  await rejects(
    () =>
      retry(
        async () => {
          n++;
          throw new Error(`e${n}`);
        },
        { attempts: 4, initialDelayMs: 1 },
      ),
    /e4/,
  );
  assert.is(n, 4);
});

test.run();
