import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BatchOptions, type Dataset, batches, normalize } from '../../src/data/dataset.js';
import { PrefetchError, prefetchBatches, sharedImages } from '../../src/data/prefetch.js';
import { synthetic, throwsDataError } from './helpers.js';

/** Every batch's bytes (images as raw float bits), labels, indices and size, copied as yielded. */
function snapshot(it: Iterable<{ x: Float32Array; labels: Float32Array; indices: Int32Array; size: number }>): string[] {
  const out: string[] = [];
  for (const b of it) {
    const bytes = Buffer.from(new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength)).toString('base64');
    out.push(`${b.size}|${[...b.labels].join(',')}|${[...b.indices].join(',')}|${bytes}`);
  }
  return out;
}

function same(ds: Dataset, bs: number, o: BatchOptions): number {
  const want = snapshot(batches(ds, bs, o));
  const got = snapshot(prefetchBatches(ds, bs, o));
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `batch ${i}`);
  return want.length;
}

test('prefetchBatches yields bit-identical batches to batches(), with and without augmentation', () => {
  const ds = synthetic(103, 3, 5, 6);
  const augment = { padding: 2, flip: true, fill: [-0.5, -1, -1.5] };
  for (const epoch of [0, 1]) {
    // 103 = 10 * 10 + 3: a partial last batch.
    assert.equal(same(ds, 10, { shuffle: true, seed: 4, epoch }), 11);
    assert.equal(same(ds, 10, { shuffle: true, seed: 4, epoch, augment }), 11);
  }
  assert.equal(same(ds, 10, { shuffle: false, seed: 0, epoch: 0, augment }), 11);
  assert.equal(same(ds, 10, { shuffle: true, seed: 4, epoch: 0, dropLast: true, augment }), 10);
  // One batch; a batch larger than the dataset is one partial batch.
  assert.equal(same(ds, 103, { shuffle: true, seed: 1, epoch: 0, augment }), 1);
  assert.equal(same(synthetic(5), 6, { shuffle: true, seed: 1, epoch: 0 }), 1);
  // Normalised (already shared) images.
  const norm = normalize(ds, [0.1, 0.2, 0.3], [0.5, 0.5, 0.5]);
  assert.equal(same(norm, 7, { shuffle: true, seed: 2, epoch: 3, augment }), 15);
});

test('images are shared once: normalize() output as is, other arrays copied once and reused', () => {
  const ds = synthetic(4);
  const norm = normalize(ds, [0], [1]);
  assert.ok(norm.images.buffer instanceof SharedArrayBuffer);
  assert.equal(sharedImages(norm.images), norm.images);
  const copy = sharedImages(ds.images);
  assert.notEqual(copy, ds.images);
  assert.ok(copy.buffer instanceof SharedArrayBuffer);
  assert.deepEqual([...copy], [...ds.images]);
  assert.equal(sharedImages(ds.images), copy, 'one copy for every epoch');
});

test('leaving early releases the worker; close() is idempotent; next() after the end is done', () => {
  const ds = synthetic(50, 1, 3, 3);
  const o = { shuffle: true, seed: 3, epoch: 0 };
  const it = prefetchBatches(ds, 8, o);
  let n = 0;
  for (const b of it) {
    assert.equal(b.size, 8);
    if (++n === 2) break;
  }
  assert.equal(it.next().done, true);
  it.close();
  const manual = prefetchBatches(ds, 8, o);
  const first = manual.next();
  assert.equal(first.done, false);
  assert.deepEqual([...first.value!.indices], [...batches(ds, 8, o).next().value!.indices]);
  manual.close();
  manual.close();
  assert.equal(manual.next().done, true);
  // Never iterated: nothing to release.
  prefetchBatches(ds, 8, o).close();
  // A finished loop has stopped its worker too, and the next epoch starts a new one.
  assert.equal(snapshot(prefetchBatches(ds, 8, o)).length, 7);
  assert.equal(snapshot(prefetchBatches(ds, 8, { ...o, epoch: 1 })).length, 7);
});

test('an iterator abandoned mid-epoch does not keep the process alive', () => {
  const mod = fileURLToPath(new URL('../../src/data/prefetch.js', import.meta.url));
  const script = `
    const { prefetchBatches } = await import(${JSON.stringify(mod)});
    const n = 64, images = new Float32Array(n * 4), labels = new Uint8Array(n);
    const it = prefetchBatches({ name: 'x', images, labels, count: n, channels: 1, height: 2, width: 2, numClasses: 10 }, 4, { shuffle: true, seed: 0, epoch: 0 });
    it.next();
    it.next();
    console.log('abandoned');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, 'the child hung');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'abandoned');
});

test('prefetchBatches errors as batches() does, when called', () => {
  const o = { shuffle: false, seed: 0, epoch: 0 };
  throwsDataError(() => prefetchBatches(synthetic(0), 4, o), 'dataset "synthetic" is empty');
  throwsDataError(() => prefetchBatches(synthetic(5), 0, o), 'batch size must be an integer >= 1, got 0');
  throwsDataError(() => prefetchBatches(synthetic(5), 6, { ...o, dropLast: true }), 'batch size 6 is larger than dataset "synthetic" (5 examples)');
  const bad = { ...synthetic(5), count: 6 };
  throwsDataError(() => prefetchBatches(bad, 2, o), 'inconsistent');
});

test('a failure on the worker thread is thrown on the main thread with its message', () => {
  // A fill value the worker cannot store: batches() fails the same way, on the calling thread.
  const augment = { padding: 2, flip: false, fill: [1n] as unknown as number[] };
  const o = { shuffle: true, seed: 0, epoch: 0, augment };
  assert.throws(() => [...batches(synthetic(8), 4, o)], /BigInt/);
  const it = prefetchBatches(synthetic(8), 4, o);
  assert.throws(() => it.next(), (e: unknown) => e instanceof PrefetchError && /batch prefetch worker failed: TypeError: .*BigInt/.test(e.message));
  assert.equal(it.next().done, true);
});
