import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { classCounts, classNotes } from '../../src/data/source.js';
import { openData } from '../../src/data/open.js';
import { DataError } from '../../src/data/errors.js';
import { IMAGENET_MEAN } from '../../src/data/transform.js';
import { throwsDataError, withDir, writePng } from './helpers.js';

const src = (labels: number[], numClasses: number, classNames?: string[]) => ({ name: 'd', labels: Uint8Array.from(labels), numClasses, ...(classNames ? { classNames } : {}) });

test('classNotes: one class is refused; a class under a tenth of the largest and classes with no examples are noted', () => {
  assert.deepEqual(classCounts(Uint8Array.of(0, 2, 2, 1, 2), 4), [1, 1, 3, 0]);
  throwsDataError(() => classNotes(src([0, 0, 0], 1, ['cats'])), 'dataset "d" has a single class ("cats"): a classifier needs at least two');
  throwsDataError(() => classNotes(src([3, 3, 3], 10)), 'dataset "d": every training example is of class "3"');
  assert.deepEqual(classNotes(src([0, 1, 0, 1], 2)), []);
  const notes = classNotes(src([...new Array(50).fill(0), ...new Array(40).fill(1), 2, 2, 2, 2], 4, ['cat', 'dog', 'eel', 'fox']));
  assert.deepEqual(notes, [
    '1 of 4 classes have no training examples: "fox"',
    'class "eel" (4) has under a tenth of the examples of the largest, "cat" (50): the model will see it rarely; weigh or resample if it matters',
  ]);
  // exactly a tenth is not "under a tenth"
  assert.deepEqual(classNotes(src([...new Array(50).fill(0), 1, 1, 1, 1, 1], 2)), []);
});

async function rejects(p: Promise<unknown>, ...frag: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    for (const f of frag) assert.ok(e.message.includes(f), `"${e.message}" lacks "${f}"`);
    return true;
  });
}

test('openData on image folders: ImageNet mean/std for RGB by default, a sample for gray; degenerate folders refused naming the dataset', () =>
  withDir(async (dir) => {
    const mk = (name: string, classes: string[], px: (c: number, i: number) => number[], channels: 1 | 3): string => {
      const root = join(dir, name);
      classes.forEach((c, k) => {
        mkdirSync(join(root, c), { recursive: true });
        for (let i = 0; i < 6; i++) writePng(join(root, c, `${i}.png`), 4, 4, channels, px(k, i));
      });
      return root;
    };
    const rgb = mk('rgb', ['a', 'b'], (k, i) => Array.from({ length: 48 }, (_, p) => (p * 9 + k * 70 + i * 5) & 255), 3);
    const d = await openData(`folder:${rgb}`, { size: 4, seed: 0 });
    assert.deepEqual(d.mean, IMAGENET_MEAN);
    assert.match(d.statsFrom, /^ImageNet's/);
    assert.equal(d.streamed?.base, 5);
    assert.deepEqual([d.train.count, d.test.count, d.train.channels, d.train.height], [10, 2, 3, 4]);
    const ds = await openData(`folder:${rgb}`, { size: 4, seed: 0, normalize: 'data' });
    assert.equal(ds.statsFrom, 'a sample of 10 training images');
    assert.ok(ds.std.every((s) => s > 0));
    const gray = mk('gray', ['a', 'b'], (k, i) => Array.from({ length: 16 }, (_, p) => p * 10 + k + i), 1);
    const g = await openData(`folder:${gray}`, { size: 4, seed: 0 });
    assert.equal(g.statsFrom, 'a sample of 10 training images');
    await rejects(openData(`folder:${gray}`, { size: 4, seed: 0, normalize: 'imagenet' }), '"gray" is grayscale (1 channel), and ImageNet\'s mean/std are for RGB');
    const flat = mk('flat', ['a', 'b'], () => new Array(16).fill(77), 1);
    await rejects(openData(`folder:${flat}`, { size: 4, seed: 0 }), 'dataset "flat-train": every pixel of channel 0 in a sample of 10 training images has the value 77/255: constant images');
    const one = mk('one', ['only'], (_k, i) => Array.from({ length: 48 }, (_, p) => (p + i) & 255), 3);
    await rejects(openData(`folder:${one}`, { size: 4, seed: 0 }), 'dataset "one-train" has a single class ("only")');
    // --limit takes a seeded subset of each split
    const l = await openData(`folder:${rgb}`, { size: 4, seed: 0, limit: 3 });
    assert.deepEqual([l.train.count, l.test.count], [3, 2]);
  }));
