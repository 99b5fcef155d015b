/**
 * What one caller sees of a list of indicator entities: per-entity scopes (mines, coal users) only for its own
 * entities or those an explicit grant names, regions only those granted, aggregate scopes after secondary
 * suppression. Routes call it on the full sibling list, then the audit row gets the cells counted here.
 */
import type { FastifyRequest } from 'fastify';
import { AccessError } from '../../infra/core/index.ts';
import { AGGREGATE_SCOPES, type Scope as IndicatorScope } from '../../pipelines/index.ts';
import { countCells, secondarySuppress, type EntityPoints } from './disclosure.ts';
import { seesEntity, seesRegion, type Scope } from './principal.ts';

/** Whether `s` (null = no restriction) may see entity `id` of an indicator scope. */
export function visible(s: Scope | null, scope: IndicatorScope, id: string): boolean {
  if (!s) return true;
  if (scope === 'mine') return seesEntity(s, 'mine', id);
  if (scope === 'user') return seesEntity(s, 'user', id);
  if (scope === 'region') return seesRegion(s, id);
  return true;
}

export function refuseEntity(scope: string, id: string): never {
  throw new AccessError(
    'FORBIDDEN',
    403,
    `无权查看 ${scope}=${id} 的单体数据（仅限本单位或明确授权）/ no grant for the per-entity figures of ${scope}=${id} (own entities or an explicit grant only)`,
  );
}

/**
 * Applies the caller's view to every sibling entity of one scope; `ids` (optional) narrows the answer after
 * secondary suppression, refusing ids the caller may not see.
 */
export function viewEntities<T extends EntityPoints>(
  req: FastifyRequest,
  scope: IndicatorScope,
  entities: T[],
  ids: string[] | null,
): T[] {
  const s = req.accessScope ?? null;
  if (ids) for (const id of ids) if (!visible(s, scope, id)) refuseEntity(scope, id);
  if (AGGREGATE_SCOPES.has(scope)) secondarySuppress(entities);
  const out = entities.filter((e) => (!ids || ids.includes(e.scopeId)) && visible(s, scope, e.scopeId));
  req.accessCells = countCells(out);
  return out;
}
