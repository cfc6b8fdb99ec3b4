/**
 * An in-memory Dataset as a DataSource (source.ts): its epochs are exactly the batches of
 * batches(), gathered on the calling thread, or of prefetchBatches(), on a worker thread one
 * batch ahead (`prefetch`, the trainer's training epochs).
 */

import { batches, type Dataset } from './dataset.js';
import { prefetchBatches } from './prefetch.js';
import { type DataSource, isDataSource } from './source.js';

export function memorySource(ds: Dataset): DataSource & { dataset: Dataset } {
  return {
    dataset: ds,
    name: ds.name,
    count: ds.count,
    channels: ds.channels,
    height: ds.height,
    width: ds.width,
    numClasses: ds.numClasses,
    ...(ds.classNames ? { classNames: ds.classNames } : {}),
    labels: ds.labels,
    epoch(batchSize, o) {
      if (o.prefetch) return prefetchBatches(ds, batchSize, o);
      const gen = batches(ds, batchSize, o);
      return Object.assign(gen, { close: () => void gen.return(undefined) });
    },
  };
}

/** A source as itself, a Dataset as its memorySource. */
export function asSource(x: Dataset | DataSource): DataSource {
  return isDataSource(x) ? x : memorySource(x);
}
