#!/usr/bin/env node
// Compiles the AssemblyScript kernel modules in src/kernels/wasm/ to WebAssembly, twice:
// with relaxed SIMD (f32x4.relaxed_madd, FMA) and with plain SIMD. The runtime picks one at
// start-up. Output: dist/kernels/<module>.<variant>.wasm. Run by `npm run build`.
import asc from 'assemblyscript/asc';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'src/kernels/wasm');
const outDir = path.join(root, 'dist/kernels');
fs.mkdirSync(outDir, { recursive: true });

// Each module gets its own small static-data region below the arena's base (1 MiB), so that
// instantiating a module never touches tensor memory.
// Every .ts file directly in src/kernels/wasm/ is one module; common/ holds what they import.
const modules = fs.readdirSync(srcDir).filter((f) => f.endsWith('.ts')).sort();
// A module whose source is gone would still be loaded (src/kernels/load.ts loads every .wasm here).
const names = new Set(modules.map((f) => path.basename(f, '.ts')));
for (const f of fs.readdirSync(outDir)) if (f.endsWith('.wasm') && !names.has(f.split('.')[0])) fs.rmSync(path.join(outDir, f));
const variants = { relaxed: 'simd,relaxed-simd,threads', simd: 'simd,threads' };
let failed = false;
for (const [i, file] of modules.entries()) {
  const name = path.basename(file, '.ts');
  for (const [variant, features] of Object.entries(variants)) {
    const out = path.join(outDir, `${name}.${variant}.wasm`);
    const { error, stderr } = await asc.main([
      path.join(srcDir, file), '-o', out, '-O3', '--runtime', 'stub', '--noAssert', '--use', 'abort=',
      '--importMemory', '--sharedMemory', '--initialMemory', '17', '--maximumMemory', '65536',
      '--memoryBase', String(65536 * (i + 1)), '--enable', features,
    ]);
    if (error) {
      failed = true;
      process.stderr.write(`build-kernels: ${file} (${variant}) failed: ${error.message}\n${stderr.toString()}\n`);
    }
  }
}
if (failed) process.exit(1);
process.stdout.write(`build-kernels: ${modules.length} module(s) x ${Object.keys(variants).length} variants -> dist/kernels\n`);
