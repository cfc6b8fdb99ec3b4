// The native kernels' side of the kernel ABI (docs/design/native-engine.md).
//
// A kernel has the same name, arguments and work split as the WebAssembly export of that name
// (src/kernels/wasm/*.ts, listed in src/kernels/abi/kernels.ts): `a` holds the arguments the
// host passes to Backend.run, in order, as doubles; pointers are byte offsets into the arena at
// `M`; [start, end) is this thread's work range and `scratch` the byte offset of its private
// scratch region (SCRATCH_BYTES long). A kernel knows nothing of threads or of JavaScript, never
// allocates, and touches only the arena. The addon checks every pointer argument against the
// arena's size before any thread runs (core/addon.cc).
//
// Each family file (families/*.cc) is compiled once per ISA (binding.gyp: kernels_avx512,
// kernels_avx2) with BNFF_NS naming the variant's namespace; everything it defines, helpers
// included, lives inside that namespace so that the variants never meet at link time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bnff {

typedef size_t usize;

typedef void (*KernelFn)(uint8_t *M, const double *a, int32_t start, int32_t end, usize scratch);

struct Kernel {
  const char *name;
  int nargs;  // arguments before start, end, scratch (as the WebAssembly export)
  KernelFn fn;
};

struct KernelList {
  const Kernel *items;
  int count;
};

}  // namespace bnff

// Memory access by byte offset, as AssemblyScript's load<T> / store<T>.
#define BNFF_AT(T, off) (reinterpret_cast<T *>(M + (usize)(off)))

// Opens and closes a family file's ISA namespace (bnff::avx512, bnff::avx2, ...).
#define BNFF_BEGIN \
  namespace bnff {  \
  namespace BNFF_NS {
#define BNFF_END \
  }              \
  }
