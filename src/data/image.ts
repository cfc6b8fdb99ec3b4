/**
 * PNG and JPEG files: what their headers say (size, colour mode) and their pixels. The format
 * is recognised by its magic bytes, not by the file name; decoding is pngjs and jpeg-js, and
 * every failure is a DataError naming the file.
 *
 * Colour mode: a grayscale PNG (colour types 0 and 4) or a one-component JPEG has 1 channel;
 * everything else (RGB, RGBA, palette PNGs, YCbCr and CMYK JPEGs) has 3, red, green, blue.
 * Alpha is dropped, not composited.
 */

import { PNG } from 'pngjs';
import { decode as decodeJpeg } from 'jpeg-js';
import { DataError } from './errors.js';
import { checkPixels, DEFAULT_LIMITS, type DataLimits } from './limits.js';

export interface ImageInfo {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface DecodedImage extends ImageInfo {
  /** height*width*channels bytes, interleaved (HWC). */
  pixels: Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function hexStart(b: Uint8Array): string {
  return [...b.subarray(0, 8)].map((v) => v.toString(16).padStart(2, '0')).join(' ');
}

/** SOF markers (baseline, progressive, lossless, ...): C0-CF except DHT C4, JPG C8, DAC CC. */
function isSof(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

function jpegInfo(b: Uint8Array, file: string): ImageInfo | undefined {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) throw new DataError(`corrupt JPEG: expected a marker at byte ${p}`, file);
    const m = b[p + 1]!;
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      p += 2;
      continue;
    }
    if (m === 0xda || m === 0xd9) throw new DataError('corrupt JPEG: no frame header (SOF) before the image data', file);
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (isSof(m)) {
      if (p + 10 > b.length) return undefined;
      const height = (b[p + 5]! << 8) | b[p + 6]!;
      const width = (b[p + 7]! << 8) | b[p + 8]!;
      const nf = b[p + 9]!;
      if (nf !== 1 && nf !== 3 && nf !== 4) throw new DataError(`unsupported JPEG with ${nf} colour components (expected 1, 3 or 4)`, file);
      return { format: 'jpeg', width, height, channels: nf === 1 ? 1 : 3 };
    }
    p += 2 + len;
  }
  return undefined;
}

/**
 * Size and colour mode from the first bytes of a PNG or JPEG file; undefined when `bytes` is a
 * prefix too short to hold them (a JPEG's frame header can follow large metadata).
 */
export function imageInfo(bytes: Uint8Array, file: string): ImageInfo | undefined {
  if (PNG_MAGIC.every((v, i) => bytes[i] === v)) {
    if (bytes.length < 26) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(12) !== 0x49484452) throw new DataError('corrupt PNG: the first chunk is not IHDR', file);
    const colorType = bytes[25]!;
    return { format: 'png', width: view.getUint32(16), height: view.getUint32(20), channels: colorType === 0 || colorType === 4 ? 1 : 3 };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpegInfo(bytes, file);
  if (bytes.length === 0) throw new DataError('empty file, expected a PNG or JPEG image', file);
  const magicPrefix = bytes.length < 8 && (PNG_MAGIC.slice(0, bytes.length).every((v, i) => bytes[i] === v) || (bytes.length === 1 && bytes[0] === 0xff));
  if (magicPrefix) throw new DataError(`truncated: ${bytes.length} bytes, too short for an image`, file);
  throw new DataError(`not a PNG or JPEG image (starts with ${hexStart(bytes)})`, file);
}

/** Header facts of a whole file's bytes; a file too short for them is truncated. */
export function requireImageInfo(bytes: Uint8Array, file: string): ImageInfo {
  const info = imageInfo(bytes, file);
  if (!info) throw new DataError(`truncated ${bytes[0] === 0xff ? 'JPEG' : 'PNG'}: ${bytes.length} bytes end before the image header`, file);
  if (info.width < 1 || info.height < 1) throw new DataError(`corrupt ${info.format.toUpperCase()}: size ${info.width}x${info.height}`, file);
  return info;
}

/**
 * Decodes a PNG or JPEG file's bytes to 8-bit pixels in its own colour mode (see the module
 * comment). The size in the header is checked against limits.maxPixels before decoding.
 */
export function decodeImage(bytes: Uint8Array, file: string, limits: DataLimits = DEFAULT_LIMITS): DecodedImage {
  const info = requireImageInfo(bytes, file);
  const { width, height, channels } = info;
  checkPixels(width, height, file, limits);
  let src: Uint8Array;
  let stride: number;
  try {
    if (info.format === 'png') {
      src = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).data;
      stride = 4;
    } else {
      // jpeg-js's own guards, at the same limit: the frame size, and 16 bytes per pixel of working memory
      const mp = limits.maxPixels / 1e6;
      src = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: mp, maxMemoryUsageInMB: Math.max(512, Math.ceil(mp * 16)) }).data;
      stride = 3;
    }
  } catch (e) {
    throw new DataError(`corrupt or truncated ${info.format.toUpperCase()} (${(e as Error).message})`, file);
  }
  if (src.length !== width * height * stride) {
    throw new DataError(`corrupt ${info.format.toUpperCase()}: decoded ${src.length} bytes for ${width}x${height}`, file);
  }
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0, n = width * height; i < n; i++) {
    for (let c = 0; c < channels; c++) pixels[i * channels + c] = src[i * stride + c]!;
  }
  return { ...info, pixels };
}
