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
#include "eltwise_common.h"

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

// The taps of one pixel, listed once at the start of the thread scratch (below SC_PACK, 16 bytes a
// tap) and then read by every channel block, as in depthwise.ts (dwTapsFwd, dwTapsBwd).
// dwTapsFwd: input pixel (ih, iw) at xn + (ih*W + iw)*xs, tap t's second offset wt + t*cb.
static inline i32 dwTapsFwd(ux tl, ux xn, ux wt, i32 ih0, i32 iw0, i32 H, i32 W, i32 KH, i32 KW, i32 DH, i32 DW, ux cb, ux xs) {
  i32 n = 0;
  for (auto kh = 0; kh < KH; kh++) {
    const auto ih = ih0 + kh * DH;
    if ((ux)ih >= (ux)H) continue;
    for (auto kw = 0; kw < KW; kw++) {
      const auto iw = iw0 + kw * DW;
      if ((ux)iw >= (ux)W) continue;
      store<ux>(tl + ((ux)n << 4), xn + ((ux)ih * (ux)W + (ux)iw) * xs);
      store<ux>(tl + ((ux)n << 4), wt + (ux)(kh * KW + kw) * cb, 8);
      n++;
    }
  }
  return n;
}
static inline i32 dwTapsBwd(ux tl, ux dyn, ux wt, i32 ih, i32 iw, i32 OH, i32 OW, i32 KH, i32 KW, i32 SH, i32 SW, i32 PH, i32 PW, i32 DH, i32 DW, ux cb) {
  i32 n = 0;
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
      store<ux>(tl + ((ux)n << 4), dyn + (ux)(oh * OW + ow) * cb);
      store<ux>(tl + ((ux)n << 4), wt + (ux)(kh * KW + kw) * cb, 8);
      n++;
    }
  }
  return n;
}

static void as_conv_dw_fwd_f(ux d, ux x, ux wt, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto cb = (ux)C << 2; const auto rowB = (ux)W * cb;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto shp = st + (cb << 2); const auto s32 = shp + cb; const auto q32 = s32 + cb;
  const auto tl = scratch;
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
      const auto nt = dwTapsFwd(tl, xn, wt, oh * SH - PH, ow * SW - PW, H, W, KH, KW, DH, DW, cb, cb);
      const bool first = mom && row == start && ow == 0;
      ux co = 0;
      for (; co + 16 <= cb; co += 16) {
        auto a0 = bias ? v128_load(bias + co) : z;
        const auto av = coef ? v128_load(coef + co) : z; const auto bv = coef ? v128_load(cbo + co) : z;
        for (auto i = 0; i < nt; i++) {
          const auto t = tl + ((ux)i << 4);
          auto xv = v128_load(load<ux>(t) + co);
          if (coef) xv = actv(fma(xv, av, bv), act);
          a0 = fma(xv, v128_load(load<ux>(t, 8) + co), a0);
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
        for (auto i = 0; i < nt; i++) {
          const auto t = tl + ((ux)i << 4);
          auto xv = load<f32>(load<ux>(t) + co);
          if (coef) xv = acts(av * xv + bv, act);
          s += xv * load<f32>(load<ux>(t, 8) + co);
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
  const auto tl = scratch;
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
      const auto nt = dwTapsBwd(tl, dyn, wt, ih, iw, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, cb);
      ux co = 0;
      for (; co + 16 <= cb; co += 16) {
        auto a0 = z;
        const auto A = cdy ? v128_load(cdy + co) : z; const auto B = cdy ? v128_load(cdy + cb + co) : z; const auto C0 = cdy ? v128_load(cdy + 2 * cb + co) : z;
        for (auto i = 0; i < nt; i++) {
          const auto t = tl + ((ux)i << 4);
          const auto gp = load<ux>(t) + co;
          const auto g = cdy ? dyr(A, B, C0, gp, dlt) : v128_load(gp);
          a0 = fma(g, v128_load(load<ux>(t, 8) + co), a0);
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
        for (auto i = 0; i < nt; i++) {
          const auto t = tl + ((ux)i << 4);
          const auto gp = load<ux>(t) + co;
          const f32 g = cdy ? load<f32>(cdy + co) * load<f32>(gp) + (load<f32>(cdy + cb + co) * load<f32>(gp + dlt) + load<f32>(cdy + 2 * cb + co)) : load<f32>(gp);
          s += g * load<f32>(load<ux>(t, 8) + co);
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

/** The groups of images of the backward-weights: 8, or N when fewer (conv_geometry.ts dwGroups). */
static inline i32 dwGroups(i32 N) { return N < 8 ? N : 8; }

/** conv_dw_bwd_w_f for the images [n0, n1) and the channels [start, end): their sum into out[c][tap]. */
static void as_conv_dw_bwd_w_f(ux d, ux src, ux x, ux out, ux dlt, ux cdy, ux coef, i32 act, i32 n0, i32 n1, i32 start, i32 end, ux scratch) {
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
    for (auto n = n0; n < n1; n++) {
      memory_fill(part, 0, (ux)(T * CB) * 4);
      const auto xn = x + (ux)n * (ux)H * (ux)W * pixB + cbo;
      for (auto oh = 0; oh < OH; oh++) {
        for (auto ow = 0; ow < OW; ow++) {
          const auto gp = src + (ux)((n * OH + oh) * OW + ow) * pixB + cbo;
          // the taps inside the image: the x pixel each reads, and its accumulators in part
          const auto ntap = dwTapsFwd(scratch, xn, part, oh * SH - PH, ow * SW - PW, H, W, KH, KW, DH, DW, (ux)CB * 4, pixB);
          for (auto i = 0; i < ntap; i++) {
            const auto xp = load<ux>(scratch + ((ux)i << 4)); const auto ap = load<ux>(scratch + ((ux)i << 4), 8);
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
      for (auto i = 0; i < T * CB; i += 4) {
        const auto o = (ux)i << 2;
        v128_store(tot + o, f32x4_add(v128_load(tot + o), v128_load(part + o)));
      }
    }
    for (auto c = 0; c < cn; c++) {
      for (auto tap = 0; tap < T; tap++) {
        store<f32>(out + ((ux)((cb + c) * T + tap) << 2), load<f32>(tot + ((ux)(tap * CB + c) << 2)));
      }
    }
  }
}

// ---- the kernels at the full vector width (vf: 16 lanes with AVX-512, 8 with AVX2) ----
//
// Every element is computed by the same operations in the same order as in the WebAssembly
// kernel (the taps in (kh, kw) order, an FMA each; the prologues' and epilogues' operations
// elementwise as there, on vf lanes, 4 lanes or one float), so the bits are its bits: what
// changes is how many channels one instruction handles (blocks of vf, then 4 lanes, then one at a
// time), that runs of 8 pixels share each weight load, that the bounds are tested once per pixel
// (runs of 8 pixels over the whole row, padding skipped per input), that the fused kernels apply a
// prologue once per element into rows in the thread scratch instead of at every tap, that the
// moments epilogue works on the accumulators in registers and the dx epilogue over a staging row,
// and that the threads of backward-weights split groups of images (conv_dw_bwd_w_out). The host
// splits rows and groups into chunks the threads claim dynamically (the reductions in fixed
// chunks, each into its own slot: conv_config.ts DW_CHUNKS). Large outputs (NT_MIN floats or more
// in all, whole vectors of channels) take streaming stores, as the eltwise kernels' do.

#define DW_VF(p) vload((const float *)(gM + (size_t)(p)))
#define DW_VS(p, v) vstore((float *)(gM + (size_t)(p)), v)
static const ux VB = (ux)BNFF_VW * 4;  // bytes of one vf
static const i32 DW_MAXT = 256;        // taps of the wide kernels (more: the 128-bit loops)
static const int DW_NB = BNFF_VW == 16 ? 4 : 2;  // vf blocks of one backward-weights pass

/** One tap of a run: the byte offsets of the input vector its first pixel reads (channel 0) and of its weights. */
struct DwTap {
  ux x, w;
};

/** Stores v at p, streaming when nt (p aligned to VB). */
static inline void dwPut(ux p, vf v, bool nt) {
  if (nt) vstream((float *)(gM + (size_t)p), v);
  else DW_VS(p, v);
}

/**
 * Whether an output of n floats at byte offset p, rows of C floats, takes streaming stores: the
 * whole tensor, not the call's range (the host splits it into chunks claimed dynamically), of
 * NT_MIN floats (8 MiB) or more, in whole vectors.
 */
static inline bool dwStreams(ux p, i64 n, i32 C) { return n >= NT_MIN && C % BNFF_VW == 0 && ((size_t)(gM + (size_t)p) & (VB - 1)) == 0; }

/**
 * NP pixels of one vf block (channels from byte co): a[j] = b0 + the taps t[0..nt) in order of
 * x(t.x + j*is + co) * w(t.w + co), an FMA each; each weight vector loaded once for NP FMAs.
 */
template <int NP> static inline void dwRun(const DwTap *t, i32 nt, ux co, ux is, vf b0, vf *a) {
#pragma GCC unroll 8
  for (int j = 0; j < NP; j++) a[j] = b0;
  for (i32 i = 0; i < nt; i++) {
    const vf wv = DW_VF(t[i].w + co);
    const auto p = t[i].x + co;
#pragma GCC unroll 8
    for (int j = 0; j < NP; j++) a[j] = vfma(DW_VF(p + (ux)j * is), wv, a[j]);
  }
}

/**
 * 8 pixels of one vf block (channels from byte co) with dilation 1: for each of the nk kernel rows
 * k (input row at xk[k], the pixel of j = 0 and the first input the run reads; weights at wk[k],
 * tap i at + i*ws), a[j] += x(m) * w(i) for the NI taps i in order, where input m = j*JS + i
 * (IS = 1: the forward, JS = SW) or m = j*JS + NI-1-i (IS = -1: the backward-data gather, taps
 * against consecutive dy pixels), m pixels (ps bytes) from xk[k]. Inputs outside [mlo, mhi] are
 * padding: the taps that read them are skipped (EDGE), so that a run may start before the row and
 * end after it (its pixels past the row are not stored). Each input vector is loaded once for every
 * FMA that reads it, and each accumulator takes its taps in (kh, kw) order.
 */
template <int NI, int JS, int IS, bool EDGE>
static inline void dwRunK(const ux *xk, const ux *wk, i32 nk, ux ws, ux ps, ux co, vf b0, i32 mlo, i32 mhi, vf *a) {
  constexpr int NP = 8, NM = (NP - 1) * JS + NI;
#pragma GCC unroll 8
  for (int j = 0; j < NP; j++) a[j] = b0;
  for (i32 k = 0; k < nk; k++) {
    vf w[NI];
#pragma GCC unroll 8
    for (int i = 0; i < NI; i++) w[i] = DW_VF(wk[k] + (ux)i * ws + co);
    const auto p = xk[k] + co;
#pragma GCC unroll 32
    for (int s = 0; s < NM; s++) {
      const int m = IS > 0 ? s : NM - 1 - s;
      if (EDGE && (m < mlo || m > mhi)) continue;
      vf xv = DW_VF(p + (ux)m * ps);
      // in a register: GCC otherwise folds the load into each FMA that reads it (NI loads instead
      // of one, the loop then bound by the load port: 27 loads for 24 FMAs a kernel row at 3x3);
      // 1.12x in cache on one thread (forward and backward-data, 144 channels at 56 px)
      asm("" : "+v"(xv));
#pragma GCC unroll 8
      for (int j = 0; j < NP; j++) {
        const int i = IS > 0 ? m - j * JS : NI - 1 - (m - j * JS);
        if (i >= 0 && i < NI) a[j] = vfma(xv, w[i], a[j]);
      }
    }
  }
}
template <int NI, int JS, int IS>
static inline void dwRunKE(const ux *xk, const ux *wk, i32 nk, ux ws, ux ps, ux co, vf b0, i32 mlo, i32 mhi, vf *a) {
  constexpr int NM = 7 * JS + NI;
  if (mlo <= 0 && mhi >= NM - 1) dwRunK<NI, JS, IS, false>(xk, wk, nk, ws, ps, co, b0, mlo, mhi, a);
  else dwRunK<NI, JS, IS, true>(xk, wk, nk, ws, ps, co, b0, mlo, mhi, a);
}

/** Prefetches the lines of [p, p + n) (byte offsets; never faults) into L2: the streams that come from memory, 16 to 24 pixels ahead (measured: 1.2 to 1.4x of the hardware prefetchers alone on rows of 144 channels; into L1, or further ahead, no better). */
static inline void dwPrefetch(ux p, ux n) {
  for (ux o = 0; o < n; o += 64) _mm_prefetch((const char *)(gM + (size_t)(p + o)), _MM_HINT_T1);
}

/** The channels after the whole vf blocks (from byte cw) of one pixel, the taps' inputs off bytes further: 4 lanes, then one at a time, stored at q. */
static inline void dwTail(const DwTap *t, i32 nt, ux off, ux cw, ux cb, ux bias, ux q) {
  ux c = cw;
  for (; c + 16 <= cb; c += 16) {
    auto a0 = bias ? v128_load(bias + c) : f32x4_splat(0);
    for (i32 i = 0; i < nt; i++) a0 = fma(v128_load(t[i].x + off + c), v128_load(t[i].w + c), a0);
    v128_store(q + c, a0);
  }
  for (; c < cb; c += 4) {
    f32 s = bias ? load<f32>(bias + c) : 0;
    for (i32 i = 0; i < nt; i++) s += load<f32>(t[i].x + off + c) * load<f32>(t[i].w + c);
    store<f32>(q + c, s);
  }
}

/**
 * One output row of the depthwise forward, every channel, from the KH input rows rows[kh] (their
 * pixel 0; 0: a padding row) at a pixel stride of C floats: y = bias + the taps in (kh, kw) order,
 * an FMA each. Runs of 8 output pixels where every tap of the 8 lies inside the row, the edges one
 * pixel at a time with the taps inside. st != 0: the moments epilogue on the accumulators (shift:
 * the thread's first pixel when first), the whole vf blocks in registers, the rest from y; the
 * f32 sums flushed at the end of the row.
 */
static void dwRowFwd(const ux *rows, u64 fresh, ux wt, ux bias, ux yp, i32 C, i32 W, i32 KH, i32 KW, i32 SW, i32 PW, i32 DW, i32 OW, ux st, bool first, bool nt) {
  const auto cb = (ux)C << 2;
  const auto xs = (ux)SW * cb;
  const auto cw = cb - cb % VB;  // the channels of whole vf blocks (bytes)
  const auto shp = st + (cb << 2); const auto s32 = shp + cb; const auto q32 = s32 + cb;
  // the taps inside the row for the pixel reading from iw0, in (kh, kw) order
  const auto taps = [&](DwTap *t, i32 iw0) {
    i32 n = 0;
    for (auto kh = 0; kh < KH; kh++) {
      if (!rows[kh]) continue;
      for (auto kw = 0; kw < KW; kw++) {
        const auto iw = iw0 + kw * DW;
        if ((ux)iw < (ux)W) t[n++] = {rows[kh] + (ux)iw * cb, wt + (ux)(kh * KW + kw) * cb};
      }
    }
    return n;
  };
  DwTap t[DW_MAXT];
  vf a[8];
  // dilation 1, 3 or 5 wide, stride 1 or 2: runs of 8 over the whole row (dwRunK), else runs where every tap lies inside and single pixels
  const bool kfast = DW == 1 && (KW == 3 || KW == 5) && (SW == 1 || SW == 2);
  ux xr[64], xk[64], wk[64];
  i32 nk = 0;
  u64 pf = 0;  // the runs' rows (bits k) to prefetch ahead: those fresh (first read by this output row)
  for (auto kh = 0; kh < KH; kh++) {
    if (!rows[kh]) continue;
    if (fresh >> kh & 1) pf |= (u64)1 << nk;
    xr[nk] = rows[kh];
    wk[nk++] = wt + (ux)(kh * KW) * cb;
  }
  i32 ow = 0;
  while (ow < OW) {
    const auto iw0 = ow * SW - PW;
    const bool run = !kfast && ow + 8 <= OW && iw0 >= 0 && iw0 + 7 * SW + (KW - 1) * DW <= W - 1;
    const i32 np = kfast ? min(8, OW - ow) : run ? 8 : 1;
    i32 ntap = 0;
    if (kfast) {
      for (auto k = 0; k < nk; k++) {
        xk[k] = xr[k] + (ux)iw0 * cb;
        if (pf >> k & 1) dwPrefetch(xk[k] + (ux)(24 * SW) * cb, (ux)(8 * SW) * cb);
      }
    } else ntap = taps(t, iw0);
    const auto q = yp + (ux)ow * cb;
    for (ux co = 0; co < cw; co += VB) {
      const vf b0 = bias ? DW_VF(bias + co) : vzero();
      if (kfast) {
        const i32 mlo = -iw0, mhi = W - 1 - iw0;
        if (KW == 3 && SW == 1) dwRunKE<3, 1, 1>(xk, wk, nk, cb, cb, co, b0, mlo, mhi, a);
        else if (KW == 3) dwRunKE<3, 2, 1>(xk, wk, nk, cb, cb, co, b0, mlo, mhi, a);
        else if (SW == 1) dwRunKE<5, 1, 1>(xk, wk, nk, cb, cb, co, b0, mlo, mhi, a);
        else dwRunKE<5, 2, 1>(xk, wk, nk, cb, cb, co, b0, mlo, mhi, a);
      } else if (run) dwRun<8>(t, ntap, co, xs, b0, a);
      else dwRun<1>(t, ntap, co, xs, b0, a);
      for (auto j = 0; j < np; j++) dwPut(q + (ux)j * cb + co, a[j], nt);
      if (!st) continue;
      if (first && ow == 0) DW_VS(shp + co, a[0]);
      const vf sh = DW_VF(shp + co);
      vf s = DW_VF(s32 + co), sq = DW_VF(q32 + co);
      for (auto j = 0; j < np; j++) {
        const vf e = vsub(a[j], sh);
        s = vadd(s, e);
        sq = vfma(e, e, sq);
      }
      DW_VS(s32 + co, s);
      DW_VS(q32 + co, sq);
    }
    for (auto j = 0; j < np && cw < cb; j++) dwTail(t, taps(t, iw0 + j * SW), 0, cw, cb, bias, q + (ux)j * cb);
    ow += np;
  }
  if (!st) return;
  for (ow = 0; ow < OW && cw < cb; ow++) {
    const auto p = yp + (ux)ow * cb;
    ux co = cw;
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

/** act(z) on vf lanes, the operations of actv on each lane (ReLU and ReLU6 whole, the others 4 lanes at a time). */
static inline vf dwAct(vf z, i32 act) {
#if BNFF_VW == 16
  if (act == ACT_RELU) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, vzero(), _CMP_NLE_UQ), z);
  if (act == ACT_RELU6) {
    const vf r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, vzero(), _CMP_NLE_UQ), z);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(r, vsplat(6), _CMP_GE_OQ), vsplat(6));
  }
#else
  if (act == ACT_RELU) return _mm256_and_ps(z, _mm256_cmp_ps(z, vzero(), _CMP_NLE_UQ));
  if (act == ACT_RELU6) {
    const vf r = _mm256_and_ps(z, _mm256_cmp_ps(z, vzero(), _CMP_NLE_UQ));
    return _mm256_blendv_ps(r, vsplat(6), _mm256_cmp_ps(r, vsplat(6), _CMP_GE_OQ));
  }
#endif
  if (!act) return z;
  alignas(64) float pz[BNFF_VW];
  vstore(pz, z);
  for (int i = 0; i < BNFF_VW; i += 4) _mm_store_ps(pz + i, actv(_mm_load_ps(pz + i), act));
  return vload(pz);
}

/**
 * The x prologue act(a*x + b) of n pixels (ps bytes apart from src, ds apart into dst), the
 * channels' nb bytes (a at ca, b at cbb) in the WebAssembly kernel's operations: on vf lanes and 4
 * lanes up to c4 bytes, then one at a time.
 */
static void dwNormPix(ux src, ux ps, ux dst, ux ds, i32 n, ux nb, ux c4, ux ca, ux cbb, i32 act) {
  for (auto i = 0; i < n; i++) {
    const auto s = src + (ux)i * ps; const auto t = dst + (ux)i * ds;
    dwPrefetch(s + 16 * ps, nb);
    ux o = 0;
    for (; o + VB <= c4; o += VB) DW_VS(t + o, dwAct(vfma(DW_VF(s + o), DW_VF(ca + o), DW_VF(cbb + o)), act));
    for (; o < c4; o += 16) v128_store(t + o, actv(fma(v128_load(s + o), v128_load(ca + o), v128_load(cbb + o)), act));
    for (; o < nb; o += 4) store<f32>(t + o, acts(load<f32>(ca + o) * load<f32>(s + o) + load<f32>(cbb + o), act));
  }
}

/** The dy prologue A*dbn + (B*xbn + C0) (xbn dlt bytes after dbn) of n pixels, as dwNormPix. */
static void dwDyPix(ux src, ux ps, ux dst, ux ds, i32 n, ux nb, ux c4, ux dA, ux dB, ux dC, ux dlt) {
  for (auto i = 0; i < n; i++) {
    const auto p = src + (ux)i * ps; const auto t = dst + (ux)i * ds;
    dwPrefetch(p + 16 * ps, nb);
    dwPrefetch(p + dlt + 16 * ps, nb);
    ux o = 0;
    for (; o + VB <= c4; o += VB) DW_VS(t + o, vfma(DW_VF(dA + o), DW_VF(p + o), vfma(DW_VF(dB + o), DW_VF(p + o + dlt), DW_VF(dC + o))));
    for (; o < c4; o += 16) v128_store(t + o, dyr(v128_load(dA + o), v128_load(dB + o), v128_load(dC + o), p + o, dlt));
    for (; o < nb; o += 4) store<f32>(t + o, load<f32>(dA + o) * load<f32>(p + o) + (load<f32>(dB + o) * load<f32>(p + o + dlt) + load<f32>(dC + o)));
  }
}

/**
 * conv_dw_fwd_f as whole rows: each input row the output rows need is normalised once into a ring
 * of R = (KH-1)*DH + 1 rows in the thread scratch (above SC_PACK, below the fusion region), the
 * row computed by dwRowFwd from the ring (from x itself without the x prologue) with its moments;
 * every element the same operations as the WebAssembly kernel's. Where the ring does not fit, or
 * more than 64 kernel rows or DW_MAXT taps, that kernel's loops.
 */
static void dw_fwd_f_wide(ux d, ux x, ux wt, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto cb = (ux)C << 2; const auto rowB = (ux)W * cb;
  const auto R = (KH - 1) * DH + 1;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto ring = scratch + SC_PACK;
  if (KH > 64 || R > 64 || KH * KW > DW_MAXT || (coef && ring + (ux)R * rowB > st)) {
    as_conv_dw_fwd_f(d, x, wt, bias, y, coef, act, mom, start, end, scratch);
    return;
  }
  if (mom) {
    memory_fill(st, 0, cb << 2);
    memory_fill(st + (cb << 2) + cb, 0, cb << 1);
  }
  const bool nt = dwStreams(y, (i64)ld(d, D_N) * OH * OW * C, C);
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
        dwNormPix(x + (ux)key * rowB, cb, r, cb, W, cb, cb - cb % 16, coef, coef + cb, act);
        tag[slot] = key;
      }
      rows[kh] = r;
    }
    // fresh: the rows of x the previous output row did not read (the rest are in the cache)
    u64 fresh = 0;
    for (auto kh = 0; kh < KH && !coef; kh++)
      if (row == start || kh * DH > (KH - 1) * DH - SH) fresh |= (u64)1 << kh;
    dwRowFwd(rows, fresh, wt, bias, y + (ux)row * (ux)OW * cb, C, W, KH, KW, SW, PW, DW, OW, mom ? st : 0, row == start, nt);
  }
  if (nt) _mm_sfence();
}

/** g * act'(z) on vf lanes, the operations of dactv on each lane. */
static inline vf dwDact(vf g, vf z, i32 act) {
#if BNFF_VW == 16
  if (act == ACT_RELU) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, vzero(), _CMP_NLE_UQ), g);
  if (act == ACT_RELU6)
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, vzero(), _CMP_GT_OQ) & _mm512_cmp_ps_mask(z, vsplat(6), _CMP_LT_OQ), g);
#else
  if (act == ACT_RELU) return _mm256_and_ps(g, _mm256_cmp_ps(z, vzero(), _CMP_NLE_UQ));
  if (act == ACT_RELU6) return _mm256_and_ps(g, _mm256_and_ps(_mm256_cmp_ps(z, vzero(), _CMP_GT_OQ), _mm256_cmp_ps(z, vsplat(6), _CMP_LT_OQ)));
#endif
  alignas(64) float pg[BNFF_VW], pz[BNFF_VW];
  vstore(pg, g);
  vstore(pz, z);
  for (int i = 0; i < BNFF_VW; i += 4) _mm_store_ps(pg + i, dactv(_mm_load_ps(pg + i), _mm_load_ps(pz + i), act));
  return vload(pg);
}

/**
 * One input row of the depthwise backward-data (a gather), every channel, into xp, from the rows
 * of dy its kernel rows read: rows[kh] the dy row (pixel 0) kernel row kh reads, 0 where none
 * does; dy pixels C floats apart. Each element the WebAssembly kernel's sum (the taps whose output
 * pixel is whole and in range, in (kh, kw) order, an FMA each, from zero). The pixels go by
 * classes of iw mod SW (one set of taps per class), in runs of 8 of a class where every tap of the
 * 8 reads inside the row (consecutive dy pixels), the edges one pixel at a time.
 */
static void dwRowBwdData(const ux *rows, u64 fresh, ux wt, ux xp, i32 C, i32 W, i32 KH, i32 KW, i32 SW, i32 PW, i32 DW, i32 OW, bool nt) {
  const auto cb = (ux)C << 2;
  const auto cw = cb - cb % VB;
  const auto os = (ux)SW * cb;
  // the taps of input pixel iw whose output pixel is whole and in range, in (kh, kw) order
  const auto taps = [&](DwTap *t, i32 iw) {
    i32 n = 0;
    for (auto kh = 0; kh < KH; kh++) {
      if (!rows[kh]) continue;
      for (auto kw = 0; kw < KW; kw++) {
        const auto tw = iw + PW - kw * DW;
        if (tw < 0) break;
        const auto ow = tw / SW;
        if (ow * SW == tw && ow < OW) t[n++] = {rows[kh] + (ux)ow * cb, wt + (ux)(kh * KW + kw) * cb};
      }
    }
    return n;
  };
  DwTap t[DW_MAXT];
  vf a[8];
  ux xk[64], wk[64];
  for (auto r = 0; r < SW && r < W; r++) {
    // the class's kernel columns: (r + PW - kw*DW) a multiple of SW
    i32 kmin = KW, kmax = -1;
    for (auto kw = 0; kw < KW; kw++) {
      if ((((r + PW - kw * DW) % SW) + SW) % SW == 0) {
        if (kmin == KW) kmin = kw;
        kmax = kw;
      }
    }
    // dilation 1 and 1, 2, 3 or 5 of them (every second with stride 2): runs of 8 of the class over the whole row (dwRunK)
    const auto ni = kmax < 0 ? 0 : (kmax - kmin) / SW + 1;
    const bool kfast = DW == 1 && (ni == 1 || ni == 2 || ni == 3 || ni == 5);
    for (auto iw = r; iw < W;) {
      const bool run = !kfast && iw + 7 * SW < W && (kmax < 0 || (iw + PW - kmax * DW >= 0 && iw + 7 * SW + PW - kmin * DW <= (OW - 1) * SW));
      const i32 np = kfast ? min(8, (W - 1 - iw) / SW + 1) : run ? 8 : 1;
      i32 ntap = 0, nk = 0;
      const auto o0 = kfast ? (iw + PW - kmax) / SW : 0;  // the dy pixel of j = 0 and the class's last tap (exact)
      if (kfast) {
        for (auto kh = 0; kh < KH; kh++) {
          if (!rows[kh]) continue;
          xk[nk] = rows[kh] + (ux)o0 * cb;
          wk[nk++] = wt + (ux)(kh * KW + kmin) * cb;
          if (fresh >> kh & 1) dwPrefetch(xk[nk - 1] + 24 * cb, 8 * cb);
        }
      } else ntap = taps(t, iw);
      const auto q = xp + (ux)iw * cb;
      for (ux co = 0; co < cw; co += VB) {
        if (kfast) {
          const i32 mlo = -o0, mhi = OW - 1 - o0;
          if (ni == 3) dwRunKE<3, 1, -1>(xk, wk, nk, os, cb, co, vzero(), mlo, mhi, a);
          else if (ni == 1) dwRunKE<1, 1, -1>(xk, wk, nk, os, cb, co, vzero(), mlo, mhi, a);
          else if (ni == 2) dwRunKE<2, 1, -1>(xk, wk, nk, os, cb, co, vzero(), mlo, mhi, a);
          else dwRunKE<5, 1, -1>(xk, wk, nk, os, cb, co, vzero(), mlo, mhi, a);
        } else if (run) dwRun<8>(t, ntap, co, cb, vzero(), a);
        else dwRun<1>(t, ntap, co, cb, vzero(), a);
        for (auto j = 0; j < np; j++) dwPut(q + (ux)j * os + co, a[j], nt);
      }
      for (auto j = 0; j < np && cw < cb; j++) dwTail(t, taps(t, iw + j * SW), 0, cw, cb, 0, q + (ux)j * os);
      iw += np * SW;
    }
  }
}

/**
 * conv_dw_bwd_data_f as whole rows: each dy row the input rows read is computed once (dy
 * prologue: A*dbn + (B*xbn + C0)) into a ring of R = (KH-1)*DH/SH + 1 rows in the thread scratch,
 * the row gathered by dwRowBwdData (from the ring, or dy itself) into dx, or with the dx epilogue
 * into a staging row in the scratch and then over the row (pixels, then channels, in order, as the
 * WebAssembly kernel applies it per pixel) into dx. Where the rows do not fit, or more than 64
 * kernel rows or DW_MAXT taps: that kernel's loops.
 */
static void dw_bwd_data_f_wide(ux d, ux src, ux wt, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto cb = (ux)C << 2; const auto orow = (ux)OW * cb; const auto irow = (ux)W * cb;
  const auto st = scratch + (ux)ld(d, D_FPART);
  const auto s32 = st + (ux)C * 20; const auto q32 = st + (ux)C * 24;
  const auto R = (KH - 1) * DH / SH + 1;
  const auto stage = scratch + SC_PACK;
  const auto ring = stage + (x2 ? irow : 0);
  if (KH > 64 || R > 64 || KH * KW > DW_MAXT || ring + (cdy ? (ux)R * orow : 0) > st) {
    as_conv_dw_bwd_data_f(d, src, wt, dx, dlt, cdy, x2, c2, m2, act, start, end, scratch);
    return;
  }
  if (x2) {
    memory_fill(st, 0, cb << 2);
    memory_fill(s32, 0, cb << 1);
  }
  const bool nt = dwStreams(dx, (i64)ld(d, D_N) * H * W * C, C);
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
        dwDyPix(g, cb, r, cb, OW, cb, cb - cb % 16, cdy, cdy + cb, cdy + 2 * cb, dlt);
        tag[slot] = key;
      }
      rows[kh] = r;
    }
    const auto xr = dx + (ux)row * irow;
    // fresh: the rows of dy the previous input row did not read (the first, the highest oh)
    u64 fresh = 0;
    for (auto kh = 0; kh < KH && !cdy; kh++) {
      if (!rows[kh]) continue;
      fresh |= (u64)1 << kh;
      if (row != start) break;
    }
    dwRowBwdData(rows, fresh, wt, x2 ? stage : xr, C, W, KH, KW, SW, PW, DW, OW, nt && !x2);
    if (!x2) continue;
    const auto x2r = x2 + (ux)row * irow;
    const auto cw = cb - cb % VB;
    for (auto iw = 0; iw < W; iw++) {
      const auto sp = stage + (ux)iw * cb; const auto xp = xr + (ux)iw * cb; const auto x2p = x2r + (ux)iw * cb;
      dwPrefetch(x2p + 16 * cb, cb);
      ux co = 0;
      for (; co < cw; co += VB) {
        auto a0 = DW_VF(sp + co);
        const auto xv = DW_VF(x2p + co);
        if (act) a0 = dwDact(a0, vfma(xv, DW_VF(c2 + co), DW_VF(c2 + cb + co)), act);
        DW_VS(s32 + co, vadd(DW_VF(s32 + co), a0));
        DW_VS(q32 + co, vfma(a0, vsub(xv, DW_VF(m2 + co)), DW_VF(q32 + co)));
        dwPut(xp + co, a0, nt);
      }
      for (; co + 16 <= cb; co += 16) {
        auto a0 = v128_load(sp + co);
        const auto xv = v128_load(x2p + co);
        if (act) a0 = dactv(a0, fma(xv, v128_load(c2 + co), v128_load(c2 + cb + co)), act);
        v128_store(s32 + co, f32x4_add(v128_load(s32 + co), a0));
        v128_store(q32 + co, fma(a0, f32x4_sub(xv, v128_load(m2 + co)), v128_load(q32 + co)));
        v128_store(xp + co, a0);
      }
      for (; co < cb; co += 4) {
        f32 s = load<f32>(sp + co);
        const f32 xv = load<f32>(x2p + co);
        if (act) s = dacts(s, load<f32>(c2 + co) * xv + load<f32>(c2 + cb + co), act);
        store<f32>(s32 + co, load<f32>(s32 + co) + s);
        store<f32>(q32 + co, load<f32>(q32 + co) + s * (xv - load<f32>(m2 + co)));
        store<f32>(xp + co, s);
      }
    }
    dwFlush(st, s32, C);
  }
  if (nt) _mm_sfence();
}

/**
 * The taps (kh, 0..KW_) of one kernel row, for NB vf blocks of channels (VB bytes apart; one block
 * of nl lanes, masked, when MASK), along one output row: acc[b][kw] (at ap, taps tb bytes apart)
 * += dy(ow) * x(ow*SW - PW + kw*DW) over ow in order, in registers (NB*KW_ independent chains);
 * dy at gr, gs bytes a pixel, x at xr, xs bytes a pixel. The taps outside the row are skipped
 * (tested only at the row's ends). gn, xn (when not 0): the distance to the next output row's dy
 * and x lines, prefetched into L2 as this row's are read.
 */
template <int KW_, int NB, bool MASK>
static inline void dwAccKh(ux ap, ux tb, ux gr, ux gs, ux xr, ux xs, ux gn, ux xn, i32 SW, i32 PW, i32 DW, i32 W, i32 OW, int nl) {
  const auto LD = [nl](ux p) { return MASK ? vload_n((const float *)(gM + (size_t)p), nl) : DW_VF(p); };
  vf acc[NB][KW_];
  for (int b = 0; b < NB; b++)
    for (int kw = 0; kw < KW_; kw++) acc[b][kw] = LD(ap + (ux)kw * tb + (ux)b * VB);
  // [lo, hi): the output pixels whose taps all lie inside the row
  auto lo = PW > 0 ? (PW + SW - 1) / SW : 0;
  const auto top = W - 1 + PW - (KW_ - 1) * DW;
  auto hi = top < 0 ? 0 : top / SW + 1;
  if (lo > OW) lo = OW;
  if (hi > OW) hi = OW;
  if (hi < lo) hi = lo;
  const auto pix = [&](i32 ow, bool edge) {
    const auto iw0 = ow * SW - PW;
    if (gn) dwPrefetch(gr + gn + (ux)ow * gs, NB * VB);
    if (xn)
      for (auto k = 0; k < SW; k++) dwPrefetch(xr + xn + (ux)(iw0 + k) * xs, NB * VB);
    for (int b = 0; b < NB; b++) {
      const vf g = LD(gr + (ux)ow * gs + (ux)b * VB);
      for (int kw = 0; kw < KW_; kw++) {
        const auto iw = iw0 + kw * DW;
        if (edge && (ux)iw >= (ux)W) continue;
        acc[b][kw] = vfma(g, LD(xr + (ux)iw * xs + (ux)b * VB), acc[b][kw]);
      }
    }
  };
  for (auto ow = 0; ow < lo; ow++) pix(ow, true);
  for (auto ow = lo; ow < hi; ow++) pix(ow, false);
  for (auto ow = hi; ow < OW; ow++) pix(ow, true);
  for (int b = 0; b < NB; b++) {
    for (int kw = 0; kw < KW_; kw++) {
      const auto a = ap + (ux)kw * tb + (ux)b * VB;
      if (MASK) vstore_n((float *)(gM + (size_t)a), acc[b][kw], nl);
      else DW_VS(a, acc[b][kw]);
    }
  }
}
template <int NB, bool MASK> static void dwAccRow(i32 KW, ux ap, ux tb, ux gr, ux gs, ux xr, ux xs, ux gn, ux xn, i32 SW, i32 PW, i32 DW, i32 W, i32 OW, int nl) {
  switch (KW) {
    case 1: return dwAccKh<1, NB, MASK>(ap, tb, gr, gs, xr, xs, gn, xn, SW, PW, DW, W, OW, nl);
    case 3: return dwAccKh<3, NB, MASK>(ap, tb, gr, gs, xr, xs, gn, xn, SW, PW, DW, W, OW, nl);
    case 5: return dwAccKh<5, NB, MASK>(ap, tb, gr, gs, xr, xs, gn, xn, SW, PW, DW, W, OW, nl);
  }
  // other widths one tap at a time: tap kw is the 1-wide kernel at padding PW - kw*DW
  for (auto kw = 0; kw < KW; kw++) dwAccKh<1, NB, MASK>(ap + (ux)kw * tb, tb, gr, gs, xr, xs, gn, xn, SW, PW - kw * DW, DW, W, OW, nl);
}

/**
 * Backward-weights as conv_dw_bwd_w(_f) for the channels [start, end): per image, output rows in
 * order, each kernel row's taps accumulated in registers along the output row for each vf block of
 * the range (channels inner, so each pixel's lines are read together), the per-image partials
 * (from zero) then added to the total: for one tap and channel the sum runs over (oh, ow) in order
 * as in the WebAssembly kernel, an FMA each (its scalar channels, the range's last end % 4, a
 * multiply and an add), so every element is its sum. Fused (cdy or coef): the row of dy computed
 * once per output row (A*dbn + (B*xbn + C0)) and each input row normalised once per image
 * (act(a*x + b)) into the thread scratch, in the WebAssembly kernel's operations. Rows that do not
 * fit: its loops.
 */
static void dwBwdWRange(ux d, ux dy, ux x, ux out, ux dlt, ux cdy, ux coef, i32 act, i32 n0, i32 n1, i32 start, i32 end, ux scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto T = KH * KW;
  const auto nc = end - start;
  const auto rb = (ux)nc * 4;  // bytes of one tap's channels (and of one staged pixel)
  const auto tot = scratch + SC_PACK;
  const auto part = tot + (ux)T * rb;
  const auto gbuf = part + (ux)T * rb;
  const auto xring = gbuf + (cdy ? (ux)OW * rb : 0);
  const auto R = (KH - 1) * DH + 1;
  if (nc <= 0) return;
  if (R > 64 || xring + (coef ? (ux)R * (ux)W * rb : 0) > scratch + ((ux)4 << 20)) {
    as_conv_dw_bwd_w_f(d, dy, x, out, dlt, cdy, coef, act, n0, n1, start, end, scratch);
    return;
  }
  const auto pixB = (ux)C * 4; const auto cbo = (ux)start << 2;
  const auto c4 = nc - nc % 4;             // channels by FMA; [c4, nc) as the scalar loop
  const auto cv = c4 - c4 % BNFF_VW;       // whole vf blocks; [cv, c4) one masked block
  const auto ca = coef + cbo; const auto cbb = coef + pixB + cbo;
  const auto dA = cdy + cbo; const auto dB = cdy + pixB + cbo; const auto dC = cdy + 2 * pixB + cbo;
  memory_fill(tot, 0, (ux)T * rb);
  for (auto n = n0; n < n1; n++) {
    memory_fill(part, 0, (ux)T * rb);
    const auto xn = x + (ux)n * (ux)H * (ux)W * pixB + cbo;
    i32 tag[64];
    for (auto i = 0; i < R; i++) tag[i] = -1;
    for (auto oh = 0; oh < OH; oh++) {
      auto gr = dy + (ux)((n * OH + oh) * OW) * pixB + cbo;
      auto gs = pixB;
      if (cdy) {
        dwDyPix(gr, pixB, gbuf, rb, OW, rb, (ux)c4 * 4, dA, dB, dC, dlt);
        gr = gbuf;
        gs = rb;
      }
      for (auto kh = 0; kh < KH; kh++) {
        const auto ih = oh * SH - PH + kh * DH;
        if ((ux)ih >= (ux)H) continue;
        auto xr = xn + (ux)ih * (ux)W * pixB;
        auto xs = pixB;
        if (coef) {
          const auto slot = ih % R;
          const auto r = xring + (ux)slot * (ux)W * rb;
          if (tag[slot] != ih) {
            dwNormPix(xr, pixB, r, rb, W, rb, (ux)c4 * 4, ca, cbb, act);
            tag[slot] = ih;
          }
          xr = r;
          xs = rb;
        }
        const auto ap = part + (ux)(kh * KW) * rb;
        // the next output row's lines, into L2 while this one runs (dy once, x where read from x)
        const auto gn = cdy || kh ? 0 : (ux)OW * pixB;
        const auto xn = coef || kh * DH <= (KH - 1) * DH - SH ? 0 : (ux)SH * (ux)W * pixB;
        // blocks of DW_NB vf (more independent FMA chains), then one at a time, then the masked one
        ux o = 0;
        for (; o + DW_NB * VB <= (ux)cv * 4; o += DW_NB * VB) dwAccRow<DW_NB, false>(KW, ap + o, rb, gr + o, gs, xr + o, xs, gn, xn, SW, PW, DW, W, OW, BNFF_VW);
        for (; o < (ux)cv * 4; o += VB) dwAccRow<1, false>(KW, ap + o, rb, gr + o, gs, xr + o, xs, gn, xn, SW, PW, DW, W, OW, BNFF_VW);
        if (c4 > cv) dwAccRow<1, true>(KW, ap + o, rb, gr + o, gs, xr + o, xs, gn, xn, SW, PW, DW, W, OW, c4 - cv);
        for (ux o = (ux)c4 * 4; o < rb; o += 4) {
          for (auto kw = 0; kw < KW; kw++) {
            const auto a = ap + (ux)kw * rb + o;
            f32 s = load<f32>(a);
            for (auto ow = 0; ow < OW; ow++) {
              const auto iw = ow * SW - PW + kw * DW;
              if ((ux)iw >= (ux)W) continue;
              s = s + load<f32>(gr + (ux)ow * gs + o) * load<f32>(xr + (ux)iw * xs + o);
            }
            store<f32>(a, s);
          }
        }
      }
    }
    for (ux o = 0; o < (ux)T * rb; o += 4) store<f32>(tot + o, load<f32>(tot + o) + load<f32>(part + o));
  }
  for (auto c = 0; c < nc; c++) {
    for (auto tap = 0; tap < T; tap++) store<f32>(out + ((ux)((start + c) * T + tap) << 2), load<f32>(tot + (ux)tap * rb + ((ux)c << 2)));
  }
}

/**
 * conv_dw_bwd_w(_f) for the groups of images [start, end) (dwGroups): each group's sum over its
 * images, every channel, into acc[group][c][tap] (dwBwdWRange); conv_dw_bwd_w_out adds them.
 */
static void dw_bwd_w_wide(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux coef, i32 act, i32 start, i32 end, ux scratch) {
  const auto N = ld(d, D_N); const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  const auto G = dwGroups(N);
  for (auto g = start; g < end; g++) dwBwdWRange(d, dy, x, acc + (ux)g * (ux)(C * T) * 4, dlt, cdy, coef, act, g * N / G, (g + 1) * N / G, 0, C, scratch);
}

/** dw[c][tap] = the groups' sums acc[g][c][tap] added in order from zero. Units: channels. */
void conv_dw_bwd_w_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  const auto d = (ux)(int64_t)a[0]; const auto acc = (ux)(int64_t)a[1]; const auto dw = (ux)(int64_t)a[2];
  const auto T = ld(d, D_KH) * ld(d, D_KW); const auto G = dwGroups(ld(d, D_N));
  const auto gs = (ux)(ld(d, D_C) * T) << 2;
  for (auto i = start * T; i < end * T; i++) {
    f32 s = 0;
    for (auto g = 0; g < G; g++) s += load<f32>(acc + (ux)g * gs + ((ux)i << 2));
    store<f32>(dw + ((ux)i << 2), s);
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
      {"conv_dw_bwd_w_out", 3, conv_dw_bwd_w_out},
      {"conv_dw_fwd_f", 8, conv_dw_fwd_f},
      {"conv_dw_bwd_data_f", 10, conv_dw_bwd_data_f},
      {"conv_dw_bwd_w_f", 8, conv_dw_bwd_w_f},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
