#!/usr/bin/env node
// Builds the native engine's addon (binding.gyp) with node-gyp and the machine's compiler. Run by
// `npm install` (the install script) and `npm run build`. It never fails the command that runs it
// unless --strict is given: when something is missing it prints one line saying why, records it in
// build/bnff-native.json, and bnff runs on the WebAssembly engine. Nothing is downloaded: node-gyp
// is pointed at Node's own headers (npm's nodedir, or /usr/include/node).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeHash } from './native-sources.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const status = path.join(root, 'build', 'bnff-native.json');

function finish(ok, reason) {
  fs.mkdirSync(path.dirname(status), { recursive: true });
  fs.writeFileSync(status, JSON.stringify({ ok, reason, hash: ok ? nativeHash() : null }, null, 1) + '\n');
  if (!ok) {
    process.stdout.write(`bnff: native engine not built (${reason}); bnff will run on the WebAssembly engine\n`);
    if (strict) process.exit(1);
  } else process.stdout.write('bnff: native engine built\n');
  process.exit(0);
}

if (process.env.BNFF_NATIVE === '0') finish(false, 'BNFF_NATIVE=0');
if (!['x64'].includes(process.arch)) finish(false, `no native kernels for ${process.arch} yet`);
if (!fs.existsSync(path.join(root, 'binding.gyp'))) finish(false, 'binding.gyp not in the package');

// The compiler: node-gyp uses $CXX, else c++ / g++.
const cxx = process.env.CXX || 'c++';
const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) finish(false, `C++ compiler not usable (${cxx}${probe.error ? ': ' + probe.error.code : ''})`);

// Node's headers, found locally; never let node-gyp fetch them.
let nodedir = process.env.npm_config_nodedir;
if (!nodedir || !fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
  const cands = [path.resolve(path.dirname(process.execPath), '..'), '/usr', '/usr/local'];
  nodedir = cands.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
}
if (!nodedir) finish(false, "Node's headers (include/node/node_api.h) not found; set npm's nodedir");

// node-gyp: the copy npm runs scripts with, else the one bundled with npm next to this node.
const gypCands = [
  process.env.npm_config_node_gyp,
  path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  path.resolve(path.dirname(process.execPath), 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].filter((p) => p && fs.existsSync(p));
if (gypCands.length === 0) finish(false, 'node-gyp not found (it ships with npm)');

const gyp = gypCands[0];
// configure every time: it expands the family list and the source hash compiled into the addon
const steps = [['configure'], ['build']];
for (const step of steps) {
  const r = spawnSync(process.execPath, [gyp, ...step, `--nodedir=${nodedir}`, '--jobs=max'], {
    cwd: root,
    encoding: 'utf8',
    // the compiler's warnings from a fresh build pass spawnSync's default 1 MiB, which kills the build
    maxBuffer: 256 << 20,
    env: { ...process.env, npm_config_nodedir: nodedir },
  });
  if (r.status !== 0) {
    const log = path.join(root, 'build', 'bnff-native.log');
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, (r.stdout ?? '') + (r.stderr ?? ''));
    const firstError = ((r.stderr ?? '') + (r.stdout ?? '')).split('\n').find((l) => /error/i.test(l)) ?? `exit ${r.status}`;
    finish(false, `node-gyp ${step[0]} failed: ${firstError.trim().slice(0, 160)} (log: build/bnff-native.log)`);
  }
}
finish(true, null);
