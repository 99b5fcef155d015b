/**
 * One Redis subscription per live channel for all SSE clients of this process, and the last messages of each
 * channel kept in memory with an id (`<boot>.<seq>`), so a client that reconnects with `Last-Event-ID` gets what
 * it missed. An id from another process start, or older than what is kept, is answered with a `reset` event
 * (the client reloads the latest snapshot). What is kept is bounded by count and by size per channel: a family's
 * message carries all its points (150 kB and more for sales), so 1,000 of them per channel were hundreds of MB
 * (the soak's API process grew until they were reached).
 */
import type { Redis } from 'ioredis';

export interface LiveMessage {
  id: string;
  seq: number;
  body: string;
}

export interface LiveHub {
  /** Subscribes to a channel; resolves once the subscription is active. Returns the unsubscribe function. */
  subscribe(channel: string, listener: (m: LiveMessage) => void): Promise<() => void>;
  /** Messages after `lastEventId` still kept, or null when they cannot be given (unknown boot, too old). */
  since(channel: string, lastEventId: string): LiveMessage[] | null;
  close(): Promise<void>;
}

export function createLiveHub(redis: Redis, opts: { keep?: number; keepBytes?: number } = {}): LiveHub {
  const keep = opts.keep ?? 1000;
  const keepBytes = opts.keepBytes ?? 8 * 2 ** 20;
  const boot = Date.now().toString(36);
  let seq = 0;
  let sub: Redis | null = null;
  const listeners = new Map<string, Set<(m: LiveMessage) => void>>();
  // Per channel: the messages kept, their size, and the seq of the last one dropped (older ids get a reset).
  const buffers = new Map<string, { list: LiveMessage[]; bytes: number; dropped: number }>();
  const connection = () => {
    if (sub) return sub;
    sub = redis.duplicate();
    // Redis down: ioredis reconnects and resubscribes by itself; the SSE clients keep their streams meanwhile.
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, body: string) => {
      const m = { id: `${boot}.${++seq}`, seq, body };
      const buf =
        buffers.get(channel) ?? buffers.set(channel, { list: [], bytes: 0, dropped: 0 }).get(channel)!;
      buf.list.push(m);
      buf.bytes += body.length;
      let drop = Math.max(0, buf.list.length - keep);
      let bytes = buf.bytes;
      for (let i = 0; i < drop; i++) bytes -= buf.list[i]!.body.length;
      // The newest message is always kept.
      while (bytes > keepBytes && drop < buf.list.length - 1) bytes -= buf.list[drop++]!.body.length;
      if (drop) buf.dropped = buf.list.splice(0, drop).at(-1)!.seq;
      buf.bytes = bytes;
      for (const l of listeners.get(channel) ?? []) l(m);
    });
    return sub;
  };
  return {
    async subscribe(channel, listener) {
      let set = listeners.get(channel);
      if (!set) {
        listeners.set(channel, (set = new Set()));
        await connection().subscribe(channel);
      }
      set.add(listener);
      return () => {
        set!.delete(listener);
      };
    },
    since(channel, lastEventId) {
      const [b, n] = lastEventId.split('.');
      const after = Number(n);
      if (b !== boot || !Number.isInteger(after)) return null;
      const buf = buffers.get(channel);
      if (!buf) return [];
      if (after < buf.dropped) return null;
      return buf.list.filter((m) => m.seq > after);
    },
    async close() {
      const s = sub;
      sub = null;
      listeners.clear();
      if (s) await s.quit().catch(() => s.disconnect());
    },
  };
}
