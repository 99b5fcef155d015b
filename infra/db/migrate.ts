import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { MigrationError, ServiceError } from '../core/index.ts';

export const MIGRATIONS_DIR = new URL('../migrations/', import.meta.url).pathname;

/**
 * Splits a SQL file into statements on `;` at the end of a line, outside quotes,
 * dollar-quoted bodies and comments. Statements run one by one, outside an explicit
 * transaction, because TimescaleDB refuses continuous aggregates and policies
 * inside a transaction block; every statement must therefore be idempotent.
 */
export function splitSql(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  let dollar: string | null = null;
  let quote = false;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (dollar) {
      if (sql.startsWith(dollar, i)) {
        cur += dollar;
        i += dollar.length;
        dollar = null;
        continue;
      }
      cur += ch;
      i++;
      continue;
    }
    if (quote) {
      cur += ch;
      i++;
      if (ch === "'") quote = false;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? sql.length : nl;
      continue;
    }
    if (ch === "'") {
      quote = true;
      cur += ch;
      i++;
      continue;
    }
    if (ch === '$') {
      const m = /^\$[A-Za-z_]*\$/.exec(sql.slice(i));
      if (m) {
        dollar = m[0];
        cur += dollar;
        i += dollar.length;
        continue;
      }
    }
    if (ch === ';') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      i++;
      continue;
    }
    cur += ch;
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

/** Fails with a message naming the fix when the server has no TimescaleDB. */
export async function ensureTimescale(db: pg.Pool): Promise<string> {
  const avail = await db.query(
    `SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'timescaledb'`,
  );
  if (!avail.rowCount) {
    throw new ServiceError(
      'DB_NO_TIMESCALEDB',
      "DATABASE_URL 指向的 PostgreSQL 未安装 timescaledb 扩展。请安装 TimescaleDB（https://docs.timescale.com/self-hosted/latest/install/）并在 postgresql.conf 中设置 shared_preload_libraries = 'timescaledb'，或不设 DATABASE_URL 使用内嵌 TimescaleDB。 / " +
        "The PostgreSQL at DATABASE_URL has no timescaledb extension: install TimescaleDB and set shared_preload_libraries = 'timescaledb', or unset DATABASE_URL to use the embedded TimescaleDB.",
    );
  }
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  } catch (err) {
    throw new ServiceError(
      'DB_NO_TIMESCALEDB',
      `无法启用 timescaledb 扩展（需要 shared_preload_libraries = 'timescaledb' 和建扩展权限）/ cannot enable timescaledb: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const v = await db.query(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
  return String(v.rows[0]?.extversion ?? 'unknown');
}

/** Applies versioned migrations (NNN_name.sql) in order, once each, under an advisory lock. */
export async function migrate(db: pg.Pool, dir: string = MIGRATIONS_DIR): Promise<MigrationResult> {
  await ensureTimescale(db);
  const client = await db.connect();
  const result: MigrationResult = { applied: [], skipped: [] };
  try {
    await client.query('SELECT pg_advisory_lock(74201)');
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map(
      (await client.query('SELECT version, checksum FROM schema_migrations')).rows.map((r) => [
        r.version as string,
        r.checksum as string,
      ]),
    );
    const files = readdirSync(dir)
      .filter((f) => /^\d{3}_.+\.sql$/.test(f))
      .sort();
    for (const f of files) {
      const sql = readFileSync(join(dir, f), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex').slice(0, 16);
      if (done.has(f)) {
        result.skipped.push(f);
        continue;
      }
      for (const stmt of splitSql(sql)) {
        try {
          await client.query(stmt);
        } catch (err) {
          throw new MigrationError(
            `迁移 ${f} 失败 / migration ${f} failed: ${(err as Error).message}\n${stmt.slice(0, 300)}`,
            { cause: err },
          );
        }
      }
      await client.query(
        'INSERT INTO schema_migrations(version, checksum) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING',
        [f, checksum],
      );
      result.applied.push(f);
    }
  } finally {
    try {
      await client.query('SELECT pg_advisory_unlock(74201)');
    } catch {
      /* connection may be gone */
    }
    client.release();
  }
  return result;
}
