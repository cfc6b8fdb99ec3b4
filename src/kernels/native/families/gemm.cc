// Convolution as packed GEMM over NHWC activations (forward, backward-data, backward-weights) and
// the direct depthwise path: the native twins of src/kernels/assembly/gemm.ts (everything but the
// Winograd kernels, conv_wino_*), same names, arguments, work ranges, scratch layout and
// descriptor fields (docs/design/conv-kernels.md, docs/design/native-engine.md).
//
// This file is a faithful port: the same loop nests and the same float operations in the same
// order as the WebAssembly kernels, on 128-bit vectors (v128 = __m128, fma = the fused FMA that
// relaxed_madd lowers to), so that the native engine gives the wasm engine's bits. Arena
// addresses stay 32-bit offsets (u32, wrapping as in wasm32, where the window bases and the dy
// prologue's xbn - dbn delta rely on it) and are turned into pointers at each access (gM + off);
// 0 keeps its meaning of "no row / padding lane".
//
// What differs from gemm.ts, never in the bits of a result (test/kernels/conv_native.test.ts):
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

// (the port keeps the AS kernels' locals, some of which a variant does not use)
#pragma GCC diagnostic ignored "-Wunused-variable"

#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"

namespace {

typedef float f32;
typedef double f64;
typedef int32_t i32;
typedef uint32_t u32;
typedef int64_t i64;
typedef uint64_t u64;
typedef __m128 v128;

// The arena's base, set by every entry point (the same for all threads of a call).
static thread_local uint8_t *gM __attribute__((tls_model("initial-exec")));

#define ASC_FEATURE_RELAXED_SIMD 1

template <class T> static inline T load(u32 p, u32 off = 0) {
  T v;
  memcpy(&v, gM + (size_t)p + off, sizeof v);
  return v;
}
template <class T> static inline void store(u32 p, T v, u32 off = 0) { memcpy(gM + (size_t)p + off, &v, sizeof v); }
static inline v128 v128_load(u32 p, u32 off = 0) { return _mm_loadu_ps((const float *)(gM + (size_t)p + off)); }
static inline void v128_store(u32 p, v128 v, u32 off = 0) { _mm_storeu_ps((float *)(gM + (size_t)p + off), v); }
static inline v128 v128_load32_splat(u32 p, u32 off = 0) { return _mm_set1_ps(load<f32>(p, off)); }
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
static inline void memory_fill(u32 p, int v, u32 n) { memset(gM + (size_t)p, v, n); }
static inline void memory_copy(u32 dst, u32 src, u32 n) { memmove(gM + (size_t)dst, gM + (size_t)src, n); }
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
static inline v128 dyv(u32 ca, u32 cs, u32 p, u32 dlt);
static inline v128 dyr(v128 a, v128 b, v128 c0, u32 p, u32 dlt);
static inline f32 dyf(u32 ca, u32 cs, u32 p, u32 dlt);
static inline f32 nrm(f32 x, f32 a, f32 b, i32 relu);
static inline i32 ld(u32 d, i32 i);
static inline i32 balanced(i32 n, i32 max);
static inline void zeroPage(u32 scratch);
static void mk(u32 a, u32 b, i32 kc, u32 d0, u32 d1, u32 d2, u32 d3, u32 bias, i32 add);
static void tileOut(u32 tile, u32 d0, u32 d1, u32 d2, u32 d3, i32 ncols, u32 bias, i32 add);
static inline v128 lo64(v128 v);
static inline v128 hi64(v128 v);
static void mkm(u32 a, u32 b, i32 kc, u32 d0, u32 d1, u32 d2, u32 d3, u32 bias, i32 add, u32 sh, u32 ko, i32 init, u32 s64);
static void momTile(u32 d0, u32 d1, u32 d2, u32 d3, i32 ncols, u32 sh, u32 ko, i32 init);
static void flushSums(u32 s32, u32 so, u32 s64, u32 qo, i32 ncols);
static void mkx(u32 a, u32 b, i32 kc, u32 d0, u32 d1, u32 d2, u32 d3, i32 add, u32 xr, u32 ldx, u32 cf, u32 cb, u32 cm, i32 relu, u32 st, u32 qo, u32 s64, i32 acc);
static void dxTile(u32 d0, u32 d1, u32 d2, u32 d3, i32 ncols, u32 xr, u32 ldx, u32 cf, u32 cb, u32 cm, i32 relu, u32 st, u32 qo, u32 tile = 0);
static void copy4(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, i32 len, u32 zero);
static void copy4n(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, i32 len, u32 zero, u32 sa, u32 sb, i32 relu);
static void copy4dy(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, u32 dlt, i32 len, u32 ca, u32 cs);
static void expandCoef(u32 d, u32 coef, u32 ce, i32 rows = 2);
static bool normWindow(u32 d, u32 tab, i32 m0, i32 cnt, u32 x, u32 ce, i32 relu, u32 zw, u32 zcap, u32 dlt = 0, bool dym = false);
static void fillRows(u32 d, u32 tab, i32 m0, i32 cnt, u32 base);
static inline u32 tapPtr(u32 xb, i32 ih, i32 iw, i32 H, i32 W, i32 C, i32 coff);
template <class F> static inline void cp4(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, i32 len, u32 zero, u32 sa, u32 sb, i32 relu);
template <class F> static void packAFwd(u32 d, u32 t, i32 nv, i32 g, i32 r0, i32 kc, u32 panel, u32 zero, u32 ce, u32 nb, i32 relu, i32 xs);
static void as_conv_pack_w_fwd(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch);
static void as_conv_pack_w_fwd_t(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch);
static inline void packWFwd(u32 d, u32 w, u32 bp, i32 start, i32 end, bool flip);
static void as_conv_pack_w_bwd(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch);
static void as_conv_fwd(u32 d, u32 x, u32 bp, u32 bias, u32 y, i32 start, i32 end, u32 scratch);
static void as_conv_fwd_f(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch);
static void as_conv_fwd_dx_f(u32 d, u32 dy, u32 bp, u32 dx, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch);
static void as_conv_fwd_dy_f(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch);
template <class F> static void convFwd(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, u32 x2, u32 c2, u32 m2, i32 relu2, u32 dlt, i32 dym, i32 start, i32 end, u32 scratch);
static i32 blockMoments(u32 y, i32 K, i32 mb, i32 mn, bool first, bool last, u32 st, i32 tiles);
static inline u32 sj32(u32 st, i32 K, i32 col);
static void as_conv_pack_w_fwd4(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch);
static void mkT(u32 a, u32 b0, u32 b1, i32 kc, u32 e0, u32 e1, u32 e2, u32 e3, u32 e4, u32 e5, u32 e6, u32 e7, u32 bias, i32 add);
static inline void wrT(u32 e, v128 v, i32 add);
static void as_conv_fwd_t(u32 d, u32 x, u32 bp, u32 bias, u32 y, i32 start, i32 end, u32 scratch);
static void as_conv_fwd_t_f(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch);
template <class F> static void convFwdT(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch);
static void as_conv_pack_w_dot(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch);
static inline v128 hsum4(v128 a, v128 b, v128 c, v128 d);
static void as_conv_fwd_dot(u32 d, u32 x, u32 bp, u32 bias, u32 y, i32 start, i32 end, u32 scratch);
static void as_conv_fwd_dot_f(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch);
template <class F> static void convFwdDot(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_data(u32 d, u32 dy, u32 bp, u32 dx, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_data_f(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch);
static void dxRows(u32 d, u32 dxn, u32 x2n, i32 h0, i32 h1, u32 c2, u32 m2, i32 relu, u32 st);
static void dxRun(u32 px0, u32 xp0, i32 W, i32 C, u32 xsb, u32 c2, u32 m2, i32 relu, u32 st, u32 gp0 = 0, u32 gsb = 0, u32 yo0 = 0);
template <class F> static inline void packDyRows(u32 a, u32 dy, i32 m, i32 rem, i32 K, i32 k, i32 kc, u32 dlt, u32 cdy, u32 zero);
static void colAdd(u32 d, u32 col, u32 cs, u32 tab, i32 mn, u32 dxn);
template <class F> static void bwdData(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_data_1x1(u32 d, u32 dy, u32 bp, u32 dx, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_data_1x1_f(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch);
template <class F> static void bwdData1x1(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch);
static inline u32 atStride(i32 mlen);
template <class F> static void packAT(u32 d, u32 tab, i32 mlen, i32 g, i32 p0, i32 p1, u32 dst, u32 ce, u32 nb, i32 relu, i32 xs);
template <class F> static void packATTight(u32 d, u32 tab, i32 mlen, i32 p0, i32 p1, u32 dst, u32 ce, u32 nb, i32 relu);
template <class F> static void packDY(u32 d, u32 dy, i32 m0, i32 mlen, i32 g, i32 ja, i32 je, u32 dst, u32 dlt, u32 cdy);
static void as_conv_bwd_w(u32 d, u32 dy, u32 x, u32 acc, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_w_f(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch);
template <class F> static void bwdW(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_wt(u32 d, u32 dy, u32 x, u32 acc, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_wt_f(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch);
template <class F> static void bwdWT(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_w_dot(u32 d, u32 dy, u32 x, u32 acc, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_w_dot_f(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch);
template <class F> static void bwdWDot(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch);
static inline void wrAcc(u32 p, v128 v0, v128 v1, bool wide, bool first);
static void as_conv_bwd_w_dot_out(u32 d, u32 acc, u32 dw, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_wt_out(u32 d, u32 acc, u32 dw, i32 start, i32 end, u32 scratch);
static void as_conv_bwd_w_out(u32 d, u32 acc, u32 dw, i32 start, i32 end, u32 scratch);
static void as_conv_bias_grad(u32 d, u32 dy, u32 db, i32 start, i32 end, u32 scratch);
static void as_conv_bias_grad_f(u32 d, u32 dy, u32 db, u32 dlt, u32 cdy, i32 start, i32 end, u32 scratch);
template <class F> static void biasGrad(u32 d, u32 dy, u32 db, u32 dlt, u32 cdy, i32 start, i32 end, u32 scratch);
static void as_conv_dw_pack_w(u32 d, u32 w, u32 wt, i32 start, i32 end, u32 scratch);
static void as_conv_dw_fwd(u32 d, u32 x, u32 wt, u32 bias, u32 y, i32 start, i32 end, u32 scratch);
static void as_conv_dw_bwd_data(u32 d, u32 dy, u32 wt, u32 dx, i32 start, i32 end, u32 scratch);
static void as_conv_dw_bwd_w(u32 d, u32 dy, u32 x, u32 dw, i32 start, i32 end, u32 scratch);
static void as_gemm_bench_mk(i32 kc, i32 reps, i32 start, i32 end, u32 scratch);

// ---- the port of gemm.ts (its comments kept; "pointers" are arena offsets here) ----
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
static inline v128 dyv(u32 ca, u32 cs, u32 p, u32 dlt) {
  return dyr(v128_load(ca), v128_load(ca + cs), v128_load(ca + 2 * cs), p, dlt);
}
/** dyv with the coefficients A, B, C0 already in registers. */
static inline v128 dyr(v128 a, v128 b, v128 c0, u32 p, u32 dlt) {
  return fma(a, v128_load(p), fma(b, v128_load(p + dlt), c0));
}
static inline f32 dyf(u32 ca, u32 cs, u32 p, u32 dlt) {
  return load<f32>(ca) * load<f32>(p) + (load<f32>(ca + cs) * load<f32>(p + dlt) + load<f32>(ca + 2 * cs));
}

static inline f32 nrm(f32 x, f32 a, f32 b, i32 relu) {
  const auto v = a * x + b;
  return relu && v <= 0 ? 0 : v;
}

// ---- descriptor fields (i32): src/kernels/abi/conv_descriptor.ts, the one table of the ABI ----

static inline i32 ld(u32 d, i32 i) {
  return load<i32>(d + ((u32)i << 2));
}

// ---- per-thread scratch layout ----
const u32 SC_ZERO = 0; // 64 zero bytes: the source of padding lanes
const u32 SC_TILE = 64; // one 4x8 f32 tile (edge tiles)
const u32 SC_RING = 240; // Winograd: the normalised ring's image and last row (2 i32)
const u32 SC_ROWS = 256; // row table, 3 i32 per row (backward-data: 2), at most MAX_ROWS rows
const auto MAX_ROWS = 4096;
const u32 SC_TROW = 49408; // backward-weights, tight rows: one pixel's KH*SEG floats (<= 2048 + 4)
const u32 SC_ZBUF = 61440; // conv_fwd_dot: zeros for padding taps (up to 1024 channels)
const u32 SC_PACK = 65536; // packed blocks
const i32 INVALID = -(1 << 28); // ih0 of a padding row: every tap falls outside

/** Block size (multiple of 4, at most max) splitting n rows into equal blocks. */
static inline i32 balanced(i32 n, i32 max) {
  const auto nb = (n + max - 1) / max;
  return min(max, (((n + nb - 1) / nb) + 3) & ~3);
}

static inline void zeroPage(u32 scratch) {
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
static void mk(u32 a, u32 b, i32 kc, u32 d0, u32 d1, u32 d2, u32 d3, u32 bias, i32 add) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  if (bias) {
    c00 = v128_load(bias); c01 = v128_load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }
  // One k step per iteration, deliberately not unrolled: TurboFan hoists the loads of an
  // unrolled body and then spills accumulators (measured: 4x unroll 36 GFLOP/s, 2x 26, none 55).
  const auto aEnd = a + ((u32)kc << 4);
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
static void tileOut(u32 tile, u32 d0, u32 d1, u32 d2, u32 d3, i32 ncols, u32 bias, i32 add) {
  for (auto r = 0; r < 4; r++) {
    const auto dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const auto src = tile + ((u32)r << 5);
    for (auto j = 0; j < ncols; j++) {
      const auto o = (u32)j << 2;
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
static void mkm(u32 a, u32 b, i32 kc, u32 d0, u32 d1, u32 d2, u32 d3, u32 bias, i32 add, u32 sh, u32 ko, i32 init, u32 s64) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  if (bias) {
    c00 = v128_load(bias); c01 = v128_load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }
  const auto aEnd = a + ((u32)kc << 4);
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
static void momTile(u32 d0, u32 d1, u32 d2, u32 d3, i32 ncols, u32 sh, u32 ko, i32 init) {
  if (init) {
    const f32 n = (f32)(1 + (d1 ? 1 : 0) + (d2 ? 1 : 0) + (d3 ? 1 : 0));
    for (auto l = 0; l < ncols; l++) {
      const auto o = (u32)l << 2;
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
      const auto o = (u32)l << 2;
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
static void flushSums(u32 s32, u32 so, u32 s64, u32 qo, i32 ncols) {
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
    const auto o = (u32)l << 2; const auto o8 = (u32)l << 3;
    store<f64>(s64 + o8, load<f64>(s64 + o8) + (f64)load<f32>(s32 + o));
    store<f64>(s64 + qo + o8, load<f64>(s64 + qo + o8) + (f64)load<f32>(s32 + so + o));
    store<f32>(s32 + o, 0);
    store<f32>(s32 + so + o, 0);
  }
}

/**
 * mk with the backward-data dx epilogue (1x1 path, last reduction block): each row's final dx
 * (pointer non-zero) is masked by the ReLU of the previous BN (dx = 0 where a2*x2 + b2 <= 0, when
 * relu), stored, and reduced for that BN: st[l] += dx, st[qo + l] += dx*(x2 - mean2) (f32 sums
 * in L1, added to the f64 partials at s64 (Q at s64 + 2*qo) when s64 != 0: every 16 tiles). x2 of
 * row r at xr + r*ldx (the tile's 8 channels), cf = &a2[col] (b2 at cf + cb), cm = &mean2[col].
 * acc != 0 (D_GACC): the rows are a gradient buffer's, and a2*dx is added into them instead
 * (add must then be 0: one reduction block).
 */
static void mkx(u32 a, u32 b, i32 kc, u32 d0, u32 d1, u32 d2, u32 d3, i32 add, u32 xr, u32 ldx, u32 cf, u32 cb, u32 cm, i32 relu, u32 st, u32 qo, u32 s64, i32 acc) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  const auto aEnd = a + ((u32)kc << 4);
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
    if (relu) {
      c00 = v128_andnot(c00, f32x4_le(fma(x0, v128_load(cf), v128_load(cf + cb)), z));
      c01 = v128_andnot(c01, f32x4_le(fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), z));
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
    if (relu) {
      c10 = v128_andnot(c10, f32x4_le(fma(x0, v128_load(cf), v128_load(cf + cb)), z));
      c11 = v128_andnot(c11, f32x4_le(fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), z));
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
    if (relu) {
      c20 = v128_andnot(c20, f32x4_le(fma(x0, v128_load(cf), v128_load(cf + cb)), z));
      c21 = v128_andnot(c21, f32x4_le(fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), z));
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
    if (relu) {
      c30 = v128_andnot(c30, f32x4_le(fma(x0, v128_load(cf), v128_load(cf + cb)), z));
      c31 = v128_andnot(c31, f32x4_le(fma(x1, v128_load(cf, 16), v128_load(cf + cb, 16)), z));
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

// ---- the fused epilogues after the wide kernel (gemm_wide.h) ----

/**
 * mkm's statistics epilogue for a tile whose final values the wide kernel has stored in rows d0..d3
 * (d0 a real row): the same operations in the same order as mkm after its write-back, reading
 * back the values it would have had in registers.
 */
static inline void mkmRegs(const __m256 *v, bool d1, bool d2, bool d3, u32 sh, u32 ko, i32 init, u32 s64) {
  // (256 bits: mkm's two v128 halves of each row in one register, the same operations per lane)
  const __m256 c0 = v[0], c1 = v[1], c2 = v[2], c3 = v[3];
  float *shp = (float *)(gM + (size_t)sh);
  if (init) {
    __m256 t = c0;
    f32 n = 1;
    if (d1) { t = _mm256_add_ps(t, c1); n += 1; }
    if (d2) { t = _mm256_add_ps(t, c2); n += 1; }
    if (d3) { t = _mm256_add_ps(t, c3); n += 1; }
    _mm256_storeu_ps(shp, _mm256_mul_ps(t, _mm256_set1_ps(1 / n)));
  }
  const __m256 k = _mm256_loadu_ps(shp);
  __m256 sv = _mm256_sub_ps(c0, k);
  __m256 q = _mm256_mul_ps(sv, sv);
  if (d1) { const __m256 e = _mm256_sub_ps(c1, k); sv = _mm256_add_ps(sv, e); q = _mm256_fmadd_ps(e, e, q); }
  if (d2) { const __m256 e = _mm256_sub_ps(c2, k); sv = _mm256_add_ps(sv, e); q = _mm256_fmadd_ps(e, e, q); }
  if (d3) { const __m256 e = _mm256_sub_ps(c3, k); sv = _mm256_add_ps(sv, e); q = _mm256_fmadd_ps(e, e, q); }
  const auto sp = sh + ko; const auto qp = sp + ko;
  float *spp = (float *)(gM + (size_t)sp), *qpp = (float *)(gM + (size_t)qp);
  _mm256_storeu_ps(spp, _mm256_add_ps(_mm256_loadu_ps(spp), sv));
  _mm256_storeu_ps(qpp, _mm256_add_ps(_mm256_loadu_ps(qpp), q));
  if (s64) flushSums(sp, ko, s64, ko << 1, 8);
}

/**
 * mkx's dx epilogue for a tile the wide kernel computed into the rows t0, t0 + tsb, ... (the
 * reduction only, as mkx's registers before its write-back): the same operations per lane in the
 * same order as mkx's write-back (256 bits: its two v128 halves in one register), into d0..d3.
 */
static inline void mkxRegs(const __m256 *cv, u32 d0, u32 d1, u32 d2, u32 d3, i32 add,
  u32 xr, u32 ldx, u32 cf, u32 cb, u32 cm, i32 relu, u32 st, u32 qo, u32 s64, i32 acc) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 a2 = ld8(cf), b2 = ld8(cf + cb), mu = ld8(cm);
  __m256 sv = z, q = z;
  const u32 dr[4] = {d0, d1, d2, d3};
  for (i32 r = 0; r < 4; r++) {
    const u32 dd = dr[r];
    if (dd) {
      float *dp = (float *)(gM + (size_t)dd);
      __m256 c = cv[r];
      if (add) c = _mm256_add_ps(_mm256_loadu_ps(dp), c);
      const __m256 xv = ld8(xr);
      if (relu) c = _mm256_andnot_ps(_mm256_cmp_ps(_mm256_fmadd_ps(xv, a2, b2), z, _CMP_LE_OQ), c);
      if (acc) _mm256_storeu_ps(dp, _mm256_fmadd_ps(c, a2, _mm256_loadu_ps(dp)));
      else _mm256_storeu_ps(dp, c);
      if (r == 0) {
        sv = c;
        q = _mm256_mul_ps(c, _mm256_sub_ps(xv, mu));
      } else {
        sv = _mm256_add_ps(sv, c);
        q = _mm256_fmadd_ps(c, _mm256_sub_ps(xv, mu), q);
      }
    }
    xr += ldx;
  }
  float *stp = (float *)(gM + (size_t)st), *qp = (float *)(gM + (size_t)(st + qo));
  _mm256_storeu_ps(stp, _mm256_add_ps(_mm256_loadu_ps(stp), sv));
  _mm256_storeu_ps(qp, _mm256_add_ps(_mm256_loadu_ps(qp), q));
  if (s64) flushSums(st, qo, s64, qo << 1, 8);
}

/**
 * Edge-tile (ncols < 8) dx epilogue as mkx: mask, store and reduce the final values tileOut wrote.
 * tile != 0 (the accumulating epilogue, D_GACC): dx comes from the micro-tile (rows 32 bytes apart
 * at tile) and a2*dx is added into the rows d0..d3 of the gradient buffer instead.
 */
static void dxTile(u32 d0, u32 d1, u32 d2, u32 d3, i32 ncols, u32 xr, u32 ldx, u32 cf, u32 cb, u32 cm, i32 relu, u32 st, u32 qo, u32 tile) {
  for (auto r = 0; r < 4; r++) {
    const auto dst = r == 0 ? d0 : r == 1 ? d1 : r == 2 ? d2 : d3;
    if (!dst) continue;
    const auto xp = xr + (u32)r * ldx;
    const auto src = tile ? tile + ((u32)r << 5) : dst;
    for (auto l = 0; l < ncols; l++) {
      const auto o = (u32)l << 2;
      auto g = load<f32>(src + o);
      const auto xv = load<f32>(xp + o);
      const auto off = relu && load<f32>(cf + o) * xv + load<f32>(cf + cb + o) <= 0;
      if (off) g = 0;
      if (tile) store<f32>(dst + o, g * load<f32>(cf + o) + load<f32>(dst + o));
      else if (off) store<f32>(dst + o, g);
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
static inline void store8x4(u32 dst, __m256 v0, __m256 v1, __m256 v2, __m256 v3) {
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

static void copy4(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, i32 len, u32 zero) {
  u32 s0 = 16; u32 s1 = 16; u32 s2 = 16; u32 s3 = 16;
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
 * copy4 with the BN prologue (x normalised + ReLU while packing): v = a*x + b, then max(0, v) when
 * relu, with the per-float coefficients at sa (a) and sa + sb (b): the 4 rows read the same
 * channels, so one coefficient vector serves all four. Padding lanes (pointer 0) stay exactly 0:
 * zero padding is applied after normalisation.
 */
static void copy4n(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, i32 len, u32 zero, u32 sa, u32 sb, i32 relu) {
  u32 s0 = 16; u32 s1 = 16; u32 s2 = 16; u32 s3 = 16;
  const auto ones = i32x4_splat(-1); const auto z = f32x4_splat(0);
  auto m0 = ones; auto m1 = ones; auto m2 = ones; auto m3 = ones;
  if (!p0) { p0 = zero; s0 = 0; m0 = z; }
  if (!p1) { p1 = zero; s1 = 0; m1 = z; }
  if (!p2) { p2 = zero; s2 = 0; m2 = z; }
  if (!p3) { p3 = zero; s3 = 0; m3 = z; }
  auto i = 0;
  {
    // 8 floats per row and step: per lane the same fma, ReLU and mask as below
    const __m256 w0 = _mm256_set_m128(m0, m0), w1 = _mm256_set_m128(m1, m1), w2 = _mm256_set_m128(m2, m2), w3 = _mm256_set_m128(m3, m3);
    const __m256 z8 = _mm256_setzero_ps();
    const auto nr = [&](__m256 v) { return relu ? _mm256_andnot_ps(_mm256_cmp_ps(v, z8, _CMP_LE_OQ), v) : v; };
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
    if (relu) { v0 = reluv(v0); v1 = reluv(v1); v2 = reluv(v2); v3 = reluv(v3); }
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
    store<f32>(dst, q0 ? nrm(load<f32>(p0), ca, cb, relu) : 0);
    store<f32>(dst, q1 ? nrm(load<f32>(p1), ca, cb, relu) : 0, 4);
    store<f32>(dst, q2 ? nrm(load<f32>(p2), ca, cb, relu) : 0, 8);
    store<f32>(dst, q3 ? nrm(load<f32>(p3), ca, cb, relu) : 0, 12);
    dst += 16; p0 += q0; p1 += q1; p2 += q2; p3 += q3; sa += 4;
  }
}

/**
 * copy4 with the BN backward prologue: the rows are dy = A*dbn + B*xbn + C0 computed on load, dbn
 * rows at p0..p3, xbn at the same offsets + dlt (both [M][K]), A at ca, B at ca + cs, C0 at
 * ca + 2*cs (per column k). Every pointer must be a real row: callers pass row 0 again for the
 * rows past the end of a block; those lanes only reach output rows that are never written.
 */
static void copy4dy(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, u32 dlt, i32 len, u32 ca, u32 cs) {
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
 * Expands the x-prologue coefficients coef = a[C] then b[C] into per-float rows aE[o] = a[o % C],
 * bE[o] = b[o % C] (o < NE = max(KW*C + 8, 4*C)) at ce, bE at ce + 4*NE: the coefficients of
 * float o of a packed segment, a kernel row of KW*C floats (channel o % C) or a tap (o < C,
 * channel o), or of a run of whole pixels (normWindow, o mod 4C).
 */
static void expandCoef(u32 d, u32 coef, u32 ce, i32 rows) {
  const auto C = ld(d, D_C); const auto NE = ld(d, D_FNE);
  const auto cb = (u32)C << 2; const auto nb = (u32)NE << 2;
  u32 c = 0;
  for (u32 o = 0; o < nb; o += 4) {
    store<f32>(ce + o, load<f32>(coef + c));
    store<f32>(ce + nb + o, load<f32>(coef + cb + c));
    if (rows > 2) store<f32>(ce + 2 * nb + o, load<f32>(coef + 2 * cb + c));
    c += 4;
    if (c == cb) c = 0;
  }
}

/**
 * x prologue, normalised window: writes z = a*x + b (max(0, z) when relu; ce: the expanded
 * coefficients, see expandCoef) of the input rows that output rows [m0, m0 + cnt) read, image by image, into the region at zw
 * (zcap bytes), then re-points the row table (fillRows with base x) at the copy, so that the
 * plain packing reads z: each x is normalised once per block instead of once per tap reading it
 * (KH*KW times for a stride-1 convolution). Padding taps still read 0. Returns false, table
 * untouched, when the window does not fit.
 * Layout: image bases (i32 per image of the block, 64-byte aligned), then the rows of each image.
 */
static bool normWindow(u32 d, u32 tab, i32 m0, i32 cnt, u32 x, u32 ce, i32 relu, u32 zw, u32 zcap, u32 dlt, bool dym) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto SH = ld(d, D_SH); const auto PH = ld(d, D_PH); const auto KH = ld(d, D_KH); const auto DH = ld(d, D_DH);
  const auto P = OH * OW;
  const auto XS = ld(d, D_XS);
  if (XS != C) return false; // x is a view (1x1 layers only, which have no window): normalise while packing
  const auto rowB = (u32)W * (u32)C * 4; const auto img = (u32)H * rowB;
  const auto n0 = m0 / P; const auto n1 = (m0 + cnt - 1) / P;
  const auto map = zw;
  const auto data = zw + (((u32)(n1 - n0 + 1) * 4 + 63) & ~63);
  // sizes and image bases: base_n + ih*rowB is row ih of image n in the copy
  u32 off = 0;
  for (auto n = n0; n <= n1; n++) {
    const auto pa = n == n0 ? m0 - n * P : 0; const auto pe = n == n1 ? m0 + cnt - 1 - n * P : P - 1;
    const auto lo = max(0, (pa / OW) * SH - PH); const auto hi = min(H, (pe / OW) * SH - PH + (KH - 1) * DH + 1);
    const auto base = data + off - (u32)lo * rowB; // wrapping arithmetic: only rows >= lo are read
    if (base == 0) return false; // 0 marks padding rows in the table
    store<i32>(map + ((u32)(n - n0) << 2), (i32)base);
    if (hi > lo) off += (u32)(hi - lo) * rowB;
  }
  if (data + off > zw + zcap) return false;
  // normalise: each image's rows are one contiguous run; the coefficients of float o of a run are
  // aE[o mod 4C] (period C, and 4C floats is a whole number of vectors)
  const auto pb = (u32)C << 4; const auto nb = (u32)ld(d, D_FNE) << 2;
  off = 0;
  for (auto n = n0; n <= n1; n++) {
    const auto pa = n == n0 ? m0 - n * P : 0; const auto pe = n == n1 ? m0 + cnt - 1 - n * P : P - 1;
    const auto lo = max(0, (pa / OW) * SH - PH); const auto hi = min(H, (pe / OW) * SH - PH + (KH - 1) * DH + 1);
    if (hi <= lo) continue;
    const auto src = x + (u32)n * img + (u32)lo * rowB;
    const auto dst = data + off;
    const auto len = (u32)(hi - lo) * rowB;
    off += len;
    u32 o = 0; u32 co = 0;
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
      if (relu) v = reluv(v);
      v128_store(dst + o, v);
      co += 16;
      if (co == pb) co = 0;
    }
    for (; o < len; o += 4) {
      store<f32>(dst + o, nrm(load<f32>(src + o), load<f32>(ce + co), load<f32>(ce + nb + co), relu));
      co += 4;
    }
  }
  // re-point the rows
  for (auto i = 0; i < cnt; i++) {
    const auto t = tab + (u32)i * 12;
    const auto xb = (u32)load<i32>(t);
    if (!xb) continue;
    const auto n = (i32)((xb - x) / img);
    // (the packing then reads the window at a pixel stride of C)
    store<i32>(t, load<i32>(map + ((u32)(n - n0) << 2)));
  }
  return true;
}

/**
 * Row table for `cnt` output rows starting at global row m0: per row the byte pointer of its
 * image in `base` (x or 0), ih0 = oh*SH - PH and iw0 = ow*SW - PW.
 */
static void fillRows(u32 d, u32 tab, i32 m0, i32 cnt, u32 base) {
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW);
  const auto img = (u32)ld(d, D_H) * (u32)ld(d, D_W) * (u32)ld(d, D_XS) * 4;
  const auto P = OH * OW;
  auto n = m0 / P;
  const auto p = m0 - n * P;
  auto oh = p / OW;
  auto ow = p - oh * OW;
  for (auto i = 0; i < cnt; i++) {
    const auto t = tab + (u32)i * 12;
    store<i32>(t, (i32)(base + (u32)n * img));
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
static inline u32 tapPtr(u32 xb, i32 ih, i32 iw, i32 H, i32 W, i32 C, i32 coff) {
  if (!xb || (u32)ih >= (u32)H || (u32)iw >= (u32)W) return 0;
  return xb + (((u32)(ih * W + iw) * (u32)C + (u32)coff) << 2);
}

/** copy4, or copy4n in the fused instantiation. */
template <class F> static inline void cp4(u32 dst, u32 p0, u32 p1, u32 p2, u32 p3, i32 len, u32 zero, u32 sa, u32 sb, i32 relu) {
  if (fused<F>()) copy4n(dst, p0, p1, p2, p3, len, zero, sa, sb, relu);
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
 * Fused (F = Fused): x is BN-normalised (+ ReLU) on the way, float `off` of a segment (the
 * tapPtr channel offset) taking its coefficients from the expanded rows at ce + 4*off (bE nb
 * bytes further, see expandCoef); padding taps stay 0.
 */
template <class F> static void packAFwd(u32 d, u32 t, i32 nv, i32 g, i32 r0, i32 kc, u32 panel, u32 zero, u32 ce, u32 nb, i32 relu, i32 xs) {
  const auto C = xs; const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW);
  const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW); const auto G = ld(d, D_G); const auto Cg = ld(d, D_CG);
  const auto merge = DW == 1 && G == 1 && KW > 1;
  const auto segLen = merge ? KW * Cg : Cg;
  const auto r1 = r0 + kc;
  const auto goff = g * Cg;
  const u32 xb0 = (u32)load<i32>(t);
  const u32 xb1 = nv > 1 ? (u32)load<i32>(t, 12) : 0;
  const u32 xb2 = nv > 2 ? (u32)load<i32>(t, 24) : 0;
  const u32 xb3 = nv > 3 ? (u32)load<i32>(t, 36) : 0;
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
      if (xb0 && (u32)(ih0 + dh) < (u32)H && (iw0 < 0 || iw0 + KW > W)) ok = false;
      if (xb1 && (u32)(ih1 + dh) < (u32)H && (iw1 < 0 || iw1 + KW > W)) ok = false;
      if (xb2 && (u32)(ih2 + dh) < (u32)H && (iw2 < 0 || iw2 + KW > W)) ok = false;
      if (xb3 && (u32)(ih3 + dh) < (u32)H && (iw3 < 0 || iw3 + KW > W)) ok = false;
      if (ok) {
        const auto off = a0 - sa;
        cp4<F>(panel + (u32)(a0 - r0) * 16,
          tapPtr(xb0, ih0 + dh, iw0, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1, H, W, C, off),
          tapPtr(xb2, ih2 + dh, iw2, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3, H, W, C, off),
          a1 - a0, zero, ce + ((u32)off << 2), nb, relu);
      } else {
        for (auto kw = (a0 - sa) / Cg; kw < KW; kw++) {
          const auto ta = sa + kw * Cg;
          if (ta >= a1) break;
          const auto b0 = max(ta, a0); const auto b1 = min(ta + Cg, a1);
          const auto off = b0 - ta;
          cp4<F>(panel + (u32)(b0 - r0) * 16,
            tapPtr(xb0, ih0 + dh, iw0 + kw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + kw, H, W, C, off),
            tapPtr(xb2, ih2 + dh, iw2 + kw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + kw, H, W, C, off),
            b1 - b0, zero, ce + ((u32)off << 2), nb, relu);
        }
      }
    } else {
      const auto kh = s / KW; const auto kw = s - kh * KW;
      const auto dh = kh * DH; const auto dw = kw * DW;
      const auto off = goff + a0 - sa;
      cp4<F>(panel + (u32)(a0 - r0) * 16,
        tapPtr(xb0, ih0 + dh, iw0 + dw, H, W, C, off), tapPtr(xb1, ih1 + dh, iw1 + dw, H, W, C, off),
        tapPtr(xb2, ih2 + dh, iw2 + dw, H, W, C, off), tapPtr(xb3, ih3 + dh, iw3 + dw, H, W, C, off),
        a1 - a0, zero, ce + ((u32)off << 2), nb, relu);
    }
  }
}

// =====================================================================================
// Weight packing.
// =====================================================================================

/**
 * Forward B: bp[g][j][r][8] = w[g*Kg + 8j + l][c][kh][kw], r = (kh*KW + kw)*Cg + c, zero for
 * columns past Kg. Units: panels (g, j), G * Kg8/8 of them.
 */
static void as_conv_pack_w_fwd(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch) {
  packWFwd(d, w, bp, start, end, false);
}

/**
 * Forward B of the transposed convolution that computes backward-data as a forward pass over
 * dY (stride 1; see convBackwardData): d describes that convolution (its input channels are
 * the original K, its outputs the original C), w is the original OIHW weight [Cg*G][Kg][KH][KW]
 * with the taps flipped: bp[g][j][r][8] = w[g*Cg + c][8j + l][KH-1-kh][KW-1-kw],
 * r = (kh*KW + kw)*Cg + c (Cg, Kg: this descriptor's). Units: panels (g, j).
 */
static void as_conv_pack_w_fwd_t(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch) {
  packWFwd(d, w, bp, start, end, true);
}

static inline void packWFwd(u32 d, u32 w, u32 bp, i32 start, i32 end, bool flip) {
  const auto Kg = ld(d, D_KG); const auto Cg = ld(d, D_CG); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto Kdim = ld(d, D_KDIM); const auto NP = ld(d, D_KG8) >> 3;
  const auto T = KH * KW;
  for (auto u = start; u < end; u++) {
    const auto g = u / NP; const auto j = u - g * NP;
    const auto dst = bp + ((u32)u * (u32)Kdim) * 32;
    for (auto l = 0; l < 8; l++) {
      const auto kk = j * 8 + l;
      auto o = dst + ((u32)l << 2);
      for (auto tap = 0; tap < T; tap++) {
        for (auto c = 0; c < Cg; c++) {
          const auto e = flip ? ((g * Cg + c) * Kg + kk) * T + (T - 1 - tap) : (g * Kg + kk) * Cg * T + c * T + tap;
          store<f32>(o, kk < Kg ? load<f32>(w + ((u32)e << 2)) : 0);
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
static void as_conv_pack_w_bwd(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch) {
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
      store<i32>(offs + ((u32)l << 2), o < SEG ? (c * T + tap) << 2 : -1);
    }
    auto dst = bp + ((u32)u * (u32)Kg) * 32;
    for (auto kk = 0; kk < Kg; kk++) {
      const auto src = w + ((u32)(g * Kg + kk) * (u32)(Cg * T) << 2);
      for (auto l = 0; l < 8; l++) {
        const auto so = load<i32>(offs + ((u32)l << 2));
        store<f32>(dst + ((u32)l << 2), so >= 0 ? load<f32>(src + (u32)so) : 0);
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
static void as_conv_fwd(u32 d, u32 x, u32 bp, u32 bias, u32 y, i32 start, i32 end, u32 scratch) {
  convFwd<Plain>(d, x, bp, bias, y, 0, 0, 0, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused forward. coef != 0: x prologue, x normalised while packing A (coef = a[C] then b[C],
 * max(0, .) when relu; padding taps stay 0). mom != 0: moments epilogue, per-channel sums of
 * the final y - shift and (y - shift)^2 (shift[K]: this thread's first y of each channel) from
 * the tiles, in f32 over 64 rows, then f64, into this thread's region at scratch + D_FPART
 * (f64 S[K], Q[K], then f32 shift[K], zeroed here), which the host merges in thread order.
 */
static void as_conv_fwd_f(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch) {
  convFwd<Fused>(d, x, bp, bias, y, coef, relu, mom, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Backward-data as a forward pass over dY (d: the transposed convolution, bp: conv_pack_w_fwd_t)
 * with the dx epilogue of conv_bwd_data_f on each block of output rows once it is final: dx = 0
 * where a2*x2 + b2 <= 0 (c2 = a2[C], b2[C], when relu), f64 partials S[C] += dx,
 * Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here; f32 sums over runs of 64 rows).
 */
static void as_conv_fwd_dx_f(u32 d, u32 dy, u32 bp, u32 dx, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch) {
  convFwd<Fused>(d, dy, bp, 0, dx, 0, 0, 0, x2, c2, m2, relu, 0, 0, start, end, scratch);
}

/**
 * As conv_fwd_dx_f (x2 = 0: no dx epilogue), with the dy prologue of conv_bwd_data_f: dY is
 * A*dbn + B*xbn + C0 (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]), computed once per
 * block into the normalised window (the host guarantees that every block's window fits).
 */
static void as_conv_fwd_dy_f(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch) {
  convFwd<Fused>(d, dy, bp, 0, dx, cdy, 0, 0, x2, c2, m2, relu, dlt, 1, start, end, scratch);
}

template <class F> static void convFwd(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, u32 x2, u32 c2, u32 m2, i32 relu2, u32 dlt, i32 dym, i32 start, i32 end, u32 scratch) {
  const auto K = ld(d, D_K); const auto G = ld(d, D_G); const auto Kg = ld(d, D_KG); const auto Kdim = ld(d, D_KDIM);
  const auto NP = ld(d, D_KG8) >> 3; const auto Kc = ld(d, D_KC); const auto Mc = ld(d, D_MC);
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto apack = scratch + SC_PACK;
  zeroPage(scratch);
  u32 ce = 0; u32 nb = 0; u32 st = 0; u32 qo = 0; u32 zw = 0; u32 zcap = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + (u32)ld(d, D_FCOEF);
      nb = (u32)ld(d, D_FNE) << 2;
      expandCoef(d, coef, ce, dym ? 3 : 2);
      if (ld(d, D_FZ)) { zw = scratch + (u32)ld(d, D_FZ); zcap = (u32)ld(d, D_FZCAP); }
    }
    if (mom) {
      // f64 S[K], Q[K], then f32 shift[K], S32[K], Q32[K] (see mkm)
      st = scratch + (u32)ld(d, D_FPART);
      qo = (u32)K << 3;
      memory_fill(st, 0, (u32)K * 28);
    }
    if (x2) {
      st = scratch + (u32)ld(d, D_FPART);
      memory_fill(st, 0, (u32)K << 4);
    }
  }
  const auto ldy = (u32)K << 2;
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
    const auto win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, mb, mn, x, ce, relu, zw, zcap, dlt, dym != 0);
    const auto pro = fused<F>() && ce != 0 && !win;
    const auto xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
    if (fused<F>() && dym && pro) unreachable(); // a dy prologue needs the window (conv.ts checks that it fits)
    for (auto g = 0; g < G; g++) {
      for (auto r0 = 0; r0 < Kdim; r0 += Kc) {
        const auto kc = min(Kc, Kdim - r0);
        const auto first = r0 == 0;
        const auto add = first ? 0 : 1;
        const auto stats = fused<F>() && mom != 0 && st != 0 && r0 + kc >= Kdim; // y is final after this block
        // full panels (8 columns): WRI micro-panels x WRJ panels per call of the wide kernel
        const i32 NPF = Kg >> 3;
        for (i32 jb = 0; jb < NPF; jb += WRJ) {
          const i32 rj = min(WRJ, NPF - jb);
          const u32 bj = bp + (((u32)(g * NP + jb) * (u32)Kdim + (u32)r0) << 5);
          const i32 col = g * Kg + jb * 8;
          const u32 bptr = first && bias ? bias + ((u32)col << 2) : 0;
          for (i32 ib = 0; ib < np; ib += WRI) {
            const i32 ri = min(WRI, np - ib);
            const bool legacy = stats && add && mb == start && ib == 0; // (mkm below: packed A)
            const bool dir = pw1 && !pro && !win && xs <= ROWS_IN_PLACE && mn - ib * 4 >= ri * 4 && !legacy;
            float *rows[4 * WRI];
            for (i32 ii = 0; ii < ri; ii++) {
              const i32 i = ib + ii;
              const auto a = apack + (u32)(i * kc) * 16;
              const auto rem = mn - i * 4;
              if (jb == 0 && !dir) {
                if (pro) packAFwd<Fused>(d, tab + (u32)(i * 4) * 12, rem, g, r0, kc, a, zero, ce, nb, relu, xs);
                else packAFwd<Plain>(d, tab + (u32)(i * 4) * 12, rem, g, r0, kc, a, zero, 0, 0, 0, xs);
              }
              const u32 yrow = y + ((u32)(mb + i * 4) * (u32)K + (u32)col) * 4;
              for (i32 r = 0; r < 4; r++) rows[ii * 4 + r] = r < rem ? fp(yrow + (u32)r * ldy) : nullptr;
            }
            if (legacy) {
              // the thread's first final tile of each channel: mkm takes its shift from row 0's
              // final value and rows 1-3's sums of this block only (before their add), values the
              // wide kernel does not keep: these tiles take mkm itself
              for (i32 jj = 0; jj < rj; jj++) {
                const i32 cj = col + jj * 8;
                const auto sj = st + (qo << 1) + ((u32)cj << 2);
                for (i32 ii = 0; ii < ri; ii++) {
                  const i32 i = ib + ii;
                  const auto rem = mn - i * 4;
                  const u32 yrow = y + ((u32)(mb + i * 4) * (u32)K + (u32)cj) * 4;
                  const auto flush = (i & 15) == 15 || i == np - 1;
                  mkm(apack + (u32)(i * kc) * 16, bj + (u32)jj * (u32)Kdim * 32, kc, yrow, rem > 1 ? yrow + ldy : 0, rem > 2 ? yrow + 2 * ldy : 0,
                      rem > 3 ? yrow + 3 * ldy : 0, 0, add, sj, (u32)K << 2, i == 0 ? 1 : 0, flush ? st + ((u32)cj << 3) : 0);
                }
              }
              continue;
            }
            // moments from the tiles in registers, after their write-back (mkm's epilogue, per tile)
            const auto mom = epiAfter([&](int jj, int ii, const __m256 *v) {
              const i32 cj = col + jj * 8, i = ib + ii, rem = mn - i * 4;
              mkmRegs(v, rem > 1, rem > 2, rem > 3, st + (qo << 1) + ((u32)cj << 2), (u32)K << 2, mb == start && i == 0 ? 1 : 0,
                      (i & 15) == 15 || i == np - 1 ? st + ((u32)cj << 3) : 0);
            });
            if (dir) {
              // first panels: prefetch the next tile's x rows (contiguous when one block spans C)
              // and output rows, which come from DRAM
              const u32 nx = x + ((u32)(mb + (ib + ri) * 4) * (u32)xs) * 4, ny = y + ((u32)(mb + (ib + ri) * 4) * (u32)K + (u32)col) * 4;
              const bool pfx = jb == 0 && kc == Kdim && xs == Kdim && ib + ri < np, pfy = ib + ri < np;
              const float *a0 = fp(x + ((u32)(mb + ib * 4) * (u32)xs + (u32)r0) * 4);
              const char *px = pfx ? (const char *)fp(nx) : nullptr, *py = pfy ? (const char *)fp(ny) : nullptr;
              const i32 nlx = pfx ? (ri * 4 * xs * 4) / 64 : 0, nly = pfy ? min(WRI * 4, mn - (ib + ri) * 4) : 0;
              if (stats) mkwAny<A_ROWS>(ri, rj, a0, (size_t)xs, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add, px, nlx, py, ldy, nly, nullptr, 0, 0, mom);
              else mkwAny<A_ROWS>(ri, rj, a0, (size_t)xs, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add, px, nlx, py, ldy, nly);
            } else if (stats) {
              mkwAny<A_PACKED>(ri, rj, fp(apack + (u32)(ib * kc) * 16), (size_t)kc * 4, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add, nullptr, 0,
                               nullptr, 0, 0, nullptr, 0, 0, mom);
            } else {
              mkwAny<A_PACKED>(ri, rj, fp(apack + (u32)(ib * kc) * 16), (size_t)kc * 4, fp(bj), (size_t)Kdim * 8, kc, rows, fp(bptr), add);
            }
          }
        }
        // the edge panel (Kg % 8 columns) as in gemm.ts (it packs A when there is no full panel)
        for (auto j = NPF; j < NP; j++) {
          const auto bj = bp + (((u32)(g * NP + j) * (u32)Kdim + (u32)r0) << 5);
          const auto col = g * Kg + j * 8;
          const auto ncols = min(8, Kg - j * 8);
          const u32 bptr = first && bias ? bias + ((u32)col << 2) : 0;
          const auto sj = st + (qo << 1) + ((u32)col << 2); // shift of channel col
          auto yrow = y + ((u32)mb * (u32)K + (u32)col) * 4;
          for (auto i = 0; i < np; i++) {
            const auto a = apack + (u32)(i * kc) * 16;
            const auto rem = mn - i * 4;
            // pack each micro-panel just before its first use
            if (j == 0) {
              if (pro) packAFwd<Fused>(d, tab + (u32)(i * 4) * 12, rem, g, r0, kc, a, zero, ce, nb, relu, xs);
              else packAFwd<Plain>(d, tab + (u32)(i * 4) * 12, rem, g, r0, kc, a, zero, 0, 0, 0, xs);
            }
            const auto d0 = yrow; const u32 d1 = rem > 1 ? yrow + ldy : 0;
            const u32 d2 = rem > 2 ? yrow + 2 * ldy : 0; const u32 d3 = rem > 3 ? yrow + 3 * ldy : 0;
            const auto init = mb == start && i == 0 ? 1 : 0; // first final tile of these channels
            const auto flush = (i & 15) == 15 || i == np - 1; // f32 sums into f64 every 16 tiles
            if (ncols == 8) {
              if (stats) mkm(a, bj, kc, d0, d1, d2, d3, bptr, add, sj, (u32)K << 2, init, flush ? st + ((u32)col << 3) : 0);
              else mk(a, bj, kc, d0, d1, d2, d3, bptr, add);
            } else {
              mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
              tileOut(tile, d0, d1, d2, d3, ncols, bptr, add);
              if (stats) {
                momTile(d0, d1, d2, d3, ncols, sj, (u32)K << 2, init);
                if (flush) flushSums(sj + ((u32)K << 2), (u32)K << 2, st + ((u32)col << 3), qo, ncols);
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
        const auto off = ((u32)(mb + p) * (u32)K) << 2;
        dxRun(y + off, x2 + off, min(64, mn - p), K, (u32)K << 2, c2, m2, relu2, st);
      }
    }
  }
}

// =====================================================================================
// Forward, transposed (G == 1, K % 8 in 1..4, K <= 32: densenet's K = 12), Y^T = W A^T: rows
// are output channels in micro-panels of 4 (weights packed [p][r][4] by conv_pack_w_fwd4), the
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
static i32 blockMoments(u32 y, i32 K, i32 mb, i32 mn, bool first, bool last, u32 st, i32 tiles) {
  const auto ldy = (u32)K << 2; const auto np = (mn + 3) >> 2;
  for (auto i = 0; i < np; i++) {
    const auto rem = mn - i * 4;
    const auto r0p = y + (u32)(mb + i * 4) * ldy;
    for (auto col = 0; col < K; col += 8) {
      const auto e = r0p + ((u32)col << 2);
      const auto sj = st + ((u32)K << 4) + ((u32)col << 2);
      momTile(e, rem > 1 ? e + ldy : 0, rem > 2 ? e + 2 * ldy : 0, rem > 3 ? e + 3 * ldy : 0, min(8, K - col), sj, (u32)K << 2, first && i == 0 ? 1 : 0);
    }
    tiles++;
    if (tiles == 16 || (last && i == np - 1)) {
      for (auto col = 0; col < K; col += 8) {
        flushSums(sj32(st, K, col), (u32)K << 2, st + ((u32)col << 3), (u32)K << 3, min(8, K - col));
      }
      tiles = 0;
    }
  }
  return tiles;
}

/** The f32 sums S32[col..] of the moments layout at st (f64 S[K], Q[K], f32 shift[K], S32[K], Q32[K]). */
static inline u32 sj32(u32 st, i32 K, i32 col) {
  return st + ((u32)K << 4) + ((u32)K << 2) + ((u32)col << 2);
}

/** bp[p][r][l] = w[4p + l][c][kh][kw], r = (kh*KW + kw)*C + c, zero past K. Units: micro-panels p. */
static void as_conv_pack_w_fwd4(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch) {
  const auto K = ld(d, D_K); const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW); const auto Kdim = ld(d, D_KDIM);
  for (auto p = start; p < end; p++) {
    auto o = bp + ((u32)p * (u32)Kdim) * 16;
    for (auto tap = 0; tap < T; tap++) {
      for (auto c = 0; c < C; c++) {
        for (auto l = 0; l < 4; l++) {
          const auto k = p * 4 + l;
          store<f32>(o + ((u32)l << 2), k < K ? load<f32>(w + ((u32)((k * C + c) * T + tap) << 2)) : 0);
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
static void mkT(u32 a, u32 b0, u32 b1, i32 kc, u32 e0, u32 e1, u32 e2, u32 e3, u32 e4, u32 e5, u32 e6, u32 e7, u32 bias, i32 add) {
  auto c00 = f32x4_splat(0);
  auto c01 = c00; auto c10 = c00; auto c11 = c00; auto c20 = c00; auto c21 = c00; auto c30 = c00; auto c31 = c00;
  const auto aEnd = a + ((u32)kc << 4);
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

static inline void wrT(u32 e, v128 v, i32 add) {
  if (e) v128_store(e, add ? f32x4_add(v128_load(e), v) : v);
}

static void as_conv_fwd_t(u32 d, u32 x, u32 bp, u32 bias, u32 y, i32 start, i32 end, u32 scratch) {
  convFwdT<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f. */
static void as_conv_fwd_t_f(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch) {
  convFwdT<Fused>(d, x, bp, bias, y, coef, relu, mom, start, end, scratch);
}

template <class F> static void convFwdT(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch) {
  const auto K = ld(d, D_K); const auto Kdim = ld(d, D_KDIM); const auto Kc = ld(d, D_KC); const auto Mc = max(8, ld(d, D_MC) & ~7);
  const auto RP = (K + 3) >> 2; const auto full = K & ~3;
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto apack = scratch + SC_PACK;
  zeroPage(scratch);
  u32 ce = 0; u32 nb = 0; u32 st = 0; u32 zw = 0; u32 zcap = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + (u32)ld(d, D_FCOEF);
      nb = (u32)ld(d, D_FNE) << 2;
      expandCoef(d, coef, ce);
      if (ld(d, D_FZ)) { zw = scratch + (u32)ld(d, D_FZ); zcap = (u32)ld(d, D_FZCAP); }
    }
    if (mom) {
      st = scratch + (u32)ld(d, D_FPART);
      memory_fill(st, 0, (u32)K * 28);
    }
  }
  const auto ldy = (u32)K << 2;
  const auto nblk = (end - start + Mc - 1) / Mc;
  const auto Mb = min(Mc, (((end - start + nblk - 1) / nblk) + 7) & ~7);
  auto tiles = 0; // moments: 4-row groups since the last flush
  for (auto mb = start; mb < end; mb += Mb) {
    const auto mn = min(Mb, end - mb);
    const auto np = (mn + 3) >> 2;
    fillRows(d, tab, mb, mn, x);
    const auto pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, relu, zw, zcap));
    for (auto r0 = 0; r0 < Kdim; r0 += Kc) {
      const auto kc = min(Kc, Kdim - r0);
      const auto add = r0 == 0 ? 0 : 1;
      // B: every micro-panel of 4 pixels of the block, [kc][4]
      for (auto i = 0; i < np; i++) {
        const auto a = apack + (u32)(i * kc) * 16;
        if (pro) packAFwd<Fused>(d, tab + (u32)(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, ce, nb, relu, ld(d, D_C));
        else packAFwd<Plain>(d, tab + (u32)(i * 4) * 12, mn - i * 4, 0, r0, kc, a, zero, 0, 0, 0, ld(d, D_C));
      }
      for (auto i = 0; i < np; i += 2) {
        const auto b0 = apack + (u32)(i * kc) * 16;
        const auto b1 = i + 1 < np ? b0 + (u32)kc * 16 : b0;
        const auto rem = mn - i * 4;
        const auto yrow = y + (u32)(mb + i * 4) * ldy;
        for (auto p = 0; p < RP; p++) {
          const auto a = bp + (((u32)p * (u32)Kdim + (u32)r0) << 4);
          const auto col = p * 4;
          const u32 bptr = add == 0 && bias ? bias + ((u32)col << 2) : 0;
          if (col < full) {
            const auto e = yrow + ((u32)col << 2);
            mkT(a, b0, b1, kc, e, rem > 1 ? e + ldy : 0, rem > 2 ? e + 2 * ldy : 0, rem > 3 ? e + 3 * ldy : 0,
              rem > 4 ? e + 4 * ldy : 0, rem > 5 ? e + 5 * ldy : 0, rem > 6 ? e + 6 * ldy : 0, rem > 7 ? e + 7 * ldy : 0, bptr, add);
          } else {
            // last micro-panel with K % 4 channels: through the scratch tile (8 rows of 16 bytes)
            mkT(a, b0, b1, kc, tile, tile + 16, tile + 32, tile + 48, tile + 64, tile + 80, tile + 96, tile + 112, 0, 0);
            for (auto r = 0; r < min(8, rem); r++) {
              const auto q = yrow + (u32)r * ldy + ((u32)col << 2);
              for (auto l = 0; l < K - col; l++) {
                const auto o = (u32)l << 2;
                auto v = load<f32>(tile + ((u32)r << 4) + o);
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
static void as_conv_pack_w_dot(u32 d, u32 w, u32 bp, i32 start, i32 end, u32 scratch) {
  const auto K = ld(d, D_K); const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  for (auto k = start; k < end; k++) {
    auto o = bp + ((u32)(k * T * C) << 2);
    for (auto tap = 0; tap < T; tap++) {
      for (auto c = 0; c < C; c++) {
        store<f32>(o, k < K ? load<f32>(w + ((u32)((k * C + c) * T + tap) << 2)) : 0);
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

static void as_conv_fwd_dot(u32 d, u32 x, u32 bp, u32 bias, u32 y, i32 start, i32 end, u32 scratch) {
  convFwdDot<Plain>(d, x, bp, bias, y, 0, 0, 0, start, end, scratch);
}

/** Fused, arguments as conv_fwd_f (the x prologue needs the window: conv.ts checks that it fits). */
static void as_conv_fwd_dot_f(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch) {
  convFwdDot<Fused>(d, x, bp, bias, y, coef, relu, mom, start, end, scratch);
}

template <class F> static void convFwdDot(u32 d, u32 x, u32 bp, u32 bias, u32 y, u32 coef, i32 relu, i32 mom, i32 start, i32 end, u32 scratch) {
  const auto K = ld(d, D_K); const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW);
  const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW); const auto T = ld(d, D_KH) * KW;
  const auto QG = (K + 3) >> 2; const auto full = K & ~3;
  const auto tile = scratch + SC_TILE; const auto tab = scratch + SC_ROWS; const auto zb = scratch + SC_ZBUF;
  const auto cb = (u32)C << 2; const auto kst = (u32)(T * C) << 2; // bytes per tap row, per weight row
  memory_fill(zb, 0, cb);
  u32 ce = 0; u32 st = 0; u32 zw = 0; u32 zcap = 0;
  if (fused<F>()) {
    if (coef) {
      ce = scratch + (u32)ld(d, D_FCOEF);
      expandCoef(d, coef, ce);
      zw = scratch + (u32)ld(d, D_FZ); zcap = (u32)ld(d, D_FZCAP);
    }
    if (mom) {
      st = scratch + (u32)ld(d, D_FPART);
      memory_fill(st, 0, (u32)K * 28);
    }
  }
  const auto ldy = (u32)K << 2;
  const auto Mb = ld(d, D_MC); // rows per block (the window of the fused x prologue is sized for it)
  auto tiles = 0;
  for (auto mb = start; mb < end; mb += Mb) {
    const auto mn = min(Mb, end - mb);
    fillRows(d, tab, mb, mn, x);
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, mb, mn, x, ce, relu, zw, zcap))) unreachable();
    for (auto i = 0; i < mn; i += 2) {
      const auto t0 = tab + (u32)i * 12;
      const auto two = i + 1 < mn;
      const auto xb0 = (u32)load<i32>(t0); const auto ih0 = load<i32>(t0, 4); const auto iw0 = load<i32>(t0, 8);
      const u32 xb1 = two ? (u32)load<i32>(t0, 12) : 0; const auto ih1 = load<i32>(t0, 16); const auto iw1 = load<i32>(t0, 20);
      const auto y0 = y + (u32)(mb + i) * ldy;
      for (auto q = 0; q < QG; q++) {
        auto a00 = f32x4_splat(0);
        auto a01 = a00; auto a02 = a00; auto a03 = a00; auto a10 = a00; auto a11 = a00; auto a12 = a00; auto a13 = a00;
        auto wt = bp + (u32)(q * 4) * kst;
        for (auto tap = 0; tap < T; tap++) {
          const auto kh = tap / KW; const auto kw = tap - kh * KW;
          const auto p0 = tapPtr(xb0, ih0 + kh * DH, iw0 + kw * DW, H, W, C, 0);
          const auto p1 = tapPtr(xb1, ih1 + kh * DH, iw1 + kw * DW, H, W, C, 0);
          if (p0 | p1) {
            u32 q0 = p0 ? p0 : zb; u32 q1 = p1 ? p1 : zb;
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
          if (bias) { const auto bv = v128_load(bias + ((u32)col << 2)); r0 = f32x4_add(r0, bv); r1 = f32x4_add(r1, bv); }
          v128_store(y0 + ((u32)col << 2), r0);
          if (two) v128_store(y0 + ldy + ((u32)col << 2), r1);
        } else {
          v128_store(tile, r0); v128_store(tile, r1, 16);
          for (auto l = 0; l < K - col; l++) {
            const auto o = (u32)l << 2;
            const f32 bb = bias ? load<f32>(bias + ((u32)(col + l) << 2)) : 0;
            store<f32>(y0 + ((u32)col << 2) + o, load<f32>(tile + o) + bb);
            if (two) store<f32>(y0 + ldy + ((u32)col << 2) + o, load<f32>(tile + 16 + o) + bb);
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
// conv_pack_w_bwd): 8 channels of one tap, so row r of a tile adds into
// dx[n][ih][iw][g*Cg + c0 .. +8] (skipped where (ih, iw) is padding); or 8 consecutive floats
// of one kernel row (merged segments, Cg % 8 != 0), added as two vectors when the row lies
// inside the image, column by column where it crosses the edge. Units: images n; a thread owns
// whole images, so the scatter never conflicts and the summation order does not depend on the
// thread count.
// =====================================================================================
static void as_conv_bwd_data(u32 d, u32 dy, u32 bp, u32 dx, i32 start, i32 end, u32 scratch) {
  bwdData<Plain>(d, dy, bp, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused backward-data (col2im path). cdy != 0: dy prologue, dY = A*dbn + B*xbn + C0 computed
 * while packing (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]). x2 != 0: dx epilogue on the
 * input rows of each image as soon as no later output pixel can add to them (a pass over rows
 * just written, still in cache): dx = 0 where a2*x2 + b2 <= 0 (c2 = a2[C] then b2[C], when relu),
 * and f64 partials S[C] += dx, Q[C] += dx*(x2 - mean2) at scratch + D_FPART (zeroed here).
 */
static void as_conv_bwd_data_f(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch) {
  bwdData<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, relu, start, end, scratch);
}

/**
 * dx epilogue over the input rows [h0, h1) of one image (dxn, x2n: the image's dx and x2): per
 * row and block of 4 channels (coefficients and sums in registers), over the row's pixels: mask
 * (when relu), then f32 sums of dx and dx*(x2 - mean2) over the row, added to the f64 partials st.
 */
static void dxRows(u32 d, u32 dxn, u32 x2n, i32 h0, i32 h1, u32 c2, u32 m2, i32 relu, u32 st) {
  const auto C = ld(d, D_C); const auto W = ld(d, D_W);
  const auto rowB = (u32)W * ((u32)C << 2);
  for (auto h = h0; h < h1; h++) dxRun(dxn + (u32)h * rowB, x2n + (u32)h * rowB, W, C, (u32)C << 2, c2, m2, relu, st);
}

/**
 * The dx epilogue of dxRows over one run of W consecutive pixels of C channels (px0: dx, xp0:
 * x2): per pixel, every block of 4 channels (dx and x2 read in address order), the f32 sums in the
 * thread's S32/Q32 rows (st + 20*C, st + 24*C: the 28*C-byte fusion region), added to the f64
 * partials S[C], Q[C] at st at the end of the run. (Channel-block-major order, with coefficients
 * and sums in registers and each block walking the run at stride C, was 2-12% slower on the
 * Winograd backward-data of 148->12 @32, 436->12 @8 and 64->64 @56: measured interleaved.)
 * gp0 != 0: the accumulating epilogue (D_GACC), a2*dx added into the gradient buffer's pixels
 * (gp0, gsb bytes apart) instead of the masked dx stored back. yo0 != 0 (dx read from the ring
 * of D_GRING): the masked dx is stored there, C floats per pixel, instead of in place. With the
 * mask and C % 4 == 0 (every fused DenseNet and ResNet layer) a copy of the loop without the
 * per-element flag tests runs instead (the same operations in the same order: 1-3% faster on
 * 148->12 @32 and 128->32 @56, 15 interleaved repeats).
 */
static void dxRun(u32 px0, u32 xp0, i32 W, i32 C, u32 xsb, u32 c2, u32 m2, i32 relu, u32 st, u32 gp0, u32 gsb, u32 yo0) {
  const auto cb = (u32)C << 2; const auto vb = (u32)(C & ~3) << 2; const auto qo = cb << 1;
  const auto s32 = st + (u32)C * 20; const auto q32 = st + (u32)C * 24;
  memory_fill(s32, 0, cb << 1);
  const auto z = f32x4_splat(0);
  const auto put = !gp0 && (relu || yo0 != 0); // dx (masked) is stored: back in place, or to yo
  auto px = px0; auto xp = xp0; auto gp = gp0; auto yo = yo0 ? yo0 : px0;
  if (relu && vb == cb) {
    // the masked epilogue without channel tail, its flags taken out of the loop: a2*dx added
    // into the gradient buffer (DenseNet), or dx stored (to yo, or in place)
    for (auto w = 0; w < W; w++) {
      for (u32 o = 0; o < vb; o += 16) {
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
      u32 o = 0;
      for (; o < vb; o += 16) {
        auto g = v128_load(px + o);
        const auto xv = v128_load(xp + o);
        if (relu) g = v128_andnot(g, f32x4_le(fma(xv, v128_load(c2 + o), v128_load(c2 + cb + o)), z));
        if (put) v128_store(yo + o, g);
        if (gp0) v128_store(gp + o, fma(g, v128_load(c2 + o), v128_load(gp + o)));
        v128_store(s32 + o, f32x4_add(v128_load(s32 + o), g));
        v128_store(q32 + o, fma(g, f32x4_sub(xv, v128_load(m2 + o)), v128_load(q32 + o)));
      }
      for (; o < cb; o += 4) {
        auto g = load<f32>(px + o);
        const auto xv = load<f32>(xp + o);
        if (relu && load<f32>(c2 + o) * xv + load<f32>(c2 + cb + o) <= 0) g = 0;
        if (put) store<f32>(yo + o, g);
        if (gp0) store<f32>(gp + o, g * load<f32>(c2 + o) + load<f32>(gp + o));
        store<f32>(s32 + o, load<f32>(s32 + o) + g);
        store<f32>(q32 + o, load<f32>(q32 + o) + g * (xv - load<f32>(m2 + o)));
      }
      px += cb; xp += xsb; gp += gsb; yo += cb;
    }
  }
  for (u32 o = 0; o < cb; o += 4) {
    const auto so = st + (o << 1);
    store<f64>(so, load<f64>(so) + (f64)load<f32>(s32 + o));
    store<f64>(so + qo, load<f64>(so + qo) + (f64)load<f32>(q32 + o));
  }
}

/**
 * Packs rows m, m+1, .. (rem of them valid, the rest zero) of dY, channels [k, k + kc), as [kc][4]
 * at a (fused with cdy: dY computed on load, see copy4dy).
 */
template <class F> static inline void packDyRows(u32 a, u32 dy, i32 m, i32 rem, i32 K, i32 k, i32 kc, u32 dlt, u32 cdy, u32 zero) {
  const auto ldk = (u32)K << 2;
  const auto src = dy + (((u32)m * (u32)K + (u32)k) << 2);
  if (fused<F>() && cdy) {
    copy4dy(a, src, rem > 1 ? src + ldk : src, rem > 2 ? src + 2 * ldk : src, rem > 3 ? src + 3 * ldk : src, dlt, kc, cdy + ((u32)k << 2), ldk);
  } else {
    copy4(a, src, rem > 1 ? src + ldk : 0, rem > 2 ? src + 2 * ldk : 0, rem > 3 ? src + 3 * ldk : 0, kc, zero);
  }
}

/**
 * Tight backward-data (D_DTIGHT): adds column-buffer rows [0, mn) (cs bytes apart; columns
 * (kh, kw, c) of one output pixel, row table ih0, iw0 at tab) into dx of one image: kernel row kh
 * is KW*C contiguous floats of dx row ih0 + kh*DH from pixel iw0.
 */
static void colAdd(u32 d, u32 col, u32 cs, u32 tab, i32 mn, u32 dxn) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW); const auto DH = ld(d, D_DH);
  const auto L = KW * C; const auto lb = (u32)L << 2; const auto vb = (u32)(L & ~3) << 2;
  for (auto r = 0; r < mn; r++) {
    const auto ih0 = load<i32>(tab + ((u32)r << 3)); const auto iw0 = load<i32>(tab + ((u32)r << 3), 4);
    const auto inside = iw0 >= 0 && iw0 + KW <= W;
    auto src = col + (u32)r * cs;
    for (auto kh = 0; kh < KH; kh++, src += lb) {
      const auto ih = ih0 + kh * DH;
      if ((u32)ih >= (u32)H) continue;
      const auto p = dxn + (((u32)(ih * W + iw0) * (u32)C) << 2); // (ih, iw0) may be outside
      if (inside) {
        u32 o = 0;
        for (; o < vb; o += 16) v128_store(p + o, f32x4_add(v128_load(p + o), v128_load(src + o)));
        for (; o < lb; o += 4) store<f32>(p + o, load<f32>(p + o) + load<f32>(src + o));
      } else {
        for (auto o = 0; o < L; o++) {
          if ((u32)(iw0 + o / C) >= (u32)W) continue;
          const auto q = p + ((u32)o << 2);
          store<f32>(q, load<f32>(q) + load<f32>(src + ((u32)o << 2)));
        }
      }
    }
  }
}

template <class F> static void bwdData(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch) {
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
  const auto cs = (u32)ld(d, D_DSEG8) << 2;
  const auto Mt = tight ? min(Mc, max(4, (32768 / ld(d, D_DSEG8)) & ~3)) : Mc;
  const auto col = apack + (((u32)min(Mt, Mc) * (u32)Kc) << 2);
  zeroPage(scratch);
  const auto img = (u32)H * (u32)W * (u32)C;
  u32 st = 0;
  if (fused<F>() && x2) {
    st = scratch + (u32)ld(d, D_FPART);
    memory_fill(st, 0, (u32)C << 4);
  }
  for (auto n = start; n < end; n++) {
    const auto dxn = dx + img * (u32)n * 4;
    memory_fill(dxn, 0, img * 4);
    auto done = 0; // dx epilogue: input rows [0, done) of this image are finished
    const auto Mb = balanced(P, Mt);
    for (auto pb = 0; pb < P; pb += Mb) {
      const auto mn = min(Mb, P - pb);
      const auto np = (mn + 3) >> 2;
      // row table: ih0, iw0 per row (INVALID for the padding rows of the last micro-panel)
      auto oh = pb / OW; auto ow = pb - oh * OW;
      for (auto i = 0; i < np * 4; i++) {
        const auto t = tab + (u32)i * 8;
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
            const auto bj = bp + (((u32)j * (u32)Kg + (u32)k0) << 5);
            for (auto i = 0; i < np; i++) {
              const auto a = apack + (u32)(i * kc) * 16;
              if (j == 0) packDyRows<F>(a, dy, m0 + i * 4, mn - i * 4, K, k0, kc, dlt, cdy, zero);
              const auto c0 = col + (u32)(i * 4) * cs + ((u32)j << 5);
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
            const auto bj = bp + (((u32)(g * NPD + j) * (u32)Kg + (u32)k0) << 5);
            for (auto i = 0; i < np; i++) {
              const auto a = apack + (u32)(i * kc) * 16;
              // A = dY[m][g*Kg + k0 ..] (contiguous rows), packed [kc][4] just before first use
              if (j == 0) packDyRows<F>(a, dy, m0 + i * 4, mn - i * 4, K, g * Kg + k0, kc, dlt, cdy, zero);
              const auto t = tab + (u32)i * 32;
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
                u32 d0 = 0; u32 d1 = 0; u32 d2 = 0; u32 d3 = 0;
                auto wide = 0; auto other = 0;
                for (auto r = 0; r < 4; r++) {
                  const auto tr = t + ((u32)r << 3);
                  const auto ih = load<i32>(tr) + dh; const auto iw = load<i32>(tr, 4);
                  if ((u32)ih >= (u32)H || iw + kwb < 0 || iw + kwa >= W) continue; // nothing to add
                  if (iw + kwa >= 0 && iw + kw8 < W) {
                    const auto p = dxn + (((u32)(ih * W + iw) * (u32)C + (u32)coff) << 2);
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
                  const auto tr = t + ((u32)r << 3);
                  const auto ih = load<i32>(tr) + dh; const auto iw = load<i32>(tr, 4);
                  if ((u32)ih >= (u32)H) continue;
                  const auto p = dxn + (((u32)(ih * W + iw) * (u32)C + (u32)coff) << 2); // (ih, iw) may be outside
                  for (auto l = 0; l < ncols; l++) {
                    if ((u32)(iw + (o0 + l) / Cg) >= (u32)W) continue;
                    const auto q = p + ((u32)l << 2);
                    store<f32>(q, load<f32>(q) + load<f32>(tile + ((u32)(r * 8 + l) << 2)));
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
          dxRows(d, dxn, x2 + img * (u32)n * 4, done, hf, c2, m2, relu, st);
          done = hf;
        }
      }
    }
    if (fused<F>() && x2 && done < H) dxRows(d, dxn, x2 + img * (u32)n * 4, done, H, c2, m2, relu, st);
  }
}

/**
 * Backward-data fast path for 1x1, stride 1, no padding: dx[m][g*Cg + c] = dY[m] . W[.][c]
 * written in place (no col2im, no zeroing). Units: rows m (aligned to 4).
 */
static void as_conv_bwd_data_1x1(u32 d, u32 dy, u32 bp, u32 dx, i32 start, i32 end, u32 scratch) {
  bwdData1x1<Plain>(d, dy, bp, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused 1x1 backward-data, arguments as conv_bwd_data_f; the dx epilogue runs in the
 * micro-kernel's write-back of the last reduction block (mkx), where dx is final.
 */
static void as_conv_bwd_data_1x1_f(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch) {
  bwdData1x1<Fused>(d, dy, bp, dx, dlt, cdy, x2, c2, m2, relu, start, end, scratch);
}

template <class F> static void bwdData1x1(u32 d, u32 dy, u32 bp, u32 dx, u32 dlt, u32 cdy, u32 x2, u32 c2, u32 m2, i32 relu, i32 start, i32 end, u32 scratch) {
  const auto C = ld(d, D_C); const auto K = ld(d, D_K); const auto G = ld(d, D_G); const auto Cg = ld(d, D_CG); const auto Kg = ld(d, D_KG);
  const auto CP = ld(d, D_CG8) >> 3; const auto Kc = ld(d, D_KCD); const auto Mc = ld(d, D_MCD);
  const auto zero = scratch + SC_ZERO; const auto tile = scratch + SC_TILE; const auto apack = scratch + SC_PACK;
  zeroPage(scratch);
  const auto ldc = (u32)C << 2; const auto ldx2 = (u32)ld(d, D_X2S) << 2;
  // accumulating epilogue: the rows written are the gradient buffer's (one reduction block)
  const u32 gacc = fused<F>() && x2 ? (u32)(u32)ld(d, D_GACC) : 0;
  const u32 ldd = gacc ? (u32)ld(d, D_GS) << 2 : ldc; const auto dst = gacc ? gacc : dx;
  // dx epilogue: f64 partials S[C], Q[C], then f32 block sums S32[C], Q32[C] (mkx)
  u32 st = 0; u32 s32 = 0;
  if (fused<F>() && x2) {
    st = scratch + (u32)ld(d, D_FPART);
    s32 = st + ((u32)C << 4);
    memory_fill(st, 0, (u32)C * 24);
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
        for (i32 jb = 0; jb < CPF; jb += WRJ) {
          const i32 rj = min(WRJ, CPF - jb);
          const i32 c0 = jb * 8;
          const auto bj = bp + (((u32)(g * CP + jb) * (u32)Kg + (u32)k0) << 5);
          for (i32 ib = 0; ib < np; ib += WRI) {
            const i32 ri = min(WRI, np - ib);
            // whole micro-panels of dY without the dy prologue: read in place (A_ROWS)
            const bool dir = !(fused<F>() && cdy) && CPF == CP && K <= ROWS_IN_PLACE && mn - ib * 4 >= ri * 4;
            float *rows[4 * WRI];
            for (i32 ii = 0; ii < ri; ii++) {
              const i32 i = ib + ii;
              const auto a = apack + (u32)(i * kc) * 16;
              const auto rem = mn - i * 4;
              if (jb == 0 && !dir) packDyRows<F>(a, dy, mb + i * 4, rem, K, g * Kg + k0, kc, dlt, cdy, zero);
              const u32 row = dst + ((u32)(mb + i * 4) * (ldd >> 2) + (u32)(g * Cg + c0)) * 4;
              for (i32 r = 0; r < 4; r++) rows[ii * 4 + r] = r < rem ? fp(row + (u32)r * ldd) : nullptr;
            }
            // the dx epilogue from the tiles in registers, instead of the write-back (mkx's, per tile)
            const auto dxe = epiOwn([&](int jj, int ii, const __m256 *v) {
              const i32 cj = c0 + jj * 8, i = ib + ii, rem = mn - i * 4;
              const auto co = (u32)(g * Cg + cj) << 2;
              const u32 row = dst + ((u32)(mb + i * 4) * (ldd >> 2) + (u32)(g * Cg + cj)) * 4;
              const u32 xr = x2 + ((u32)(mb + i * 4) * (ldx2 >> 2) + (u32)(g * Cg + cj)) * 4;
              mkxRegs(v, row, rem > 1 ? row + ldd : 0, rem > 2 ? row + 2 * ldd : 0, rem > 3 ? row + 3 * ldd : 0, add, xr, ldx2, c2 + co, ldc, m2 + co, relu,
                      s32 + co, ldc, (i & 15) == 15 || i == np - 1 ? st + (co << 1) : 0, gacc ? 1 : 0);
            });
            const char *pn = nullptr, *po = nullptr;
            i32 nln = 0, nlo = 0;
            if (ib + ri < np) {
              po = (const char *)fp(dst + ((u32)(mb + (ib + ri) * 4) * (ldd >> 2) + (u32)(g * Cg + c0)) * 4);
              nlo = min(WRI * 4, mn - (ib + ri) * 4);
              if (dir && jb == 0 && kc == K) {
                pn = (const char *)fp(dy + ((u32)(mb + (ib + ri) * 4) * (u32)K) * 4);
                nln = (ri * 4 * K * 4) / 64;
              }
            }
            const float *a0 = dir ? fp(dy + ((u32)(mb + ib * 4) * (u32)K + (u32)(g * Kg + k0)) * 4) : fp(apack + (u32)(ib * kc) * 16);
            const size_t as = dir ? (size_t)K : (size_t)kc * 4;
            if (dir && epi) mkwAny<A_ROWS>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, 0, pn, nln, po, ldd, nlo, nullptr, 0, 0, dxe);
            else if (dir) mkwAny<A_ROWS>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, add, pn, nln, po, ldd, nlo);
            else if (epi) mkwAny<A_PACKED>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, 0, nullptr, 0, po, ldd, nlo, nullptr, 0, 0, dxe);
            else mkwAny<A_PACKED>(ri, rj, a0, as, fp(bj), (size_t)Kg * 8, kc, rows, nullptr, add, nullptr, 0, po, ldd, nlo);
          }
        }
        for (auto j = CPF; j < CP; j++) {
          const auto c0 = j * 8;
          const auto ncols = min(8, Cg - c0);
          const auto bj = bp + (((u32)(g * CP + j) * (u32)Kg + (u32)k0) << 5);
          auto row = dst + ((u32)mb * (ldd >> 2) + (u32)(g * Cg + c0)) * 4;
          auto xr = x2 + ((u32)mb * (ldx2 >> 2) + (u32)(g * Cg + c0)) * 4; // x2 rows (pixel stride X2S)
          for (auto i = 0; i < np; i++) {
            const auto a = apack + (u32)(i * kc) * 16;
            const auto rem = mn - i * 4;
            if (j == 0) packDyRows<F>(a, dy, mb + i * 4, rem, K, g * Kg + k0, kc, dlt, cdy, zero);
            const auto d0 = row; const u32 d1 = rem > 1 ? row + ldd : 0;
            const u32 d2 = rem > 2 ? row + 2 * ldd : 0; const u32 d3 = rem > 3 ? row + 3 * ldd : 0;
            if (epi) {
              const auto co = (u32)(g * Cg + c0) << 2;
              const auto flush = (i & 15) == 15 || i == np - 1; // f32 sums into f64 every 16 tiles
              if (ncols == 8) {
                mkx(a, bj, kc, d0, d1, d2, d3, add, xr, ldx2, c2 + co, ldc, m2 + co, relu, s32 + co, ldc, flush ? st + (co << 1) : 0, gacc ? 1 : 0);
              } else {
                mk(a, bj, kc, tile, tile + 32, tile + 64, tile + 96, 0, 0);
                if (gacc) {
                  dxTile(d0, d1, d2, d3, ncols, xr, ldx2, c2 + co, ldc, m2 + co, relu, s32 + co, ldc, tile);
                } else {
                  tileOut(tile, d0, d1, d2, d3, ncols, 0, add);
                  dxTile(d0, d1, d2, d3, ncols, xr, ldx2, c2 + co, ldc, m2 + co, relu, s32 + co, ldc);
                }
                if (flush) flushSums(s32 + co, ldc, st + (co << 1), (u32)C << 3, ncols);
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

// =====================================================================================
// Backward-weights: acc[g][r][k] = sum_m A[m][r] * dY[m][g*Kg + k], the GEMM A^T x dY with the
// reduction over M. Rows r (reduction index of the forward pass) play the micro-kernel's M role,
// packed as A^T [m][4]; dY chunks are packed as panels [m][8].
// The rows of acc are the forward reduction index regrouped in segments (one kernel row of KW*C
// contiguous floats when G == 1 and DW == 1, else one tap of Cg floats), each padded to a
// multiple of 4 (SEG4), so that a row panel of 4 never straddles two segments: packing then
// reads each pixel's segment as whole v128 vectors, with one address and bounds computation per
// (pixel, segment). Units: row panels or column panels of acc (see conv_bwd_w); a thread owns
// whole panels, so nothing is reduced across threads, and the summation order (M chunks of Mch,
// each summed from zero then added) is fixed: bit-identical for any thread count.
// acc is [G][ROWS][Kg8] in the workspace; conv_bwd_w_out transposes it to OIHW.
// =====================================================================================

/**
 * Bytes between A^T micro-panels: mlen*16 plus one cache line, so that the nq panels written
 * together for one pixel fall into different L1 sets (at a multiple of 4 KiB they would all
 * share one set and thrash: measured 4 cycles per float instead of under 1).
 */
static inline u32 atStride(i32 mlen) {
  return ((u32)mlen << 4) + 64;
}

/**
 * A^T micro-panels [p - p0][mlen][4] (atStride apart) for row panels [p0, p1) of group g, chunk
 * rows in `tab`. Fused (F = Fused): x is BN-normalised (+ ReLU) while packed, row o of a segment
 * taking its coefficients from the expanded rows at ce + 4*(coff + o) (bE nb bytes further, see
 * expandCoef); rows outside the image (padding) stay 0.
 */
template <class F> static void packAT(u32 d, u32 tab, i32 mlen, i32 g, i32 p0, i32 p1, u32 dst, u32 ce, u32 nb, i32 relu, i32 xs) {
  if (ld(d, D_WTIGHT)) {
    packATTight<F>(d, tab, mlen, p0, p1, dst, ce, nb, relu);
    return;
  }
  const auto C = xs; const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW);
  const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW); const auto Cg = ld(d, D_CG);
  const auto merge = ld(d, D_MERGE) != 0; const auto SEG = ld(d, D_SEG); const auto SEG4 = ld(d, D_SEG4);
  const auto PPS = SEG4 >> 2; // row panels per segment
  const auto z = f32x4_splat(0);
  const auto ps = atStride(mlen); // bytes between consecutive panels
  auto p = p0;
  while (p < p1) {
    const auto sg = p / PPS; const auto q0 = p - sg * PPS;
    const auto nq = min(PPS - q0, p1 - p); // panels of this segment in the block
    const auto o0 = q0 * 4; // first row (offset in the segment)
    const auto nfull = max(0, min(nq, (SEG - o0) >> 2)); // panels entirely inside the SEG valid rows
    const auto ntail = nq - nfull; // 0 or 1: a last panel with 1..3 valid rows
    const auto kh = merge ? sg : sg / KW;
    const auto kw = merge ? 0 : sg - kh * KW;
    const auto dh = kh * DH; const auto dw = kw * DW;
    const auto coff = merge ? o0 : g * Cg + o0;
    const auto out0 = dst + (u32)(p - p0) * ps;
    const auto ca0 = ce + ((u32)coff << 2); // fused: coefficients of the segment's row o0
    for (auto mm = 0; mm < mlen; mm++) {
      const auto t = tab + (u32)mm * 12;
      const auto xb = (u32)load<i32>(t);
      const auto ih = load<i32>(t, 4) + dh; const auto iw = load<i32>(t, 8) + dw;
      auto out = out0 + ((u32)mm << 4);
      const auto rowIn = xb != 0 && (u32)ih < (u32)H;
      if (rowIn && (merge ? iw >= 0 && iw + KW <= W : (u32)iw < (u32)W)) {
        // the whole segment is inside the image
        auto src = xb + (((u32)(ih * W + iw) * (u32)C + (u32)coff) << 2);
        if (fused<F>()) {
          auto ca = ca0;
          for (auto q = 0; q < nfull; q++) {
            auto v = fma(v128_load(src), v128_load(ca), v128_load(ca + nb));
            if (relu) v = reluv(v);
            v128_store(out, v);
            out += ps; src += 16; ca += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // as below (rows past the segment only reach acc's padding rows)
              auto v = fma(v128_load(src), v128_load(ca), v128_load(ca + nb));
              if (relu) v = reluv(v);
              v128_store(out, v);
            } else {
              const auto nv = SEG - (o0 + nfull * 4);
              for (auto l = 0; l < 4; l++) {
                const auto o = (u32)l << 2;
                store<f32>(out + o, l < nv ? nrm(load<f32>(src + o), load<f32>(ca + o), load<f32>(ca + nb + o), relu) : 0);
              }
            }
          }
        } else {
          for (auto q = 0; q < nfull; q++) {
            v128_store(out, v128_load(src));
            out += ps; src += 16;
          }
          if (ntail) {
            if (merge && iw + KW < W) {
              // the 1..3 floats past the segment belong to the next pixel of the same image row:
              // read them with the vector; they only reach acc's padding rows, never output
              v128_store(out, v128_load(src));
            } else {
              const auto nv = SEG - (o0 + nfull * 4);
              for (auto l = 0; l < 4; l++) store<f32>(out + ((u32)l << 2), l < nv ? load<f32>(src + ((u32)l << 2)) : 0);
            }
          }
        }
      } else if (!rowIn || !merge) {
        for (auto q = 0; q < nq; q++) {
          v128_store(out, z);
          out += ps;
        }
      } else {
        // a kernel row crossing the left or right image edge: element by element
        const auto src = xb + (((u32)(ih * W + iw) * (u32)C + (u32)coff) << 2); // (ih, iw) may be outside
        for (auto q = 0; q < nq; q++) {
          for (auto l = 0; l < 4; l++) {
            const auto o = o0 + q * 4 + l;
            const auto ok = o < SEG && (u32)(iw + o / Cg) < (u32)W;
            const auto so = (u32)(q * 4 + l) << 2;
            f32 v = 0;
            if (ok) {
              v = load<f32>(src + so);
              if (fused<F>()) v = nrm(v, load<f32>(ca0 + so), load<f32>(ca0 + nb + so), relu);
            }
            store<f32>(out + ((u32)l << 2), v);
          }
          out += ps;
        }
      }
    }
    p += nq;
  }
}

/**
 * packAT for tight rows (D_WTIGHT; G == 1, merged kernel rows of SEG = KW*C floats): acc row o
 * is kernel row o / SEG, float o % SEG of it, with no padding between kernel rows. Per pixel, the
 * kernel rows that panels [p0, p1) touch are gathered into one L1 row (SC_TROW; zeros outside
 * the image; fused: normalised with the expanded coefficients of float o % SEG), which is then
 * cut into the 4-float panels.
 */
template <class F> static void packATTight(u32 d, u32 tab, i32 mlen, i32 p0, i32 p1, u32 dst, u32 ce, u32 nb, i32 relu) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW); const auto DH = ld(d, D_DH);
  const auto SEG = ld(d, D_SEG); const auto R = KH * SEG;
  const auto row = tab - SC_ROWS + SC_TROW; // this thread's scratch
  const auto sb = (u32)SEG << 2; const auto vb = (u32)(SEG & ~3) << 2;
  const auto kha = (p0 * 4) / SEG; const auto khb = min(KH - 1, (p1 * 4 - 1) / SEG);
  for (auto o = R; o < R + 4; o++) store<f32>(row + ((u32)o << 2), 0); // past the last kernel row
  const auto ps = atStride(mlen);
  for (auto mm = 0; mm < mlen; mm++) {
    const auto t = tab + (u32)mm * 12;
    const auto xb = (u32)load<i32>(t);
    const auto ih0 = load<i32>(t, 4); const auto iw0 = load<i32>(t, 8);
    for (auto kh = kha; kh <= khb; kh++) {
      const auto ih = ih0 + kh * DH;
      const auto r = row + (u32)kh * sb;
      if (!xb || (u32)ih >= (u32)H) {
        for (u32 o = 0; o < sb; o += 4) store<f32>(r + o, 0);
        continue;
      }
      const auto src = xb + (((u32)(ih * W + iw0) * (u32)C) << 2); // (ih, iw0) may be outside
      if (iw0 >= 0 && iw0 + KW <= W) {
        u32 o = 0;
        for (; o < vb; o += 16) {
          auto v = v128_load(src + o);
          if (fused<F>()) {
            v = fma(v, v128_load(ce + o), v128_load(ce + nb + o));
            if (relu) v = reluv(v);
          }
          v128_store(r + o, v);
        }
        for (; o < sb; o += 4) {
          auto v = load<f32>(src + o);
          if (fused<F>()) v = nrm(v, load<f32>(ce + o), load<f32>(ce + nb + o), relu);
          store<f32>(r + o, v);
        }
      } else {
        for (auto o = 0; o < SEG; o++) {
          const auto so = (u32)o << 2;
          f32 v = 0;
          if ((u32)(iw0 + o / C) < (u32)W) {
            v = load<f32>(src + so);
            if (fused<F>()) v = nrm(v, load<f32>(ce + so), load<f32>(ce + nb + so), relu);
          }
          store<f32>(r + so, v);
        }
      }
    }
    auto out = dst + ((u32)mm << 4);
    for (auto p = p0; p < p1; p++) {
      v128_store(out, v128_load(row + ((u32)p << 4)));
      out += ps;
    }
  }
}

/**
 * dY chunk rows [m0, m0 + mlen), group g, panels [ja, je) as [je - ja][mlen][8] (zero past Kg).
 * Fused with cdy != 0 (dy prologue): dy = A*dbn + B*xbn + C0 on load, dbn at `dy`, xbn at
 * dy + dlt, A[K], B[K], C0[K] at cdy.
 */
template <class F> static void packDY(u32 d, u32 dy, i32 m0, i32 mlen, i32 g, i32 ja, i32 je, u32 dst, u32 dlt, u32 cdy) {
  const auto K = ld(d, D_K); const auto Kg = ld(d, D_KG);
  const auto ldk = (u32)K << 2;
  for (auto j = ja; j < je; j++) {
    auto out = dst + (u32)((j - ja) * mlen) * 32;
    auto src = dy + (((u32)m0 * (u32)K + (u32)(g * Kg + j * 8)) << 2);
    const auto ncols = min(8, Kg - j * 8);
    if (fused<F>() && cdy) {
      const auto ca = cdy + ((u32)(g * Kg + j * 8) << 2);
      if (j + 1 < je && Kg - j * 8 >= 16) {
        // two whole panels per pass: each row's 64 bytes of dbn and xbn are read once (the two
        // input streams of a chunk would not both stay in L1 for a second pass)
        auto out2 = out + (u32)mlen * 32;
        const auto A0 = v128_load(ca); const auto A1 = v128_load(ca, 16); const auto A2 = v128_load(ca, 32); const auto A3 = v128_load(ca, 48);
        const auto B0 = v128_load(ca + ldk); const auto B1 = v128_load(ca + ldk, 16); const auto B2 = v128_load(ca + ldk, 32); const auto B3 = v128_load(ca + ldk, 48);
        const auto cc = ca + 2 * ldk;
        for (auto mm = 0; mm < mlen; mm++) {
          const auto x = src + dlt;
          v128_store(out, fma(A0, v128_load(src), fma(B0, v128_load(x), v128_load(cc))));
          v128_store(out, fma(A1, v128_load(src, 16), fma(B1, v128_load(x, 16), v128_load(cc, 16))), 16);
          v128_store(out2, fma(A2, v128_load(src, 32), fma(B2, v128_load(x, 32), v128_load(cc, 32))));
          v128_store(out2, fma(A3, v128_load(src, 48), fma(B3, v128_load(x, 48), v128_load(cc, 48))), 16);
          out += 32; out2 += 32; src += ldk;
        }
        j++;
        continue;
      }
      if (ncols == 8) {
        const auto A0 = v128_load(ca); const auto A1 = v128_load(ca, 16);
        const auto B0 = v128_load(ca + ldk); const auto B1 = v128_load(ca + ldk, 16);
        const auto C0 = v128_load(ca + 2 * ldk); const auto C1 = v128_load(ca + 2 * ldk, 16);
        for (auto mm = 0; mm < mlen; mm++) {
          v128_store(out, fma(A0, v128_load(src), fma(B0, v128_load(src + dlt), C0)));
          v128_store(out, fma(A1, v128_load(src, 16), fma(B1, v128_load(src + dlt, 16), C1)), 16);
          out += 32; src += ldk;
        }
      } else {
        for (auto mm = 0; mm < mlen; mm++) {
          for (auto l = 0; l < 8; l++) {
            const auto o = (u32)l << 2;
            store<f32>(out + o, l < ncols ? load<f32>(ca + o) * load<f32>(src + o) + (load<f32>(ca + ldk + o) * load<f32>(src + dlt + o) + load<f32>(ca + 2 * ldk + o)) : 0);
          }
          out += 32; src += ldk;
        }
      }
      continue;
    }
    if (ncols == 8) {
      for (auto mm = 0; mm < mlen; mm++) {
        v128_store(out, v128_load(src));
        v128_store(out, v128_load(src, 16), 16);
        out += 32; src += ldk;
      }
    } else {
      for (auto mm = 0; mm < mlen; mm++) {
        for (auto l = 0; l < 8; l++) store<f32>(out + ((u32)l << 2), l < ncols ? load<f32>(src + ((u32)l << 2)) : 0);
        out += 32; src += ldk;
      }
    }
  }
}

/**
 * Units: row panels (g, p) of acc (D_WCOLS = 0: a thread packs the whole dY chunk and its own
 * rows of A^T), or column panels (g, j) (D_WCOLS = 1, chosen when acc has few rows, e.g. 1x1
 * 64->256: a thread packs its own dY panels and all of A^T). Either way each element of acc
 * belongs to one thread.
 */
static void as_conv_bwd_w(u32 d, u32 dy, u32 x, u32 acc, i32 start, i32 end, u32 scratch) {
  bwdW<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused backward-weights. cdy != 0: dy prologue (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K],
 * C0[K]: dY = A*dbn + B*xbn + C0 computed while packing the dY chunk). cx != 0: x prologue (cx =
 * a[C] then b[C]: x normalised, max(0, .) when relu, while packing A^T; padding stays 0).
 */
static void as_conv_bwd_w_f(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch) {
  bwdW<Fused>(d, dy, x, acc, dlt, cdy, cx, relu, start, end, scratch);
}

template <class F> static void bwdW(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch) {
  const auto N = ld(d, D_N); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto G = ld(d, D_G);
  const auto Kg8 = ld(d, D_KG8); const auto ROWS = ld(d, D_ROWS); const auto cols = ld(d, D_WCOLS) != 0;
  const auto NP = Kg8 >> 3; const auto RP = ROWS >> 2;
  const auto Mch = ld(d, D_MCH); const auto RBP = ld(d, D_RBP); const auto S = ld(d, D_WSL);
  const auto M = N * OH * OW; const auto NCH = (M + Mch - 1) / Mch;
  const auto tab = scratch + SC_ROWS;
  const auto bpk = scratch + SC_PACK; // dY chunk: Mch * Kg8 floats
  const auto apk = bpk + (u32)Mch * (u32)Kg8 * 4; // A^T block: RBP panels, atStride(Mch) bytes each
  const auto ldc = (u32)Kg8 << 2;
  const auto U = cols ? NP : RP; // units per group
  const auto UG = G * U; // units per slice
  const auto sliceB = ((u32)G * (u32)ROWS * (u32)Kg8) << 2;
  const bool pw1 = ld(d, D_KH) == 1 && ld(d, D_KW) == 1 && ld(d, D_SH) == 1 && ld(d, D_SW) == 1 && ld(d, D_PH) == 0 && ld(d, D_PW) == 0 &&
                   G == 1 && (ld(d, D_C) & 3) == 0 && ld(d, D_WTIGHT) == 0;
  u32 ce = 0; u32 nb = 0; u32 zw = 0; u32 zcap = 0;
  if (fused<F>() && cx) {
    ce = scratch + (u32)ld(d, D_FCOEF);
    nb = (u32)ld(d, D_FNE) << 2;
    expandCoef(d, cx, ce);
    if (ld(d, D_FZ)) { zw = scratch + (u32)ld(d, D_FZ); zcap = (u32)ld(d, D_FZCAP); }
  }
  for (auto sl = start / UG; sl <= (end - 1) / UG; sl++) {
    // slice sl: chunks [c0, c1) into its own accumulator; units [us, ue) of it
    const auto us = max(start, sl * UG) - sl * UG; const auto ue = min(end, (sl + 1) * UG) - sl * UG;
    const auto accS = acc + (u32)sl * sliceB;
    const auto c0 = (i32)(((i64)sl * NCH) / S); const auto c1 = (i32)(((i64)(sl + 1) * NCH) / S);
    const auto gs = us / U; const auto ge = (ue - 1) / U;
    for (auto m0 = c0 * Mch; m0 < min(M, c1 * Mch); m0 += Mch) {
      const auto mlen = min(Mch, M - m0);
      const auto add = m0 == c0 * Mch ? 0 : 1;
      fillRows(d, tab, m0, mlen, x);
      // x prologue: normalise this chunk's input rows once (else while packing, per tap)
      const auto win = fused<F>() && ce != 0 && zw != 0 && normWindow(d, tab, m0, mlen, x, ce, relu, zw, zcap);
      const auto pro = fused<F>() && ce != 0 && !win;
      const auto xs = win ? ld(d, D_C) : ld(d, D_XS); // pixel stride of what the table points at
      for (auto g = gs; g <= ge; g++) {
        const auto ua = max(us, g * U) - g * U; const auto ub = min(ue, (g + 1) * U) - g * U;
        const auto pa = cols ? 0 : ua; const auto pe = cols ? RP : ub;
        const auto ja = cols ? ua : 0; const auto je = cols ? ub : NP;
        packDY<F>(d, dy, m0, mlen, g, ja, je, bpk, dlt, cdy);
        for (auto rb = pa; rb < pe; rb += RBP) {
          const auto rbe = min(pe, rb + RBP);
          // 1x1, stride 1, no padding, one group, C % 4 == 0, x not normalised: A^T's micro-panel p
          // is channels 4p.. of the chunk's pixels, read in place (A_COLS) instead of packed
          const bool dir = pw1 && !pro && !win && xs <= ROWS_IN_PLACE;
          if (dir) {
          } else if (pro) packAT<Fused>(d, tab, mlen, g, rb, rbe, apk, ce, nb, relu, xs);
          else packAT<Plain>(d, tab, mlen, g, rb, rbe, apk, 0, 0, 0, xs);
          // The chunk's reduction in blocks of KB pixels: one block's B panels (KB x 8) and A^T
          // micro-panels stay in L1 while every tile takes them, the tiles' sums in between are
          // kept in a buffer after the A^T block (mkw's part rows), where it fits
          const u32 pbuf = apk + (dir ? 0 : (u32)RBP * atStride(Mch));
          const i32 pcols = (je - ja) * 8;
          const bool split = pbuf + (u32)(rbe - rb) * 4 * (u32)pcols * 4 <= scratch + (3u << 20);
          const i32 KB = split ? 128 : mlen;
          // the next chunk's x and dY come from DRAM: prefetched a few lines per tile, spread over
          // this chunk's tiles (x in place only: the packed path reads it once, in order)
          const i32 ntiles = ((je - ja + WRJ - 1) / WRJ) * ((rbe - rb + WRI - 1) / WRI) * ((mlen + KB - 1) / KB);
          const u32 nxB = (u32)mlen * (u32)xs * 4, ndB = (u32)mlen * (u32)ld(d, D_K) * 4;
          const i32 xl = dir ? (i32)((nxB / 64 + ntiles - 1) / ntiles) : 0, dl = dir ? (i32)((ndB / 64 + ntiles - 1) / ntiles) : 0;
          const char *nx = (const char *)fp(x + (u32)(m0 + mlen) * (u32)xs * 4), *nd = (const char *)fp(dy + (u32)(m0 + mlen) * (u32)ld(d, D_K) * 4);
          i32 ti = 0;
          for (i32 k0 = 0; k0 < mlen; k0 += KB) {
            const i32 kn = min(KB, mlen - k0);
            const int pin = k0 > 0, pout = k0 + kn < mlen;
            // A^T's micro-panels outer (read in place with a 1 KiB-ish stride: reused from L1 by
            // every panel), dY's panels inner (contiguous: streamed)
            for (i32 pb = rb; pb < rbe; pb += WRI) {
              const i32 ri = min(WRI, rbe - pb);
              for (i32 jb = ja; jb < je; jb += WRJ) {
                const i32 rj = min(WRJ, je - jb);
                const auto bj = bpk + (u32)((jb - ja) * mlen + k0) * 32;
                float *rows[4 * WRI], *part[4 * WRI];
                for (i32 ii = 0; ii < ri; ii++) {
                  const auto o = accS + (((u32)(g * ROWS + (pb + ii) * 4) * (u32)Kg8 + (u32)(jb * 8)) << 2);
                  for (i32 r = 0; r < 4; r++) {
                    rows[ii * 4 + r] = fp(o + (u32)r * ldc);
                    part[ii * 4 + r] = fp(pbuf + ((u32)((pb - rb + ii) * 4 + r) * (u32)pcols + (u32)((jb - ja) * 8)) * 4);
                  }
                }
                if (dir) {
                  const bool more = m0 + mlen < M && dy != 0;
                  mkwAny<A_COLS>(ri, rj, fp(x + ((u32)(m0 + k0) * (u32)xs + (u32)pb * 4) * 4), (size_t)xs, fp(bj), (size_t)mlen * 8, kn, rows, nullptr, add,
                                 more ? nx + (size_t)ti * xl * 64 : nullptr, more ? xl : 0, more ? nd + (size_t)ti * dl * 64 : nullptr, 64, more ? dl : 0, part, pin,
                                 pout);
                  ti++;
                } else {
                  mkwAny<A_PACKED>(ri, rj, fp(apk + (u32)(pb - rb) * atStride(mlen) + (u32)k0 * 16), atStride(mlen) / 4, fp(bj), (size_t)mlen * 8, kn, rows,
                                   nullptr, add, nullptr, 0, nullptr, 0, 0, part, pin, pout);
                }
              }
            }
          }
        }
      }
    }
  }
}

// =====================================================================================
// Backward-weights, transposed (G == 1; conv.ts weightsT: spatial kernels with C >= 16, or K % 8
// in 1..4): the accumulator is dW^T[K4][KH*KW*Cg8] = dY^T A, rows the output channels
// (micro-panels of 4, so K = 12 wastes nothing, where the 8-column panels of conv_bwd_w waste a
// third), columns the forward reduction index tap-major, each tap padded to Cg8. Per chunk of
// D_MCH pixels, dY^T is packed [K4/4][m][4] (each thread packs the whole chunk: K floats per
// pixel), then the thread's 8-column panels (tap, channels c0..c0+8) are packed from x in groups
// of up to WT_GROUP panels of one tap, [m][8] each, and mk runs once per row micro-panel. Units:
// column panels; every dW element is summed by one thread, chunk by chunk in order
// (bit-identical across thread counts).
// =====================================================================================
const auto WT_GROUP = 16; // panels packed per pass over a chunk's pixels (16 x 16 KiB)

static void as_conv_bwd_wt(u32 d, u32 dy, u32 x, u32 acc, i32 start, i32 end, u32 scratch) {
  bwdWT<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/** Fused: dy prologue (cdy: A, B, C0; xbn = dy + dlt) and/or x prologue (cx: a, b; relu), as conv_bwd_w_f. */
static void as_conv_bwd_wt_f(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch) {
  bwdWT<Fused>(d, dy, x, acc, dlt, cdy, cx, relu, start, end, scratch);
}

template <class F> static void bwdWT(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch) {
  const auto N = ld(d, D_N); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto K = ld(d, D_K); const auto Kg = ld(d, D_KG);
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto Cg8 = ld(d, D_CG8); const auto KT = ld(d, D_KH) * KW;
  const auto RP = (Kg + 3) >> 2; const auto per = Cg8 >> 3;
  const auto Mch = ld(d, D_MCH); // chunk of pixels: sized by conv.ts so that both packed blocks fit the scratch
  const auto M = N * OH * OW;
  const auto zero = scratch + SC_ZERO; const auto tab = scratch + SC_ROWS;
  const auto apk = scratch + SC_PACK; // dY^T chunk: RP micro-panels of Mch*16 bytes
  const auto bpk = apk + (u32)RP * (u32)Mch * 16; // x panels: up to WT_GROUP of Mch*32 + 64 bytes
  const auto lda = (u32)(KT * Cg8) << 2; // accumulator row
  zeroPage(scratch);
  u32 ce = 0; u32 nb = 0; u32 zw = 0; u32 zcap = 0;
  if (fused<F>() && cx) {
    ce = scratch + (u32)ld(d, D_FCOEF);
    nb = (u32)ld(d, D_FNE) << 2;
    expandCoef(d, cx, ce);
    if (ld(d, D_FZ)) { zw = scratch + (u32)ld(d, D_FZ); zcap = (u32)ld(d, D_FZCAP); }
  }
  const auto z = f32x4_splat(0);
  for (auto m0 = 0; m0 < M; m0 += Mch) {
    const auto mlen = min(Mch, M - m0);
    const auto add = m0 == 0 ? 0 : 1;
    // dY^T: panel p holds dY[m][4p .. 4p+4] (zero past Kg)
    for (auto p = 0; p < RP; p++) {
      const auto k0 = p * 4; const auto full = k0 + 4 <= Kg;
      auto src = dy + (((u32)m0 * (u32)K + (u32)k0) << 2);
      auto o = apk + (u32)p * (u32)Mch * 16;
      for (auto m = 0; m < mlen; m++) {
        if (full) {
          v128_store(o, fused<F>() && cdy ? dyv(cdy + ((u32)k0 << 2), (u32)K << 2, src, dlt) : v128_load(src));
        } else {
          for (auto l = 0; l < 4; l++) {
            f32 v = 0;
            if (k0 + l < Kg) {
              const auto q = src + ((u32)l << 2);
              v = fused<F>() && cdy ? dyf(cdy + ((u32)(k0 + l) << 2), (u32)K << 2, q, dlt) : load<f32>(q);
            }
            store<f32>(o + ((u32)l << 2), v);
          }
        }
        src += (u32)K << 2; o += 16;
      }
    }
    fillRows(d, tab, m0, mlen, x);
    const auto pro = fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, relu, zw, zcap));
    // panels of one tap in groups of up to WT_GROUP: one address computation per pixel and group
    for (auto qa = start; qa < end;) {
      const auto tap = qa / per;
      const auto qb = min(min(end, (tap + 1) * per), qa + WT_GROUP);
      const auto c0 = (qa - tap * per) * 8;
      const auto kh = tap / KW; const auto kw = tap - kh * KW;
      const auto dh = kh * DH; const auto dw = kw * DW;
      const auto nq = qb - qa;
      const auto full = (qb - tap * per) * 8 <= C; // every panel of the group has 8 valid channels
      // bytes per packed panel: + 64 so that the panels written together per pixel do not all
      // fall into one L1 set (a multiple of 4 KiB apart, they thrash)
      const auto ps = ((u32)mlen << 5) + 64;
      for (auto m = 0; m < mlen; m++) {
        const auto t = tab + (u32)m * 12;
        const auto pp = tapPtr((u32)load<i32>(t), load<i32>(t, 4) + dh, load<i32>(t, 8) + dw, H, W, C, c0);
        auto o = bpk + ((u32)m << 5);
        if (!pp) {
          for (auto u = 0; u < nq; u++) { v128_store(o, z); v128_store(o, z, 16); o += ps; }
        } else if (full && !pro) {
          auto src = pp;
          for (auto u = 0; u < nq; u++) { v128_store(o, v128_load(src)); v128_store(o, v128_load(src, 16), 16); o += ps; src += 32; }
        } else {
          for (auto u = 0; u < nq; u++) {
            const auto cu = c0 + u * 8;
            const auto nval = min(8, C - cu);
            const auto src = pp + ((u32)(u * 8) << 2);
            if (nval == 8) {
              auto v0 = v128_load(src); auto v1 = v128_load(src, 16);
              if (pro) {
                const auto cp = ce + ((u32)cu << 2);
                v0 = fma(v0, v128_load(cp), v128_load(cp + nb)); v1 = fma(v1, v128_load(cp, 16), v128_load(cp + nb, 16));
                if (relu) { v0 = reluv(v0); v1 = reluv(v1); }
              }
              v128_store(o, v0); v128_store(o, v1, 16);
            } else {
              for (auto l = 0; l < 8; l++) {
                f32 v = 0;
                if (l < nval) {
                  v = load<f32>(src + ((u32)l << 2));
                  if (pro) {
                    const auto cp = ce + ((u32)(cu + l) << 2);
                    v = nrm(v, load<f32>(cp), load<f32>(cp + nb), relu);
                  }
                }
                store<f32>(o + ((u32)l << 2), v);
              }
            }
            o += ps;
          }
        }
      }
      for (auto u = 0; u < nq; u++) {
        const auto cq = acc + ((u32)(qa + u) << 5);
        const auto b = bpk + (u32)u * ps;
        for (auto p = 0; p < RP; p++) {
          const auto c = cq + (u32)(p * 4) * lda;
          mk(apk + (u32)p * (u32)Mch * 16, b, mlen, c, c + lda, c + 2 * lda, c + 3 * lda, 0, add);
        }
      }
      qa = qb;
    }
  }
}

// =====================================================================================
// Backward-weights as dot products over output pixels (G == 1, C % 4 == 0; conv.ts weightsDot):
// no packing. A unit is (tap, 4 output channels, 8 input channels); per chunk of D_MCH pixels
// its 8 accumulators run along the chunk's output-row segments, where x advances by SW*C floats
// and dY by K per pixel (2 loads of x, 4 splats of dY, 8 FMAs per pixel), then are added to
// acc[k][tap][c] (K4 x T x C floats; first chunk: stored). The chunk's x rows stay in L2 across
// the units. Units: (tap, k block, c block); every dW element is summed by one thread, chunk by
// chunk in order (bit-identical across thread counts). Fused: the x prologue through the window
// only (conv.ts checks that it fits).
// =====================================================================================

static void as_conv_bwd_w_dot(u32 d, u32 dy, u32 x, u32 acc, i32 start, i32 end, u32 scratch) {
  bwdWDot<Plain>(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Fused, arguments as conv_bwd_w_f: the dy prologue (cdy != 0) computes each chunk's dY once into
 * scratch (every thread the whole chunk, K floats per pixel); the x prologue needs the window.
 */
static void as_conv_bwd_w_dot_f(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch) {
  bwdWDot<Fused>(d, dy, x, acc, dlt, cdy, cx, relu, start, end, scratch);
}

template <class F> static void bwdWDot(u32 d, u32 dy, u32 x, u32 acc, u32 dlt, u32 cdy, u32 cx, i32 relu, i32 start, i32 end, u32 scratch) {
  const auto N = ld(d, D_N); const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW); const auto K = ld(d, D_K); const auto C = ld(d, D_C);
  const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KW = ld(d, D_KW); const auto SW = ld(d, D_SW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto T = ld(d, D_KH) * KW; const auto Mch = ld(d, D_MCH);
  const auto KB = (K + 3) >> 2; const auto CB = (C + 7) >> 3;
  const auto M = N * OH * OW;
  const auto tab = scratch + SC_ROWS; const auto seg = scratch + SC_PACK; // segments: s0, s1, xb, ih0, iw0 (i32), then the dY chunk
  const auto xs = (u32)(SW * C) << 2; const auto ks = (u32)K << 2; const auto cb = (u32)C << 2;
  const auto ldt = (u32)(T * C) << 2; // acc row (one output channel)
  u32 ce = 0; u32 zw = 0; u32 zcap = 0;
  if (fused<F>() && cx) {
    ce = scratch + (u32)ld(d, D_FCOEF);
    expandCoef(d, cx, ce);
    zw = scratch + (u32)ld(d, D_FZ); zcap = (u32)ld(d, D_FZCAP);
  }
  for (auto m0 = 0; m0 < M; m0 += Mch) {
    const auto mlen = min(Mch, M - m0);
    const auto first = m0 == 0;
    fillRows(d, tab, m0, mlen, x);
    if (fused<F>() && ce != 0 && !(zw && normWindow(d, tab, m0, mlen, x, ce, relu, zw, zcap))) unreachable();
    // dy prologue: this chunk's dY = A*dbn + B*xbn + C0, once, into scratch
    auto dyb = dy + (((u32)m0 * (u32)K) << 2); // dY of the chunk's first pixel
    if (fused<F>() && cdy) {
      const auto dst = seg + (((u32)Mch * 20 + 63) & ~63); // after the segment table
      auto q = dyb; auto o = dst;
      const auto kv = ks & ~15;
      for (auto m = 0; m < mlen; m++) {
        u32 k = 0;
        for (; k < kv; k += 16) {
          v128_store(o + k, dyv(cdy + k, ks, q + k, dlt));
        }
        for (; k < ks; k += 4) {
          store<f32>(o + k, dyf(cdy + k, ks, q + k, dlt));
        }
        q += ks; o += ks;
      }
      dyb = dst;
    }
    // output-row segments of the chunk
    auto ns = 0;
    for (auto i = 0; i < mlen;) {
      const auto t = tab + (u32)i * 12;
      const auto ow = (m0 + i) % OW;
      const auto len = min(OW - ow, mlen - i);
      const auto sp = seg + (u32)ns * 20;
      store<i32>(sp, i); store<i32>(sp, i + len, 4);
      store<i32>(sp, load<i32>(t), 8); store<i32>(sp, load<i32>(t, 4), 12); store<i32>(sp, load<i32>(t, 8), 16);
      ns++;
      i += len;
    }
    for (auto u = start; u < end; u++) {
      const auto tap = u / (KB * CB); const auto r = u - tap * (KB * CB);
      const auto kb = r / CB; const auto cq = r - kb * CB;
      const auto kh = tap / KW; const auto kw = tap - kh * KW;
      const auto k0 = kb * 4; const auto c0 = cq * 8;
      const auto wide = c0 + 8 <= C;
      // splat offsets of the 4 output channels (clamped to K - 1: duplicated lanes are not output)
      const auto o1 = (u32)min(1, K - 1 - k0) << 2; const auto o2 = (u32)min(2, K - 1 - k0) << 2; const auto o3 = (u32)min(3, K - 1 - k0) << 2;
      auto a00 = f32x4_splat(0);
      auto a01 = a00; auto a10 = a00; auto a11 = a00; auto a20 = a00; auto a21 = a00; auto a30 = a00; auto a31 = a00;
      for (auto sI = 0; sI < ns; sI++) {
        const auto sp = seg + (u32)sI * 20;
        const auto xb = (u32)load<i32>(sp, 8);
        const auto ih = load<i32>(sp, 12) + kh * DH;
        if (!xb || (u32)ih >= (u32)H) continue;
        const auto s0 = load<i32>(sp); const auto s1 = load<i32>(sp, 4);
        // pixel j of the segment reads iw = iw0 + (j - s0)*SW + kw*DW
        const auto iwa = load<i32>(sp, 16) + kw * DW;
        auto ja = 0; auto je = s1 - s0;
        if (iwa < 0) ja = (-iwa + SW - 1) / SW;
        const auto lim = (W - 1 - iwa) / SW + 1; // pixels with iw <= W - 1 (iwa <= W - 1)
        if (iwa > W - 1) continue;
        je = min(je, lim);
        if (ja >= je) continue;
        auto xp = xb + (((u32)(ih * W + iwa + ja * SW) * (u32)C + (u32)c0) << 2);
        auto dp = dyb + (((u32)(s0 + ja) * (u32)K + (u32)k0) << 2);
        const auto dpe = dp + (u32)(je - ja) * ks;
        if (wide) {
          while (dp < dpe) {
            const auto x0 = v128_load(xp); const auto x1 = v128_load(xp, 16);
            auto dv = v128_load32_splat(dp);
            a00 = fma(dv, x0, a00); a01 = fma(dv, x1, a01);
            dv = v128_load32_splat(dp + o1);
            a10 = fma(dv, x0, a10); a11 = fma(dv, x1, a11);
            dv = v128_load32_splat(dp + o2);
            a20 = fma(dv, x0, a20); a21 = fma(dv, x1, a21);
            dv = v128_load32_splat(dp + o3);
            a30 = fma(dv, x0, a30); a31 = fma(dv, x1, a31);
            xp += xs; dp += ks;
          }
        } else {
          while (dp < dpe) {
            const auto x0 = v128_load(xp);
            a00 = fma(v128_load32_splat(dp), x0, a00);
            a10 = fma(v128_load32_splat(dp + o1), x0, a10);
            a20 = fma(v128_load32_splat(dp + o2), x0, a20);
            a30 = fma(v128_load32_splat(dp + o3), x0, a30);
            xp += xs; dp += ks;
          }
        }
      }
      // acc[k][tap][c0..]: rows past K are never read (K4 rows reserved)
      const auto ap = acc + (u32)k0 * ldt + (((u32)(tap * C + c0)) << 2);
      wrAcc(ap, a00, a01, wide, first);
      wrAcc(ap + ldt, a10, a11, wide, first);
      wrAcc(ap + 2 * ldt, a20, a21, wide, first);
      wrAcc(ap + 3 * ldt, a30, a31, wide, first);
    }
  }
}

static inline void wrAcc(u32 p, v128 v0, v128 v1, bool wide, bool first) {
  v128_store(p, first ? v0 : f32x4_add(v128_load(p), v0));
  if (wide) v128_store(p, first ? v1 : f32x4_add(v128_load(p, 16), v1), 16);
}

/** dW (OIHW) from the accumulator of conv_bwd_w_dot: dw[k][c][tap] = acc[k][tap][c]. Units: output channels k. */
static void as_conv_bwd_w_dot_out(u32 d, u32 acc, u32 dw, i32 start, i32 end, u32 scratch) {
  const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  for (auto k = start; k < end; k++) {
    const auto src = acc + (((u32)(k * T * C)) << 2);
    auto dst = dw + (((u32)(k * C * T)) << 2);
    for (auto c = 0; c < C; c++) {
      for (auto tap = 0; tap < T; tap++) {
        store<f32>(dst, load<f32>(src + (((u32)(tap * C + c)) << 2)));
        dst += 4;
      }
    }
  }
}

/** dW (OIHW) from the accumulator of conv_bwd_wt: dw[k][c][tap] = acc[k][tap*Cg8 + c]. Units: output channels k. */
static void as_conv_bwd_wt_out(u32 d, u32 acc, u32 dw, i32 start, i32 end, u32 scratch) {
  const auto Cg = ld(d, D_CG); const auto Cg8 = ld(d, D_CG8); const auto KT = ld(d, D_KH) * ld(d, D_KW);
  for (auto k = start; k < end; k++) {
    const auto src = acc + (((u32)k * (u32)(KT * Cg8)) << 2);
    auto dst = dw + (((u32)k * (u32)(Cg * KT)) << 2);
    for (auto c = 0; c < Cg; c++) {
      for (auto tap = 0; tap < KT; tap++) {
        store<f32>(dst, load<f32>(src + (((u32)(tap * Cg8 + c)) << 2)));
        dst += 4;
      }
    }
  }
}


/** dw[k][c][kh][kw] (OIHW) = acc[g][row(kh, kw, c)][k - g*Kg]. Units: output channels k. */
static void as_conv_bwd_w_out(u32 d, u32 acc, u32 dw, i32 start, i32 end, u32 scratch) {
  const auto Cg = ld(d, D_CG); const auto Kg = ld(d, D_KG); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto Kg8 = ld(d, D_KG8); const auto ROWS = ld(d, D_ROWS); const auto merge = ld(d, D_MERGE) != 0; const auto SEG4 = ld(d, D_SEG4);
  const auto S = ld(d, D_WSL); const auto sliceB = ((u32)ld(d, D_G) * (u32)ROWS * (u32)Kg8) << 2;
  for (auto k = start; k < end; k++) {
    const auto g = k / Kg; const auto kk = k - g * Kg;
    const auto src = acc + (((u32)(g * ROWS) * (u32)Kg8 + (u32)kk) << 2);
    auto dst = dw + (((u32)k * (u32)(Cg * KH * KW)) << 2);
    for (auto c = 0; c < Cg; c++) {
      for (auto kh = 0; kh < KH; kh++) {
        for (auto kw = 0; kw < KW; kw++) {
          const auto row = merge ? kh * SEG4 + kw * Cg + c : (kh * KW + kw) * SEG4 + c;
          const auto q = src + (((u32)row * (u32)Kg8) << 2);
          auto v = load<f32>(q);
          for (auto sl = 1; sl < S; sl++) v += load<f32>(q + (u32)sl * sliceB); // the slices, in order
          store<f32>(dst, v);
          dst += 4;
        }
      }
    }
  }
}

/**
 * db[k] = sum over m of dy[m][k] for k in [start, end) (start a multiple of 4). Sums run over
 * chunks of 256 rows, each from zero, then added: a fixed order, independent of the threads.
 */
static void as_conv_bias_grad(u32 d, u32 dy, u32 db, i32 start, i32 end, u32 scratch) {
  biasGrad<Plain>(d, dy, db, 0, 0, start, end, scratch);
}

/** conv_bias_grad of dY = A*dbn + B*xbn + C0 computed on load (dy = dbn, xbn = dbn + dlt, cdy = A[K], B[K], C0[K]). */
static void as_conv_bias_grad_f(u32 d, u32 dy, u32 db, u32 dlt, u32 cdy, i32 start, i32 end, u32 scratch) {
  biasGrad<Fused>(d, dy, db, dlt, cdy, start, end, scratch);
}

template <class F> static void biasGrad(u32 d, u32 dy, u32 db, u32 dlt, u32 cdy, i32 start, i32 end, u32 scratch) {
  const auto K = ld(d, D_K); const auto M = ld(d, D_N) * ld(d, D_OH) * ld(d, D_OW);
  const auto tot = scratch + SC_PACK;
  const auto part = tot + 8192 * 4;
  const auto ldk = (u32)K << 2;
  for (auto cb = start; cb < end; cb += 8192) {
    const auto cn = min(8192, end - cb);
    const auto nv = cn >> 2;
    memory_fill(tot, 0, (u32)cn * 4);
    for (auto m0 = 0; m0 < M; m0 += 256) {
      const auto me = min(M, m0 + 256);
      memory_fill(part, 0, (u32)cn * 4);
      auto row = dy + (((u32)m0 * (u32)K + (u32)cb) << 2);
      for (auto m = m0; m < me; m++) {
        if (fused<F>()) {
          const auto ca = cdy + ((u32)cb << 2);
          for (auto v = 0; v < nv; v++) {
            const auto o = (u32)v << 4;
            const auto g = dyv(ca + o, ldk, row + o, dlt);
            v128_store(part + o, f32x4_add(v128_load(part + o), g));
          }
          for (auto c = nv * 4; c < cn; c++) {
            const auto o = (u32)c << 2;
            const auto g = dyf(ca + o, ldk, row + o, dlt);
            store<f32>(part + o, load<f32>(part + o) + g);
          }
        } else {
          for (auto v = 0; v < nv; v++) {
            const auto o = (u32)v << 4;
            v128_store(part + o, f32x4_add(v128_load(part + o), v128_load(row + o)));
          }
          for (auto c = nv * 4; c < cn; c++) {
            const auto o = (u32)c << 2;
            store<f32>(part + o, load<f32>(part + o) + load<f32>(row + o));
          }
        }
        row += ldk;
      }
      for (auto c = 0; c < cn; c++) {
        const auto o = (u32)c << 2;
        store<f32>(tot + o, load<f32>(tot + o) + load<f32>(part + o));
      }
    }
    memory_copy(db + ((u32)cb << 2), tot, (u32)cn * 4);
  }
}

// =====================================================================================
// Depthwise (groups == C == K): direct SIMD along channels, weights repacked as wt[tap][C].
// =====================================================================================

/** wt[tap][c] = w[c][0][kh][kw]. Units: channels. */
static void as_conv_dw_pack_w(u32 d, u32 w, u32 wt, i32 start, i32 end, u32 scratch) {
  const auto C = ld(d, D_C); const auto T = ld(d, D_KH) * ld(d, D_KW);
  for (auto c = start; c < end; c++) {
    for (auto tap = 0; tap < T; tap++) {
      store<f32>(wt + (((u32)(tap * C + c)) << 2), load<f32>(w + (((u32)(c * T + tap)) << 2)));
    }
  }
}

/** Forward. Units: output rows (n, oh). */
static void as_conv_dw_fwd(u32 d, u32 x, u32 wt, u32 bias, u32 y, i32 start, i32 end, u32 scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto rowB = (u32)W * (u32)C * 4; const auto pixB = (u32)C * 4;
  for (auto row = start; row < end; row++) {
    const auto n = row / OH; const auto oh = row - n * OH;
    const auto xn = x + (u32)n * (u32)H * rowB;
    for (auto ow = 0; ow < OW; ow++) {
      const auto yp = y + ((u32)(row * OW + ow) * (u32)C << 2);
      const auto ih0 = oh * SH - PH; const auto iw0 = ow * SW - PW;
      auto c = 0;
      for (; c + 16 <= C; c += 16) {
        const auto co = (u32)c << 2;
        auto a0 = z; auto a1 = z; auto a2 = z; auto a3 = z;
        if (bias) { a0 = v128_load(bias + co); a1 = v128_load(bias + co, 16); a2 = v128_load(bias + co, 32); a3 = v128_load(bias + co, 48); }
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((u32)ih >= (u32)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((u32)iw >= (u32)W) continue;
            const auto xp = xn + (u32)ih * rowB + (u32)iw * pixB + co;
            const auto wp = wt + ((u32)((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128_load(xp), v128_load(wp), a0);
            a1 = fma(v128_load(xp, 16), v128_load(wp, 16), a1);
            a2 = fma(v128_load(xp, 32), v128_load(wp, 32), a2);
            a3 = fma(v128_load(xp, 48), v128_load(wp, 48), a3);
          }
        }
        v128_store(yp + co, a0); v128_store(yp + co, a1, 16); v128_store(yp + co, a2, 32); v128_store(yp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const auto co = (u32)c << 2;
        auto a0 = bias ? v128_load(bias + co) : z;
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((u32)ih >= (u32)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((u32)iw >= (u32)W) continue;
            a0 = fma(v128_load(xn + (u32)ih * rowB + (u32)iw * pixB + co), v128_load(wt + ((u32)((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128_store(yp + co, a0);
      }
      for (; c < C; c++) {
        const auto co = (u32)c << 2;
        f32 s = bias ? load<f32>(bias + co) : 0;
        for (auto kh = 0; kh < KH; kh++) {
          const auto ih = ih0 + kh * DH;
          if ((u32)ih >= (u32)H) continue;
          for (auto kw = 0; kw < KW; kw++) {
            const auto iw = iw0 + kw * DW;
            if ((u32)iw >= (u32)W) continue;
            s += load<f32>(xn + (u32)ih * rowB + (u32)iw * pixB + co) * load<f32>(wt + ((u32)((kh * KW + kw) * C) << 2) + co);
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
static void as_conv_dw_bwd_data(u32 d, u32 dy, u32 wt, u32 dx, i32 start, i32 end, u32 scratch) {
  const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto z = f32x4_splat(0);
  const auto pixB = (u32)C * 4;
  for (auto row = start; row < end; row++) {
    const auto n = row / H; const auto ih = row - n * H;
    const auto dyn = dy + (u32)n * (u32)OH * (u32)OW * pixB;
    for (auto iw = 0; iw < W; iw++) {
      const auto xp = dx + (u32)(row * W + iw) * pixB;
      auto c = 0;
      for (; c + 16 <= C; c += 16) {
        const auto co = (u32)c << 2;
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
            const auto gp = dyn + (u32)(oh * OW + ow) * pixB + co;
            const auto wp = wt + ((u32)((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128_load(gp), v128_load(wp), a0);
            a1 = fma(v128_load(gp, 16), v128_load(wp, 16), a1);
            a2 = fma(v128_load(gp, 32), v128_load(wp, 32), a2);
            a3 = fma(v128_load(gp, 48), v128_load(wp, 48), a3);
          }
        }
        v128_store(xp + co, a0); v128_store(xp + co, a1, 16); v128_store(xp + co, a2, 32); v128_store(xp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const auto co = (u32)c << 2;
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
            a0 = fma(v128_load(dyn + (u32)(oh * OW + ow) * pixB + co), v128_load(wt + ((u32)((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128_store(xp + co, a0);
      }
      for (; c < C; c++) {
        const auto co = (u32)c << 2;
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
            s += load<f32>(dyn + (u32)(oh * OW + ow) * pixB + co) * load<f32>(wt + ((u32)((kh * KW + kw) * C) << 2) + co);
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
static void as_conv_dw_bwd_w(u32 d, u32 dy, u32 x, u32 dw, i32 start, i32 end, u32 scratch) {
  const auto N = ld(d, D_N); const auto C = ld(d, D_C); const auto H = ld(d, D_H); const auto W = ld(d, D_W); const auto KH = ld(d, D_KH); const auto KW = ld(d, D_KW);
  const auto SH = ld(d, D_SH); const auto SW = ld(d, D_SW); const auto PH = ld(d, D_PH); const auto PW = ld(d, D_PW); const auto DH = ld(d, D_DH); const auto DW = ld(d, D_DW);
  const auto OH = ld(d, D_OH); const auto OW = ld(d, D_OW);
  const auto T = KH * KW;
  const auto CB = 64;
  const auto tot = scratch + SC_PACK;
  const auto part = tot + (u32)T * CB * 4;
  const auto pixB = (u32)C * 4;
  for (auto cb = start; cb < end; cb += CB) {
    const auto cn = min(CB, end - cb);
    const auto nv = cn >> 2;
    const auto cbo = (u32)cb << 2;
    memory_fill(tot, 0, (u32)(T * CB) * 4);
    for (auto n = 0; n < N; n++) {
      memory_fill(part, 0, (u32)(T * CB) * 4);
      const auto xn = x + (u32)n * (u32)H * (u32)W * pixB + cbo;
      for (auto oh = 0; oh < OH; oh++) {
        for (auto ow = 0; ow < OW; ow++) {
          const auto gp = dy + (u32)((n * OH + oh) * OW + ow) * pixB + cbo;
          const auto ih0 = oh * SH - PH; const auto iw0 = ow * SW - PW;
          for (auto kh = 0; kh < KH; kh++) {
            const auto ih = ih0 + kh * DH;
            if ((u32)ih >= (u32)H) continue;
            for (auto kw = 0; kw < KW; kw++) {
              const auto iw = iw0 + kw * DW;
              if ((u32)iw >= (u32)W) continue;
              const auto xp = xn + (u32)(ih * W + iw) * pixB;
              const auto ap = part + (u32)((kh * KW + kw) * CB) * 4;
              for (auto v = 0; v < nv; v++) {
                const auto o = (u32)v << 4;
                v128_store(ap + o, fma(v128_load(gp + o), v128_load(xp + o), v128_load(ap + o)));
              }
              for (auto c = nv * 4; c < cn; c++) {
                const auto o = (u32)c << 2;
                store<f32>(ap + o, load<f32>(ap + o) + load<f32>(gp + o) * load<f32>(xp + o));
              }
            }
          }
        }
      }
      for (auto i = 0; i < T * CB; i += 4) {
        const auto o = (u32)i << 2;
        v128_store(tot + o, f32x4_add(v128_load(tot + o), v128_load(part + o)));
      }
    }
    for (auto c = 0; c < cn; c++) {
      for (auto tap = 0; tap < T; tap++) {
        store<f32>(dw + ((u32)((cb + c) * T + tap) << 2), load<f32>(tot + ((u32)(tap * CB + c) << 2)));
      }
    }
  }
}

// =====================================================================================
// Peak probe: the micro-kernel on L1-resident packed panels (A kc x 4, B kc x 8 in scratch),
// `reps` times per unit of the range. Used by bench/kernels_conv.ts.
// =====================================================================================
// The native twin measures the wide micro-kernel (gemm_wide.h) on L1-resident panels: `reps`
// 4x8 tiles' worth of work per unit of the range (the flops the callers count), as
// reps / (WRI*WRJ) calls of the WRI x WRJ tile and the rest as single 4x8 tiles.
static void as_gemm_bench_mk(i32 kc, i32 reps, i32 start, i32 end, u32 scratch) {
  const auto a = scratch + SC_PACK; const auto b = a + (u32)kc * 16 * WRI; const auto c = scratch + SC_TROW;
  // ordinary values (no NaN / denormals left in scratch by other kernels)
  for (auto i = 0; i < kc * (4 * WRI + 8 * WRJ); i++) store<f32>(a + ((u32)i << 2), (f32)((i & 7) - 3) * 0.125f);
  memory_fill(c, 0, 4 * WRI * WRJ * 32);
  float *rows[4 * WRI];
  for (i32 r = 0; r < 4 * WRI; r++) rows[r] = fp(c + (u32)r * WRJ * 32);
  const i32 wide = reps / (WRI * WRJ), rest = reps - wide * WRI * WRJ;
  for (auto u = start; u < end; u++) {
    for (auto r = 0; r < wide; r++) mkw<WRI, WRJ, A_PACKED>(fp(a), (size_t)kc * 4, fp(b), (size_t)kc * 8, kc, rows, nullptr, 1);
    for (auto r = 0; r < rest; r++) mkw<1, 1, A_PACKED>(fp(a), (size_t)kc * 4, fp(b), (size_t)kc * 8, kc, rows, nullptr, 1);
  }
}

// ---- kernel entry points (core/kernel.h signature) ----
void conv_pack_w_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_pack_w_fwd_t(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd_t((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_pack_w_bwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_bwd((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], start, end, (u32)scratch);
}
void conv_fwd_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_fwd_dx_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dx_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_fwd_dy_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dy_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (u32)(int64_t)a[7], (u32)(int64_t)a[8], (i32)a[9], start, end, (u32)scratch);
}
void conv_pack_w_fwd4(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_fwd4((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_fwd_t(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_t((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], start, end, (u32)scratch);
}
void conv_fwd_t_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_t_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_pack_w_dot(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_pack_w_dot((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_fwd_dot(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dot((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], start, end, (u32)scratch);
}
void conv_fwd_dot_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_fwd_dot_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (i32)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_bwd_data(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void conv_bwd_data_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (u32)(int64_t)a[7], (u32)(int64_t)a[8], (i32)a[9], start, end, (u32)scratch);
}
void conv_bwd_data_1x1(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data_1x1((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void conv_bwd_data_1x1_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_data_1x1_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (u32)(int64_t)a[7], (u32)(int64_t)a[8], (i32)a[9], start, end, (u32)scratch);
}
void conv_bwd_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void conv_bwd_w_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_bwd_wt(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_wt((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void conv_bwd_wt_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_wt_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_bwd_w_dot(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_dot((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void conv_bwd_w_dot_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_dot_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], (u32)(int64_t)a[5], (u32)(int64_t)a[6], (i32)a[7], start, end, (u32)scratch);
}
void conv_bwd_w_dot_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_dot_out((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_bwd_wt_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_wt_out((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_bwd_w_out(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bwd_w_out((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_bias_grad(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bias_grad((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_bias_grad_f(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_bias_grad_f((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], start, end, (u32)scratch);
}
void conv_dw_pack_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_pack_w((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], start, end, (u32)scratch);
}
void conv_dw_fwd(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_fwd((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], (u32)(int64_t)a[4], start, end, (u32)scratch);
}
void conv_dw_bwd_data(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_bwd_data((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void conv_dw_bwd_w(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_conv_dw_bwd_w((u32)(int64_t)a[0], (u32)(int64_t)a[1], (u32)(int64_t)a[2], (u32)(int64_t)a[3], start, end, (u32)scratch);
}
void gemm_bench_mk(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_gemm_bench_mk((i32)a[0], (i32)a[1], start, end, (u32)scratch);
}

}  // namespace

KernelList family_gemm() {
  static const Kernel k[] = {
      {"conv_pack_w_fwd", 3, conv_pack_w_fwd},
      {"conv_pack_w_fwd_t", 3, conv_pack_w_fwd_t},
      {"conv_pack_w_bwd", 3, conv_pack_w_bwd},
      {"conv_fwd", 5, conv_fwd},
      {"conv_fwd_f", 8, conv_fwd_f},
      {"conv_fwd_dx_f", 8, conv_fwd_dx_f},
      {"conv_fwd_dy_f", 10, conv_fwd_dy_f},
      {"conv_pack_w_fwd4", 3, conv_pack_w_fwd4},
      {"conv_fwd_t", 5, conv_fwd_t},
      {"conv_fwd_t_f", 8, conv_fwd_t_f},
      {"conv_pack_w_dot", 3, conv_pack_w_dot},
      {"conv_fwd_dot", 5, conv_fwd_dot},
      {"conv_fwd_dot_f", 8, conv_fwd_dot_f},
      {"conv_bwd_data", 4, conv_bwd_data},
      {"conv_bwd_data_f", 10, conv_bwd_data_f},
      {"conv_bwd_data_1x1", 4, conv_bwd_data_1x1},
      {"conv_bwd_data_1x1_f", 10, conv_bwd_data_1x1_f},
      {"conv_bwd_w", 4, conv_bwd_w},
      {"conv_bwd_w_f", 8, conv_bwd_w_f},
      {"conv_bwd_wt", 4, conv_bwd_wt},
      {"conv_bwd_wt_f", 8, conv_bwd_wt_f},
      {"conv_bwd_w_dot", 4, conv_bwd_w_dot},
      {"conv_bwd_w_dot_f", 8, conv_bwd_w_dot_f},
      {"conv_bwd_w_dot_out", 3, conv_bwd_w_dot_out},
      {"conv_bwd_wt_out", 3, conv_bwd_wt_out},
      {"conv_bwd_w_out", 3, conv_bwd_w_out},
      {"conv_bias_grad", 3, conv_bias_grad},
      {"conv_bias_grad_f", 5, conv_bias_grad_f},
      {"conv_dw_pack_w", 3, conv_dw_pack_w},
      {"conv_dw_fwd", 5, conv_dw_fwd},
      {"conv_dw_bwd_data", 4, conv_dw_bwd_data},
      {"conv_dw_bwd_w", 4, conv_dw_bwd_w},
      {"gemm_bench_mk", 2, gemm_bench_mk},
  };
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
