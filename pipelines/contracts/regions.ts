/**
 * Administrative divisions (行政区划). Mines, coal yards and their sales are in
 * Ordos: only the nine Ordos county-level codes are accepted for them. Coal
 * users (power plants and other buyers) may be anywhere in China: any 6-digit
 * code with a valid province prefix is accepted for them.
 */
export interface Region {
  code: string;
  name: string;
  short: string[];
}

export const ORDOS_REGIONS: readonly Region[] = [
  { code: '150602', name: '东胜区', short: ['东胜'] },
  { code: '150603', name: '康巴什区', short: ['康巴什', '康巴什新区'] },
  { code: '150621', name: '达拉特旗', short: ['达旗', '达拉特'] },
  { code: '150622', name: '准格尔旗', short: ['准旗', '准格尔'] },
  { code: '150623', name: '鄂托克前旗', short: ['鄂前旗', '鄂托克前'] },
  { code: '150624', name: '鄂托克旗', short: ['鄂旗'] },
  { code: '150625', name: '杭锦旗', short: ['杭旗', '杭锦'] },
  { code: '150626', name: '乌审旗', short: ['乌审'] },
  { code: '150627', name: '伊金霍洛旗', short: ['伊旗', '伊金霍洛'] },
];

export const ORDOS_CODES: ReadonlySet<string> = new Set(ORDOS_REGIONS.map((r) => r.code));
const byCode = new Map(ORDOS_REGIONS.map((r) => [r.code, r]));

// Longest names first so 鄂托克前旗 wins over 鄂托克旗.
const names: [string, string][] = ORDOS_REGIONS.flatMap((r) => [
  [r.name, r.code] as [string, string],
  ...r.short.map((s) => [s, r.code] as [string, string]),
]).sort((a, b) => b[0].length - a[0].length);

const PROVINCES = new Set([
  '11',
  '12',
  '13',
  '14',
  '15',
  '21',
  '22',
  '23',
  '31',
  '32',
  '33',
  '34',
  '35',
  '36',
  '37',
  '41',
  '42',
  '43',
  '44',
  '45',
  '46',
  '50',
  '51',
  '52',
  '53',
  '54',
  '61',
  '62',
  '63',
  '64',
  '65',
  '71',
  '81',
  '82',
]);

export function regionName(code: string): string | undefined {
  return byCode.get(code)?.name;
}

/** A 6-digit code (or the 9/12-digit statistical code cut to 6), else null. */
function codeOf(s: string): string | null {
  if (/^\d{6}$/.test(s)) return s;
  if (/^\d{9}$|^\d{12}$/.test(s)) return s.slice(0, 6);
  return null;
}

/**
 * Resolves a code or a name (`准格尔旗`, `鄂尔多斯市准格尔旗`, `准旗`, `150622`,
 * `150622000000`) to an Ordos code; null when it is not an Ordos region.
 */
export function resolveOrdosRegion(value: unknown): string | null {
  const s = String(value ?? '')
    .normalize('NFKC')
    .replace(/\s+/g, '');
  if (!s) return null;
  const code = codeOf(s);
  if (code) return ORDOS_CODES.has(code) ? code : null;
  for (const [name, c] of names) if (s.includes(name)) return c;
  return null;
}

/** Resolves any Chinese county-level code (valid province prefix) or an Ordos name; null otherwise. */
export function resolveChinaRegion(value: unknown): string | null {
  const s = String(value ?? '')
    .normalize('NFKC')
    .replace(/\s+/g, '');
  const code = codeOf(s);
  if (code) return PROVINCES.has(code.slice(0, 2)) ? code : null;
  return resolveOrdosRegion(s);
}

/** Finds an Ordos region named inside free text (a mine or company name), if any. */
export function regionInText(text: string): string | null {
  const s = text.normalize('NFKC');
  for (const [name, c] of names) if (name.length >= 3 && s.includes(name)) return c;
  return null;
}
