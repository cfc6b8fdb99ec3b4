#!/usr/bin/env node
// The test matrix behind `npm test` (after `npm run build`):
// 1. every test on the default engine (auto: native where the addon is built, else wasm);
// 2. where native ran in 1, the engine-sensitive suites again on the WebAssembly engine;
// 3. where the CPU has AVX-512, the kernel suites on the addon's AVX2 variant too.
// Every run checks the graph after each fusion pass (BNFF_VERIFY=1).
// Extra arguments are passed to node --test (e.g. --test-name-pattern).
import { spawnSync } from 'node:child_process';

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const extra = process.argv.slice(2);
const { nativeStatus } = await import(pathToFileURL(path.join(root, 'dist/src/runtime/native.js')).href);
const st = await nativeStatus();
const engineSuites = ['kernels', 'runtime', 'passes', 'property'].map((d) => path.join('dist/test', d));

function run(title, env, dirs) {
  process.stdout.write(`\n# ${title}\n`);
  // BNFF_VERIFY=1: every fusion pass is followed by the graph's verify() (src/passes/index.ts)
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...extra, ...dirs], {
    cwd: root,
    stdio: 'inherit',
    env: { BNFF_VERIFY: '1', ...process.env, ...env },
  });
  if (r.status !== 0) {
    process.stdout.write(`\n# FAILED: ${title}\n`);
    process.exit(r.status ?? 1);
  }
}

const forced = process.env.BNFF_ENGINE;
if (forced) {
  run(`all tests, BNFF_ENGINE=${forced}`, {}, ['dist/test/']);
  process.exit(0);
}
run(st.ok ? `all tests on the native engine (${st.isa})` : `all tests on the WebAssembly engine (native: ${st.reason})`, {}, ['dist/test/']);
if (st.ok) {
  run('engine suites on the WebAssembly engine', { BNFF_ENGINE: 'wasm' }, engineSuites);
  const info = st.addon.info();
  if (st.isa === 'avx512' && info.runs.avx2)
    run('kernel suites on the native AVX2 variant', { BNFF_ENGINE: 'native', BNFF_NATIVE_ISA: 'avx2' }, [path.join('dist/test', 'kernels')]);
}
