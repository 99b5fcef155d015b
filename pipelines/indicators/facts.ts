/**
 * Fact rows: the desensitized canonical fields the indicators need, one
 * table per feed (`fact_<feed>`), keyed (record_id, event_time). Inserting them
 * with ON CONFLICT DO NOTHING is the dedupe that makes every cell update
 * exactly-once. Only what an indicator needs is kept (minimum necessary use):
 * no tokens, destinations or unit prices; sales keep the calorific band, not the value.
 */
import type {
  FeedName,
  FeedRecordMap,
  SaleRecord,
  MineRecord,
  MineInventoryRecord,
  RailRecord,
  HighwayRecord,
  PortRecord,
  CoalUserRecord,
  PriceRecord,
} from '../contracts/types.ts';
import { bandOf } from './model.ts';
import { companyOf } from './core.ts';

export interface FactColumn<R> {
  name: string;
  /** Postgres array element type used with unnest. */
  type: 'text' | 'int' | 'numeric' | 'timestamptz' | 'bool';
  get(r: R): string | number | boolean | null;
}

export interface FactSpec<R> {
  table: string;
  /** Entity column used for compression segments and lookups. */
  entity: string;
  columns: FactColumn<R>[];
}

const num = (x: number | undefined | null) =>
  x === undefined || x === null || !Number.isFinite(x) ? null : x;
const str = (x: string | undefined | null) => (x === undefined || x === null || x === '' ? null : x);

export const FACTS: { [F in FeedName]: FactSpec<FeedRecordMap[F]> } = {
  sales: {
    table: 'fact_sales',
    entity: 'mine_id',
    columns: [
      { name: 'mine_id', type: 'text', get: (r: SaleRecord) => r.mineId },
      { name: 'company', type: 'text', get: (r: SaleRecord) => companyOf(r) },
      { name: 'region_code', type: 'text', get: (r: SaleRecord) => r.regionCode },
      { name: 'coal_type', type: 'text', get: (r: SaleRecord) => r.coalType },
      { name: 'band', type: 'text', get: (r: SaleRecord) => bandOf(r.calorificKcal) },
      { name: 'net_t', type: 'numeric', get: (r: SaleRecord) => r.netT },
      { name: 'value_yuan', type: 'numeric', get: (r: SaleRecord) => r.totalPriceYuan },
    ],
  },
  mines: {
    table: 'fact_mines',
    entity: 'mine_id',
    columns: [
      { name: 'mine_id', type: 'text', get: (r: MineRecord) => r.mineId },
      { name: 'company', type: 'text', get: (r: MineRecord) => companyOf(r) },
      { name: 'region_code', type: 'text', get: (r: MineRecord) => r.regionCode },
      { name: 'status', type: 'text', get: (r: MineRecord) => r.status },
      {
        name: 'approved_capacity_t_per_year',
        type: 'numeric',
        get: (r: MineRecord) => num(r.approvedCapacityTPerYear),
      },
      {
        name: 'design_capacity_t_per_year',
        type: 'numeric',
        get: (r: MineRecord) => num(r.designCapacityTPerYear),
      },
      { name: 'stop_reason', type: 'text', get: (r: MineRecord) => str(r.stopReason) },
      { name: 'expected_resume_date', type: 'text', get: (r: MineRecord) => str(r.expectedResumeDate) },
    ],
  },
  mine_inventory: {
    table: 'fact_mine_inventory',
    entity: 'mine_id',
    columns: [
      { name: 'mine_id', type: 'text', get: (r: MineInventoryRecord) => r.mineId },
      { name: 'region_code', type: 'text', get: (r: MineInventoryRecord) => r.regionCode },
      { name: 'stock_t', type: 'numeric', get: (r: MineInventoryRecord) => r.stockT },
      { name: 'coal_type', type: 'text', get: (r: MineInventoryRecord) => str(r.coalType) },
      { name: 'calorific_kcal', type: 'int', get: (r: MineInventoryRecord) => num(r.calorificKcal) },
      { name: 'sulfur_pct', type: 'numeric', get: (r: MineInventoryRecord) => num(r.sulfurPct) },
      { name: 'ash_pct', type: 'numeric', get: (r: MineInventoryRecord) => num(r.ashPct) },
    ],
  },
  rail: {
    table: 'fact_rail',
    entity: 'route',
    columns: [
      { name: 'route', type: 'text', get: (r: RailRecord) => r.route },
      { name: 'direction', type: 'text', get: (r: RailRecord) => str(r.direction) },
      { name: 'period', type: 'text', get: (r: RailRecord) => r.period },
      { name: 'requested_cars', type: 'int', get: (r: RailRecord) => num(r.requestedCars) },
      { name: 'approved_cars', type: 'int', get: (r: RailRecord) => num(r.approvedCars) },
      { name: 'shipped_t', type: 'numeric', get: (r: RailRecord) => num(r.shippedT) },
      { name: 'route_capacity_t', type: 'numeric', get: (r: RailRecord) => num(r.routeCapacityT) },
      { name: 'other_t', type: 'numeric', get: (r: RailRecord) => num(r.otherT) },
      { name: 'in_transit_t', type: 'numeric', get: (r: RailRecord) => num(r.inTransitT) },
    ],
  },
  highway: {
    table: 'fact_highway',
    entity: 'gate',
    columns: [
      { name: 'gate', type: 'text', get: (r: HighwayRecord) => r.gate },
      { name: 'direction', type: 'text', get: (r: HighwayRecord) => r.direction },
      { name: 'trucks', type: 'int', get: (r: HighwayRecord) => r.trucks },
      { name: 'tonnage_t', type: 'numeric', get: (r: HighwayRecord) => num(r.tonnageT) },
      { name: 'congestion_index', type: 'numeric', get: (r: HighwayRecord) => num(r.congestionIndex) },
      { name: 'window_minutes', type: 'int', get: (r: HighwayRecord) => num(r.windowMinutes) },
    ],
  },
  ports: {
    table: 'fact_ports',
    entity: 'port',
    columns: [
      { name: 'port', type: 'text', get: (r: PortRecord) => r.port },
      { name: 'kind', type: 'text', get: (r: PortRecord) => r.kind },
      { name: 'stock_t', type: 'numeric', get: (r: PortRecord) => num(r.stockT) },
      { name: 'fob_price_yuan_per_t', type: 'numeric', get: (r: PortRecord) => num(r.fobPriceYuanPerT) },
      { name: 'coal_type', type: 'text', get: (r: PortRecord) => str(r.coalType) },
      { name: 'band', type: 'text', get: (r: PortRecord) => bandOf(r.calorificKcal) },
      { name: 'import_t', type: 'numeric', get: (r: PortRecord) => num(r.importT) },
      {
        name: 'import_price_yuan_per_t',
        type: 'numeric',
        get: (r: PortRecord) => num(r.importPriceYuanPerT),
      },
      { name: 'vessels_waiting', type: 'int', get: (r: PortRecord) => num(r.vesselsWaiting) },
      { name: 'freight_yuan_per_t', type: 'numeric', get: (r: PortRecord) => num(r.freightYuanPerT) },
      { name: 'freight_route', type: 'text', get: (r: PortRecord) => str(r.freightRoute) },
    ],
  },
  coal_users: {
    table: 'fact_coal_users',
    entity: 'user_id',
    columns: [
      { name: 'user_id', type: 'text', get: (r: CoalUserRecord) => r.userId },
      { name: 'sector', type: 'text', get: (r: CoalUserRecord) => r.sector },
      { name: 'region_code', type: 'text', get: (r: CoalUserRecord) => str(r.regionCode) },
      { name: 'intake_t', type: 'numeric', get: (r: CoalUserRecord) => num(r.intakeT) },
      { name: 'consumption_t', type: 'numeric', get: (r: CoalUserRecord) => num(r.consumptionT) },
      { name: 'stock_t', type: 'numeric', get: (r: CoalUserRecord) => num(r.stockT) },
      { name: 'power_load_mw', type: 'numeric', get: (r: CoalUserRecord) => num(r.powerLoadMw) },
    ],
  },
  prices: {
    table: 'fact_prices',
    entity: 'coal_type',
    columns: [
      { name: 'price_kind', type: 'text', get: (r: PriceRecord) => r.priceKind },
      { name: 'location', type: 'text', get: (r: PriceRecord) => str(r.location) },
      { name: 'mine_id', type: 'text', get: (r: PriceRecord) => str(r.mineId) },
      { name: 'coal_type', type: 'text', get: (r: PriceRecord) => r.coalType },
      { name: 'band', type: 'text', get: (r: PriceRecord) => bandOf(r.calorificKcal) },
      { name: 'price_yuan_per_t', type: 'numeric', get: (r: PriceRecord) => r.priceYuanPerT },
    ],
  } as FactSpec<PriceRecord>,
} as never;
