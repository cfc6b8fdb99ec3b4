{
  # The native engine (docs/design/native-engine.md), built by tools/build-native.mjs during
  # `npm install` (never failing the install). The kernel families are compiled once per ISA
  # variant into static libraries; the addon picks one at run time from the CPU's feature bits.
  "variables": {
    "kernel_flags": ["-O3", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-function"],
  },
  "targets": [
    {
      "target_name": "bnff_native",
      "sources": ["src/kernels/native/core/addon.cc", "src/kernels/native/core/pool.cc", "src/kernels/native/core/registry.cc"],
      "defines": ["NAPI_VERSION=8", "BNFF_SOURCE_HASH=\"<!(node tools/native-sources.mjs --hash)\""],
      "cflags_cc": ["-O2", "-std=gnu++17", "-Wall"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["kernels_avx512", "kernels_avx2"] }],
      ],
    },
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "kernels_avx512",
          "type": "static_library",
          "sources": ["<!@(node tools/native-sources.mjs families)"],
          "defines": ["BNFF_NS=avx512"],
          "cflags_cc": ["<@(kernel_flags)", "-std=gnu++17", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
        },
        {
          "target_name": "kernels_avx2",
          "type": "static_library",
          "sources": ["<!@(node tools/native-sources.mjs families)"],
          "defines": ["BNFF_NS=avx2"],
          "cflags_cc": ["<@(kernel_flags)", "-std=gnu++17", "-mavx2", "-mfma"],
        },
      ],
    }],
  ],
}
