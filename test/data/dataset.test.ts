import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelStats, normalize, padTo } from '../../src/data/dataset.js';
import { synthetic, throwsDataError } from './helpers.js';

/** Plain per-channel mean/std by collecting each channel's values. */
function naiveStats(images: Float32Array, n: number, c: number, plane: number): { mean: number[]; std: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    const vals: number[] = [];
    for (let i = 0; i < n; i++) for (let p = 0; p < plane; p++) vals.push(images[(i * c + ch) * plane + p]!);
    const m = vals.reduce((a, b) => a + b, 0) / vals.length;
    mean.push(m);
    std.push(Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length));
  }
  return { mean, std };
}

test('channelStats matches a plain computation', () => {
  const ds = synthetic(13, 3, 4, 5);
  const got = channelStats(ds);
  const want = naiveStats(ds.images, 13, 3, 20);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(got.mean[c]! - want.mean[c]!) < 1e-12, `mean[${c}]`);
    assert.ok(Math.abs(got.std[c]! - want.std[c]!) < 1e-12, `std[${c}]`);
  }
  // Channels really differ in this data, so a mix-up between channels would show.
  assert.notEqual(got.mean[0], got.mean[1]);
});

test('channelStats on a known tiny case', () => {
  const ds = synthetic(2, 2, 1, 2);
  ds.images.set([0, 1, 10, 10, /* n=1 */ 1, 0, 20, 20]);
  const s = channelStats(ds);
  assert.deepEqual(s.mean, [0.5, 15]);
  assert.deepEqual(s.std, [0.5, 5]);
});

test('normalize is per channel, returns a new dataset, and yields mean 0 std 1', () => {
  const ds = synthetic(9, 3, 3, 3);
  const before = Float32Array.from(ds.images);
  const mean = [0.1, 0.5, 0.9];
  const std = [0.2, 0.25, 2];
  const out = normalize(ds, mean, std);
  assert.notEqual(out, ds);
  assert.notEqual(out.images, ds.images);
  assert.deepEqual(ds.images, before, 'input untouched');
  for (let n = 0; n < 9; n++)
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 9; p++) {
        const i = (n * 3 + c) * 9 + p;
        assert.ok(Math.abs(out.images[i]! - (before[i]! - mean[c]!) / std[c]!) < 1e-6);
      }
  const s = channelStats(ds);
  const z = channelStats(normalize(ds, s.mean, s.std));
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(z.mean[c]!) < 1e-6);
    assert.ok(Math.abs(z.std[c]! - 1) < 1e-5);
  }
  throwsDataError(() => normalize(ds, [0], [1]), 'mean has 1 entries', '3 channels');
  throwsDataError(() => normalize(ds, [0, 0, 0], [1, -1, 1]), 'dataset "synthetic": the standard deviation of channel 1 must be positive, got -1');
});

test('constant images: the std-0 message names the dataset, the channel and the value', () => {
  const ds = synthetic(4, 3, 2, 2);
  for (let n = 0; n < 4; n++) ds.images.fill(0.5, (n * 3 + 2) * 4, (n * 3 + 3) * 4);
  const s = channelStats(ds);
  assert.deepEqual([s.mean[2], s.std[2]], [0.5, 0]);
  throwsDataError(() => normalize(ds, s.mean, s.std), 'dataset "synthetic": the standard deviation of channel 2 must be positive, got 0: every pixel of channel 2 has the value 0.5', 'constant images');
});

test('padTo centres the image and zero-fills', () => {
  const ds = synthetic(2, 2, 2, 3);
  const out = padTo(ds, 5);
  assert.equal(out.height, 5);
  assert.equal(out.width, 5);
  assert.equal(out.images.length, 2 * 2 * 25);
  for (let p = 0; p < 4; p++) {
    for (let y = 0; y < 5; y++)
      for (let x = 0; x < 5; x++) {
        const v = out.images[p * 25 + y * 5 + x]!;
        // top = (5-2)>>1 = 1, left = (5-3)>>1 = 1
        const iy = y - 1;
        const ix = x - 1;
        const want = iy >= 0 && iy < 2 && ix >= 0 && ix < 3 ? ds.images[p * 6 + iy * 3 + ix]! : 0;
        assert.equal(v, want, `plane ${p} (${y}, ${x})`);
      }
  }
  assert.equal(padTo(ds, 3).height, 3);
  throwsDataError(() => padTo(synthetic(1, 1, 28, 28), 27), 'cannot pad 28x28', '27x27');
});
