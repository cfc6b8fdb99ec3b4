#!/usr/bin/env node
// Lists the native engine's sources for binding.gyp, or prints their hash (--hash): the hash is
// compiled into the addon, and src/runtime/native.ts refuses an addon whose hash differs
// from the sources next to it (built from older sources).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function nativeSources(dir = path.join(root, 'src/kernels/native')) {
  const out = [];
  for (const sub of ['core', 'families']) {
    for (const f of fs.readdirSync(path.join(dir, sub)).sort()) if (/\.(cc|h)$/.test(f)) out.push(path.join(dir, sub, f));
  }
  return out;
}

export function nativeHash(dir) {
  const h = crypto.createHash('sha256');
  const files = nativeSources(dir);
  for (const f of files) {
    h.update(path.relative(path.dirname(path.dirname(f)), f));
    h.update('\0');
    h.update(fs.readFileSync(f));
    h.update('\0');
  }
  h.update(fs.readFileSync(path.join(root, 'binding.gyp')));
  return h.digest('hex').slice(0, 16);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2];
  if (arg === '--hash') process.stdout.write(nativeHash() + '\n');
  else {
    const files = nativeSources().filter((f) => f.endsWith('.cc') && path.basename(path.dirname(f)) === arg);
    process.stdout.write(files.map((f) => path.relative(root, f)).join('\n') + '\n');
  }
}
