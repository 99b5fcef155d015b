/**
 * A fixed, seeded record set for the indicator tests: 10 days of March 2024,
 * 6 mines (two of them one company) in 3 regions, sales with late records
 * within and beyond the allowed lateness, mine status changes, mine stock
 * reports, rail, highway, ports, coal users and price quotes.
 * Records are listed in production order; `key` is the partition key.
 */
import type {
  CoalUserRecord,
  FeedName,
  FeedRecordMap,
  HighwayRecord,
  MineInventoryRecord,
  MineRecord,
  PortRecord,
  PriceRecord,
  RailRecord,
  SaleRecord,
} from '../../../pipelines/contracts/types.ts';
import { mulberry32 } from '../../../infra/core/random.ts';

export interface Produced<F extends FeedName = FeedName> {
  feed: F;
  key: string;
  record: FeedRecordMap[F];
}

const DAY = 86_400_000;
/** 2024-03-01 00:00 +08:00 */
export const T0 = Date.parse('2024-03-01T00:00:00+08:00');
export const DAYS = 10;
const cst = (ms: number) =>
  new Date(ms + 8 * 3600_000)
    .toISOString()
    .replace('Z', '+08:00')
    .replace(/\.\d{3}/, '');
const r2 = (x: number) => Math.round(x * 100) / 100;

export const MINES = [
  { mineId: 'M1', credit: 'C-A', region: '150621', cap: 1_200_000, kcal: 5600, coal: '动力煤' },
  { mineId: 'M2', credit: 'C-A', region: '150621', cap: 900_000, kcal: 5100, coal: '动力煤' },
  { mineId: 'M3', credit: 'C-B', region: '150622', cap: 1_500_000, kcal: 4700, coal: '动力煤' },
  { mineId: 'M4', credit: 'C-C', region: '150622', cap: 600_000, kcal: 5800, coal: '块煤' },
  { mineId: 'M5', credit: 'C-D', region: '150627', cap: 3_000_000, kcal: 5200, coal: '动力煤' },
  { mineId: 'M6', credit: 'C-E', region: '150627', cap: 2_400_000, kcal: 4300, coal: '沫煤' },
] as const;

export function buildFixture(seed = 7): Produced[] {
  const rnd = mulberry32(seed);
  const out: Produced[] = [];
  const late: Produced[] = [];
  const push = <F extends FeedName>(feed: F, key: string, record: FeedRecordMap[F]) =>
    out.push({ feed, key, record } as Produced);
  let seq = 0;
  // Mine master data at the start; M3 stops on day 4, M6 limited from day 6.
  for (const m of MINES) {
    push('mines', m.mineId, mine(m, T0 + 3600_000, 'producing', `mine-${m.mineId}-0`));
  }
  for (let d = 0; d < DAYS; d++) {
    const day0 = T0 + d * DAY;
    if (d === 3) push('mines', 'M3', mine(MINES[2], day0 + 9 * 3600_000, 'stopped', 'mine-M3-1'));
    if (d === 5) push('mines', 'M6', mine(MINES[5], day0 + 10 * 3600_000, 'limited', 'mine-M6-1'));
    for (const m of MINES) {
      if (m.mineId === 'M3' && d >= 3 && d < 6) continue; // stopped: no sales
      const n = 3 + Math.floor(rnd() * 5);
      for (let i = 0; i < n; i++) {
        const t = day0 + Math.floor(rnd() * 24 * 3600) * 1000;
        const net = r2(25 + rnd() * 15);
        const kcal = m.kcal + Math.round((rnd() - 0.5) * 200);
        const price = r2(300 + (kcal - 4000) * 0.25 + d * 3 + rnd() * 20);
        const s = sale(`S${++seq}`, m, t, net, price, kcal);
        // Some uploads arrive late: a few within the lateness, a few beyond it.
        if (d === 8 && i === 0) late.push({ feed: 'sales', key: m.mineId, record: s });
        else if (d === 1 && i === 0 && (m.mineId === 'M1' || m.mineId === 'M5'))
          late.push({ feed: 'sales', key: m.mineId, record: s });
        else push('sales', m.mineId, s);
      }
    }
    // Stock reports for M1..M4 at 20:00; M5, M6 never report.
    for (const m of MINES.slice(0, 4)) {
      push('mine_inventory', m.mineId, {
        recordId: `inv-${m.mineId}-${d}`,
        eventTime: cst(day0 + 20 * 3600_000),
        mineId: m.mineId,
        regionCode: m.region,
        stockT: r2(5000 + rnd() * 20000),
        coalType: m.coal,
        calorificKcal: m.kcal,
      } satisfies MineInventoryRecord);
    }
    for (const route of ['包神线', '准池线']) {
      for (const direction of ['北', '南']) {
        const req = 100 + Math.floor(rnd() * 50);
        push('rail', route, {
          recordId: `rail-${route}-${direction}-${d}`,
          eventTime: cst(day0 + 18 * 3600_000),
          route,
          direction,
          period: 'day',
          requestedCars: req,
          approvedCars: req - Math.floor(rnd() * 30),
          shippedT: r2(5000 + rnd() * 3000),
          routeCapacityT: 9000,
          inTransitT: r2(10000 + rnd() * 5000),
        } satisfies RailRecord);
      }
    }
    for (const gate of ['G-东胜', 'G-准格尔']) {
      for (const direction of ['in', 'out'] as const) {
        for (const h of [8, 14, 20]) {
          const trucks = 50 + Math.floor(rnd() * 100);
          push('highway', gate, {
            recordId: `hw-${gate}-${direction}-${d}-${h}`,
            eventTime: cst(day0 + h * 3600_000),
            gate,
            direction,
            trucks,
            tonnageT: r2(trucks * 33.5),
            congestionIndex: r2(1 + rnd() * 3),
            windowMinutes: 60,
          } satisfies HighwayRecord);
        }
      }
    }
    for (const port of ['黄骅港', '曹妃甸']) {
      push('ports', port, {
        recordId: `port-${port}-${d}`,
        eventTime: cst(day0 + 12 * 3600_000),
        port,
        kind: 'port',
        stockT: r2(1_500_000 + rnd() * 300_000),
        fobPriceYuanPerT: r2(850 + rnd() * 30),
        coalType: '动力煤',
        calorificKcal: 5500,
        vesselsWaiting: Math.floor(rnd() * 40),
        freightYuanPerT: r2(30 + rnd() * 10),
        freightRoute: `${port}-广州`,
        importT: r2(20000 + rnd() * 5000),
        importPriceYuanPerT: r2(780 + rnd() * 20),
      } satisfies PortRecord);
    }
    for (const u of [
      { id: 'U1', sector: 'power' },
      { id: 'U2', sector: 'power' },
      { id: 'U3', sector: 'chemicals' },
    ] as const) {
      push('coal_users', u.id, {
        recordId: `user-${u.id}-${d}`,
        eventTime: cst(day0 + 23 * 3600_000),
        userId: u.id,
        userName: `用户${u.id}`,
        sector: u.sector,
        regionCode: '150602',
        intakeT: r2(8000 + rnd() * 4000),
        consumptionT: r2(9000 + rnd() * 3000),
        stockT: r2(150_000 + rnd() * 50_000),
        powerLoadMw: r2(500 + rnd() * 300),
      } satisfies CoalUserRecord);
    }
    for (const [coalType, kcal] of [
      ['动力煤', 5500],
      ['动力煤', 5000],
      ['块煤', 5800],
    ] as const) {
      push('prices', `${coalType}`, {
        recordId: `price-pit-${coalType}-${kcal}-${d}`,
        eventTime: cst(day0 + 10 * 3600_000),
        priceKind: 'pithead',
        coalType,
        calorificKcal: kcal,
        priceYuanPerT: r2(600 + rnd() * 100),
        location: '鄂尔多斯',
      } satisfies PriceRecord);
    }
    push('prices', 'shenhua', {
      recordId: `price-sh-${d}`,
      eventTime: cst(day0 + 9 * 3600_000),
      priceKind: 'shenhua_batuta',
      coalType: '动力煤',
      calorificKcal: 5500,
      priceYuanPerT: r2(700 + rnd() * 40),
      location: '巴图塔',
    } satisfies PriceRecord);
  }
  // A monthly rail statistic.
  push('rail', '包神线', {
    recordId: 'rail-month-2024-03',
    eventTime: cst(T0 + 9 * DAY + 12 * 3600_000),
    route: '包神线',
    period: 'month',
    shippedT: 1_234_567.5,
    otherT: 23_456.25,
  } satisfies RailRecord);
  out.push(...late);
  // A duplicate delivery of a sale (ingest dedupes; the indicators must not count it twice either).
  const dup = out.find((p) => p.feed === 'sales')!;
  out.push({ ...dup });
  return out;
}

function mine(
  m: (typeof MINES)[number],
  t: number,
  status: MineRecord['status'],
  recordId: string,
): MineRecord {
  return {
    recordId,
    eventTime: cst(t),
    mineId: m.mineId,
    mineName: `煤矿${m.mineId}`,
    creditCode: m.credit,
    regionCode: m.region,
    status,
    approvedCapacityTPerYear: m.cap,
  };
}

function sale(
  id: string,
  m: (typeof MINES)[number],
  t: number,
  net: number,
  price: number,
  kcal: number,
): SaleRecord {
  const tare = r2(15 + (net % 3));
  return {
    recordId: id,
    eventTime: cst(t),
    saleId: id,
    mineId: m.mineId,
    mineName: `煤矿${m.mineId}`,
    creditCode: m.credit,
    siteKind: 'mine',
    regionCode: m.region,
    coalType: m.coal,
    calorificKcal: kcal,
    grossT: r2(net + tare),
    tareT: tare,
    netT: net,
    unitPriceYuanPerT: price,
    totalPriceYuan: r2(net * price),
    tareTime: cst(t - 20 * 60_000),
    grossTime: cst(t),
  };
}
