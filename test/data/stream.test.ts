/**
 * The streaming pipeline (stream.ts, stream-worker.ts, cache.ts): batches that depend only on
 * (seed, epoch) whatever the workers, resumption, errors from a worker, leaving early, and the
 * decoded cache (written atomically, read back to the same batches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch } from '../../src/data/dataset.js';
import { DecodedCache, CACHE_HEADER_BYTES } from '../../src/data/cache.js';
import { DataError } from '../../src/data/errors.js';
import { imageFolderLayout, loadImageFolder } from '../../src/data/folder.js';
import { DEFAULT_LIMITS } from '../../src/data/limits.js';
import { type StreamOptions, StreamSource, readAll } from '../../src/data/stream.js';
import { centerBox } from '../../src/data/transform.js';
import { DECODERS, withDir, writeJpeg, writePng } from './helpers.js';

/** 3 classes x 9 RGB images of 12x10 (PNG and JPEG), each distinct. */
function folder(dir: string): void {
  for (let c = 0; c < 3; c++) {
    mkdirSync(join(dir, `c${c}`));
    for (let i = 0; i < 9; i++) {
      const px = Array.from({ length: 12 * 10 * 3 }, (_, p) => (p * (7 + i) + c * 60 + i * 13) & 255);
      if (i % 3 === 2) writeJpeg(join(dir, `c${c}`, `${i}.jpg`), 12, 10, px);
      else writePng(join(dir, `c${c}`, `${i}.png`), 12, 10, 3, px);
    }
  }
}

function source(dir: string, o: Partial<StreamOptions> = {}, split: 'train' | 'test' = 'train'): StreamSource {
  const l = imageFolderLayout(dir);
  return new StreamSource(`s-${split}`, l[split], l.classNames.length, l.classNames, {
    size: 6, base: 8, channels: 3, mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], decoder: 'auto', workers: 1, inflight: 2, ahead: 2, limits: DEFAULT_LIMITS, ...o,
  });
}

function snapshot(it: Iterable<Batch>): string[] {
  const out: string[] = [];
  for (const b of it) out.push(`${b.size}|${[...b.labels].join(',')}|${[...b.indices].join(',')}|${Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength).toString('base64')}`);
  return out;
}

const AUG = { padding: 1, flip: true, fill: [-2, -2, -2], resizedCrop: true };

test('the same batches whatever the decode workers, images in flight and batches ahead', () =>
  withDir((dir) => {
    folder(dir);
    for (const decoder of DECODERS) {
      const o = { shuffle: true, seed: 3, epoch: 2, augment: AUG };
      const want = snapshot(source(dir, { decoder }).epoch(5, o));
      assert.equal(want.length, 5); // 24 training images: 4 batches of 5 and one of 4
      for (const v of [{ workers: 3 }, { workers: 2, inflight: 1 }, { inflight: 4, ahead: 1 }, { ahead: 6 }]) {
        assert.deepEqual(snapshot(source(dir, { decoder, ...v }).epoch(5, o)), want, `${decoder} ${JSON.stringify(v)}`);
      }
      // another epoch or seed: other crops and order
      assert.notDeepEqual(snapshot(source(dir, { decoder }).epoch(5, { ...o, epoch: 3 })), want);
      // a resumed epoch gives the rest of the same epoch
      assert.deepEqual(snapshot(source(dir, { decoder }).epoch(5, { ...o, startBatch: 3 })), want.slice(3));
    }
  }));

test('without augmentation an example is the centre crop of its base image, normalised as normalize() does', () =>
  withDir((dir) => {
    folder(dir);
    // base images, unnormalised, at their own size (8): values v / 255
    const base = loadImageFolder(dir, 'test', { size: 8 });
    const src = source(dir, {}, 'test');
    const got = readAll(src, 4);
    assert.deepEqual([got.count, got.channels, got.height, got.width], [3, 3, 6, 6]);
    const box = centerBox(8, 8, 6);
    const mean = [0.4, 0.5, 0.6];
    const std = [0.2, 0.25, 0.3];
    for (let n = 0; n < 3; n++) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 6; y++) {
          for (let x = 0; x < 6; x++) {
            const v = base.images[((n * 3 + c) * 8 + box.top + y) * 8 + box.left + x]!;
            assert.equal(got.images[((n * 3 + c) * 6 + y) * 6 + x], Math.fround((v - mean[c]!) * (1 / std[c]!)), `image ${n} (${c}, ${y}, ${x})`);
          }
        }
      }
    }
    assert.deepEqual([...got.labels], [...base.labels]);
  }));

test('a file that fails to decode mid-epoch is a DataError naming it, from next(); leaving early stops the workers', () =>
  withDir((dir) => {
    folder(dir);
    const bad = join(dir, 'c1', '3.png');
    writeFileSync(bad, 'not an image at all');
    const it = source(dir).epoch(4, { shuffle: false, seed: 0, epoch: 0 });
    let err: unknown;
    let seen = 0;
    try {
      for (const b of it) seen += b.size;
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof DataError, String(err));
    assert.equal((err as DataError).message, `${bad}: not a PNG or JPEG image (starts with 6e 6f 74 20 61 6e 20 69)`);
    assert.equal((err as DataError).path, bad);
    assert.ok(seen < 24);
    assert.equal(it.next().done, true);
  }));

test('leaving an epoch early releases its workers; the next epoch starts fresh', () =>
  withDir((dir) => {
    folder(dir);
    const src = source(dir);
    const o = { shuffle: true, seed: 1, epoch: 0 };
    let n = 0;
    for (const _ of src.epoch(4, o)) if (++n === 2) break;
    const it = src.epoch(4, o);
    it.next();
    it.close();
    it.close();
    assert.equal(it.next().done, true);
    assert.equal(snapshot(src.epoch(4, o)).length, 6);
  }));

test('the decoded cache: written during the first whole epoch, renamed into place only then, read back to the same batches', () =>
  withDir((dir) => {
    const data = join(dir, 'data');
    const cdir = join(dir, 'cache');
    mkdirSync(data);
    folder(data);
    const l = imageFolderLayout(data);
    const key = (decoder: string) => ({ name: 's-train', files: l.train.map((e) => e.file), labels: Uint8Array.from(l.train, (e) => e.label), base: 8, channels: 3, decoder });
    const o = { shuffle: true, seed: 5, epoch: 1, augment: AUG };
    const want = snapshot(source(data).epoch(5, o));
    // an epoch left early: no cache file, and the temporary file goes on close
    const c1 = new DecodedCache(cdir, key('d'));
    assert.equal(c1.complete, false);
    const s1 = source(data, { cache: c1 });
    for (const _ of s1.epoch(5, o)) break;
    assert.deepEqual(readdirSync(cdir).filter((f) => !f.startsWith('.')), []);
    // a whole epoch: the cache appears, header + 24 records of 8x8x3
    assert.deepEqual(snapshot(s1.epoch(5, o)), want);
    assert.equal(c1.complete, true);
    assert.ok(existsSync(c1.path));
    assert.equal(statSync(c1.path).size, CACHE_HEADER_BYTES + 24 * 8 * 8 * 3);
    s1.close();
    assert.deepEqual(readdirSync(cdir).filter((f) => f.startsWith('.')), [], 'no temporary file left');
    // another source finds it complete and gives the same batches without decoding
    const c2 = new DecodedCache(cdir, key('d'));
    assert.equal(c2.complete, true);
    assert.deepEqual(snapshot(source(data, { cache: c2 }).epoch(5, o)), want);
    c2.close();
    // another decoder or a changed file: another cache file
    const c3 = new DecodedCache(cdir, key('other'));
    assert.notEqual(c3.path, c1.path);
    c3.close();
    utimesSync(l.train[0]!.file, new Date(), new Date(Date.now() + 5000));
    const c4 = new DecodedCache(cdir, key('d'));
    assert.notEqual(c4.path, c1.path);
    assert.equal(c4.complete, false);
    c4.close();
  }));
