/**
 * Contract validation and domain rules: mapped source values in, a canonical
 * record (before desensitization) plus the personal source values out, or a
 * ValidationError with a stable reason. Pure: time and the keyed hash come in
 * through the context.
 */
import { ValidationError } from '../../infra/core/index.ts';
import type {
  CoalUserRecord,
  FeedName,
  FeedRecordMap,
  HighwayRecord,
  MineInventoryRecord,
  MineRecord,
  MineStatus,
  PortRecord,
  PriceRecord,
  RailRecord,
  SaleRecord,
} from './types.ts';
import { MONTH_FIELD, TIME_FIELD, YEAR_FIELD, type Mapped } from './aliases.ts';
import { PERSONAL_FIELDS } from './fields.ts';
import {
  cleanText,
  parseMonthMs,
  parseNumber,
  parseTimeMs,
  toDateCst,
  toIsoCst,
  type NumberKind,
} from './parse.ts';
import { regionInText, resolveChinaRegion, resolveOrdosRegion } from './regions.ts';
import type { ReasonCode } from './reasons.ts';

/** Plausibility limits. Units in the names; every rejection names the limit it broke. */
export const LIMITS = {
  /** How far an event time may lie ahead of the receiving clock. */
  futureSkewMs: 5 * 60_000,
  /** Oldest event time accepted (2000-01-01 +08:00). */
  minTimeMs: Date.UTC(1999, 11, 31, 16),
  /** A truck's net load: well under 100 t. */
  netMaxT: 80,
  grossMaxT: 120,
  tareMinT: 2,
  tareMaxT: 45,
  /** |net - (gross - tare)| tolerated (weighbridge rounding). */
  netToleranceT: 0.05,
  /** Coal prices (pithead, sales, FOB, import): yuan per t. */
  priceMinYuanPerT: 100,
  priceMaxYuanPerT: 3000,
  freightMinYuanPerT: 5,
  freightMaxYuanPerT: 500,
  /** |total - unit x net| tolerated: the larger of 1 yuan and this share. */
  totalToleranceShare: 0.005,
  calorificMinKcal: 2000,
  calorificMaxKcal: 8000,
  capacityMinTPerYear: 10_000,
  capacityMaxTPerYear: 100_000_000,
  stockMaxT: 100_000_000,
  congestionMax: 20,
} as const;

export interface ValidateContext {
  nowMs: number;
  /** When the record reached ingest; event time of snapshot feeds that carry none. */
  receivedAtMs: number;
  /** Keyed hash (HMAC) for ids derived from content: raw values never leave in an id. */
  hashId(text: string): string;
  /** Region of a mine known from earlier records (煤矿基本信息), for sales rows without 行政区划. */
  regionOfMine?(mineId: string): string | undefined;
}

export interface Validated<F extends FeedName = FeedName> {
  feed: F;
  record: FeedRecordMap[F];
  /** Personal source values (plate, customer, …) for the desensitizer; never forwarded as they are. */
  personal: Record<string, string>;
}

function fail(reason: ReasonCode, zh: string, en: string, field?: string): never {
  throw new ValidationError(reason, `${zh} / ${en}`, { context: field ? { field } : {} });
}

class Reader {
  constructor(
    readonly feed: FeedName,
    readonly m: Mapped,
    readonly ctx: ValidateContext,
  ) {}

  has(name: string): boolean {
    return name in this.m.values;
  }

  str(name: string, required: true): string;
  str(name: string, required?: false): string | undefined;
  str(name: string, required = false): string | undefined {
    const v = this.m.values[name];
    const s = v === undefined ? '' : cleanText(v);
    if (!s) {
      if (required) fail('missing_field', `缺少字段 ${name}`, `missing field ${name}`, name);
      return undefined;
    }
    return s;
  }

  num(name: string, kind: NumberKind, required: true): number;
  num(name: string, kind: NumberKind, required?: false): number | undefined;
  num(name: string, kind: NumberKind, required = false): number | undefined {
    const v = this.m.values[name];
    if (v === undefined) {
      if (required) fail('missing_field', `缺少字段 ${name}`, `missing field ${name}`, name);
      return undefined;
    }
    return parseNumber(v, kind, name);
  }

  timeMs(name: string, required: true): number;
  timeMs(name: string, required?: false): number | undefined;
  timeMs(name: string, required = false): number | undefined {
    const v = this.m.values[name];
    if (v === undefined) {
      if (required) fail('missing_field', `缺少字段 ${name}`, `missing field ${name}`, name);
      return undefined;
    }
    return this.checkTime(name, parseTimeMs(v), v);
  }

  checkTime(name: string, ms: number | null, raw: unknown): number {
    const shown = String(raw instanceof Date ? raw.toISOString() : raw).slice(0, 40);
    if (ms === null || Number.isNaN(ms))
      fail('invalid_time', `字段 ${name} 时间无法解析（${shown}）`, `${name} is not a time (${shown})`, name);
    if (ms < LIMITS.minTimeMs)
      fail(
        'invalid_time',
        `字段 ${name} 早于 2000 年（${shown}）`,
        `${name} is before 2000 (${shown})`,
        name,
      );
    if (ms > this.ctx.nowMs + LIMITS.futureSkewMs) {
      fail(
        'future_time',
        `字段 ${name} 晚于当前时间超过 ${LIMITS.futureSkewMs / 60000} 分钟（${shown}）`,
        `${name} is more than ${LIMITS.futureSkewMs / 60000} min in the future (${shown})`,
        name,
      );
    }
    return ms;
  }

  /** Event time from the generic time columns, or year/month columns, or the receiving time. */
  eventTimeMs(opts: { fallbackReceived: boolean }): number {
    if (this.has(TIME_FIELD))
      return this.checkTime('eventTime', parseTimeMs(this.m.values[TIME_FIELD]), this.m.values[TIME_FIELD]);
    if (this.has('eventTime')) return this.timeMs('eventTime', true);
    if (this.has(YEAR_FIELD) || this.has(MONTH_FIELD)) {
      const ms = parseMonthMs(this.m.values[YEAR_FIELD], this.m.values[MONTH_FIELD]);
      return this.checkTime(
        'eventTime',
        ms,
        `${String(this.m.values[YEAR_FIELD] ?? '')}-${String(this.m.values[MONTH_FIELD] ?? '')}`,
      );
    }
    if (opts.fallbackReceived) return this.ctx.receivedAtMs;
    return fail(
      'missing_field',
      '缺少事件时间（时间/日期/年份月份）',
      'missing event time (time, date, or year and month)',
      'eventTime',
    );
  }

  /** Stable record id: the source's own id, else a keyed hash of the mapped content. */
  recordId(preferred?: string): string {
    const own = this.str('recordId') ?? preferred;
    if (own) return own;
    const parts = Object.entries(this.m.values)
      .map(([k, v]) => `${k}=${cleanText(v)}`)
      .sort();
    const ext = Object.entries(this.m.ext)
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    return `h:${this.ctx.hashId(`${this.feed}\n${parts.join('\n')}\n${ext.join('\n')}`)}`;
  }

  personal(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of PERSONAL_FIELDS) {
      const s = this.str(f.name);
      if (s) out[f.name] = s;
    }
    return out;
  }

  ext(): Record<string, string> | undefined {
    return Object.keys(this.m.ext).length ? { ...this.m.ext } : undefined;
  }

  creditCode(): string | undefined {
    const s = this.str('creditCode')?.toUpperCase().replace(/\s+/g, '');
    if (s === undefined) return undefined;
    if (!/^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/.test(s)) {
      fail(
        'invalid_value',
        '统一社会信用代码格式无效（应为 18 位）',
        'creditCode is not an 18-character unified social credit code',
        'creditCode',
      );
    }
    return s;
  }

  /** Enterprise id: explicit, else the credit code, else `name:` + the normalized name. */
  entityId(idField: string, name: string | undefined, credit: string | undefined): string {
    const own = this.str(idField);
    if (own) return own;
    if (credit) return credit;
    if (name) return `name:${name.normalize('NFKC').replace(/\s+/g, '')}`;
    return fail(
      'missing_field',
      `缺少 ${idField}（或名称/统一社会信用代码）`,
      `missing ${idField} (or a name or credit code)`,
      idField,
    );
  }

  ordosRegion(
    mineId: string | undefined,
    nameForInference: string | undefined,
    required: boolean,
  ): string | undefined {
    const raw = this.str('regionCode');
    if (raw !== undefined) {
      const code = resolveOrdosRegion(raw);
      if (!code)
        fail(
          'region_unknown',
          `行政区划“${raw.slice(0, 30)}”不是鄂尔多斯的旗区`,
          `region "${raw.slice(0, 30)}" is not an Ordos county-level division`,
          'regionCode',
        );
      return code;
    }
    const inferred =
      (nameForInference && regionInText(nameForInference)) || (mineId && this.ctx.regionOfMine?.(mineId));
    if (inferred) return inferred;
    if (!required) return undefined;
    return fail(
      'region_unknown',
      '缺少行政区划，且无法从企业名称或煤矿基本信息推断',
      'no region given and none known for this mine (name or mines feed)',
      'regionCode',
    );
  }

  range(
    name: string,
    v: number | undefined,
    min: number,
    max: number,
    reason: ReasonCode = 'value_out_of_range',
  ): void {
    if (v === undefined) return;
    if (v < min || v > max)
      fail(
        reason,
        `字段 ${name}=${v} 超出合理范围 ${min}..${max}`,
        `${name}=${v} outside ${min}..${max}`,
        name,
      );
  }

  price(name: string, v: number | undefined): void {
    this.range(name, v, LIMITS.priceMinYuanPerT, LIMITS.priceMaxYuanPerT, 'price_out_of_band');
  }

  enumOf<T extends string>(name: string, table: [RegExp, T][], fallback?: T): T {
    const s = this.str(name);
    if (s === undefined) {
      if (fallback !== undefined) return fallback;
      return fail('missing_field', `缺少字段 ${name}`, `missing field ${name}`, name);
    }
    for (const [re, v] of table) if (re.test(s)) return v;
    return fail(
      'invalid_value',
      `字段 ${name} 的取值“${s.slice(0, 20)}”不被接受`,
      `${name} value "${s.slice(0, 20)}" not accepted`,
      name,
    );
  }
}

function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

function sales(r: Reader): SaleRecord {
  const grossIn = r.num('grossT', 'weight');
  const tareIn = r.num('tareT', 'weight');
  const netIn = r.num('netT', 'weight');
  const given = [grossIn, tareIn, netIn].filter((x) => x !== undefined).length;
  if (given < 2)
    fail(
      'missing_field',
      '毛重、皮重、净重至少需要两项',
      'at least two of gross, tare and net weight are required',
      grossIn === undefined ? 'grossT' : 'netT',
    );
  const gross = grossIn ?? round(tareIn! + netIn!);
  const tare = tareIn ?? round(gross - netIn!);
  const net = netIn ?? round(gross - tare);
  for (const [name, v] of [
    ['grossT', gross],
    ['tareT', tare],
    ['netT', net],
  ] as const) {
    if (!(v > 0)) fail('weight_implausible', `${name}=${v} 应为正数`, `${name}=${v} must be positive`, name);
  }
  if (net > LIMITS.netMaxT || gross > LIMITS.grossMaxT) {
    fail(
      'weight_implausible',
      `净重 ${net} t / 毛重 ${gross} t 超出单车上限（净重 ≤ ${LIMITS.netMaxT} t，毛重 ≤ ${LIMITS.grossMaxT} t）；若单位为千克请注明 kg`,
      `net ${net} t / gross ${gross} t above a truck's limit (net <= ${LIMITS.netMaxT} t, gross <= ${LIMITS.grossMaxT} t); write the unit (kg) if the export is in kilograms`,
      'netT',
    );
  }
  if (tare < LIMITS.tareMinT || tare > LIMITS.tareMaxT) {
    fail(
      'weight_implausible',
      `皮重 ${tare} t 超出 ${LIMITS.tareMinT}..${LIMITS.tareMaxT} t`,
      `tare ${tare} t outside ${LIMITS.tareMinT}..${LIMITS.tareMaxT} t`,
      'tareT',
    );
  }
  if (Math.abs(net - (gross - tare)) > LIMITS.netToleranceT + 1e-9) {
    fail(
      'net_mismatch',
      `净重 ${net} ≠ 毛重 ${gross} − 皮重 ${tare}（允差 ${LIMITS.netToleranceT} t）`,
      `net ${net} != gross ${gross} - tare ${tare} (tolerance ${LIMITS.netToleranceT} t)`,
      'netT',
    );
  }
  let unit = r.num('unitPriceYuanPerT', 'price');
  let total = r.num('totalPriceYuan', 'money');
  if (unit === undefined && total === undefined)
    fail('missing_field', '缺少单价和总价', 'missing unit and total price', 'unitPriceYuanPerT');
  unit ??= round(total! / net, 2);
  total ??= round(unit * net, 2);
  r.price('unitPriceYuanPerT', unit);
  if (Math.abs(total - unit * net) > Math.max(1, total * LIMITS.totalToleranceShare)) {
    fail(
      'total_mismatch',
      `总价 ${total} ≠ 单价 ${unit} × 净重 ${net}`,
      `total ${total} != unit price ${unit} x net ${net}`,
      'totalPriceYuan',
    );
  }
  const tareMs = r.timeMs('tareTime', true);
  const grossMs = r.timeMs('grossTime', true);
  if (tareMs > grossMs)
    fail(
      'tare_after_gross',
      '过空时间晚于过重时间',
      'tare weighing (过空时间) is after gross weighing (过重时间)',
      'tareTime',
    );
  const mineName = r.str('mineName', true);
  const creditCode = r.creditCode();
  const mineId = r.entityId('mineId', mineName, creditCode);
  const kcal = r.num('calorificKcal', 'kcal');
  r.range('calorificKcal', kcal, LIMITS.calorificMinKcal, LIMITS.calorificMaxKcal);
  const siteKind = r.m.yard
    ? 'yard'
    : r.enumOf(
        'siteKind',
        [
          [/^(mine|煤矿)/i, 'mine'],
          [/^(yard|煤场)/i, 'yard'],
        ],
        'mine',
      );
  const saleId = r.str('saleId');
  const recordId = r.recordId(saleId);
  return compact<SaleRecord>({
    recordId,
    eventTime: toIsoCst(grossMs),
    saleId: saleId ?? recordId,
    mineId,
    mineName,
    creditCode,
    siteKind,
    regionCode: r.ordosRegion(mineId, mineName, true)!,
    coalType: r.str('coalType', true),
    calorificKcal: kcal,
    grossT: gross,
    tareT: tare,
    netT: net,
    unitPriceYuanPerT: unit,
    totalPriceYuan: total,
    destination: r.str('destination'),
    tareTime: toIsoCst(tareMs),
    grossTime: toIsoCst(grossMs),
    ext: r.ext(),
  });
}

const STATUS: [RegExp, MineStatus][] = [
  [/^(producing|正常生产|生产|在采|正常|在产)/i, 'producing'],
  [/^(limited|限产)/i, 'limited'],
  [/^(stopped|停产|停工|停止生产|停采)/i, 'stopped'],
  [/^(construction|在建|基建|建设)/i, 'construction'],
  [/^(renovation|技改|改造)/i, 'renovation'],
  [/^(closed|关闭|关停|注销|闭坑)/i, 'closed'],
];

function parseCoord(s: string): { lat: number; lon: number } | null {
  const nums = s
    .normalize('NFKC')
    .match(/-?\d+(?:\.\d+)?/g)
    ?.map(Number);
  if (!nums || nums.length !== 2) return null;
  let [lon, lat] = nums as [number, number];
  if (lon < 60 && lat > 60) [lon, lat] = [lat, lon];
  return { lat, lon };
}

function mines(r: Reader): MineRecord {
  const mineName = r.str('mineName', true);
  const creditCode = r.creditCode();
  const mineId = r.entityId('mineId', mineName, creditCode);
  const design = r.num('designCapacityTPerYear', 'capacity');
  const approved = r.num('approvedCapacityTPerYear', 'capacity') ?? design;
  if (approved === undefined)
    fail(
      'missing_field',
      '缺少核定产能（或设计生产能力）',
      'missing approved (or design) capacity',
      'approvedCapacityTPerYear',
    );
  r.range('approvedCapacityTPerYear', approved, LIMITS.capacityMinTPerYear, LIMITS.capacityMaxTPerYear);
  r.range('designCapacityTPerYear', design, LIMITS.capacityMinTPerYear, LIMITS.capacityMaxTPerYear);
  let lat = r.num('lat', 'number');
  let lon = r.num('lon', 'number');
  const coord = r.str('coordinates');
  if (coord && (lat === undefined || lon === undefined)) {
    const c = parseCoord(coord);
    if (!c)
      fail(
        'invalid_number',
        '煤矿位置（经纬）应为“经度,纬度”',
        'coordinates must be "lon,lat"',
        'coordinates',
      );
    ({ lat, lon } = c);
  }
  r.range('lat', lat, 18, 54);
  r.range('lon', lon, 73, 135);
  // A resume date lies in the future by nature: parsed, not checked against the clock.
  const resumeRaw = r.m.values.expectedResumeDate;
  const resume =
    resumeRaw === undefined
      ? undefined
      : (parseTimeMs(resumeRaw) ??
        fail(
          'invalid_time',
          `预计复工时间无法解析（${String(resumeRaw).slice(0, 30)}）`,
          `expectedResumeDate is not a date (${String(resumeRaw).slice(0, 30)})`,
          'expectedResumeDate',
        ));
  const kcal = r.num('calorificKcal', 'kcal');
  r.range('calorificKcal', kcal, LIMITS.calorificMinKcal, LIMITS.calorificMaxKcal);
  const monthly = r.num('monthlyOutputT', 'stock');
  r.range('monthlyOutputT', monthly, 0, LIMITS.capacityMaxTPerYear);
  const status = r.enumOf('status', STATUS);
  return compact<MineRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(r.eventTimeMs({ fallbackReceived: true })),
    mineId,
    mineName,
    enterpriseName: r.str('enterpriseName'),
    shortName: r.str('shortName'),
    creditCode,
    regionCode: r.ordosRegion(mineId, `${mineName} ${r.str('location') ?? ''}`, true)!,
    status,
    approvedCapacityTPerYear: approved,
    designCapacityTPerYear: design,
    monthlyOutputT: monthly,
    stopReason: r.str('stopReason'),
    expectedResumeDate: resume === undefined ? undefined : toDateCst(resume),
    lat,
    lon,
    location: r.str('location'),
    miningMethod: r.str('miningMethod'),
    calorificKcal: kcal,
    ext: r.ext(),
  });
}

function inventory(r: Reader): MineInventoryRecord {
  const mineName = r.str('mineName');
  const creditCode = r.creditCode();
  const mineId = r.entityId('mineId', mineName, creditCode);
  const stock = r.num('stockT', 'stock', true);
  r.range('stockT', stock, 0, LIMITS.stockMaxT);
  const kcal = r.num('calorificKcal', 'kcal');
  r.range('calorificKcal', kcal, LIMITS.calorificMinKcal, LIMITS.calorificMaxKcal);
  const sulfur = r.num('sulfurPct', 'pct');
  r.range('sulfurPct', sulfur, 0, 10);
  const ash = r.num('ashPct', 'pct');
  r.range('ashPct', ash, 0, 60);
  return compact<MineInventoryRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(r.eventTimeMs({ fallbackReceived: true })),
    mineId,
    mineName,
    creditCode,
    regionCode: r.ordosRegion(mineId, mineName, true)!,
    stockT: stock,
    coalType: r.str('coalType'),
    calorificKcal: kcal,
    sulfurPct: sulfur,
    ashPct: ash,
    ext: r.ext(),
  });
}

function rail(r: Reader): RailRecord {
  const hasMonth = r.has(MONTH_FIELD) && !r.has(TIME_FIELD);
  const period = r.enumOf(
    'period',
    [
      [/^(day|daily|日)/i, 'day'],
      [/^(month|monthly|月)/i, 'month'],
    ],
    hasMonth ? 'month' : 'day',
  );
  const counts = {
    requestedCars: r.num('requestedCars', 'count'),
    approvedCars: r.num('approvedCars', 'count'),
  };
  const tons = {
    shippedT: r.num('shippedT', 'stock'),
    routeCapacityT: r.num('routeCapacityT', 'stock'),
    otherT: r.num('otherT', 'stock'),
    inTransitT: r.num('inTransitT', 'stock'),
  };
  for (const [k, v] of Object.entries(tons)) r.range(k, v, 0, LIMITS.stockMaxT * 10);
  if (Object.values({ ...counts, ...tons }).every((v) => v === undefined)) {
    fail(
      'missing_field',
      '缺少请车/批车/发运量等数值',
      'no measure (cars requested/approved, tonnage) given',
      'shippedT',
    );
  }
  return compact<RailRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(r.eventTimeMs({ fallbackReceived: false })),
    route: r.str('route', true),
    direction: r.str('direction'),
    period,
    ...counts,
    ...tons,
    ext: r.ext(),
  });
}

function highway(r: Reader): HighwayRecord {
  const trucks = r.num('trucks', 'count', true);
  const tonnage = r.num('tonnageT', 'stock');
  r.range('tonnageT', tonnage, 0, LIMITS.stockMaxT);
  const congestion = r.num('congestionIndex', 'number');
  r.range('congestionIndex', congestion, 0, LIMITS.congestionMax);
  let windowMinutes: number | undefined;
  const w = r.str('windowMinutes');
  if (w !== undefined) {
    if (/^(当日|日|day|daily|天)$/i.test(w)) windowMinutes = 1440;
    else if (/^(当周|周|week|weekly)$/i.test(w)) windowMinutes = 10080;
    else if (/^(小时|时|hour|hourly)$/i.test(w)) windowMinutes = 60;
    else windowMinutes = r.num('windowMinutes', 'minutes');
    r.range('windowMinutes', windowMinutes, 1, 44_640);
  }
  return compact<HighwayRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(r.eventTimeMs({ fallbackReceived: true })),
    gate: r.str('gate', true),
    direction: r.enumOf('direction', [
      [/^(in|入|进|驶入|入口|进口|进京|进城)/i, 'in'],
      [/^(out|出|驶出|出口)/i, 'out'],
    ]),
    trucks,
    tonnageT: tonnage,
    congestionIndex: congestion,
    windowMinutes,
    ext: r.ext(),
  });
}

function ports(r: Reader): PortRecord {
  const port = r.str('port', true);
  const fallbackKind = /站台?$/.test(port) ? 'platform' : 'port';
  const kind = r.enumOf(
    'kind',
    [
      [/^(port|港口|港)$/i, 'port'],
      [/^(platform|站台|发运站台)/i, 'platform'],
      [/^(receiving|接卸港|接卸)/i, 'receiving'],
    ],
    fallbackKind,
  );
  const rec = compact<PortRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(r.eventTimeMs({ fallbackReceived: true })),
    port,
    kind,
    stockT: r.num('stockT', 'stock'),
    fobPriceYuanPerT: r.num('fobPriceYuanPerT', 'price'),
    coalType: r.str('coalType'),
    calorificKcal: r.num('calorificKcal', 'kcal'),
    importT: r.num('importT', 'stock'),
    importPriceYuanPerT: r.num('importPriceYuanPerT', 'price'),
    vesselsWaiting: r.num('vesselsWaiting', 'count'),
    freightYuanPerT: r.num('freightYuanPerT', 'price'),
    freightRoute: r.str('freightRoute'),
    ext: r.ext(),
  });
  r.range('stockT', rec.stockT, 0, LIMITS.stockMaxT);
  r.range('importT', rec.importT, 0, LIMITS.stockMaxT);
  r.price('fobPriceYuanPerT', rec.fobPriceYuanPerT);
  r.price('importPriceYuanPerT', rec.importPriceYuanPerT);
  r.range(
    'freightYuanPerT',
    rec.freightYuanPerT,
    LIMITS.freightMinYuanPerT,
    LIMITS.freightMaxYuanPerT,
    'price_out_of_band',
  );
  r.range('calorificKcal', rec.calorificKcal, LIMITS.calorificMinKcal, LIMITS.calorificMaxKcal);
  r.range('vesselsWaiting', rec.vesselsWaiting, 0, 2000);
  const measures = [
    'stockT',
    'fobPriceYuanPerT',
    'importT',
    'importPriceYuanPerT',
    'vesselsWaiting',
    'freightYuanPerT',
  ] as const;
  if (measures.every((k) => rec[k] === undefined))
    fail(
      'missing_field',
      '缺少场存/价格/船舶等数值',
      'no measure (stock, price, vessels, freight) given',
      'stockT',
    );
  return rec;
}

const SECTORS: [RegExp, CoalUserRecord['sector']][] = [
  [/(power|电力|电厂|发电|火电|热电)/i, 'power'],
  [/(building|建材|水泥|玻璃|陶瓷)/i, 'building_materials'],
  [/(chemical|化工|煤化工|化肥|甲醇)/i, 'chemicals'],
  [/(other|其他|其它|冶金|钢铁)/i, 'other'],
];

function coalUsers(r: Reader): CoalUserRecord {
  const userName = r.str('userName', true);
  const creditCode = r.creditCode();
  const sectorIn = r.str('sector');
  const sector =
    sectorIn !== undefined
      ? r.enumOf('sector', SECTORS)
      : (SECTORS.find(([re]) => re.test(userName))?.[1] ?? 'other');
  const regionRaw = r.str('regionCode');
  let regionCode: string | undefined;
  if (regionRaw !== undefined) {
    regionCode = resolveChinaRegion(regionRaw) ?? undefined;
    if (!regionCode)
      fail(
        'region_unknown',
        `行政区划“${regionRaw.slice(0, 30)}”不是有效的区划代码`,
        `region "${regionRaw.slice(0, 30)}" is not a valid division code`,
        'regionCode',
      );
  }
  const rec = compact<CoalUserRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(r.eventTimeMs({ fallbackReceived: true })),
    userId: r.entityId('userId', userName, creditCode),
    userName,
    creditCode,
    sector,
    regionCode,
    intakeT: r.num('intakeT', 'stock'),
    consumptionT: r.num('consumptionT', 'stock'),
    stockT: r.num('stockT', 'stock'),
    powerLoadMw: r.num('powerLoadMw', 'mw'),
    ext: r.ext(),
  });
  for (const k of ['intakeT', 'consumptionT', 'stockT'] as const) r.range(k, rec[k], 0, LIMITS.stockMaxT);
  r.range('powerLoadMw', rec.powerLoadMw, 0, 100_000);
  if ([rec.intakeT, rec.consumptionT, rec.stockT, rec.powerLoadMw].every((v) => v === undefined)) {
    fail(
      'missing_field',
      '缺少入库量/日耗/库存/电负荷',
      'no measure (intake, consumption, stock, load) given',
      'stockT',
    );
  }
  return rec;
}

function prices(r: Reader): PriceRecord {
  const explicit = r.str('priceKind');
  const implied = r.m.implied.priceKind;
  let priceKind: PriceRecord['priceKind'];
  if (explicit !== undefined) {
    priceKind = r.enumOf('priceKind', [
      [/^(pithead|坑口)/i, 'pithead'],
      [/(shenhua_batuta|巴图塔)/i, 'shenhua_batuta'],
      [/(shenhua_huanghua|黄骅)/i, 'shenhua_huanghua'],
      [/^(annual|年度|年)/i, 'annual'],
      [/^(monthly|月度|月)/i, 'monthly'],
    ]);
  } else if (implied) {
    priceKind = implied as PriceRecord['priceKind'];
  } else if (r.has(MONTH_FIELD)) {
    priceKind = 'monthly';
  } else if (r.has(YEAR_FIELD)) {
    priceKind = 'annual';
  } else if (r.has('mineName') || r.has('mineId')) {
    priceKind = 'pithead';
  } else {
    return fail(
      'missing_field',
      '缺少价格类型（坑口价/神华外购价/年度/月度）',
      'missing priceKind',
      'priceKind',
    );
  }
  const price = r.num('priceYuanPerT', 'price', true);
  r.price('priceYuanPerT', price);
  const mineName = r.str('mineName');
  const creditCode = r.creditCode();
  const mineId =
    r.str('mineId') ??
    creditCode ??
    (mineName ? `name:${mineName.normalize('NFKC').replace(/\s+/g, '')}` : undefined);
  const coalType =
    r.str('coalType') ?? (priceKind === 'annual' || priceKind === 'monthly' ? 'all' : undefined);
  if (!coalType) fail('missing_field', '缺少煤种', 'missing coalType', 'coalType');
  const kcal = r.num('calorificKcal', 'kcal');
  r.range('calorificKcal', kcal, LIMITS.calorificMinKcal, LIMITS.calorificMaxKcal);
  return compact<PriceRecord>({
    recordId: r.recordId(),
    eventTime: toIsoCst(
      r.eventTimeMs({ fallbackReceived: priceKind !== 'annual' && priceKind !== 'monthly' }),
    ),
    priceKind,
    location: r.str('location') ?? r.m.implied.location,
    mineId,
    mineName,
    creditCode,
    coalType,
    calorificKcal: kcal,
    priceYuanPerT: price,
    ext: r.ext(),
  });
}

const BUILDERS: { [F in FeedName]: (r: Reader) => FeedRecordMap[F] } = {
  sales,
  mines,
  mine_inventory: inventory,
  rail,
  highway,
  ports,
  coal_users: coalUsers,
  prices,
};

/** Validates one mapped source record of `feed`. Throws ValidationError with a stable reason. */
export function validateMapped<F extends FeedName>(
  feed: F,
  mapped: Mapped,
  ctx: ValidateContext,
): Validated<F> {
  const r = new Reader(feed, mapped, ctx);
  const record = BUILDERS[feed](r) as FeedRecordMap[F];
  return { feed, record, personal: r.personal() };
}
