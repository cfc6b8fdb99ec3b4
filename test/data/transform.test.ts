import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentExample, parseAugment, resizePlanes } from '../../src/data/dataset.js';
import { affineOf, baseSize, baseToPlanar, centerBox, normTables, resampleBox, resizedCropBox, toBase } from '../../src/data/transform.js';
import { Rng } from '../../src/util/random.js';

test('baseSize: ImageNet 256 for 224, at least one pixel more than the input', () => {
  assert.deepEqual([224, 32, 1, 299].map(baseSize), [256, 37, 2, 342]);
  assert.deepEqual(centerBox(256, 256, 224), { top: 16, left: 16, height: 224, width: 224 });
});

test('resizedCropBox: inside the image, area 8-100% and ratio 3/4-4/3 when sampled, the same for the same key', () => {
  let fallbacks = 0;
  const areas: number[] = [];
  for (let pos = 0; pos < 2000; pos++) {
    const [h, w] = pos % 2 ? [256, 256] : [40, 90];
    const b = resizedCropBox(h, w, [7, 1, pos]);
    assert.deepEqual(b, resizedCropBox(h, w, [7, 1, pos]));
    assert.ok(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= h && b.left + b.width <= w, JSON.stringify(b));
    const area = (b.height * b.width) / (h * w);
    const ratio = b.width / b.height;
    if (b.height === h || b.width === w) fallbacks++;
    if (h === 256) {
      // rounding of the sides moves area and ratio a little off their ranges
      assert.ok(area > 0.075 && area <= 1, `area ${area}`);
      assert.ok(ratio > 0.74 && ratio < 1.36, `ratio ${ratio}`);
      areas.push(area);
    }
  }
  // torchvision's sampling: uniform in [0.08, 1], less the draws that do not fit (large areas at
  // extreme ratios), redrawn: a mean of 0.480 (simulated with Python's random, 400,000 boxes)
  const mean = areas.reduce((a, b) => a + b, 0) / areas.length;
  assert.ok(Math.abs(mean - 0.48) < 0.02, `mean area ${mean}`);
  assert.ok(fallbacks < 400, `${fallbacks} boxes at a full side`);
  // a very wide image that no sample fits: the centre crop at ratio 4/3
  assert.deepEqual(resizedCropBox(1, 100, [0, 0, 0]), { top: 0, left: 49, height: 1, width: 1 });
});

test('resampleBox: a box of the output size is a copy; the whole image matches resizePlanes (bilinear, half-pixel centres)', () => {
  const rng = new Rng(3);
  const src = Float32Array.from({ length: 7 * 9 }, () => rng.next());
  const copy = new Float32Array(9);
  resampleBox(src, 0, 1, 9, { top: 2, left: 4, height: 3, width: 3 }, copy, 0, 3, 3, 1, 0);
  assert.deepEqual([...copy], [2 * 9 + 4, 2 * 9 + 5, 2 * 9 + 6, 27 + 4, 27 + 5, 27 + 6, 36 + 4, 36 + 5, 36 + 6].map((i) => src[i]!));
  for (const [oh, ow] of [[14, 18], [3, 4], [7, 9], [20, 5]] as const) {
    const want = new Float32Array(oh * ow);
    resizePlanes(src, 1, 7, 9, want, oh, ow);
    const got = new Float32Array(oh * ow);
    resampleBox(src, 0, 1, 9, { top: 0, left: 0, height: 7, width: 9 }, got, 0, oh, ow, 1, 0);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `${oh}x${ow} [${i}] ${v} vs ${want[i]}`));
  }
});

test('baseToPlanar: the centre crop is normalize() of v / 255 exactly; a resized box is within rounding of the same formula', () => {
  const r = 5;
  const base = Uint8Array.from({ length: r * r * 3 }, (_, i) => (i * 53) & 255);
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const out = new Float32Array(3 * 9);
  baseToPlanar(base, r, 3, undefined, out, 0, 3, normTables(mean, std), affineOf(mean, std));
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        const v = Math.fround(base[((1 + y) * r + 1 + x) * 3 + c]! / 255);
        assert.equal(out[c * 9 + y * 3 + x], Math.fround((v - mean[c]!) * (1 / std[c]!)));
      }
    }
  }
  const up = new Float32Array(3 * 16);
  baseToPlanar(base, r, 3, { top: 0, left: 0, height: r, width: r }, up, 0, 4, normTables(mean, std), affineOf(mean, std));
  const plane = new Float32Array(16);
  for (let c = 0; c < 3; c++) {
    const p = Float32Array.from({ length: r * r }, (_, i) => base[i * 3 + c]!);
    resizePlanes(p, 1, r, r, plane, 4, 4);
    plane.forEach((v, i) => assert.ok(Math.abs(up[c * 16 + i]! - (v / 255 - mean[c]!) / std[c]!) < 1e-5));
  }
});

test('toBase: exact at its own size; box-averaged when much bigger; gray repeated into RGB; RGB to ITU-R 601 luma', () => {
  const px = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (i * 11) & 255);
  assert.deepEqual([...toBase(px, 4, 4, 3, 4, 3)], [...px]);
  // 8x6 gray: the centre 6x6 square (columns 1..6), then 2x2 blocks averaged to 3x3
  const g = Uint8Array.from({ length: 8 * 6 }, (_, i) => (i % 8) * 10 + Math.floor(i / 8));
  const b = toBase(g, 8, 6, 1, 3, 1);
  const want = [0, 1, 2].flatMap((by) => [0, 1, 2].map((bx) => Math.round(((1 + 2 * bx) * 10 + 5 + 2 * by + 0.5))));
  assert.deepEqual([...b], want);
  assert.deepEqual([...toBase(Uint8Array.of(7, 9, 11, 13), 2, 2, 1, 2, 3)], [7, 7, 7, 9, 9, 9, 11, 11, 11, 13, 13, 13]);
  assert.deepEqual([...toBase(Uint8Array.of(0, 255, 0, 255, 0, 0, 0, 0, 255, 10, 10, 10), 2, 2, 3, 2, 1)], [150, 76, 29, 10]);
  // 4 values per pixel (RGBA): alpha ignored
  assert.deepEqual([...toBase(Uint8Array.of(1, 2, 3, 99), 1, 1, 4, 1, 3)], [1, 2, 3]);
});

test('rrc on an in-memory dataset: parseAugment takes it, and augmentExample resamples the drawn box', () => {
  const a = parseAugment('rrc,flip', [0])!;
  assert.deepEqual(a, { padding: 0, flip: true, fill: [0], resizedCrop: true });
  const rng = new Rng(9);
  const x = Float32Array.from({ length: 2 * 8 * 8 }, () => rng.next());
  const y = Float32Array.from(x);
  augmentExample(y, 0, 2, 8, 8, { ...a, flip: false }, [1, 2, 3], new Float32Array(64));
  const box = resizedCropBox(8, 8, [1, 2, 3]);
  const want = new Float32Array(64);
  for (let c = 0; c < 2; c++) {
    resampleBox(x, c * 64, 1, 8, box, want, 0, 8, 8, 1, 0);
    assert.deepEqual([...y.subarray(c * 64, c * 64 + 64)], [...want]);
  }
});
