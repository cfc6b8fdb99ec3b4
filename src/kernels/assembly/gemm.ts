// Convolution as packed GEMM over NHWC activations: forward, backward-data, backward-weights,
// plus a direct SIMD path for depthwise convolution. Design: docs/design/conv-kernels.md.
//
// Conventions (as in every kernel module): pointers are byte offsets into the shared arena,
// [start, end) is this thread's work range, `scratch` its private 4 MiB region. Every kernel
// takes a descriptor pointer `d` first: the geometry and blocking as i32 fields written by the
// host (src/kernels/conv.ts, keep the D_* indices in sync).
//
// Shapes: x [N][H][W][C], y [N][OH][OW][K], weights PyTorch OIHW [K][Cg][KH][KW],
// G groups, Cg = C/G, Kg = K/G, M = N*OH*OW, reduction index r = (kh*KW + kw)*Cg + c.
//
// The micro-kernel `mk` computes a 4x8 tile (4 rows of M or of the reduction, 8 output columns)
// in 8 v128 accumulators from A packed as [k][4] and B packed as [k][8].

@inline function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function fma64(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

// Fused variants (BN work in a prologue or epilogue, docs/design/conv-kernels.md) are compile-time
// instantiations of the same generic kernel bodies: F = Plain compiles to the unfused kernel
// (every `fused<F>()` branch folds away), F = Fused to the fused one.
type Plain = i32;
type Fused = f32;
@inline function fused<F>(): bool {
  return isFloat<F>();
}

/** max(0, v) letting NaN through (PyTorch's relu): 0 where v <= 0. */
@inline function reluv(v: v128): v128 {
  return v128.andnot(v, f32x4.le(v, f32x4.splat(0)));
}

/**
 * The dy prologue (BN backward-data recomputed on load), one place for every kernel that applies
 * it: dY = A*dbn + (B*xbn + C0) with dbn at p, xbn at p + dlt and the coefficients A, B, C0 at
 * ca, ca + cs, ca + 2*cs (4 lanes, or one float).
 */
@inline function dyv(ca: usize, cs: usize, p: usize, dlt: usize): v128 {
  return dyr(v128.load(ca), v128.load(ca + cs), v128.load(ca + 2 * cs), p, dlt);
}
/** dyv with the coefficients A, B, C0 already in registers. */
@inline function dyr(a: v128, b: v128, c0: v128, p: usize, dlt: usize): v128 {
  return fma(a, v128.load(p), fma(b, v128.load(p + dlt), c0));
}
@inline function dyf(ca: usize, cs: usize, p: usize, dlt: usize): f32 {
  return load<f32>(ca) * load<f32>(p) + (load<f32>(ca + cs) * load<f32>(p + dlt) + load<f32>(ca + 2 * cs));
}

@inline function nrm(x: f32, a: f32, b: f32, relu: i32): f32 {
  const v = a * x + b;
  return relu && v <= 0 ? 0 : v;
}

// ---- descriptor fields (i32): src/kernels/abi/conv_descriptor.ts, the one table of the ABI ----
import { D_N, D_C, D_H, D_W, D_K, D_KH, D_KW, D_SH, D_SW, D_PH, D_PW, D_DH, D_DW, D_G, D_OH, D_OW, D_CG, D_KG, D_KDIM, D_KG8, D_CG8, D_KC, D_MC, D_KCD, D_MCD, D_MCH, D_RBP, D_ROWS, D_MERGE, D_SEG, D_SEG4, D_DMERGE, D_DSEG, D_DSEG8, D_DNP, D_WCOLS, D_FPART, D_FCOEF, D_FNE, D_FP, D_FZ, D_FZCAP, D_WTIGHT, D_DTIGHT, D_WSL, D_XS, D_X2S, D_GACC, D_GS, D_YS, D_GRING, D_GRT, D_WTB, D_WKB, D_WWIN, D_WTC } from '../abi/conv_descriptor';

@inline function ld(d: usize, i: i32): i32 {
  return load<i32>(d + (<usize>i << 2));
}

// ---- per-thread scratch layout ----
const SC_ZERO: usize = 0; // 64 zero bytes: the source of padding lanes
const SC_TILE: usize = 64; // one 4x8 f32 tile (edge tiles)
const SC_RING: usize = 240; // Winograd: the normalised ring's image and last row (2 i32)
const SC_ROWS: usize = 256; // row table, 3 i32 per row (backward-data: 2), at most MAX_ROWS rows
const MAX_ROWS = 4096;
const SC_TROW: usize = 49408; // backward-weights, tight rows: one pixel's KH*SEG floats (<= 2048 + 4)
const SC_ZBUF: usize = 61440; // conv_fwd_dot: zeros for padding taps (up to 1024 channels)
const SC_PACK: usize = 65536; // packed blocks
const INVALID: i32 = -(1 << 28); // ih0 of a padding row: every tap falls outside

/** Block size (multiple of 4, at most max) splitting n rows into equal blocks. */
@inline function balanced(n: i32, max: i32): i32 {
  const nb = (n + max - 1) / max;
  return min(max, (((n + nb - 1) / nb) + 3) & ~3);
}

@inline function zeroPage(scratch: usize): void {
  const z = f32x4.splat(0);
  v128.store(scratch, z);
  v128.store(scratch, z, 16);
  v128.store(scratch, z, 32);
  v128.store(scratch, z, 48);
}

// =====================================================================================
// Micro-kernel: 4x8 tile, 8 accumulators, A [kc][4] (4 splat loads per k), B [kc][8].
// Rows r = 0..3 go to d0..d3 (a row pointer 0 skips the row: masked write-back).
// bias != 0: accumulators start at bias[0..8] (first reduction block of the forward pass).
// add != 0: d_r[0..8] += tile (later reduction blocks); else d_r[0..8] = tile.
// =====================================================================================
function mk(a: usize, b: usize, kc: i32, d0: usize, d1: usize, d2: usize, d3: usize, bias: usize, add: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (bias) {
    c00 = v128.load(bias); c01 = v128.load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }
  // One k step per iteration, deliberately not unrolled: TurboFan hoists the loads of an
  // unrolled body and then spills accumulators (measured: 4x unroll 36 GFLOP/s, 2x 26, none 55).
  const aEnd = a + (<usize>kc << 4);
  while (a < aEnd) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    a += 16; b += 32;
  }
  // ---- EPILOGUE (write-back of the tile) ----
  // Row by row, each row's load-add before its store: in the backward-data col2im the rows of
  // one tile may overlap in dx (neighbouring pixels' kernel rows), and the adds must chain.
  // (The fused epilogues are copies of this kernel with more write-back: mkm, BN statistics of
  // the forward output; mkx, the backward-data dx epilogue. This one stays as it is.)
  if (d0) {
    if (add) { c00 = f32x4.add(v128.load(d0), c00); c01 = f32x4.add(v128.load(d0, 16), c01); }
    v128.store(d0, c00); v128.store(d0, c01, 16);
  }
  if (d1) {
    if (add) { c10 = f32x4.add(v128.load(d1), c10); c11 = f32x4.add(v128.load(d1, 16), c11); }
    v128.store(d1, c10); v128.store(d1, c11, 16);
  }
  if (d2) {
    if (add) { c20 = f32x4.add(v128.load(d2), c20); c21 = f32x4.add(v128.load(d2, 16), c21); }
    v128.store(d2, c20); v128.store(d2, c21, 16);
  }
  if (d3) {
    if (add) { c30 = f32x4.add(v128.load(d3), c30); c31 = f32x4.add(v128.load(d3, 16), c31); }
    v128.store(d3, c30); v128.store(d3, c31, 16);
  }
}

/** Edge tile (fewer than 8 valid columns): mk into the scratch tile, then this masked copy. */
function tileOut(tile: usize, d0: usize, d1: usize, d2: usize, d3: usize, ncols: i32, bias: usize, add: i32): void {
  for (let r = 0; r < 4; r++) {
    const dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const src = tile + (<usize>r << 5);
    for (let j = 0; j < ncols; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(src + o);
      if (bias) v = load<f32>(bias + o) + v;
      if (add) v = load<f32>(dst + o) + v;
      store<f32>(dst + o, v);
    }
  }
}

// ---- fused epilogues of the micro-kernel (BN statistics / BN backward reduction) ----

/** f64 of the low / high two lanes of an f32x4. */
@inline function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
@inline function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}

/**
 * mk with the BN statistics epilogue (forward pass, last reduction block). After the usual
 * write-back the tile holds final outputs y (bias and earlier blocks included). Per channel l of
 * the panel, with a per-thread shift K[l] = the mean of the first final tile of that channel
 * this thread computes (stored when init; its row 0 is always a real row), the rows whose pointer is
 * non-zero add d = y - K to S[l] and d^2 to Q[l] (f32, in L1; conv_fwd_f adds them to f64
 * partials every 16 tiles, flushSums). y - K is exact near the mean (Sterbenz), so a large
 * |mean|/std does not cancel. sh = &K[col]; S at sh + ko, Q at sh + 2*ko.
 */
function mkm(a: usize, b: usize, kc: i32, d0: usize, d1: usize, d2: usize, d3: usize, bias: usize, add: i32, sh: usize, ko: usize, init: i32, s64: usize): void {
  let c00 = f32x4.splat(0);
  let c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (bias) {
    c00 = v128.load(bias); c01 = v128.load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }
  const aEnd = a + (<usize>kc << 4);
  while (a < aEnd) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    a += 16; b += 32;
  }
  if (d0) {
    if (add) { c00 = f32x4.add(v128.load(d0), c00); c01 = f32x4.add(v128.load(d0, 16), c01); }
    v128.store(d0, c00); v128.store(d0, c01, 16);
  }
  if (init) {
    // shift = mean of the tile's real rows (the closer to the channel mean, the less the f32
    // sums of (y - K)^2 lose to the final cancellation)
    let t0 = c00, t1 = c01, n: f32 = 1;
    if (d1) { t0 = f32x4.add(t0, c10); t1 = f32x4.add(t1, c11); n += 1; }
    if (d2) { t0 = f32x4.add(t0, c20); t1 = f32x4.add(t1, c21); n += 1; }
    if (d3) { t0 = f32x4.add(t0, c30); t1 = f32x4.add(t1, c31); n += 1; }
    const r = f32x4.splat(1 / n);
    v128.store(sh, f32x4.mul(t0, r)); v128.store(sh, f32x4.mul(t1, r), 16);
  }
  const k0 = v128.load(sh), k1 = v128.load(sh, 16);
  let s0 = f32x4.sub(c00, k0), s1 = f32x4.sub(c01, k1);
  let q0 = f32x4.mul(s0, s0), q1 = f32x4.mul(s1, s1);
  if (d1) {
    if (add) { c10 = f32x4.add(v128.load(d1), c10); c11 = f32x4.add(v128.load(d1, 16), c11); }
    v128.store(d1, c10); v128.store(d1, c11, 16);
    const e0 = f32x4.sub(c10, k0), e1 = f32x4.sub(c11, k1);
    s0 = f32x4.add(s0, e0); s1 = f32x4.add(s1, e1); q0 = fma(e0, e0, q0); q1 = fma(e1, e1, q1);
  }
  if (d2) {
    if (add) { c20 = f32x4.add(v128.load(d2), c20); c21 = f32x4.add(v128.load(d2, 16), c21); }
    v128.store(d2, c20); v128.store(d2, c21, 16);
    const e0 = f32x4.sub(c20, k0), e1 = f32x4.sub(c21, k1);
    s0 = f32x4.add(s0, e0); s1 = f32x4.add(s1, e1); q0 = fma(e0, e0, q0); q1 = fma(e1, e1, q1);
  }
  if (d3) {
    if (add) { c30 = f32x4.add(v128.load(d3), c30); c31 = f32x4.add(v128.load(d3, 16), c31); }
    v128.store(d3, c30); v128.store(d3, c31, 16);
    const e0 = f32x4.sub(c30, k0), e1 = f32x4.sub(c31, k1);
    s0 = f32x4.add(s0, e0); s1 = f32x4.add(s1, e1); q0 = fma(e0, e0, q0); q1 = fma(e1, e1, q1);
  }
  const sp = sh + ko, qp = sp + ko;
  v128.store(sp, f32x4.add(v128.load(sp), s0)); v128.store(sp, f32x4.add(v128.load(sp, 16), s1), 16);
  v128.store(qp, f32x4.add(v128.load(qp), q0)); v128.store(qp, f32x4.add(v128.load(qp, 16), q1), 16);
  if (s64) flushSums(sp, ko, s64, ko << 1, 8);
}

/** Edge-tile (ncols < 8) moments as mkm, from the final values tileOut wrote (d0 is a real row). */
function momTile(d0: usize, d1: usize, d2: usize, d3: usize, ncols: i32, sh: usize, ko: usize, init: i32): void {
  if (init) {
    const n: f32 = <f32>(1 + (d1 ? 1 : 0) + (d2 ? 1 : 0) + (d3 ? 1 : 0));
    for (let l = 0; l < ncols; l++) {
      const o = <usize>l << 2;
      let t = load<f32>(d0 + o);
      if (d1) t += load<f32>(d1 + o);
      if (d2) t += load<f32>(d2 + o);
      if (d3) t += load<f32>(d3 + o);
      store<f32>(sh + o, t * (1 / n));
    }
  }
  for (let r = 0; r < 4; r++) {
    const dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    for (let l = 0; l < ncols; l++) {
      const o = <usize>l << 2;
      const e = load<f32>(dst + o) - load<f32>(sh + o);
      store<f32>(sh + ko + o, load<f32>(sh + ko + o) + e);
      store<f32>(sh + 2 * ko + o, load<f32>(sh + 2 * ko + o) + e * e);
    }
  }
}

/**
 * Adds the f32 sums of `ncols` channels at s32 (S) and s32 + so (Q) to the f64 partials at s64
 * and s64 + qo, and zeroes them: every 16 tiles (64 rows), so that f32 sums stay short.
 */
function flushSums(s32: usize, so: usize, s64: usize, qo: usize, ncols: i32): void {
  if (ncols == 8) {
    const s0 = v128.load(s32), s1 = v128.load(s32, 16), q0 = v128.load(s32 + so), q1 = v128.load(s32 + so, 16);
    v128.store(s64, f64x2.add(v128.load(s64), lo64(s0)));
    v128.store(s64, f64x2.add(v128.load(s64, 16), hi64(s0)), 16);
    v128.store(s64, f64x2.add(v128.load(s64, 32), lo64(s1)), 32);
    v128.store(s64, f64x2.add(v128.load(s64, 48), hi64(s1)), 48);
    const q = s64 + qo;
    v128.store(q, f64x2.add(v128.load(q), lo64(q0)));
    v128.store(q, f64x2.add(v128.load(q, 16), hi64(q0)), 16);
    v128.store(q, f64x2.add(v128.load(q, 32), lo64(q1)), 32);
    v128.store(q, f64x2.add(v128.load(q, 48), hi64(q1)), 48);
    const z = f32x4.splat(0);
    v128.store(s32, z); v128.store(s32, z, 16); v128.store(s32 + so, z); v128.store(s32 + so, z, 16);
    return;
  }
  for (let l = 0; l < ncols; l++) {
    const o = <usize>l << 2, o8 = <usize>l << 3;
    store<f64>(s64 + o8, load<f64>(s64 + o8) + <f64>load<f32>(s32 + o));
    store<f64>(s64 + qo + o8, load<f64>(s64 + qo + o8) + <f64>load<f32>(s32 + so + o));
    store<f32>(s32 + o, 0);
    store<f32>(s32 + so + o, 0);
  }
}

/**
 * mk with the backward-data dx epilogue (1x1 path, last reduction block): each row's final dx
 * (pointer non-zero) is masked by the ReLU of the previous BN (dx = 0 where a2*x2 + b2 <= 0, when
 * relu), stored, and reduced for that BN: st[l] += dx, st[qo + l] += dx*(x2 - mean2) (f32 sums
 * in L1, added to the f64 partials at s64 (Q at s64 + 2*qo) when s64 != 0: every 16 tiles). x2 of
 * row r at xr + r*ldx (the tile's 8 channels), cf = &a2[col] (b2 at cf + cb), cm = &mean2[col].
 * acc != 0 (D_GACC): the rows are a gradient buffer's, and a2*dx is added into them instead
 * (add must then be 0: one reduction block).
 */
function mkx(a: usize, b: usize, kc: i32, d0: usize, d1: usize, d2: usize, d3: usize, add: i32,
  xr: usize, ldx: usize, cf: usize, cb: usize, cm: usize, relu: i32, st: usize, qo: usize, s64: usize, acc: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const aEnd = a + (<usize>kc << 4);
  while (a < aEnd) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    a += 16; b += 32;
  }
  const z = f32x4.splat(0);
  let s0 = z, s1 = z, q0 = z, q1 = z;
  if (d0) {
    if (add) { c00 = f32x4.add(v128.load(d0), c00); c01 = f32x4.add(v128.load(d0, 16), c01); }
    const x0 = v128.load(xr), x1 = v128.load(xr, 16);
    if (relu) {
      c00 = v128.andnot(c00, f32x4.le(fma(x0, v128.load(cf), v128.load(cf + cb)), z));
      c01 = v128.andnot(c01, f32x4.le(fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), z));
    }
    if (acc) {
      v128.store(d0, fma(c00, v128.load(cf), v128.load(d0))); v128.store(d0, fma(c01, v128.load(cf, 16), v128.load(d0, 16)), 16);
    } else {
      v128.store(d0, c00); v128.store(d0, c01, 16);
    }
    s0 = c00; s1 = c01;
    q0 = f32x4.mul(c00, f32x4.sub(x0, v128.load(cm))); q1 = f32x4.mul(c01, f32x4.sub(x1, v128.load(cm, 16)));
  }
  xr += ldx;
  if (d1) {
    if (add) { c10 = f32x4.add(v128.load(d1), c10); c11 = f32x4.add(v128.load(d1, 16), c11); }
    const x0 = v128.load(xr), x1 = v128.load(xr, 16);
    if (relu) {
      c10 = v128.andnot(c10, f32x4.le(fma(x0, v128.load(cf), v128.load(cf + cb)), z));
      c11 = v128.andnot(c11, f32x4.le(fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), z));
    }
    if (acc) {
      v128.store(d1, fma(c10, v128.load(cf), v128.load(d1))); v128.store(d1, fma(c11, v128.load(cf, 16), v128.load(d1, 16)), 16);
    } else {
      v128.store(d1, c10); v128.store(d1, c11, 16);
    }
    s0 = f32x4.add(s0, c10); s1 = f32x4.add(s1, c11);
    q0 = fma(c10, f32x4.sub(x0, v128.load(cm)), q0); q1 = fma(c11, f32x4.sub(x1, v128.load(cm, 16)), q1);
  }
  xr += ldx;
  if (d2) {
    if (add) { c20 = f32x4.add(v128.load(d2), c20); c21 = f32x4.add(v128.load(d2, 16), c21); }
    const x0 = v128.load(xr), x1 = v128.load(xr, 16);
    if (relu) {
      c20 = v128.andnot(c20, f32x4.le(fma(x0, v128.load(cf), v128.load(cf + cb)), z));
      c21 = v128.andnot(c21, f32x4.le(fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), z));
    }
    if (acc) {
      v128.store(d2, fma(c20, v128.load(cf), v128.load(d2))); v128.store(d2, fma(c21, v128.load(cf, 16), v128.load(d2, 16)), 16);
    } else {
      v128.store(d2, c20); v128.store(d2, c21, 16);
    }
    s0 = f32x4.add(s0, c20); s1 = f32x4.add(s1, c21);
    q0 = fma(c20, f32x4.sub(x0, v128.load(cm)), q0); q1 = fma(c21, f32x4.sub(x1, v128.load(cm, 16)), q1);
  }
  xr += ldx;
  if (d3) {
    if (add) { c30 = f32x4.add(v128.load(d3), c30); c31 = f32x4.add(v128.load(d3, 16), c31); }
    const x0 = v128.load(xr), x1 = v128.load(xr, 16);
    if (relu) {
      c30 = v128.andnot(c30, f32x4.le(fma(x0, v128.load(cf), v128.load(cf + cb)), z));
      c31 = v128.andnot(c31, f32x4.le(fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), z));
    }
    if (acc) {
      v128.store(d3, fma(c30, v128.load(cf), v128.load(d3))); v128.store(d3, fma(c31, v128.load(cf, 16), v128.load(d3, 16)), 16);
    } else {
      v128.store(d3, c30); v128.store(d3, c31, 16);
    }
    s0 = f32x4.add(s0, c30); s1 = f32x4.add(s1, c31);
    q0 = fma(c30, f32x4.sub(x0, v128.load(cm)), q0); q1 = fma(c31, f32x4.sub(x1, v128.load(cm, 16)), q1);
  }
  const q = st + qo;
  v128.store(st, f32x4.add(v128.load(st), s0)); v128.store(st, f32x4.add(v128.load(st, 16), s1), 16);
  v128.store(q, f32x4.add(v128.load(q), q0)); v128.store(q, f32x4.add(v128.load(q, 16), q1), 16);
  if (s64) flushSums(st, qo, s64, qo << 1, 8);
}

/**
 * Edge-tile (ncols < 8) dx epilogue as mkx: mask, store and reduce the final values tileOut wrote.
 * tile != 0 (the accumulating epilogue, D_GACC): dx comes from the micro-tile (rows 32 bytes apart
 * at tile) and a2*dx is added into the rows d0..d3 of the gradient buffer instead.
 */
function dxTile(d0: usize, d1: usize, d2: usize, d3: usize, ncols: i32, xr: usize, ldx: usize,
  cf: usize, cb: usize, cm: usize, relu: i32, st: usize, qo: usize, tile: usize = 0): void {
  for (let r = 0; r < 4; r++) {
    const dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const xp = xr + <usize>r * ldx;
    const src = tile ? tile + (<usize>r << 5) : dst;
    for (let l = 0; l < ncols; l++) {
      const o = <usize>l << 2;
      let g = load<f32>(src + o);
      const xv = load<f32>(xp + o);
      const off = relu && load<f32>(cf + o) * xv + load<f32>(cf + cb + o) <= 0;
      if (off) g = 0;
      if (tile) store<f32>(dst + o, g * load<f32>(cf + o) + load<f32>(dst + o));
      else if (off) store<f32>(dst + o, g);
      store<f32>(st + o, load<f32>(st + o) + g);
      store<f32>(st + qo + o, load<f32>(st + qo + o) + g * (xv - load<f32>(cm + o)));
    }
  }
}

// =====================================================================================
// Packing of A as [k][4]: 4 source rows, `len` contiguous floats each, transposed 4x4 at a time.
// A source pointer 0 is a padding lane (reads the zero page, never advances).
// =====================================================================================
function copy4(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, len: i32, zero: usize): void {
  let s0: usize = 16, s1: usize = 16, s2: usize = 16, s3: usize = 16;
  if (!p0) { p0 = zero; s0 = 0; }
  if (!p1) { p1 = zero; s1 = 0; }
  if (!p2) { p2 = zero; s2 = 0; }
  if (!p3) { p3 = zero; s3 = 0; }
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const v0 = v128.load(p0), v1 = v128.load(p1), v2 = v128.load(p2), v3 = v128.load(p3);
    // (BN prologues: copy4n normalises here, copy4dy computes the dy of a BN backward.)
    const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
    const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
    v128.store(dst, i64x2.shuffle(t0, t2, 0, 2));
    v128.store(dst, i64x2.shuffle(t0, t2, 1, 3), 16);
    v128.store(dst, i64x2.shuffle(t1, t3, 0, 2), 32);
    v128.store(dst, i64x2.shuffle(t1, t3, 1, 3), 48);
    dst += 64; p0 += s0; p1 += s1; p2 += s2; p3 += s3;
  }
  const q0 = s0 >> 2, q1 = s1 >> 2, q2 = s2 >> 2, q3 = s3 >> 2;
  for (; i < len; i++) {
    store<f32>(dst, load<f32>(p0));
    store<f32>(dst, load<f32>(p1), 4);
    store<f32>(dst, load<f32>(p2), 8);
    store<f32>(dst, load<f32>(p3), 12);
    dst += 16; p0 += q0; p1 += q1; p2 += q2; p3 += q3;
  }
}

/**
 * copy4 with the BN prologue (x normalised + ReLU while packing): v = a*x + b, then max(0, v) when
 * relu, with the per-float coefficients at sa (a) and sa + sb (b): the 4 rows read the same
 * channels, so one coefficient vector serves all four. Padding lanes (pointer 0) stay exactly 0:
 * zero padding is applied after normalisation.
 */
function copy4n(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, len: i32, zero: usize, sa: usize, sb: usize, relu: i32): void {
  let s0: usize = 16, s1: usize = 16, s2: usize = 16, s3: usize = 16;
  const ones = i32x4.splat(-1), z = f32x4.splat(0);
  let m0 = ones, m1 = ones, m2 = ones, m3 = ones;
  if (!p0) { p0 = zero; s0 = 0; m0 = z; }
  if (!p1) { p1 = zero; s1 = 0; m1 = z; }
  if (!p2) { p2 = zero; s2 = 0; m2 = z; }
  if (!p3) { p3 = zero; s3 = 0; m3 = z; }
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const ca = v128.load(sa), cb = v128.load(sa + sb);
    let v0 = fma(v128.load(p0), ca, cb), v1 = fma(v128.load(p1), ca, cb);
    let v2 = fma(v128.load(p2), ca, cb), v3 = fma(v128.load(p3), ca, cb);
    if (relu) { v0 = reluv(v0); v1 = reluv(v1); v2 = reluv(v2); v3 = reluv(v3); }
    v0 = v128.and(v0, m0); v1 = v128.and(v1, m1); v2 = v128.and(v2, m2); v3 = v128.and(v3, m3);
    const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
    const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
    v128.store(dst, i64x2.shuffle(t0, t2, 0, 2));
    v128.store(dst, i64x2.shuffle(t0, t2, 1, 3), 16);
    v128.store(dst, i64x2.shuffle(t1, t3, 0, 2), 32);
    v128.store(dst, i64x2.shuffle(t1, t3, 1, 3), 48);
    dst += 64; p0 += s0; p1 += s1; p2 += s2; p3 += s3; sa += 16;
  }
  const q0 = s0 >> 2, q1 = s1 >> 2, q2 = s2 >> 2, q3 = s3 >> 2;
  for (; i < len; i++) {
    const ca = load<f32>(sa), cb = load<f32>(sa + sb);
    store<f32>(dst, q0 ? nrm(load<f32>(p0), ca, cb, relu) : 0);
    store<f32>(dst, q1 ? nrm(load<f32>(p1), ca, cb, relu) : 0, 4);
    store<f32>(dst, q2 ? nrm(load<f32>(p2), ca, cb, relu) : 0, 8);
    store<f32>(dst, q3 ? nrm(load<f32>(p3), ca, cb, relu) : 0, 12);
    dst += 16; p0 += q0; p1 += q1; p2 += q2; p3 += q3; sa += 4;
  }
}

/**
 * copy4 with the BN backward prologue: the rows are dy = A*dbn + B*xbn + C0 computed on load, dbn
 * rows at p0..p3, xbn at the same offsets + dlt (both [M][K]), A at ca, B at ca + cs, C0 at
 * ca + 2*cs (per column k). Every pointer must be a real row: callers pass row 0 again for the
 * rows past the end of a block; those lanes only reach output rows that are never written.
 */
function copy4dy(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, dlt: usize, len: i32, ca: usize, cs: usize): void {
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const A = v128.load(ca), B = v128.load(ca + cs), C0 = v128.load(ca + 2 * cs);
    const v0 = fma(A, v128.load(p0), fma(B, v128.load(p0 + dlt), C0));
    const v1 = fma(A, v128.load(p1), fma(B, v128.load(p1 + dlt), C0));
    const v2 = fma(A, v128.load(p2), fma(B, v128.load(p2 + dlt), C0));
    const v3 = fma(A, v128.load(p3), fma(B, v128.load(p3 + dlt), C0));
    const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
    const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
    v128.store(dst, i64x2.shuffle(t0, t2, 0, 2));
    v128.store(dst, i64x2.shuffle(t0, t2, 1, 3), 16);
    v128.store(dst, i64x2.shuffle(t1, t3, 0, 2), 32);
    v128.store(dst, i64x2.shuffle(t1, t3, 1, 3), 48);
    dst += 64; p0 += 16; p1 += 16; p2 += 16; p3 += 16; ca += 16;
  }
  for (; i < len; i++) {
    const A = load<f32>(ca), B = load<f32>(ca + cs), C0 = load<f32>(ca + 2 * cs);
    store<f32>(dst, A * load<f32>(p0) + (B * load<f32>(p0 + dlt) + C0));
    store<f32>(dst, A * load<f32>(p1) + (B * load<f32>(p1 + dlt) + C0), 4);
    store<f32>(dst, A * load<f32>(p2) + (B * load<f32>(p2 + dlt) + C0), 8);
    store<f32>(dst, A * load<f32>(p3) + (B * load<f32>(p3 + dlt) + C0), 12);
    dst += 16; p0 += 4; p1 += 4; p2 += 4; p3 += 4; ca += 4;
  }
}

/**
 * Expands the x-prologue coefficients coef = a[C] then b[C] into per-float rows aE[o] = a[o % C],
 * bE[o] = b[o % C] (o < NE = max(KW*C + 8, 4*C)) at ce, bE at ce + 4*NE: the coefficients of
 * float o of a packed segment, a kernel row of KW*C floats (channel o % C) or a tap (o < C,
 * channel o), or of a run of whole pixels (normWindow, o mod 4C).
 */
function expandCoef(d: usize, coef: usize, ce: usize, rows: i32 = 2): void {
  const C = ld(d, D_C), NE = ld(d, D_FNE);
  const cb = <usize>C << 2, nb = <usize>NE << 2;
  let c: usize = 0;
  for (let o: usize = 0; o < nb; o += 4) {
    store<f32>(ce + o, load<f32>(coef + c));
    store<f32>(ce + nb + o, load<f32>(coef + cb + c));
    if (rows > 2) store<f32>(ce + 2 * nb + o, load<f32>(coef + 2 * cb + c));
    c += 4;
    if (c == cb) c = 0;
  }
}

/**
 * x prologue, normalised window: writes z = a*x + b (max(0, z) when relu; ce: the expanded
 * coefficients, see expandCoef) of the input rows that output rows [m0, m0 + cnt) read, image by image, into the region at zw
 * (zcap bytes), then re-points the row table (fillRows with base x) at the copy, so that the
 * plain packing reads z: each x is normalised once per block instead of once per tap reading it
 * (KH*KW times for a stride-1 convolution). Padding taps still read 0. Returns false, table
 * untouched, when the window does not fit.
 * Layout: image bases (i32 per image of the block, 64-byte aligned), then the rows of each image.
 */
function normWindow(d: usize, tab: usize, m0: i32, cnt: i32, x: usize, ce: usize, relu: i32, zw: usize, zcap: usize, dlt: usize = 0, dym: bool = false): bool {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), OH = ld(d, D_OH), OW = ld(d, D_OW);
  const SH = ld(d, D_SH), PH = ld(d, D_PH), KH = ld(d, D_KH), DH = ld(d, D_DH);
  const P = OH * OW;
  const XS = ld(d, D_XS);
  if (XS != C) return false; // x is a view (1x1 layers only, which have no window): normalise while packing
  const rowB = <usize>W * <usize>C * 4, img = <usize>H * rowB;
  const n0 = m0 / P, n1 = (m0 + cnt - 1) / P;
  const map = zw;
  const data = zw + ((<usize>(n1 - n0 + 1) * 4 + 63) & ~63);
  // sizes and image bases: base_n + ih*rowB is row ih of image n in the copy
  let off: usize = 0;
  for (let n = n0; n <= n1; n++) {
    const pa = n == n0 ? m0 - n * P : 0, pe = n == n1 ? m0 + cnt - 1 - n * P : P - 1;
    const lo = max(0, (pa / OW) * SH - PH), hi = min(H, (pe / OW) * SH - PH + (KH - 1) * DH + 1);
    const base = data + off - <usize>lo * rowB; // wrapping arithmetic: only rows >= lo are read
    if (base == 0) return false; // 0 marks padding rows in the table
    store<i32>(map + (<usize>(n - n0) << 2), <i32>base);
    if (hi > lo) off += <usize>(hi - lo) * rowB;
  }
  if (data + off > zw + zcap) return false;
  // normalise: each image's rows are one contiguous run; the coefficients of float o of a run are
  // aE[o mod 4C] (period C, and 4C floats is a whole number of vectors)
  const pb = <usize>C << 4, nb = <usize>ld(d, D_FNE) << 2;
  off = 0;
  for (let n = n0; n <= n1; n++) {
    const pa = n == n0 ? m0 - n * P : 0, pe = n == n1 ? m0 + cnt - 1 - n * P : P - 1;
    const lo = max(0, (pa / OW) * SH - PH), hi = min(H, (pe / OW) * SH - PH + (KH - 1) * DH + 1);
    if (hi <= lo) continue;
    const src = x + <usize>n * img + <usize>lo * rowB;
    const dst = data + off;
    const len = <usize>(hi - lo) * rowB;
    off += len;
    let o: usize = 0, co: usize = 0;
    if (dym) {
      // dy prologue (backward-data as a forward pass over dY): A*dbn + B*xbn + C0, xbn = dbn + dlt
      for (; o + 16 <= len; o += 16) {
        const q = src + o;
        v128.store(dst + o, dyv(ce + co, nb, q, dlt));
        co += 16;
        if (co == pb) co = 0;
      }
      for (; o < len; o += 4) {
        const q = src + o;
        store<f32>(dst + o, dyf(ce + co, nb, q, dlt));
        co += 4;
      }
      continue;
    }
    for (; o + 16 <= len; o += 16) {
      let v = fma(v128.load(src + o), v128.load(ce + co), v128.load(ce + nb + co));
      if (relu) v = reluv(v);
      v128.store(dst + o, v);
      co += 16;
      if (co == pb) co = 0;
    }
    for (; o < len; o += 4) {
      store<f32>(dst + o, nrm(load<f32>(src + o), load<f32>(ce + co), load<f32>(ce + nb + co), relu));
      co += 4;
    }
  }
  // re-point the rows
  for (let i = 0; i < cnt; i++) {
    const t = tab + <usize>i * 12;
    const xb = <usize>load<i32>(t);
    if (!xb) continue;
    const n = <i32>((xb - x) / img);
    // (the packing then reads the window at a pixel stride of C)
    store<i32>(t, load<i32>(map + (<usize>(n - n0) << 2)));
  }
  return true;
}

/**
 * Row table for `cnt` output rows starting at global row m0: per row the byte pointer of its
 * image in `base` (x or 0), ih0 = oh*SH - PH and iw0 = ow*SW - PW.
 */
function fillRows(d: usize, tab: usize, m0: i32, cnt: i32, base: usize): void {
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW);
  const img = <usize>ld(d, D_H) * <usize>ld(d, D_W) * <usize>ld(d, D_XS) * 4;
  const P = OH * OW;
  let n = m0 / P;
  const p = m0 - n * P;
  let oh = p / OW;
  let ow = p - oh * OW;
  for (let i = 0; i < cnt; i++) {
    const t = tab + <usize>i * 12;
    store<i32>(t, <i32>(base + <usize>n * img));
    store<i32>(t, oh * SH - PH, 4);
    store<i32>(t, ow * SW - PW, 8);
    if (++ow == OW) {
      ow = 0;
      if (++oh == OH) { oh = 0; n++; }
    }
  }
}

/**
 * Pointer to x[n][ih][iw][coff..] for a row (xb = image pointer, 0 = padding row), or 0 where
 * (ih, iw) is outside the image.
 */
@inline function tapPtr(xb: usize, ih: i32, iw: i32, H: i32, W: i32, C: i32, coff: i32): usize {
  if (!xb || <u32>ih >= <u32>H || <u32>iw >= <u32>W) return 0;
  return xb + ((<usize>(ih * W + iw) * <usize>C + <usize>coff) << 2);
}

/** copy4, or copy4n in the fused instantiation. */
@inline function cp4<F>(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, len: i32, zero: usize, sa: usize, sb: usize, relu: i32): void {
  if (fused<F>()) copy4n(dst, p0, p1, p2, p3, len, zero, sa, sb, relu);
  else copy4(dst, p0, p1, p2, p3, len, zero);
}

/**
 * A prologue: packs the implicit im2col of x for one micro-panel of 4 rows (row table entries
 * at t, `nv` of them valid; group g) and the reduction range [r0, r0 + kc) as [kc][4] at panel.
 *
 * The reduction axis is walked in contiguous segments: with G == 1 and horizontal dilation 1
 * the KW taps of one kernel row are adjacent in memory (KW*C floats), one segment per kh
 * (falling back to per-tap segments for a micro-panel whose row crosses the left or right
 * image edge); otherwise one segment per tap (Cg floats).
 * Fused (F = Fused): x is BN-normalised (+ ReLU) on the way, float `off` of a segment (the
 * tapPtr channel offset) taking its coefficients from the expanded rows at ce + 4*off (bE nb
 * bytes further, see expandCoef); padding taps stay 0.
 */
function packAFwd<F>(d: usize, t: usize, nv: i32, g: i32, r0: i32, kc: i32, panel: usize, zero: usize, ce: usize, nb: usize, relu: i32, xs: i32): void {
  const C = xs, H = ld(d, D_H), W = ld(d, D_W), KW = ld(d, D_KW);
  const DH = ld(d, D_DH), DW = ld(d, D_DW), G = ld(d, D_G), Cg = ld(d, D_CG);
  const merge = DW == 1 && G == 1 && KW > 1;
  const segLen = merge ? KW * Cg : Cg;
  const r1 = r0 + kc;
  const goff = g * Cg;
  const xb0: usize = <usize>load<i32>(t);
  const xb1: usize = nv > 1 ? <usize>load<i32>(t, 12) : 0;
  const xb2: usize = nv > 2 ? <usize>load<i32>(t, 24) : 0;
  const xb3: usize = nv > 3 ? <usize>load<i32>(t, 36) : 0;
  const ih0 = load<i32>(t, 4), iw0 = load<i32>(t, 8);
  const ih1 = load<i32>(t, 16), iw1 = load<i32>(t, 20);
  const ih2 = load<i32>(t, 28), iw2 = load<i32>(t, 32);
  const ih3 = load<i32>(t, 40), iw3 = load<i32>(t, 44);
  for (let s = r0 / segLen; s * segLen < r1; s++) {
    const sa = s * segLen;
    const a0 = max(sa, r0), a1 = min(sa + segLen, r1);
    if (merge) {
      const kh = s, dh = kh * DH;
      // whole kernel row in bounds for every lane (or lane entirely padding)?
      let ok = true;
      if (xb0 && <u32>(ih0 + dh) < <u32>H && (iw0 < 0 || iw0 + KW > W)) ok = false;
      if (xb1 && <u32>(ih1 + dh) < <u32>H && (iw1 < 0 || iw1 + KW > W)) ok = false;
      if (xb2 && <u32>(ih2 + dh) < <u32>H && (iw2 < 0 || iw2 + KW > W)) ok = false;
      if (xb3 && <u32>(ih3 + dh) < <u32>H && (iw3 < 0 || iw3 + KW > W)) ok = false;
      if (ok) {
        const off = a0 - sa;
        cp4<F>(panel + <usize>(a0 - r0) * 16,
          tapPtr(xb0, ih0 + dh, iw0, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1, H, W, C, off),
          tapPtr(xb2, ih2 + dh, iw2, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3, H, W, C, off),
          a1 - a0, zero, ce + (<usize>off << 2), nb, relu);
      } else {
        for (let kw = (a0 - sa) / Cg; kw < KW; kw++) {
          const ta = sa + kw * Cg;
          if (ta >= a1) break;
          const b0 = max(ta, a0), b1 = min(ta + Cg, a1);
          const off = b0 - ta;
          cp4<F>(panel + <usize>(b0 - r0) * 16,
            tapPtr(xb0, ih0 + dh, iw0 + kw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + kw, H, W, C, off),
            tapPtr(xb2, ih2 + dh, iw2 + kw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + kw, H, W, C, off),
            b1 - b0, zero, ce + (<usize>off << 2), nb, relu);
        }
      }
    } else {
      const kh = s / KW, kw = s - kh * KW;
      const dh = kh * DH, dw = kw * DW;
      const off = goff + a0 - sa;
      cp4<F>(panel + <usize>(a0 - r0) * 16,
        tapPtr(xb0, ih0 + dh, iw0 + dw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + dw, H, W, C, off),
        tapPtr(xb2, ih2 + dh, iw2 + dw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + dw, H, W, C, off),
        a1 - a0, zero, ce + (<usize>off << 2), nb, relu);
    }
  }
}

// =====================================================================================
// Weight packing.
// =====================================================================================

/**
 * Forward B: bp[g][j][r][8] = w[g*Kg + 8j + l][c][kh][kw], r = (kh*KW + kw)*Cg + c, zero for
 * columns past Kg. Units: panels (g, j), G * Kg8/8 of them.
 */
export function conv_pack_w_fwd(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
  packWFwd(d, w, bp, start, end, false);
}

/**
 * Forward B of the transposed convolution that computes backward-data as a forward pass over
 * dY (stride 1; see convBackwardData): d describes that convolution (its input channels are
 * the original K, its outputs the original C), w is the original OIHW weight [Cg*G][Kg][KH][KW]
 * with the taps flipped: bp[g][j][r][8] = w[g*Cg + c][8j + l][KH-1-kh][KW-1-kw],
 * r = (kh*KW + kw)*Cg + c (Cg, Kg: this descriptor's). Units: panels (g, j).
 */
export function conv_pack_w_fwd_t(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
  packWFwd(d, w, bp, start, end, true);
}

@inline function packWFwd(d: usize, w: usize, bp: usize, start: i32, end: i32, flip: bool): void {
  const Kg = ld(d, D_KG), Cg = ld(d, D_CG), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const Kdim = ld(d, D_KDIM), NP = ld(d, D_KG8) >> 3;
  const T = KH * KW;
  for (let u = start; u < end; u++) {
    const g = u / NP, j = u - g * NP;
    const dst = bp + (<usize>u * <usize>Kdim) * 32;
    for (let l = 0; l < 8; l++) {
      const kk = j * 8 + l;
      let o = dst + (<usize>l << 2);
      for (let tap = 0; tap < T; tap++) {
        for (let c = 0; c < Cg; c++) {
          const e = flip ? ((g * Cg + c) * Kg + kk) * T + (T - 1 - tap) : (g * Kg + kk) * Cg * T + c * T + tap;
          store<f32>(o, kk < Kg ? load<f32>(w + (<usize>e << 2)) : 0);
          o += 32;
        }
      }
    }
  }
}

/**
 * Backward-data B (W^T). The columns (reduction index of the forward pass) are grouped in
 * segments padded to a multiple of 8, so that a panel of 8 columns never straddles two
 * segments: a segment is one tap (Cg channels) or, when Cg is not a multiple of 8 and G == 1,
 * DW == 1, one kernel row (KW*Cg floats, contiguous in dx for one output pixel; e.g. the 7x7
 * stem: 7 segments of 21 -> 24 columns instead of 49 taps of 3 -> 8).
 * bp[g][j][kk][8] = w[g*Kg + kk][c][kh][kw] for column l of panel j. Units: panels (g, j).
 */
export function conv_pack_w_bwd(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
  const Kg = ld(d, D_KG), Cg = ld(d, D_CG), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const T = KH * KW, merge = ld(d, D_DMERGE) != 0, SEG = ld(d, D_DSEG), PPS = ld(d, D_DSEG8) >> 3;
  const NPD = ld(d, D_DNP);
  const offs = scratch + SC_PACK; // 8 source offsets (bytes within a weight row), -1 = zero column
  for (let u = start; u < end; u++) {
    const g = u / NPD, j = u - g * NPD;
    const sg = j / PPS, o0 = (j - sg * PPS) * 8;
    for (let l = 0; l < 8; l++) {
      const o = o0 + l;
      let tap = 0, c = 0;
      if (merge) { const kw = o / Cg; c = o - kw * Cg; tap = sg * KW + kw; } else { tap = sg; c = o; }
      store<i32>(offs + (<usize>l << 2), o < SEG ? (c * T + tap) << 2 : -1);
    }
    let dst = bp + (<usize>u * <usize>Kg) * 32;
    for (let kk = 0; kk < Kg; kk++) {
      const src = w + (<usize>(g * Kg + kk) * <usize>(Cg * T) << 2);
      for (let l = 0; l < 8; l++) {
        const so = load<i32>(offs + (<usize>l << 2));
        store<f32>(dst + (<usize>l << 2), so >= 0 ? load<f32>(src + <usize>so) : 0);
      }
      dst += 32;
    }
  }
}

// =====================================================================================
// Forward: y[m][g*Kg + k] = bias + sum_r A[m][r] * B[r][k]. Units: output rows m (aligned to 4).
// Loop nest per thread: M block (Mc rows) > group > reduction block (Kc; A packed into
// scratch, stays in L2) > panel j of 8 channels (B micro-panel Kc x 8 in L1) > micro-panel of 4
// rows. The first reduction block stores (bias + acc), later ones add.
// =====================================================================================
export function conv_fwd(d: usize, x: usize, bp: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  convFwd<Plain>(d, x, bp, bias, y, 0, 0, 0, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused forward. coef != 0: x prologue, x normalised while packing A (coef = a[C] then b[C],
 * max(0, .) when relu; padding taps stay 0). mom != 0: moments epilogue, per-channel sums of
 * the final y - shift and (y - shift)^2 (shift[K]: this thread's first y of each channel) from
 * the tiles, in f32 over 64 rows, then f64, into this thread's region at scratch + D_FPART
 * (f64 S[K], Q[K], then f32 shift[K], zeroed here), which the host merges in thread order.
 */
export function conv_fwd_f(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convFwd<Fused>(d, x, bp, bias, y, coef, relu, mom, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Backward-data as a forward pass over dY (d: the transposed convolution, bp: conv_pack_w_fwd_t)
 * with the dx epilogue of conv_bwd_data_f on each block of output rows once it is final: dx = 0
 * where a2*x2 + b2 <= 0 (c2 = a2[C], b2[C], when relu), f64 partials S[C] += dx,
 * Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here; f32 sums over runs of 64 rows).
 */
export function conv_fwd_dx_f(d: usize, dy: usize, bp: usize, dx: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  convFwd<Fused>(d, dy, bp, 0, dx, 0, 0, 0, x2, c2, m2, relu, 0, 0, start, end, scratch);
}

/**
 * As conv_fwd_dx_f (x2 = 0: no dx epilogue), with the dy prologue of conv_bwd_data_f: dY is
 * A*dbn + B*xbn + C0 (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]), computed once per
 * block into the normalised window (the host guarantees that every block's window fits).
 */
export function conv_fwd_dy_f(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  convFwd<Fused>(d, dy, bp, 0, dx, cdy, 0, 0, x2, c2, m2, relu, dlt, 1, start, end, scratch);
}

function convFwd<F>(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32,
  x2: usize, c2: usize, m2: usize, relu2: i32, dlt: usize, dym: i32, start: i32, end: i32, scratch: usize): void {
  const K = ld(d, D_K), G = ld(d, D_G), Kg = ld(d, D_KG), Kdim = ld(d, D_KDIM);
  const NP = ld(d, D_KG8) >> 3, Kc = ld(d, D_KC), Mc = ld(d, D_MC);
  const zero = scratch + SC_ZERO, tile = scratch + SC_TILE, tab = scratch + SC_ROWS, apack = scratch + SC_PACK;
  zeroPage(scratch);
  let ce: usize = 0, nb: usize = 0, st: usize = 0, qo: usize = 0, zw: usize = 0, zcap: usize = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + <usize>ld(d, D_FCOEF);
      nb = <usize>ld(d, D_FNE) << 2;
      expandCoef(d, coef, ce, dym ? 3 : 2);
      if (ld(d, D_FZ)) { zw = scratch + <usize>ld(d, D_FZ); zcap = <usize>ld(d, D_FZCAP); }
    }
    if (mom) {
      // f64 S[K], Q[K], then f32 shift[K], S32[K], Q32[K] (see mkm)
      st = scratch + <usize>ld(d, D_FPART);
      qo = <usize>K << 3;
      memory.fill(st, 0, <usize>K * 28);
    }
    if (x2) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K << 4);
    }
  }
  const ldy = <usize>K << 2;
  const Mb = balanced(end - start, Mc);
  for (let mb = start; mb < end; mb += Mb) {
    const mn = min(Mb, end - mb);
    const np = (mn + 3) >> 2;
    fillRows(d, tab, mb, mn, x);
    // x prologue: normalise this block's input rows once (else while packing, per tap)
    const win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, mb, mn, x, ce, relu, zw, zcap, dlt, dym != 0);
    const pro = fused<F>() && ce != 0 && !win;
    const xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
    if (fused<F>() && dym && pro) unreachable(); // a dy prologue needs the window (conv.ts checks that it fits)
    for (let g = 0; g < G; g++) {
      for (let r0 = 0; r0 < Kdim; r0 += Kc) {
        const kc = min(Kc, Kdim - r0);
        const first = r0 == 0;
        const add = first ? 0 : 1;
        const stats = fused<F>() && mom != 0 && st != 0 && r0 + kc >= Kdim; // y is final after this block
        for (let j = 0; j < NP; j++) {
          const bj = bp + ((<usize>(g * NP + j) * <usize>Kdim + <usize>r0) << 5);
          const col = g * Kg + j * 8;
          const ncols = min(8, Kg - j * 8);
          const bptr: usize = first && bias ? bias + (<usize>col << 2) : 0;
          const sj = st + (qo << 1) + (<usize>col << 2); // shift of channel col
          let yrow = y + (<usize>mb * <usize>K + <usize>col) * 4;
          for (let i = 0; i < np; i++) {
            const a = apack + <usize>(i * kc) * 16;
            const rem = mn - i * 4;
            // pack each micro-panel just before its first use
            if (j == 0) {
              if (pro) packAFwd<Fused>(d, tab + <usize>(i * 4) * 12, rem, g, r0, kc, a, zero, ce, nb, relu, xs);
              else packAFwd<Plain>(d, tab + <usize>(i * 4) * 12, rem, g, r0, kc, a, zero, 0, 0, 0, xs);
            }
            const d0 = yrow, d1: usize = rem > 1 ? yrow + ldy : 0;
            const d2: usize = rem > 2 ? yrow + 2 * ldy : 0, d3: usize = rem > 3 ? yrow + 3 * ldy : 0;
            const init = mb == start && i == 0 ? 1 : 0; // first final tile of these channels
            const flush = (i & 15) == 15 || i == np - 1; // f32 sums into f64 every 16 tiles
            if (ncols == 8) {
              if (stats) mkm(a, bj, kc, d0, d1, d2, d3, bptr, add, sj, <usize>K << 2, init, flush ? st + (<usize>col << 3) : 0);
              else mk(a, bj, kc, d0, d1, d2, d3, bptr, add);
            } else {
              mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
              tileOut(tile, d0, d1, d2, d3, ncols, bptr, add);
              if (stats) {
                momTile(d0, d1, d2, d3, ncols, sj, <usize>K << 2, init);
                if (flush) flushSums(sj + (<usize>K << 2), <usize>K << 2, st + (<usize>col << 3), qo, ncols);
              }
            }
            yrow += 4 * ldy;
          }
        }
      }
    }
    if (fused<F>() && x2) {
      // dx epilogue (backward-data as a forward pass): this block's rows are final
      for (let p = 0; p < mn; p += 64) {
        const off = (<usize>(mb + p) * <usize>K) << 2;
        dxRun(y + off, x2 + off, min(64, mn - p), K, <usize>K << 2, c2, m2, relu2, st);
      }
    }
  }
}

// =====================================================================================
// Forward, transposed (G == 1, K % 8 in 1..4, K <= 32: densenet's K = 12), Y^T = W A^T: rows
// are output channels in micro-panels of 4 (weights packed [p][r][4] by conv_pack_w_fwd4), the
// columns 8 pixels (two micro-panels of packAFwd, [kc][4] each), so no FMA is spent on padding
// channels (the 8-column panels of conv_fwd waste a third at K = 12). mkT's tile is channel x
// pixel; its write-back transposes it into y's rows. Moments: a pass over each block's final
// rows (momTile / flushSums, as the tiles of conv_fwd_f). Units: output rows m (aligned to 8).
// =====================================================================================

/**
 * Moments epilogue over the final rows [mb, mb + mn) of y ([M][K]), 4 rows at a time, channels in
 * groups of 8 (momTile / flushSums, the layout of mkm at st; first: the thread's first block, last:
 * its last); tiles counts 4-row groups since the last flush (returned).
 */
function blockMoments(y: usize, K: i32, mb: i32, mn: i32, first: bool, last: bool, st: usize, tiles: i32): i32 {
  const ldy = <usize>K << 2, np = (mn + 3) >> 2;
  for (let i = 0; i < np; i++) {
    const rem = mn - i * 4;
    const r0p = y + <usize>(mb + i * 4) * ldy;
    for (let col = 0; col < K; col += 8) {
      const e = r0p + (<usize>col << 2);
      const sj = st + (<usize>K << 4) + (<usize>col << 2);
      momTile(e, rem > 1 ? e + ldy : 0, rem > 2 ? e + 2 * ldy : 0, rem > 3 ? e + 3 * ldy : 0, min(8, K - col), sj, <usize>K << 2, first && i == 0 ? 1 : 0);
    }
    tiles++;
    if (tiles == 16 || (last && i == np - 1)) {
      for (let col = 0; col < K; col += 8) {
        flushSums(sj32(st, K, col), <usize>K << 2, st + (<usize>col << 3), <usize>K << 3, min(8, K - col));
      }
      tiles = 0;
    }
  }
  return tiles;
}

/** The f32 sums S32[col..] of the moments layout at st (f64 S[K], Q[K], f32 shift[K], S32[K], Q32[K]). */
@inline function sj32(st: usize, K: i32, col: i32): usize {
  return st + (<usize>K << 4) + (<usize>K << 2) + (<usize>col << 2);
}

/** bp[p][r][l] = w[4p + l][c][kh][kw], r = (kh*KW + kw)*C + c, zero past K. Units: micro-panels p. */
export function conv_pack_w_fwd4(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
  const K = ld(d, D_K), C = ld(d, D_C), T = ld(d, D_KH) * ld(d, D_KW), Kdim = ld(d, D_KDIM);
  for (let p = start; p < end; p++) {
    let o = bp + (<usize>p * <usize>Kdim) * 16;
    for (let tap = 0; tap < T; tap++) {
      for (let c = 0; c < C; c++) {
        for (let l = 0; l < 4; l++) {
          const k = p * 4 + l;
          store<f32>(o + (<usize>l << 2), k < K ? load<f32>(w + (<usize>((k * C + c) * T + tap) << 2)) : 0);
        }
        o += 16;
      }
    }
  }
}

/**
 * 4 channels x 8 pixels: weights a [kc][4] (splat), pixels b0, b1 [kc][4] (rows 0-3, 4-7). The
 * tile is transposed in registers and written to the pixel rows e0..e7 (4 channels each, pointer
 * 0 skips the row); bias[0..4] added when bias != 0; add as mk.
 */
function mkT(a: usize, b0: usize, b1: usize, kc: i32, e0: usize, e1: usize, e2: usize, e3: usize,
  e4: usize, e5: usize, e6: usize, e7: usize, bias: usize, add: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const aEnd = a + (<usize>kc << 4);
  while (a < aEnd) {
    const p0 = v128.load(b0), p1 = v128.load(b1);
    let av = v128.load32_splat(a);
    c00 = fma(av, p0, c00); c01 = fma(av, p1, c01);
    av = v128.load32_splat(a, 4);
    c10 = fma(av, p0, c10); c11 = fma(av, p1, c11);
    av = v128.load32_splat(a, 8);
    c20 = fma(av, p0, c20); c21 = fma(av, p1, c21);
    av = v128.load32_splat(a, 12);
    c30 = fma(av, p0, c30); c31 = fma(av, p1, c31);
    a += 16; b0 += 16; b1 += 16;
  }
  // transpose: row r of (c0x, c1x, c2x, c3x) is pixel r's 4 channels
  const bv = bias ? v128.load(bias) : f32x4.splat(0);
  let t0 = i32x4.shuffle(c00, c10, 0, 4, 1, 5), t1 = i32x4.shuffle(c00, c10, 2, 6, 3, 7);
  let t2 = i32x4.shuffle(c20, c30, 0, 4, 1, 5), t3 = i32x4.shuffle(c20, c30, 2, 6, 3, 7);
  wrT(e0, f32x4.add(i64x2.shuffle(t0, t2, 0, 2), bv), add);
  wrT(e1, f32x4.add(i64x2.shuffle(t0, t2, 1, 3), bv), add);
  wrT(e2, f32x4.add(i64x2.shuffle(t1, t3, 0, 2), bv), add);
  wrT(e3, f32x4.add(i64x2.shuffle(t1, t3, 1, 3), bv), add);
  t0 = i32x4.shuffle(c01, c11, 0, 4, 1, 5); t1 = i32x4.shuffle(c01, c11, 2, 6, 3, 7);
  t2 = i32x4.shuffle(c21, c31, 0, 4, 1, 5); t3 = i32x4.shuffle(c21, c31, 2, 6, 3, 7);
  wrT(e4, f32x4.add(i64x2.shuffle(t0, t2, 0, 2), bv), add);
  wrT(e5, f32x4.add(i64x2.shuffle(t0, t2, 1, 3), bv), add);
  wrT(e6, f32x4.add(i64x2.shuffle(t1, t3, 0, 2), bv), add);
  wrT(e7, f32x4.add(i64x2.shuffle(t1, t3, 1, 3), bv), add);
}

@inline function wrT(e: usize, v: v128, add: i32): void {
  if (e) v128.store(e, add ? f32x4.add(v128.load(e), v) : v);
}

export function conv_fwd_t(d: usize, x: usize, bp: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  convFwdT<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f. */
export function conv_fwd_t_f(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convFwdT<Fused>(d, x, bp, bias, y, coef, relu, mom, start, end, scratch);
}

function convFwdT<F>(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  const K = ld(d, D_K), Kdim = ld(d, D_KDIM), Kc = ld(d, D_KC), Mc = max(8, ld(d, D_MC) & ~7);
  const RP = (K + 3) >> 2, full = K & ~3;
  const zero = scratch + SC_ZERO, tile = scratch + SC_TILE, tab = scratch + SC_ROWS, apack = scratch + SC_PACK;
  zeroPage(scratch);
  let ce: usize = 0, nb: usize = 0, st: usize = 0, zw: usize = 0, zcap: usize = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + <usize>ld(d, D_FCOEF);
      nb = <usize>ld(d, D_FNE) << 2;
      expandCoef(d, coef, ce);
      if (ld(d, D_FZ)) { zw = scratch + <usize>ld(d, D_FZ); zcap = <usize>ld(d, D_FZCAP); }
    }
    if (mom) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K * 28);
    }
  }
  const ldy = <usize>K << 2;
  const nblk = (end - start + Mc - 1) / Mc;
  const Mb = min(Mc, (((end - start + nblk - 1) / nblk) + 7) & ~7);
  let tiles = 0; // moments: 4-row groups since the last flush
  for (let mb = start; mb < end; mb += Mb) {
    const mn = min(Mb, end - mb);
    const np = (mn + 3) >> 2;
    fillRows(d, tab, mb, mn, x);
    const pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, relu, zw, zcap));
    for (let r0 = 0; r0 < Kdim; r0 += Kc) {
      const kc = min(Kc, Kdim - r0);
      const add = r0 == 0 ? 0 : 1;
      // B: every micro-panel of 4 pixels of the block, [kc][4]
      for (let i = 0; i < np; i++) {
        const a = apack + <usize>(i * kc) * 16;
        if (pro) packAFwd<Fused>(d, tab + <usize>(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, ce, nb, relu, ld(d, D_C));
        else packAFwd<Plain>(d, tab + <usize>(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, 0, 0, 0, ld(d, D_C));
      }
      for (let i = 0; i < np; i += 2) {
        const b0 = apack + <usize>(i * kc) * 16;
        const b1 = i + 1 < np ? b0 + <usize>kc * 16 : b0;
        const rem = mn - i * 4;
        const yrow = y + <usize>(mb + i * 4) * ldy;
        for (let p = 0; p < RP; p++) {
          const a = bp + ((<usize>p * <usize>Kdim + <usize>r0) << 4);
          const col = p * 4;
          const bptr: usize = add == 0 && bias ? bias + (<usize>col << 2) : 0;
          if (col < full) {
            const e = yrow + (<usize>col << 2);
            mkT(a, b0, b1, kc, e, rem > 1 ? e + ldy : 0, rem > 2 ? e + 2 * ldy : 0, rem > 3 ? e + 3 * ldy : 0,
              rem > 4 ? e + 4 * ldy : 0, rem > 5 ? e + 5 * ldy : 0, rem > 6 ? e + 6 * ldy : 0, rem > 7 ? e + 7 * ldy : 0, bptr, add);
          } else {
            // last micro-panel with K % 4 channels: through the scratch tile (8 rows of 16 bytes)
            mkT(a, b0, b1, kc, tile, tile + 16, tile + 32, tile + 48, tile + 64, tile + 80, tile + 96, tile + 112, 0, 0);
            for (let r = 0; r < min(8, rem); r++) {
              const q = yrow + <usize>r * ldy + (<usize>col << 2);
              for (let l = 0; l < K - col; l++) {
                const o = <usize>l << 2;
                let v = load<f32>(tile + (<usize>r << 4) + o);
                if (bptr) v = load<f32>(bptr + o) + v;
                if (add) v = load<f32>(q + o) + v;
                store<f32>(q + o, v);
              }
            }
          }
        }
      }
    }
    if (fused<F>() && st != 0) tiles = blockMoments(y, K, mb, mn, mb == start, mb + Mb >= end, st, tiles);
  }
}

// =====================================================================================
// Forward as dot products over input channels (G == 1, C % 4 == 0, C <= 1024, few output
// channels): no packing at all. For a pair of output pixels and 4 output channels, 8
// accumulators run over the taps and the input channels (x read in place through the row table,
// weights repacked [k][tap][c]); per step 2 loads of x, 4 of weights, 8 FMAs; the 4-lane sums are
// reduced and transposed at the end (4 channels of a pixel per vector). Each pair's x rows stay in
// L1 across the channel groups. Fused: the x prologue only through the normalised window (the
// host checks that it fits), moments on each block's final rows as conv_fwd_t.
// Units: output rows m (aligned to 2).
// =====================================================================================

/** bp[k][tap][c] = w[k][c][tap], zero rows for K <= k < K4. Units: output channels k (of K4). */
export function conv_pack_w_dot(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
  const K = ld(d, D_K), C = ld(d, D_C), T = ld(d, D_KH) * ld(d, D_KW);
  for (let k = start; k < end; k++) {
    let o = bp + (<usize>(k * T * C) << 2);
    for (let tap = 0; tap < T; tap++) {
      for (let c = 0; c < C; c++) {
        store<f32>(o, k < K ? load<f32>(w + (<usize>((k * C + c) * T + tap) << 2)) : 0);
        o += 4;
      }
    }
  }
}

/** (sum of the lanes of a, b, c, d) as one vector. */
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const s01 = f32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const s23 = f32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(i64x2.shuffle(s01, s23, 0, 2), i64x2.shuffle(s01, s23, 1, 3));
}

export function conv_fwd_dot(d: usize, x: usize, bp: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  convFwdDot<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f (the x prologue needs the window: conv.ts checks that it fits). */
export function conv_fwd_dot_f(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convFwdDot<Fused>(d, x, bp, bias, y, coef, relu, mom, start, end, scratch);
}

function convFwdDot<F>(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  const K = ld(d, D_K), C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KW = ld(d, D_KW);
  const DH = ld(d, D_DH), DW = ld(d, D_DW), T = ld(d, D_KH) * KW;
  const QG = (K + 3) >> 2, full = K & ~3;
  const tile = scratch + SC_TILE, tab = scratch + SC_ROWS, zb = scratch + SC_ZBUF;
  const cb = <usize>C << 2, kst = <usize>(T * C) << 2; // bytes per tap row, per weight row
  memory.fill(zb, 0, cb);
  let ce: usize = 0, st: usize = 0, zw: usize = 0, zcap: usize = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + <usize>ld(d, D_FCOEF);
      expandCoef(d, coef, ce);
      zw = scratch + <usize>ld(d, D_FZ); zcap = <usize>ld(d, D_FZCAP);
    }
    if (mom) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K * 28);
    }
  }
  const ldy = <usize>K << 2;
  const Mb = ld(d, D_MC); // rows per block (the window of the fused x prologue is sized for it)
  let tiles = 0;
  for (let mb = start; mb < end; mb += Mb) {
    const mn = min(Mb, end - mb);
    fillRows(d, tab, mb, mn, x);
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, relu, zw, zcap))) unreachable();
    for (let i = 0; i < mn; i += 2) {
      const t0 = tab + <usize>i * 12;
      const two = i + 1 < mn;
      const xb0 = <usize>load<i32>(t0), ih0 = load<i32>(t0, 4), iw0 = load<i32>(t0, 8);
      const xb1: usize = two ? <usize>load<i32>(t0, 12) : 0, ih1 = load<i32>(t0, 16), iw1 = load<i32>(t0, 20);
      const y0 = y + <usize>(mb + i) * ldy;
      for (let q = 0; q < QG; q++) {
        let a00 = f32x4.splat(0);
        let a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        let wt = bp + <usize>(q * 4) * kst;
        for (let tap = 0; tap < T; tap++) {
          const kh = tap / KW, kw = tap - kh * KW;
          const p0 = tapPtr(xb0, ih0 + kh * DH, iw0 + kw * DW, H, W, C, 0);
          const p1 = tapPtr(xb1, ih1 + kh * DH, iw1 + kw * DW, H, W, C, 0);
          if (p0 | p1) {
            let q0: usize = p0 ? p0 : zb, q1: usize = p1 ? p1 : zb;
            let wp = wt;
            const qe = q0 + cb;
            while (q0 < qe) {
              const x0 = v128.load(q0), x1 = v128.load(q1);
              let wv = v128.load(wp);
              a00 = fma(x0, wv, a00); a10 = fma(x1, wv, a10);
              wv = v128.load(wp + kst);
              a01 = fma(x0, wv, a01); a11 = fma(x1, wv, a11);
              wv = v128.load(wp + 2 * kst);
              a02 = fma(x0, wv, a02); a12 = fma(x1, wv, a12);
              wv = v128.load(wp + 3 * kst);
              a03 = fma(x0, wv, a03); a13 = fma(x1, wv, a13);
              q0 += 16; q1 += 16; wp += 16;
            }
          }
          wt += cb;
        }
        const col = q * 4;
        let r0 = hsum4(a00, a01, a02, a03), r1 = hsum4(a10, a11, a12, a13);
        if (col < full) {
          if (bias) { const bv = v128.load(bias + (<usize>col << 2)); r0 = f32x4.add(r0, bv); r1 = f32x4.add(r1, bv); }
          v128.store(y0 + (<usize>col << 2), r0);
          if (two) v128.store(y0 + ldy + (<usize>col << 2), r1);
        } else {
          v128.store(tile, r0); v128.store(tile, r1, 16);
          for (let l = 0; l < K - col; l++) {
            const o = <usize>l << 2;
            const bb: f32 = bias ? load<f32>(bias + (<usize>(col + l) << 2)) : 0;
            store<f32>(y0 + (<usize>col << 2) + o, load<f32>(tile + o) + bb);
            if (two) store<f32>(y0 + ldy + (<usize>col << 2) + o, load<f32>(tile + 16 + o) + bb);
          }
        }
      }
    }
    if (fused<F>() && st != 0) tiles = blockMoments(y, K, mb, mn, mb == start, mb + Mb >= end, st, tiles);
  }
}

// =====================================================================================
// Backward-data. dCol[m][(tap, c)] = sum_k dY[m][g*Kg + k] * W[k][c][tap], scattered (col2im)
// straight from the micro-kernel's write-back. Each 8-column panel lies in one segment (see
// conv_pack_w_bwd): 8 channels of one tap, so row r of a tile adds into
// dx[n][ih][iw][g*Cg + c0 .. +8] (skipped where (ih, iw) is padding); or 8 consecutive floats
// of one kernel row (merged segments, Cg % 8 != 0), added as two vectors when the row lies
// inside the image, column by column where it crosses the edge. Units: images n; a thread owns
// whole images, so the scatter never conflicts and the summation order does not depend on the
// thread count.
// =====================================================================================
export function conv_bwd_data(d: usize, dy: usize, bp: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  bwdData<Plain>(d, dy, bp, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused backward-data (col2im path). cdy != 0: dy prologue, dY = A*dbn + B*xbn + C0 computed
 * while packing (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]). x2 != 0: dx epilogue on the
 * input rows of each image as soon as no later output pixel can add to them (a pass over rows
 * just written, still in cache): dx = 0 where a2*x2 + b2 <= 0 (c2 = a2[C] then b2[C], when relu),
 * and f64 partials S[C] += dx, Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here).
 */
export function conv_bwd_data_f(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  bwdData<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, relu, start, end, scratch);
}

/**
 * dx epilogue over the input rows [h0, h1) of one image (dxn, x2n: the image's dx and x2): per
 * row and block of 4 channels (coefficients and sums in registers), over the row's pixels: mask
 * (when relu), then f32 sums of dx and dx*(x2 - mean2) over the row, added to the f64 partials st.
 */
function dxRows(d: usize, dxn: usize, x2n: usize, h0: i32, h1: i32, c2: usize, m2: usize, relu: i32, st: usize): void {
  const C = ld(d, D_C), W = ld(d, D_W);
  const rowB = <usize>W * (<usize>C << 2);
  for (let h = h0; h < h1; h++) dxRun(dxn + <usize>h * rowB, x2n + <usize>h * rowB, W, C, <usize>C << 2, c2, m2, relu, st);
}

/**
 * The dx epilogue of dxRows over one run of W consecutive pixels of C channels (px0: dx, xp0:
 * x2): per pixel, every block of 4 channels (dx and x2 read in address order), the f32 sums in the
 * thread's S32/Q32 rows (st + 20*C, st + 24*C: the 28*C-byte fusion region), added to the f64
 * partials S[C], Q[C] at st at the end of the run. (Channel-block-major order, with coefficients
 * and sums in registers and each block walking the run at stride C, was 2-12% slower on the
 * Winograd backward-data of 148->12 @32, 436->12 @8 and 64->64 @56: measured interleaved.)
 * gp0 != 0: the accumulating epilogue (D_GACC), a2*dx added into the gradient buffer's pixels
 * (gp0, gsb bytes apart) instead of the masked dx stored back. yo0 != 0 (dx read from the ring
 * of D_GRING): the masked dx is stored there, C floats per pixel, instead of in place. With the
 * mask and C % 4 == 0 (every fused DenseNet and ResNet layer) a copy of the loop without the
 * per-element flag tests runs instead (the same operations in the same order: 1-3% faster on
 * 148->12 @32 and 128->32 @56, 15 interleaved repeats).
 */
function dxRun(px0: usize, xp0: usize, W: i32, C: i32, xsb: usize, c2: usize, m2: usize, relu: i32, st: usize, gp0: usize = 0, gsb: usize = 0, yo0: usize = 0): void {
  const cb = <usize>C << 2, vb = <usize>(C & ~3) << 2, qo = cb << 1;
  const s32 = st + <usize>C * 20, q32 = st + <usize>C * 24;
  memory.fill(s32, 0, cb << 1);
  const z = f32x4.splat(0);
  const put = !gp0 && (relu || yo0 != 0); // dx (masked) is stored: back in place, or to yo
  let px = px0, xp = xp0, gp = gp0, yo = yo0 ? yo0 : px0;
  if (relu && vb == cb) {
    // the masked epilogue without channel tail, its flags taken out of the loop: a2*dx added
    // into the gradient buffer (DenseNet), or dx stored (to yo, or in place)
    for (let w = 0; w < W; w++) {
      for (let o: usize = 0; o < vb; o += 16) {
        const xv = v128.load(xp + o), a2 = v128.load(c2 + o);
        const g = v128.andnot(v128.load(px + o), f32x4.le(fma(xv, a2, v128.load(c2 + cb + o)), z));
        if (gp0) v128.store(gp + o, fma(g, a2, v128.load(gp + o)));
        else v128.store(yo + o, g);
        v128.store(s32 + o, f32x4.add(v128.load(s32 + o), g));
        v128.store(q32 + o, fma(g, f32x4.sub(xv, v128.load(m2 + o)), v128.load(q32 + o)));
      }
      px += cb; xp += xsb; gp += gsb; yo += cb;
    }
  } else {
    for (let w = 0; w < W; w++) {
      let o: usize = 0;
      for (; o < vb; o += 16) {
        let g = v128.load(px + o);
        const xv = v128.load(xp + o);
        if (relu) g = v128.andnot(g, f32x4.le(fma(xv, v128.load(c2 + o), v128.load(c2 + cb + o)), z));
        if (put) v128.store(yo + o, g);
        if (gp0) v128.store(gp + o, fma(g, v128.load(c2 + o), v128.load(gp + o)));
        v128.store(s32 + o, f32x4.add(v128.load(s32 + o), g));
        v128.store(q32 + o, fma(g, f32x4.sub(xv, v128.load(m2 + o)), v128.load(q32 + o)));
      }
      for (; o < cb; o += 4) {
        let g = load<f32>(px + o);
        const xv = load<f32>(xp + o);
        if (relu && load<f32>(c2 + o) * xv + load<f32>(c2 + cb + o) <= 0) g = 0;
        if (put) store<f32>(yo + o, g);
        if (gp0) store<f32>(gp + o, g * load<f32>(c2 + o) + load<f32>(gp + o));
        store<f32>(s32 + o, load<f32>(s32 + o) + g);
        store<f32>(q32 + o, load<f32>(q32 + o) + g * (xv - load<f32>(m2 + o)));
      }
      px += cb; xp += xsb; gp += gsb; yo += cb;
    }
  }
  for (let o: usize = 0; o < cb; o += 4) {
    const so = st + (o << 1);
    store<f64>(so, load<f64>(so) + <f64>load<f32>(s32 + o));
    store<f64>(so + qo, load<f64>(so + qo) + <f64>load<f32>(q32 + o));
  }
}

/**
 * Packs rows m, m+1, .. (rem of them valid, the rest zero) of dY, channels [k, k + kc), as [kc][4]
 * at a (fused with cdy: dY computed on load, see copy4dy).
 */
@inline function packDyRows<F>(a: usize, dy: usize, m: i32, rem: i32, K: i32, k: i32, kc: i32, dlt: usize, cdy: usize, zero: usize): void {
  const ldk = <usize>K << 2;
  const src = dy + ((<usize>m * <usize>K + <usize>k) << 2);
  if (fused<F>() && cdy) {
    copy4dy(a, src, rem > 1 ? src + ldk : src, rem > 2 ? src + 2 * ldk : src, rem > 3 ? src + 3 * ldk : src, dlt, kc, cdy + (<usize>k << 2), ldk);
  } else {
    copy4(a, src, rem > 1 ? src + ldk : 0, rem > 2 ? src + 2 * ldk : 0, rem > 3 ? src + 3 * ldk : 0, kc, zero);
  }
}

/**
 * Tight backward-data (D_DTIGHT): adds column-buffer rows [0, mn) (cs bytes apart; columns
 * (kh, kw, c) of one output pixel, row table ih0, iw0 at tab) into dx of one image: kernel row kh
 * is KW*C contiguous floats of dx row ih0 + kh*DH from pixel iw0.
 */
function colAdd(d: usize, col: usize, cs: usize, tab: usize, mn: i32, dxn: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW), DH = ld(d, D_DH);
  const L = KW * C, lb = <usize>L << 2, vb = <usize>(L & ~3) << 2;
  for (let r = 0; r < mn; r++) {
    const ih0 = load<i32>(tab + (<usize>r << 3)), iw0 = load<i32>(tab + (<usize>r << 3), 4);
    const inside = iw0 >= 0 && iw0 + KW <= W;
    let src = col + <usize>r * cs;
    for (let kh = 0; kh < KH; kh++, src += lb) {
      const ih = ih0 + kh * DH;
      if (<u32>ih >= <u32>H) continue;
      const p = dxn + ((<usize>(ih * W + iw0) * <usize>C) << 2); // (ih, iw0) may be outside
      if (inside) {
        let o: usize = 0;
        for (; o < vb; o += 16) v128.store(p + o, f32x4.add(v128.load(p + o), v128.load(src + o)));
        for (; o < lb; o += 4) store<f32>(p + o, load<f32>(p + o) + load<f32>(src + o));
      } else {
        for (let o = 0; o < L; o++) {
          if (<u32>(iw0 + o / C) >= <u32>W) continue;
          const q = p + (<usize>o << 2);
          store<f32>(q, load<f32>(q) + load<f32>(src + (<usize>o << 2)));
        }
      }
    }
  }
}

function bwdData<F>(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), K = ld(d, D_K), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const G = ld(d, D_G), OH = ld(d, D_OH), OW = ld(d, D_OW), Cg = ld(d, D_CG), Kg = ld(d, D_KG);
  const Kc = ld(d, D_KCD), Mc = ld(d, D_MCD);
  const merge = ld(d, D_DMERGE) != 0, SEG = ld(d, D_DSEG), PPS = ld(d, D_DSEG8) >> 3, NPD = ld(d, D_DNP);
  const tight = ld(d, D_DTIGHT) != 0;
  const GL = tight ? 0 : G; // groups of the padded-segment loop
  const P = OH * OW;
  const zero = scratch + SC_ZERO, tile = scratch + SC_TILE, tab = scratch + SC_ROWS, apack = scratch + SC_PACK;
  // tight: column buffer of up to 32K floats (rows of DSEG8), after the largest A block
  const cs = <usize>ld(d, D_DSEG8) << 2;
  const Mt = tight ? min(Mc, max(4, (32768 / ld(d, D_DSEG8)) & ~3)) : Mc;
  const col = apack + ((<usize>min(Mt, Mc) * <usize>Kc) << 2);
  zeroPage(scratch);
  const img = <usize>H * <usize>W * <usize>C;
  let st: usize = 0;
  if (fused<F>() && x2) {
    st = scratch + <usize>ld(d, D_FPART);
    memory.fill(st, 0, <usize>C << 4);
  }
  for (let n = start; n < end; n++) {
    const dxn = dx + img * <usize>n * 4;
    memory.fill(dxn, 0, img * 4);
    let done = 0; // dx epilogue: input rows [0, done) of this image are finished
    const Mb = balanced(P, Mt);
    for (let pb = 0; pb < P; pb += Mb) {
      const mn = min(Mb, P - pb);
      const np = (mn + 3) >> 2;
      // row table: ih0, iw0 per row (INVALID for the padding rows of the last micro-panel)
      let oh = pb / OW, ow = pb - oh * OW;
      for (let i = 0; i < np * 4; i++) {
        const t = tab + <usize>i * 8;
        if (i < mn) {
          store<i32>(t, oh * SH - PH); store<i32>(t, ow * SW - PW, 4);
          if (++ow == OW) { ow = 0; oh++; }
        } else {
          store<i32>(t, INVALID); store<i32>(t, INVALID, 4);
        }
      }
      const m0 = n * P + pb;
      if (tight) {
        // one segment of KH*KW*C columns (G == 1): the block's dY.W^T rows into the column
        // buffer, then each row's KH runs of KW*C floats added into dx
        for (let k0 = 0; k0 < Kg; k0 += Kc) {
          const kc = min(Kc, Kg - k0);
          for (let j = 0; j < NPD; j++) {
            const bj = bp + ((<usize>j * <usize>Kg + <usize>k0) << 5);
            for (let i = 0; i < np; i++) {
              const a = apack + <usize>(i * kc) * 16;
              if (j == 0) packDyRows<F>(a, dy, m0 + i * 4, mn - i * 4, K, k0, kc, dlt, cdy, zero);
              const c0 = col + <usize>(i * 4) * cs + (<usize>j << 5);
              mk(a, bj, kc, c0, c0 + cs, c0 + 2 * cs, c0 + 3 * cs, 0, k0 > 0 ? 1 : 0);
            }
          }
        }
        colAdd(d, col, cs, tab, mn, dxn);
      }
      for (let g = 0; g < GL; g++) {
        for (let k0 = 0; k0 < Kg; k0 += Kc) {
          const kc = min(Kc, Kg - k0);
          for (let j = 0; j < NPD; j++) {
            const sg = j / PPS, o0 = (j - sg * PPS) * 8;
            const ncols = min(8, SEG - o0);
            let dh = 0, dw = 0, coff = 0, kwa = 0, kwb = 0, kw8 = 0;
            if (merge) {
              dh = sg * DH; coff = o0; kwa = o0 / Cg; kwb = (o0 + ncols - 1) / Cg; kw8 = (o0 + 7) / Cg;
            } else {
              const kh = sg / KW, kw = sg - kh * KW;
              dh = kh * DH; dw = kw * DW; coff = g * Cg + o0;
            }
            const bj = bp + ((<usize>(g * NPD + j) * <usize>Kg + <usize>k0) << 5);
            for (let i = 0; i < np; i++) {
              const a = apack + <usize>(i * kc) * 16;
              // A = dY[m][g*Kg + k0 ..] (contiguous rows), packed [kc][4] just before first use
              if (j == 0) packDyRows<F>(a, dy, m0 + i * 4, mn - i * 4, K, g * Kg + k0, kc, dlt, cdy, zero);
              const t = tab + <usize>i * 32;
              if (!merge) {
                const d0 = tapPtr(dxn, load<i32>(t) + dh, load<i32>(t, 4) + dw, H, W, C, coff);
                const d1 = tapPtr(dxn, load<i32>(t, 8) + dh, load<i32>(t, 12) + dw, H, W, C, coff);
                const d2 = tapPtr(dxn, load<i32>(t, 16) + dh, load<i32>(t, 20) + dw, H, W, C, coff);
                const d3 = tapPtr(dxn, load<i32>(t, 24) + dh, load<i32>(t, 28) + dw, H, W, C, coff);
                if (!(d0 | d1 | d2 | d3)) continue; // every row falls on padding
                if (ncols == 8) {
                  mk(a, bj, kc, d0, d1, d2, d3, 0, 1);
                } else {
                  mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
                  tileOut(tile, d0, d1, d2, d3, ncols, 0, 1);
                }
              } else {
                // columns o0.. of kernel row sg: dx[n][ih][iw0 + o/Cg][o % Cg] = dxn + ((ih*W + iw0)*C + o)*4.
                // A row is "wide" when all 8 columns, the zero-weight padding ones included, fall
                // inside its image row: it is then written as two whole vectors (adding 0 to a
                // neighbouring pixel this thread owns). Otherwise its valid columns are masked.
                let d0: usize = 0, d1: usize = 0, d2: usize = 0, d3: usize = 0;
                let wide = 0, other = 0;
                for (let r = 0; r < 4; r++) {
                  const tr = t + (<usize>r << 3);
                  const ih = load<i32>(tr) + dh, iw = load<i32>(tr, 4);
                  if (<u32>ih >= <u32>H || iw + kwb < 0 || iw + kwa >= W) continue; // nothing to add
                  if (iw + kwa >= 0 && iw + kw8 < W) {
                    const p = dxn + ((<usize>(ih * W + iw) * <usize>C + <usize>coff) << 2);
                    if (r == 0) d0 = p; else if (r == 1) d1 = p; else if (r == 2) d2 = p; else d3 = p;
                    wide++;
                  } else {
                    other++;
                  }
                }
                if (!other) {
                  if (wide) mk(a, bj, kc, d0, d1, d2, d3, 0, 1);
                  continue;
                }
                mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
                for (let r = 0; r < 4; r++) {
                  const tr = t + (<usize>r << 3);
                  const ih = load<i32>(tr) + dh, iw = load<i32>(tr, 4);
                  if (<u32>ih >= <u32>H) continue;
                  const p = dxn + ((<usize>(ih * W + iw) * <usize>C + <usize>coff) << 2); // (ih, iw) may be outside
                  for (let l = 0; l < ncols; l++) {
                    if (<u32>(iw + (o0 + l) / Cg) >= <u32>W) continue;
                    const q = p + (<usize>l << 2);
                    store<f32>(q, load<f32>(q) + load<f32>(tile + (<usize>(r * 8 + l) << 2)));
                  }
                }
              }
            }
          }
        }
      }
      if (fused<F>() && x2 && pb + mn < P) {
        // later output pixels (rows >= ohn) only add to input rows >= ohn*SH - PH
        const hf = min(H, ((pb + mn) / OW) * SH - PH);
        if (hf > done) {
          dxRows(d, dxn, x2 + img * <usize>n * 4, done, hf, c2, m2, relu, st);
          done = hf;
        }
      }
    }
    if (fused<F>() && x2 && done < H) dxRows(d, dxn, x2 + img * <usize>n * 4, done, H, c2, m2, relu, st);
  }
}

/**
 * Backward-data fast path for 1x1, stride 1, no padding: dx[m][g*Cg + c] = dY[m] . W[.][c]
 * written in place (no col2im, no zeroing). Units: rows m (aligned to 4).
 */
export function conv_bwd_data_1x1(d: usize, dy: usize, bp: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  bwdData1x1<Plain>(d, dy, bp, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused 1x1 backward-data, arguments as conv_bwd_data_f; the dx epilogue runs in the
 * micro-kernel's write-back of the last reduction block (mkx), where dx is final.
 */
export function conv_bwd_data_1x1_f(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  bwdData1x1<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, relu, start, end, scratch);
}

function bwdData1x1<F>(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), K = ld(d, D_K), G = ld(d, D_G), Cg = ld(d, D_CG), Kg = ld(d, D_KG);
  const CP = ld(d, D_CG8) >> 3, Kc = ld(d, D_KCD), Mc = ld(d, D_MCD);
  const zero = scratch + SC_ZERO, tile = scratch + SC_TILE, apack = scratch + SC_PACK;
  zeroPage(scratch);
  const ldc = <usize>C << 2, ldx2 = <usize>ld(d, D_X2S) << 2;
  // accumulating epilogue: the rows written are the gradient buffer's (one reduction block)
  const gacc: usize = fused<F>() && x2 ? <usize><u32>ld(d, D_GACC) : 0;
  const ldd: usize = gacc ? <usize>ld(d, D_GS) << 2 : ldc, dst = gacc ? gacc : dx;
  // dx epilogue: f64 partials S[C], Q[C], then f32 block sums S32[C], Q32[C] (mkx)
  let st: usize = 0, s32: usize = 0;
  if (fused<F>() && x2) {
    st = scratch + <usize>ld(d, D_FPART);
    s32 = st + (<usize>C << 4);
    memory.fill(st, 0, <usize>C * 24);
  }
  const Mb = balanced(end - start, Mc);
  for (let mb = start; mb < end; mb += Mb) {
    const mn = min(Mb, end - mb);
    const np = (mn + 3) >> 2;
    for (let g = 0; g < G; g++) {
      for (let k0 = 0; k0 < Kg; k0 += Kc) {
        const kc = min(Kc, Kg - k0);
        const add = k0 == 0 ? 0 : 1;
        const epi = fused<F>() && x2 != 0 && k0 + kc >= Kg; // dx is final after this block
        for (let j = 0; j < CP; j++) {
          const c0 = j * 8;
          const ncols = min(8, Cg - c0);
          const bj = bp + ((<usize>(g * CP + j) * <usize>Kg + <usize>k0) << 5);
          let row = dst + (<usize>mb * (ldd >> 2) + <usize>(g * Cg + c0)) * 4;
          let xr = x2 + (<usize>mb * (ldx2 >> 2) + <usize>(g * Cg + c0)) * 4; // x2 rows (pixel stride X2S)
          for (let i = 0; i < np; i++) {
            const a = apack + <usize>(i * kc) * 16;
            const rem = mn - i * 4;
            if (j == 0) packDyRows<F>(a, dy, mb + i * 4, rem, K, g * Kg + k0, kc, dlt, cdy, zero);
            const d0 = row, d1: usize = rem > 1 ? row + ldd : 0;
            const d2: usize = rem > 2 ? row + 2 * ldd : 0, d3: usize = rem > 3 ? row + 3 * ldd : 0;
            if (epi) {
              const co = <usize>(g * Cg + c0) << 2;
              const flush = (i & 15) == 15 || i == np - 1; // f32 sums into f64 every 16 tiles
              if (ncols == 8) {
                mkx(a, bj, kc, d0, d1, d2, d3, add, xr, ldx2, c2 + co, ldc, m2 + co, relu, s32 + co, ldc, flush ? st + (co << 1) : 0, gacc ? 1 : 0);
              } else {
                mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
                if (gacc) {
                  dxTile(d0, d1, d2, d3, ncols, xr, ldx2, c2 + co, ldc, m2 + co, relu, s32 + co, ldc, tile);
                } else {
                  tileOut(tile, d0, d1, d2, d3, ncols, 0, add);
                  dxTile(d0, d1, d2, d3, ncols, xr, ldx2, c2 + co, ldc, m2 + co, relu, s32 + co, ldc);
                }
                if (flush) flushSums(s32 + co, ldc, st + (co << 1), <usize>C << 3, ncols);
              }
            } else if (ncols == 8) {
              mk(a, bj, kc, d0, d1, d2, d3, 0, add);
            } else {
              mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
              tileOut(tile, d0, d1, d2, d3, ncols, 0, add);
            }
            row += 4 * ldd;
            xr += 4 * ldx2;
          }
        }
      }
    }
  }
}

// =====================================================================================
// Backward-weights: acc[g][r][k] = sum_m A[m][r] * dY[m][g*Kg + k], the GEMM A^T x dY with the
// reduction over M. Rows r (reduction index of the forward pass) play the micro-kernel's M role,
// packed as A^T [m][4]; dY chunks are packed as panels [m][8].
// The rows of acc are the forward reduction index regrouped in segments (one kernel row of KW*C
// contiguous floats when G == 1 and DW == 1, else one tap of Cg floats), each padded to a
// multiple of 4 (SEG4), so that a row panel of 4 never straddles two segments: packing then
// reads each pixel's segment as whole v128 vectors, with one address and bounds computation per
// (pixel, segment). Units: row panels or column panels of acc (see conv_bwd_w); a thread owns
// whole panels, so nothing is reduced across threads, and the summation order (M chunks of Mch,
// each summed from zero then added) is fixed: bit-identical for any thread count.
// acc is [G][ROWS][Kg8] in the workspace; conv_bwd_w_out transposes it to OIHW.
// =====================================================================================

/**
 * Bytes between A^T micro-panels: mlen*16 plus one cache line, so that the nq panels written
 * together for one pixel fall into different L1 sets (at a multiple of 4 KiB they would all
 * share one set and thrash: measured 4 cycles per float instead of under 1).
 */
@inline function atStride(mlen: i32): usize {
  return (<usize>mlen << 4) + 64;
}

/**
 * A^T micro-panels [p - p0][mlen][4] (atStride apart) for row panels [p0, p1) of group g, chunk
 * rows in `tab`. Fused (F = Fused): x is BN-normalised (+ ReLU) while packed, row o of a segment
 * taking its coefficients from the expanded rows at ce + 4*(coff + o) (bE nb bytes further, see
 * expandCoef); rows outside the image (padding) stay 0.
 */
function packAT<F>(d: usize, tab: usize, mlen: i32, g: i32, p0: i32, p1: i32, dst: usize, ce: usize, nb: usize, relu: i32, xs: i32): void {
  if (ld(d, D_WTIGHT)) {
    packATTight<F>(d, tab, mlen, p0, p1, dst, ce, nb, relu);
    return;
  }
  const C = xs, H = ld(d, D_H), W = ld(d, D_W), KW = ld(d, D_KW);
  const DH = ld(d, D_DH), DW = ld(d, D_DW), Cg = ld(d, D_CG);
  const merge = ld(d, D_MERGE) != 0, SEG = ld(d, D_SEG), SEG4 = ld(d, D_SEG4);
  const PPS = SEG4 >> 2; // row panels per segment
  const z = f32x4.splat(0);
  const ps = atStride(mlen); // bytes between consecutive panels
  let p = p0;
  while (p < p1) {
    const sg = p / PPS, q0 = p - sg * PPS;
    const nq = min(PPS - q0, p1 - p); // panels of this segment in the block
    const o0 = q0 * 4; // first row (offset in the segment)
    const nfull = max(0, min(nq, (SEG - o0) >> 2)); // panels entirely inside the SEG valid rows
    const ntail = nq - nfull; // 0 or 1: a last panel with 1..3 valid rows
    const kh = merge ? sg : sg / KW;
    const kw = merge ? 0 : sg - kh * KW;
    const dh = kh * DH, dw = kw * DW;
    const coff = merge ? o0 : g * Cg + o0;
    const out0 = dst + <usize>(p - p0) * ps;
    const ca0 = ce + (<usize>coff << 2); // fused: coefficients of the segment's row o0
    for (let mm = 0; mm < mlen; mm++) {
      const t = tab + <usize>mm * 12;
      const xb = <usize>load<i32>(t);
      const ih = load<i32>(t, 4) + dh, iw = load<i32>(t, 8) + dw;
      let out = out0 + (<usize>mm << 4);
      const rowIn = xb != 0 && <u32>ih < <u32>H;
      if (rowIn && (merge ? iw >= 0 && iw + KW <= W : <u32>iw < <u32>W)) {
        // the whole segment is inside the image
        let src = xb + ((<usize>(ih * W + iw) * <usize>C + <usize>coff) << 2);
        if (fused<F>()) {
          let ca = ca0;
          for (let q = 0; q < nfull; q++) {
            let v = fma(v128.load(src), v128.load(ca), v128.load(ca + nb));
            if (relu) v = reluv(v);
            v128.store(out, v);
            out += ps; src += 16; ca += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // as below (rows past the segment only reach acc's padding rows)
              let v = fma(v128.load(src), v128.load(ca), v128.load(ca + nb));
              if (relu) v = reluv(v);
              v128.store(out, v);
            } else {
              const nv = SEG - (o0 + nfull * 4);
              for (let l = 0; l < 4; l++) {
                const o = <usize>l << 2;
                store<f32>(out + o, l < nv ? nrm(load<f32>(src + o), load<f32>(ca + o), load<f32>(ca + nb + o), relu) : 0);
              }
            }
          }
        } else {
          for (let q = 0; q < nfull; q++) {
            v128.store(out, v128.load(src));
            out += ps; src += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // the 1..3 floats past the segment belong to the next pixel of the same image row:
              // read them with the vector; they only reach acc's padding rows, never output
              v128.store(out, v128.load(src));
            } else {
              const nv = SEG - (o0 + nfull * 4);
              for (let l = 0; l < 4; l++) store<f32>(out + (<usize>l << 2), l < nv ? load<f32>(src + (<usize>l << 2)) : 0);
            }
          }
        }
      } else if (!rowIn || !merge) {
        for (let q = 0; q < nq; q++) {
          v128.store(out, z);
          out += ps;
        }
      } else {
        // a kernel row crossing the left or right image edge: element by element
        const src = xb + ((<usize>(ih * W + iw) * <usize>C + <usize>coff) << 2); // (ih, iw) may be outside
        for (let q = 0; q < nq; q++) {
          for (let l = 0; l < 4; l++) {
            const o = o0 + q * 4 + l;
            const ok = o < SEG && <u32>(iw + o / Cg) < <u32>W;
            const so = <usize>(q * 4 + l) << 2;
            let v: f32 = 0;
            if (ok) {
              v = load<f32>(src + so);
              if (fused<F>()) v = nrm(v, load<f32>(ca0 + so), load<f32>(ca0 + nb + so), relu);
            }
            store<f32>(out + (<usize>l << 2), v);
          }
          out += ps;
        }
      }
    }
    p += nq;
  }
}

/**
 * packAT for tight rows (D_WTIGHT; G == 1, merged kernel rows of SEG = KW*C floats): acc row o
 * is kernel row o / SEG, float o % SEG of it, with no padding between kernel rows. Per pixel, the
 * kernel rows that panels [p0, p1) touch are gathered into one L1 row (SC_TROW; zeros outside
 * the image; fused: normalised with the expanded coefficients of float o % SEG), which is then
 * cut into the 4-float panels.
 */
function packATTight<F>(d: usize, tab: usize, mlen: i32, p0: i32, p1: i32, dst: usize, ce: usize, nb: usize, relu: i32): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW), DH = ld(d, D_DH);
  const SEG = ld(d, D_SEG), R = KH * SEG;
  const row = tab - SC_ROWS + SC_TROW; // this thread's scratch
  const sb = <usize>SEG << 2, vb = <usize>(SEG & ~3) << 2;
  const kha = (p0 * 4) / SEG, khb = min(KH - 1, (p1 * 4 - 1) / SEG);
  for (let o = R; o < R + 4; o++) store<f32>(row + (<usize>o << 2), 0); // past the last kernel row
  const ps = atStride(mlen);
  for (let mm = 0; mm < mlen; mm++) {
    const t = tab + <usize>mm * 12;
    const xb = <usize>load<i32>(t);
    const ih0 = load<i32>(t, 4), iw0 = load<i32>(t, 8);
    for (let kh = kha; kh <= khb; kh++) {
      const ih = ih0 + kh * DH;
      const r = row + <usize>kh * sb;
      if (!xb || <u32>ih >= <u32>H) {
        for (let o: usize = 0; o < sb; o += 4) store<f32>(r + o, 0);
        continue;
      }
      const src = xb + ((<usize>(ih * W + iw0) * <usize>C) << 2); // (ih, iw0) may be outside
      if (iw0 >= 0 && iw0 + KW <= W) {
        let o: usize = 0;
        for (; o < vb; o += 16) {
          let v = v128.load(src + o);
          if (fused<F>()) {
            v = fma(v, v128.load(ce + o), v128.load(ce + nb + o));
            if (relu) v = reluv(v);
          }
          v128.store(r + o, v);
        }
        for (; o < sb; o += 4) {
          let v = load<f32>(src + o);
          if (fused<F>()) v = nrm(v, load<f32>(ce + o), load<f32>(ce + nb + o), relu);
          store<f32>(r + o, v);
        }
      } else {
        for (let o = 0; o < SEG; o++) {
          const so = <usize>o << 2;
          let v: f32 = 0;
          if (<u32>(iw0 + o / C) < <u32>W) {
            v = load<f32>(src + so);
            if (fused<F>()) v = nrm(v, load<f32>(ce + so), load<f32>(ce + nb + so), relu);
          }
          store<f32>(r + so, v);
        }
      }
    }
    let out = dst + (<usize>mm << 4);
    for (let p = p0; p < p1; p++) {
      v128.store(out, v128.load(row + (<usize>p << 4)));
      out += ps;
    }
  }
}

/**
 * dY chunk rows [m0, m0 + mlen), group g, panels [ja, je) as [je - ja][mlen][8] (zero past Kg).
 * Fused with cdy != 0 (dy prologue): dy = A*dbn + B*xbn + C0 on load, dbn at `dy`, xbn at
 * dy + dlt, A[K], B[K], C0[K] at cdy.
 */
function packDY<F>(d: usize, dy: usize, m0: i32, mlen: i32, g: i32, ja: i32, je: i32, dst: usize, dlt: usize, cdy: usize): void {
  const K = ld(d, D_K), Kg = ld(d, D_KG);
  const ldk = <usize>K << 2;
  for (let j = ja; j < je; j++) {
    let out = dst + <usize>((j - ja) * mlen) * 32;
    let src = dy + ((<usize>m0 * <usize>K + <usize>(g * Kg + j * 8)) << 2);
    const ncols = min(8, Kg - j * 8);
    if (fused<F>() && cdy) {
      const ca = cdy + (<usize>(g * Kg + j * 8) << 2);
      if (j + 1 < je && Kg - j * 8 >= 16) {
        // two whole panels per pass: each row's 64 bytes of dbn and xbn are read once (the two
        // input streams of a chunk would not both stay in L1 for a second pass)
        let out2 = out + <usize>mlen * 32;
        const A0 = v128.load(ca), A1 = v128.load(ca, 16), A2 = v128.load(ca, 32), A3 = v128.load(ca, 48);
        const B0 = v128.load(ca + ldk), B1 = v128.load(ca + ldk, 16), B2 = v128.load(ca + ldk, 32), B3 = v128.load(ca + ldk, 48);
        const cc = ca + 2 * ldk;
        for (let mm = 0; mm < mlen; mm++) {
          const x = src + dlt;
          v128.store(out, fma(A0, v128.load(src), fma(B0, v128.load(x), v128.load(cc))));
          v128.store(out, fma(A1, v128.load(src, 16), fma(B1, v128.load(x, 16), v128.load(cc, 16))), 16);
          v128.store(out2, fma(A2, v128.load(src, 32), fma(B2, v128.load(x, 32), v128.load(cc, 32))));
          v128.store(out2, fma(A3, v128.load(src, 48), fma(B3, v128.load(x, 48), v128.load(cc, 48))), 16);
          out += 32; out2 += 32; src += ldk;
        }
        j++;
        continue;
      }
      if (ncols == 8) {
        const A0 = v128.load(ca), A1 = v128.load(ca, 16);
        const B0 = v128.load(ca + ldk), B1 = v128.load(ca + ldk, 16);
        const C0 = v128.load(ca + 2 * ldk), C1 = v128.load(ca + 2 * ldk, 16);
        for (let mm = 0; mm < mlen; mm++) {
          v128.store(out, fma(A0, v128.load(src), fma(B0, v128.load(src + dlt), C0)));
          v128.store(out, fma(A1, v128.load(src, 16), fma(B1, v128.load(src + dlt, 16), C1)), 16);
          out += 32; src += ldk;
        }
      } else {
        for (let mm = 0; mm < mlen; mm++) {
          for (let l = 0; l < 8; l++) {
            const o = <usize>l << 2;
            store<f32>(out + o, l < ncols ? load<f32>(ca + o) * load<f32>(src + o) + (load<f32>(ca + ldk + o) * load<f32>(src + dlt + o) + load<f32>(ca + 2 * ldk + o)) : 0);
          }
          out += 32; src += ldk;
        }
      }
      continue;
    }
    if (ncols == 8) {
      for (let mm = 0; mm < mlen; mm++) {
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
        out += 32; src += ldk;
      }
    } else {
      for (let mm = 0; mm < mlen; mm++) {
        for (let l = 0; l < 8; l++) store<f32>(out + (<usize>l << 2), l < ncols ? load<f32>(src + (<usize>l << 2)) : 0);
        out += 32; src += ldk;
      }
    }
  }
}

/**
 * Units: row panels (g, p) of acc (D_WCOLS = 0: a thread packs the whole dY chunk and its own
 * rows of A^T), or column panels (g, j) (D_WCOLS = 1, chosen when acc has few rows, e.g. 1x1
 * 64->256: a thread packs its own dY panels and all of A^T). Either way each element of acc
 * belongs to one thread.
 */
export function conv_bwd_w(d: usize, dy: usize, x: usize, acc: usize, start: i32, end: i32, scratch: usize): void {
  bwdW<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused backward-weights. cdy != 0: dy prologue (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K],
 * C0[K]: dY = A*dbn + B*xbn + C0 computed while packing the dY chunk). cx != 0: x prologue (cx =
 * a[C] then b[C]: x normalised, max(0, .) when relu, while packing A^T; padding stays 0).
 */
export function conv_bwd_w_f(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  bwdW<Fused>(d, dy, x, acc, dlt, cdy, cx, relu, start, end, scratch);
}

function bwdW<F>(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const N = ld(d, D_N), OH = ld(d, D_OH), OW = ld(d, D_OW), G = ld(d, D_G);
  const Kg8 = ld(d, D_KG8), ROWS = ld(d, D_ROWS), cols = ld(d, D_WCOLS) != 0;
  const NP = Kg8 >> 3, RP = ROWS >> 2;
  const Mch = ld(d, D_MCH), RBP = ld(d, D_RBP), S = ld(d, D_WSL);
  const M = N * OH * OW, NCH = (M + Mch - 1) / Mch;
  const tab = scratch + SC_ROWS;
  const bpk = scratch + SC_PACK; // dY chunk: Mch * Kg8 floats
  const apk = bpk + <usize>Mch * <usize>Kg8 * 4; // A^T block: RBP panels, atStride(Mch) bytes each
  const ldc = <usize>Kg8 << 2;
  const U = cols ? NP : RP; // units per group
  const UG = G * U; // units per slice
  const sliceB = (<usize>G * <usize>ROWS * <usize>Kg8) << 2;
  let ce: usize = 0, nb: usize = 0, zw: usize = 0, zcap: usize = 0;
  if (fused<F>() && cx) {
    ce = scratch + <usize>ld(d, D_FCOEF);
    nb = <usize>ld(d, D_FNE) << 2;
    expandCoef(d, cx, ce);
    if (ld(d, D_FZ)) { zw = scratch + <usize>ld(d, D_FZ); zcap = <usize>ld(d, D_FZCAP); }
  }
  for (let sl = start / UG; sl <= (end - 1) / UG; sl++) {
    // slice sl: chunks [c0, c1) into its own accumulator; units [us, ue) of it
    const us = max(start, sl * UG) - sl * UG, ue = min(end, (sl + 1) * UG) - sl * UG;
    const accS = acc + <usize>sl * sliceB;
    const c0 = <i32>((<i64>sl * NCH) / S), c1 = <i32>((<i64>(sl + 1) * NCH) / S);
    const gs = us / U, ge = (ue - 1) / U;
    for (let m0 = c0 * Mch; m0 < min(M, c1 * Mch); m0 += Mch) {
      const mlen = min(Mch, M - m0);
      const add = m0 == c0 * Mch ? 0 : 1;
      fillRows(d, tab, m0, mlen, x);
      // x prologue: normalise this chunk's input rows once (else while packing, per tap)
      const win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, m0, mlen, x, ce, relu, zw, zcap);
      const pro = fused<F>() && ce != 0 && !win;
      const xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
      for (let g = gs; g <= ge; g++) {
        const ua = max(us, g * U) - g * U, ub = min(ue, (g + 1) * U) - g * U;
        const pa = cols ? 0 : ua, pe = cols ? RP : ub;
        const ja = cols ? ua : 0, je = cols ? ub : NP;
        packDY<F>(d, dy, m0, mlen, g, ja, je, bpk, dlt, cdy);
        for (let rb = pa; rb < pe; rb += RBP) {
          const rbe = min(pe, rb + RBP);
          if (pro) packAT<Fused>(d, tab, mlen, g, rb, rbe, apk, ce, nb, relu, xs);
          else packAT<Plain>(d, tab, mlen, g, rb, rbe, apk, 0, 0, 0, xs);
          for (let j = ja; j < je; j++) {
            const bj = bpk + <usize>((j - ja) * mlen) * 32;
            for (let p = rb; p < rbe; p++) {
              const a = apk + <usize>(p - rb) * atStride(mlen);
              const o = accS + ((<usize>(g * ROWS + p * 4) * <usize>Kg8 + <usize>(j * 8)) << 2);
              mk(a, bj, mlen, o, o + ldc, o + 2 * ldc, o + 3 * ldc, 0, add);
            }
          }
        }
      }
    }
  }
}

// =====================================================================================
// Backward-weights, transposed (G == 1; conv.ts weightsT: spatial kernels with C >= 16, or K % 8
// in 1..4): the accumulator is dW^T[K4][KH*KW*Cg8] = dY^T A, rows the output channels
// (micro-panels of 4, so K = 12 wastes nothing, where the 8-column panels of conv_bwd_w waste a
// third), columns the forward reduction index tap-major, each tap padded to Cg8. Per chunk of
// D_MCH pixels, dY^T is packed [K4/4][m][4] (each thread packs the whole chunk: K floats per
// pixel), then the thread's 8-column panels (tap, channels c0..c0+8) are packed from x in groups
// of up to WT_GROUP panels of one tap, [m][8] each, and mk runs once per row micro-panel. Units:
// column panels; every dW element is summed by one thread, chunk by chunk in order
// (bit-identical across thread counts).
// =====================================================================================
const WT_GROUP = 16; // panels packed per pass over a chunk's pixels (16 x 16 KiB)

export function conv_bwd_wt(d: usize, dy: usize, x: usize, acc: usize, start: i32, end: i32, scratch: usize): void {
  bwdWT<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/** Fused: dy prologue (cdy: A, B, C0; xbn = dy + dlt) and/or x prologue (cx: a, b; relu), as conv_bwd_w_f. */
export function conv_bwd_wt_f(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  bwdWT<Fused>(d, dy, x, acc, dlt, cdy, cx, relu, start, end, scratch);
}

function bwdWT<F>(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const N = ld(d, D_N), OH = ld(d, D_OH), OW = ld(d, D_OW), K = ld(d, D_K), Kg = ld(d, D_KG);
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KW = ld(d, D_KW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const Cg8 = ld(d, D_CG8), KT = ld(d, D_KH) * KW;
  const RP = (Kg + 3) >> 2, per = Cg8 >> 3;
  const Mch = ld(d, D_MCH); // chunk of pixels: sized by conv.ts so that both packed blocks fit the scratch
  const M = N * OH * OW;
  const zero = scratch + SC_ZERO, tab = scratch + SC_ROWS;
  const apk = scratch + SC_PACK; // dY^T chunk: RP micro-panels of Mch*16 bytes
  const bpk = apk + <usize>RP * <usize>Mch * 16; // x panels: up to WT_GROUP of Mch*32 + 64 bytes
  const lda = <usize>(KT * Cg8) << 2; // accumulator row
  zeroPage(scratch);
  let ce: usize = 0, nb: usize = 0, zw: usize = 0, zcap: usize = 0;
  if (fused<F>() && cx) {
    ce = scratch + <usize>ld(d, D_FCOEF);
    nb = <usize>ld(d, D_FNE) << 2;
    expandCoef(d, cx, ce);
    if (ld(d, D_FZ)) { zw = scratch + <usize>ld(d, D_FZ); zcap = <usize>ld(d, D_FZCAP); }
  }
  const z = f32x4.splat(0);
  for (let m0 = 0; m0 < M; m0 += Mch) {
    const mlen = min(Mch, M - m0);
    const add = m0 == 0 ? 0 : 1;
    // dY^T: panel p holds dY[m][4p .. 4p+4] (zero past Kg)
    for (let p = 0; p < RP; p++) {
      const k0 = p * 4, full = k0 + 4 <= Kg;
      let src = dy + ((<usize>m0 * <usize>K + <usize>k0) << 2);
      let o = apk + <usize>p * <usize>Mch * 16;
      for (let m = 0; m < mlen; m++) {
        if (full) {
          v128.store(o, fused<F>() && cdy ? dyv(cdy + (<usize>k0 << 2), <usize>K << 2, src, dlt) : v128.load(src));
        } else {
          for (let l = 0; l < 4; l++) {
            let v: f32 = 0;
            if (k0 + l < Kg) {
              const q = src + (<usize>l << 2);
              v = fused<F>() && cdy ? dyf(cdy + (<usize>(k0 + l) << 2), <usize>K << 2, q, dlt) : load<f32>(q);
            }
            store<f32>(o + (<usize>l << 2), v);
          }
        }
        src += <usize>K << 2; o += 16;
      }
    }
    fillRows(d, tab, m0, mlen, x);
    const pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, relu, zw, zcap));
    // panels of one tap in groups of up to WT_GROUP: one address computation per pixel and group
    for (let qa = start; qa < end;) {
      const tap = qa / per;
      const qb = min(min(end, (tap + 1) * per), qa + WT_GROUP);
      const c0 = (qa - tap * per) * 8;
      const kh = tap / KW, kw = tap - kh * KW;
      const dh = kh * DH, dw = kw * DW;
      const nq = qb - qa;
      const full = (qb - tap * per) * 8 <= C; // every panel of the group has 8 valid channels
      // bytes per packed panel: + 64 so that the panels written together per pixel do not all
      // fall into one L1 set (a multiple of 4 KiB apart, they thrash)
      const ps = (<usize>mlen << 5) + 64;
      for (let m = 0; m < mlen; m++) {
        const t = tab + <usize>m * 12;
        const pp = tapPtr(<usize>load<i32>(t), load<i32>(t, 4) + dh, load<i32>(t, 8) + dw, H, W, C, c0);
        let o = bpk + (<usize>m << 5);
        if (!pp) {
          for (let u = 0; u < nq; u++) { v128.store(o, z); v128.store(o, z, 16); o += ps; }
        } else if (full && !pro) {
          let src = pp;
          for (let u = 0; u < nq; u++) { v128.store(o, v128.load(src)); v128.store(o, v128.load(src, 16), 16); o += ps; src += 32; }
        } else {
          for (let u = 0; u < nq; u++) {
            const cu = c0 + u * 8;
            const nval = min(8, C - cu);
            const src = pp + (<usize>(u * 8) << 2);
            if (nval == 8) {
              let v0 = v128.load(src), v1 = v128.load(src, 16);
              if (pro) {
                const cp = ce + (<usize>cu << 2);
                v0 = fma(v0, v128.load(cp), v128.load(cp + nb)); v1 = fma(v1, v128.load(cp, 16), v128.load(cp + nb, 16));
                if (relu) { v0 = reluv(v0); v1 = reluv(v1); }
              }
              v128.store(o, v0); v128.store(o, v1, 16);
            } else {
              for (let l = 0; l < 8; l++) {
                let v: f32 = 0;
                if (l < nval) {
                  v = load<f32>(src + (<usize>l << 2));
                  if (pro) {
                    const cp = ce + (<usize>(cu + l) << 2);
                    v = nrm(v, load<f32>(cp), load<f32>(cp + nb), relu);
                  }
                }
                store<f32>(o + (<usize>l << 2), v);
              }
            }
            o += ps;
          }
        }
      }
      for (let u = 0; u < nq; u++) {
        const cq = acc + (<usize>(qa + u) << 5);
        const b = bpk + <usize>u * ps;
        for (let p = 0; p < RP; p++) {
          const c = cq + <usize>(p * 4) * lda;
          mk(apk + <usize>p * <usize>Mch * 16, b, mlen, c, c + lda, c + 2 * lda, c + 3 * lda, 0, add);
        }
      }
      qa = qb;
    }
  }
}

// =====================================================================================
// Backward-weights as dot products over output pixels (G == 1, C % 4 == 0; conv.ts weightsDot):
// no packing. A unit is (tap, 4 output channels, 8 input channels); per chunk of D_MCH pixels
// its 8 accumulators run along the chunk's output-row segments, where x advances by SW*C floats
// and dY by K per pixel (2 loads of x, 4 splats of dY, 8 FMAs per pixel), then are added to
// acc[k][tap][c] (K4 x T x C floats; first chunk: stored). The chunk's x rows stay in L2 across
// the units. Units: (tap, k block, c block); every dW element is summed by one thread, chunk by
// chunk in order (bit-identical across thread counts). Fused: the x prologue through the window
// only (conv.ts checks that it fits).
// =====================================================================================

export function conv_bwd_w_dot(d: usize, dy: usize, x: usize, acc: usize, start: i32, end: i32, scratch: usize): void {
  bwdWDot<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused, arguments as conv_bwd_w_f: the dy prologue (cdy != 0) computes each chunk's dY once into
 * scratch (every thread the whole chunk, K floats per pixel); the x prologue needs the window.
 */
export function conv_bwd_w_dot_f(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  bwdWDot<Fused>(d, dy, x, acc, dlt, cdy, cx, relu, start, end, scratch);
}

function bwdWDot<F>(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const N = ld(d, D_N), OH = ld(d, D_OH), OW = ld(d, D_OW), K = ld(d, D_K), C = ld(d, D_C);
  const H = ld(d, D_H), W = ld(d, D_W), KW = ld(d, D_KW), SW = ld(d, D_SW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const T = ld(d, D_KH) * KW, Mch = ld(d, D_MCH);
  const KB = (K + 3) >> 2, CB = (C + 7) >> 3;
  const M = N * OH * OW;
  const tab = scratch + SC_ROWS, seg = scratch + SC_PACK; // segments: s0, s1, xb, ih0, iw0 (i32), then the dY chunk
  const xs = <usize>(SW * C) << 2, ks = <usize>K << 2, cb = <usize>C << 2;
  const ldt = <usize>(T * C) << 2; // acc row (one output channel)
  let ce: usize = 0, zw: usize = 0, zcap: usize = 0;
  if (fused<F>() && cx) {
    ce = scratch + <usize>ld(d, D_FCOEF);
    expandCoef(d, cx, ce);
    zw = scratch + <usize>ld(d, D_FZ); zcap = <usize>ld(d, D_FZCAP);
  }
  for (let m0 = 0; m0 < M; m0 += Mch) {
    const mlen = min(Mch, M - m0);
    const first = m0 == 0;
    fillRows(d, tab, m0, mlen, x);
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, relu, zw, zcap))) unreachable();
    // dy prologue: this chunk's dY = A*dbn + B*xbn + C0, once, into scratch
    let dyb = dy + ((<usize>m0 * <usize>K) << 2); // dY of the chunk's first pixel
    if (fused<F>() && cdy) {
      const dst = seg + ((<usize>Mch * 20 + 63) & ~63); // after the segment table
      let q = dyb, o = dst;
      const kv = ks & ~15;
      for (let m = 0; m < mlen; m++) {
        let k: usize = 0;
        for (; k < kv; k += 16) {
          v128.store(o + k, dyv(cdy + k, ks, q + k, dlt));
        }
        for (; k < ks; k += 4) {
          store<f32>(o + k, dyf(cdy + k, ks, q + k, dlt));
        }
        q += ks; o += ks;
      }
      dyb = dst;
    }
    // output-row segments of the chunk
    let ns = 0;
    for (let i = 0; i < mlen;) {
      const t = tab + <usize>i * 12;
      const ow = (m0 + i) % OW;
      const len = min(OW - ow, mlen - i);
      const sp = seg + <usize>ns * 20;
      store<i32>(sp, i); store<i32>(sp, i + len, 4);
      store<i32>(sp, load<i32>(t), 8); store<i32>(sp, load<i32>(t, 4), 12); store<i32>(sp, load<i32>(t, 8), 16);
      ns++;
      i += len;
    }
    for (let u = start; u < end; u++) {
      const tap = u / (KB * CB), r = u - tap * (KB * CB);
      const kb = r / CB, cq = r - kb * CB;
      const kh = tap / KW, kw = tap - kh * KW;
      const k0 = kb * 4, c0 = cq * 8;
      const wide = c0 + 8 <= C;
      // splat offsets of the 4 output channels (clamped to K - 1: duplicated lanes are not output)
      const o1 = <usize>min(1, K - 1 - k0) << 2, o2 = <usize>min(2, K - 1 - k0) << 2, o3 = <usize>min(3, K - 1 - k0) << 2;
      let a00 = f32x4.splat(0);
      let a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
      for (let sI = 0; sI < ns; sI++) {
        const sp = seg + <usize>sI * 20;
        const xb = <usize>load<i32>(sp, 8);
        const ih = load<i32>(sp, 12) + kh * DH;
        if (!xb || <u32>ih >= <u32>H) continue;
        const s0 = load<i32>(sp), s1 = load<i32>(sp, 4);
        // pixel j of the segment reads iw = iw0 + (j - s0)*SW + kw*DW
        const iwa = load<i32>(sp, 16) + kw * DW;
        let ja = 0, je = s1 - s0;
        if (iwa < 0) ja = (-iwa + SW - 1) / SW;
        const lim = (W - 1 - iwa) / SW + 1; // pixels with iw <= W - 1 (iwa <= W - 1)
        if (iwa > W - 1) continue;
        je = min(je, lim);
        if (ja >= je) continue;
        let xp = xb + ((<usize>(ih * W + iwa + ja * SW) * <usize>C + <usize>c0) << 2);
        let dp = dyb + ((<usize>(s0 + ja) * <usize>K + <usize>k0) << 2);
        const dpe = dp + <usize>(je - ja) * ks;
        if (wide) {
          while (dp < dpe) {
            const x0 = v128.load(xp), x1 = v128.load(xp, 16);
            let dv = v128.load32_splat(dp);
            a00 = fma(dv, x0, a00); a01 = fma(dv, x1, a01);
            dv = v128.load32_splat(dp + o1);
            a10 = fma(dv, x0, a10); a11 = fma(dv, x1, a11);
            dv = v128.load32_splat(dp + o2);
            a20 = fma(dv, x0, a20); a21 = fma(dv, x1, a21);
            dv = v128.load32_splat(dp + o3);
            a30 = fma(dv, x0, a30); a31 = fma(dv, x1, a31);
            xp += xs; dp += ks;
          }
        } else {
          while (dp < dpe) {
            const x0 = v128.load(xp);
            a00 = fma(v128.load32_splat(dp), x0, a00);
            a10 = fma(v128.load32_splat(dp + o1), x0, a10);
            a20 = fma(v128.load32_splat(dp + o2), x0, a20);
            a30 = fma(v128.load32_splat(dp + o3), x0, a30);
            xp += xs; dp += ks;
          }
        }
      }
      // acc[k][tap][c0..]: rows past K are never read (K4 rows reserved)
      const ap = acc + <usize>k0 * ldt + ((<usize>(tap * C + c0)) << 2);
      wrAcc(ap, a00, a01, wide, first);
      wrAcc(ap + ldt, a10, a11, wide, first);
      wrAcc(ap + 2 * ldt, a20, a21, wide, first);
      wrAcc(ap + 3 * ldt, a30, a31, wide, first);
    }
  }
}

@inline function wrAcc(p: usize, v0: v128, v1: v128, wide: bool, first: bool): void {
  v128.store(p, first ? v0 : f32x4.add(v128.load(p), v0));
  if (wide) v128.store(p, first ? v1 : f32x4.add(v128.load(p, 16), v1), 16);
}

/** dW (OIHW) from the accumulator of conv_bwd_w_dot: dw[k][c][tap] = acc[k][tap][c]. Units: output channels k. */
export function conv_bwd_w_dot_out(d: usize, acc: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), T = ld(d, D_KH) * ld(d, D_KW);
  for (let k = start; k < end; k++) {
    const src = acc + ((<usize>(k * T * C)) << 2);
    let dst = dw + ((<usize>(k * C * T)) << 2);
    for (let c = 0; c < C; c++) {
      for (let tap = 0; tap < T; tap++) {
        store<f32>(dst, load<f32>(src + ((<usize>(tap * C + c)) << 2)));
        dst += 4;
      }
    }
  }
}

/** dW (OIHW) from the accumulator of conv_bwd_wt: dw[k][c][tap] = acc[k][tap*Cg8 + c]. Units: output channels k. */
export function conv_bwd_wt_out(d: usize, acc: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const Cg = ld(d, D_CG), Cg8 = ld(d, D_CG8), KT = ld(d, D_KH) * ld(d, D_KW);
  for (let k = start; k < end; k++) {
    const src = acc + ((<usize>k * <usize>(KT * Cg8)) << 2);
    let dst = dw + ((<usize>k * <usize>(Cg * KT)) << 2);
    for (let c = 0; c < Cg; c++) {
      for (let tap = 0; tap < KT; tap++) {
        store<f32>(dst, load<f32>(src + ((<usize>(tap * Cg8 + c)) << 2)));
        dst += 4;
      }
    }
  }
}


/** dw[k][c][kh][kw] (OIHW) = acc[g][row(kh, kw, c)][k - g*Kg]. Units: output channels k. */
export function conv_bwd_w_out(d: usize, acc: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const Cg = ld(d, D_CG), Kg = ld(d, D_KG), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const Kg8 = ld(d, D_KG8), ROWS = ld(d, D_ROWS), merge = ld(d, D_MERGE) != 0, SEG4 = ld(d, D_SEG4);
  const S = ld(d, D_WSL), sliceB = (<usize>ld(d, D_G) * <usize>ROWS * <usize>Kg8) << 2;
  for (let k = start; k < end; k++) {
    const g = k / Kg, kk = k - g * Kg;
    const src = acc + ((<usize>(g * ROWS) * <usize>Kg8 + <usize>kk) << 2);
    let dst = dw + ((<usize>k * <usize>(Cg * KH * KW)) << 2);
    for (let c = 0; c < Cg; c++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          const row = merge ? kh * SEG4 + kw * Cg + c : (kh * KW + kw) * SEG4 + c;
          const q = src + ((<usize>row * <usize>Kg8) << 2);
          let v = load<f32>(q);
          for (let sl = 1; sl < S; sl++) v += load<f32>(q + <usize>sl * sliceB); // the slices, in order
          store<f32>(dst, v);
          dst += 4;
        }
      }
    }
  }
}

/**
 * db[k] = sum over m of dy[m][k] for k in [start, end) (start a multiple of 4). Sums run over
 * chunks of 256 rows, each from zero, then added: a fixed order, independent of the threads.
 */
export function conv_bias_grad(d: usize, dy: usize, db: usize, start: i32, end: i32, scratch: usize): void {
  biasGrad<Plain>(d, dy, db, 0, 0, start, end, scratch);
}

/** conv_bias_grad of dY = A*dbn + B*xbn + C0 computed on load (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]). */
export function conv_bias_grad_f(d: usize, dy: usize, db: usize, dlt: usize, cdy: usize, start: i32, end: i32, scratch: usize): void {
  biasGrad<Fused>(d, dy, db, dlt, cdy, start, end, scratch);
}

function biasGrad<F>(d: usize, dy: usize, db: usize, dlt: usize, cdy: usize, start: i32, end: i32, scratch: usize): void {
  const K = ld(d, D_K), M = ld(d, D_N) * ld(d, D_OH) * ld(d, D_OW);
  const tot = scratch + SC_PACK;
  const part = tot + 8192 * 4;
  const ldk = <usize>K << 2;
  for (let cb = start; cb < end; cb += 8192) {
    const cn = min(8192, end - cb);
    const nv = cn >> 2;
    memory.fill(tot, 0, <usize>cn * 4);
    for (let m0 = 0; m0 < M; m0 += 256) {
      const me = min(M, m0 + 256);
      memory.fill(part, 0, <usize>cn * 4);
      let row = dy + ((<usize>m0 * <usize>K + <usize>cb) << 2);
      for (let m = m0; m < me; m++) {
        if (fused<F>()) {
          const ca = cdy + (<usize>cb << 2);
          for (let v = 0; v < nv; v++) {
            const o = <usize>v << 4;
            const g = dyv(ca + o, ldk, row + o, dlt);
            v128.store(part + o, f32x4.add(v128.load(part + o), g));
          }
          for (let c = nv * 4; c < cn; c++) {
            const o = <usize>c << 2;
            const g = dyf(ca + o, ldk, row + o, dlt);
            store<f32>(part + o, load<f32>(part + o) + g);
          }
        } else {
          for (let v = 0; v < nv; v++) {
            const o = <usize>v << 4;
            v128.store(part + o, f32x4.add(v128.load(part + o), v128.load(row + o)));
          }
          for (let c = nv * 4; c < cn; c++) {
            const o = <usize>c << 2;
            store<f32>(part + o, load<f32>(part + o) + load<f32>(row + o));
          }
        }
        row += ldk;
      }
      for (let c = 0; c < cn; c++) {
        const o = <usize>c << 2;
        store<f32>(tot + o, load<f32>(tot + o) + load<f32>(part + o));
      }
    }
    memory.copy(db + (<usize>cb << 2), tot, <usize>cn * 4);
  }
}

// =====================================================================================
// Depthwise (groups == C == K): direct SIMD along channels, weights repacked as wt[tap][C].
// =====================================================================================

/** wt[tap][c] = w[c][0][kh][kw]. Units: channels. */
export function conv_dw_pack_w(d: usize, w: usize, wt: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), T = ld(d, D_KH) * ld(d, D_KW);
  for (let c = start; c < end; c++) {
    for (let tap = 0; tap < T; tap++) {
      store<f32>(wt + ((<usize>(tap * C + c)) << 2), load<f32>(w + ((<usize>(c * T + tap)) << 2)));
    }
  }
}

/** Forward. Units: output rows (n, oh). */
export function conv_dw_fwd(d: usize, x: usize, wt: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const z = f32x4.splat(0);
  const rowB = <usize>W * <usize>C * 4, pixB = <usize>C * 4;
  for (let row = start; row < end; row++) {
    const n = row / OH, oh = row - n * OH;
    const xn = x + <usize>n * <usize>H * rowB;
    for (let ow = 0; ow < OW; ow++) {
      const yp = y + (<usize>(row * OW + ow) * <usize>C << 2);
      const ih0 = oh * SH - PH, iw0 = ow * SW - PW;
      let c = 0;
      for (; c + 16 <= C; c += 16) {
        const co = <usize>c << 2;
        let a0 = z, a1 = z, a2 = z, a3 = z;
        if (bias) { a0 = v128.load(bias + co); a1 = v128.load(bias + co, 16); a2 = v128.load(bias + co, 32); a3 = v128.load(bias + co, 48); }
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * DH;
          if (<u32>ih >= <u32>H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * DW;
            if (<u32>iw >= <u32>W) continue;
            const xp = xn + <usize>ih * rowB + <usize>iw * pixB + co;
            const wp = wt + (<usize>((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128.load(xp), v128.load(wp), a0);
            a1 = fma(v128.load(xp, 16), v128.load(wp, 16), a1);
            a2 = fma(v128.load(xp, 32), v128.load(wp, 32), a2);
            a3 = fma(v128.load(xp, 48), v128.load(wp, 48), a3);
          }
        }
        v128.store(yp + co, a0); v128.store(yp + co, a1, 16); v128.store(yp + co, a2, 32); v128.store(yp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const co = <usize>c << 2;
        let a0 = bias ? v128.load(bias + co) : z;
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * DH;
          if (<u32>ih >= <u32>H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * DW;
            if (<u32>iw >= <u32>W) continue;
            a0 = fma(v128.load(xn + <usize>ih * rowB + <usize>iw * pixB + co), v128.load(wt + (<usize>((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128.store(yp + co, a0);
      }
      for (; c < C; c++) {
        const co = <usize>c << 2;
        let s: f32 = bias ? load<f32>(bias + co) : 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * DH;
          if (<u32>ih >= <u32>H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * DW;
            if (<u32>iw >= <u32>W) continue;
            s += load<f32>(xn + <usize>ih * rowB + <usize>iw * pixB + co) * load<f32>(wt + (<usize>((kh * KW + kw) * C) << 2) + co);
          }
        }
        store<f32>(yp + co, s);
      }
    }
  }
}

/**
 * Backward-data as a gather (no scatter, no zeroing): dx[n][ih][iw][c] = sum over the taps
 * (kh, kw) whose output pixel oh = (ih + PH - kh*DH)/SH, ow likewise, is whole and in range,
 * of dy[n][oh][ow][c] * wt[tap][c]. Units: input rows (n, ih).
 */
export function conv_dw_bwd_data(d: usize, dy: usize, wt: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const z = f32x4.splat(0);
  const pixB = <usize>C * 4;
  for (let row = start; row < end; row++) {
    const n = row / H, ih = row - n * H;
    const dyn = dy + <usize>n * <usize>OH * <usize>OW * pixB;
    for (let iw = 0; iw < W; iw++) {
      const xp = dx + <usize>(row * W + iw) * pixB;
      let c = 0;
      for (; c + 16 <= C; c += 16) {
        const co = <usize>c << 2;
        let a0 = z, a1 = z, a2 = z, a3 = z;
        for (let kh = 0; kh < KH; kh++) {
          const th = ih + PH - kh * DH;
          if (th < 0) break;
          const oh = th / SH;
          if (oh * SH != th || oh >= OH) continue;
          for (let kw = 0; kw < KW; kw++) {
            const tw = iw + PW - kw * DW;
            if (tw < 0) break;
            const ow = tw / SW;
            if (ow * SW != tw || ow >= OW) continue;
            const gp = dyn + <usize>(oh * OW + ow) * pixB + co;
            const wp = wt + (<usize>((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128.load(gp), v128.load(wp), a0);
            a1 = fma(v128.load(gp, 16), v128.load(wp, 16), a1);
            a2 = fma(v128.load(gp, 32), v128.load(wp, 32), a2);
            a3 = fma(v128.load(gp, 48), v128.load(wp, 48), a3);
          }
        }
        v128.store(xp + co, a0); v128.store(xp + co, a1, 16); v128.store(xp + co, a2, 32); v128.store(xp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const co = <usize>c << 2;
        let a0 = z;
        for (let kh = 0; kh < KH; kh++) {
          const th = ih + PH - kh * DH;
          if (th < 0) break;
          const oh = th / SH;
          if (oh * SH != th || oh >= OH) continue;
          for (let kw = 0; kw < KW; kw++) {
            const tw = iw + PW - kw * DW;
            if (tw < 0) break;
            const ow = tw / SW;
            if (ow * SW != tw || ow >= OW) continue;
            a0 = fma(v128.load(dyn + <usize>(oh * OW + ow) * pixB + co), v128.load(wt + (<usize>((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128.store(xp + co, a0);
      }
      for (; c < C; c++) {
        const co = <usize>c << 2;
        let s: f32 = 0;
        for (let kh = 0; kh < KH; kh++) {
          const th = ih + PH - kh * DH;
          if (th < 0) break;
          const oh = th / SH;
          if (oh * SH != th || oh >= OH) continue;
          for (let kw = 0; kw < KW; kw++) {
            const tw = iw + PW - kw * DW;
            if (tw < 0) break;
            const ow = tw / SW;
            if (ow * SW != tw || ow >= OW) continue;
            s += load<f32>(dyn + <usize>(oh * OW + ow) * pixB + co) * load<f32>(wt + (<usize>((kh * KW + kw) * C) << 2) + co);
          }
        }
        store<f32>(xp + co, s);
      }
    }
  }
}

/**
 * Backward-weights: dw[c][0][kh][kw] = sum over (n, oh, ow) of dy[..][c] * x[n][ih][iw][c].
 * Units: channels (start a multiple of 4); blocks of 64 channels with per-tap accumulators in
 * scratch; per image a partial sum from zero, then added (fixed order, thread-independent).
 */
export function conv_dw_bwd_w(d: usize, dy: usize, x: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const N = ld(d, D_N), C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const T = KH * KW;
  const CB = 64;
  const tot = scratch + SC_PACK;
  const part = tot + <usize>T * CB * 4;
  const pixB = <usize>C * 4;
  for (let cb = start; cb < end; cb += CB) {
    const cn = min(CB, end - cb);
    const nv = cn >> 2;
    const cbo = <usize>cb << 2;
    memory.fill(tot, 0, <usize>(T * CB) * 4);
    for (let n = 0; n < N; n++) {
      memory.fill(part, 0, <usize>(T * CB) * 4);
      const xn = x + <usize>n * <usize>H * <usize>W * pixB + cbo;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const gp = dy + <usize>((n * OH + oh) * OW + ow) * pixB + cbo;
          const ih0 = oh * SH - PH, iw0 = ow * SW - PW;
          for (let kh = 0; kh < KH; kh++) {
            const ih = ih0 + kh * DH;
            if (<u32>ih >= <u32>H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = iw0 + kw * DW;
              if (<u32>iw >= <u32>W) continue;
              const xp = xn + <usize>(ih * W + iw) * pixB;
              const ap = part + <usize>((kh * KW + kw) * CB) * 4;
              for (let v = 0; v < nv; v++) {
                const o = <usize>v << 4;
                v128.store(ap + o, fma(v128.load(gp + o), v128.load(xp + o), v128.load(ap + o)));
              }
              for (let c = nv * 4; c < cn; c++) {
                const o = <usize>c << 2;
                store<f32>(ap + o, load<f32>(ap + o) + load<f32>(gp + o) * load<f32>(xp + o));
              }
            }
          }
        }
      }
      for (let i = 0; i < T * CB; i += 4) {
        const o = <usize>i << 2;
        v128.store(tot + o, f32x4.add(v128.load(tot + o), v128.load(part + o)));
      }
    }
    for (let c = 0; c < cn; c++) {
      for (let tap = 0; tap < T; tap++) {
        store<f32>(dw + (<usize>((cb + c) * T + tap) << 2), load<f32>(tot + (<usize>(tap * CB + c) << 2)));
      }
    }
  }
}

// =====================================================================================
// Peak probe: the micro-kernel on L1-resident packed panels (A kc x 4, B kc x 8 in scratch),
// `reps` times per unit of the range. Used by src/bench/kernels_conv.ts.
// =====================================================================================
export function gemm_bench_mk(kc: i32, reps: i32, start: i32, end: i32, scratch: usize): void {
  const a = scratch + SC_PACK, b = a + <usize>kc * 16, c = scratch + SC_TILE;
  // ordinary values (no NaN / denormals left in scratch by other kernels)
  for (let i = 0; i < kc * 12; i++) store<f32>(a + (<usize>i << 2), <f32>((i & 7) - 3) * 0.125);
  memory.fill(c, 0, 128);
  for (let u = start; u < end; u++) {
    for (let r = 0; r < reps; r++) mk(a, b, kc, c, c + 32, c + 64, c + 96, 0, 1);
  }
}

// =====================================================================================
// Winograd F(2x2, 3x3): 3x3 convolutions with stride 1, dilation 1, G == 1, C % 4 == 0, K % 4 == 0
// (the forward pass, and backward-data as the forward pass over dY with the flipped, transposed
// weights). Each 2x2 tile of output pixels is computed from a 4x4 tile of input pixels:
//   y = A^T [ (G g G^T) . (B^T d B) ] A,   16 products per channel pair instead of 36.
// Units: tile rows (n, tr), tr < TH = ceil(OH/2), TW = ceil(OW/2) tiles per row; the output
// rows of consecutive units are consecutive rows of y, so a thread's rows are one range of m.
// Per block of TB tiles (flattened over the thread's units): the input transform writes
// U[tile][xi][C] (xi = 4*i + j, B^T d B vectorised along channels; a BN prologue reads a ring of
// normalised input rows, wRing, or normalises each tap on load); then per pass of KB output
// channels, per pair of tiles, per xi, per 4 output channels: a dot product over C
// (conv_fwd_dot's mix: 2 loads of U, 4 of V, 8 FMAs; V[xi][k][C] packed by conv_wino_pack_w),
// reduced with hsum4 into a [xi][KB/4][2 tiles][4] scratch tile; then the output transform
// A^T M A of both tiles stores y, and takes the moments epilogue's sums. The dx epilogue runs
// over the rows of every completed tile row (dxRun). Descriptor: D_WTB (TB, even), D_WKB (KB,
// multiple of 4), D_WWIN (ring), D_WTC (backward-weights chunk).
// =====================================================================================

/**
 * The normalised window of a BN prologue: a ring of 4 input rows (slot ih mod 4), each WW pixels
 * (input column iw at index iw + PW; outside the image 0) of C channels (this thread's [cs, ce)),
 * BN-normalised (kind 1: a*x + b, ReLU; kind 2: the dy prologue A*dbn + B*xbn + C0 with xbn at
 * dbn + dlt). Tile row tr of image n reads rows 2*tr - PH .. + 3; consecutive tile rows share two,
 * so each input row is normalised once per thread (ring state at rs: image, last row done).
 * Tap row r of the tile row is at wRow(win, 2*tr - PH + r, WW, cb).
 */
function wRing(win: usize, rs: usize, x: usize, xsb: usize, n: i32, tr: i32, H: i32, W: i32, PH: i32, PW: i32, WW: i32, cb: usize,
  kind: i32, coef: usize, relu: i32, dlt: usize, cs: usize, ce: usize): void {
  const lo = 2 * tr - PH, hi = lo + 3;
  let done = load<i32>(rs, 4);
  if (load<i32>(rs) != n) done = lo - 1;
  for (let ih = max(lo, done + 1); ih <= hi; ih++) {
    const dst = wRow(win, ih, WW, cb);
    const rowB = <usize>WW * cb;
    if (ih < 0 || ih >= H) { memory.fill(dst, 0, rowB); continue; }
    memory.fill(dst, 0, <usize>PW * cb);
    memory.fill(dst + <usize>(PW + W) * cb, 0, <usize>(WW - PW - W) * cb);
    let src = x + (<usize>(n * H + ih) * <usize>W) * xsb; // x's pixels are xsb bytes apart (a view: more than cb)
    let o = dst + <usize>PW * cb;
    if (kind == 1 && relu) {
      // BN + ReLU (the common case), without the per-element flag tests (Winograd
      // backward-weights of 148->12 @32 with the x prologue 2-3% faster, the forward 1%)
      for (let iw = 0; iw < W; iw++) {
        for (let c: usize = cs; c < ce; c += 16) v128.store(o + c, reluv(fma(v128.load(coef + c), v128.load(src + c), v128.load(coef + cb + c))));
        src += xsb; o += cb;
      }
      continue;
    }
    for (let iw = 0; iw < W; iw++) {
      for (let c: usize = cs; c < ce; c += 16) {
        let v: v128;
        if (kind == 1) {
          v = fma(v128.load(coef + c), v128.load(src + c), v128.load(coef + cb + c));
          if (relu) v = reluv(v);
        } else {
          v = dyv(coef + c, cb, src + c, dlt);
        }
        v128.store(o + c, v);
      }
      src += xsb; o += cb;
    }
  }
  store<i32>(rs, n);
  store<i32>(rs, hi, 4);
}

/** The ring slot of input row ih (ih >= -2). */
@inline function wRow(win: usize, ih: i32, WW: i32, cb: usize): usize {
  return win + <usize>((ih + 4) & 3) * <usize>WW * cb;
}

/** Tap (i, j) of 4 consecutive 3x3 kernels 36 bytes apart (flip: tap (2 - i, 2 - j); ks: bytes between kernels). */
@inline function wg4(src: usize, ks: usize, i: i32, j: i32, flip: bool): v128 {
  const o = <usize>(flip ? (2 - i) * 3 + (2 - j) : i * 3 + j) << 2;
  let v = f32x4.splat(load<f32>(src + o));
  v = f32x4.replace_lane(v, 1, load<f32>(src + ks + o));
  v = f32x4.replace_lane(v, 2, load<f32>(src + 2 * ks + o));
  return f32x4.replace_lane(v, 3, load<f32>(src + 3 * ks + o));
}

/**
 * V[xi][k][c] = (G g G^T)[xi] of the 3x3 kernel g of (k, c), 4 input channels at a time (f32x4;
 * C % 4 == 0); flip: g[i][j] = w[c][k][2-i][2-j] (the transposed convolution, w of shape
 * [C][K][3][3]). Each of the 16 V rows of k is written in order. Units: output channels k.
 */
function winoPackW(d: usize, w: usize, vp: usize, start: i32, end: i32, flip: bool): void {
  const K = ld(d, D_K), C = ld(d, D_C);
  const h = f32x4.splat(0.5);
  const xs = (<usize>K * <usize>C) << 2;
  // bytes between the kernels of channels c and c + 1
  const ks: usize = flip ? (<usize>K * 36) : 36;
  for (let k = start; k < end; k++) {
    for (let c = 0; c < C; c += 4) {
      const src = w + (<usize>(flip ? c * K + k : k * C + c) * 36);
      let o = vp + ((<usize>k * <usize>C + <usize>c) << 2);
      for (let a = 0; a < 4; a++) {
        // row a of G g: G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
        let r0: v128, r1: v128, r2: v128;
        if (a == 0) { r0 = wg4(src, ks, 0, 0, flip); r1 = wg4(src, ks, 0, 1, flip); r2 = wg4(src, ks, 0, 2, flip); }
        else if (a == 3) { r0 = wg4(src, ks, 2, 0, flip); r1 = wg4(src, ks, 2, 1, flip); r2 = wg4(src, ks, 2, 2, flip); }
        else {
          const sg = a == 1 ? f32x4.splat(1) : f32x4.splat(-1);
          r0 = f32x4.mul(h, f32x4.add(fma(sg, wg4(src, ks, 1, 0, flip), wg4(src, ks, 0, 0, flip)), wg4(src, ks, 2, 0, flip)));
          r1 = f32x4.mul(h, f32x4.add(fma(sg, wg4(src, ks, 1, 1, flip), wg4(src, ks, 0, 1, flip)), wg4(src, ks, 2, 1, flip)));
          r2 = f32x4.mul(h, f32x4.add(fma(sg, wg4(src, ks, 1, 2, flip), wg4(src, ks, 0, 2, flip)), wg4(src, ks, 2, 2, flip)));
        }
        v128.store(o, r0);
        v128.store(o + xs, f32x4.mul(h, f32x4.add(f32x4.add(r0, r1), r2)));
        v128.store(o + 2 * xs, f32x4.mul(h, f32x4.add(f32x4.sub(r0, r1), r2)));
        v128.store(o + 3 * xs, r2);
        o += 4 * xs;
      }
    }
  }
}

export function conv_wino_pack_w(d: usize, w: usize, vp: usize, start: i32, end: i32, scratch: usize): void {
  winoPackW(d, w, vp, start, end, false);
}

/** For backward-data: d is the transposed convolution's descriptor, w the original [C][K][3][3] weights. */
export function conv_wino_pack_w_t(d: usize, w: usize, vp: usize, start: i32, end: i32, scratch: usize): void {
  winoPackW(d, w, vp, start, end, true);
}

/**
 * One input value of a tile: plain load, or the BN prologue on load (kind 1: a*x + b, ReLU; kind 2:
 * the dy prologue A*dbn + B*xbn + C0); taps outside the image are 0 (after the prologue).
 */
@inline function wTap<F>(pt: usize, i: i32, c: usize, kind: i32, ca: v128, cbv: v128, cc: v128, relu: i32, dlt: usize, mask: i32): v128 {
  const p = <usize>load<u32>(pt + (<usize>i << 2)) + c;
  if (!fused<F>() || kind == 0) return v128.load(p);
  if (!((mask >> i) & 1)) return f32x4.splat(0);
  if (kind == 1) {
    const v = fma(ca, v128.load(p), cbv);
    return relu ? reluv(v) : v;
  }
  return dyr(ca, cbv, cc, p, dlt);
}

/**
 * B^T d B of one tile (16 tap pointers at pt, mask: bit i set where tap i is inside the image),
 * channels [cs, ce) (bytes), into u: with ps == 0 as u[xi][C] (xs == cb); else in panels of 8
 * channels ps bytes apart (channel c at u + (c / 8) * ps + (c % 8) * 4), xi xs bytes apart.
 */
function wInTile<F>(pt: usize, mask: i32, u: usize, cb: usize, kind: i32, coef: usize, relu: i32, dlt: usize,
  cs: usize, ce: usize, ps: usize, xs: usize): void {
  const z = f32x4.splat(0);
  for (let c: usize = cs; c < ce; c += 16) {
    let ca = z, cbv = z, cc = z;
    if (fused<F>() && kind != 0) {
      ca = v128.load(coef + c); cbv = v128.load(coef + cb + c);
      if (kind == 2) cc = v128.load(coef + 2 * cb + c);
    }
    const o = ps ? u + (c >> 5) * ps + (c & 16) : u + c;
    // rows 0 and 2 (each transformed along j: d0 - d2, d1 + d2, d2 - d1, d1 - d3) -> u0 = h0 - h2
    let a0 = wTap<F>(pt, 8, c, kind, ca, cbv, cc, relu, dlt, mask), a1 = wTap<F>(pt, 9, c, kind, ca, cbv, cc, relu, dlt, mask);
    let a2 = wTap<F>(pt, 10, c, kind, ca, cbv, cc, relu, dlt, mask), a3 = wTap<F>(pt, 11, c, kind, ca, cbv, cc, relu, dlt, mask);
    const h20 = f32x4.sub(a0, a2), h21 = f32x4.add(a1, a2), h22 = f32x4.sub(a2, a1), h23 = f32x4.sub(a1, a3);
    a0 = wTap<F>(pt, 0, c, kind, ca, cbv, cc, relu, dlt, mask); a1 = wTap<F>(pt, 1, c, kind, ca, cbv, cc, relu, dlt, mask);
    a2 = wTap<F>(pt, 2, c, kind, ca, cbv, cc, relu, dlt, mask); a3 = wTap<F>(pt, 3, c, kind, ca, cbv, cc, relu, dlt, mask);
    v128.store(o, f32x4.sub(f32x4.sub(a0, a2), h20));
    v128.store(o + xs, f32x4.sub(f32x4.add(a1, a2), h21));
    v128.store(o + 2 * xs, f32x4.sub(f32x4.sub(a2, a1), h22));
    v128.store(o + 3 * xs, f32x4.sub(f32x4.sub(a1, a3), h23));
    // row 1 -> u1 = h1 + h2, u2 = h2 - h1
    a0 = wTap<F>(pt, 4, c, kind, ca, cbv, cc, relu, dlt, mask); a1 = wTap<F>(pt, 5, c, kind, ca, cbv, cc, relu, dlt, mask);
    a2 = wTap<F>(pt, 6, c, kind, ca, cbv, cc, relu, dlt, mask); a3 = wTap<F>(pt, 7, c, kind, ca, cbv, cc, relu, dlt, mask);
    const h10 = f32x4.sub(a0, a2), h11 = f32x4.add(a1, a2), h12 = f32x4.sub(a2, a1), h13 = f32x4.sub(a1, a3);
    v128.store(o + 4 * xs, f32x4.add(h10, h20));
    v128.store(o + 5 * xs, f32x4.add(h11, h21));
    v128.store(o + 6 * xs, f32x4.add(h12, h22));
    v128.store(o + 7 * xs, f32x4.add(h13, h23));
    v128.store(o + 8 * xs, f32x4.sub(h20, h10));
    v128.store(o + 9 * xs, f32x4.sub(h21, h11));
    v128.store(o + 10 * xs, f32x4.sub(h22, h12));
    v128.store(o + 11 * xs, f32x4.sub(h23, h13));
    // row 3 -> u3 = h1 - h3
    a0 = wTap<F>(pt, 12, c, kind, ca, cbv, cc, relu, dlt, mask); a1 = wTap<F>(pt, 13, c, kind, ca, cbv, cc, relu, dlt, mask);
    a2 = wTap<F>(pt, 14, c, kind, ca, cbv, cc, relu, dlt, mask); a3 = wTap<F>(pt, 15, c, kind, ca, cbv, cc, relu, dlt, mask);
    v128.store(o + 12 * xs, f32x4.sub(h10, f32x4.sub(a0, a2)));
    v128.store(o + 13 * xs, f32x4.sub(h11, f32x4.add(a1, a2)));
    v128.store(o + 14 * xs, f32x4.sub(h12, f32x4.sub(a2, a1)));
    v128.store(o + 15 * xs, f32x4.sub(h13, f32x4.sub(a1, a3)));
  }
}

/**
 * A^T M A of one tile for 4 output channels (M[xi] at m + xi*mxs) + bias, stored into the valid
 * pixels of its 2x2 output tile. sm != 0: the moments epilogue, the valid outputs' y - shift and
 * (y - shift)^2 added to the f32 sums at sm + kb, sm + 2*kb (sm: the 4 shifts, set to this
 * tile's first output when init).
 */
@inline function wOutTile(m: usize, y0: usize, rs: usize, two_r: bool, two_c: bool, bv: v128, kb: usize, sm: usize, init: bool, mxs: usize, yb: usize): void {
  // columns j: s0 = m0j + m1j + m2j, s1 = m1j - m2j - m3j (M[xi] at m + xi*mxs)
  let s00: v128, s01: v128, s02: v128, s03: v128, s10: v128, s11: v128, s12: v128, s13: v128;
  const r1 = m + 4 * mxs, r2 = m + 8 * mxs, r3 = m + 12 * mxs;
  {
    const m0 = v128.load(m), m1 = v128.load(r1), m2 = v128.load(r2), m3 = v128.load(r3);
    s00 = f32x4.add(f32x4.add(m0, m1), m2); s10 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  {
    const m0 = v128.load(m + mxs), m1 = v128.load(r1 + mxs), m2 = v128.load(r2 + mxs), m3 = v128.load(r3 + mxs);
    s01 = f32x4.add(f32x4.add(m0, m1), m2); s11 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  {
    const m0 = v128.load(m + 2 * mxs), m1 = v128.load(r1 + 2 * mxs), m2 = v128.load(r2 + 2 * mxs), m3 = v128.load(r3 + 2 * mxs);
    s02 = f32x4.add(f32x4.add(m0, m1), m2); s12 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  {
    const m0 = v128.load(m + 3 * mxs), m1 = v128.load(r1 + 3 * mxs), m2 = v128.load(r2 + 3 * mxs), m3 = v128.load(r3 + 3 * mxs);
    s03 = f32x4.add(f32x4.add(m0, m1), m2); s13 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  const y00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), bv), y01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), bv);
  const y10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), bv), y11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), bv);
  v128.store(y0, y00);
  if (two_c) v128.store(y0 + yb, y01);
  if (two_r) {
    v128.store(y0 + rs, y10);
    if (two_c) v128.store(y0 + rs + yb, y11);
  }
  if (sm) {
    if (init) v128.store(sm, y00);
    const sh = v128.load(sm);
    let e = f32x4.sub(y00, sh);
    let sv = e, qv = f32x4.mul(e, e);
    if (two_c) { e = f32x4.sub(y01, sh); sv = f32x4.add(sv, e); qv = fma(e, e, qv); }
    if (two_r) {
      e = f32x4.sub(y10, sh); sv = f32x4.add(sv, e); qv = fma(e, e, qv);
      if (two_c) { e = f32x4.sub(y11, sh); sv = f32x4.add(sv, e); qv = fma(e, e, qv); }
    }
    v128.store(sm + kb, f32x4.add(v128.load(sm + kb), sv));
    v128.store(sm + 2 * kb, f32x4.add(v128.load(sm + 2 * kb), qv));
  }
}

/** The 16 tap pointers (zb where outside the image) and the inside mask of tile t (flattened (n, tr, tc)); returns the mask. */
function wTapTable(pt: usize, x: usize, zb: usize, t: i32, TW: i32, TH: i32, H: i32, W: i32, PH: i32, PW: i32, xsb: usize): i32 {
  const u = t / TW, tc = t - u * TW, n = u / TH, tr = u - n * TH;
  const ih0 = 2 * tr - PH, iw0 = 2 * tc - PW;
  const xn = x + <usize>n * <usize>H * <usize>W * xsb;
  let mask = 0;
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const p = tapPtr(xn, ih0 + i, iw0 + j, H, W, <i32>(xsb >> 2), 0);
      store<u32>(pt + (<usize>(i * 4 + j) << 2), <u32>(p ? p : zb));
      if (p) mask |= 1 << (i * 4 + j);
    }
  }
  return mask;
}

export function conv_wino(d: usize, x: usize, vp: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  convWino<Plain>(d, x, vp, bias, y, 0, 0, 0, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/** Fused forward, arguments as conv_fwd_f (x prologue applied in the input transform; moments over each completed tile row). */
export function conv_wino_f(d: usize, x: usize, vp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convWino<Fused>(d, x, vp, bias, y, coef, relu, mom, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/** Backward-data with the dx epilogue, arguments as conv_fwd_dx_f. */
export function conv_wino_dx_f(d: usize, dy: usize, vp: usize, dx: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  convWino<Fused>(d, dy, vp, 0, dx, 0, 0, 0, x2, c2, m2, relu, 0, 0, start, end, scratch);
}

/** Backward-data with the dy prologue (dY = A*dbn + B*xbn + C0 computed in the input transform) and optionally the dx epilogue, arguments as conv_fwd_dy_f. */
export function conv_wino_dy_f(d: usize, dy: usize, vp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  convWino<Fused>(d, dy, vp, 0, dx, cdy, 0, 0, x2, c2, m2, relu, dlt, 1, start, end, scratch);
}

function convWino<F>(d: usize, x: usize, vp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32,
  x2: usize, c2: usize, m2: usize, relu2: i32, dlt: usize, dym: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), K = ld(d, D_K), PH = ld(d, D_PH), PW = ld(d, D_PW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW), TB = ld(d, D_WTB), KB = ld(d, D_WKB);
  const TW = (OW + 1) >> 1, TH = (OH + 1) >> 1;
  const cb = <usize>C << 2, kb = <usize>K << 2;
  const ysb = <usize>ld(d, D_YS) << 2, rs = <usize>OW * ysb; // y's pixel and row strides
  const xsb = <usize>ld(d, D_XS) << 2, X2S = ld(d, D_X2S); // pixel strides of x and x2 (views: more than C)
  // dx epilogue accumulating a2*dx into a gradient buffer (D_GACC); any dx epilogue stages dx
  // in a ring of tile rows in this thread's scratch (D_GRING, D_GRT slots of 2 output rows)
  const gacc: usize = fused<F>() && x2 ? <usize><u32>ld(d, D_GACC) : 0, GS = ld(d, D_GS);
  const RT = fused<F>() && x2 ? ld(d, D_GRT) : 0, slot = rs << 1;
  const ring: usize = RT ? scratch + <usize>ld(d, D_GRING) : 0;
  // U[tile][xi][C], xi 64 bytes more than C floats apart: at a multiple of 4 KiB the 16 stores
  // of a transform would all fall into one L1 set
  const xsU = cb + 64, ustride = xsU << 4;
  const xs = (<usize>K * <usize>C) << 2; // one xi of V
  const zb = scratch + SC_ZBUF, tile = scratch + SC_TILE;
  const pt = scratch + SC_ROWS, mt = pt + 64; // tap table, then the 16 x 2 x 4 product tile
  const ub = scratch + SC_PACK;
  memory.fill(zb, 0, cb);
  let st: usize = 0, kind = 0;
  if (fused<F>()) {
    if (coef) kind = dym ? 2 : 1;
    if (mom) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K * 28);
    }
    if (x2) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K << 4);
    }
  }
  const t0 = start * TW, t1 = end * TW;
  const useWin = fused<F>() && kind != 0 && ld(d, D_WWIN) != 0;
  const rst = scratch + SC_RING;
  store<i32>(rst, -1);
  const WW = 2 * TW + 2, win = ub + <usize>TB * ustride;
  let rowDone = start, wrow = -1;
  for (let tb = t0; tb < t1; tb += TB) {
    const nt = min(TB, t1 - tb);
    for (let i = 0; i < nt; i++) {
      if (useWin) {
        // the tile row's input rows normalised once into the window, then the plain transform
        const t = tb + i, u = t / TW, tc = t - u * TW;
        const n = u / TH, tr = u - n * TH;
        if (u != wrow) {
          wRing(win, rst, x, xsb, n, tr, H, W, PH, PW, WW, cb, kind, coef, relu, dlt, 0, cb);
          wrow = u;
        }
        for (let r = 0; r < 4; r++) {
          const rp = wRow(win, 2 * tr - PH + r, WW, cb) + <usize>(2 * tc) * cb;
          for (let j = 0; j < 4; j++) store<u32>(pt + (<usize>(r * 4 + j) << 2), <u32>(rp + <usize>j * cb));
        }
        wInTile<Plain>(pt, 0xffff, ub + <usize>i * ustride, cb, 0, 0, 0, 0, 0, cb, 0, xsU);
      } else {
        const mask = wTapTable(pt, x, zb, tb + i, TW, TH, H, W, PH, PW, xsb);
        wInTile<F>(pt, mask, ub + <usize>i * ustride, cb, kind, coef, relu, dlt, 0, cb, 0, xsU);
      }
    }
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = min(K, k0 + KB);
      for (let i = 0; i < nt; i += 2) {
        const two = i + 1 < nt;
        const u0 = ub + <usize>i * ustride, u1 = two ? u0 + ustride : u0;
        // output positions of both tiles
        const ta = tb + i, ua = ta / TW, tca = ta - ua * TW, na = ua / TH, tra = ua - na * TH;
        const ya = ring ? ring + <usize>(ua % RT) * slot + <usize>(2 * tca) * ysb
          : y + ((<usize>(na * OH + 2 * tra) * <usize>OW + <usize>(2 * tca)) * ysb);
        const ra = 2 * tra + 1 < OH, ca2 = 2 * tca + 1 < OW;
        const tbb = ta + 1, ubb = tbb / TW, tcb = tbb - ubb * TW, nb2 = ubb / TH, trb = ubb - nb2 * TH;
        const yb = ring ? ring + <usize>(ubb % RT) * slot + <usize>(2 * tcb) * ysb
          : y + ((<usize>(nb2 * OH + 2 * trb) * <usize>OW + <usize>(2 * tcb)) * ysb);
        const rb = 2 * trb + 1 < OH, cb2 = 2 * tcb + 1 < OW;
        // per xi (the pair's U[xi] stays in L1), every 4 output channels of the pass: products
        // into mt[xi][kq][2 tiles][4], then the output transforms
        const mxs = <usize>((k1 - k0) >> 2) << 5; // bytes per xi of mt
        for (let xi = 0; xi < 16; xi++) {
          let wq = vp + <usize>xi * xs + ((<usize>k0 * <usize>C) << 2);
          let mo = mt + <usize>xi * mxs;
          for (let kq = k0; kq < k1; kq += 4) {
            let a00 = f32x4.splat(0);
            let a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            let q0 = u0 + <usize>xi * xsU, q1 = u1 + <usize>xi * xsU, wp = wq;
            const qe = q0 + cb;
            while (q0 < qe) {
              const x0 = v128.load(q0), x1 = v128.load(q1);
              let wv = v128.load(wp);
              a00 = fma(x0, wv, a00); a10 = fma(x1, wv, a10);
              wv = v128.load(wp + cb);
              a01 = fma(x0, wv, a01); a11 = fma(x1, wv, a11);
              wv = v128.load(wp + 2 * cb);
              a02 = fma(x0, wv, a02); a12 = fma(x1, wv, a12);
              wv = v128.load(wp + 3 * cb);
              a03 = fma(x0, wv, a03); a13 = fma(x1, wv, a13);
              q0 += 16; q1 += 16; wp += 16;
            }
            v128.store(mo, hsum4(a00, a01, a02, a03));
            v128.store(mo, hsum4(a10, a11, a12, a13), 16);
            wq += cb << 2;
            mo += 32;
          }
        }
        for (let kq = k0; kq < k1; kq += 4) {
          const bv = bias ? v128.load(bias + (<usize>kq << 2)) : f32x4.splat(0);
          const ko = <usize>kq << 2;
          const sm: usize = fused<F>() && mom ? st + (<usize>K << 4) + ko : 0;
          const m = mt + (<usize>(kq - k0) << 3);
          wOutTile(m, ya + ko, rs, ra, ca2, bv, kb, sm, tb == t0 && i == 0, mxs, ysb);
          if (two) wOutTile(m + 16, yb + ko, rs, rb, cb2, bv, kb, sm, false, mxs, ysb);
        }
        if (fused<F>() && mom && ((i & 15) == 14 || i + 2 >= nt)) {
          // f32 sums of these channels (at most 64 values each) into the f64 partials
          for (let col = k0; col < k1; col += 8) flushSums(sj32(st, K, col), <usize>K << 2, st + (<usize>col << 3), <usize>K << 3, min(8, k1 - col));
        }
      }
    }
    if (fused<F>() && x2) {
      // the dx epilogue over the output rows of each tile row completed by this block, in runs
      // of at most 64 pixels (the same runs with and without the ring)
      const done = tb + nt >= t1 ? end : (tb + nt) / TW;
      for (let u = rowDone; u < done; u++) {
        const n = u / TH, tr = u - n * TH;
        const p0 = (n * OH + 2 * tr) * OW, cnt = min(2, OH - 2 * tr) * OW;
        const src = ring ? ring + <usize>(u % RT) * slot : y + <usize>p0 * ysb;
        for (let j = 0; j < cnt; j += 64) {
          const p = p0 + j;
          dxRun(src + <usize>j * ysb, x2 + ((<usize>p * <usize>X2S) << 2), min(64, cnt - j), K, <usize>X2S << 2, c2, m2, relu2, st,
            gacc ? gacc + ((<usize>p * <usize>GS) << 2) : 0, <usize>GS << 2, ring && !gacc ? y + <usize>p * ysb : 0);
        }
      }
      if (done > rowDone) rowDone = done;
    }
  }
}

// =====================================================================================
// Winograd backward-weights (same geometries as conv_wino): dV = (A dY A^T) . (B^T x B) summed
// over tiles, dW = G^T dV G. Per chunk of TC tiles (flattened over all images), the dY tiles are
// transformed for all K (DY[xi][k/4][t][4], each thread) and the x tiles for this thread's
// channel panels (X[xi][p][t][8], the BN x prologue on load); then per xi the micro-kernel mk
// accumulates Z[xi][k][c] += DY^T X over the chunk (rows: 4 output channels, columns: 8 input
// channels, reduction: the chunk's tiles), summed from zero in registers and added to Z in the
// workspace ([16][K][C8]). conv_wino_w_out writes dW = G^T Z G. Units: panels of 8 input
// channels (threads never share a Z element; the order of the sums is fixed).
// =====================================================================================

export function conv_wino_w(d: usize, dy: usize, x: usize, z: usize, start: i32, end: i32, scratch: usize): void {
  winoW<Plain>(d, dy, x, z, 0, 0, 0, 0, start, end, scratch);
}

/** Fused: dy prologue (cdy: A, B, C0; xbn = dy + dlt) and/or x prologue (cx: a, b; relu), as conv_bwd_w_f. */
export function conv_wino_w_f(d: usize, dy: usize, x: usize, z: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  winoW<Fused>(d, dy, x, z, dlt, cdy, cx, relu, start, end, scratch);
}

/** One dY vector of 4 channels at output pixel p (the dy prologue on load when cdy != 0). */
@inline function wDy<F>(p: usize, ok: bool, cdy: usize, co: usize, kb: usize, dlt: usize): v128 {
  if (!ok) return f32x4.splat(0);
  if (fused<F>() && cdy) return dyv(cdy + co, kb, p, dlt);
  return v128.load(p);
}

function winoW<F>(d: usize, dy: usize, x: usize, z: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), K = ld(d, D_K), PH = ld(d, D_PH), PW = ld(d, D_PW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW), N = ld(d, D_N), TC = ld(d, D_WTC);
  const TW = (OW + 1) >> 1, TH = (OH + 1) >> 1, NT = N * TH * TW;
  const C8 = (C + 7) & ~7, KP = K >> 2, NPt = end - start;
  const cb = <usize>C << 2, kb = <usize>K << 2;
  const xsb = <usize>ld(d, D_XS) << 2; // x's pixel stride (a view: more than C)
  const cs = <usize>start << 5, ce = min(<usize>end << 5, cb); // this thread's channels, bytes
  const zb = scratch + SC_ZBUF, pt = scratch + SC_ROWS;
  const dyp = scratch + SC_PACK;
  // bytes per xi of DY and of X, 64 more than their panels (as U of convWino: no L1 set conflicts)
  const dxs = <usize>KP * <usize>TC * 16 + 64;
  const xp = dyp + 16 * dxs;
  const pps = <usize>TC << 5, xxs = <usize>NPt * pps + 64;
  const win = xp + 16 * xxs;
  memory.fill(zb, 0, cb);
  const useWin = fused<F>() && cx != 0 && ld(d, D_WWIN) != 0;
  const rst = scratch + SC_RING;
  store<i32>(rst, -1);
  const WW = 2 * TW + 2;
  let wrow = -1;
  for (let t0 = 0; t0 < NT; t0 += TC) {
    const nt = min(TC, NT - t0);
    for (let i = 0; i < nt; i++) {
      const t = t0 + i, u = t / TW, tc = t - u * TW, n = u / TH, tr = u - n * TH;
      // dY tile (2x2, 0 outside the output) -> A dY A^T, all K
      const oh = 2 * tr, ow = 2 * tc;
      const r1 = oh + 1 < OH, c1 = ow + 1 < OW;
      const p00 = dy + (<usize>((n * OH + oh) * OW + ow)) * kb;
      const p10 = p00 + <usize>OW * kb;
      for (let k: usize = 0; k < kb; k += 16) {
        const e00 = wDy<F>(p00 + k, true, cdy, k, kb, dlt), e01 = wDy<F>(p00 + kb + k, c1, cdy, k, kb, dlt);
        const e10 = wDy<F>(p10 + k, r1, cdy, k, kb, dlt), e11 = wDy<F>(p10 + kb + k, r1 && c1, cdy, k, kb, dlt);
        // rows: (e0, e0 + e1, e0 - e1, -e1); then columns alike
        const a0 = e00, a1 = f32x4.add(e00, e01), a2 = f32x4.sub(e00, e01), a3 = f32x4.neg(e01);
        const b0 = e10, b1 = f32x4.add(e10, e11), b2 = f32x4.sub(e10, e11), b3 = f32x4.neg(e11);
        const o = dyp + (((k >> 4) * <usize>TC + <usize>i) << 4);
        v128.store(o, a0); v128.store(o + dxs, a1); v128.store(o + 2 * dxs, a2); v128.store(o + 3 * dxs, a3);
        v128.store(o + 4 * dxs, f32x4.add(a0, b0)); v128.store(o + 5 * dxs, f32x4.add(a1, b1));
        v128.store(o + 6 * dxs, f32x4.add(a2, b2)); v128.store(o + 7 * dxs, f32x4.add(a3, b3));
        v128.store(o + 8 * dxs, f32x4.sub(a0, b0)); v128.store(o + 9 * dxs, f32x4.sub(a1, b1));
        v128.store(o + 10 * dxs, f32x4.sub(a2, b2)); v128.store(o + 11 * dxs, f32x4.sub(a3, b3));
        v128.store(o + 12 * dxs, f32x4.neg(b0)); v128.store(o + 13 * dxs, f32x4.neg(b1));
        v128.store(o + 14 * dxs, f32x4.neg(b2)); v128.store(o + 15 * dxs, f32x4.neg(b3));
      }
      // x tile -> B^T x B, this thread's channels, in panels of 8
      const xo = xp + (<usize>i << 5) - (<usize>start * pps);
      if (useWin) {
        if (u != wrow) {
          wRing(win, rst, x, xsb, n, tr, H, W, PH, PW, WW, cb, 1, cx, relu, 0, cs, ce);
          wrow = u;
        }
        for (let r = 0; r < 4; r++) {
          const rp = wRow(win, 2 * tr - PH + r, WW, cb) + <usize>(2 * tc) * cb;
          for (let j = 0; j < 4; j++) store<u32>(pt + (<usize>(r * 4 + j) << 2), <u32>(rp + <usize>j * cb));
        }
        wInTile<Plain>(pt, 0xffff, xo, cb, 0, 0, 0, 0, cs, ce, pps, xxs);
      } else {
        const mask = wTapTable(pt, x, zb, t, TW, TH, H, W, PH, PW, xsb);
        wInTile<F>(pt, mask, xo, cb, cx ? 1 : 0, cx, relu, 0, cs, ce, pps, xxs);
      }
    }
    const add = t0 > 0 ? 1 : 0;
    for (let xi = 0; xi < 16; xi++) {
      for (let kp = 0; kp < KP; kp++) {
        const a = dyp + <usize>xi * dxs + <usize>kp * <usize>TC * 16;
        const zr = z + (<usize>(xi * K + kp * 4) * <usize>C8 << 2);
        for (let p = 0; p < NPt; p++) {
          const b = xp + <usize>xi * xxs + <usize>p * pps;
          const zp = zr + (<usize>(start + p) << 5);
          const ld8 = <usize>C8 << 2;
          mk(a, b, nt, zp, zp + ld8, zp + 2 * ld8, zp + 3 * ld8, 0, add);
        }
      }
    }
  }
}

/** dW[k][c] = G^T Z[.][k][c] G (3x3, OIHW) from the accumulator of conv_wino_w. Units: output channels k. */
export function conv_wino_w_out(d: usize, z: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), K = ld(d, D_K), C8 = (C + 7) & ~7;
  const xs = <usize>K * <usize>C8 << 2;
  for (let k = start; k < end; k++) {
    for (let c = 0; c < C; c++) {
      const zp = z + (<usize>(k * C8 + c) << 2);
      const o = dw + (<usize>(k * C + c) * 9 << 2);
      // T = G^T Z (3 x 4), G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
      for (let b = 0; b < 4; b++) {
        const z0 = <f64>load<f32>(zp + <usize>b * xs), z1 = <f64>load<f32>(zp + <usize>(4 + b) * xs);
        const z2 = <f64>load<f32>(zp + <usize>(8 + b) * xs), z3 = <f64>load<f32>(zp + <usize>(12 + b) * xs);
        // columns of T, kept in the 3 x 4 scratch at scratch + SC_TILE (f64)
        store<f64>(scratch + SC_TILE + (<usize>b << 3), z0 + 0.5 * (z1 + z2));
        store<f64>(scratch + SC_TILE + 32 + (<usize>b << 3), 0.5 * (z1 - z2));
        store<f64>(scratch + SC_TILE + 64 + (<usize>b << 3), 0.5 * (z1 + z2) + z3);
      }
      for (let i = 0; i < 3; i++) {
        const r = scratch + SC_TILE + (<usize>i << 5);
        const t0 = load<f64>(r), t1 = load<f64>(r, 8), t2 = load<f64>(r, 16), t3 = load<f64>(r, 24);
        store<f32>(o + (<usize>(i * 3) << 2), <f32>(t0 + 0.5 * (t1 + t2)));
        store<f32>(o + (<usize>(i * 3 + 1) << 2), <f32>(0.5 * (t1 - t2)));
        store<f32>(o + (<usize>(i * 3 + 2) << 2), <f32>(0.5 * (t1 + t2) + t3));
      }
    }
  }
}
