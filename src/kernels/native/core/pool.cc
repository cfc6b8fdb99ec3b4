#include "pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace bnff {

namespace {
const int SPIN = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline void futex_wait(std::atomic<uint32_t> *addr, uint32_t seen) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(addr), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
}

inline void futex_wake_all(std::atomic<uint32_t> *addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(addr), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}
}  // namespace

Pool::Pool(int threads) : threads_(threads) {
  for (int t = 1; t < threads; t++) workers_.emplace_back(&Pool::worker, this, t);
}

Pool::~Pool() {
  stop_.store(true);
  gen_.fetch_add(1, std::memory_order_release);
  futex_wake_all(&gen_);
  for (auto &w : workers_) w.join();
}

void Pool::worker(int t) {
  uint32_t seen = 0;
  for (;;) {
    int n = 0;
    uint32_t g;
    while ((g = gen_.load(std::memory_order_acquire)) == seen) {
      if (++n > SPIN) {
        sleepers_.fetch_add(1);
        futex_wait(&gen_, seen);
        sleepers_.fetch_sub(1);
        n = 0;
      } else {
        cpu_relax();
      }
    }
    seen = g;
    if (stop_.load()) return;
    if (chunk_ > 0) claim(t);
    else {
      int32_t s = ranges_[2 * t], e = ranges_[2 * t + 1];
      if (e > s) fn_(M_, args_, s, e, scratch_[t]);
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void Pool::start(KernelFn fn, uint8_t *M, const double *args, const int32_t *ranges, const usize *scratch) {
  fn_ = fn;
  M_ = M;
  args_ = args;
  ranges_ = ranges;
  scratch_ = scratch;
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  gen_.fetch_add(1);
  if (sleepers_.load() > 0) futex_wake_all(&gen_);
}

void Pool::join() {
  // Spin while the others finish; past SPIN rounds a worker has probably been descheduled
  // (more threads than free cores), and the caller yields its core instead of burning it.
  int n = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++n > SPIN) sched_yield();
    else cpu_relax();
  }
}

void Pool::claim(int t) {
  for (;;) {
    const int32_t s = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (s >= total_) return;
    fn_(M_, args_, s, s + chunk_ < total_ ? s + chunk_ : total_, scratch_[t]);
    if (bytes_) memcpy(M_ + slots_ + (usize)(s / chunk_) * bytes_, M_ + scratch_[t] + off_, bytes_);
  }
}

void Pool::run(KernelFn fn, uint8_t *M, const double *args, const int32_t *ranges, const usize *scratch) {
  chunk_ = 0;
  if (threads_ > 1) start(fn, M, args, ranges, scratch);
  if (ranges[1] > ranges[0]) fn(M, args, ranges[0], ranges[1], scratch[0]);
  if (threads_ > 1) join();
}

void Pool::run_chunks(KernelFn fn, uint8_t *M, const double *args, int32_t total, int32_t chunk, const usize *scratch) {
  run_chunks(fn, M, args, total, chunk, scratch, 0, 0, 0);
}

void Pool::run_chunks(KernelFn fn, uint8_t *M, const double *args, int32_t total, int32_t chunk, const usize *scratch, usize off, usize bytes, usize slots) {
  if (chunk < 1) chunk = 1;
  off_ = off;
  bytes_ = bytes;
  slots_ = slots;
  total_ = total;
  chunk_ = chunk;
  next_.store(0, std::memory_order_relaxed);
  if (threads_ > 1) start(fn, M, args, nullptr, scratch);
  else {
    fn_ = fn;
    M_ = M;
    args_ = args;
    scratch_ = scratch;
  }
  claim(0);
  if (threads_ > 1) join();
}

}  // namespace bnff
