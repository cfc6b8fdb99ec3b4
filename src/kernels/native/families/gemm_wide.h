// The wide micro-kernel of the native GEMM convolution kernels (included by families/gemm.cc
// inside its ISA namespace, after the v128 shim).
//
// The WebAssembly kernels compute one 4x8 tile per call of `mk` (8 v128 accumulators,
// src/kernels/wasm/common/gemm.ts): at 128 bits that is the
// ceiling, but with 256-bit registers and 16 or 32 of them the same packed layouts feed a tile of
// WRI micro-panels of A (4 rows each, [kc][4]) x WRJ panels of B ([kc][8]) per call: one ymm
// holds one row of one B panel (8 columns, the two v128 halves of mk's accumulators), so each
// output element still starts from the bias or 0, takes fma(a, b, acc) over k in the same order
// and is added to the previous block's value (add) exactly as in mk: the results are the same
// bits. AVX-512 (32 registers): 12 x 16 (24 accumulators, 2 B rows and a broadcast live);
// AVX2 (16 registers): 12 x 8 (12 accumulators).
//
// The write-back goes panel by panel, micro-panel by micro-panel, row by row: the order of the
// mk calls of the WebAssembly kernels' j-outer loops, so that where rows of different tiles add into the same
// element (backward-data's col2im, with WRJ = 1 there) the adds chain in the same order.
#pragma once

#if BNFF_VW == 16
constexpr int WRI = 3, WRJ = 2;
#else
constexpr int WRI = 3, WRJ = 1;
#endif

// Where the rows of A come from (AM): 0, packed micro-panels [kc][4] (`as` floats apart); 1, rows
// read in place, row R = 4*ii + r of the tile at a + R*sr, k contiguous (the x or dY rows of a 1x1
// convolution: no packing); 2, columns read in place, row R at a + R, k at k*sr (x^T of a 1x1
// convolution's backward-weights, `sr` its pixel stride). The values, hence the bits, are those
// the packing would have copied.
enum { A_PACKED = 0, A_ROWS = 1, A_COLS = 2 };

/**
 * Epilogues of the wide kernel, called per 4x8 tile (panel jj, micro-panel ii, in the write-back
 * order) with its 4 rows in registers: after mkw's own write-back, with the values written
 * (epiAfter: the moments), or instead of it, with the sums of this reduction block (epiOwn: the
 * dx epilogue, which masks and stores itself).
 */
struct NoEpi {
  static constexpr bool active = false, own = false, pair = false;
  void operator()(int, int, const __m256 *) const {}
  void both(int, const __m256 *, const __m256 *) const {}
};
/** No epilogue on a micro-panel's two panels at once: f per tile only. */
struct NoPair {};
/**
 * f(jj, ii, rows) per tile; with L2, f2(ii, panel 0's rows, panel 1's rows) instead where a call
 * has two panels (16 channels, one 512-bit register a row), micro-panel by micro-panel: the panels
 * hold different channels, so each channel's values and sums come in the order they would panel by
 * panel. Own: the epilogue writes the rows itself (no write-back by the kernel).
 */
template <bool Own, class L, class L2 = NoPair> struct Epi {
  L f;
  L2 f2;
  static constexpr bool active = true, own = Own, pair = !std::is_same<L2, NoPair>::value;
  __attribute__((always_inline)) void operator()(int jj, int ii, const __m256 *v) const { f(jj, ii, v); }
  __attribute__((always_inline)) void both(int ii, const __m256 *v0, const __m256 *v1) const {
    if constexpr (pair) f2(ii, v0, v1);
  }
};
template <class L> static inline Epi<false, L> epiAfter(L f) { return {f, {}}; }
template <class L, class L2> static inline Epi<false, L, L2> epiAfter2(L f, L2 f2) { return {f, f2}; }
template <class L> static inline Epi<true, L> epiOwn(L f) { return {f, {}}; }
template <class L, class L2> static inline Epi<true, L, L2> epiOwn2(L f, L2 f2) { return {f, f2}; }

/**
 * RI micro-panels of A (see AM) x RJ panels of B at b, b + bs, ... (floats): row r of micro-panel
 * ii, panel jj goes to rows[4*ii + r] + 8*jj (null: a masked row, not written); bias (when not
 * null): panel jj's accumulators start at bias[8*jj ..]; add: the tile is added to what the rows hold.
 * Prefetches, one line per k step while it lasts: pfl lines from pf on (the next tile's rows of A,
 * contiguous), and the lines at po, po + pos, ... (pol of them: the next tile's output rows).
 * Split reductions (part != null): the accumulators start from part's rows (pin; bias ignored) and
 * end there (pout, instead of the write-back): a float stored and reloaded is the same float, so
 * a reduction cut into k blocks this way keeps every element's chain of FMAs, hence its bits.
 */
template <int RI, int RJ, int AM, class E = NoEpi>
static inline __attribute__((always_inline)) void mkw(const float *a, size_t as, const float *b, size_t bs, int kc, float *const *rows,
                                                     const float *bias, int add, const char *pf = nullptr, int pfl = 0,
                                                     const char *po = nullptr, size_t pos = 0, int pol = 0, float *const *part = nullptr,
                                                     int pin = 0, int pout = 0, const E &epi = E()) {
  __m256 c[RI * 4][RJ];
#pragma GCC unroll 4
  for (int jj = 0; jj < RJ; jj++) {
    const __m256 z = bias ? _mm256_loadu_ps(bias + 8 * jj) : _mm256_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < RI * 4; r++) c[r][jj] = pin ? _mm256_loadu_ps(part[r] + 8 * jj) : z;
  }
  for (int k = 0; k < kc; k++) {
    if (k < pfl) _mm_prefetch(pf + 64 * (size_t)k, _MM_HINT_T0);
    if (k < pol) _mm_prefetch(po + pos * (size_t)k, _MM_HINT_T0);
    __m256 bv[RJ];
#pragma GCC unroll 4
    for (int jj = 0; jj < RJ; jj++) bv[jj] = _mm256_loadu_ps(b + jj * bs + 8 * k);
#pragma GCC unroll 4
    for (int ii = 0; ii < RI; ii++) {
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++) {
        const float *ap = AM == A_PACKED ? a + ii * as + 4 * k + r : AM == A_ROWS ? a + (ii * 4 + r) * as + k : a + (size_t)k * as + ii * 4 + r;
        const __m256 av = _mm256_broadcast_ss(ap);
#pragma GCC unroll 4
        for (int jj = 0; jj < RJ; jj++) c[ii * 4 + r][jj] = _mm256_fmadd_ps(av, bv[jj], c[ii * 4 + r][jj]);
      }
    }
  }
  if (pout) {
#pragma GCC unroll 4
    for (int jj = 0; jj < RJ; jj++) {
#pragma GCC unroll 16
      for (int r = 0; r < RI * 4; r++) _mm256_storeu_ps(part[r] + 8 * jj, c[r][jj]);
    }
    return;
  }
  // one tile's rows into v, written back (added to what the rows hold with add) unless the
  // epilogue writes them
  const auto tile = [&](int jj, int ii, __m256 *v) __attribute__((always_inline)) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      v[r] = c[ii * 4 + r][jj];
      float *p = rows[ii * 4 + r];
      if (E::own || !p) continue;
      p += 8 * jj;
      if (add) v[r] = _mm256_add_ps(_mm256_loadu_ps(p), v[r]);
      _mm256_storeu_ps(p, v[r]);
    }
  };
  if constexpr (E::pair && RJ == 2) {
    // micro-panel by micro-panel: both panels' tiles, then the epilogue on the two
#pragma GCC unroll 4
    for (int ii = 0; ii < RI; ii++) {
      __m256 v0[4], v1[4];
      tile(0, ii, v0);
      tile(1, ii, v1);
      epi.both(ii, v0, v1);
    }
    return;
  }
#pragma GCC unroll 4
  for (int jj = 0; jj < RJ; jj++) {
#pragma GCC unroll 4
    for (int ii = 0; ii < RI; ii++) {
      __m256 v[4];
      tile(jj, ii, v);
      if (E::active) epi(jj, ii, v);
    }
  }
}

/**
 * mkw with ri <= WRI micro-panels and rj <= WRJ panels chosen at run time. `as`: A_PACKED, the
 * floats between micro-panels; A_ROWS, between rows; A_COLS, between the k steps.
 */
template <int AM, class E = NoEpi>
static void mkwAny(int ri, int rj, const float *a, size_t as, const float *b, size_t bs, int kc, float *const *rows, const float *bias,
                   int add, const char *pf = nullptr, int pfl = 0, const char *po = nullptr, size_t pos = 0, int pol = 0,
                   float *const *part = nullptr, int pin = 0, int pout = 0, const E &epi = E()) {
#define BNFF_MKW(I, J) \
  if (ri == I && rj == J) return mkw<I, J, AM, E>(a, as, b, bs, kc, rows, bias, add, pf, pfl, po, pos, pol, part, pin, pout, epi);
  BNFF_MKW(3, 1) BNFF_MKW(2, 1) BNFF_MKW(1, 1)
#if BNFF_VW == 16
  BNFF_MKW(3, 2) BNFF_MKW(2, 2) BNFF_MKW(1, 2)
#endif
#undef BNFF_MKW
}

/** The arena pointer of an offset (0: null). */
static inline float *fp(ux off) { return off ? (float *)(gM + (size_t)off) : nullptr; }
/** 8 floats at an arena offset. */
static inline __m256 ld8(ux off) { return _mm256_loadu_ps((const float *)(gM + (size_t)off)); }
