/**
 * The contract table: for every feed, every field with its kind, whether the
 * canonical record carries it, and the source column names accepted as input
 * aliases (every Chinese column name of the coal annex, plus English forms).
 * The Avro schemas (schemas.ts), the alias index (aliases.ts) and the policy
 * check (desensitize/policy.ts) are all derived from this one table.
 */
import type { FeedName } from './types.ts';
import type { NumberKind } from './parse.ts';

export type FieldKind = 'string' | 'time' | 'date' | 'region' | 'enum' | 'lat' | 'lon' | 'coord' | NumberKind;

export interface FieldSpec {
  /** English canonical name (camelCase, unit in the name). */
  name: string;
  kind: FieldKind;
  /**
   * 'both' (default): read from the source and carried on the canonical topic.
   * 'in': read from the source only; personal data the policy tokenizes or drops.
   * 'out': produced by ingest (tokens, derived ids), never read from a source.
   */
  io?: 'both' | 'in' | 'out';
  /** Required on the canonical record (non-null Avro field). */
  required?: boolean;
  /** Accepted source column names (normalized before lookup, see aliases.ts). */
  aliases?: readonly string[];
  /** Source columns that also imply values of other fields, e.g. 坑口价 implies priceKind=pithead. */
  implies?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  doc: string;
}

/** Present on every feed. */
const BASE: FieldSpec[] = [
  {
    name: 'recordId',
    kind: 'string',
    required: true,
    aliases: ['recordId', 'record_id', '记录ID', '记录编号', '表主键'],
    doc: '源记录 ID（每个数据源内唯一，去重键）/ source record id, unique per feed (dedupe key)',
  },
  {
    name: 'eventTime',
    kind: 'time',
    required: true,
    aliases: ['eventTime', 'event_time'],
    doc: '事件时间（ISO-8601，+08:00）/ event time',
  },
];

/**
 * Personal data any feed may carry. Never on a canonical topic in clear:
 * the policy turns them into keyed tokens (`<name>Token`) or drops them.
 */
export const PERSONAL_FIELDS: FieldSpec[] = [
  {
    name: 'plate',
    kind: 'string',
    io: 'in',
    aliases: [
      'plate',
      'plateNo',
      'licensePlate',
      'vehiclePlate',
      '车牌号',
      '车牌',
      '车号',
      '车牌号码',
      '车辆号牌',
    ],
    doc: '车牌号 / licence plate',
  },
  {
    name: 'customer',
    kind: 'string',
    io: 'in',
    aliases: ['customer', 'customerName', '客户名称', '客户', '购买方', '购货单位', '收货单位'],
    doc: '客户名称 / customer name',
  },
  {
    name: 'driverName',
    kind: 'string',
    io: 'in',
    aliases: ['driver', 'driverName', '司机', '司机姓名', '驾驶员', '驾驶员姓名'],
    doc: '司机姓名 / driver name',
  },
  {
    name: 'driverPhone',
    kind: 'string',
    io: 'in',
    aliases: ['driverPhone', '司机电话', '司机手机', '驾驶员电话', '驾驶员手机号'],
    doc: '司机电话 / driver phone',
  },
  {
    name: 'contactName',
    kind: 'string',
    io: 'in',
    aliases: ['contact', 'contactName', '联系人', '联系人姓名'],
    doc: '联系人 / contact person',
  },
  {
    name: 'contactPhone',
    kind: 'string',
    io: 'in',
    aliases: ['phone', 'mobile', 'contactPhone', '联系电话', '移动电话', '手机', '手机号', '电话'],
    doc: '联系电话 / phone',
  },
  {
    name: 'managerName',
    kind: 'string',
    io: 'in',
    aliases: ['managerName', '矿长姓名', '矿长', '负责人', '负责人姓名'],
    doc: '矿长姓名 / mine manager name',
  },
  {
    name: 'managerPhone',
    kind: 'string',
    io: 'in',
    aliases: ['managerPhone', '矿长移动电话', '矿长电话', '负责人电话'],
    doc: '矿长移动电话 / mine manager phone',
  },
  {
    name: 'legalRep',
    kind: 'string',
    io: 'in',
    aliases: ['legalRep', 'legalRepresentative', '法人代表', '法定代表人'],
    doc: '法定代表人 / legal representative',
  },
  {
    name: 'idNumber',
    kind: 'string',
    io: 'in',
    aliases: ['idNumber', 'idCard', '身份证号', '身份证号码', '个人标识号'],
    doc: '身份证号 / personal id number',
  },
];

const TOKENS: FieldSpec[] = [
  {
    name: 'plateToken',
    kind: 'string',
    io: 'out',
    doc: '车牌号的keyed HMAC令牌（跨天稳定）/ keyed HMAC token of the plate (stable across days)',
  },
  {
    name: 'customerToken',
    kind: 'string',
    io: 'out',
    doc: '客户名称的keyed HMAC令牌 / keyed HMAC token of the customer',
  },
];

const MINE_NAME_ALIASES = [
  'mineName',
  'enterprise',
  'enterpriseName',
  'companyName',
  'site',
  '企业名称',
  '所属机构',
  '提供企业名称',
  '煤矿名称',
  '煤场名称',
  '单位名称',
  '企业(机构)名称',
];
const CREDIT_ALIASES = ['creditCode', 'uscc', '统一社会信用代码', '社会信用代码', '信用代码'];
const REGION_ALIASES = [
  'regionCode',
  'region',
  'district',
  '行政区划',
  '行政区划代码',
  '区划代码',
  '所属旗区',
  '旗区',
  '所在地区',
];
const COAL_TYPE_ALIASES = [
  'coalType',
  'coal',
  '煤种名称',
  '煤种',
  '煤类',
  '煤炭种类',
  '煤炭品种',
  '品种',
  '库存煤种',
];
const CALORIFIC_ALIASES = [
  'calorificKcal',
  'calorific',
  'calorificValue',
  'heatValue',
  '发热量',
  '低位发热量',
  '热值',
  '原煤低位发热量',
  '收到基低位发热量',
  'Qnet,ar',
];
const TIME_ALIASES = [
  'time',
  'timestamp',
  'datetime',
  'date',
  '时间',
  '日期',
  '统计时间',
  '统计日期',
  '数据时间',
  '更新时间',
  '上报时间',
  '数据生成时间',
  '数据汇总时间',
  '操作时间',
  '检验时间',
  '采集时间',
];

export const FEED_FIELDS: Record<FeedName, FieldSpec[]> = {
  sales: [
    ...BASE,
    {
      name: 'saleId',
      kind: 'string',
      required: true,
      aliases: [
        'saleId',
        'saleNo',
        'billNo',
        'ticketNo',
        '销售编号',
        '销售单号',
        '磅单号',
        '过磅单号',
        '单据编号',
      ],
      doc: '销售编号（磅单号）/ sales id (weighbridge ticket)',
    },
    {
      name: 'mineId',
      kind: 'string',
      required: true,
      aliases: ['mineId', 'siteId', '煤矿编码', '煤矿编号', '企业编码'],
      doc: '煤矿/煤场 ID：有统一社会信用代码时为该代码，否则为 name:<规范化名称> / mine or yard id: the credit code when known, else name:<normalized name>',
    },
    {
      name: 'mineName',
      kind: 'string',
      required: true,
      aliases: MINE_NAME_ALIASES,
      doc: '煤矿/煤场（企业）名称 / mine or yard (enterprise) name',
    },
    {
      name: 'creditCode',
      kind: 'string',
      aliases: CREDIT_ALIASES,
      doc: '统一社会信用代码 / unified social credit code',
    },
    {
      name: 'siteKind',
      kind: 'enum',
      required: true,
      aliases: ['siteKind', '站点类型'],
      doc: "'mine' 煤矿运销 | 'yard' 煤场运销",
    },
    {
      name: 'regionCode',
      kind: 'region',
      required: true,
      aliases: REGION_ALIASES,
      doc: '行政区划代码（鄂尔多斯 9 个旗区）/ Ordos county-level code',
    },
    {
      name: 'coalType',
      kind: 'string',
      required: true,
      aliases: COAL_TYPE_ALIASES,
      doc: '煤种名称 / coal type',
    },
    {
      name: 'calorificKcal',
      kind: 'kcal',
      aliases: CALORIFIC_ALIASES,
      doc: '发热量 kcal/kg / calorific value',
    },
    {
      name: 'grossT',
      kind: 'weight',
      required: true,
      aliases: ['grossT', 'gross', 'grossWeight', '毛重'],
      doc: '毛重 t / gross weight',
    },
    {
      name: 'tareT',
      kind: 'weight',
      required: true,
      aliases: ['tareT', 'tare', 'tareWeight', '皮重'],
      doc: '皮重 t / tare weight',
    },
    {
      name: 'netT',
      kind: 'weight',
      required: true,
      aliases: ['netT', 'net', 'netWeight', '净重'],
      doc: '净重 t / net weight',
    },
    {
      name: 'unitPriceYuanPerT',
      kind: 'price',
      required: true,
      aliases: ['unitPriceYuanPerT', 'unitPrice', 'price', '单价', '销售单价'],
      doc: '单价 元/吨 / unit price',
    },
    {
      name: 'totalPriceYuan',
      kind: 'money',
      required: true,
      aliases: ['totalPriceYuan', 'totalPrice', 'amount', '总价', '金额', '总金额', '销售金额'],
      doc: '总价 元 / total price',
    },
    {
      name: 'destination',
      kind: 'string',
      aliases: ['destination', 'dest', '运往地', '目的地', '运往地点', '到站'],
      doc: '运往地（泛化到区县）/ destination, generalized to the district',
    },
    {
      name: 'tareTime',
      kind: 'time',
      required: true,
      aliases: ['tareTime', '过空时间', '皮重时间', '空车时间', '入矿时间', '入场时间', '进场时间'],
      doc: '过空时间（皮重称量）/ tare weighing time',
    },
    {
      name: 'grossTime',
      kind: 'time',
      required: true,
      aliases: ['grossTime', '过重时间', '毛重时间', '重车时间', '出矿时间', '出场时间'],
      doc: '过重时间（毛重称量，事件时间）/ gross weighing time (event time)',
    },
    ...TOKENS,
  ],
  mines: [
    ...BASE,
    {
      name: 'mineId',
      kind: 'string',
      required: true,
      aliases: ['mineId', '煤矿编码', '煤矿编号'],
      doc: '煤矿 ID（统一社会信用代码或 name:<名称>）/ mine id',
    },
    {
      name: 'mineName',
      kind: 'string',
      required: true,
      aliases: ['mineName', '煤矿名称', 'mine'],
      doc: '煤矿名称 / mine name',
    },
    {
      name: 'enterpriseName',
      kind: 'string',
      aliases: ['enterpriseName', 'companyName', '企业名称', '煤矿企业名称'],
      doc: '企业名称 / operating company',
    },
    { name: 'shortName', kind: 'string', aliases: ['shortName', '煤矿简称'], doc: '煤矿简称 / short name' },
    {
      name: 'creditCode',
      kind: 'string',
      aliases: CREDIT_ALIASES,
      doc: '统一社会信用代码 / unified social credit code',
    },
    {
      name: 'regionCode',
      kind: 'region',
      required: true,
      aliases: REGION_ALIASES,
      doc: '行政区划代码 / Ordos county-level code',
    },
    {
      name: 'status',
      kind: 'enum',
      required: true,
      aliases: [
        'status',
        'productionStatus',
        '生产状态',
        '当前生产状态',
        '生产状态在采技改停产在建',
        '生产状态在采技改停、产在建',
      ],
      doc: 'producing|stopped|limited|construction|renovation|closed（在采/停产/限产/在建/技改/关闭）',
    },
    {
      name: 'approvedCapacityTPerYear',
      kind: 'capacity',
      required: true,
      aliases: ['approvedCapacityTPerYear', 'approvedCapacity', '核定产能', '年度核定产能', '核定生产能力'],
      doc: '核定产能 t/年（缺失时取设计生产能力）/ approved capacity t/yr (design capacity when absent)',
    },
    {
      name: 'designCapacityTPerYear',
      kind: 'capacity',
      aliases: ['designCapacityTPerYear', 'designCapacity', '设计生产能力', '设计产能'],
      doc: '设计生产能力 t/年 / design capacity',
    },
    {
      name: 'monthlyOutputT',
      kind: 'stock',
      aliases: ['monthlyOutputT', '月度实际产量', '月产量'],
      doc: '月度实际产量 t / actual monthly output',
    },
    {
      name: 'stopReason',
      kind: 'string',
      aliases: ['stopReason', '停产原因', '限产原因', '停产限产原因', '具体停产限产原因', '停产/限产原因'],
      doc: '停产/限产原因 / stop or limit reason',
    },
    {
      name: 'expectedResumeDate',
      kind: 'date',
      aliases: ['expectedResumeDate', 'resumeDate', '预计复工时间', '预计复产时间'],
      doc: '预计复工日期 YYYY-MM-DD / expected resume date',
    },
    { name: 'lat', kind: 'lat', aliases: ['lat', 'latitude', '纬度'], doc: '纬度 / latitude' },
    { name: 'lon', kind: 'lon', aliases: ['lon', 'lng', 'longitude', '经度'], doc: '经度 / longitude' },
    {
      name: 'coordinates',
      kind: 'coord',
      io: 'in',
      aliases: ['coordinates', '煤矿位置经纬', '煤矿位置', '经纬度', '位置'],
      doc: '“经度,纬度”合并列 / combined "lon,lat" column',
    },
    {
      name: 'location',
      kind: 'string',
      aliases: ['location', 'address', '矿区位置', '地址', '住所'],
      doc: '矿区位置（泛化到区县）/ location, generalized to the district',
    },
    {
      name: 'miningMethod',
      kind: 'string',
      aliases: ['miningMethod', '开采方式'],
      doc: '开采方式 / mining method',
    },
    {
      name: 'calorificKcal',
      kind: 'kcal',
      aliases: CALORIFIC_ALIASES,
      doc: '原煤低位发热量 kcal/kg / net calorific value',
    },
  ],
  mine_inventory: [
    ...BASE,
    {
      name: 'mineId',
      kind: 'string',
      required: true,
      aliases: ['mineId', '煤矿编码', '煤矿编号'],
      doc: '煤矿 ID / mine id',
    },
    {
      name: 'mineName',
      kind: 'string',
      aliases: ['mineName', '煤矿名称', '企业名称', 'mine'],
      doc: '煤矿名称 / mine name',
    },
    {
      name: 'creditCode',
      kind: 'string',
      aliases: CREDIT_ALIASES,
      doc: '统一社会信用代码 / unified social credit code',
    },
    {
      name: 'regionCode',
      kind: 'region',
      required: true,
      aliases: REGION_ALIASES,
      doc: '行政区划代码 / Ordos county-level code',
    },
    {
      name: 'stockT',
      kind: 'stock',
      required: true,
      aliases: ['stockT', 'stock', 'inventory', '场地库存量', '煤矿场地库存量', '库存量', '库存', '场存'],
      doc: '场地库存量 t / yard stock',
    },
    { name: 'coalType', kind: 'string', aliases: COAL_TYPE_ALIASES, doc: '库存煤种 / coal type in stock' },
    {
      name: 'calorificKcal',
      kind: 'kcal',
      aliases: CALORIFIC_ALIASES,
      doc: '发热量 kcal/kg（煤质检验）/ calorific value (quality test)',
    },
    {
      name: 'sulfurPct',
      kind: 'pct',
      aliases: ['sulfurPct', 'sulfur', '全硫', '硫分', '含硫量', 'St,d'],
      doc: '全硫 % / total sulfur',
    },
    { name: 'ashPct', kind: 'pct', aliases: ['ashPct', 'ash', '灰分', 'Ad'], doc: '灰分 % / ash' },
  ],
  rail: [
    ...BASE,
    {
      name: 'route',
      kind: 'string',
      required: true,
      aliases: ['route', 'line', '线路', '路线', '境内铁路', '铁路线', '铁路', '通道', '重点路线'],
      doc: '线路 / route',
    },
    {
      name: 'direction',
      kind: 'string',
      aliases: ['direction', '流向', '方向', '分流向', '去向'],
      doc: '流向 / direction',
    },
    {
      name: 'period',
      kind: 'enum',
      required: true,
      aliases: ['period', '统计周期', '周期'],
      doc: "'day' 日 | 'month' 月（境内铁路月度统计）",
    },
    {
      name: 'requestedCars',
      kind: 'count',
      aliases: ['requestedCars', '请车数', '请车', '月度请车数', '请车数量'],
      doc: '请车数 车 / cars requested',
    },
    {
      name: 'approvedCars',
      kind: 'count',
      aliases: ['approvedCars', '批车数', '批车', '实际批车数', '批车数量'],
      doc: '批车数 车 / cars approved',
    },
    {
      name: 'shippedT',
      kind: 'stock',
      aliases: ['shippedT', 'shipped', '日发运量', '发运量', '煤炭', '煤炭运量', '煤炭发运量'],
      doc: '煤炭发运量 t / coal shipped',
    },
    {
      name: 'routeCapacityT',
      kind: 'stock',
      aliases: ['routeCapacityT', '运力', '线路运力', '设计运力'],
      doc: '线路运力 t / route capacity',
    },
    {
      name: 'otherT',
      kind: 'stock',
      aliases: ['otherT', '其它', '其他', '其它货物'],
      doc: '其它货物 t / other freight',
    },
    {
      name: 'inTransitT',
      kind: 'stock',
      aliases: ['inTransitT', '在途', '在途量'],
      doc: '在途量 t / in transit',
    },
  ],
  highway: [
    ...BASE,
    {
      name: 'gate',
      kind: 'string',
      required: true,
      aliases: ['gate', 'station', '出入口', '收费站', '卡口', '站点', '出入口名称'],
      doc: '出入口（收费站/卡口）/ gate',
    },
    {
      name: 'direction',
      kind: 'enum',
      required: true,
      aliases: ['direction', '方向', '出入方向', '进出方向', '进出'],
      doc: "'in' 入 | 'out' 出",
    },
    {
      name: 'trucks',
      kind: 'count',
      required: true,
      aliases: [
        'trucks',
        'flow',
        'truckCount',
        '货车流量',
        '车流量',
        '流量',
        '煤炭运输货车流量',
        '煤炭运输货车当日流量',
        '车辆数',
      ],
      doc: '煤炭运输货车数 辆 / coal trucks',
    },
    {
      name: 'tonnageT',
      kind: 'stock',
      aliases: ['tonnageT', 'tonnage', '运量', '载重', '吨位', '货运量'],
      doc: '估算运量 t / estimated tonnage',
    },
    {
      name: 'congestionIndex',
      kind: 'number',
      aliases: ['congestionIndex', 'congestion', '拥堵指数'],
      doc: '拥堵指数 / congestion index',
    },
    {
      name: 'windowMinutes',
      kind: 'minutes',
      aliases: ['windowMinutes', 'window', '统计时长', '统计周期'],
      doc: '统计窗口 分钟（默认 60；当日=1440，当周=10080）/ window length in minutes',
    },
  ],
  ports: [
    ...BASE,
    {
      name: 'port',
      kind: 'string',
      required: true,
      aliases: ['port', 'portName', '港口', '港口名称', '站台', '发运站台', '站台名称'],
      doc: '港口/站台 / port or platform',
    },
    {
      name: 'kind',
      kind: 'enum',
      required: true,
      aliases: ['kind', 'portKind', '类型', '港口类型'],
      doc: "'port' 港口 | 'platform' 发运站台 | 'receiving' 接卸港",
    },
    {
      name: 'stockT',
      kind: 'stock',
      aliases: ['stockT', 'stock', '场存', '港口场存', '场存量', '库存', '站台库存', '环渤海港口场存'],
      doc: '场存 t / stock',
    },
    {
      name: 'fobPriceYuanPerT',
      kind: 'price',
      aliases: ['fobPriceYuanPerT', 'fobPrice', '平仓价', '港口平仓价'],
      doc: '平仓价 元/吨 / FOB price',
    },
    { name: 'coalType', kind: 'string', aliases: COAL_TYPE_ALIASES, doc: '煤种 / coal type' },
    {
      name: 'calorificKcal',
      kind: 'kcal',
      aliases: CALORIFIC_ALIASES,
      doc: '发热量 kcal/kg / calorific value',
    },
    {
      name: 'importT',
      kind: 'stock',
      aliases: ['importT', 'imports', '进口煤量', '进口量'],
      doc: '进口煤量 t / imported coal',
    },
    {
      name: 'importPriceYuanPerT',
      kind: 'price',
      aliases: ['importPriceYuanPerT', 'importPrice', '进口煤价', '进口价格'],
      doc: '进口煤价 元/吨 / import price',
    },
    {
      name: 'vesselsWaiting',
      kind: 'count',
      aliases: ['vesselsWaiting', 'vessels', '待港船舶', '船舶待港数量', '锚地船舶', '待港船舶数'],
      doc: '待港船舶 艘 / vessels waiting',
    },
    {
      name: 'freightYuanPerT',
      kind: 'price',
      aliases: ['freightYuanPerT', 'freight', '海运运价', '海运煤炭运价', '运价'],
      doc: '海运运价 元/吨 / sea freight',
    },
    {
      name: 'freightRoute',
      kind: 'string',
      aliases: ['freightRoute', '航线', '运价航线'],
      doc: '航线 / freight route',
    },
  ],
  coal_users: [
    ...BASE,
    {
      name: 'userId',
      kind: 'string',
      required: true,
      aliases: ['userId', '用户编码', '企业编码'],
      doc: '用煤企业 ID（统一社会信用代码或 name:<名称>）/ coal user id',
    },
    {
      name: 'userName',
      kind: 'string',
      required: true,
      aliases: [
        'userName',
        'enterprise',
        'companyName',
        '企业名称',
        '用煤企业',
        '电厂名称',
        '单位名称',
        '电厂',
      ],
      doc: '用煤企业名称 / coal user name',
    },
    {
      name: 'creditCode',
      kind: 'string',
      aliases: CREDIT_ALIASES,
      doc: '统一社会信用代码 / unified social credit code',
    },
    {
      name: 'sector',
      kind: 'enum',
      required: true,
      aliases: ['sector', 'industry', '行业', '行业类别', '企业类型', '行业门类'],
      doc: 'power 电力 | building_materials 建材 | chemicals 化工 | other',
    },
    {
      name: 'regionCode',
      kind: 'region',
      aliases: REGION_ALIASES,
      doc: '行政区划代码（全国）/ county-level code (anywhere in China)',
    },
    {
      name: 'intakeT',
      kind: 'stock',
      aliases: ['intakeT', 'intake', '入库量', '煤炭入库量', '进煤量', '来煤量'],
      doc: '入库量 t / intake',
    },
    {
      name: 'consumptionT',
      kind: 'stock',
      aliases: ['consumptionT', 'consumption', '日耗', '日消耗量', '日耗煤量', '耗煤量', '消耗量'],
      doc: '日耗 t / daily consumption',
    },
    {
      name: 'stockT',
      kind: 'stock',
      aliases: ['stockT', 'stock', '库存', '库存量', '存煤', '存煤量'],
      doc: '库存 t / stock',
    },
    {
      name: 'powerLoadMw',
      kind: 'mw',
      aliases: ['powerLoadMw', 'load', '电负荷', '负荷', '发电负荷'],
      doc: '电负荷 MW / power load',
    },
  ],
  prices: [
    ...BASE,
    {
      name: 'priceKind',
      kind: 'enum',
      required: true,
      aliases: ['priceKind', 'kind', '价格类型', '价格种类'],
      doc: 'pithead 坑口价 | shenhua_batuta 神华外购价巴图塔 | shenhua_huanghua 神华外购价黄骅港 | annual 年度 | monthly 月度',
    },
    {
      name: 'location',
      kind: 'string',
      aliases: ['location', '地点', '价格地点', '站点'],
      doc: '价格地点 / location',
    },
    {
      name: 'mineId',
      kind: 'string',
      aliases: ['mineId', '煤矿编码'],
      doc: '煤矿 ID（坑口价）/ mine id (pithead prices)',
    },
    {
      name: 'mineName',
      kind: 'string',
      aliases: ['mineName', '煤矿名称', '企业名称'],
      doc: '煤矿名称 / mine name',
    },
    {
      name: 'creditCode',
      kind: 'string',
      aliases: CREDIT_ALIASES,
      doc: '统一社会信用代码 / unified social credit code',
    },
    {
      name: 'coalType',
      kind: 'string',
      required: true,
      aliases: COAL_TYPE_ALIASES,
      doc: '煤种（年度/月度价格缺省为 all）/ coal type (all for annual/monthly prices)',
    },
    {
      name: 'calorificKcal',
      kind: 'kcal',
      aliases: CALORIFIC_ALIASES,
      doc: '发热量 kcal/kg / calorific value',
    },
    {
      name: 'priceYuanPerT',
      kind: 'price',
      required: true,
      aliases: [
        'priceYuanPerT',
        'price',
        '价格',
        '煤价',
        '坑口价',
        '最新煤价坑口价',
        '最新煤价',
        '神华外购价巴图塔',
        '神华外购价黄骅港',
      ],
      implies: {
        坑口价: { priceKind: 'pithead' },
        最新煤价坑口价: { priceKind: 'pithead' },
        神华外购价巴图塔: { priceKind: 'shenhua_batuta', location: '巴图塔' },
        神华外购价黄骅港: { priceKind: 'shenhua_huanghua', location: '黄骅港' },
      },
      doc: '价格 元/吨 / price',
    },
  ],
};

/** Time-ish source columns each feed reads its event time from (besides the feed's own time fields). */
export const EVENT_TIME_ALIASES = TIME_ALIASES;
/** 年份 / 月份 columns (monthly and annual statistics). */
export const YEAR_ALIASES = ['year', '年份', '年度'];
export const MONTH_ALIASES = ['month', '月份', '月度'];
/** Sales columns that mark a coal-yard export (全市煤场运销信息). */
export const YARD_MARKERS = ['提供企业名称', '煤类', '入矿时间', '出矿时间', '煤场名称'];

/** Fields the canonical record (and its Avro schema) carries, per feed. */
export function canonicalFields(feed: FeedName): FieldSpec[] {
  return FEED_FIELDS[feed].filter((f) => (f.io ?? 'both') !== 'in');
}

/** Fields read from sources (aliases apply), per feed, including the personal ones. */
export function inputFields(feed: FeedName): FieldSpec[] {
  return [...FEED_FIELDS[feed].filter((f) => (f.io ?? 'both') !== 'out'), ...PERSONAL_FIELDS];
}
