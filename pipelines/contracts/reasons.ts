/**
 * Stable reason codes of rejected records (DLQ `reason`, rejects table, HTTP
 * per-record results, import summary). Snake_case, never renamed: operators
 * and dashboards filter on them. Messages are Chinese first, English after " / ".
 */
export const REASONS = {
  decode_error: ['无法解析（不是 JSON 对象）', 'cannot decode: not a JSON object'],
  missing_field: ['缺少必填字段', 'a required field is missing'],
  invalid_number: ['数值无效或单位无法识别', 'not a valid number, or unknown unit'],
  invalid_value: ['取值不在允许范围（枚举/格式）', 'value not allowed (enumeration or format)'],
  invalid_time: ['时间无法解析', 'time cannot be parsed'],
  future_time: ['时间晚于当前时间（超过允许偏差）', 'time is in the future beyond the allowed skew'],
  weight_implausible: [
    '重量不合理（非正、超限或单位不明）',
    'weight not plausible (non-positive, too large, or ambiguous unit)',
  ],
  net_mismatch: ['净重不等于毛重减皮重', 'net weight does not equal gross minus tare'],
  tare_after_gross: ['过空（皮重）时间晚于过重（毛重）时间', 'tare weighing after gross weighing'],
  price_out_of_band: ['价格超出合理区间', 'price outside the plausible band'],
  total_mismatch: ['总价不等于单价乘净重', 'total price does not equal unit price times net weight'],
  value_out_of_range: ['数值超出合理范围', 'value outside its plausible range'],
  region_unknown: ['行政区划不是已知的区划代码/名称', 'unknown administrative region'],
  unknown_feed: ['未知数据源（feed）', 'unknown feed'],
  policy_violation: ['违反脱敏策略', 'violates the desensitization policy'],
  contract_violation: [
    '不符合已注册的数据契约（Avro 模式）',
    'does not match the registered contract (Avro schema)',
  ],
  nesting_too_deep: ['JSON 嵌套层级超过上限（32 层）', 'JSON nested deeper than the limit (32 levels)'],
  control_character: [
    '字段名或字段值含控制字符（NUL，或字段值中间的换行/制表符）',
    'a key or value holds a control character (NUL, or a line break or tab inside a field value)',
  ],
  indicator_decode: [
    '规范主题上的记录无法按契约解码（指标 worker）',
    'a canonical record could not be decoded by the indicator workers',
  ],
} as const satisfies Record<string, readonly [string, string]>;

export type ReasonCode = keyof typeof REASONS;
export const REASON_CODES = Object.keys(REASONS) as ReasonCode[];

export function reasonText(code: ReasonCode): string {
  const [zh, en] = REASONS[code];
  return `${zh} / ${en}`;
}
