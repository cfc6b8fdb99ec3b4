/**
 * The in-memory dataset every loader produces, and the batching the trainer consumes.
 *
 * Images are decoded once into one NCHW Float32Array in [0, 1] so that an epoch is only index
 * shuffling and memcpy-like gathers; no per-step decoding. Shuffling is a pure function of
 * (seed, epoch), so a run can be resumed at any epoch and reproduce the same batch order, and
 * two runs with the same seed see the same data in the same order whatever else they change.
 */

import { DataError } from './data_error.js';
import { Rng, hashUniform } from '../util/random.js';
import { resampleBox, resizedCropBox } from './transform.js';

/** An image classification dataset in memory: N images of C x H x W, NCHW, and a label each. */
export interface Dataset {
  /** Its name in messages ("fashion-mnist-subset-train"). */
  name: string;
  /** N*C*H*W, NCHW. Values are in [0, 1] as loaded; normalize() shifts and scales them. */
  images: Float32Array;
  /** Class index of each image, in [0, numClasses). */
  labels: Uint8Array;
  /** N, the number of images. */
  count: number;
  /** C, channels per image (1 grayscale, 3 RGB). */
  channels: number;
  /** H, image height in pixels. */
  height: number;
  /** W, image width in pixels. */
  width: number;
  /** Number of classes. */
  numClasses: number;
  /** Class names by label, where the format has them. */
  classNames?: string[];
}

/**
 * One mini-batch: images, labels and where they came from. Its arrays are reused by the next batch.
 */
export interface Batch {
  /** size*C*H*W images, NCHW. */
  x: Float32Array;
  /** Class indices as floats, the form the graph's label input takes. */
  labels: Float32Array;
  /** Number of examples in this batch; less than the batch size only for a last partial batch. */
  size: number;
  /** Dataset index of each example in the batch. */
  indices: Int32Array;
}

/** How batches() and prefetchBatches() walk an epoch. */
export interface BatchOptions {
  /** Visit the examples in a random order (a pure function of seed and epoch), else in order. */
  shuffle: boolean;
  /** Seed of the order and the augmentation draws. */
  seed: number;
  /** Epoch number, from 0: each epoch has its own order and draws. */
  epoch: number;
  /** Skip the last batch when it would be smaller than batchSize. */
  dropLast?: boolean;
  /** Train-time augmentation applied to each gathered example (the dataset is left unchanged). */
  augment?: Augment;
  /** Start at this batch of the epoch (a run resumed mid-epoch); the batches yielded are those an uninterrupted epoch yields from there. */
  startBatch?: number;
}

/**
 * Random crop with zero padding and random horizontal flip, as torchvision's
 * RandomCrop(size, padding) + RandomHorizontalFlip, and optionally RandomResizedCrop first.
 * `fill` is the per-channel value of a raw zero pixel after normalisation, so padding looks
 * like it was added before normalising. Each example's draws are a pure function of (seed,
 * epoch, position in the epoch), so a batch can be prepared anywhere (a prefetch thread, a
 * decode worker, a resumed run) and come out the same.
 */
export interface Augment {
  /** Maximum shift in pixels (the padding of RandomCrop); 0 for none. */
  padding: number;
  /** Mirror half of the images left to right. */
  flip: boolean;
  /** Per-channel value of the padding pixels (a zero pixel after normalisation). */
  fill: number[];
  /**
   * RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3, transform.ts) before the rest: of the
   * streamed base image (R x R, a little larger than the input), or of an in-memory image itself.
   */
  resizedCrop?: boolean;
}

/** Parses the CLI's --augment value: "none", or a comma list of "crop[:P]" (P defaults to 4), "flip" and "rrc" (RandomResizedCrop). */
export function parseAugment(spec: string, fill: number[]): Augment | undefined {
  if (spec === 'none') return undefined;
  const a: Augment = { padding: 0, flip: false, fill };
  for (const part of spec.split(',')) {
    const m = /^crop(?::(\d+))?$/.exec(part);
    if (m) a.padding = m[1] === undefined ? 4 : Number(m[1]);
    else if (part === 'flip') a.flip = true;
    else if (part === 'rrc') a.resizedCrop = true;
    else throw new DataError(`unknown augmentation "${part}" in "${spec}"; use none, or a comma list of crop[:PADDING], flip and rrc (RandomResizedCrop)`);
  }
  return a;
}

/** Augments one example in place; `key` = [seed, epoch, position in the epoch] picks its draws. */
export function augmentExample(x: Float32Array, off: number, c: number, h: number, w: number, a: Augment, key: [number, number, number], tmp: Float32Array): void {
  const plane = h * w;
  if (a.resizedCrop) {
    const box = resizedCropBox(h, w, key);
    for (let ch = 0; ch < c; ch++) {
      const base = off + ch * plane;
      tmp.set(x.subarray(base, base + plane));
      resampleBox(tmp, 0, 1, w, box, x, base, h, w, 1, 0);
    }
  }
  const p = a.padding;
  const [seed, epoch, pos] = key;
  const dy = p > 0 ? Math.floor(hashUniform(seed, epoch, pos, 0xa1) * (2 * p + 1)) - p : 0;
  const dx = p > 0 ? Math.floor(hashUniform(seed, epoch, pos, 0xa2) * (2 * p + 1)) - p : 0;
  const flip = a.flip && hashUniform(seed, epoch, pos, 0xa3) < 0.5;
  if (dy === 0 && dx === 0 && !flip) return;
  for (let ch = 0; ch < c; ch++) {
    const base = off + ch * plane;
    tmp.set(x.subarray(base, base + plane));
    const fill = a.fill[ch] ?? 0;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let xo = 0; xo < w; xo++) {
        const sx = (flip ? w - 1 - xo : xo) + dx;
        x[base + y * w + xo] = sy >= 0 && sy < h && sx >= 0 && sx < w ? tmp[sy * w + sx]! : fill;
      }
    }
  }
}

function checkShape(ds: Dataset): void {
  const per = ds.channels * ds.height * ds.width;
  if (ds.images.length !== ds.count * per || ds.labels.length !== ds.count) {
    throw new DataError(
      `dataset "${ds.name}" is inconsistent: ${ds.count} examples of ${ds.channels}x${ds.height}x${ds.width} ` +
        `need ${ds.count * per} floats and ${ds.count} labels, have ${ds.images.length} and ${ds.labels.length}`,
    );
  }
}

function checkPerChannel(ds: Dataset, what: string, v: number[]): void {
  if (v.length !== ds.channels) {
    throw new DataError(`${what} has ${v.length} entries but dataset "${ds.name}" has ${ds.channels} channels`);
  }
  for (const x of v) if (!Number.isFinite(x)) throw new DataError(`${what} contains a non-finite value ${x}`);
}

/**
 * Throws a DataError naming the first example, channel and pixel that is NaN or infinite: a
 * non-finite input would otherwise surface much later as a diverged loss.
 */
export function checkFinite(ds: Dataset): void {
  const { images: a, channels: C, height: H, width: W } = ds;
  for (let i = 0; i < a.length; i++) {
    if (Number.isFinite(a[i]!)) continue;
    const [n, c, y, x] = [Math.floor(i / (C * H * W)), Math.floor(i / (H * W)) % C, Math.floor(i / W) % H, i % W];
    throw new DataError(`dataset "${ds.name}": example ${n} holds ${a[i]} (channel ${c}, row ${y}, column ${x}); inputs must be finite numbers`);
  }
}

/**
 * A zeroed Float32Array on a SharedArrayBuffer (it reads and writes like any other); on a plain
 * ArrayBuffer where there is none (a browser page that is not cross-origin isolated).
 */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(4 * length) : new ArrayBuffer(4 * length));
}

/**
 * (x - mean[c]) / std[c] per channel, into a new Dataset whose images live in shared memory;
 * the input is left unchanged.
 */
export function normalize(ds: Dataset, mean: number[], std: number[]): Dataset {
  checkShape(ds);
  checkPerChannel(ds, 'mean', mean);
  checkPerChannel(ds, 'std', std);
  std.forEach((s, c) => {
    if (s > 0) return;
    const constant = s === 0 ? `: every pixel of channel ${c} has the value ${mean[c]}, so there is nothing to learn from it (constant images)` : '';
    throw new DataError(`dataset "${ds.name}": the standard deviation of channel ${c} must be positive, got ${s}${constant}`);
  });
  const plane = ds.height * ds.width;
  const src = ds.images;
  // Shared memory, so the prefetch worker (prefetch.ts) can read the result without a copy.
  const out = sharedFloat32(src.length);
  for (let n = 0; n < ds.count; n++) {
    for (let c = 0; c < ds.channels; c++) {
      const m = mean[c]!;
      const inv = 1 / std[c]!;
      const base = (n * ds.channels + c) * plane;
      for (let i = base; i < base + plane; i++) out[i] = (src[i]! - m) * inv;
    }
  }
  return { ...ds, images: out };
}

/** Per-channel mean and population standard deviation over all examples and pixels. */
export function channelStats(ds: Dataset): {
  /** Mean of each channel. */
  mean: number[];
  /** Population standard deviation of each channel. */
  std: number[];
} {
  checkShape(ds);
  if (ds.count === 0) throw new DataError(`dataset "${ds.name}" is empty: no statistics to compute`);
  const plane = ds.height * ds.width;
  const src = ds.images;
  const total = ds.count * plane;
  const mean: number[] = [];
  const std: number[] = [];
  // Two passes in float64: one-pass sum of squares loses precision for values near 1.
  for (let c = 0; c < ds.channels; c++) {
    let sum = 0;
    for (let n = 0; n < ds.count; n++) {
      const base = (n * ds.channels + c) * plane;
      for (let i = base; i < base + plane; i++) sum += src[i]!;
    }
    if (!Number.isFinite(sum)) checkFinite(ds);
    const m = sum / total;
    let sq = 0;
    for (let n = 0; n < ds.count; n++) {
      const base = (n * ds.channels + c) * plane;
      for (let i = base; i < base + plane; i++) {
        const d = src[i]! - m;
        sq += d * d;
      }
    }
    mean.push(m);
    std.push(Math.sqrt(sq / total));
  }
  return { mean, std };
}

/**
 * Zero-pads every image to size x size, centred (an odd margin puts the extra row/column at
 * the bottom/right). Used to feed 28x28 images to networks designed for 32x32.
 */
export function padTo(ds: Dataset, size: number): Dataset {
  checkShape(ds);
  if (!Number.isInteger(size) || size < 1) throw new DataError(`pad size must be a positive integer, got ${size}`);
  if (ds.height > size || ds.width > size) {
    throw new DataError(`cannot pad ${ds.height}x${ds.width} images of dataset "${ds.name}" to ${size}x${size}: they are bigger`);
  }
  const top = (size - ds.height) >> 1;
  const left = (size - ds.width) >> 1;
  const planes = ds.count * ds.channels;
  const out = new Float32Array(planes * size * size);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < ds.height; y++) {
      const s = (p * ds.height + y) * ds.width;
      out.set(ds.images.subarray(s, s + ds.width), (p * size + top + y) * size + left);
    }
  }
  return { ...ds, images: out, height: size, width: size };
}

/** Source row/column and weight of each output pixel along one axis (half-pixel centres). */
function bilinearTaps(from: number, to: number): { i0: Int32Array; i1: Int32Array; t: Float64Array } {
  const i0 = new Int32Array(to);
  const i1 = new Int32Array(to);
  const t = new Float64Array(to);
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    const s = Math.max(0, (o + 0.5) * scale - 0.5);
    const lo = Math.min(Math.floor(s), from - 1);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, from - 1);
    t[o] = s - lo;
  }
  return { i0, i1, t };
}

/**
 * Bilinear resize of `planes` consecutive h x w planes of `src` into oh x ow planes of `dst`,
 * with half-pixel centres: the convention of PyTorch's interpolate(mode='bilinear',
 * align_corners=False, antialias=False). Same size is an exact copy.
 */
export function resizePlanes(src: Float32Array, planes: number, h: number, w: number, dst: Float32Array, oh: number, ow: number): void {
  const ys = bilinearTaps(h, oh);
  const xs = bilinearTaps(w, ow);
  for (let p = 0; p < planes; p++) {
    const sb = p * h * w;
    const db = p * oh * ow;
    for (let y = 0; y < oh; y++) {
      const r0 = sb + ys.i0[y]! * w;
      const r1 = sb + ys.i1[y]! * w;
      const ty = ys.t[y]!;
      for (let x = 0; x < ow; x++) {
        const c0 = xs.i0[x]!;
        const c1 = xs.i1[x]!;
        const tx = xs.t[x]!;
        const top = src[r0 + c0]! + (src[r0 + c1]! - src[r0 + c0]!) * tx;
        const bottom = src[r1 + c0]! + (src[r1 + c1]! - src[r1 + c0]!) * tx;
        dst[db + y * ow + x] = top + (bottom - top) * ty;
      }
    }
  }
}

/** Bilinear resize of every image to height x width (see resizePlanes), into a new Dataset. */
export function resizeTo(ds: Dataset, height: number, width = height): Dataset {
  checkShape(ds);
  for (const v of [height, width]) {
    if (!Number.isInteger(v) || v < 1) throw new DataError(`resize size must be a positive integer, got ${v}`);
  }
  const out = new Float32Array(ds.count * ds.channels * height * width);
  resizePlanes(ds.images, ds.count * ds.channels, ds.height, ds.width, out, height, width);
  return { ...ds, images: out, height, width };
}

/**
 * Makes images size x size for a model: unchanged when they already are; zero-padded
 * (padTo) when neither side is bigger and the smaller side falls short by at most a quarter
 * of `size` (28 -> 32, the classic way to feed MNIST to CIFAR networks); bilinearly resized
 * otherwise (28 -> 224, 64 -> 32, or any image bigger than `size`).
 */
export function fitTo(ds: Dataset, size: number): Dataset {
  if (!Number.isInteger(size) || size < 1) throw new DataError(`image size must be a positive integer, got ${size}`);
  if (ds.height === size && ds.width === size) return ds;
  const fits = ds.height <= size && ds.width <= size;
  return fits && size - Math.min(ds.height, ds.width) <= size / 4 ? padTo(ds, size) : resizeTo(ds, size);
}

function checkBatching(ds: Dataset, batchSize: number, dropLast: boolean): void {
  if (ds.count === 0) throw new DataError(`dataset "${ds.name}" is empty: nothing to batch`);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DataError(`batch size must be an integer >= 1, got ${batchSize}`);
  }
  if (dropLast && batchSize > ds.count) {
    throw new DataError(
      `batch size ${batchSize} is larger than dataset "${ds.name}" (${ds.count} examples): with dropLast every batch would be dropped`,
    );
  }
}

/** Number of batches batches() yields per epoch. */
export function batchCount(ds: Dataset, batchSize: number, dropLast = false): number {
  checkBatching(ds, batchSize, dropLast);
  return dropLast ? Math.floor(ds.count / batchSize) : Math.ceil(ds.count / batchSize);
}

/** The example order for one epoch: identity, or a Fisher-Yates shuffle seeded by (seed, epoch). */
export function epochOrder(count: number, o: { shuffle: boolean; seed: number; epoch: number }): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (o.shuffle) {
    // imul keeps the mix exact in 32 bits for any seed; distinct epochs give distinct streams.
    new Rng((Math.imul(o.seed | 0, 1000003) + (o.epoch | 0)) | 0).shuffle(order);
  }
  return order;
}

/** The reusable buffers one batch is gathered into (see fillBatch). */
export interface BatchBuffers {
  x: Float32Array;
  labels: Float32Array;
  indices: Int32Array;
}

/** Validates a batching request (shape, batch size, dropLast) and returns the number of batches. */
export function checkBatches(ds: Dataset, batchSize: number, dropLast: boolean): number {
  checkShape(ds);
  return batchCount(ds, batchSize, dropLast);
}

/**
 * Gathers batch `b` of an epoch (examples order[b*batchSize ..]) into `buf` and augments each
 * example with its (seed, epoch, position) draws; returns the batch's size. The one gather
 * loop: batches() runs it on the calling thread, prefetchBatches() on a worker thread.
 * `tmp` is h*w floats of scratch, needed only with augmentation.
 */
export function fillBatch(ds: Dataset, order: Int32Array, b: number, batchSize: number, o: BatchOptions, buf: BatchBuffers, tmp: Float32Array): number {
  const per = ds.channels * ds.height * ds.width;
  const start = b * batchSize;
  const size = Math.min(batchSize, ds.count - start);
  const aug = o.augment;
  for (let i = 0; i < size; i++) {
    const idx = order[start + i]!;
    buf.indices[i] = idx;
    buf.labels[i] = ds.labels[idx]!;
    buf.x.set(ds.images.subarray(idx * per, (idx + 1) * per), i * per);
    if (aug) augmentExample(buf.x, i * per, ds.channels, ds.height, ds.width, aug, [o.seed, o.epoch, start + i], tmp);
  }
  return size;
}

/** The Batch over `buf` holding `size` examples: the buffers themselves, or shorter views for a partial batch. */
export function batchView(buf: BatchBuffers, size: number, per: number): Batch {
  const full = size === buf.labels.length;
  return {
    x: full ? buf.x : buf.x.subarray(0, size * per),
    labels: full ? buf.labels : buf.labels.subarray(0, size),
    size,
    indices: full ? buf.indices : buf.indices.subarray(0, size),
  };
}

/**
 * One epoch of batches. The arrays of the yielded Batches are reused: each step overwrites the
 * previous batch's contents, and a last partial batch is a shorter view (subarray) of the same
 * buffers. Copy anything that must outlive the next iteration.
 */
export function* batches(ds: Dataset, batchSize: number, o: BatchOptions): Generator<Batch> {
  const n = checkBatches(ds, batchSize, o.dropLast ?? false);
  const per = ds.channels * ds.height * ds.width;
  const order = epochOrder(ds.count, o);
  const buf: BatchBuffers = { x: new Float32Array(batchSize * per), labels: new Float32Array(batchSize), indices: new Int32Array(batchSize) };
  const tmp = new Float32Array(o.augment ? ds.height * ds.width : 0);
  for (let b = o.startBatch ?? 0; b < n; b++) yield batchView(buf, fillBatch(ds, order, b, batchSize, o, buf, tmp), per);
}

/** A seeded random subset of n examples (all of them when n >= count), in dataset order. */
export function take(ds: Dataset, n: number, seed: number): Dataset {
  checkShape(ds);
  if (!Number.isInteger(n) || n < 1) throw new DataError(`subset size must be a positive integer, got ${n}`);
  if (n >= ds.count) return ds;
  const pick = epochOrder(ds.count, { shuffle: true, seed, epoch: 0x7fffffff }).slice(0, n).sort();
  const per = ds.channels * ds.height * ds.width;
  const images = new Float32Array(n * per);
  const labels = new Uint8Array(n);
  pick.forEach((src, i) => {
    images.set(ds.images.subarray(src * per, (src + 1) * per), i * per);
    labels[i] = ds.labels[src]!;
  });
  return { ...ds, name: `${ds.name}[${n}]`, images, labels, count: n };
}
