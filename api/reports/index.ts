export { reportRoutes, visibleAudienceKeys, type ReportRoutesOptions, type AllowedScope } from './routes.ts';
export {
  buildReport,
  localize,
  periodFigures,
  DAYS_OF_STOCK_THRESHOLD,
  type Audience,
  type AlertsSource,
  type ReportAlert,
  type ReportDoc,
  type Lang,
} from './content.ts';
export {
  parsePeriod,
  periodAt,
  previousPeriod,
  sameLastYear,
  lastCompletePeriod,
  PERIOD_KINDS,
  type Period,
  type PeriodKind,
} from './period.ts';
export {
  renderAll,
  renderHtml,
  renderPdf,
  renderXlsx,
  readXlsxTables,
  escapeFormula,
  FORMATS,
  CJK_FONT_PATH,
  type Format,
} from './render.ts';
export {
  enqueueJob,
  claimJob,
  runJob,
  generateReport,
  getJob,
  getReport,
  listReports,
  reportFile,
} from './store.ts';
export {
  createReportScheduler,
  DEFAULT_SCHEDULE,
  type ReportSchedule,
  type ReportScheduler,
} from './scheduler.ts';
export { reportCli } from './cli.ts';
