/** Temp directories, tiny synthetic datasets and image files shared by the data tests. */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { encode as encodeJpeg } from 'jpeg-js';
import { DataError } from '../../src/data/errors.js';
import { loadSharp } from '../../src/data/decode.js';
import type { Dataset } from '../../src/data/dataset.js';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'bnff-data-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs fn in a fresh temporary directory, removed afterwards (after the promise, when fn returns one). */
export function withDir<T>(fn: (dir: string) => T): T {
  const t = tempDir();
  let r: T;
  try {
    r = fn(t.dir);
  } catch (e) {
    t.cleanup();
    throw e;
  }
  if (r instanceof Promise) return r.finally(t.cleanup) as T;
  t.cleanup();
  return r;
}

/** Asserts fn throws a DataError whose message contains every fragment. */
export function throwsDataError(fn: () => unknown, ...fragments: string[]): DataError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  assert.equal(caught.name, 'DataError');
  for (const f of fragments) assert.ok(caught.message.includes(f), `message "${caught.message}" lacks "${f}"`);
  return caught;
}

/** A dataset whose image n, channel c, pixel i holds a value derived from (n, c, i). */
export function synthetic(count: number, channels = 1, h = 2, w = 2): Dataset {
  const per = channels * h * w;
  const images = new Float32Array(count * per);
  for (let i = 0; i < images.length; i++) images[i] = ((i * 7919) % 257) / 256;
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) labels[n] = n % 10;
  return { name: 'synthetic', images, labels, count, channels, height: h, width: w, numClasses: 10 };
}

/**
 * Writes a PNG of w x h pixels from interleaved bytes: 1 channel (grayscale PNG), 3 (RGB) or
 * 4 (RGBA).
 */
export function writePng(file: string, w: number, h: number, channels: 1 | 3 | 4, bytes: ArrayLike<number>): void {
  const png = new PNG({ width: w, height: h });
  const rgba = Buffer.alloc(w * h * 4, 255);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < channels; c++) rgba[i * 4 + c] = bytes[i * channels + c]!;
  if (channels === 1) for (let i = 0; i < w * h; i++) rgba[i * 4 + 1] = rgba[i * 4 + 2] = rgba[i * 4]!;
  png.data = rgba;
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  writeFileSync(file, PNG.sync.write(png, { colorType, inputColorType: 6, inputHasAlpha: true }));
}

/** Writes a baseline (3-component) JPEG of w x h pixels from interleaved RGB bytes, quality 100. */
export function writeJpeg(file: string, w: number, h: number, rgb: ArrayLike<number>): void {
  const rgba = Buffer.alloc(w * h * 4, 255);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgba[i * 4 + c] = rgb[i * 3 + c]!;
  writeFileSync(file, encodeJpeg({ width: w, height: h, data: rgba }, 100).data);
}

/** CIFAR-10 binary records: n records with label (seed+i)%10 and pixel j = (seed*31 + i*7 + j) & 255. */
export function cifarBatchBytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n * 3073);
  for (let i = 0; i < n; i++) {
    b[i * 3073] = (seed + i) % 10;
    for (let j = 0; j < 3072; j++) b[i * 3073 + 1 + j] = (seed * 31 + i * 7 + j) & 0xff;
  }
  return b;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A valid-looking RGB PNG of w x h whose IDAT holds a few hundred zero bytes: a few hundred bytes on disk. */
export function bombPng(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * A gzip IDX images file whose header declares `declared` images of 28x28 and whose stream
 * inflates to about `inflated` bytes: gzip members of 16 MiB of zeros, concatenated (a few MB).
 */
export function bombIdx(declared: number, inflated: number): Buffer {
  const member = gzipSync(Buffer.alloc(16 << 20), { level: 9 });
  const header = Buffer.alloc(16);
  [0x0803, declared, 28, 28].forEach((v, i) => header.writeUInt32BE(v, 4 * i));
  const first = gzipSync(Buffer.concat([header, Buffer.alloc(1024)]));
  const parts = [first];
  for (let n = 0; n < Math.ceil(inflated / (16 << 20)); n++) parts.push(member);
  return Buffer.concat(parts);
}

/** Why sharp does not load here (a test option `skip` for the sharp cases), or false where it does. */
export const SHARP_SKIP: string | false = await loadSharp().then((s) => (typeof s === 'string' ? s : false));

/** The decoders that run here: both where sharp loads, else the pure-JS ones alone. */
export const DECODERS: ReadonlyArray<'sharp' | 'js'> = SHARP_SKIP ? ['js'] : ['sharp', 'js'];
