/** The page's words: Chinese by default, English on the switch (kept in localStorage). */
export type Lang = 'zh' | 'en';

const WORDS = {
  title: ['鄂尔多斯煤炭运行监测', 'Ordos coal chain dashboard'],
  overview: ['总览', 'Overview'],
  inventory: ['库存趋势', 'Inventory trends'],
  prices: ['价格', 'Prices'],
  transport: ['运输', 'Transport'],
  operators: ['运营监控', 'Operators'],
  reports: ['报告', 'Reports'],
  signIn: ['登录', 'Sign in'],
  signOut: ['退出', 'Sign out'],
  keyLabel: ['订户 API 密钥', 'Subscriber API key'],
  keyHint: [
    '密钥只保存在本浏览器标签页（sessionStorage）。',
    'The key is kept in this browser tab only (sessionStorage).',
  ],
  signedInAs: ['当前订户', 'Signed in as'],
  demo: ['演示', 'demo'],
  badKey: ['密钥无效、已吊销或已过期', 'The key is invalid, revoked or expired'],
  notGranted: ['未获授权', 'Not granted'],
  unavailable: ['暂不可用', 'Not available'],
  noData: ['暂无数据', 'No data yet'],
  loading: ['加载中…', 'Loading…'],
  live: ['实时', 'Live'],
  liveOff: ['实时连接中断，正在重连', 'Live stream lost, reconnecting'],
  updated: ['更新于', 'Updated'],
  lang: ['English', '中文'],
  langName: ['切换到英文', 'Switch to Chinese'],
  production: ['产量（过磅）', 'Production (weighbridge)'],
  sales: ['销量', 'Sales volume'],
  shipments: ['外运量', 'Shipments out'],
  salesValue: ['销售额', 'Sales value'],
  today: ['今日', 'Today'],
  vsWeek: ['较上周同日', 'vs same day last week'],
  vsYear: ['较去年同日', 'vs same day last year'],
  priceIndex: ['坑口价格指数', 'Pithead price index'],
  portStocks: ['港口/站台场存', 'Port and platform stocks'],
  daysOfStock: ['用煤企业可用天数', "Coal users' days of stock"],
  user: ['用煤企业', 'Coal user'],
  days: ['可用天数', 'Days of stock'],
  avgUse: ['日均耗煤（t）', 'Avg daily use (t)'],
  change7d: ['周变化（天）', '7-day change (days)'],
  belowThreshold: ['低于阈值', 'below threshold'],
  threshold: ['阈值', 'threshold'],
  alerts: ['当前预警', 'Active alerts'],
  noAlerts: ['无当前预警', 'No active alerts'],
  severity: ['级别', 'Severity'],
  rule: ['规则', 'Rule'],
  entity: ['对象', 'Entity'],
  since: ['开始', 'Since'],
  value: ['值', 'Value'],
  mineStock: ['煤矿库存合计', 'Mine stocks (total)'],
  portStockTotal: ['港口/站台场存合计', 'Port stocks (total)'],
  userStock: ['用煤企业库存合计', 'Coal-user stocks (total)'],
  forecast: ['预测', 'Forecast'],
  interval80: ['80% 区间', '80% interval'],
  interval95: ['95% 区间', '95% interval'],
  history: ['实际', 'Actual'],
  noForecast: ['暂无预测（需足够历史后训练）', 'No forecast yet (trained once there is enough history)'],
  pithead: ['坑口报价（按煤种）', 'Pithead quotes by coal type'],
  portFob: ['港口平仓价（按煤种）', 'Port FOB prices by coal type'],
  vwap: ['成交均价（按煤种）', 'Traded average price by coal type'],
  railApproval: ['铁路批车率（按线路）', 'Rail approval ratio by route'],
  routeUse: ['线路发运量与运力利用率', 'Route shipments and capacity use'],
  shipped: ['发运量（t）', 'Shipped (t)'],
  capacityUse: ['运力利用率（%）', 'Capacity use (%)'],
  trucks: ['公路货车流量（按卡口）', 'Truck flows by gate'],
  vessels: ['船舶待港数', 'Vessels waiting'],
  feeds: ['数据源新鲜度', 'Feed freshness'],
  feed: ['数据源', 'Feed'],
  accepted: ['接收', 'Accepted'],
  rejected: ['拒收', 'Rejected'],
  lastSeen: ['最近记录', 'Last record'],
  lag: ['消费积压', 'Consumer lag'],
  rejectsByReason: ['按原因的拒收数', 'Rejected by reason'],
  rejectList: ['拒收记录', 'Rejected records'],
  reason: ['原因', 'Reason'],
  message: ['说明', 'Message'],
  received: ['接收时间', 'Received'],
  status: ['状态', 'Status'],
  fix: ['修正并重放', 'Fix and replay'],
  replay: ['重放', 'Replay'],
  replayDone: ['已重放', 'Replayed'],
  cancel: ['取消', 'Cancel'],
  secondsAgo: ['秒前', 's ago'],
  operatorOnly: ['仅运营方可见', 'Operators only'],
  reportList: ['报告列表', 'Reports'],
  generate: ['生成报告', 'Generate a report'],
  kind: ['类型', 'Kind'],
  period: ['期间', 'Period'],
  created: ['生成时间', 'Created'],
  download: ['下载', 'Download'],
  submit: ['生成', 'Generate'],
  reportQueued: ['已提交生成', 'Report requested'],
  noReports: ['暂无报告', 'No reports yet'],
  sortBy: ['按此列排序', 'Sort by this column'],
  error: ['出错', 'Error'],
  cars: ['车', 'cars'],
} as const satisfies Record<string, readonly [string, string]>;

export type Word = keyof typeof WORDS;

let lang: Lang = (localStorage.getItem('coalflow.lang') as Lang | null) === 'en' ? 'en' : 'zh';

export function getLang(): Lang {
  return lang;
}

export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem('coalflow.lang', l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}

export function t(w: Word): string {
  return WORDS[w][lang === 'zh' ? 0 : 1];
}

/** Server messages are `中文 / English`: the half in the page's language. */
export function half(message: string): string {
  const i = message.indexOf(' / ');
  if (i < 0) return message;
  return lang === 'zh' ? message.slice(0, i) : message.slice(i + 3);
}

export function num(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: 0,
  });
}

export function pct(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${v > 0 ? '+' : ''}${v.toFixed(1)}%`;
}

/** A window start as a local (CST) date. */
export function day(iso: string): string {
  return new Date(Date.parse(iso) + 8 * 3600_000).toISOString().slice(0, 10);
}
