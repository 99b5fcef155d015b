/** What other folders use of this one. */
export { forecastRoutes } from './routes/forecasts.ts';
export { indicatorRoutes } from './routes/indicators.ts';
export { ingestRoutes } from './routes/ingest.ts';
export { metricsRoutes } from './routes/metrics.ts';
export { buildApp } from './server.ts';
export { dashboardRoutes, offerDemoSession } from './dashboard/routes.ts';
