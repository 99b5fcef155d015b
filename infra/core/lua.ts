/**
 * Lua scripts on Redis by their SHA-1: EVALSHA, and EVAL (which loads the script) when the server does not know it
 * yet (a new or restarted server). Not ioredis's `defineCommand`: it adds a method to the client, and an automatic
 * pipeline (`enableAutoPipelining`) copies the client's scripts when it is created, so a command defined while one
 * was filling was queued on a pipeline without it; ioredis then threw outside any promise ("results[i] is not
 * iterable") and the process died. It happened on a first snapshot read issued in the same tick as other commands.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

export async function evalLua(
  redis: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!/NOSCRIPT/.test((err as Error)?.message ?? '')) throw err;
    return redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}
