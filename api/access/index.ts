/** The access layer: what other folders use. */
export {
  allowedScope,
  audienceOf,
  ownEntities,
  seesEntity,
  seesRegion,
  type Audience,
  type Grant,
  type Principal,
  type Scope,
  type SubscriberKind,
  type Tier,
} from './principal.ts';
export { createAccess, type AccessLayer, type AccessOptions, type DeclaredRoute } from './plugin.ts';
export {
  createAccessStore,
  DEFAULT_PRODUCTS,
  parseKey,
  type AccessStore,
  type FeeRule,
  type Product,
} from './store.ts';
export {
  queryAudit,
  setAuditRetention,
  MIN_AUDIT_RETENTION_DAYS,
  DEFAULT_AUDIT_RETENTION_DAYS,
  type AuditRow,
} from './audit.ts';
export {
  verifyAudit,
  canonicalJson,
  rowBody,
  rowHash,
  GENESIS_HASH,
  type VerifyOptions,
  type VerifyResult,
} from './chain.ts';
export { secondarySuppress, countCells } from './disclosure.ts';
export { accessRoutes } from './routes.ts';
export { bill, formatBill, type Statement } from './bill.ts';
export {
  buildReview,
  familyOfProduct,
  productEvents,
  transition,
  PRODUCT_STATES,
  STEPS,
  STEP_NAMES,
  type Actor,
  type ProductEvent,
  type ProductState,
  type Review,
  type Step,
} from './lifecycle.ts';
export {
  emergencyState,
  emergencyStops,
  setEmergency,
  type EmergencyState,
  type StopEvent,
  type StopKind,
} from './emergency.ts';
export { createGovernance, governanceChannel, type Governance } from './governance.ts';
export { lifecycleRoutes } from './governance-routes.ts';
export { productsCli, emergencyCli } from './governance-cli.ts';
