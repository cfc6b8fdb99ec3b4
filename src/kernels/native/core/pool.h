// The native engine's threads: a fork-join pool in which the caller is thread 0. Workers spin
// briefly on a generation counter and then sleep on a futex, so an idle pool costs nothing and a
// back-to-back call costs about a microsecond (docs/design/native-engine.md).
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "kernel.h"

namespace bnff {

class Pool {
 public:
  explicit Pool(int threads);
  ~Pool();
  int threads() const { return threads_; }
  // Runs fn(M, args, ranges[2t], ranges[2t+1], scratch[t]) on every thread t whose range is not
  // empty and returns when all are done.
  void run(KernelFn fn, uint8_t *M, const double *args, const int32_t *ranges, const usize *scratch);
  // Runs fn over [0, total) in chunks of `chunk` units that the threads claim in turn through an
  // atomic counter (a dynamic split: a thread that is descheduled or on a slower vCPU takes fewer
  // chunks instead of holding the others up); thread t calls fn(M, args, s, e, scratch[t]) for
  // each chunk [s, e) it claims. For kernels whose results do not depend on which thread runs a
  // chunk (no per-thread partial sums), and returns when all chunks are done.
  void run_chunks(KernelFn fn, uint8_t *M, const double *args, int32_t total, int32_t chunk, const usize *scratch);
  // The same, for kernels that leave per-call partial sums in their thread's scratch: after each
  // chunk i, the `bytes` at scratch[t] + off are copied to slots + i * bytes, so each chunk's
  // partials have their own slot whichever thread ran it (the host merges them in chunk order).
  void run_chunks(KernelFn fn, uint8_t *M, const double *args, int32_t total, int32_t chunk, const usize *scratch, usize off, usize bytes, usize slots);

 private:
  void worker(int t);
  void start(KernelFn fn, uint8_t *M, const double *args, const int32_t *ranges, const usize *scratch);
  void join();
  void claim(int t);
  int threads_;
  std::vector<std::thread> workers_;
  alignas(64) std::atomic<uint32_t> gen_{0};
  alignas(64) std::atomic<int32_t> pending_{0};
  alignas(64) std::atomic<int32_t> sleepers_{0};
  std::atomic<bool> stop_{false};
  // The current call (written by thread 0 before gen_ is bumped).
  KernelFn fn_ = nullptr;
  uint8_t *M_ = nullptr;
  const double *args_ = nullptr;
  const int32_t *ranges_ = nullptr;
  const usize *scratch_ = nullptr;
  int32_t total_ = 0, chunk_ = 0;  // chunk_ > 0: run_chunks, the next unclaimed unit in next_
  usize off_ = 0, bytes_ = 0, slots_ = 0;  // bytes_ > 0: each chunk's partials copied out
  alignas(64) std::atomic<int32_t> next_{0};
};

}  // namespace bnff
