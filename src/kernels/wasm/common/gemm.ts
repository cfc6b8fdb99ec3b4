// The GEMM building blocks shared by the convolution families (gemm.ts, gemm_w.ts, winograd.ts)
// and the micro-kernel probe (bench.ts): the 4x8 micro-kernel `mk` (4 rows of M or of the
// reduction, 8 output columns, 8 v128 accumulators, A packed as [k][4] and B as [k][8]) with its
// fused epilogues, the packing of A, and the dx epilogue over rows of pixels. Conventions and
// shape letters: common/conv.ts.

import { ACT_RELU, D_C, D_H, D_W, D_KH, D_KW, D_SH, D_SW, D_PH, D_PW, D_DH, D_DW, D_G, D_OH, D_OW, D_CG, D_FNE, D_XS } from '../../abi/conv_descriptor';
import { fma, lo64, hi64 } from './simd';
import { actv, actGradv, actGrads } from './act';
import { fused, dyv, dyf, nrm, ld, tapPtr } from './conv';

// =====================================================================================
// Micro-kernel: 4x8 tile, 8 accumulators, A [kc][4] (4 splat loads per k), B [kc][8].
// Rows r = 0..3 go to d0..d3 (a row pointer 0 skips the row: masked write-back).
// bias != 0: accumulators start at bias[0..8] (first reduction block of the forward pass).
// add != 0: d_r[0..8] += tile (later reduction blocks); else d_r[0..8] = tile.
// =====================================================================================
export function mk(a: usize, b: usize, kc: i32, d0: usize, d1: usize, d2: usize, d3: usize, bias: usize, add: i32): void {
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
export function tileOut(tile: usize, d0: usize, d1: usize, d2: usize, d3: usize, ncols: i32, bias: usize, add: i32): void {
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

/**
 * mk with the BN statistics epilogue (forward pass, last reduction block). After the usual
 * write-back the tile holds final outputs y (bias and earlier blocks included). Per channel l of
 * the panel, with a per-thread shift K[l] = the mean of the first final tile of that channel
 * this thread computes (stored when init; its row 0 is always a real row), the rows whose pointer is
 * non-zero add d = y - K to S[l] and d^2 to Q[l] (f32, in L1; conv_fwd_f adds them to f64
 * partials every 16 tiles, flushSums). y - K is exact near the mean (Sterbenz), so a large
 * |mean|/std does not cancel. sh = &K[col]; S at sh + ko, Q at sh + 2*ko.
 */
export function mkm(a: usize, b: usize, kc: i32, d0: usize, d1: usize, d2: usize, d3: usize, bias: usize, add: i32, sh: usize, ko: usize, init: i32, s64: usize): void {
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
export function momTile(d0: usize, d1: usize, d2: usize, d3: usize, ncols: i32, sh: usize, ko: usize, init: i32): void {
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
export function flushSums(s32: usize, so: usize, s64: usize, qo: usize, ncols: i32): void {
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
 * (pointer non-zero) is multiplied by the derivative of the previous BN's activation (act, an
 * ACT_* code: dx * act'(z), z = a2*x2 + b2 recomputed as the forward computed it; ReLU: dx = 0
 * where z <= 0), stored, and reduced for that BN: st[l] += dx, st[qo + l] += dx*(x2 - mean2) (f32 sums
 * in L1, added to the f64 partials at s64 (Q at s64 + 2*qo) when s64 != 0: every 16 tiles). x2 of
 * row r at xr + r*ldx (the tile's 8 channels), cf = &a2[col] (b2 at cf + cb), cm = &mean2[col].
 * acc != 0 (D_GACC): the rows are a gradient buffer's, and a2*dx is added into them instead
 * (add must then be 0: one reduction block).
 */
export function mkx(a: usize, b: usize, kc: i32, d0: usize, d1: usize, d2: usize, d3: usize, add: i32,
  xr: usize, ldx: usize, cf: usize, cb: usize, cm: usize, act: i32, st: usize, qo: usize, s64: usize, acc: i32): void {
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
    if (act) {
      c00 = actGradv(act, fma(x0, v128.load(cf), v128.load(cf + cb)), c00);
      c01 = actGradv(act, fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), c01);
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
    if (act) {
      c10 = actGradv(act, fma(x0, v128.load(cf), v128.load(cf + cb)), c10);
      c11 = actGradv(act, fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), c11);
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
    if (act) {
      c20 = actGradv(act, fma(x0, v128.load(cf), v128.load(cf + cb)), c20);
      c21 = actGradv(act, fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), c21);
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
    if (act) {
      c30 = actGradv(act, fma(x0, v128.load(cf), v128.load(cf + cb)), c30);
      c31 = actGradv(act, fma(x1, v128.load(cf, 16), v128.load(cf + cb, 16)), c31);
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
 * Edge-tile (ncols < 8) dx epilogue as mkx: act', store and reduce the final values tileOut wrote.
 * tile != 0 (the accumulating epilogue, D_GACC): dx comes from the micro-tile (rows 32 bytes apart
 * at tile) and a2*dx is added into the rows d0..d3 of the gradient buffer instead.
 */
export function dxTile(d0: usize, d1: usize, d2: usize, d3: usize, ncols: i32, xr: usize, ldx: usize,
  cf: usize, cb: usize, cm: usize, act: i32, st: usize, qo: usize, tile: usize = 0): void {
  for (let r = 0; r < 4; r++) {
    const dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const xp = xr + <usize>r * ldx;
    const src = tile ? tile + (<usize>r << 5) : dst;
    for (let l = 0; l < ncols; l++) {
      const o = <usize>l << 2;
      let g = load<f32>(src + o);
      const xv = load<f32>(xp + o);
      if (act) g = actGrads(act, load<f32>(cf + o) * xv + load<f32>(cf + cb + o), g);
      if (tile) store<f32>(dst + o, g * load<f32>(cf + o) + load<f32>(dst + o));
      else if (act) store<f32>(dst + o, g);
      store<f32>(st + o, load<f32>(st + o) + g);
      store<f32>(st + qo + o, load<f32>(st + qo + o) + g * (xv - load<f32>(cm + o)));
    }
  }
}

// =====================================================================================
// Packing of A as [k][4]: 4 source rows, `len` contiguous floats each, transposed 4x4 at a time.
// A source pointer 0 is a padding lane (reads the zero page, never advances).
// =====================================================================================
export function copy4(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, len: i32, zero: usize): void {
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
 * copy4 with the BN prologue (x normalised + activation while packing): v = a*x + b, then act(v)
 * for an ACT_* code (common/act.ts; 0: none), with the per-float coefficients at sa (a) and sa + sb (b): the 4 rows read the same
 * channels, so one coefficient vector serves all four. Padding lanes (pointer 0) stay exactly 0:
 * zero padding is applied after normalisation.
 */
export function copy4n(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, len: i32, zero: usize, sa: usize, sb: usize, act: i32): void {
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
    if (act) { v0 = actv(act, v0); v1 = actv(act, v1); v2 = actv(act, v2); v3 = actv(act, v3); }
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
    store<f32>(dst, q0 ? nrm(load<f32>(p0), ca, cb, act) : 0);
    store<f32>(dst, q1 ? nrm(load<f32>(p1), ca, cb, act) : 0, 4);
    store<f32>(dst, q2 ? nrm(load<f32>(p2), ca, cb, act) : 0, 8);
    store<f32>(dst, q3 ? nrm(load<f32>(p3), ca, cb, act) : 0, 12);
    dst += 16; p0 += q0; p1 += q1; p2 += q2; p3 += q3; sa += 4;
  }
}

/**
 * copy4 with the BN backward prologue: the rows are dy = A*dbn + B*xbn + C0 computed on load, dbn
 * rows at p0..p3, xbn at the same offsets + dlt (both [M][K]), A at ca, B at ca + cs, C0 at
 * ca + 2*cs (per column k). Every pointer must be a real row: callers pass row 0 again for the
 * rows past the end of a block; those lanes only reach output rows that are never written.
 */
export function copy4dy(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, dlt: usize, len: i32, ca: usize, cs: usize): void {
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
export function expandCoef(d: usize, coef: usize, ce: usize, rows: i32 = 2): void {
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
 * x prologue, normalised window: writes act(a*x + b) (act: an ACT_* code; ce: the expanded
 * coefficients, see expandCoef) of the input rows that output rows [m0, m0 + cnt) read, image by image, into the region at zw
 * (zcap bytes), then re-points the row table (fillRows with base x) at the copy, so that the
 * plain packing reads z: each x is normalised once per block instead of once per tap reading it
 * (KH*KW times for a stride-1 convolution). Padding taps still read 0. Returns false, table
 * untouched, when the window does not fit.
 * Layout: image bases (i32 per image of the block, 64-byte aligned), then the rows of each image.
 */
export function normWindow(d: usize, tab: usize, m0: i32, cnt: i32, x: usize, ce: usize, act: i32, zw: usize, zcap: usize, dlt: usize = 0, dym: bool = false): bool {
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
      if (act) v = actv(act, v);
      v128.store(dst + o, v);
      co += 16;
      if (co == pb) co = 0;
    }
    for (; o < len; o += 4) {
      store<f32>(dst + o, nrm(load<f32>(src + o), load<f32>(ce + co), load<f32>(ce + nb + co), act));
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
export function fillRows(d: usize, tab: usize, m0: i32, cnt: i32, base: usize): void {
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

/** copy4, or copy4n in the fused instantiation. */
@inline export function cp4<F>(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, len: i32, zero: usize, sa: usize, sb: usize, act: i32): void {
  if (fused<F>()) copy4n(dst, p0, p1, p2, p3, len, zero, sa, sb, act);
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
 * Fused (F = Fused): x is BN-normalised and activated (act) on the way, float `off` of a segment (the
 * tapPtr channel offset) taking its coefficients from the expanded rows at ce + 4*off (bE nb
 * bytes further, see expandCoef); padding taps stay 0.
 */
export function packAFwd<F>(d: usize, t: usize, nv: i32, g: i32, r0: i32, kc: i32, panel: usize, zero: usize, ce: usize, nb: usize, act: i32, xs: i32): void {
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
          a1 - a0, zero, ce + (<usize>off << 2), nb, act);
      } else {
        for (let kw = (a0 - sa) / Cg; kw < KW; kw++) {
          const ta = sa + kw * Cg;
          if (ta >= a1) break;
          const b0 = max(ta, a0), b1 = min(ta + Cg, a1);
          const off = b0 - ta;
          cp4<F>(panel + <usize>(b0 - r0) * 16,
            tapPtr(xb0, ih0 + dh, iw0 + kw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + kw, H, W, C, off),
            tapPtr(xb2, ih2 + dh, iw2 + kw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + kw, H, W, C, off),
            b1 - b0, zero, ce + (<usize>off << 2), nb, act);
        }
      }
    } else {
      const kh = s / KW, kw = s - kh * KW;
      const dh = kh * DH, dw = kw * DW;
      const off = goff + a0 - sa;
      cp4<F>(panel + <usize>(a0 - r0) * 16,
        tapPtr(xb0, ih0 + dh, iw0 + dw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + dw, H, W, C, off),
        tapPtr(xb2, ih2 + dh, iw2 + dw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + dw, H, W, C, off),
        a1 - a0, zero, ce + (<usize>off << 2), nb, act);
    }
  }
}

/** The f32 sums S32[col..] of the moments layout at st (f64 S[K], Q[K], f32 shift[K], S32[K], Q32[K]). */
@inline export function sj32(st: usize, K: i32, col: i32): usize {
  return st + (<usize>K << 4) + (<usize>K << 2) + (<usize>col << 2);
}

/**
 * The dx epilogue of dxRows over one run of W consecutive pixels of C channels (px0: dx, xp0:
 * x2): per pixel, every block of 4 channels (dx and x2 read in address order), the f32 sums in the
 * thread's S32/Q32 rows (st + 20*C, st + 24*C: the 28*C-byte fusion region), added to the f64
 * partials S[C], Q[C] at st at the end of the run. (Channel-block-major order, with coefficients
 * and sums in registers and each block walking the run at stride C, was 2-12% slower on the
 * Winograd backward-data of 148->12 @32, 436->12 @8 and 64->64 @56: measured interleaved.)
 * gp0 != 0: the accumulating epilogue (D_GACC), a2*dx added into the gradient buffer's pixels
 * (gp0, gsb bytes apart) instead of dx * act' stored back (act: an ACT_* code, the derivative
 * at z = a2*x2 + b2; 0: none). yo0 != 0 (dx read from the ring of D_GRING): dx * act' is stored
 * there, C floats per pixel, instead of in place. With ReLU and C % 4 == 0 (every fused DenseNet
 * and ResNet layer) a copy of the loop without the per-element flag tests runs instead (the same operations in the same order: 1-3% faster on
 * 148->12 @32 and 128->32 @56, 15 interleaved repeats).
 */
export function dxRun(px0: usize, xp0: usize, W: i32, C: i32, xsb: usize, c2: usize, m2: usize, act: i32, st: usize, gp0: usize = 0, gsb: usize = 0, yo0: usize = 0): void {
  const cb = <usize>C << 2, vb = <usize>(C & ~3) << 2, qo = cb << 1;
  const s32 = st + <usize>C * 20, q32 = st + <usize>C * 24;
  memory.fill(s32, 0, cb << 1);
  const put = !gp0 && (act || yo0 != 0); // dx * act' is stored: back in place, or to yo
  let px = px0, xp = xp0, gp = gp0, yo = yo0 ? yo0 : px0;
  if (act == ACT_RELU && vb == cb) {
    // the ReLU-masked epilogue without channel tail, its flags taken out of the loop: a2*dx added
    // into the gradient buffer (DenseNet), or dx stored (to yo, or in place)
    for (let w = 0; w < W; w++) {
      for (let o: usize = 0; o < vb; o += 16) {
        const xv = v128.load(xp + o), a2 = v128.load(c2 + o);
        const g = actGradv(ACT_RELU, fma(xv, a2, v128.load(c2 + cb + o)), v128.load(px + o));
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
        if (act) g = actGradv(act, fma(xv, v128.load(c2 + o), v128.load(c2 + cb + o)), g);
        if (put) v128.store(yo + o, g);
        if (gp0) v128.store(gp + o, fma(g, v128.load(c2 + o), v128.load(gp + o)));
        v128.store(s32 + o, f32x4.add(v128.load(s32 + o), g));
        v128.store(q32 + o, fma(g, f32x4.sub(xv, v128.load(m2 + o)), v128.load(q32 + o)));
      }
      for (; o < cb; o += 4) {
        let g = load<f32>(px + o);
        const xv = load<f32>(xp + o);
        if (act) g = actGrads(act, load<f32>(c2 + o) * xv + load<f32>(c2 + cb + o), g);
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
