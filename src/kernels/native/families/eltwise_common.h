// What the memory-bound families (eltwise.cc, bnfused.cc) share: loops over VW lanes with a
// masked last vector, and the streaming stores of large outputs. Included inside the family's ISA
// namespace, after core/vec.h.
#pragma once

namespace {

constexpr int VW = BNFF_VW;

// k lanes of p (k = VW: a full vector; k < VW: the rest zero / not stored).
inline vf ld(const float *p, int k) { return k == VW ? vload(p) : vload_n(p, k); }
inline void st(float *p, vf v, int k) {
  if (k == VW) vstore(p, v);
  else vstore_n(p, v, k);
}

// f(i, k) for i = 0, VW, 2*VW, ... < n, k lanes each (the last call may have fewer than VW).
template <class F>
inline void vloop(int64_t n, F f) {
  int64_t i = 0;
  for (; i + VW <= n; i += VW) f(i, VW);
  if (i < n) f(i, (int)(n - i));
}

// Outputs of this many floats (8 MiB) or more per range are written with non-temporal stores:
// a tensor of at least 8 MiB per thread, which the next kernel reads from memory rather than
// from the cache anyway, and streaming stores skip reading each line before it is written (1.3
// to 1.5x the bandwidth of plain stores for one read and one write stream, measured on Zen 4).
// Below that, plain stores leave the output in the cache for its consumer.
constexpr int64_t NT_MIN = int64_t(2) << 20;

#if BNFF_VW == 16
inline void vstream(float *p, vf v) { _mm512_stream_ps(p, v); }
// d where !(y <= 0) (y > 0 or NaN), else +0: ReLU backward
inline vf vpass(vf y, vf d) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NLE_UQ), d); }
#else
inline void vstream(float *p, vf v) { _mm256_stream_ps(p, v); }
inline vf vpass(vf y, vf d) { return _mm256_and_ps(d, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_NLE_UQ)); }
#endif

}  // namespace
