/**
 * Deterministic traffic generator (pure): the same seed and start time give
 * the same records, whatever the wall clock does. Time advances in one-minute
 * ticks; each tick draws its events from one seeded PRNG in a fixed order.
 *
 * Volumes: ~25% of the city's ~850 Mt/yr leaves by truck over weighbridges
 * (the rest by rail loading stations, reported on the rail feed): ~17,600
 * truck sales a day (~12 a minute, diurnal and weekly profile, winter demand),
 * plus inventories (every 6 h per producing mine), the daily mines snapshot,
 * hourly highway gates, daily rail, ports, coal users and prices: about 20,000
 * records per simulated day, ~140 records/s at `--speed 600`.
 */
import { ORDOS_REGIONS, type FeedName, type ReasonCode } from '../../pipelines/index.ts';
import { createWorld, Rng, STOP_REASONS, TOTAL_CAPACITY_T, type SimMine, type World } from './world.ts';

export interface GeneratorOptions {
  seed: number;
  /** Simulated start, ms since epoch (aligned down to the minute). */
  startTime: number;
  /** Share of deliberately bad records (sales and other feeds), 0..1. Default 0. */
  badShare?: number;
  /** Share of sales re-sent as duplicates, 0..1. Default 0. */
  dupShare?: number;
  /** Share of the output leaving by truck (weighbridge sales). Default 0.25. */
  truckShare?: number;
  /**
   * Emit a snapshot in the first tick: every mine (so sales find their mines) and the daily reports (rail,
   * ports, coal users, prices) as of the start, so every indicator family has data from the first minute
   * instead of after the next report hour. Default true.
   */
  initialSnapshot?: boolean;
}

export interface SimEvent {
  feed: FeedName;
  /** Partition key on the raw topic (the entity). */
  key: string;
  /** The raw record as the city platform would send it: an object, or broken text for decode errors. */
  raw: Record<string, unknown> | string;
  timeMs: number;
  kind: 'good' | 'bad' | 'dup';
  /** For bad records: the reason ingest must give. */
  expectedReason?: ReasonCode;
}

/**
 * Everything a generator changes as it runs, as plain JSON: restoring it into a generator built with the same
 * seed continues exactly where the checkpointed one was, record for record. Plates of the recent sales (kept
 * for re-sent duplicates) are held as the index of their truck in the world, never as plates.
 */
export interface GeneratorCheckpoint {
  v: 1;
  tick: number;
  first: boolean;
  rng: number;
  index: number;
  ar: number;
  shock: number;
  seq: [number, number][];
  recentSales: { key: string; raw: Record<string, unknown>; truck: number }[];
  mines: { status: SimMine['status']; stopReason?: string; resumeDay?: number; stockT: number }[];
  ports: { stockT: number; vessels: number }[];
  users: { stockDays: number }[];
}

const PLATE_FIELDS = ['车牌号', 'plate'];

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const CST = 8 * HOUR;

/** Diurnal profile of truck loadings (sums to 24). */
const HOURLY = [
  0.5, 0.4, 0.35, 0.35, 0.4, 0.6, 0.9, 1.2, 1.4, 1.5, 1.5, 1.45, 1.3, 1.35, 1.45, 1.5, 1.45, 1.35, 1.2, 1.0,
  0.9, 0.8, 0.7, 0.6,
];
const HOURLY_SUM = HOURLY.reduce((a, b) => a + b, 0);

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local (Asia/Shanghai) wall-clock parts. */
function local(ms: number) {
  const d = new Date(ms + CST);
  return {
    y: d.getUTCFullYear(),
    mo: d.getUTCMonth() + 1,
    d: d.getUTCDate(),
    h: d.getUTCHours(),
    mi: d.getUTCMinutes(),
    s: d.getUTCSeconds(),
    dow: d.getUTCDay(),
  };
}
function fmt(ms: number, style: 'dash' | 'slash' | 'iso' = 'dash'): string {
  const t = local(ms);
  if (style === 'slash') return `${t.y}/${t.mo}/${t.d} ${t.h}:${pad(t.mi)}`;
  if (style === 'iso') return `${t.y}-${pad(t.mo)}-${pad(t.d)}T${pad(t.h)}:${pad(t.mi)}:${pad(t.s)}+08:00`;
  return `${t.y}-${pad(t.mo)}-${pad(t.d)} ${pad(t.h)}:${pad(t.mi)}:${pad(t.s)}`;
}
function ymd(ms: number): string {
  const t = local(ms);
  return `${t.y}${pad(t.mo)}${pad(t.d)}`;
}
function dateOnly(ms: number): string {
  const t = local(ms);
  return `${t.y}-${pad(t.mo)}-${pad(t.d)}`;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export class Generator {
  readonly world: World;
  private rng: Rng;
  private tick: number;
  private readonly badShare: number;
  private readonly dupShare: number;
  private readonly truckShare: number;
  private first: boolean;
  /** Price index for 5500 kcal pithead coal, yuan/t, updated daily. */
  private index = 560;
  private ar = 0;
  private shock = 0;
  private seq = new Map<number, number>();
  private recentSales: { key: string; raw: Record<string, unknown> }[] = [];

  constructor(opts: GeneratorOptions) {
    this.world = createWorld(opts.seed);
    this.rng = new Rng(opts.seed);
    this.tick = Math.floor(opts.startTime / MIN);
    this.badShare = opts.badShare ?? 0;
    this.dupShare = opts.dupShare ?? 0;
    this.truckShare = opts.truckShare ?? 0.25;
    this.first = opts.initialSnapshot ?? true;
  }

  /** The generator's state now (see GeneratorCheckpoint). */
  checkpoint(): GeneratorCheckpoint {
    const w = this.world;
    const truckOf = new Map(w.trucks.map((t, i) => [t.plate, i]));
    return {
      v: 1,
      tick: this.tick,
      first: this.first,
      rng: this.rng.state,
      index: this.index,
      ar: this.ar,
      shock: this.shock,
      seq: [...this.seq.entries()],
      recentSales: this.recentSales.map((r) => {
        const raw = { ...r.raw };
        let truck = -1;
        for (const f of PLATE_FIELDS)
          if (f in raw) {
            truck = truckOf.get(String(raw[f])) ?? -1;
            raw[f] = null;
          }
        return { key: r.key, raw, truck };
      }),
      mines: w.mines.map((m) => ({
        status: m.status,
        stopReason: m.stopReason,
        resumeDay: m.resumeDay,
        stockT: m.stockT,
      })),
      ports: w.ports.map((p) => ({ stockT: p.stockT, vessels: p.vessels })),
      users: w.users.map((u) => ({ stockDays: u.stockDays })),
    };
  }

  /** Continues from a checkpoint of a generator built with the same seed. */
  restore(cp: GeneratorCheckpoint): this {
    const w = this.world;
    if (
      cp.v !== 1 ||
      cp.mines.length !== w.mines.length ||
      cp.ports.length !== w.ports.length ||
      cp.users.length !== w.users.length
    ) {
      throw new RangeError(
        '模拟器检查点与当前世界不符 / simulator checkpoint does not match this world (another seed or version)',
      );
    }
    this.tick = cp.tick;
    this.first = cp.first;
    this.rng.state = cp.rng;
    this.index = cp.index;
    this.ar = cp.ar;
    this.shock = cp.shock;
    this.seq = new Map(cp.seq);
    this.recentSales = cp.recentSales.map((r) => {
      const raw = { ...r.raw };
      for (const f of PLATE_FIELDS) if (f in raw) raw[f] = w.trucks[r.truck]?.plate ?? '';
      return { key: r.key, raw };
    });
    cp.mines.forEach((m, i) => {
      const t = w.mines[i]!;
      t.status = m.status;
      t.stockT = m.stockT;
      if (m.stopReason === undefined) delete t.stopReason;
      else t.stopReason = m.stopReason;
      if (m.resumeDay === undefined) delete t.resumeDay;
      else t.resumeDay = m.resumeDay;
    });
    cp.ports.forEach((p, i) => Object.assign(w.ports[i]!, p));
    cp.users.forEach((u, i) => Object.assign(w.users[i]!, u));
    return this;
  }

  /** Simulated time reached (start of the next tick), ms. */
  get now(): number {
    return this.tick * MIN;
  }

  /** Generates every complete one-minute tick up to `toMs`. */
  advance(toMs: number): SimEvent[] {
    const out: SimEvent[] = [];
    while ((this.tick + 1) * MIN <= toMs) {
      this.step(this.tick * MIN, out);
      this.tick++;
    }
    return out;
  }

  /** Seasonal demand factor: winter peak (mid-January), summer secondary peak. */
  private season(ms: number): number {
    const doy = (ms / DAY) % 365.25;
    return (
      1 +
      0.08 * Math.cos((2 * Math.PI * (doy - 15)) / 365.25) +
      0.02 * Math.cos((4 * Math.PI * (doy - 200)) / 365.25)
    );
  }

  private weekly(ms: number): number {
    const dow = local(ms).dow;
    return dow === 0 ? 0.92 : dow === 6 ? 0.96 : 1.02;
  }

  /** Pithead price of a mine's coal today, yuan/t (kept in 400..700). */
  pithead(m: { kcal: number; priceFactor?: number }, ms: number): number {
    const weekend = local(ms).dow === 0 || local(ms).dow === 6 ? 0.995 : 1;
    const p = this.index * (m.kcal / 5500) ** 1.3 * (m.priceFactor ?? 1) * weekend;
    return Math.round(Math.min(700, Math.max(400, p)));
  }

  private newDay(ms: number, out: SimEvent[]): void {
    const rng = this.rng;
    // Price index: mean-reverting noise, slow trend, winter premium, occasional shocks.
    this.ar = 0.97 * this.ar + rng.normal(0, 0.006);
    if (rng.chance(1 / 90)) this.shock += (rng.chance(0.5) ? 1 : -1) * rng.range(0.05, 0.1);
    this.shock *= 0.9;
    const years = ms / (365.25 * DAY);
    const trend = 1 + 0.05 * Math.sin((2 * Math.PI * years) / 2);
    const winter = 1 + 0.06 * Math.cos((2 * Math.PI * (((ms / DAY) % 365.25) - 15)) / 365.25);
    this.index = 560 * trend * winter * (1 + this.ar + this.shock);

    // Mine status changes: stops (inspections, accidents), resumptions.
    const dayNo = Math.floor((ms + CST) / DAY);
    for (const m of this.world.mines) {
      if (m.status === 'producing' && rng.chance(0.002)) {
        m.status = rng.chance(0.3) ? 'limited' : 'stopped';
        m.stopReason = m.status === 'limited' ? '超产核查，按核定产能 80% 限产' : rng.pick(STOP_REASONS);
        m.resumeDay = dayNo + rng.int(3, 20);
      } else if (
        (m.status === 'stopped' || m.status === 'limited') &&
        m.resumeDay !== undefined &&
        dayNo >= m.resumeDay
      ) {
        m.status = 'producing';
        m.stopReason = undefined;
        m.resumeDay = undefined;
      }
    }
    for (const m of this.world.mines) out.push(this.mineEvent(m, ms));
  }

  private mineFactor(m: SimMine): number {
    return m.status === 'producing' ? 1 : m.status === 'limited' ? 0.8 : 0;
  }

  private step(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    const lt = local(t);
    const first = this.first;
    if (first || (lt.h === 0 && lt.mi === 0)) {
      this.newDay(t, out);
      this.first = false;
    }

    // Truck sales over the weighbridges.
    const dailyLoads = (TOTAL_CAPACITY_T * this.truckShare) / 365 / 33;
    const lambda = ((dailyLoads * HOURLY[lt.h]!) / HOURLY_SUM / 60) * this.weekly(t) * this.season(t);
    const n = rng.poisson(lambda);
    for (let i = 0; i < n; i++) this.sale(t + rng.int(0, 59_999), out);

    if (lt.mi === 30 && lt.h % 6 === 0) this.inventories(t, out);
    if (lt.mi === 0) this.highway(t, out);
    // A daily report is due at its hour; the first tick also gives the last one made before the start.
    const due = (h: number) =>
      lt.h === h && lt.mi === 0 ? t : first ? t - ((lt.h - h + 24) % 24) * HOUR - lt.mi * MIN : null;
    const rail = due(6);
    if (rail !== null) this.rail(rail, out);
    if (lt.d === 1 && lt.h === 1 && lt.mi === 0) this.railMonthly(t, out);
    const daily = due(8);
    if (daily !== null) {
      this.ports(daily, out);
      this.users(daily, out);
    }
    const prices = due(9);
    if (prices !== null) this.prices(prices, out);
  }

  private bad(): boolean {
    return this.badShare > 0 && this.rng.chance(this.badShare);
  }

  private mineEvent(m: SimMine, t: number): SimEvent {
    const rng = this.rng;
    const statusText = {
      producing: '在采',
      stopped: '停产',
      limited: '限产',
      construction: '在建',
      renovation: '技改',
    }[m.status];
    const raw: Record<string, unknown> = {
      煤矿名称: m.name,
      企业名称: `内蒙古${m.name.replace(/(露天)?煤矿$/, '')}煤业有限公司`,
      统一社会信用代码: m.creditCode,
      行政区划: m.regionCode,
      生产状态: statusText,
      核定产能: String(m.capacityT / 1e4),
      设计生产能力: String(Math.round((m.capacityT * 0.9) / 1e4)),
      开采方式: m.method,
      原煤低位发热量: m.kcal,
      '煤矿位置(经纬)': `${m.lon},${m.lat}`,
      矿区位置: `内蒙古自治区鄂尔多斯市${ORDOS_REGIONS.find((r) => r.code === m.regionCode)!.name}${m.name.slice(0, 2)}镇`,
      矿长姓名: `${rng.pick(['王', '李', '张', '刘'])}${rng.pick(['建军', '志刚', '海峰', '红旗'])}`,
      矿长移动电话: `13${rng.int(100000000, 999999999)}`,
      操作时间: fmt(t),
    };
    if (m.stopReason) raw['停产/限产原因'] = m.stopReason;
    if (m.resumeDay !== undefined) raw['预计复工时间'] = dateOnly(m.resumeDay * DAY);
    return { feed: 'mines', key: m.creditCode, raw, timeMs: t, kind: 'good' };
  }

  private sale(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    const w = this.world;
    // Dupes re-send a recent sale unchanged (same 销售编号).
    if (this.dupShare > 0 && this.recentSales.length && rng.chance(this.dupShare)) {
      const d = rng.pick(this.recentSales);
      out.push({ feed: 'sales', key: d.key, raw: structuredClone(d.raw), timeMs: t, kind: 'dup' });
      return;
    }
    const yard = rng.chance(0.1);
    const site = yard ? rng.pick(w.yards) : rng.weighted(w.mines, (m) => m.capacityT * this.mineFactor(m));
    if (!yard && this.mineFactor(site as SimMine) === 0) return;
    const truck = rng.pick(w.trucks);
    const net = round(rng.range(30, 35), 2);
    const gross = round(truck.tareT + net, 2);
    const price = Math.round(this.pithead(site as SimMine, t) * (1 + rng.normal(0, 0.01)));
    const unit = Math.min(700, Math.max(400, price));
    const total = round(unit * net, 2);
    const tareMs = t - rng.int(15, 75) * MIN;
    const customer = rng.pick(w.customers);
    const dest = rng.weighted(w.destinations, (d) => d.weight).name;
    const idx = yard ? 900 + w.yards.indexOf(site as never) : (site as SimMine).idx;
    const s = (this.seq.get(idx) ?? 0) + 1;
    this.seq.set(idx, s);
    const saleId = `XS${ymd(t)}${pad(idx, 3)}${pad(s % 100000, 5)}`;
    let raw: Record<string, unknown>;
    const style = rng.next();
    if (yard) {
      // 全市煤场运销信息: no 销售编号; 入矿/出矿时间.
      raw = {
        提供企业名称: site.name,
        统一社会信用代码: site.creditCode,
        行政区划: site.regionCode,
        煤种: site.coalType,
        煤类: '动力煤',
        发热量: site.kcal,
        毛重: gross,
        皮重: truck.tareT,
        净重: net,
        单价: unit,
        车牌号: truck.plate,
        客户名称: customer,
        运往地: dest,
        入矿时间: fmt(tareMs),
        出矿时间: fmt(t),
      };
    } else if (style < 0.7) {
      // 煤矿运销信息 (some exports in kilograms, some with slash dates or region names).
      const kg = rng.chance(0.05);
      raw = {
        销售编号: saleId,
        行政区划: rng.chance(0.8)
          ? site.regionCode
          : ORDOS_REGIONS.find((r) => r.code === site.regionCode)!.name,
        企业名称: site.name,
        统一社会信用代码: site.creditCode,
        煤种名称: site.coalType,
        发热量: `${site.kcal}大卡`,
        ...(kg
          ? {
              '毛重(kg)': Math.round(gross * 1000),
              '皮重(kg)': Math.round(truck.tareT * 1000),
              '净重(kg)': Math.round(net * 1000),
            }
          : { 毛重: gross, 皮重: truck.tareT, 净重: net }),
        单价: unit,
        总价: total.toLocaleString('en-US'),
        客户名称: customer,
        运往地: dest,
        车牌号: truck.plate,
        过空时间: fmt(tareMs, rng.chance(0.2) ? 'slash' : 'dash'),
        过重时间: fmt(t),
      };
    } else if (style < 0.85) {
      // 销售明细表: 所属机构.
      raw = {
        销售编号: saleId,
        所属机构: site.name,
        统一社会信用代码: site.creditCode,
        行政区划: site.regionCode,
        煤种名称: site.coalType,
        毛重: String(gross),
        皮重: String(truck.tareT),
        净重: String(net),
        单价: String(unit),
        总价: String(total),
        客户名称: customer,
        运往地: dest,
        车牌号: truck.plate,
        过空时间: fmt(tareMs),
        过重时间: fmt(t),
      };
    } else {
      raw = {
        saleId,
        mineName: site.name,
        creditCode: site.creditCode,
        regionCode: site.regionCode,
        coalType: site.coalType,
        calorificKcal: site.kcal,
        grossT: gross,
        tareT: truck.tareT,
        netT: net,
        unitPriceYuanPerT: unit,
        totalPriceYuan: total,
        customer,
        destination: dest,
        plate: truck.plate,
        tareTime: fmt(tareMs, 'iso'),
        grossTime: fmt(t, 'iso'),
      };
    }
    const key = site.creditCode;
    if (this.bad()) {
      const b = this.corruptSale(raw, t);
      out.push({ feed: 'sales', key, raw: b.raw, timeMs: t, kind: 'bad', expectedReason: b.reason });
      return;
    }
    if (!yard) {
      this.recentSales.push({ key, raw });
      if (this.recentSales.length > 200) this.recentSales.shift();
    }
    out.push({ feed: 'sales', key, raw, timeMs: t, kind: 'good' });
  }

  private corruptSale(
    raw: Record<string, unknown>,
    t: number,
  ): { raw: Record<string, unknown> | string; reason: ReasonCode } {
    const rng = this.rng;
    const r = { ...raw };
    const netKey = Object.keys(r).find((k) => /^(净重|netT)/.test(k))!;
    const grossKey = Object.keys(r).find((k) => /^(毛重|grossT)/.test(k))!;
    const tareTimeKey = Object.keys(r).find((k) => /^(过空时间|入矿时间|tareTime)$/.test(k))!;
    const grossTimeKey = Object.keys(r).find((k) => /^(过重时间|出矿时间|grossTime)$/.test(k))!;
    const priceKey = Object.keys(r).find((k) => /^(单价|unitPriceYuanPerT)$/.test(k))!;
    const totalKey = Object.keys(r).find((k) => /^(总价|totalPriceYuan)$/.test(k));
    const regionKey = Object.keys(r).find((k) => /^(行政区划|regionCode)$/.test(k))!;
    const kg = netKey.includes('kg');
    const unit = kg ? 1000 : 1;
    switch (rng.int(0, 7)) {
      case 0:
        r[netKey] = Math.round((Number(String(r[netKey])) + 2 * unit) * 100) / 100;
        return { raw: r, reason: 'net_mismatch' };
      case 1:
        [r[tareTimeKey], r[grossTimeKey]] = [fmt(t + 40 * MIN), fmt(t)];
        return { raw: r, reason: 'tare_after_gross' };
      case 2:
        r[netKey] = 120 * unit;
        r[grossKey] = 136 * unit;
        return { raw: r, reason: 'weight_implausible' };
      case 3:
        r[priceKey] = 9999;
        if (totalKey) delete r[totalKey];
        return { raw: r, reason: 'price_out_of_band' };
      case 4:
        r[regionKey] = '150699';
        return { raw: r, reason: 'region_unknown' };
      case 5:
        r[grossTimeKey] = '昨天下午三点';
        return { raw: r, reason: 'invalid_time' };
      // A clock set decades ahead: in the future whatever the wall clock (history replays included).
      case 6:
        r[tareTimeKey] = fmt(t + 50 * 365 * DAY - HOUR);
        r[grossTimeKey] = fmt(t + 50 * 365 * DAY);
        return { raw: r, reason: 'future_time' };
      default:
        return { raw: JSON.stringify(raw).slice(0, 40), reason: 'decode_error' };
    }
  }

  private inventories(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    for (const m of this.world.mines) {
      if (m.status === 'construction') continue;
      const daily = m.capacityT / 365;
      m.stockT = Math.max(
        0,
        Math.round(
          m.stockT +
            daily * (this.mineFactor(m) * 0.25 - 0.25 + rng.normal(0, 0.3)) +
            (daily * 6 - m.stockT) * 0.05,
        ),
      );
      out.push({
        feed: 'mine_inventory',
        key: m.creditCode,
        timeMs: t,
        kind: 'good',
        raw: {
          煤矿名称: m.name,
          统一社会信用代码: m.creditCode,
          行政区划: m.regionCode,
          场地库存量: m.stockT,
          库存煤种: m.coalType,
          发热量: m.kcal + rng.int(-80, 80),
          全硫: m.sulfurPct,
          灰分: m.ashPct,
          统计时间: fmt(t),
        },
      });
    }
  }

  private highway(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    const h = local(t).h;
    const loadsPerHour =
      (((TOTAL_CAPACITY_T * this.truckShare) / 365 / 33) * HOURLY[(h + 23) % 24]!) / HOURLY_SUM;
    for (const gate of this.world.gates) {
      for (const dir of ['出', '入'] as const) {
        const trucks = Math.max(
          0,
          Math.round(
            (loadsPerHour / this.world.gates.length) *
              (dir === '出' ? 1 : 0.9) *
              rng.range(0.7, 1.3) *
              this.season(t),
          ),
        );
        const congestion = round(1 + (trucks / 180) ** 2 * 2 + rng.range(0, 0.3), 2);
        out.push({
          feed: 'highway',
          key: gate,
          timeMs: t,
          kind: 'good',
          raw: {
            出入口: gate,
            方向: dir,
            货车流量: trucks,
            运量: dir === '出' ? Math.round(trucks * 48.5) : Math.round(trucks * 16),
            拥堵指数: congestion,
            统计时长: '60',
            统计时间: fmt(t),
          },
        });
      }
    }
  }

  private rail(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    const railDaily = ((TOTAL_CAPACITY_T * (1 - this.truckShare)) / 365) * this.season(t);
    for (const r of this.world.routes) {
      const shipped = Math.round(railDaily * r.shareOfRail * rng.range(0.85, 1.1));
      const approved = Math.round(shipped / 70);
      const requested = Math.round(approved * rng.range(1.0, 1.25));
      const raw: Record<string, unknown> = rng.chance(0.5)
        ? {
            线路: r.route,
            流向: r.direction,
            请车数: requested,
            批车数: approved,
            日发运量: shipped,
            在途量: Math.round(shipped * rng.range(1.2, 2)),
            日期: dateOnly(t),
          }
        : {
            route: r.route,
            direction: r.direction,
            period: 'day',
            requestedCars: requested,
            approvedCars: approved,
            shippedT: shipped,
            routeCapacityT: Math.round(shipped * 1.25),
            eventTime: fmt(t, 'iso'),
          };
      if (this.bad()) {
        raw[raw['日期'] ? '日期' : 'eventTime'] = '2025-13-45';
        out.push({ feed: 'rail', key: r.route, raw, timeMs: t, kind: 'bad', expectedReason: 'invalid_time' });
      } else {
        out.push({ feed: 'rail', key: r.route, raw, timeMs: t, kind: 'good' });
      }
      if (r.port) {
        const p = this.world.ports.find((x) => x.port === r.port)!;
        p.stockT += shipped * 0.9;
      }
    }
  }

  private railMonthly(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    const prev = local(t - DAY);
    const routes = [...new Set(this.world.routes.map((r) => r.route))];
    routes.forEach((route, i) => {
      const share = this.world.routes.filter((r) => r.route === route).reduce((a, r) => a + r.shareOfRail, 0);
      const coal = Math.round((((TOTAL_CAPACITY_T * (1 - this.truckShare)) / 12) * share) / 1e4);
      const other = Math.round(coal * rng.range(0.03, 0.1));
      out.push({
        feed: 'rail',
        key: route,
        timeMs: t,
        kind: 'good',
        raw: {
          序号: i + 1,
          境内铁路: route,
          年份: prev.y,
          月份: prev.mo,
          '煤炭(万吨)': coal,
          '其它(万吨)': other,
          合计: coal + other,
          发运旅客人数: 0,
          备注: '',
        },
      });
    });
  }

  private ports(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    const hua = this.pithead({ kcal: 5500 }, t);
    for (const p of this.world.ports) {
      // Stocks draw down towards winter and revert to their mean.
      p.stockT = Math.max(
        p.meanStockT * 0.4,
        p.stockT +
          (p.meanStockT * (2 - this.season(t)) - p.stockT) * 0.1 +
          rng.normal(0, p.meanStockT * 0.02),
      );
      p.vessels = Math.max(
        0,
        Math.round(p.vessels + rng.normal(0, 3) + (p.kind === 'platform' ? 0 : (this.season(t) - 1) * 20)),
      );
      const fob = Math.round(hua + 230 + rng.normal(0, 8));
      const raw: Record<string, unknown> = {
        港口: p.port,
        类型: { port: '港口', platform: '站台', receiving: '接卸港' }[p.kind],
        场存: Math.round(p.stockT),
        日期: dateOnly(t),
      };
      if (p.kind === 'port')
        Object.assign(raw, {
          平仓价: fob,
          煤种: '5500动力煤',
          发热量: 5500,
          待港船舶: p.vessels,
          海运运价: round(25 + 20 * (this.season(t) - 0.9) + rng.normal(0, 2), 1),
          航线: `${p.port}-广州`,
        });
      if (p.kind === 'receiving')
        Object.assign(raw, {
          进口煤量: Math.round(rng.range(2e5, 5e5)),
          进口煤价: Math.round(fob * rng.range(0.9, 1.05)),
          待港船舶: p.vessels,
        });
      if (p.kind === 'platform') Object.assign(raw, { 平仓价: Math.round(hua + 40) });
      out.push({ feed: 'ports', key: p.port, raw, timeMs: t, kind: 'good' });
    }
  }

  private users(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    for (const u of this.world.users) {
      const burn = Math.round(u.dailyBurnT * this.season(t) * rng.range(0.9, 1.1));
      // Days of stock wander in 15..30 for power plants, lower in winter.
      u.stockDays = Math.min(
        u.sector === 'power' ? 30 : 25,
        Math.max(
          u.sector === 'power' ? 15 : 8,
          u.stockDays + rng.normal(0, 0.6) - (this.season(t) - 1) * 0.5,
        ),
      );
      const stock = Math.round(u.stockDays * burn);
      const raw: Record<string, unknown> = {
        企业名称: u.name,
        统一社会信用代码: u.creditCode,
        行业: { power: '电力', building_materials: '建材', chemicals: '化工' }[u.sector],
        行政区划: u.regionCode,
        入库量: Math.round(burn * rng.range(0.85, 1.15)),
        日耗: burn,
        库存: stock,
        日期: dateOnly(t),
      };
      if (u.sector === 'power') raw['电负荷'] = Math.round(u.capacityMw * rng.range(0.55, 0.9));
      if (this.bad()) {
        raw['行政区划'] = '991234';
        out.push({
          feed: 'coal_users',
          key: u.creditCode,
          raw,
          timeMs: t,
          kind: 'bad',
          expectedReason: 'region_unknown',
        });
      } else {
        out.push({ feed: 'coal_users', key: u.creditCode, raw, timeMs: t, kind: 'good' });
      }
    }
  }

  private prices(t: number, out: SimEvent[]): void {
    const rng = this.rng;
    // Pithead quotes of every tenth mine (a published panel), 神华外购价 at 巴图塔 and 黄骅港.
    for (const m of this.world.mines) {
      if (m.idx % 10 !== 0) continue;
      out.push({
        feed: 'prices',
        key: `pithead:${m.creditCode}`,
        timeMs: t,
        kind: 'good',
        raw: {
          煤矿名称: m.name,
          统一社会信用代码: m.creditCode,
          煤种: m.coalType,
          发热量: m.kcal,
          坑口价: this.pithead(m, t),
          日期: fmt(t),
        },
      });
    }
    const base = this.pithead({ kcal: 5500 }, t);
    out.push({
      feed: 'prices',
      key: 'shenhua_batuta:巴图塔',
      timeMs: t,
      kind: 'good',
      raw: { 神华外购价巴图塔: base + 25, 煤种: '5500动力煤', 发热量: 5500, 日期: fmt(t) },
    });
    out.push({
      feed: 'prices',
      key: 'shenhua_huanghua:黄骅港',
      timeMs: t,
      kind: 'good',
      raw: {
        神华外购价黄骅港: base + 235 + Math.round(rng.normal(0, 5)),
        煤种: '5500动力煤',
        发热量: 5500,
        日期: fmt(t),
      },
    });
    const lt = local(t);
    if (lt.d === 1) {
      const prev = local(t - DAY);
      out.push({
        feed: 'prices',
        key: 'monthly:',
        timeMs: t,
        kind: 'good',
        raw: { 年份: prev.y, 月份: prev.mo, 价格: Math.round(this.index) },
      });
      if (lt.mo === 1)
        out.push({
          feed: 'prices',
          key: 'annual:',
          timeMs: t,
          kind: 'good',
          raw: { 年份: prev.y, 价格: Math.round(this.index) },
        });
    }
  }
}

/** All events of a simulated interval (tests, bench, demos). */
export function simulate(opts: GeneratorOptions, toMs: number): SimEvent[] {
  return new Generator(opts).advance(toMs);
}
