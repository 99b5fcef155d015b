/**
 * Canonical records, one per feed, as they stand on the canonical topics
 * `coal.<feed>.v1` after ingest (aliases mapped, validated, desensitized).
 * Units are in the names. Times are ISO-8601 strings with offset (event time).
 * Personal data never appears in clear: `*Token` fields are keyed HMAC tokens.
 * `ext` keeps unknown source fields (already desensitized by policy).
 */
export type FeedName =
  'sales' | 'mines' | 'mine_inventory' | 'rail' | 'highway' | 'ports' | 'coal_users' | 'prices';
export const FEEDS: readonly FeedName[] = [
  'sales',
  'mines',
  'mine_inventory',
  'rail',
  'highway',
  'ports',
  'coal_users',
  'prices',
];

interface Base {
  /** Source record id, unique per feed (dedupe key). */
  recordId: string;
  /** Event time: when it happened at the source. */
  eventTime: string;
  ext?: Record<string, string>;
}

/** Weighbridge sale (销售明细表 / 煤矿运销信息 / 全市煤场运销信息). recordId = 销售编号. Event time = 过重时间. */
export interface SaleRecord extends Base {
  saleId: string;
  /** Mine or coal yard id (enterprise key; the unified credit code when known). */
  mineId: string;
  mineName: string;
  creditCode?: string;
  /** 'mine' (煤矿运销) or 'yard' (煤场运销). */
  siteKind: 'mine' | 'yard';
  /** Administrative division code (行政区划), e.g. 150621 达拉特旗. */
  regionCode: string;
  coalType: string;
  calorificKcal?: number;
  grossT: number;
  tareT: number;
  netT: number;
  unitPriceYuanPerT: number;
  totalPriceYuan: number;
  customerToken?: string;
  /** Destination generalized to city/district level (运往地). */
  destination?: string;
  plateToken?: string;
  /** 过空时间: tare weighing. */
  tareTime: string;
  /** 过重时间: gross weighing (event time). */
  grossTime: string;
}

export type MineStatus = 'producing' | 'stopped' | 'limited' | 'construction' | 'renovation' | 'closed';

/** Mine master data and status (煤矿基本信息, 生产状态, 核定产能, 停产/限产原因, 预计复工时间). */
export interface MineRecord extends Base {
  mineId: string;
  mineName: string;
  creditCode?: string;
  regionCode: string;
  status: MineStatus;
  approvedCapacityTPerYear: number;
  designCapacityTPerYear?: number;
  stopReason?: string;
  expectedResumeDate?: string;
  lat?: number;
  lon?: number;
  miningMethod?: string;
  calorificKcal?: number;
  /** 企业名称: the operating company (added in contract v1, optional). */
  enterpriseName?: string;
  /** 煤矿简称. */
  shortName?: string;
  /** 月度实际产量, t. */
  monthlyOutputT?: number;
  /** 矿区位置, generalized to the district by the policy. */
  location?: string;
}

/** Mine yard inventory and quality (场地库存量, 库存煤种, 煤质检验). */
export interface MineInventoryRecord extends Base {
  mineId: string;
  mineName?: string;
  creditCode?: string;
  regionCode: string;
  stockT: number;
  coalType?: string;
  calorificKcal?: number;
  sulfurPct?: number;
  ashPct?: number;
}

/** Rail: daily requests/approvals by route and direction, route shipments, monthly statistics. */
export interface RailRecord extends Base {
  route: string;
  direction?: string;
  /** 'day' for daily operations, 'month' for 境内铁路 monthly statistics. */
  period: 'day' | 'month';
  requestedCars?: number;
  approvedCars?: number;
  shippedT?: number;
  routeCapacityT?: number;
  otherT?: number;
  /** Tonnage loaded but not yet arrived at the port (in transit), when reported. */
  inTransitT?: number;
}

/** Highway coal truck flows by gate (分出入口), with congestion index. */
export interface HighwayRecord extends Base {
  gate: string;
  direction: 'in' | 'out';
  trucks: number;
  /** Estimated tonnage when reported. */
  tonnageT?: number;
  congestionIndex?: number;
  /** Length of the observation window in minutes (default 60). */
  windowMinutes?: number;
}

/** Ports and platforms: stock, FOB price, imports, vessel queue, freight. */
export interface PortRecord extends Base {
  port: string;
  kind: 'port' | 'platform' | 'receiving';
  stockT?: number;
  fobPriceYuanPerT?: number;
  coalType?: string;
  calorificKcal?: number;
  importT?: number;
  importPriceYuanPerT?: number;
  vesselsWaiting?: number;
  freightYuanPerT?: number;
  freightRoute?: string;
}

/** Coal users (power, building materials, chemicals): intake, daily burn, stock, power load. */
export interface CoalUserRecord extends Base {
  userId: string;
  userName: string;
  sector: 'power' | 'building_materials' | 'chemicals' | 'other';
  creditCode?: string;
  regionCode?: string;
  intakeT?: number;
  consumptionT?: number;
  stockT?: number;
  powerLoadMw?: number;
}

/** Price observations: pithead (坑口), 神华外购价 at 巴图塔 and 黄骅港, annual/monthly prices (煤炭每年价格). */
export interface PriceRecord extends Base {
  /** 'pithead' | 'shenhua_batuta' | 'shenhua_huanghua' | 'annual' | 'monthly' */
  priceKind: 'pithead' | 'shenhua_batuta' | 'shenhua_huanghua' | 'annual' | 'monthly';
  location?: string;
  mineId?: string;
  mineName?: string;
  creditCode?: string;
  coalType: string;
  calorificKcal?: number;
  priceYuanPerT: number;
}

export interface FeedRecordMap {
  sales: SaleRecord;
  mines: MineRecord;
  mine_inventory: MineInventoryRecord;
  rail: RailRecord;
  highway: HighwayRecord;
  ports: PortRecord;
  coal_users: CoalUserRecord;
  prices: PriceRecord;
}
export type CanonicalRecord = FeedRecordMap[FeedName];

/** Header on canonical records: when ingest accepted the record (ms since epoch); end-to-end latency starts here. */
export const ACCEPTED_HEADER = 'coalflow-accepted-ms';

export const topicOf = {
  raw: (feed: FeedName) => `coal.raw.${feed}`,
  canonical: (feed: FeedName) => `coal.${feed}.v1`,
  dlq: 'coal.dlq',
  indicators: 'coal.indicators',
} as const;
