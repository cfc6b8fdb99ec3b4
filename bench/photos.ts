/**
 * A folder of large synthetic JPEG photos for the data benchmarks (data_loader.ts, decode.ts),
 * made with sharp into a temporary directory, never committed.
 *
 * Content: a smooth colour field (a random 16x12 image upsampled with a cubic kernel) overlaid
 * with Gaussian noise, so the files compress like photos: with the defaults (sigma 4, quality
 * 80) a 4000x3000 file is about 4.2 MB (0.35 bytes per pixel), and sharp decodes it to a
 * 256-pixel base in about 34 ms of CPU; 12-megapixel photos from phones and cameras are 2-6 MB.
 * Generating 12 MP images costs about half a second each, so `distinct` images are made (each
 * a different window, channel gains and flips of one field) and every file is one of them with
 * its own JPEG comment: distinct files whose decoding costs what a distinct photo's does.
 *
 *   node dist/bench/photos.js --dir /tmp/photos --images 2000 [--width 4000 --height 3000] [--classes 10] [--distinct 200] [--sigma 4] [--quality 80]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSharp } from '../src/data/decode.js';
import { Rng } from '../src/util/random.js';

export interface PhotoOptions {
  dir: string;
  images: number;
  width: number;
  height: number;
  classes: number;
  distinct: number;
  /** Noise standard deviation (0-255 scale): more noise, bigger files, slower decoding. */
  sigma: number;
  quality: number;
  seed: number;
  log?: (s: string) => void;
}

/** The part of sharp's pipeline the generator uses. */
interface Pipe {
  resize(w: number, h: number, o: { kernel: 'cubic' }): Pipe;
  composite(layers: Array<{ input: Buffer; raw: { width: number; height: number; channels: number }; blend: 'overlay' }>): Pipe;
  extract(o: { left: number; top: number; width: number; height: number }): Pipe;
  linear(a: number[], b: number[]): Pipe;
  flip(on: boolean): Pipe;
  flop(on: boolean): Pipe;
  jpeg(o: { quality: number }): Pipe;
  raw(): Pipe;
  toBuffer(): Promise<Buffer>;
}

/** A JPEG with a comment segment (FF FE) right after SOI: other bytes, the same pixels. */
function withComment(jpg: Buffer, text: string): Buffer {
  const body = Buffer.from(text, 'latin1');
  const seg = Buffer.alloc(4 + body.length);
  seg[0] = 0xff;
  seg[1] = 0xfe;
  seg.writeUInt16BE(2 + body.length, 2);
  body.copy(seg, 4);
  return Buffer.concat([jpg.subarray(0, 2), seg, jpg.subarray(2)]);
}

/** Writes o.images JPEGs into o.dir/<class>/<n>.jpg (class n % classes); returns the total bytes. */
export async function makePhotos(o: PhotoOptions): Promise<{ files: number; bytes: number; seconds: number }> {
  const sharp = await loadSharp();
  if (typeof sharp === 'string') throw new Error(`the photo generator needs sharp: ${sharp}`);
  // the generator uses more of sharp than decode.ts types
  const s = sharp as unknown as (input: unknown, opts?: unknown) => Pipe;
  (sharp as unknown as { concurrency(n: number): void }).concurrency(0);
  const t0 = performance.now();
  const rng = new Rng(o.seed);
  const pad = 256;
  const W = o.width + pad;
  const H = o.height + pad;
  const small = Buffer.from(Array.from({ length: 16 * 12 * 3 }, () => Math.floor(rng.next() * 256)));
  const smooth: Buffer = await s(small, { raw: { width: 16, height: 12, channels: 3 } })
    .resize(W, H, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  const noise: Buffer = await s({ create: { width: W, height: H, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: o.sigma } } })
    .raw()
    .toBuffer();
  const field: Buffer = await s(smooth, { raw: { width: W, height: H, channels: 3 } })
    .composite([{ input: noise, raw: { width: W, height: H, channels: 3 }, blend: 'overlay' }])
    .raw()
    .toBuffer();
  const classes = Array.from({ length: o.classes }, (_, k) => `class${String(k).padStart(2, '0')}`);
  for (const c of classes) fs.mkdirSync(path.join(o.dir, c), { recursive: true });
  let bytes = 0;
  let files = 0;
  const per = Math.ceil(o.images / o.distinct);
  for (let d = 0; d < o.distinct && files < o.images; d++) {
    const gain = [0.7 + 0.6 * rng.next(), 0.7 + 0.6 * rng.next(), 0.7 + 0.6 * rng.next()];
    const jpg: Buffer = await s(field, { raw: { width: W, height: H, channels: 3 } })
      .extract({ left: Math.floor(rng.next() * pad), top: Math.floor(rng.next() * pad), width: o.width, height: o.height })
      .linear(
        gain,
        gain.map((g) => 128 * (1 - g)),
      )
      .flip(rng.next() < 0.5)
      .flop(rng.next() < 0.5)
      .jpeg({ quality: o.quality })
      .toBuffer();
    for (let k = 0; k < per && files < o.images; k++, files++) {
      const f = withComment(jpg, `bnff bench photo ${files}`);
      fs.writeFileSync(path.join(o.dir, classes[files % o.classes]!, `${String(files).padStart(5, '0')}.jpg`), f);
      bytes += f.length;
    }
    if (o.log && (d + 1) % 20 === 0) o.log(`  ${files} files, ${(bytes / 2 ** 30).toFixed(2)} GiB, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return { files, bytes, seconds: (performance.now() - t0) / 1000 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: v } = parseArgs({
    options: {
      dir: { type: 'string' },
      images: { type: 'string', default: '2000' },
      width: { type: 'string', default: '4000' },
      height: { type: 'string', default: '3000' },
      classes: { type: 'string', default: '10' },
      distinct: { type: 'string', default: '200' },
      sigma: { type: 'string', default: '4' },
      quality: { type: 'string', default: '80' },
    },
  });
  if (!v.dir) throw new Error('--dir DIR is required');
  const r = await makePhotos({
    dir: v.dir,
    images: Number(v.images),
    width: Number(v.width),
    height: Number(v.height),
    classes: Number(v.classes),
    distinct: Number(v.distinct),
    sigma: Number(v.sigma),
    quality: Number(v.quality),
    seed: 1,
    log: (s) => process.stderr.write(s + '\n'),
  });
  process.stdout.write(JSON.stringify(r) + '\n');
}
