#!/usr/bin/env node
/**
 * Regenerates data/fashion-mnist-subset/, the small dataset committed with bnff so that it
 * trains and tests offline. It takes a class-balanced, seeded sample of Fashion-MNIST from
 * Debian's dataset-fashion-mnist package: N train images per class from the official train
 * split and M test images per class from the official test split (never mixing the two), in
 * their original order, and writes them as gzip IDX files under the upstream names.
 *
 * Plain Node with no dependencies and no import of bnff itself, so it runs before a build.
 * Output is byte-for-byte reproducible: the sample depends only on --seed, and Node's gzip
 * writes no timestamp.
 *
 *   node tools/make-embedded-dataset.mjs [--src DIR] [--out DIR] [--seed N]
 *                                        [--train-per-class N] [--test-per-class N]
 */

import { readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opts = {
  src: '/usr/share/datasets/fashion-mnist',
  out: join(root, 'data', 'fashion-mnist-subset'),
  seed: 20190401,
  'train-per-class': 300,
  'test-per-class': 50,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) || i + 1 >= argv.length) {
    console.error(
      `usage: node tools/make-embedded-dataset.mjs ${Object.keys(opts)
        .map((k) => `[--${k} ${opts[k]}]`)
        .join(' ')}`,
    );
    process.exit(2);
  }
  const v = argv[++i];
  opts[key] = typeof opts[key] === 'number' ? Number(v) : v;
}

const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Mulberry32, the same generator as src/util/random.ts. */
function rng(seed) {
  let s = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readIdx(file, ndims) {
  let b = readFileSync(file);
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b);
  const magic = b.readUInt32BE(0);
  if (magic !== (0x0800 | ndims)) throw new Error(`${file}: wrong magic 0x${magic.toString(16)}`);
  const dims = [];
  for (let i = 0; i < ndims; i++) dims.push(b.readUInt32BE(4 + 4 * i));
  const data = b.subarray(4 + 4 * ndims);
  if (data.length !== dims.reduce((a, d) => a * d, 1)) throw new Error(`${file}: size does not match header`);
  return { dims, data };
}

function writeIdxGz(file, dims, data) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(0x0800 | dims.length, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  writeFileSync(file, gzipSync(Buffer.concat([head, data]), { level: 9 }));
}

/** Indices of a balanced sample, perClass per class, in original file order. */
function balancedSample(labels, perClass, next) {
  const byClass = Array.from({ length: 10 }, () => []);
  labels.forEach((l, i) => byClass[l].push(i));
  const picked = [];
  for (let c = 0; c < 10; c++) {
    const idx = byClass[c];
    if (idx.length < perClass) throw new Error(`class ${c} has only ${idx.length} examples, need ${perClass}`);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    picked.push(...idx.slice(0, perClass));
  }
  return picked.sort((a, b) => a - b);
}

mkdirSync(opts.out, { recursive: true });
const next = rng(opts.seed);
const written = [];
for (const [split, perClass] of [
  ['train', opts['train-per-class']],
  ['t10k', opts['test-per-class']],
]) {
  const img = readIdx(join(opts.src, `${split}-images-idx3-ubyte.gz`), 3);
  const lab = readIdx(join(opts.src, `${split}-labels-idx1-ubyte.gz`), 1);
  const [n, h, w] = img.dims;
  if (lab.dims[0] !== n) throw new Error(`${split}: ${n} images but ${lab.dims[0]} labels`);
  const picked = balancedSample(lab.data, perClass, next);
  const px = Buffer.alloc(picked.length * h * w);
  const lb = Buffer.alloc(picked.length);
  picked.forEach((src, i) => {
    img.data.copy(px, i * h * w, src * h * w, (src + 1) * h * w);
    lb[i] = lab.data[src];
  });
  const fi = join(opts.out, `${split}-images-idx3-ubyte.gz`);
  const fl = join(opts.out, `${split}-labels-idx1-ubyte.gz`);
  writeIdxGz(fi, [picked.length, h, w], px);
  writeIdxGz(fl, [picked.length], lb);
  written.push([fi, picked.length], [fl, picked.length]);
}

const copyright = (() => {
  try {
    return readFileSync('/usr/share/doc/dataset-fashion-mnist/copyright', 'utf8');
  } catch {
    return undefined;
  }
})();
// The Expat (MIT) text from Debian's copyright file, with its leading-space/"." continuation
// lines turned back into plain paragraphs.
let licence = '';
if (copyright) {
  const m = copyright.match(/^License: Expat\n((?: .*\n?)+)/m);
  if (m)
    licence = m[1]
      .split('\n')
      .map((l) => (l.trim() === '.' ? '' : l.replace(/^ /, '').trimEnd()))
      .join('\n')
      .trim();
}
const holder = copyright?.match(/^Files: \*\nCopyright: (.*)$/m)?.[1];
if (!licence || !holder) throw new Error('could not read the MIT licence text from /usr/share/doc/dataset-fashion-mnist/copyright');

const tr = opts['train-per-class'];
const te = opts['test-per-class'];
const sizes = written.map(([f, n]) => `| ${relative(opts.out, f)} | ${n} | ${statSync(f).size} |`).join('\n');
const readme = `# Fashion-MNIST subset (embedded default dataset)

A small, class-balanced sample of [Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist)
(Xiao, Rasul and Vollgraf, 2017, Zalando Research), committed so that bnff trains and its tests
run offline. \`bnff\` loads it when the dataset spec is \`embedded\` (the default).

## Source

Debian package \`dataset-fashion-mnist\`, files
\`${opts.src}/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz\`, which are the upstream files.

## How it was made

\`\`\`
node tools/make-embedded-dataset.mjs --seed ${opts.seed} --train-per-class ${tr} --test-per-class ${te}
\`\`\`

For each class, the script shuffles that class's indices with a seeded Mulberry32 generator and
keeps the first ${tr} (train) or ${te} (test); the kept images stay in their original file order.
Train images come only from the official train split and test images only from the official
test split. The output is reproducible byte for byte.

## Contents

${10 * tr} train images (${tr} per class) and ${10 * te} test images (${te} per class), 28x28 grey
levels 0-255, in gzip-compressed IDX format under the upstream file names.

| file | count | bytes |
| --- | --- | --- |
${sizes}

Classes (label: name): ${CLASS_NAMES.map((n, i) => `${i}: ${n}`).join(', ')}.

## Licence

Fashion-MNIST is released under the MIT licence (as recorded in Debian's
\`/usr/share/doc/dataset-fashion-mnist/copyright\`):

\`\`\`
Copyright: ${holder}

${licence}
\`\`\`
`;
writeFileSync(join(opts.out, 'README.md'), readme);
for (const [f, n] of written) console.log(`${relative(root, f)}: ${n} records, ${statSync(f).size} bytes`);
