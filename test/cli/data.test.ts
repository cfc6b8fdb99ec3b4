/**
 * bnff train and eval on streamed data, end to end: an image folder with the decoded cache
 * (the second run reads it and trains to the same losses), the pure-JS decoder, a CSV list, and
 * eval of the folder run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { SHARP_SKIP, writeJpeg, writePng } from '../data/helpers.js';
import { bnff } from '../helpers/cli.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-clidata-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** photos/<class>/<i>: 3 classes of 10 RGB images of 40x30, JPEG and PNG, each class its own hue. */
function photos(): string {
  const dir = path.join(root, 'photos');
  ['red', 'green', 'blue'].forEach((c, k) => {
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const px = Array.from({ length: 40 * 30 * 3 }, (_, p) => (p % 3 === k ? 180 : 40) + ((p * 13 + i * 7) % 50));
      if (i % 2) writeJpeg(path.join(dir, c, `${i}.jpg`), 40, 30, px);
      else writePng(path.join(dir, c, `${i}.png`), 40, 30, 3, px);
    }
  });
  return dir;
}

const FAST = ['--model', 'resnet8', '--epochs', '2', '--batch-size', '8', '--threads', '1', '--json'];
const losses = (stdout: string): number[] => (JSON.parse(stdout) as { epochs: Array<{ trainLoss: number }> }).epochs.map((e) => e.trainLoss);

test('an image folder trains streamed; with --cache the second run reads the decoded cache and trains to the same losses', () => {
  const dir = photos();
  const cache = path.join(root, 'cache');
  const a = bnff('train', '--data', `folder:${dir}`, ...FAST, '--cache', cache, '--out', path.join(root, 'a'));
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /^bnff train: resnet8 .* on photos-train: 24 train \/ 6 test images of 3x32x32, 3 classes$/m);
  assert.match(a.stderr, /^ {2}\d+ epoch\(s\), .* augmentation RandomResizedCrop \+ flip, BN statistics from 4 batches before each test$/m);
  const decoder = SHARP_SKIP ? 'jpeg-js [\\d.]+ \\+ pngjs [\\d.]+ \\(pure JavaScript\\) \\(.*\\)' : 'sharp [\\d.]+ \\(libvips [\\d.]+\\)';
  assert.match(
    a.stderr,
    new RegExp(`^ {2}data: streamed, decoded by ${decoder} on \\d+ worker threads?, shorter side to 37 px then the centre square, then the crop$`, 'm'),
  );
  assert.match(a.stderr, /^ {2}normalisation: mean 0\.4850\/0\.4560\/0\.4060, std 0\.2290\/0\.2240\/0\.2250: ImageNet's/m);
  assert.match(a.stderr, /^ {2}decoded cache: \S+photos-train-37px-3ch-[0-9a-f]{16}\.bnffcache \([\d.]+ KiB, written during the first epoch\)$/m);
  assert.deepEqual(
    fs
      .readdirSync(cache)
      .sort()
      .map((f) => f.replace(/-[0-9a-f]{16}/, '')),
    ['photos-test-37px-3ch.bnffcache', 'photos-train-37px-3ch.bnffcache'],
  );
  const b = bnff('train', '--data', `folder:${dir}`, ...FAST, '--cache', cache, '--out', path.join(root, 'b'));
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /decoded cache: \S+photos-train-37px-3ch-[0-9a-f]{16}\.bnffcache \([\d.]+ KiB, read\)$/m);
  assert.deepEqual(losses(b.stdout), losses(a.stdout));
  const config = JSON.parse(fs.readFileSync(path.join(root, 'a', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.match(String(config.normalisation), /^ImageNet's/);
  assert.match(String(config.decoder), SHARP_SKIP ? /^jpeg-js / : /^sharp /);
  // eval prepares the test split as training did (the centre crop), with the run's mean/std
  const e = bnff('eval', '--checkpoint', path.join(root, 'a', 'checkpoint.safetensors'), '--threads', '1', '--json');
  assert.equal(e.code, 0, e.stderr);
  const r = JSON.parse(e.stdout) as { data: string; images: number; accuracy: number };
  assert.deepEqual([r.data, r.images], ['photos-test', 6]);
  // training threads on every core: the cache is written before training, on every core
  const f = bnff(
    'train',
    '--data',
    `folder:${dir}`,
    ...FAST,
    '--epochs',
    '1',
    '--threads',
    String(os.availableParallelism()),
    '--cache',
    path.join(root, 'cache2'),
    '--out',
    path.join(root, 'f'),
  );
  assert.equal(f.code, 0, f.stderr);
  assert.match(
    f.stderr,
    /^ {2}decoded cache: \S+photos-train-37px-3ch-[0-9a-f]{16}\.bnffcache \([\d.]+ KiB, written before training: 24 images in [\d.]+ s\)$/m,
  );
  assert.match(f.stderr, /^ {2}decoded cache: \S+photos-test-37px-3ch-[0-9a-f]{16}\.bnffcache \([\d.]+ KiB, written before training: 6 images in [\d.]+ s\)$/m);
  // the pure-JS decoders: said so, and trained
  const j = bnff('train', '--data', `folder:${dir}`, ...FAST, '--epochs', '1', '--decoder', 'js', '--out', path.join(root, 'j'));
  assert.equal(j.code, 0, j.stderr);
  assert.match(j.stderr, /^ {2}data: streamed, decoded by jpeg-js [\d.]+ \+ pngjs [\d.]+ \(pure JavaScript\) \(--decoder js\)/m);
});

test('a CSV list trains streamed, with its split column; --normalize data says where mean/std come from', () => {
  const dir = fs.existsSync(path.join(root, 'photos')) ? path.join(root, 'photos') : photos();
  const rows = ['path,label,split'];
  for (const c of ['red', 'green', 'blue'])
    for (const f of fs.readdirSync(path.join(dir, c))) rows.push(`${c}/${f},${c},${f.startsWith('9') ? 'test' : 'train'}`);
  const list = path.join(dir, 'list.csv');
  fs.writeFileSync(list, rows.join('\n') + '\n');
  const r = bnff('train', '--data', `list:${list}`, ...FAST, '--epochs', '1', '--normalize', 'data', '--out', path.join(root, 'l'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /on list-train: 27 train \/ 3 test images of 3x32x32, 3 classes$/m);
  assert.match(r.stderr, /^ {2}normalisation: mean [\d./]+, std [\d./]+: a sample of 27 training images$/m);
});
