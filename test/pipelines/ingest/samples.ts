/** One raw record per feed, as the city platform sends them (Chinese or English keys), with personal data to screen. */
import type { FeedName } from '../../../pipelines/contracts/types.ts';

export const PLATE = '蒙K·8A123';
export const CUSTOMER = '王建国';
export const PHONE = '13912345678';
export const MANAGER = '赵铁柱';

export const SAMPLES: Record<FeedName, Record<string, unknown>> = {
  sales: {
    销售编号: 'XS20250301000123',
    行政区划: '150622',
    企业名称: '准格尔旗黑岱沟露天煤矿',
    煤种名称: '5500混煤',
    发热量: '5500大卡',
    毛重: '49.52',
    皮重: '16.10',
    净重: '33.42',
    单价: '620',
    总价: '20,720.40',
    客户名称: CUSTOMER,
    运往地: '河北省唐山市曹妃甸区港城大道88号',
    车牌号: PLATE,
    过空时间: '2025/3/1 8:12',
    过重时间: '2025-03-01 08:40:12',
    司机电话: PHONE,
    备注: `联系 ${PHONE}`,
  },
  mines: {
    煤矿名称: '哈尔乌素露天煤矿',
    统一社会信用代码: '91150622MA0N1B2C3D',
    行政区划: '准格尔旗',
    生产状态: '在采',
    '核定产能（万吨/年）': '3500',
    设计生产能力: '2000',
    矿长姓名: MANAGER,
    矿长移动电话: PHONE,
    开采方式: '露天',
    矿区位置: '内蒙古自治区鄂尔多斯市准格尔旗薛家湾镇',
    '煤矿位置(经纬)': '111.25,39.78',
    操作时间: '2025-03-01 09:00:00',
  },
  mine_inventory: {
    mineName: '哈尔乌素露天煤矿',
    creditCode: '91150622MA0N1B2C3D',
    regionCode: '150622',
    stockT: '125000',
    coalType: '5500混煤',
    全硫: '0.45',
    '灰分(%)': '18.5',
    检验时间: '2025-03-01 10:00',
  },
  rail: {
    境内铁路: '准池铁路',
    流向: '往珠海港',
    请车数: 420,
    批车数: 398,
    '日发运量(万吨)': '3.2',
    日期: '2025-03-01',
  },
  highway: {
    出入口: '包茂高速沙圪堵收费站',
    方向: '出',
    货车流量: '1,240',
    拥堵指数: '1.8',
    统计时间: '2025-03-01 09:00',
  },
  ports: {
    港口: '秦皇岛港',
    '场存(万吨)': '560.5',
    平仓价: '835',
    发热量: 5500,
    待港船舶: 23,
    海运运价: '32.5',
    日期: '2025-03-01',
  },
  coal_users: {
    企业名称: '国能三河电厂',
    行业: '电力',
    行政区划: '131082',
    入库量: '18000',
    日耗: '16500',
    库存: '412000',
    '电负荷(万千瓦)': '120',
    联系人: MANAGER,
    日期: '2025-03-01',
  },
  prices: {
    煤矿名称: '哈尔乌素露天煤矿',
    煤种: '5500混煤',
    发热量: '5500',
    坑口价: '630元/吨',
    日期: '2025-03-01',
  },
};

/** Strings that must never appear in clear downstream of ingest. */
export const SECRETS = [PLATE, '8A123', CUSTOMER, PHONE, MANAGER];
