/**
 * The simulated Ordos coal world, built deterministically from a seed: about
 * 300 mines in the nine banners with capacities summing to ~850 Mt/yr, coal
 * yards, trucks, customers, rail routes to the Bohai-rim ports, highway gates,
 * ports and platforms, and power plants and other coal users.
 */
import { ORDOS_REGIONS } from '../../pipelines/index.ts';

/** Seeded (mulberry32) draws for the simulation; deterministic per seed. */
export class Rng {
  readonly next: () => number;
  /** mulberry32's internal state, so a simulation can be checkpointed and resumed exactly. */
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0 || 0x9e3779b9;
    // mulberry32 (infra/random.ts) with its state held here.
    this.next = () => {
      this.a = (this.a + 0x6d2b79f5) >>> 0;
      let t = this.a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  get state(): number {
    return this.a;
  }
  set state(v: number) {
    this.a = v >>> 0;
  }
  range(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  int(a: number, b: number): number {
    return Math.floor(this.range(a, b + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  normal(mu = 0, sigma = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mu + sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Poisson by inversion (small means) or normal approximation. */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 30) return Math.max(0, Math.round(this.normal(lambda, Math.sqrt(lambda))));
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.next();
    } while (p > l);
    return k - 1;
  }
  weighted<T>(xs: readonly T[], w: (x: T) => number, total?: number): T {
    const sum = total ?? xs.reduce((a, x) => a + w(x), 0);
    let r = this.next() * sum;
    for (const x of xs) {
      r -= w(x);
      if (r <= 0) return x;
    }
    return xs[xs.length - 1]!;
  }
}

export interface SimMine {
  idx: number;
  name: string;
  creditCode: string;
  regionCode: string;
  capacityT: number;
  kcal: number;
  coalType: string;
  lat: number;
  lon: number;
  method: '露天' | '井工';
  status: 'producing' | 'stopped' | 'limited' | 'construction' | 'renovation';
  stopReason?: string;
  resumeDay?: number;
  stockT: number;
  sulfurPct: number;
  ashPct: number;
  /** Price premium/discount vs the regional index. */
  priceFactor: number;
}

export interface SimYard {
  name: string;
  creditCode: string;
  regionCode: string;
  kcal: number;
  coalType: string;
}
export interface SimTruck {
  plate: string;
  tareT: number;
}
export interface SimRoute {
  route: string;
  direction: string;
  port: string | null;
  shareOfRail: number;
}
export interface SimPort {
  port: string;
  kind: 'port' | 'platform' | 'receiving';
  meanStockT: number;
  stockT: number;
  vessels: number;
}
export interface SimUser {
  name: string;
  creditCode: string;
  sector: 'power' | 'building_materials' | 'chemicals';
  regionCode: string;
  dailyBurnT: number;
  stockDays: number;
  capacityMw: number;
}

export interface World {
  mines: SimMine[];
  yards: SimYard[];
  trucks: SimTruck[];
  customers: string[];
  destinations: { name: string; weight: number }[];
  routes: SimRoute[];
  gates: string[];
  ports: SimPort[];
  users: SimUser[];
}

/** Mines per banner (most in 准格尔旗 and 伊金霍洛旗), 300 in all. */
const MINES_PER_REGION: Record<string, number> = {
  '150622': 95,
  '150627': 85,
  '150602': 28,
  '150624': 25,
  '150621': 22,
  '150626': 20,
  '150623': 15,
  '150625': 8,
  '150603': 2,
};
const CENTROIDS: Record<string, [number, number]> = {
  '150602': [39.82, 109.98],
  '150603': [39.61, 109.78],
  '150621': [40.4, 110.03],
  '150622': [39.86, 111.24],
  '150623': [38.18, 107.48],
  '150624': [39.1, 107.98],
  '150625': [39.83, 108.74],
  '150626': [38.6, 108.84],
  '150627': [39.56, 109.75],
};
export const TOTAL_CAPACITY_T = 850e6;
export const KCALS = [5500, 5000, 4500] as const;

const SYL = [
  '黄',
  '玉',
  '川',
  '大',
  '柳',
  '塔',
  '唐',
  '家',
  '会',
  '纳',
  '林',
  '河',
  '布',
  '尔',
  '台',
  '哈',
  '拉',
  '沟',
  '长',
  '滩',
  '昌',
  '汉',
  '白',
  '敖',
  '包',
  '色',
  '连',
  '石',
  '圪',
  '柴',
  '登',
  '杨',
  '湾',
  '乌',
  '兰',
  '木',
  '伦',
  '阿',
  '巴',
  '图',
  '西',
  '营',
  '子',
  '明',
  '安',
  '泰',
  '丰',
  '源',
  '宏',
  '景',
];
const SURNAMES = [
  '王',
  '李',
  '张',
  '刘',
  '陈',
  '杨',
  '赵',
  '黄',
  '周',
  '吴',
  '徐',
  '孙',
  '马',
  '胡',
  '郭',
  '高',
];
const GIVEN = [
  '伟',
  '芳',
  '军',
  '磊',
  '强',
  '洋',
  '勇',
  '艳',
  '杰',
  '涛',
  '明',
  '超',
  '霞',
  '平',
  '刚',
  '建国',
  '海燕',
  '志强',
  '晓东',
];
const CITIES = [
  '唐山',
  '天津',
  '秦皇岛',
  '沧州',
  '大同',
  '包头',
  '呼和浩特',
  '榆林',
  '石家庄',
  '济南',
  '武汉',
  '郑州',
];
const TRADE = [
  '恒达',
  '宏远',
  '盛通',
  '鑫源',
  '华能',
  '中联',
  '瑞丰',
  '金泰',
  '广汇',
  '安泰',
  '永盛',
  '博源',
];

const USCC_CHARS = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** A unified social credit code with a valid GB 32100 check character. */
export function creditCode(rng: Rng, regionCode: string): string {
  let body = `91${regionCode}`;
  while (body.length < 17) body += USCC_CHARS[rng.int(0, 30)];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_CHARS.indexOf(body[i]!) * USCC_WEIGHTS[i]!;
  const c = (31 - (sum % 31)) % 31;
  return body + USCC_CHARS[c];
}

function plate(rng: Rng): string {
  const prefix = rng.weighted(
    [
      ['蒙K', 60],
      ['蒙B', 5],
      ['晋B', 8],
      ['陕K', 10],
      ['冀B', 12],
      ['冀J', 5],
    ] as const,
    (x) => x[1],
  )[0];
  const al = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  let s = '';
  for (let i = 0; i < 5; i++)
    s += i === 0 && rng.chance(0.5) ? al[rng.int(0, 23)] : al[rng.int(0, al.length - 1)];
  return `${prefix}${s}`;
}

export function createWorld(seed: number): World {
  const rng = new Rng(seed ^ 0x5eed);
  const names = new Set<string>();
  const uniqueName = (suffix: string) => {
    for (;;) {
      const n = `${rng.pick(SYL)}${rng.pick(SYL)}${rng.chance(0.3) ? rng.pick(SYL) : ''}${suffix}`;
      if (!names.has(n)) {
        names.add(n);
        return n;
      }
    }
  };

  // Capacities: log-normal, then scaled to the city total and rounded to 10 kt (万吨).
  const raw: { region: string; w: number }[] = [];
  for (const r of ORDOS_REGIONS)
    for (let i = 0; i < (MINES_PER_REGION[r.code] ?? 0); i++)
      raw.push({ region: r.code, w: Math.exp(rng.normal(0, 0.85)) });
  const sumW = raw.reduce((a, x) => a + x.w, 0);
  const mines: SimMine[] = raw.map((x, idx) => {
    const capacityT = Math.min(
      35e6,
      Math.max(3e5, Math.round(((x.w / sumW) * TOTAL_CAPACITY_T) / 1e4) * 1e4),
    );
    const open = capacityT > 8e6 && rng.chance(0.6);
    const kcal = rng.weighted(KCALS, (k) => (k === 5500 ? 5 : k === 5000 ? 3 : 2));
    const [lat, lon] = CENTROIDS[x.region]!;
    const status = rng.weighted(
      ['producing', 'limited', 'stopped', 'renovation', 'construction'] as const,
      (s) => ({ producing: 88, limited: 4, stopped: 3, renovation: 3, construction: 2 })[s],
    );
    return {
      idx,
      name: uniqueName(open ? '露天煤矿' : '煤矿'),
      creditCode: creditCode(rng, x.region),
      regionCode: x.region,
      capacityT,
      kcal,
      coalType: `${kcal}${rng.pick(['混煤', '混煤', '块煤', '末煤'])}`,
      lat: Math.round((lat + rng.normal(0, 0.15)) * 1e4) / 1e4,
      lon: Math.round((lon + rng.normal(0, 0.2)) * 1e4) / 1e4,
      method: open ? '露天' : '井工',
      status,
      stopReason:
        status === 'stopped'
          ? rng.pick(STOP_REASONS)
          : status === 'limited'
            ? '超产核查，按核定产能 80% 限产'
            : undefined,
      stockT: Math.round((capacityT / 365) * rng.range(3, 10)),
      sulfurPct: Math.round(rng.range(0.3, 1.2) * 100) / 100,
      ashPct: Math.round(rng.range(8, 25) * 10) / 10,
      priceFactor: 1 + rng.normal(0, 0.03),
    };
  });

  const yards: SimYard[] = Array.from({ length: 20 }, () => {
    const region = rng.weighted(ORDOS_REGIONS, (r) => MINES_PER_REGION[r.code] ?? 0).code;
    const kcal = rng.pick(KCALS);
    return {
      name: `${uniqueName('')}煤炭集运站`,
      creditCode: creditCode(rng, region),
      regionCode: region,
      kcal,
      coalType: `${kcal}${rng.pick(['混煤', '洗混煤'])}`,
    };
  });

  const trucks: SimTruck[] = Array.from({ length: 6000 }, () => ({
    plate: plate(rng),
    tareT: Math.round(rng.range(14.5, 17.5) * 100) / 100,
  }));

  const customers = Array.from({ length: 160 }, () =>
    rng.chance(0.2)
      ? `${rng.pick(SURNAMES)}${rng.pick(GIVEN)}`
      : `${rng.pick(CITIES)}${rng.pick(TRADE)}${rng.pick(['能源', '煤业', '商贸', '物流'])}${rng.pick(['有限公司', '有限责任公司'])}`,
  );

  const destinations = [
    { name: '河北省唐山市曹妃甸区', weight: 14 },
    { name: '河北省唐山市曹妃甸区港城大道88号', weight: 2 },
    { name: '河北省沧州市黄骅市', weight: 10 },
    { name: '河北省秦皇岛市海港区', weight: 8 },
    { name: '天津市滨海新区', weight: 6 },
    { name: '山西省大同市', weight: 4 },
    { name: '内蒙古自治区包头市昆都仑区', weight: 8 },
    { name: '内蒙古自治区呼和浩特市托克托县', weight: 6 },
    { name: '宁夏回族自治区银川市', weight: 4 },
    { name: '陕西省榆林市', weight: 5 },
    { name: '河北省石家庄市', weight: 5 },
    { name: '山东省济南市', weight: 3 },
    { name: '内蒙古自治区鄂尔多斯市达拉特旗', weight: 10 },
  ];

  const routes: SimRoute[] = [
    { route: '准池铁路', direction: '黄骅港', port: '黄骅港', shareOfRail: 0.24 },
    { route: '大准铁路', direction: '秦皇岛港', port: '秦皇岛港', shareOfRail: 0.22 },
    { route: '蒙冀铁路', direction: '曹妃甸港', port: '曹妃甸港', shareOfRail: 0.12 },
    { route: '蒙冀铁路', direction: '京唐港', port: '京唐港', shareOfRail: 0.08 },
    { route: '浩吉铁路', direction: '华中', port: null, shareOfRail: 0.2 },
    { route: '包神铁路', direction: '神木', port: null, shareOfRail: 0.08 },
    { route: '三新铁路', direction: '宁夏', port: null, shareOfRail: 0.06 },
  ];

  const gates = [
    '包茂高速沙圪堵收费站',
    '荣乌高速薛家湾收费站',
    '京藏高速树林召收费站',
    '包茂高速东胜收费站',
    '荣乌高速大路收费站',
    '210国道阿镇卡口',
    '准兴高速准格尔召收费站',
    '乌审旗图克收费站',
  ];

  const ports: SimPort[] = [
    { port: '秦皇岛港', kind: 'port', meanStockT: 6.0e6, stockT: 6.0e6, vessels: 25 },
    { port: '曹妃甸港', kind: 'port', meanStockT: 8.5e6, stockT: 8.5e6, vessels: 20 },
    { port: '京唐港', kind: 'port', meanStockT: 5.0e6, stockT: 5.0e6, vessels: 15 },
    { port: '黄骅港', kind: 'port', meanStockT: 3.5e6, stockT: 3.5e6, vessels: 30 },
    { port: '广州港', kind: 'receiving', meanStockT: 3.0e6, stockT: 3.0e6, vessels: 12 },
    { port: '沙圪堵站台', kind: 'platform', meanStockT: 1.5e5, stockT: 1.5e5, vessels: 0 },
    { port: '巴图塔站台', kind: 'platform', meanStockT: 1.0e5, stockT: 1.0e5, vessels: 0 },
  ];

  const userRegions = [
    '131082',
    '150122',
    '120116',
    '130983',
    '130209',
    '130302',
    '150602',
    '150627',
    '370181',
    '410185',
  ];
  const users: SimUser[] = [];
  for (let i = 0; i < 30; i++) {
    const mw = rng.pick([600, 1200, 1320, 2000, 2400, 3600]);
    users.push({
      name: `${rng.pick(['国能', '大唐', '华能', '华电', '京能', '蒙能'])}${uniqueName('')}${rng.pick(['发电厂', '电厂', '热电厂'])}`,
      creditCode: creditCode(rng, '150602'),
      sector: 'power',
      regionCode: rng.pick(userRegions),
      capacityMw: mw,
      dailyBurnT: Math.round((mw * 1000 * 24 * 0.31 * 0.7) / 1000),
      stockDays: rng.range(15, 30),
    });
  }
  for (let i = 0; i < 6; i++)
    users.push({
      name: `${uniqueName('')}水泥有限公司`,
      creditCode: creditCode(rng, '150621'),
      sector: 'building_materials',
      regionCode: rng.pick(userRegions),
      capacityMw: 0,
      dailyBurnT: Math.round(rng.range(800, 2500)),
      stockDays: rng.range(10, 25),
    });
  for (let i = 0; i < 6; i++)
    users.push({
      name: `${uniqueName('')}煤化工有限公司`,
      creditCode: creditCode(rng, '150627'),
      sector: 'chemicals',
      regionCode: rng.pick(['150627', '150626', '150624']),
      capacityMw: 0,
      dailyBurnT: Math.round(rng.range(3000, 12000)),
      stockDays: rng.range(10, 25),
    });

  return { mines, yards, trucks, customers, destinations, routes, gates, ports, users };
}

export const STOP_REASONS = [
  '安全检查整改',
  '环保督察停产整顿',
  '井下设备检修',
  '超产核查',
  '煤矿事故后停产整顿',
  '露天矿采剥衔接调整',
];
