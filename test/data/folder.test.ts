import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { HOLDOUT_EVERY, type ImageLoadOptions, imageFolderLayout, loadImageFolder } from '../../src/data/folder.js';
import { decodeImage } from '../../src/data/image.js';
import { loadDataset } from '../../src/data/index.js';
import { DECODERS, throwsDataError, withDir, writeJpeg, writePng } from './helpers.js';

function mk(...parts: string[]): string {
  const d = join(...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A w x h grayscale PNG with pixel i = (base + i) & 255. */
function grayPng(file: string, base: number, w = 3, h = 3): void {
  writePng(file, w, h, 1, Array.from({ length: w * h }, (_, i) => (base + i) & 255));
}

function near(got: number, want: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} vs ${want}`);
}

// Both decoders (DECODERS): every exact-value test runs on sharp (libvips) where it loads, and on the pure-JS decoders.
const f255 = (v: number[]): number[] => v.map((x) => Math.fround(x / 255));

for (const decoder of DECODERS) {
  const at = (size: number): ImageLoadOptions => ({ size, decoder });

  test(`${decoder}: train/ and test/ folders of grayscale PNGs: one channel, sorted classes, exact values at their own size`, () => {
    withDir((dir) => {
      grayPng(join(mk(dir, 'train', 'dog'), 'b.png'), 100);
      grayPng(join(mk(dir, 'train', 'dog'), 'a.png'), 50);
      grayPng(join(mk(dir, 'train', 'cat'), 'x.PNG'), 0);
      writeFileSync(join(dir, 'train', 'cat', '.DS_Store'), 'junk'); // hidden files are skipped
      grayPng(join(mk(dir, 'test', 'cat'), 'c.png'), 200);
      grayPng(join(mk(dir, 'test', 'dog'), 'd.png'), 250);
      writeFileSync(join(dir, 'README.txt'), 'not a class'); // files next to the splits are ignored
      const train = loadImageFolder(dir, 'train', at(3));
      assert.equal(train.name, `${basename(dir)}-train`);
      assert.deepEqual(train.classNames, ['cat', 'dog']);
      assert.equal(train.numClasses, 2);
      assert.equal(train.count, 3);
      assert.deepEqual([train.channels, train.height, train.width], [1, 3, 3]);
      // cat/x, then dog/a, dog/b (sorted within a class).
      assert.deepEqual([...train.labels], [0, 1, 1]);
      assert.deepEqual([...train.images.subarray(0, 9)], f255([0, 1, 2, 3, 4, 5, 6, 7, 8]));
      assert.equal(train.images[9], Math.fround(50 / 255));
      assert.equal(train.images[18], Math.fround(100 / 255));
      const test_ = loadDataset(`folder:${dir}`, { split: 'test', size: 3, decoder });
      assert.equal(test_.count, 2);
      assert.deepEqual([...test_.labels], [0, 1]);
      assert.equal(test_.images[9 + 8], Math.fround(((250 + 8) & 255) / 255));
    });
  });

  test(`${decoder}: a colour image anywhere makes every split 3 channels; gray is repeated, alpha dropped`, () => {
    withDir((dir) => {
      grayPng(join(mk(dir, 'train', 'a'), '1.png'), 10, 2, 2);
      writePng(join(mk(dir, 'train', 'b'), '2.png'), 2, 2, 4, [1, 2, 3, 99, 4, 5, 6, 0, 7, 8, 9, 1, 10, 11, 12, 255]);
      writePng(join(mk(dir, 'test', 'a'), '3.png'), 2, 2, 3, [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
      grayPng(join(mk(dir, 'test', 'b'), '4.png'), 20, 2, 2);
      const train = loadImageFolder(dir, 'train', at(2));
      assert.equal(train.channels, 3);
      // Gray 1.png: [10..13] in each of R, G, B planes; RGBA 2.png planar, alpha gone.
      assert.deepEqual([...train.images], f255([10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12, 13, 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12]));
      const test_ = loadImageFolder(dir, 'test', at(2));
      assert.equal(test_.channels, 3);
      assert.deepEqual([...test_.images], f255([7, 10, 13, 16, 8, 11, 14, 17, 9, 12, 15, 18, 20, 21, 22, 23, 20, 21, 22, 23, 20, 21, 22, 23]));
      // The colour image decides the mode even when it is only in the other split.
      const gray = mk(dir, 'g');
      grayPng(join(mk(gray, 'train', 'a'), '1.png'), 0);
      writePng(join(mk(gray, 'test', 'a'), '2.png'), 3, 3, 3, new Array(27).fill(5));
      assert.equal(loadImageFolder(gray, 'train', at(3)).channels, 3);
    });
  });

  test(`${decoder}: every image is brought to the size asked for: shorter side, then the centre square (never another image's size)`, () => {
    withDir((dir) => {
      // the first train image is much bigger than the rest: it does not set the size
      writePng(join(mk(dir, 'train', 'a'), '1.png'), 64, 64, 1, Array.from({ length: 64 * 64 }, (_, i) => ((i % 64) < 32 ? 40 : 200)));
      // 8 wide, 4 high, column x = 30x: the centre 4x4 is columns 2..5
      writePng(join(mk(dir, 'train', 'a'), '2.png'), 8, 4, 1, Array.from({ length: 32 }, (_, i) => (i % 8) * 30));
      // 4 wide, 8 high: rows 2..5
      writePng(join(mk(dir, 'test', 'a'), '3.png'), 4, 8, 1, Array.from({ length: 32 }, (_, i) => Math.floor(i / 4) * 30));
      const train = loadImageFolder(dir, 'train', at(4));
      assert.deepEqual([train.height, train.width, train.images.length], [4, 4, 32]);
      // 64x64, left half 40, right half 200, to 4x4: columns 0-1 near 40, 2-3 near 200
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) near(train.images[y * 4 + x]! * 255, x < 2 ? 40 : 200, decoder === 'js' ? 1e-4 : 12, `big (${y}, ${x})`);
      }
      assert.deepEqual([...train.images.subarray(16, 20)], f255([60, 90, 120, 150]));
      const test_ = loadImageFolder(dir, 'test', at(4));
      assert.deepEqual([...test_.images.subarray(0, 16)], f255([60, 60, 60, 60, 90, 90, 90, 90, 120, 120, 120, 120, 150, 150, 150, 150]));
    });
  });

  test(`${decoder}: JPEG files (.jpg, .jpeg, any case) decode to RGB close to what was encoded`, () => {
    withDir((dir) => {
      const flat = (r: number, g: number, b: number): number[] => Array.from({ length: 192 }, (_, i) => [r, g, b][i % 3]!);
      writeJpeg(join(mk(dir, 'train', 'red'), 'r.jpg'), 8, 8, flat(200, 30, 40));
      writeJpeg(join(mk(dir, 'train', 'blue'), 'b.JPEG'), 8, 8, flat(10, 20, 220));
      writePng(join(mk(dir, 'test', 'red'), 'r.png'), 8, 8, 3, flat(200, 30, 40));
      writeJpeg(join(mk(dir, 'test', 'blue'), 'b.jpeg'), 8, 8, flat(10, 20, 220));
      const train = loadImageFolder(dir, 'train', at(8));
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

  test(`${decoder}: without train/ and test/, every 5th image of each class is held out for test`, () => {
    withDir((dir) => {
      for (let i = 0; i < 7; i++) grayPng(join(mk(dir, 'one'), `${i}.png`), i);
      for (let i = 0; i < 5; i++) grayPng(join(mk(dir, 'two', 'nested'), `${i}.png`), 100 + i);
      const layout = imageFolderLayout(dir);
      assert.equal(HOLDOUT_EVERY, 5);
      assert.deepEqual(layout.test.map((e) => basename(e.file)), ['4.png', '4.png']);
      assert.equal(layout.train.length, 6 + 4);
      const train = loadImageFolder(dir, 'train', at(3));
      const test_ = loadImageFolder(dir, 'test', at(3));
      assert.deepEqual([...test_.labels], [0, 1]);
      assert.deepEqual([test_.images[0], test_.images[9]], [4, 104].map((v) => Math.fround(v / 255)));
      assert.deepEqual([...train.labels], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
      const firsts = new Set<number>();
      for (let n = 0; n < train.count; n++) firsts.add(Math.round(train.images[n * 9]! * 255));
      for (const held of [4, 104]) assert.ok(!firsts.has(held), `test image ${held} also in train`);
    });
  });

  test(`${decoder}: corrupt, truncated, empty and mislabelled image files are named`, () => {
    withDir((dir) => {
      const cls = mk(dir, 'train', 'a');
      mk(dir, 'test', 'a');
      grayPng(join(dir, 'test', 'a', 'ok.png'), 0);
      grayPng(join(cls, '0.png'), 0);
      const good = readFileSync(join(cls, '0.png'));
      const f = join(cls, '1.png');
      writeFileSync(f, good.subarray(0, good.length - 20));
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${f}: corrupt or truncated PNG`);
      writeFileSync(f, good.subarray(0, 20));
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${f}: truncated PNG: 20 bytes end before the image header`);
      writeFileSync(f, good.subarray(0, 5));
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${f}: truncated: 5 bytes`);
      writeFileSync(f, '');
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${f}: empty file`);
      writeFileSync(f, 'GIF89a, not really a png');
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${f}: not a PNG or JPEG image (starts with 47 49 46 38 39 61 2c 20)`);
      const flipped = Buffer.from(good);
      for (let i = 41; i < flipped.length - 12; i++) flipped[i] ^= 0x5a;
      writeFileSync(f, flipped);
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${f}: corrupt or truncated PNG`);
      writeFileSync(f, good);
      writeJpeg(join(cls, '2.jpg'), 8, 8, new Array(192).fill(128));
      const jpg = readFileSync(join(cls, '2.jpg'));
      writeFileSync(join(cls, '2.jpg'), jpg.subarray(0, jpg.length - 40));
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${join(cls, '2.jpg')}: corrupt or truncated JPEG`);
      writeFileSync(join(cls, '2.jpg'), jpg.subarray(0, 100));
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${join(cls, '2.jpg')}: truncated JPEG: 100 bytes end before the image header`);
      const garbled = Buffer.from(jpg);
      garbled[2] = 0x12;
      writeFileSync(join(cls, '2.jpg'), garbled);
      throwsDataError(() => loadImageFolder(dir, 'train', at(3)), `${join(cls, '2.jpg')}: corrupt JPEG: expected a marker at byte 2`);
      writeFileSync(join(cls, '2.jpg'), jpg);
      assert.equal(loadImageFolder(dir, 'train', at(3)).count, 3);
    });
  });

}

test('folder structure errors name the folder or file', () => {
  withDir((dir) => {
    throwsDataError(() => loadImageFolder(join(dir, 'nope'), 'train', { size: 3 }), join(dir, 'nope'), 'image folder not found');
    throwsDataError(() => loadImageFolder(dir, 'train', { size: 3 }), `${dir}: no class folders`);
    // Unsupported extension (any file in a class folder must be an image).
    const cls = mk(dir, 'a');
    for (let i = 0; i < 5; i++) grayPng(join(cls, `${i}.png`), 0);
    assert.equal(loadImageFolder(dir, 'test', { size: 3 }).count, 1);
    writeFileSync(join(cls, 'notes.txt'), 'x');
    throwsDataError(() => loadImageFolder(dir, 'train', { size: 3 }), `${join(cls, 'notes.txt')}: unsupported file type ".txt"`);
    writeFileSync(join(cls, 'notes.txt'), '');
    throwsDataError(() => imageFolderLayout(dir), `${join(cls, 'notes.txt')}: unsupported file type ".txt"`);
    rmSync(join(cls, 'notes.txt'));
    writeFileSync(join(cls, 'anim.gif'), 'GIF89a');
    throwsDataError(() => imageFolderLayout(dir), `${join(cls, 'anim.gif')}: unsupported file type ".gif"; image folders hold .png, .jpg, .jpeg files`);
  });
  withDir((dir) => {
    grayPng(join(mk(dir, 'train', 'a'), '0.png'), 0);
    throwsDataError(() => loadImageFolder(dir, 'test', { size: 3 }), `${dir}: has train/ but no test/ (or val/) folder`);
    grayPng(join(mk(dir, 'val', 'a'), '0.png'), 0);
    assert.equal(loadImageFolder(dir, 'test', { size: 3 }).count, 1, 'val/ serves as test/');
    // An empty class folder.
    mk(dir, 'train', 'b');
    mk(dir, 'val', 'b');
    throwsDataError(() => loadImageFolder(dir, 'train', { size: 3 }), `${join(dir, 'train', 'b')}: class folder holds no images`);
    // Class folders that differ between the splits.
    grayPng(join(dir, 'train', 'b', '0.png'), 0);
    rmSync(join(dir, 'val', 'b'), { recursive: true });
    grayPng(join(mk(dir, 'val', 'c'), '0.png'), 0);
    throwsDataError(() => loadImageFolder(dir, 'train', { size: 3 }), dir, 'missing from val/: b', 'missing from train/: c');
  });
  withDir((dir) => {
    grayPng(join(mk(dir, 'test', 'a'), '0.png'), 0);
    throwsDataError(() => loadImageFolder(dir, 'test', { size: 3 }), `${dir}: has test/ but no train/ folder`);
  });
  withDir((dir) => {
    // No split folders and too few images per class to hold any out.
    for (let i = 0; i < 4; i++) grayPng(join(mk(dir, 'a'), `${i}.png`), i);
    throwsDataError(() => loadImageFolder(dir, 'train', { size: 3 }), `${dir}: too few images to hold out a test split`);
    throwsDataError(() => loadDataset('folder', { split: 'train' }), '"folder" needs a directory');
    const file = join(dir, 'a', '0.png');
    throwsDataError(() => loadDataset(`folder:${file}`, { split: 'train' }), `${file}: expected a directory of class folders`);
  });
});
