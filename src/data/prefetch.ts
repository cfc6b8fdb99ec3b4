/**
 * batches() with the input preparation (gather + augmentation) moved to a worker thread, so it
 * overlaps the training step instead of adding to it.
 *
 * The worker fills two batch slots in shared memory, in turn, ahead of the consumer: while the
 * main thread trains on batch b (slot b % 2), the worker prepares batch b + 1 in the other
 * slot. The training loop is synchronous, so the hand-off is Atomics.wait / Atomics.notify on
 * one state word per slot, never a message. The worker runs the same epochOrder() and
 * fillBatch() as batches(), so the batches are bit-identical to batches()' for the same options.
 *
 * The dataset's images go to the worker as shared memory: normalize() already allocates them
 * there, and any other array is copied into a SharedArrayBuffer once and the copy reused for
 * every later epoch (so treat datasets as immutable, as this module does). The worker is
 * started on the first next(), stopped (terminated) on the last one, on return() (a for-of
 * loop left early) or close(), and unref'd, so an abandoned iterator never holds the process.
 */

import { Worker } from 'node:worker_threads';
import { type Batch, type BatchBuffers, type BatchOptions, type Dataset, batchView, checkBatches, sharedFloat32 } from './dataset.js';

/** Slot states: ctl[0] and ctl[1]. ctl[2] holds the length of an error message in `err`. */
export const SLOT_EMPTY = 0;
export const SLOT_FULL = 1;
export const SLOT_ERROR = 2;
export const SLOT_STOP = 3;
export const CTL_ERR_LEN = 2;

/** What the worker (prefetch-worker.ts) is given. */
export interface PrefetchWorkerData {
  ds: Dataset;
  batchSize: number;
  o: BatchOptions;
  ctl: Int32Array;
  err: Uint8Array;
  slots: BatchBuffers[];
}

/** Something went wrong in the prefetch worker itself (not with the data). */
export class PrefetchError extends Error {
  /** 'PrefetchError', the name error messages and stack traces show. */
  override name = 'PrefetchError';
}

/** Milliseconds without a batch after which the worker is taken for dead. */
const WATCHDOG_MS = 60_000;
const ERR_BYTES = 4096;

const sharedCopies = new WeakMap<Float32Array, Float32Array>();

/** `images` itself when it is on shared memory, else its one shared copy (made on first use). */
export function sharedImages(images: Float32Array): Float32Array {
  if (images.buffer instanceof SharedArrayBuffer) return images;
  let copy = sharedCopies.get(images);
  if (!copy) {
    copy = sharedFloat32(images.length);
    copy.set(images);
    sharedCopies.set(images, copy);
  }
  return copy;
}

/**
 * The parent's node options, less --input-type: a worker inherits them, and that one (from
 * `node --input-type=module -e ...`) makes a worker started from a file fail.
 */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--input-type') i++;
    else if (!argv[i]!.startsWith('--input-type=')) out.push(argv[i]!);
  }
  return out;
}

const reaper = new FinalizationRegistry<Worker>((w) => void w.terminate());

/**
 * One epoch of batches, prepared on a worker thread. Same options, order, contents and buffer
 * contract as batches(): a yielded batch is valid until the next call to next(). Use it in a
 * for-of loop, or call close() when stopping early by hand.
 */
export class PrefetchedBatches implements IterableIterator<Batch> {
  private readonly n: number;
  private readonly per: number;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(4 * 3));
  private readonly err = new Uint8Array(new SharedArrayBuffer(ERR_BYTES));
  private readonly slots: BatchBuffers[];
  private worker: Worker | undefined;
  private workerError: string | undefined;
  private readonly first: number;
  private b: number;
  private done = false;

  constructor(private readonly ds: Dataset, private readonly batchSize: number, private readonly o: BatchOptions) {
    this.n = checkBatches(ds, batchSize, o.dropLast ?? false);
    this.first = this.b = Math.min(o.startBatch ?? 0, this.n);
    this.per = ds.channels * ds.height * ds.width;
    this.slots = [0, 1].map(() => ({
      x: sharedFloat32(batchSize * this.per),
      labels: sharedFloat32(batchSize),
      indices: new Int32Array(new SharedArrayBuffer(4 * batchSize)),
    }));
  }

  /** The batches themselves: a for-of loop over them closes the worker when it ends or breaks. */
  [Symbol.iterator](): this {
    return this;
  }

  private start(): Worker {
    const { ds } = this;
    const data: PrefetchWorkerData = {
      ds: { ...ds, images: sharedImages(ds.images) },
      batchSize: this.batchSize,
      o: { ...this.o },
      ctl: this.ctl,
      err: this.err,
      slots: this.slots,
    };
    const w = new Worker(new URL('./prefetch-worker.js', import.meta.url), { workerData: data, execArgv: workerExecArgv() });
    w.unref();
    // Only seen if the main thread gets back to its event loop; the watchdog covers the rest.
    w.on('error', (e) => (this.workerError = e.message));
    reaper.register(this, w, this);
    return w;
  }

  /**
   * The next batch, waiting for the worker if it has not prepared it yet; its arrays are valid
   * until the following call.
   */
  next(): IteratorResult<Batch, undefined> {
    if (this.done) return { done: true, value: undefined };
    this.worker ??= this.start();
    const { ctl } = this;
    if (this.b > this.first) {
      // The consumer is done with the previous batch: its slot is free for batch b + 1.
      const prev = (this.b - 1) & 1;
      Atomics.compareExchange(ctl, prev, SLOT_FULL, SLOT_EMPTY);
      Atomics.notify(ctl, prev);
    }
    if (this.b === this.n) {
      this.close();
      return { done: true, value: undefined };
    }
    const s = this.b & 1;
    let state: number;
    while ((state = Atomics.load(ctl, s)) === SLOT_EMPTY) {
      if (Atomics.wait(ctl, s, SLOT_EMPTY, WATCHDOG_MS) === 'timed-out' && Atomics.load(ctl, s) === SLOT_EMPTY) {
        this.close();
        throw new PrefetchError(`batch prefetch worker gave no batch in ${WATCHDOG_MS / 1000} s${this.workerError ? ` (${this.workerError})` : ''}`);
      }
    }
    if (state !== SLOT_FULL) {
      const msg = new TextDecoder().decode(this.err.slice(0, Atomics.load(ctl, CTL_ERR_LEN)));
      this.close();
      throw new PrefetchError(`batch prefetch worker failed: ${msg || 'unknown error'}`);
    }
    const size = Math.min(this.batchSize, this.ds.count - this.b * this.batchSize);
    this.b++;
    return { done: false, value: batchView(this.slots[s]!, size, this.per) };
  }

  /** Stops the worker; the last yielded batch stays readable. Called by for-of when the loop is left early. */
  return(): IteratorResult<Batch, undefined> {
    this.close();
    return { done: true, value: undefined };
  }

  /** Stops the worker; later calls of next() are done. Safe to call twice. */
  close(): void {
    this.done = true;
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    for (const s of [0, 1]) {
      // Unless the worker has failed, whatever it waits for becomes "stop".
      if (Atomics.load(this.ctl, s) !== SLOT_ERROR) Atomics.store(this.ctl, s, SLOT_STOP);
      Atomics.notify(this.ctl, s);
    }
    reaper.unregister(this);
    void w.terminate();
  }
}

/** batches() prepared on a worker thread: the same batches, bit for bit (see PrefetchedBatches). */
export function prefetchBatches(ds: Dataset, batchSize: number, o: BatchOptions): PrefetchedBatches {
  return new PrefetchedBatches(ds, batchSize, o);
}
