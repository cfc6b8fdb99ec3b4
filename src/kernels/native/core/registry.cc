// Runtime dispatch: one table of kernels per ISA variant, picked once from the CPU's feature bits.
// A new ISA (NEON for aarch64) is a new namespace compiled from the same family files plus one
// branch here.
#include "registry.h"

#include <map>
#include <string>
#include <vector>

#include "families.h"

#define BNFF_DECLARE(fam) KernelList family_##fam();
namespace bnff {
#if defined(__x86_64__)
namespace avx512 { BNFF_FAMILIES(BNFF_DECLARE) }
namespace avx2 { BNFF_FAMILIES(BNFF_DECLARE) }
#endif

namespace {
std::vector<Kernel> collect(KernelList (*const *families)(), int n) {
  std::vector<Kernel> all;
  for (int i = 0; i < n; i++) {
    KernelList l = families[i]();
    all.insert(all.end(), l.items, l.items + l.count);
  }
  return all;
}
}  // namespace

bool cpu_runs(const char *isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  std::string v(isa);
  if (v == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
  if (v == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  (void)isa;
  return false;
}

Variant pick_variant() {
#if defined(__x86_64__)
  if (cpu_runs("avx512")) return {"avx512", nullptr};
  if (cpu_runs("avx2")) return {"avx2", nullptr};
  return {nullptr, "the CPU has neither AVX-512 (F, BW, VL, DQ) nor AVX2 with FMA"};
#else
  return {nullptr, "no native kernels for this architecture yet"};
#endif
}

KernelList kernels_of(const char *isa) {
  static std::map<std::string, std::vector<Kernel>> tables;
  std::string v(isa);
  auto it = tables.find(v);
  if (it == tables.end()) {
    std::vector<Kernel> t;
#if defined(__x86_64__)
#define BNFF_REF512(fam) &avx512::family_##fam,
#define BNFF_REF2(fam) &avx2::family_##fam,
    static KernelList (*const f512[])() = {BNFF_FAMILIES(BNFF_REF512)};
    static KernelList (*const f2[])() = {BNFF_FAMILIES(BNFF_REF2)};
    if (v == "avx512") t = collect(f512, sizeof f512 / sizeof f512[0]);
    if (v == "avx2") t = collect(f2, sizeof f2 / sizeof f2[0]);
#endif
    it = tables.emplace(v, std::move(t)).first;
  }
  return {it->second.data(), (int)it->second.size()};
}

}  // namespace bnff
