// The activations of the lean CNNs on f32x4 vectors: what the standalone activation kernels
// (eltwise.ts) and a fused normalize apply, and the derivatives their backwards recompute from the
// activation's input z. One definition per activation; the codes are the ABI's ACT_* (the float64
// reference is src/ops/activation.ts, the scalar twin src/kernels/act_scalar.ts).
//
// No FMA anywhere here: every operation is a plain IEEE f32 add, sub, mul, div, compare or select,
// so the relaxed-SIMD and the plain-SIMD builds and the native twins (core/act.h) give the same
// bits. exp is Cephes' expf polynomial (|error| < 2 ulp) on t <= 0 only: sigmoid takes exp of
// -|x|, as the float64 reference does, and never overflows.

import { ACT_HARDSWISH, ACT_RELU, ACT_RELU6, ACT_SILU } from '../../abi/conv_descriptor';
import { reluv } from './simd';

const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.98756915e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
/** exp(t) rounds to 0 below -104 (e^-104 < 2^-150); clamping there keeps 2^n in two normal halves (n >= -150). */
const EXP_MIN: f32 = -104;

/** exp(t) for t <= 0 (NaN stays NaN). 2^n is applied as two factors 2^(n>>1) and 2^(n - (n>>1)), both normal. */
@inline export function expNegv(t: v128): v128 {
  const lo = f32x4.splat(EXP_MIN);
  const c = v128.bitselect(lo, t, f32x4.lt(t, lo));
  const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(c, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.add(f32x4.mul(f32x4.splat(P0), r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const n1 = i32x4.shr_s(ni, 1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, n1), bias), 23);
  return f32x4.mul(f32x4.mul(y, s1), s2);
}

/** 1/(1 + e^-x) for x >= 0, e^x/(1 + e^x) below: e^-|x| only, as the reference. */
@inline export function sigmoidv(x: v128): v128 {
  const e = expNegv(f32x4.neg(f32x4.abs(x)));
  const d = f32x4.add(f32x4.splat(1), e);
  return f32x4.div(v128.bitselect(f32x4.splat(1), e, f32x4.ge(x, f32x4.splat(0))), d);
}

/** min(max(v, 0), 6), NaN propagating, -0 -> +0. */
@inline export function relu6v(v: v128): v128 {
  const r = reluv(v);
  const six = f32x4.splat(6);
  return v128.bitselect(six, r, f32x4.ge(r, six));
}

/** (x * relu6(x + 3)) / 6. */
@inline export function hardswishv(x: v128): v128 {
  return f32x4.div(f32x4.mul(x, relu6v(f32x4.add(x, f32x4.splat(3)))), f32x4.splat(6));
}

/** act(z) for an ACT_* code (ACT_NONE: z). A constant code folds the switch away. */
@inline export function actv(code: i32, z: v128): v128 {
  if (code == ACT_RELU) return reluv(z);
  if (code == ACT_RELU6) return relu6v(z);
  if (code == ACT_SILU) return f32x4.mul(z, sigmoidv(z));
  if (code == ACT_HARDSWISH) return hardswishv(z);
  return z;
}

/**
 * dy * act'(z), z the activation's input (for ReLU and ReLU6 their output y serves as well: the
 * masks y <= 0 and y >= 6 are z's). ReLU: 0 where z <= 0; ReLU6: 0 where z <= 0 or z >= 6 (NaN
 * passes dy); SiLU: (dy*s)*(1 + z*(1 - s)), s = sigmoid(z); hardswish: 0 below -3,
 * dy*(z/3 + 0.5) up to 3, dy above (and for NaN z).
 */
@inline export function actGradv(code: i32, z: v128, dy: v128): v128 {
  const zero = f32x4.splat(0);
  if (code == ACT_RELU) return v128.andnot(dy, f32x4.le(z, zero));
  if (code == ACT_RELU6) return v128.andnot(dy, v128.or(f32x4.le(z, zero), f32x4.ge(z, f32x4.splat(6))));
  if (code == ACT_SILU) {
    const s = sigmoidv(z);
    const one = f32x4.splat(1);
    return f32x4.mul(f32x4.mul(dy, s), f32x4.add(one, f32x4.mul(z, f32x4.sub(one, s))));
  }
  if (code == ACT_HARDSWISH) {
    const g = f32x4.mul(dy, f32x4.add(f32x4.div(z, f32x4.splat(3)), f32x4.splat(0.5)));
    const mid = v128.bitselect(g, dy, f32x4.le(z, f32x4.splat(3)));
    return v128.andnot(mid, f32x4.lt(z, f32x4.splat(-3)));
  }
  return dy;
}

/** act(v) of one float, through the vector formulas (a kernel's scalar tail gives its vector part's bits). */
@inline export function acts(code: i32, v: f32): f32 {
  return f32x4.extract_lane(actv(code, f32x4.splat(v)), 0);
}

/** dy * act'(z) of one float, through the vector formulas. */
@inline export function actGrads(code: i32, z: f32, dy: f32): f32 {
  return f32x4.extract_lane(actGradv(code, f32x4.splat(z), f32x4.splat(dy)), 0);
}

/** Lanes [0, n) of p (0 < n < 4), the rest 0: a tail computed with the vector formulas. */
@inline export function loadTail(p: usize, n: i32): v128 {
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, f32.load(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, f32.load(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, f32.load(p, 8));
  return v;
}

/** Stores lanes [0, n) of v at p (0 < n < 4). */
@inline export function storeTail(p: usize, v: v128, n: i32): void {
  f32.store(p, f32x4.extract_lane(v, 0));
  if (n > 1) f32.store(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) f32.store(p, f32x4.extract_lane(v, 2), 8);
}
