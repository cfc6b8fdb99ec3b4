import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { HOLDOUT_EVERY, imageFolderLayout, loadImageFolder } from '../../src/data/folder.js';
import { decodeImage } from '../../src/data/image.js';
import { loadDataset } from '../../src/data/index.js';
import { tempDir, throwsDataError, writeJpeg, writePng } from './helpers.js';

function withDir(fn: (dir: string) => void): void {
  const t = tempDir();
  try {
    fn(t.dir);
  } finally {
    t.cleanup();
  }
}

function mk(...parts: string[]): string {
  const d = join(...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A w x h grayscale PNG with pixel i = (base + i) & 255. */
function grayPng(file: string, base: number, w = 3, h = 2): void {
  writePng(file, w, h, 1, Array.from({ length: w * h }, (_, i) => (base + i) & 255));
}

function near(got: number, want: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} vs ${want}`);
}

test('train/ and test/ folders of grayscale PNGs: one channel, sorted classes, exact values', () => {
  withDir((dir) => {
    grayPng(join(mk(dir, 'train', 'dog'), 'b.png'), 100);
    grayPng(join(mk(dir, 'train', 'dog'), 'a.png'), 50);
    grayPng(join(mk(dir, 'train', 'cat'), 'x.PNG'), 0);
    writeFileSync(join(dir, 'train', 'cat', '.DS_Store'), 'junk'); // hidden files are skipped
    grayPng(join(mk(dir, 'test', 'cat'), 'c.png'), 200);
    grayPng(join(mk(dir, 'test', 'dog'), 'd.png'), 250);
    writeFileSync(join(dir, 'README.txt'), 'not a class'); // files next to the splits are ignored
    const train = loadImageFolder(dir, 'train');
    assert.equal(train.name, `${basename(dir)}-train`);
    assert.deepEqual(train.classNames, ['cat', 'dog']);
    assert.equal(train.numClasses, 2);
    assert.equal(train.count, 3);
    assert.deepEqual([train.channels, train.height, train.width], [1, 2, 3]);
    // cat/x, then dog/a, dog/b (sorted within a class).
    assert.deepEqual([...train.labels], [0, 1, 1]);
    assert.deepEqual([...train.images.subarray(0, 6)], [0, 1, 2, 3, 4, 5].map((v) => Math.fround(v / 255)));
    assert.equal(train.images[6], Math.fround(50 / 255));
    assert.equal(train.images[12], Math.fround(100 / 255));
    const test_ = loadDataset(`folder:${dir}`, { split: 'test' });
    assert.equal(test_.count, 2);
    assert.deepEqual([...test_.labels], [0, 1]);
    assert.equal(test_.images[11], Math.fround(((250 + 5) & 255) / 255));
  });
});

test('a colour image anywhere makes every split 3 channels; gray is repeated, alpha dropped', () => {
  withDir((dir) => {
    grayPng(join(mk(dir, 'train', 'a'), '1.png'), 10, 2, 1);
    writePng(join(mk(dir, 'train', 'b'), '2.png'), 2, 1, 4, [1, 2, 3, 99, 4, 5, 6, 0]);
    writePng(join(mk(dir, 'test', 'a'), '3.png'), 2, 1, 3, [7, 8, 9, 10, 11, 12]);
    grayPng(join(mk(dir, 'test', 'b'), '4.png'), 20, 2, 1);
    const train = loadImageFolder(dir, 'train');
    assert.equal(train.channels, 3);
    const f = (v: number[]): number[] => v.map((x) => Math.fround(x / 255));
    // Gray 1.png: [10, 11] in each of R, G, B planes; RGBA 2.png planar, alpha gone.
    assert.deepEqual([...train.images], f([10, 11, 10, 11, 10, 11, 1, 4, 2, 5, 3, 6]));
    const test_ = loadImageFolder(dir, 'test');
    assert.equal(test_.channels, 3);
    assert.deepEqual([...test_.images], f([7, 10, 8, 11, 9, 12, 20, 21, 20, 21, 20, 21]));
    // The colour image decides the mode even when it is only in the other split.
    const gray = mk(dir, 'g');
    grayPng(join(mk(gray, 'train', 'a'), '1.png'), 0);
    writePng(join(mk(gray, 'test', 'a'), '2.png'), 3, 2, 3, new Array(18).fill(5));
    assert.equal(loadImageFolder(gray, 'train').channels, 3);
  });
});

test('images of another size are resized (bilinear) to the first train image', () => {
  withDir((dir) => {
    grayPng(join(mk(dir, 'train', 'a'), '1.png'), 0, 4, 4);
    writePng(join(mk(dir, 'train', 'a'), '2.png'), 2, 2, 1, [0, 51, 102, 153]);
    grayPng(join(mk(dir, 'test', 'a'), '3.png'), 0, 8, 8);
    const train = loadImageFolder(dir, 'train');
    assert.deepEqual([train.height, train.width], [4, 4]);
    // 2x2 [0, 1; 2, 3] * 51 upsampled to 4x4: 51 * (2r + c) with r, c in {0, .25, .75, 1}.
    const want = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3];
    want.forEach((v, i) => near(train.images[16 + i]!, (51 * v) / 255, 1e-6, `pixel ${i}`));
    const test_ = loadImageFolder(dir, 'test');
    assert.deepEqual([test_.height, test_.width, test_.images.length], [4, 4, 16]);
    // 8x8 (pixel (y, x) = 8y + x) to 4x4 samples the source at 0.5, 2.5, 4.5, 6.5 on each axis.
    near(test_.images[0]!, 4.5 / 255, 1e-6, 'downsampled (0, 0)');
    near(test_.images[6]!, (8 * 2.5 + 4.5) / 255, 1e-6, 'downsampled (1, 2)');
  });
});

test('JPEG files (.jpg, .jpeg, any case) decode to RGB close to what was encoded', () => {
  withDir((dir) => {
    const flat = (r: number, g: number, b: number): number[] => Array.from({ length: 192 }, (_, i) => [r, g, b][i % 3]!);
    writeJpeg(join(mk(dir, 'train', 'red'), 'r.jpg'), 8, 8, flat(200, 30, 40));
    writeJpeg(join(mk(dir, 'train', 'blue'), 'b.JPEG'), 8, 8, flat(10, 20, 220));
    writePng(join(mk(dir, 'test', 'red'), 'r.png'), 8, 8, 3, flat(200, 30, 40));
    writeJpeg(join(mk(dir, 'test', 'blue'), 'b.jpeg'), 8, 8, flat(10, 20, 220));
    const train = loadImageFolder(dir, 'train');
    assert.deepEqual(train.classNames, ['blue', 'red']);
    assert.deepEqual([train.channels, train.height, train.width], [3, 8, 8]);
    const rgb = (n: number, p: number): number[] => [0, 1, 2].map((c) => train.images[n * 192 + c * 64 + p]!);
    for (const p of [0, 27, 63]) {
      rgb(0, p).forEach((v, c) => near(v, [10, 20, 220][c]! / 255, 3 / 255, `blue c${c}`));
      rgb(1, p).forEach((v, c) => near(v, [200, 30, 40][c]! / 255, 3 / 255, `red c${c}`));
    }
    const img = decodeImage(readFileSync(join(dir, 'train', 'red', 'r.jpg')), 'r.jpg');
    assert.deepEqual([img.format, img.width, img.height, img.channels], ['jpeg', 8, 8, 3]);
  });
});

test('without train/ and test/, every 5th image of each class is held out for test', () => {
  withDir((dir) => {
    for (let i = 0; i < 7; i++) grayPng(join(mk(dir, 'one'), `${i}.png`), i);
    for (let i = 0; i < 5; i++) grayPng(join(mk(dir, 'two', 'nested'), `${i}.png`), 100 + i);
    const layout = imageFolderLayout(dir);
    assert.equal(HOLDOUT_EVERY, 5);
    assert.deepEqual(layout.test.map((e) => basename(e.file)), ['4.png', '4.png']);
    assert.equal(layout.train.length, 6 + 4);
    const train = loadImageFolder(dir, 'train');
    const test_ = loadImageFolder(dir, 'test');
    assert.deepEqual([...test_.labels], [0, 1]);
    assert.deepEqual([test_.images[0], test_.images[6]], [4, 104].map((v) => Math.fround(v / 255)));
    assert.deepEqual([...train.labels], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    const firsts = new Set<number>();
    for (let n = 0; n < train.count; n++) firsts.add(Math.round(train.images[n * 6]! * 255));
    for (const held of [4, 104]) assert.ok(!firsts.has(held), `test image ${held} also in train`);
  });
});

test('corrupt, truncated, empty and mislabelled image files are named', () => {
  withDir((dir) => {
    const cls = mk(dir, 'train', 'a');
    mk(dir, 'test', 'a');
    grayPng(join(dir, 'test', 'a', 'ok.png'), 0);
    grayPng(join(cls, '0.png'), 0);
    const good = readFileSync(join(cls, '0.png'));
    const f = join(cls, '1.png');
    writeFileSync(f, good.subarray(0, good.length - 20));
    throwsDataError(() => loadImageFolder(dir, 'train'), `${f}: corrupt or truncated PNG`);
    writeFileSync(f, good.subarray(0, 20));
    throwsDataError(() => loadImageFolder(dir, 'train'), `${f}: truncated PNG: 20 bytes end before the image header`);
    writeFileSync(f, good.subarray(0, 5));
    throwsDataError(() => loadImageFolder(dir, 'train'), `${f}: truncated: 5 bytes`);
    writeFileSync(f, '');
    throwsDataError(() => loadImageFolder(dir, 'train'), `${f}: empty file`);
    writeFileSync(f, 'GIF89a, not really a png');
    throwsDataError(() => loadImageFolder(dir, 'train'), `${f}: not a PNG or JPEG image (starts with 47 49 46 38 39 61 2c 20)`);
    const flipped = Buffer.from(good);
    for (let i = 41; i < flipped.length - 12; i++) flipped[i] ^= 0x5a;
    writeFileSync(f, flipped);
    throwsDataError(() => loadImageFolder(dir, 'train'), `${f}: corrupt or truncated PNG`);
    writeFileSync(f, good);
    writeJpeg(join(cls, '2.jpg'), 8, 8, new Array(192).fill(128));
    const jpg = readFileSync(join(cls, '2.jpg'));
    writeFileSync(join(cls, '2.jpg'), jpg.subarray(0, jpg.length - 40));
    throwsDataError(() => loadImageFolder(dir, 'train'), `${join(cls, '2.jpg')}: corrupt or truncated JPEG`);
    writeFileSync(join(cls, '2.jpg'), jpg.subarray(0, 100));
    throwsDataError(() => loadImageFolder(dir, 'train'), `${join(cls, '2.jpg')}: truncated JPEG: 100 bytes end before the image header`);
    const garbled = Buffer.from(jpg);
    garbled[2] = 0x12;
    writeFileSync(join(cls, '2.jpg'), garbled);
    throwsDataError(() => loadImageFolder(dir, 'train'), `${join(cls, '2.jpg')}: corrupt JPEG: expected a marker at byte 2`);
    writeFileSync(join(cls, '2.jpg'), jpg);
    assert.equal(loadImageFolder(dir, 'train').count, 3);
  });
});

test('folder structure errors name the folder or file', () => {
  withDir((dir) => {
    throwsDataError(() => loadImageFolder(join(dir, 'nope'), 'train'), join(dir, 'nope'), 'image folder not found');
    throwsDataError(() => loadImageFolder(dir, 'train'), `${dir}: no class folders`);
    // Unsupported extension (any file in a class folder must be an image).
    const cls = mk(dir, 'a');
    for (let i = 0; i < 5; i++) grayPng(join(cls, `${i}.png`), 0);
    assert.equal(loadImageFolder(dir, 'test').count, 1);
    writeFileSync(join(cls, 'notes.txt'), 'x');
    throwsDataError(() => loadImageFolder(dir, 'train'), `${join(cls, 'notes.txt')}: unsupported file type ".txt"`);
    writeFileSync(join(cls, 'notes.txt'), '');
    throwsDataError(() => imageFolderLayout(dir), `${join(cls, 'notes.txt')}: unsupported file type ".txt"`);
    rmSync(join(cls, 'notes.txt'));
    writeFileSync(join(cls, 'anim.gif'), 'GIF89a');
    throwsDataError(() => imageFolderLayout(dir), `${join(cls, 'anim.gif')}: unsupported file type ".gif"; image folders hold .png, .jpg, .jpeg files`);
  });
  withDir((dir) => {
    grayPng(join(mk(dir, 'train', 'a'), '0.png'), 0);
    throwsDataError(() => loadImageFolder(dir, 'test'), `${dir}: has train/ but no test/ (or val/) folder`);
    grayPng(join(mk(dir, 'val', 'a'), '0.png'), 0);
    assert.equal(loadImageFolder(dir, 'test').count, 1, 'val/ serves as test/');
    // An empty class folder.
    mk(dir, 'train', 'b');
    mk(dir, 'val', 'b');
    throwsDataError(() => loadImageFolder(dir, 'train'), `${join(dir, 'train', 'b')}: class folder holds no images`);
    // Class folders that differ between the splits.
    grayPng(join(dir, 'train', 'b', '0.png'), 0);
    rmSync(join(dir, 'val', 'b'), { recursive: true });
    grayPng(join(mk(dir, 'val', 'c'), '0.png'), 0);
    throwsDataError(() => loadImageFolder(dir, 'train'), dir, 'missing from val/: b', 'missing from train/: c');
  });
  withDir((dir) => {
    grayPng(join(mk(dir, 'test', 'a'), '0.png'), 0);
    throwsDataError(() => loadImageFolder(dir, 'test'), `${dir}: has test/ but no train/ folder`);
  });
  withDir((dir) => {
    // No split folders and too few images per class to hold any out.
    for (let i = 0; i < 4; i++) grayPng(join(mk(dir, 'a'), `${i}.png`), i);
    throwsDataError(() => loadImageFolder(dir, 'train'), `${dir}: too few images to hold out a test split`);
    throwsDataError(() => loadDataset('folder', { split: 'train' }), '"folder" needs a directory');
    const file = join(dir, 'a', '0.png');
    throwsDataError(() => loadDataset(`folder:${file}`, { split: 'train' }), `${file}: expected a directory of class folders`);
  });
});
