// Probes for the benchmarks and `bnff info --measure`, not used in training: the STREAM triad,
// a plain read stream and the GEMM micro-kernel's peak. They form their own module so that no
// production module carries them (the native twins: src/kernels/native/families/bench.cc).
// Conventions as in every kernel module: pointers are byte offsets into the shared arena,
// [start, end) is this thread's work range, `scratch` its private 4 MiB region.

import { fma } from './common/simd';
import { SC_TILE, SC_PACK } from './common/conv';
import { mk } from './common/gemm';

/** The STREAM triad a[i] = b[i] + s*c[i]. Range: elements, aligned to 4, a multiple of 4 long. */
export function triad(a: usize, b: usize, c: usize, s: f32, start: i32, end: i32): void {
  const vs = f32x4.splat(s);
  for (let i = start; i < end; i += 4) {
    const o = <usize>i << 2;
    v128.store(a + o, fma(v128.load(c + o), vs, v128.load(b + o)));
  }
}

/**
 * The plainest read-only stream: the sum of x[start, end) into scratch, next to which the
 * read-only reductions (bn_stats) are judged. Range: elements, a multiple of 16 long.
 */
export function probe_read(x: usize, start: i32, end: i32, scratch: usize): void {
  let a = f32x4.splat(0);
  let b = a;
  let c = a;
  let d = a;
  for (let i = start; i + 16 <= end; i += 16) {
    const o = <usize>i << 2;
    a = f32x4.add(a, v128.load(x + o));
    b = f32x4.add(b, v128.load(x + o, 16));
    c = f32x4.add(c, v128.load(x + o, 32));
    d = f32x4.add(d, v128.load(x + o, 48));
  }
  v128.store(scratch, f32x4.add(f32x4.add(a, b), f32x4.add(c, d)));
}

/**
 * The micro-kernel on L1-resident packed panels (A kc x 4, B kc x 8 in scratch), `reps` times
 * per unit of the range: the FMA rate the conv bench (src/bench/kernels_conv.ts) compares with.
 */
export function gemm_bench_mk(kc: i32, reps: i32, start: i32, end: i32, scratch: usize): void {
  const a = scratch + SC_PACK, b = a + <usize>kc * 16, c = scratch + SC_TILE;
  // ordinary values (no NaN / denormals left in scratch by other kernels)
  for (let i = 0; i < kc * 12; i++) store<f32>(a + (<usize>i << 2), <f32>((i & 7) - 3) * 0.125);
  memory.fill(c, 0, 128);
  for (let u = start; u < end; u++) {
    for (let r = 0; r < reps; r++) mk(a, b, kc, c, c + 32, c + 64, c + 96, 0, 1);
  }
}

