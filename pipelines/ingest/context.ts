/**
 * What ingest needs per runtime, built once per `deps`: the serde, the policy
 * and desensitizer, the dedupe front cache and the mine-region cache.
 */
import type { Deps, Logger } from '../../infra/core/index.ts';
import { createFeedSerde, type CoalSerde } from '../contracts/serde.ts';
import { createDesensitizer, type Desensitizer } from '../desensitize/desensitize.ts';
import { loadPolicy } from '../desensitize/policy.ts';

/** A small LRU on a Map (insertion order). */
export class Lru<V> {
  private map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
  get size(): number {
    return this.map.size;
  }
}

export interface IngestContext {
  deps: Deps;
  serde: CoalSerde;
  desensitizer: Desensitizer;
  /** `${feed}\0${recordId}` -> source ref of the copy that was produced. */
  seen: Lru<string>;
  /** mineId -> region code (from the mine registry table). */
  regions: Lru<string>;
  log: Logger;
  /** Embedded mode: accepted records from files and HTTP are also kept in ingest_outbox. */
  useOutbox: boolean;
  /** A claim older than this, not yet produced, may be taken over by another copy (its claimer died). */
  claimTimeoutMs: number;
}

const contexts = new WeakMap<Deps, IngestContext>();

/** The ingest context of a runtime (created on first use; the policy is loaded and checked here). */
export function ingestContext(deps: Deps): IngestContext {
  let c = contexts.get(deps);
  if (c) return c;
  const policy = loadPolicy(deps.config.policyFile);
  c = {
    deps,
    serde: createFeedSerde(deps),
    desensitizer: createDesensitizer(policy, deps.config.tokenSecret),
    seen: new Lru(100_000),
    regions: new Lru(50_000),
    log: deps.log.child({ component: 'ingest' }),
    useOutbox: deps.kinds.broker === 'in-process',
    claimTimeoutMs: 60_000,
  };
  contexts.set(deps, c);
  return c;
}
