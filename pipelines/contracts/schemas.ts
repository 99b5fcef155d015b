/**
 * Avro schemas of the canonical topics, derived from the contract table.
 * Evolution rule (BACKWARD compatibility, enforced by the registry): new
 * fields are optional with a default; no field is removed or renamed; enum-like
 * values are strings so adding a value never breaks a reader.
 */
import type { FeedName } from './types.ts';
import { canonicalFields, type FieldKind } from './fields.ts';

export const SCHEMA_NAMESPACE = 'cn.ordos.coalflow.v1';

const RECORD_NAMES: Record<FeedName, string> = {
  sales: 'Sale',
  mines: 'Mine',
  mine_inventory: 'MineInventory',
  rail: 'RailMovement',
  highway: 'HighwayFlow',
  ports: 'PortObservation',
  coal_users: 'CoalUser',
  prices: 'PriceObservation',
};

const DOCS: Record<FeedName, string> = {
  sales: '磅房销售明细（销售明细表/煤矿运销信息/全市煤场运销信息）/ weighbridge sale',
  mines: '煤矿基本信息与生产状态 / mine master data and production status',
  mine_inventory: '煤矿场地库存与煤质 / mine yard stock and coal quality',
  rail: '铁路请车/批车/发运与境内铁路月度统计 / rail requests, approvals, shipments and monthly statistics',
  highway: '高速公路煤炭运输货车流量（分出入口）/ highway coal truck flows by gate',
  ports: '港口与站台场存、平仓价、进口煤、待港船舶、海运运价 / ports and platforms',
  coal_users: '重点用煤企业入库量、日耗、库存、电负荷 / coal users',
  prices: '价格观测（坑口价、神华外购价、年度/月度价格）/ price observations',
};

function avroType(kind: FieldKind): string {
  if (kind === 'count') return 'int';
  if (
    kind === 'string' ||
    kind === 'time' ||
    kind === 'date' ||
    kind === 'region' ||
    kind === 'enum' ||
    kind === 'coord'
  )
    return 'string';
  return 'double';
}

export interface AvroRecordSchema {
  type: 'record';
  name: string;
  namespace: string;
  doc: string;
  fields: { name: string; type: unknown; default?: unknown; doc?: string }[];
}

/** The Avro schema of a feed's canonical topic (`coal.<feed>.v1`). */
export function avroSchemaOf(feed: FeedName): AvroRecordSchema {
  const fields: AvroRecordSchema['fields'] = canonicalFields(feed).map((f) =>
    f.required
      ? { name: f.name, type: avroType(f.kind), doc: f.doc }
      : { name: f.name, type: ['null', avroType(f.kind)], default: null, doc: f.doc },
  );
  fields.push({
    name: 'ext',
    type: ['null', { type: 'map', values: 'string' }],
    default: null,
    doc: '未识别的源字段（已脱敏）/ unknown source fields (desensitized)',
  });
  return { type: 'record', name: RECORD_NAMES[feed], namespace: SCHEMA_NAMESPACE, doc: DOCS[feed], fields };
}
