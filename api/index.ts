/** What other folders use of this one. */
export {
  alertRoutes,
  alertRoutesWith,
  operatorAudience,
  principalAudience,
  type AudienceResolver,
} from './routes/alerts.ts';
export { forecastRoutes } from './routes/forecasts.ts';
export { indicatorRoutes } from './routes/indicators.ts';
export { ingestRoutes } from './routes/ingest.ts';
export { metricsRoutes } from './routes/metrics.ts';
export { buildApp } from './server.ts';
export { dashboardRoutes, offerDemoSession } from './dashboard/routes.ts';
export {
  accessRoutes,
  createGovernance,
  emergencyCli,
  lifecycleRoutes,
  productsCli,
  type Governance,
} from './access/index.ts';
export { SCHEMAS } from './routes/schemas.ts';
export { ensureDemoKeys, DEMO_KEYS_FILE, type DemoKey, type DemoWorld } from './access/demo.ts';
export { keysCli, billCli, auditCli } from './access/cli.ts';
export { createReportScheduler, reportCli, reportRoutes } from './reports/index.ts';
export { governanceRoutes, governanceRoutesWith, complianceCli, sandboxCli } from './governance/index.ts';
