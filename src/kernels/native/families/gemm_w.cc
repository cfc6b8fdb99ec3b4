// Backward-weights of the GEMM convolution (conv_bwd_w*, conv_bwd_w_t*, conv_bwd_w_dot*, their
// accumulators' output and the bias gradient): the native twins of
// src/kernels/wasm/gemm_w.ts, ported as gemm.cc describes (docs/design/conv-kernels.md).
#include <type_traits>

#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"
#include "gemm_common.h"

namespace {


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
static inline ux atStride(i32 mlen) {
  return ((ux)mlen << 4) + 64;
}

/**
 * A^T micro-panels [p - p0][mlen][4] (atStride apart) for row panels [p0, p1) of group g, chunk
 * rows in `tab`. Fused (F = Fused): x is BN-normalised and activated (act) while packed, row o of a segment
 * taking its coefficients from the expanded rows at ce + 4*(coff + o) (bE nb bytes further, see
 * expandCoef); rows outside the image (padding) stay 0.
 */
template <class F> static void packAT(ux d, ux tab, i32 mlen, i32 g, i32 p0, i32 p1, ux dst, ux ce, ux nb, i32 act, i32 xs) {
  if (ld(d, D_WTIGHT)) {
    packATTight<F>(d, tab, mlen, p0, p1, dst, ce, nb, act);
    return;
  }
  const auto C = xs; const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW);
  const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW); const auto Cg = ld(d, D_CG);
  const auto merge = ld(d, D_MERGE) != 0; const auto SEG = ld(d, D_SEG); const auto SEG4 = ld(d, D_SEG4);
  const auto PPS = SEG4 >> 2; // row panels per segment
  const auto z = f32x4_splat(0);
  const auto ps = atStride(mlen); // bytes between consecutive panels
  auto p = p0;
  while (p < p1) {
    const auto sg = p / PPS; const auto q0 = p - sg * PPS;
    const auto nq = min(PPS - q0, p1 - p); // panels of this segment in the block
    const auto o0 = q0 * 4; // first row (offset in the segment)
    const auto nfull = max(0, min(nq, (SEG - o0) >> 2)); // panels entirely inside the SEG valid rows
    const auto ntail = nq - nfull; // 0 or 1: a last panel with 1..3 valid rows
    const auto kh = merge ? sg : sg / KW;
    const auto kw = merge ? 0 : sg - kh * KW;
    const auto dh = kh * DH; const auto dw = kw * DW;
    const auto coff = merge ? o0 : g * Cg + o0;
    const auto out0 = dst + (ux)(p - p0) * ps;
    const auto ca0 = ce + ((ux)coff << 2); // fused: coefficients of the segment's row o0
    for (auto mm = 0; mm < mlen; mm++) {
      const auto t = tab + (ux)mm * 12;
      const auto xb = rowX(t);
      const auto ih = load<i32>(t, 4) + dh; const auto iw = load<i32>(t, 8) + dw;
      auto out = out0 + ((ux)mm << 4);
      const auto rowIn = xb != 0 && (ux)ih < (ux)H;
      if (rowIn && (merge ? iw >= 0 && iw + KW <= W : (ux)iw < (ux)W)) {
        // the whole segment is inside the image
        auto src = xb + (((ux)(ih * W + iw) * (ux)C + (ux)coff) << 2);
        if (fused<F>()) {
          auto ca = ca0;
          for (auto q = 0; q < nfull; q++) {
            auto v = fma(v128_load(src), v128_load(ca), v128_load(ca + nb));
            if (act) v = actv(act, v);
            v128_store(out, v);
            out += ps; src += 16; ca += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // as below (rows past the segment only reach acc's padding rows)
              auto v = fma(v128_load(src), v128_load(ca), v128_load(ca + nb));
              if (act) v = actv(act, v);
              v128_store(out, v);
            } else {
              const auto nv = SEG - (o0 + nfull * 4);
              for (auto l = 0; l < 4; l++) {
                const auto o = (ux)l << 2;
                store<f32>(out + o, l < nv ? nrm(load<f32>(src + o), load<f32>(ca + o), load<f32>(ca + nb + o), act) : 0);
              }
            }
          }
        } else {
          for (auto q = 0; q < nfull; q++) {
            v128_store(out, v128_load(src));
            out += ps; src += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // the 1..3 floats past the segment belong to the next pixel of the same image row:
              // read them with the vector; they only reach acc's padding rows, never output
              v128_store(out, v128_load(src));
            } else {
              const auto nv = SEG - (o0 + nfull * 4);
              for (auto l = 0; l < 4; l++) store<f32>(out + ((ux)l << 2), l < nv ? load<f32>(src + ((ux)l << 2)) : 0);
            }
          }
        }
      } else if (!rowIn || !merge) {
        for (auto q = 0; q < nq; q++) {
          v128_store(out, z);
          out += ps;
        }
      } else {
        // a kernel row crossing the left or right image edge: element by element
        const auto src = xb + (((ux)(ih * W + iw) * (ux)C + (ux)coff) << 2); // (ih, iw) may be outside
        for (auto q = 0; q < nq; q++) {
          for (auto l = 0; l < 4; l++) {
            const auto o = o0 + q * 4 + l;
            const auto ok = o < SEG && (ux)(iw + o / Cg) < (ux)W;
            const auto so = (ux)(q * 4 + l) << 2;
            f32 v = 0;
            if (ok) {
              v = load<f32>(src + so);
              if (fused<F>()) v = nrm(v, load<f32>(ca0 + so), load<f32>(ca0 + nb + so), act);
            }
            store<f32>(out + ((ux)l << 2), v);
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
template <class F> static void packATTight(ux d, ux tab, i32 mlen, i32 p0, i32 p1, ux dst, ux ce, ux nb, i32 act) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW); const auto DH = ld(d, D_DH);
  const auto SEG = ld(d, D_SEG); const auto R = KH * SEG;
  const auto row = tab - SC_ROWS + SC_TROW; // this thread's scratch
  const auto sb = (ux)SEG << 2; const auto vb = (ux)(SEG & ~3) << 2;
  const auto kha = (p0 * 4) / SEG; const auto khb = min(KH - 1, (p1 * 4 - 1) / SEG);
  for (auto o = R; o < R + 4; o++) store<f32>(row + ((ux)o << 2), 0); // past the last kernel row
  const auto ps = atStride(mlen);
  for (auto mm = 0; mm < mlen; mm++) {
    const auto t = tab + (ux)mm * 12;
    const auto xb = rowX(t);
    const auto ih0 = load<i32>(t, 4); const auto iw0 = load<i32>(t, 8);
    for (auto kh = kha; kh <= khb; kh++) {
      const auto ih = ih0 + kh * DH;
      const auto r = row + (ux)kh * sb;
      if (!xb || (ux)ih >= (ux)H) {
        for (ux o = 0; o < sb; o += 4) store<f32>(r + o, 0);
        continue;
      }
      const auto src = xb + (((ux)(ih * W + iw0) * (ux)C) << 2); // (ih, iw0) may be outside
      if (iw0 >= 0 && iw0 + KW <= W) {
        ux o = 0;
        for (; o < vb; o += 16) {
          auto v = v128_load(src + o);
          if (fused<F>()) {
            v = fma(v, v128_load(ce + o), v128_load(ce + nb + o));
            if (act) v = actv(act, v);
          }
          v128_store(r + o, v);
        }
        for (; o < sb; o += 4) {
          auto v = load<f32>(src + o);
          if (fused<F>()) v = nrm(v, load<f32>(ce + o), load<f32>(ce + nb + o), act);
          store<f32>(r + o, v);
        }
      } else {
        for (auto o = 0; o < SEG; o++) {
          const auto so = (ux)o << 2;
          f32 v = 0;
          if ((ux)(iw0 + o / C) < (ux)W) {
            v = load<f32>(src + so);
            if (fused<F>()) v = nrm(v, load<f32>(ce + so), load<f32>(ce + nb + so), act);
          }
          store<f32>(r + so, v);
        }
      }
    }
    auto out = dst + ((ux)mm << 4);
    for (auto p = p0; p < p1; p++) {
      v128_store(out, v128_load(row + ((ux)p << 4)));
      out += ps;
    }
  }
}

// The dy prologue's row buffer (packDY): this many bytes below 3 MiB of the thread scratch, which
// the blocks of conv_bwd_w stay under (the fusion region lies above 3 MiB)
constexpr ux DY_TMP = 64u << 10;
// The x prologue of a 1x1 layer's backward-weights reads x in place from normalised rows only
// where x has at least this many bytes (see bwdW)
constexpr ux NRW_MIN = 8u << 20;

/**
 * dY chunk rows [m0, m0 + mlen), group g, panels [ja, je) as [je - ja][ps][8] (zero past Kg).
 * Fused with cdy != 0 (dy prologue): dy = A*dbn + B*xbn + C0 on load, dbn at `dy`, xbn at
 * dy + dlt, A[K], B[K], C0[K] at cdy.
 */
template <class F> static void packDY(ux d, ux dy, i32 m0, i32 mlen, i32 g, i32 ja, i32 je, ux dst, ux dlt, ux cdy, i32 ps, ux tmp) {
  const auto K = ld(d, D_K); const auto Kg = ld(d, D_KG);
  const auto ldk = (ux)K << 2;
  auto j0 = ja;
  const auto jf = min(je, Kg >> 3); // whole panels
  if (fused<F>() && cdy && jf - ja >= 2 && (ux)(jf - ja) * 32 + 64 <= DY_TMP) {
    // dY of the whole panels computed row by row, a block of rows at a time, into a buffer after
    // the packed chunk (two sequential streams: a pass per panel pair over rows K floats apart
    // fetched both streams from DRAM once per pass where the chunk's lines do not stay in L2),
    // then copied into the panels; per float copy4dy's operations, as the panel loop below
    const auto w = (jf - ja) * 8;
    const auto ts = ((ux)w << 2) + 64; // (+64: rows a multiple of 4 KiB apart would share L1 sets)
    const auto RB = max(1, min(mlen, (i32)(DY_TMP / ts)));
    const auto cw = g * Kg + ja * 8;
    for (auto m = 0; m < mlen; m += RB) {
      const auto n = min(RB, mlen - m);
      dyRows(tmp, ts, dy + (((ux)(m0 + m) * (ux)K + (ux)cw) << 2), ldk, dlt, n, w, cdy + ((ux)cw << 2), ldk);
      for (auto j = ja; j < jf; j++) {
        auto out = dst + (ux)((j - ja) * ps + m) * 32;
        auto src = tmp + (ux)((j - ja) * 32);
        for (auto mm = 0; mm < n; mm++) {
          _mm256_storeu_ps((float *)(gM + (size_t)out), ld8(src));
          out += 32; src += ts;
        }
      }
    }
    j0 = jf;
  }
  for (auto j = j0; j < je; j++) {
    auto out = dst + (ux)((j - ja) * ps) * 32;
    auto src = dy + (((ux)m0 * (ux)K + (ux)(g * Kg + j * 8)) << 2);
    const auto ncols = min(8, Kg - j * 8);
    if (fused<F>() && cdy) {
      const auto ca = cdy + ((ux)(g * Kg + j * 8) << 2);
      if (j + 1 < je && Kg - j * 8 >= 16) {
        // two whole panels per pass: each row's 64 bytes of dbn and xbn are read once (the two
        // input streams of a chunk would not both stay in L1 for a second pass)
        auto out2 = out + (ux)ps * 32;
        const auto A0 = v128_load(ca); const auto A1 = v128_load(ca, 16); const auto A2 = v128_load(ca, 32); const auto A3 = v128_load(ca, 48);
        const auto B0 = v128_load(ca + ldk); const auto B1 = v128_load(ca + ldk, 16); const auto B2 = v128_load(ca + ldk, 32); const auto B3 = v128_load(ca + ldk, 48);
        const auto cc = ca + 2 * ldk;
        for (auto mm = 0; mm < mlen; mm++) {
          const auto x = src + dlt;
          v128_store(out, fma(A0, v128_load(src), fma(B0, v128_load(x), v128_load(cc))));
          v128_store(out, fma(A1, v128_load(src, 16), fma(B1, v128_load(x, 16), v128_load(cc, 16))), 16);
          v128_store(out2, fma(A2, v128_load(src, 32), fma(B2, v128_load(x, 32), v128_load(cc, 32))));
          v128_store(out2, fma(A3, v128_load(src, 48), fma(B3, v128_load(x, 48), v128_load(cc, 48))), 16);
          out += 32; out2 += 32; src += ldk;
        }
        j++;
        continue;
      }
      if (ncols == 8) {
        const auto A0 = v128_load(ca); const auto A1 = v128_load(ca, 16);
        const auto B0 = v128_load(ca + ldk); const auto B1 = v128_load(ca + ldk, 16);
        const auto C0 = v128_load(ca + 2 * ldk); const auto C1 = v128_load(ca + 2 * ldk, 16);
        for (auto mm = 0; mm < mlen; mm++) {
          v128_store(out, fma(A0, v128_load(src), fma(B0, v128_load(src + dlt), C0)));
          v128_store(out, fma(A1, v128_load(src, 16), fma(B1, v128_load(src + dlt, 16), C1)), 16);
          out += 32; src += ldk;
        }
      } else {
        for (auto mm = 0; mm < mlen; mm++) {
          for (auto l = 0; l < 8; l++) {
            const auto o = (ux)l << 2;
            store<f32>(out + o, l < ncols ? load<f32>(ca + o) * load<f32>(src + o) + (load<f32>(ca + ldk + o) * load<f32>(src + dlt + o) + load<f32>(ca + 2 * ldk + o)) : 0);
          }
          out += 32; src += ldk;
        }
      }
      continue;
    }
    if (ncols == 8) {
      for (auto mm = 0; mm < mlen; mm++) {
        v128_store(out, v128_load(src));
        v128_store(out, v128_load(src, 16), 16);
        out += 32; src += ldk;
      }
    } else {
      for (auto mm = 0; mm < mlen; mm++) {
        for (auto l = 0; l < 8; l++) store<f32>(out + ((ux)l << 2), l < ncols ? load<f32>(src + ((ux)l << 2)) : 0);
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
static void as_conv_bwd_w(ux d, ux dy, ux x, ux acc, i32 start, i32 end, ux scratch) {
  bwdW<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused backward-weights. cdy != 0: dy prologue (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K],
 * C0[K]: dY = A*dbn + B*xbn + C0 computed while packing the dY chunk). cx != 0: x prologue (cx =
 * a[C] then b[C]: x normalised, then act(.) for an ACT_* code (core/act.h), while packing A^T; padding stays 0).
 */
static void as_conv_bwd_w_f(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch) {
  bwdW<Fused>(d, dy, x, acc, dlt, cdy, cx, act, start, end, scratch);
}

template <class F> static void bwdW(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch) {
  const auto N = ld(d, D_N); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto G = ld(d, D_G);
  const auto Kg8 = ld(d, D_KG8); const auto ROWS = ld(d, D_ROWS); const auto cols = ld(d, D_WCOLS) != 0;
  const auto NP = Kg8 >> 3; const auto RP = ROWS >> 2;
  const auto Mch = ld(d, D_MCH); const auto RBP = ld(d, D_RBP); const auto S = ld(d, D_WSL);
  const auto M = N * OH * OW; const auto NCH = (M + Mch - 1) / Mch;
  const auto tab = scratch + SC_ROWS;
  const auto bpk = scratch + SC_PACK; // dY chunk: Mch * Kg8 floats
  const auto apk = bpk + (ux)Mch * (ux)Kg8 * 4; // A^T block: RBP panels, atStride(Mch) bytes each
  const auto ldc = (ux)Kg8 << 2;
  const auto U = cols ? NP : RP; // units per group
  const auto UG = G * U; // units per slice
  const auto sliceB = ((ux)G * (ux)ROWS * (ux)Kg8) << 2;
  const bool pw1 = ld(d, D_KH) == 1 && ld(d, D_KW) == 1 && ld(d, D_SH) == 1 && ld(d, D_SW) == 1 && ld(d, D_PH) == 0 && ld(d, D_PW) == 0 &&
                   G == 1 && (ld(d, D_C) & 3) == 0 && ld(d, D_WTIGHT) == 0;
  ux ce = 0; ux nb = 0; ux zw = 0; ux zcap = 0;
  if (fused<F>() && cx) {
    ce = scratch + (ux)ld(d, D_FCOEF);
    nb = (ux)ld(d, D_FNE) << 2;
    expandCoef(d, cx, ce);
    if (ld(d, D_FZ)) { zw = scratch + (ux)ld(d, D_FZ); zcap = (ux)ld(d, D_FZCAP); }
  }
  for (auto sl = start / UG; sl <= (end - 1) / UG; sl++) {
    // slice sl: chunks [c0, c1) into its own accumulator; units [us, ue) of it
    const auto us = max(start, sl * UG) - sl * UG; const auto ue = min(end, (sl + 1) * UG) - sl * UG;
    const auto accS = acc + (ux)sl * sliceB;
    const auto c0 = (i32)(((i64)sl * NCH) / S); const auto c1 = (i32)(((i64)(sl + 1) * NCH) / S);
    const auto gs = us / U; const auto ge = (ue - 1) / U;
    for (auto m0 = c0 * Mch; m0 < min(M, c1 * Mch); m0 += Mch) {
      const auto mlen = min(Mch, M - m0);
      const auto add = m0 == c0 * Mch ? 0 : 1;
      fillRows(d, tab, m0, mlen, x);
      // x prologue: normalise this chunk's input rows once (else while packing, per tap)
      const auto win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, m0, mlen, x, ce, act, zw, zcap);
      const auto pro = fused<F>() && ce != 0 && !win;
      const auto xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
      for (auto g = gs; g <= ge; g++) {
        const auto ua = max(us, g * U) - g * U; const auto ub = min(ue, (g + 1) * U) - g * U;
        const auto pa = cols ? 0 : ua; const auto pe = cols ? RP : ub;
        const auto ja = cols ? ua : 0; const auto je = cols ? ub : NP;
        packDY<F>(d, dy, m0, mlen, g, ja, je, bpk, dlt, cdy, mlen, scratch + (3u << 20) - DY_TMP);
        // (the normalised block of the x prologue below: as many channels as fit in half the
        // scratch below its 3 MiB, the rest for the partial sums)
        // (only where x is large enough to come from DRAM: from the caches, the packed path is
        // faster, 1x1 256->1024 @14 in cache 0.87x the plain call's time packed, 1.02x in place)
        const bool nrw = fused<F>() && pw1 && pro && (ux)N * (ux)ld(d, D_H) * (ux)ld(d, D_W) * (ux)xs * 4 >= NRW_MIN;
        const i32 RBN = nrw ? (i32)max<i64>(1, ((i64)((scratch + (3u << 20) - DY_TMP - apk) / 2 / (ux)mlen) - 64) / 16) : RBP;
        for (auto rb = pa; rb < pe; rb += RBN) {
          const auto rbe = min(pe, rb + RBN);
          // 1x1, stride 1, no padding, one group, C % 4 == 0, x not normalised: A^T's micro-panel p
          // is channels 4p.. of the chunk's pixels, read in place (A_COLS) instead of packed
          // With the x prologue, channels 4rb.. 4rbe of the chunk's pixels are normalised once, in
          // order, into the A^T block (pixels ts floats apart) and read there in place
          const ux ts = ((ux)(rbe - rb) << 2) + 16; // (+16: a row stride of 1 KiB would use 4 L1 sets)
          const bool dir = pw1 && (nrw || (!pro && !win && xs <= ROWS_IN_PLACE));
          if (nrw) normRows(apk, ts << 2, x + ((ux)m0 * (ux)xs + ((ux)rb << 2)) * 4, (ux)xs << 2, mlen, (rbe - rb) * 4, ce + ((ux)rb << 4), nb, act);
          else if (dir) {
          } else if (pro) packAT<Fused>(d, tab, mlen, g, rb, rbe, apk, ce, nb, act, xs);
          else packAT<Plain>(d, tab, mlen, g, rb, rbe, apk, 0, 0, 0, xs);
          // The chunk's reduction in blocks of KB pixels: one block's B panels (KB x 8) and A^T
          // micro-panels stay in L1 while every tile takes them, the tiles' sums in between are
          // kept in a buffer after the A^T block (mkw's part rows), where it fits
          const ux pbuf = apk + (nrw ? ((ux)mlen * ts * 4 + 63) & ~(ux)63 : dir ? 0 : (ux)RBP * atStride(Mch));
          const i32 pcols = (je - ja) * 8;
          const bool split = pbuf + (ux)(rbe - rb) * 4 * (ux)pcols * 4 <= scratch + (3u << 20) - DY_TMP;
          const i32 KB = split ? 128 : mlen;
          // the next chunk's x and dY come from DRAM: prefetched a few lines per tile, spread over
          // this chunk's tiles (x in place only: the packed path reads it once, in order)
          const i32 ntiles = ((je - ja + WRJ - 1) / WRJ) * ((rbe - rb + WRI - 1) / WRI) * ((mlen + KB - 1) / KB);
          const ux nxB = (ux)mlen * (ux)xs * 4, ndB = (ux)mlen * (ux)ld(d, D_K) * 4;
          const i32 xl = dir ? (i32)((nxB / 64 + ntiles - 1) / ntiles) : 0, dl = dir ? (i32)((ndB / 64 + ntiles - 1) / ntiles) : 0;
          const char *nx = (const char *)fp(x + (ux)(m0 + mlen) * (ux)xs * 4), *nd = (const char *)fp(dy + (ux)(m0 + mlen) * (ux)ld(d, D_K) * 4);
          const char *ndx = fused<F>() && cdy ? (const char *)fp(dy + dlt + (ux)(m0 + mlen) * (ux)ld(d, D_K) * 4) : nullptr;
          i32 ti = 0;
          for (i32 k0 = 0; k0 < mlen; k0 += KB) {
            const i32 kn = min(KB, mlen - k0);
            const int pin = k0 > 0, pout = k0 + kn < mlen;
            // A^T's micro-panels outer (read in place with a 1 KiB-ish stride: reused from L1 by
            // every panel), dY's panels inner (contiguous: streamed)
            for (i32 pb = rb; pb < rbe; pb += WRI) {
              const i32 ri = min(WRI, rbe - pb);
              for (i32 jb = ja; jb < je; jb += WRJ) {
                const i32 rj = min(WRJ, je - jb);
                const auto bj = bpk + (ux)((jb - ja) * mlen + k0) * 32;
                float *rows[4 * WRI], *part[4 * WRI];
                for (i32 ii = 0; ii < ri; ii++) {
                  const auto o = accS + (((ux)(g * ROWS + (pb + ii) * 4) * (ux)Kg8 + (ux)(jb * 8)) << 2);
                  for (i32 r = 0; r < 4; r++) {
                    rows[ii * 4 + r] = fp(o + (ux)r * ldc);
                    part[ii * 4 + r] = fp(pbuf + ((ux)((pb - rb + ii) * 4 + r) * (ux)pcols + (ux)((jb - ja) * 8)) * 4);
                  }
                }
                if (dir) {
                  const bool more = m0 + mlen < M && dy != 0;
                  // (the dy prologue's second stream, xbn, as dY's lines, into L2 only: measured on
                  // 1x1 64->256 @56, one thread, dy prologue only: 1.20x -> 1.16x the plain call's time)
                  if (fused<F>() && cdy && more)
                    for (i32 l = 0; l < dl; l++) _mm_prefetch(ndx + ((size_t)ti * dl + l) * 64, _MM_HINT_T1);
                  const float *a0 = nrw ? fp(apk + ((ux)k0 * ts + (ux)(pb - rb) * 4) * 4) : fp(x + ((ux)(m0 + k0) * (ux)xs + (ux)pb * 4) * 4);
                  mkwAny<A_COLS>(ri, rj, a0, nrw ? (size_t)ts : (size_t)xs, fp(bj), (size_t)mlen * 8, kn, rows, nullptr, add,
                                 more ? nx + (size_t)ti * xl * 64 : nullptr, more ? xl : 0, more ? nd + (size_t)ti * dl * 64 : nullptr, 64, more ? dl : 0, part, pin,
                                 pout);
                  ti++;
                } else {
                  mkwAny<A_PACKED>(ri, rj, fp(apk + (ux)(pb - rb) * atStride(mlen) + (ux)k0 * 16), atStride(mlen) / 4, fp(bj), (size_t)mlen * 8, kn, rows,
                                   nullptr, add, nullptr, 0, nullptr, 0, 0, part, pin, pout);
                }
              }
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
const auto WT_GROUP = 16; // panels packed per pass over a chunk's pixels (16 x 16 KiB)

static void as_conv_bwd_w_t(ux d, ux dy, ux x, ux acc, i32 start, i32 end, ux scratch) {
  bwdWT<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/** Fused: dy prologue (cdy: A, B, C0; xbn = dy + dlt) and/or x prologue (cx: a, b; act), as conv_bwd_w_f. */
static void as_conv_bwd_w_t_f(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch) {
  bwdWT<Fused>(d, dy, x, acc, dlt, cdy, cx, act, start, end, scratch);
}

template <class F> static void bwdWT(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch) {
  const auto N = ld(d, D_N); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto K = ld(d, D_K); const auto Kg = ld(d, D_KG);
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto Cg8 = ld(d, D_CG8); const auto KT = ld(d, D_KH) * KW;
  const auto RP = (Kg + 3) >> 2; const auto per = Cg8 >> 3;
  const auto Mch = ld(d, D_MCH); // chunk of pixels: sized by conv.ts so that both packed blocks fit the scratch
  const auto M = N * OH * OW;
  const auto zero = scratch + SC_ZERO; const auto tab = scratch + SC_ROWS;
  const auto apk = scratch + SC_PACK; // dY^T chunk: RP micro-panels of Mch*16 bytes
  const auto bpk = apk + (ux)RP * (ux)Mch * 16; // x panels: up to WT_GROUP of Mch*32 + 64 bytes
  const auto lda = (ux)(KT * Cg8) << 2; // accumulator row
  zeroPage(scratch);
  ux ce = 0; ux nb = 0; ux zw = 0; ux zcap = 0;
  if (fused<F>() && cx) {
    ce = scratch + (ux)ld(d, D_FCOEF);
    nb = (ux)ld(d, D_FNE) << 2;
    expandCoef(d, cx, ce);
    if (ld(d, D_FZ)) { zw = scratch + (ux)ld(d, D_FZ); zcap = (ux)ld(d, D_FZCAP); }
  }
  const auto z = f32x4_splat(0);
  for (auto m0 = 0; m0 < M; m0 += Mch) {
    const auto mlen = min(Mch, M - m0);
    const auto add = m0 == 0 ? 0 : 1;
    // dY^T: panel p holds dY[m][4p .. 4p+4] (zero past Kg)
    for (auto p = 0; p < RP; p++) {
      const auto k0 = p * 4; const auto full = k0 + 4 <= Kg;
      auto src = dy + (((ux)m0 * (ux)K + (ux)k0) << 2);
      auto o = apk + (ux)p * (ux)Mch * 16;
      for (auto m = 0; m < mlen; m++) {
        if (full) {
          v128_store(o, fused<F>() && cdy ? dyv(cdy + ((ux)k0 << 2), (ux)K << 2, src, dlt) : v128_load(src));
        } else {
          for (auto l = 0; l < 4; l++) {
            f32 v = 0;
            if (k0 + l < Kg) {
              const auto q = src + ((ux)l << 2);
              v = fused<F>() && cdy ? dyf(cdy + ((ux)(k0 + l) << 2), (ux)K << 2, q, dlt) : load<f32>(q);
            }
            store<f32>(o + ((ux)l << 2), v);
          }
        }
        src += (ux)K << 2; o += 16;
      }
    }
    fillRows(d, tab, m0, mlen, x);
    const auto pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, act, zw, zcap));
    // panels of one tap in groups of up to WT_GROUP: one address computation per pixel and group
    for (auto qa = start; qa < end;) {
      const auto tap = qa / per;
      const auto qb = min(min(end, (tap + 1) * per), qa + WT_GROUP);
      const auto c0 = (qa - tap * per) * 8;
      const auto kh = tap / KW; const auto kw = tap - kh * KW;
      const auto dh = kh * DH; const auto dw = kw * DW;
      const auto nq = qb - qa;
      const auto full = (qb - tap * per) * 8 <= C; // every panel of the group has 8 valid channels
      // bytes per packed panel: + 64 so that the panels written together per pixel do not all
      // fall into one L1 set (a multiple of 4 KiB apart, they thrash)
      const auto ps = ((ux)mlen << 5) + 64;
      for (auto m = 0; m < mlen; m++) {
        const auto t = tab + (ux)m * 12;
        const auto pp = tapPtr(rowX(t), load<i32>(t, 4) + dh, load<i32>(t, 8) + dw, H, W, C, c0);
        auto o = bpk + ((ux)m << 5);
        if (!pp) {
          for (auto u = 0; u < nq; u++) { v128_store(o, z); v128_store(o, z, 16); o += ps; }
        } else if (full && !pro) {
          auto src = pp;
          for (auto u = 0; u < nq; u++) { v128_store(o, v128_load(src)); v128_store(o, v128_load(src, 16), 16); o += ps; src += 32; }
        } else {
          for (auto u = 0; u < nq; u++) {
            const auto cu = c0 + u * 8;
            const auto nval = min(8, C - cu);
            const auto src = pp + ((ux)(u * 8) << 2);
            if (nval == 8) {
              auto v0 = v128_load(src); auto v1 = v128_load(src, 16);
              if (pro) {
                const auto cp = ce + ((ux)cu << 2);
                v0 = fma(v0, v128_load(cp), v128_load(cp + nb)); v1 = fma(v1, v128_load(cp, 16), v128_load(cp + nb, 16));
                if (act) { v0 = actv(act, v0); v1 = actv(act, v1); }
              }
              v128_store(o, v0); v128_store(o, v1, 16);
            } else {
              for (auto l = 0; l < 8; l++) {
                f32 v = 0;
                if (l < nval) {
                  v = load<f32>(src + ((ux)l << 2));
                  if (pro) {
                    const auto cp = ce + ((ux)(cu + l) << 2);
                    v = nrm(v, load<f32>(cp), load<f32>(cp + nb), act);
                  }
                }
                store<f32>(o + ((ux)l << 2), v);
              }
            }
            o += ps;
          }
        }
      }
      for (auto u = 0; u < nq; u++) {
        const auto cq = acc + ((ux)(qa + u) << 5);
        const auto b = bpk + (ux)u * ps;
        for (auto p = 0; p < RP; p++) {
          const auto c = cq + (ux)(p * 4) * lda;
          mk(apk + (ux)p * (ux)Mch * 16, b, mlen, c, c + lda, c + 2 * lda, c + 3 * lda, 0, add);
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

static void as_conv_bwd_w_dot(ux d, ux dy, ux x, ux acc, i32 start, i32 end, ux scratch) {
  bwdWDot<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused, arguments as conv_bwd_w_f: the dy prologue (cdy != 0) computes each chunk's dY once into
 * scratch (every thread the whole chunk, K floats per pixel); the x prologue needs the window.
 */
static void as_conv_bwd_w_dot_f(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch) {
  bwdWDot<Fused>(d, dy, x, acc, dlt, cdy, cx, act, start, end, scratch);
}

template <class F> static void bwdWDot(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch) {
  const auto N = ld(d, D_N); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto K = ld(d, D_K); const auto C = ld(d, D_C);
  const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW); const auto SW = ld(d, D_SW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto T = ld(d, D_KH) * KW; const auto Mch = ld(d, D_MCH);
  const auto KB = (K + 3) >> 2; const auto CB = (C + 7) >> 3;
  const auto M = N * OH * OW;
  const auto tab = scratch + SC_ROWS; const auto seg = scratch + SC_PACK; // segments: s0, s1, xb, ih0, iw0 (i32), then the dY chunk
  const auto xs = (ux)(SW * C) << 2; const auto ks = (ux)K << 2; const auto cb = (ux)C << 2;
  const auto ldt = (ux)(T * C) << 2; // acc row (one output channel)
  ux ce = 0; ux zw = 0; ux zcap = 0;
  if (fused<F>() && cx) {
    ce = scratch + (ux)ld(d, D_FCOEF);
    expandCoef(d, cx, ce);
    zw = scratch + (ux)ld(d, D_FZ); zcap = (ux)ld(d, D_FZCAP);
  }
  for (auto m0 = 0; m0 < M; m0 += Mch) {
    const auto mlen = min(Mch, M - m0);
    const auto first = m0 == 0;
    fillRows(d, tab, m0, mlen, x);
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, act, zw, zcap))) unreachable();
    // dy prologue: this chunk's dY = A*dbn + B*xbn + C0, once, into scratch
    auto dyb = dy + (((ux)m0 * (ux)K) << 2); // dY of the chunk's first pixel
    if (fused<F>() && cdy) {
      const auto dst = seg + (((ux)Mch * 20 + 63) & ~63); // after the segment table
      auto q = dyb; auto o = dst;
      const auto kv = ks & ~15;
      for (auto m = 0; m < mlen; m++) {
        ux k = 0;
        for (; k < kv; k += 16) {
          v128_store(o + k, dyv(cdy + k, ks, q + k, dlt));
        }
        for (; k < ks; k += 4) {
          store<f32>(o + k, dyf(cdy + k, ks, q + k, dlt));
        }
        q += ks; o += ks;
      }
      dyb = dst;
    }
    // output-row segments of the chunk
    auto ns = 0;
    for (auto i = 0; i < mlen;) {
      const auto t = tab + (ux)i * 12;
      const auto ow = (m0 + i) % OW;
      const auto len = min(OW - ow, mlen - i);
      const auto sp = seg + (ux)ns * 20;
      store<i32>(sp, i); store<i32>(sp, i + len, 4);
      store<i32>(sp, load<i32>(t), 8); store<i32>(sp, load<i32>(t, 4), 12); store<i32>(sp, load<i32>(t, 8), 16);
      ns++;
      i += len;
    }
    for (auto u = start; u < end; u++) {
      const auto tap = u / (KB * CB); const auto r = u - tap * (KB * CB);
      const auto kb = r / CB; const auto cq = r - kb * CB;
      const auto kh = tap / KW; const auto kw = tap - kh * KW;
      const auto k0 = kb * 4; const auto c0 = cq * 8;
      const auto wide = c0 + 8 <= C;
      // splat offsets of the 4 output channels (clamped to K - 1: duplicated lanes are not output)
      const auto o1 = (ux)min(1, K - 1 - k0) << 2; const auto o2 = (ux)min(2, K - 1 - k0) << 2; const auto o3 = (ux)min(3, K - 1 - k0) << 2;
      auto a00 = f32x4_splat(0);
      auto a01 = a00; auto a10 = a00; auto a11 = a00; auto a20 = a00; auto a21 = a00; auto a30 = a00; auto a31 = a00;
      for (auto sI = 0; sI < ns; sI++) {
        const auto sp = seg + (ux)sI * 20;
        const auto xb = rowX(sp, 8);
        const auto ih = load<i32>(sp, 12) + kh * DH;
        if (!xb || (ux)ih >= (ux)H) continue;
        const auto s0 = load<i32>(sp); const auto s1 = load<i32>(sp, 4);
        // pixel j of the segment reads iw = iw0 + (j - s0)*SW + kw*DW
        const auto iwa = load<i32>(sp, 16) + kw * DW;
        auto ja = 0; auto je = s1 - s0;
        if (iwa < 0) ja = (-iwa + SW - 1) / SW;
        const auto lim = (W - 1 - iwa) / SW + 1; // pixels with iw <= W - 1 (iwa <= W - 1)
        if (iwa > W - 1) continue;
        je = min(je, lim);
        if (ja >= je) continue;
        auto xp = xb + (((ux)(ih * W + iwa + ja * SW) * (ux)C + (ux)c0) << 2);
        auto dp = dyb + (((ux)(s0 + ja) * (ux)K + (ux)k0) << 2);
        const auto dpe = dp + (ux)(je - ja) * ks;
        if (wide) {
          while (dp < dpe) {
            const auto x0 = v128_load(xp); const auto x1 = v128_load(xp, 16);
            auto dv = v128_load32_splat(dp);
            a00 = fma(dv, x0, a00); a01 = fma(dv, x1, a01);
            dv = v128_load32_splat(dp + o1);
            a10 = fma(dv, x0, a10); a11 = fma(dv, x1, a11);
            dv = v128_load32_splat(dp + o2);
            a20 = fma(dv, x0, a20); a21 = fma(dv, x1, a21);
            dv = v128_load32_splat(dp + o3);
            a30 = fma(dv, x0, a30); a31 = fma(dv, x1, a31);
            xp += xs; dp += ks;
          }
        } else {
          while (dp < dpe) {
            const auto x0 = v128_load(xp);
            a00 = fma(v128_load32_splat(dp), x0, a00);
            a10 = fma(v128_load32_splat(dp + o1), x0, a10);
            a20 = fma(v128_load32_splat(dp + o2), x0, a20);
            a30 = fma(v128_load32_splat(dp + o3), x0, a30);
            xp += xs; dp += ks;
          }
        }
      }
      // acc[k][tap][c0..]: rows past K are never read (K4 rows reserved)
      const auto ap = acc + (ux)k0 * ldt + (((ux)(tap * C + c0)) << 2);
      wrAcc(ap, a00, a01, wide, first);
      wrAcc(ap + ldt, a10, a11, wide, first);
      wrAcc(ap + 2 * ldt, a20, a21, wide, first);
      wrAcc(ap + 3 * ldt, a30, a31, wide, first);
    }
  }
}

static inline void wrAcc(ux p, v128 v0, v128 v1, bool wide, bool first) {
  v128_store(p, first ? v0 : f32x4_add(v128_load(p), v0));
  if (wide) v128_store(p, first ? v1 : f32x4_add(v128_load(p, 16), v1), 16);
}

/** dW (OIHW) from the accumulator of conv_bwd_w_dot: dw[k][c][tap] = acc[k][tap][c]. Units: output channels k. */
static void as_conv_bwd_w_dot_out(ux d, ux acc, ux dw, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  for (auto k = start; k < end; k++) {
    const auto src = acc + (((ux)(k * T * C)) << 2);
    auto dst = dw + (((ux)(k * C * T)) << 2);
    for (auto c = 0; c < C; c++) {
      for (auto tap = 0; tap < T; tap++) {
        store<f32>(dst, load<f32>(src + (((ux)(tap * C + c)) << 2)));
        dst += 4;
      }
    }
  }
}

/** dW (OIHW) from the accumulator of conv_bwd_w_t: dw[k][c][tap] = acc[k][tap*Cg8 + c]. Units: output channels k. */
static void as_conv_bwd_w_t_out(ux d, ux acc, ux dw, i32 start, i32 end, ux scratch) {
  const auto Cg = ld(d, D_CG); const auto Cg8 = ld(d, D_CG8); const auto KT = ld(d, D_KH) * ld(d, D_KW);
  for (auto k = start; k < end; k++) {
    const auto src = acc + (((ux)k * (ux)(KT * Cg8)) << 2);
    auto dst = dw + (((ux)k * (ux)(Cg * KT)) << 2);
    for (auto c = 0; c < Cg; c++) {
      for (auto tap = 0; tap < KT; tap++) {
        store<f32>(dst, load<f32>(src + (((ux)(tap * Cg8 + c)) << 2)));
        dst += 4;
      }
    }
  }
}


/** dw[k][c][kh][kw] (OIHW) = acc[g][row(kh, kw, c)][k - g*Kg]. Units: output channels k. */
static void as_conv_bwd_w_out(ux d, ux acc, ux dw, i32 start, i32 end, ux scratch) {
  const auto Cg = ld(d, D_CG); const auto Kg = ld(d, D_KG); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto Kg8 = ld(d, D_KG8); const auto ROWS = ld(d, D_ROWS); const auto merge = ld(d, D_MERGE) != 0; const auto SEG4 = ld(d, D_SEG4);
  const auto S = ld(d, D_WSL); const auto sliceB = ((ux)ld(d, D_G) * (ux)ROWS * (ux)Kg8) << 2;
  for (auto k = start; k < end; k++) {
    const auto g = k / Kg; const auto kk = k - g * Kg;
    const auto src = acc + (((ux)(g * ROWS) * (ux)Kg8 + (ux)kk) << 2);
    auto dst = dw + (((ux)k * (ux)(Cg * KH * KW)) << 2);
    for (auto c = 0; c < Cg; c++) {
      for (auto kh = 0; kh < KH; kh++) {
        for (auto kw = 0; kw < KW; kw++) {
          const auto row = merge ? kh * SEG4 + kw * Cg + c : (kh * KW + kw) * SEG4 + c;
          const auto q = src + (((ux)row * (ux)Kg8) << 2);
          auto v = load<f32>(q);
          for (auto sl = 1; sl < S; sl++) v += load<f32>(q + (ux)sl * sliceB); // the slices, in order
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
static void as_conv_bias_grad(ux d, ux dy, ux db, i32 start, i32 end, ux scratch) {
  biasGrad<Plain>(d, dy, db, 0, 0, start, end, scratch);
}

/** conv_bias_grad of dY = A*dbn + B*xbn + C0 computed on load (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]). */
static void as_conv_bias_grad_f(ux d, ux dy, ux db, ux dlt, ux cdy, i32 start, i32 end, ux scratch) {
  biasGrad<Fused>(d, dy, db, dlt, cdy, start, end, scratch);
}

template <class F> static void biasGrad(ux d, ux dy, ux db, ux dlt, ux cdy, i32 start, i32 end, ux scratch) {
  const auto K = ld(d, D_K); const auto M = ld(d, D_N) * ld(d, D_OH) * ld(d, D_OW);
  const auto tot = scratch + SC_PACK;
  const auto part = tot + 8192 * 4;
  const auto ldk = (ux)K << 2;
  for (auto cb = start; cb < end; cb += 8192) {
    const auto cn = min(8192, end - cb);
    const auto nv = cn >> 2;
    memory_fill(tot, 0, (ux)cn * 4);
    for (auto m0 = 0; m0 < M; m0 += 256) {
      const auto me = min(M, m0 + 256);
      memory_fill(part, 0, (ux)cn * 4);
      auto row = dy + (((ux)m0 * (ux)K + (ux)cb) << 2);
      for (auto m = m0; m < me; m++) {
        if (fused<F>()) {
          const auto ca = cdy + ((ux)cb << 2);
          for (auto v = 0; v < nv; v++) {
            const auto o = (ux)v << 4;
            const auto g = dyv(ca + o, ldk, row + o, dlt);
            v128_store(part + o, f32x4_add(v128_load(part + o), g));
          }
          for (auto c = nv * 4; c < cn; c++) {
            const auto o = (ux)c << 2;
            const auto g = dyf(ca + o, ldk, row + o, dlt);
            store<f32>(part + o, load<f32>(part + o) + g);
          }
        } else {
          for (auto v = 0; v < nv; v++) {
            const auto o = (ux)v << 4;
            v128_store(part + o, f32x4_add(v128_load(part + o), v128_load(row + o)));
          }
          for (auto c = nv * 4; c < cn; c++) {
            const auto o = (ux)c << 2;
            store<f32>(part + o, load<f32>(part + o) + load<f32>(row + o));
          }
        }
        row += ldk;
      }
      for (auto c = 0; c < cn; c++) {
        const auto o = (ux)c << 2;
        store<f32>(tot + o, load<f32>(tot + o) + load<f32>(part + o));
      }
    }
    memory_copy(db + ((ux)cb << 2), tot, (ux)cn * 4);
  }
}

// ---- kernel entry points (core/kernel.h signature) ----
void conv_bwd_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}
void conv_bwd_w_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_bwd_w_t(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_t((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}
void conv_bwd_w_t_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_t_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_bwd_w_dot(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_dot((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}
void conv_bwd_w_dot_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_dot_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_bwd_w_dot_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_dot_out((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_bwd_w_t_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_t_out((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_bwd_w_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_out((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_bias_grad(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bias_grad((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_bias_grad_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bias_grad_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], start, end, (ux)scratch);
}

}  // namespace

KernelList family_gemm_w() {
  static const Kernel k[] = {
      {"conv_bwd_w", 4, conv_bwd_w},
      {"conv_bwd_w_f", 8, conv_bwd_w_f},
      {"conv_bwd_w_t", 4, conv_bwd_w_t},
      {"conv_bwd_w_t_f", 8, conv_bwd_w_t_f},
      {"conv_bwd_w_dot", 4, conv_bwd_w_dot},
      {"conv_bwd_w_dot_f", 8, conv_bwd_w_dot_f},
      {"conv_bwd_w_dot_out", 3, conv_bwd_w_dot_out},
      {"conv_bwd_w_t_out", 3, conv_bwd_w_t_out},
      {"conv_bwd_w_out", 3, conv_bwd_w_out},
      {"conv_bias_grad", 3, conv_bias_grad},
      {"conv_bias_grad_f", 5, conv_bias_grad_f},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
