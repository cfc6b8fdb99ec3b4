import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchCount, batches } from '../../src/data/dataset.js';
import type { Dataset } from '../../src/data/dataset.js';
import { synthetic, throwsDataError } from './helpers.js';

/** Copies out each batch's indices as it is yielded (the generator reuses its buffers). */
function order(ds: Dataset, bs: number, o: { shuffle: boolean; seed: number; epoch: number; dropLast?: boolean }): number[][] {
  const out: number[][] = [];
  for (const b of batches(ds, bs, o)) out.push([...b.indices]);
  return out;
}

test('shuffled order is deterministic given seed and epoch', () => {
  const ds = synthetic(100);
  const a = order(ds, 16, { shuffle: true, seed: 7, epoch: 3 });
  const b = order(ds, 16, { shuffle: true, seed: 7, epoch: 3 });
  assert.deepEqual(a, b);
});

test('shuffled order differs across epochs and seeds, and is not the identity', () => {
  const ds = synthetic(100);
  const e0 = order(ds, 100, { shuffle: true, seed: 7, epoch: 0 }).flat();
  const e1 = order(ds, 100, { shuffle: true, seed: 7, epoch: 1 }).flat();
  const s8 = order(ds, 100, { shuffle: true, seed: 8, epoch: 0 }).flat();
  const id = [...Array(100).keys()];
  assert.notDeepEqual(e0, e1);
  assert.notDeepEqual(e0, s8);
  assert.notDeepEqual(e0, id);
  assert.deepEqual(order(ds, 100, { shuffle: false, seed: 7, epoch: 5 }).flat(), id);
});

test('every index exactly once per epoch; last batch partial', () => {
  const ds = synthetic(103);
  for (const shuffle of [false, true]) {
    const bs = order(ds, 10, { shuffle, seed: 1, epoch: 2 });
    assert.equal(bs.length, 11);
    assert.equal(bs.length, batchCount(ds, 10, false));
    assert.deepEqual(bs.map((b) => b.length), [...new Array<number>(10).fill(10), 3]);
    assert.deepEqual(bs.flat().sort((x, y) => x - y), [...Array(103).keys()]);
  }
});

test('batch contents match the indexed examples, including the partial batch', () => {
  const ds = synthetic(7, 3, 2, 3);
  const per = 18;
  const seen: number[] = [];
  for (const b of batches(ds, 3, { shuffle: true, seed: 42, epoch: 0 })) {
    assert.equal(b.x.length, b.size * per);
    assert.equal(b.labels.length, b.size);
    assert.equal(b.indices.length, b.size);
    for (let i = 0; i < b.size; i++) {
      const idx = b.indices[i]!;
      seen.push(idx);
      assert.equal(b.labels[i], ds.labels[idx]);
      assert.deepEqual([...b.x.subarray(i * per, (i + 1) * per)], [...ds.images.subarray(idx * per, (idx + 1) * per)]);
    }
  }
  assert.deepEqual(seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6]);
});

test('dropLast drops the partial batch only', () => {
  const ds = synthetic(103);
  const bs = order(ds, 10, { shuffle: true, seed: 1, epoch: 0, dropLast: true });
  assert.equal(bs.length, 10);
  assert.equal(batchCount(ds, 10, true), 10);
  assert.ok(bs.every((b) => b.length === 10));
  assert.equal(new Set(bs.flat()).size, 100);
  // Same order as without dropLast, minus the tail.
  assert.deepEqual(bs, order(ds, 10, { shuffle: true, seed: 1, epoch: 0 }).slice(0, 10));
  // Exact multiple: nothing dropped.
  assert.equal(order(synthetic(100), 10, { shuffle: false, seed: 0, epoch: 0, dropLast: true }).length, 10);
});

test('batch buffers are reused between steps (documented)', () => {
  const ds = synthetic(8);
  const it = batches(ds, 4, { shuffle: false, seed: 0, epoch: 0 });
  const first = it.next().value!;
  const firstIdx = [...first.indices];
  const second = it.next().value!;
  assert.equal(first.x.buffer, second.x.buffer);
  assert.notDeepEqual([...first.indices], firstIdx, 'first batch was overwritten');
});

test('batching errors: empty dataset, bad batch size, dropLast larger than dataset', () => {
  const o = { shuffle: false, seed: 0, epoch: 0 };
  throwsDataError(() => [...batches(synthetic(0), 4, o)], 'empty');
  throwsDataError(() => [...batches(synthetic(5), 0, o)], 'batch size must be an integer >= 1, got 0');
  throwsDataError(() => [...batches(synthetic(5), 2.5, o)], 'got 2.5');
  throwsDataError(() => batchCount(synthetic(5), -1, false), 'got -1');
  throwsDataError(() => [...batches(synthetic(5), 6, { ...o, dropLast: true })], 'batch size 6 is larger than dataset', '5 examples');
  // Without dropLast a batch larger than the dataset is one partial batch.
  assert.deepEqual(order(synthetic(5), 6, o), [[0, 1, 2, 3, 4]]);
});

test('startBatch yields exactly the tail of the full epoch, augmented images included', () => {
  const ds = synthetic(45, 1, 6, 6);
  const o = { shuffle: true, seed: 4, epoch: 3, augment: { padding: 2, flip: true, fill: [0] } };
  const copy = (it: Iterable<{ x: Float32Array; labels: Float32Array; indices: Int32Array }>): number[][][] => {
    const out: number[][][] = [];
    for (const b of it) out.push([[...b.x], [...b.labels], [...b.indices]]); // copied as yielded: the buffers are reused
    return out;
  };
  const full = copy(batches(ds, 8, o));
  for (const start of [0, 1, 5, 6]) assert.deepEqual(copy(batches(ds, 8, { ...o, startBatch: start })), full.slice(start));
});
