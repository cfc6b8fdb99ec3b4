/**
 * Evaluation: accuracy and mean cross-entropy of a network on a dataset in eval mode, and the
 * checks of a dataset against a model. For every platform (the trainer re-exports them).
 */
import { batches, type Dataset } from '../data/dataset.js';
import { DataError } from '../data/data_error.js';
import { type DataSource, isDataSource } from '../data/source.js';
import type { Network } from '../models/network.js';
import type { Arr } from '../ops/op.js';

export function argmaxCorrect(logits: Arr, labels: ArrayLike<number>, n: number, k: number): number {
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    if (best === labels[i]) correct++;
  }
  return correct;
}

/**
 * A dataset's arrays against its own fields and against the model: images of count*C*H*W
 * values (in-memory datasets), count labels in [0, numClasses), C the model's input channels.
 */
export function checkDataset(net: Network, ds: Dataset | DataSource): void {
  const where = `dataset "${ds.name}"`;
  for (const k of ['count', 'channels', 'height', 'width', 'numClasses'] as const) {
    if (!Number.isSafeInteger(ds[k]) || ds[k] < 1) throw new DataError(`${where}: ${k} must be a positive integer, got ${ds[k]}`);
  }
  if (!isDataSource(ds) && !(ds.images instanceof Float32Array))
    throw new DataError(
      `${where}: images must be a Float32Array, got ${ds.images === null || ds.images === undefined ? String(ds.images) : (ds.images as object).constructor.name}`,
    );
  if (!(ds.labels instanceof Uint8Array))
    throw new DataError(
      `${where}: labels must be a Uint8Array, got ${ds.labels === null || ds.labels === undefined ? String(ds.labels) : (ds.labels as object).constructor.name}`,
    );
  const want = ds.count * ds.channels * ds.height * ds.width;
  if (!isDataSource(ds) && ds.images.length !== want)
    throw new DataError(`${where}: images hold ${ds.images.length} values but ${ds.count} images of ${ds.channels}x${ds.height}x${ds.width} need ${want}`);
  if (ds.labels.length !== ds.count) throw new DataError(`${where}: ${ds.labels.length} labels for ${ds.count} images: one label per image expected`);
  if (ds.channels !== net.def.inChannels)
    throw new DataError(`${where} has ${ds.channels}-channel images, but model ${net.def.name} takes ${net.def.inChannels}-channel images`);
  const K = Math.min(ds.numClasses, net.def.numClasses);
  for (let i = 0; i < ds.count; i++) {
    if (ds.labels[i]! >= K)
      throw new DataError(
        `${where}: label ${ds.labels[i]} of image ${i} is out of range [0, ${K})${ds.numClasses > net.def.numClasses ? ` (model ${net.def.name} has ${net.def.numClasses} outputs)` : ''}`,
      );
  }
}

/** Accuracy and mean loss over every example, in order: a Dataset's batches() or a DataSource's epoch without augmentation. */
export function evaluate(
  net: Network,
  ds: Dataset | DataSource,
  batchSize = 256,
): {
  /** Fraction of examples whose largest logit is their label. */
  accuracy: number;
  /** Mean softmax cross-entropy. */
  loss: number;
} {
  checkDataset(net, ds);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  let correct = 0;
  let loss = 0;
  const k = net.def.numClasses;
  const o = { shuffle: false, seed: 0, epoch: 0 };
  for (const b of isDataSource(ds) ? ds.epoch(batchSize, o) : batches(ds, batchSize, o)) {
    const logits = net.predict(b.x, [b.size, ds.channels, ds.height, ds.width]);
    correct += argmaxCorrect(logits, b.labels, b.size, k);
    for (let i = 0; i < b.size; i++) {
      let mx = -Infinity;
      for (let j = 0; j < k; j++) mx = Math.max(mx, logits[i * k + j]!);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(logits[i * k + j]! - mx);
      loss += mx + Math.log(s) - logits[i * k + b.labels[i]!]!;
    }
  }
  return { accuracy: correct / ds.count, loss: loss / ds.count };
}
