// Probes for the benchmarks (src/bench/kernels.ts) and `bnff info --measure`, not used in
// training: the FMA peak of this ISA variant, the STREAM triad, a plain read stream and the GEMM
// micro-kernel's rate (the twins of src/kernels/wasm/bench.ts, and fma_peak). They live in their
// own family so that no production kernel carries them.
#include <type_traits>

#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"
#include "gemm_common.h"

namespace {

// fma_peak(reps): `reps` rounds of 12 independent vector FMA chains per unit of the range
// (24 * VW flops per round); the sums land in the scratch so that nothing is optimised away.
void fma_peak(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const int64_t reps = (int64_t)a[0];
  vf x = vsplat(1.0f), y = vsplat(0.999f);
  // distinct starting values, so that no two chains are the same computation
  vf c0 = vsplat(0), c1 = vsplat(1), c2 = vsplat(2), c3 = vsplat(3), c4 = vsplat(4), c5 = vsplat(5);
  vf c6 = vsplat(6), c7 = vsplat(7), c8 = vsplat(8), c9 = vsplat(9), c10 = vsplat(10), c11 = vsplat(11);
  for (int32_t u = start; u < end; u++) {
    for (int64_t r = 0; r < reps; r++) {
      c0 = vfma(x, y, c0); c1 = vfma(x, y, c1); c2 = vfma(x, y, c2); c3 = vfma(x, y, c3);
      c4 = vfma(x, y, c4); c5 = vfma(x, y, c5); c6 = vfma(x, y, c6); c7 = vfma(x, y, c7);
      c8 = vfma(x, y, c8); c9 = vfma(x, y, c9); c10 = vfma(x, y, c10); c11 = vfma(x, y, c11);
      __asm__ volatile("" : "+v"(x), "+v"(y));
    }
  }
  vf s = vadd(vadd(vadd(c0, c1), vadd(c2, c3)), vadd(vadd(c4, c5), vadd(c6, c7)));
  s = vadd(s, vadd(vadd(c8, c9), vadd(c10, c11)));
  vstore(BNFF_AT(float, scratch), s);
}

// triad(a, b, c, s): a[i] = b[i] + s*c[i] over [start, end) (element indices).
void triad(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  float *A = BNFF_AT(float, a[0]);
  const float *B = BNFF_AT(const float, a[1]), *C = BNFF_AT(const float, a[2]);
  const vf s = vsplat((float)a[3]);
  int32_t i = start;
  for (; i + BNFF_VW <= end; i += BNFF_VW) vstore(A + i, vfma(vload(C + i), s, vload(B + i)));
  for (; i < end; i++) A[i] = __builtin_fmaf(C[i], (float)a[3], B[i]);
}

// probe_read(x): the plainest read-only stream, the sum of x[start, end) (a multiple of 16
// elements long) into the scratch, next to which the read-only reductions (bn_stats) are judged.
// Four vector accumulators; the sum itself is not compared with the wasm probe's.
void probe_read(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch) {
  const float *x = BNFF_AT(const float, a[0]);
  vf s0 = vzero(), s1 = vzero(), s2 = vzero(), s3 = vzero();
  int32_t i = start;
  for (; i + 4 * BNFF_VW <= end; i += 4 * BNFF_VW) {
    s0 = vadd(s0, vload(x + i));
    s1 = vadd(s1, vload(x + i + BNFF_VW));
    s2 = vadd(s2, vload(x + i + 2 * BNFF_VW));
    s3 = vadd(s3, vload(x + i + 3 * BNFF_VW));
  }
  for (; i + BNFF_VW <= end; i += BNFF_VW) s0 = vadd(s0, vload(x + i));
  vstore(BNFF_AT(float, scratch), vadd(vadd(s0, s1), vadd(s2, s3)));
}

// gemm_bench_mk(kc, reps): the micro-kernel on L1-resident packed panels (A kc x 4, B kc x 8 in
// scratch), `reps` times per unit of the range. Used by src/bench/kernels_conv.ts.
// The native twin measures the wide micro-kernel (gemm_wide.h) on L1-resident panels: `reps`
// 4x8 tiles' worth of work per unit of the range (the flops the callers count), as
// reps / (WRI*WRJ) calls of the WRI x WRJ tile and the rest as single 4x8 tiles.
static void as_gemm_bench_mk(i32 kc, i32 reps, i32 start, i32 end, ux scratch) {
  const auto a = scratch + SC_PACK; const auto b = a + (ux)kc * 16 * WRI; const auto c = scratch + SC_TROW;
  // ordinary values (no NaN / denormals left in scratch by other kernels)
  for (auto i = 0; i < kc * (4 * WRI + 8 * WRJ); i++) store<f32>(a + ((ux)i << 2), (f32)((i & 7) - 3) * 0.125f);
  memory_fill(c, 0, 4 * WRI * WRJ * 32);
  float *rows[4 * WRI];
  for (i32 r = 0; r < 4 * WRI; r++) rows[r] = fp(c + (ux)r * WRJ * 32);
  const i32 wide = reps / (WRI * WRJ), rest = reps - wide * WRI * WRJ;
  for (auto u = start; u < end; u++) {
    for (auto r = 0; r < wide; r++) mkw<WRI, WRJ, A_PACKED>(fp(a), (size_t)kc * 4, fp(b), (size_t)kc * 8, kc, rows, nullptr, 1);
    for (auto r = 0; r < rest; r++) mkw<1, 1, A_PACKED>(fp(a), (size_t)kc * 4, fp(b), (size_t)kc * 8, kc, rows, nullptr, 1);
  }
}

void gemm_bench_mk(uint8_t *M, const double *a, int32_t start, int32_t end, size_t scratch) {
  gM = M;
  as_gemm_bench_mk((i32)a[0], (i32)a[1], start, end, (ux)scratch);
}

}  // namespace

KernelList family_bench() {
  static const Kernel k[] = {{"fma_peak", 1, fma_peak}, {"triad", 4, triad}, {"probe_read", 1, probe_read}, {"gemm_bench_mk", 2, gemm_bench_mk}};
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
