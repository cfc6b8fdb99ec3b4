/**
 * The data pipeline's one interface: a DataSource is a labelled set of examples of one shape
 * that hands out epochs of batches. The trainer and evaluate() read every dataset through it:
 *
 *   memorySource(ds)  an in-memory Dataset (MNIST, Fashion-MNIST, CIFAR-10, the embedded
 *                     subset; memory_source.ts): batches gathered by batches(), on a worker
 *                     thread one batch ahead for training (prefetchBatches), the same bits
 *                     either way;
 *   StreamSource      an image folder or list (stream.ts): files decoded on worker threads
 *                     while the step runs, memory bounded by a few batches.
 *
 * Labels are known up front (they come with the file list), images only batch by batch. This
 * module is for every platform (evaluate() and the browser build use it); the sources are not.
 */

import { type Batch, type BatchOptions, batchCount, type Dataset } from './dataset.js';
import { DataError } from './data_error.js';

/** One epoch's batches: the contract of batches() (buffers reused, a batch valid until the next next()); close() when leaving early. */
export interface BatchIterator extends IterableIterator<Batch> {
  /** Stops the epoch early: releases the batch buffers and tells the workers to stop. */
  close(): void;
  /** Seconds next() spent waiting for a batch that was not ready (0 for a synchronous source). */
  readonly waitSeconds?: number;
}

export interface EpochOptions extends BatchOptions {
  /** Prepare batches ahead on a worker thread (training); in-memory sources gather on the calling thread without it. Streamed sources always decode on workers. */
  prefetch?: boolean;
}

/** A labelled set of examples of one shape that hands out epochs of batches (see the top of this file). */
export interface DataSource {
  /** The dataset's name, as logs and errors give it. */
  readonly name: string;
  /** Examples. */
  readonly count: number;
  /** Channels of every image. */
  readonly channels: number;
  /** Height of every image, in pixels. */
  readonly height: number;
  /** Width of every image, in pixels. */
  readonly width: number;
  /** Classes; labels are 0 to numClasses - 1. */
  readonly numClasses: number;
  /** Names of the classes, where known (folder names, Fashion-MNIST's). */
  readonly classNames?: string[];
  /** The label of every example, in dataset order. */
  readonly labels: Uint8Array;
  /** One epoch of batches in the order of (seed, epoch), with o.augment applied. */
  epoch(batchSize: number, o: EpochOptions): BatchIterator;
  /** Releases what the source holds open (workers, cache files); in-memory sources hold nothing. */
  close?(): void;
}

export function isDataSource(x: Dataset | DataSource): x is DataSource {
  return typeof (x as DataSource).epoch === 'function';
}

/** Batches per epoch of a source (as batchCount() of a dataset). */
export function epochBatches(src: Pick<DataSource, 'name' | 'count'>, batchSize: number, dropLast = false): number {
  if (src.count === 0) throw new DataError(`dataset "${src.name}" is empty: nothing to batch`);
  return batchCount({ name: src.name, count: src.count } as Dataset, batchSize, dropLast);
}

/** Examples of each class among `labels`. */
export function classCounts(labels: Uint8Array, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!] = (counts[labels[i]!] ?? 0) + 1;
  return counts;
}

/** A class is "much smaller" below a tenth of the largest class. */
export const SMALL_CLASS_RATIO = 10;

/**
 * What is odd about a training set's classes, for the train log: a DataError for a single
 * class (a 1-class classifier learns nothing: its loss is 0 from the start), notes for classes
 * with no examples and for classes under a tenth of the largest.
 */
export function classNotes(src: Pick<DataSource, 'name' | 'labels' | 'numClasses' | 'classNames'>): string[] {
  const counts = classCounts(src.labels, src.numClasses);
  const name = (k: number): string => `"${src.classNames?.[k] ?? k}"`;
  if (src.numClasses === 1) {
    throw new DataError(`dataset "${src.name}" has a single class (${name(0)}): a classifier needs at least two, and a 1-class one learns nothing (its loss is 0 from the start); add a folder per class`);
  }
  const notes: string[] = [];
  const present = counts.filter((n) => n > 0).length;
  if (present === 1) {
    throw new DataError(`dataset "${src.name}": every training example is of class ${name(counts.findIndex((n) => n > 0))}; a classifier needs examples of at least two classes`);
  }
  const empty = counts.map((n, k) => (n === 0 ? k : -1)).filter((k) => k >= 0);
  if (empty.length > 0) notes.push(`${empty.length} of ${src.numClasses} classes have no training examples: ${empty.slice(0, 8).map(name).join(', ')}${empty.length > 8 ? ', ...' : ''}`);
  const max = Math.max(...counts);
  const small = counts.map((n, k) => (n > 0 && n * SMALL_CLASS_RATIO < max ? k : -1)).filter((k) => k >= 0);
  if (small.length > 0) {
    const biggest = counts.indexOf(max);
    notes.push(
      `class${small.length > 1 ? 'es' : ''} ${small.slice(0, 8).map((k) => `${name(k)} (${counts[k]})`).join(', ')}${small.length > 8 ? ', ...' : ''} ` +
        `ha${small.length > 1 ? 've' : 's'} under a tenth of the examples of the largest, ${name(biggest)} (${max}): the model will see ${small.length > 1 ? 'them' : 'it'} rarely; weigh or resample if ${small.length > 1 ? 'they matter' : 'it matters'}`,
    );
  }
  return notes;
}
