/**
 * Demo subscribers and keys of the embedded default: one per kind, so a newcomer can try every role at once.
 * The enterprise owns three simulator mines (its grant names them), the coal user is one simulated power plant,
 * the energy bureau (government) has an explicit grant over every entity, free as public governance.
 * Each start revokes the previous demo keys and writes fresh ones to `.coalflow/demo-keys.json` (git-ignored).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type pg from 'pg';
import { FAMILIES } from '../../pipelines/index.ts';
import type { SubscriberKind } from './principal.ts';
import type { AccessStore, NewGrant } from './store.ts';

export const DEMO_KEYS_FILE = '.coalflow/demo-keys.json';

export interface DemoKey {
  kind: SubscriberKind;
  subscriberId: string;
  name: string;
  keyId: string;
  key: string;
  mines?: string[];
  users?: string[];
}

/** The simulated entities the demo subscribers own (the composition root passes the simulator's world). */
export interface DemoWorld {
  mines: readonly { creditCode: string; regionCode: string }[];
  users: readonly { creditCode: string; name: string; sector: string }[];
}

export async function ensureDemoKeys(
  db: pg.Pool,
  store: AccessStore,
  world: DemoWorld,
  file = DEMO_KEYS_FILE,
): Promise<DemoKey[]> {
  const region = world.mines[0]!.regionCode;
  const mines = world.mines
    .filter((m) => m.regionCode === region)
    .slice(0, 3)
    .map((m) => m.creditCode);
  const plant = world.users.find((u) => u.sector === 'power')!;
  const all = FAMILIES.map((f) => `indicator.${f}`);
  const demo: {
    id: string;
    name: string;
    kind: SubscriberKind;
    creditCode?: string;
    grant?: NewGrant;
    mines?: string[];
    users?: string[];
  }[] = [
    { id: 'demo-operator', name: '平台运营方（演示）', kind: 'operator' },
    {
      id: 'demo-enterprise',
      name: '演示煤炭集团有限公司',
      kind: 'enterprise',
      creditCode: world.mines[0]!.creditCode,
      mines,
      grant: {
        products: [
          ...all.filter((p) => p !== 'indicator.days_of_stock'),
          'forecast',
          'live',
          'report',
          'alert',
          'sandbox',
        ],
        mines,
        purpose: '本企业经营分析（演示）/ own operations (demo)',
        tier: 'industry',
        quotaPerDay: 100_000,
      },
    },
    {
      id: 'demo-coal-user',
      name: plant.name,
      kind: 'coal_user',
      creditCode: plant.creditCode,
      users: [plant.creditCode],
      grant: {
        products: [
          'indicator.days_of_stock',
          'indicator.price',
          'indicator.inventory',
          'indicator.transport',
          'live',
          'alert',
        ],
        users: [plant.creditCode],
        purpose: '电厂保供与采购（演示）/ plant supply and purchasing (demo)',
        tier: 'industry',
        quotaPerDay: 100_000,
      },
    },
    {
      id: 'demo-government',
      name: '鄂尔多斯市能源局（演示）',
      kind: 'government',
      grant: {
        products: [...all, 'forecast', 'live', 'report', 'alert', 'sandbox'],
        mines: ['*'],
        users: ['*'],
        purpose: '煤炭保供监测与公共治理（演示）/ supply monitoring and public governance (demo)',
        tier: 'public',
      },
    },
  ];
  const out: DemoKey[] = [];
  for (const d of demo) {
    const exists = await db.query('SELECT 1 FROM access_subscribers WHERE id = $1', [d.id]);
    if (!exists.rowCount) {
      await store.createSubscriber({
        id: d.id,
        name: d.name,
        kind: d.kind,
        creditCode: d.creditCode ?? null,
      });
      if (d.grant) await store.addGrant(d.id, d.grant);
    }
    for (const k of await store.keys(d.id))
      if (!k.revokedAt && k.label === 'demo') await store.revokeKey(k.keyId);
    const key = await store.createKey(d.id, { label: 'demo' });
    out.push({
      kind: d.kind,
      subscriberId: d.id,
      name: d.name,
      keyId: key.keyId,
      key: key.key,
      ...(d.mines ? { mines: d.mines } : {}),
      ...(d.users ? { users: d.users } : {}),
    });
  }
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      JSON.stringify(
        { note: '演示密钥，仅供本机试用 / demo keys for this machine only', keys: out },
        null,
        2,
      ) + '\n',
      { mode: 0o600 },
    );
  }
  return out;
}
