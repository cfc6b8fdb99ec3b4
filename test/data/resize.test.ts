import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitTo, padTo, resizePlanes, resizeTo } from '../../src/data/dataset.js';
import type { Dataset } from '../../src/data/dataset.js';
import { synthetic, throwsDataError } from './helpers.js';

function one(h: number, w: number, values: number[], channels = 1): Dataset {
  return { name: 'one', images: Float32Array.from(values), labels: new Uint8Array(1), count: 1, channels, height: h, width: w, numClasses: 10 };
}

test('resizeTo 2x2 -> 4x4 upsamples with half-pixel centres (hand-computed)', () => {
  // Source rows/columns sampled at 0, 0.25, 0.75, 1 (clamped at the edges), so out = 2*r + c.
  const out = resizeTo(one(2, 2, [0, 1, 2, 3]), 4);
  assert.equal(out.height, 4);
  assert.equal(out.width, 4);
  assert.deepEqual([...out.images], [
    0, 0.25, 0.75, 1,
    0.5, 0.75, 1.25, 1.5,
    1.5, 1.75, 2.25, 2.5,
    2, 2.25, 2.75, 3,
  ]);
});

test('resizeTo 4x4 -> 2x2 downsamples between source pixels', () => {
  // v = 4y + x; output pixels sit at source 0.5 and 2.5 on each axis.
  const v = [...Array(16).keys()];
  assert.deepEqual([...resizeTo(one(4, 4, v), 2).images], [2.5, 4.5, 10.5, 12.5]);
});

test('resizeTo non-square, per plane, and same size is a copy', () => {
  // 1x3 -> 1x2: x = 0.25 and 1.75 in the source; two channels resized independently.
  const out = resizeTo(one(1, 3, [0, 10, 20, 100, 200, 300], 2), 1, 2);
  assert.deepEqual([...out.images], [2.5, 17.5, 125, 275]);
  const ds = synthetic(3, 2, 3, 5);
  const same = resizeTo(ds, 3, 5);
  assert.notEqual(same.images, ds.images);
  assert.deepEqual([...same.images], [...ds.images]);
  // Two images are resized independently: image 1 of a batch equals image 1 resized alone.
  const two = resizeTo(synthetic(2, 1, 3, 3), 5);
  const alone = new Float32Array(25);
  resizePlanes(synthetic(2, 1, 3, 3).images.subarray(9), 1, 3, 3, alone, 5, 5);
  assert.deepEqual([...two.images.subarray(25)], [...alone]);
  throwsDataError(() => resizeTo(ds, 0), 'resize size must be a positive integer, got 0');
});

test('fitTo pads when smaller by at most a quarter, resizes otherwise', () => {
  const mnist = synthetic(2, 1, 28, 28);
  // 28 -> 32: 4 <= 8, padded.
  assert.deepEqual(fitTo(mnist, 32), padTo(mnist, 32));
  // 24 -> 32: exactly a quarter short, still padded; 23 -> 32 is resized.
  assert.deepEqual(fitTo(synthetic(1, 1, 24, 24), 32), padTo(synthetic(1, 1, 24, 24), 32));
  assert.deepEqual(fitTo(synthetic(1, 1, 23, 23), 32), resizeTo(synthetic(1, 1, 23, 23), 32));
  // 28 -> 224 and 64 -> 32 are resized; a side bigger than the size always resizes.
  const big = fitTo(mnist, 224);
  assert.equal(big.height, 224);
  assert.deepEqual(big, resizeTo(mnist, 224));
  assert.deepEqual(fitTo(synthetic(1, 3, 64, 64), 32), resizeTo(synthetic(1, 3, 64, 64), 32));
  assert.deepEqual(fitTo(synthetic(1, 1, 30, 40), 32), resizeTo(synthetic(1, 1, 30, 40), 32));
  // Already the size: the same dataset.
  const ds = synthetic(1, 1, 32, 32);
  assert.equal(fitTo(ds, 32), ds);
  throwsDataError(() => fitTo(ds, 0), 'got 0');
});

test('fitTo values: 3x3 -> 4 pads, 2x2 -> 4 resizes', () => {
  const padded = fitTo(one(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]), 4);
  // An odd margin goes to the bottom and right.
  assert.deepEqual([...padded.images], [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]);
  const resized = fitTo(one(2, 2, [0, 1, 2, 3]), 4);
  assert.deepEqual([...resized.images.subarray(4, 8)], [0.5, 0.75, 1.25, 1.5]);
});
