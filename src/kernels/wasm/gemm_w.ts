// Convolution backward-weights (packed GEMM, transposed, dot products over output pixels,
// and the transposition of the accumulators to OIHW) and the bias gradient. Conventions and
// shape letters: common/conv.ts. Design: docs/design/conv-kernels.md.

import { D_N, D_C, D_H, D_W, D_K, D_KH, D_KW, D_SW, D_DH, D_DW, D_G, D_OH, D_OW, D_CG, D_KG, D_KG8, D_CG8, D_MCH, D_RBP, D_ROWS, D_MERGE, D_SEG, D_SEG4, D_WCOLS, D_FCOEF, D_FNE, D_FZ, D_FZCAP, D_WTIGHT, D_WSL, D_XS } from '../abi/conv_descriptor';
import { fma } from './common/simd';
import { actv } from './common/act';
import { Plain, Fused, fused, dyv, dyf, nrm, ld, SC_ZERO, SC_ROWS, SC_TROW, SC_PACK, zeroPage, tapPtr } from './common/conv';
import { mk, expandCoef, normWindow, fillRows } from './common/gemm';

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
 * rows in `tab`. Fused (F = Fused): x is BN-normalised and activated (act) while packed, row o of a segment
 * taking its coefficients from the expanded rows at ce + 4*(coff + o) (bE nb bytes further, see
 * expandCoef); rows outside the image (padding) stay 0.
 */
function packAT<F>(d: usize, tab: usize, mlen: i32, g: i32, p0: i32, p1: i32, dst: usize, ce: usize, nb: usize, act: i32, xs: i32): void {
  if (ld(d, D_WTIGHT)) {
    packATTight<F>(d, tab, mlen, p0, p1, dst, ce, nb, act);
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
            if (act) v = actv(act, v);
            v128.store(out, v);
            out += ps; src += 16; ca += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // as below (rows past the segment only reach acc's padding rows)
              let v = fma(v128.load(src), v128.load(ca), v128.load(ca + nb));
              if (act) v = actv(act, v);
              v128.store(out, v);
            } else {
              const nv = SEG - (o0 + nfull * 4);
              for (let l = 0; l < 4; l++) {
                const o = <usize>l << 2;
                store<f32>(out + o, l < nv ? nrm(load<f32>(src + o), load<f32>(ca + o), load<f32>(ca + nb + o), act) : 0);
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
              if (fused<F>()) v = nrm(v, load<f32>(ca0 + so), load<f32>(ca0 + nb + so), act);
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
function packATTight<F>(d: usize, tab: usize, mlen: i32, p0: i32, p1: i32, dst: usize, ce: usize, nb: usize, act: i32): void {
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
            if (act) v = actv(act, v);
          }
          v128.store(r + o, v);
        }
        for (; o < sb; o += 4) {
          let v = load<f32>(src + o);
          if (fused<F>()) v = nrm(v, load<f32>(ce + o), load<f32>(ce + nb + o), act);
          store<f32>(r + o, v);
        }
      } else {
        for (let o = 0; o < SEG; o++) {
          const so = <usize>o << 2;
          let v: f32 = 0;
          if (<u32>(iw0 + o / C) < <u32>W) {
            v = load<f32>(src + so);
            if (fused<F>()) v = nrm(v, load<f32>(ce + so), load<f32>(ce + nb + so), act);
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
 * a[C] then b[C]: x normalised, then act(.) for an ACT_* code (common/act.ts), while packing A^T; padding stays 0).
 */
export function conv_bwd_w_f(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  bwdW<Fused>(d, dy, x, acc, dlt, cdy, cx, act, start, end, scratch);
}

function bwdW<F>(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, act: i32, start: i32, end: i32, scratch: usize): void {
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
      const win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, m0, mlen, x, ce, act, zw, zcap);
      const pro = fused<F>() && ce != 0 && !win;
      const xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
      for (let g = gs; g <= ge; g++) {
        const ua = max(us, g * U) - g * U, ub = min(ue, (g + 1) * U) - g * U;
        const pa = cols ? 0 : ua, pe = cols ? RP : ub;
        const ja = cols ? ua : 0, je = cols ? ub : NP;
        packDY<F>(d, dy, m0, mlen, g, ja, je, bpk, dlt, cdy);
        for (let rb = pa; rb < pe; rb += RBP) {
          const rbe = min(pe, rb + RBP);
          if (pro) packAT<Fused>(d, tab, mlen, g, rb, rbe, apk, ce, nb, act, xs);
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

export function conv_bwd_w_t(d: usize, dy: usize, x: usize, acc: usize, start: i32, end: i32, scratch: usize): void {
  bwdWT<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/** Fused: dy prologue (cdy: A, B, C0; xbn = dy + dlt) and/or x prologue (cx: a, b; act), as conv_bwd_w_f. */
export function conv_bwd_w_t_f(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  bwdWT<Fused>(d, dy, x, acc, dlt, cdy, cx, act, start, end, scratch);
}

function bwdWT<F>(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, act: i32, start: i32, end: i32, scratch: usize): void {
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
    const pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, act, zw, zcap));
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
                if (act) { v0 = actv(act, v0); v1 = actv(act, v1); }
              }
              v128.store(o, v0); v128.store(o, v1, 16);
            } else {
              for (let l = 0; l < 8; l++) {
                let v: f32 = 0;
                if (l < nval) {
                  v = load<f32>(src + (<usize>l << 2));
                  if (pro) {
                    const cp = ce + (<usize>(cu + l) << 2);
                    v = nrm(v, load<f32>(cp), load<f32>(cp + nb), act);
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
export function conv_bwd_w_dot_f(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  bwdWDot<Fused>(d, dy, x, acc, dlt, cdy, cx, act, start, end, scratch);
}

function bwdWDot<F>(d: usize, dy: usize, x: usize, acc: usize, dlt: usize, cdy: usize, cx: usize, act: i32, start: i32, end: i32, scratch: usize): void {
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
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, act, zw, zcap))) unreachable();
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

/** dW (OIHW) from the accumulator of conv_bwd_w_t: dw[k][c][tap] = acc[k][tap*Cg8 + c]. Units: output channels k. */
export function conv_bwd_w_t_out(d: usize, acc: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
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
