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

 private:
  void worker(int t);
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
};

}  // namespace bnff
