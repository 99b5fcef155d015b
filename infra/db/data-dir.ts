/**
 * Checks of the embedded database's data directory before anything is written to it (writable, room left),
 * apart from the database code so that the CLI can refuse a bad directory before loading the runtime.
 */
import { accessSync, constants as fsc, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DataDirError } from '../core/index.ts';

const NOT_WRITABLE = new Set(['EROFS', 'EACCES', 'EPERM']);

function notWritable(dir: string, path: string, code: string, cause: unknown): DataDirError {
  return new DataDirError(
    'DATA_DIR_NOT_WRITABLE',
    `内嵌数据库的数据目录 ${dir} 不可写（${path}：${code === 'EROFS' ? '只读文件系统' : '无写权限'}）。` +
      `请以读写方式重新挂载或修正权限（chown/chmod、chattr -i）后重启，或用 COALFLOW_DATA_DIR 指向可写目录；目录未被改动 / ` +
      `the embedded database's data directory ${dir} is not writable (${path}: ${code}): remount it read-write or fix ` +
      `its permissions (chown/chmod, chattr -i) and start again, or point COALFLOW_DATA_DIR at a writable directory; nothing in it was changed`,
    { dir, cause, context: { path, errno: code } },
  );
}

/** Free bytes for this user on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const st = statfsSync(dir);
  return Number(st.bavail) * Number(st.bsize);
}

export function dataDirFull(dir: string, free: number, minFreeBytes: number): DataDirError {
  const mib = (n: number) => Math.floor(n / 1048576);
  return new DataDirError(
    'DATA_DIR_FULL',
    `内嵌数据库的数据目录 ${dir} 所在文件系统仅剩 ${mib(free)} MiB 可用（至少需要 ${mib(minFreeBytes)} MiB）。` +
      `请释放空间或扩容后重启，或用 COALFLOW_DATA_DIR 指向空间充足的目录（阈值：COALFLOW_DATA_DIR_MIN_FREE_MB）/ ` +
      `only ${mib(free)} MiB free on the file system of the embedded database's data directory ${dir} ` +
      `(at least ${mib(minFreeBytes)} MiB needed): free space or grow the file system and start again, or point ` +
      `COALFLOW_DATA_DIR at a roomier directory (threshold: COALFLOW_DATA_DIR_MIN_FREE_MB)`,
    { dir, context: { freeBytes: free, minFreeBytes } },
  );
}

/**
 * Refuses a data directory the database could not write to before anything is written: a read-only file
 * system, a directory, file or lock folder this user may not write (root passes permission bits, not a
 * read-only mount or `chattr +i`), or less than `minFreeBytes` free. PGlite itself would abort half-way
 * ("Aborted()") on a full disk; refusing first leaves the directory as it was.
 */
export function checkDataDir(dir: string, minFreeBytes = 0): void {
  const abs = resolve(dir);
  const probe = (path: string) => {
    try {
      accessSync(path, fsc.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
      if (NOT_WRITABLE.has(code)) throw notWritable(dir, path, code, err);
      throw err;
    }
  };
  try {
    mkdirSync(abs, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (NOT_WRITABLE.has(code)) throw notWritable(dir, abs, code, err);
    if (code === 'ENOSPC') throw dataDirFull(dir, 0, minFreeBytes);
    throw err;
  }
  // The lock file lives beside the directory.
  probe(dirname(abs));
  const walk = (path: string) => {
    probe(path);
    for (const e of readdirSync(path, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(path, e.name));
      else if (e.isFile()) probe(join(path, e.name));
    }
  };
  walk(abs);
  if (minFreeBytes > 0) {
    const free = freeBytes(abs);
    if (free < minFreeBytes) throw dataDirFull(dir, free, minFreeBytes);
  }
}
