/**
 * The import direction of the codebase (README "Layout"): each folder below imports only folders below it,
 * always through their index.ts, and the ground floor (infra/core) imports nothing of the project.
 *   infra/core  <  sinks, models  <  pipelines  <  api  <  infra (composition root, adapters, CLI)  <  infra/bench
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

/** Lower floors first; folders on the same floor may not import each other. */
export const FLOORS: Record<string, number> = {
  'infra/core': 0,
  sinks: 1,
  models: 1,
  pipelines: 2,
  api: 3,
  infra: 4,
  'infra/bench': 5,
};

export function unitOf(path: string): string | null {
  const parts = path.split('/');
  if (parts[0] === 'infra' && (parts[1] === 'core' || parts[1] === 'bench') && parts.length > 2)
    return `infra/${parts[1]}`;
  return parts[0]! in FLOORS ? parts[0]! : null;
}

function walk(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'dist') return [];
    return statSync(join(root, p)).isDirectory() ? walk(p) : /\.(ts|mts|mjs)$/.test(f) ? [p] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  spec: string;
}

/** Every relative import (static, re-export or dynamic) between two folders of the product. */
export function crossEdges(files: string[], read: (f: string) => string): Edge[] {
  const edges: Edge[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;
  for (const file of files) {
    const src = read(file)
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const m of src.matchAll(re)) {
      const to = normalize(join(dirname(file), m[2]!));
      if (unitOf(to) !== unitOf(file)) edges.push({ from: file, to, spec: m[2]! });
    }
  }
  return edges;
}

export function violations(edges: Edge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const a = unitOf(e.from);
    const b = unitOf(e.to);
    if (!a || !b) continue;
    if (FLOORS[b]! >= FLOORS[a]!)
      out.push(`${e.from} imports ${e.to}: ${a} may not import ${b} (floor ${FLOORS[a]} → ${FLOORS[b]})`);
    else if (a !== 'infra/bench' && e.to !== `${b}/index.ts`)
      out.push(`${e.from} imports ${e.to}: go through ${b}/index.ts`);
  }
  return out;
}

const files = ['api', 'pipelines', 'models', 'sinks', 'infra'].flatMap((d) => walk(d));
const read = (f: string) => readFileSync(join(root, f), 'utf8');

test('no folder imports a folder on its own floor or above, and cross-folder imports go through index.ts', () => {
  const bad = violations(crossEdges(files, read));
  assert.equal(bad, [], bad.join('\n'));
});

test('no two folders import each other', () => {
  const pairs = new Set(crossEdges(files, read).map((e) => `${unitOf(e.from)}>${unitOf(e.to)}`));
  const both = [...pairs].filter((p) => {
    const [a, b] = p.split('>');
    return pairs.has(`${b}>${a}`);
  });
  assert.equal(both, []);
});

test('nothing imports the bench folder, and the ground floor imports no other folder', () => {
  const edges = crossEdges([...files, ...walk('test')], read);
  assert.equal(
    edges
      .filter((e) => unitOf(e.to) === 'infra/bench' && !e.from.startsWith('infra/bench/'))
      .map((e) => e.from),
    [],
  );
  assert.equal(
    edges.filter((e) => unitOf(e.from) === 'infra/core').map((e) => e.to),
    [],
  );
});

test('the rules catch what they forbid (checked on made-up files)', () => {
  const fake: Record<string, string> = {
    'sinks/x.ts': "import { a } from '../pipelines/index.ts';",
    'api/y.ts': "import { b } from '../pipelines/ingest/core.ts';",
    'infra/core/z.ts': "import { c } from '../../sinks/index.ts';",
    'api/ok.ts': "import type { d } from '../infra/core/index.ts';",
    'pipelines/dyn.ts': "const m = await import('../api/index.ts');",
  };
  const bad = violations(crossEdges(Object.keys(fake), (f) => fake[f]!));
  assert.is(bad.length, 4, bad.join('\n'));
  assert.ok(bad.some((b) => b.startsWith('sinks/x.ts')));
  assert.ok(bad.some((b) => b.startsWith('api/y.ts') && /index\.ts/.test(b)));
  assert.ok(bad.some((b) => b.startsWith('infra/core/z.ts')));
  assert.ok(bad.some((b) => b.startsWith('pipelines/dyn.ts')));
  assert.equal(relative('a', 'a/b'), 'b');
});

test("the README's layout table names every folder of the tree, and every folder it names exists", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const layout = readme.slice(
    readme.indexOf('## Layout'),
    readme.indexOf('\n## ', readme.indexOf('## Layout') + 5),
  );
  const dirs = ['api', 'pipelines', 'models', 'sinks', 'infra'].flatMap((top) => [
    top,
    ...readdirSync(join(root, top)).filter(
      (f) =>
        !f.startsWith('.') &&
        f !== 'node_modules' &&
        f !== 'dist' &&
        statSync(join(root, top, f)).isDirectory(),
    ),
  ]);
  const missing = dirs.filter((d) => !layout.includes(`${d}/`));
  assert.equal(missing, [], `folders the layout table does not name: ${missing.join(', ')}`);
  const named = [...layout.matchAll(/`((?:api|pipelines|models|sinks|infra|test)\/[\w/.-]*)`/g)].map((m) =>
    m[1]!.replace(/\/$/, ''),
  );
  const gone = named.filter((n) => {
    try {
      statSync(join(root, n));
      return false;
    } catch {
      return true;
    }
  });
  assert.equal(gone, [], `named in the layout table but not in the tree: ${gone.join(', ')}`);
});

test.run();
