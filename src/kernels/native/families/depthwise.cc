// Depthwise convolution (conv_dw_*: groups == C == K, direct SIMD along channels): the native twins of
// src/kernels/wasm/depthwise.ts, ported as gemm.cc describes (docs/design/conv-kernels.md).
#include <type_traits>

#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"
#include "gemm_common.h"

namespace {

// =====================================================================================
// Depthwise (groups == C == K): direct SIMD along channels, weights repacked as wt[tap][C].
// =====================================================================================

/** wt[tap][c] = w[c][0][kh][kw]. Units: channels. */
static void as_conv_dw_pack_w(ux d, ux w, ux wt, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  for (auto c = start; c < end; c++) {
    for (auto tap = 0; tap < T; tap++) {
      store<f32>(wt + (((ux)(tap * C + c)) << 2), load<f32>(w + (((ux)(c * T + tap)) << 2)));
    }
  }
}

/** Forward. Units: output rows (n, oh). */
static void as_conv_dw_fwd(ux d, ux x, ux wt, ux bias, ux y, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto rowB = (ux)W * (ux)C * 4; const auto pixB = (ux)C * 4;
  for (auto row = start; row < end; row++) {
    const auto n = row / OH; const auto oh = row - n * OH;
    const auto xn = x + (ux)n * (ux)H * rowB;
    for (auto ow = 0; ow < OW; ow++) {
      const auto yp = y + ((ux)(row * OW + ow) * (ux)C << 2);
      const auto ih0 = oh * SH - PH; const auto iw0 = ow * SW - PW;
      auto c = 0;
      for (; c + 16 <= C; c += 16) {
        const auto co = (ux)c << 2;
        auto a0 = z; auto a1 = z; auto a2 = z; auto a3 = z;
        if (bias) { a0 = v128_load(bias + co); a1 = v128_load(bias + co, 16); a2 = v128_load(bias + co, 32); a3 = v128_load(bias + co, 48); }
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((ux)ih >= (ux)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((ux)iw >= (ux)W) continue;
            const auto xp = xn + (ux)ih * rowB + (ux)iw * pixB + co;
            const auto wp = wt + ((ux)((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128_load(xp), v128_load(wp), a0);
            a1 = fma(v128_load(xp, 16), v128_load(wp, 16), a1);
            a2 = fma(v128_load(xp, 32), v128_load(wp, 32), a2);
            a3 = fma(v128_load(xp, 48), v128_load(wp, 48), a3);
          }
        }
        v128_store(yp + co, a0); v128_store(yp + co, a1, 16); v128_store(yp + co, a2, 32); v128_store(yp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const auto co = (ux)c << 2;
        auto a0 = bias ? v128_load(bias + co) : z;
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((ux)ih >= (ux)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((ux)iw >= (ux)W) continue;
            a0 = fma(v128_load(xn + (ux)ih * rowB + (ux)iw * pixB + co), v128_load(wt + ((ux)((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128_store(yp + co, a0);
      }
      for (; c < C; c++) {
        const auto co = (ux)c << 2;
        f32 s = bias ? load<f32>(bias + co) : 0;
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((ux)ih >= (ux)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((ux)iw >= (ux)W) continue;
            s += load<f32>(xn + (ux)ih * rowB + (ux)iw * pixB + co) * load<f32>(wt + ((ux)((kh * KW + kw) * C) << 2) + co);
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
static void as_conv_dw_bwd_data(ux d, ux dy, ux wt, ux dx, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto pixB = (ux)C * 4;
  for (auto row = start; row < end; row++) {
    const auto n = row / H; const auto ih = row - n * H;
    const auto dyn = dy + (ux)n * (ux)OH * (ux)OW * pixB;
    for (auto iw = 0; iw < W; iw++) {
      const auto xp = dx + (ux)(row * W + iw) * pixB;
      auto c = 0;
      for (; c + 16 <= C; c += 16) {
        const auto co = (ux)c << 2;
        auto a0 = z; auto a1 = z; auto a2 = z; auto a3 = z;
        for (auto kh = 0; kh < KH; kh++) {
          const auto th = ih + PH - kh * DH;
          if (th < 0) break;
          const auto oh = th / SH;
          if (oh * SH != th || oh >= OH) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto tw = iw + PW - kw * DW;
            if (tw < 0) break;
            const auto ow = tw / SW;
            if (ow * SW != tw || ow >= OW) continue;
            const auto gp = dyn + (ux)(oh * OW + ow) * pixB + co;
            const auto wp = wt + ((ux)((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128_load(gp), v128_load(wp), a0);
            a1 = fma(v128_load(gp, 16), v128_load(wp, 16), a1);
            a2 = fma(v128_load(gp, 32), v128_load(wp, 32), a2);
            a3 = fma(v128_load(gp, 48), v128_load(wp, 48), a3);
          }
        }
        v128_store(xp + co, a0); v128_store(xp + co, a1, 16); v128_store(xp + co, a2, 32); v128_store(xp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const auto co = (ux)c << 2;
        auto a0 = z;
        for (auto kh = 0; kh < KH; kh++) {
          const auto th = ih + PH - kh * DH;
          if (th < 0) break;
          const auto oh = th / SH;
          if (oh * SH != th || oh >= OH) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto tw = iw + PW - kw * DW;
            if (tw < 0) break;
            const auto ow = tw / SW;
            if (ow * SW != tw || ow >= OW) continue;
            a0 = fma(v128_load(dyn + (ux)(oh * OW + ow) * pixB + co), v128_load(wt + ((ux)((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128_store(xp + co, a0);
      }
      for (; c < C; c++) {
        const auto co = (ux)c << 2;
        f32 s = 0;
        for (auto kh = 0; kh < KH; kh++) {
          const auto th = ih + PH - kh * DH;
          if (th < 0) break;
          const auto oh = th / SH;
          if (oh * SH != th || oh >= OH) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto tw = iw + PW - kw * DW;
            if (tw < 0) break;
            const auto ow = tw / SW;
            if (ow * SW != tw || ow >= OW) continue;
            s += load<f32>(dyn + (ux)(oh * OW + ow) * pixB + co) * load<f32>(wt + ((ux)((kh * KW + kw) * C) << 2) + co);
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
static void as_conv_dw_bwd_w(ux d, ux dy, ux x, ux dw, i32 start, i32 end, ux scratch) {
  const auto N = ld(d, D_N); const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto T = KH * KW;
  const auto CB = 64;
  const auto tot = scratch + SC_PACK;
  const auto part = tot + (ux)T * CB * 4;
  const auto pixB = (ux)C * 4;
  for (auto cb = start; cb < end; cb += CB) {
    const auto cn = min(CB, end - cb);
    const auto nv = cn >> 2;
    const auto cbo = (ux)cb << 2;
    memory_fill(tot, 0, (ux)(T * CB) * 4);
    for (auto n = 0; n < N; n++) {
      memory_fill(part, 0, (ux)(T * CB) * 4);
      const auto xn = x + (ux)n * (ux)H * (ux)W * pixB + cbo;
      for (auto oh = 0; oh < OH; oh++) {
        for (auto ow = 0; ow < OW; ow++) {
          const auto gp = dy + (ux)((n * OH + oh) * OW + ow) * pixB + cbo;
          const auto ih0 = oh * SH - PH; const auto iw0 = ow * SW - PW;
          for (auto kh = 0; kh < KH; kh++) {
            const auto ih = ih0 + kh * DH;
            if ((ux)ih >= (ux)H) continue;
            for (auto kw = 0; kw < KW; kw++) {
              const auto iw = iw0 + kw * DW;
              if ((ux)iw >= (ux)W) continue;
              const auto xp = xn + (ux)(ih * W + iw) * pixB;
              const auto ap = part + (ux)((kh * KW + kw) * CB) * 4;
              for (auto v = 0; v < nv; v++) {
                const auto o = (ux)v << 4;
                v128_store(ap + o, fma(v128_load(gp + o), v128_load(xp + o), v128_load(ap + o)));
              }
              for (auto c = nv * 4; c < cn; c++) {
                const auto o = (ux)c << 2;
                store<f32>(ap + o, load<f32>(ap + o) + load<f32>(gp + o) * load<f32>(xp + o));
              }
            }
          }
        }
      }
      for (auto i = 0; i < T * CB; i += 4) {
        const auto o = (ux)i << 2;
        v128_store(tot + o, f32x4_add(v128_load(tot + o), v128_load(part + o)));
      }
    }
    for (auto c = 0; c < cn; c++) {
      for (auto tap = 0; tap < T; tap++) {
        store<f32>(dw + ((ux)((cb + c) * T + tap) << 2), load<f32>(tot + ((ux)(tap * CB + c) << 2)));
      }
    }
  }
}

// ---- kernel entry points (core/kernel.h signature) ----
void conv_dw_pack_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_pack_w((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_dw_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_fwd((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], start, end, (ux)scratch);
}
void conv_dw_bwd_data(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_bwd_data((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}
void conv_dw_bwd_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_bwd_w((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], start, end, (ux)scratch);
}

}  // namespace

KernelList family_depthwise() {
  static const Kernel k[] = {
      {"conv_dw_pack_w", 3, conv_dw_pack_w},
      {"conv_dw_fwd", 5, conv_dw_fwd},
      {"conv_dw_bwd_data", 4, conv_dw_bwd_data},
      {"conv_dw_bwd_w", 4, conv_dw_bwd_w},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
