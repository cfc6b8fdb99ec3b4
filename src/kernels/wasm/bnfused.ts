// Elementwise kernels of the fused BN graph (src/ops/bn_add_relu.ts, src/ops/conv2d_fused.ts's
// bn_relu_mask), over NHWC rows: x [M, C], per-channel coefficients a[c], b[c] (f32) so that
// bn(x) = a*x + b. Work range: rows [start, end).

import { fma, reluv, relus } from './common/simd';
import { actGradv, actGrads } from './common/act';
import { ACT_RELU, ACT_RELU6, ACT_SILU, ACT_HARDSWISH } from '../abi/conv_descriptor';

/**
 * y = relu(a1*x1 + b1 + s) with s = o (mode 0, identity shortcut) or a2*x2 + b2 (mode 1,
 * projection shortcut's BN); relu = 0: no ReLU after the add (MobileNetV2, EfficientNet).
 */
export function bnf_add_relu(x1: usize, a1: usize, b1: usize, o: usize, x2: usize, a2: usize, b2: usize, mode: i32, y: usize, C: i32, relu: i32, start: i32, end: i32, scratch: usize): void {
  if (relu) addRows(true, x1, a1, b1, o, x2, a2, b2, mode, y, C, start, end);
  else addRows(false, x1, a1, b1, o, x2, a2, b2, mode, y, C, start, end);
}

@inline function maybeRelu(relu: bool, v: v128): v128 {
  return relu ? reluv(v) : v;
}

@inline function maybeRelus(relu: bool, v: f32): f32 {
  return relu ? relus(v) : v;
}

@inline function addRows(relu: bool, x1: usize, a1: usize, b1: usize, o: usize, x2: usize, a2: usize, b2: usize, mode: i32, y: usize, C: i32, start: i32, end: i32): void {
  const rowBytes = <usize>C << 2;
  const vecEnd = <usize>(C & ~3) << 2;
  for (let r = start; r < end; r++) {
    const base = <usize>r * rowBytes;
    let j: usize = 0;
    if (mode == 0) {
      for (; j < vecEnd; j += 16) {
        const v = f32x4.add(fma(v128.load(x1 + base + j), v128.load(a1 + j), v128.load(b1 + j)), v128.load(o + base + j));
        v128.store(y + base + j, maybeRelu(relu, v));
      }
      for (; j < rowBytes; j += 4) f32.store(y + base + j, maybeRelus(relu, f32.load(x1 + base + j) * f32.load(a1 + j) + f32.load(b1 + j) + f32.load(o + base + j)));
    } else {
      for (; j < vecEnd; j += 16) {
        const s = fma(v128.load(x2 + base + j), v128.load(a2 + j), v128.load(b2 + j));
        const v = f32x4.add(fma(v128.load(x1 + base + j), v128.load(a1 + j), v128.load(b1 + j)), s);
        v128.store(y + base + j, maybeRelu(relu, v));
      }
      for (; j < rowBytes; j += 4) {
        const s = f32.load(x2 + base + j) * f32.load(a2 + j) + f32.load(b2 + j);
        f32.store(y + base + j, maybeRelus(relu, f32.load(x1 + base + j) * f32.load(a1 + j) + f32.load(b1 + j) + s));
      }
    }
  }
}

/**
 * dx = dy * act'(a*x + b): the derivative of the activation after a BN, recomputed from its
 * input (act an ACT_* code; ACT_RELU: 0 where a*x + b <= 0, else dy). dx may be dy.
 */
export function bnf_relu_mask(dy: usize, x: usize, a: usize, b: usize, dx: usize, C: i32, act: i32, start: i32, end: i32, scratch: usize): void {
  if (act == ACT_RELU) maskRows(ACT_RELU, dy, x, a, b, dx, C, start, end);
  else if (act == ACT_RELU6) maskRows(ACT_RELU6, dy, x, a, b, dx, C, start, end);
  else if (act == ACT_SILU) maskRows(ACT_SILU, dy, x, a, b, dx, C, start, end);
  else if (act == ACT_HARDSWISH) maskRows(ACT_HARDSWISH, dy, x, a, b, dx, C, start, end);
  else maskRows(0, dy, x, a, b, dx, C, start, end);
}

@inline function maskRows(code: i32, dy: usize, x: usize, a: usize, b: usize, dx: usize, C: i32, start: i32, end: i32): void {
  const rowBytes = <usize>C << 2;
  const vecEnd = <usize>(C & ~3) << 2;
  for (let r = start; r < end; r++) {
    const base = <usize>r * rowBytes;
    let j: usize = 0;
    for (; j < vecEnd; j += 16) {
      const z = fma(v128.load(x + base + j), v128.load(a + j), v128.load(b + j));
      v128.store(dx + base + j, actGradv(code, z, v128.load(dy + base + j)));
    }
    for (; j < rowBytes; j += 4) {
      const z = f32.load(x + base + j) * f32.load(a + j) + f32.load(b + j);
      f32.store(dx + base + j, actGrads(code, z, f32.load(dy + base + j)));
    }
  }
}

/** ds = 0 where y <= 0, else dy (ReLU backward); the reductions run separately. */
export function bnf_mask(dy: usize, y: usize, ds: usize, start: i32, end: i32, scratch: usize): void {
  const zero = f32x4.splat(0);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(ds + o, v128.bitselect(zero, v128.load(dy + o), f32x4.le(v128.load(y + o), zero)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    f32.store(ds + o, f32.load(y + o) <= 0 ? 0 : f32.load(dy + o));
  }
}

