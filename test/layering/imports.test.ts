/**
 * The layering of src/, read from the import statements of the TypeScript sources: a rule that
 * is broken names the file and the import.
 *   - passes (src/passes) rewrite graphs; what the kernels can do they get as an argument
 *     (KernelCapabilities), so they import neither kernels nor the runtime;
 *   - plot (src/plot) draws records (src/train/records.ts) and imports nothing of the CLI;
 *   - graph (src/graph) imports only the graph and the ops;
 *   - nothing outside src/cli imports the CLI.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fromRoot } from '../helpers/paths.js';

/** Every relative import of every .ts file under src/<dir>, as [file, the src/ folder it reaches]. */
function importsOf(dir: string): [string, string][] {
  const root = fromRoot('src');
  const out: [string, string][] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.ts')) {
        const text = fs.readFileSync(f, 'utf8');
        for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)) {
          const target = path.relative(root, path.resolve(path.dirname(f), m[1]!));
          out.push([path.relative(fromRoot('.'), f), target.split(path.sep)[0]!]);
        }
      }
    }
  };
  walk(path.join(root, dir));
  return out;
}

const rules: [string, string[]][] = [
  ['passes', ['kernels', 'runtime', 'cli', 'bench', 'models', 'train', 'data', 'io', 'export', 'plot']],
  ['plot', ['cli', 'bench', 'kernels', 'runtime']],
  ['graph', ['passes', 'runtime', 'kernels', 'models', 'cli', 'train']],
];

for (const [dir, banned] of rules) {
  test(`layering: src/${dir} imports nothing from ${banned.map((b) => `src/${b}`).join(', ')}`, () => {
    const found = importsOf(dir);
    assert.ok(found.length > 0, `no imports found under src/${dir}: the scan is broken`);
    const bad = found.filter(([, to]) => banned.includes(to));
    assert.deepEqual(bad, [], bad.map(([f, to]) => `${f} imports from src/${to}`).join('\n'));
  });
}

test('layering: only src/cli imports src/cli', () => {
  const bad = fs
    .readdirSync(fromRoot('src'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'cli')
    .flatMap((e) => importsOf(e.name).filter(([, to]) => to === 'cli'));
  assert.deepEqual(bad, [], bad.map(([f]) => `${f} imports from src/cli`).join('\n'));
});
