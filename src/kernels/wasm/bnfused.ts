// Elementwise kernels of the fused BN graph (src/ops/bn_add_relu.ts, src/ops/conv2d_fused.ts's
// bn_relu_mask), over NHWC rows: x [M, C], per-channel coefficients a[c], b[c] (f32) so that
// bn(x) = a*x + b. Work range: rows [start, end).

import { fma, reluv, relus } from './common/simd';

/**
 * y = relu(a1*x1 + b1 + s) with s = o (mode 0, identity shortcut) or a2*x2 + b2 (mode 1,
 * projection shortcut's BN).
 */
export function bnf_add_relu(x1: usize, a1: usize, b1: usize, o: usize, x2: usize, a2: usize, b2: usize, mode: i32, y: usize, C: i32, start: i32, end: i32, scratch: usize): void {
  const rowBytes = <usize>C << 2;
  const vecEnd = <usize>(C & ~3) << 2;
  for (let r = start; r < end; r++) {
    const base = <usize>r * rowBytes;
    let j: usize = 0;
    if (mode == 0) {
      for (; j < vecEnd; j += 16) {
        const v = f32x4.add(fma(v128.load(x1 + base + j), v128.load(a1 + j), v128.load(b1 + j)), v128.load(o + base + j));
        v128.store(y + base + j, reluv(v));
      }
      for (; j < rowBytes; j += 4) f32.store(y + base + j, relus(f32.load(x1 + base + j) * f32.load(a1 + j) + f32.load(b1 + j) + f32.load(o + base + j)));
    } else {
      for (; j < vecEnd; j += 16) {
        const s = fma(v128.load(x2 + base + j), v128.load(a2 + j), v128.load(b2 + j));
        const v = f32x4.add(fma(v128.load(x1 + base + j), v128.load(a1 + j), v128.load(b1 + j)), s);
        v128.store(y + base + j, reluv(v));
      }
      for (; j < rowBytes; j += 4) {
        const s = f32.load(x2 + base + j) * f32.load(a2 + j) + f32.load(b2 + j);
        f32.store(y + base + j, relus(f32.load(x1 + base + j) * f32.load(a1 + j) + f32.load(b1 + j) + s));
      }
    }
  }
}

/** dx = 0 where a*x + b <= 0 (the ReLU after a BN, recomputed from its input), else dy. dx may be dy. */
export function bnf_relu_mask(dy: usize, x: usize, a: usize, b: usize, dx: usize, C: i32, start: i32, end: i32, scratch: usize): void {
  const rowBytes = <usize>C << 2;
  const vecEnd = <usize>(C & ~3) << 2;
  const zero = f32x4.splat(0);
  for (let r = start; r < end; r++) {
    const base = <usize>r * rowBytes;
    let j: usize = 0;
    for (; j < vecEnd; j += 16) {
      const z = fma(v128.load(x + base + j), v128.load(a + j), v128.load(b + j));
      v128.store(dx + base + j, v128.bitselect(zero, v128.load(dy + base + j), f32x4.le(z, zero)));
    }
    for (; j < rowBytes; j += 4) {
      const z = f32.load(x + base + j) * f32.load(a + j) + f32.load(b + j);
      f32.store(dx + base + j, z <= 0 ? 0 : f32.load(dy + base + j));
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

