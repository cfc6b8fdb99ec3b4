// Conventions of the convolution kernel families (gemm.ts, gemm_w.ts, depthwise.ts,
// winograd.ts), as in every kernel module: pointers are byte offsets into the shared arena,
// [start, end) is this thread's work range, `scratch` its private 4 MiB region. Every kernel
// takes a descriptor pointer `d` first: the geometry and blocking as i32 fields written by the
// host (src/kernels/conv.ts; the D_* indices: src/kernels/abi/conv_descriptor.ts, the one table
// of the ABI). Design: docs/design/conv-kernels.md.
//
// Shapes: x [N][H][W][C], y [N][OH][OW][K], weights PyTorch OIHW [K][Cg][KH][KW],
// G groups, Cg = C/G, Kg = K/G, M = N*OH*OW, reduction index r = (kh*KW + kw)*Cg + c.

import { ACT_RELU } from '../../abi/conv_descriptor';
import { acts } from './act';
import { fma, relus } from './simd';

// Fused variants (BN work in a prologue or epilogue, docs/design/conv-kernels.md) are compile-time
// instantiations of the same generic kernel bodies: F = Plain compiles to the unfused kernel
// (every `fused<F>()` branch folds away), F = Fused to the fused one.
export type Plain = i32;
export type Fused = f32;
@inline export function fused<F>(): bool {
  return isFloat<F>();
}

/**
 * The dy prologue (BN backward-data recomputed on load), one place for every kernel that applies
 * it: dY = A*dbn + (B*xbn + C0) with dbn at p, xbn at p + dlt and the coefficients A, B, C0 at
 * ca, ca + cs, ca + 2*cs (4 lanes, or one float).
 */
@inline export function dyv(ca: usize, cs: usize, p: usize, dlt: usize): v128 {
  return dyr(v128.load(ca), v128.load(ca + cs), v128.load(ca + 2 * cs), p, dlt);
}
/** dyv with the coefficients A, B, C0 already in registers. */
@inline export function dyr(a: v128, b: v128, c0: v128, p: usize, dlt: usize): v128 {
  return fma(a, v128.load(p), fma(b, v128.load(p + dlt), c0));
}
@inline export function dyf(ca: usize, cs: usize, p: usize, dlt: usize): f32 {
  return load<f32>(ca) * load<f32>(p) + (load<f32>(ca + cs) * load<f32>(p + dlt) + load<f32>(ca + 2 * cs));
}

/** The x prologue of one float: act(a*x + b) for an ACT_* code (0: none; ReLU without the vector detour). */
@inline export function nrm(x: f32, a: f32, b: f32, act: i32): f32 {
  const v = a * x + b;
  return act == ACT_RELU ? relus(v) : act ? acts(act, v) : v;
}

@inline export function ld(d: usize, i: i32): i32 {
  return load<i32>(d + (<usize>i << 2));
}

// ---- per-thread scratch layout ----
export const SC_ZERO: usize = 0; // 64 zero bytes: the source of padding lanes
export const SC_TILE: usize = 64; // one 4x8 f32 tile (edge tiles)
export const SC_RING: usize = 240; // Winograd: the normalised ring's image and last row (2 i32)
export const SC_ROWS: usize = 256; // row table, 3 i32 per row (backward-data: 2), at most MAX_ROWS rows
export const MAX_ROWS = 4096;
export const SC_TROW: usize = 49408; // backward-weights, tight rows: one pixel's KH*SEG floats (<= 2048 + 4)
export const SC_ZBUF: usize = 61440; // conv_fwd_dot: zeros for padding taps (up to 1024 channels)
export const SC_PACK: usize = 65536; // packed blocks
export const INVALID: i32 = -(1 << 28); // ih0 of a padding row: every tap falls outside

/** Block size (multiple of 4, at most max) splitting n rows into equal blocks. */
@inline export function balanced(n: i32, max: i32): i32 {
  const nb = (n + max - 1) / max;
  return min(max, (((n + nb - 1) / nb) + 3) & ~3);
}

@inline export function zeroPage(scratch: usize): void {
  const z = f32x4.splat(0);
  v128.store(scratch, z);
  v128.store(scratch, z, 16);
  v128.store(scratch, z, 32);
  v128.store(scratch, z, 48);
}

/**
 * Pointer to x[n][ih][iw][coff..] for a row (xb = image pointer, 0 = padding row), or 0 where
 * (ih, iw) is outside the image.
 */
@inline export function tapPtr(xb: usize, ih: i32, iw: i32, H: i32, W: i32, C: i32, coff: i32): usize {
  if (!xb || <u32>ih >= <u32>H || <u32>iw >= <u32>W) return 0;
  return xb + ((<usize>(ih * W + iw) * <usize>C + <usize>coff) << 2);
}
