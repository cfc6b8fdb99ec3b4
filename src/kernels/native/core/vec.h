// The thin vector layer the kernel families are written in. Include it inside the family's ISA
// namespace (BNFF_NS); it defines, for the ISA the file is compiled for:
//   vf   - the widest float vector (VW lanes: 16 with AVX-512, 8 with AVX2)
//   v4   - a 128-bit float vector (4 lanes): the exact counterpart of the WebAssembly kernels'
//          v128, for ports that must give the same bits as the wasm engine
//   vd   - the widest double vector (VW/2 lanes)
// and the operations the families use. Arithmetic is never contracted behind the code's back:
// the addon is built with -ffp-contract=off, and fused multiply-adds are written as fma(...),
// where the WebAssembly kernels use relaxed_madd (docs/design/native-engine.md). A NEON variant
// adds a third branch here; the families do not change.
#include <immintrin.h>

#if defined(__AVX512F__)
#define BNFF_VW 16
typedef __m512 vf;
typedef __m512d vd;
typedef __mmask16 vmask;
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vsplat(float s) { return _mm512_set1_ps(s); }
static inline vf vzero() { return _mm512_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
// max(0, v) letting NaN through, +0 for -0 (PyTorch's relu): v where v > 0 or v is NaN, else 0
static inline vf vrelu(vf v) {
  __mmask16 keep = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ);
  return _mm512_maskz_mov_ps(keep, v);
}
// lanes [0, n) of p (n < VW), the rest 0
static inline vf vload_n(const float *p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
static inline void vstore_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
static inline vd vd_load(const double *p) { return _mm512_loadu_pd(p); }
static inline void vd_store(double *p, vd v) { _mm512_storeu_pd(p, v); }
static inline vd vd_zero() { return _mm512_setzero_pd(); }
static inline vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
static inline vd vd_lo(vf v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline vd vd_hi(vf v) { return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))); }
#elif defined(__AVX2__)
#define BNFF_VW 8
typedef __m256 vf;
typedef __m256d vd;
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vsplat(float s) { return _mm256_set1_ps(s); }
static inline vf vzero() { return _mm256_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vrelu(vf v) { return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ)); }
static inline __m256i vmask_n(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vload_n(const float *p, int n) { return _mm256_maskload_ps(p, vmask_n(n)); }
static inline void vstore_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, vmask_n(n), v); }
static inline vd vd_load(const double *p) { return _mm256_loadu_pd(p); }
static inline void vd_store(double *p, vd v) { _mm256_storeu_pd(p, v); }
static inline vd vd_zero() { return _mm256_setzero_pd(); }
static inline vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
static inline vd vd_lo(vf v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline vd vd_hi(vf v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
#else
#error "core/vec.h: compile the families with -mavx512f... or -mavx2 -mfma (binding.gyp)"
#endif

// 128-bit: the WebAssembly v128 (f32x4) counterpart.
typedef __m128 v4;
static inline v4 v4_load(const float *p) { return _mm_loadu_ps(p); }
static inline void v4_store(float *p, v4 v) { _mm_storeu_ps(p, v); }
static inline v4 v4_splat(float s) { return _mm_set1_ps(s); }
static inline v4 v4_add(v4 a, v4 b) { return _mm_add_ps(a, b); }
static inline v4 v4_sub(v4 a, v4 b) { return _mm_sub_ps(a, b); }
static inline v4 v4_mul(v4 a, v4 b) { return _mm_mul_ps(a, b); }
static inline v4 v4_fma(v4 a, v4 b, v4 c) { return _mm_fmadd_ps(a, b, c); }
static inline v4 v4_relu(v4 v) { return _mm_and_ps(v, _mm_cmp_ps(v, _mm_setzero_ps(), _CMP_NLE_UQ)); }

static inline float relus(float v) { return v > 0 || v != v ? v : 0.0f; }
