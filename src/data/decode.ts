/**
 * The two image decoders behind the streaming pipeline, each taking a file to its base image
 * (transform.ts: shorter side resized to R, centre R x R square, 8-bit, C channels):
 *
 *   sharp  libvips through the npm package sharp (an optional dependency whose prebuilt
 *          binary comes in npm packages, no other download). JPEGs are decoded at 1/2, 1/4 or
 *          1/8 scale straight from the DCT ("shrink-on-load") when the target is that much
 *          smaller, then resized with a Lanczos-3 kernel. The default where sharp loads.
 *   js     jpeg-js and pngjs, pure JavaScript (image.ts): the full image is decoded, then
 *          box-averaged and resized bilinearly (toBase). The fallback, and the browser's path.
 *
 * Both check the header's size against the pixel limit before decoding, and every failure is a
 * DataError naming the file. bench/decode.ts measures both on the same files (docs/data.md).
 */

import { createRequire } from 'node:module';
import { DataError, readFileOrThrow, readHeadOrThrow } from './errors.js';
import { decodeImage, type ImageInfo, imageInfo, requireImageInfo } from './image.js';
import { checkPixels, type DataLimits } from './limits.js';
import { toBase } from './transform.js';

export const DECODER_CHOICES = ['auto', 'sharp', 'js'] as const;
export type DecoderChoice = (typeof DECODER_CHOICES)[number];

/** What a decoder is: its name and, for the log, its version line. */
export interface DecoderInfo {
  name: 'sharp' | 'js';
  /** "sharp 0.35.6 (libvips 8.18.8)" or "jpeg-js 0.4.4 + pngjs 7.0.0 (pure JavaScript)". */
  description: string;
}

export interface Decoder extends DecoderInfo {
  /** The base image of `file` (R x R x C, interleaved). */
  base(file: string, r: number, c: 1 | 3, limits: DataLimits): Promise<Uint8Array>;
}

/** The part of sharp's API used here. */
interface SharpOut {
  resize(w: number, h: number, o: { fit: 'cover'; position: 'centre' }): SharpOut;
  removeAlpha(): SharpOut;
  toColourspace(s: 'srgb'): SharpOut;
  raw(o: { depth: 'uchar' }): SharpOut;
  toBuffer(o: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}
interface SharpModule {
  (file: string, o: { limitInputPixels: number; failOn: 'warning'; sequentialRead: boolean }): SharpOut;
  versions: { sharp: string; vips: string };
  concurrency(n: number): number;
  cache(o: boolean): void;
}

const HEAD_BYTES = 65536;

/** Size and colour mode from the header, checked against the pixel limit (the decoders' first step). */
export function headerOf(file: string, limits: DataLimits): ImageInfo {
  const head = readHeadOrThrow(file, HEAD_BYTES);
  const info = imageInfo(head, file) ?? requireImageInfo(head.length < HEAD_BYTES ? head : readFileOrThrow(file), file);
  if (info.width < 1 || info.height < 1) throw new DataError(`corrupt ${info.format.toUpperCase()}: size ${info.width}x${info.height}`, file);
  checkPixels(info.width, info.height, file, limits);
  return info;
}

function version(pkg: string): string {
  try {
    return (createRequire(import.meta.url)(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return '?';
  }
}

export const jsDecoder: Decoder = {
  name: 'js',
  description: `jpeg-js ${version('jpeg-js')} + pngjs ${version('pngjs')} (pure JavaScript)`,
  base(file, r, c, limits) {
    headerOf(file, limits);
    const img = decodeImage(readFileOrThrow(file), file, limits);
    return Promise.resolve(toBase(img.pixels, img.width, img.height, img.channels, r, c));
  },
};

/** ITU-R 601 luma of interleaved RGB bytes (PIL's "L"; exact for gray, where R = G = B). */
function lumaOf(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = Math.round((rgb[3 * i]! * 299 + rgb[3 * i + 1]! * 587 + rgb[3 * i + 2]! * 114) / 1000);
  return out;
}

let sharpLoad: Promise<SharpModule | string> | undefined;

/** sharp, loaded once per thread; a string saying why when it does not load. */
export function loadSharp(): Promise<SharpModule | string> {
  sharpLoad ??= import('sharp' as string).then(
    (m: { default: SharpModule }) => {
      const s = m.default;
      // one libvips thread per image: the decode workers are the parallelism, and the training threads need the cores
      s.concurrency(1);
      // no operation cache: every file is read once per epoch, and the cache would hold memory
      s.cache(false);
      return s;
    },
    (e: Error) => `sharp did not load (${e.message.split('\n')[0]})`,
  );
  return sharpLoad;
}

function sharpDecoder(sharp: SharpModule): Decoder {
  return {
    name: 'sharp',
    description: `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`,
    async base(file, r, c, limits) {
      const info = headerOf(file, limits);
      let out: { data: Buffer; info: { width: number; height: number; channels: number } };
      try {
        out = await sharp(file, { limitInputPixels: limits.maxPixels, failOn: 'warning', sequentialRead: true })
          .resize(r, r, { fit: 'cover', position: 'centre' })
          .removeAlpha()
          // RGB always: libvips's own gray (b-w) is CIE lightness, not the ITU-R 601 luma the JS path and PIL use
          .toColourspace('srgb')
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
      } catch (e) {
        throw new DataError(`corrupt or truncated ${info.format.toUpperCase()} (sharp: ${(e as Error).message})`, file);
      }
      if (out.info.width !== r || out.info.height !== r || out.info.channels !== 3) {
        throw new DataError(`sharp gave ${out.info.width}x${out.info.height}x${out.info.channels} for a ${r}x${r}x3 base image`, file);
      }
      const rgb = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
      return c === 3 ? rgb : lumaOf(rgb);
    },
  };
}

/** The decoder for a choice: auto is sharp where it loads, else js; sharp where it does not load is a DataError saying why. */
export async function openDecoder(choice: DecoderChoice): Promise<Decoder> {
  if (choice === 'js') return jsDecoder;
  const s = await loadSharp();
  if (typeof s !== 'string') return sharpDecoder(s);
  if (choice === 'sharp') throw new DataError(`--decoder sharp: ${s}; install it with \`npm install sharp\`, or use --decoder js`);
  return jsDecoder;
}

/** Which decoder a choice runs here, and why not sharp when it is not: for `bnff info` and the train log. */
export async function decoderStatus(choice: DecoderChoice = 'auto'): Promise<DecoderInfo & { why?: string }> {
  const d = await openDecoder(choice);
  if (d.name === 'sharp' || choice === 'js') return { name: d.name, description: d.description, ...(choice === 'js' ? { why: '--decoder js' } : {}) };
  const s = await loadSharp();
  return { name: d.name, description: d.description, why: typeof s === 'string' ? s : undefined };
}
