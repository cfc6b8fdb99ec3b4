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

import { gunzipSync, gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { DataError, readFileOrThrow } from './errors.js';
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

/** Undoes gzip if the bytes start with the gzip magic 1f 8b; otherwise returns them as is. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (e) {
      throw new DataError(`corrupt gzip stream (${(e as Error).message})`, file);
    }
  }
  return bytes;
}

/**
 * Parses IDX bytes (already gunzipped). `expect` fixes the number of dimensions and names
 * the kind of content for messages ("images", "labels").
 */
export function parseIdx(bytes: Uint8Array, file: string, expect: { dims: number; what: string }): IdxArray {
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

function describeContent(dims: number[], what: string): string {
  if (dims.length === 3) return `${dims[0]} ${what} of ${dims[1]}x${dims[2]}`;
  if (dims.length === 1) return `${dims[0]} ${what}`;
  return `${what} of shape [${dims.join(', ')}]`;
}

/** Reads an IDX file (raw or gzip) that must hold ubyte data of the given rank. */
export function readIdx(file: string, expect: { dims: number; what: string }): IdxArray {
  return parseIdx(maybeGunzip(readFileOrThrow(file), file), file, expect);
}

export interface IdxImages {
  count: number;
  height: number;
  width: number;
  /** count*height*width bytes, 0..255. */
  pixels: Uint8Array;
}

export function readIdxImages(file: string): IdxImages {
  const a = readIdx(file, { dims: 3, what: 'images' });
  return { count: a.dims[0]!, height: a.dims[1]!, width: a.dims[2]!, pixels: a.data };
}

/** Reads a labels file and checks every label is in [0, numClasses). */
export function readIdxLabels(file: string, numClasses = 10): Uint8Array {
  const labels = readIdx(file, { dims: 1, what: 'labels' }).data;
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
}

/** Loads an images file and its labels file into a Dataset, with pixels scaled to [0, 1]. */
export function loadIdxDataset(imagesFile: string, labelsFile: string, o: IdxDatasetOptions): Dataset {
  const numClasses = o.numClasses ?? o.classNames?.length ?? 10;
  const img = readIdxImages(imagesFile);
  const labels = readIdxLabels(labelsFile, numClasses);
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
