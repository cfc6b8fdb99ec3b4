// Winograd F(2x2, 3x3) convolutions: the native twins of the conv_wino* kernels of
// src/kernels/wasm/winograd.ts (same names, arguments, work ranges, descriptor fields and per-thread
// scratch layout: the host, src/kernels/conv.ts, is shared). Design: docs/design/conv-kernels.md
// ("Winograd F(2x2, 3x3)") and docs/design/native-engine.md.
//
// Every output element is computed with the same float operations in the same order as the
// WebAssembly kernel, so the results are bit-identical to the wasm engine (and across thread
// counts); only the vectorisation differs:
// - transforms (input B^T d B, output A^T M A, the BN prologues, the moments and dx epilogues) are
//   elementwise over channels: they run VW channels at a time (then 4 at a time for the tail);
// - the forward's 16 batched dot products over C: the wasm kernel keeps, per output element, four
//   partial sums over c = l mod 4 (the lanes of its f32x4 accumulators) and adds them as
//   (p0 + p2) + (p1 + p3) (hsum4). Here the output channels are the vector lanes (V is packed
//   in column blocks [K/KW][xi][c][KW] instead of [xi][k][C], a layout private to these kernels)
//   and each output keeps its four partial sums in four registers: T tiles x NV vectors x 4
//   accumulators, the same chains.
// - backward-weights: Z[xi][k][c] = sum over the chunk's tiles in order (one chain from zero per
//   chunk, then added to Z), as the wasm 4x8 micro-kernel, with a 12x32 (AVX-512) or 4x24 (AVX2)
//   register tile; the transformed tiles are laid out [xi][tile][channels] (dY: all K; x: the
//   thread's channels; scratch private to this kernel, the same bytes as the wasm kernel's panels)
//   so that the transforms and the tile's rows are whole vectors.
#include "../core/kernel.h"
#include "../core/abi.h"

BNFF_BEGIN
#include "../core/vec.h"

namespace {

typedef uint64_t ux;  // byte offsets into the arena (64-bit: see gemm_common.h)

// ---- per-thread scratch layout (wasm/common/conv.ts SC_*) ----
const ux SC_ROWS = 256;    // tap table, then the product tile (here: the product buffer)
const ux SC_ZBUF = 61440;  // zeros for taps outside the image (up to 1024 channels)
const ux SC_PACK = 65536;  // U block (forward) / DY and X chunks (backward-weights), then the window
// bytes between SC_ROWS + 64 and SC_ZBUF: the forward's products M[xi][tile][k] of a tile group
const ux MBUF_BYTES = SC_ZBUF - SC_ROWS - 64;

inline int32_t ld(uint8_t *M, ux d, int i) { return *BNFF_AT(int32_t, d + 4u * (ux)i); }
inline float *F(uint8_t *M, ux off) { return BNFF_AT(float, off); }

// ---- elementwise vector traits: Q4 (128-bit, the wasm f32x4) and QF (the widest vector) ----
struct Q4 {
  typedef v4 T;
  enum { N = 4 };
  static T load(const float *p) { return _mm_loadu_ps(p); }
  static void store(float *p, T v) { _mm_storeu_ps(p, v); }
  static T zero() { return _mm_setzero_ps(); }
  static T splat(float s) { return _mm_set1_ps(s); }
  static T add(T a, T b) { return _mm_add_ps(a, b); }
  static T sub(T a, T b) { return _mm_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm_mul_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm_fmadd_ps(a, b, c); }
  static T neg(T a) { return _mm_xor_ps(a, _mm_set1_ps(-0.0f)); }
  // reluv: v where v > 0 or NaN, else +0
  static T relu(T v) { return _mm_and_ps(v, _mm_cmp_ps(v, _mm_setzero_ps(), _CMP_NLE_UQ)); }
  // g where t > 0 or t is NaN (andnot(g, t <= 0))
  static T keep(T g, T t) { return _mm_and_ps(g, _mm_cmp_ps(t, _mm_setzero_ps(), _CMP_NLE_UQ)); }
};

struct QF {
  typedef vf T;
  enum { N = BNFF_VW };
  static T load(const float *p) { return vload(p); }
  static void store(float *p, T v) { vstore(p, v); }
  static T zero() { return vzero(); }
  static T splat(float s) { return vsplat(s); }
  static T add(T a, T b) { return vadd(a, b); }
  static T sub(T a, T b) { return vsub(a, b); }
  static T mul(T a, T b) { return vmul(a, b); }
  static T fma(T a, T b, T c) { return vfma(a, b, c); }
#if BNFF_VW == 16
  static T neg(T a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u))); }
  static T keep(T g, T t) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_NLE_UQ), g); }
#else
  static T neg(T a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static T keep(T g, T t) { return _mm256_and_ps(g, _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_NLE_UQ)); }
#endif
  static T relu(T v) { return vrelu(v); }
};

/** f(traits, c) over the byte offsets c of [cs, ce) (multiples of 16): VW channels at a time, then 4. */
template <class Fn>
inline void chans(ux cs, ux ce, Fn f) {
  ux c = cs;
  for (; c + 4 * BNFF_VW <= ce; c += 4 * BNFF_VW) f(QF(), c);
  for (; c < ce; c += 16) f(Q4(), c);
}

// ---- the normalised window (winograd.ts wRing, wRow) ----
struct RingState {
  int32_t n, done;
};

inline ux wRow(ux win, int ih, int WW, ux cb) { return win + (ux)((ih + 4) & 3) * (ux)WW * cb; }

void wRing(uint8_t *M, ux win, RingState &rs, ux x, ux xsb, int n, int tr, int H, int W, int PH, int PW, int WW, ux cb,
           int kind, ux coef, int relu, ux dlt, ux cs, ux ce) {
  const int lo = 2 * tr - PH, hi = lo + 3;
  int done = rs.done;
  if (rs.n != n) done = lo - 1;
  for (int ih = (lo > done + 1 ? lo : done + 1); ih <= hi; ih++) {
    const ux dst = wRow(win, ih, WW, cb);
    const ux rowB = (ux)WW * cb;
    if (ih < 0 || ih >= H) {
      memset(M + dst, 0, rowB);
      continue;
    }
    memset(M + dst, 0, (ux)PW * cb);
    memset(M + dst + (ux)(PW + W) * cb, 0, (ux)(WW - PW - W) * cb);
    ux src = x + ((ux)(n * H + ih) * (ux)W) * xsb;
    ux o = dst + (ux)PW * cb;
    const float *ca = F(M, coef), *cbv = F(M, coef + cb), *cc = F(M, coef + 2 * cb);
    for (int iw = 0; iw < W; iw++) {
      const float *s = F(M, src), *s2 = F(M, src + dlt);
      float *out = F(M, o);
      if (kind == 1) {
        chans(cs, ce, [&](auto q, ux c) {
          typedef decltype(q) V;
          const ux e = c >> 2;
          typename V::T v = V::fma(V::load(ca + e), V::load(s + e), V::load(cbv + e));
          if (relu) v = V::relu(v);
          V::store(out + e, v);
        });
      } else {
        chans(cs, ce, [&](auto q, ux c) {
          typedef decltype(q) V;
          const ux e = c >> 2;
          V::store(out + e, V::fma(V::load(ca + e), V::load(s + e), V::fma(V::load(cbv + e), V::load(s2 + e), V::load(cc + e))));
        });
      }
      src += xsb;
      o += cb;
    }
  }
  rs.n = n;
  rs.done = hi;
}

// ---- input transform (winograd.ts wInTile) ----
/**
 * B^T d B of one tile (16 tap offsets at pt, mask: bit i set where tap i is inside the image),
 * channels [cs, ce) (bytes): channel byte c of xi at u + xi*xs + c.
 */
template <bool FUSED>
void wInTile(uint8_t *M, const ux *pt, int mask, ux u, ux cb, int kind, ux coef, int relu, ux dlt, ux cs, ux ce, ux xs) {
  chans(cs, ce, [&](auto q, ux c) {
    typedef decltype(q) V;
    typedef typename V::T T;
    T ca = V::zero(), cbv = V::zero(), cc = V::zero();
    if (FUSED && kind != 0) {
      ca = V::load(F(M, coef + c));
      cbv = V::load(F(M, coef + cb + c));
      if (kind == 2) cc = V::load(F(M, coef + 2 * cb + c));
    }
    auto tap = [&](int i) -> T {
      const ux p = pt[i] + c;
      if (!FUSED || kind == 0) return V::load(F(M, p));
      if (!((mask >> i) & 1)) return V::zero();
      if (kind == 1) {
        const T v = V::fma(ca, V::load(F(M, p)), cbv);
        return relu ? V::relu(v) : v;
      }
      return V::fma(ca, V::load(F(M, p)), V::fma(cbv, V::load(F(M, p + dlt)), cc));
    };
    const ux o = u + c;
    auto st = [&](int xi, T v) { V::store(F(M, o + (ux)xi * xs), v); };
    T a0 = tap(8), a1 = tap(9), a2 = tap(10), a3 = tap(11);
    const T h20 = V::sub(a0, a2), h21 = V::add(a1, a2), h22 = V::sub(a2, a1), h23 = V::sub(a1, a3);
    a0 = tap(0); a1 = tap(1); a2 = tap(2); a3 = tap(3);
    st(0, V::sub(V::sub(a0, a2), h20));
    st(1, V::sub(V::add(a1, a2), h21));
    st(2, V::sub(V::sub(a2, a1), h22));
    st(3, V::sub(V::sub(a1, a3), h23));
    a0 = tap(4); a1 = tap(5); a2 = tap(6); a3 = tap(7);
    const T h10 = V::sub(a0, a2), h11 = V::add(a1, a2), h12 = V::sub(a2, a1), h13 = V::sub(a1, a3);
    st(4, V::add(h10, h20));
    st(5, V::add(h11, h21));
    st(6, V::add(h12, h22));
    st(7, V::add(h13, h23));
    st(8, V::sub(h20, h10));
    st(9, V::sub(h21, h11));
    st(10, V::sub(h22, h12));
    st(11, V::sub(h23, h13));
    a0 = tap(12); a1 = tap(13); a2 = tap(14); a3 = tap(15);
    st(12, V::sub(h10, V::sub(a0, a2)));
    st(13, V::sub(h11, V::add(a1, a2)));
    st(14, V::sub(h12, V::sub(a2, a1)));
    st(15, V::sub(h13, V::sub(a1, a3)));
  });
}

/** The 16 tap offsets (zb where outside the image) of tile t (flattened (n, tr, tc)); returns the inside mask. */
int wTapTable(ux *pt, ux x, ux zb, int t, int TW, int TH, int H, int W, int PH, int PW, ux xsb) {
  const int u = t / TW, tc = t - u * TW, n = u / TH, tr = u - n * TH;
  const int ih0 = 2 * tr - PH, iw0 = 2 * tc - PW;
  const ux xn = x + (ux)n * (ux)H * (ux)W * xsb;
  const ux C = xsb >> 2;
  int mask = 0;
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 4; j++) {
      const int ih = ih0 + i, iw = iw0 + j;
      ux p = 0;
      if (xn && (ux)ih < (ux)H && (ux)iw < (ux)W) p = xn + (((ux)(ih * W + iw) * C) << 2);
      pt[i * 4 + j] = p ? p : zb;
      if (p) mask |= 1 << (i * 4 + j);
    }
  }
  return mask;
}

// ---- output transform (winograd.ts wOutTile), channels [c0, c1) bytes relative to the pass ----
/**
 * A^T M A of one tile (M[xi] at m + xi*mxs floats, channel byte c at m + c) + bias, stored into the
 * valid pixels of its 2x2 output tile at y0 (+ the channel byte offset ko + c). sm != 0: the
 * moments epilogue (shift at sm, f32 sums at sm + kb, sm + 2*kb; shift set when init).
 */
void wOutTile(uint8_t *M, const float *m, size_t mxs, ux y0, ux rs, bool two_r, bool two_c, ux bias, ux ko, ux nb, ux kb,
              ux sm, bool init, ux yb) {
  chans(0, nb, [&](auto q, ux c) {
    typedef decltype(q) V;
    typedef typename V::T T;
    const float *mc = m + (c >> 2);
    const T bv = bias ? V::load(F(M, bias + ko + c)) : V::zero();
    T s0[4], s1[4];
    for (int j = 0; j < 4; j++) {
      const T m0 = V::load(mc + j * mxs), m1 = V::load(mc + (4 + j) * mxs), m2 = V::load(mc + (8 + j) * mxs), m3 = V::load(mc + (12 + j) * mxs);
      s0[j] = V::add(V::add(m0, m1), m2);
      s1[j] = V::sub(V::sub(m1, m2), m3);
    }
    const T y00 = V::add(V::add(V::add(s0[0], s0[1]), s0[2]), bv), y01 = V::add(V::sub(V::sub(s0[1], s0[2]), s0[3]), bv);
    const T y10 = V::add(V::add(V::add(s1[0], s1[1]), s1[2]), bv), y11 = V::add(V::sub(V::sub(s1[1], s1[2]), s1[3]), bv);
    const ux yo = y0 + ko + c;
    V::store(F(M, yo), y00);
    if (two_c) V::store(F(M, yo + yb), y01);
    if (two_r) {
      V::store(F(M, yo + rs), y10);
      if (two_c) V::store(F(M, yo + rs + yb), y11);
    }
    if (sm) {
      const ux s = sm + ko + c;
      if (init) V::store(F(M, s), y00);
      const T sh = V::load(F(M, s));
      T e = V::sub(y00, sh);
      T sv = e, qv = V::mul(e, e);
      if (two_c) { e = V::sub(y01, sh); sv = V::add(sv, e); qv = V::fma(e, e, qv); }
      if (two_r) {
        e = V::sub(y10, sh); sv = V::add(sv, e); qv = V::fma(e, e, qv);
        if (two_c) { e = V::sub(y11, sh); sv = V::add(sv, e); qv = V::fma(e, e, qv); }
      }
      V::store(F(M, s + kb), V::add(V::load(F(M, s + kb)), sv));
      V::store(F(M, s + 2 * kb), V::add(V::load(F(M, s + 2 * kb)), qv));
    }
  });
}

/** wasm/common/gemm.ts flushSums over channels [k0, k1) of the moments layout at st (f64 S[K], Q[K], f32 shift, S32, Q32). */
void flushSums(uint8_t *M, ux st, int K, int k0, int k1) {
  double *s64 = BNFF_AT(double, st), *q64 = s64 + K;
  float *s32 = F(M, st + ((ux)K << 4) + ((ux)K << 2)), *q32 = s32 + K;
  for (int c = k0; c < k1; c++) {
    s64[c] = s64[c] + (double)s32[c];
    q64[c] = q64[c] + (double)q32[c];
    s32[c] = 0;
    q32[c] = 0;
  }
}

// ---- the dx epilogue (wasm/common/gemm.ts dxRun) ----
void dxRun(uint8_t *M, ux px0, ux xp0, int W, int C, ux xsb, ux c2, ux m2, int relu, ux st, ux gp0, ux gsb, ux yo0) {
  const ux cb = (ux)C << 2, vb = (ux)(C & ~3) << 2;
  float *s32 = F(M, st + (ux)C * 20), *q32 = F(M, st + (ux)C * 24);
  memset(s32, 0, cb << 1);
  const bool put = !gp0 && (relu || yo0 != 0);
  ux px = px0, xp = xp0, gp = gp0, yo = yo0 ? yo0 : px0;
  const float *a2 = F(M, c2), *b2 = F(M, c2 + cb), *mm = F(M, m2);
  for (int w = 0; w < W; w++) {
    const float *pd = F(M, px), *xv = F(M, xp);
    float *g = F(M, gp), *out = F(M, yo);
    chans(0, vb, [&](auto q, ux c) {
      typedef decltype(q) V;
      typedef typename V::T T;
      const ux e = c >> 2;
      T gv = V::load(pd + e);
      const T x = V::load(xv + e);
      if (relu) gv = V::keep(gv, V::fma(x, V::load(a2 + e), V::load(b2 + e)));
      if (put) V::store(out + e, gv);
      if (gp0) V::store(g + e, V::fma(gv, V::load(a2 + e), V::load(g + e)));
      V::store(s32 + e, V::add(V::load(s32 + e), gv));
      V::store(q32 + e, V::fma(gv, V::sub(x, V::load(mm + e)), V::load(q32 + e)));
    });
    for (ux e = vb >> 2; e < (ux)C; e++) {
      float gv = pd[e];
      const float x = xv[e];
      if (relu && a2[e] * x + b2[e] <= 0) gv = 0;
      if (put) out[e] = gv;
      if (gp0) g[e] = gv * a2[e] + g[e];
      s32[e] = s32[e] + gv;
      q32[e] = q32[e] + gv * (x - mm[e]);
    }
    px += cb; xp += xsb; gp += gsb; yo += cb;
  }
  double *s64 = BNFF_AT(double, st), *q64 = s64 + C;
  for (int c = 0; c < C; c++) {
    s64[c] = s64[c] + (double)s32[c];
    q64[c] = q64[c] + (double)q32[c];
  }
}

// ---- the forward's batched dot products: tiles x output channels, register tile ----
// A vector holds the 4 partial sums (lane 4L + l: the sum over c = l mod 4, as a lane of the wasm
// kernel's f32x4 accumulator) of OPV = VW/4 output channels; a group of 4 vectors covers
// G4 = 4*OPV channels, and the wasm kernel's hsum4, done within each 128-bit lane of the 4
// vectors, leaves the group's G4 sums in order in one vector. Per step of 4 input channels:
// T broadcasts of 4 U values, 4*NG vector loads of V, 4*NG*T FMAs.
const int OPV = BNFF_VW / 4;
const int G4 = 4 * OPV;
#if BNFF_VW == 16
const int DOT_T = 3, DOT_NG = 2;  // 3 tiles x 32 output channels: 24 zmm accumulators
inline vf bcast4(const float *p) { return _mm512_broadcast_f32x4(_mm_loadu_ps(p)); }
inline vf hsum4v(vf a, vf b, vf c, vf d) {
  const vf s01 = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const vf s23 = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512d p = _mm512_castps_pd(s01), q = _mm512_castps_pd(s23);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(p, q)), _mm512_castpd_ps(_mm512_unpackhi_pd(p, q)));
}
#else
const int DOT_T = 3, DOT_NG = 1;  // 3 tiles x 8 output channels: 12 ymm accumulators
inline vf bcast4(const float *p) { return _mm256_broadcast_ps(reinterpret_cast<const __m128 *>(p)); }
inline vf hsum4v(vf a, vf b, vf c, vf d) {
  const vf s01 = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
  const vf s23 = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
  const __m256d p = _mm256_castps_pd(s01), q = _mm256_castps_pd(s23);
  return _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(p, q)), _mm256_castpd_ps(_mm256_unpackhi_pd(p, q)));
}
#endif
// V is packed in column blocks of KW output channels (the last one narrower when K % KW != 0),
// block b (wb = min(KW, K - b*KW) channels) at b*KW*16*C floats: [xi][c/4][group][4][wg][4]...
// precisely, for channel k = b*KW + g*G4 + q + 4L (group g of wg = min(G4, wb - g*G4) channels)
// and input channel c = 4m + l: xi*C*wb + m*4*wb + g*4*G4 + q*wg + 4L + l. No padding: the
// buffer the host reserves (16*K*up(C, 8) floats) holds it.
const int KW = DOT_NG * G4;

// masked gathers and stores over the lanes of a vf (the weight transform)
#if BNFF_VW == 16
struct LaneMask {
  __mmask16 m;
};
inline LaneMask laneMask(const bool *on) {
  unsigned m = 0;
  for (int i = 0; i < 16; i++) m |= (unsigned)on[i] << i;
  return {(__mmask16)m};
}
inline vf gatherM(const float *base, const int32_t *idx, LaneMask k) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k.m, _mm512_loadu_si512(idx), base, 4);
}
inline void storeM(float *p, vf v, LaneMask k) { _mm512_mask_storeu_ps(p, k.m, v); }
#else
struct LaneMask {
  __m256i m;
};
inline LaneMask laneMask(const bool *on) {
  int32_t m[8];
  for (int i = 0; i < 8; i++) m[i] = on[i] ? -1 : 0;
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i *>(m))};
}
inline vf gatherM(const float *base, const int32_t *idx, LaneMask k) {
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(idx)), _mm256_castsi256_ps(k.m), 4);
}
inline void storeM(float *p, vf v, LaneMask k) { _mm256_maskstore_ps(p, k.m, v); }
#endif

/**
 * V = (G g G^T)[xi] of the 3x3 kernel g of (k, c) with the wasm kernel's operations per element
 * (winograd.ts winoPackW), written one vector of the layout above at a time: lane 4L + l of vector q
 * of a group is (k = group start + q + 4L, c = 4m + l), gathered from w (flip: g[i][j] =
 * w[c][k][2-i][2-j], w of shape [C][K][3][3]). Units: output channels k (lanes outside
 * [start, end) are neither read nor written).
 */
template <bool FLIP>
void winoPackW(uint8_t *M, const double *a, int32_t start, int32_t end) {
  const ux d = (ux)(int64_t)a[0];
  const float *w = F(M, (ux)(int64_t)a[1]);
  float *vp = F(M, (ux)(int64_t)a[2]);
  const int K = ld(M, d, D_K), C = ld(M, d, D_C);
  const vf h = vsplat(0.5f), one = vsplat(1.0f), mone = vsplat(-1.0f);
  if (start >= end) return;
  for (int b = start / KW; b * KW < end; b++) {
    const int kb0 = b * KW, wb = K - kb0 < KW ? K - kb0 : KW;
    const size_t xs = (size_t)C * wb;  // floats per xi of the block
    float *vb = vp + (size_t)kb0 * 16 * C;
    for (int g = 0; g * G4 < wb; g++) {
      const int gk0 = kb0 + g * G4, wg = wb - g * G4 < G4 ? wb - g * G4 : G4;
      if (gk0 + wg <= start || gk0 >= end) continue;
      for (int q = 0; q < 4; q++) {
        int32_t idx[BNFF_VW];
        bool on[BNFF_VW];
        for (int i = 0; i < BNFF_VW; i++) {
          const int L = i >> 2, l = i & 3, kk = q + 4 * L, k = gk0 + kk;
          on[i] = 4 * L < wg && k >= start && k < end;
          idx[i] = on[i] ? (FLIP ? (l * K + kk) : (kk * C + l)) * 9 : 0;
        }
        const LaneMask mk = laneMask(on);
        for (int c = 0; c < C; c += 4) {
          const float *src = w + (FLIP ? ((size_t)c * K + gk0) : ((size_t)gk0 * C + c)) * 9;
          vf t[3][3];
          for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) t[i][j] = gatherM(src + (FLIP ? (2 - i) * 3 + (2 - j) : i * 3 + j), idx, mk);
          float *o = vb + (size_t)(c >> 2) * 4 * wb + (size_t)g * 4 * G4 + (size_t)q * wg;
          for (int r = 0; r < 4; r++) {
            vf r0, r1, r2;
            if (r == 0) { r0 = t[0][0]; r1 = t[0][1]; r2 = t[0][2]; }
            else if (r == 3) { r0 = t[2][0]; r1 = t[2][1]; r2 = t[2][2]; }
            else {
              const vf sg = r == 1 ? one : mone;
              r0 = vmul(h, vadd(vfma(sg, t[1][0], t[0][0]), t[2][0]));
              r1 = vmul(h, vadd(vfma(sg, t[1][1], t[0][1]), t[2][1]));
              r2 = vmul(h, vadd(vfma(sg, t[1][2], t[0][2]), t[2][2]));
            }
            storeM(o, r0, mk);
            storeM(o + xs, vmul(h, vadd(vadd(r0, r1), r2)), mk);
            storeM(o + 2 * xs, vmul(h, vadd(vsub(r0, r1), r2)), mk);
            storeM(o + 3 * xs, r2, mk);
            o += 4 * xs;
          }
        }
      }
    }
  }
}

void conv_wino_pack_w_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, usize) { winoPackW<false>(M, a, start, end); }
void conv_wino_pack_w_fwd_flip(uint8_t *M, const double *a, int32_t start, int32_t end, usize) { winoPackW<true>(M, a, start, end); }

/**
 * out[t][0..wb) = sum over c of U[t][c] V[c][.] for T tiles (U rows us floats apart) and the NG
 * groups of one column block (V: vq floats per step of 4 input channels; the last group wlast
 * channels when TAIL), summed as the wasm kernel sums it: 4 partial sums over c = l mod 4 from
 * zero, FMA, then (p0 + p2) + (p1 + p3).
 */
template <int T, int NG, bool TAIL>
inline void wdot(const float *u, size_t us, const float *v, size_t vq, int C, float *out, size_t os, int wlast) {
  vf acc[T][NG * 4];
  _Pragma("GCC unroll 16") for (int t = 0; t < T; t++)
    _Pragma("GCC unroll 16") for (int i = 0; i < NG * 4; i++) acc[t][i] = vzero();
  for (int m = 0; m < C; m += 4) {
    const float *vm = v + (size_t)(m >> 2) * vq;
    vf bu[T];
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) bu[t] = bcast4(u + t * us + m);
    _Pragma("GCC unroll 16") for (int g = 0; g < NG; g++) {
      _Pragma("GCC unroll 16") for (int q = 0; q < 4; q++) {
        vf w = TAIL && g == NG - 1 ? vload_n(vm + g * 4 * G4 + q * wlast, wlast) : vload(vm + g * 4 * G4 + q * BNFF_VW);
        // one load, kept in a register for the T FMAs (GCC would fold it into each of them)
        __asm__("" : "+v"(w));
        _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) acc[t][g * 4 + q] = vfma(bu[t], w, acc[t][g * 4 + q]);
      }
    }
  }
  _Pragma("GCC unroll 16") for (int t = 0; t < T; t++)
    _Pragma("GCC unroll 16") for (int g = 0; g < NG; g++) {
      const vf s = hsum4v(acc[t][g * 4], acc[t][g * 4 + 1], acc[t][g * 4 + 2], acc[t][g * 4 + 3]);
      if (TAIL && g == NG - 1) vstore_n(out + t * os + g * G4, s, wlast);
      else vstore(out + t * os + g * G4, s);
    }
}

template <int T>
void wdotBlock(const float *u, size_t us, const float *v, int C, float *out, size_t os, int wb) {
  const size_t vq = 4 * (size_t)wb;
  if (wb == KW) { wdot<T, DOT_NG, false>(u, us, v, vq, C, out, os, G4); return; }
  const int ng = (wb + G4 - 1) / G4, last = wb - (ng - 1) * G4;
#if BNFF_VW == 16
  if (ng == 2) wdot<T, 2, true>(u, us, v, vq, C, out, os, last);  // (ng == 2 with last == G4 is wb == KW)
  else if (last == G4) wdot<T, 1, false>(u, us, v, vq, C, out, os, last);
  else wdot<T, 1, true>(u, us, v, vq, C, out, os, last);
#else
  (void)ng;
  wdot<T, 1, true>(u, us, v, vq, C, out, os, last);
#endif
}

void wdotTiles(int nT, const float *u, size_t us, const float *v, int C, float *out, size_t os, int wb) {
  if (nT == 3) wdotBlock<3>(u, us, v, C, out, os, wb);
  else if (nT == 2) wdotBlock<2>(u, us, v, C, out, os, wb);
  else wdotBlock<1>(u, us, v, C, out, os, wb);
}

// ---- forward (winograd.ts convWino) ----
template <bool FUSED>
void convWino(uint8_t *M, ux d, ux x, ux vp, ux bias, ux y, ux coef, int relu, int mom, ux x2, ux c2, ux m2, int relu2,
              ux dlt, int dym, int start, int end, ux scratch) {
  const int C = ld(M, d, D_C), H = ld(M, d, D_H), W = ld(M, d, D_W), K = ld(M, d, D_K), PH = ld(M, d, D_PH), PW = ld(M, d, D_PW);
  const int OH = ld(M, d, D_OH), OW = ld(M, d, D_OW), TB = ld(M, d, D_WTB);
  const int TW = (OW + 1) >> 1, TH = (OH + 1) >> 1;
  const ux cb = (ux)C << 2, kb = (ux)K << 2;
  const ux ysb = (ux)ld(M, d, D_YS) << 2, rs = (ux)OW * ysb;
  const ux xsb = (ux)ld(M, d, D_XS) << 2;
  const int X2S = ld(M, d, D_X2S);
  const ux gacc = FUSED && x2 ? (ux)(uint32_t)ld(M, d, D_GACC) | (ux)(uint32_t)ld(M, d, D_GACCH) << 32 : 0;
  const int GS = ld(M, d, D_GS);
  const int RT = FUSED && x2 ? ld(M, d, D_GRT) : 0;
  const ux slot = rs << 1;
  const ux ring = RT ? scratch + (ux)ld(M, d, D_GRING) : 0;
  const ux xsU = cb + 64, ustride = xsU << 4;
  const ux zb = scratch + SC_ZBUF;
  float *mbuf = F(M, scratch + SC_ROWS + 64);
  const ux ub = scratch + SC_PACK;
  memset(M + zb, 0, cb);
  ux st = 0;
  int kind = 0;
  if (FUSED) {
    if (coef) kind = dym ? 2 : 1;
    if (mom) {
      st = scratch + (ux)ld(M, d, D_FPART);
      memset(M + st, 0, (ux)K * 28);
    }
    if (x2) {
      st = scratch + (ux)ld(M, d, D_FPART);
      memset(M + st, 0, (ux)K << 4);
    }
  }
  const int t0 = start * TW, t1 = end * TW;
  const bool useWin = FUSED && kind != 0 && ld(M, d, D_WWIN) != 0;
  RingState rst = {-1, 0};
  const int WW = 2 * TW + 2;
  const ux win = ub + (ux)TB * ustride;
  int rowDone = start, wrow = -1;
  ux pt[16];
  const float *V0 = F(M, vp);
  for (int tb = t0; tb < t1; tb += TB) {
    const int nt = TB < t1 - tb ? TB : t1 - tb;
    for (int i = 0; i < nt; i++) {
      if (useWin) {
        const int t = tb + i, u = t / TW, tc = t - u * TW;
        const int n = u / TH, tr = u - n * TH;
        if (u != wrow) {
          wRing(M, win, rst, x, xsb, n, tr, H, W, PH, PW, WW, cb, kind, coef, relu, dlt, 0, cb);
          wrow = u;
        }
        for (int r = 0; r < 4; r++) {
          const ux rp = wRow(win, 2 * tr - PH + r, WW, cb) + (ux)(2 * tc) * cb;
          for (int j = 0; j < 4; j++) pt[r * 4 + j] = rp + (ux)j * cb;
        }
        wInTile<false>(M, pt, 0xffff, ub + (ux)i * ustride, cb, 0, 0, 0, 0, 0, cb, xsU);
      } else {
        const int mask = wTapTable(pt, x, zb, tb + i, TW, TH, H, W, PH, PW, xsb);
        wInTile<FUSED>(M, pt, mask, ub + (ux)i * ustride, cb, kind, coef, relu, dlt, 0, cb, xsU);
      }
    }
    // passes of one column block of V (KW output channels; the wasm kernel's KB passes only
    // bound its V working set: every output element and every per-channel moment sum is
    // computed in the same order whatever the passes)
    for (int k0 = 0; k0 < K; k0 += KW) {
      const int k1 = K < k0 + KW ? K : k0 + KW, KS = k1 - k0;
      // tiles per group: the group's products M[xi][tile][KS] fill at most MBUF_BYTES
      int G = (int)(MBUF_BYTES / (64u * (ux)KS)) / DOT_T * DOT_T;
      if (G < DOT_T) G = DOT_T;
      const size_t mxs = (size_t)G * KS;  // floats per xi of mbuf
      const float *vb = V0 + (size_t)k0 * 16 * C;
      for (int g0 = 0; g0 < nt; g0 += G) {
        const int ng = G < nt - g0 ? G : nt - g0;
        const float *ug = F(M, ub + (ux)g0 * ustride);
        for (int xi = 0; xi < 16; xi++) {
          const float *vx = vb + (size_t)xi * C * KS;
          const float *ux = ug + (size_t)xi * (xsU >> 2);
          float *mo = mbuf + (size_t)xi * mxs;
          for (int tt = 0; tt < ng; tt += DOT_T) {
            const int nT = ng - tt < DOT_T ? ng - tt : DOT_T;
            wdotTiles(nT, ux + (size_t)tt * (ustride >> 2), ustride >> 2, vx, C, mo + (size_t)tt * KS, KS, KS);
          }
        }
        for (int i = g0; i < g0 + ng; i++) {
          const int ta = tb + i, ua = ta / TW, tca = ta - ua * TW, na = ua / TH, tra = ua - na * TH;
          const ux ya = ring ? ring + (ux)(ua % RT) * slot + (ux)(2 * tca) * ysb
                              : y + (((ux)(na * OH + 2 * tra) * (ux)OW + (ux)(2 * tca)) * ysb);
          const bool ra = 2 * tra + 1 < OH, ca2 = 2 * tca + 1 < OW;
          const ux sm = FUSED && mom ? st + ((ux)K << 4) : 0;
          wOutTile(M, mbuf + (size_t)(i - g0) * KS, mxs, ya, rs, ra, ca2, bias, (ux)k0 << 2, (ux)KS << 2, kb, sm,
                   tb == t0 && i == 0, ysb);
          if (FUSED && mom && ((i & 15) == 15 || i == nt - 1)) flushSums(M, st, K, k0, k1);
        }
      }
    }
    if (FUSED && x2) {
      const int done = tb + nt >= t1 ? end : (tb + nt) / TW;
      for (int u = rowDone; u < done; u++) {
        const int n = u / TH, tr = u - n * TH;
        const int p0 = (n * OH + 2 * tr) * OW, cnt = (OH - 2 * tr < 2 ? OH - 2 * tr : 2) * OW;
        const ux src = ring ? ring + (ux)(u % RT) * slot : y + (ux)p0 * ysb;
        for (int j = 0; j < cnt; j += 64) {
          const int p = p0 + j;
          dxRun(M, src + (ux)j * ysb, x2 + (((ux)p * (ux)X2S) << 2), cnt - j < 64 ? cnt - j : 64, K, (ux)X2S << 2, c2, m2, relu2, st,
                gacc ? gacc + (((ux)p * (ux)GS) << 2) : 0, (ux)GS << 2, ring && !gacc ? y + (ux)p * ysb : 0);
        }
      }
      if (done > rowDone) rowDone = done;
    }
  }
}

#define A(i) ((ux)(int64_t)a[i])
void conv_wino_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  convWino<false>(M, A(0), A(1), A(2), A(3), A(4), 0, 0, 0, 0, 0, 0, 0, 0, 0, start, end, (ux)scratch);
}
void conv_wino_fwd_f(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  convWino<true>(M, A(0), A(1), A(2), A(3), A(4), A(5), (int)a[6], (int)a[7], 0, 0, 0, 0, 0, 0, start, end, (ux)scratch);
}
void conv_wino_fwd_dx_f(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  convWino<true>(M, A(0), A(1), A(2), 0, A(3), 0, 0, 0, A(4), A(5), A(6), (int)a[7], 0, 0, start, end, (ux)scratch);
}
void conv_wino_fwd_dy_f(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  convWino<true>(M, A(0), A(1), A(2), 0, A(3), A(5), 0, 0, A(6), A(7), A(8), (int)a[9], A(4), 1, start, end, (ux)scratch);
}

// ---- backward-weights (winograd.ts winoW) ----
#if BNFF_VW == 16
const int WMK_P = 3, WMK_NV = 2;  // 12 output channels x 32 input channels: 24 zmm
#else
const int WMK_P = 1, WMK_NV = 3;  // 4 output channels x 24 input channels: 12 ymm
#endif

/**
 * Z rows (4*P output channels, zs floats apart) += / = the chunk's sum over nt tiles of
 * DY[t][4*P] (rows at floats apart) x X[t][cols] (rows bs floats apart), NV vectors of columns
 * (the last nlast lanes when TAIL): one chain from zero per element, then added, as mk.
 */
template <int P, int NV, bool TAIL>
inline void wmk(const float *a, size_t at, const float *b, size_t bs, int nt, float *z, size_t zs, int add, int nlast) {
  vf acc[4 * P][NV];
  _Pragma("GCC unroll 16") for (int r = 0; r < 4 * P; r++)
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) acc[r][j] = vzero();
  for (int t = 0; t < nt; t++) {
    vf w[NV];
    const float *br = b + (size_t)t * bs;
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) w[j] = TAIL && j == NV - 1 ? vload_n(br + j * BNFF_VW, nlast) : vload(br + j * BNFF_VW);
    _Pragma("GCC unroll 16") for (int p = 0; p < P; p++)
      _Pragma("GCC unroll 16") for (int r = 0; r < 4; r++) {
        const vf s = vsplat(a[(size_t)t * at + p * 4 + r]);
        _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) acc[p * 4 + r][j] = vfma(s, w[j], acc[p * 4 + r][j]);
      }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < 4 * P; r++) {
    float *zr = z + (size_t)r * zs;
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) {
      vf v = acc[r][j];
      if (TAIL && j == NV - 1) {
        if (add) v = vadd(vload_n(zr + j * BNFF_VW, nlast), v);
        vstore_n(zr + j * BNFF_VW, v, nlast);
      } else {
        if (add) v = vadd(vload(zr + j * BNFF_VW), v);
        vstore(zr + j * BNFF_VW, v);
      }
    }
  }
}

template <int P>
void wmkCols(const float *a, size_t at, const float *b, size_t bs, int nt, float *z, size_t zs, int add, int ncols) {
  const int W = WMK_NV * BNFF_VW;
  int col = 0;
  for (; col + W <= ncols; col += W) wmk<P, WMK_NV, false>(a, at, b + col, bs, nt, z + col, zs, add, BNFF_VW);
  while (col < ncols) {
    const int rem = ncols - col;
    if (rem > BNFF_VW) {
#if BNFF_VW == 16
      wmk<P, 2, true>(a, at, b + col, bs, nt, z + col, zs, add, rem - 16);
      col = ncols;
#else
      if (rem > 2 * BNFF_VW) wmk<P, 3, true>(a, at, b + col, bs, nt, z + col, zs, add, rem - 16), col = ncols;
      else if (rem == 2 * BNFF_VW) wmk<P, 2, false>(a, at, b + col, bs, nt, z + col, zs, add, 8), col = ncols;
      else wmk<P, 2, true>(a, at, b + col, bs, nt, z + col, zs, add, rem - 8), col = ncols;
#endif
    } else if (rem == BNFF_VW) {
      wmk<P, 1, false>(a, at, b + col, bs, nt, z + col, zs, add, rem);
      col = ncols;
    } else {
      wmk<P, 1, true>(a, at, b + col, bs, nt, z + col, zs, add, rem);
      col = ncols;
    }
  }
}

template <bool FUSED>
void winoW(uint8_t *M, ux d, ux dy, ux x, ux z, ux dlt, ux cdy, ux cx, int relu, int start, int end, ux scratch) {
  const int C = ld(M, d, D_C), H = ld(M, d, D_H), W = ld(M, d, D_W), K = ld(M, d, D_K), PH = ld(M, d, D_PH), PW = ld(M, d, D_PW);
  const int OH = ld(M, d, D_OH), OW = ld(M, d, D_OW), N = ld(M, d, D_N), TC = ld(M, d, D_WTC);
  const int TW = (OW + 1) >> 1, TH = (OH + 1) >> 1, NT = N * TH * TW;
  const int C8 = (C + 7) & ~7, KP = K >> 2, NPt = end - start;
  const ux cb = (ux)C << 2, kb = (ux)K << 2;
  const ux xsb = (ux)ld(M, d, D_XS) << 2;
  const ux cs = (ux)start << 5, ce = ((ux)end << 5) < cb ? ((ux)end << 5) : cb;
  const ux zb = scratch + SC_ZBUF;
  const ux dyp = scratch + SC_PACK;
  const ux dxs = (ux)KP * (ux)TC * 16 + 64;
  const ux xp = dyp + 16 * dxs;
  // X[xi][t][thread's channels] (the wasm kernel's [xi][panel][t][8], same bytes)
  const ux pps = (ux)TC << 5, xxs = (ux)NPt * pps + 64, rowb = (ux)NPt << 5;
  const ux win = xp + 16 * xxs;
  if (NPt <= 0) return;
  memset(M + zb, 0, cb);
  const bool useWin = FUSED && cx != 0 && ld(M, d, D_WWIN) != 0;
  RingState rst = {-1, 0};
  const int WW = 2 * TW + 2;
  int wrow = -1;
  ux pt[16];
  for (int t0 = 0; t0 < NT; t0 += TC) {
    const int nt = TC < NT - t0 ? TC : NT - t0;
    for (int i = 0; i < nt; i++) {
      const int t = t0 + i, u = t / TW, tc = t - u * TW, n = u / TH, tr = u - n * TH;
      const int oh = 2 * tr, ow = 2 * tc;
      const bool r1 = oh + 1 < OH, c1 = ow + 1 < OW;
      const ux p00 = dy + (ux)((n * OH + oh) * OW + ow) * kb;
      const ux p10 = p00 + (ux)OW * kb;
      // A dY A^T, all K, VW channels at a time, into DY[xi][t][K]
      float *od = F(M, dyp + (ux)i * kb);
      const size_t s = dxs >> 2;
      chans(0, kb, [&](auto q, ux k) {
        typedef decltype(q) V;
        typedef typename V::T T;
        auto dyl = [&](ux p, bool ok) -> T {
          if (!ok) return V::zero();
          if (FUSED && cdy)
            return V::fma(V::load(F(M, cdy + k)), V::load(F(M, p)), V::fma(V::load(F(M, cdy + kb + k)), V::load(F(M, p + dlt)), V::load(F(M, cdy + 2 * kb + k))));
          return V::load(F(M, p));
        };
        const T e00 = dyl(p00 + k, true), e01 = dyl(p00 + kb + k, c1);
        const T e10 = dyl(p10 + k, r1), e11 = dyl(p10 + kb + k, r1 && c1);
        // rows: (e0, e0 + e1, e0 - e1, -e1); then columns alike
        const T a0 = e00, a1 = V::add(e00, e01), a2 = V::sub(e00, e01), a3 = V::neg(e01);
        const T b0 = e10, b1 = V::add(e10, e11), b2 = V::sub(e10, e11), b3 = V::neg(e11);
        float *o = od + (k >> 2);
        V::store(o, a0); V::store(o + s, a1); V::store(o + 2 * s, a2); V::store(o + 3 * s, a3);
        V::store(o + 4 * s, V::add(a0, b0)); V::store(o + 5 * s, V::add(a1, b1));
        V::store(o + 6 * s, V::add(a2, b2)); V::store(o + 7 * s, V::add(a3, b3));
        V::store(o + 8 * s, V::sub(a0, b0)); V::store(o + 9 * s, V::sub(a1, b1));
        V::store(o + 10 * s, V::sub(a2, b2)); V::store(o + 11 * s, V::sub(a3, b3));
        V::store(o + 12 * s, V::neg(b0)); V::store(o + 13 * s, V::neg(b1));
        V::store(o + 14 * s, V::neg(b2)); V::store(o + 15 * s, V::neg(b3));
      });
      const ux xo = xp + (ux)i * rowb - cs;
      if (useWin) {
        if (u != wrow) {
          wRing(M, win, rst, x, xsb, n, tr, H, W, PH, PW, WW, cb, 1, cx, relu, 0, cs, ce);
          wrow = u;
        }
        for (int r = 0; r < 4; r++) {
          const ux rp = wRow(win, 2 * tr - PH + r, WW, cb) + (ux)(2 * tc) * cb;
          for (int j = 0; j < 4; j++) pt[r * 4 + j] = rp + (ux)j * cb;
        }
        wInTile<false>(M, pt, 0xffff, xo, cb, 0, 0, 0, 0, cs, ce, xxs);
      } else {
        const int mask = wTapTable(pt, x, zb, t, TW, TH, H, W, PH, PW, xsb);
        wInTile<FUSED>(M, pt, mask, xo, cb, cx ? 1 : 0, cx, relu, 0, cs, ce, xxs);
      }
    }
    const int add = t0 > 0 ? 1 : 0;
    const int ncols = NPt * 8;
    const size_t at = (size_t)K;  // floats between the tiles' rows of DY
    for (int xi = 0; xi < 16; xi++) {
      const float *ax = F(M, dyp + (ux)xi * dxs);
      const float *bx = F(M, xp + (ux)xi * xxs);
      float *zx = F(M, z) + ((size_t)xi * K) * C8 + (size_t)start * 8;
      int kp = 0;
      for (; kp + WMK_P <= KP; kp += WMK_P)
        wmkCols<WMK_P>(ax + kp * 4, at, bx, rowb >> 2, nt, zx + (size_t)kp * 4 * C8, C8, add, ncols);
#if BNFF_VW == 16
      if (KP - kp == 2) wmkCols<2>(ax + kp * 4, at, bx, rowb >> 2, nt, zx + (size_t)kp * 4 * C8, C8, add, ncols);
      else if (KP - kp == 1) wmkCols<1>(ax + kp * 4, at, bx, rowb >> 2, nt, zx + (size_t)kp * 4 * C8, C8, add, ncols);
#endif
    }
  }
}

void conv_wino_bwd_w(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  winoW<false>(M, A(0), A(1), A(2), A(3), 0, 0, 0, 0, start, end, (ux)scratch);
}
void conv_wino_bwd_w_f(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  winoW<true>(M, A(0), A(1), A(2), A(3), A(4), A(5), A(6), (int)a[7], start, end, (ux)scratch);
}

/** dW[k][c] = G^T Z[.][k][c] G (3x3, OIHW) in f64, as the wasm kernel. Units: output channels k. */
void conv_wino_bwd_w_out(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const ux d = A(0);
  const float *z = F(M, A(1));
  float *dw = F(M, A(2));
  const int C = ld(M, d, D_C), K = ld(M, d, D_K), C8 = (C + 7) & ~7;
  const size_t xs = (size_t)K * C8;
  for (int k = start; k < end; k++) {
    for (int c = 0; c < C; c++) {
      const float *zp = z + (size_t)k * C8 + c;
      float *o = dw + ((size_t)k * C + c) * 9;
      double tt[3][4];
      for (int b = 0; b < 4; b++) {
        const double z0 = zp[b * xs], z1 = zp[(4 + b) * xs], z2 = zp[(8 + b) * xs], z3 = zp[(12 + b) * xs];
        tt[0][b] = z0 + 0.5 * (z1 + z2);
        tt[1][b] = 0.5 * (z1 - z2);
        tt[2][b] = 0.5 * (z1 + z2) + z3;
      }
      for (int i = 0; i < 3; i++) {
        const double t0 = tt[i][0], t1 = tt[i][1], t2 = tt[i][2], t3 = tt[i][3];
        o[i * 3] = (float)(t0 + 0.5 * (t1 + t2));
        o[i * 3 + 1] = (float)(0.5 * (t1 - t2));
        o[i * 3 + 2] = (float)(0.5 * (t1 + t2) + t3);
      }
    }
  }
}
#undef A

}  // namespace

KernelList family_winograd() {
  static const Kernel k[] = {
      {"conv_wino_pack_w_fwd", 3, conv_wino_pack_w_fwd}, {"conv_wino_pack_w_fwd_flip", 3, conv_wino_pack_w_fwd_flip}, {"conv_wino_fwd", 5, conv_wino_fwd},
      {"conv_wino_fwd_f", 8, conv_wino_fwd_f},           {"conv_wino_fwd_dx_f", 8, conv_wino_fwd_dx_f},         {"conv_wino_fwd_dy_f", 10, conv_wino_fwd_dy_f},
      {"conv_wino_bwd_w", 4, conv_wino_bwd_w},           {"conv_wino_bwd_w_f", 8, conv_wino_bwd_w_f},           {"conv_wino_bwd_w_out", 3, conv_wino_bwd_w_out},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
