// Memory-bound kernels over NHWC activations: the native twins of src/kernels/wasm/eltwise.ts
// (same names, arguments, work ranges and scratch layouts; the conventions are documented there).
//
// Every kernel here gives the same bits as its WebAssembly twin (with relaxed SIMD, where the
// twin's fma is fused): each output element, and each per-channel partial of the reductions, sees
// the same float operations in the same order. Only the vectors are wider: an element's
// operations do not depend on which lane it sits in, so a loop over VW lanes instead of 4 changes
// nothing, as long as the split between the vector part (fused FMA) and the scalar part (f64 or
// unfused f32 formulas) of each kernel stays where the WebAssembly kernel puts it. Those splits
// are kept below, named where they matter.
//
// Shape letters: M = N*H*W rows of C channels; L = lcm(C, 4) is the period of the channel pattern
// in the flat element stream (the WebAssembly kernels' vector period), R = L / C rows.
#include <cmath>
#include <type_traits>

#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"
#include "eltwise_common.h"
#include "../core/act.h"

namespace {

// The thread's scratch region (SCRATCH_BYTES in src/runtime/backend.ts).
constexpr usize SCRATCH = usize(4) << 20;

#if BNFF_VW == 16
inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
// wasm or(pmax(best, v), v != v): v where v > best; all bits set where v is NaN
inline vf vmaxstep(vf best, vf v) {
  return _mm512_mask_mov_ps(_mm512_max_ps(v, best), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_castsi512_ps(_mm512_set1_epi32(-1)));
}
// max-pool backward, one step: hit = (v == best or both NaN) and not yet done; d += dy where hit
inline void vmaxhit(vf v, vf bv, vf g, vf &d, vf &was) {
  __mmask16 eq = _mm512_cmp_ps_mask(v, bv, _CMP_EQ_OQ) | (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(bv, bv, _CMP_UNORD_Q));
  __mmask16 hit = eq & ~_mm512_movepi32_mask(_mm512_castps_si512(was));
  d = _mm512_add_ps(d, _mm512_maskz_mov_ps(hit, g));
  was = _mm512_or_ps(was, _mm512_castsi512_ps(_mm512_movm_epi32(hit)));
}
#else
inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf vmaxstep(vf best, vf v) { return _mm256_or_ps(_mm256_max_ps(v, best), _mm256_cmp_ps(v, v, _CMP_UNORD_Q)); }
inline void vmaxhit(vf v, vf bv, vf g, vf &d, vf &was) {
  vf eq = _mm256_or_ps(_mm256_cmp_ps(v, bv, _CMP_EQ_OQ), _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(bv, bv, _CMP_UNORD_Q)));
  vf hit = _mm256_andnot_ps(was, eq);
  d = _mm256_add_ps(d, _mm256_and_ps(g, hit));
  was = _mm256_or_ps(was, hit);
}
#endif

// y[i] = f(i, k) over [0, n), k lanes at a time; streaming stores (from the first 64-byte
// boundary of y on) when n >= NT_MIN. Where each element goes does not change its value.
template <class F>
inline void vmap(float *y, int64_t n, F f) {
  if (n < NT_MIN) {
    vloop(n, [&](int64_t i, int k) { st(y + i, f(i, k), k); });
    return;
  }
  const int64_t head = (int64_t)(((64 - ((uintptr_t)y & 63)) & 63) >> 2);
  vloop(head, [&](int64_t i, int k) { st(y + i, f(i, k), k); });
  int64_t i = head;
  for (; i + VW <= n; i += VW) vstream(y + i, f(i, VW));
  if (i < n) st(y + i, f(i, (int)(n - i)), (int)(n - i));
  _mm_sfence();
}

inline int32_t period(int32_t C) { return (C & 3) == 0 ? C : (C & 1) == 0 ? C << 1 : C << 2; }

inline int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// The coefficient tile of the per-channel streaming kernels: lcm(C, VW) floats (whole vectors, no
// masked tail) where `arrays` tiles of it fit the scratch, else the wasm period L (a masked last
// vector per tile). The tile length only changes which lane holds an element, never its result.
inline int64_t tile_period(int32_t C, int arrays) {
  int64_t w = (int64_t)C * VW / gcd64(C, VW);
  return (usize)w * 4 * arrays <= SCRATCH / 2 ? w : period(C);
}

// Fills t[0, n) with src[j % C].
inline void tile(float *t, const float *src, int32_t C, int64_t n) {
  for (int64_t j = 0; j < n; j++) t[j] = src[j % C];
}

// y[i] = f(i, j, k) over a flat stream of n elements (n a multiple of 4) whose coefficients
// repeat with period P (tile offset j of element i), k lanes at a time. Streaming stores when the
// output is large and every vector of it aligned (P a whole number of vectors, y aligned).
template <class F>
inline void tiled(float *y, int64_t n, int64_t P, F f) {
  int64_t t = 0;
  if (n >= NT_MIN && P % VW == 0 && ((uintptr_t)y & (VW * 4 - 1)) == 0) {
    for (; t + P <= n; t += P)
      for (int64_t j = 0; j < P; j += VW) vstream(y + t + j, f(t + j, j, VW));
    _mm_sfence();
  } else {
    for (; t + P <= n; t += P) vloop(P, [&](int64_t j, int k) { st(y + t + j, f(t + j, j, k), k); });
  }
  if (t < n) vloop(n - t, [&](int64_t j, int k) { st(y + t + j, f(t + j, j, k), k); });
}

inline float relus(float v) { return v > 0 || v != v ? v : 0.0f; }

// ---------------------------------------------------------------------------------------------
// Batch norm reductions.
//
// Scratch layout (bytes, as the WebAssembly kernels; the host reads o1 and o2):
//   o1 f64[C] | o2 f64[C] | K f32[L] | acc 8L bytes | s64 f64[L] | q64 f64[L]
// acc holds the f32 block sums, here as two arrays (S f32[L], Q f32[L]) instead of interleaved
// per vector: private to the kernel, and each slot's sums are the same.
//
// The reduction order per slot (position j of the L-float group) is the wasm kernels': the range's
// row groups are read as four streams (its quarters) in lockstep; per block of QUADS groups of each
// stream, S[j] += (d0 + d1) + (d2 + d3) and Q[j] = fma(d0, e0, fma(d1, e1, fma(d2, e2, fma(d3, e3,
// Q[j])))) for each group, then S, Q are promoted into s64, q64 (f64) and zeroed; the last
// groups % 4 groups one at a time (S += d, Q = fma(d, e, Q)), promoted; then the rows after the
// last whole group in f64 into the first C slots; finally slot j is folded into channel j % C.

constexpr int32_t QUADS = 4;

struct RedScratch {
  double *o1, *o2;
  float *kp, *S, *Q;
  double *s64, *q64;
};

inline RedScratch red_scratch(uint8_t *M, usize scratch, int32_t C, int32_t L) {
  RedScratch r;
  uint8_t *b = M + scratch;
  r.o1 = reinterpret_cast<double *>(b);
  r.o2 = r.o1 + C;
  r.kp = reinterpret_cast<float *>(b + (usize)16 * C);
  r.S = r.kp + L;
  r.Q = r.S + L;
  r.s64 = reinterpret_cast<double *>(b + (usize)16 * C + (usize)12 * L);
  r.q64 = r.s64 + L;
  return r;
}

// s64 += S, q64 += Q (promoted to f64), S = Q = 0, over L slots.
inline void flush(const RedScratch &r, int32_t L) {
  int32_t j = 0;
  constexpr int H = VW / 2;
  for (; j + VW <= L; j += VW) {
    vf s = vload(r.S + j), q = vload(r.Q + j);
    vd_store(r.s64 + j, vd_add(vd_load(r.s64 + j), vd_lo(s)));
    vd_store(r.s64 + j + H, vd_add(vd_load(r.s64 + j + H), vd_hi(s)));
    vd_store(r.q64 + j, vd_add(vd_load(r.q64 + j), vd_lo(q)));
    vd_store(r.q64 + j + H, vd_add(vd_load(r.q64 + j + H), vd_hi(q)));
    vstore(r.S + j, vzero());
    vstore(r.Q + j, vzero());
  }
  for (; j < L; j++) {
    r.s64[j] += (double)r.S[j];
    r.q64[j] += (double)r.Q[j];
    r.S[j] = 0;
    r.Q[j] = 0;
  }
}

inline void fold_slots(const RedScratch &r, int32_t C, int32_t R) {
  for (int32_t c = 0; c < C; c++) {
    double a = 0, q = 0;
    for (int32_t k = 0; k < R; k++) {
      a += r.s64[c + k * C];
      q += r.q64[c + k * C];
    }
    r.o1[c] = a;
    r.o2[c] = q;
  }
}

// The shared loop of bn_stats (D = x, E = x: d = x - K, e = d) and bn_backward_reduce (D = dy,
// E = x: d = dy, e = x - K), over the whole row groups of a range starting at element `base`.
// bn_backward_reduce_act (CODE >= 0): d = dy * act'(z), z = fma(x, A, B) (AFF, A and B tiled to
// L like K) or z = s (s = E + so), stored to dz (= D + zo) before it is reduced.
template <bool STATS, int CODE = -1, bool AFF = false>
inline void reduce_groups(const RedScratch &r, const float *D, const float *E, int32_t L, int32_t groups, int64_t zo = 0, int64_t so = 0, const float *A = nullptr, const float *B = nullptr) {
  const int32_t qn = groups >> 2;
  const int64_t qb = (int64_t)qn * L;  // floats per stream
  const float *kp = r.kp;
  float *S = r.S, *Q = r.Q;
  const float *g0 = D, *x0 = E;
  // d = dy * act'(z) at element p of the gradient stream (q of the x stream), stored to dz
  auto grad = [&](vf d, vf xv, const float *p, const float *q, int64_t j, int k) {
    if (CODE < 0) return d;
    vf z = AFF ? vfma(xv, ld(A + j, k), ld(B + j, k)) : ld(q + so, k);
    d = act_grad(CODE, z, d);
    st(const_cast<float *>(p) + zo, d, k);
    return d;
  };
  for (int32_t g = 0; g < qn; g += QUADS) {
    const int32_t nb = qn - g < QUADS ? qn - g : QUADS;
    for (int32_t b = 0; b < nb; b++, g0 += L, x0 += L) {
      vloop(L, [&](int64_t j, int k) {
        vf K = ld(kp + j, k);
        vf d0, d1, d2, d3, e0, e1, e2, e3;
        if (STATS) {
          d0 = e0 = vsub(ld(g0 + j, k), K);
          d1 = e1 = vsub(ld(g0 + qb + j, k), K);
          d2 = e2 = vsub(ld(g0 + 2 * qb + j, k), K);
          d3 = e3 = vsub(ld(g0 + 3 * qb + j, k), K);
        } else {
          vf x0v = ld(x0 + j, k), x1v = ld(x0 + qb + j, k), x2v = ld(x0 + 2 * qb + j, k), x3v = ld(x0 + 3 * qb + j, k);
          d0 = grad(ld(g0 + j, k), x0v, g0 + j, x0 + j, j, k);
          d1 = grad(ld(g0 + qb + j, k), x1v, g0 + qb + j, x0 + qb + j, j, k);
          d2 = grad(ld(g0 + 2 * qb + j, k), x2v, g0 + 2 * qb + j, x0 + 2 * qb + j, j, k);
          d3 = grad(ld(g0 + 3 * qb + j, k), x3v, g0 + 3 * qb + j, x0 + 3 * qb + j, j, k);
          e0 = vsub(x0v, K);
          e1 = vsub(x1v, K);
          e2 = vsub(x2v, K);
          e3 = vsub(x3v, K);
        }
        st(S + j, vadd(ld(S + j, k), vadd(vadd(d0, d1), vadd(d2, d3))), k);
        st(Q + j, vfma(d0, e0, vfma(d1, e1, vfma(d2, e2, vfma(d3, e3, ld(Q + j, k))))), k);
      });
    }
    flush(r, L);
  }
  const float *pg = D + 4 * qb, *px = E + 4 * qb;
  for (int32_t g = qn << 2; g < groups; g++, pg += L, px += L) {
    vloop(L, [&](int64_t j, int k) {
      vf K = ld(kp + j, k);
      vf xv = STATS ? K : ld(px + j, k);
      vf d = STATS ? vsub(ld(pg + j, k), K) : grad(ld(pg + j, k), xv, pg + j, px + j, j, k);
      vf e = STATS ? d : vsub(xv, K);
      st(S + j, vadd(ld(S + j, k), d), k);
      st(Q + j, vfma(d, e, ld(Q + j, k)), k);
    });
  }
  flush(r, L);
}

inline void red_init(const RedScratch &r, const float *shift, int32_t C, int32_t L) {
  tile(r.kp, shift, C, L);
  memset(r.S, 0, (usize)8 * L);
  memset(r.s64, 0, (usize)16 * L);
}

// bn_stats(x, C, shift): S1[C] = sum(x - K), S2[C] = sum((x - K)^2) over rows [start, end) into
// scratch o1, o2 (f64), K = shift (f32 [C]).
void bn_stats(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *x = BNFF_AT(const float, a[0]);
  const int32_t C = (int32_t)a[1];
  const float *shift = BNFF_AT(const float, a[2]);
  const int32_t L = period(C), R = L / C;
  RedScratch r = red_scratch(M, scratch, C, L);
  red_init(r, shift, C, L);
  const int32_t groups = (end - start) / R;
  const float *x0 = x + (int64_t)start * C;
  reduce_groups<true>(r, x0, x0, L, groups);
  for (int32_t row = start + groups * R; row < end; row++) {
    const float *xr = x + (int64_t)row * C;
    for (int32_t c = 0; c < C; c++) {
      double d = (double)(xr[c] - r.kp[c]);
      r.s64[c] += d;
      r.q64[c] += d * d;
    }
  }
  fold_slots(r, C, R);
}

// bn_backward_reduce(dy, x, C, mean): Sdy[C] = sum(dy), Sdyx[C] = sum(dy * (x - mean)) into
// scratch o1, o2 (f64), over rows [start, end).
void bn_backward_reduce(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]);
  const float *x = BNFF_AT(const float, a[1]);
  const int32_t C = (int32_t)a[2];
  const float *mean = BNFF_AT(const float, a[3]);
  const int32_t L = period(C), R = L / C;
  RedScratch r = red_scratch(M, scratch, C, L);
  red_init(r, mean, C, L);
  const int32_t groups = (end - start) / R;
  const int64_t base = (int64_t)start * C;
  reduce_groups<false>(r, dy + base, x + base, L, groups);
  for (int32_t row = start + groups * R; row < end; row++) {
    const int64_t o = (int64_t)row * C;
    for (int32_t c = 0; c < C; c++) {
      double d = (double)dy[o + c];
      double xc = (double)(x[o + c] - r.kp[c]);
      r.s64[c] += d;
      r.q64[c] += d * xc;
    }
  }
  fold_slots(r, C, R);
}

// bn_backward_reduce_act(dy, x, C, mean, s, a, b, act, dz): dz = dy * act'(z), z = a*x + b (a != 0)
// or z = s (a = 0: ReLU's and ReLU6's mask from their output), stored, and reduced as
// bn_backward_reduce reduces dy (the WebAssembly kernel's comment). Scratch: red_scratch's, then
// A, B f32[L] (16*C + 36*L bytes).
template <int CODE, bool AFF>
void backward_reduce_act(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]);
  const float *x = BNFF_AT(const float, a[1]);
  const int32_t C = (int32_t)a[2];
  const float *mean = BNFF_AT(const float, a[3]);
  const float *s = AFF ? x : BNFF_AT(const float, a[4]);
  const float *ca = AFF ? BNFF_AT(const float, a[5]) : nullptr, *cb = AFF ? BNFF_AT(const float, a[6]) : nullptr;
  float *dz = BNFF_AT(float, a[8]);
  const int32_t L = period(C), R = L / C;
  RedScratch r = red_scratch(M, scratch, C, L);
  red_init(r, mean, C, L);
  float *A = reinterpret_cast<float *>(reinterpret_cast<uint8_t *>(r.q64 + L)), *B = A + L;
  if (AFF) {
    tile(A, ca, C, L);
    tile(B, cb, C, L);
  }
  const int32_t groups = (end - start) / R;
  const int64_t base = (int64_t)start * C;
  reduce_groups<false, CODE, AFF>(r, dy + base, x + base, L, groups, dz - dy, s - x, A, B);
  for (int32_t row = start + groups * R; row < end; row++) {
    const int64_t o = (int64_t)row * C;
    for (int32_t c = 0; c < C; c++) {
      const float z = AFF ? std::fma(x[o + c], ca[c], cb[c]) : s[o + c];
      const float g = act_grad_s(CODE, z, dy[o + c]);
      dz[o + c] = g;
      double d = (double)g;
      double xc = (double)(x[o + c] - r.kp[c]);
      r.s64[c] += d;
      r.q64[c] += d * xc;
    }
  }
  fold_slots(r, C, R);
}

void bn_backward_reduce_act(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const bool aff = a[5] != 0;
  switch ((int)a[7]) {
    case ACT_RELU: return aff ? backward_reduce_act<ACT_RELU, true>(M, a, start, end, scratch) : backward_reduce_act<ACT_RELU, false>(M, a, start, end, scratch);
    case ACT_RELU6: return aff ? backward_reduce_act<ACT_RELU6, true>(M, a, start, end, scratch) : backward_reduce_act<ACT_RELU6, false>(M, a, start, end, scratch);
    case ACT_SILU: return backward_reduce_act<ACT_SILU, true>(M, a, start, end, scratch);
    case ACT_HARDSWISH: return backward_reduce_act<ACT_HARDSWISH, true>(M, a, start, end, scratch);
    default: return backward_reduce_act<ACT_NONE, true>(M, a, start, end, scratch);
  }
}

// ---------------------------------------------------------------------------------------------
// Batch norm streaming kernels. Rows [start, start + groups*R) (whole groups of R rows) are the
// wasm kernels' vector part: one fused FMA per element, coefficients rounded to f32; the rows
// after the last whole group are its scalar part, computed in f64 and rounded once.

// bn_normalize(x, y, C, gamma, beta, mean, rstd, relu): y = a*x + b, a = gamma*rstd,
// b = beta - a*mean (f64, rounded to f32); relu: max(0, .) keeping NaN. y may alias x.
void bn_normalize(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *x = BNFF_AT(const float, a[0]);
  float *y = BNFF_AT(float, a[1]);
  const int32_t C = (int32_t)a[2];
  const float *gamma = BNFF_AT(const float, a[3]), *beta = BNFF_AT(const float, a[4]);
  const float *mean = BNFF_AT(const float, a[5]), *rstd = BNFF_AT(const float, a[6]);
  const int act = (int)a[7];
  const bool relu = act == ACT_RELU;
  const int32_t L = period(C), R = L / C;
  const int64_t P = tile_period(C, 2);
  float *ap = BNFF_AT(float, scratch), *bp = ap + P;
  for (int32_t c = 0; c < C; c++) {
    const double s = (double)gamma[c] * (double)rstd[c];
    ap[c] = (float)s;
    bp[c] = (float)((double)beta[c] - s * (double)mean[c]);
  }
  for (int64_t j = C; j < P; j++) {
    ap[j] = ap[j - C];
    bp[j] = bp[j - C];
  }
  const int32_t groups = (end - start) / R;
  const int64_t base = (int64_t)start * C, n = (int64_t)groups * L;
  const float *px = x + base;
  float *py = y + base;
  if (act > ACT_RELU) {
    auto run = [&](auto code) {
      tiled(py, n, P, [&](int64_t i, int64_t j, int k) { return act_apply(decltype(code)::value, vfma(ld(px + i, k), ld(ap + j, k), ld(bp + j, k))); });
    };
    if (act == ACT_RELU6) run(std::integral_constant<int, ACT_RELU6>());
    else if (act == ACT_SILU) run(std::integral_constant<int, ACT_SILU>());
    else run(std::integral_constant<int, ACT_HARDSWISH>());
  } else if (relu) {
    tiled(py, n, P, [&](int64_t i, int64_t j, int k) { return vrelu(vfma(ld(px + i, k), ld(ap + j, k), ld(bp + j, k))); });
  } else {
    tiled(py, n, P, [&](int64_t i, int64_t j, int k) { return vfma(ld(px + i, k), ld(ap + j, k), ld(bp + j, k)); });
  }
  for (int32_t row = start + groups * R; row < end; row++) {
    const int64_t o = (int64_t)row * C;
    for (int32_t c = 0; c < C; c++) {
      float v = (float)((double)ap[c] * (double)x[o + c] + (double)bp[c]);
      y[o + c] = relu ? relus(v) : act == ACT_NONE ? v : act_apply_s(act, v);
    }
  }
}

// BN dx = A*dy + B*x + C0 per channel, in f64 and rounded to f32: A = gamma*rstd,
// B = -A*rstd*dgamma/m, C0 = -A*dbeta/m - B*mean.
inline void dx_coefficients(int32_t C, const float *mean, const float *rstd, const float *gamma, const float *dbeta, const float *dgamma, double m,
                            float *ap, float *bp, float *cp) {
  for (int32_t c = 0; c < C; c++) {
    const double r = (double)rstd[c];
    const double A = (double)gamma[c] * r;
    const double B = (-A * r * (double)dgamma[c]) / m;
    const double C0 = (-A * (double)dbeta[c]) / m - B * (double)mean[c];
    ap[c] = (float)A;
    bp[c] = (float)B;
    cp[c] = (float)C0;
  }
}

// bn_backward_data(dy, x, dx, C, mean, rstd, gamma, dbeta, dgamma, m): dx = A*dy + B*x + C0 over
// rows [start, end); dx may alias dy or x.
void bn_backward_data(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]), *x = BNFF_AT(const float, a[1]);
  float *dx = BNFF_AT(float, a[2]);
  const int32_t C = (int32_t)a[3];
  const int32_t L = period(C), R = L / C;
  const int64_t P = tile_period(C, 3);
  float *ap = BNFF_AT(float, scratch), *bp = ap + P, *cp = bp + P;
  dx_coefficients(C, BNFF_AT(const float, a[4]), BNFF_AT(const float, a[5]), BNFF_AT(const float, a[6]), BNFF_AT(const float, a[7]),
                  BNFF_AT(const float, a[8]), a[9], ap, bp, cp);
  for (int64_t j = C; j < P; j++) {
    ap[j] = ap[j - C];
    bp[j] = bp[j - C];
    cp[j] = cp[j - C];
  }
  const int32_t groups = (end - start) / R;
  const int64_t base = (int64_t)start * C, n = (int64_t)groups * L;
  const float *pg = dy + base, *px = x + base;
  float *pd = dx + base;
  tiled(pd, n, P, [&](int64_t i, int64_t j, int k) { return vfma(ld(ap + j, k), ld(pg + i, k), vfma(ld(bp + j, k), ld(px + i, k), ld(cp + j, k))); });
  for (int32_t row = start + groups * R; row < end; row++) {
    const int64_t o = (int64_t)row * C;
    for (int32_t c = 0; c < C; c++) {
      dx[o + c] = (float)((double)ap[c] * (double)dy[o + c] + (double)bp[c] * (double)x[o + c] + (double)cp[c]);
    }
  }
}

// bn_backward_data_acc(dy, x, G, C, LD, LX, mean, rstd, gamma, dbeta, dgamma, m):
// G[r][c] += A*dy[r][c] + B*x[r][c] + C0 for c < C, rows [start, end) (dy rows of C, x rows of LX,
// G rows of LD floats). Per row, channels below C & ~3 are the vector part (fused), the rest f64.
void bn_backward_data_acc(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]), *x = BNFF_AT(const float, a[1]);
  float *G = BNFF_AT(float, a[2]);
  const int32_t C = (int32_t)a[3], LD = (int32_t)a[4], LX = (int32_t)a[5];
  float *ap = BNFF_AT(float, scratch), *bp = ap + (C + 4), *cp = bp + (C + 4);
  dx_coefficients(C, BNFF_AT(const float, a[6]), BNFF_AT(const float, a[7]), BNFF_AT(const float, a[8]), BNFF_AT(const float, a[9]),
                  BNFF_AT(const float, a[10]), a[11], ap, bp, cp);
  const int32_t cv = C & ~3;
  for (int32_t r = start; r < end; r++) {
    const float *pg = dy + (int64_t)r * C, *px = x + (int64_t)r * LX;
    float *pG = G + (int64_t)r * LD;
    vloop(cv, [&](int64_t j, int k) {
      vf d = vfma(ld(ap + j, k), ld(pg + j, k), vfma(ld(bp + j, k), ld(px + j, k), ld(cp + j, k)));
      st(pG + j, vadd(ld(pG + j, k), d), k);
    });
    for (int32_t j = cv; j < C; j++) {
      float v = (float)((double)ap[j] * (double)pg[j] + (double)bp[j] * (double)px[j] + (double)cp[j]);
      pG[j] = pG[j] + v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise: ranges are element indices. Vector and scalar forms of these are the same IEEE
// operation per element, so the masked last vector replaces the wasm scalar tail.

// relu_forward(x, y): y = max(0, x), NaN kept, -0 -> +0. y may alias x.
void relu_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]) + start;
  float *y = BNFF_AT(float, a[1]) + start;
  vmap(y, end - start, [&](int64_t i, int k) { return vrelu(ld(x + i, k)); });
}

// relu_backward(dy, y, dx): dx = 0 where y <= 0, else dy (NaN y passes dy). dx may alias dy.
void relu_backward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *dy = BNFF_AT(const float, a[0]) + start, *y = BNFF_AT(const float, a[1]) + start;
  float *dx = BNFF_AT(float, a[2]) + start;
  vmap(dx, end - start, [&](int64_t i, int k) { return vpass(ld(y + i, k), ld(dy + i, k)); });
}

// The lean CNNs' activations (core/act.h; wasm: every element, tail included, through the vector
// formulas, so the masked last vector gives the wasm tail's bits). F: the forward y = f(x) and
// the backward dx = g(z, dy), z what the op's backward reads (y for ReLU6 and sigmoid, x for
// SiLU and hardswish).
template <int CODE>
struct Act {
  static vf f(vf x) { return act_apply(CODE, x); }
  static vf g(vf z, vf dy) { return act_grad(CODE, z, dy); }
};
// sigmoid: y = 1 / (1 + e^-x) (e^x / (1 + e^x) below 0); dx = (dy * y) * (1 - y)
struct Sigmoid {
  static vf f(vf x) { return act_sigmoid(x); }
  static vf g(vf y, vf dy) { return vmul(vmul(dy, y), vsub(vsplat(1.0f), y)); }
};

// (x, y): y = F::f(x). y may alias x.
template <class F>
void unary_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]) + start;
  float *y = BNFF_AT(float, a[1]) + start;
  vmap(y, end - start, [&](int64_t i, int k) { return F::f(ld(x + i, k)); });
}

// (dy, z, dx): dx = F::g(z, dy). dx may alias dy.
template <class F>
void unary_backward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *dy = BNFF_AT(const float, a[0]) + start, *z = BNFF_AT(const float, a[1]) + start;
  float *dx = BNFF_AT(float, a[2]) + start;
  vmap(dx, end - start, [&](int64_t i, int k) { return F::g(ld(z + i, k), ld(dy + i, k)); });
}

// channel_scale_forward(x, s, y, C, HW): y[r][c] = x[r][c] * s[r / HW][c], rows [start, end).
void channel_scale_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]), *s = BNFF_AT(const float, a[1]);
  float *y = BNFF_AT(float, a[2]);
  const int64_t C = (int64_t)a[3], HW = (int64_t)a[4];
  if (C < 1 || HW < 1) return;
  for (int64_t r = start; r < end; r++) {
    const float *ps = s + (r / HW) * C, *px = x + r * C;
    float *py = y + r * C;
    vloop(C, [&](int64_t j, int k) { st(py + j, vmul(ld(px + j, k), ld(ps + j, k)), k); });
  }
}

// channel_scale_backward_scale(dy, x, ds, C, HW): ds[n][c] = sum over pixels of f32(dy * x), in f64
// in pixel order, samples [start, end). Scratch: 8*C bytes.
void channel_scale_backward_scale(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]), *x = BNFF_AT(const float, a[1]);
  float *ds = BNFF_AT(float, a[2]);
  const int64_t C = (int64_t)a[3], HW = (int64_t)a[4];
  if (C < 1 || HW < 1 || (usize)C * 8 > SCRATCH) return;
  double *acc = BNFF_AT(double, scratch);
  const int64_t cv = C & ~(int64_t)(VW - 1);
  for (int64_t n = start; n < end; n++) {
    for (int64_t c = 0; c < C; c++) acc[c] = 0;
    for (int64_t p = 0; p < HW; p++) {
      const float *pd = dy + (n * HW + p) * C, *px = x + (n * HW + p) * C;
      for (int64_t j = 0; j < cv; j += VW) {
        vf v = vmul(vload(pd + j), vload(px + j));
        vd_store(acc + j, vd_add(vd_load(acc + j), vd_lo(v)));
        vd_store(acc + j + VW / 2, vd_add(vd_load(acc + j + VW / 2), vd_hi(v)));
      }
      for (int64_t j = cv; j < C; j++) acc[j] += (double)(pd[j] * px[j]);
    }
    for (int64_t c = 0; c < C; c++) ds[n * C + c] = (float)acc[c];
  }
}

// stochastic_depth_forward(x, m, y, per): y[i] = x[i] * m[i / per], elements [start, end); also
// its backward (dy for x).
void stochastic_depth_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]), *m = BNFF_AT(const float, a[1]);
  float *y = BNFF_AT(float, a[2]);
  const int64_t per = (int64_t)a[3];
  if (per < 1) return;
  for (int64_t i = start; i < end;) {
    const int64_t n = i / per, stop = (n + 1) * per < end ? (n + 1) * per : end;
    const vf s = vsplat(m[n]);
    const float *px = x + i;
    vmap(y + i, stop - i, [&](int64_t j, int k) { return vmul(ld(px + j, k), s); });
    i = stop;
  }
}

// add_forward(a, b, y): y = a + b. y may alias a or b.
void add_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *p = BNFF_AT(const float, a[0]) + start, *q = BNFF_AT(const float, a[1]) + start;
  float *y = BNFF_AT(float, a[2]) + start;
  vmap(y, end - start, [&](int64_t i, int k) { return vadd(ld(p + i, k), ld(q + i, k)); });
}

// mul_forward(a, b, y): y = a * b. y may alias a or b.
void mul_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *p = BNFF_AT(const float, a[0]) + start, *q = BNFF_AT(const float, a[1]) + start;
  float *y = BNFF_AT(float, a[2]) + start;
  vmap(y, end - start, [&](int64_t i, int k) { return vmul(ld(p + i, k), ld(q + i, k)); });
}

// copy_fill(dst, v): dst[i] = v.
void copy_fill(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  float *d = BNFF_AT(float, a[0]) + start;
  const vf s = vsplat((float)a[1]);
  vmap(d, end - start, [&](int64_t, int) { return s; });
}

// ---------------------------------------------------------------------------------------------
// Channel slices (concat forward / backward): rows [start, end). Copies move bits.

inline void copy_floats(float *d, const float *s, int64_t n) {
  if (n > 0) memcpy(d, s, (usize)n * 4);
}

// slice_affine(g, LG, x, LX, y, C, b, c0, k): y[r][j] = g[r][j] + B[j]*(x[r][j] - K[j]) + C0[j],
// j < C; vector part (fused) below C & ~3, unfused f32 after.
void slice_affine(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *g = BNFF_AT(const float, a[0]);
  const int32_t LG = (int32_t)a[1];
  const float *x = BNFF_AT(const float, a[2]);
  const int32_t LX = (int32_t)a[3];
  float *y = BNFF_AT(float, a[4]);
  const int32_t C = (int32_t)a[5];
  const float *B = BNFF_AT(const float, a[6]), *C0 = BNFF_AT(const float, a[7]), *K = BNFF_AT(const float, a[8]);
  const int32_t cv = C & ~3;
  for (int32_t r = start; r < end; r++) {
    const float *pg = g + (int64_t)r * LG, *px = x + (int64_t)r * LX;
    float *py = y + (int64_t)r * C;
    vloop(cv, [&](int64_t j, int k) {
      vf t = vfma(ld(B + j, k), vsub(ld(px + j, k), ld(K + j, k)), ld(C0 + j, k));
      st(py + j, vadd(ld(pg + j, k), t), k);
    });
    for (int32_t j = cv; j < C; j++) py[j] = pg[j] + (B[j] * (px[j] - K[j]) + C0[j]);
  }
}

// copy_channels(src, srcC, srcOff, dst, dstC, dstOff, width): dst[r][dstOff + k] =
// src[r][srcOff + k], k < width, rows [start, end).
void copy_channels(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *src = BNFF_AT(const float, a[0]);
  const int32_t srcC = (int32_t)a[1], srcOff = (int32_t)a[2];
  float *dst = BNFF_AT(float, a[3]);
  const int32_t dstC = (int32_t)a[4], dstOff = (int32_t)a[5], width = (int32_t)a[6];
  if (width == srcC && width == dstC) {
    copy_floats(dst + (int64_t)start * width, src + (int64_t)start * width, (int64_t)(end - start) * width);
    return;
  }
  const float *ps = src + (int64_t)start * srcC + srcOff;
  float *pd = dst + (int64_t)start * dstC + dstOff;
  for (int32_t r = start; r < end; r++, ps += srcC, pd += dstC) {
    vloop(width, [&](int64_t j, int k) { st(pd + j, ld(ps + j, k), k); });
  }
}

// copy_concat(wide, Cw, parts, toWide): one pass over rows [start, end) of wide [M, Cw]; the parts
// are (offset low, offset high, channels, 0) i32 quadruples at the start of scratch.
void copy_concat(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  float *wide = BNFF_AT(float, a[0]);
  const int32_t Cw = (int32_t)a[1], parts = (int32_t)a[2];
  const bool toWide = (int32_t)a[3] != 0;
  const int32_t *t = BNFF_AT(const int32_t, scratch);
  float *pw = wide + (int64_t)start * Cw;
  for (int32_t r = start; r < end; r++, pw += Cw) {
    float *o = pw;
    for (int32_t i = 0; i < parts; i++) {
      const int32_t ci = t[4 * i + 2];
      const usize off = (usize)(uint32_t)t[4 * i] | (usize)(uint32_t)t[4 * i + 1] << 32;
      float *pp = reinterpret_cast<float *>(M + off) + (int64_t)r * ci;
      if (toWide) vloop(ci, [&](int64_t j, int k) { st(o + j, ld(pp + j, k), k); });
      else vloop(ci, [&](int64_t j, int k) { st(pp + j, ld(o + j, k), k); });
      o += ci;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Layout: NHWC [N, P, C] <-> NCHW [N, C, P]. Range: NHWC rows n*P + p. A permutation of bits:
// any order gives the same result; 4x4 transposes as the wasm kernel, blocks of LB pixels first
// read in address order.

inline void transpose4(const float *s0, const float *s1, const float *s2, const float *s3, float *d0, float *d1, float *d2, float *d3) {
  __m128 r0 = _mm_loadu_ps(s0), r1 = _mm_loadu_ps(s1), r2 = _mm_loadu_ps(s2), r3 = _mm_loadu_ps(s3);
  __m128 t0 = _mm_unpacklo_ps(r0, r1), t1 = _mm_unpackhi_ps(r0, r1);
  __m128 t2 = _mm_unpacklo_ps(r2, r3), t3 = _mm_unpackhi_ps(r2, r3);
  _mm_storeu_ps(d0, _mm_movelh_ps(t0, t2));
  _mm_storeu_ps(d1, _mm_movehl_ps(t2, t0));
  _mm_storeu_ps(d2, _mm_movelh_ps(t1, t3));
  _mm_storeu_ps(d3, _mm_movehl_ps(t3, t1));
}

constexpr int32_t LB = 32;

void layout_convert(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  float *nhwc = BNFF_AT(float, a[0]), *nchw = BNFF_AT(float, a[1]);
  const int32_t P = (int32_t)a[2], C = (int32_t)a[3];
  const bool toNchw = (int32_t)a[4] != 0;
  int32_t r = start;
  while (r < end) {
    const int32_t n = r / P;
    const int32_t p0 = r - n * P;
    const int32_t p1 = end - n * P < P ? end - n * P : P;
    const int64_t img = (int64_t)n * P * C;
    float *A = nhwc + img, *B = nchw + img;
    int32_t p = p0;
    if (toNchw && C >= 4) {
      for (; p + LB <= p1; p += LB) {
        const float *row = A + (int64_t)p * C;
        float *col = B + p;
        // touch the block in address order first (the prefetchers follow it)
        for (int64_t q = 0; q < (int64_t)C * LB; q += 16) {
          float v = row[q];
          __asm__ volatile("" ::"x"(v));
        }
        int32_t c = 0;
        for (; c + 4 <= C; c += 4) {
          float *d = col + (int64_t)c * P;
          for (int32_t k = 0; k < LB / 4; k++) {
            const float *s = row + (int64_t)(k * 4) * C + c;
            float *dk = d + k * 4;
            transpose4(s, s + C, s + 2 * C, s + 3 * (int64_t)C, dk, dk + P, dk + 2 * (int64_t)P, dk + 3 * (int64_t)P);
          }
        }
        for (; c < C; c++) {
          for (int32_t k = 0; k < LB; k++) col[(int64_t)c * P + k] = row[(int64_t)k * C + c];
        }
      }
    }
    for (; p + 4 <= p1; p += 4) {
      float *row = A + (int64_t)p * C;
      float *col = B + p;
      int32_t c = 0;
      if (toNchw) {
        for (; c + 4 <= C; c += 4) {
          const float *s = row + c;
          float *d = col + (int64_t)c * P;
          transpose4(s, s + C, s + 2 * C, s + 3 * (int64_t)C, d, d + P, d + 2 * (int64_t)P, d + 3 * (int64_t)P);
        }
        for (; c < C; c++)
          for (int32_t k = 0; k < 4; k++) col[(int64_t)c * P + k] = row[(int64_t)k * C + c];
      } else {
        for (; c + 4 <= C; c += 4) {
          float *d = row + c;
          const float *s = col + (int64_t)c * P;
          transpose4(s, s + P, s + 2 * (int64_t)P, s + 3 * (int64_t)P, d, d + C, d + 2 * C, d + 3 * (int64_t)C);
        }
        for (; c < C; c++)
          for (int32_t k = 0; k < 4; k++) row[(int64_t)k * C + c] = col[(int64_t)c * P + k];
      }
    }
    for (; p < p1; p++) {
      float *row = A + (int64_t)p * C;
      float *col = B + p;
      if (toNchw)
        for (int32_t c = 0; c < C; c++) col[(int64_t)c * P] = row[c];
      else
        for (int32_t c = 0; c < C; c++) row[c] = col[(int64_t)c * P];
    }
    r = n * P + p1;
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling over NHWC, PyTorch semantics (floor mode), walking memory as the wasm kernels do (see
// there). Channel indices below are floats; [cs, ce) a channel range. In max_into the vector part
// (the first (ce - cs) & ~3 channels) and the scalar part differ in the NaN they leave (all bits
// set / the tap's own), so that split is kept; the sums and quotients are the same either way.

inline int32_t win_lo(int32_t o, int32_t s, int32_t p) { return o * s - p > 0 ? o * s - p : 0; }
inline int32_t win_hi(int32_t o, int32_t s, int32_t p, int32_t k, int32_t size) { return o * s - p + k < size ? o * s - p + k : size; }
inline int32_t pad_span(int32_t o, int32_t s, int32_t p, int32_t k, int32_t size) {
  const int32_t a = o * s - p;
  return (a + k < size + p ? a + k : size + p) - a;
}

inline float max_step(float best, float v) { return v > best || v != v ? v : best; }

inline void max_into(float *a, const float *p, int32_t cs, int32_t ce) {
  const int32_t n4 = (ce - cs) & ~3;
  float *ac = a + cs;
  const float *pc = p + cs;
  vloop(n4, [&](int64_t i, int k) { st(ac + i, vmaxstep(ld(ac + i, k), ld(pc + i, k)), k); });
  for (int32_t c = cs + n4; c < ce; c++) a[c] = max_step(a[c], p[c]);
}

// a[c] += p[c]; first: a[c] = p[c] + 0 (so that -0 sums to +0)
inline void add_into(float *a, const float *p, int32_t cs, int32_t ce, bool first) {
  float *ac = a + cs;
  const float *pc = p + cs;
  if (first) vloop(ce - cs, [&](int64_t i, int k) { st(ac + i, vadd(ld(pc + i, k), vzero()), k); });
  else vloop(ce - cs, [&](int64_t i, int k) { st(ac + i, vadd(ld(ac + i, k), ld(pc + i, k)), k); });
}

inline void div_into(float *a, float d, int32_t cs, int32_t ce) {
  const vf dv = vsplat(d);
  float *ac = a + cs;
  vloop(ce - cs, [&](int64_t i, int k) { st(ac + i, vdiv(ld(ac + i, k), dv), k); });
}

void max_row(const float *xImg, float *acc, int32_t h0, int32_t h1, int32_t W, int32_t C, int32_t OW, int32_t kw, int32_t sw, int32_t pw, int32_t cs,
             int32_t ce) {
  for (int32_t i = h0; i < h1; i++) {
    const float *xr = xImg + (int64_t)i * W * C;
    for (int32_t ow = 0; ow < OW; ow++) {
      int32_t j = win_lo(ow, sw, pw);
      const int32_t w1 = win_hi(ow, sw, pw, kw, W);
      float *a = acc + (int64_t)ow * C;
      if (i == h0) {
        copy_floats(a + cs, xr + (int64_t)j * C + cs, ce - cs);
        j++;
      }
      for (; j < w1; j++) max_into(a, xr + (int64_t)j * C, cs, ce);
    }
  }
}

void sum_row(const float *xImg, float *acc, int32_t h0, int32_t h1, int32_t W, int32_t C, int32_t OW, int32_t kw, int32_t sw, int32_t pw, int32_t cs,
             int32_t ce) {
  for (int32_t i = h0; i < h1; i++) {
    const float *xr = xImg + (int64_t)i * W * C;
    for (int32_t ow = 0; ow < OW; ow++) {
      const int32_t w0 = win_lo(ow, sw, pw), w1 = win_hi(ow, sw, pw, kw, W);
      float *a = acc + (int64_t)ow * C;
      for (int32_t j = w0; j < w1; j++) add_into(a, xr + (int64_t)j * C, cs, ce, i == h0 && j == w0);
    }
  }
}

// channels [c0, c1) of the P rows of image n zeroed
void zero_slice(float *dx, int32_t n, int32_t P, int32_t C, int32_t c0, int32_t c1) {
  float *img = dx + (int64_t)n * P * C;
  if (c0 == 0 && c1 == C) {
    memset(img, 0, (usize)P * C * 4);
    return;
  }
  for (int32_t r = 0; r < P; r++) memset(img + (int64_t)r * C + c0, 0, (usize)(c1 - c0) * 4);
}

struct PoolArgs {
  int32_t H, W, C, OH, OW, kh, kw, sh, sw, ph, pw;
};

inline PoolArgs pool_args(const double *a) {
  return {(int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], (int32_t)a[5],
          (int32_t)a[6], (int32_t)a[7], (int32_t)a[8], (int32_t)a[9], (int32_t)a[10]};
}

// pool_max_forward(x, y, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw). Ranges: output rows.
void pool_max_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]);
  float *y = BNFF_AT(float, a[1]);
  const PoolArgs g = pool_args(a + 2);
  for (int32_t u = start; u < end; u++) {
    const int32_t n = u / g.OH, oh = u - n * g.OH;
    max_row(x + (int64_t)n * g.H * g.W * g.C, y + (int64_t)u * g.OW * g.C, win_lo(oh, g.sh, g.ph), win_hi(oh, g.sh, g.ph, g.kh, g.H), g.W, g.C, g.OW,
            g.kw, g.sw, g.pw, 0, g.C);
  }
}

// pool_max_backward(dy, x, dx, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw, G, cg): dx (fully
// written) = dy routed to each window's first maximum. Scratch: best [OW, C] f32, done [OW, C]
// (all bits set once a window's maximum is found). Ranges: units (image, channel group).
void pool_max_backward(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]), *x = BNFF_AT(const float, a[1]);
  float *dx = BNFF_AT(float, a[2]);
  const PoolArgs g = pool_args(a + 3);
  const int32_t G = (int32_t)a[14], cg = (int32_t)a[15];
  const int32_t C = g.C, W = g.W;
  float *best = BNFF_AT(float, scratch);
  float *done = best + (int64_t)g.OW * C;
  for (int32_t u = start; u < end; u++) {
    const int32_t n = u / G;
    const int32_t c0 = (u - n * G) * cg;
    const int32_t c1 = C < c0 + cg ? C : c0 + cg;
    if (c0 >= c1) continue;
    const int32_t n4 = (c1 - c0) & ~3;
    zero_slice(dx, n, g.H * W, C, c0, c1);
    const int64_t img = (int64_t)n * g.H * W * C;
    for (int32_t oh = 0; oh < g.OH; oh++) {
      const int32_t h0 = win_lo(oh, g.sh, g.ph), h1 = win_hi(oh, g.sh, g.ph, g.kh, g.H);
      max_row(x + img, best, h0, h1, W, C, g.OW, g.kw, g.sw, g.pw, c0, c1);
      for (int32_t ow = 0; ow < g.OW; ow++) memset(done + (int64_t)ow * C + c0, 0, (usize)(c1 - c0) * 4);
      const float *dyRow = dy + ((int64_t)n * g.OH + oh) * g.OW * C;
      for (int32_t i = h0; i < h1; i++) {
        const float *xr = x + img + (int64_t)i * W * C;
        float *dr = dx + img + (int64_t)i * W * C;
        for (int32_t ow = 0; ow < g.OW; ow++) {
          const int32_t w0 = win_lo(ow, g.sw, g.pw), w1 = win_hi(ow, g.sw, g.pw, g.kw, W);
          const float *b = best + (int64_t)ow * C + c0;
          float *dn = done + (int64_t)ow * C + c0;
          const float *gr = dyRow + (int64_t)ow * C + c0;
          for (int32_t j = w0; j < w1; j++) {
            const float *p = xr + (int64_t)j * C + c0;
            float *d = dr + (int64_t)j * C + c0;
            vloop(n4, [&](int64_t c, int k) {
              vf dv = ld(d + c, k), was = ld(dn + c, k);
              vmaxhit(ld(p + c, k), ld(b + c, k), ld(gr + c, k), dv, was);
              st(d + c, dv, k);
              st(dn + c, was, k);
            });
            uint32_t *dnu = reinterpret_cast<uint32_t *>(dn);
            for (int32_t c = n4; c < c1 - c0; c++) {
              if (dnu[c] != 0) continue;
              const float v = p[c], bv = b[c];
              if (v == bv || (v != v && bv != bv)) {
                d[c] = d[c] + gr[c];
                dnu[c] = 0xffffffffu;
              }
            }
          }
        }
      }
    }
  }
}

inline int32_t avg_div(const PoolArgs &g, bool includePad, int32_t oh, int32_t ow, int32_t h0, int32_t h1) {
  return includePad ? pad_span(oh, g.sh, g.ph, g.kh, g.H) * pad_span(ow, g.sw, g.pw, g.kw, g.W)
                    : (h1 - h0) * (win_hi(ow, g.sw, g.pw, g.kw, g.W) - win_lo(ow, g.sw, g.pw));
}

// pool_avg_forward(x, y, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw, includePad): y = window sum
// (f32, window order) / divisor. Ranges: output rows.
void pool_avg_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]);
  float *y = BNFF_AT(float, a[1]);
  const PoolArgs g = pool_args(a + 2);
  const bool includePad = (int32_t)a[13] != 0;
  for (int32_t u = start; u < end; u++) {
    const int32_t n = u / g.OH, oh = u - n * g.OH;
    const int32_t h0 = win_lo(oh, g.sh, g.ph), h1 = win_hi(oh, g.sh, g.ph, g.kh, g.H);
    float *yr = y + (int64_t)u * g.OW * g.C;
    sum_row(x + (int64_t)n * g.H * g.W * g.C, yr, h0, h1, g.W, g.C, g.OW, g.kw, g.sw, g.pw, 0, g.C);
    for (int32_t ow = 0; ow < g.OW; ow++) div_into(yr + (int64_t)ow * g.C, (float)avg_div(g, includePad, oh, ow, h0, h1), 0, g.C);
  }
}

// pool_avg_backward(dy, dx, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw, includePad, G, cg):
// dx[tap] += dy / divisor per covering window, in output order. Scratch: [OW, C] f32.
void pool_avg_backward(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *dy = BNFF_AT(const float, a[0]);
  float *dx = BNFF_AT(float, a[1]);
  const PoolArgs g = pool_args(a + 2);
  const bool includePad = (int32_t)a[13] != 0;
  const int32_t G = (int32_t)a[14], cg = (int32_t)a[15];
  const int32_t C = g.C, W = g.W;
  float *gr = BNFF_AT(float, scratch);
  for (int32_t u = start; u < end; u++) {
    const int32_t n = u / G;
    const int32_t c0 = (u - n * G) * cg;
    const int32_t c1 = C < c0 + cg ? C : c0 + cg;
    if (c0 >= c1) continue;
    zero_slice(dx, n, g.H * W, C, c0, c1);
    float *img = dx + (int64_t)n * g.H * W * C;
    for (int32_t oh = 0; oh < g.OH; oh++) {
      const int32_t h0 = win_lo(oh, g.sh, g.ph), h1 = win_hi(oh, g.sh, g.ph, g.kh, g.H);
      const float *dyRow = dy + ((int64_t)n * g.OH + oh) * g.OW * C;
      for (int32_t ow = 0; ow < g.OW; ow++) {
        const int64_t o = (int64_t)ow * C;
        copy_floats(gr + o + c0, dyRow + o + c0, c1 - c0);
        div_into(gr + o, (float)avg_div(g, includePad, oh, ow, h0, h1), c0, c1);
      }
      for (int32_t i = h0; i < h1; i++) {
        float *dr = img + (int64_t)i * W * C;
        for (int32_t ow = 0; ow < g.OW; ow++) {
          const int32_t w0 = win_lo(ow, g.sw, g.pw), w1 = win_hi(ow, g.sw, g.pw, g.kw, W);
          const float *gp = gr + (int64_t)ow * C;
          for (int32_t j = w0; j < w1; j++) add_into(dr + (int64_t)j * C, gp, c0, c1, false);
        }
      }
    }
  }
}

// pool_gap_forward(x, y, P, C, G, cg): y[n][c] = (f32 sum over p, in order) / P. Ranges: units.
void pool_gap_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]);
  float *y = BNFF_AT(float, a[1]);
  const int32_t P = (int32_t)a[2], C = (int32_t)a[3], G = (int32_t)a[4], cg = (int32_t)a[5];
  for (int32_t u = start; u < end; u++) {
    const int32_t n = u / G;
    const int32_t c0 = (u - n * G) * cg;
    const int32_t c1 = C < c0 + cg ? C : c0 + cg;
    if (c0 >= c1) continue;
    const float *img = x + (int64_t)n * P * C;
    float *yo = y + (int64_t)n * C;
    for (int32_t p = 0; p < P; p++) add_into(yo, img + (int64_t)p * C, c0, c1, p == 0);
    div_into(yo, (float)P, c0, c1);
  }
}

// pool_gap_backward(dy, dx, P, C): dx[n][p][c] = dy[n][c] / P. Ranges: rows n*P + p.
void pool_gap_backward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *dy = BNFF_AT(const float, a[0]);
  float *dx = BNFF_AT(float, a[1]);
  const int32_t P = (int32_t)a[2], C = (int32_t)a[3];
  const vf dv = vsplat((float)P);
  for (int32_t r = start; r < end; r++) {
    const float *src = dy + (int64_t)(r / P) * C;
    float *dst = dx + (int64_t)r * C;
    vloop(C, [&](int64_t c, int k) { st(dst + c, vdiv(ld(src + c, k), dv), k); });
  }
}

// ---------------------------------------------------------------------------------------------
// SGD (torch.optim.SGD, src/train/sgd.ts) in f64 per element, rounded to f32 as the wasm kernel:
// d = g + wd*p; buf = first ? d : mu*buf + (1-dampening)*d; p -= lr * (nesterov ? d + mu*buf : buf);
// mu == 0: p -= lr*d. flags: 1 = nesterov, 2 = first step. Ranges: elements.

void sgd_update(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  float *p = BNFF_AT(float, a[0]);
  const float *g = BNFF_AT(const float, a[1]);
  float *buf = BNFF_AT(float, a[2]);
  const double lr = a[3], mu = a[4], om = 1 - a[5], wd = a[6];
  const int32_t flags = (int32_t)a[7];
  const bool nesterov = (flags & 1) != 0, first = (flags & 2) != 0;
  if (mu == 0) {
    for (int32_t i = start; i < end; i++) {
      const double pv = (double)p[i];
      p[i] = (float)(pv - lr * ((double)g[i] + wd * pv));
    }
    return;
  }
  for (int32_t i = start; i < end; i++) {
    const double pv = (double)p[i];
    const double d = (double)g[i] + wd * pv;
    const double b = first ? d : mu * (double)buf[i] + om * d;
    buf[i] = (float)b;
    p[i] = (float)(pv - lr * (nesterov ? d + mu * b : b));
  }
}

// ---------------------------------------------------------------------------------------------
// shortcut_pad (CIFAR ResNet "option A" shortcut), NHWC:
//   y[n][oh][ow][before + c] = x[n][oh*s][ow*s][c], 0 in the K - C other channels.
// Forward units: output rows (n, oh); backward units: input rows (n, ih).

void shortcut_pad_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]);
  float *y = BNFF_AT(float, a[1]);
  const int32_t C = (int32_t)a[2], H = (int32_t)a[3], W = (int32_t)a[4], K = (int32_t)a[5], OH = (int32_t)a[6], OW = (int32_t)a[7];
  const int32_t s = (int32_t)a[8], before = (int32_t)a[9], tail = K - before - C;
  for (int32_t r = start; r < end; r++) {
    const int32_t n = r / OH, oh = r - n * OH;
    const float *src = x + ((int64_t)n * H + (int64_t)oh * s) * W * C;
    float *dst = y + (int64_t)r * OW * K;
    for (int32_t ow = 0; ow < OW; ow++, src += (int64_t)s * C, dst += K) {
      if (before) memset(dst, 0, (usize)before * 4);
      copy_floats(dst + before, src, C);
      if (tail) memset(dst + before + C, 0, (usize)tail * 4);
    }
  }
}

void shortcut_pad_backward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *dy = BNFF_AT(const float, a[0]);
  float *dx = BNFF_AT(float, a[1]);
  const int32_t C = (int32_t)a[2], H = (int32_t)a[3], W = (int32_t)a[4], K = (int32_t)a[5], OH = (int32_t)a[6], OW = (int32_t)a[7];
  const int32_t s = (int32_t)a[8], before = (int32_t)a[9];
  for (int32_t r = start; r < end; r++) {
    const int32_t n = r / H, ih = r - n * H;
    float *dst = dx + (int64_t)r * W * C;
    if (ih % s != 0) {
      memset(dst, 0, (usize)W * C * 4);
      continue;
    }
    const float *src = dy + ((int64_t)n * OH + ih / s) * OW * K + before;
    for (int32_t iw = 0; iw < W; iw++) {
      float *d = dst + (int64_t)iw * C;
      if (iw % s != 0) memset(d, 0, (usize)C * 4);
      else copy_floats(d, src + (int64_t)(iw / s) * K, C);
    }
  }
}

}  // namespace

KernelList family_eltwise() {
  static const Kernel k[] = {
      {"bn_stats", 3, bn_stats},
      {"bn_normalize", 8, bn_normalize},
      {"bn_backward_reduce", 4, bn_backward_reduce},
      {"bn_backward_reduce_act", 9, bn_backward_reduce_act},
      {"bn_backward_data", 10, bn_backward_data},
      {"bn_backward_data_acc", 12, bn_backward_data_acc},
      {"relu_forward", 2, relu_forward},
      {"relu_backward", 3, relu_backward},
      {"relu6_forward", 2, unary_forward<Act<ACT_RELU6>>},
      {"relu6_backward", 3, unary_backward<Act<ACT_RELU6>>},
      {"silu_forward", 2, unary_forward<Act<ACT_SILU>>},
      {"silu_backward", 3, unary_backward<Act<ACT_SILU>>},
      {"hardswish_forward", 2, unary_forward<Act<ACT_HARDSWISH>>},
      {"hardswish_backward", 3, unary_backward<Act<ACT_HARDSWISH>>},
      {"sigmoid_forward", 2, unary_forward<Sigmoid>},
      {"sigmoid_backward", 3, unary_backward<Sigmoid>},
      {"channel_scale_forward", 5, channel_scale_forward},
      {"channel_scale_backward_scale", 5, channel_scale_backward_scale},
      {"stochastic_depth_forward", 4, stochastic_depth_forward},
      {"add_forward", 3, add_forward},
      {"mul_forward", 3, mul_forward},
      {"copy_fill", 2, copy_fill},
      {"slice_affine", 9, slice_affine},
      {"copy_channels", 7, copy_channels},
      {"copy_concat", 4, copy_concat},
      {"layout_convert", 5, layout_convert},
      {"pool_max_forward", 13, pool_max_forward},
      {"pool_max_backward", 16, pool_max_backward},
      {"pool_avg_forward", 14, pool_avg_forward},
      {"pool_avg_backward", 16, pool_avg_backward},
      {"pool_gap_forward", 6, pool_gap_forward},
      {"pool_gap_backward", 4, pool_gap_backward},
      {"sgd_update", 8, sgd_update},
      {"shortcut_pad_forward", 10, shortcut_pad_forward},
      {"shortcut_pad_backward", 10, shortcut_pad_backward},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
