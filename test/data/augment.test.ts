import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Augment, augmentExample, batches, parseAugment } from '../../src/data/dataset.js';
import { synthetic, throwsDataError } from './helpers.js';

const C = 2;
const H = 5;
const W = 6;
const FILL = [-1, -2];

/** An image whose pixels are all distinct and positive: channel c, pixel (y, x) = 100c + 10y + x + 1. */
function image(): Float32Array {
  const x = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xo = 0; xo < W; xo++) x[(c * H + y) * W + xo] = 100 * c + 10 * y + xo + 1;
  return x;
}

/** The image shifted by (dy, dx) (output (y, x) reads source (y + dy, x') with x' = x or its mirror, plus dx), fill outside. */
function expected(dy: number, dx: number, flip: boolean): number[] {
  const out: number[] = [];
  for (let c = 0; c < C; c++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const sy = y + dy;
        const sx = (flip ? W - 1 - x : x) + dx;
        out.push(sy >= 0 && sy < H && sx >= 0 && sx < W ? 100 * c + 10 * sy + sx + 1 : FILL[c]!);
      }
  return out;
}

function augmented(a: Augment, key: [number, number, number]): number[] {
  const x = image();
  augmentExample(x, 0, C, H, W, a, key, new Float32Array(H * W));
  return [...x];
}

/** The (dy, dx, flip) that explains an augmented image; exactly one must. */
function explain(out: number[], p: number): { dy: number; dx: number; flip: boolean } {
  const found: { dy: number; dx: number; flip: boolean }[] = [];
  for (let dy = -p; dy <= p; dy++) for (let dx = -p; dx <= p; dx++) for (const flip of [false, true]) {
    if (JSON.stringify(expected(dy, dx, flip)) === JSON.stringify(out)) found.push({ dy, dx, flip });
  }
  assert.equal(found.length, 1, `output explained by ${found.length} transforms`);
  return found[0]!;
}

test('crop shifts content by the drawn offset and fills the rest with the per-channel fill; flip mirrors', () => {
  const a: Augment = { padding: 2, flip: true, fill: FILL };
  const seen = new Set<string>();
  let flips = 0;
  for (let pos = 0; pos < 300; pos++) {
    const t = explain(augmented(a, [7, 0, pos]), 2);
    seen.add(`${t.dy},${t.dx}`);
    if (t.flip) flips++;
  }
  // Every offset in [-2, 2]^2 occurs, and flips about half the time.
  assert.equal(seen.size, 25);
  assert.ok(flips > 100 && flips < 200, `${flips} flips of 300`);
  // Filled pixels are exactly those shifted out of the image: check a shift with both signs.
  const e = expected(-1, 2, false);
  assert.deepEqual(e.slice(0, W), [-1, -1, -1, -1, -1, -1], 'row 0 reads source row -1');
  assert.deepEqual(e.slice(W, 2 * W), [3, 4, 5, 6, -1, -1], 'row 1 reads source row 0 from column 2');
});

test('flip only: identity or an exact left-right mirror', () => {
  const a: Augment = { padding: 0, flip: true, fill: FILL };
  let mirrored = 0;
  for (let pos = 0; pos < 40; pos++) {
    const out = augmented(a, [1, 2, pos]);
    if (out[0] === 6) {
      mirrored++;
      assert.deepEqual(out.slice(0, W), [6, 5, 4, 3, 2, 1]);
      assert.deepEqual(out, expected(0, 0, true));
    } else {
      assert.deepEqual(out, [...image()]);
    }
  }
  assert.ok(mirrored > 0 && mirrored < 40);
});

test('draws are a pure function of (seed, epoch, position): same key same output, other epochs differ', () => {
  const a: Augment = { padding: 3, flip: true, fill: FILL };
  for (let pos = 0; pos < 20; pos++) assert.deepEqual(augmented(a, [5, 3, pos]), augmented(a, [5, 3, pos]));
  const epoch = (e: number): string => JSON.stringify([...Array(20).keys()].map((pos) => augmented(a, [5, e, pos])));
  assert.notEqual(epoch(3), epoch(4));
  assert.notEqual(epoch(3), JSON.stringify([...Array(20).keys()].map((pos) => augmented(a, [6, 3, pos]))));
});

test('batches() augments copies, keyed by position in the epoch, and leaves the dataset unchanged', () => {
  const ds = synthetic(10, 1, 4, 4);
  const before = Float32Array.from(ds.images);
  const a: Augment = { padding: 1, flip: true, fill: [0] };
  const o = { shuffle: true, seed: 9, epoch: 1, augment: a };
  const per = 16;
  let changed = 0;
  let pos = 0;
  for (const b of batches(ds, 4, o)) {
    for (let i = 0; i < b.size; i++, pos++) {
      const x = Float32Array.from(ds.images.subarray(b.indices[i]! * per, (b.indices[i]! + 1) * per));
      augmentExample(x, 0, 1, 4, 4, a, [9, 1, pos], new Float32Array(16));
      assert.deepEqual([...b.x.subarray(i * per, (i + 1) * per)], [...x]);
      if (x.some((v, j) => v !== ds.images[b.indices[i]! * per + j])) changed++;
    }
  }
  assert.ok(changed > 0);
  assert.deepEqual(ds.images, before);
});

test('parseAugment', () => {
  assert.equal(parseAugment('none', [0]), undefined);
  assert.deepEqual(parseAugment('crop', [0.5]), { padding: 4, flip: false, fill: [0.5] });
  assert.deepEqual(parseAugment('crop:2,flip', [0]), { padding: 2, flip: true, fill: [0] });
  throwsDataError(() => parseAugment('crop,rotate', [0]), 'unknown augmentation "rotate"');
});
