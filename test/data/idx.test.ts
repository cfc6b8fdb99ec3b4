import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, loadIdxDataset, readIdxImages, readIdxLabels, writeIdx } from '../../src/data/idx.js';
import { tempDir, throwsDataError } from './helpers.js';

function pixels(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 37 + 11) & 0xff;
  return p;
}

for (const gzip of [false, true]) {
  test(`IDX round trip (${gzip ? 'gzip' : 'raw'})`, () => {
    const t = tempDir();
    try {
      const px = pixels(5 * 3 * 4);
      const lb = Uint8Array.from([0, 9, 3, 3, 7]);
      const fi = join(t.dir, 'img');
      const fl = join(t.dir, 'lab');
      writeIdx(fi, [5, 3, 4], px, { gzip });
      writeIdx(fl, [5], lb, { gzip });
      const raw = readFileSync(fi);
      assert.equal(raw[0] === 0x1f && raw[1] === 0x8b, gzip, 'gzip magic present iff gzip requested');
      if (!gzip) {
        // Big-endian header, byte for byte.
        assert.deepEqual([...raw.subarray(0, 16)], [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 4]);
        assert.equal(raw.length, 16 + 60);
      }
      const img = readIdxImages(fi);
      assert.equal(img.count, 5);
      assert.equal(img.height, 3);
      assert.equal(img.width, 4);
      assert.deepEqual([...img.pixels], [...px]);
      assert.deepEqual([...readIdxLabels(fl)], [...lb]);
      const ds = loadIdxDataset(fi, fl, { name: 'x' });
      assert.equal(ds.count, 5);
      assert.equal(ds.channels, 1);
      assert.equal(ds.images.length, 60);
      for (let i = 0; i < 60; i++) assert.equal(ds.images[i], Math.fround(px[i]! / 255));
      assert.deepEqual([...ds.labels], [...lb]);
    } finally {
      t.cleanup();
    }
  });
}

test('writeIdx gzips by file name by default', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'a.gz');
    writeIdx(f, [2], Uint8Array.from([1, 2]));
    const b = readFileSync(f);
    assert.deepEqual([b[0], b[1]], [0x1f, 0x8b]);
    assert.deepEqual([...readIdxLabels(f)], [1, 2]);
  } finally {
    t.cleanup();
  }
});

test('truncated image file names the file and the counts', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'x.gz');
    const full = encodeIdx([3000, 28, 28], new Uint8Array(3000 * 784));
    writeFileSync(f, gzipSync(full.subarray(0, 16 + 1000)));
    throwsDataError(() => readIdxImages(f), `${f}: truncated: header says 3000 images of 28x28 (2352000 bytes) but only 1000 bytes follow`);
    const g = join(t.dir, 'short');
    writeFileSync(g, full.subarray(0, 10));
    throwsDataError(() => readIdxImages(g), g, 'truncated');
  } finally {
    t.cleanup();
  }
});

test('trailing bytes are rejected', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'lab');
    const b = encodeIdx([3], Uint8Array.from([1, 2, 3]));
    writeFileSync(f, Buffer.concat([b, Buffer.from([0, 0])]));
    throwsDataError(() => readIdxLabels(f), f, '2 bytes of trailing garbage');
  } finally {
    t.cleanup();
  }
});

test('wrong magic number names the file and both magics', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'zeros');
    writeFileSync(f, new Uint8Array(64));
    throwsDataError(() => readIdxImages(f), `${f}: wrong magic number 0x00000000`, 'expected 0x00000803 (IDX images, ubyte, 3 dims)');
    // A labels file passed as images.
    const l = join(t.dir, 'labels');
    writeIdx(l, [4], Uint8Array.from([1, 2, 3, 4]));
    throwsDataError(() => readIdxImages(l), l, 'wrong magic number 0x00000801', 'expected 0x00000803');
    throwsDataError(() => readIdxLabels(join(t.dir, 'zeros')), 'expected 0x00000801 (IDX labels, ubyte, 1 dim)');
    // float32 IDX is a valid IDX file but not supported.
    const fl = join(t.dir, 'float');
    writeFileSync(fl, Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
    throwsDataError(() => readIdxLabels(fl), fl, '0x00000d01 (IDX float32, 1 dim)');
  } finally {
    t.cleanup();
  }
});

test('corrupt gzip stream names the file', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'bad.gz');
    const gz = Buffer.from(gzipSync(encodeIdx([100], new Uint8Array(100).fill(1))));
    for (let i = 12; i < gz.length - 8; i++) gz[i] = gz[i]! ^ 0x5a;
    writeFileSync(f, gz);
    throwsDataError(() => readIdxLabels(f), `${f}: corrupt gzip stream`);
    // A gzip stream cut short is corrupt too.
    const g = join(t.dir, 'cut.gz');
    writeFileSync(g, gzipSync(encodeIdx([100], new Uint8Array(100))).subarray(0, 15));
    throwsDataError(() => readIdxLabels(g), `${g}: corrupt gzip stream`);
  } finally {
    t.cleanup();
  }
});

test('label out of range names the file, label and index', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'lab.gz');
    writeIdx(f, [7], Uint8Array.from([0, 1, 2, 3, 4, 12, 9]));
    throwsDataError(() => readIdxLabels(f), `${f}: label 12 at index 5 is out of range [0, 10)`);
    assert.deepEqual([...readIdxLabels(f, 13)], [0, 1, 2, 3, 4, 12, 9]);
  } finally {
    t.cleanup();
  }
});

test('image/label count mismatch names both files', () => {
  const t = tempDir();
  try {
    const fi = join(t.dir, 'img');
    const fl = join(t.dir, 'lab');
    writeIdx(fi, [4, 2, 2], new Uint8Array(16));
    writeIdx(fl, [3], Uint8Array.from([0, 1, 2]));
    throwsDataError(() => loadIdxDataset(fi, fl, { name: 'x' }), fi, fl, '4 images', '3 labels');
  } finally {
    t.cleanup();
  }
});

test('missing file names the file', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'nope.gz');
    throwsDataError(() => readIdxImages(f), `${f}: file not found`);
  } finally {
    t.cleanup();
  }
});

test('an IDX file of zero images is an empty dataset, named', () => {
  const t = tempDir();
  try {
    const fi = join(t.dir, 'img');
    const fl = join(t.dir, 'lab');
    writeIdx(fi, [0, 28, 28], new Uint8Array(0));
    writeIdx(fl, [0], new Uint8Array(0));
    throwsDataError(() => loadIdxDataset(fi, fl, { name: 'x' }), `${fi}: holds no images`);
  } finally {
    t.cleanup();
  }
});
