/**
 * CIFAR-10's binary distribution (cifar-10-binary.tar.gz): each .bin file is a run of
 * 3073-byte records, one label byte then 32x32x3 pixels stored channel-planar (1024 red,
 * 1024 green, 1024 blue, each row-major). Channel-planar is already NCHW, so decoding is a
 * straight byte-to-float copy with no transposition.
 *
 * The format has no header, so the file size is the only integrity check there is; a size
 * that is not a whole number of records means a truncated or wrong file and is rejected
 * rather than silently read short.
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, fileSizeOrThrow, readFileOrThrow } from './errors.js';
import { checkBytes, DEFAULT_LIMITS, type DataLimits } from './limits.js';
import type { Dataset } from './dataset.js';

export const CIFAR10_RECORD_BYTES = 3073;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES = ['test_batch.bin'];
/** CIFAR-10's class names, by label (used where batches.meta.txt is absent). */
export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export interface Cifar10Batch {
  count: number;
  /** count*3*32*32 bytes, channel-planar per image. */
  pixels: Uint8Array;
  labels: Uint8Array;
}

/** Reads one CIFAR-10 .bin file, checking its size and labels. */
export function readCifar10Batch(file: string, limits: DataLimits = DEFAULT_LIMITS): Cifar10Batch {
  checkBytes(fileSizeOrThrow(file), 'holds', file, limits);
  const bytes = readFileOrThrow(file);
  if (bytes.length === 0) throw new DataError('empty file, expected CIFAR-10 records of 3073 bytes', file);
  if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new DataError(
      `size ${bytes.length} bytes is not a multiple of ${CIFAR10_RECORD_BYTES} ` +
        `(1 label byte + 3072 pixel bytes per CIFAR-10 record): truncated or not a CIFAR-10 binary batch`,
      file,
    );
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  const pixels = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const off = i * CIFAR10_RECORD_BYTES;
    const label = bytes[off]!;
    if (label >= 10) throw new DataError(`label ${label} at record ${i} is out of range [0, 10)`, file);
    labels[i] = label;
    pixels.set(bytes.subarray(off + 1, off + CIFAR10_RECORD_BYTES), i * 3072);
  }
  return { count, pixels, labels };
}

/**
 * The directory that holds the .bin files: `dir` itself, or the cifar-10-batches-bin folder
 * the tarball unpacks to, if `dir` is its parent.
 */
function resolveDir(dir: string, files: string[]): string {
  if (!existsSync(dir)) throw new DataError('CIFAR-10 directory not found', dir);
  if (!statSync(dir).isDirectory()) throw new DataError('expected a directory holding the CIFAR-10 .bin files', dir);
  const inner = join(dir, 'cifar-10-batches-bin');
  if (!existsSync(join(dir, files[0]!)) && existsSync(join(inner, files[0]!))) return inner;
  return dir;
}

/** Class names from batches.meta.txt (one per line) if present, else the standard ones. */
function readClassNames(dir: string): string[] {
  const meta = join(dir, 'batches.meta.txt');
  if (!existsSync(meta)) return [...CIFAR10_CLASS_NAMES];
  const names = readFileSync(meta, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (names.length !== 10) throw new DataError(`expected 10 class names, one per line, found ${names.length}`, meta);
  return names;
}

/** Loads the train (data_batch_1..5.bin) or test (test_batch.bin) split from a directory. */
export function loadCifar10(dir: string, split: 'train' | 'test', limits: DataLimits = DEFAULT_LIMITS): Dataset {
  const files = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;
  const root = resolveDir(dir, files);
  const missing = files.filter((f) => !existsSync(join(root, f)));
  if (missing.length > 0) {
    throw new DataError(
      `missing CIFAR-10 ${split} file${missing.length === 1 ? '' : 's'} ${missing.join(', ')} ` +
        `(the ${split} split needs ${files.join(', ')}, from cifar-10-binary.tar.gz)`,
      root,
    );
  }
  const parts = files.map((f) => readCifar10Batch(join(root, f), limits));
  const count = parts.reduce((s, p) => s + p.count, 0);
  const images = new Float32Array(count * 3072);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const p of parts) {
    const base = n * 3072;
    for (let i = 0; i < p.pixels.length; i++) images[base + i] = p.pixels[i]! / 255;
    labels.set(p.labels, n);
    n += p.count;
  }
  return {
    name: `cifar10-${split}`,
    images,
    labels,
    count,
    channels: 3,
    height: 32,
    width: 32,
    numClasses: 10,
    classNames: readClassNames(root),
  };
}
