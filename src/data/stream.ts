/**
 * Streamed image sets: a list of files (an image folder or list) read batch by batch, decoded
 * and cropped on worker threads while the training step runs, so memory holds a few batches
 * whatever the number of files.
 *
 * An epoch's examples are tickets 0, 1, 2, ... in the order of (seed, epoch) (epochOrder, as
 * for in-memory datasets). Decode workers (stream-worker.ts) take tickets from a shared counter;
 * ticket t is example t % B of batch b = floor(t / B), and batch b goes into slot b % S of S
 * batch slots in shared memory. A worker waits until its slot holds its batch (the consumer
 * has released the batch S before it), writes its example there and counts it in; the consumer
 * (next(), on the training thread) waits until its batch's count is full. Hand-offs are
 * Atomics.wait / notify on shared words, never messages, because the training loop is
 * synchronous. S - 1 batches are decoded ahead of the one being trained on.
 *
 * What an example holds depends only on (seed, epoch, ticket): the crop and flip draws are
 * hashUniform of them (transform.ts), so the batches are the same whatever the number of
 * workers and whichever worker decodes what.
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type Batch, type BatchBuffers, type BatchOptions, batchView, type Dataset, epochOrder, sharedFloat32 } from './dataset.js';
import type { CacheHandle, DecodedCache } from './cache.js';
import type { DecoderChoice } from './decode.js';
import { DataError } from './errors.js';
import type { FolderEntry } from './folder.js';
import type { DataLimits } from './limits.js';
import { PrefetchError, workerExecArgv } from './prefetch.js';
import { type BatchIterator, type DataSource, type EpochOptions, epochBatches } from './source.js';

/**
 * The shared control words of an epoch (Int32Array ctl): the next ticket, the state, the length
 * of an error message, examples done, the decoder the workers run; from `slots`, S batch
 * numbers (the batch each slot holds or awaits), then S fill counts.
 */
export const STREAM_CTL = { next: 0, state: 1, errLen: 2, done: 3, decoder: 4, slots: 5 } as const;
export const STREAM_STATE = { run: 0, stop: 1, error: 2 } as const;
/** STREAM_CTL.decoder values. */
export const DECODER_IDS = { sharp: 1, js: 2 } as const;

const ERR_BYTES = 8192;
/** Seconds without any example finished after which the workers are taken for dead. */
const WATCHDOG_S = 300;

export interface StreamOptions {
  /** The model's input size S (examples are C x S x S). */
  size: number;
  /** The base size R (transform.ts). */
  base: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  decoder: DecoderChoice;
  /** Decode worker threads. */
  workers: number;
  /** Images each worker decodes at once (sharp works off the thread; the pure-JS decoders use one). */
  inflight: number;
  /** Batches decoded ahead of the one being trained on. */
  ahead: number;
  limits: DataLimits;
  cache?: DecodedCache;
}

/** File paths as UTF-8 in one shared buffer, so a million names cost the workers no copy. */
export interface PackedPaths {
  bytes: Uint8Array;
  offsets: Float64Array;
}

export function packPaths(files: readonly string[]): PackedPaths {
  const enc = new TextEncoder();
  const parts = files.map((f) => enc.encode(f));
  const offsets = new Float64Array(new SharedArrayBuffer(8 * (files.length + 1)));
  let n = 0;
  parts.forEach((p, i) => {
    offsets[i] = n;
    n += p.length;
  });
  offsets[files.length] = n;
  const bytes = new Uint8Array(new SharedArrayBuffer(Math.max(1, n)));
  parts.forEach((p, i) => bytes.set(p, offsets[i]));
  return { bytes, offsets };
}

export function unpackPath(p: PackedPaths, i: number, dec = new TextDecoder()): string {
  return dec.decode(p.bytes.slice(p.offsets[i], p.offsets[i + 1]));
}

/** What a decode worker is given. */
export interface StreamWorkerData {
  paths: PackedPaths;
  labels: Uint8Array;
  order: Int32Array;
  /** Tickets [first, end). */
  first: number;
  end: number;
  count: number;
  batchSize: number;
  slots: BatchBuffers[];
  ctl: Int32Array;
  err: Uint8Array;
  size: number;
  base: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  o: BatchOptions;
  decoder: DecoderChoice;
  inflight: number;
  limits: DataLimits;
  cache?: CacheHandle & { path: string };
}

/** An error as the worker reports it: enough to throw the same kind of error on the training thread. */
export interface WorkerFailure {
  name: string;
  message: string;
  path?: string;
}

const reaper = new FinalizationRegistry<Worker[]>((ws) => ws.forEach((w) => void w.terminate()));

/** One epoch of a StreamSource (see the module comment). */
export class StreamedBatches implements BatchIterator {
  private readonly n: number;
  private readonly per: number;
  private readonly nslots: number;
  private readonly ctl: Int32Array;
  private readonly err = new Uint8Array(new SharedArrayBuffer(ERR_BYTES));
  private readonly slots: BatchBuffers[];
  private workers: Worker[] | undefined;
  private readonly first: number;
  private b: number;
  private done = false;
  private waited = 0;

  constructor(private readonly src: StreamSource, private readonly batchSize: number, private readonly o: EpochOptions, private readonly so: StreamOptions) {
    this.n = epochBatches(src, batchSize, o.dropLast ?? false);
    this.first = this.b = Math.min(o.startBatch ?? 0, this.n);
    this.per = src.channels * src.height * src.width;
    this.nslots = Math.max(2, so.ahead + 1);
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * (STREAM_CTL.slots + 2 * this.nslots)));
    for (let k = 0; k < this.nslots; k++) this.ctl[STREAM_CTL.slots + ((this.first + k) % this.nslots)] = this.first + k;
    this.slots = Array.from({ length: this.nslots }, () => ({
      x: sharedFloat32(batchSize * this.per),
      labels: sharedFloat32(batchSize),
      indices: new Int32Array(new SharedArrayBuffer(4 * batchSize)),
    }));
  }

  [Symbol.iterator](): this {
    return this;
  }

  get waitSeconds(): number {
    return this.waited;
  }

  /** The decoder the workers run ('sharp' or 'js'), once they have started. */
  get decoder(): 'sharp' | 'js' | undefined {
    const id = Atomics.load(this.ctl, STREAM_CTL.decoder);
    return id === DECODER_IDS.sharp ? 'sharp' : id === DECODER_IDS.js ? 'js' : undefined;
  }

  private start(): Worker[] {
    const { src, so } = this;
    const end = this.o.dropLast ? this.n * this.batchSize : src.count;
    const order = new Int32Array(new SharedArrayBuffer(4 * src.count));
    order.set(epochOrder(src.count, this.o));
    this.ctl[STREAM_CTL.next] = this.first * this.batchSize;
    const cache = so.cache?.handle();
    const data: StreamWorkerData = {
      paths: src.paths,
      labels: src.sharedLabels,
      order,
      first: this.first * this.batchSize,
      end,
      count: src.count,
      batchSize: this.batchSize,
      slots: this.slots,
      ctl: this.ctl,
      err: this.err,
      size: so.size,
      base: so.base,
      channels: so.channels,
      mean: so.mean,
      std: so.std,
      o: { shuffle: this.o.shuffle, seed: this.o.seed, epoch: this.o.epoch, augment: this.o.augment },
      decoder: so.decoder,
      inflight: so.inflight,
      limits: so.limits,
      ...(cache ? { cache: { ...cache, path: so.cache!.path } } : {}),
    };
    const workers = Array.from({ length: Math.max(1, so.workers) }, () => {
      const w = new Worker(new URL('./stream-worker.js', import.meta.url), { workerData: data, execArgv: workerExecArgv() });
      w.unref();
      return w;
    });
    reaper.register(this, workers, this);
    return workers;
  }

  private failure(): Error {
    const raw = new TextDecoder().decode(this.err.slice(0, Atomics.load(this.ctl, STREAM_CTL.errLen)));
    let f: WorkerFailure;
    try {
      f = JSON.parse(raw) as WorkerFailure;
    } catch {
      f = { name: 'Error', message: raw || 'unknown error' };
    }
    if (f.name === 'DataError') return f.path !== undefined && f.message.startsWith(`${f.path}: `) ? new DataError(f.message.slice(f.path.length + 2), f.path) : new DataError(f.message);
    return new PrefetchError(`image decode worker failed: ${f.name}: ${f.message}`);
  }

  next(): IteratorResult<Batch, undefined> {
    if (this.done) return { done: true, value: undefined };
    this.workers ??= this.start();
    const { ctl, nslots } = this;
    if (this.b > this.first) {
      // the consumer is done with the previous batch: its slot takes the batch nslots after it
      const prev = (this.b - 1) % nslots;
      Atomics.store(ctl, STREAM_CTL.slots + nslots + prev, 0);
      Atomics.store(ctl, STREAM_CTL.slots + prev, this.b - 1 + nslots);
      Atomics.notify(ctl, STREAM_CTL.slots + prev);
    }
    if (this.b === this.n) {
      this.close();
      this.src.epochDone();
      return { done: true, value: undefined };
    }
    const s = this.b % nslots;
    const need = Math.min(this.batchSize, this.src.count - this.b * this.batchSize);
    const fill = STREAM_CTL.slots + nslots + s;
    const t0 = performance.now();
    let lastDone = Atomics.load(ctl, STREAM_CTL.done);
    let lastProgress = t0;
    for (;;) {
      if (Atomics.load(ctl, STREAM_CTL.state) === STREAM_STATE.error) {
        const e = this.failure();
        this.close();
        throw e;
      }
      const have = Atomics.load(ctl, fill);
      if (have >= need) break;
      if (Atomics.wait(ctl, fill, have, 1000) === 'timed-out') {
        const done = Atomics.load(ctl, STREAM_CTL.done);
        const now = performance.now();
        if (done !== lastDone) {
          lastDone = done;
          lastProgress = now;
        } else if (now - lastProgress > WATCHDOG_S * 1000) {
          this.close();
          throw new PrefetchError(`image decode workers finished no image in ${WATCHDOG_S} s`);
        }
      }
    }
    this.waited += (performance.now() - t0) / 1000;
    this.b++;
    return { done: false, value: batchView(this.slots[s]!, need, this.per) };
  }

  return(): IteratorResult<Batch, undefined> {
    this.close();
    return { done: true, value: undefined };
  }

  /** Stops the workers; the last yielded batch stays readable. */
  close(): void {
    this.done = true;
    const ws = this.workers;
    if (!ws) return;
    this.workers = undefined;
    if (Atomics.load(this.ctl, STREAM_CTL.state) === STREAM_STATE.run) Atomics.store(this.ctl, STREAM_CTL.state, STREAM_STATE.stop);
    for (let i = STREAM_CTL.slots; i < this.ctl.length; i++) Atomics.notify(this.ctl, i);
    reaper.unregister(this);
    for (const w of ws) void w.terminate();
  }
}

/**
 * Default decode workers: one per core beyond the first two (which train), at least one and
 * at most four: sharp's work runs on libuv's thread pool, 4 threads unless UV_THREADPOOL_SIZE
 * says more, which four workers with two images in flight each already fill.
 */
export function defaultDecodeWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 2));
}

/**
 * A list of image files with labels as a DataSource: examples are C x S x S, decoded and
 * cropped on worker threads (module comment), normalised with the given mean and std.
 */
export class StreamSource implements DataSource {
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly labels: Uint8Array;
  readonly paths: PackedPaths;
  /** `labels` on shared memory, for the workers. */
  readonly sharedLabels: Uint8Array;
  readonly files: readonly string[];

  constructor(
    readonly name: string,
    entries: readonly FolderEntry[],
    readonly numClasses: number,
    readonly classNames: string[] | undefined,
    readonly options: StreamOptions,
  ) {
    this.count = entries.length;
    this.channels = options.channels;
    this.height = this.width = options.size;
    this.files = entries.map((e) => e.file);
    this.paths = packPaths(this.files);
    this.sharedLabels = new Uint8Array(new SharedArrayBuffer(Math.max(1, entries.length))).subarray(0, entries.length);
    entries.forEach((e, i) => (this.sharedLabels[i] = e.label));
    this.labels = this.sharedLabels;
  }

  /** One epoch; `override` changes the decoding for it (the cache fill runs more workers). */
  epoch(batchSize: number, o: EpochOptions, override: Partial<StreamOptions> = {}): StreamedBatches {
    return new StreamedBatches(this, batchSize, o, { ...this.options, ...override });
  }

  /** After a whole epoch: a cache being filled is committed once every record is in. */
  epochDone(): void {
    this.options.cache?.commitIfComplete();
  }

  close(): void {
    this.options.cache?.close();
  }
}

/** Every example of a source, in order and without augmentation, as an in-memory Dataset. */
export function readAll(src: DataSource, batchSize = 64): Dataset {
  const per = src.channels * src.height * src.width;
  const images = new Float32Array(src.count * per);
  const it = src.epoch(batchSize, { shuffle: false, seed: 0, epoch: 0 });
  try {
    let n = 0;
    for (const b of it) {
      images.set(b.x.subarray(0, b.size * per), n * per);
      n += b.size;
    }
  } finally {
    it.close();
  }
  return { name: src.name, images, labels: Uint8Array.from(src.labels), count: src.count, channels: src.channels, height: src.height, width: src.width, numClasses: src.numClasses, ...(src.classNames ? { classNames: src.classNames } : {}) };
}
