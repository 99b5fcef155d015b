/**
 * Shape limits every raw record passes before its fields are read: a bounded
 * nesting depth (deeply nested JSON can exhaust the stack of the database or
 * of JSON.stringify) and no control characters where they would change a
 * value's meaning (NUL cannot be stored at all; a line break inside a coal
 * type or a mine id would create a new public scope).
 */

/** Deepest nesting accepted in one record: the record object is level 1. */
export const MAX_RECORD_DEPTH = 32;

/** NUL, other C0 controls, DEL and C1 controls: never allowed, in keys or values. */
const ALWAYS_BAD = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
/** Tab, CR, LF: allowed only at the ends of a value (trimmed away), never inside a field value or a key. */
const INNER_BREAK = /[\t\r\n]/;

/** A UTF-16 surrogate without its pair: not a character, and refused by PostgreSQL's jsonb. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export type ShapeProblem =
  | { kind: 'depth'; depth: number }
  | { kind: 'control'; where: string }
  | { kind: 'surrogate'; where: string };

/**
 * Depth of a parsed JSON value, counting objects and arrays (a scalar is 0),
 * computed without recursion and stopping once `limit` is passed.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return max;
}

/** Shows a control character by its code point: `U+0000`. */
function codeOf(s: string): string {
  const m = /[\u0000-\u001f\u007f-\u009f]/.exec(s);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : '';
}

/**
 * The first shape problem of a decoded record, or null. Keys and string values
 * at any depth may not hold NUL, C0 (other than tab, CR, LF), DEL or C1
 * controls; keys may not hold tab, CR or LF either. (Line breaks inside the
 * values of contract fields are checked by `breakInFields`; free text of
 * unknown columns may span lines.)
 */
export function shapeProblem(record: Record<string, unknown>): ShapeProblem | null {
  const depth = jsonDepth(record, MAX_RECORD_DEPTH);
  if (depth > MAX_RECORD_DEPTH) return { kind: 'depth', depth };
  const stack: [unknown, string][] = [[record, '']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return { kind: 'surrogate', where: path || 'value' };
      if (ALWAYS_BAD.test(v)) return { kind: 'control', where: `${path || 'value'} (${codeOf(v)})` };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const entries: [string, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [String(i), x])
      : Object.entries(v as Record<string, unknown>);
    for (const [k, child] of entries) {
      const at = path ? `${path}.${k}` : k;
      if (!Array.isArray(v) && LONE_SURROGATE.test(k)) return { kind: 'surrogate', where: 'key' };
      if (!Array.isArray(v) && (ALWAYS_BAD.test(k) || INNER_BREAK.test(k))) {
        return {
          kind: 'control',
          where: `key ${JSON.stringify(k.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'))} (${codeOf(k)})`,
        };
      }
      stack.push([child, at]);
    }
  }
  return null;
}

/**
 * The first contract field whose value holds a tab, CR or LF inside it (not
 * only at its ends), or null: `5500\r\n混煤` is not the coal type `5500 混煤`.
 */
export function breakInFields(values: Record<string, unknown>): string | null {
  for (const [field, v] of Object.entries(values)) {
    if (typeof v === 'string' && INNER_BREAK.test(v.trim())) return `${field} (${codeOf(v.trim())})`;
  }
  return null;
}

/** NUL shown as U+2400 (␀) for storage: neither text nor jsonb can hold U+0000; an unpaired surrogate becomes U+FFFD. */
export function storableText(s: string): string {
  return s.replace(/\u0000/g, '\u2400').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\ufffd');
}

/** The same for JSON text: replaces the escape `\u0000` (not an escaped backslash followed by `u0000`). */
export function storableJson(json: string): string {
  // JSON.stringify escapes only unpaired surrogates, so every surrogate escape in its output is one.
  return json
    .replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\u2400')
    .replace(/(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/gi, '$1\\ufffd');
}
