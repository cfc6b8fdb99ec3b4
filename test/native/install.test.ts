/**
 * The native engine's install path: `npm install` runs tools/build-native.mjs, which must never
 * fail the install. Without a compiler it says why in one line, and bnff then runs on the
 * WebAssembly engine and says why too. The test works on a copy of the package in a temporary
 * directory, so the real build/ is never touched.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fromRoot } from '../helpers/paths.js';

function packageCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-install-'));
  for (const p of [
    'package.json',
    'binding.gyp',
    'bin',
    'dist/src',
    'dist/kernels',
    'src/kernels/native',
    'tools/build-native.mjs',
    'tools/native-sources.mjs',
  ]) {
    fs.cpSync(fromRoot(p), path.join(dir, p), { recursive: true });
  }
  fs.symlinkSync(fromRoot('node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

test('without a C++ compiler the install script succeeds, says why in one line, and bnff runs on wasm saying why', () => {
  const dir = packageCopy();
  try {
    const r = spawnSync(process.execPath, ['tools/build-native.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, CXX: '/bin/false' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'bnff: native engine not built (C++ compiler not usable (/bin/false)); bnff will run on the WebAssembly engine');
    assert.equal(fs.existsSync(path.join(dir, 'build', 'Release', 'bnff_native.node')), false);
    const status = JSON.parse(fs.readFileSync(path.join(dir, 'build', 'bnff-native.json'), 'utf8')) as { ok: boolean };
    assert.equal(status.ok, false);
    const env = { ...process.env };
    delete env.BNFF_ENGINE;
    const info = spawnSync(process.execPath, ['bin/bnff.js', 'info', '--json'], { cwd: dir, encoding: 'utf8', env });
    assert.equal(info.status, 0, info.stderr);
    const rep = JSON.parse(info.stdout) as { engine: string; reason: string };
    assert.equal(rep.engine, 'wasm');
    assert.equal(rep.reason, 'wasm: native addon not built: C++ compiler not usable (/bin/false)');
    // --strict (npm run build:native) fails instead
    const strict = spawnSync(process.execPath, ['tools/build-native.mjs', '--strict'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, CXX: '/bin/false' },
    });
    assert.equal(strict.status, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'an addon built from other sources than those next to it is refused, with the reason, and bnff runs on wasm',
  { skip: !fs.existsSync(fromRoot('build/Release/bnff_native.node')) && 'the native addon is not built here' },
  () => {
    const dir = packageCopy();
    try {
      fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
      fs.copyFileSync(fromRoot('build/Release/bnff_native.node'), path.join(dir, 'build', 'Release', 'bnff_native.node'));
      fs.appendFileSync(path.join(dir, 'src/kernels/native/families/bench.cc'), '\n// changed after the build\n');
      const env = { ...process.env };
      delete env.BNFF_ENGINE;
      const info = spawnSync(process.execPath, ['bin/bnff.js', 'info', '--json'], { cwd: dir, encoding: 'utf8', env });
      assert.equal(info.status, 0, info.stderr);
      const rep = JSON.parse(info.stdout) as { engine: string; reason: string };
      assert.equal(rep.engine, 'wasm');
      assert.match(rep.reason, /^wasm: native addon built from older sources \(hash [0-9a-f]{16}, sources [0-9a-f]{16}\); run `npm run build:native`$/);
      const forced = spawnSync(process.execPath, ['bin/bnff.js', 'info', '--engine', 'native'], { cwd: dir, encoding: 'utf8', env });
      assert.equal(forced.status, 1);
      assert.match(forced.stderr, /^bnff: error: engine native is unavailable: native addon built from older sources/m);
      assert.doesNotMatch(forced.stderr, /\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
