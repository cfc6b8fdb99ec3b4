#!/usr/bin/env node
// The browser build (esbuild), run by `npm run build`:
// - dist/browser/: the library (bnff.js, from src/browser/index.ts), its kernel worker
//   (kernel-worker.js) and the kernel modules (kernels/*.wasm);
// - dist/demo/: the demo page (web/), static files for any HTTP server that sends the
//   COOP/COEP headers (`npx bnff serve` does), with the embedded Fashion-MNIST subset.
// Node-only code stays out by construction: the browser entries never import it, and this build
// fails, naming the importer, if anything they reach imports a Node built-in module.
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kernels = path.join(root, 'dist/kernels');
const builtins = new Set(builtinModules);

/** Fails the build on any import of a Node built-in (node:fs, worker_threads, ...). */
const noNode = {
  name: 'no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, '').split('/')[0];
      if (args.path.startsWith('node:') || (builtins.has(bare) && !args.path.startsWith('.'))) {
        return { errors: [{ text: `${path.relative(root, args.importer)} imports the Node built-in "${args.path}": the browser build must not reach Node-only code` }] };
      }
      return undefined;
    });
  },
};

const common = { bundle: true, format: 'esm', platform: 'browser', target: ['es2022', 'chrome91', 'firefox89', 'safari16'], plugins: [noNode], logLevel: 'warning', legalComments: 'none' };

function copyKernels(dir) {
  fs.mkdirSync(path.join(dir, 'kernels'), { recursive: true });
  for (const f of fs.readdirSync(kernels).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(kernels, f), path.join(dir, 'kernels', f));
}

const lib = path.join(root, 'dist/browser');
fs.rmSync(lib, { recursive: true, force: true });
await esbuild.build({ ...common, entryPoints: { bnff: 'src/browser/index.ts', 'kernel-worker': 'src/browser/kernel_worker.ts' }, outdir: lib, absWorkingDir: root });
copyKernels(lib);

const demo = path.join(root, 'dist/demo');
fs.rmSync(demo, { recursive: true, force: true });
await esbuild.build({
  ...common,
  entryPoints: { app: 'web/app.ts', 'train-worker': 'web/train_worker.ts', 'kernel-worker': 'src/browser/kernel_worker.ts' },
  outdir: demo,
  absWorkingDir: root,
  minify: true,
});
copyKernels(demo);
for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(root, 'web', f), path.join(demo, f));
const data = path.join(demo, 'data/fashion-mnist-subset');
fs.mkdirSync(data, { recursive: true });
for (const f of fs.readdirSync(path.join(root, 'data/fashion-mnist-subset'))) fs.copyFileSync(path.join(root, 'data/fashion-mnist-subset', f), path.join(data, f));
const size = (d) => fs.readdirSync(d).reduce((a, f) => a + fs.statSync(path.join(d, f)).size, 0);
process.stdout.write(`build-browser: dist/browser (bnff.js ${(fs.statSync(path.join(lib, 'bnff.js')).size / 1024).toFixed(0)} KiB), dist/demo (${(size(demo) / 1024).toFixed(0)} KiB of scripts and pages)\n`);
