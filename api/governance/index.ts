/** Governance: sandbox queries, the monthly usage and compliance report, the evaluation view. */
export { governanceRoutes, governanceRoutesWith, type GovernanceRoutesOptions } from './routes.ts';
export {
  complianceFigures,
  complianceDoc,
  evaluate,
  suspensionsAndStops,
  auditIntegrity,
  type AuditVerifier,
  type ComplianceFigures,
  type Evaluation,
  type StopEvent,
} from './compliance.ts';
export {
  normalizeQuery,
  runSandbox,
  MEASURES,
  SANDBOX_MAX_RANGE_DAYS,
  SANDBOX_MAX_CELLS,
} from './sandbox.ts';
export { complianceCli, sandboxCli } from './cli.ts';
