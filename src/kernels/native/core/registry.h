// Which ISA variant of the kernels this CPU runs, and the kernels of that variant.
#pragma once
#include "kernel.h"

namespace bnff {

struct Variant {
  const char *isa;     // "avx512", "avx2"; nullptr when the CPU has none of the built variants
  const char *reason;  // why none, when isa is nullptr
};

// The best variant this CPU runs.
Variant pick_variant();
// Whether the CPU can run variant `isa`.
bool cpu_runs(const char *isa);
// Every kernel of variant `isa` (empty when it is not built).
KernelList kernels_of(const char *isa);

}  // namespace bnff
