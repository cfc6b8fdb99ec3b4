// Elementwise kernels of the fused BN graph: the native twins of src/kernels/wasm/bnfused.ts
// (same names, arguments and work ranges). NHWC rows x [M, C]; per-channel f32 coefficients a, b
// with bn(x) = a*x + b. Work range: rows [start, end), except bnf_mask (elements).
//
// Bit-identical to the WebAssembly kernels (relaxed SIMD): per row, the channels below C & ~3 are
// their vector part (fused FMA), the last C % 4 their scalar part (unfused f32), here too; only
// the vectors are wider (a masked last vector instead of the 4-wide loop's end).
#include "../core/abi.h"
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"
#include "eltwise_common.h"
#include "../core/act.h"

namespace {

// st, or a streaming store of a whole vector (p aligned) when NT
template <bool NT>
inline void put(float *p, vf v, int k) {
  if (NT && k == VW) vstream(p, v);
  else st(p, v, k);
}

// Whether the rows [start, end) of y [M, C] take streaming stores: large, and C whole vectors
// from an aligned first row (so that every row's vectors are aligned).
inline bool rows_nt(const float *y, int32_t C, int32_t start, int32_t end) {
  return (int64_t)(end - start) * C >= NT_MIN && C % VW == 0 && ((uintptr_t)(y + (int64_t)start * C) & (VW * 4 - 1)) == 0;
}

inline float relu_s(float v) { return v <= 0 ? 0.0f : v; }

// bnf_add_relu(x1, a1, b1, o, x2, a2, b2, mode, y, C, relu): y = relu(a1*x1 + b1 + s), s = o (mode 0,
// identity shortcut) or a2*x2 + b2 (mode 1, the projection shortcut's BN); relu 0: no ReLU.
template <bool RELU>
inline vf maybe_relu(vf v) { return RELU ? vrelu(v) : v; }
template <bool RELU>
inline float maybe_relu_s(float v) { return RELU ? relu_s(v) : v; }

template <bool NT, bool RELU>
void add_relu_rows(const float *x1, const float *a1, const float *b1, const float *o, const float *x2, const float *a2, const float *b2, int32_t mode,
                   float *y, int32_t C, int32_t start, int32_t end) {
  const int32_t cv = C & ~3;
  for (int32_t r = start; r < end; r++) {
    const int64_t base = (int64_t)r * C;
    const float *p1 = x1 + base;
    float *py = y + base;
    if (mode == 0) {
      const float *po = o + base;
      vloop(cv, [&](int64_t j, int k) { put<NT>(py + j, maybe_relu<RELU>(vadd(vfma(ld(p1 + j, k), ld(a1 + j, k), ld(b1 + j, k)), ld(po + j, k))), k); });
      for (int32_t j = cv; j < C; j++) py[j] = maybe_relu_s<RELU>(p1[j] * a1[j] + b1[j] + po[j]);
    } else {
      const float *p2 = x2 + base;
      vloop(cv, [&](int64_t j, int k) {
        vf s = vfma(ld(p2 + j, k), ld(a2 + j, k), ld(b2 + j, k));
        put<NT>(py + j, maybe_relu<RELU>(vadd(vfma(ld(p1 + j, k), ld(a1 + j, k), ld(b1 + j, k)), s)), k);
      });
      for (int32_t j = cv; j < C; j++) {
        const float s = p2[j] * a2[j] + b2[j];
        py[j] = maybe_relu_s<RELU>(p1[j] * a1[j] + b1[j] + s);
      }
    }
  }
}

void bnf_add_relu(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x1 = BNFF_AT(const float, a[0]), *a1 = BNFF_AT(const float, a[1]), *b1 = BNFF_AT(const float, a[2]);
  const float *o = BNFF_AT(const float, a[3]), *x2 = BNFF_AT(const float, a[4]);
  const float *a2 = BNFF_AT(const float, a[5]), *b2 = BNFF_AT(const float, a[6]);
  const int32_t mode = (int32_t)a[7];
  float *y = BNFF_AT(float, a[8]);
  const int32_t C = (int32_t)a[9];
  const bool relu = (int32_t)a[10] != 0;
  const bool nt = rows_nt(y, C, start, end);
  if (nt && relu) add_relu_rows<true, true>(x1, a1, b1, o, x2, a2, b2, mode, y, C, start, end);
  else if (nt) add_relu_rows<true, false>(x1, a1, b1, o, x2, a2, b2, mode, y, C, start, end);
  else if (relu) add_relu_rows<false, true>(x1, a1, b1, o, x2, a2, b2, mode, y, C, start, end);
  else add_relu_rows<false, false>(x1, a1, b1, o, x2, a2, b2, mode, y, C, start, end);
  if (nt) _mm_sfence();
}

// bnf_relu_mask(dy, x, a, b, dx, C, act): dx = dy * act'(a*x + b) (ACT_RELU: 0 where a*x + b <= 0,
// else dy). dx may be dy.
template <bool NT, int CODE>
void relu_mask_rows(const float *dy, const float *x, const float *ca, const float *cb, float *dx, int32_t C, int32_t start, int32_t end) {
  const int32_t cv = C & ~3;
  for (int32_t r = start; r < end; r++) {
    const int64_t base = (int64_t)r * C;
    const float *px = x + base, *pg = dy + base;
    float *pd = dx + base;
    vloop(cv, [&](int64_t j, int k) { put<NT>(pd + j, act_grad(CODE, vfma(ld(px + j, k), ld(ca + j, k), ld(cb + j, k)), ld(pg + j, k)), k); });
    for (int32_t j = cv; j < C; j++) {
      const float z = px[j] * ca[j] + cb[j];
      pd[j] = CODE == ACT_RELU ? (z <= 0 ? 0.0f : pg[j]) : act_grad_s(CODE, z, pg[j]);
    }
  }
}

template <int CODE>
void relu_mask_code(const float *dy, const float *x, const float *ca, const float *cb, float *dx, int32_t C, int32_t start, int32_t end) {
  if (rows_nt(dx, C, start, end)) {
    relu_mask_rows<true, CODE>(dy, x, ca, cb, dx, C, start, end);
    _mm_sfence();
  } else {
    relu_mask_rows<false, CODE>(dy, x, ca, cb, dx, C, start, end);
  }
}

void bnf_relu_mask(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *dy = BNFF_AT(const float, a[0]), *x = BNFF_AT(const float, a[1]);
  const float *ca = BNFF_AT(const float, a[2]), *cb = BNFF_AT(const float, a[3]);
  float *dx = BNFF_AT(float, a[4]);
  const int32_t C = (int32_t)a[5];
  switch ((int)a[6]) {
    case ACT_RELU: relu_mask_code<ACT_RELU>(dy, x, ca, cb, dx, C, start, end); break;
    case ACT_RELU6: relu_mask_code<ACT_RELU6>(dy, x, ca, cb, dx, C, start, end); break;
    case ACT_SILU: relu_mask_code<ACT_SILU>(dy, x, ca, cb, dx, C, start, end); break;
    case ACT_HARDSWISH: relu_mask_code<ACT_HARDSWISH>(dy, x, ca, cb, dx, C, start, end); break;
    default: relu_mask_code<ACT_NONE>(dy, x, ca, cb, dx, C, start, end);
  }
}

// bnf_mask(dy, y, ds): ds = 0 where y <= 0, else dy, over elements [start, end).
void bnf_mask(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *dy = BNFF_AT(const float, a[0]) + start, *y = BNFF_AT(const float, a[1]) + start;
  float *ds = BNFF_AT(float, a[2]) + start;
  const int64_t n = end - start;
  if (n >= NT_MIN && ((uintptr_t)ds & (VW * 4 - 1)) == 0) {
    vloop(n, [&](int64_t i, int k) { put<true>(ds + i, vpass(ld(y + i, k), ld(dy + i, k)), k); });
    _mm_sfence();
  } else {
    vloop(n, [&](int64_t i, int k) { st(ds + i, vpass(ld(y + i, k), ld(dy + i, k)), k); });
  }
}

}  // namespace

KernelList family_bnfused() {
  static const Kernel k[] = {{"bnf_add_relu", 11, bnf_add_relu}, {"bnf_relu_mask", 7, bnf_relu_mask}, {"bnf_mask", 3, bnf_mask}};
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
