/**
 * The review's check of a data product's fields against the minimum-necessary-use list (最小必要使用清单): a
 * field passes when, in some feed, it is (or is a source alias of) a canonical field that the policy gives to at
 * least one product. Personal fields (plates, customers, names, phones) are on no product's list, so a product
 * naming them cannot be approved.
 */
import { fieldOfKey, MONTH_FIELD, TIME_FIELD, YEAR_FIELD } from '../contracts/aliases.ts';
import { FEEDS } from '../contracts/types.ts';
import { loadPolicy, type Policy } from './policy.ts';

export interface FieldCheck {
  /** The field as the product names it. */
  field: string;
  allowed: boolean;
  /** `feed.canonicalField` entries of the list it matched. */
  matches: string[];
}

export function checkMinimumNecessary(
  fields: readonly string[],
  policy: Policy = loadPolicy(),
): FieldCheck[] {
  const listed = new Set<string>();
  for (const byFeed of Object.values(policy.products))
    for (const [feed, set] of Object.entries(byFeed)) for (const f of set ?? []) listed.add(`${feed}.${f}`);
  return fields.map((field) => {
    const matches: string[] = [];
    for (const feed of FEEDS) {
      let c = listed.has(`${feed}.${field}`) ? field : fieldOfKey(feed, field);
      if (c === TIME_FIELD || c === YEAR_FIELD || c === MONTH_FIELD) c = 'eventTime';
      if (c && listed.has(`${feed}.${c}`)) matches.push(`${feed}.${c}`);
    }
    return { field, allowed: matches.length > 0, matches };
  });
}
