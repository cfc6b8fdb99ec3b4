// Convolution as packed GEMM over NHWC activations: the native twins of src/kernels/wasm/gemm.ts,
// gemm_w.ts and depthwise.ts, same names, arguments, work ranges, scratch
// layout and descriptor fields (docs/design/conv-kernels.md, docs/design/native-engine.md). This
// file: weight packing, forward and backward-data passes; gemm_w.cc:
// backward-weights and the bias gradient; depthwise.cc: the depthwise kernels; gemm_common.h: what
// they share; gemm_wide.h: the wide micro-kernel; gemm_epi.h: the fused epilogues after it.
//
// The port is faithful: the same loop nests and the same float operations in the same
// order as the WebAssembly kernels, on 128-bit vectors (v128 = __m128, fma = the fused FMA that
// relaxed_madd lowers to), so that the native engine gives the wasm engine's bits. Arena
// addresses stay 32-bit offsets (ux, wrapping as in wasm32, where the window bases and the dy
// prologue's xbn - dbn delta rely on it) and are turned into pointers at each access (gM + off);
// 0 keeps its meaning of "no row / padding lane".
//
// What differs from the WebAssembly kernels, never in the bits of a result (test/kernels/conv_native.test.ts):
// - the full 8-column panels of the forward pass, of the 1x1 backward-data and of
//   backward-weights go through the wide micro-kernel of gemm_wide.h (12 x 16 or 12 x 8 tiles:
//   mk's per-element chain of FMAs, several tiles at once); the fused epilogues (moments, dx)
//   run per 4x8 tile on its rows in registers, mkm's and mkx's write-back (mkmRegs, mkxRegs);
// - 1x1 stride-1 layers read A in place (x rows, dY rows, x^T columns) instead of packing it,
//   where rows are at most ROWS_IN_PLACE floats apart, and prefetch the next tile's rows;
// - backward-weights cuts each chunk's reduction in blocks of 128 pixels, the partial sums of
//   all its tiles kept in scratch between blocks (stored and reloaded: the same chains);
// - copy4 transposes 8 floats per row and step.
// Everything else (depthwise, the transposed and dot-product paths, col2im backward-data, the
// packings) is the 128-bit port as is.
//
// Shapes: x [N][H][W][C], y [N][OH][OW][K], weights PyTorch OIHW [K][Cg][KH][KW],
// G groups, Cg = C/G, Kg = K/G, M = N*OH*OW, reduction index r = (kh*KW + kw)*Cg + c.

#include <type_traits>

#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"
#include "gemm_common.h"

namespace {

// The dY rows of a 1x1 layer's dy prologue (dyRows) lie after the packed A block; both stay
// within this many bytes of the thread scratch's packed region (at least 2.9 MiB: the fusion
// region takes at most 1 MiB of the 4 MiB)
constexpr ux NRW_BYTES = 2u << 20;
// The forward x prologue of a 1x1 layer normalises whole rows and reads them in place (normRows)
// where the layer is thin, C or K at most NRW_THIN (packing then costs as much as the few
// products per packed float), and normalises while packing elsewhere. Measured (Zen 4, 2
// threads): kernels_conv --fused --cold, rows in place 1.15-1.35x faster at mobilenet_v2's
// 24->144, 144->24 and 192->32 @56/@28, 1.03x at 256->64 @56, packing 1.08-1.19x faster at
// C = 352-1024; in training steps, where the forward reads an activation just written (from the
// caches), mobilenet_v2's fused forward convolutions 1.27x -> 1.23x the plain ones, and rows in
// place for every C <= 256 made resnet50's 1.01x -> 1.04x (so not there).
constexpr i32 NRW_THIN = 32;

// =====================================================================================
// Weight packing.
// =====================================================================================

/**
 * Forward B: bp[g][j][r][8] = w[g*Kg + 8j + l][c][kh][kw], r = (kh*KW + kw)*Cg + c, zero for
 * columns past Kg. Units: panels (g, j), G * Kg8/8 of them.
 */
static void as_conv_pack_w_fwd(ux d, ux w, ux bp, i32 start, i32 end, ux scratch) {
  packWFwd(d, w, bp, start, end, false);
}

/**
 * Forward B of the transposed convolution that computes backward-data as a forward pass over
 * dY (stride 1; see convBackwardData): d describes that convolution (its input channels are
 * the original K, its outputs the original C), w is the original OIHW weight [Cg*G][Kg][KH][KW]
 * with the taps flipped: bp[g][j][r][8] = w[g*Cg + c][8j + l][KH-1-kh][KW-1-kw],
 * r = (kh*KW + kw)*Cg + c (Cg, Kg: this descriptor's). Units: panels (g, j).
 */
static void as_conv_pack_w_fwd_flip(ux d, ux w, ux bp, i32 start, i32 end, ux scratch) {
  packWFwd(d, w, bp, start, end, true);
}

static inline void packWFwd(ux d, ux w, ux bp, i32 start, i32 end, bool flip) {
  const auto Kg = ld(d, D_KG); const auto Cg = ld(d, D_CG); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto Kdim = ld(d, D_KDIM); const auto NP = ld(d, D_KG8) >> 3;
  const auto T = KH * KW;
  for (auto u = start; u < end; u++) {
    const auto g = u / NP; const auto j = u - g * NP;
    const auto dst = bp + ((ux)u * (ux)Kdim) * 32;
    for (auto l = 0; l < 8; l++) {
      const auto kk = j * 8 + l;
      auto o = dst + ((ux)l << 2);
      for (auto tap = 0; tap < T; tap++) {
        for (auto c = 0; c < Cg; c++) {
          const auto e = flip ? ((g * Cg + c) * Kg + kk) * T + (T - 1 - tap) : (g * Kg + kk) * Cg * T + c * T + tap;
          store<f32>(o, kk < Kg ? load<f32>(w + ((ux)e << 2)) : 0);
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
static void as_conv_pack_w_bwd_data(ux d, ux w, ux bp, i32 start, i32 end, ux scratch) {
  const auto Kg = ld(d, D_KG); const auto Cg = ld(d, D_CG); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto T = KH * KW; const auto merge = ld(d, D_DMERGE) != 0; const auto SEG = ld(d, D_DSEG); const auto PPS = ld(d, D_DSEG8) >> 3;
  const auto NPD = ld(d, D_DNP);
  const auto offs = scratch + SC_PACK; // 8 source offsets (bytes within a weight row), -1 = zero column
  for (auto u = start; u < end; u++) {
    const auto g = u / NPD; const auto j = u - g * NPD;
    const auto sg = j / PPS; const auto o0 = (j - sg * PPS) * 8;
    for (auto l = 0; l < 8; l++) {
      const auto o = o0 + l;
      auto tap = 0; auto c = 0;
      if (merge) { const auto kw = o / Cg; c = o - kw * Cg; tap = sg * KW + kw; } else { tap = sg; c = o; }
      store<i32>(offs + ((ux)l << 2), o < SEG ? (c * T + tap) << 2 : -1);
    }
    auto dst = bp + ((ux)u * (ux)Kg) * 32;
    for (auto kk = 0; kk < Kg; kk++) {
      const auto src = w + ((ux)(g * Kg + kk) * (ux)(Cg * T) << 2);
      for (auto l = 0; l < 8; l++) {
        const auto so = load<i32>(offs + ((ux)l << 2));
        store<f32>(dst + ((ux)l << 2), so >= 0 ? load<f32>(src + (ux)so) : 0);
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
static void as_conv_fwd(ux d, ux x, ux bp, ux bias, ux y, i32 start, i32 end, ux scratch) {
  convFwd<Plain>(d, x, bp, bias, y, 0, 0, 0, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused forward. coef != 0: x prologue, x normalised while packing A (coef = a[C] then b[C],
 * then act(.) for an ACT_* code, core/act.h; padding taps stay 0). mom != 0: moments epilogue, per-channel sums of
 * the final y - shift and (y - shift)^2 (shift[K]: this thread's first y of each channel) from
 * the tiles, in f32 over 64 rows, then f64, into this thread's region at scratch + D_FPART
 * (f64 S[K], Q[K], then f32 shift[K], zeroed here), which the host merges in thread order.
 */
static void as_conv_fwd_f(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  convFwd<Fused>(d, x, bp, bias, y, coef, act, mom, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Backward-data as a forward pass over dY (d: the transposed convolution, bp: conv_pack_w_fwd_flip)
 * with the dx epilogue of conv_bwd_data_f on each block of output rows once it is final: dx *=
 * act'(a2*x2 + b2) (c2 = a2[C], b2[C], read when act != 0; ReLU: 0 where a2*x2 + b2 <= 0), f64 partials S[C] += dx,
 * Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here; f32 sums over runs of 64 rows).
 */
static void as_conv_fwd_dx_f(ux d, ux dy, ux bp, ux dx, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  convFwd<Fused>(d, dy, bp, 0, dx, 0, 0, 0, x2, c2, m2, act, 0, 0, start, end, scratch);
}

/**
 * As conv_fwd_dx_f (x2 = 0: no dx epilogue), with the dy prologue of conv_bwd_data_f: dY is
 * A*dbn + B*xbn + C0 (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]), computed once per
 * block into the normalised window (the host guarantees that every block's window fits).
 */
static void as_conv_fwd_dy_f(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  convFwd<Fused>(d, dy, bp, 0, dx, cdy, 0, 0, x2, c2, m2, act, dlt, 1, start, end, scratch);
}

template <class F> static void convFwd(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, ux x2, ux c2, ux m2, i32 act2, ux dlt, i32 dym, i32 start, i32 end, ux scratch) {
  const auto K = ld(d, D_K); const auto G = ld(d, D_G); const auto Kg = ld(d, D_KG); const auto Kdim = ld(d, D_KDIM);
  const auto NP = ld(d, D_KG8) >> 3; const auto Kc = ld(d, D_KC); const auto Mc = ld(d, D_MC);
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto apack = scratch + SC_PACK;
  zeroPage(scratch);
  ux ce = 0; ux nb = 0; ux st = 0; ux qo = 0; ux zw = 0; ux zcap = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + (ux)ld(d, D_FCOEF);
      nb = (ux)ld(d, D_FNE) << 2;
      expandCoef(d, coef, ce, dym ? 3 : 2);
      if (ld(d, D_FZ)) { zw = scratch + (ux)ld(d, D_FZ); zcap = (ux)ld(d, D_FZCAP); }
    }
    if (mom) {
      // f64 S[K], Q[K], then f32 shift[K], S32[K], Q32[K] (see mkm)
      st = scratch + (ux)ld(d, D_FPART);
      qo = (ux)K << 3;
      memory_fill(st, 0, (ux)K * 28);
    }
    if (x2) {
      st = scratch + (ux)ld(d, D_FPART);
      memory_fill(st, 0, (ux)K << 4);
    }
  }
  const auto ldy = (ux)K << 2;
  // 1x1, stride 1, no padding, one group, whole panels: A's rows are x's rows, read in place by
  // the wide kernel (A_ROWS) instead of packed, where x is not normalised on the way
  const bool pw1 = ld(d, D_KH) == 1 && ld(d, D_KW) == 1 && ld(d, D_SH) == 1 && ld(d, D_SW) == 1 && ld(d, D_PH) == 0 && ld(d, D_PW) == 0 &&
                   G == 1 && (Kg & 7) == 0;
  const auto Mb = balanced(end - start, Mc);
  for (auto mb = start; mb < end; mb += Mb) {
    const auto mn = min(Mb, end - mb);
    const auto np = (mn + 3) >> 2;
    fillRows(d, tab, mb, mn, x);
    // x prologue: normalise this block's input rows once (else while packing, per tap)
    const auto win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, mb, mn, x, ce, act, zw, zcap, dlt, dym != 0);
    const auto pro = fused<F>() && ce != 0 && !win;
    const auto xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
    if (fused<F>() && dym && pro) unreachable(); // a dy prologue needs the window (conv.ts checks that it fits)
    for (auto g = 0; g < G; g++) {
      for (auto r0 = 0; r0 < Kdim; r0 += Kc) {
        const auto kc = min(Kc, Kdim - r0);
        const auto first = r0 == 0;
        const auto add = first ? 0 : 1;
        const auto stats = fused<F>() && mom != 0 && st != 0 && r0 + kc >= Kdim; // y is final after this block
        // a thin 1x1 layer's x prologue on whole rows (normRows, one sequential stream; see
        // NRW_THIN): the normalised rows after the packed A block, kc + 16 floats apart (as
        // bwdData1x1's dY rows), read in place by the wide kernel instead of packed
        const ux nrs = (ux)(kc + 16) << 2, nrb = apack + (ux)(np * kc) * 16;
        const bool nrw = fused<F>() && pro && pw1 && (Kdim <= NRW_THIN || Kg <= NRW_THIN) && (ux)(np * kc) * 16 + (ux)mn * nrs <= NRW_BYTES;
        // full panels (8 columns): WRI micro-panels x WRJ panels per call of the wide kernel
        const i32 NPF = Kg >> 3;
        for (i32 jb = 0; jb < NPF; jb += WRJ) {
          const i32 rj = min(WRJ, NPF - jb);
          const ux bj = bp + (((ux)(g * NP + jb) * (ux)Kdim + (ux)r0) << 5);
          const i32 col = g * Kg + jb * 8;
          const ux bptr = first && bias ? bias + ((ux)col << 2) : 0;
          for (i32 ib = 0; ib < np; ib += WRI) {
            const i32 ri = min(WRI, np - ib);
            const bool legacy = stats && add && mb == start && ib == 0; // (mkm below: packed A)
            const bool dir = pw1 && (nrw || (!pro && !win && xs <= ROWS_IN_PLACE)) && mn - ib * 4 >= ri * 4 && !legacy;
            // (normalised just before their first use, as the packed micro-panels)
            if (nrw && dir && jb == 0) normRows(nrb + (ux)(ib * 4) * nrs, nrs, x + ((ux)(mb + ib * 4) * (ux)xs + (ux)r0) * 4, (ux)xs << 2, ri * 4, kc, ce + ((ux)r0 << 2), nb, act);
            float *rows[4 * WRI];
            for (i32 ii = 0; ii < ri; ii++) {
              const i32 i = ib + ii;
              const auto a = apack + (ux)(i * kc) * 16;
              const auto rem = mn - i * 4;
              if (jb == 0 && !dir) {
                if (pro) packAFwd<Fused>(d, tab + (ux)(i * 4) * 12, rem, g, r0, kc, a, zero, ce, nb, act, xs);
                else packAFwd<Plain>(d, tab + (ux)(i * 4) * 12, rem, g, r0, kc, a, zero, 0, 0, 0, xs);
              }
              const ux yrow = y + ((ux)(mb + i * 4) * (ux)K + (ux)col) * 4;
              for (i32 r = 0; r < 4; r++) rows[ii * 4 + r] = r < rem ? fp(yrow + (ux)r * ldy) : nullptr;
            }
            if (legacy) {
              // the thread's first final tile of each channel: mkm takes its shift from row 0's
              // final value and rows 1-3's sums of this block only (before their add), values the
              // wide kernel does not keep: these tiles take mkm itself
              for (i32 jj = 0; jj < rj; jj++) {
                const i32 cj = col + jj * 8;
                const auto sj = st + (qo << 1) + ((ux)cj << 2);
                for (i32 ii = 0; ii < ri; ii++) {
                  const i32 i = ib + ii;
                  const auto rem = mn - i * 4;
                  const ux yrow = y + ((ux)(mb + i * 4) * (ux)K + (ux)cj) * 4;
                  const auto flush = (i & 15) == 15 || i == np - 1;
                  mkm(apack + (ux)(i * kc) * 16, bj + (ux)jj * (ux)Kdim * 32, kc, yrow, rem > 1 ? yrow + ldy : 0, rem > 2 ? yrow + 2 * ldy : 0,
                      rem > 3 ? yrow + 3 * ldy : 0, 0, add, sj, (ux)K << 2, i == 0 ? 1 : 0, flush ? st + ((ux)cj << 3) : 0);
                }
              }
              continue;
            }
            // moments from the tiles in registers, after their write-back (mkm's epilogue, per tile)
            MomRun mr[WRJ];
            const auto tile = [&](int jj, int ii, const __m256 *v) __attribute__((always_inline)) {
              const i32 cj = col + jj * 8, i = ib + ii, rem = mn - i * 4;
              mkmRegs(v, rem > 1, rem > 2, rem > 3, st + (qo << 1) + ((ux)cj << 2), (ux)K << 2, mb == start && i == 0 ? 1 : 0,
                      (i & 15) == 15 || i == np - 1 ? st + ((ux)cj << 3) : 0, mr[jj], ii == 0, ii == ri - 1);
            };
            // (AVX-512: a micro-panel's two panels at once, 16 channels a register)
#if BNFF_VW == 16
            MomRun16 m16;
            const auto mom = epiAfter2(tile, [&](int ii, const __m256 *v0, const __m256 *v1) __attribute__((always_inline)) {
              const i32 i = ib + ii, rem = mn - i * 4;
              mkmRegs16(v0, v1, rem > 1, rem > 2, rem > 3, st + (qo << 1) + ((ux)col << 2), (ux)K << 2, mb == start && i == 0 ? 1 : 0,
                        (i & 15) == 15 || i == np - 1 ? st + ((ux)col << 3) : 0, m16, ii == 0, ii == ri - 1);
            });
#else
            const auto mom = epiAfter(tile);
#endif
            if (dir) {
              // first panels: prefetch the next tile's x rows (contiguous when one block spans C)
              // and output rows, which come from DRAM
              const ux nx = x + ((ux)(mb + (ib + ri) * 4) * (ux)xs) * 4, ny = y + ((ux)(mb + (ib + ri) * 4) * (ux)K + (ux)col) * 4;
              const bool pfx = !nrw && jb == 0 && kc == Kdim && xs == Kdim && ib + ri < np, pfy = ib + ri < np;
              const float *a0 = nrw ? fp(nrb + (ux)(ib * 4) * nrs) : fp(x + ((ux)(mb + ib * 4) * (ux)xs + (ux)r0) * 4);
              const size_t as = nrw ? (size_t)(nrs >> 2) : (size_t)xs;
              const char *px = pfx ? (const char *)fp(nx) : nullptr, *py = pfy ? (const char *)fp(ny) : nullptr;
              const i32 nlx = pfx ? (ri * 4 * xs * 4) / 64 : 0, nly = pfy ? min(WRI * 4, mn - (ib + ri) * 4) : 0;
              if (stats) mkwAny<A_ROWS>(ri, rj, a0, as, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add, px, nlx, py, ldy, nly, nullptr, 0, 0, mom);
              else mkwAny<A_ROWS>(ri, rj, a0, as, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add, px, nlx, py, ldy, nly);
            } else if (stats) {
              mkwAny<A_PACKED>(ri, rj, fp(apack + (ux)(ib * kc) * 16), (size_t)kc * 4, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add, nullptr, 0,
                               nullptr, 0, 0, nullptr, 0, 0, mom);
            } else {
              mkwAny<A_PACKED>(ri, rj, fp(apack + (ux)(ib * kc) * 16), (size_t)kc * 4, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add);
            }
          }
        }
        // the edge panel (Kg % 8 columns) as in gemm.ts (it packs A when there is no full panel)
        for (auto j = NPF; j < NP; j++) {
          const auto bj = bp + (((ux)(g * NP + j) * (ux)Kdim + (ux)r0) << 5);
          const auto col = g * Kg + j * 8;
          const auto ncols = min(8, Kg - j * 8);
          const ux bptr = first && bias ? bias + ((ux)col << 2) : 0;
          const auto sj = st + (qo << 1) + ((ux)col << 2); // shift of channel col
          auto yrow = y + ((ux)mb * (ux)K + (ux)col) * 4;
          for (auto i = 0; i < np; i++) {
            const auto a = apack + (ux)(i * kc) * 16;
            const auto rem = mn - i * 4;
            // pack each micro-panel just before its first use
            if (j == 0) {
              if (pro) packAFwd<Fused>(d, tab + (ux)(i * 4) * 12, rem, g, r0, kc, a, zero, ce, nb, act, xs);
              else packAFwd<Plain>(d, tab + (ux)(i * 4) * 12, rem, g, r0, kc, a, zero, 0, 0, 0, xs);
            }
            const auto d0 = yrow; const ux d1 = rem > 1 ? yrow + ldy : 0;
            const ux d2 = rem > 2 ? yrow + 2 * ldy : 0; const ux d3 = rem > 3 ? yrow + 3 * ldy : 0;
            const auto init = mb == start && i == 0 ? 1 : 0; // first final tile of these channels
            const auto flush = (i & 15) == 15 || i == np - 1; // f32 sums into f64 every 16 tiles
            if (ncols == 8) {
              if (stats) mkm(a, bj, kc, d0, d1, d2, d3, bptr, add, sj, (ux)K << 2, init, flush ? st + ((ux)col << 3) : 0);
              else mk(a, bj, kc, d0, d1, d2, d3, bptr, add);
            } else {
              mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
              tileOut(tile, d0, d1, d2, d3, ncols, bptr, add);
              if (stats) {
                momTile(d0, d1, d2, d3, ncols, sj, (ux)K << 2, init);
                if (flush) flushSums(sj + ((ux)K << 2), (ux)K << 2, st + ((ux)col << 3), qo, ncols);
              }
            }
            yrow += 4 * ldy;
          }
        }
      }
    }
    if (fused<F>() && x2) {
      // dx epilogue (backward-data as a forward pass): this block's rows are final
      for (auto p = 0; p < mn; p += 64) {
        const auto off = ((ux)(mb + p) * (ux)K) << 2;
        dxRun(y + off, x2 + off, min(64, mn - p), K, (ux)K << 2, c2, m2, act2, st);
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
static i32 blockMoments(ux y, i32 K, i32 mb, i32 mn, bool first, bool last, ux st, i32 tiles) {
  const auto ldy = (ux)K << 2; const auto np = (mn + 3) >> 2;
  for (auto i = 0; i < np; i++) {
    const auto rem = mn - i * 4;
    const auto r0p = y + (ux)(mb + i * 4) * ldy;
    for (auto col = 0; col < K; col += 8) {
      const auto e = r0p + ((ux)col << 2);
      const auto sj = st + ((ux)K << 4) + ((ux)col << 2);
      momTile(e, rem > 1 ? e + ldy : 0, rem > 2 ? e + 2 * ldy : 0, rem > 3 ? e + 3 * ldy : 0, min(8, K - col), sj, (ux)K << 2, first && i == 0 ? 1 : 0);
    }
    tiles++;
    if (tiles == 16 || (last && i == np - 1)) {
      for (auto col = 0; col < K; col += 8) {
        flushSums(sj32(st, K, col), (ux)K << 2, st + ((ux)col << 3), (ux)K << 3, min(8, K - col));
      }
      tiles = 0;
    }
  }
  return tiles;
}

/** The f32 sums S32[col..] of the moments layout at st (f64 S[K], Q[K], f32 shift[K], S32[K], Q32[K]). */
static inline ux sj32(ux st, i32 K, i32 col) {
  return st + ((ux)K << 4) + ((ux)K << 2) + ((ux)col << 2);
}

/** bp[p][r][l] = w[4p + l][c][kh][kw], r = (kh*KW + kw)*C + c, zero past K. Units: micro-panels p. */
static void as_conv_pack_w_fwd_t(ux d, ux w, ux bp, i32 start, i32 end, ux scratch) {
  const auto K = ld(d, D_K); const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW); const auto Kdim = ld(d, D_KDIM);
  for (auto p = start; p < end; p++) {
    auto o = bp + ((ux)p * (ux)Kdim) * 16;
    for (auto tap = 0; tap < T; tap++) {
      for (auto c = 0; c < C; c++) {
        for (auto l = 0; l < 4; l++) {
          const auto k = p * 4 + l;
          store<f32>(o + ((ux)l << 2), k < K ? load<f32>(w + ((ux)((k * C + c) * T + tap) << 2)) : 0);
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
static void mkT(ux a, ux b0, ux b1, i32 kc, ux e0, ux e1, ux e2, ux e3, ux e4, ux e5, ux e6, ux e7, ux bias, i32 add) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  const auto aEnd = a + ((ux)kc << 4);
  while (a < aEnd) {
    const auto p0 = v128_load(b0); const auto p1 = v128_load(b1);
    auto av = v128_load32_splat(a);
    c00 = fma(av, p0, c00); c01 = fma(av, p1, c01);
    av = v128_load32_splat(a, 4);
    c10 = fma(av, p0, c10); c11 = fma(av, p1, c11);
    av = v128_load32_splat(a, 8);
    c20 = fma(av, p0, c20); c21 = fma(av, p1, c21);
    av = v128_load32_splat(a, 12);
    c30 = fma(av, p0, c30); c31 = fma(av, p1, c31);
    a += 16; b0 += 16; b1 += 16;
  }
  // transpose: row r of (c0x, c1x, c2x, c3x) is pixel r's 4 channels
  const auto bv = bias ? v128_load(bias) : f32x4_splat(0);
  auto t0 = i32x4_shuffle(c00, c10, 0, 4, 1, 5); auto t1 = i32x4_shuffle(c00, c10, 2, 6, 3, 7);
  auto t2 = i32x4_shuffle(c20, c30, 0, 4, 1, 5); auto t3 = i32x4_shuffle(c20, c30, 2, 6, 3, 7);
  wrT(e0, f32x4_add(i64x2_shuffle(t0, t2, 0, 2), bv), add);
  wrT(e1, f32x4_add(i64x2_shuffle(t0, t2, 1, 3), bv), add);
  wrT(e2, f32x4_add(i64x2_shuffle(t1, t3, 0, 2), bv), add);
  wrT(e3, f32x4_add(i64x2_shuffle(t1, t3, 1, 3), bv), add);
  t0 = i32x4_shuffle(c01, c11, 0, 4, 1, 5); t1 = i32x4_shuffle(c01, c11, 2, 6, 3, 7);
  t2 = i32x4_shuffle(c21, c31, 0, 4, 1, 5); t3 = i32x4_shuffle(c21, c31, 2, 6, 3, 7);
  wrT(e4, f32x4_add(i64x2_shuffle(t0, t2, 0, 2), bv), add);
  wrT(e5, f32x4_add(i64x2_shuffle(t0, t2, 1, 3), bv), add);
  wrT(e6, f32x4_add(i64x2_shuffle(t1, t3, 0, 2), bv), add);
  wrT(e7, f32x4_add(i64x2_shuffle(t1, t3, 1, 3), bv), add);
}

static inline void wrT(ux e, v128 v, i32 add) {
  if (e) v128_store(e, add ? f32x4_add(v128_load(e), v) : v);
}

static void as_conv_fwd_t(ux d, ux x, ux bp, ux bias, ux y, i32 start, i32 end, ux scratch) {
  convFwdT<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f. */
static void as_conv_fwd_t_f(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  convFwdT<Fused>(d, x, bp, bias, y, coef, act, mom, start, end, scratch);
}

template <class F> static void convFwdT(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  const auto K = ld(d, D_K); const auto Kdim = ld(d, D_KDIM); const auto Kc = ld(d, D_KC); const auto Mc = max(8, ld(d, D_MC) & ~7);
  const auto RP = (K + 3) >> 2; const auto full = K & ~3;
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto apack = scratch + SC_PACK;
  zeroPage(scratch);
  ux ce = 0; ux nb = 0; ux st = 0; ux zw = 0; ux zcap = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + (ux)ld(d, D_FCOEF);
      nb = (ux)ld(d, D_FNE) << 2;
      expandCoef(d, coef, ce);
      if (ld(d, D_FZ)) { zw = scratch + (ux)ld(d, D_FZ); zcap = (ux)ld(d, D_FZCAP); }
    }
    if (mom) {
      st = scratch + (ux)ld(d, D_FPART);
      memory_fill(st, 0, (ux)K * 28);
    }
  }
  const auto ldy = (ux)K << 2;
  const auto nblk = (end - start + Mc - 1) / Mc;
  const auto Mb = min(Mc, (((end - start + nblk - 1) / nblk) + 7) & ~7);
  auto tiles = 0; // moments: 4-row groups since the last flush
  for (auto mb = start; mb < end; mb += Mb) {
    const auto mn = min(Mb, end - mb);
    const auto np = (mn + 3) >> 2;
    fillRows(d, tab, mb, mn, x);
    const auto pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, act, zw, zcap));
    for (auto r0 = 0; r0 < Kdim; r0 += Kc) {
      const auto kc = min(Kc, Kdim - r0);
      const auto add = r0 == 0 ? 0 : 1;
      // B: every micro-panel of 4 pixels of the block, [kc][4]
      for (auto i = 0; i < np; i++) {
        const auto a = apack + (ux)(i * kc) * 16;
        if (pro) packAFwd<Fused>(d, tab + (ux)(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, ce, nb, act, ld(d, D_C));
        else packAFwd<Plain>(d, tab + (ux)(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, 0, 0, 0, ld(d, D_C));
      }
      for (auto i = 0; i < np; i += 2) {
        const auto b0 = apack + (ux)(i * kc) * 16;
        const auto b1 = i + 1 < np ? b0 + (ux)kc * 16 : b0;
        const auto rem = mn - i * 4;
        const auto yrow = y + (ux)(mb + i * 4) * ldy;
        for (auto p = 0; p < RP; p++) {
          const auto a = bp + (((ux)p * (ux)Kdim + (ux)r0) << 4);
          const auto col = p * 4;
          const ux bptr = add == 0 && bias ? bias + ((ux)col << 2) : 0;
          if (col < full) {
            const auto e = yrow + ((ux)col << 2);
            mkT(a, b0, b1, kc, e, rem > 1 ? e + ldy : 0, rem > 2 ? e + 2 * ldy : 0, rem > 3 ? e + 3 * ldy : 0,
              rem > 4 ? e + 4 * ldy : 0, rem > 5 ? e + 5 * ldy : 0, rem > 6 ? e + 6 * ldy : 0, rem > 7 ? e + 7 * ldy : 0, bptr, add);
          } else {
            // last micro-panel with K % 4 channels: through the scratch tile (8 rows of 16 bytes)
            mkT(a, b0, b1, kc, tile, tile + 16, tile + 32, tile + 48, tile + 64, tile + 80, tile + 96, tile + 112, 0, 0);
            for (auto r = 0; r < min(8, rem); r++) {
              const auto q = yrow + (ux)r * ldy + ((ux)col << 2);
              for (auto l = 0; l < K - col; l++) {
                const auto o = (ux)l << 2;
                auto v = load<f32>(tile + ((ux)r << 4) + o);
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
static void as_conv_pack_w_fwd_dot(ux d, ux w, ux bp, i32 start, i32 end, ux scratch) {
  const auto K = ld(d, D_K); const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  for (auto k = start; k < end; k++) {
    auto o = bp + ((ux)(k * T * C) << 2);
    for (auto tap = 0; tap < T; tap++) {
      for (auto c = 0; c < C; c++) {
        store<f32>(o, k < K ? load<f32>(w + ((ux)((k * C + c) * T + tap) << 2)) : 0);
        o += 4;
      }
    }
  }
}

/** (sum of the lanes of a, b, c, d) as one vector. */
static inline v128 hsum4(v128 a, v128 b, v128 c, v128 d) {
  const auto s01 = f32x4_add(i32x4_shuffle(a, b, 0, 4, 1, 5), i32x4_shuffle(a, b, 2, 6, 3, 7));
  const auto s23 = f32x4_add(i32x4_shuffle(c, d, 0, 4, 1, 5), i32x4_shuffle(c, d, 2, 6, 3, 7));
  return f32x4_add(i64x2_shuffle(s01, s23, 0, 2), i64x2_shuffle(s01, s23, 1, 3));
}

static void as_conv_fwd_dot(ux d, ux x, ux bp, ux bias, ux y, i32 start, i32 end, ux scratch) {
  convFwdDot<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f (the x prologue needs the window: conv.ts checks that it fits). */
static void as_conv_fwd_dot_f(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  convFwdDot<Fused>(d, x, bp, bias, y, coef, act, mom, start, end, scratch);
}

template <class F> static void convFwdDot(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  const auto K = ld(d, D_K); const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW);
  const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW); const auto T = ld(d, D_KH) * KW;
  const auto QG = (K + 3) >> 2; const auto full = K & ~3;
  const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto zb = scratch + SC_ZBUF;
  const auto cb = (ux)C << 2; const auto kst = (ux)(T * C) << 2; // bytes per tap row, per weight row
  memory_fill(zb, 0, cb);
  ux ce = 0; ux st = 0; ux zw = 0; ux zcap = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + (ux)ld(d, D_FCOEF);
      expandCoef(d, coef, ce);
      zw = scratch + (ux)ld(d, D_FZ); zcap = (ux)ld(d, D_FZCAP);
    }
    if (mom) {
      st = scratch + (ux)ld(d, D_FPART);
      memory_fill(st, 0, (ux)K * 28);
    }
  }
  const auto ldy = (ux)K << 2;
  const auto Mb = ld(d, D_MC); // rows per block (the window of the fused x prologue is sized for it)
  auto tiles = 0;
  for (auto mb = start; mb < end; mb += Mb) {
    const auto mn = min(Mb, end - mb);
    fillRows(d, tab, mb, mn, x);
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, act, zw, zcap))) unreachable();
    for (auto i = 0; i < mn; i += 2) {
      const auto t0 = tab + (ux)i * 12;
      const auto two = i + 1 < mn;
      const auto xb0 = rowX(t0); const auto ih0 = load<i32>(t0, 4); const auto iw0 = load<i32>(t0, 8);
      const ux xb1 = two ? rowX(t0, 12) : 0; const auto ih1 = load<i32>(t0, 16); const auto iw1 = load<i32>(t0, 20);
      const auto y0 = y + (ux)(mb + i) * ldy;
      for (auto q = 0; q < QG; q++) {
        auto a00 = f32x4_splat(0);
        auto a01 = a00; auto a02 = a00; auto a03 = a00; auto a10 = a00; auto a11 = a00; auto a12 = a00; auto a13 = a00;
        auto wt = bp + (ux)(q * 4) * kst;
        for (auto tap = 0; tap < T; tap++) {
          const auto kh = tap / KW; const auto kw = tap - kh * KW;
          const auto p0 = tapPtr(xb0, ih0 + kh * DH, iw0 + kw * DW, H, W, C, 0);
          const auto p1 = tapPtr(xb1, ih1 + kh * DH, iw1 + kw * DW, H, W, C, 0);
          if (p0 | p1) {
            ux q0 = p0 ? p0 : zb; ux q1 = p1 ? p1 : zb;
            auto wp = wt;
            const auto qe = q0 + cb;
            while (q0 < qe) {
              const auto x0 = v128_load(q0); const auto x1 = v128_load(q1);
              auto wv = v128_load(wp);
              a00 = fma(x0, wv, a00); a10 = fma(x1, wv, a10);
              wv = v128_load(wp + kst);
              a01 = fma(x0, wv, a01); a11 = fma(x1, wv, a11);
              wv = v128_load(wp + 2 * kst);
              a02 = fma(x0, wv, a02); a12 = fma(x1, wv, a12);
              wv = v128_load(wp + 3 * kst);
              a03 = fma(x0, wv, a03); a13 = fma(x1, wv, a13);
              q0 += 16; q1 += 16; wp += 16;
            }
          }
          wt += cb;
        }
        const auto col = q * 4;
        auto r0 = hsum4(a00, a01, a02, a03); auto r1 = hsum4(a10, a11, a12, a13);
        if (col < full) {
          if (bias) { const auto bv = v128_load(bias + ((ux)col << 2)); r0 = f32x4_add(r0, bv); r1 = f32x4_add(r1, bv); }
          v128_store(y0 + ((ux)col << 2), r0);
          if (two) v128_store(y0 + ldy + ((ux)col << 2), r1);
        } else {
          v128_store(tile, r0); v128_store(tile, r1, 16);
          for (auto l = 0; l < K - col; l++) {
            const auto o = (ux)l << 2;
            const f32 bb = bias ? load<f32>(bias + ((ux)(col + l) << 2)) : 0;
            store<f32>(y0 + ((ux)col << 2) + o, load<f32>(tile + o) + bb);
            if (two) store<f32>(y0 + ldy + ((ux)col << 2) + o, load<f32>(tile + 16 + o) + bb);
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
static void as_conv_bwd_data(ux d, ux dy, ux bp, ux dx, i32 start, i32 end, ux scratch) {
  bwdData<Plain>(d, dy, bp, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused backward-data (col2im path). cdy != 0: dy prologue, dY = A*dbn + B*xbn + C0 computed
 * while packing (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]). x2 != 0: dx epilogue on the
 * input rows of each image as soon as no later output pixel can add to them (a pass over rows
 * just written, still in cache): dx *= act'(a2*x2 + b2) (c2 = a2[C] then b2[C], when act != 0),
 * and f64 partials S[C] += dx, Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here).
 */
static void as_conv_bwd_data_f(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  bwdData<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, act, start, end, scratch);
}

/**
 * Packs rows m, m+1, .. (rem of them valid, the rest zero) of dY, channels [k, k + kc), as [kc][4]
 * at a (fused with cdy: dY computed on load, see copy4dy).
 */
template <class F> static inline void packDyRows(ux a, ux dy, i32 m, i32 rem, i32 K, i32 k, i32 kc, ux dlt, ux cdy, ux zero) {
  const auto ldk = (ux)K << 2;
  const auto src = dy + (((ux)m * (ux)K + (ux)k) << 2);
  if (fused<F>() && cdy) {
    copy4dy(a, src, rem > 1 ? src + ldk : src, rem > 2 ? src + 2 * ldk : src, rem > 3 ? src + 3 * ldk : src, dlt, kc, cdy + ((ux)k << 2), ldk);
  } else {
    copy4(a, src, rem > 1 ? src + ldk : 0, rem > 2 ? src + 2 * ldk : 0, rem > 3 ? src + 3 * ldk : 0, kc, zero);
  }
}

/**
 * Tight backward-data (D_DTIGHT): adds column-buffer rows [0, mn) (cs bytes apart; columns
 * (kh, kw, c) of one output pixel, row table ih0, iw0 at tab) into dx of one image: kernel row kh
 * is KW*C contiguous floats of dx row ih0 + kh*DH from pixel iw0.
 */
static void colAdd(ux d, ux col, ux cs, ux tab, i32 mn, ux dxn) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW); const auto DH = ld(d, D_DH);
  const auto L = KW * C; const auto lb = (ux)L << 2; const auto vb = (ux)(L & ~3) << 2;
  for (auto r = 0; r < mn; r++) {
    const auto ih0 = load<i32>(tab + ((ux)r << 3)); const auto iw0 = load<i32>(tab + ((ux)r << 3), 4);
    const auto inside = iw0 >= 0 && iw0 + KW <= W;
    auto src = col + (ux)r * cs;
    for (auto kh = 0; kh < KH; kh++, src += lb) {
      const auto ih = ih0 + kh * DH;
      if ((ux)ih >= (ux)H) continue;
      const auto p = dxn + (((ux)(ih * W + iw0) * (ux)C) << 2); // (ih, iw0) may be outside
      if (inside) {
        ux o = 0;
        for (; o < vb; o += 16) v128_store(p + o, f32x4_add(v128_load(p + o), v128_load(src + o)));
        for (; o < lb; o += 4) store<f32>(p + o, load<f32>(p + o) + load<f32>(src + o));
      } else {
        for (auto o = 0; o < L; o++) {
          if ((ux)(iw0 + o / C) >= (ux)W) continue;
          const auto q = p + ((ux)o << 2);
          store<f32>(q, load<f32>(q) + load<f32>(src + ((ux)o << 2)));
        }
      }
    }
  }
}

template <class F> static void bwdData(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto K = ld(d, D_K); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto G = ld(d, D_G); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto Cg = ld(d, D_CG); const auto Kg = ld(d, D_KG);
  const auto Kc = ld(d, D_KCD); const auto Mc = ld(d, D_MCD);
  const auto merge = ld(d, D_DMERGE) != 0; const auto SEG = ld(d, D_DSEG); const auto PPS = ld(d, D_DSEG8) >> 3; const auto NPD = ld(d, D_DNP);
  const auto tight = ld(d, D_DTIGHT) != 0;
  const auto GL = tight ? 0 : G; // groups of the padded-segment loop
  const auto P = OH * OW;
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto apack = scratch + SC_PACK;
  // tight: column buffer of up to 32K floats (rows of DSEG8), after the largest A block
  const auto cs = (ux)ld(d, D_DSEG8) << 2;
  const auto Mt = tight ? min(Mc, max(4, (32768 / ld(d, D_DSEG8)) & ~3)) : Mc;
  const auto col = apack + (((ux)min(Mt, Mc) * (ux)Kc) << 2);
  zeroPage(scratch);
  const auto img = (ux)H * (ux)W * (ux)C;
  ux st = 0;
  if (fused<F>() && x2) {
    st = scratch + (ux)ld(d, D_FPART);
    memory_fill(st, 0, (ux)C << 4);
  }
  for (auto n = start; n < end; n++) {
    const auto dxn = dx + img * (ux)n * 4;
    memory_fill(dxn, 0, img * 4);
    auto done = 0; // dx epilogue: input rows [0, done) of this image are finished
    const auto Mb = balanced(P, Mt);
    for (auto pb = 0; pb < P; pb += Mb) {
      const auto mn = min(Mb, P - pb);
      const auto np = (mn + 3) >> 2;
      // row table: ih0, iw0 per row (INVALID for the padding rows of the last micro-panel)
      auto oh = pb / OW; auto ow = pb - oh * OW;
      for (auto i = 0; i < np * 4; i++) {
        const auto t = tab + (ux)i * 8;
        if (i < mn) {
          store<i32>(t, oh * SH - PH); store<i32>(t, ow * SW - PW, 4);
          if (++ow == OW) { ow = 0; oh++; }
        } else {
          store<i32>(t, INVALID); store<i32>(t, INVALID, 4);
        }
      }
      const auto m0 = n * P + pb;
      if (tight) {
        // one segment of KH*KW*C columns (G == 1): the block's dY.W^T rows into the column
        // buffer, then each row's KH runs of KW*C floats added into dx
        for (auto k0 = 0; k0 < Kg; k0 += Kc) {
          const auto kc = min(Kc, Kg - k0);
          for (auto j = 0; j < NPD; j++) {
            const auto bj = bp + (((ux)j * (ux)Kg + (ux)k0) << 5);
            for (auto i = 0; i < np; i++) {
              const auto a = apack + (ux)(i * kc) * 16;
              if (j == 0) packDyRows<F>(a, dy, m0 + i * 4, mn - i * 4, K, k0, kc, dlt, cdy, zero);
              const auto c0 = col + (ux)(i * 4) * cs + ((ux)j << 5);
              mk(a, bj, kc, c0, c0 + cs, c0 + 2 * cs, c0 + 3 * cs, 0, k0 > 0 ? 1 : 0);
            }
          }
        }
        colAdd(d, col, cs, tab, mn, dxn);
      }
      for (auto g = 0; g < GL; g++) {
        for (auto k0 = 0; k0 < Kg; k0 += Kc) {
          const auto kc = min(Kc, Kg - k0);
          for (auto j = 0; j < NPD; j++) {
            const auto sg = j / PPS; const auto o0 = (j - sg * PPS) * 8;
            const auto ncols = min(8, SEG - o0);
            auto dh = 0; auto dw = 0; auto coff = 0; auto kwa = 0; auto kwb = 0; auto kw8 = 0;
            if (merge) {
              dh = sg * DH; coff = o0; kwa = o0 / Cg; kwb = (o0 + ncols - 1) / Cg; kw8 = (o0 + 7) / Cg;
            } else {
              const auto kh = sg / KW; const auto kw = sg - kh * KW;
              dh = kh * DH; dw = kw * DW; coff = g * Cg + o0;
            }
            const auto bj = bp + (((ux)(g * NPD + j) * (ux)Kg + (ux)k0) << 5);
            for (auto i = 0; i < np; i++) {
              const auto a = apack + (ux)(i * kc) * 16;
              // A = dY[m][g*Kg + k0 ..] (contiguous rows), packed [kc][4] just before first use
              if (j == 0) packDyRows<F>(a, dy, m0 + i * 4, mn - i * 4, K, g * Kg + k0, kc, dlt, cdy, zero);
              const auto t = tab + (ux)i * 32;
              if (!merge) {
                const auto d0 = tapPtr(dxn, load<i32>(t) + dh, load<i32>(t, 4) + dw, H, W, C, coff);
                const auto d1 = tapPtr(dxn, load<i32>(t, 8) + dh, load<i32>(t, 12) + dw, H, W, C, coff);
                const auto d2 = tapPtr(dxn, load<i32>(t, 16) + dh, load<i32>(t, 20) + dw, H, W, C, coff);
                const auto d3 = tapPtr(dxn, load<i32>(t, 24) + dh, load<i32>(t, 28) + dw, H, W, C, coff);
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
                ux d0 = 0; ux d1 = 0; ux d2 = 0; ux d3 = 0;
                auto wide = 0; auto other = 0;
                for (auto r = 0; r < 4; r++) {
                  const auto tr = t + ((ux)r << 3);
                  const auto ih = load<i32>(tr) + dh; const auto iw = load<i32>(tr, 4);
                  if ((ux)ih >= (ux)H || iw + kwb < 0 || iw + kwa >= W) continue; // nothing to add
                  if (iw + kwa >= 0 && iw + kw8 < W) {
                    const auto p = dxn + (((ux)(ih * W + iw) * (ux)C + (ux)coff) << 2);
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
                for (auto r = 0; r < 4; r++) {
                  const auto tr = t + ((ux)r << 3);
                  const auto ih = load<i32>(tr) + dh; const auto iw = load<i32>(tr, 4);
                  if ((ux)ih >= (ux)H) continue;
                  const auto p = dxn + (((ux)(ih * W + iw) * (ux)C + (ux)coff) << 2); // (ih, iw) may be outside
                  for (auto l = 0; l < ncols; l++) {
                    if ((ux)(iw + (o0 + l) / Cg) >= (ux)W) continue;
                    const auto q = p + ((ux)l << 2);
                    store<f32>(q, load<f32>(q) + load<f32>(tile + ((ux)(r * 8 + l) << 2)));
                  }
                }
              }
            }
          }
        }
      }
      if (fused<F>() && x2 && pb + mn < P) {
        // later output pixels (rows >= ohn) only add to input rows >= ohn*SH - PH
        const auto hf = min(H, ((pb + mn) / OW) * SH - PH);
        if (hf > done) {
          dxRows(d, dxn, x2 + img * (ux)n * 4, done, hf, c2, m2, act, st);
          done = hf;
        }
      }
    }
    if (fused<F>() && x2 && done < H) dxRows(d, dxn, x2 + img * (ux)n * 4, done, H, c2, m2, act, st);
  }
}

/**
 * Backward-data fast path for 1x1, stride 1, no padding: dx[m][g*Cg + c] = dY[m] . W[.][c]
 * written in place (no col2im, no zeroing). Units: rows m (aligned to 4).
 */
static void as_conv_bwd_data_1x1(ux d, ux dy, ux bp, ux dx, i32 start, i32 end, ux scratch) {
  bwdData1x1<Plain>(d, dy, bp, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused 1x1 backward-data, arguments as conv_bwd_data_f; the dx epilogue runs in the
 * micro-kernel's write-back of the last reduction block (mkx), where dx is final.
 */
static void as_conv_bwd_data_1x1_f(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  bwdData1x1<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, act, start, end, scratch);
}

template <class F> static void bwdData1x1(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto K = ld(d, D_K); const auto G = ld(d, D_G); const auto Cg = ld(d, D_CG); const auto Kg = ld(d, D_KG);
  const auto CP = ld(d, D_CG8) >> 3; const auto Kc = ld(d, D_KCD); const auto Mc = ld(d, D_MCD);
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto apack = scratch + SC_PACK;
  zeroPage(scratch);
  const auto ldc = (ux)C << 2; const auto ldx2 = (ux)ld(d, D_X2S) << 2;
  // accumulating epilogue: the rows written are the gradient buffer's (one reduction block)
  const ux gacc = fused<F>() && x2 ? (ux)(uint32_t)ld(d, D_GACC) | (ux)(uint32_t)ld(d, D_GACCH) << 32 : 0;
  const ux ldd = gacc ? (ux)ld(d, D_GS) << 2 : ldc; const auto dst = gacc ? gacc : dx;
  // dx epilogue: f64 partials S[C], Q[C], then f32 block sums S32[C], Q32[C] (mkx)
  ux st = 0; ux s32 = 0;
  if (fused<F>() && x2) {
    st = scratch + (ux)ld(d, D_FPART);
    s32 = st + ((ux)C << 4);
    memory_fill(st, 0, (ux)C * 24);
  }
  const auto Mb = balanced(end - start, Mc);
  for (auto mb = start; mb < end; mb += Mb) {
    const auto mn = min(Mb, end - mb);
    const auto np = (mn + 3) >> 2;
    for (auto g = 0; g < G; g++) {
      for (auto k0 = 0; k0 < Kg; k0 += Kc) {
        const auto kc = min(Kc, Kg - k0);
        const auto add = k0 == 0 ? 0 : 1;
        const auto epi = fused<F>() && x2 != 0 && k0 + kc >= Kg; // dx is final after this block
        // full panels through the wide kernel; with the dx epilogue, that epilogue writes each tile
        // back (mkxRegs) instead of the kernel
        const i32 CPF = Cg >> 3;
        // the dy prologue: the block's dY rows computed once, in order (two sequential streams),
        // after the A block (rows kc + 16 floats apart, not transposed: at 1 KiB or 2 KiB a tile's
        // 12 rows share L1 sets) and read there in place (A_ROWS); micro-panels that take the
        // packed path (a block's partial last group) keep the A block
        const ux drs = (ux)(kc + 16) << 2, drb = apack + (ux)(np * kc) * 16;
        const bool dyw = fused<F>() && cdy && CPF == CP && kc <= ROWS_IN_PLACE && (ux)(np * kc) * 16 + (ux)mn * drs <= NRW_BYTES;
        if (dyw) dyRows(drb, drs, dy + ((ux)mb * (ux)K + (ux)(g * Kg + k0)) * 4, (ux)K << 2, dlt, mn, kc, cdy + ((ux)(g * Kg + k0) << 2), (ux)K << 2);
        for (i32 jb = 0; jb < CPF; jb += WRJ) {
          const i32 rj = min(WRJ, CPF - jb);
          const i32 c0 = jb * 8;
          const auto bj = bp + (((ux)(g * CP + jb) * (ux)Kg + (ux)k0) << 5);
          for (i32 ib = 0; ib < np; ib += WRI) {
            const i32 ri = min(WRI, np - ib);
            // whole micro-panels of dY without the dy prologue: read in place (A_ROWS)
            const bool dir = (dyw || (!(fused<F>() && cdy) && CPF == CP && K <= ROWS_IN_PLACE)) && mn - ib * 4 >= ri * 4;
            float *rows[4 * WRI];
            for (i32 ii = 0; ii < ri; ii++) {
              const i32 i = ib + ii;
              const auto a = apack + (ux)(i * kc) * 16;
              const auto rem = mn - i * 4;
              if (jb == 0 && !dir) packDyRows<F>(a, dy, mb + i * 4, rem, K, g * Kg + k0, kc, dlt, cdy, zero);
              const ux row = dst + ((ux)(mb + i * 4) * (ldd >> 2) + (ux)(g * Cg + c0)) * 4;
              for (i32 r = 0; r < 4; r++) rows[ii * 4 + r] = r < rem ? fp(row + (ux)r * ldd) : nullptr;
            }
            // the dx epilogue from the tiles in registers, instead of the write-back (mkx's, per tile);
            // the call's invariants computed here and captured by value (a tile adds its offsets)
            const ux co0 = (ux)(g * Cg + c0) << 2;
            const ux row0 = dst + (ux)(mb + ib * 4) * ldd + co0, xr0 = x2 + (ux)(mb + ib * 4) * ldx2 + co0;
            const i32 rem0 = mn - ib * 4, pfr = min(4, mn - (ib + WRI) * 4), gac = gacc ? 1 : 0;
            const ux s32c = s32 + co0, stc = st + (co0 << 1), c2c = c2 + co0, m2c = m2 + co0;
            const auto tile = [=](int jj, int ii, const __m256 *v) __attribute__((always_inline)) {
              const i32 i = ib + ii, rem = rem0 - ii * 4;
              const ux cjo = (ux)jj << 5;
              const ux row = row0 + (ux)(ii * 4) * ldd + cjo, xr = xr0 + (ux)(ii * 4) * ldx2 + cjo;
              // x2 comes from DRAM, 4 rows per tile C floats apart: the next tile's rows are prefetched
              for (i32 r = 0; r < pfr; r++) _mm_prefetch((const char *)fp(xr + (ux)(WRI * 4 + r) * ldx2), _MM_HINT_T0);
              mkxRegs(v, row, rem > 1 ? row + ldd : 0, rem > 2 ? row + 2 * ldd : 0, rem > 3 ? row + 3 * ldd : 0, add, xr, ldx2, c2c + cjo, ldc, m2c + cjo, act,
                      s32c + cjo, ldc, (i & 15) == 15 || i == np - 1 ? stc + (cjo << 1) : 0, gac);
            };
            // a micro-panel's two panels at once (AVX-512: 16 channels a register), where the
            // activation has a mask form and the epilogue does not accumulate
            const bool wide = gac == 0 && (act == 0 || act == ACT_RELU || act == ACT_RELU6);
            const auto dxe = epiOwn2(tile, [=](int ii, const __m256 *v0, const __m256 *v1) __attribute__((always_inline)) {
#if BNFF_VW == 16
              if (wide) {
                const i32 i = ib + ii, rem = rem0 - ii * 4;
                const ux row = row0 + (ux)(ii * 4) * ldd, xr = xr0 + (ux)(ii * 4) * ldx2;
                for (i32 r = 0; r < pfr; r++) {
                  const ux nx = xr + (ux)(WRI * 4 + r) * ldx2;
                  _mm_prefetch((const char *)fp(nx), _MM_HINT_T0);
                  _mm_prefetch((const char *)fp(nx + 32), _MM_HINT_T0);
                }
                mkxRegs16(v0, v1, row, rem > 1 ? row + ldd : 0, rem > 2 ? row + 2 * ldd : 0, rem > 3 ? row + 3 * ldd : 0, add, xr, ldx2, c2c, ldc, m2c, act, s32c, ldc,
                          (i & 15) == 15 || i == np - 1 ? stc : 0);
                return;
              }
#endif
              tile(0, ii, v0);
              tile(1, ii, v1);
            });
            const char *pn = nullptr, *po = nullptr;
            i32 nln = 0, nlo = 0;
            if (ib + ri < np) {
              po = (const char *)fp(dst + ((ux)(mb + (ib + ri) * 4) * (ldd >> 2) + (ux)(g * Cg + c0)) * 4);
              nlo = min(WRI * 4, mn - (ib + ri) * 4);
              if (dir && !dyw && jb == 0 && kc == K) {
                pn = (const char *)fp(dy + ((ux)(mb + (ib + ri) * 4) * (ux)K) * 4);
                nln = (ri * 4 * K * 4) / 64;
              }
            }
            const float *a0 = dyw && dir ? fp(drb + (ux)(ib * 4) * drs)
                              : dir      ? fp(dy + ((ux)(mb + ib * 4) * (ux)K + (ux)(g * Kg + k0)) * 4)
                                         : fp(apack + (ux)(ib * kc) * 16);
            const size_t as = dyw && dir ? (size_t)(drs >> 2) : dir ? (size_t)K : (size_t)kc * 4;
            if (dir && epi) mkwAny<A_ROWS>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, 0, pn, nln, po, ldd, nlo, nullptr, 0, 0, dxe);
            else if (dir) mkwAny<A_ROWS>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, add, pn, nln, po, ldd, nlo);
            else if (epi) mkwAny<A_PACKED>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, 0, nullptr, 0, po, ldd, nlo, nullptr, 0, 0, dxe);
            else mkwAny<A_PACKED>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, add, nullptr, 0, po, ldd, nlo);
          }
        }
        for (auto j = CPF; j < CP; j++) {
          const auto c0 = j * 8;
          const auto ncols = min(8, Cg - c0);
          const auto bj = bp + (((ux)(g * CP + j) * (ux)Kg + (ux)k0) << 5);
          auto row = dst + ((ux)mb * (ldd >> 2) + (ux)(g * Cg + c0)) * 4;
          auto xr = x2 + ((ux)mb * (ldx2 >> 2) + (ux)(g * Cg + c0)) * 4; // x2 rows (pixel stride X2S)
          for (auto i = 0; i < np; i++) {
            const auto a = apack + (ux)(i * kc) * 16;
            const auto rem = mn - i * 4;
            if (j == 0) packDyRows<F>(a, dy, mb + i * 4, rem, K, g * Kg + k0, kc, dlt, cdy, zero);
            const auto d0 = row; const ux d1 = rem > 1 ? row + ldd : 0;
            const ux d2 = rem > 2 ? row + 2 * ldd : 0; const ux d3 = rem > 3 ? row + 3 * ldd : 0;
            if (epi) {
              const auto co = (ux)(g * Cg + c0) << 2;
              const auto flush = (i & 15) == 15 || i == np - 1; // f32 sums into f64 every 16 tiles
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
                if (flush) flushSums(s32 + co, ldc, st + (co << 1), (ux)C << 3, ncols);
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

// ---- kernel entry points (core/kernel.h signature) ----
void conv_pack_w_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_pack_w_fwd_flip(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd_flip((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_pack_w_bwd_data(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_bwd_data((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], start, end, (ux)scratch);
}
void conv_fwd_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_fwd_dx_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dx_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_fwd_dy_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dy_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (ux)(int64_t)a[7], (ux)(int64_t)a[8], (i32)a[9], start, end, (ux)scratch);
}
void conv_pack_w_fwd_t(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd_t((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_fwd_t(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_t((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], start, end, (ux)scratch);
}
void conv_fwd_t_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_t_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_pack_w_fwd_dot(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd_dot((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_fwd_dot(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dot((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], start, end, (ux)scratch);
}
void conv_fwd_dot_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dot_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_bwd_data(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}
void conv_bwd_data_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (ux)(int64_t)a[7], (ux)(int64_t)a[8], (i32)a[9], start, end, (ux)scratch);
}
void conv_bwd_data_1x1(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data_1x1((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}
void conv_bwd_data_1x1_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data_1x1_f((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (ux)(int64_t)a[7], (ux)(int64_t)a[8], (i32)a[9], start, end, (ux)scratch);
}

}  // namespace

KernelList family_gemm() {
  static const Kernel k[] = {
      {"conv_pack_w_fwd", 3, conv_pack_w_fwd},
      {"conv_pack_w_fwd_flip", 3, conv_pack_w_fwd_flip},
      {"conv_pack_w_bwd_data", 3, conv_pack_w_bwd_data},
      {"conv_fwd", 5, conv_fwd},
      {"conv_fwd_f", 8, conv_fwd_f},
      {"conv_fwd_dx_f", 8, conv_fwd_dx_f},
      {"conv_fwd_dy_f", 10, conv_fwd_dy_f},
      {"conv_pack_w_fwd_t", 3, conv_pack_w_fwd_t},
      {"conv_fwd_t", 5, conv_fwd_t},
      {"conv_fwd_t_f", 8, conv_fwd_t_f},
      {"conv_pack_w_fwd_dot", 3, conv_pack_w_fwd_dot},
      {"conv_fwd_dot", 5, conv_fwd_dot},
      {"conv_fwd_dot_f", 8, conv_fwd_dot_f},
      {"conv_bwd_data", 4, conv_bwd_data},
      {"conv_bwd_data_f", 10, conv_bwd_data_f},
      {"conv_bwd_data_1x1", 4, conv_bwd_data_1x1},
      {"conv_bwd_data_1x1_f", 10, conv_bwd_data_1x1_f},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
