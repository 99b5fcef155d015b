/**
 * `coalflow products …` (the data product lifecycle) and `coalflow emergency stop|resume|status`.
 * Against the database of the configured services (the change is announced on Redis, so running processes apply
 * it at once), or with `--api URL` through a running API's operator routes (the embedded default's data directory
 * is held by `npm start`; the key comes from `--key` or `COALFLOW_OPERATOR_KEY`).
 * Exit codes: 0 ok, 2 bad input or usage, 1 refused or unexpected error.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { CoalflowError, InputError, type Logger } from '../../infra/core/index.ts';
import type { CliIo } from './cli.ts';
import { emergencyState, emergencyStops, setEmergency, type StopKind } from './emergency.ts';
import { governanceChannel } from './governance.ts';
import { productEvents, STEP_NAMES, transition, type Step } from './lifecycle.ts';
import { createAccessStore } from './store.ts';

/** What a command needs of the runtime (the composition root's), closed after. */
export interface GovRuntime {
  db: pg.Pool;
  redis: Redis;
  log: Logger;
  config: { topicPrefix: string };
  close(): Promise<void>;
}
export type OpenRuntime = () => Promise<GovRuntime>;

export const PRODUCTS_USAGE = `用法 / usage:
  coalflow products list                                       数据产品与状态 / products and their state
  coalflow products show CODE                                  状态、审查记录、事件 / state, review record, events
  coalflow products register --code C --name N --fields a,b [--fee JSON]   登记（草稿）/ register (draft)
  coalflow products submit|approve|publish CODE [--reason R]   送审、批准（核对最小必要清单）、发布 / review, approve, publish
  coalflow products suspend|resume|retire CODE --reason R      暂停、恢复、下线 / suspend, resume, retire
  coalflow products events [--from ISO] [--to ISO]             生命周期事件 / lifecycle events
  选项 / options: --by NAME（记录的操作人，默认当前用户 / operator recorded, default the OS user）, --json,
                  --api URL [--key KEY]（经运行中的 API / through a running API; key also COALFLOW_OPERATOR_KEY）
`;
export const EMERGENCY_USAGE = `用法 / usage:
  coalflow emergency stop   --all | --subscriber ID | --product CODE --reason R   立即关闭对外访问 / close outside access now
  coalflow emergency resume --all | --subscriber ID | --product CODE --reason R   恢复 / resume
  coalflow emergency status [--from ISO] [--to ISO]                               当前状态与记录 / state and log
  选项 / options: --by NAME, --json, --api URL [--key KEY]
`;

const OPTIONS = {
  by: { type: 'string' },
  json: { type: 'boolean' },
  api: { type: 'string' },
  key: { type: 'string' },
  reason: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function guarded(io: CliIo, usage: string, run: () => Promise<void>): Promise<number> {
  try {
    await run();
    return 0;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'INPUT_INVALID' || code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`✘ ${(err as Error).message}\n${usage}`);
      return 2;
    }
    io.stderr.write(
      `✘ ${code && err instanceof CoalflowError ? `[${code}] ` : ''}${(err as Error).message}\n`,
    );
    return 1;
  }
}

/** Calls an operator route of a running API; a problem+json answer becomes the error it describes. */
async function callApi(
  base: string,
  key: string | undefined,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  if (!key)
    throw new InputError('--api 需要运营方密钥 --key 或 COALFLOW_OPERATOR_KEY / --api needs an operator key');
  const res = await fetch(new URL(path, base), {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!res.ok) {
    const code = (json.code ?? 'INTERNAL') as ConstructorParameters<typeof CoalflowError>[0];
    throw new CoalflowError(code, json.message ?? `HTTP ${res.status}`, { status: res.status });
  }
  return json;
}

function operatorName(by: string | undefined): string {
  if (by?.trim()) return by.trim();
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

async function direct<T>(
  open: OpenRuntime,
  fn: (rt: GovRuntime) => Promise<T>,
  announce: boolean,
): Promise<T> {
  const rt = await open();
  try {
    const out = await fn(rt);
    // Running processes reload at once (their timer would within the refresh period anyway).
    if (announce) await rt.redis.publish(governanceChannel(rt.config.topicPrefix), String(Date.now()));
    return out;
  } finally {
    await rt.close();
  }
}

export async function productsCli(argv: readonly string[], io: CliIo, open: OpenRuntime): Promise<number> {
  const args = argv[0] === 'products' ? argv.slice(1) : [...argv];
  return guarded(io, PRODUCTS_USAGE, async () => {
    const { values: o, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...OPTIONS,
        code: { type: 'string' },
        name: { type: 'string' },
        fields: { type: 'string' },
        fee: { type: 'string' },
      },
    });
    const [cmd, arg] = positionals;
    if (o.help || !cmd) {
      io.stdout.write(PRODUCTS_USAGE);
      return;
    }
    const key = o.key ?? process.env.COALFLOW_OPERATOR_KEY;
    const who = { actor: `cli:${operatorName(o.by)}` };
    const out = (v: unknown, text: () => string) =>
      io.stdout.write(o.json ? JSON.stringify(v, null, 2) + '\n' : text());
    const need = (v: string | undefined, what: string) => {
      if (!v) throw new InputError(`缺少 ${what} / ${what} is required`);
      return v;
    };
    if (cmd === 'list') {
      const items = o.api
        ? (
            (await callApi(o.api, key, 'GET', '/v1/products')) as {
              items: { code: string; state: string; name: string }[];
            }
          ).items
        : await direct(open, async (rt) => createAccessStore(rt.db).products(), false);
      out(items, () =>
        items.map((p) => `${p.code.padEnd(28)} ${(p.state ?? '').padEnd(12)} ${p.name}\n`).join(''),
      );
      return;
    }
    if (cmd === 'show') {
      const code = need(arg, 'CODE');
      const v = o.api
        ? await callApi(o.api, key, 'GET', `/v1/products/${encodeURIComponent(code)}`)
        : await direct(
            open,
            async (rt) => {
              const r = await rt.db.query(
                'SELECT code, name, fields, fee, state, review FROM access_products WHERE code = $1',
                [code],
              );
              if (!r.rowCount)
                throw new CoalflowError(
                  'NOT_FOUND',
                  `数据产品 ${code} 未登记 / data product ${code} is not registered`,
                );
              return { product: r.rows[0], events: await productEvents(rt.db, null, null, code) };
            },
            false,
          );
      const x = v as {
        product: { code: string; state: string; fields: string[] };
        events: { at: string; from: string | null; to: string; actor: string; reason: string }[];
      };
      out(v, () =>
        [
          `${x.product.code}: ${x.product.state}  fields: ${x.product.fields.join(',')}`,
          ...x.events.map((e) => `  ${e.at}  ${e.from ?? '—'} → ${e.to}  ${e.actor}  ${e.reason}`),
          '',
        ].join('\n'),
      );
      return;
    }
    if (cmd === 'events') {
      const items = o.api
        ? (
            (await callApi(
              o.api,
              key,
              'GET',
              `/v1/products/events?${new URLSearchParams({ ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) })}`,
            )) as { items: unknown[] }
          ).items
        : await direct(open, (rt) => productEvents(rt.db, o.from, o.to), false);
      out(
        items,
        () =>
          (
            items as {
              at: string;
              product: string;
              from: string | null;
              to: string;
              actor: string;
              reason: string;
            }[]
          )
            .map((e) => `${e.at}  ${e.product}  ${e.from ?? '—'} → ${e.to}  ${e.actor}  ${e.reason}\n`)
            .join('') || '（无 / none）\n',
      );
      return;
    }
    if (cmd === 'register') {
      let fee = {};
      if (o.fee) {
        try {
          fee = JSON.parse(o.fee);
        } catch {
          throw new InputError('--fee 不是有效的 JSON / --fee is not valid JSON');
        }
      }
      const body = {
        code: need(o.code, '--code'),
        name: need(o.name, '--name'),
        fields: need(o.fields, '--fields')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        fee,
      };
      const p = o.api
        ? await callApi(o.api, key, 'POST', '/v1/products', body)
        : await direct(open, (rt) => createAccessStore(rt.db).registerProduct(body, who), true);
      out(p, () => `✔ 已登记（草稿）/ registered (draft): ${body.code}\n`);
      return;
    }
    if ((STEP_NAMES as string[]).includes(cmd)) {
      const code = need(arg, 'CODE');
      const e = o.api
        ? await callApi(o.api, key, 'POST', `/v1/products/${encodeURIComponent(code)}/${cmd}`, {
            reason: o.reason ?? '',
          })
        : await direct(
            open,
            (rt) =>
              transition(
                { db: rt.db, redis: rt.redis, prefix: rt.config.topicPrefix },
                code,
                cmd as Step,
                who,
                o.reason ?? '',
              ),
            true,
          );
      const x = e as { from: string; to: string };
      out(e, () => `✔ ${code}: ${x.from} → ${x.to}\n`);
      return;
    }
    throw new InputError(`未知子命令 ${cmd} / unknown subcommand ${cmd}`);
  });
}

export async function emergencyCli(argv: readonly string[], io: CliIo, open: OpenRuntime): Promise<number> {
  const args = argv[0] === 'emergency' ? argv.slice(1) : [...argv];
  return guarded(io, EMERGENCY_USAGE, async () => {
    const { values: o, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...OPTIONS,
        all: { type: 'boolean' },
        subscriber: { type: 'string' },
        product: { type: 'string' },
      },
    });
    const [cmd] = positionals;
    if (o.help || !cmd) {
      io.stdout.write(EMERGENCY_USAGE);
      return;
    }
    const key = o.key ?? process.env.COALFLOW_OPERATOR_KEY;
    const out = (v: unknown, text: () => string) =>
      io.stdout.write(o.json ? JSON.stringify(v, null, 2) + '\n' : text());
    const show = (s: { all: boolean; subscribers: string[]; products: string[] }) =>
      `全部对外访问 / all outside access: ${s.all ? '已停止 STOPPED' : '开放 open'}\n` +
      `停止的订户 / stopped subscribers: ${s.subscribers.join(', ') || '—'}\n` +
      `停止的数据产品 / stopped products: ${s.products.join(', ') || '—'}\n`;
    if (cmd === 'status') {
      const v = o.api
        ? await callApi(
            o.api,
            key,
            'GET',
            `/v1/emergency?${new URLSearchParams({ ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) })}`,
          )
        : await direct(
            open,
            async (rt) => ({
              ...(await emergencyState(rt.db)),
              events: await emergencyStops(rt.db, o.from, o.to),
            }),
            false,
          );
      out(v, () => show(v as { all: boolean; subscribers: string[]; products: string[] }));
      return;
    }
    if (cmd !== 'stop' && cmd !== 'resume')
      throw new InputError(`未知子命令 ${cmd} / unknown subcommand ${cmd}`);
    const n = [o.all === true, !!o.subscriber, !!o.product].filter(Boolean).length;
    if (n !== 1)
      throw new InputError(
        '须且仅须指定 --all、--subscriber 或 --product 之一 / give exactly one of --all, --subscriber or --product',
      );
    if (!o.reason?.trim()) throw new InputError('缺少 --reason / --reason is required');
    const kind: StopKind = o.all ? 'all' : o.subscriber ? 'subscriber' : 'product';
    const target = o.subscriber ?? o.product ?? null;
    const r = (
      o.api
        ? await callApi(o.api, key, 'POST', `/v1/emergency/${cmd}`, {
            ...(o.all ? { all: true } : o.subscriber ? { subscriber: o.subscriber } : { product: o.product }),
            reason: o.reason,
          })
        : await direct(
            open,
            (rt) => setEmergency(rt.db, cmd, kind, target, { actor: `cli:${operatorName(o.by)}` }, o.reason!),
            true,
          )
    ) as { changed: boolean; state: { all: boolean; subscribers: string[]; products: string[] } };
    out(
      r,
      () =>
        `${r.changed ? '✔' : '·'} ${cmd === 'stop' ? '紧急停止 / emergency stop' : '恢复 / resume'} ${kind}${target ? ` ${target}` : ''}${r.changed ? '' : '（状态未变 / no change）'}\n` +
        show(r.state),
    );
  });
}
