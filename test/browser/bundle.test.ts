/**
 * The browser build without a browser: the bundle reaches no Node-only code, the package's
 * "browser" condition points at it, and a browser without WebAssembly SIMD gets a message that
 * says what is missing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { BrowserSupportError, browserVariant, kernelModuleNames } from '../../src/browser/kernels.js';
import { fromRoot } from '../helpers/paths.js';

test('the browser bundle imports no Node built-in, and names every kernel module that dist/kernels holds', () => {
  for (const f of ['dist/browser/bnff.js', 'dist/browser/kernel-worker.js', 'dist/demo/train-worker.js', 'dist/demo/app.js']) {
    const src = fs.readFileSync(fromRoot(f), 'utf8');
    assert.doesNotMatch(src, /(from|import\()\s*["'](node:|fs["']|worker_threads|child_process)/, `${f} imports a Node module`);
    assert.doesNotMatch(src, /bnff\.node|createRequire/, `${f} reaches the native addon`);
  }
  const built = new Set(fs.readdirSync(fromRoot('dist/kernels')).filter((f) => f.endsWith('.simd.wasm')).map((f) => f.replace('.simd.wasm', '')));
  assert.deepEqual(new Set(kernelModuleNames()), built);
  for (const f of fs.readdirSync(fromRoot('dist/kernels'))) assert.ok(fs.existsSync(fromRoot('dist/browser/kernels', f)), `dist/browser/kernels lacks ${f}`);
});

test('package.json: the "browser" condition and ./browser resolve to the bundle, Node keeps dist/src', () => {
  const pkg = JSON.parse(fs.readFileSync(fromRoot('package.json'), 'utf8')) as { exports: Record<string, Record<string, unknown>>; files: string[] };
  const dot = pkg.exports['.']!;
  assert.deepEqual(Object.keys(dot)[0], 'browser', 'the browser condition must come first');
  assert.equal((dot.browser as Record<string, string>).default, './dist/browser/bnff.js');
  assert.equal(dot.default, './dist/src/index.js');
  assert.equal((pkg.exports['./browser'] as Record<string, string>).default, './dist/browser/bnff.js');
  for (const f of ['dist/browser', 'dist/demo']) assert.ok(pkg.files.includes(f), `files lacks ${f}`);
});

test('without WebAssembly SIMD the browser engine refuses with a message naming what is missing', (t) => {
  const validate = WebAssembly.validate;
  t.after(() => {
    WebAssembly.validate = validate;
  });
  WebAssembly.validate = () => false;
  assert.throws(browserVariant, (e: Error) => e instanceof BrowserSupportError && e.problem === 'no-simd' && /no WebAssembly SIMD/.test(e.message));
});
