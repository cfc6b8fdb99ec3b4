import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedDir, loadEmbedded } from '../../src/data/embedded.js';
import { readIdxImages } from '../../src/data/idx.js';
import { FASHION_MNIST_CLASS_NAMES } from '../../src/data/mnist.js';
import type { Dataset } from '../../src/data/dataset.js';

function checkSplit(ds: Dataset, count: number, perClass: number): void {
  assert.equal(ds.count, count);
  assert.equal(ds.channels, 1);
  assert.equal(ds.height, 28);
  assert.equal(ds.width, 28);
  assert.equal(ds.numClasses, 10);
  assert.equal(ds.images.length, count * 784);
  assert.equal(ds.labels.length, count);
  assert.deepEqual(ds.classNames, FASHION_MNIST_CLASS_NAMES);
  const hist = new Array<number>(10).fill(0);
  for (const l of ds.labels) hist[l]!++;
  assert.deepEqual(hist, new Array<number>(10).fill(perClass));
  let min = Infinity;
  let max = -Infinity;
  for (const v of ds.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= 0 && max <= 1, `values in [${min}, ${max}]`);
  // Real images, not blanks: both extremes occur.
  assert.equal(min, 0);
  assert.equal(max, 1);
}

test('embedded train split: 3000 images, 300 per class, 28x28x1 in [0,1]', () => {
  checkSplit(loadEmbedded('train'), 3000, 300);
});

test('embedded test split: 500 images, 50 per class', () => {
  checkSplit(loadEmbedded('test'), 500, 50);
});

const upstream = '/usr/share/datasets/fashion-mnist';
test(
  'embedded images come from the matching upstream split and are distinct',
  { skip: existsSync(join(upstream, 't10k-images-idx3-ubyte.gz')) ? false : 'Debian fashion-mnist not installed' },
  () => {
    const hashes = (file: string): string[] => {
      const img = readIdxImages(file);
      const out: string[] = [];
      for (let i = 0; i < img.count; i++) out.push(createHash('sha1').update(img.pixels.subarray(i * 784, (i + 1) * 784)).digest('hex'));
      return out;
    };
    const sub = hashes(join(embeddedDir(), 't10k-images-idx3-ubyte.gz'));
    const full = new Set(hashes(join(upstream, 't10k-images-idx3-ubyte.gz')));
    assert.equal(new Set(sub).size, sub.length, 'no duplicate test images');
    for (const h of sub) assert.ok(full.has(h), 'embedded test image not in the official test split');
  },
);
