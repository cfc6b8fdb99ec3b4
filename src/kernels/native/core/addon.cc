// The Node-API surface of the native engine: a narrow boundary. JavaScript hands over the arena
// (a Float32Array view at offset 0 of its SharedArrayBuffer, the native engine's own or a shared
// WebAssembly memory's: Node-API cannot take a SharedArrayBuffer itself, and neither moves), the
// thread count, the ISA
// variant and a Float64Array control block; each call then passes a kernel index only. The
// control block (CTL_* below, mirrored in src/kernels/host/native.ts) carries the arena's current
// size, the arguments, the ranges and the scratch offsets. Every pointer argument and every
// scratch region is checked against the arena before any thread runs: a bad offset is a thrown
// error, never a fault. C++ never calls back into JavaScript.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "pool.h"
#include "registry.h"

#ifndef BNFF_SOURCE_HASH
#define BNFF_SOURCE_HASH "unknown"
#endif

namespace bnff {
namespace {

// Control block layout (float64 slots).
const int CTL_LIMIT = 0;    // arena bytes in use: every offset must lie below
const int CTL_NARGS = 1;    // arguments before start, end, scratch
const int CTL_PTRS = 2;     // bit i: argument i is a byte offset into the arena (0 = none)
const int CTL_SCRATCH_BYTES = 3;
const int CTL_CHUNK = 4;    // > 0: thread 0's range [0, total) in chunks of this many units claimed dynamically (Pool::run_chunks)
const int CTL_PART_OFF = 5;    // chunked calls, PART_BYTES > 0: each chunk's partials, PART_BYTES at this offset in the
const int CTL_PART_BYTES = 6;  // thread's scratch, copied to the arena at SLOTS + chunk * PART_BYTES
const int CTL_PART_SLOTS = 7;
const int CTL_ARGS = 8;     // MAX_ARGS slots
const int MAX_ARGS = 32;
const int CTL_RANGES = CTL_ARGS + MAX_ARGS;  // start, end per thread
const int MAX_THREADS = 64;
const int CTL_SCRATCH = CTL_RANGES + 2 * MAX_THREADS;  // scratch offset per thread
const int CTL_SLOTS = CTL_SCRATCH + MAX_THREADS;

struct Engine {
  std::unique_ptr<Pool> pool;
  uint8_t *base = nullptr;
  double *ctl = nullptr;
  napi_ref view_ref = nullptr, ctl_ref = nullptr;  // keep the buffers alive
  KernelList kernels{nullptr, 0};
  int32_t ranges[2 * MAX_THREADS];
  usize scratch[MAX_THREADS];
};

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, nullptr, "bnff native: " #call " failed"); \
      return nullptr;                                                  \
    }                                                                  \
  } while (0)

napi_value throw_msg(napi_env env, const std::string &msg) {
  napi_throw_error(env, "ERR_BNFF_NATIVE", msg.c_str());
  return nullptr;
}

napi_value str(napi_env env, const char *s) {
  napi_value v;
  if (!s) {
    napi_get_null(env, &v);
    return v;
  }
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

bool typed_data(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok || type != want) return false;
  return true;
}

std::string get_string(napi_env env, napi_value v) {
  char buf[64];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) return "";
  return std::string(buf, n);
}

// info(): { best, reason, sourceHash, runs: { avx512, avx2 } }
napi_value Info(napi_env env, napi_callback_info) {
  Variant v = pick_variant();
  napi_value o, runs, b;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_set_named_property(env, o, "best", str(env, v.isa)));
  CHECK(napi_set_named_property(env, o, "reason", str(env, v.reason)));
  CHECK(napi_set_named_property(env, o, "sourceHash", str(env, BNFF_SOURCE_HASH)));
  CHECK(napi_create_object(env, &runs));
  for (const char *isa : {"avx512", "avx2"}) {
    CHECK(napi_get_boolean(env, cpu_runs(isa), &b));
    CHECK(napi_set_named_property(env, runs, isa, b));
  }
  CHECK(napi_set_named_property(env, o, "runs", runs));
  return o;
}

// kernels(isa): [[name, nargs], ...] of the variant
napi_value Kernels(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 1) return throw_msg(env, "kernels(isa): isa missing");
  std::string isa = get_string(env, argv[0]);
  KernelList l = kernels_of(isa.c_str());
  napi_value arr;
  CHECK(napi_create_array_with_length(env, l.count, &arr));
  for (int i = 0; i < l.count; i++) {
    napi_value pair, n;
    CHECK(napi_create_array_with_length(env, 2, &pair));
    CHECK(napi_set_element(env, pair, 0, str(env, l.items[i].name)));
    CHECK(napi_create_int32(env, l.items[i].nargs, &n));
    CHECK(napi_set_element(env, pair, 1, n));
    CHECK(napi_set_element(env, arr, i, pair));
  }
  return arr;
}

void finalize_engine(napi_env env, void *data, void *) {
  Engine *e = static_cast<Engine *>(data);
  if (e->view_ref) napi_delete_reference(env, e->view_ref);
  if (e->ctl_ref) napi_delete_reference(env, e->ctl_ref);
  delete e;
}

// create(view: Float32Array at offset 0 of the arena, threads, isa, ctl: Float64Array) -> handle
napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 4) return throw_msg(env, "create(view, threads, isa, ctl): 4 arguments expected");
  void *base, *ctl;
  size_t len, clen;
  if (!typed_data(env, argv[0], napi_float32_array, &base, &len)) return throw_msg(env, "create: view must be a Float32Array");
  if (!typed_data(env, argv[3], napi_float64_array, &ctl, &clen) || clen < (size_t)CTL_SLOTS)
    return throw_msg(env, "create: ctl must be a Float64Array of " + std::to_string(CTL_SLOTS) + " slots");
  int32_t threads = 0;
  CHECK(napi_get_value_int32(env, argv[1], &threads));
  if (threads < 1 || threads > MAX_THREADS) return throw_msg(env, "create: threads must be in [1, 64]");
  std::string isa = get_string(env, argv[2]);
  if (!cpu_runs(isa.c_str())) return throw_msg(env, "create: this CPU cannot run the " + isa + " kernels");
  KernelList l = kernels_of(isa.c_str());
  if (l.count == 0) return throw_msg(env, "create: no kernels built for " + isa);
  Engine *e = new Engine();
  e->base = static_cast<uint8_t *>(base);
  e->ctl = static_cast<double *>(ctl);
  e->kernels = l;
  e->pool.reset(new Pool(threads));
  napi_create_reference(env, argv[0], 1, &e->view_ref);
  napi_create_reference(env, argv[3], 1, &e->ctl_ref);
  napi_value handle;
  CHECK(napi_create_external(env, e, finalize_engine, nullptr, &handle));
  return handle;
}

// run(handle, index): runs kernel `index` with the control block's arguments and ranges.
napi_value Run(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void *data = nullptr;
  if (argc < 2 || napi_get_value_external(env, argv[0], &data) != napi_ok || !data) return throw_msg(env, "run: bad engine handle");
  Engine *e = static_cast<Engine *>(data);
  int32_t fi = -1;
  CHECK(napi_get_value_int32(env, argv[1], &fi));
  if (fi < 0 || fi >= e->kernels.count) return throw_msg(env, "run: no kernel #" + std::to_string(fi));
  const Kernel &k = e->kernels.items[fi];
  const double *c = e->ctl;
  const double limit = c[CTL_LIMIT];
  const int nargs = (int)c[CTL_NARGS];
  if (nargs != k.nargs)
    return throw_msg(env, std::string("kernel ") + k.name + ": " + std::to_string(nargs) + " arguments given, its ABI has " +
                              std::to_string(k.nargs));
  const uint32_t ptrs = (uint32_t)c[CTL_PTRS];
  for (int i = 0; i < nargs; i++) {
    double v = c[CTL_ARGS + i];
    if (!std::isfinite(v)) return throw_msg(env, std::string("kernel ") + k.name + ": argument " + std::to_string(i) + " is not finite");
    if ((ptrs >> i) & 1) {
      if (v < 0 || v >= limit || v != std::floor(v)) {
        char buf[256];
        snprintf(buf, sizeof buf, "kernel %s: argument %d (byte offset %.0f) lies outside the arena (%.0f bytes)", k.name, i, v, limit);
        return throw_msg(env, buf);
      }
    }
  }
  const int T = e->pool->threads();
  const double sb = c[CTL_SCRATCH_BYTES];
  for (int t = 0; t < T; t++) {
    double s = c[CTL_RANGES + 2 * t], en = c[CTL_RANGES + 2 * t + 1], sc = c[CTL_SCRATCH + t];
    if (!(s >= 0 && en <= 2147483647.0 && s <= 2147483647.0) || !(sc > 0 && sc + sb <= limit))
      return throw_msg(env, std::string("kernel ") + k.name + ": bad range or scratch region for thread " + std::to_string(t));
    e->ranges[2 * t] = (int32_t)s;
    e->ranges[2 * t + 1] = (int32_t)en;
    e->scratch[t] = (usize)sc;
  }
  const double chunk = c[CTL_CHUNK];
  if (chunk > 0) {
    if (e->ranges[0] != 0 || !(chunk <= 2147483647.0) || chunk != std::floor(chunk))
      return throw_msg(env, std::string("kernel ") + k.name + ": a chunked call takes the range [0, total) and a whole chunk size");
    const double off = c[CTL_PART_OFF], pb = c[CTL_PART_BYTES], slots = c[CTL_PART_SLOTS];
    const double nch = std::ceil(e->ranges[1] / chunk);
    if (!(pb >= 0 && off >= 0 && off + pb <= sb && slots >= 0 && (pb == 0 || (slots > 0 && slots + nch * pb <= limit))) || pb != std::floor(pb) ||
        off != std::floor(off) || slots != std::floor(slots))
      return throw_msg(env, std::string("kernel ") + k.name + ": bad partials region of a chunked call");
    e->pool->run_chunks(k.fn, e->base, c + CTL_ARGS, e->ranges[1], (int32_t)chunk, e->scratch, (usize)off, (usize)pb, (usize)slots);
  } else e->pool->run(k.fn, e->base, c + CTL_ARGS, e->ranges, e->scratch);
  return nullptr;
}

// destroy(handle): stops the engine's threads (the handle must not run again).
napi_value Destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void *data = nullptr;
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || !data) return throw_msg(env, "destroy: bad engine handle");
  Engine *e = static_cast<Engine *>(data);
  e->pool.reset(new Pool(1));
  return nullptr;
}

#ifdef __linux__
// Whether [lo, hi) lies inside one private anonymous read-write mapping of this process
// (/proc/self/maps): the only memory noreserve() may replace.
bool inside_anonymous_mapping(uintptr_t lo, uintptr_t hi) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return false;
  char line[512];
  bool ok = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long start = 0, end = 0, inode = 0;
    char perms[8] = {0};
    if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &start, &end, perms, &inode) != 4) continue;
    if (lo >= start && lo < end) {
      ok = hi <= end && strcmp(perms, "rw-p") == 0 && inode == 0;
      break;
    }
  }
  fclose(f);
  return ok;
}
#endif

// pageOffset(view: Float32Array) -> number: the address of the view's first float modulo 4096.
// A SharedArrayBuffer's memory need not start a page, nor a cache line (glibc's large blocks
// start 16 bytes into their mapping): the native arena starts its reservations where the pages
// do, so that the 64-byte alignment of its offsets is the memory's (src/runtime/native.ts).
napi_value PageOffset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  bool is = false;
  napi_typedarray_type type;
  size_t len = 0, off = 0;
  void *data = nullptr;
  napi_value ab;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &off) != napi_ok || type != napi_float32_array)
    return throw_msg(env, "pageOffset: a Float32Array expected");
  napi_value result;
  CHECK(napi_create_int32(env, static_cast<int32_t>(reinterpret_cast<uintptr_t>(data) & 4095), &result));
  return result;
}

// noreserve(view: Float32Array at offset 0 of a SharedArrayBuffer not yet written, bytes: its
// byteLength) -> boolean. Maps the whole pages of the buffer afresh with MAP_NORESERVE (zero
// pages, as the fresh buffer holds): Linux then charges them to the commit accounting only as
// they are touched, not when the process forks. Without it an arena as large as the machine's
// memory, or two merged into one mapping, makes every fork() of the process (child_process
// spawn) fail with ENOMEM under the default heuristic overcommit. False where not done (other
// systems, buffers under 64 MiB).
napi_value NoReserve(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 2) return throw_msg(env, "noreserve(view, bytes): 2 arguments expected");
  bool is = false;
  napi_typedarray_type type;
  size_t len = 0, off = 0;
  void *base = nullptr;
  napi_value ab;
  if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is || napi_get_typedarray_info(env, argv[0], &type, &len, &base, &ab, &off) != napi_ok ||
      type != napi_float32_array || off != 0)
    return throw_msg(env, "noreserve: view must be a Float32Array at offset 0 of the arena");
  double bytes = 0;
  CHECK(napi_get_value_double(env, argv[1], &bytes));
  napi_value result;
#ifdef __linux__
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(base);
  const uintptr_t lo = (b + page - 1) & ~(page - 1);
  const uintptr_t hi = (b + static_cast<uintptr_t>(bytes)) & ~(page - 1);
  if (!(bytes >= double(64 << 20)) || !(bytes < 0x1p56) || hi <= lo) {
    CHECK(napi_get_boolean(env, false, &result));
    return result;
  }
  if (!inside_anonymous_mapping(lo, hi)) return throw_msg(env, "noreserve: the arena is not one private anonymous mapping of this process");
  void *r = mmap(reinterpret_cast<void *>(lo), hi - lo, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) return throw_msg(env, std::string("noreserve: mmap failed: ") + strerror(errno));
  CHECK(napi_get_boolean(env, true, &result));
#else
  (void)base;
  (void)bytes;
  CHECK(napi_get_boolean(env, false, &result));
#endif
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"kernels", nullptr, Kernels, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"create", nullptr, Create, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run", nullptr, Run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"destroy", nullptr, Destroy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"noreserve", nullptr, NoReserve, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pageOffset", nullptr, PageOffset, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value ctl_slots;
  napi_create_int32(env, CTL_SLOTS, &ctl_slots);
  napi_set_named_property(env, exports, "ctlSlots", ctl_slots);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace
}  // namespace bnff

NAPI_MODULE(NODE_GYP_MODULE_NAME, bnff::Init)
