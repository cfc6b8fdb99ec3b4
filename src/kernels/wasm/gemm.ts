// Convolution as packed GEMM over NHWC activations: weight packing, the forward pass (packed
// GEMM, transposed for few output channels, dot products for few output channels over many
// input channels) and backward-data (col2im, and 1x1). Backward-weights: gemm_w.ts; depthwise:
// depthwise.ts; Winograd: winograd.ts; the building blocks they share: common/gemm.ts.
// Conventions and shape letters: common/conv.ts. Design: docs/design/conv-kernels.md.

import { D_C, D_H, D_W, D_K, D_KH, D_KW, D_SH, D_SW, D_PH, D_PW, D_DH, D_DW, D_G, D_OH, D_OW, D_CG, D_KG, D_KDIM, D_KG8, D_CG8, D_KC, D_MC, D_KCD, D_MCD, D_DMERGE, D_DSEG, D_DSEG8, D_DNP, D_FPART, D_FCOEF, D_FNE, D_FZ, D_FZCAP, D_DTIGHT, D_XS, D_X2S, D_GACC, D_GS } from '../abi/conv_descriptor';
import { fma, hsum4 } from './common/simd';
import { Plain, Fused, fused, ld, SC_ZERO, SC_TILE, SC_ROWS, SC_ZBUF, SC_PACK, INVALID, balanced, zeroPage, tapPtr } from './common/conv';
import { mk, tileOut, mkm, momTile, flushSums, mkx, dxTile, copy4, copy4dy, expandCoef, normWindow, fillRows, packAFwd, sj32, dxRun } from './common/gemm';

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
export function conv_pack_w_fwd_flip(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
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
export function conv_pack_w_bwd_data(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
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
 * then act(.) for an ACT_* code, common/act.ts; padding taps stay 0). mom != 0: moments epilogue, per-channel sums of
 * the final y - shift and (y - shift)^2 (shift[K]: this thread's first y of each channel) from
 * the tiles, in f32 over 64 rows, then f64, into this thread's region at scratch + D_FPART
 * (f64 S[K], Q[K], then f32 shift[K], zeroed here), which the host merges in thread order.
 */
export function conv_fwd_f(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convFwd<Fused>(d, x, bp, bias, y, coef, act, mom, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Backward-data as a forward pass over dY (d: the transposed convolution, bp: conv_pack_w_fwd_flip)
 * with the dx epilogue of conv_bwd_data_f on each block of output rows once it is final: dx *=
 * act'(a2*x2 + b2) (c2 = a2[C], b2[C], read when act != 0; ReLU: 0 where a2*x2 + b2 <= 0), f64 partials S[C] += dx,
 * Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here; f32 sums over runs of 64 rows).
 */
export function conv_fwd_dx_f(d: usize, dy: usize, bp: usize, dx: usize, x2: usize, c2: usize, m2: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  convFwd<Fused>(d, dy, bp, 0, dx, 0, 0, 0, x2, c2, m2, act, 0, 0, start, end, scratch);
}

/**
 * As conv_fwd_dx_f (x2 = 0: no dx epilogue), with the dy prologue of conv_bwd_data_f: dY is
 * A*dbn + B*xbn + C0 (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]), computed once per
 * block into the normalised window (the host guarantees that every block's window fits).
 */
export function conv_fwd_dy_f(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  convFwd<Fused>(d, dy, bp, 0, dx, cdy, 0, 0, x2, c2, m2, act, dlt, 1, start, end, scratch);
}

function convFwd<F>(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32,
  x2: usize, c2: usize, m2: usize, act2: i32, dlt: usize, dym: i32, start: i32, end: i32, scratch: usize): void {
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
    const win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, mb, mn, x, ce, act, zw, zcap, dlt, dym != 0);
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
              if (pro) packAFwd<Fused>(d, tab + <usize>(i * 4) * 12, rem, g, r0, kc, a, zero, ce, nb, act, xs);
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
        dxRun(y + off, x2 + off, min(64, mn - p), K, <usize>K << 2, c2, m2, act2, st);
      }
    }
  }
}

// =====================================================================================
// Forward, transposed (G == 1, K % 8 in 1..4, K <= 32: densenet's K = 12), Y^T = W A^T: rows
// are output channels in micro-panels of 4 (weights packed [p][r][4] by conv_pack_w_fwd_t), the
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

/** bp[p][r][l] = w[4p + l][c][kh][kw], r = (kh*KW + kw)*C + c, zero past K. Units: micro-panels p. */
export function conv_pack_w_fwd_t(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
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
export function conv_fwd_t_f(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convFwdT<Fused>(d, x, bp, bias, y, coef, act, mom, start, end, scratch);
}

function convFwdT<F>(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
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
    const pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, act, zw, zcap));
    for (let r0 = 0; r0 < Kdim; r0 += Kc) {
      const kc = min(Kc, Kdim - r0);
      const add = r0 == 0 ? 0 : 1;
      // B: every micro-panel of 4 pixels of the block, [kc][4]
      for (let i = 0; i < np; i++) {
        const a = apack + <usize>(i * kc) * 16;
        if (pro) packAFwd<Fused>(d, tab + <usize>(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, ce, nb, act, ld(d, D_C));
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
export function conv_pack_w_fwd_dot(d: usize, w: usize, bp: usize, start: i32, end: i32, scratch: usize): void {
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

export function conv_fwd_dot(d: usize, x: usize, bp: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  convFwdDot<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f (the x prologue needs the window: conv.ts checks that it fits). */
export function conv_fwd_dot_f(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convFwdDot<Fused>(d, x, bp, bias, y, coef, act, mom, start, end, scratch);
}

function convFwdDot<F>(d: usize, x: usize, bp: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
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
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, act, zw, zcap))) unreachable();
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
// conv_pack_w_bwd_data): 8 channels of one tap, so row r of a tile adds into
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
 * just written, still in cache): dx *= act'(a2*x2 + b2) (c2 = a2[C] then b2[C], when act != 0),
 * and f64 partials S[C] += dx, Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here).
 */
export function conv_bwd_data_f(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  bwdData<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, act, start, end, scratch);
}

/**
 * dx epilogue over the input rows [h0, h1) of one image (dxn, x2n: the image's dx and x2): per
 * row and block of 4 channels (coefficients and sums in registers), over the row's pixels: act'
 * (when act != 0), then f32 sums of dx and dx*(x2 - mean2) over the row, added to the f64 partials st.
 */
function dxRows(d: usize, dxn: usize, x2n: usize, h0: i32, h1: i32, c2: usize, m2: usize, act: i32, st: usize): void {
  const C = ld(d, D_C), W = ld(d, D_W);
  const rowB = <usize>W * (<usize>C << 2);
  for (let h = h0; h < h1; h++) dxRun(dxn + <usize>h * rowB, x2n + <usize>h * rowB, W, C, <usize>C << 2, c2, m2, act, st);
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

function bwdData<F>(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, act: i32, start: i32, end: i32, scratch: usize): void {
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
          dxRows(d, dxn, x2 + img * <usize>n * 4, done, hf, c2, m2, act, st);
          done = hf;
        }
      }
    }
    if (fused<F>() && x2 && done < H) dxRows(d, dxn, x2 + img * <usize>n * 4, done, H, c2, m2, act, st);
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
export function conv_bwd_data_1x1_f(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  bwdData1x1<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, act, start, end, scratch);
}

function bwdData1x1<F>(d: usize, dy: usize, bp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, act: i32, start: i32, end: i32, scratch: usize): void {
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
                mkx(a, bj, kc, d0, d1, d2, d3, add, xr, ldx2, c2 + co, ldc, m2 + co, act, s32 + co, ldc, flush ? st + (co << 1) : 0, gacc ? 1 : 0);
              } else {
                mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
                if (gacc) {
                  dxTile(d0, d1, d2, d3, ncols, xr, ldx2, c2 + co, ldc, m2 + co, act, s32 + co, ldc, tile);
                } else {
                  tileOut(tile, d0, d1, d2, d3, ncols, 0, add);
                  dxTile(d0, d1, d2, d3, ncols, xr, ldx2, c2 + co, ldc, m2 + co, act, s32 + co, ldc);
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
