import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  jsonDepth,
  MAX_RECORD_DEPTH,
  shapeProblem,
  storableJson,
  storableText,
} from '../../../pipelines/contracts/screen.ts';
import { decodePayload, processRaw } from '../../../pipelines/ingest/core.ts';
import { createDesensitizer } from '../../../pipelines/desensitize/desensitize.ts';
import { loadPolicy } from '../../../pipelines/desensitize/policy.ts';
import { SAMPLES } from '../ingest/samples.ts';

const test = suite('pipelines/contracts/screen');
const ctx = {
  desensitizer: createDesensitizer(loadPolicy(), 's'),
  nowMs: Date.now(),
  receivedAtMs: Date.now(),
};
const nest = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
};
const reasonOf = (feed: 'sales', raw: unknown) => {
  const o = processRaw(feed, raw, ctx);
  return o.status === 'rejected' ? o.reason : 'ok';
};

test('depth is counted without recursion, even far beyond the stack', () => {
  assert.is(jsonDepth(1), 0);
  assert.is(jsonDepth({ a: [1, { b: 2 }] }), 3);
  const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
  assert.ok(jsonDepth(deep, 40) > 40, 'stops early past the limit');
});

test('a record nested deeper than the limit is rejected as nesting_too_deep, at the limit it is read', () => {
  const at = { ...SAMPLES.sales, 附加: nest(MAX_RECORD_DEPTH - 1) };
  assert.is(reasonOf('sales', at), 'ok');
  const over = { ...SAMPLES.sales, 附加: nest(MAX_RECORD_DEPTH) };
  assert.is(reasonOf('sales', over), 'nesting_too_deep');
  const d = decodePayload(JSON.stringify(nest(1000)));
  assert.ok(!d.ok && d.rejected.reason === 'nesting_too_deep');
});

test('NUL anywhere (value, nested value, key) is a control_character reject', () => {
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 销售编号: 'XS\u0000123' }), 'control_character');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 附加: { x: ['ok', 'b\u0000d'] } }), 'control_character');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 'k\u0000': 'v' }), 'control_character');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 备注: 'bell \u0007' }), 'control_character');
  const p = shapeProblem({ a: 'x\u0000' });
  assert.ok(p?.kind === 'control' && p.where.includes('U+0000'), JSON.stringify(p));
});

test('line breaks and tabs inside a dimension value are rejected; at its ends they are trimmed', () => {
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 煤种名称: '5500\r\n混煤\t' }), 'control_character');
  assert.is(
    reasonOf('sales', { ...SAMPLES.sales, 企业名称: '准格尔旗\t黑岱沟露天煤矿' }),
    'control_character',
  );
  const trimmed = processRaw('sales', { ...SAMPLES.sales, 煤种名称: '\t5500混煤\r\n' }, ctx);
  const plain = processRaw('sales', SAMPLES.sales, ctx);
  assert.ok(trimmed.status === 'ok' && plain.status === 'ok');
  assert.is(
    (trimmed.record as { coalType?: string }).coalType,
    (plain.record as { coalType?: string }).coalType,
  );
  // Free text of an unknown column may span lines (it is dropped downstream anyway).
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 备注: '第一行\n第二行' }), 'ok');
});

test('text NaN is an invalid number, like Infinity', () => {
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 净重: 'NaN' }), 'invalid_number');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 净重: 'Infinity' }), 'invalid_number');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 净重: '' }), 'ok', 'empty still means "not given"');
});

test('NUL is stored as U+2400 in text and JSON, an escaped backslash is left alone', () => {
  assert.is(storableText('a\u0000b'), 'a\u2400b');
  const json = storableJson(JSON.stringify({ a: 'x\u0000y', b: '\\u0000' }));
  assert.equal(JSON.parse(json), { a: 'x\u2400y', b: '\\u0000' });
});

test('unpaired surrogates are a decode_error; stored as U+FFFD', () => {
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 备注: 'x\ud800y' }), 'decode_error');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, '\udc00': 'v' }), 'decode_error');
  assert.is(reasonOf('sales', { ...SAMPLES.sales, 备注: '😀' }), 'ok', 'a pair is a character');
  assert.equal(JSON.parse(storableJson(JSON.stringify({ a: 'x\ud800', b: '😀' }))), {
    a: 'x\ufffd',
    b: '😀',
  });
  assert.is(storableText('x\udc00'), 'x\ufffd');
});

test.run();
