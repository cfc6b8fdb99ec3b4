// Shared by the native GEMM convolution families (gemm.cc, gemm_w.cc, depthwise.cc), included
// inside their ISA namespace after core/vec.h: the v128 shim over 32-bit arena offsets, the
// wide micro-kernel (gemm_wide.h) and the helpers of src/kernels/wasm/common/ that several passes use (the
// micro-kernels and their fused write-backs, the packings, the x prologue's window, the dx
// epilogue's runs). See gemm.cc for what the port keeps and what it changes.
#pragma once
// (the including file includes <type_traits> and core/abi.h before BNFF_BEGIN)
#include "../core/act.h"

// (the port keeps the AS kernels' locals, some of which a variant does not use)
#pragma GCC diagnostic ignored "-Wunused-variable"

namespace {

typedef float f32;
typedef double f64;
typedef int32_t i32;
// Byte offsets into the arena (AssemblyScript's usize, 32-bit there) are 64-bit here: the native
// arena may exceed 4 GiB. Arithmetic wraps modulo 2^64 as the WebAssembly kernels' wraps modulo
// 2^32, so a negative intermediate (i32 converted to ux) comes back the same way.
typedef uint64_t ux;
typedef int64_t i64;
typedef uint64_t u64;
typedef __m128 v128;

// The arena's base, set by every entry point (the same for all threads of a call).
static thread_local uint8_t *gM __attribute__((tls_model("initial-exec")));
// The origin of this thread's row table (fillRows: x; normWindow: its window): a row's image
// pointer is stored as an i32 byte offset from it (rowX), so that the 12-byte rows of the
// WebAssembly kernels' layout address an arena of any size (an image lies within 2 GiB of it).
static thread_local ux gRowO __attribute__((tls_model("initial-exec")));

#define ASC_FEATURE_RELAXED_SIMD 1

template <class T> static inline T load(ux p, ux off = 0) {
  T v;
  memcpy(&v, gM + (size_t)p + off, sizeof v);
  return v;
}
template <class T> static inline void store(ux p, T v, ux off = 0) { memcpy(gM + (size_t)p + off, &v, sizeof v); }
static inline v128 v128_load(ux p, ux off = 0) { return _mm_loadu_ps((const float *)(gM + (size_t)p + off)); }
static inline void v128_store(ux p, v128 v, ux off = 0) { _mm_storeu_ps((float *)(gM + (size_t)p + off), v); }
static inline v128 v128_load32_splat(ux p, ux off = 0) { return _mm_set1_ps(load<f32>(p, off)); }
static inline v128 v128_and(v128 a, v128 b) { return _mm_and_ps(a, b); }
static inline v128 v128_andnot(v128 a, v128 b) { return _mm_andnot_ps(b, a); }  // a & ~b
static inline v128 f32x4_splat(f32 s) { return _mm_set1_ps(s); }
static inline v128 f32x4_add(v128 a, v128 b) { return _mm_add_ps(a, b); }
static inline v128 f32x4_sub(v128 a, v128 b) { return _mm_sub_ps(a, b); }
static inline v128 f32x4_mul(v128 a, v128 b) { return _mm_mul_ps(a, b); }
static inline v128 f32x4_le(v128 a, v128 b) { return _mm_cmple_ps(a, b); }  // ordered: NaN -> false, as wasm
static inline v128 f32x4_relaxed_madd(v128 a, v128 b, v128 c) { return _mm_fmadd_ps(a, b, c); }
static inline v128 i32x4_splat(i32 s) { return _mm_castsi128_ps(_mm_set1_epi32(s)); }
static inline v128 f64x2_add(v128 a, v128 b) { return _mm_castpd_ps(_mm_add_pd(_mm_castps_pd(a), _mm_castps_pd(b))); }
static inline v128 f64x2_mul(v128 a, v128 b) { return _mm_castpd_ps(_mm_mul_pd(_mm_castps_pd(a), _mm_castps_pd(b))); }
static inline v128 f64x2_relaxed_madd(v128 a, v128 b, v128 c) {
  return _mm_castpd_ps(_mm_fmadd_pd(_mm_castps_pd(a), _mm_castps_pd(b), _mm_castps_pd(c)));
}
static inline v128 f64x2_promote_low_f32x4(v128 v) { return _mm_castpd_ps(_mm_cvtps_pd(v)); }
typedef int v4si_ __attribute__((vector_size(16)));
typedef long long v2di_ __attribute__((vector_size(16)));
#define i32x4_shuffle(a, b, i0, i1, i2, i3) ((v128)__builtin_shuffle((v4si_)(a), (v4si_)(b), (v4si_){i0, i1, i2, i3}))
#define i64x2_shuffle(a, b, i0, i1) ((v128)__builtin_shuffle((v2di_)(a), (v2di_)(b), (v2di_){i0, i1}))
static inline void memory_fill(ux p, int v, ux n) { memset(gM + (size_t)p, v, n); }
static inline void memory_copy(ux dst, ux src, ux n) { memmove(gM + (size_t)dst, gM + (size_t)src, n); }
[[noreturn]] static inline void unreachable() { __builtin_trap(); }
template <class T> static inline T min(T a, T b) { return a < b ? a : b; }
template <class T> static inline T max(T a, T b) { return a > b ? a : b; }
template <class F> constexpr bool isFloat() { return std::is_floating_point<F>::value; }

#include "gemm_wide.h"

// A read in place (gemm_wide.h A_ROWS, A_COLS) only where its rows are at most this many floats
// apart: at 1024 floats (4 KiB) and more, the 12 rows of a tile (or the k steps of A^T) fall into
// one L1 set and thrash; the packed path is faster there (1x1 1024->256 @14, one thread: forward 50% -> 87% of the
// micro-kernel rate, backward-weights 65% -> 74%)
constexpr i32 ROWS_IN_PLACE = 512;

// ---- prototypes ----
static inline v128 fma(v128 a, v128 b, v128 c);
static inline v128 fma64(v128 a, v128 b, v128 c);
template <class F> static inline bool fused();
static inline v128 reluv(v128 v);
static inline v128 dyv(ux ca, ux cs, ux p, ux dlt);
static inline v128 dyr(v128 a, v128 b, v128 c0, ux p, ux dlt);
static inline f32 dyf(ux ca, ux cs, ux p, ux dlt);
static inline f32 nrm(f32 x, f32 a, f32 b, i32 act);
static inline i32 ld(ux d, i32 i);
static inline ux rowX(ux t, ux off = 0);
static inline i32 balanced(i32 n, i32 max);
static inline void zeroPage(ux scratch);
static void mk(ux a, ux b, i32 kc, ux d0, ux d1, ux d2, ux d3, ux bias, i32 add);
static void tileOut(ux tile, ux d0, ux d1, ux d2, ux d3, i32 ncols, ux bias, i32 add);
static inline v128 lo64(v128 v);
static inline v128 hi64(v128 v);
static void mkm(ux a, ux b, i32 kc, ux d0, ux d1, ux d2, ux d3, ux bias, i32 add, ux sh, ux ko, i32 init, ux s64);
static void momTile(ux d0, ux d1, ux d2, ux d3, i32 ncols, ux sh, ux ko, i32 init);
static void flushSums(ux s32, ux so, ux s64, ux qo, i32 ncols);
static void mkx(ux a, ux b, i32 kc, ux d0, ux d1, ux d2, ux d3, i32 add, ux xr, ux ldx, ux cf, ux cb, ux cm, i32 act, ux st, ux qo, ux s64, i32 acc);
static void dxTile(ux d0, ux d1, ux d2, ux d3, i32 ncols, ux xr, ux ldx, ux cf, ux cb, ux cm, i32 act, ux st, ux qo, ux tile = 0);
static void copy4(ux dst, ux p0, ux p1, ux p2, ux p3, i32 len, ux zero);
static void copy4n(ux dst, ux p0, ux p1, ux p2, ux p3, i32 len, ux zero, ux sa, ux sb, i32 act);
static void copy4dy(ux dst, ux p0, ux p1, ux p2, ux p3, ux dlt, i32 len, ux ca, ux cs);
static void expandCoef(ux d, ux coef, ux ce, i32 rows = 2);
static bool normWindow(ux d, ux tab, i32 m0, i32 cnt, ux x, ux ce, i32 act, ux zw, ux zcap, ux dlt = 0, bool dym = false);
static void fillRows(ux d, ux tab, i32 m0, i32 cnt, ux base);
static inline ux tapPtr(ux xb, i32 ih, i32 iw, i32 H, i32 W, i32 C, i32 coff);
template <class F> static inline void cp4(ux dst, ux p0, ux p1, ux p2, ux p3, i32 len, ux zero, ux sa, ux sb, i32 act);
template <class F> static void packAFwd(ux d, ux t, i32 nv, i32 g, i32 r0, i32 kc, ux panel, ux zero, ux ce, ux nb, i32 act, i32 xs);
static void as_conv_pack_w_fwd(ux d, ux w, ux bp, i32 start, i32 end, ux scratch);
static void as_conv_pack_w_fwd_flip(ux d, ux w, ux bp, i32 start, i32 end, ux scratch);
static inline void packWFwd(ux d, ux w, ux bp, i32 start, i32 end, bool flip);
static void as_conv_pack_w_bwd_data(ux d, ux w, ux bp, i32 start, i32 end, ux scratch);
static void as_conv_fwd(ux d, ux x, ux bp, ux bias, ux y, i32 start, i32 end, ux scratch);
static void as_conv_fwd_f(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch);
static void as_conv_fwd_dx_f(ux d, ux dy, ux bp, ux dx, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch);
static void as_conv_fwd_dy_f(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch);
template <class F> static void convFwd(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, ux x2, ux c2, ux m2, i32 act2, ux dlt, i32 dym, i32 start, i32 end, ux scratch);
static i32 blockMoments(ux y, i32 K, i32 mb, i32 mn, bool first, bool last, ux st, i32 tiles);
static inline ux sj32(ux st, i32 K, i32 col);
static void as_conv_pack_w_fwd_t(ux d, ux w, ux bp, i32 start, i32 end, ux scratch);
static void mkT(ux a, ux b0, ux b1, i32 kc, ux e0, ux e1, ux e2, ux e3, ux e4, ux e5, ux e6, ux e7, ux bias, i32 add);
static inline void wrT(ux e, v128 v, i32 add);
static void as_conv_fwd_t(ux d, ux x, ux bp, ux bias, ux y, i32 start, i32 end, ux scratch);
static void as_conv_fwd_t_f(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch);
template <class F> static void convFwdT(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch);
static void as_conv_pack_w_fwd_dot(ux d, ux w, ux bp, i32 start, i32 end, ux scratch);
static inline v128 hsum4(v128 a, v128 b, v128 c, v128 d);
static void as_conv_fwd_dot(ux d, ux x, ux bp, ux bias, ux y, i32 start, i32 end, ux scratch);
static void as_conv_fwd_dot_f(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch);
template <class F> static void convFwdDot(ux d, ux x, ux bp, ux bias, ux y, ux coef, i32 act, i32 mom, i32 start, i32 end, ux scratch);
static void as_conv_bwd_data(ux d, ux dy, ux bp, ux dx, i32 start, i32 end, ux scratch);
static void as_conv_bwd_data_f(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch);
static void dxRows(ux d, ux dxn, ux x2n, i32 h0, i32 h1, ux c2, ux m2, i32 act, ux st);
static void dxRun(ux px0, ux xp0, i32 W, i32 C, ux xsb, ux c2, ux m2, i32 act, ux st, ux gp0 = 0, ux gsb = 0, ux yo0 = 0);
template <class F> static inline void packDyRows(ux a, ux dy, i32 m, i32 rem, i32 K, i32 k, i32 kc, ux dlt, ux cdy, ux zero);
static void colAdd(ux d, ux col, ux cs, ux tab, i32 mn, ux dxn);
template <class F> static void bwdData(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch);
static void as_conv_bwd_data_1x1(ux d, ux dy, ux bp, ux dx, i32 start, i32 end, ux scratch);
static void as_conv_bwd_data_1x1_f(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch);
template <class F> static void bwdData1x1(ux d, ux dy, ux bp, ux dx, ux dlt, ux cdy, ux x2, ux c2, ux m2, i32 act, i32 start, i32 end, ux scratch);
static inline ux atStride(i32 mlen);
template <class F> static void packAT(ux d, ux tab, i32 mlen, i32 g, i32 p0, i32 p1, ux dst, ux ce, ux nb, i32 act, i32 xs);
template <class F> static void packATTight(ux d, ux tab, i32 mlen, i32 p0, i32 p1, ux dst, ux ce, ux nb, i32 act);
template <class F> static void packDY(ux d, ux dy, i32 m0, i32 mlen, i32 g, i32 ja, i32 je, ux dst, ux dlt, ux cdy, i32 ps, ux tmp);
static void as_conv_bwd_w(ux d, ux dy, ux x, ux acc, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_f(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch);
template <class F> static void bwdW(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_t(ux d, ux dy, ux x, ux acc, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_t_f(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch);
template <class F> static void bwdWT(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_dot(ux d, ux dy, ux x, ux acc, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_dot_f(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch);
template <class F> static void bwdWDot(ux d, ux dy, ux x, ux acc, ux dlt, ux cdy, ux cx, i32 act, i32 start, i32 end, ux scratch);
static inline void wrAcc(ux p, v128 v0, v128 v1, bool wide, bool first);
static void as_conv_bwd_w_dot_out(ux d, ux acc, ux dw, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_t_out(ux d, ux acc, ux dw, i32 start, i32 end, ux scratch);
static void as_conv_bwd_w_out(ux d, ux acc, ux dw, i32 start, i32 end, ux scratch);
static void as_conv_bias_grad(ux d, ux dy, ux db, i32 start, i32 end, ux scratch);
static void as_conv_bias_grad_f(ux d, ux dy, ux db, ux dlt, ux cdy, i32 start, i32 end, ux scratch);
template <class F> static void biasGrad(ux d, ux dy, ux db, ux dlt, ux cdy, i32 start, i32 end, ux scratch);
static void as_conv_dw_pack_w(ux d, ux w, ux wt, i32 start, i32 end, ux scratch);
static void as_gemm_bench_mk(i32 kc, i32 reps, i32 start, i32 end, ux scratch);

// ---- the port of the WebAssembly GEMM kernels (their comments kept; "pointers" are arena offsets here) ----
//
// The micro-kernel `mk` computes a 4x8 tile (4 rows of M or of the reduction, 8 output columns)
// in 8 v128 accumulators from A packed as [k][4] and B packed as [k][8].

static inline v128 fma(v128 a, v128 b, v128 c) {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4_relaxed_madd(a, b, c);
  return f32x4_add(f32x4_mul(a, b), c);
}

static inline v128 fma64(v128 a, v128 b, v128 c) {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2_relaxed_madd(a, b, c);
  return f64x2_add(f64x2_mul(a, b), c);
}

// Fused variants (BN work in a prologue or epilogue, docs/design/conv-kernels.md) are compile-time
// instantiations of the same generic kernel bodies: F = Plain compiles to the unfused kernel
// (every `fused<F>()` branch folds away), F = Fused to the fused one.
typedef i32 Plain;
typedef f32 Fused;
template <class F> static inline bool fused() {
  return isFloat<F>();
}

/** max(0, v) letting NaN through (PyTorch's relu): 0 where v <= 0. */
static inline v128 reluv(v128 v) {
  return v128_andnot(v, f32x4_le(v, f32x4_splat(0)));
}

/**
 * The dy prologue (BN backward-data recomputed on load), one place for every kernel that applies
 * it: dY = A*dbn + (B*xbn + C0) with dbn at p, xbn at p + dlt and the coefficients A, B, C0 at
 * ca, ca + cs, ca + 2*cs (4 lanes, or one float).
 */
static inline v128 dyv(ux ca, ux cs, ux p, ux dlt) {
  return dyr(v128_load(ca), v128_load(ca + cs), v128_load(ca + 2 * cs), p, dlt);
}
/** dyv with the coefficients A, B, C0 already in registers. */
static inline v128 dyr(v128 a, v128 b, v128 c0, ux p, ux dlt) {
  return fma(a, v128_load(p), fma(b, v128_load(p + dlt), c0));
}
static inline f32 dyf(ux ca, ux cs, ux p, ux dlt) {
  return load<f32>(ca) * load<f32>(p) + (load<f32>(ca + cs) * load<f32>(p + dlt) + load<f32>(ca + 2 * cs));
}

// ---- activations (ACT_* codes) on the port's 128- and 256-bit vectors ----
// The lanes go through core/act.h's vf formulas (zero-extended to the full width, the upper lanes
// dropped): per lane the operations of wasm common/act.ts, so the bits are the WebAssembly
// kernels'. ReLU and ReLU6, the common cases, stay at the vector's own width.

#if BNFF_VW == 16
static inline vf actWide(v128 v) { return _mm512_zextps128_ps512(v); }
static inline vf actWide(__m256 v) { return _mm512_zextps256_ps512(v); }
static inline v128 actNarrow(vf v, v128) { return _mm512_castps512_ps128(v); }
static inline __m256 actNarrow(vf v, __m256) { return _mm512_castps512_ps256(v); }
#else
static inline vf actWide(v128 v) { return _mm256_zextps128_ps256(v); }
static inline vf actWide(__m256 v) { return v; }
static inline v128 actNarrow(vf v, v128) { return _mm256_castps256_ps128(v); }
static inline __m256 actNarrow(vf v, __m256) { return v; }
#endif

static inline __m256 reluv(__m256 v) { return _mm256_andnot_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LE_OQ), v); }
// dy where z > 0 or NaN, else +0
static inline v128 reluGrad(v128 z, v128 dy) { return v128_andnot(dy, f32x4_le(z, f32x4_splat(0))); }
static inline __m256 reluGrad(__m256 z, __m256 dy) { return _mm256_andnot_ps(_mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LE_OQ), dy); }
// ReLU6 at the vector's own width, lane for lane act_relu6 and act_grad's ReLU6 (mobilenet_v2's
// project convolutions: no widening in the dx epilogue's and the packing's inner loops)
static inline v128 relu6v(v128 v) {
  const v128 r = reluv(v), six = _mm_set1_ps(6.0f);
  return _mm_blendv_ps(r, six, _mm_cmpge_ps(r, six));
}
static inline __m256 relu6v(__m256 v) {
  const __m256 r = reluv(v), six = _mm256_set1_ps(6.0f);
  return _mm256_blendv_ps(r, six, _mm256_cmp_ps(r, six, _CMP_GE_OQ));
}
// dy where 0 < z < 6 or z is NaN, else +0
static inline v128 relu6Grad(v128 z, v128 dy) { return _mm_andnot_ps(_mm_or_ps(_mm_cmple_ps(z, _mm_setzero_ps()), _mm_cmpge_ps(z, _mm_set1_ps(6.0f))), dy); }
static inline __m256 relu6Grad(__m256 z, __m256 dy) {
  return _mm256_andnot_ps(_mm256_or_ps(_mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LE_OQ), _mm256_cmp_ps(z, _mm256_set1_ps(6.0f), _CMP_GE_OQ)), dy);
}

/** act(z) (wasm actv): V is v128 or __m256. */
template <class V> static inline V actv(i32 act, V z) {
  if (act == ACT_RELU) return reluv(z);
  if (act == ACT_RELU6) return relu6v(z);
  return act ? actNarrow(act_apply(act, actWide(z)), z) : z;
}
/** dy * act'(z) (wasm actGradv). */
template <class V> static inline V actGradv(i32 act, V z, V dy) {
  if (act == ACT_RELU) return reluGrad(z, dy);
  if (act == ACT_RELU6) return relu6Grad(z, dy);
  return act ? actNarrow(act_grad(act, actWide(z), actWide(dy)), z) : dy;
}

/** The x prologue of one float: act(a*x + b) for an ACT_* code (0: none; ReLU without the vector detour). */
static inline f32 nrm(f32 x, f32 a, f32 b, i32 act) {
  const auto v = a * x + b;
  return act == ACT_RELU ? (v <= 0 ? 0 : v) : act ? act_apply_s(act, v) : v;
}

// ---- descriptor fields (i32): src/kernels/abi/conv_descriptor.ts, the one table of the ABI ----

static inline i32 ld(ux d, i32 i) {
  return load<i32>(d + ((ux)i << 2));
}

/** The image pointer of the row table entry at t (+ off): gRowO plus the stored i32 offset. */
static inline ux rowX(ux t, ux off) {
  return gRowO + (ux)(i64)load<i32>(t, off);
}

// ---- per-thread scratch layout ----
const ux SC_ZERO = 0; // 64 zero bytes: the source of padding lanes
const ux SC_TILE = 64; // one 4x8 f32 tile (edge tiles)
const ux SC_RING = 240; // Winograd: the normalised ring's image and last row (2 i32)
const ux SC_ROWS = 256; // row table, 3 i32 per row (backward-data: 2), at most MAX_ROWS rows
const auto MAX_ROWS = 4096;
const ux SC_TROW = 49408; // backward-weights, tight rows: one pixel's KH*SEG floats (<= 2048 + 4)
const ux SC_ZBUF = 61440; // conv_fwd_dot: zeros for padding taps (up to 1024 channels)
const ux SC_PACK = 65536; // packed blocks
const i32 INVALID = -(1 << 28); // ih0 of a padding row: every tap falls outside

/** Block size (multiple of 4, at most max) splitting n rows into equal blocks. */
static inline i32 balanced(i32 n, i32 max) {
  const auto nb = (n + max - 1) / max;
  return min(max, (((n + nb - 1) / nb) + 3) & ~3);
}

static inline void zeroPage(ux scratch) {
  const auto z = f32x4_splat(0);
  v128_store(scratch, z);
  v128_store(scratch, z, 16);
  v128_store(scratch, z, 32);
  v128_store(scratch, z, 48);
}

// =====================================================================================
// Micro-kernel: 4x8 tile, 8 accumulators, A [kc][4] (4 splat loads per k), B [kc][8].
// Rows r = 0..3 go to d0..d3 (a row pointer 0 skips the row: masked write-back).
// bias != 0: accumulators start at bias[0..8] (first reduction block of the forward pass).
// add != 0: d_r[0..8] += tile (later reduction blocks); else d_r[0..8] = tile.
// =====================================================================================
static void mk(ux a, ux b, i32 kc, ux d0, ux d1, ux d2, ux d3, ux bias, i32 add) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  if (bias) {
    c00 = v128_load(bias); c01 = v128_load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }
  // One k step per iteration, deliberately not unrolled: TurboFan hoists the loads of an
  // unrolled body and then spills accumulators (measured: 4x unroll 36 GFLOP/s, 2x 26, none 55).
  const auto aEnd = a + ((ux)kc << 4);
  while (a < aEnd) {
    const auto b0 = v128_load(b); const auto b1 = v128_load(b, 16);
    auto av = v128_load32_splat(a);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128_load32_splat(a, 4);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128_load32_splat(a, 8);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128_load32_splat(a, 12);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    a += 16; b += 32;
  }
  // ---- EPILOGUE (write-back of the tile) ----
  // Row by row, each row's load-add before its store: in the backward-data col2im the rows of
  // one tile may overlap in dx (neighbouring pixels' kernel rows), and the adds must chain.
  // (The fused epilogues are copies of this kernel with more write-back: mkm, BN statistics of
  // the forward output; mkx, the backward-data dx epilogue. This one stays as it is.)
  if (d0) {
    if (add) { c00 = f32x4_add(v128_load(d0), c00); c01 = f32x4_add(v128_load(d0, 16), c01); }
    v128_store(d0, c00); v128_store(d0, c01, 16);
  }
  if (d1) {
    if (add) { c10 = f32x4_add(v128_load(d1), c10); c11 = f32x4_add(v128_load(d1, 16), c11); }
    v128_store(d1, c10); v128_store(d1, c11, 16);
  }
  if (d2) {
    if (add) { c20 = f32x4_add(v128_load(d2), c20); c21 = f32x4_add(v128_load(d2, 16), c21); }
    v128_store(d2, c20); v128_store(d2, c21, 16);
  }
  if (d3) {
    if (add) { c30 = f32x4_add(v128_load(d3), c30); c31 = f32x4_add(v128_load(d3, 16), c31); }
    v128_store(d3, c30); v128_store(d3, c31, 16);
  }
}

/** Edge tile (fewer than 8 valid columns): mk into the scratch tile, then this masked copy. */
static void tileOut(ux tile, ux d0, ux d1, ux d2, ux d3, i32 ncols, ux bias, i32 add) {
  for (auto r = 0; r < 4; r++) {
    const auto dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const auto src = tile + ((ux)r << 5);
    for (auto j = 0; j < ncols; j++) {
      const auto o = (ux)j << 2;
      auto v = load<f32>(src + o);
      if (bias) v = load<f32>(bias + o) + v;
      if (add) v = load<f32>(dst + o) + v;
      store<f32>(dst + o, v);
    }
  }
}

// ---- fused epilogues of the micro-kernel (BN statistics / BN backward reduction) ----

/** f64 of the low / high two lanes of an f32x4. */
static inline v128 lo64(v128 v) {
  return f64x2_promote_low_f32x4(v);
}
static inline v128 hi64(v128 v) {
  return f64x2_promote_low_f32x4(i32x4_shuffle(v, v, 2, 3, 2, 3));
}

/**
 * mk with the BN statistics epilogue (forward pass, last reduction block). After the usual
 * write-back the tile holds final outputs y (bias and earlier blocks included). Per channel l of
 * the panel, with a per-thread shift K[l] = the mean of the first final tile of that channel
 * this thread computes (stored when init; its row 0 is always a real row), the rows whose pointer is
 * non-zero add d = y - K to S[l] and d^2 to Q[l] (f32, in L1; conv_fwd_f adds them to f64
 * partials every 16 tiles, flushSums). y - K is exact near the mean (Sterbenz), so a large
 * |mean|/std does not cancel. sh = &K[col]; S at sh + ko, Q at sh + 2*ko.
 */
static void mkm(ux a, ux b, i32 kc, ux d0, ux d1, ux d2, ux d3, ux bias, i32 add, ux sh, ux ko, i32 init, ux s64) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  if (bias) {
    c00 = v128_load(bias); c01 = v128_load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }
  const auto aEnd = a + ((ux)kc << 4);
  while (a < aEnd) {
    const auto b0 = v128_load(b); const auto b1 = v128_load(b, 16);
    auto av = v128_load32_splat(a);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128_load32_splat(a, 4);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128_load32_splat(a, 8);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128_load32_splat(a, 12);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    a += 16; b += 32;
  }
  if (d0) {
    if (add) { c00 = f32x4_add(v128_load(d0), c00); c01 = f32x4_add(v128_load(d0, 16), c01); }
    v128_store(d0, c00); v128_store(d0, c01, 16);
  }
  if (init) {
    // shift = mean of the tile's real rows (the closer to the channel mean, the less the f32
    // sums of (y - K)^2 lose to the final cancellation)
    auto t0 = c00; auto t1 = c01; f32 n = 1;
    if (d1) { t0 = f32x4_add(t0, c10); t1 = f32x4_add(t1, c11); n += 1; }
    if (d2) { t0 = f32x4_add(t0, c20); t1 = f32x4_add(t1, c21); n += 1; }
    if (d3) { t0 = f32x4_add(t0, c30); t1 = f32x4_add(t1, c31); n += 1; }
    const auto r = f32x4_splat(1 / n);
    v128_store(sh, f32x4_mul(t0, r)); v128_store(sh, f32x4_mul(t1, r), 16);
  }
  const auto k0 = v128_load(sh); const auto k1 = v128_load(sh, 16);
  auto s0 = f32x4_sub(c00, k0); auto s1 = f32x4_sub(c01, k1);
  auto q0 = f32x4_mul(s0, s0); auto q1 = f32x4_mul(s1, s1);
  if (d1) {
    if (add) { c10 = f32x4_add(v128_load(d1), c10); c11 = f32x4_add(v128_load(d1, 16), c11); }
    v128_store(d1, c10); v128_store(d1, c11, 16);
    const auto e0 = f32x4_sub(c10, k0); const auto e1 = f32x4_sub(c11, k1);
    s0 = f32x4_add(s0, e0); s1 = f32x4_add(s1, e1); q0 = fma(e0, e0, q0); q1 = fma(e1, e1, q1);
  }
  if (d2) {
    if (add) { c20 = f32x4_add(v128_load(d2), c20); c21 = f32x4_add(v128_load(d2, 16), c21); }
    v128_store(d2, c20); v128_store(d2, c21, 16);
    const auto e0 = f32x4_sub(c20, k0); const auto e1 = f32x4_sub(c21, k1);
    s0 = f32x4_add(s0, e0); s1 = f32x4_add(s1, e1); q0 = fma(e0, e0, q0); q1 = fma(e1, e1, q1);
  }
  if (d3) {
    if (add) { c30 = f32x4_add(v128_load(d3), c30); c31 = f32x4_add(v128_load(d3, 16), c31); }
    v128_store(d3, c30); v128_store(d3, c31, 16);
    const auto e0 = f32x4_sub(c30, k0); const auto e1 = f32x4_sub(c31, k1);
    s0 = f32x4_add(s0, e0); s1 = f32x4_add(s1, e1); q0 = fma(e0, e0, q0); q1 = fma(e1, e1, q1);
  }
  const auto sp = sh + ko; const auto qp = sp + ko;
  v128_store(sp, f32x4_add(v128_load(sp), s0)); v128_store(sp, f32x4_add(v128_load(sp, 16), s1), 16);
  v128_store(qp, f32x4_add(v128_load(qp), q0)); v128_store(qp, f32x4_add(v128_load(qp, 16), q1), 16);
  if (s64) flushSums(sp, ko, s64, ko << 1, 8);
}

/** Edge-tile (ncols < 8) moments as mkm, from the final values tileOut wrote (d0 is a real row). */
static void momTile(ux d0, ux d1, ux d2, ux d3, i32 ncols, ux sh, ux ko, i32 init) {
  if (init) {
    const f32 n = (f32)(1 + (d1 ? 1 : 0) + (d2 ? 1 : 0) + (d3 ? 1 : 0));
    for (auto l = 0; l < ncols; l++) {
      const auto o = (ux)l << 2;
      auto t = load<f32>(d0 + o);
      if (d1) t += load<f32>(d1 + o);
      if (d2) t += load<f32>(d2 + o);
      if (d3) t += load<f32>(d3 + o);
      store<f32>(sh + o, t * (1 / n));
    }
  }
  for (auto r = 0; r < 4; r++) {
    const auto dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    for (auto l = 0; l < ncols; l++) {
      const auto o = (ux)l << 2;
      const auto e = load<f32>(dst + o) - load<f32>(sh + o);
      store<f32>(sh + ko + o, load<f32>(sh + ko + o) + e);
      store<f32>(sh + 2 * ko + o, load<f32>(sh + 2 * ko + o) + e * e);
    }
  }
}

/**
 * Adds the f32 sums of `ncols` channels at s32 (S) and s32 + so (Q) to the f64 partials at s64
 * and s64 + qo, and zeroes them: every 16 tiles (64 rows), so that f32 sums stay short.
 */
static void flushSums(ux s32, ux so, ux s64, ux qo, i32 ncols) {
  if (ncols == 8) {
    const auto s0 = v128_load(s32); const auto s1 = v128_load(s32, 16); const auto q0 = v128_load(s32 + so); const auto q1 = v128_load(s32 + so, 16);
    v128_store(s64, f64x2_add(v128_load(s64), lo64(s0)));
    v128_store(s64, f64x2_add(v128_load(s64, 16), hi64(s0)), 16);
    v128_store(s64, f64x2_add(v128_load(s64, 32), lo64(s1)), 32);
    v128_store(s64, f64x2_add(v128_load(s64, 48), hi64(s1)), 48);
    const auto q = s64 + qo;
    v128_store(q, f64x2_add(v128_load(q), lo64(q0)));
    v128_store(q, f64x2_add(v128_load(q, 16), hi64(q0)), 16);
    v128_store(q, f64x2_add(v128_load(q, 32), lo64(q1)), 32);
    v128_store(q, f64x2_add(v128_load(q, 48), hi64(q1)), 48);
    const auto z = f32x4_splat(0);
    v128_store(s32, z); v128_store(s32, z, 16); v128_store(s32 + so, z); v128_store(s32 + so, z, 16);
    return;
  }
  for (auto l = 0; l < ncols; l++) {
    const auto o = (ux)l << 2; const auto o8 = (ux)l << 3;
    store<f64>(s64 + o8, load<f64>(s64 + o8) + (f64)load<f32>(s32 + o));
    store<f64>(s64 + qo + o8, load<f64>(s64 + qo + o8) + (f64)load<f32>(s32 + so + o));
    store<f32>(s32 + o, 0);
    store<f32>(s32 + so + o, 0);
  }
}

/**
 * mk with the backward-data dx epilogue (1x1 path, last reduction block): each row's final dx
 * (pointer non-zero) is multiplied by the derivative of the previous BN's activation (act, an
 * ACT_* code: dx * act'(z), z = a2*x2 + b2 recomputed as the forward computed it; ReLU: dx = 0
 * where z <= 0), stored, and reduced for that BN: st[l] += dx, st[qo + l] += dx*(x2 - mean2) (f32 sums
 * in L1, added to the f64 partials at s64 (Q at s64 + 2*qo) when s64 != 0: every 16 tiles). x2 of
 * row r at xr + r*ldx (the tile's 8 channels), cf = &a2[col] (b2 at cf + cb), cm = &mean2[col].
 * acc != 0 (D_GACC): the rows are a gradient buffer's, and a2*dx is added into them instead
 * (add must then be 0: one reduction block).
 */
static void mkx(ux a, ux b, i32 kc, ux d0, ux d1, ux d2, ux d3, i32 add, ux xr, ux ldx, ux cf, ux cb, ux cm, i32 act, ux st, ux qo, ux s64, i32 acc) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  const auto aEnd = a + ((ux)kc << 4);
  while (a < aEnd) {
    const auto b0 = v128_load(b); const auto b1 = v128_load(b, 16);
    auto av = v128_load32_splat(a);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128_load32_splat(a, 4);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128_load32_splat(a, 8);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128_load32_splat(a, 12);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    a += 16; b += 32;
  }
  const auto z = f32x4_splat(0);
  auto s0 = z; auto s1 = z; auto q0 = z; auto q1 = z;
  if (d0) {
    if (add) { c00 = f32x4_add(v128_load(d0), c00); c01 = f32x4_add(v128_load(d0, 16), c01); }
    const auto x0 = v128_load(xr); const auto x1 = v128_load(xr, 16);
    if (act) {
      c00 = actGradv(act, fma(x0, v128_load(cf), v128_load(cf + cb)), c00);
      c01 = actGradv(act, fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), c01);
    }
    if (acc) {
      v128_store(d0, fma(c00, v128_load(cf), v128_load(d0))); v128_store(d0, fma(c01, v128_load(cf, 16), v128_load(d0, 16)), 16);
    } else {
      v128_store(d0, c00); v128_store(d0, c01, 16);
    }
    s0 = c00; s1 = c01;
    q0 = f32x4_mul(c00, f32x4_sub(x0, v128_load(cm))); q1 = f32x4_mul(c01, f32x4_sub(x1, v128_load(cm, 16)));
  }
  xr += ldx;
  if (d1) {
    if (add) { c10 = f32x4_add(v128_load(d1), c10); c11 = f32x4_add(v128_load(d1, 16), c11); }
    const auto x0 = v128_load(xr); const auto x1 = v128_load(xr, 16);
    if (act) {
      c10 = actGradv(act, fma(x0, v128_load(cf), v128_load(cf + cb)), c10);
      c11 = actGradv(act, fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), c11);
    }
    if (acc) {
      v128_store(d1, fma(c10, v128_load(cf), v128_load(d1))); v128_store(d1, fma(c11, v128_load(cf, 16), v128_load(d1, 16)), 16);
    } else {
      v128_store(d1, c10); v128_store(d1, c11, 16);
    }
    s0 = f32x4_add(s0, c10); s1 = f32x4_add(s1, c11);
    q0 = fma(c10, f32x4_sub(x0, v128_load(cm)), q0); q1 = fma(c11, f32x4_sub(x1, v128_load(cm, 16)), q1);
  }
  xr += ldx;
  if (d2) {
    if (add) { c20 = f32x4_add(v128_load(d2), c20); c21 = f32x4_add(v128_load(d2, 16), c21); }
    const auto x0 = v128_load(xr); const auto x1 = v128_load(xr, 16);
    if (act) {
      c20 = actGradv(act, fma(x0, v128_load(cf), v128_load(cf + cb)), c20);
      c21 = actGradv(act, fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), c21);
    }
    if (acc) {
      v128_store(d2, fma(c20, v128_load(cf), v128_load(d2))); v128_store(d2, fma(c21, v128_load(cf, 16), v128_load(d2, 16)), 16);
    } else {
      v128_store(d2, c20); v128_store(d2, c21, 16);
    }
    s0 = f32x4_add(s0, c20); s1 = f32x4_add(s1, c21);
    q0 = fma(c20, f32x4_sub(x0, v128_load(cm)), q0); q1 = fma(c21, f32x4_sub(x1, v128_load(cm, 16)), q1);
  }
  xr += ldx;
  if (d3) {
    if (add) { c30 = f32x4_add(v128_load(d3), c30); c31 = f32x4_add(v128_load(d3, 16), c31); }
    const auto x0 = v128_load(xr); const auto x1 = v128_load(xr, 16);
    if (act) {
      c30 = actGradv(act, fma(x0, v128_load(cf), v128_load(cf + cb)), c30);
      c31 = actGradv(act, fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), c31);
    }
    if (acc) {
      v128_store(d3, fma(c30, v128_load(cf), v128_load(d3))); v128_store(d3, fma(c31, v128_load(cf, 16), v128_load(d3, 16)), 16);
    } else {
      v128_store(d3, c30); v128_store(d3, c31, 16);
    }
    s0 = f32x4_add(s0, c30); s1 = f32x4_add(s1, c31);
    q0 = fma(c30, f32x4_sub(x0, v128_load(cm)), q0); q1 = fma(c31, f32x4_sub(x1, v128_load(cm, 16)), q1);
  }
  const auto q = st + qo;
  v128_store(st, f32x4_add(v128_load(st), s0)); v128_store(st, f32x4_add(v128_load(st, 16), s1), 16);
  v128_store(q, f32x4_add(v128_load(q), q0)); v128_store(q, f32x4_add(v128_load(q, 16), q1), 16);
  if (s64) flushSums(st, qo, s64, qo << 1, 8);
}

#include "gemm_epi.h"

/**
 * Edge-tile (ncols < 8) dx epilogue as mkx: act', store and reduce the final values tileOut wrote.
 * tile != 0 (the accumulating epilogue, D_GACC): dx comes from the micro-tile (rows 32 bytes apart
 * at tile) and a2*dx is added into the rows d0..d3 of the gradient buffer instead.
 */
static void dxTile(ux d0, ux d1, ux d2, ux d3, i32 ncols, ux xr, ux ldx, ux cf, ux cb, ux cm, i32 act, ux st, ux qo, ux tile) {
  for (auto r = 0; r < 4; r++) {
    const auto dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const auto xp = xr + (ux)r * ldx;
    const auto src = tile ? tile + ((ux)r << 5) : dst;
    for (auto l = 0; l < ncols; l++) {
      const auto o = (ux)l << 2;
      auto g = load<f32>(src + o);
      const auto xv = load<f32>(xp + o);
      if (act) g = act_grad_s(act, load<f32>(cf + o) * xv + load<f32>(cf + cb + o), g);
      if (tile) store<f32>(dst + o, g * load<f32>(cf + o) + load<f32>(dst + o));
      else if (act) store<f32>(dst + o, g);
      store<f32>(st + o, load<f32>(st + o) + g);
      store<f32>(st + qo + o, load<f32>(st + qo + o) + g * (xv - load<f32>(cm + o)));
    }
  }
}

// =====================================================================================
// Packing of A as [k][4]: 4 source rows, `len` contiguous floats each, transposed 4x4 at a time.
// A source pointer 0 is a padding lane (reads the zero page, never advances).
// =====================================================================================
/** Stores 8 floats of 4 rows (v0..v3) as [8][4] at o: the packing's transpose, 8 k steps at a time. */
static inline void store8x4(ux dst, __m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  const __m256 t0 = _mm256_unpacklo_ps(v0, v1), t1 = _mm256_unpackhi_ps(v0, v1);
  const __m256 t2 = _mm256_unpacklo_ps(v2, v3), t3 = _mm256_unpackhi_ps(v2, v3);
  const __m256 k04 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
  const __m256 k15 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
  const __m256 k26 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
  const __m256 k37 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
  float *o = (float *)(gM + (size_t)dst);
  _mm256_storeu_ps(o, _mm256_permute2f128_ps(k04, k15, 0x20));
  _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(k26, k37, 0x20));
  _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(k04, k15, 0x31));
  _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(k26, k37, 0x31));
}

static void copy4(ux dst, ux p0, ux p1, ux p2, ux p3, i32 len, ux zero) {
  ux s0 = 16; ux s1 = 16; ux s2 = 16; ux s3 = 16;
  if (!p0) { p0 = zero; s0 = 0; }
  if (!p1) { p1 = zero; s1 = 0; }
  if (!p2) { p2 = zero; s2 = 0; }
  if (!p3) { p3 = zero; s3 = 0; }
  auto i = 0;
  // 8 floats of each row at a time (256-bit transposes; a copy, so the same bits); padding lanes
  // read the 64-byte zero page, which holds 8 floats from any of its 16-byte steps' start (0)
  for (; i + 8 <= len; i += 8) {
    store8x4(dst, ld8(p0), ld8(p1), ld8(p2), ld8(p3));
    dst += 128; p0 += 2 * s0; p1 += 2 * s1; p2 += 2 * s2; p3 += 2 * s3;
  }
  for (; i + 4 <= len; i += 4) {
    const auto v0 = v128_load(p0); const auto v1 = v128_load(p1); const auto v2 = v128_load(p2); const auto v3 = v128_load(p3);
    // (BN prologues: copy4n normalises here, copy4dy computes the dy of a BN backward.)
    const auto t0 = i32x4_shuffle(v0, v1, 0, 4, 1, 5);
    const auto t1 = i32x4_shuffle(v0, v1, 2, 6, 3, 7);
    const auto t2 = i32x4_shuffle(v2, v3, 0, 4, 1, 5);
    const auto t3 = i32x4_shuffle(v2, v3, 2, 6, 3, 7);
    v128_store(dst, i64x2_shuffle(t0, t2, 0, 2));
    v128_store(dst, i64x2_shuffle(t0, t2, 1, 3), 16);
    v128_store(dst, i64x2_shuffle(t1, t3, 0, 2), 32);
    v128_store(dst, i64x2_shuffle(t1, t3, 1, 3), 48);
    dst += 64; p0 += s0; p1 += s1; p2 += s2; p3 += s3;
  }
  const auto q0 = s0 >> 2; const auto q1 = s1 >> 2; const auto q2 = s2 >> 2; const auto q3 = s3 >> 2;
  for (; i < len; i++) {
    store<f32>(dst, load<f32>(p0));
    store<f32>(dst, load<f32>(p1), 4);
    store<f32>(dst, load<f32>(p2), 8);
    store<f32>(dst, load<f32>(p3), 12);
    dst += 16; p0 += q0; p1 += q1; p2 += q2; p3 += q3;
  }
}

/**
 * copy4 with the BN prologue (x normalised + activation while packing): v = a*x + b, then act(v)
 * for an ACT_* code (core/act.h; 0: none), with the per-float coefficients at sa (a) and sa + sb (b): the 4 rows read the same
 * channels, so one coefficient vector serves all four. Padding lanes (pointer 0) stay exactly 0:
 * zero padding is applied after normalisation.
 */
static void copy4n(ux dst, ux p0, ux p1, ux p2, ux p3, i32 len, ux zero, ux sa, ux sb, i32 act) {
  ux s0 = 16; ux s1 = 16; ux s2 = 16; ux s3 = 16;
  const auto ones = i32x4_splat(-1); const auto z = f32x4_splat(0);
  auto m0 = ones; auto m1 = ones; auto m2 = ones; auto m3 = ones;
  if (!p0) { p0 = zero; s0 = 0; m0 = z; }
  if (!p1) { p1 = zero; s1 = 0; m1 = z; }
  if (!p2) { p2 = zero; s2 = 0; m2 = z; }
  if (!p3) { p3 = zero; s3 = 0; m3 = z; }
  auto i = 0;
  {
    // 8 floats per row and step: per lane the same fma, activation and mask as below
    const __m256 w0 = _mm256_set_m128(m0, m0), w1 = _mm256_set_m128(m1, m1), w2 = _mm256_set_m128(m2, m2), w3 = _mm256_set_m128(m3, m3);
    const __m256 z8 = _mm256_setzero_ps();
    const auto nr = [&](__m256 v) { return actv(act, v); };
    for (; i + 8 <= len; i += 8) {
      const __m256 ca = ld8(sa), cb = ld8(sa + sb);
      store8x4(dst, _mm256_and_ps(nr(_mm256_fmadd_ps(ld8(p0), ca, cb)), w0), _mm256_and_ps(nr(_mm256_fmadd_ps(ld8(p1), ca, cb)), w1),
               _mm256_and_ps(nr(_mm256_fmadd_ps(ld8(p2), ca, cb)), w2), _mm256_and_ps(nr(_mm256_fmadd_ps(ld8(p3), ca, cb)), w3));
      dst += 128; p0 += 2 * s0; p1 += 2 * s1; p2 += 2 * s2; p3 += 2 * s3; sa += 32;
    }
  }
  for (; i + 4 <= len; i += 4) {
    const auto ca = v128_load(sa); const auto cb = v128_load(sa + sb);
    auto v0 = fma(v128_load(p0), ca, cb); auto v1 = fma(v128_load(p1), ca, cb);
    auto v2 = fma(v128_load(p2), ca, cb); auto v3 = fma(v128_load(p3), ca, cb);
    if (act) { v0 = actv(act, v0); v1 = actv(act, v1); v2 = actv(act, v2); v3 = actv(act, v3); }
    v0 = v128_and(v0, m0); v1 = v128_and(v1, m1); v2 = v128_and(v2, m2); v3 = v128_and(v3, m3);
    const auto t0 = i32x4_shuffle(v0, v1, 0, 4, 1, 5);
    const auto t1 = i32x4_shuffle(v0, v1, 2, 6, 3, 7);
    const auto t2 = i32x4_shuffle(v2, v3, 0, 4, 1, 5);
    const auto t3 = i32x4_shuffle(v2, v3, 2, 6, 3, 7);
    v128_store(dst, i64x2_shuffle(t0, t2, 0, 2));
    v128_store(dst, i64x2_shuffle(t0, t2, 1, 3), 16);
    v128_store(dst, i64x2_shuffle(t1, t3, 0, 2), 32);
    v128_store(dst, i64x2_shuffle(t1, t3, 1, 3), 48);
    dst += 64; p0 += s0; p1 += s1; p2 += s2; p3 += s3; sa += 16;
  }
  const auto q0 = s0 >> 2; const auto q1 = s1 >> 2; const auto q2 = s2 >> 2; const auto q3 = s3 >> 2;
  for (; i < len; i++) {
    const auto ca = load<f32>(sa); const auto cb = load<f32>(sa + sb);
    store<f32>(dst, q0 ? nrm(load<f32>(p0), ca, cb, act) : 0);
    store<f32>(dst, q1 ? nrm(load<f32>(p1), ca, cb, act) : 0, 4);
    store<f32>(dst, q2 ? nrm(load<f32>(p2), ca, cb, act) : 0, 8);
    store<f32>(dst, q3 ? nrm(load<f32>(p3), ca, cb, act) : 0, 12);
    dst += 16; p0 += q0; p1 += q1; p2 += q2; p3 += q3; sa += 4;
  }
}

/**
 * copy4 with the BN backward prologue: the rows are dy = A*dbn + B*xbn + C0 computed on load, dbn
 * rows at p0..p3, xbn at the same offsets + dlt (both [M][K]), A at ca, B at ca + cs, C0 at
 * ca + 2*cs (per column k). Every pointer must be a real row: callers pass row 0 again for the
 * rows past the end of a block; those lanes only reach output rows that are never written.
 */
static void copy4dy(ux dst, ux p0, ux p1, ux p2, ux p3, ux dlt, i32 len, ux ca, ux cs) {
  auto i = 0;
  // 8 floats per row and step: per lane the same two FMAs as below
  for (; i + 8 <= len; i += 8) {
    const __m256 A = ld8(ca), B = ld8(ca + cs), C0 = ld8(ca + 2 * cs);
    store8x4(dst, _mm256_fmadd_ps(A, ld8(p0), _mm256_fmadd_ps(B, ld8(p0 + dlt), C0)), _mm256_fmadd_ps(A, ld8(p1), _mm256_fmadd_ps(B, ld8(p1 + dlt), C0)),
             _mm256_fmadd_ps(A, ld8(p2), _mm256_fmadd_ps(B, ld8(p2 + dlt), C0)), _mm256_fmadd_ps(A, ld8(p3), _mm256_fmadd_ps(B, ld8(p3 + dlt), C0)));
    dst += 128; p0 += 32; p1 += 32; p2 += 32; p3 += 32; ca += 32;
  }
  for (; i + 4 <= len; i += 4) {
    const auto A = v128_load(ca); const auto B = v128_load(ca + cs); const auto C0 = v128_load(ca + 2 * cs);
    const auto v0 = fma(A, v128_load(p0), fma(B, v128_load(p0 + dlt), C0));
    const auto v1 = fma(A, v128_load(p1), fma(B, v128_load(p1 + dlt), C0));
    const auto v2 = fma(A, v128_load(p2), fma(B, v128_load(p2 + dlt), C0));
    const auto v3 = fma(A, v128_load(p3), fma(B, v128_load(p3 + dlt), C0));
    const auto t0 = i32x4_shuffle(v0, v1, 0, 4, 1, 5);
    const auto t1 = i32x4_shuffle(v0, v1, 2, 6, 3, 7);
    const auto t2 = i32x4_shuffle(v2, v3, 0, 4, 1, 5);
    const auto t3 = i32x4_shuffle(v2, v3, 2, 6, 3, 7);
    v128_store(dst, i64x2_shuffle(t0, t2, 0, 2));
    v128_store(dst, i64x2_shuffle(t0, t2, 1, 3), 16);
    v128_store(dst, i64x2_shuffle(t1, t3, 0, 2), 32);
    v128_store(dst, i64x2_shuffle(t1, t3, 1, 3), 48);
    dst += 64; p0 += 16; p1 += 16; p2 += 16; p3 += 16; ca += 16;
  }
  for (; i < len; i++) {
    const auto A = load<f32>(ca); const auto B = load<f32>(ca + cs); const auto C0 = load<f32>(ca + 2 * cs);
    store<f32>(dst, A * load<f32>(p0) + (B * load<f32>(p0 + dlt) + C0));
    store<f32>(dst, A * load<f32>(p1) + (B * load<f32>(p1 + dlt) + C0), 4);
    store<f32>(dst, A * load<f32>(p2) + (B * load<f32>(p2 + dlt) + C0), 8);
    store<f32>(dst, A * load<f32>(p3) + (B * load<f32>(p3 + dlt) + C0), 12);
    dst += 16; p0 += 4; p1 += 4; p2 += 4; p3 += 4; ca += 4;
  }
}

/**
 * The x prologue of copy4n on whole rows, not transposed: n rows of len floats, row r from
 * src + r*ss (bytes) to dst + r*ds, v = a*x + b then act(v) (an ACT_* code), the coefficients at sa
 * (a) and sa + sb (b) per float. Per float the operations of copy4n (the 8-, 4- and 1-float steps
 * at the same indices), so a 1x1 layer's A rows read in place from dst (A_ROWS, A_COLS) hold the
 * bits its packed micro-panels would. One sequential stream per row block: the hardware
 * prefetcher follows it, where copy4n's four interleaved rows came from DRAM one miss at a time.
 */
static void normRows(ux dst, ux ds, ux src, ux ss, i32 n, i32 len, ux sa, ux sb, i32 act) {
  const __m256 z8 = _mm256_setzero_ps();
  const auto l8 = len & ~7, l4 = len & ~3;
  for (auto r = 0; r < n; r++, dst += ds, src += ss) {
    float *o = (float *)(gM + (size_t)dst);
    const float *x = (const float *)(gM + (size_t)src), *a = (const float *)(gM + (size_t)sa), *b = (const float *)(gM + (size_t)(sa + sb));
    auto i = 0;
    for (; i < l8; i += 8) {
      const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
      _mm256_storeu_ps(o + i, actv(act, v));
    }
    for (; i < l4; i += 4) {
      auto v = fma(_mm_loadu_ps(x + i), _mm_loadu_ps(a + i), _mm_loadu_ps(b + i));
      _mm_storeu_ps(o + i, actv(act, v));
    }
    for (; i < len; i++) o[i] = nrm(x[i], a[i], b[i], act);
  }
}

/**
 * The dy prologue of copy4dy on whole rows, not transposed: n rows of len floats, dbn row r at
 * src + r*ss (bytes), xbn at the same offset + dlt, dY to dst + r*ds; A, B, C0 at ca, ca + cs,
 * ca + 2*cs per float. Per float copy4dy's operations (8-, 4-, 1-float steps at the same indices).
 */
static void dyRows(ux dst, ux ds, ux src, ux ss, ux dlt, i32 n, i32 len, ux ca, ux cs) {
  const auto l8 = len & ~7, l4 = len & ~3;
  for (auto r = 0; r < n; r++, dst += ds, src += ss) {
    float *o = (float *)(gM + (size_t)dst);
    auto i = 0;
    for (; i < l8; i += 8) {
      const ux p = src + ((ux)i << 2), c = ca + ((ux)i << 2);
      _mm256_storeu_ps(o + i, _mm256_fmadd_ps(ld8(c), ld8(p), _mm256_fmadd_ps(ld8(c + cs), ld8(p + dlt), ld8(c + 2 * cs))));
    }
    for (; i < l4; i += 4) _mm_storeu_ps(o + i, dyv(ca + ((ux)i << 2), cs, src + ((ux)i << 2), dlt));
    for (; i < len; i++) o[i] = dyf(ca + ((ux)i << 2), cs, src + ((ux)i << 2), dlt);
  }
}

/**
 * Expands the x-prologue coefficients coef = a[C] then b[C] into per-float rows aE[o] = a[o % C],
 * bE[o] = b[o % C] (o < NE = max(KW*C + 8, 4*C)) at ce, bE at ce + 4*NE: the coefficients of
 * float o of a packed segment, a kernel row of KW*C floats (channel o % C) or a tap (o < C,
 * channel o), or of a run of whole pixels (normWindow, o mod 4C).
 */
static void expandCoef(ux d, ux coef, ux ce, i32 rows) {
  const auto C = ld(d, D_C); const auto NE = ld(d, D_FNE);
  const auto cb = (ux)C << 2; const auto nb = (ux)NE << 2;
  ux c = 0;
  for (ux o = 0; o < nb; o += 4) {
    store<f32>(ce + o, load<f32>(coef + c));
    store<f32>(ce + nb + o, load<f32>(coef + cb + c));
    if (rows > 2) store<f32>(ce + 2 * nb + o, load<f32>(coef + 2 * cb + c));
    c += 4;
    if (c == cb) c = 0;
  }
}

/**
 * x prologue, normalised window: writes act(a*x + b) (act: an ACT_* code; ce: the expanded
 * coefficients, see expandCoef) of the input rows that output rows [m0, m0 + cnt) read, image by image, into the region at zw
 * (zcap bytes), then re-points the row table (fillRows with base x) at the copy, so that the
 * plain packing reads z: each x is normalised once per block instead of once per tap reading it
 * (KH*KW times for a stride-1 convolution). Padding taps still read 0. Returns false, table
 * untouched, when the window does not fit.
 * Layout: image bases (i32 per image of the block, 64-byte aligned), then the rows of each image.
 */
static bool normWindow(ux d, ux tab, i32 m0, i32 cnt, ux x, ux ce, i32 act, ux zw, ux zcap, ux dlt, bool dym) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto SH = ld(d, D_SH); const auto PH = ld(d, D_PH); const auto KH = ld(d, D_KH); const auto DH = ld(d, D_DH);
  const auto P = OH * OW;
  const auto XS = ld(d, D_XS);
  if (XS != C) return false; // x is a view (1x1 layers only, which have no window): normalise while packing
  const auto rowB = (ux)W * (ux)C * 4; const auto img = (ux)H * rowB;
  const auto n0 = m0 / P; const auto n1 = (m0 + cnt - 1) / P;
  const auto map = zw;
  const auto data = zw + (((ux)(n1 - n0 + 1) * 4 + 63) & ~63);
  // sizes and image bases: base_n + ih*rowB is row ih of image n in the copy
  ux off = 0;
  for (auto n = n0; n <= n1; n++) {
    const auto pa = n == n0 ? m0 - n * P : 0; const auto pe = n == n1 ? m0 + cnt - 1 - n * P : P - 1;
    const auto lo = max(0, (pa / OW) * SH - PH); const auto hi = min(H, (pe / OW) * SH - PH + (KH - 1) * DH + 1);
    // image n's base relative to the window (wrapping arithmetic: only rows >= lo are read)
    store<i32>(map + ((ux)(n - n0) << 2), (i32)(off - (ux)lo * rowB));
    if (hi > lo) off += (ux)(hi - lo) * rowB;
  }
  if (data + off > zw + zcap) return false;
  // normalise: each image's rows are one contiguous run; the coefficients of float o of a run are
  // aE[o mod 4C] (period C, and 4C floats is a whole number of vectors)
  const auto pb = (ux)C << 4; const auto nb = (ux)ld(d, D_FNE) << 2;
  off = 0;
  for (auto n = n0; n <= n1; n++) {
    const auto pa = n == n0 ? m0 - n * P : 0; const auto pe = n == n1 ? m0 + cnt - 1 - n * P : P - 1;
    const auto lo = max(0, (pa / OW) * SH - PH); const auto hi = min(H, (pe / OW) * SH - PH + (KH - 1) * DH + 1);
    if (hi <= lo) continue;
    const auto src = x + (ux)n * img + (ux)lo * rowB;
    const auto dst = data + off;
    const auto len = (ux)(hi - lo) * rowB;
    off += len;
    ux o = 0; ux co = 0;
    if (dym) {
      // dy prologue (backward-data as a forward pass over dY): A*dbn + B*xbn + C0, xbn = dbn + dlt
      for (; o + 16 <= len; o += 16) {
        const auto q = src + o;
        v128_store(dst + o, dyv(ce + co, nb, q, dlt));
        co += 16;
        if (co == pb) co = 0;
      }
      for (; o < len; o += 4) {
        const auto q = src + o;
        store<f32>(dst + o, dyf(ce + co, nb, q, dlt));
        co += 4;
      }
      continue;
    }
    for (; o + 16 <= len; o += 16) {
      auto v = fma(v128_load(src + o), v128_load(ce + co), v128_load(ce + nb + co));
      if (act) v = actv(act, v);
      v128_store(dst + o, v);
      co += 16;
      if (co == pb) co = 0;
    }
    for (; o < len; o += 4) {
      store<f32>(dst + o, nrm(load<f32>(src + o), load<f32>(ce + co), load<f32>(ce + nb + co), act));
      co += 4;
    }
  }
  // re-point the rows
  for (auto i = 0; i < cnt; i++) {
    const auto t = tab + (ux)i * 12;
    const auto n = (i32)((rowX(t) - x) / img);
    // (the packing then reads the window at a pixel stride of C)
    store<i32>(t, load<i32>(map + ((ux)(n - n0) << 2)));
  }
  gRowO = data;
  return true;
}

/**
 * Row table for `cnt` output rows starting at global row m0: per row the byte pointer of its
 * image in `base` (x), as an offset from the origin gRowO (the block's first image; rowX),
 * ih0 = oh*SH - PH and iw0 = ow*SW - PW.
 */
static void fillRows(ux d, ux tab, i32 m0, i32 cnt, ux base) {
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW);
  const auto img = (ux)ld(d, D_H) * (ux)ld(d, D_W) * (ux)ld(d, D_XS) * 4;
  const auto P = OH * OW;
  auto n = m0 / P;
  const auto p = m0 - n * P;
  auto oh = p / OW;
  auto ow = p - oh * OW;
  const auto n0 = n;
  gRowO = base + (ux)n0 * img;
  for (auto i = 0; i < cnt; i++) {
    const auto t = tab + (ux)i * 12;
    store<i32>(t, (i32)((ux)(n - n0) * img));
    store<i32>(t, oh * SH - PH, 4);
    store<i32>(t, ow * SW - PW, 8);
    if (++ow == OW) {
      ow = 0;
      if (++oh == OH) { oh = 0; n++; }
    }
  }
}

/**
 * Pointer to x[n][ih][iw][coff..] for a row (xb = image pointer, 0 = padding row), or 0 where
 * (ih, iw) is outside the image.
 */
static inline ux tapPtr(ux xb, i32 ih, i32 iw, i32 H, i32 W, i32 C, i32 coff) {
  if (!xb || (ux)ih >= (ux)H || (ux)iw >= (ux)W) return 0;
  return xb + (((ux)(ih * W + iw) * (ux)C + (ux)coff) << 2);
}

/** copy4, or copy4n in the fused instantiation. */
template <class F> static inline void cp4(ux dst, ux p0, ux p1, ux p2, ux p3, i32 len, ux zero, ux sa, ux sb, i32 act) {
  if (fused<F>()) copy4n(dst, p0, p1, p2, p3, len, zero, sa, sb, act);
  else copy4(dst, p0, p1, p2, p3, len, zero);
}

/**
 * A prologue: packs the implicit im2col of x for one micro-panel of 4 rows (row table entries
 * at t, `nv` of them valid; group g) and the reduction range [r0, r0 + kc) as [kc][4] at panel.
 *
 * The reduction axis is walked in contiguous segments: with G == 1 and horizontal dilation 1
 * the KW taps of one kernel row are adjacent in memory (KW*C floats), one segment per kh
 * (falling back to per-tap segments for a micro-panel whose row crosses the left or right
 * image edge); otherwise one segment per tap (Cg floats).
 * Fused (F = Fused): x is BN-normalised and activated (act) on the way, float `off` of a segment (the
 * tapPtr channel offset) taking its coefficients from the expanded rows at ce + 4*off (bE nb
 * bytes further, see expandCoef); padding taps stay 0.
 */
template <class F> static void packAFwd(ux d, ux t, i32 nv, i32 g, i32 r0, i32 kc, ux panel, ux zero, ux ce, ux nb, i32 act, i32 xs) {
  const auto C = xs; const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW);
  const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW); const auto G = ld(d, D_G); const auto Cg = ld(d, D_CG);
  const auto merge = DW == 1 && G == 1 && KW > 1;
  const auto segLen = merge ? KW * Cg : Cg;
  const auto r1 = r0 + kc;
  const auto goff = g * Cg;
  const ux xb0 = rowX(t);
  const ux xb1 = nv > 1 ? rowX(t, 12) : 0;
  const ux xb2 = nv > 2 ? rowX(t, 24) : 0;
  const ux xb3 = nv > 3 ? rowX(t, 36) : 0;
  const auto ih0 = load<i32>(t, 4); const auto iw0 = load<i32>(t, 8);
  const auto ih1 = load<i32>(t, 16); const auto iw1 = load<i32>(t, 20);
  const auto ih2 = load<i32>(t, 28); const auto iw2 = load<i32>(t, 32);
  const auto ih3 = load<i32>(t, 40); const auto iw3 = load<i32>(t, 44);
  for (auto s = r0 / segLen; s * segLen < r1; s++) {
    const auto sa = s * segLen;
    const auto a0 = max(sa, r0); const auto a1 = min(sa + segLen, r1);
    if (merge) {
      const auto kh = s; const auto dh = kh * DH;
      // whole kernel row in bounds for every lane (or lane entirely padding)?
      auto ok = true;
      if (xb0 && (ux)(ih0 + dh) < (ux)H && (iw0 < 0 || iw0 + KW > W)) ok = false;
      if (xb1 && (ux)(ih1 + dh) < (ux)H && (iw1 < 0 || iw1 + KW > W)) ok = false;
      if (xb2 && (ux)(ih2 + dh) < (ux)H && (iw2 < 0 || iw2 + KW > W)) ok = false;
      if (xb3 && (ux)(ih3 + dh) < (ux)H && (iw3 < 0 || iw3 + KW > W)) ok = false;
      if (ok) {
        const auto off = a0 - sa;
        cp4<F>(panel + (ux)(a0 - r0) * 16,
          tapPtr(xb0, ih0 + dh, iw0, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1, H, W, C, off),
          tapPtr(xb2, ih2 + dh, iw2, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3, H, W, C, off),
          a1 - a0, zero, ce + ((ux)off << 2), nb, act);
      } else {
        for (auto kw = (a0 - sa) / Cg; kw < KW; kw++) {
          const auto ta = sa + kw * Cg;
          if (ta >= a1) break;
          const auto b0 = max(ta, a0); const auto b1 = min(ta + Cg, a1);
          const auto off = b0 - ta;
          cp4<F>(panel + (ux)(b0 - r0) * 16,
            tapPtr(xb0, ih0 + dh, iw0 + kw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + kw, H, W, C, off),
            tapPtr(xb2, ih2 + dh, iw2 + kw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + kw, H, W, C, off),
            b1 - b0, zero, ce + ((ux)off << 2), nb, act);
        }
      }
    } else {
      const auto kh = s / KW; const auto kw = s - kh * KW;
      const auto dh = kh * DH; const auto dw = kw * DW;
      const auto off = goff + a0 - sa;
      cp4<F>(panel + (ux)(a0 - r0) * 16,
        tapPtr(xb0, ih0 + dh, iw0 + dw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + dw, H, W, C, off),
        tapPtr(xb2, ih2 + dh, iw2 + dw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + dw, H, W, C, off),
        a1 - a0, zero, ce + ((ux)off << 2), nb, act);
    }
  }
}

/**
 * dx epilogue over the input rows [h0, h1) of one image (dxn, x2n: the image's dx and x2): per
 * row and block of 4 channels (coefficients and sums in registers), over the row's pixels: act'
 * (when act != 0), then f32 sums of dx and dx*(x2 - mean2) over the row, added to the f64 partials st.
 */
static void dxRows(ux d, ux dxn, ux x2n, i32 h0, i32 h1, ux c2, ux m2, i32 act, ux st) {
  const auto C = ld(d, D_C); const auto W = ld(d, D_W);
  const auto rowB = (ux)W * ((ux)C << 2);
  for (auto h = h0; h < h1; h++) dxRun(dxn + (ux)h * rowB, x2n + (ux)h * rowB, W, C, (ux)C << 2, c2, m2, act, st);
}

/**
 * The dx epilogue of dxRows over one run of W consecutive pixels of C channels (px0: dx, xp0:
 * x2): per pixel, every block of 4 channels (dx and x2 read in address order), the f32 sums in the
 * thread's S32/Q32 rows (st + 20*C, st + 24*C: the 28*C-byte fusion region), added to the f64
 * partials S[C], Q[C] at st at the end of the run. (Channel-block-major order, with coefficients
 * and sums in registers and each block walking the run at stride C, was 2-12% slower on the
 * Winograd backward-data of 148->12 @32, 436->12 @8 and 64->64 @56: measured interleaved.)
 * gp0 != 0: the accumulating epilogue (D_GACC), a2*dx added into the gradient buffer's pixels
 * (gp0, gsb bytes apart) instead of dx * act' stored back (act: an ACT_* code, the derivative
 * at z = a2*x2 + b2; 0: none). yo0 != 0 (dx read from the ring of D_GRING): dx * act' is stored
 * there, C floats per pixel, instead of in place. With ReLU and C % 4 == 0 (every fused DenseNet
 * and ResNet layer) a copy of the loop without the per-element flag tests runs instead (the same operations in the same order: 1-3% faster on
 * 148->12 @32 and 128->32 @56, 15 interleaved repeats).
 */
static void dxRun(ux px0, ux xp0, i32 W, i32 C, ux xsb, ux c2, ux m2, i32 act, ux st, ux gp0, ux gsb, ux yo0) {
  const auto cb = (ux)C << 2; const auto vb = (ux)(C & ~3) << 2; const auto qo = cb << 1;
  const auto s32 = st + (ux)C * 20; const auto q32 = st + (ux)C * 24;
  memory_fill(s32, 0, cb << 1);
  const auto z = f32x4_splat(0);
  const auto put = !gp0 && (act || yo0 != 0); // dx * act' is stored: back in place, or to yo
  auto px = px0; auto xp = xp0; auto gp = gp0; auto yo = yo0 ? yo0 : px0;
  if (act == ACT_RELU && vb == cb) {
    // the ReLU-masked epilogue without channel tail, its flags taken out of the loop: a2*dx added
    // into the gradient buffer (DenseNet), or dx stored (to yo, or in place)
    for (auto w = 0; w < W; w++) {
      for (ux o = 0; o < vb; o += 16) {
        const auto xv = v128_load(xp + o); const auto a2 = v128_load(c2 + o);
        const auto g = v128_andnot(v128_load(px + o), f32x4_le(fma(xv, a2, v128_load(c2 + cb + o)), z));
        if (gp0) v128_store(gp + o, fma(g, a2, v128_load(gp + o)));
        else v128_store(yo + o, g);
        v128_store(s32 + o, f32x4_add(v128_load(s32 + o), g));
        v128_store(q32 + o, fma(g, f32x4_sub(xv, v128_load(m2 + o)), v128_load(q32 + o)));
      }
      px += cb; xp += xsb; gp += gsb; yo += cb;
    }
  } else {
    for (auto w = 0; w < W; w++) {
      ux o = 0;
      for (; o < vb; o += 16) {
        auto g = v128_load(px + o);
        const auto xv = v128_load(xp + o);
        if (act) g = actGradv(act, fma(xv, v128_load(c2 + o), v128_load(c2 + cb + o)), g);
        if (put) v128_store(yo + o, g);
        if (gp0) v128_store(gp + o, fma(g, v128_load(c2 + o), v128_load(gp + o)));
        v128_store(s32 + o, f32x4_add(v128_load(s32 + o), g));
        v128_store(q32 + o, fma(g, f32x4_sub(xv, v128_load(m2 + o)), v128_load(q32 + o)));
      }
      for (; o < cb; o += 4) {
        auto g = load<f32>(px + o);
        const auto xv = load<f32>(xp + o);
        if (act) g = act_grad_s(act, load<f32>(c2 + o) * xv + load<f32>(c2 + cb + o), g);
        if (put) store<f32>(yo + o, g);
        if (gp0) store<f32>(gp + o, g * load<f32>(c2 + o) + load<f32>(gp + o));
        store<f32>(s32 + o, load<f32>(s32 + o) + g);
        store<f32>(q32 + o, load<f32>(q32 + o) + g * (xv - load<f32>(m2 + o)));
      }
      px += cb; xp += xsb; gp += gsb; yo += cb;
    }
  }
  for (ux o = 0; o < cb; o += 4) {
    const auto so = st + (o << 1);
    store<f64>(so, load<f64>(so) + (f64)load<f32>(s32 + o));
    store<f64>(so + qo, load<f64>(so + qo) + (f64)load<f32>(q32 + o));
  }
}

}  // namespace
