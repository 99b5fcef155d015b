/**
 * The dashboard in headless Chromium against `npm start` on the embedded default: the page opens
 * signed in as the demo energy bureau, draws the overview from simulator data, shows a record ingested
 * over HTTP without a reload, and downloads a report; a subscriber without a grant sees neither the
 * data on the page nor in the responses behind it. Saves a screenshot of the overview to
 * `$SCREENSHOT_DIR/dashboard-overview.png` (default the system's temp dir; the README's picture is one of them).
 *
 * Needs Debian's chromium (`apt-get install chromium`; .ci/run installs it) or CHROMIUM_PATH.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Response } from 'playwright-core';
import { eventually } from '../../helpers/runtime.ts';

const root = new URL('../../..', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Today's date in China Standard Time: ahead of the simulator (which starts a week back), not in the future. */
const cstToday = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);

interface Ctx {
  child: ChildProcess | null;
  dir: string;
  base: string;
  stderr: string;
  browser: BrowserContext | null;
  page: Page | null;
  keys: Record<string, string>;
}

const s = suite<Ctx>('api/dashboard: the page in headless Chromium on the embedded default', {
  child: null,
  dir: '',
  base: '',
  stderr: '',
  browser: null,
  page: null,
  keys: {},
});

s.before(async (ctx) => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium 未找到：${CHROMIUM}。请安装 Debian 的 chromium（apt-get install chromium，.ci/run 会自动安装）或设置 CHROMIUM_PATH / Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run installs it) or set CHROMIUM_PATH`,
    );
  }
  // `npm install` builds the page (prepare); a checkout that skipped it is built here.
  if (!existsSync(join(root, 'api/dashboard/dist/index.html')))
    execFileSync('npm', ['run', 'build:dashboard'], { cwd: root, stdio: 'inherit' });

  ctx.dir = mkdtempSync(join(tmpdir(), 'coalflow-dashboard-'));
  const port = await freePort();
  ctx.base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/cli.ts', 'start'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: 'warn',
      PORT: String(port),
      COALFLOW_DATA_DIR: join(ctx.dir, 'pglite'),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  ctx.child = child;
  child.stderr!.on('data', (d) => {
    ctx.stderr += d;
  });
  await eventually(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`start exited ${child.exitCode}: ${ctx.stderr.slice(-800)}`);
      return (await fetch(`${ctx.base}/healthz`)).status === 200;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: '/healthz' },
  );
  // The demo keys this process prints (one per subscriber kind) once it listens, when the access layer is in front.
  const guarded = (await fetch(`${ctx.base}/v1/me`)).status === 401;
  if (guarded) {
    await eventually(
      () => {
        for (const m of ctx.stderr.matchAll(/^\s{2}(operator|enterprise|coal_user|government)\s+(\S+)\s*$/gm))
          ctx.keys[m[1]!] = m[2]!;
        return ctx.keys.government && ctx.keys.operator && ctx.keys.enterprise;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'demo keys printed by start' },
    );
  }

  const { chromium } = await import('playwright-core');
  ctx.browser = await chromium.launchPersistentContext(join(ctx.dir, 'chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1366, height: 768 },
    acceptDownloads: true,
  });
  ctx.page = ctx.browser.pages()[0] ?? (await ctx.browser.newPage());
});

s.after(async (ctx) => {
  await ctx.browser?.close().catch(() => undefined);
  if (ctx.child && ctx.child.exitCode === null) {
    const exited = new Promise((r) => ctx.child!.once('exit', r));
    ctx.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (ctx.child.exitCode === null) ctx.child.kill('SIGKILL');
  }
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

const auth = (ctx: Ctx, kind = 'operator'): Record<string, string> =>
  ctx.keys[kind] ? { authorization: `Bearer ${ctx.keys[kind]}` } : {};

async function apiJson<T>(
  ctx: Ctx,
  path: string,
  kind = 'operator',
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${ctx.base}${path}`, {
    ...init,
    headers: { ...auth(ctx, kind), ...(init.headers as Record<string, string> | undefined) },
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as T };
}

s('opens signed in on the embedded default and draws the overview from simulator data', async (ctx) => {
  const page = ctx.page!;
  // Simulator data in the cache first (port stocks and the city's production arrive within the first simulated day).
  await eventually(
    async () => {
      const r = await apiJson<{ entities: unknown[] }>(
        ctx,
        '/v1/indicators/latest?family=inventory&scope=port',
        'government',
      );
      return r.status === 200 && r.body.entities.length > 0;
    },
    { timeoutMs: 90_000, intervalMs: 1000, what: 'port stocks from the simulator' },
  );

  await page.goto(`${ctx.base}/`);
  await page.waitForSelector('main[data-ready="true"]', { timeout: 60_000 });
  assert.is(await page.getAttribute('html', 'lang'), 'zh-CN', 'Chinese by default');
  if (ctx.keys.government) {
    // The demo energy bureau, without typing a key.
    assert.match((await page.textContent('#who')) ?? '', /能源局/);
    assert.ok(await page.evaluate("sessionStorage.getItem('coalflow.key')"), 'the key is in sessionStorage');
  }

  // Port stocks: a bar per port in the chart (SVG marks drawn) and the same figures in the table.
  await page.waitForSelector('#chart-ports svg', { timeout: 30_000 });
  const drawn = Number(await page.getAttribute('#chart-ports', 'data-points'));
  assert.ok(drawn > 0, `port-stock chart draws points (${drawn})`);
  assert.ok((await page.locator('#chart-ports svg path').count()) > drawn, 'bars are drawn as SVG paths');
  const rows = await page.locator('#port-table tbody tr').count();
  assert.is(rows, drawn, 'one table row per bar');
  const apiPorts = (
    await apiJson<{ entities: { scopeId: string; points: { metric: string; value: number | null }[] }[] }>(
      ctx,
      '/v1/indicators/latest?family=inventory&scope=port',
      'government',
    )
  ).body.entities
    .filter((e) => e.points.some((p) => p.metric === 'port_stock_t' && p.value !== null))
    .map((e) => e.scopeId);
  for (const id of apiPorts.slice(0, 3))
    assert.is(await page.locator(`#port-table tr[data-id="${id}"]`).count(), 1, `port ${id} shown`);

  // Today's production, sales or shipments from the simulator: a figure, not the placeholder (it may arrive live).
  const kpi = await eventually(
    async () => {
      for (const id of ['kpi-production', 'kpi-sales', 'kpi-shipments']) {
        const v = await page
          .getAttribute(`#${id} .kpi-value`, 'data-value', { timeout: 1000 })
          .catch(() => null);
        if (v) return { id, v: Number(v) };
      }
      return null;
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: 'a production, sales or shipments figure on the page' },
  );
  assert.ok(kpi!.v > 0, `${kpi!.id} today ${kpi!.v}`);
  await page.waitForSelector('#chart-price-index svg', { timeout: 30_000 });
  assert.ok(Number(await page.getAttribute('#chart-price-index', 'data-points')) > 0, 'price index drawn');

  mkdirSync(join(root, 'docs'), { recursive: true });
  const shot = join(process.env.SCREENSHOT_DIR || tmpdir(), 'dashboard-overview.png');
  await page.screenshot({ path: shot });
  assert.ok(readFileSync(shot).length > 10_000, 'screenshot saved');
});

s('a record ingested over HTTP shows on the open page without a reload', async (ctx) => {
  const page = ctx.page!;
  await page.evaluate('window.marker = 42');
  const before = Number(await page.getAttribute('#live-status', 'data-events'));
  const stockWanTons = '123.4567'; // 1,234,567 t: a figure no simulated port reports
  const r = await apiJson<{ summary: { accepted: number } }>(ctx, '/v1/ingest/ports', 'operator', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        港口: '京唐港',
        '场存(万吨)': stockWanTons,
        平仓价: '835',
        发热量: 5500,
        待港船舶: 23,
        海运运价: '32.5',
        日期: cstToday(),
      },
    ]),
  });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.is(r.body.summary.accepted, 1, JSON.stringify(r.body));
  await page.waitForFunction(
    `document.querySelector('#port-table tr[data-id="京唐港"] td')?.textContent === '1,234,567'`,
    undefined,
    { timeout: 60_000 },
  );
  assert.is(await page.evaluate('window.marker'), 42, 'same page: no reload');
  assert.ok(
    Number(await page.getAttribute('#live-status', 'data-events')) > before,
    'arrived over the live stream',
  );
});

s('English switch, keyboard tabs, and every view renders', async (ctx) => {
  const page = ctx.page!;
  await page.click('#lang');
  await page.waitForSelector('main[data-ready="true"]');
  assert.is(await page.getAttribute('html', 'lang'), 'en');
  assert.match((await page.textContent('header h1')) ?? '', /Ordos coal/);
  await page.focus('#tab-overview');
  await page.keyboard.press('ArrowRight');
  await page.waitForSelector('main[data-view="inventory"][data-ready="true"]', { timeout: 60_000 });
  assert.is(
    await page.evaluate('document.activeElement?.id'),
    'tab-inventory',
    'focus follows the arrow key',
  );
  for (const v of ['prices', 'transport', 'operators']) {
    await page.goto(`${ctx.base}/#${v}`);
    await page.waitForSelector(`main[data-view="${v}"][data-ready="true"]`, { timeout: 60_000 });
    assert.is((await page.locator('main .panel').count()) > 0, true, v);
  }
  // Operators: the feeds table from the metrics, for the energy bureau only if the layer allows it.
  const feeds = await page.locator('#feeds-table tbody tr').count();
  const denied = await page.locator('#p-feeds .body[data-state="denied"]').count();
  assert.ok(feeds === 8 || denied === 1, `feeds table or a refusal (${feeds}, ${denied})`);
  await page.click('#lang');
  await page.waitForSelector('main[data-ready="true"]');
  assert.is(await page.getAttribute('html', 'lang'), 'zh-CN');
});

s('reports: the list and a download of every format', async (ctx) => {
  const page = ctx.page!;
  const probe = await apiJson<unknown>(ctx, '/v1/reports', 'government');
  if (probe.status === 404) {
    console.log('  (no report routes in this build: download not checked)');
    return;
  }
  const day = new Date(Date.now() + 8 * 3600_000 - 86_400_000).toISOString().slice(0, 10);
  const job = await apiJson<{ jobId: number; links: { job: string } }>(ctx, '/v1/reports', 'operator', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ period: 'day', date: day }),
  });
  assert.is(job.status, 202, JSON.stringify(job.body));
  await eventually(
    async () => {
      const j = await apiJson<{ status: string; error?: string }>(ctx, job.body.links.job, 'operator');
      if (j.body.status === 'failed') throw new Error(`report job failed: ${j.body.error}`);
      return j.body.status === 'done';
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: 'report job' },
  );
  await page.goto(`${ctx.base}/#reports`);
  await page.waitForSelector('main[data-view="reports"][data-ready="true"]', { timeout: 60_000 });
  const row = page.locator('#reports-table tbody tr').first();
  const buttons = row.locator('button[data-dl]');
  const formats = await buttons.count();
  assert.ok(formats >= 4, `json, html, pdf, xlsx offered (${formats})`);
  for (let i = 0; i < formats; i++) {
    const [dl] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      buttons.nth(i).click(),
    ]);
    const path = await dl.path();
    const fmt = await buttons.nth(i).getAttribute('data-format');
    assert.ok(path && readFileSync(path).length > 100, `${fmt} downloaded`);
    assert.ok(dl.suggestedFilename().endsWith(`.${fmt}`), dl.suggestedFilename());
    if (fmt === 'pdf') assert.is(readFileSync(path!).subarray(0, 5).toString(), '%PDF-');
  }
});

s(
  'a subscriber without a grant sees neither the data on the page nor in the responses behind it',
  async (ctx) => {
    if (!ctx.keys.enterprise) {
      console.log('  (no access layer in this build: grants not checked)');
      return;
    }
    const page = ctx.page!;
    // What the energy bureau sees of coal users' days of stock: ids that must not reach the enterprise (not granted).
    const gov = await apiJson<{ entities: { scopeId: string }[] }>(
      ctx,
      '/v1/indicators/latest?family=days_of_stock&scope=user',
      'government',
    );
    assert.is(gov.status, 200);
    const users = gov.body.entities.map((e) => e.scopeId);
    assert.ok(users.length > 0, 'coal users exist');

    await page.goto(`${ctx.base}/#overview`);
    await page.waitForSelector('main[data-ready="true"]');
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in');
    const bodies: { url: string; status: number; body: string }[] = [];
    const collect = async (res: Response) => {
      if (!res.url().startsWith(ctx.base) || (res.headers()['content-type'] ?? '').includes('event-stream'))
        return;
      bodies.push({ url: res.url(), status: res.status(), body: await res.text().catch(() => '') });
    };
    page.on('response', collect);
    await page.fill('#key', ctx.keys.enterprise);
    await page.click('#sign-in button[type="submit"]');
    await page.waitForSelector('main[data-view="overview"][data-ready="true"]', { timeout: 60_000 });
    assert.match((await page.textContent('#who')) ?? '', /煤炭集团/);
    assert.is(
      await page.getAttribute('#p-dos .body', 'data-state'),
      'denied',
      'the panel says it is not granted',
    );
    const dos = bodies.filter((b) => b.url.includes('family=days_of_stock'));
    assert.ok(
      dos.length > 0 && dos.every((b) => b.status === 403),
      `days-of-stock refused: ${dos.map((b) => b.status)}`,
    );
    const text = (await page.textContent('main')) ?? '';
    for (const id of users) {
      assert.not.ok(text.includes(id), `coal user ${id} not on the page`);
      for (const b of bodies) assert.not.ok(b.body.includes(id), `coal user ${id} not in ${b.url}`);
    }
    page.off('response', collect);
  },
);

s.run();
