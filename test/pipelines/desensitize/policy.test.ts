import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import {
  assertProductFields,
  DEFAULT_POLICY_FILE,
  loadPolicy,
  parsePolicy,
  productFields,
  projectForProduct,
} from '../../../pipelines/desensitize/policy.ts';
import {
  createDesensitizer,
  generalizeDistrict,
  generalizeHour,
  maskValue,
} from '../../../pipelines/desensitize/desensitize.ts';
import { mapAliases } from '../../../pipelines/contracts/aliases.ts';
import { validateMapped } from '../../../pipelines/contracts/validate.ts';
import { ConfigError, PolicyError } from '../../../infra/core/errors.ts';
import { SAMPLES, SECRETS } from '../ingest/samples.ts';

const policy = loadPolicy();
const json = () => JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));

test('the shipped policy loads and has a rule for every source field of every feed', () => {
  assert.is(policy.rules.sales.plate, 'token');
  assert.is(policy.rules.sales.customer, 'token');
  assert.is(policy.rules.mines.managerName, 'drop');
  assert.is(policy.rules.sales.destination, 'generalize:district');
  assert.is(policy.rules.sales.tareTime, 'generalize:hour');
});

test('a broken policy fails at load, naming the problem', () => {
  const noRule = json();
  delete noRule.fields['*'].plate;
  delete noRule.fields.sales.plate;
  assert.throws(
    () => parsePolicy(noRule),
    (e: unknown) => e instanceof ConfigError && /sales\.plate/.test(e.message),
  );
  const clear = json();
  clear.fields.sales.plate = 'keep';
  assert.throws(
    () => parsePolicy(clear),
    (e: unknown) => e instanceof ConfigError && /personal field sales\.plate/.test(e.message),
  );
  const typo = json();
  typo.products.reports.sales.push('plate');
  assert.throws(
    () => parsePolicy(typo),
    (e: unknown) => e instanceof ConfigError && /reports/.test(e.message),
  );
});

test('minimum-necessary use: a product asking for an unlisted field is refused', () => {
  assert.not.throws(() =>
    assertProductFields('realtime_indicators', 'sales', ['mineId', 'netT', 'unitPriceYuanPerT'], policy),
  );
  assert.throws(
    () => assertProductFields('reports', 'sales', ['netT', 'plateToken']),
    (e: unknown) =>
      e instanceof PolicyError &&
      e.code === 'POLICY_FIELD_NOT_ALLOWED' &&
      /sales\.plateToken/.test(e.message),
  );
  assert.throws(
    () => assertProductFields('no_such_product', 'sales', ['netT'], policy),
    (e: unknown) => e instanceof PolicyError,
  );
  assert.throws(
    () => assertProductFields('days_of_stock', 'sales', ['netT'], policy),
    (e: unknown) => e instanceof PolicyError,
    'feed not listed for the product',
  );
  assert.ok(productFields('days_of_stock', 'coal_users', policy).includes('consumptionT'));
  assert.equal(projectForProduct('forecasts', 'sales', { netT: 1, customerToken: 'x', mineId: 'm' }), {
    netT: 1,
    mineId: 'm',
  });
});

test('rules: keyed tokens stable across days and formats, secret-dependent; masks; generalization', () => {
  const d = createDesensitizer(policy, 'k1');
  assert.is(d.token('plate', '蒙K·8A123'), d.token('plate', '蒙k 8a123'));
  assert.is.not(d.token('plate', '蒙K8A123'), createDesensitizer(policy, 'k2').token('plate', '蒙K8A123'));
  assert.is.not(d.token('plate', 'X'), d.token('customer', 'X'), 'fields are separate token domains');
  assert.is(maskValue('13912345678'), '139****5678');
  assert.is(maskValue('王建国'), '王*国');
  assert.is(generalizeHour('2025-03-01T08:40:12+08:00'), '2025-03-01T08:00:00+08:00');
  assert.is(generalizeDistrict('河北省唐山市曹妃甸区港城大道88号'), '河北省唐山市曹妃甸区');
  assert.is(generalizeDistrict('内蒙古自治区鄂尔多斯市准格尔旗薛家湾镇'), '内蒙古自治区鄂尔多斯市准格尔旗');
  assert.is(generalizeDistrict('秦皇岛市海港区文化路12号'), '秦皇岛市海港区');
  assert.is(generalizeDistrict('河北省黄骅港'), '河北省黄骅港');
  assert.is(generalizeDistrict('秦皇岛港'), '秦皇岛港');
  assert.is(generalizeDistrict('幸福路88号3单元'), undefined);
});

test('applied to a record: no plate, name or phone survives anywhere in it', () => {
  const d = createDesensitizer(policy, 'k1');
  for (const feed of ['sales', 'mines', 'coal_users'] as const) {
    const validated = validateMapped(
      feed,
      mapAliases(feed, {
        ...SAMPLES[feed],
        备注2: `司机 13912345678 车 蒙K·8A123`,
        联系人电话: '13912345678',
      }),
      {
        nowMs: Date.now(),
        receivedAtMs: Date.now(),
        hashId: d.hashId,
      },
    );
    const out = JSON.stringify(d.apply(validated));
    for (const s of [...SECRETS, '蒙K8A123']) assert.not.ok(out.includes(s), `${feed} holds ${s}: ${out}`);
  }
  const masked = JSON.stringify(d.maskPayload('sales', SAMPLES.sales));
  for (const s of SECRETS) assert.not.ok(masked.includes(s), `masked payload holds ${s}`);
  assert.ok(masked.includes('33.42'), 'non-personal values stay readable');
});

test.run();
