import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { DEFAULT_POLICY_FILE, loadPolicy, parsePolicy } from '../../../pipelines/desensitize/policy.ts';
import { createDesensitizer } from '../../../pipelines/desensitize/desensitize.ts';
import { mapAliases } from '../../../pipelines/contracts/aliases.ts';
import { validateMapped } from '../../../pipelines/contracts/validate.ts';
import { SAMPLES } from '../ingest/samples.ts';

const test = suite('pipelines/desensitize: free text');
const NOTE = '司机 张三 电话 +86 139 1234 5678，备用 139-1234-5678，车 蒙K·8A123，证 150622 1990 0101 1234';

function run(policyJson: unknown, extra: Record<string, unknown>) {
  const d = createDesensitizer(parsePolicy(policyJson), 's');
  const v = validateMapped('sales', mapAliases('sales', { ...SAMPLES.sales, ...extra }), {
    nowMs: Date.now(),
    receivedAtMs: Date.now(),
    hashId: d.hashId,
  });
  return d.apply(v) as { ext?: Record<string, string> };
}

test('the shipped policy drops every free-text column (备注, remark, any unknown column)', () => {
  const out = run(JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')), {
    备注: NOTE,
    remark: 'Wang Wei 13912345678',
    煤质说明: '低硫',
  });
  assert.is(out.ext, undefined);
  assert.is(loadPolicy().ext.default, 'drop');
});

test('a column the policy lists (rule keep) is kept with phones in any spacing, plates and id numbers masked', () => {
  const p = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
  p.ext.keys.push({ pattern: '^煤质说明$', rule: 'keep' });
  const out = run(p, { 煤质说明: NOTE, 备注: NOTE });
  const kept = out.ext?.['煤质说明'];
  assert.ok(kept, 'listed column kept');
  for (const s of ['139 1234 5678', '139-1234-5678', '8A123', '150622 1990 0101 1234', '1234 5678'])
    assert.not.ok(kept!.includes(s), `${s} in ${kept}`);
  assert.ok(kept!.startsWith('司机'), 'the rest of the text stays');
  assert.is(out.ext?.['备注'], undefined, 'an unlisted column is still dropped');
});

test('a personal-looking key stays dropped even if listed after it', () => {
  const p = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
  p.ext.keys.push({ pattern: '司机', rule: 'keep' });
  assert.is(run(p, { 司机备注: NOTE }).ext, undefined);
});

test.run();
