/**
 * The published package, used as a user uses it: `npm pack`, the tarball installed into an empty
 * project, then `npx bnff models`, a one-epoch `npx bnff train --limit 500`, `npx bnff info`, and
 * an ES-module import of the API by its package name. The tarball must be complete (the CLI, the
 * .wasm kernels, the embedded dataset, the native sources the install script compiles) and
 * small (no tests, docs, benchmark results or source maps).
 *
 * The install is offline where npm's cache holds every dependency (after `npm ci` it holds their
 * tarballs); where it lacks metadata it falls back to --prefer-offline, which fetches only that.
 * npm 11 runs the install script (the native build) with a notice unless the project denies it;
 * where it did not run, `bnff info` must say so and how to run it.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, fromRoot } from '../helpers/paths.js';

/** The environment without what an enclosing `npm test` exports (its lifecycle and package settings). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig']);
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !keep.has(k.toLowerCase())) continue;
    if (k === 'INIT_CWD' || k === 'BNFF_ENGINE' || k === 'BNFF_NATIVE_ISA') continue;
    env[k] = v;
  }
  // the enclosing npm puts node_modules/.bin of this checkout first on PATH: a user has no such thing
  env.PATH = (env.PATH ?? '')
    .split(path.delimiter)
    .filter((d) => !d.includes(`${path.sep}node_modules${path.sep}`))
    .join(path.delimiter);
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.error, undefined, `${what}: ${r.error?.message}`);
  assert.equal(r.status, 0, `${what} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Lines of a bnff command's stderr that warn (the user caused none of them). */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /warn|deprecat/i.test(l));
}

interface PackEntry {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

test('npm pack: the tarball installs into an empty project, and its CLI and API work', { timeout: 900_000 }, (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-pack-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));

  // --ignore-scripts: `npm test` has just built dist/ (prepare would build it again)
  const packed = JSON.parse(ok(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT), 'npm pack')) as PackEntry[];
  const entry = packed[0]!;
  const files = entry.files.map((f) => f.path);
  t.diagnostic(
    `${entry.filename}: ${entry.entryCount} files, ${(entry.size / 1024).toFixed(0)} KiB packed, ${(entry.unpackedSize / 1024).toFixed(0)} KiB unpacked`,
  );

  // complete
  for (const f of [
    'package.json',
    'README.md',
    'bin/bnff.js',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/src/cli/main.js',
    'dist/src/bench/step.js',
    'dist/src/bench/kernels_conv.js',
    'dist/src/bench/kernels_eltwise.js',
    'binding.gyp',
    'tools/build-native.mjs',
    'tools/native-sources.mjs',
    'tools/bench_pytorch.py',
    'tools/torchvision_models.py',
    'data/fashion-mnist-subset/train-images-idx3-ubyte.gz',
  ]) {
    assert.ok(files.includes(f), `the tarball lacks ${f}`);
  }
  const wasm = fs.readdirSync(fromRoot('dist/kernels')).filter((f) => f.endsWith('.wasm'));
  assert.ok(wasm.length > 0);
  for (const f of wasm) assert.ok(files.includes(`dist/kernels/${f}`), `the tarball lacks dist/kernels/${f}`);
  // every native source the addon's hash covers (tools/native-sources.mjs), so the installed package hashes the same files
  const native = (dir: string): string[] =>
    fs
      .readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(cc|h)$/.test(f))
      .map((f) => path.posix.join('src/kernels/native', f.split(path.sep).join('/')))
      .sort();
  assert.deepEqual(files.filter((f) => f.startsWith('src/')).sort(), native(fromRoot('src/kernels/native')));
  // small: no tests, docs, bench results, sources other than the native ones, source maps
  const stray = files.filter(
    (f) =>
      /^(test|dist\/test|docs|bench|dist\/bench|dist\/tools|runs|build)\//.test(f) ||
      f.endsWith('.map') ||
      (f.startsWith('src/') && !f.startsWith('src/kernels/native/')),
  );
  assert.deepEqual(stray, [], 'the tarball holds files a user does not need');
  assert.ok(entry.unpackedSize < 8 << 20, `the package unpacks to ${entry.unpackedSize} bytes`);

  // an empty project installs it
  const proj = path.join(work, 'project');
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'bnff-user', version: '1.0.0', private: true, type: 'module' }, null, 2) + '\n');
  const tarball = path.join(work, entry.filename);
  let inst = run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], proj, 600_000);
  if (inst.status !== 0 && /ENOTCACHED/.test(inst.stderr)) {
    t.diagnostic('npm cache lacks some metadata: installing with --prefer-offline');
    inst = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], proj, 600_000);
  }
  ok(inst, 'npm install <tarball>');
  const installed = path.join(proj, 'node_modules', 'bnff');
  assert.ok(fs.existsSync(path.join(installed, 'package.json')));

  // the source hash the native engine checks its addon against is the same in the installed package
  const hash = (dir: string): string => ok(run(process.execPath, [path.join(dir, 'tools/native-sources.mjs'), '--hash'], dir), 'native-sources --hash').trim();
  assert.equal(hash(installed), hash(ROOT));

  // npx bnff models
  const models = run('npx', ['--no-install', 'bnff', 'models'], proj);
  assert.match(ok(models, 'npx bnff models'), /resnet8/);
  assert.deepEqual(warnings(models.stderr), []);

  // npx bnff info. npm 11 runs the install script (the native build) with a notice unless the
  // project denies it; where it ran and built the addon, the addon's source hash matches the
  // installed sources and bnff runs it.
  const info = (): { engine: string; reason: string } => {
    const r = run('npx', ['--no-install', 'bnff', 'info', '--json'], proj);
    const rep = JSON.parse(ok(r, 'npx bnff info --json')) as { engine: string; reason: string };
    assert.deepEqual(warnings(r.stderr), []);
    return rep;
  };
  const build = path.join(installed, 'build');
  const statusFile = path.join(build, 'bnff-native.json');
  const built = fs.existsSync(statusFile) && (JSON.parse(fs.readFileSync(statusFile, 'utf8')) as { ok: boolean }).ok;
  const rep = info();
  t.diagnostic(`installed bnff: engine ${rep.engine} (${rep.reason})`);
  if (built) assert.doesNotMatch(rep.reason, /older sources|failed to load/);
  // where the install script did not run (--ignore-scripts, a denial), bnff says so and how to run it
  if (fs.existsSync(build)) fs.renameSync(build, `${build}.off`);
  const skipped = info();
  if (fs.existsSync(`${build}.off`)) fs.renameSync(`${build}.off`, build);
  assert.equal(skipped.engine, 'wasm');
  assert.match(skipped.reason, /install script did not run.*npm install-scripts approve bnff.*npm rebuild bnff/);

  // a one-epoch training run
  const out = path.join(work, 'run');
  const train = run('npx', ['--no-install', 'bnff', 'train', '--limit', '500', '--epochs', '1', '--out', out], proj, 240_000);
  assert.match(ok(train, 'npx bnff train --limit 500 --epochs 1'), /test accuracy [\d.]+%/);
  assert.deepEqual(warnings(train.stderr), []);
  for (const f of ['config.json', 'metrics.jsonl', 'weights.safetensors']) assert.ok(fs.existsSync(path.join(out, f)), `the run directory lacks ${f}`);

  // the API, imported by the package's name from an ES module
  fs.writeFileSync(
    path.join(proj, 'api.js'),
    [
      "import { getModel, createEngine } from 'bnff';",
      "import { createRequire } from 'node:module';",
      'const engine = await createEngine({ threads: 1 });',
      "const g = getModel('resnet8', { numClasses: 10, inChannels: 1 });",
      "const version = createRequire(import.meta.url)('bnff/package.json').version;",
      'console.log(JSON.stringify({ engine: engine.description, model: g.name, version }));',
      'engine.close();',
      "try { await import('bnff/dist/src/index.js'); console.log('deep import allowed'); } catch (e) { if (e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e; }",
    ].join('\n') + '\n',
  );
  const api = run(process.execPath, ['api.js'], proj);
  const lines = ok(api, 'node api.js (import from bnff)').trim().split('\n');
  assert.deepEqual(warnings(api.stderr), []);
  const res = JSON.parse(lines[0]!) as { engine: string; model: string; version: string };
  assert.equal(res.model, 'resnet8');
  assert.match(res.engine, /\S/);
  assert.equal(res.version, (JSON.parse(fs.readFileSync(fromRoot('package.json'), 'utf8')) as { version: string }).version);
  assert.equal(lines.length, 1, 'only the exports map is public:\n' + lines.join('\n'));
});
