/**
 * The `coal.alerts` contract: one message per alert state (open, update, end),
 * keyed by the alert id so an alert's states stay in order on one partition.
 * Registered under `coal.alerts-value` (BACKWARD). `alertId` + `seq` identify a
 * state: a consumer keeps the first of each (a worker that crashed after
 * producing may produce a state again).
 */
import { SCHEMA_NAMESPACE } from '../contracts/schemas.ts';
import type { AlertEvent } from './rules.ts';

export const ALERT_TOPIC = 'coal.alerts';

export const ALERT_SCHEMA = {
  type: 'record',
  name: 'AlertState',
  namespace: SCHEMA_NAMESPACE,
  doc: '市场风险预警状态 / market-risk alert state',
  fields: [
    { name: 'alertId', type: 'string', doc: 'deterministic: hash of rule, series and start' },
    { name: 'seq', type: 'int', doc: '1 = open, +1 per update or end' },
    { name: 'kind', type: 'string', doc: 'open|update|end' },
    { name: 'rule', type: 'string' },
    { name: 'family', type: 'string' },
    { name: 'scope', type: 'string' },
    { name: 'scopeId', type: 'string' },
    { name: 'metric', type: 'string' },
    { name: 'region', type: ['null', 'string'], default: null },
    { name: 'severity', type: 'string', doc: 'warning|critical' },
    { name: 'startedAt', type: 'string', doc: 'ISO-8601, event time' },
    { name: 'at', type: 'string', doc: 'ISO-8601, event time of this state' },
    { name: 'title', type: 'string', doc: '中文 / English' },
    {
      name: 'evidence',
      type: {
        type: 'record',
        name: 'AlertEvidenceV1',
        fields: [
          { name: 'series', type: 'string' },
          { name: 'windowFrom', type: 'string' },
          { name: 'windowTo', type: 'string' },
          {
            name: 'values',
            type: {
              type: 'array',
              items: {
                type: 'record',
                name: 'AlertValueV1',
                fields: [
                  { name: 't', type: 'string' },
                  { name: 'v', type: ['null', 'double'], default: null },
                ],
              },
            },
          },
          { name: 'measure', type: 'double' },
          { name: 'threshold', type: 'double' },
          { name: 'paramsJson', type: 'string', doc: 'the thresholds in force (JSON)' },
        ],
      },
    },
  ],
} as const;

export interface AlertMessage {
  alertId: string;
  seq: number;
  kind: string;
  rule: string;
  family: string;
  scope: string;
  scopeId: string;
  metric: string;
  region: string | null;
  severity: string;
  startedAt: string;
  at: string;
  title: string;
  evidence: {
    series: string;
    windowFrom: string;
    windowTo: string;
    values: { t: string; v: number | null }[];
    measure: number;
    threshold: number;
    paramsJson: string;
  };
}

export function toAlertMessage(e: AlertEvent & { region?: string | null }): AlertMessage {
  return {
    alertId: e.alertId,
    seq: e.seq,
    kind: e.kind,
    rule: e.rule,
    family: e.family,
    scope: e.scope,
    scopeId: e.scopeId,
    metric: e.metric,
    region: e.region ?? null,
    severity: e.severity,
    startedAt: new Date(e.startedMs).toISOString(),
    at: new Date(e.atMs).toISOString(),
    title: e.title,
    evidence: {
      series: e.evidence.series,
      windowFrom: e.evidence.window.from,
      windowTo: e.evidence.window.to,
      values: e.evidence.values,
      measure: e.evidence.measure,
      threshold: e.evidence.threshold,
      paramsJson: JSON.stringify(e.evidence.params),
    },
  };
}
