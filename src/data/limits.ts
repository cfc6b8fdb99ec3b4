/**
 * Limits checked before anything is allocated: the pixels of one image (from its header) and the
 * bytes a data file may hold once decompressed (from the IDX header, and while inflating).
 * A file that breaks one is refused with a DataError naming the file, the size it claims and the
 * limit, and the option that raises it; a small header can otherwise ask for gigabytes (a PNG of
 * 100000x100000 with a few hundred bytes of IDAT, a gzip stream that inflates 1000:1).
 */

import { DataError } from './errors.js';

/** Limits checked before anything is allocated: a refused file is named with the limit. */
export interface DataLimits {
  /** Most pixels (width x height) one image may have. */
  maxPixels: number;
  /** Most bytes a data file may hold after decompression (IDX, CIFAR-10). */
  maxBytes: number;
}

/** 50 megapixels: an 8K frame (33 MP) and the 48-50 MP of today's largest phone photos load. */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/** 2 GiB of raw bytes (8 GiB once held as float32): far above MNIST (47 MB) and CIFAR-10 (184 MB). */
export const DEFAULT_MAX_BYTES = 2 * 2 ** 30;

export const DEFAULT_LIMITS: Readonly<DataLimits> = Object.freeze({ maxPixels: DEFAULT_MAX_PIXELS, maxBytes: DEFAULT_MAX_BYTES });

/** "2.00 GiB", "47.0 MB" style. */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** Refuses an image whose header gives more than limits.maxPixels pixels. */
export function checkPixels(width: number, height: number, file: string, limits: DataLimits = DEFAULT_LIMITS): void {
  const pixels = width * height;
  if (pixels > limits.maxPixels) {
    throw new DataError(
      `image of ${width}x${height} = ${pixels.toLocaleString('en-US')} pixels is over the limit of ${limits.maxPixels.toLocaleString('en-US')} pixels per image (--max-pixels raises it)`,
      file,
    );
  }
}

/** Refuses `bytes` of decompressed data over limits.maxBytes; `what` says where the size comes from. */
export function checkBytes(bytes: number, what: string, file: string, limits: DataLimits = DEFAULT_LIMITS): void {
  if (bytes > limits.maxBytes) {
    throw new DataError(`${what} ${bytes.toLocaleString('en-US')} bytes (${formatBytes(bytes)}), over the limit of ${formatBytes(limits.maxBytes)} per data file (--max-data-bytes raises it)`, file);
  }
}

/** Fills in the defaults and checks the values (positive integers). */
export function resolveLimits(l: Partial<DataLimits> = {}): DataLimits {
  const out = { ...DEFAULT_LIMITS, ...l };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new DataError(`limit ${k} must be a positive integer, got ${v}`);
  }
  return out;
}
