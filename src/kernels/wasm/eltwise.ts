// Memory-bound kernels over NHWC activations: batch norm (statistics, normalize [+ReLU],
// backward reduce and data), ReLU, add, mul, channel-slice copies (concat), NHWC<->NCHW layout,
// max / average / global average pooling, and the SGD update.
//
// Conventions (as every kernel module): pointers are byte offsets into the shared arena; each
// kernel does the work range [start, end) it is given (rows, elements, output pixels or
// (image, channel group) units, as documented per kernel) and knows nothing of threads;
// `scratch` is the calling thread's private scratch region (4 MiB).
//
// An NHWC tensor is M = N*H*W rows of C contiguous channels. Per-channel kernels vectorise the
// flat element stream: with L = lcm(C, 4) the stream is periodic in L (R = L / C rows), so
// per-channel coefficients tiled to L floats line up with every 4-float vector of a group of
// R rows. Rows that do not fill a whole group (at most R - 1 per range) run scalar.

import { fma, reluv, relus, lo64, hi64, off, copyRow } from './common/simd';
import { actv, actGradv, acts, sigmoidv, loadTail, storeTail } from './common/act';
import { ACT_NONE, ACT_RELU, ACT_RELU6, ACT_SILU, ACT_HARDSWISH } from '../abi/conv_descriptor';
import { maxStep, maxStepS, maxInto, addInto, divInto, winLo, winHi, padSpan, maxRow, sumRow, zeroSlice } from './common/pool';

@inline function period(C: i32): i32 {
  return (C & 3) == 0 ? C : (C & 1) == 0 ? C << 1 : C << 2;
}


/** v -> [f64(v0), f64(v1)] and [f64(v2), f64(v3)] added into the two f64x2 at p. */
@inline function addPromoted(p: usize, v: v128): void {
  v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
  v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3))), 16);
}

/**
 * Row groups per stream per f32 block of the reductions: each f32 accumulator sums 16 values
 * (4 streams x QUADS), then the block is added into f64 accumulators.
 */
const QUADS: i32 = 4;

/** Promotes the f32 accumulator pairs (s, q interleaved per vector) into f64 sums and zeroes them. */
function flushAcc(acc: usize, s64: usize, q64: usize, gb: usize): void {
  const z = f32x4.splat(0);
  for (let j: usize = 0; j < gb; j += 16) {
    const a = acc + (j << 1);
    addPromoted(s64 + (j << 1), v128.load(a));
    addPromoted(q64 + (j << 1), v128.load(a, 16));
    v128.store(a, z);
    v128.store(a, z, 16);
  }
}

/** Folds the per-slot f64 sums (L slots, slot j is channel j % C) into per-channel outputs. */
function foldSlots(o1: usize, o2: usize, s64: usize, q64: usize, C: i32, R: i32): void {
  for (let c = 0; c < C; c++) {
    let a: f64 = 0;
    let q: f64 = 0;
    for (let k = 0; k < R; k++) {
      a += f64.load(s64 + (<usize>(c + k * C) << 3));
      q += f64.load(q64 + (<usize>(c + k * C) << 3));
    }
    f64.store(o1 + (<usize>c << 3), a);
    f64.store(o2 + (<usize>c << 3), q);
  }
}

// ---------------------------------------------------------------------------------------------
// Batch norm
//
// The reductions read their range as four sequential streams, the four quarters of the range's
// row groups (of x; of dy and x), in lockstep into one set of accumulators: that divides the
// accumulator loads and stores per element by four, and streams far apart keep the hardware
// prefetchers at full speed (rows of one page read in lockstep do not).

/**
 * Per-channel shifted sums over rows [start, end) of x [M, C]: writes to scratch
 * f64 S1[C] = sum(x - K) and f64 S2[C] = sum((x - K)^2), K[c] = shift[c] (f32 [C]).
 * Uses scratch bytes: 16*C + 28*L (L = lcm(C, 4) <= 4*C).
 */
export function bn_stats(x: usize, C: i32, shift: usize, start: i32, end: i32, scratch: usize): void {
  const L = period(C);
  const R = L / C;
  const o1 = scratch;
  const o2 = o1 + (<usize>C << 3);
  const kp = o2 + (<usize>C << 3);
  const acc = kp + off(L);
  const s64 = acc + off(L << 1);
  const q64 = s64 + (<usize>L << 3);
  for (let j = 0; j < L; j++) f32.store(kp + off(j), f32.load(shift + off(j % C)));
  memory.fill(acc, 0, <usize>L << 3);
  memory.fill(s64, 0, <usize>L << 4);
  const groups = (end - start) / R;
  const qn = groups >> 2;
  const gb = off(L);
  const qb = <usize>qn * gb;
  let p0 = x + off(start) * <usize>C;
  for (let g = 0; g < qn; g += QUADS) {
    const nb = min(QUADS, qn - g);
    for (let b = 0; b < nb; b++, p0 += gb) {
      const p1 = p0 + qb;
      const p2 = p1 + qb;
      const p3 = p2 + qb;
      let j: usize = 0;
      for (; j + 32 <= gb; j += 32) {
        const a = acc + (j << 1);
        const k = v128.load(kp + j);
        const d0 = f32x4.sub(v128.load(p0 + j), k);
        const d1 = f32x4.sub(v128.load(p1 + j), k);
        const d2 = f32x4.sub(v128.load(p2 + j), k);
        const d3 = f32x4.sub(v128.load(p3 + j), k);
        const k1 = v128.load(kp + j, 16);
        const e0 = f32x4.sub(v128.load(p0 + j, 16), k1);
        const e1 = f32x4.sub(v128.load(p1 + j, 16), k1);
        const e2 = f32x4.sub(v128.load(p2 + j, 16), k1);
        const e3 = f32x4.sub(v128.load(p3 + j, 16), k1);
        v128.store(a, f32x4.add(v128.load(a), f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3))));
        v128.store(a, fma(d0, d0, fma(d1, d1, fma(d2, d2, fma(d3, d3, v128.load(a, 16))))), 16);
        v128.store(a, f32x4.add(v128.load(a, 32), f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3))), 32);
        v128.store(a, fma(e0, e0, fma(e1, e1, fma(e2, e2, fma(e3, e3, v128.load(a, 48))))), 48);
      }
      if (j < gb) {
        const a = acc + (j << 1);
        const k = v128.load(kp + j);
        const d0 = f32x4.sub(v128.load(p0 + j), k);
        const d1 = f32x4.sub(v128.load(p1 + j), k);
        const d2 = f32x4.sub(v128.load(p2 + j), k);
        const d3 = f32x4.sub(v128.load(p3 + j), k);
        v128.store(a, f32x4.add(v128.load(a), f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3))));
        v128.store(a, fma(d0, d0, fma(d1, d1, fma(d2, d2, fma(d3, d3, v128.load(a, 16))))), 16);
      }
    }
    flushAcc(acc, s64, q64, gb);
  }
  let p = x + off(start) * <usize>C + (qb << 2);
  for (let g = qn << 2; g < groups; g++, p += gb) {
    for (let j: usize = 0; j < gb; j += 16) {
      const a = acc + (j << 1);
      const d = f32x4.sub(v128.load(p + j), v128.load(kp + j));
      v128.store(a, f32x4.add(v128.load(a), d));
      v128.store(a, fma(d, d, v128.load(a, 16)), 16);
    }
  }
  flushAcc(acc, s64, q64, gb);
  for (let r = start + groups * R; r < end; r++) {
    for (let c = 0; c < C; c++) {
      const d = <f64>(f32.load(x + off(r) * <usize>C + off(c)) - f32.load(kp + off(c)));
      f64.store(s64 + (<usize>c << 3), f64.load(s64 + (<usize>c << 3)) + d);
      f64.store(q64 + (<usize>c << 3), f64.load(q64 + (<usize>c << 3)) + d * d);
    }
  }
  foldSlots(o1, o2, s64, q64, C, R);
}

/**
 * y = act(a[c]*x + b[c]) over rows [start, end), a = gamma*rstd, b = beta - a*mean (computed in
 * f64, rounded to f32); act is an ACT_* code (common/act.ts; ACT_RELU: max(0, .), NaN
 * propagating). y may alias x.
 */
export function bn_normalize(x: usize, y: usize, C: i32, gamma: usize, beta: usize, mean: usize, rstd: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  const L = period(C);
  const R = L / C;
  const ap = scratch;
  const bp = ap + off(L);
  for (let c = 0; c < C; c++) {
    const a = <f64>f32.load(gamma + off(c)) * <f64>f32.load(rstd + off(c));
    f32.store(ap + off(c), <f32>a);
    f32.store(bp + off(c), <f32>(<f64>f32.load(beta + off(c)) - a * <f64>f32.load(mean + off(c))));
  }
  for (let j = C; j < L; j++) {
    f32.store(ap + off(j), f32.load(ap + off(j - C)));
    f32.store(bp + off(j), f32.load(bp + off(j - C)));
  }
  const groups = (end - start) / R;
  const gb = off(L);
  const base = off(start) * <usize>C;
  let px = x + base;
  let py = y + base;
  const pe = px + <usize>groups * gb;
  if (act > ACT_RELU) {
    if (act == ACT_RELU6) normAct(ACT_RELU6, px, py, pe, gb, ap, bp);
    else if (act == ACT_SILU) normAct(ACT_SILU, px, py, pe, gb, ap, bp);
    else normAct(ACT_HARDSWISH, px, py, pe, gb, ap, bp);
  } else if ((gb & 63) == 0) {
    if (act == ACT_RELU) {
      for (; px < pe; px += gb, py += gb) {
        for (let j: usize = 0; j < gb; j += 64) {
          const v0 = fma(v128.load(px + j), v128.load(ap + j), v128.load(bp + j));
          const v1 = fma(v128.load(px + j, 16), v128.load(ap + j, 16), v128.load(bp + j, 16));
          const v2 = fma(v128.load(px + j, 32), v128.load(ap + j, 32), v128.load(bp + j, 32));
          const v3 = fma(v128.load(px + j, 48), v128.load(ap + j, 48), v128.load(bp + j, 48));
          v128.store(py + j, reluv(v0));
          v128.store(py + j, reluv(v1), 16);
          v128.store(py + j, reluv(v2), 32);
          v128.store(py + j, reluv(v3), 48);
        }
      }
    } else {
      for (; px < pe; px += gb, py += gb) {
        for (let j: usize = 0; j < gb; j += 64) {
          const v0 = fma(v128.load(px + j), v128.load(ap + j), v128.load(bp + j));
          const v1 = fma(v128.load(px + j, 16), v128.load(ap + j, 16), v128.load(bp + j, 16));
          const v2 = fma(v128.load(px + j, 32), v128.load(ap + j, 32), v128.load(bp + j, 32));
          const v3 = fma(v128.load(px + j, 48), v128.load(ap + j, 48), v128.load(bp + j, 48));
          v128.store(py + j, v0);
          v128.store(py + j, v1, 16);
          v128.store(py + j, v2, 32);
          v128.store(py + j, v3, 48);
        }
      }
    }
  } else {
    for (; px < pe; px += gb, py += gb) {
      for (let j: usize = 0; j < gb; j += 16) {
        const v = fma(v128.load(px + j), v128.load(ap + j), v128.load(bp + j));
        v128.store(py + j, act == ACT_RELU ? reluv(v) : v);
      }
    }
  }
  for (let r = start + groups * R; r < end; r++) {
    for (let c = 0; c < C; c++) {
      const o = off(r) * <usize>C + off(c);
      const v = <f32>(<f64>f32.load(ap + off(c)) * <f64>f32.load(x + o) + <f64>f32.load(bp + off(c)));
      f32.store(y + o, act == ACT_RELU ? relus(v) : act == ACT_NONE ? v : acts(act, v));
    }
  }
}

/** bn_normalize's whole row groups with an activation past ReLU (a constant code: one loop per activation). */
@inline function normAct(code: i32, px: usize, py: usize, pe: usize, gb: usize, ap: usize, bp: usize): void {
  for (; px < pe; px += gb, py += gb) {
    for (let j: usize = 0; j < gb; j += 16) v128.store(py + j, actv(code, fma(v128.load(px + j), v128.load(ap + j), v128.load(bp + j))));
  }
}

/**
 * Backward reduce partials over rows [start, end): writes to scratch f64 Sdy[C] = sum(dy) and
 * f64 Sdyx[C] = sum(dy * (x - mean)). Streams and f32 blocks as bn_stats.
 * Uses scratch bytes: 16*C + 28*L.
 */
export function bn_backward_reduce(dy: usize, x: usize, C: i32, mean: usize, start: i32, end: i32, scratch: usize): void {
  backwardReduce(-1, false, dy, x, C, mean, 0, 0, 0, 0, start, end, scratch);
}

/**
 * The activation's backward and the BN's backward reduce in one pass: dz = dy * act'(z) with
 * z = a*x + b (a != 0: the derivative recomputed from the BN input x, as bnf_relu_mask) or z = s
 * (a = 0: ReLU's and ReLU6's mask read from their stored output s), stored to dz (which may be
 * dy), and reduced as bn_backward_reduce reduces dy: the same sums, in the same order, as
 * bnf_relu_mask or the activation's backward followed by bn_backward_reduce (z by a fused
 * multiply-add on every channel). act: an ACT_* code. Uses scratch bytes: 16*C + 36*L.
 */
export function bn_backward_reduce_act(dy: usize, x: usize, C: i32, mean: usize, s: usize, a: usize, b: usize, act: i32, dz: usize, start: i32, end: i32, scratch: usize): void {
  if (a) {
    if (act == ACT_RELU) backwardReduce(ACT_RELU, true, dy, x, C, mean, s, a, b, dz, start, end, scratch);
    else if (act == ACT_RELU6) backwardReduce(ACT_RELU6, true, dy, x, C, mean, s, a, b, dz, start, end, scratch);
    else if (act == ACT_SILU) backwardReduce(ACT_SILU, true, dy, x, C, mean, s, a, b, dz, start, end, scratch);
    else if (act == ACT_HARDSWISH) backwardReduce(ACT_HARDSWISH, true, dy, x, C, mean, s, a, b, dz, start, end, scratch);
    else backwardReduce(ACT_NONE, true, dy, x, C, mean, s, a, b, dz, start, end, scratch);
  } else if (act == ACT_RELU6) backwardReduce(ACT_RELU6, false, dy, x, C, mean, s, a, b, dz, start, end, scratch);
  else backwardReduce(ACT_RELU, false, dy, x, C, mean, s, a, b, dz, start, end, scratch);
}

/**
 * bn_backward_reduce (code < 0) and bn_backward_reduce_act (code an ACT_* code; aff: z = a*x + b,
 * else z = s) over rows [start, end); a constant code and aff give one loop per case.
 */
@inline function backwardReduce(code: i32, aff: bool, dy: usize, x: usize, C: i32, mean: usize, s: usize, a: usize, b: usize, dz: usize, start: i32, end: i32, scratch: usize): void {
  const L = period(C);
  const R = L / C;
  const o1 = scratch;
  const o2 = o1 + (<usize>C << 3);
  const mp = o2 + (<usize>C << 3);
  const acc = mp + off(L);
  const s64 = acc + off(L << 1);
  const q64 = s64 + (<usize>L << 3);
  const ap = q64 + (<usize>L << 3);
  const bp = ap + off(L);
  for (let j = 0; j < L; j++) f32.store(mp + off(j), f32.load(mean + off(j % C)));
  if (aff) {
    for (let j = 0; j < L; j++) {
      f32.store(ap + off(j), f32.load(a + off(j % C)));
      f32.store(bp + off(j), f32.load(b + off(j % C)));
    }
  }
  memory.fill(acc, 0, <usize>L << 3);
  memory.fill(s64, 0, <usize>L << 4);
  const groups = (end - start) / R;
  const qn = groups >> 2;
  const gb = off(L);
  const qb = <usize>qn * gb;
  const base = off(start) * <usize>C;
  // dz - dy and s - x: the gradient's and the mask source's streams, relative to dy's and x's
  const zo = dz - dy;
  const so = s - x;
  let g0 = dy + base;
  let x0 = x + base;
  // with an activation, each group's dz is computed and stored first (four streams), then
  // reduced from there (in L1) as dy would be: fewer live vectors than both in one loop
  const rg = code >= 0 ? zo : 0;
  for (let g = 0; g < qn; g += QUADS) {
    const nb = min(QUADS, qn - g);
    for (let b = 0; b < nb; b++, g0 += gb, x0 += gb) {
      if (code >= 0) {
        for (let q: usize = 0; q < 4; q++) {
          const o = q * qb;
          for (let j: usize = 0; j < gb; j += 16) v128.store(g0 + zo + o + j, gradAt(code, aff, v128.load(g0 + o + j), v128.load(x0 + o + j), aff ? ap + j : x0 + so + o + j, bp + j));
        }
      }
      const r0 = g0 + rg;
      for (let j: usize = 0; j < gb; j += 16) {
        const a = acc + (j << 1);
        const k = v128.load(mp + j);
        const d0 = v128.load(r0 + j);
        const d1 = v128.load(r0 + qb + j);
        const d2 = v128.load(r0 + 2 * qb + j);
        const d3 = v128.load(r0 + 3 * qb + j);
        const u0 = f32x4.sub(v128.load(x0 + j), k);
        const u1 = f32x4.sub(v128.load(x0 + qb + j), k);
        const u2 = f32x4.sub(v128.load(x0 + 2 * qb + j), k);
        const u3 = f32x4.sub(v128.load(x0 + 3 * qb + j), k);
        v128.store(a, f32x4.add(v128.load(a), f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3))));
        v128.store(a, fma(d0, u0, fma(d1, u1, fma(d2, u2, fma(d3, u3, v128.load(a, 16))))), 16);
      }
    }
    flushAcc(acc, s64, q64, gb);
  }
  let pg = dy + base + (qb << 2);
  let px = x + base + (qb << 2);
  for (let g = qn << 2; g < groups; g++, pg += gb, px += gb) {
    for (let j: usize = 0; j < gb; j += 16) {
      const a = acc + (j << 1);
      const xv = v128.load(px + j);
      let d = v128.load(pg + j);
      if (code >= 0) {
        d = gradAt(code, aff, d, xv, aff ? ap + j : px + so + j, bp + j);
        v128.store(pg + zo + j, d);
      }
      v128.store(a, f32x4.add(v128.load(a), d));
      v128.store(a, fma(d, f32x4.sub(xv, v128.load(mp + j)), v128.load(a, 16)), 16);
    }
  }
  flushAcc(acc, s64, q64, gb);
  for (let r = start + groups * R; r < end; r++) {
    for (let c = 0; c < C; c++) {
      const o = off(r) * <usize>C + off(c);
      let df = f32.load(dy + o);
      if (code >= 0) {
        const p = aff ? f32x4.splat(f32.load(a + off(c))) : f32x4.splat(f32.load(s + o));
        df = f32x4.extract_lane(gradOf(code, aff, f32x4.splat(df), f32x4.splat(f32.load(x + o)), p, aff ? f32x4.splat(f32.load(b + off(c))) : p), 0);
        f32.store(dz + o, df);
      }
      const d = <f64>df;
      const xc = <f64>(f32.load(x + o) - f32.load(mp + off(c)));
      f64.store(s64 + (<usize>c << 3), f64.load(s64 + (<usize>c << 3)) + d);
      f64.store(q64 + (<usize>c << 3), f64.load(q64 + (<usize>c << 3)) + d * xc);
    }
  }
  foldSlots(o1, o2, s64, q64, C, R);
}

/**
 * dy * act'(z) for bn_backward_reduce_act: z = fma(x, p, q) (aff: p, q the coefficients a, b)
 * or z = p (the stored source s).
 */
@inline function gradOf(code: i32, aff: bool, dy: v128, xv: v128, p: v128, q: v128): v128 {
  return actGradv(code, aff ? fma(xv, p, q) : p, dy);
}

/** gradOf with p loaded from pp (a's or s's vector) and, with aff, q from bp (b's). */
@inline function gradAt(code: i32, aff: bool, dy: v128, xv: v128, pp: usize, bp: usize): v128 {
  const p = v128.load(pp);
  return gradOf(code, aff, dy, xv, p, aff ? v128.load(bp) : p);
}

/** BN dx = A*dy + B*x + C0: per channel A, B, C0 (in f64, rounded to f32) at ap, bp, cp. */
@inline function dxCoefficients(C: i32, mean: usize, rstd: usize, gamma: usize, dbeta: usize, dgamma: usize, m: f64, ap: usize, bp: usize, cp: usize): void {
  for (let c = 0; c < C; c++) {
    const r = <f64>f32.load(rstd + off(c));
    const A = <f64>f32.load(gamma + off(c)) * r;
    const B = (-A * r * <f64>f32.load(dgamma + off(c))) / m;
    const C0 = (-A * <f64>f32.load(dbeta + off(c))) / m - B * <f64>f32.load(mean + off(c));
    f32.store(ap + off(c), <f32>A);
    f32.store(bp + off(c), <f32>B);
    f32.store(cp + off(c), <f32>C0);
  }
}

/**
 * dx = A*dy + B*x + C0 per channel over rows [start, end), with (in f64, rounded to f32)
 * A = gamma*rstd, B = -A*rstd*dgamma/m, C0 = -A*dbeta/m - B*mean. dx may alias dy or x.
 */
export function bn_backward_data(dy: usize, x: usize, dx: usize, C: i32, mean: usize, rstd: usize, gamma: usize, dbeta: usize, dgamma: usize, m: f64, start: i32, end: i32, scratch: usize): void {
  const L = period(C);
  const R = L / C;
  const ap = scratch;
  const bp = ap + off(L);
  const cp = bp + off(L);
  dxCoefficients(C, mean, rstd, gamma, dbeta, dgamma, m, ap, bp, cp);
  for (let j = C; j < L; j++) {
    f32.store(ap + off(j), f32.load(ap + off(j - C)));
    f32.store(bp + off(j), f32.load(bp + off(j - C)));
    f32.store(cp + off(j), f32.load(cp + off(j - C)));
  }
  const groups = (end - start) / R;
  const gb = off(L);
  const base = off(start) * <usize>C;
  let pg = dy + base;
  let px = x + base;
  let pd = dx + base;
  const pe = pg + <usize>groups * gb;
  if ((gb & 31) == 0) {
    for (; pg < pe; pg += gb, px += gb, pd += gb) {
      for (let j: usize = 0; j < gb; j += 32) {
        const v0 = fma(v128.load(ap + j), v128.load(pg + j), fma(v128.load(bp + j), v128.load(px + j), v128.load(cp + j)));
        const v1 = fma(v128.load(ap + j, 16), v128.load(pg + j, 16), fma(v128.load(bp + j, 16), v128.load(px + j, 16), v128.load(cp + j, 16)));
        v128.store(pd + j, v0);
        v128.store(pd + j, v1, 16);
      }
    }
  } else {
    for (; pg < pe; pg += gb, px += gb, pd += gb) {
      for (let j: usize = 0; j < gb; j += 16) {
        v128.store(pd + j, fma(v128.load(ap + j), v128.load(pg + j), fma(v128.load(bp + j), v128.load(px + j), v128.load(cp + j))));
      }
    }
  }
  for (let r = start + groups * R; r < end; r++) {
    for (let c = 0; c < C; c++) {
      const o = off(r) * <usize>C + off(c);
      const v = <f64>f32.load(ap + off(c)) * <f64>f32.load(dy + o) + <f64>f32.load(bp + off(c)) * <f64>f32.load(x + o) + <f64>f32.load(cp + off(c));
      f32.store(dx + o, <f32>v);
    }
  }
}

/**
 * bn_backward_data added in place into the leading C channels of rows of LD floats:
 * G[r][c] += A*dy[r][c] + B*x[r][c] + C0 (dy: rows of C floats; x: rows of LX floats, of which
 * the leading C), rows [start, end). The coefficients are bn_backward_data's; the sum is rounded
 * as dx then G + dx were.
 */
export function bn_backward_data_acc(dy: usize, x: usize, G: usize, C: i32, LD: i32, LX: i32, mean: usize, rstd: usize, gamma: usize, dbeta: usize, dgamma: usize, m: f64, start: i32, end: i32, scratch: usize): void {
  const ap = scratch;
  const bp = ap + off(C + 4);
  const cp = bp + off(C + 4);
  dxCoefficients(C, mean, rstd, gamma, dbeta, dgamma, m, ap, bp, cp);
  const cv = off(C & ~3);
  for (let r = start; r < end; r++) {
    const pg = dy + off(r) * <usize>C;
    const px = x + off(r) * <usize>LX;
    const pG = G + off(r) * <usize>LD;
    let j: usize = 0;
    for (; j < cv; j += 16) {
      const d = fma(v128.load(ap + j), v128.load(pg + j), fma(v128.load(bp + j), v128.load(px + j), v128.load(cp + j)));
      v128.store(pG + j, f32x4.add(v128.load(pG + j), d));
    }
    for (; j < off(C); j += 4) {
      const v = <f32>(<f64>f32.load(ap + j) * <f64>f32.load(pg + j) + <f64>f32.load(bp + j) * <f64>f32.load(px + j) + <f64>f32.load(cp + j));
      f32.store(pG + j, f32.load(pG + j) + v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise: ranges are element indices; any range works, 16-element aligned starts are best.

/** y = max(0, x), NaN propagating, -0 -> +0. y may alias x. */
export function relu_forward(x: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const o = off(i);
    const v0 = v128.load(x + o);
    const v1 = v128.load(x + o, 16);
    const v2 = v128.load(x + o, 32);
    const v3 = v128.load(x + o, 48);
    v128.store(y + o, reluv(v0));
    v128.store(y + o, reluv(v1), 16);
    v128.store(y + o, reluv(v2), 32);
    v128.store(y + o, reluv(v3), 48);
  }
  for (; i + 4 <= end; i += 4) v128.store(y + off(i), reluv(v128.load(x + off(i))));
  for (; i < end; i++) f32.store(y + off(i), relus(f32.load(x + off(i))));
}

@inline function reluBackv(d: v128, y: v128): v128 {
  return v128.andnot(d, f32x4.le(y, f32x4.splat(0)));
}

/** dx = 0 where y <= 0, else dy (NaN y passes dy). dx may alias dy. */
export function relu_backward(dy: usize, y: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const o = off(i);
    const r0 = reluBackv(v128.load(dy + o), v128.load(y + o));
    const r1 = reluBackv(v128.load(dy + o, 16), v128.load(y + o, 16));
    const r2 = reluBackv(v128.load(dy + o, 32), v128.load(y + o, 32));
    const r3 = reluBackv(v128.load(dy + o, 48), v128.load(y + o, 48));
    v128.store(dx + o, r0);
    v128.store(dx + o, r1, 16);
    v128.store(dx + o, r2, 32);
    v128.store(dx + o, r3, 48);
  }
  for (; i + 4 <= end; i += 4) v128.store(dx + off(i), reluBackv(v128.load(dy + off(i)), v128.load(y + off(i))));
  for (; i < end; i++) f32.store(dx + off(i), f32.load(y + off(i)) <= 0 ? 0 : f32.load(dy + off(i)));
}

// The lean CNNs' activations (common/act.ts): every element, the tail included, goes through
// the vector formulas, so a value does not depend on where a range starts or ends.

@inline function actMap(code: i32, x: usize, y: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(y + off(i), actv(code, v128.load(x + off(i))));
  if (i < end) storeTail(y + off(i), actv(code, loadTail(x + off(i), end - i)), end - i);
}

@inline function actGradMap(code: i32, dy: usize, z: usize, dx: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(dx + off(i), actGradv(code, v128.load(z + off(i)), v128.load(dy + off(i))));
  if (i < end) storeTail(dx + off(i), actGradv(code, loadTail(z + off(i), end - i), loadTail(dy + off(i), end - i)), end - i);
}

/** y = min(max(x, 0), 6), NaN propagating, -0 -> +0. y may alias x. */
export function relu6_forward(x: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  actMap(ACT_RELU6, x, y, start, end);
}

/** dx = dy where 0 < y < 6 (or y is NaN), else 0 (PyTorch's hardtanh_backward). dx may alias dy. */
export function relu6_backward(dy: usize, y: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  actGradMap(ACT_RELU6, dy, y, dx, start, end);
}

/** y = x * sigmoid(x). y may alias x. */
export function silu_forward(x: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  actMap(ACT_SILU, x, y, start, end);
}

/** dx = (dy * s) * (1 + x * (1 - s)), s = sigmoid(x). dx may alias dy. */
export function silu_backward(dy: usize, x: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  actGradMap(ACT_SILU, dy, x, dx, start, end);
}

/** y = (x * relu6(x + 3)) / 6. y may alias x. */
export function hardswish_forward(x: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  actMap(ACT_HARDSWISH, x, y, start, end);
}

/** dx = 0 where x < -3, dy * (x / 3 + 0.5) where x <= 3, else dy. dx may alias dy. */
export function hardswish_backward(dy: usize, x: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  actGradMap(ACT_HARDSWISH, dy, x, dx, start, end);
}

/** y = 1 / (1 + e^-x) (e^x / (1 + e^x) for x < 0). y may alias x. */
export function sigmoid_forward(x: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(y + off(i), sigmoidv(v128.load(x + off(i))));
  if (i < end) storeTail(y + off(i), sigmoidv(loadTail(x + off(i), end - i)), end - i);
}

@inline function sigmoidBackv(dy: v128, y: v128): v128 {
  return f32x4.mul(f32x4.mul(dy, y), f32x4.sub(f32x4.splat(1), y));
}

/** dx = (dy * y) * (1 - y). dx may alias dy. */
export function sigmoid_backward(dy: usize, y: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(dx + off(i), sigmoidBackv(v128.load(dy + off(i)), v128.load(y + off(i))));
  if (i < end) storeTail(dx + off(i), sigmoidBackv(loadTail(dy + off(i), end - i), loadTail(y + off(i), end - i)), end - i);
}

/**
 * y[r][c] = x[r][c] * s[n][c], n = r / HW: squeeze-excitation's excitation over NHWC rows
 * [start, end) of N*HW rows of C channels, s [N, C]. Also its backward-data (dy for x). y may alias x.
 */
export function channel_scale_forward(x: usize, s: usize, y: usize, C: i32, HW: i32, start: i32, end: i32, scratch: usize): void {
  const rb = off(C);
  const vb = off(C & ~3);
  for (let r = start; r < end; r++) {
    const ps = s + <usize>(r / HW) * rb;
    const px = x + <usize>r * rb;
    const py = y + <usize>r * rb;
    let j: usize = 0;
    for (; j < vb; j += 16) v128.store(py + j, f32x4.mul(v128.load(px + j), v128.load(ps + j)));
    for (; j < rb; j += 4) f32.store(py + j, f32.load(px + j) * f32.load(ps + j));
  }
}

/**
 * ds[n][c] = sum over the HW pixels of sample n of f32(dy * x), summed in f64 in pixel order:
 * channel_scale's scale gradient, samples [start, end). Scratch: 8*C bytes.
 */
export function channel_scale_backward_scale(dy: usize, x: usize, ds: usize, C: i32, HW: i32, start: i32, end: i32, scratch: usize): void {
  const rb = off(C);
  const vb = off(C & ~3);
  const z = f64x2.splat(0);
  for (let n = start; n < end; n++) {
    for (let j: usize = 0; j < <usize>C << 3; j += 16) v128.store(scratch + j, z);
    for (let p = 0; p < HW; p++) {
      const o = <usize>(n * HW + p) * rb;
      let j: usize = 0;
      for (; j < vb; j += 16) {
        const v = f32x4.mul(v128.load(dy + o + j), v128.load(x + o + j));
        const a = scratch + (j << 1);
        v128.store(a, f64x2.add(v128.load(a), lo64(v)));
        v128.store(a, f64x2.add(v128.load(a, 16), hi64(v)), 16);
      }
      for (; j < rb; j += 4) {
        const a = scratch + (j << 1);
        f64.store(a, f64.load(a) + <f64>(f32.load(dy + o + j) * f32.load(x + o + j)));
      }
    }
    for (let c = 0; c < C; c++) f32.store(ds + (<usize>(n * C + c) << 2), <f32>f64.load(scratch + (<usize>c << 3)));
  }
}

/**
 * y[i] = x[i] * m[i / per] over elements [start, end): stochastic depth's per-sample scale (a
 * sample is `per` contiguous floats in NHWC as in NCHW); its backward is the same with dy for x.
 * y may alias x.
 */
export function stochastic_depth_forward(x: usize, m: usize, y: usize, per: i32, start: i32, end: i32, scratch: usize): void {
  let i = start;
  while (i < end) {
    const n = i / per;
    const stop = min(end, (n + 1) * per);
    const sv = f32.load(m + off(n));
    const s = f32x4.splat(sv);
    for (; i + 4 <= stop; i += 4) v128.store(y + off(i), f32x4.mul(v128.load(x + off(i)), s));
    for (; i < stop; i++) f32.store(y + off(i), f32.load(x + off(i)) * sv);
  }
}

/** y = a + b. y may alias a or b. */
export function add_forward(a: usize, b: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const o = off(i);
    const r0 = f32x4.add(v128.load(a + o), v128.load(b + o));
    const r1 = f32x4.add(v128.load(a + o, 16), v128.load(b + o, 16));
    const r2 = f32x4.add(v128.load(a + o, 32), v128.load(b + o, 32));
    const r3 = f32x4.add(v128.load(a + o, 48), v128.load(b + o, 48));
    v128.store(y + o, r0);
    v128.store(y + o, r1, 16);
    v128.store(y + o, r2, 32);
    v128.store(y + o, r3, 48);
  }
  for (; i + 4 <= end; i += 4) v128.store(y + off(i), f32x4.add(v128.load(a + off(i)), v128.load(b + off(i))));
  for (; i < end; i++) f32.store(y + off(i), f32.load(a + off(i)) + f32.load(b + off(i)));
}

/** y = a * b (dropout backward: dy * mask). y may alias a or b. */
export function mul_forward(a: usize, b: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const o = off(i);
    const r0 = f32x4.mul(v128.load(a + o), v128.load(b + o));
    const r1 = f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16));
    const r2 = f32x4.mul(v128.load(a + o, 32), v128.load(b + o, 32));
    const r3 = f32x4.mul(v128.load(a + o, 48), v128.load(b + o, 48));
    v128.store(y + o, r0);
    v128.store(y + o, r1, 16);
    v128.store(y + o, r2, 32);
    v128.store(y + o, r3, 48);
  }
  for (; i + 4 <= end; i += 4) v128.store(y + off(i), f32x4.mul(v128.load(a + off(i)), v128.load(b + off(i))));
  for (; i < end; i++) f32.store(y + off(i), f32.load(a + off(i)) * f32.load(b + off(i)));
}

/** dst[i] = v over [start, end). */
export function copy_fill(dst: usize, v: f32, start: i32, end: i32, scratch: usize): void {
  const s = f32x4.splat(v);
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const o = off(i);
    v128.store(dst + o, s);
    v128.store(dst + o, s, 16);
    v128.store(dst + o, s, 32);
    v128.store(dst + o, s, 48);
  }
  for (; i < end; i++) f32.store(dst + off(i), v);
}

// ---------------------------------------------------------------------------------------------
// Channel slices (concat forward / backward): rows [start, end).

/**
 * y[r][k] = g[r*LG + k] + B[k]*(x[r*LX + k] - K[k]) + C0[k] for k < C, rows [start, end): a
 * channel slice of a gradient buffer with the summed affine half of its BNs' dx (op
 * slice_channels_affine; g, x, B, C0, K already offset to the slice's first channel).
 */
export function slice_affine(g: usize, LG: i32, x: usize, LX: i32, y: usize, C: i32, b: usize, c0: usize, k: usize, start: i32, end: i32, scratch: usize): void {
  const gb = off(LG), xb = off(LX), yb = off(C), vb = off(C & ~3);
  let pg = g + off(start) * <usize>LG, px = x + off(start) * <usize>LX, py = y + off(start) * <usize>C;
  for (let r = start; r < end; r++, pg += gb, px += xb, py += yb) {
    let j: usize = 0;
    for (; j < vb; j += 16) {
      const t = fma(v128.load(b + j), f32x4.sub(v128.load(px + j), v128.load(k + j)), v128.load(c0 + j));
      v128.store(py + j, f32x4.add(v128.load(pg + j), t));
    }
    for (; j < yb; j += 4) {
      f32.store(py + j, f32.load(pg + j) + (f32.load(b + j) * (f32.load(px + j) - f32.load(k + j)) + f32.load(c0 + j)));
    }
  }
}

/**
 * dst[r][dstOff + k] = src[r][srcOff + k] for k < width, rows r in [start, end) of an
 * [M, srcC] and an [M, dstC] tensor. Concat forward: src = input, dstOff = its channel offset;
 * concat backward: dst = slice gradient, srcOff = its channel offset.
 */
export function copy_channels(src: usize, srcC: i32, srcOff: i32, dst: usize, dstC: i32, dstOff: i32, width: i32, start: i32, end: i32, scratch: usize): void {
  if (width == srcC && width == dstC) {
    copyRow(dst + off(start) * <usize>width, src + off(start) * <usize>width, off(end - start) * <usize>width);
    return;
  }
  const sb = off(srcC);
  const db = off(dstC);
  const wb = off(width);
  let ps = src + off(start) * <usize>srcC + off(srcOff);
  let pd = dst + off(start) * <usize>dstC + off(dstOff);
  if (width < 4) {
    for (let r = start; r < end; r++, ps += sb, pd += db) {
      for (let j: usize = 0; j < wb; j += 4) f32.store(pd + j, f32.load(ps + j));
    }
    return;
  }
  for (let r = start; r < end; r++, ps += sb, pd += db) {
    let j: usize = 0;
    for (; j + 64 <= wb; j += 64) {
      const v0 = v128.load(ps + j);
      const v1 = v128.load(ps + j, 16);
      const v2 = v128.load(ps + j, 32);
      const v3 = v128.load(ps + j, 48);
      v128.store(pd + j, v0);
      v128.store(pd + j, v1, 16);
      v128.store(pd + j, v2, 32);
      v128.store(pd + j, v3, 48);
    }
    for (; j + 16 <= wb; j += 16) v128.store(pd + j, v128.load(ps + j));
    // the last vector may overlap the previous one: still only this row's slice
    if (j < wb) v128.store(pd + wb - 16, v128.load(ps + wb - 16));
  }
}

/**
 * Concat along channels in one pass over the rows [start, end) of the wide tensor wide [M, Cw]:
 * toWide != 0: wide[r] = [x_0[r], x_1[r], ...] (concat forward); toWide == 0: x_i[r] = the
 * i-th channel slice of wide[r] (concat backward). The parts are a table of `parts` (pointer low
 * and high 32 bits, channels, 0) i32 quadruples at the start of scratch, in channel order (the
 * high half is for the native arena, which may exceed 4 GiB; 0 here). One pass keeps every stream
 * sequential: the wide tensor is read or written front to back, each part likewise.
 */
export function copy_concat(wide: usize, Cw: i32, parts: i32, toWide: i32, start: i32, end: i32, scratch: usize): void {
  const wb = off(Cw);
  let pw = wide + off(start) * <usize>Cw;
  for (let r = start; r < end; r++, pw += wb) {
    let o = pw;
    for (let i = 0; i < parts; i++) {
      const t = scratch + (<usize>i << 4); // part i: address (low, high 32 bits), channels
      const ci = i32.load(t, 8);
      const bytes = off(ci);
      const pp = <usize>i32.load(t) + off(r) * <usize>ci;
      if (toWide) copyRow(o, pp, bytes);
      else copyRow(pp, o, bytes);
      o += bytes;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Layout: NHWC [N, P, C] <-> NCHW [N, C, P] (P = H*W). Range: NHWC rows n*P + p.

@inline function transpose4(src0: usize, src1: usize, src2: usize, src3: usize, d0: usize, d1: usize, d2: usize, d3: usize): void {
  const r0 = v128.load(src0);
  const r1 = v128.load(src1);
  const r2 = v128.load(src2);
  const r3 = v128.load(src3);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(d0, v128.shuffle<i64>(t0, t2, 0, 2));
  v128.store(d1, v128.shuffle<i64>(t0, t2, 1, 3));
  v128.store(d2, v128.shuffle<i64>(t1, t3, 0, 2));
  v128.store(d3, v128.shuffle<i64>(t1, t3, 1, 3));
}

let sink: i32 = 0;
/** Pixels per block of the NHWC -> NCHW path. */
const LB: i32 = 32;

/** nchw[n][c][p] = nhwc[n][p][c] for NHWC rows [start, end). toNchw = 0 goes the other way. */
export function layout_convert(nhwc: usize, nchw: usize, P: i32, C: i32, toNchw: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  const pb = off(P);
  let r = start;
  while (r < end) {
    const n = r / P;
    const p0 = r - n * P;
    const p1 = min(end - n * P, P);
    const img = <usize>n * <usize>P * cb;
    const a = nhwc + img;
    const b = nchw + img;
    let p = p0;
    if (toNchw && C >= 4) {
      // blocks of LB pixels: first read the block (LB rows, contiguous) in address order, then
      // transpose it from L1/L2 and write LB*4 contiguous bytes per channel. (The other way,
      // reading LB*4 bytes of each channel, did not beat the plain 4-pixel loop below.)
      const blk = <usize>cb * <usize>LB;
      for (; p + LB <= p1; p += LB) {
        const row = a + <usize>p * cb;
        const col = b + off(p);
        let t = f32x4.splat(0);
        for (let q: usize = 0; q < blk; q += 64) t = v128.or(t, v128.load(row + q));
        sink ^= i32x4.extract_lane(t, 0);
        let c = 0;
        for (; c + 4 <= C; c += 4) {
          const d = col + <usize>c * pb;
          for (let k = 0; k < LB / 4; k++) {
            const s = row + (<usize>k << 2) * cb + off(c);
            const dk = d + off(k << 2);
            transpose4(s, s + cb, s + 2 * cb, s + 3 * cb, dk, dk + pb, dk + 2 * pb, dk + 3 * pb);
          }
        }
        for (; c < C; c++) {
          for (let k = 0; k < LB; k++) f32.store(col + <usize>c * pb + off(k), f32.load(row + <usize>k * cb + off(c)));
        }
      }
    }
    for (; p + 4 <= p1; p += 4) {
      const row = a + <usize>p * cb;
      const col = b + off(p);
      let c = 0;
      if (toNchw) {
        for (; c + 4 <= C; c += 4) {
          const s = row + off(c);
          const d = col + <usize>c * pb;
          transpose4(s, s + cb, s + 2 * cb, s + 3 * cb, d, d + pb, d + 2 * pb, d + 3 * pb);
        }
        for (; c < C; c++) {
          for (let k = 0; k < 4; k++) f32.store(col + <usize>c * pb + off(k), f32.load(row + <usize>k * cb + off(c)));
        }
      } else {
        for (; c + 4 <= C; c += 4) {
          const d = row + off(c);
          const s = col + <usize>c * pb;
          transpose4(s, s + pb, s + 2 * pb, s + 3 * pb, d, d + cb, d + 2 * cb, d + 3 * cb);
        }
        for (; c < C; c++) {
          for (let k = 0; k < 4; k++) f32.store(row + <usize>k * cb + off(c), f32.load(col + <usize>c * pb + off(k)));
        }
      }
    }
    for (; p < p1; p++) {
      const row = a + <usize>p * cb;
      const col = b + off(p);
      if (toNchw) {
        for (let c = 0; c < C; c++) f32.store(col + <usize>c * pb, f32.load(row + off(c)));
      } else {
        for (let c = 0; c < C; c++) f32.store(row + off(c), f32.load(col + <usize>c * pb));
      }
    }
    r = n * P + p1;
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling over NHWC, PyTorch semantics (floor mode).
//
// Every pooling kernel walks memory in order: for one output row (n, oh) it streams the window's
// input rows i = h0..h1-1 one after the other, and for each output pixel ow folds the taps
// j = w0..w1-1 into an accumulator row [OW, C] (y itself, or scratch), channel vectors inner.
// Taps are thus folded in window order (i, then j), as the reference does. (Walking the taps of
// one window for a few channels at a time instead reads x at a stride of one pixel, which the
// hardware prefetchers do not follow.)
//
// Forward ranges: output rows u = n*OH + oh. Backward ranges: units u = n*G + g, g a channel
// group [g*cg, min(C, g*cg + cg)), so that threads never write the same dx element; a unit does
// its output rows in order, so each dx element sums its contributions in output order.

/** max_pool2d forward: y [N, OH, OW, C]. Ranges: output rows. */
export function pool_max_forward(x: usize, y: usize, H: i32, W: i32, C: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  for (let u = start; u < end; u++) {
    const n = u / OH;
    const oh = u - n * OH;
    const xImg = x + <usize>n * <usize>H * <usize>W * cb;
    maxRow(xImg, y + <usize>u * <usize>OW * cb, winLo(oh, sh, ph), winHi(oh, sh, ph, kh, H), W, cb, OW, kw, sw, pw, 0, cb);
  }
}

/**
 * dx [N, H, W, C] (fully written) = dy routed to each window's first maximum, recomputed from x.
 * Uses scratch bytes: 8*OW*C. Ranges: units (image, channel group).
 */
export function pool_max_backward(dy: usize, x: usize, dx: usize, H: i32, W: i32, C: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, G: i32, cg: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  const wb = <usize>W * cb;
  const best = scratch;
  const done = scratch + <usize>OW * cb;
  for (let u = start; u < end; u++) {
    const n = u / G;
    const c0 = (u - n * G) * cg;
    const c1 = min(C, c0 + cg);
    if (c0 >= c1) continue;
    const cs = off(c0);
    const ce = off(c1);
    zeroSlice(dx, n, H * W, C, c0, c1);
    const img = <usize>n * <usize>H * wb;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = winLo(oh, sh, ph);
      const h1 = winHi(oh, sh, ph, kh, H);
      maxRow(x + img, best, h0, h1, W, cb, OW, kw, sw, pw, cs, ce);
      for (let ow = 0; ow < OW; ow++) memory.fill(done + <usize>ow * cb + cs, 0, ce - cs);
      const dyRow = dy + <usize>(n * OH + oh) * <usize>OW * cb;
      for (let i = h0; i < h1; i++) {
        const xr = x + img + <usize>i * wb;
        const dr = dx + img + <usize>i * wb;
        for (let ow = 0; ow < OW; ow++) {
          const w0 = winLo(ow, sw, pw);
          const w1 = winHi(ow, sw, pw, kw, W);
          const b = best + <usize>ow * cb;
          const dn = done + <usize>ow * cb;
          const g = dyRow + <usize>ow * cb;
          for (let j = w0; j < w1; j++) {
            const p = xr + <usize>j * cb;
            const d = dr + <usize>j * cb;
            let c = cs;
            for (; c + 16 <= ce; c += 16) {
              const v = v128.load(p + c);
              const bv = v128.load(b + c);
              const was = v128.load(dn + c);
              const hit = v128.andnot(v128.or(f32x4.eq(v, bv), v128.and(f32x4.ne(v, v), f32x4.ne(bv, bv))), was);
              v128.store(d + c, f32x4.add(v128.load(d + c), v128.and(v128.load(g + c), hit)));
              v128.store(dn + c, v128.or(was, hit));
            }
            for (; c < ce; c += 4) {
              if (i32.load(dn + c) != 0) continue;
              const v = f32.load(p + c);
              const bv = f32.load(b + c);
              if (v == bv || (v != v && bv != bv)) {
                f32.store(d + c, f32.load(d + c) + f32.load(g + c));
                i32.store(dn + c, -1);
              }
            }
          }
        }
      }
    }
  }
}

/** avg_pool2d forward: y = window sum (f32, window order) / divisor. Ranges: output rows. */
export function pool_avg_forward(x: usize, y: usize, H: i32, W: i32, C: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, includePad: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  for (let u = start; u < end; u++) {
    const n = u / OH;
    const oh = u - n * OH;
    const h0 = winLo(oh, sh, ph);
    const h1 = winHi(oh, sh, ph, kh, H);
    const yr = y + <usize>u * <usize>OW * cb;
    sumRow(x + <usize>n * <usize>H * <usize>W * cb, yr, h0, h1, W, cb, OW, kw, sw, pw, 0, cb);
    for (let ow = 0; ow < OW; ow++) {
      const div = includePad ? padSpan(oh, sh, ph, kh, H) * padSpan(ow, sw, pw, kw, W) : (h1 - h0) * (winHi(ow, sw, pw, kw, W) - winLo(ow, sw, pw));
      divInto(yr + <usize>ow * cb, <f32>div, 0, cb);
    }
  }
}

/**
 * avg_pool2d backward: dx [N, H, W, C] (fully written), dx[tap] += dy / divisor for every
 * window covering the tap, in output order. Uses scratch bytes: 4*OW*C. Ranges: units.
 */
export function pool_avg_backward(dy: usize, dx: usize, H: i32, W: i32, C: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, includePad: i32, G: i32, cg: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  const wb = <usize>W * cb;
  const gr = scratch;
  for (let u = start; u < end; u++) {
    const n = u / G;
    const c0 = (u - n * G) * cg;
    const c1 = min(C, c0 + cg);
    if (c0 >= c1) continue;
    const cs = off(c0);
    const ce = off(c1);
    zeroSlice(dx, n, H * W, C, c0, c1);
    const img = dx + <usize>n * <usize>H * wb;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = winLo(oh, sh, ph);
      const h1 = winHi(oh, sh, ph, kh, H);
      const dyRow = dy + <usize>(n * OH + oh) * <usize>OW * cb;
      for (let ow = 0; ow < OW; ow++) {
        const div = includePad ? padSpan(oh, sh, ph, kh, H) * padSpan(ow, sw, pw, kw, W) : (h1 - h0) * (winHi(ow, sw, pw, kw, W) - winLo(ow, sw, pw));
        const o = <usize>ow * cb;
        copyRow(gr + o + cs, dyRow + o + cs, ce - cs);
        divInto(gr + o, <f32>div, cs, ce);
      }
      for (let i = h0; i < h1; i++) {
        const dr = img + <usize>i * wb;
        for (let ow = 0; ow < OW; ow++) {
          const w0 = winLo(ow, sw, pw);
          const w1 = winHi(ow, sw, pw, kw, W);
          const g = gr + <usize>ow * cb;
          for (let j = w0; j < w1; j++) addInto(dr + <usize>j * cb, g, cs, ce, false);
        }
      }
    }
  }
}

/** y[n][c] = (f32 sum over p, in order) / P. Ranges: units (image, channel group). */
export function pool_gap_forward(x: usize, y: usize, P: i32, C: i32, G: i32, cg: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  for (let u = start; u < end; u++) {
    const n = u / G;
    const c0 = (u - n * G) * cg;
    const c1 = min(C, c0 + cg);
    if (c0 >= c1) continue;
    const img = x + <usize>n * <usize>P * cb;
    const yo = y + <usize>n * cb;
    for (let p = 0; p < P; p++) addInto(yo, img + <usize>p * cb, off(c0), off(c1), p == 0);
    divInto(yo, <f32>P, off(c0), off(c1));
  }
}

/** dx[n][p][c] = dy[n][c] / P. Ranges: rows n*P + p. */
export function pool_gap_backward(dy: usize, dx: usize, P: i32, C: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C);
  const fp = <f32>P;
  const dv = f32x4.splat(fp);
  for (let r = start; r < end; r++) {
    const n = r / P;
    const src = dy + <usize>n * cb;
    const dst = dx + <usize>r * cb;
    let c: usize = 0;
    for (; c + 16 <= cb; c += 16) v128.store(dst + c, f32x4.div(v128.load(src + c), dv));
    for (; c < cb; c += 4) f32.store(dst + c, f32.load(src + c) / fp);
  }
}

// ---------------------------------------------------------------------------------------------
// SGD, as torch.optim.SGD and src/train/sgd.ts, computed in f64 like the host loop over f32
// arrays (bit-identical to it): d = g + wd*p; buf = first ? d : mu*buf + (1-dampening)*d;
// p -= lr * (nesterov ? d + mu*buf : buf); mu == 0: p -= lr*d (buf untouched).
// flags: 1 = nesterov, 2 = first step. Ranges: elements.

@inline function join32(a: v128, b: v128): v128 {
  return v128.shuffle<i64>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 2);
}

@inline function sgdPlain(p: v128, g: v128, lr: v128, wd: v128): v128 {
  return f64x2.sub(p, f64x2.mul(lr, f64x2.add(g, f64x2.mul(wd, p))));
}

export function sgd_update(p: usize, g: usize, buf: usize, lr: f64, mu: f64, dampening: f64, wd: f64, flags: i32, start: i32, end: i32, scratch: usize): void {
  const vlr = f64x2.splat(lr);
  const vwd = f64x2.splat(wd);
  const vmu = f64x2.splat(mu);
  const om = 1 - dampening;
  const vom = f64x2.splat(om);
  const nesterov = (flags & 1) != 0;
  const first = (flags & 2) != 0;
  let i = start;
  if (mu == 0) {
    for (; i + 4 <= end; i += 4) {
      const o = off(i);
      const P = v128.load(p + o);
      const Gv = v128.load(g + o);
      v128.store(p + o, join32(sgdPlain(lo64(P), lo64(Gv), vlr, vwd), sgdPlain(hi64(P), hi64(Gv), vlr, vwd)));
    }
    for (; i < end; i++) {
      const o = off(i);
      const pv = <f64>f32.load(p + o);
      f32.store(p + o, <f32>(pv - lr * (<f64>f32.load(g + o) + wd * pv)));
    }
    return;
  }
  for (; i + 4 <= end; i += 4) {
    const o = off(i);
    const P = v128.load(p + o);
    const Gv = v128.load(g + o);
    const B = v128.load(buf + o);
    const p0 = lo64(P);
    const p1 = hi64(P);
    const d0 = f64x2.add(lo64(Gv), f64x2.mul(vwd, p0));
    const d1 = f64x2.add(hi64(Gv), f64x2.mul(vwd, p1));
    let b0 = d0;
    let b1 = d1;
    if (!first) {
      b0 = f64x2.add(f64x2.mul(vmu, lo64(B)), f64x2.mul(vom, d0));
      b1 = f64x2.add(f64x2.mul(vmu, hi64(B)), f64x2.mul(vom, d1));
    }
    v128.store(buf + o, join32(b0, b1));
    let u0 = b0;
    let u1 = b1;
    if (nesterov) {
      u0 = f64x2.add(d0, f64x2.mul(vmu, b0));
      u1 = f64x2.add(d1, f64x2.mul(vmu, b1));
    }
    v128.store(p + o, join32(f64x2.sub(p0, f64x2.mul(vlr, u0)), f64x2.sub(p1, f64x2.mul(vlr, u1))));
  }
  for (; i < end; i++) {
    const o = off(i);
    const pv = <f64>f32.load(p + o);
    const d = <f64>f32.load(g + o) + wd * pv;
    const b = first ? d : mu * <f64>f32.load(buf + o) + om * d;
    f32.store(buf + o, <f32>b);
    f32.store(p + o, <f32>(pv - lr * (nesterov ? d + mu * b : b)));
  }
}

// ---------------------------------------------------------------------------------------------
// shortcut_pad (the parameter-free CIFAR ResNet shortcut, "option A"), NHWC:
//   y[n][oh][ow][before + c] = x[n][oh*s][ow*s][c], 0 in the K - C other channels.
// Forward units: output rows (n, oh); backward units: input rows (n, ih).

/** n bytes (a multiple of 4) from src to dst, 16 at a time. */
@inline function copyBytes(dst: usize, src: usize, n: usize): void {
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) v128.store(dst + i, v128.load(src + i));
  for (; i < n; i += 4) f32.store(dst + i, f32.load(src + i));
}
/** n bytes (a multiple of 4) of zeros at dst. */
@inline function zeroBytes(dst: usize, n: usize): void {
  const z = f32x4.splat(0);
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) v128.store(dst + i, z);
  for (; i < n; i += 4) f32.store(dst + i, 0);
}

export function shortcut_pad_forward(x: usize, y: usize, C: i32, H: i32, W: i32, K: i32, OH: i32, OW: i32, s: i32, before: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C), kb = off(K), bb = off(before), tail = kb - bb - cb;
  for (let r = start; r < end; r++) {
    const n = r / OH, oh = r - n * OH;
    let src = x + off((n * H + oh * s) * W) * <usize>C;
    let dst = y + off(r * OW) * <usize>K;
    const step = <usize>s * cb;
    for (let ow = 0; ow < OW; ow++) {
      if (bb) zeroBytes(dst, bb);
      copyBytes(dst + bb, src, cb);
      if (tail) zeroBytes(dst + bb + cb, tail);
      src += step; dst += kb;
    }
  }
}

export function shortcut_pad_backward(dy: usize, dx: usize, C: i32, H: i32, W: i32, K: i32, OH: i32, OW: i32, s: i32, before: i32, start: i32, end: i32, scratch: usize): void {
  const cb = off(C), kb = off(K), bb = off(before);
  for (let r = start; r < end; r++) {
    const n = r / H, ih = r - n * H;
    const dst = dx + off(r * W) * <usize>C;
    if (ih % s != 0) { zeroBytes(dst, <usize>W * cb); continue; }
    const src = dy + off((n * OH + ih / s) * OW) * <usize>K + bb;
    for (let iw = 0; iw < W; iw++) {
      const d = dst + <usize>iw * cb;
      if (iw % s != 0) zeroBytes(d, cb);
      else copyBytes(d, src + <usize>(iw / s) * kb, cb);
    }
  }
}
