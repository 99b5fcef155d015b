/**
 * Contract evolution on the real schema registry (Apicurio's Confluent API in CI;
 * SCHEMA_REGISTRY_URL): canonical schemas are registered with BACKWARD compatibility,
 * so adding an optional field is accepted and adding a required one is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Runtime } from '../../../infra/compose.ts';
import { avroSchemaOf } from '../../../pipelines/index.ts';
import { createWireCodec } from '../../../sinks/index.ts';
import { testRuntime, uniq } from '../../helpers/runtime.ts';

const s = suite<{ rt: Runtime & { prefix: string } }>('contracts: BACKWARD evolution on the registry', {
  rt: null as never,
});
s.before(async (ctx) => {
  ctx.rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
s.after(async (ctx) => {
  await ctx.rt?.close();
});

s('optional field accepted, new required field refused', async ({ rt }) => {
  if (rt.kinds.registry === 'mock') {
    console.warn(
      '  (SCHEMA_REGISTRY_URL not set: the mock registry does not check compatibility; run infra/scripts/registry-up.sh)',
    );
    return;
  }
  const topic = `${uniq('compat.')}.sales.v1`;
  const subject = `${topic}-value`;
  const codec = createWireCodec(rt);
  const base = avroSchemaOf('sales') as unknown as { fields: object[] } & Record<string, unknown>;
  const v1 = await codec.register(topic, base);
  assert.ok(v1 > 0);
  const cfg = await rt.registry.getCompatibility(subject);
  assert.is(String(cfg), 'BACKWARD');
  const optional = {
    ...base,
    fields: [...base.fields, { name: 'moistureTotalPct', type: ['null', 'double'], default: null }],
  };
  const v2 = await rt.registry.register(
    subject,
    { schemaType: 'AVRO', schema: JSON.stringify(optional) },
    false,
  );
  assert.ok(v2 !== v1, 'a compatible version gets its own id');
  const required = { ...base, fields: [...base.fields, { name: 'mandatoryNew', type: 'string' }] };
  try {
    await rt.registry.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(required) }, false);
    assert.unreachable('an incompatible schema must be refused');
  } catch (err) {
    assert.match(String((err as Error).message), /409|ncompatib/);
  } finally {
    await rt.registry.deleteSubject(subject, false).catch(() => undefined);
  }
});

s.run();
