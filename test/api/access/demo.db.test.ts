import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDemoKeys } from '../../../api/access/demo.ts';
import { allowedScope, createAccessStore, ownEntities } from '../../../api/access/index.ts';
import type { Runtime } from '../../../infra/compose.ts';
import { createWorld } from '../../../infra/simulator/world.ts';
import { testRuntime } from '../../helpers/runtime.ts';

const test = suite('api/access/demo');
let rt: Runtime;
const dir = mkdtempSync(join(tmpdir(), 'coalflow-demo-'));

test.before(async () => {
  rt = await testRuntime({ broker: 'in-process', cache: 'mock' });
});
test.after(async () => {
  await rt?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('one demo key per kind: the enterprise owns simulator mines, the coal user is a simulated plant; a restart replaces the keys', async () => {
  const store = createAccessStore(rt.db);
  await store.ensureProducts();
  const file = join(dir, 'demo-keys.json');
  const keys = await ensureDemoKeys(rt.db, store, createWorld(rt.config.simSeed), file);
  assert.equal(keys.map((k) => k.kind).sort(), ['coal_user', 'enterprise', 'government', 'operator']);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.equal(
    JSON.parse(readFileSync(file, 'utf8')).keys.map((k: { key: string }) => k.key),
    keys.map((k) => k.key),
  );
  const world = createWorld(rt.config.simSeed);
  const ent = (await store.principal(keys.find((k) => k.kind === 'enterprise')!.key))!.principal;
  const mines = ownEntities(ent).mines;
  assert.is(mines.length, 3);
  for (const m of mines)
    assert.ok(
      world.mines.some((x) => x.creditCode === m),
      'a simulator mine',
    );
  assert.ok(allowedScope(ent, 'indicator.sales'));
  const plant = (await store.principal(keys.find((k) => k.kind === 'coal_user')!.key))!.principal;
  assert.equal(ownEntities(plant).users.length, 1);
  assert.ok(world.users.some((u) => u.creditCode === ownEntities(plant).users[0] && u.sector === 'power'));
  const gov = (await store.principal(keys.find((k) => k.kind === 'government')!.key))!.principal;
  assert.is(gov.tier, 'public');
  assert.equal(allowedScope(gov, 'indicator.sales')!.mines, ['*']);
  const again = await ensureDemoKeys(rt.db, store, createWorld(rt.config.simSeed), file);
  assert.is(await store.principal(keys[0]!.key), null, 'the previous demo key is revoked');
  assert.ok(await store.principal(again[0]!.key));
  assert.is((await store.subscribers()).filter((s) => s.id.startsWith('demo-')).length, 4);
});

test.run();
