// The window helpers of the pooling kernels (eltwise.ts pool_*): per-channel max, sum and
// divide over one window row, the window bounds of an output position, and zeroing a dx slice.

import { copyRow, off } from './simd';

/**
 * One step of the first maximum in window order: v replaces best where v > best (ties keep the
 * earlier tap); a NaN v makes best NaN (all bits set), which no later tap replaces.
 */
@inline export function maxStep(best: v128, v: v128): v128 {
  return v128.or(f32x4.pmax(best, v), f32x4.ne(v, v));
}

@inline export function maxStepS(best: f32, v: f32): f32 {
  return v > best || v != v ? v : best;
}

/** a[c] = maxStep(a[c], p[c]) for byte offsets c in [cs, ce). */
export function maxInto(a: usize, p: usize, cs: usize, ce: usize): void {
  let c = cs;
  for (; c + 64 <= ce; c += 64) {
    const v0 = maxStep(v128.load(a + c), v128.load(p + c));
    const v1 = maxStep(v128.load(a + c, 16), v128.load(p + c, 16));
    const v2 = maxStep(v128.load(a + c, 32), v128.load(p + c, 32));
    const v3 = maxStep(v128.load(a + c, 48), v128.load(p + c, 48));
    v128.store(a + c, v0);
    v128.store(a + c, v1, 16);
    v128.store(a + c, v2, 32);
    v128.store(a + c, v3, 48);
  }
  for (; c + 16 <= ce; c += 16) v128.store(a + c, maxStep(v128.load(a + c), v128.load(p + c)));
  for (; c < ce; c += 4) f32.store(a + c, maxStepS(f32.load(a + c), f32.load(p + c)));
}

/** a[c] += p[c] over [cs, ce); first: a[c] = p[c] + 0 (so that -0 sums to +0, as 0 + -0). */
export function addInto(a: usize, p: usize, cs: usize, ce: usize, first: bool): void {
  let c = cs;
  if (first) {
    const z = f32x4.splat(0);
    for (; c + 64 <= ce; c += 64) {
      const v0 = v128.load(p + c);
      const v1 = v128.load(p + c, 16);
      const v2 = v128.load(p + c, 32);
      const v3 = v128.load(p + c, 48);
      v128.store(a + c, f32x4.add(v0, z));
      v128.store(a + c, f32x4.add(v1, z), 16);
      v128.store(a + c, f32x4.add(v2, z), 32);
      v128.store(a + c, f32x4.add(v3, z), 48);
    }
    for (; c + 16 <= ce; c += 16) v128.store(a + c, f32x4.add(v128.load(p + c), z));
    for (; c < ce; c += 4) f32.store(a + c, f32.load(p + c) + 0);
    return;
  }
  for (; c + 64 <= ce; c += 64) {
    const v0 = f32x4.add(v128.load(a + c), v128.load(p + c));
    const v1 = f32x4.add(v128.load(a + c, 16), v128.load(p + c, 16));
    const v2 = f32x4.add(v128.load(a + c, 32), v128.load(p + c, 32));
    const v3 = f32x4.add(v128.load(a + c, 48), v128.load(p + c, 48));
    v128.store(a + c, v0);
    v128.store(a + c, v1, 16);
    v128.store(a + c, v2, 32);
    v128.store(a + c, v3, 48);
  }
  for (; c + 16 <= ce; c += 16) v128.store(a + c, f32x4.add(v128.load(a + c), v128.load(p + c)));
  for (; c < ce; c += 4) f32.store(a + c, f32.load(a + c) + f32.load(p + c));
}

/** a[c] = a[c] / d over [cs, ce). */
export function divInto(a: usize, d: f32, cs: usize, ce: usize): void {
  const dv = f32x4.splat(d);
  let c = cs;
  for (; c + 16 <= ce; c += 16) v128.store(a + c, f32x4.div(v128.load(a + c), dv));
  for (; c < ce; c += 4) f32.store(a + c, f32.load(a + c) / d);
}

/** Start of the clipped window along one axis. */
@inline export function winLo(o: i32, s: i32, p: i32): i32 {
  return max(o * s - p, 0);
}

@inline export function winHi(o: i32, s: i32, p: i32, k: i32, size: i32): i32 {
  return min(o * s - p + k, size);
}

/** Divisor span along one axis with count_include_pad: the window clipped to the padded input. */
@inline export function padSpan(o: i32, s: i32, p: i32, k: i32, size: i32): i32 {
  const a = o * s - p;
  return min(a + k, size + p) - a;
}

/**
 * Max over the windows of one output row into acc [OW, C] (channels [cs, ce) bytes): input rows
 * h0..h1-1 of the image at xImg, taps in window order.
 */
export function maxRow(xImg: usize, acc: usize, h0: i32, h1: i32, W: i32, cb: usize, OW: i32, kw: i32, sw: i32, pw: i32, cs: usize, ce: usize): void {
  const wb = <usize>W * cb;
  for (let i = h0; i < h1; i++) {
    const xr = xImg + <usize>i * wb;
    for (let ow = 0; ow < OW; ow++) {
      let j = winLo(ow, sw, pw);
      const w1 = winHi(ow, sw, pw, kw, W);
      const a = acc + <usize>ow * cb;
      if (i == h0) {
        copyRow(a + cs, xr + <usize>j * cb + cs, ce - cs);
        j++;
      }
      for (; j < w1; j++) maxInto(a, xr + <usize>j * cb, cs, ce);
    }
  }
}

/** Sum over the windows of one output row into acc [OW, C], taps in window order. */
export function sumRow(xImg: usize, acc: usize, h0: i32, h1: i32, W: i32, cb: usize, OW: i32, kw: i32, sw: i32, pw: i32, cs: usize, ce: usize): void {
  const wb = <usize>W * cb;
  for (let i = h0; i < h1; i++) {
    const xr = xImg + <usize>i * wb;
    for (let ow = 0; ow < OW; ow++) {
      const w0 = winLo(ow, sw, pw);
      const w1 = winHi(ow, sw, pw, kw, W);
      const a = acc + <usize>ow * cb;
      for (let j = w0; j < w1; j++) addInto(a, xr + <usize>j * cb, cs, ce, i == h0 && j == w0);
    }
  }
}

/** Zeroes channels [c0, c1) of every row of image n (P rows of C). */
export function zeroSlice(dx: usize, n: i32, P: i32, C: i32, c0: i32, c1: i32): void {
  const cb = off(C);
  const img = dx + <usize>n * <usize>P * cb;
  if (c0 == 0 && c1 == C) {
    memory.fill(img, 0, <usize>P * cb);
    return;
  }
  const wb = off(c1 - c0);
  let p = img + off(c0);
  for (let r = 0; r < P; r++, p += cb) memory.fill(p, 0, wb);
}

