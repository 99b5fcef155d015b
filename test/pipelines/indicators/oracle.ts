/**
 * Expected indicator values computed independently, in plain TypeScript, from
 * the fixture (no SQL, no worker code): the reference of the replay test.
 * Money and tonnes are summed as integers (fen, kg) like the store's decimals.
 */
import kafkajs from 'kafkajs';
import type {
  CoalUserRecord,
  HighwayRecord,
  MineInventoryRecord,
  MineRecord,
  PortRecord,
  RailRecord,
  SaleRecord,
} from '../../../pipelines/contracts/types.ts';
import type { Produced } from './fixture.ts';

const H = 3600_000;
const D = 86_400_000;
const TZ = 8 * H;
export const day = (ms: number) => Math.floor((ms + TZ) / D) * D - TZ;
export const hour = (ms: number) => Math.floor(ms / H) * H;
const t = (s: string) => Date.parse(s);
const kg = (x: number) => Math.round(x * 1000);
const fen = (x: number) => Math.round(x * 100);
const band = (k?: number) =>
  k === undefined ? 'unknown' : k >= 5500 ? '5500' : k >= 5000 ? '5000' : k >= 4500 ? '4500' : 'lt4500';

export interface Cell {
  kg: number;
  fen: number;
  n: number;
  companies: Map<string, number>;
}

export class Oracle {
  /** key `${scope}:${id}:${win}:${ws}` */
  sales = new Map<string, Cell>();
  tooLate = new Set<string>();
  late = 0;
  mines: MineRecord[] = [];
  inventory: MineInventoryRecord[] = [];
  rail: RailRecord[] = [];
  highway: HighwayRecord[] = [];
  ports: PortRecord[] = [];
  users: CoalUserRecord[] = [];
  salesList: SaleRecord[] = [];

  constructor(records: Produced[], partitions: number, latenessMs = 48 * H) {
    const partitioner = kafkajs.Partitioners.DefaultPartitioner();
    const meta = Array.from({ length: partitions }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    const maxByPartition = new Map<string, number>();
    const seen = new Set<string>();
    for (const p of records) {
      const part = partitioner({
        topic: p.feed,
        partitionMetadata: meta,
        message: { key: p.key, value: null },
      } as never);
      const pk = `${p.feed}:${part}`;
      const ev = p.feed === 'sales' ? t((p.record as SaleRecord).grossTime) : t(p.record.eventTime);
      const max = maxByPartition.get(pk) ?? -Infinity;
      const tooLate = ev < max - latenessMs;
      if (ev < max && !tooLate && !seen.has(`${p.feed}:${p.record.recordId}`)) this.late++;
      maxByPartition.set(pk, Math.max(max, ev));
      if (seen.has(`${p.feed}:${p.record.recordId}`)) continue; // duplicate delivery
      seen.add(`${p.feed}:${p.record.recordId}`);
      switch (p.feed) {
        case 'sales':
          this.addSale(p.record as SaleRecord, tooLate);
          break;
        case 'mines':
          this.mines.push(p.record as MineRecord);
          break;
        case 'mine_inventory':
          this.inventory.push(p.record as MineInventoryRecord);
          break;
        case 'rail':
          this.rail.push(p.record as RailRecord);
          break;
        case 'highway':
          this.highway.push(p.record as HighwayRecord);
          break;
        case 'ports':
          this.ports.push(p.record as PortRecord);
          break;
        case 'coal_users':
          this.users.push(p.record as CoalUserRecord);
          break;
        default:
          break;
      }
    }
  }

  private addSale(s: SaleRecord, tooLate: boolean) {
    this.salesList.push(s);
    if (tooLate) this.tooLate.add(s.recordId);
    const ev = t(s.grossTime);
    const local = new Date(ev + TZ);
    const month = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), 1) - TZ;
    const year = Date.UTC(local.getUTCFullYear(), 0, 1) - TZ;
    const scopes: [string, string][] = [
      ['mine', s.mineId],
      ['region', s.regionCode],
      ['coal_type', s.coalType],
      ['band', band(s.calorificKcal)],
      ['city', '150600'],
    ];
    const wins: [string, number][] = [
      ['day', day(ev)],
      ['mtd', month],
      ['ytd', year],
    ];
    if (!tooLate) wins.push(['hour', hour(ev)]);
    for (const [scope, id] of scopes) {
      for (const [win, ws] of wins) {
        const k = `${scope}:${id}:${win}:${ws}`;
        const c = this.sales.get(k) ?? { kg: 0, fen: 0, n: 0, companies: new Map() };
        c.kg += kg(s.netT);
        c.fen += fen(s.totalPriceYuan);
        c.n++;
        const co = s.creditCode || s.mineId;
        c.companies.set(co, (c.companies.get(co) ?? 0) + kg(s.netT));
        this.sales.set(k, c);
      }
    }
  }

  cell(scope: string, id: string, win: string, ws: number): Cell | undefined {
    return this.sales.get(`${scope}:${id}:${win}:${ws}`);
  }

  contributors(c: Cell) {
    let top = 0;
    for (const v of c.companies.values()) top = Math.max(top, v);
    return { contributors: c.companies.size, topShare: top / c.kg };
  }

  /** Status and capacity of each mine as of `at` (its last record before). */
  mineAsOf(at: number): Map<string, MineRecord> {
    const m = new Map<string, MineRecord>();
    for (const r of [...this.mines].sort(
      (a, b) => t(a.eventTime) - t(b.eventTime) || (a.recordId < b.recordId ? -1 : 1),
    )) {
      if (t(r.eventTime) < at) m.set(r.mineId, r);
    }
    return m;
  }

  operatingRate(d: number): number {
    const m = [...this.mineAsOf(d + D).values()].filter((r) => r.status !== 'closed');
    return (100 * m.filter((r) => r.status === 'producing' || r.status === 'limited').length) / m.length;
  }

  utilisation(mineId: string, monthStart: number): number {
    const c = this.cell('mine', mineId, 'mtd', monthStart)!;
    let last = monthStart;
    for (let d = monthStart; d < monthStart + 31 * D; d += D)
      if (this.cell('mine', mineId, 'day', d)) last = d;
    const days = (last - monthStart) / D + 1;
    const cap = [...this.mineAsOf(Infinity).values()].find(
      (r) => r.mineId === mineId,
    )!.approvedCapacityTPerYear;
    return (100 * (c.kg / 1000)) / ((cap * days) / 365);
  }

  vwap(scope: string, id: string, win: string, ws: number): number | null {
    const c = this.cell(scope, id, win, ws);
    return c ? c.fen / 100 / (c.kg / 1000) : null;
  }

  priceIndex(d: number, monthStart: number): number | null {
    let num = 0;
    let den = 0;
    for (const b of ['5500', '5000', '4500']) {
      const base = this.cell('band', b, 'mtd', monthStart);
      const p = this.vwap('band', b, 'day', d);
      if (!base || p === null) continue;
      num += (base.kg / 1000) * p;
      den += (base.kg / 1000) * (base.fen / base.kg) * 10;
    }
    return den ? (100 * num) / den : null;
  }

  mineStockEstimate(mineId: string, d: number): number | null {
    const end = d + D;
    const reps = this.inventory
      .filter((r) => r.mineId === mineId && t(r.eventTime) < end)
      .sort((a, b) => t(a.eventTime) - t(b.eventTime));
    const rep = reps.at(-1);
    const sales = this.salesList.filter((s) => s.mineId === mineId);
    const first = Math.min(...sales.map((s) => t(s.grossTime)));
    const t0 = rep ? t(rep.eventTime) : day(first);
    const shipped =
      sales
        .filter((s) => (rep ? t(s.grossTime) > t0 : t(s.grossTime) >= t0) && t(s.grossTime) < end)
        .reduce((x, s) => x + kg(s.netT), 0) / 1000;
    const st = this.mineAsOf(end).get(mineId);
    if (!st) return null;
    const factor = st.status === 'producing' ? 1 : st.status === 'limited' ? 0.5 : 0;
    return Math.max(
      0,
      (rep?.stockT ?? 0) + (st.approvedCapacityTPerYear / 365) * factor * ((end - t0) / D) - shipped,
    );
  }

  daysOfStock(userId: string, d: number): number | null {
    const rows = this.users.filter((u) => u.userId === userId);
    const stock = rows
      .filter((u) => day(t(u.eventTime)) === d)
      .sort((a, b) => t(a.eventTime) - t(b.eventTime))
      .at(-1)?.stockT;
    if (stock === undefined) return null;
    const cons = new Map<number, number>();
    for (const u of rows) {
      const ud = day(t(u.eventTime));
      if (ud > d - 7 * D && ud <= d && u.consumptionT !== undefined)
        cons.set(ud, (cons.get(ud) ?? 0) + kg(u.consumptionT));
    }
    if (!cons.size) return null;
    const avg = [...cons.values()].reduce((a, b) => a + b, 0) / 1000 / cons.size;
    return stock / avg;
  }

  approvalRatio(route: string, direction: string, d: number): number {
    const rs = this.rail.filter(
      (r) =>
        r.period === 'day' &&
        r.route === route &&
        (r.direction ?? '-') === direction &&
        day(t(r.eventTime)) === d,
    );
    return (
      (100 * rs.reduce((a, r) => a + (r.approvedCars ?? 0), 0)) /
      rs.reduce((a, r) => a + (r.requestedCars ?? 0), 0)
    );
  }

  portStock(port: string, d: number): number | undefined {
    return this.ports
      .filter((p) => p.port === port && day(t(p.eventTime)) === d && p.stockT !== undefined)
      .sort((a, b) => t(a.eventTime) - t(b.eventTime))
      .at(-1)?.stockT;
  }

  balance(d: number): { production: number; shipments: number; consumption: number; net: number } {
    const production = (this.cell('city', '150600', 'day', d)?.kg ?? 0) / 1000;
    const rail =
      this.rail
        .filter((r) => r.period === 'day' && day(t(r.eventTime)) === d)
        .reduce((a, r) => a + kg(r.shippedT ?? 0), 0) / 1000;
    const hw =
      this.highway
        .filter((h) => h.direction === 'out' && day(t(h.eventTime)) === d)
        .reduce((a, h) => a + kg(h.tonnageT ?? 0), 0) / 1000;
    const consumption =
      this.users.filter((u) => day(t(u.eventTime)) === d).reduce((a, u) => a + kg(u.consumptionT ?? 0), 0) /
      1000;
    return { production, shipments: rail + hw, consumption, net: production - rail - hw - consumption };
  }

  trailing7(scope: string, id: string, anchor: number): number {
    let s = 0;
    for (let d = anchor - 6 * D; d <= anchor; d += D) s += this.cell(scope, id, 'day', d)?.kg ?? 0;
    return s / 1000;
  }
}
