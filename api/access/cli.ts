/**
 * `coalflow keys …` (subscribers, grants, keys, products) and `coalflow bill --month YYYY-MM [--json]`.
 * Exit codes: 0 ok, 2 bad input or usage, 1 unexpected error.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { CoalflowError, InputError } from '../../infra/core/index.ts';
import { bill, formatBill } from './bill.ts';
import { verifyAudit } from './chain.ts';
import { createAccessStore, KINDS } from './store.ts';
import type { SubscriberKind, Tier } from './principal.ts';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}
/** Runs `fn` with a database connection (the composition root's), closing it after. */
export type WithDb = <T>(fn: (db: pg.Pool) => Promise<T>) => Promise<T>;

export const KEYS_USAGE = `用法 / usage:
  coalflow keys subscribers                                   订户列表 / list subscribers
  coalflow keys subscriber --name N --kind ${KINDS.join('|')} [--id ID] [--credit-code 统一社会信用代码]
  coalflow keys grant --subscriber ID --products a,b --purpose P --tier public|industry
                      [--regions r1,r2|*] [--mines m1,m2|*] [--users u1|*] [--quota N] [--valid-from ISO] [--valid-to ISO]
  coalflow keys create --subscriber ID [--label L] [--expires ISO]   新密钥，仅显示一次 / new key, shown once
  coalflow keys list [--subscriber ID]
  coalflow keys rotate KEY_ID [--grace-seconds N]
  coalflow keys revoke KEY_ID
  coalflow keys expire KEY_ID [--at ISO]
  coalflow keys products                                      已登记数据产品 / registered products
  任一命令加 --json 输出 JSON / add --json for JSON output
`;
export const AUDIT_USAGE = `用法 / usage:
  coalflow audit verify [--from ISO] [--to ISO] [--json]   校验审计日志哈希链 / verify the audit log's hash chain
  退出码 / exit: 0 完好 / intact, 1 被篡改 / tampered (names the first bad seq), 2 用法错误 / usage
`;
export const BILL_USAGE = '用法 / usage: coalflow bill --month YYYY-MM [--subscriber ID] [--json]\n';

const list = (v: string | undefined) =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

function table(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '（无 / none）\n';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    v === null || v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  return (
    [
      cols.map((c, i) => c.padEnd(w[i]!)).join('  '),
      ...rows.map((r) => cols.map((c, i) => cell(r[c]).padEnd(w[i]!)).join('  ')),
    ].join('\n') + '\n'
  );
}

async function guarded(io: CliIo, usage: string, run: () => Promise<void>): Promise<number> {
  try {
    await run();
    return 0;
  } catch (err) {
    if (err instanceof CoalflowError && err.code === 'INPUT_INVALID') {
      io.stderr.write(`✘ ${err.message}\n${usage}`);
      return 2;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`✘ ${(err as Error).message}\n${usage}`);
      return 2;
    }
    io.stderr.write(`✘ ${err instanceof CoalflowError ? `[${err.code}] ` : ''}${(err as Error).message}\n`);
    return 1;
  }
}

export async function keysCli(argv: readonly string[], io: CliIo, withDb: WithDb): Promise<number> {
  const args = argv[0] === 'keys' ? argv.slice(1) : [...argv];
  return guarded(io, KEYS_USAGE, async () => {
    const { values: o, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        subscriber: { type: 'string' },
        name: { type: 'string' },
        kind: { type: 'string' },
        id: { type: 'string' },
        'credit-code': { type: 'string' },
        products: { type: 'string' },
        purpose: { type: 'string' },
        tier: { type: 'string' },
        regions: { type: 'string' },
        mines: { type: 'string' },
        users: { type: 'string' },
        quota: { type: 'string' },
        'valid-from': { type: 'string' },
        'valid-to': { type: 'string' },
        label: { type: 'string' },
        expires: { type: 'string' },
        'grace-seconds': { type: 'string' },
        at: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [cmd, arg] = positionals;
    if (o.help || !cmd) {
      io.stdout.write(KEYS_USAGE);
      return;
    }
    const need = (v: string | undefined, flag: string) => {
      if (!v) throw new InputError(`缺少 ${flag} / ${flag} is required`);
      return v;
    };
    const out = (v: unknown, text: () => string) =>
      io.stdout.write(o.json ? JSON.stringify(v, null, 2) + '\n' : text());
    await withDb(async (db) => {
      const store = createAccessStore(db);
      await store.ensureProducts();
      switch (cmd) {
        case 'subscribers': {
          const s = await store.subscribers();
          out(s, () => table(s));
          break;
        }
        case 'subscriber': {
          const s = await store.createSubscriber({
            id: o.id,
            name: need(o.name, '--name'),
            kind: need(o.kind, '--kind') as SubscriberKind,
            creditCode: o['credit-code'] ?? null,
          });
          out(s, () => `✔ 订户 / subscriber ${s.id} (${s.kind})\n`);
          break;
        }
        case 'grant': {
          const quota = o.quota === undefined ? null : Number(o.quota);
          const regions = list(o.regions);
          const g = await store.addGrant(need(o.subscriber, '--subscriber'), {
            products: list(need(o.products, '--products'))!,
            purpose: need(o.purpose, '--purpose'),
            tier: need(o.tier, '--tier') as Tier,
            regions: regions?.includes('*') ? '*' : regions,
            mines: list(o.mines),
            users: list(o.users),
            quotaPerDay: quota,
            validFrom: o['valid-from'],
            validTo: o['valid-to'] ?? null,
          });
          out(g, () => `✔ 授权 / grant ${g.id}: ${g.products.join(',')}\n`);
          break;
        }
        case 'create': {
          const k = await store.createKey(need(o.subscriber, '--subscriber'), {
            label: o.label,
            expiresAt: o.expires ?? null,
          });
          out(k, () => `✔ 密钥 / key ${k.keyId}（仅显示这一次 / shown only this once）\n${k.key}\n`);
          break;
        }
        case 'list': {
          const k = await store.keys(o.subscriber);
          out(k, () => table(k as never));
          break;
        }
        case 'rotate': {
          const grace = o['grace-seconds'] === undefined ? 0 : Number(o['grace-seconds']);
          if (!(Number.isInteger(grace) && grace >= 0))
            throw new InputError(
              '--grace-seconds 应为非负整数 / --grace-seconds must be a non-negative integer',
            );
          const k = await store.rotateKey(need(arg, 'KEY_ID'), grace);
          if (!k) throw new InputError(`密钥 ${arg} 不存在或已吊销 / key ${arg} not found or revoked`);
          out(
            k,
            () =>
              `✔ 新密钥 / new key ${k.keyId}（旧密钥 ${arg} ${grace ? `${grace} 秒后` : '立即'}失效 / old key stops ${grace ? `in ${grace} s` : 'now'}）\n${k.key}\n`,
          );
          break;
        }
        case 'revoke': {
          if (!(await store.revokeKey(need(arg, 'KEY_ID'))))
            throw new InputError(`密钥 ${arg} 不存在 / key ${arg} not found`);
          out({ keyId: arg, revoked: true }, () => `✔ 已吊销 / revoked ${arg}\n`);
          break;
        }
        case 'expire': {
          if (!(await store.expireKey(need(arg, 'KEY_ID'), o.at)))
            throw new InputError(`密钥 ${arg} 不存在 / key ${arg} not found`);
          out({ keyId: arg, expired: true }, () => `✔ 已设到期 / expiry set ${arg}\n`);
          break;
        }
        case 'products': {
          const p = await store.products();
          out(p, () =>
            table(
              p.map((x) => ({ code: x.code, name: x.name, fields: x.fields, fee: JSON.stringify(x.fee) })),
            ),
          );
          break;
        }
        default:
          throw new InputError(`未知子命令 ${cmd} / unknown subcommand ${cmd}`);
      }
    });
  });
}

export async function billCli(argv: readonly string[], io: CliIo, withDb: WithDb): Promise<number> {
  const args = argv[0] === 'bill' ? argv.slice(1) : [...argv];
  return guarded(io, BILL_USAGE, async () => {
    const { values: o } = parseArgs({
      args,
      options: {
        month: { type: 'string' },
        subscriber: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (o.help) {
      io.stdout.write(BILL_USAGE);
      return;
    }
    if (!o.month) throw new InputError('缺少 --month / --month is required');
    const statements = await withDb((db) => bill(db, o.month!, o.subscriber));
    io.stdout.write(o.json ? JSON.stringify(statements, null, 2) + '\n' : formatBill(statements));
  });
}

/** `coalflow audit verify [--from ISO] [--to ISO] [--json]`: exit 0 when the chain holds, 1 when it does not. */
export async function auditCli(argv: readonly string[], io: CliIo, withDb: WithDb): Promise<number> {
  const args = argv[0] === 'audit' ? argv.slice(1) : [...argv];
  let tampered = false;
  const code = await guarded(io, AUDIT_USAGE, async () => {
    const { values: o, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (o.help) {
      io.stdout.write(AUDIT_USAGE);
      return;
    }
    if (positionals[0] !== 'verify' || positionals.length > 1)
      throw new InputError(`未知子命令 ${positionals.join(' ') || '（无）'} / unknown subcommand`);
    const r = await withDb((db) => verifyAudit(db, { from: o.from, to: o.to }));
    tampered = !r.ok;
    if (o.json) io.stdout.write(JSON.stringify(r) + '\n');
    else if (r.ok)
      io.stdout.write(
        `✔ 审计日志完好 / audit log intact: ${r.rows} 行 / rows` +
          (r.anchor
            ? `，第 ${r.anchor.seq}–${r.lastSeq} 行，起点 / seq ${r.anchor.seq}–${r.lastSeq}, anchored on ${r.anchor.genesis ? '链首 / the chain start' : `${r.anchor.prevHash.slice(0, 16)}… (保留期之前 / before retention)`}`
            : '') +
          (r.unchained ? `；${r.unchained} 行早于哈希链 / rows older than the chain: not covered` : '') +
          '\n',
      );
    else
      io.stdout.write(
        `✘ 审计日志被篡改 / audit log tampered: 第 ${r.firstBad} 行 / seq ${r.firstBad}: ${r.reason}\n`,
      );
  });
  return code === 0 && tampered ? 1 : code;
}
