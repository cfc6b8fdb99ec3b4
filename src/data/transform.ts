/**
 * From a decoded image to the model's input: the "base" image every decoder produces, the
 * ImageNet recipe's crops on it, and normalisation.
 *
 *   base   the image's shorter side resized to R, then the centre R x R square, 8-bit,
 *          interleaved (HWC, C = 1 or 3 channels). R = S for a plain load, R = round(S * 256/224)
 *          for training and evaluation at S (ImageNet: 256 for S = 224). It is what a decoder
 *          returns and what the decoded cache stores, so neither depends on the epoch.
 *   eval   the centre S x S of the base: ImageNet's Resize(256) + CenterCrop(224).
 *   train  RandomResizedCrop(S, scale 0.08-1, ratio 3/4-4/3) of the base (torchvision's
 *          sampling, ten tries then the centre), and the other augmentations (flip, shifts).
 *
 * Every random draw is hashUniform(seed, epoch, position in the epoch, tag), so an example
 * comes out the same on any worker, in any order, and in a resumed run.
 */

import { hashUniform } from '../util/random.js';

/** ImageNet's per-channel mean and standard deviation of RGB values in [0, 1] (torchvision's). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** The base size for a model input of `size`: ImageNet's 256/224, at least one pixel more than `size` below 224. */
export function baseSize(size: number): number {
  return Math.max(size + 1, Math.round((size * 256) / 224));
}

/** A crop box in a base image: top row, left column, height, width. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The centre size x size box of an h x w image (torchvision's CenterCrop rounding). */
export function centerBox(h: number, w: number, size: number): Box {
  return { top: Math.round((h - size) / 2), left: Math.round((w - size) / 2), height: size, width: size };
}

const SCALE: [number, number] = [0.08, 1];
const RATIO: [number, number] = [3 / 4, 4 / 3];
/** Tags of the draws: 0xa1-0xa3 are augmentExample's shift and flip. */
const RRC_TAG = 0xb0;

/**
 * torchvision's RandomResizedCrop.get_params on an h x w image: ten tries at an area of
 * scale x the image and an aspect ratio log-uniform in `ratio`, then the centre crop at the
 * nearest ratio. `key` = [seed, epoch, position in the epoch].
 */
export function resizedCropBox(h: number, w: number, key: readonly [number, number, number]): Box {
  const [seed, epoch, pos] = key;
  const u = (k: number): number => hashUniform(seed, epoch, pos, RRC_TAG + k);
  const area = h * w;
  const logLo = Math.log(RATIO[0]);
  const logHi = Math.log(RATIO[1]);
  for (let t = 0; t < 10; t++) {
    const target = area * (SCALE[0] + (SCALE[1] - SCALE[0]) * u(4 * t));
    const aspect = Math.exp(logLo + (logHi - logLo) * u(4 * t + 1));
    const bw = Math.round(Math.sqrt(target * aspect));
    const bh = Math.round(Math.sqrt(target / aspect));
    if (bw > 0 && bw <= w && bh > 0 && bh <= h) {
      return { top: Math.floor(u(4 * t + 2) * (h - bh + 1)), left: Math.floor(u(4 * t + 3) * (w - bw + 1)), height: bh, width: bw };
    }
  }
  const inRatio = w / h;
  let bw = w;
  let bh = h;
  if (inRatio < RATIO[0]) bh = Math.round(w / RATIO[0]);
  else if (inRatio > RATIO[1]) bw = Math.round(h * RATIO[1]);
  return { top: Math.floor((h - bh) / 2), left: Math.floor((w - bw) / 2), height: bh, width: bw };
}

/**
 * Bilinear resample of `box` of one channel of an h x w image into an oh x ow plane, with
 * half-pixel centres and sample positions clamped to the box (as if the box were cut out
 * first), then out = v * a + b. The source is interleaved with `stride` values per pixel
 * starting at `src[off]` (stride 1: a plane). A box of the output's size is a plain copy.
 */
export function resampleBox(src: ArrayLike<number>, off: number, stride: number, w: number, box: Box, dst: Float32Array, dstOff: number, oh: number, ow: number, a: number, b: number): void {
  if (box.height === oh && box.width === ow) {
    for (let y = 0; y < oh; y++) {
      const row = off + ((box.top + y) * w + box.left) * stride;
      const o = dstOff + y * ow;
      for (let x = 0; x < ow; x++) dst[o + x] = src[row + x * stride]! * a + b;
    }
    return;
  }
  const sy = box.height / oh;
  const sx = box.width / ow;
  const x0 = new Int32Array(ow);
  const x1 = new Int32Array(ow);
  const tx = new Float64Array(ow);
  for (let x = 0; x < ow; x++) {
    const s = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), box.width - 1);
    const lo = Math.floor(s);
    x0[x] = (box.left + lo) * stride;
    x1[x] = (box.left + Math.min(lo + 1, box.width - 1)) * stride;
    tx[x] = s - lo;
  }
  for (let y = 0; y < oh; y++) {
    const s = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), box.height - 1);
    const lo = Math.floor(s);
    const ty = s - lo;
    const r0 = off + (box.top + lo) * w * stride;
    const r1 = off + (box.top + Math.min(lo + 1, box.height - 1)) * w * stride;
    const o = dstOff + y * ow;
    for (let x = 0; x < ow; x++) {
      const t = tx[x]!;
      const top = src[r0 + x0[x]!]! + (src[r0 + x1[x]!]! - src[r0 + x0[x]!]!) * t;
      const bottom = src[r1 + x0[x]!]! + (src[r1 + x1[x]!]! - src[r1 + x0[x]!]!) * t;
      dst[o + x] = (top + (bottom - top) * ty) * a + b;
    }
  }
}

/**
 * Per-channel scale and shift taking an 8-bit value v to (v / 255 - mean) / std, the
 * arithmetic of normalize() on images loaded as v / 255.
 */
export function affineOf(mean: readonly number[], std: readonly number[]): { a: number[]; b: number[] } {
  return { a: std.map((s) => 1 / 255 / s), b: mean.map((m, c) => -m / std[c]!) };
}

/**
 * Writes one base image (R x R x C, interleaved) as a C x S x S planar example at dst[dstOff]:
 * the centre crop (box undefined) or `box` resized to S, normalised by the table of
 * normalize(): exactly normalize()'s value for a centre crop (a copy), within rounding otherwise.
 */
export function baseToPlanar(base: Uint8Array, r: number, c: number, box: Box | undefined, dst: Float32Array, dstOff: number, s: number, table: Float32Array[], affine: { a: number[]; b: number[] }): void {
  const plane = s * s;
  if (!box || (box.height === s && box.width === s)) {
    const bx = box ?? centerBox(r, r, s);
    for (let ch = 0; ch < c; ch++) {
      const t = table[ch]!;
      for (let y = 0; y < s; y++) {
        const row = ((bx.top + y) * r + bx.left) * c + ch;
        const o = dstOff + ch * plane + y * s;
        for (let x = 0; x < s; x++) dst[o + x] = t[base[row + x * c]!]!;
      }
    }
    return;
  }
  for (let ch = 0; ch < c; ch++) resampleBox(base, ch, c, r, box, dst, dstOff + ch * plane, s, s, affine.a[ch]!, affine.b[ch]!);
}

/** normalize()'s value of every 8-bit level, per channel: Math.fround((fround(v / 255) - mean) * (1 / std)). */
export function normTables(mean: readonly number[], std: readonly number[]): Float32Array[] {
  return mean.map((m, c) => {
    const inv = 1 / std[c]!;
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = (Math.fround(v / 255) - m) * inv;
    return t;
  });
}

/**
 * The base image of a decoded 8-bit image (interleaved, `inC` = 1, 3 or 4 values per pixel,
 * the first 1 or 3 used): its centre square, box-averaged by the largest integer factor that
 * keeps it at least R (so a 4000x3000 photo is averaged, not point-sampled), then bilinear to
 * R x R; gray is repeated into R, G and B for C = 3, colour becomes ITU-R 601 luma for C = 1
 * (PIL's "L"). The pure-JS decoders' path; sharp computes the same geometry with its own filters.
 */
export function toBase(pixels: Uint8Array, w: number, h: number, inC: number, r: number, c: 1 | 3): Uint8Array {
  const side = Math.min(w, h);
  const f = Math.max(1, Math.floor(side / r));
  const n = Math.floor(side / f);
  const y0 = Math.floor((h - n * f) / 2);
  const x0 = Math.floor((w - n * f) / 2);
  const colour = inC >= 3;
  const k = colour ? 3 : 1;
  // box average over f x f blocks: n x n x k values
  const small = new Float32Array(n * n * k);
  const inv = 1 / (f * f);
  for (let by = 0; by < n; by++) {
    for (let bx = 0; bx < n; bx++) {
      const o = (by * n + bx) * k;
      for (let ch = 0; ch < k; ch++) {
        let sum = 0;
        for (let y = 0; y < f; y++) {
          let p = ((y0 + by * f + y) * w + x0 + bx * f) * inC + ch;
          for (let x = 0; x < f; x++, p += inC) sum += pixels[p]!;
        }
        small[o + ch] = sum * inv;
      }
    }
  }
  const full = { top: 0, left: 0, height: n, width: n };
  const planes = new Float32Array(k * r * r);
  for (let ch = 0; ch < k; ch++) resampleBox(small, ch, k, n, full, planes, ch * r * r, r, r, 1, 0);
  const out = new Uint8Array(r * r * c);
  const plane = r * r;
  const q = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
  for (let i = 0; i < plane; i++) {
    if (c === 1) out[i] = q(colour ? (planes[i]! * 299 + planes[plane + i]! * 587 + planes[2 * plane + i]! * 114) / 1000 : planes[i]!);
    else for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = q(planes[(colour ? ch : 0) * plane + i]!);
  }
  return out;
}
