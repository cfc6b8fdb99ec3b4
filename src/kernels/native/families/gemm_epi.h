// The fused epilogues after the wide kernel (gemm_wide.h): the moments epilogue (mkmRegs) and the
// dx epilogue (mkxRegs) on one 8-channel panel's tile (__m256 rows), or with AVX-512 on a
// micro-panel's two panels at once (16 channels a __m512 row: mkmRegs16, mkxRegs16). One template
// per epilogue over the vector width (W8, W16): per lane the operations of mkm / mkx after their
// write-back, in their order, so the bits are the WebAssembly kernels' at either width. Included
// by gemm_common.h inside its ISA namespace.
#pragma once

/** The 8-float vector the epilogues work on (one panel). */
struct W8 {
  typedef __m256 V;
  static constexpr int groups = 1; // 8-channel groups of the f64 partials
  static V load(const float *p) { return _mm256_loadu_ps(p); }
  static void store(float *p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  /** dy * act'(z), every ACT_* code (actGradv). */
  static V actGrad(i32 act, V z, V dy) { return actGradv(act, z, dy); }
};

#if BNFF_VW == 16
/** Two panels' 16 floats in one 512-bit vector. */
struct W16 {
  typedef __m512 V;
  static constexpr int groups = 2;
  static V load(const float *p) { return _mm512_loadu_ps(p); }
  static void store(float *p, V v) { _mm512_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  /** dy * act'(z) for ReLU and ReLU6 (reluGrad, relu6Grad per lane, through mask registers); the callers check the code. */
  static V actGrad(i32 act, V z, V dy) {
    __mmask16 off = _mm512_cmp_ps_mask(z, zero(), _CMP_LE_OQ);
    if (act == ACT_RELU6) off = _kor_mask16(off, _mm512_cmp_ps_mask(z, set1(6.0f), _CMP_GE_OQ));
    return _mm512_maskz_mov_ps(_knot_mask16(off), dy);
  }
  /** Panel 0's row and panel 1's as one vector. */
  static V join(__m256 lo, __m256 hi) { return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1); }
};
#endif

/** One panel's (W8) or two panels' (W16) shift and f32 sums, kept in registers across the tiles of a wide-kernel call. */
template <class W> struct MomRunT {
  typename W::V k, s, q;
};
typedef MomRunT<W8> MomRun;

/** flushSums over the W's 8-channel groups (each zeroes its f32 sums). */
template <class W> static inline void flushGroups(ux s32, ux so, ux s64, ux qo) {
  for (int g = 0; g < W::groups; g++) flushSums(s32 + (ux)g * 32, so, s64 + (ux)g * 64, qo, 8);
}

/**
 * mkm's statistics epilogue for a tile whose final values the wide kernel has stored (rows c[0..3];
 * c[0] a real row, d1..d3 whether rows 1-3 are): the same operations in the same order as mkm after
 * its write-back, on the values it would have had in registers. The shift and sums (at sh, sh +
 * ko, sh + 2*ko) are loaded at the call's first tile (first) and stored at its last (last) or at a
 * flush into the f64 partials: in between they stay in m (a float stored and reloaded is the same
 * float).
 */
template <class W>
static inline __attribute__((always_inline)) void mkmRegsT(const typename W::V *c, bool d1, bool d2, bool d3, ux sh, ux ko, i32 init, ux s64, MomRunT<W> &m,
                                                          bool first, bool last) {
  typedef typename W::V V;
  float *shp = (float *)(gM + (size_t)sh), *spp = shp + (ko >> 2), *qpp = spp + (ko >> 2);
  if (first) {
    if (init) {
      V t = c[0];
      f32 n = 1;
      if (d1) { t = W::add(t, c[1]); n += 1; }
      if (d2) { t = W::add(t, c[2]); n += 1; }
      if (d3) { t = W::add(t, c[3]); n += 1; }
      W::store(shp, W::mul(t, W::set1(1 / n)));
    }
    m.k = W::load(shp);
    m.s = W::load(spp);
    m.q = W::load(qpp);
  }
  const V k = m.k;
  V sv = W::sub(c[0], k);
  V q = W::mul(sv, sv);
  if (d1) { const V e = W::sub(c[1], k); sv = W::add(sv, e); q = W::fma(e, e, q); }
  if (d2) { const V e = W::sub(c[2], k); sv = W::add(sv, e); q = W::fma(e, e, q); }
  if (d3) { const V e = W::sub(c[3], k); sv = W::add(sv, e); q = W::fma(e, e, q); }
  m.s = W::add(m.s, sv);
  m.q = W::add(m.q, q);
  if (s64 || last) {
    W::store(spp, m.s);
    W::store(qpp, m.q);
  }
  if (s64) {
    flushGroups<W>(sh + ko, ko, s64, ko << 1);
    m.s = m.q = W::zero();
  }
}

/**
 * mkx's dx epilogue for a tile the wide kernel computed (rows c[0..3]: the reduction only, as mkx's
 * registers before its write-back): the same operations per lane in the same order as mkx's
 * write-back, into d0..d3 (0: no row).
 */
template <class W>
static inline __attribute__((always_inline)) void mkxRegsT(const typename W::V *cv, ux d0, ux d1, ux d2, ux d3, i32 add, ux xr, ux ldx, ux cf, ux cb, ux cm,
                                                          i32 act, ux st, ux qo, ux s64, i32 acc) {
  typedef typename W::V V;
  const auto at = [](ux off) { return (float *)(gM + (size_t)off); };
  const V a2 = W::load(at(cf)), b2 = W::load(at(cf + cb)), mu = W::load(at(cm));
  V sv = W::zero(), q = W::zero();
  const ux dr[4] = {d0, d1, d2, d3};
#pragma GCC unroll 4
  for (i32 r = 0; r < 4; r++) {
    const ux dd = dr[r];
    if (dd) {
      float *dp = at(dd);
      V c = cv[r];
      if (add) c = W::add(W::load(dp), c);
      const V xv = W::load(at(xr));
      if (act) c = W::actGrad(act, W::fma(xv, a2, b2), c);
      if (acc) W::store(dp, W::fma(c, a2, W::load(dp)));
      else W::store(dp, c);
      if (r == 0) {
        sv = c;
        q = W::mul(c, W::sub(xv, mu));
      } else {
        sv = W::add(sv, c);
        q = W::fma(c, W::sub(xv, mu), q);
      }
    }
    xr += ldx;
  }
  float *stp = at(st), *qp = at(st + qo);
  W::store(stp, W::add(W::load(stp), sv));
  W::store(qp, W::add(W::load(qp), q));
  if (s64) flushGroups<W>(st, qo, s64, qo << 1);
}

/** The moments epilogue on one panel's tile. */
static inline __attribute__((always_inline)) void mkmRegs(const __m256 *v, bool d1, bool d2, bool d3, ux sh, ux ko, i32 init, ux s64, MomRun &m, bool first,
                                                         bool last) {
  mkmRegsT<W8>(v, d1, d2, d3, sh, ko, init, s64, m, first, last);
}

/** The dx epilogue on one panel's tile, every activation and the accumulating epilogue (acc). */
static inline __attribute__((always_inline)) void mkxRegs(const __m256 *v, ux d0, ux d1, ux d2, ux d3, i32 add, ux xr, ux ldx, ux cf, ux cb, ux cm, i32 act,
                                                         ux st, ux qo, ux s64, i32 acc) {
  mkxRegsT<W8>(v, d0, d1, d2, d3, add, xr, ldx, cf, cb, cm, act, st, qo, s64, acc);
}

#if BNFF_VW == 16
typedef MomRunT<W16> MomRun16;

/** The moments epilogue on a micro-panel's two panels at once (panel 0's rows v0, panel 1's v1; shift and sums 16 floats wide). */
static inline __attribute__((always_inline)) void mkmRegs16(const __m256 *v0, const __m256 *v1, bool d1, bool d2, bool d3, ux sh, ux ko, i32 init, ux s64,
                                                           MomRun16 &m, bool first, bool last) {
  const __m512 c[4] = {W16::join(v0[0], v1[0]), W16::join(v0[1], v1[1]), W16::join(v0[2], v1[2]), W16::join(v0[3], v1[3])};
  mkmRegsT<W16>(c, d1, d2, d3, sh, ko, init, s64, m, first, last);
}

/** The dx epilogue on a micro-panel's two panels at once, for act none, ReLU or ReLU6 and no accumulating epilogue (the callers check). */
static inline __attribute__((always_inline)) void mkxRegs16(const __m256 *v0, const __m256 *v1, ux d0, ux d1, ux d2, ux d3, i32 add, ux xr, ux ldx, ux cf,
                                                           ux cb, ux cm, i32 act, ux st, ux qo, ux s64) {
  const __m512 c[4] = {W16::join(v0[0], v1[0]), W16::join(v0[1], v1[1]), W16::join(v0[2], v1[2]), W16::join(v0[3], v1[3])};
  mkxRegsT<W16>(c, d0, d1, d2, d3, add, xr, ldx, cf, cb, cm, act, st, qo, s64, 0);
}
#endif
