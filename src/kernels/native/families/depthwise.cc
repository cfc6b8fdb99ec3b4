// Depthwise convolution (conv_dw_*: groups == C == K, direct SIMD along channels): the native twins of
// src/kernels/wasm/depthwise.ts, ported as gemm.cc describes (docs/design/conv-kernels.md).
#include <cmath>
#include <cstring>
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

// =====================================================================================
// Fused depthwise kernels: the ports of depthwise.ts's conv_dw_*_f (comments there), every
// float operation in the WebAssembly kernels' order (the activations' exp included).
// =====================================================================================

const i32 ACT_RELU = 1, ACT_RELU6 = 2, ACT_SILU = 3, ACT_HARDSWISH = 4;

static inline v128 splat(f32 v) { return f32x4_splat(v); }
static inline v128 f32x4_min(v128 a, v128 b) { return _mm_min_ps(a, b); }
static inline v128 f32x4_max(v128 a, v128 b) { return _mm_max_ps(a, b); }
static inline v128 f32x4_div(v128 a, v128 b) { return _mm_div_ps(a, b); }
static inline v128 f32x4_neg(v128 a) { return _mm_xor_ps(a, _mm_set1_ps(-0.0f)); }
static inline v128 f32x4_ge(v128 a, v128 b) { return _mm_cmpge_ps(a, b); }
static inline v128 f32x4_gt(v128 a, v128 b) { return _mm_cmpgt_ps(a, b); }
static inline v128 f32x4_lt(v128 a, v128 b) { return _mm_cmplt_ps(a, b); }
static inline v128 f32x4_nearest(v128 a) { return _mm_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline v128 v128_bitselect(v128 a, v128 b, v128 m) { return _mm_or_ps(_mm_and_ps(a, m), _mm_andnot_ps(m, b)); }

/** e^v for 4 lanes (v clamped to [-87, 88]): 2^k * p(r), r = v - k ln 2. */
static inline v128 expv(v128 v) {
  v = f32x4_min(f32x4_max(v, splat(-87.0f)), splat(88.0f));
  const auto k = f32x4_nearest(f32x4_mul(v, splat(1.44269504f)));
  auto r = f32x4_sub(v, f32x4_mul(k, splat(0.693359375f)));
  r = f32x4_sub(r, f32x4_mul(k, splat(-2.12194440e-4f)));
  auto p = splat(1.9875691500e-4f);
  p = f32x4_add(f32x4_mul(p, r), splat(1.3981999507e-3f));
  p = f32x4_add(f32x4_mul(p, r), splat(8.3334519073e-3f));
  p = f32x4_add(f32x4_mul(p, r), splat(4.1665795894e-2f));
  p = f32x4_add(f32x4_mul(p, r), splat(1.6666665459e-1f));
  p = f32x4_add(f32x4_mul(p, r), splat(5.0000001201e-1f));
  p = f32x4_add(f32x4_add(f32x4_mul(f32x4_mul(p, r), r), r), splat(1));
  const auto e = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(k), _mm_set1_epi32(127)), 23));
  return f32x4_mul(p, e);
}
/** expv for one float (the same operations). */
static inline f32 exps(f32 v) {
  v = v < -87.0f ? -87.0f : v;
  v = v > 88.0f ? 88.0f : v;
  const f32 k = nearbyintf(v * 1.44269504f);
  f32 r = v - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  f32 p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1;
  const i32 bits = ((k == k ? (i32)k : 0) + 127) << 23;
  f32 e;
  memcpy(&e, &bits, 4);
  return p * e;
}
static inline v128 sigv(v128 z) { return f32x4_div(splat(1), f32x4_add(splat(1), expv(f32x4_neg(z)))); }
static inline f32 sigs(f32 z) { return 1.0f / (1.0f + exps(-z)); }

static inline v128 actv(v128 z, i32 act) {
  if (act == ACT_RELU) return v128_andnot(z, f32x4_le(z, splat(0)));
  if (act == ACT_RELU6) {
    const auto r = v128_andnot(z, f32x4_le(z, splat(0)));
    return v128_bitselect(splat(6), r, f32x4_ge(r, splat(6)));
  }
  if (act == ACT_SILU) return f32x4_mul(z, sigv(z));
  if (act == ACT_HARDSWISH) {
    const auto t = f32x4_add(z, splat(3));
    const auto r = v128_bitselect(splat(6), v128_andnot(t, f32x4_le(t, splat(0))), f32x4_ge(t, splat(6)));
    return f32x4_div(f32x4_mul(z, r), splat(6));
  }
  return z;
}
static inline f32 acts(f32 z, i32 act) {
  if (act == ACT_RELU) return z <= 0 ? 0 : z;
  if (act == ACT_RELU6) return z <= 0 ? 0 : z >= 6 ? 6 : z;
  if (act == ACT_SILU) return z * sigs(z);
  if (act == ACT_HARDSWISH) {
    const f32 t = z + 3;
    return (z * (t <= 0 ? 0 : t >= 6 ? 6 : t)) / 6;
  }
  return z;
}
static inline v128 dactv(v128 g, v128 z, i32 act) {
  if (act == ACT_RELU) return v128_andnot(g, f32x4_le(z, splat(0)));
  if (act == ACT_RELU6) return v128_and(g, v128_and(f32x4_gt(z, splat(0)), f32x4_lt(z, splat(6))));
  if (act == ACT_SILU) {
    const auto s = sigv(z);
    return f32x4_mul(g, f32x4_mul(s, f32x4_add(splat(1), f32x4_mul(z, f32x4_sub(splat(1), s)))));
  }
  if (act == ACT_HARDSWISH) {
    const auto mid = f32x4_mul(g, f32x4_add(f32x4_div(z, splat(3)), splat(0.5f)));
    const auto r = v128_bitselect(g, mid, f32x4_gt(z, splat(3)));
    return v128_andnot(r, f32x4_lt(z, splat(-3)));
  }
  return g;
}
static inline f32 dacts(f32 g, f32 z, i32 act) {
  if (act == ACT_RELU) return z <= 0 ? 0 : g;
  if (act == ACT_RELU6) return z > 0 && z < 6 ? g : 0;
  if (act == ACT_SILU) {
    const f32 s = sigs(z);
    return g * (s * (1 + z * (1 - s)));
  }
  if (act == ACT_HARDSWISH) return z < -3 ? 0 : z > 3 ? g : g * (z / 3 + 0.5f);
  return g;
}

static void dwFlush(ux st, ux s32, i32 C) {
  const auto cb = (ux)C << 2;
  for (ux o = 0; o < cb; o += 4) {
    const auto so = st + (o << 1);
    store<f64>(so, load<f64>(so) + (f64)load<f32>(s32 + o));
    store<f64>(so + (cb << 1), load<f64>(so + (cb << 1)) + (f64)load<f32>(s32 + cb + o));
  }
  memory_fill(s32, 0, cb << 1);
}

static void as_conv_dw_fwd_f(ux d, ux x, ux wt, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto cb = (ux)C << 2; const auto rowB = (ux)W * cb;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto shp = st + (cb << 2); const auto s32 = shp + cb; const auto q32 = s32 + cb;
  if (mom) {
    memory_fill(st, 0, cb << 2);
    memory_fill(s32, 0, cb << 1);
  }
  const auto cbo = coef + cb;
  for (auto row = start; row < end; row++) {
    const auto n = row / OH; const auto oh = row - n * OH;
    const auto xn = x + (ux)n * (ux)H * rowB;
    for (auto ow = 0; ow < OW; ow++) {
      const auto yp = y + (ux)(row * OW + ow) * cb;
      const auto ih0 = oh * SH - PH; const auto iw0 = ow * SW - PW;
      const bool first = mom && row == start && ow == 0;
      ux co = 0;
      for (; co + 16 <= cb; co += 16) {
        auto a0 = bias ? v128_load(bias + co) : z;
        const auto av = coef ? v128_load(coef + co) : z; const auto bv = coef ? v128_load(cbo + co) : z;
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((ux)ih >= (ux)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((ux)iw >= (ux)W) continue;
            auto xv = v128_load(xn + (ux)ih * rowB + (ux)iw * cb + co);
            if (coef) xv = actv(fma(xv, av, bv), act);
            a0 = fma(xv, v128_load(wt + (ux)(kh * KW + kw) * cb + co), a0);
          }
        }
        v128_store(yp + co, a0);
        if (mom) {
          if (first) v128_store(shp + co, a0);
          const auto e = f32x4_sub(a0, v128_load(shp + co));
          v128_store(s32 + co, f32x4_add(v128_load(s32 + co), e));
          v128_store(q32 + co, fma(e, e, v128_load(q32 + co)));
        }
      }
      for (; co < cb; co += 4) {
        f32 s = bias ? load<f32>(bias + co) : 0;
        const f32 av = coef ? load<f32>(coef + co) : 0; const f32 bv = coef ? load<f32>(cbo + co) : 0;
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((ux)ih >= (ux)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((ux)iw >= (ux)W) continue;
            auto xv = load<f32>(xn + (ux)ih * rowB + (ux)iw * cb + co);
            if (coef) xv = acts(av * xv + bv, act);
            s += xv * load<f32>(wt + (ux)(kh * KW + kw) * cb + co);
          }
        }
        store<f32>(yp + co, s);
        if (mom) {
          if (first) store<f32>(shp + co, s);
          const f32 e = s - load<f32>(shp + co);
          store<f32>(s32 + co, load<f32>(s32 + co) + e);
          store<f32>(q32 + co, load<f32>(q32 + co) + e * e);
        }
      }
    }
    if (mom) dwFlush(st, s32, C);
  }
}

static void as_conv_dw_bwd_data_f(ux d, ux src, ux wt, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto cb = (ux)C << 2;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto s32 = st + (ux)C * 20; const auto q32 = st + (ux)C * 24;
  if (x2) {
    memory_fill(st, 0, cb << 2);
    memory_fill(s32, 0, cb << 1);
  }
  for (auto row = start; row < end; row++) {
    const auto n = row / H; const auto ih = row - n * H;
    const auto dyn = src + (ux)n * (ux)OH * (ux)OW * cb;
    for (auto iw = 0; iw < W; iw++) {
      const auto pix = (ux)(row * W + iw) * cb;
      const auto xp = dx + pix; const auto x2p = x2 + pix;
      ux co = 0;
      for (; co + 16 <= cb; co += 16) {
        auto a0 = z;
        const auto A = cdy ? v128_load(cdy + co) : z; const auto B = cdy ? v128_load(cdy + cb + co) : z; const auto C0 = cdy ? v128_load(cdy + 2 * cb + co) : z;
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
            const auto gp = dyn + (ux)(oh * OW + ow) * cb + co;
            const auto g = cdy ? dyr(A, B, C0, gp, dlt) : v128_load(gp);
            a0 = fma(g, v128_load(wt + (ux)(kh * KW + kw) * cb + co), a0);
          }
        }
        if (x2) {
          const auto xv = v128_load(x2p + co);
          if (act) a0 = dactv(a0, fma(xv, v128_load(c2 + co), v128_load(c2 + cb + co)), act);
          v128_store(s32 + co, f32x4_add(v128_load(s32 + co), a0));
          v128_store(q32 + co, fma(a0, f32x4_sub(xv, v128_load(m2 + co)), v128_load(q32 + co)));
        }
        v128_store(xp + co, a0);
      }
      for (; co < cb; co += 4) {
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
            const auto gp = dyn + (ux)(oh * OW + ow) * cb + co;
            const f32 g = cdy ? load<f32>(cdy + co) * load<f32>(gp) + (load<f32>(cdy + cb + co) * load<f32>(gp + dlt) + load<f32>(cdy + 2 * cb + co)) : load<f32>(gp);
            s += g * load<f32>(wt + (ux)(kh * KW + kw) * cb + co);
          }
        }
        if (x2) {
          const f32 xv = load<f32>(x2p + co);
          if (act) s = dacts(s, load<f32>(c2 + co) * xv + load<f32>(c2 + cb + co), act);
          store<f32>(s32 + co, load<f32>(s32 + co) + s);
          store<f32>(q32 + co, load<f32>(q32 + co) + s * (xv - load<f32>(m2 + co)));
        }
        store<f32>(xp + co, s);
      }
    }
    if (x2) dwFlush(st, s32, C);
  }
}

static void as_conv_dw_bwd_w_f(ux d, ux src, ux x, ux dw, ux dlt, ux cdy, ux coef, i32 act, i32 start, i32 end, ux scratch) {
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
    const auto ca = coef + cbo; const auto cbb = coef + pixB + cbo;
    const auto dA = cdy + cbo; const auto dB = cdy + pixB + cbo; const auto dC = cdy + 2 * pixB + cbo;
    memory_fill(tot, 0, (ux)(T * CB) * 4);
    for (auto n = 0; n < N; n++) {
      memory_fill(part, 0, (ux)(T * CB) * 4);
      const auto xn = x + (ux)n * (ux)H * (ux)W * pixB + cbo;
      for (auto oh = 0; oh < OH; oh++) {
        for (auto ow = 0; ow < OW; ow++) {
          const auto gp = src + (ux)((n * OH + oh) * OW + ow) * pixB + cbo;
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
                const auto g = cdy ? dyr(v128_load(dA + o), v128_load(dB + o), v128_load(dC + o), gp + o, dlt) : v128_load(gp + o);
                auto xv = v128_load(xp + o);
                if (coef) xv = actv(fma(xv, v128_load(ca + o), v128_load(cbb + o)), act);
                v128_store(ap + o, fma(g, xv, v128_load(ap + o)));
              }
              for (auto c = nv * 4; c < cn; c++) {
                const auto o = (ux)c << 2;
                const f32 g = cdy ? load<f32>(dA + o) * load<f32>(gp + o) + (load<f32>(dB + o) * load<f32>(gp + o + dlt) + load<f32>(dC + o)) : load<f32>(gp + o);
                auto xv = load<f32>(xp + o);
                if (coef) xv = acts(load<f32>(ca + o) * xv + load<f32>(cbb + o), act);
                store<f32>(ap + o, load<f32>(ap + o) + g * xv);
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

// ---- the kernels at the full vector width (vf: 16 lanes with AVX-512, 8 with AVX2) ----
//
// Every element is computed by the same operations in the same order as in the WebAssembly
// kernel (the taps in (kh, kw) order, an FMA each; the prologues' and epilogues' operations on 4
// lanes or one float as there), so the bits are its bits: what changes is how many channels one
// instruction handles (blocks of vf, then 4 lanes, then one at a time), that a row of 8 pixels
// shares each weight load, and that the fused kernels apply a prologue once per element into a
// ring of rows in the thread scratch instead of at every tap.

#define DW_VF(p) vload((const float *)(gM + (size_t)(p)))
#define DW_VS(p, v) vstore((float *)(gM + (size_t)(p)), v)
static const ux VB = (ux)BNFF_VW * 4;  // bytes of one vf

/**
 * 8 pixels of one vf block, every tap inside the row: out[j] = b0 + sum over the taps (kh, kw) in
 * order of x[kh][i0 + kw*dk + j*(ps/cb)] * w[kh][kw] (rows[kh] + (i0 + kw*dk)*cb + co + j*ps), each
 * weight vector loaded once for 8 FMAs; stored at q + j*cb. The forward (dk = DW, ps = SW*cb) and
 * the stride-1 backward-data gather (dk = -DW, ps = cb) share it.
 */
static inline void dwRun8(const ux *rows, i32 KH, i32 KW, ux wt, ux cb, ux co, i32 i0, i32 dk, ux ps, vf b0, ux q) {
  vf a0 = b0, a1 = b0, a2 = b0, a3 = b0, a4 = b0, a5 = b0, a6 = b0, a7 = b0;
  for (auto kh = 0; kh < KH; kh++) {
    if (!rows[kh]) continue;
    for (auto kw = 0; kw < KW; kw++) {
      const vf wv = DW_VF(wt + (ux)(kh * KW + kw) * cb + co);
      const auto p = rows[kh] + (ux)(i0 + kw * dk) * cb + co;
      a0 = vfma(DW_VF(p), wv, a0);
      a1 = vfma(DW_VF(p + ps), wv, a1);
      a2 = vfma(DW_VF(p + 2 * ps), wv, a2);
      a3 = vfma(DW_VF(p + 3 * ps), wv, a3);
      a4 = vfma(DW_VF(p + 4 * ps), wv, a4);
      a5 = vfma(DW_VF(p + 5 * ps), wv, a5);
      a6 = vfma(DW_VF(p + 6 * ps), wv, a6);
      a7 = vfma(DW_VF(p + 7 * ps), wv, a7);
    }
  }
  DW_VS(q, a0); DW_VS(q + cb, a1); DW_VS(q + 2 * cb, a2); DW_VS(q + 3 * cb, a3);
  DW_VS(q + 4 * cb, a4); DW_VS(q + 5 * cb, a5); DW_VS(q + 6 * cb, a6); DW_VS(q + 7 * cb, a7);
}

/** The channels of one output pixel after the whole vf blocks (from byte cw): 4 lanes, then one at a time. */
static inline void dwPixFwdTail(const ux *rows, ux wt, ux bias, ux yp, ux cb, ux cw, i32 W, i32 KH, i32 KW, i32 iw0, i32 DW, i32 ow) {
  if (cw == cb) return;
  const auto q = yp + (ux)ow * cb;
  ux c = cw;
  for (; c + 16 <= cb; c += 16) {
    auto a0 = bias ? v128_load(bias + c) : f32x4_splat(0);
    for (auto kh = 0; kh < KH; kh++) {
      if (!rows[kh]) continue;
      for (auto kw = 0; kw < KW; kw++) {
        const auto iw = iw0 + kw * DW;
        if ((ux)iw >= (ux)W) continue;
        a0 = fma(v128_load(rows[kh] + (ux)iw * cb + c), v128_load(wt + (ux)(kh * KW + kw) * cb + c), a0);
      }
    }
    v128_store(q + c, a0);
  }
  for (; c < cb; c += 4) {
    f32 s = bias ? load<f32>(bias + c) : 0;
    for (auto kh = 0; kh < KH; kh++) {
      if (!rows[kh]) continue;
      for (auto kw = 0; kw < KW; kw++) {
        const auto iw = iw0 + kw * DW;
        if ((ux)iw >= (ux)W) continue;
        s += load<f32>(rows[kh] + (ux)iw * cb + c) * load<f32>(wt + (ux)(kh * KW + kw) * cb + c);
      }
    }
    store<f32>(q + c, s);
  }
}

/**
 * One output row of the depthwise forward, every channel, from the KH input rows rows[kh] (their
 * pixel 0; 0: a padding row) at a pixel stride of C floats: y = bias + the taps in (kh, kw) order,
 * an FMA each, the WebAssembly kernel's sum for every element. Wide channel blocks run 8 output
 * pixels at a time where every tap of the 8 lies inside the row (each weight vector loaded once
 * for 8 FMAs), the edges one pixel at a time.
 */
static void dwRowFwd(const ux *rows, ux wt, ux bias, ux yp, i32 C, i32 W, i32 KH, i32 KW, i32 SW, i32 PW, i32 DW, i32 OW) {
  const auto cb = (ux)C << 2;
  const auto xs = (ux)SW * cb;
  const auto cw = cb - cb % VB;  // the channels of whole vf blocks (bytes)
  i32 ow = 0;
  while (ow < OW) {
    const auto iw0 = ow * SW - PW;
    if (ow + 8 <= OW && iw0 >= 0 && iw0 + 7 * SW + (KW - 1) * DW <= W - 1) {
      // 8 output pixels, every tap inside the row: each weight vector loaded once for 8 FMAs
      for (ux co = 0; co < cw; co += VB) {
        const vf b0 = bias ? DW_VF(bias + co) : vzero();
        dwRun8(rows, KH, KW, wt, cb, co, iw0, DW, xs, b0, yp + (ux)ow * cb + co);
      }
      for (auto j = 0; j < 8; j++) dwPixFwdTail(rows, wt, bias, yp, cb, cw, W, KH, KW, iw0 + j * SW, DW, ow + j);
      ow += 8;
      continue;
    }
    for (ux co = 0; co < cw; co += VB) {
      vf a0 = bias ? DW_VF(bias + co) : vzero();
      for (auto kh = 0; kh < KH; kh++) {
        if (!rows[kh]) continue;
        for (auto kw = 0; kw < KW; kw++) {
          const auto iw = iw0 + kw * DW;
          if ((ux)iw >= (ux)W) continue;
          a0 = vfma(DW_VF(rows[kh] + (ux)iw * cb + co), DW_VF(wt + (ux)(kh * KW + kw) * cb + co), a0);
        }
      }
      DW_VS(yp + (ux)ow * cb + co, a0);
    }
    dwPixFwdTail(rows, wt, bias, yp, cb, cw, W, KH, KW, iw0, DW, ow);
    ow++;
  }
}


/** act(a*x + b) of one input row into dst, in the WebAssembly kernel's operations (4 lanes, then one at a time). */
static void dwNormRow(ux src, ux dst, i32 W, i32 C, ux coef, i32 act) {
  const auto cb = (ux)C << 2; const auto cbo = coef + cb;
  for (auto iw = 0; iw < W; iw++) {
    const auto s = src + (ux)iw * cb; const auto t = dst + (ux)iw * cb;
    ux co = 0;
    for (; co + 16 <= cb; co += 16) v128_store(t + co, actv(fma(v128_load(s + co), v128_load(coef + co), v128_load(cbo + co)), act));
    for (; co < cb; co += 4) store<f32>(t + co, acts(load<f32>(coef + co) * load<f32>(s + co) + load<f32>(cbo + co), act));
  }
}

/** The moments of one output row as conv_dw_fwd_f takes them (shift stored at the thread's first pixel), the f32 sums flushed at the end. */
static void dwRowMoments(ux yp, i32 OW, i32 C, ux st, bool first) {
  const auto cb = (ux)C << 2;
  const auto shp = st + (cb << 2); const auto s32 = shp + cb; const auto q32 = s32 + cb;
  for (auto ow = 0; ow < OW; ow++) {
    const auto p = yp + (ux)ow * cb;
    ux co = 0;
    for (; co + 16 <= cb; co += 16) {
      const auto a0 = v128_load(p + co);
      if (first && ow == 0) v128_store(shp + co, a0);
      const auto e = f32x4_sub(a0, v128_load(shp + co));
      v128_store(s32 + co, f32x4_add(v128_load(s32 + co), e));
      v128_store(q32 + co, fma(e, e, v128_load(q32 + co)));
    }
    for (; co < cb; co += 4) {
      const f32 s = load<f32>(p + co);
      if (first && ow == 0) store<f32>(shp + co, s);
      const f32 e = s - load<f32>(shp + co);
      store<f32>(s32 + co, load<f32>(s32 + co) + e);
      store<f32>(q32 + co, load<f32>(q32 + co) + e * e);
    }
  }
  dwFlush(st, s32, C);
}

/**
 * conv_dw_fwd_f as whole rows: each input row the output rows need is normalised once into a ring
 * of R = (KH-1)*DH + 1 rows in the thread scratch (above SC_PACK, below the fusion region), the
 * row computed by dwRowFwd from the ring (from x itself without the x prologue), then its moments;
 * every element the same operations as the WebAssembly kernel's. Where the ring does not fit, or
 * more than 64 kernel rows, that kernel's loops.
 */
static void dw_fwd_f_wide(ux d, ux x, ux wt, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto cb = (ux)C << 2; const auto rowB = (ux)W * cb;
  const auto R = (KH - 1) * DH + 1;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto ring = scratch + SC_PACK;
  if (KH > 64 || R > 64 || (coef && ring + (ux)R * rowB > st)) {
    as_conv_dw_fwd_f(d, x, wt, bias, y, coef, act, mom, start, end, scratch);
    return;
  }
  if (mom) {
    memory_fill(st, 0, cb << 2);
    memory_fill(st + (cb << 2) + cb, 0, cb << 1);
  }
  i64 tag[64];
  for (auto i = 0; i < R; i++) tag[i] = -1;
  ux rows[64];
  for (auto row = start; row < end; row++) {
    const auto n = row / OH; const auto oh = row - n * OH;
    for (auto kh = 0; kh < KH; kh++) {
      const auto ih = oh * SH - PH + kh * DH;
      if ((ux)ih >= (ux)H) {
        rows[kh] = 0;
        continue;
      }
      const i64 key = (i64)n * H + ih;
      if (!coef) {
        rows[kh] = x + (ux)key * rowB;
        continue;
      }
      const auto slot = ih % R;
      const auto r = ring + (ux)slot * rowB;
      if (tag[slot] != key) {
        dwNormRow(x + (ux)key * rowB, r, W, C, coef, act);
        tag[slot] = key;
      }
      rows[kh] = r;
    }
    const auto yp = y + (ux)row * (ux)OW * cb;
    dwRowFwd(rows, wt, bias, yp, C, W, KH, KW, SW, PW, DW, OW);
    if (mom) dwRowMoments(yp, OW, C, st, row == start);
  }
}

/**
 * One input row of the depthwise backward-data (a gather), every channel, from the rows of dy
 * its kernel rows read: rows[kh] the dy row (pixel 0) kernel row kh reads, 0 where none does; dy
 * pixels C floats apart. Each element the WebAssembly kernel's sum (taps in (kh, kw) order, an
 * FMA each, from zero). At stride 1 the wide blocks run 8 input pixels at a time where every tap
 * of the 8 reads inside the row.
 */
static void dwRowBwdData(const ux *rows, ux wt, ux xp, i32 C, i32 W, i32 KH, i32 KW, i32 SW, i32 PW, i32 DW, i32 OW) {
  const auto cb = (ux)C << 2;
#define DW_GATHER(BODY)                                   \
  for (auto kh = 0; kh < KH; kh++) {                      \
    if (!rows[kh]) continue;                              \
    for (auto kw = 0; kw < KW; kw++) {                    \
      const auto tw = iw + PW - kw * DW;                  \
      if (tw < 0) break;                                  \
      const auto ow = tw / SW;                            \
      if (ow * SW != tw || ow >= OW) continue;            \
      const auto gp = rows[kh] + (ux)ow * cb + co;        \
      const auto wp = wt + (ux)(kh * KW + kw) * cb + co;  \
      BODY                                                \
    }                                                     \
  }
  ux co = 0;
  for (; co + VB <= cb; co += VB) {
    i32 iw = 0;
    while (iw < W) {
      if (SW == 1 && iw + 8 <= W && iw + PW - (KW - 1) * DW >= 0 && iw + 7 + PW <= OW - 1) {
        dwRun8(rows, KH, KW, wt, cb, co, iw + PW, -DW, cb, vzero(), xp + (ux)iw * cb + co);
        iw += 8;
        continue;
      }
      vf a0 = vzero();
      DW_GATHER(a0 = vfma(DW_VF(gp), DW_VF(wp), a0);)
      DW_VS(xp + (ux)iw * cb + co, a0);
      iw++;
    }
  }
  const auto c0 = co;
  for (auto iw = 0; iw < W; iw++) {
    for (co = c0; co + 16 <= cb; co += 16) {
      auto a0 = f32x4_splat(0);
      DW_GATHER(a0 = fma(v128_load(gp), v128_load(wp), a0);)
      v128_store(xp + (ux)iw * cb + co, a0);
    }
    for (; co < cb; co += 4) {
      f32 s = 0;
      DW_GATHER(s += load<f32>(gp) * load<f32>(wp);)
      store<f32>(xp + (ux)iw * cb + co, s);
    }
  }
#undef DW_GATHER
}


/**
 * conv_dw_bwd_data_f as whole rows: each dy row the input rows read is computed once (dy
 * prologue: A*dbn + (B*xbn + C0)) into a ring of R = (KH-1)*DH/SH + 1 rows in the thread scratch,
 * the row gathered by dwRowBwdData (from the ring, or dy itself), then the dx epilogue over the
 * row (pixels, then channels, in order, as the WebAssembly kernel applies it per pixel). Where the
 * ring does not fit, or more than 64 kernel rows: that kernel's loops.
 */
static void dw_bwd_data_f_wide(ux d, ux src, ux wt, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto cb = (ux)C << 2; const auto orow = (ux)OW * cb;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto s32 = st + (ux)C * 20; const auto q32 = st + (ux)C * 24;
  const auto R = (KH - 1) * DH / SH + 1;
  const auto ring = scratch + SC_PACK;
  if (KH > 64 || R > 64 || (cdy && ring + (ux)R * orow > st)) {
    as_conv_dw_bwd_data_f(d, src, wt, dx, dlt, cdy, x2, c2, m2, act, start, end, scratch);
    return;
  }
  if (x2) {
    memory_fill(st, 0, cb << 2);
    memory_fill(s32, 0, cb << 1);
  }
  i64 tag[64];
  for (auto i = 0; i < R; i++) tag[i] = -1;
  ux rows[64];
  for (auto row = start; row < end; row++) {
    const auto n = row / H; const auto ih = row - n * H;
    for (auto kh = 0; kh < KH; kh++) {
      const auto th = ih + PH - kh * DH;
      const auto oh = th >= 0 ? th / SH : -1;
      if (th < 0 || oh * SH != th || oh >= OH) {
        rows[kh] = 0;
        continue;
      }
      const i64 key = (i64)n * OH + oh;
      const auto g = src + (ux)key * orow;
      if (!cdy) {
        rows[kh] = g;
        continue;
      }
      const auto slot = oh % R;
      const auto r = ring + (ux)slot * orow;
      if (tag[slot] != key) {
        for (auto ow = 0; ow < OW; ow++) {
          const auto p = g + (ux)ow * cb; const auto t = r + (ux)ow * cb;
          ux co = 0;
          for (; co + 16 <= cb; co += 16) v128_store(t + co, dyr(v128_load(cdy + co), v128_load(cdy + cb + co), v128_load(cdy + 2 * cb + co), p + co, dlt));
          for (; co < cb; co += 4)
            store<f32>(t + co, load<f32>(cdy + co) * load<f32>(p + co) + (load<f32>(cdy + cb + co) * load<f32>(p + co + dlt) + load<f32>(cdy + 2 * cb + co)));
        }
        tag[slot] = key;
      }
      rows[kh] = r;
    }
    const auto xr = dx + (ux)row * (ux)W * cb;
    dwRowBwdData(rows, wt, xr, C, W, KH, KW, SW, PW, DW, OW);
    if (!x2) continue;
    const auto x2r = x2 + (ux)row * (ux)W * cb;
    for (auto iw = 0; iw < W; iw++) {
      const auto xp = xr + (ux)iw * cb; const auto x2p = x2r + (ux)iw * cb;
      ux co = 0;
      for (; co + 16 <= cb; co += 16) {
        auto a0 = v128_load(xp + co);
        const auto xv = v128_load(x2p + co);
        if (act) a0 = dactv(a0, fma(xv, v128_load(c2 + co), v128_load(c2 + cb + co)), act);
        v128_store(s32 + co, f32x4_add(v128_load(s32 + co), a0));
        v128_store(q32 + co, fma(a0, f32x4_sub(xv, v128_load(m2 + co)), v128_load(q32 + co)));
        v128_store(xp + co, a0);
      }
      for (; co < cb; co += 4) {
        f32 s = load<f32>(xp + co);
        const f32 xv = load<f32>(x2p + co);
        if (act) s = dacts(s, load<f32>(c2 + co) * xv + load<f32>(c2 + cb + co), act);
        store<f32>(s32 + co, load<f32>(s32 + co) + s);
        store<f32>(q32 + co, load<f32>(q32 + co) + s * (xv - load<f32>(m2 + co)));
        store<f32>(xp + co, s);
      }
    }
    dwFlush(st, s32, C);
  }
}

/** acc[v] (nacc vf at ap) += dy * x along n pixels (dy at gp, gs bytes apart; x at xp, xs apart), in registers. */
template <int NA> static inline void dwAccRowN(ux ap, ux gp, ux gs, ux xp, ux xs, i32 n) {
  vf acc[NA];
  for (int v = 0; v < NA; v++) acc[v] = DW_VF(ap + (ux)v * VB);
  for (auto i = 0; i < n; i++) {
    for (int v = 0; v < NA; v++) acc[v] = vfma(DW_VF(gp + (ux)v * VB), DW_VF(xp + (ux)v * VB), acc[v]);
    gp += gs;
    xp += xs;
  }
  for (int v = 0; v < NA; v++) DW_VS(ap + (ux)v * VB, acc[v]);
}
static inline void dwAccRow(int nacc, ux ap, ux gp, ux gs, ux xp, ux xs, i32 n) {
  switch (nacc) {
    case 1: return dwAccRowN<1>(ap, gp, gs, xp, xs, n);
    case 2: return dwAccRowN<2>(ap, gp, gs, xp, xs, n);
    case 3: return dwAccRowN<3>(ap, gp, gs, xp, xs, n);
    case 4: return dwAccRowN<4>(ap, gp, gs, xp, xs, n);
#if BNFF_VW == 8
    case 5: return dwAccRowN<5>(ap, gp, gs, xp, xs, n);
    case 6: return dwAccRowN<6>(ap, gp, gs, xp, xs, n);
    case 7: return dwAccRowN<7>(ap, gp, gs, xp, xs, n);
    case 8: return dwAccRowN<8>(ap, gp, gs, xp, xs, n);
#endif
  }
}

/**
 * Backward-weights as conv_dw_bwd_w(_f), each block of 64 channels (or the last, in whole
 * vectors) with its accumulators in registers along each output row: for one tap and channel the sum still runs over (oh, ow) in
 * order, from the image's zero, so every element is the WebAssembly kernel's sum. Fused (cdy or
 * coef): the row of dy computed once per output row (A*dbn + (B*xbn + C0)) and each input row
 * normalised once per image (act(a*x + b)) into the thread scratch, the same operations as the
 * WebAssembly kernel applies at every tap. A last block not in whole vectors, or rows that do not
 * fit: its loops.
 */
static void dw_bwd_w_wide(ux d, ux dy, ux x, ux dw, ux dlt, ux cdy, ux coef, i32 act, i32 start, i32 end, ux scratch) {
  const auto N = ld(d, D_N); const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto T = KH * KW;
  const auto CB = 64;
  const auto tot = scratch + SC_PACK;
  const auto part = tot + (ux)T * CB * 4;
  const auto gbuf = part + (ux)T * CB * 4;
  const auto xring = gbuf + (ux)OW * 256;
  const auto R = (KH - 1) * DH + 1;
  const bool fusedRun = cdy || coef;
  const bool fits = R <= 64 && xring + (ux)R * (ux)W * 256 <= scratch + ((ux)4 << 20);
  const auto pixB = (ux)C * 4;
  for (auto cb = start; cb < end; cb += CB) {
    const auto cn = min(CB, end - cb);
    const auto cbo = (ux)cb << 2;
    const int nacc = cn / BNFF_VW;  // vf accumulators: the block's channels in whole vectors
    if (cn % BNFF_VW != 0 || (fusedRun && !fits)) {
      as_conv_dw_bwd_w_f(d, dy, x, dw, dlt, cdy, coef, act, cb, end, scratch);
      return;
    }
    const auto ca = coef + cbo; const auto cbb = coef + pixB + cbo;
    const auto dA = cdy + cbo; const auto dB = cdy + pixB + cbo; const auto dC = cdy + 2 * pixB + cbo;
    memory_fill(tot, 0, (ux)(T * CB) * 4);
    for (auto n = 0; n < N; n++) {
      memory_fill(part, 0, (ux)(T * CB) * 4);
      const auto xn = x + (ux)n * (ux)H * (ux)W * pixB + cbo;
      i32 tag[64];
      for (auto i = 0; i < R; i++) tag[i] = -1;
      for (auto oh = 0; oh < OH; oh++) {
        auto gr = dy + (ux)((n * OH + oh) * OW) * pixB + cbo;
        auto gs = pixB;
        if (cdy) {
          for (auto ow = 0; ow < OW; ow++)
            for (ux o = 0; o < (ux)cn * 4; o += 16)
              v128_store(gbuf + (ux)ow * 256 + o, dyr(v128_load(dA + o), v128_load(dB + o), v128_load(dC + o), gr + (ux)ow * pixB + o, dlt));
          gr = gbuf;
          gs = 256;
        }
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = oh * SH - PH + kh * DH;
          if ((ux)ih >= (ux)H) continue;
          auto xr = xn + (ux)ih * (ux)W * pixB;
          auto xps = pixB;
          if (coef) {
            const auto slot = ih % R;
            const auto r = xring + (ux)slot * (ux)W * 256;
            if (tag[slot] != ih) {
              for (auto iw = 0; iw < W; iw++)
                for (ux o = 0; o < (ux)cn * 4; o += 16)
                  v128_store(r + (ux)iw * 256 + o, actv(fma(v128_load(xr + (ux)iw * pixB + o), v128_load(ca + o), v128_load(cbb + o)), act));
              tag[slot] = ih;
            }
            xr = r;
            xps = 256;
          }
          for (auto kw = 0; kw < KW; kw++) {
            // the output columns whose tap kw falls inside the row: iw = ow*SW - PW + kw*DW in [0, W)
            const auto off = kw * DW - PW;
            auto ow0 = off >= 0 ? 0 : (-off + SW - 1) / SW;
            auto ow1 = W - 1 - off < 0 ? 0 : (W - 1 - off) / SW + 1;
            if (ow1 > OW) ow1 = OW;
            if (ow0 >= ow1) continue;
            const auto ap = part + (ux)((kh * KW + kw) * CB) * 4;
            const auto xs = (ux)SW * xps;
            dwAccRow(nacc, ap, gr + (ux)ow0 * gs, gs, xr + (ux)(ow0 * SW + off) * xps, xs, ow1 - ow0);
          }
        }
      }
      for (auto i = 0; i < T * CB; i += BNFF_VW) {
        const auto o = (ux)i << 2;
        DW_VS(tot + o, vadd(DW_VF(tot + o), DW_VF(part + o)));
      }
    }
    for (auto c = 0; c < cn; c++) {
      for (auto tap = 0; tap < T; tap++) {
        store<f32>(dw + ((ux)((cb + c) * T + tap) << 2), load<f32>(tot + ((ux)(tap * CB + c) << 2)));
      }
    }
  }
}

// ---- kernel entry points (core/kernel.h signature); the plain kernels are the fused ones without their operand groups ----
void conv_dw_pack_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_pack_w((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], start, end, (ux)scratch);
}
void conv_dw_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  dw_fwd_f_wide((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], 0, 0, 0, start, end, (ux)scratch);
}
void conv_dw_bwd_data(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  dw_bwd_data_f_wide((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], 0, 0, 0, 0, 0, 0, start, end, (ux)scratch);
}
void conv_dw_bwd_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  dw_bwd_w_wide((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], 0, 0, 0, 0, start, end, (ux)scratch);
}

void conv_dw_fwd_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  dw_fwd_f_wide((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (ux)scratch);
}
void conv_dw_bwd_data_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  dw_bwd_data_f_wide((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (ux)(int64_t)a[7], (ux)(int64_t)a[8], (i32)a[9], start, end, (ux)scratch);
}
void conv_dw_bwd_w_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  dw_bwd_w_wide((ux)(int64_t)a[0], (ux)(int64_t)a[1], (ux)(int64_t)a[2], (ux)(int64_t)a[3], (ux)(int64_t)a[4], (ux)(int64_t)a[5], (ux)(int64_t)a[6], (i32)a[7], start, end, (ux)scratch);
}

}  // namespace

KernelList family_depthwise() {
  static const Kernel k[] = {
      {"conv_dw_pack_w", 3, conv_dw_pack_w},
      {"conv_dw_fwd", 5, conv_dw_fwd},
      {"conv_dw_bwd_data", 4, conv_dw_bwd_data},
      {"conv_dw_bwd_w", 4, conv_dw_bwd_w},
      {"conv_dw_fwd_f", 8, conv_dw_fwd_f},
      {"conv_dw_bwd_data_f", 10, conv_dw_bwd_data_f},
      {"conv_dw_bwd_w_f", 8, conv_dw_bwd_w_f},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
