/**
 * The dataset that ships with bnff: a balanced, seeded Fashion-MNIST subset (3,000 train and
 * 500 test images) committed under data/, so training and tests work offline with no download.
 * tools/make-embedded-dataset.mjs regenerates it; data/fashion-mnist-subset/README.md says how.
 *
 * data/ is found from this module's own location, walking up to the package root, because the
 * same code runs as src/data/embedded.ts and as dist/src/data/embedded.js, and from any cwd.
 */

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from './errors.js';
import { FASHION_MNIST_CLASS_NAMES, loadMnistDir } from './mnist.js';
import type { Dataset } from './dataset.js';

export const EMBEDDED_NAME = 'fashion-mnist-subset';

/** The package root: the nearest directory above this module that holds package.json. */
export function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let d = start; ; ) {
    if (existsSync(join(d, 'package.json'))) return d;
    const up = dirname(d);
    if (up === d) throw new DataError(`no package.json found in any directory above ${start}`);
    d = up;
  }
}

export function embeddedDir(): string {
  return join(packageRoot(), 'data', EMBEDDED_NAME);
}

export function loadEmbedded(split: 'train' | 'test'): Dataset {
  const dir = embeddedDir();
  if (!existsSync(dir)) {
    throw new DataError('embedded dataset missing; regenerate it with `node tools/make-embedded-dataset.mjs`', dir);
  }
  return loadMnistDir(dir, split, { name: EMBEDDED_NAME, classNames: FASHION_MNIST_CLASS_NAMES });
}
