import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CIFAR10_CLASS_NAMES, loadCifar10, readCifar10Batch } from '../../src/data/cifar10.js';
import { cifarBatchBytes as batchBytes, tempDir, throwsDataError } from './helpers.js';

function writeSplitFiles(dir: string): void {
  for (let k = 1; k <= 5; k++) writeFileSync(join(dir, `data_batch_${k}.bin`), batchBytes(k, k));
  writeFileSync(join(dir, 'test_batch.bin'), batchBytes(3, 100));
}

test('CIFAR-10 reader decodes records channel-planar and concatenates batches', () => {
  const t = tempDir();
  try {
    writeSplitFiles(t.dir);
    const train = loadCifar10(t.dir, 'train');
    assert.equal(train.count, 1 + 2 + 3 + 4 + 5);
    assert.equal(train.channels, 3);
    assert.equal(train.height, 32);
    assert.equal(train.width, 32);
    assert.equal(train.images.length, 15 * 3072);
    assert.deepEqual(train.classNames, CIFAR10_CLASS_NAMES);
    // Example 3 is record 0 of data_batch_3 (after 1 + 2 records); check label and a pixel
    // in each channel plane: green (c=1) at y=5, x=9 is byte 1024 + 5*32 + 9.
    assert.equal(train.labels[3], 3);
    for (const j of [0, 1024 + 5 * 32 + 9, 2048 + 31 * 32 + 31]) {
      assert.equal(train.images[3 * 3072 + j], Math.fround(((3 * 31 + j) & 0xff) / 255));
    }
    const test_ = loadCifar10(t.dir, 'test');
    assert.equal(test_.count, 3);
    assert.deepEqual([...test_.labels], [0, 1, 2]);
    assert.equal(test_.images[2 * 3072 + 10], Math.fround(((100 * 31 + 14 + 10) & 0xff) / 255));
  } finally {
    t.cleanup();
  }
});

test('CIFAR-10 reads class names from batches.meta.txt and finds cifar-10-batches-bin/', () => {
  const t = tempDir();
  try {
    const inner = join(t.dir, 'cifar-10-batches-bin');
    mkdirSync(inner);
    writeSplitFiles(inner);
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    writeFileSync(join(inner, 'batches.meta.txt'), names.join('\n') + '\n\n');
    assert.deepEqual(loadCifar10(t.dir, 'test').classNames, names);
    writeFileSync(join(inner, 'batches.meta.txt'), 'a\nb\n');
    throwsDataError(() => loadCifar10(t.dir, 'test'), 'batches.meta.txt', 'expected 10 class names');
  } finally {
    t.cleanup();
  }
});

test('CIFAR-10 file size not a multiple of 3073 names file and size', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'test_batch.bin');
    writeFileSync(f, batchBytes(2, 0).subarray(0, 3073 * 2 - 5));
    throwsDataError(() => readCifar10Batch(f), `${f}: size 6141 bytes is not a multiple of 3073`);
    throwsDataError(() => loadCifar10(t.dir, 'test'), f, '6141');
  } finally {
    t.cleanup();
  }
});

test('CIFAR-10 label >= 10 is rejected', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'x.bin');
    const b = batchBytes(3, 0);
    b[2 * 3073] = 10;
    writeFileSync(f, b);
    throwsDataError(() => readCifar10Batch(f), `${f}: label 10 at record 2 is out of range [0, 10)`);
  } finally {
    t.cleanup();
  }
});

test('CIFAR-10 missing files are named', () => {
  const t = tempDir();
  try {
    writeSplitFiles(t.dir);
    rmSync(join(t.dir, 'data_batch_2.bin'));
    rmSync(join(t.dir, 'data_batch_4.bin'));
    const e = throwsDataError(() => loadCifar10(t.dir, 'train'), t.dir, 'data_batch_2.bin, data_batch_4.bin');
    assert.ok(!e.message.includes('missing CIFAR-10 train files data_batch_1'), e.message);
    // The test split does not need the train files.
    assert.equal(loadCifar10(t.dir, 'test').count, 3);
    rmSync(join(t.dir, 'test_batch.bin'));
    throwsDataError(() => loadCifar10(t.dir, 'test'), 'missing CIFAR-10 test file test_batch.bin');
    throwsDataError(() => loadCifar10(join(t.dir, 'nowhere'), 'test'), 'nowhere', 'not found');
  } finally {
    t.cleanup();
  }
});

test('CIFAR-10 empty file is named', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'test_batch.bin');
    writeFileSync(f, new Uint8Array(0));
    throwsDataError(() => loadCifar10(t.dir, 'test'), `${f}: empty file, expected CIFAR-10 records of 3073 bytes`);
  } finally {
    t.cleanup();
  }
});
