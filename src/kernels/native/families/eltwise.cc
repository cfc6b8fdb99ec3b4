// Memory-bound kernels over NHWC activations: the native twins of src/kernels/assembly/eltwise.ts
// (same names, arguments and work ranges; layouts and conventions as documented there).
#include "../core/kernel.h"

BNFF_BEGIN
#include "../core/vec.h"

namespace {

// relu_forward(x, y): y = max(0, x) with NaN kept, over elements [start, end).
void relu_forward(uint8_t *M, const double *a, int32_t start, int32_t end, usize) {
  const float *x = BNFF_AT(const float, a[0]);
  float *y = BNFF_AT(float, a[1]);
  int32_t i = start;
  for (; i + BNFF_VW <= end; i += BNFF_VW) vstore(y + i, vrelu(vload(x + i)));
  for (; i < end; i++) y[i] = relus(x[i]);
}

}  // namespace

KernelList family_eltwise() {
  static const Kernel k[] = {{"relu_forward", 2, relu_forward}};
  return {k, sizeof k / sizeof k[0]};
}

BNFF_END
