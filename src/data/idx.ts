/**
 * IDX, the file format of MNIST and Fashion-MNIST: a 4-byte magic (two zero bytes, a type
 * code, the number of dimensions), one big-endian uint32 per dimension, then the data in
 * row-major order. Only ubyte data (type 0x08) is supported because that is all these
 * datasets use. Files may be gzip-compressed, as distributed; gzip is recognised by its magic
 * bytes rather than by the file name, since people gunzip files and keep the name or not.
 *
 * Every check names the file: a truncated download or a labels file passed as images should
 * read as exactly that, not as a shape error deep in the trainer.
 */

import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { DataError, fileSizeOrThrow, readFileOrThrow } from './errors.js';
import { checkBytes, DEFAULT_LIMITS, type DataLimits, formatBytes } from './limits.js';
import type { Dataset } from './dataset.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'ubyte',
  0x09: 'sbyte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

function describeMagic(magic: number): string {
  if (magic >>> 16 !== 0) return 'not an IDX file';
  const type = (magic >>> 8) & 0xff;
  const nd = magic & 0xff;
  return `IDX ${TYPE_NAMES[type] ?? `unknown type 0x${type.toString(16).padStart(2, '0')}`}, ${nd} dim${nd === 1 ? '' : 's'}`;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function corruptGzip(e: unknown, file: string): DataError {
  return new DataError(`corrupt gzip stream (${(e as Error).message})`, file);
}

/**
 * The first `want` bytes of a gzip stream's content (fewer when it holds fewer), inflating
 * only a prefix of the compressed bytes: a prefix of n bytes inflates to at most about 1032n
 * (deflate's largest ratio), so a bomb costs kilobytes here.
 */
function gunzipHead(gz: Uint8Array, want: number, file: string): Uint8Array {
  for (let n = 64; ; n *= 4) {
    let out: Uint8Array;
    try {
      out = gunzipSync(gz.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (e) {
      throw corruptGzip(e, file);
    }
    if (out.length >= want || n >= gz.length) return out;
  }
}

/**
 * Undoes gzip if the bytes start with the gzip magic 1f 8b; otherwise returns them as is.
 * `maxOutput` bounds the inflated size: inflating stops there, with a DataError, instead of
 * filling memory; `why` says where the bound comes from.
 */
export function maybeGunzip(bytes: Uint8Array, file: string, maxOutput = DEFAULT_LIMITS.maxBytes, why = 'over the limit per data file (--max-data-bytes raises it)'): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes, { maxOutputLength: maxOutput });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError(`gzip stream inflates to more than ${maxOutput.toLocaleString('en-US')} bytes (${formatBytes(maxOutput)}), ${why}; inflating stopped there`, file);
    }
    throw corruptGzip(e, file);
  }
}

/**
 * Parses IDX bytes (already gunzipped). `expect` fixes the number of dimensions and names
 * the kind of content for messages ("images", "labels").
 */
export function parseIdx(bytes: Uint8Array, file: string, expect: { dims: number; what: string }): IdxArray {
  const { dims, headerBytes, size } = parseIdxHeader(bytes, file, expect);
  const have = bytes.length - headerBytes;
  const what = describeContent(dims, expect.what);
  if (have < size) {
    throw new DataError(`truncated: header says ${what} (${size} bytes) but only ${have} bytes follow`, file);
  }
  if (have > size) {
    throw new DataError(`header says ${what} (${size} bytes) but ${have} bytes follow: ${have - size} bytes of trailing garbage`, file);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** The magic number and dimensions at the start of IDX bytes, checked; `size` is the data's byte count. */
function parseIdxHeader(bytes: Uint8Array, file: string, expect: { dims: number; what: string }): { dims: number[]; headerBytes: number; size: number } {
  const wantMagic = 0x0800 | expect.dims;
  const wantDesc = `IDX ${expect.what}, ubyte, ${expect.dims} dim${expect.dims === 1 ? '' : 's'}`;
  if (bytes.length < 4) {
    throw new DataError(`truncated: ${bytes.length} bytes, too short for an IDX magic number (expected ${hex32(wantMagic)}, ${wantDesc})`, file);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== wantMagic) {
    throw new DataError(`wrong magic number ${hex32(magic)} (${describeMagic(magic)}), expected ${hex32(wantMagic)} (${wantDesc})`, file);
  }
  const headerBytes = 4 + 4 * expect.dims;
  if (bytes.length < headerBytes) {
    throw new DataError(`truncated: ${bytes.length} bytes, but the IDX header of ${expect.what} needs ${headerBytes}`, file);
  }
  const dims: number[] = [];
  for (let i = 0; i < expect.dims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  let size = 1;
  for (const d of dims) size *= d;
  return { dims, headerBytes, size };
}

function describeContent(dims: number[], what: string): string {
  if (dims.length === 3) return `${dims[0]} ${what} of ${dims[1]}x${dims[2]}`;
  if (dims.length === 1) return `${dims[0]} ${what}`;
  return `${what} of shape [${dims.join(', ')}]`;
}

/** Inflating may run this far past the size the header declares, so that a few stray bytes are reported exactly (parseIdx) rather than as a bomb. */
const TRAILING_SLACK = 1 << 20;

/**
 * Reads an IDX file (raw or gzip) that must hold ubyte data of the given rank. Sizes are
 * checked against limits.maxBytes before the data is read: a raw file by its size on disk, a
 * gzip file by the size its IDX header declares (inflated from the first bytes alone), and
 * inflating stops just past that size, so a stream that inflates to gigabytes is refused
 * after about a megabyte.
 */
export function readIdx(file: string, expect: { dims: number; what: string }, limits: DataLimits = DEFAULT_LIMITS): IdxArray {
  checkBytes(fileSizeOrThrow(file), 'holds', file, limits);
  const bytes = readFileOrThrow(file);
  if (!isGzip(bytes)) return parseIdx(bytes, file, expect);
  const headerBytes = 4 + 4 * expect.dims;
  const head = gunzipHead(bytes, headerBytes, file);
  if (head.length < headerBytes) return parseIdx(maybeGunzip(bytes, file, headerBytes + TRAILING_SLACK), file, expect);
  const { dims, size } = parseIdxHeader(head, file, expect);
  const total = headerBytes + size;
  checkBytes(total, `IDX header declares ${describeContent(dims, expect.what)}:`, file, limits);
  const why = `more than the ${total.toLocaleString('en-US')} bytes its IDX header declares (${describeContent(dims, expect.what)}): a gzip bomb or trailing data`;
  return parseIdx(maybeGunzip(bytes, file, total + TRAILING_SLACK, why), file, expect);
}

export interface IdxImages {
  count: number;
  height: number;
  width: number;
  /** count*height*width bytes, 0..255. */
  pixels: Uint8Array;
}

export function readIdxImages(file: string, limits: DataLimits = DEFAULT_LIMITS): IdxImages {
  const a = readIdx(file, { dims: 3, what: 'images' }, limits);
  return { count: a.dims[0]!, height: a.dims[1]!, width: a.dims[2]!, pixels: a.data };
}

/** Reads a labels file and checks every label is in [0, numClasses). */
export function readIdxLabels(file: string, numClasses = 10, limits: DataLimits = DEFAULT_LIMITS): Uint8Array {
  const labels = readIdx(file, { dims: 1, what: 'labels' }, limits).data;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= numClasses) {
      throw new DataError(`label ${labels[i]} at index ${i} is out of range [0, ${numClasses})`, file);
    }
  }
  return labels;
}

export interface IdxDatasetOptions {
  name: string;
  numClasses?: number;
  classNames?: string[];
  limits?: DataLimits;
}

/** Loads an images file and its labels file into a Dataset, with pixels scaled to [0, 1]. */
export function loadIdxDataset(imagesFile: string, labelsFile: string, o: IdxDatasetOptions): Dataset {
  const numClasses = o.numClasses ?? o.classNames?.length ?? 10;
  const img = readIdxImages(imagesFile, o.limits);
  const labels = readIdxLabels(labelsFile, numClasses, o.limits);
  if (labels.length !== img.count) {
    throw new DataError(`${imagesFile} holds ${img.count} images but ${labelsFile} holds ${labels.length} labels: the counts must match`);
  }
  if (img.count === 0) throw new DataError('holds no images', imagesFile);
  const images = new Float32Array(img.pixels.length);
  for (let i = 0; i < images.length; i++) images[i] = img.pixels[i]! / 255;
  const ds: Dataset = {
    name: o.name,
    images,
    labels: Uint8Array.from(labels),
    count: img.count,
    channels: 1,
    height: img.height,
    width: img.width,
    numClasses,
  };
  if (o.classNames) ds.classNames = o.classNames;
  return ds;
}

/** IDX bytes for ubyte data of the given shape; gzip-compressed if asked. */
export function encodeIdx(dims: number[], data: Uint8Array, o: { gzip?: boolean } = {}): Uint8Array {
  let size = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new DataError(`invalid IDX dimension ${d}`);
    size *= d;
  }
  if (dims.length < 1 || dims.length > 255) throw new DataError(`IDX needs 1 to 255 dimensions, got ${dims.length}`);
  if (size !== data.length) throw new DataError(`IDX shape [${dims.join(', ')}] needs ${size} bytes, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 | dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return o.gzip ? gzipSync(out, { level: 9 }) : out;
}

/** Writes an IDX file; gzip defaults to on when the name ends in ".gz". */
export function writeIdx(file: string, dims: number[], data: Uint8Array, o: { gzip?: boolean } = {}): void {
  writeFileSync(file, encodeIdx(dims, data, { gzip: o.gzip ?? file.endsWith('.gz') }));
}
