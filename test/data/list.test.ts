import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageListLayout, parseCsv } from '../../src/data/list.js';
import { loadDataset } from '../../src/data/index.js';
import { throwsDataError, withDir, writePng } from './helpers.js';

/** n gray 2x2 PNGs img/<i>.png with every pixel i. */
function images(dir: string, n: number): void {
  mkdirSync(join(dir, 'img', 'sub, dir'), { recursive: true });
  for (let i = 0; i < n; i++) writePng(join(dir, 'img', i === 0 ? 'sub, dir/0.png' : `${i}.png`), 2, 2, 1, [i, i, i, i]);
}

test('parseCsv: quoted fields with commas, quotes and newlines; CRLF; a missing final newline', () => {
  assert.deepEqual(parseCsv('path,label\r\n"a, b.png",cat\n"say ""hi"".png","multi\nline"\nc.png,dog', 'f.csv'), [
    ['path', 'label'],
    ['a, b.png', 'cat'],
    ['say "hi".png', 'multi\nline'],
    ['c.png', 'dog'],
  ]);
  throwsDataError(() => parseCsv('path,label\n"open,x\n', 'f.csv'), 'f.csv: line 3: a quoted field is not closed');
});

test('a CSV list with class names: sorted classes, paths relative to the list, every 5th image of a class held out', () => {
  withDir((dir) => {
    images(dir, 12);
    const rows = Array.from({ length: 12 }, (_, i) => `${i === 0 ? '"img/sub, dir/0.png"' : `img/${i}.png`},${i % 2 ? 'dog' : 'cat'}`);
    const file = join(dir, 'train.csv');
    writeFileSync(file, `Path,Label\n${rows.join('\n')}\n`);
    const l = imageListLayout(file);
    assert.deepEqual(l.classNames, ['cat', 'dog']);
    // cat: 0,2,4,6,8,10 -> the 5th (8) is test; dog: 1,3,5,7,9,11 -> 9 is test
    assert.deepEqual(l.test.map((e) => e.file), [join(dir, 'img', '8.png'), join(dir, 'img', '9.png')]);
    assert.deepEqual(l.test.map((e) => e.label), [0, 1]);
    assert.equal(l.train.length, 10);
    assert.equal(l.train[0]!.file, join(dir, 'img', 'sub, dir', '0.png'));
    const ds = loadDataset(`list:${file}`, { split: 'test', size: 2 });
    assert.equal(ds.name, 'train-test');
    assert.deepEqual([...ds.images], [8, 8, 8, 8, 9, 9, 9, 9].map((v) => Math.fround(v / 255)));
  });
});

test('a list with a split column, or JSON in three forms; whole-number labels are class indices', () => {
  withDir((dir) => {
    images(dir, 4);
    const csv = join(dir, 'l.csv');
    writeFileSync(csv, 'file,class,split\nimg/1.png,3,train\nimg/2.png,0,val\nimg/3.png,1,TEST\n');
    const l = imageListLayout(csv);
    assert.deepEqual(l.classNames, ['0', '1', '2', '3']);
    assert.deepEqual([l.train.map((e) => e.label), l.test.map((e) => e.label)], [[3], [0, 1]]);
    const forms = [
      [{ path: 'img/1.png', label: 'b', split: 'train' }, { path: 'img/2.png', label: 'a', split: 'test' }],
      { train: [['img/1.png', 'b']], val: [['img/2.png', 'a']] },
      { train: [{ image: 'img/1.png', target: 'b' }], test: [{ filename: 'img/2.png', class: 'a' }] },
    ];
    forms.forEach((doc, i) => {
      const f = join(dir, `l${i}.json`);
      writeFileSync(f, JSON.stringify(doc));
      const j = imageListLayout(f);
      assert.deepEqual(j.classNames, ['a', 'b'], `form ${i}`);
      assert.deepEqual([j.train.map((e) => [e.file, e.label]), j.test.map((e) => [e.file, e.label])], [[[join(dir, 'img', '1.png'), 1]], [[join(dir, 'img', '2.png'), 0]]], `form ${i}`);
    });
  });
});

test('list errors name the list file and the line', () => {
  withDir((dir) => {
    images(dir, 3);
    const f = join(dir, 'bad.csv');
    const bad = (text: string, ...frag: string[]): void => {
      writeFileSync(f, text);
      throwsDataError(() => imageListLayout(f), f, ...frag);
    };
    bad('', 'empty list');
    bad('name,label\nimg/1.png,a\n', 'lacks a path column (path, file, filename, image)');
    bad('path,kind\nimg/1.png,a\n', 'lacks a label column (label, class, target)');
    bad('path,label\nimg/1.png,a,extra\n', 'line 2: 3 fields where the header has 2');
    bad('path,label\nimg/1.png,a\nimg/nope.png,b\n', `line 3: ${join(dir, 'img', 'nope.png')}: file not found`);
    bad('path,label\nimg,a\n', `line 2: ${join(dir, 'img')}: not a file`);
    bad('path,label\nimg/1.png,\n', 'line 2: empty label');
    bad('path,label,split\nimg/1.png,a,train\nimg/2.png,b,holdout\n', 'line 3: split "holdout" is not train, test or val');
    bad('path,label,split\nimg/1.png,a,train\nimg/2.png,b,\n', 'line 3: no split, where other rows have one');
    bad('path,label,split\nimg/1.png,a,train\nimg/2.png,b,train\n', 'no test (or val) images in the list');
    bad('path,label\nimg/1.png,a\nimg/2.png,b\n', 'too few images to hold out a test split');
    bad('path,label\nimg/1.png,300\nimg/2.png,1\n', 'label 300: at most 256 classes');
    const j = join(dir, 'bad.json');
    writeFileSync(j, '{"train": [');
    throwsDataError(() => imageListLayout(j), j, 'not valid JSON');
    writeFileSync(j, JSON.stringify([{ path: 'img/1.png' }]));
    throwsDataError(() => imageListLayout(j), j, 'entry 0: expected {"path": "...", "label": ...}');
    writeFileSync(j, JSON.stringify({ images: [] }));
    throwsDataError(() => imageListLayout(j), j, 'expected a JSON array');
    throwsDataError(() => loadDataset('list', { split: 'train', size: 2 }), '"list" needs a CSV or JSON file');
    throwsDataError(() => imageListLayout(join(dir, 'missing.csv')), join(dir, 'missing.csv'), 'file not found');
  });
});
