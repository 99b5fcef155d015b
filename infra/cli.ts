/**
 * The coalflow command line (`npx coalflow --help`). The composition root is
 * infra/compose.ts; this file only maps commands and flags onto it.
 */
import { Command, Option } from 'commander';
import { loadConfig, CoalflowError, ConfigError, type Config } from './core/index.ts';
// The runtime (database, broker, API, models) is imported when a command runs, not for `--help`.
import type { Role } from './system.ts';

function fail(err: unknown): never {
  if (err instanceof CoalflowError) {
    console.error(`✘ [${err.code}] ${err.message}`);
  } else {
    console.error(`✘ ${(err as Error)?.stack ?? err}`);
  }
  process.exit(
    err instanceof CoalflowError && (err.code === 'CONFIG_INVALID' || err.code === 'INPUT_INVALID') ? 2 : 1,
  );
}

async function runRoles(roles: Role[], overrides: Partial<Config> = {}): Promise<void> {
  const config = loadConfig(process.env, overrides);
  // A read-only or full data directory is refused before the runtime loads (seconds, not a database start).
  if (!config.databaseUrl && config.dataDir && config.dataDir !== 'memory') {
    const { checkDataDir } = await import('./db/data-dir.ts');
    checkDataDir(config.dataDir, config.dataDirMinFreeMb * 1048576);
  }
  // Signals are taken from the start: one that arrives while the system is still starting (the API may already
  // answer /healthz) stops it cleanly as soon as it has started, instead of killing it half-way.
  let stopNow: ((sig: string) => void) | null = null;
  let signalled = false;
  let pending: string | null = null;
  const onSignal = (sig: string) => {
    if (stopNow) stopNow(sig);
    else pending ??= sig;
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  const [{ buildRuntime }, { startSystem }] = await Promise.all([
    import('./compose.ts'),
    import('./system.ts'),
  ]);
  const rt = await buildRuntime(config);
  const sys = await startSystem(rt, roles);
  // The database cannot go on (its data directory turned read-only or full, its process cannot be restarted):
  // stop as on SIGTERM (workers commit what they finished), then exit with the error.
  rt.onFatal((err) => {
    if (signalled) return;
    signalled = true;
    console.error(`✘ [${err.code}] ${err.message}`);
    const exit = () => process.exit(1);
    setTimeout(exit, 30_000);
    sys.stop().then(exit, exit);
  });
  if (roles.includes('api')) {
    const base = `http://127.0.0.1:${config.port}`;
    process.stderr.write(
      [
        '',
        `coalflow 已启动 / started (${rt.kinds.broker}, ${rt.kinds.db}, ${rt.kinds.cache}, registry ${rt.kinds.registry}${roles.includes('simulator') ? `, simulator ×${config.simSpeed}` : ''})`,
        `  ${base}/   仪表盘 / dashboard`,
        `  ${base}/healthz`,
        `  ${base}/v1/indicators/latest?family=sales&scope=city`,
        `  ${base}/v1/indicators/latest?family=price&scope=city`,
        `  ${base}/v1/indicators/catalog`,
        `  ${base}/v1/forecasts`,
        `  ${base}/metrics`,
        '',
      ].join('\n') + '\n',
    );
  }
  stopNow = (sig: string) => {
    if (signalled) return;
    signalled = true;
    const t0 = Date.now();
    rt.log.info({ sig, budgetMs: config.shutdownTimeoutMs }, 'stopping: finishing batches and committing');
    // The budget: a stop that hangs (a broker or database gone) must not keep an orchestrator waiting forever;
    // what was not committed by then is redelivered on the next start.
    setTimeout(() => {
      rt.log.error(
        { budgetMs: config.shutdownTimeoutMs },
        '停止超时，强制退出 / shutdown budget exceeded: exiting without finishing',
      );
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    sys.stop().then(
      () => {
        rt.log.info({ ms: Date.now() - t0 }, 'stopped');
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  if (pending) {
    stopNow(pending);
    return;
  }
  // After the signal handlers: a stop asked for meanwhile still finishes cleanly.
  if (roles.includes('api') && config.demoKeys && sys.app) {
    const [{ ensureDemoKeys }, { createWorld }] = await Promise.all([
      import('../api/index.ts'),
      import('./simulator/world.ts'),
    ]);
    const base = `http://127.0.0.1:${config.port}`;
    const keys = await ensureDemoKeys(
      rt.db,
      sys.app.access.store,
      createWorld(config.simSeed),
      config.demoKeysFile,
    ).catch((err: Error) => {
      rt.log.warn({ err: err.message }, 'demo keys not created');
      return [];
    });
    // The dashboard opens as the demo energy bureau; the route that hands it out exists only on the embedded default.
    if (config.embedded) (await import('../api/index.ts')).offerDemoSession(keys);
    if (keys.length)
      process.stderr.write(
        [
          '',
          `演示密钥 / demo keys (${config.demoKeysFile}):`,
          ...keys.map((k) => `  ${k.kind.padEnd(11)} ${k.key}`),
          `  curl -H "Authorization: Bearer <key>" ${base}/v1/me`,
          `  ${base}/docs`,
          '',
        ].join('\n') + '\n',
      );
  }
}

const program = new Command('coalflow')
  .description(
    '煤炭产业场景实时数据处理 / coalflow: real-time coal logistics indicators, forecasts and reports',
  )
  .showHelpAfterError();

program
  .command('start')
  .description(
    '在一个进程中运行整个系统（无环境变量时为内嵌默认）/ run the whole system in one process (embedded default without env)',
  )
  .addOption(new Option('--port <port>', 'API port (env PORT)').argParser(Number))
  .addOption(new Option('--no-simulator', 'do not run the feed simulator'))
  .addOption(
    new Option('--speed <n>', 'simulated seconds per second (env COALFLOW_SIM_SPEED)').argParser(Number),
  )
  .action(async (o: { port?: number; simulator?: boolean; speed?: number }) => {
    const overrides: Partial<Config> = {};
    if (o.port !== undefined) overrides.port = o.port;
    if (o.speed !== undefined) overrides.simSpeed = o.speed;
    const roles: Role[] = ['worker', 'api'];
    try {
      if (o.simulator !== false && loadConfig().simulator) roles.push('simulator');
    } catch (err) {
      fail(err);
    }
    await runRoles(roles, overrides).catch(fail);
  });

/** Separate worker and API processes share state only through real services. */
function requireServices(cmd: string): void {
  const c = loadConfig();
  const missing = [
    !c.kafkaBrokers.length && 'KAFKA_BROKERS',
    !c.databaseUrl && 'DATABASE_URL',
    !c.redisUrl && 'REDIS_URL',
  ].filter(Boolean);
  if (missing.length) {
    fail(
      new ConfigError(
        `coalflow ${cmd} 作为独立进程运行时需要真实服务，请设置 ${missing.join('、')}；单进程演示请用 npm start / ` +
          `coalflow ${cmd} as a separate process needs real services: set ${missing.join(', ')} (or run everything in one process with npm start)`,
      ),
    );
  }
}

program
  .command('worker')
  .description(
    '只运行流处理 worker（加入消费组，可横向扩展）/ run stream workers only (consumer group; scale out)',
  )
  .action(async () => {
    requireServices('worker');
    await runRoles(['worker']).catch(fail);
  });

program
  .command('api')
  .description('只运行 API 服务 / run the API only')
  .addOption(new Option('--port <port>', 'API port (env PORT)').argParser(Number))
  .action(async (o: { port?: number }) => {
    requireServices('api');
    await runRoles(['api'], o.port !== undefined ? { port: o.port } : {}).catch(fail);
  });

program
  .command('migrate')
  .description('执行数据库迁移 / apply database migrations')
  .action(async () => {
    try {
      const [{ buildRuntime }, { migrate }] = await Promise.all([
        import('./compose.ts'),
        import('./db/migrate.ts'),
      ]);
      const rt = await buildRuntime(loadConfig(), { migrate: false });
      const r = await migrate(rt.db);
      console.log(JSON.stringify(r));
      await rt.close();
    } catch (err) {
      fail(err);
    }
  });

/** Commands with their own argument parsing (and exit codes): commander hands the rest over. */
function forward(name: string, description: string, run: (args: string[]) => Promise<number>): void {
  program
    .command(name)
    .description(description)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      process.exitCode = await run(args);
    });
}
const io = { stdout: process.stdout, stderr: process.stderr };

forward(
  'forecast',
  '对任意 date,value CSV 序列做回测选模与预测，输出 JSON / backtest, select and forecast any date,value CSV series (JSON out)',
  async (args) => (await import('../models/index.ts')).forecastCli(args, io),
);

forward(
  'import',
  '导入 CSV（UTF-8/GB18030）或 XLSX 导出文件 / import a CSV (UTF-8/GB18030) or XLSX export: import FILE --feed sales [--json]',
  async (args) =>
    (await import('../pipelines/index.ts')).importCli(args, {
      ...io,
      // Logs go to stderr: stdout carries only the summary (one JSON object with --json).
      openRuntime: async (env) => {
        const config = loadConfig(env);
        const [{ createLogger }, { buildRuntime }] = await Promise.all([
          import('./core/index.ts'),
          import('./compose.ts'),
        ]);
        return buildRuntime(config, {
          log: createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, to: 'stderr' }),
        });
      },
    }),
);

/** A runtime for one command: its database, then closed. */
const withDb = async <T>(fn: (db: import('pg').Pool) => Promise<T>): Promise<T> => {
  const { buildRuntime } = await import('./compose.ts');
  const rt = await buildRuntime(loadConfig());
  try {
    return await fn(rt.db);
  } finally {
    await rt.close();
  }
};

forward(
  'keys',
  '订户、授权与 API 密钥（新建、列出、轮换、吊销、到期）/ subscribers, grants and API keys (create, list, rotate, revoke, expire)',
  async (args) => (await import('../api/index.ts')).keysCli(args, io, withDb),
);

forward(
  'bill',
  '按月出账单（表格或 --json）/ monthly statements per subscriber (table or --json): bill --month 2026-10',
  async (args) => (await import('../api/index.ts')).billCli(args, io, withDb),
);

forward(
  'products',
  '数据产品生命周期：登记、送审、批准、发布、暂停、恢复、下线 / data product lifecycle: products list|show|register|submit|approve|publish|suspend|resume|retire --reason …',
  async (args) =>
    (await import('../api/index.ts')).productsCli(args, io, async () =>
      (await import('./compose.ts')).buildRuntime(loadConfig()),
    ),
);

forward(
  'emergency',
  '紧急停止对外访问（订户、数据产品或全部）/ emergency stop of outside access: emergency stop|resume --all|--subscriber ID|--product CODE --reason …; emergency status',
  async (args) =>
    (await import('../api/index.ts')).emergencyCli(args, io, async () =>
      (await import('./compose.ts')).buildRuntime(loadConfig()),
    ),
);

forward(
  'audit',
  '校验审计日志哈希链（退出码 0 完好，1 被篡改）/ verify the audit log hash chain (exit 0 intact, 1 tampered): audit verify [--from ISO] [--to ISO]',
  async (args) => (await import('../api/index.ts')).auditCli(args, io, withDb),
);

forward(
  'report',
  '生成日报/周报/月报/年报（HTML、PDF、XLSX、JSON）/ build a daily, weekly, monthly or annual report: report --period month --date 2026-10 [--format pdf,xlsx,html,json] [--out DIR]',
  async (args) =>
    (await import('../api/index.ts')).reportCli(args, {
      ...io,
      openRuntime: async () => (await import('./compose.ts')).buildRuntime(loadConfig()),
    }),
);

forward(
  'compliance',
  '公共数据资源使用情况与合规月报（PDF、XLSX、HTML、JSON）/ monthly usage and compliance report: compliance --month 2026-10 [--format pdf] [--out f.pdf]',
  async (args) =>
    (await import('../api/index.ts')).complianceCli(args, {
      ...io,
      openRuntime: async () => (await import('./compose.ts')).buildRuntime(loadConfig()),
    }),
);

forward(
  'sandbox',
  '向运行中的 API 提交沙箱聚合查询 / send a sandbox aggregate query to a running API: sandbox query --file q.json --key KEY [--url URL]',
  async (args) =>
    (await import('../api/index.ts')).sandboxCli(args, {
      ...io,
      openRuntime: async () => (await import('./compose.ts')).buildRuntime(loadConfig()),
    }),
);

program
  .command('simulate')
  .description('只运行模拟器，向 coal.raw.* 主题写入 / run only the feed simulator, producing to coal.raw.*')
  .addOption(
    new Option('--speed <n>', 'simulated seconds per second (env COALFLOW_SIM_SPEED)').argParser(Number),
  )
  .addOption(new Option('--seed <n>', 'PRNG seed (env COALFLOW_SIM_SEED)').argParser(Number))
  .action(async (o: { speed?: number; seed?: number }) => {
    const overrides: Partial<Config> = {};
    if (o.speed !== undefined) overrides.simSpeed = o.speed;
    if (o.seed !== undefined) overrides.simSeed = o.seed;
    await runRoles(['simulator'], overrides).catch(fail);
  });

await program.parseAsync(process.argv);
