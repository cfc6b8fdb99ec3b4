// The kernel families, one line each: X(family). Each family file defines, in each ISA namespace,
// `KernelList family_<name>()` (the kernels it provides). Add a line here when adding a family.
#pragma once
#define BNFF_FAMILIES(X) \
  X(eltwise)             \
  X(bnfused)             \
  X(gemm)                \
  X(winograd)            \
  X(gemm_w)              \
  X(depthwise)           \
  X(bench)
