import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, loadConfig } from '../../../infra/core/index.ts';
import { createReportScheduler } from '../../../api/reports/scheduler.ts';

const test = suite('api/reports/schedule-config');
const log = createLogger({ level: 'silent' });

test('the report schedule has its defaults and is set from the environment', () => {
  assert.equal(loadConfig({}).reportCron, {
    day: '0 7 * * *',
    week: '30 7 * * 1',
    month: '0 8 1 * *',
    year: '0 9 1 1 *',
  });
  assert.is(loadConfig({ COALFLOW_REPORT_CRON_DAY: '15 6 * * *' }).reportCron.day, '15 6 * * *');
});

test('a bad schedule fails at start and names itself', () => {
  try {
    loadConfig({ COALFLOW_REPORT_CRON_MONTH: 'every month' });
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code?: string }).code, 'CONFIG_INVALID');
    assert.match((err as Error).message, 'COALFLOW_REPORT_CRON_MONTH');
  }
  try {
    createReportScheduler({ db: null as never, log, schedule: { week: '99 7 * * 1' } });
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code?: string }).code, 'CONFIG_INVALID');
    assert.match((err as Error).message, 'week');
  }
});

test.run();
