/** What other folders (api, infra) use from the alert pipeline. */
export {
  startAlertWorker,
  alertTopics,
  alertChannel,
  ALERT_GROUP,
  type AlertWorker,
  type AlertWorkerOptions,
} from './worker.ts';
export { ALERT_SCHEMA, ALERT_TOPIC, type AlertMessage } from './contract.ts';
export {
  RULES,
  RULE_IDS,
  ruleDef,
  type RuleId,
  type RuleParams,
  type AlertEvent,
  type Severity,
} from './rules.ts';
export { audienceSees, parseAudience, type Audience } from './audience.ts';
export { ackAlert, getAlert, listAlerts, type AlertRow } from './store.ts';
export {
  deleteWebhook,
  deliveryLog,
  listNotices,
  listWebhooks,
  registerWebhook,
  setWebhookEnabled,
  type Webhook,
  type WebhookOptions,
} from './webhooks.ts';
export {
  verifySignature,
  signatureHeader,
  SIGNATURE_HEADER,
  IDEMPOTENCY_HEADER,
  EVENT_ID_HEADER,
} from './sign.ts';
