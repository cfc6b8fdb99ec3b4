/**
 * Bad input, end to end (docs/bad-input.md has the table): each case runs `bnff train` on a
 * broken dataset, checkpoint or option and checks the exit code and the one-line message
 * (never a stack trace). Each also points --out at an existing run directory (or a fresh one
 * where the failure comes after the run directory is made) and --resume at its checkpoint
 * where it can: the existing run must stay byte-identical, and whatever a failing run left
 * behind must load.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '../../src/data/idx.js';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { nativeStatus } from '../../src/runtime/native.js';
import { bombIdx, bombPng, cifarBatchBytes, writePng } from '../data/helpers.js';
import { bnff } from '../helpers/cli.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-bad-'));
/** An existing run (config, metrics, weights, checkpoint after 1 epoch of resnet8). */
const RUN = path.join(root, 'run');
const CKPT = path.join(RUN, 'checkpoint.safetensors');
let snapshot: Map<string, Buffer>;
after(() => fs.rmSync(root, { recursive: true, force: true }));
const FAST = ['--threads', '1', '--epochs', '1', '--batch-size', '16'];

function files(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

before(() => {
  const r = bnff('train', ...FAST, '--limit', '32', '--out', RUN);
  assert.equal(r.code, 0, r.stderr);
  snapshot = files(RUN);
  assert.deepEqual([...snapshot.keys()].sort(), ['accuracy.svg', 'checkpoint.safetensors', 'config.json', 'loss.svg', 'metrics.jsonl', 'weights.safetensors']);
});

let dirs = 0;
const fresh = (): string => path.join(root, `d${++dirs}`);

/** An MNIST-layout directory of small IDX files (40 train, 20 test images of 28x28); `edit` may change any file's bytes. */
function mnistDir(edit: (files: Map<string, Uint8Array>) => void = () => {}, gzip = true): string {
  const dir = fresh();
  fs.mkdirSync(dir);
  const m = new Map<string, Uint8Array>();
  for (const [stem, n] of [
    ['train', 40],
    ['t10k', 20],
  ] as const) {
    const px = Uint8Array.from({ length: n * 784 }, (_, i) => (i * 37) & 0xff);
    m.set(`${stem}-images-idx3-ubyte`, encodeIdx([n, 28, 28], px));
    m.set(
      `${stem}-labels-idx1-ubyte`,
      encodeIdx(
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 10),
      ),
    );
  }
  edit(m);
  for (const [f, b] of m) fs.writeFileSync(path.join(dir, gzip ? `${f}.gz` : f), gzip ? gzipSync(b) : b);
  return dir;
}

/** An image folder (train/ and test/, classes a and b, 8x8 grayscale PNGs); `edit` may then break any file. */
function imageFolder(edit: (dir: string) => void): string {
  const dir = fresh();
  for (const split of ['train', 'test']) {
    for (const cls of ['a', 'b']) {
      fs.mkdirSync(path.join(dir, split, cls), { recursive: true });
      for (let i = 0; i < 2; i++) writePng(path.join(dir, split, cls, `${i}.png`), 8, 8, 1, new Array(64).fill(cls === 'a' ? 40 : 200));
    }
  }
  edit(dir);
  return dir;
}

/** A CIFAR-10 directory of small batches (2 records each); `edit` may change any file's bytes. */
function cifarDir(edit: (files: Map<string, Uint8Array>) => void = () => {}): string {
  const dir = fresh();
  fs.mkdirSync(dir);
  const m = new Map<string, Uint8Array>();
  for (const f of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'])
    m.set(`${f}.bin`, cifarBatchBytes(2, f.length));
  edit(m);
  for (const [f, b] of m) fs.writeFileSync(path.join(dir, f), b);
  return dir;
}

interface Case {
  name: string;
  /** Arguments after `train`; RUN and CKPT stand for the existing run and its checkpoint. */
  args: () => string[];
  code: number;
  /** A line of stderr. */
  message: RegExp;
  /** Why the case cannot run here, if it cannot. */
  skip?: string | false;
}

const native = await nativeStatus();
// a batch whose fused step needs about twice this machine's memory (resnet50 at 224 px: about 70 MB per image)
const NATIVE_OVERFLOW_BATCH = 2 * Math.ceil(os.totalmem() / 70e6);

const cases: Case[] = [
  {
    name: 'a truncated IDX file (gzip) names the file',
    args: () => ['--data', `mnist:${mnistDir((m) => m.set('train-images-idx3-ubyte', m.get('train-images-idx3-ubyte')!.subarray(0, 20000)))}`, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/train-images-idx3-ubyte\.gz: truncated: header says 40 images of 28x28 \(31360 bytes\) but only 19984 bytes follow$/,
  },
  {
    name: 'a truncated gzip stream names the file',
    args: () => {
      const dir = mnistDir();
      const f = path.join(dir, 'train-labels-idx1-ubyte.gz');
      fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 30));
      return ['--data', `mnist:${dir}`, '--out', RUN];
    },
    code: 1,
    message: /^bnff: error: \S+\/train-labels-idx1-ubyte\.gz: corrupt gzip stream \(unexpected end of file\)$/,
  },
  {
    name: 'a corrupt gzip stream names the file',
    args: () => {
      const dir = mnistDir();
      const f = path.join(dir, 't10k-images-idx3-ubyte.gz');
      const b = fs.readFileSync(f);
      for (let i = 100; i < 140; i++) b[i] = b[i]! ^ 0x5a;
      fs.writeFileSync(f, b);
      return ['--data', `mnist:${dir}`, '--out', RUN];
    },
    code: 1,
    message: /^bnff: error: \S+\/t10k-images-idx3-ubyte\.gz: corrupt gzip stream \(.+\)$/,
  },
  {
    name: 'a truncated raw IDX file names the file and both sizes',
    args: () => [
      '--data',
      `mnist:${mnistDir((m) => m.set('t10k-images-idx3-ubyte', m.get('t10k-images-idx3-ubyte')!.subarray(0, 5000)), false)}`,
      '--out',
      RUN,
    ],
    code: 1,
    message: /^bnff: error: \S+\/t10k-images-idx3-ubyte: truncated: header says 20 images of 28x28 \(15680 bytes\) but only 4984 bytes follow$/,
  },
  {
    name: 'trailing bytes after an IDX file are refused',
    args: () => [
      '--data',
      `mnist:${mnistDir((m) => m.set('train-labels-idx1-ubyte', Uint8Array.from([...m.get('train-labels-idx1-ubyte')!, 1, 2, 3])))}`,
      '--out',
      RUN,
    ],
    code: 1,
    message: /^bnff: error: \S+\/train-labels-idx1-ubyte\.gz: header says 40 labels \(40 bytes\) but 43 bytes follow: 3 bytes of trailing garbage$/,
  },
  {
    name: 'a wrong magic number (labels given as images) names both magics',
    args: () => ['--data', `mnist:${mnistDir((m) => m.set('train-images-idx3-ubyte', m.get('train-labels-idx1-ubyte')!))}`, '--out', RUN],
    code: 1,
    message:
      /^bnff: error: \S+\/train-images-idx3-ubyte\.gz: wrong magic number 0x00000801 \(IDX ubyte, 1 dim\), expected 0x00000803 \(IDX images, ubyte, 3 dims\)$/,
  },
  {
    name: 'a file that is not IDX at all is named',
    args: () => ['--data', `mnist:${mnistDir((m) => m.set('t10k-labels-idx1-ubyte', new TextEncoder().encode('<html>Not Found</html>')))}`, '--out', RUN],
    code: 1,
    message:
      /^bnff: error: \S+\/t10k-labels-idx1-ubyte\.gz: wrong magic number 0x3c68746d \(not an IDX file\), expected 0x00000801 \(IDX labels, ubyte, 1 dim\)$/,
  },
  {
    name: 'a truncated CIFAR-10 batch names the file and its size',
    args: () => ['--data', `cifar10:${cifarDir((m) => m.set('data_batch_3.bin', m.get('data_batch_3.bin')!.subarray(0, 5000)))}`, '--out', RUN],
    code: 1,
    message:
      /^bnff: error: \S+\/data_batch_3\.bin: size 5000 bytes is not a multiple of 3073 \(1 label byte \+ 3072 pixel bytes per CIFAR-10 record\): truncated or not a CIFAR-10 binary batch$/,
  },
  {
    name: 'an IDX label out of range names the file, label and index',
    args: () => ['--data', `mnist:${mnistDir((m) => (m.get('train-labels-idx1-ubyte')![8 + 5] = 12))}`, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/train-labels-idx1-ubyte\.gz: label 12 at index 5 is out of range \[0, 10\)$/,
  },
  {
    name: 'a CIFAR-10 label out of range names the file, label and record',
    args: () => ['--data', `cifar10:${cifarDir((m) => (m.get('test_batch.bin')![3073] = 10))}`, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/test_batch\.bin: label 10 at record 1 is out of range \[0, 10\)$/,
  },
  {
    name: 'a truncated image in an image folder names the file',
    args: () => [
      '--data',
      `folder:${imageFolder((d) => {
        const f = path.join(d, 'train', 'b', '1.png');
        fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 40));
      })}`,
      '--out',
      RUN,
    ],
    code: 1,
    message: /^bnff: error: \S+\/train\/b\/1\.png: corrupt or truncated PNG \(.+\)$/,
  },
  {
    name: 'a file that is not an image in an image folder names the file',
    args: () => ['--data', `folder:${imageFolder((d) => fs.writeFileSync(path.join(d, 'test', 'a', 'notes.png'), 'not an image'))}`, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/test\/a\/notes\.png: not a PNG or JPEG image/,
  },
  {
    name: 'a PNG bomb in an image folder (100000x100000, 74 bytes) is refused from its header, naming the file and the limit',
    args: () => ['--data', `folder:${imageFolder((d) => fs.writeFileSync(path.join(d, 'train', 'b', '1.png'), bombPng(100000, 100000)))}`, '--out', RUN],
    code: 1,
    message:
      /^bnff: error: \S+\/train\/b\/1\.png: image of 100000x100000 = 10,000,000,000 pixels is over the limit of 50,000,000 pixels per image \(--max-pixels raises it\)$/,
  },
  {
    name: 'the pixel limit is an option',
    args: () => ['--data', `folder:${imageFolder(() => {})}`, '--max-pixels', '63', '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/train\/a\/0\.png: image of 8x8 = 64 pixels is over the limit of 63 pixels per image \(--max-pixels raises it\)$/,
  },
  {
    name: 'a gzip IDX file that inflates to gigabytes is refused while inflating, naming the file and the size its header declares',
    args: () => {
      const d = mnistDir();
      fs.writeFileSync(path.join(d, 'train-images-idx3-ubyte.gz'), bombIdx(40, 3 * 2 ** 30));
      return ['--data', `mnist:${d}`, '--out', RUN];
    },
    code: 1,
    message:
      /^bnff: error: \S+\/train-images-idx3-ubyte\.gz: gzip stream inflates to more than 1,079,952 bytes \(1\.0 MiB\), more than the 31,376 bytes its IDX header declares \(40 images of 28x28\): a gzip bomb or trailing data; inflating stopped there$/,
  },
  {
    name: 'an image folder of a single class is refused (a 1-class classifier learns nothing)',
    args: () => [
      '--data',
      `folder:${imageFolder((d) => ['train', 'test'].forEach((s) => fs.rmSync(path.join(d, s, 'b'), { recursive: true })))}`,
      '--out',
      RUN,
    ],
    code: 1,
    message:
      /^bnff: error: dataset "d\d+-train" has a single class \("a"\): a classifier needs at least two, and a 1-class one learns nothing \(its loss is 0 from the start\); add a folder per class$/,
  },
  {
    name: 'an image folder whose pixels are all the same is refused, naming the dataset',
    args: () => [
      '--data',
      `folder:${imageFolder((d) => {
        for (const s of ['train', 'test'])
          for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) writePng(path.join(d, s, c, `${i}.png`), 8, 8, 1, new Array(64).fill(128));
      })}`,
      '--out',
      RUN,
    ],
    code: 1,
    message:
      /^bnff: error: dataset "d\d+-train": every pixel of channel 0 in a sample of 4 training images has the value 128\/255: constant images, nothing to learn from$/,
  },
  {
    name: 'images and labels of different counts name both files',
    args: () => ['--data', `mnist:${mnistDir((m) => m.set('train-labels-idx1-ubyte', encodeIdx([39], new Uint8Array(39))))}`, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/train-images-idx3-ubyte\.gz holds 40 images but \S+\/train-labels-idx1-ubyte\.gz holds 39 labels: the counts must match$/,
  },
  {
    name: 'an empty IDX dataset is refused',
    args: () => [
      '--data',
      `mnist:${mnistDir((m) => m.set('train-images-idx3-ubyte', encodeIdx([0, 28, 28], new Uint8Array(0))).set('train-labels-idx1-ubyte', encodeIdx([0], new Uint8Array(0))))}`,
      '--out',
      RUN,
    ],
    code: 1,
    message: /^bnff: error: \S+\/train-images-idx3-ubyte\.gz: holds no images$/,
  },
  {
    name: 'an empty CIFAR-10 batch is refused',
    args: () => ['--data', `cifar10:${cifarDir((m) => m.set('data_batch_5.bin', new Uint8Array(0)))}`, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/data_batch_5\.bin: empty file, expected CIFAR-10 records of 3073 bytes$/,
  },
  {
    name: 'a missing dataset directory is named',
    args: () => ['--data', 'cifar10:/nonexistent/cifar', '--out', RUN],
    code: 1,
    message: /^bnff: error: \/nonexistent\/cifar: CIFAR-10 directory not found$/,
  },
  {
    name: 'a batch larger than the dataset trains on one batch per epoch, and says so',
    args: () => ['--limit', '20', '--threads', '1', '--epochs', '1', '--batch-size', '64', '--out', fresh()],
    code: 0,
    message: /^ {2}note: batch size 64 is larger than the 20 training images: each epoch is one batch of 20$/,
  },
  {
    name: 'divergence (a NaN loss) stops the run, naming the step and the first op that produced a non-finite value',
    args: () => ['--limit', '128', '--batch-size', '16', '--threads', '1', '--lr', '1e6', '--epochs', '3', '--resume', CKPT, '--out', fresh()],
    code: 1,
    message:
      /^bnff: error: loss became NaN at epoch \d, step \d+ \(global step \d+, lr [\d.e+]+\); first non-finite value: layer "[^"]+" \([a-z0-9_]+\) produced (NaN|-?Infinity) in "[^"]+" at element \d+$/,
  },
  {
    name: 'an invalid option value is a usage error naming the option',
    args: () => ['--batch-size', 'big', '--resume', CKPT, '--out', RUN],
    code: 2,
    message: /^bnff: error: option '-b, --batch-size <n>' argument 'big' is invalid\. "big" is not a positive integer\.$/,
  },
  {
    name: 'an unknown model is named, with the available ones',
    args: () => ['--model', 'vgg16', '--resume', CKPT, '--out', RUN],
    code: 2,
    message: /^bnff: error: unknown model "vgg16"; available: .*resnet20/,
  },
  {
    name: 'a checkpoint of another model names both models',
    args: () => ['--model', 'resnet20', ...FAST, '--epochs', '2', '--resume', CKPT, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/run\/checkpoint\.safetensors is a checkpoint of resnet8, not resnet20; resume it with --model resnet8$/,
  },
  {
    name: 'a truncated checkpoint is refused, naming the file',
    args: () => {
      const f = path.join(root, 'truncated.safetensors');
      fs.writeFileSync(f, fs.readFileSync(CKPT).subarray(0, 200_000));
      return [...FAST, '--epochs', '2', '--resume', f, '--out', RUN];
    },
    code: 1,
    message:
      /^bnff: error: \S+\/truncated\.safetensors: tensor "[^"]+": data_offsets \[\d+, \d+\] run past the end of the \d+-byte buffer \(a truncated file\?\)$/,
  },
  {
    name: 'plain weights given as a checkpoint are refused',
    args: () => [...FAST, '--epochs', '2', '--resume', path.join(RUN, 'weights.safetensors'), '--out', RUN],
    code: 1,
    message:
      /^bnff: error: \S+\/run\/weights\.safetensors: not a bnff checkpoint \(no bnff_checkpoint metadata\); resume from a run's checkpoint\.safetensors \(weights\.safetensors holds weights only\)$/,
  },
  {
    name: 'resuming a run that has already trained the epochs asked for says so',
    args: () => [...FAST, '--resume', CKPT, '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/run\/checkpoint\.safetensors has already trained 1 epoch\(s\); ask for more with --epochs$/,
  },
  {
    name: 'a run directory that already holds a run is never overwritten',
    args: () => [...FAST, '--limit', '32', '--out', RUN],
    code: 1,
    message: /^bnff: error: \S+\/run already holds a run \(config\.json exists\); choose another --out directory$/,
  },
  {
    name: 'a batch that would overflow the 4 GiB wasm32 heap names the largest batch that fits',
    args: () => ['--model', 'resnet50', '--limit', '128', '--batch-size', '128', '--threads', '1', '--epochs', '1', '--engine', 'wasm', '--out', fresh()],
    code: 1,
    message:
      /^bnff: error: resnet50 at batch 128 \(\[128, 1, 224, 224\]\): this step needs [\d.]+ GiB of workspace, more than the 4 GiB wasm32 heap holds; the largest batch that fits is \d+$/,
  },
  {
    name: "a batch that would overflow the native arena (this machine's memory) names the largest batch that fits",
    args: () => [
      '--model',
      'resnet50',
      '--limit',
      String(NATIVE_OVERFLOW_BATCH),
      '--batch-size',
      String(NATIVE_OVERFLOW_BATCH),
      '--threads',
      '1',
      '--epochs',
      '1',
      '--engine',
      'native',
      '--out',
      fresh(),
    ],
    code: 1,
    message:
      /^bnff: error: resnet50 at batch \d+ \(\[\d+, 1, 224, 224\]\): this step needs [\d.]+ GiB of workspace, more than the native arena holds \([\d.]+ GiB\); the largest batch that fits is \d+$/,
    skip: native.ok ? false : `native engine unavailable: ${native.reason}`,
  },
];

for (const c of cases) {
  test(`bad input: ${c.name}`, { skip: c.skip ?? false }, () => {
    const args = c.args();
    const r = bnff('train', ...args);
    console.log('MSG', c.name, '=>', r.code, JSON.stringify(r.stderr.split('\n').filter((l) => /bnff: error|note:/.test(l))));
    assert.equal(r.code, c.code, r.stderr);
    assert.ok(
      r.stderr.split('\n').some((l) => c.message.test(l)),
      `${c.message} not in:\n${r.stderr}`,
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    // The existing run is untouched.
    assert.deepEqual(files(RUN), snapshot);
    // What a failing run left in a fresh --out directory is a config and, at most, the files
    // of epochs it completed; every one of them loads.
    const out = args[args.indexOf('--out') + 1]!;
    if (out !== RUN && fs.existsSync(out)) {
      for (const [f, b] of files(out)) {
        assert.ok(['config.json', 'metrics.jsonl', 'checkpoint.safetensors', 'weights.safetensors', 'loss.svg', 'accuracy.svg'].includes(f), `left ${f}`);
        if (f.endsWith('.safetensors')) readSafetensorsFile(path.join(out, f));
        if (f.endsWith('.json')) JSON.parse(b.toString());
      }
    }
  });
}
