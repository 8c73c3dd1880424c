// The persistent thread pool behind densegrad::detail::parallel_run.
#include "densegrad/threads.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace densegrad {

namespace {

// DENSEGRAD_NUM_THREADS: a whole number from 1 to 1024, spaces around it allowed; anything else
// is ignored (the Python package warns). atoi() once read "4294967297" as 1 and "99999999999" as
// 1,215,752,191, without a word.
int default_threads() {
  if (const char* env = std::getenv("DENSEGRAD_NUM_THREADS")) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(env, &end, 10);
    const bool digits = end != env;
    while (digits && std::isspace(static_cast<unsigned char>(*end))) ++end;
    if (digits && *end == '\0' && errno == 0 && n >= 1 && n <= 1024) return static_cast<int>(n);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::atomic<int> g_num_threads{default_threads()};

class Pool {
 public:
  // Whether `workers` threads are running, starting what is missing. False when the system
  // refuses a thread (a process or memory limit): the caller then runs the parts itself.
  bool ensure(int workers) noexcept {
    try {
      grow(workers);
      return true;
    } catch (...) {  // std::system_error from std::thread, or std::bad_alloc
      return false;
    }
  }

  // Run one region on `n` threads (the caller is thread 0). Caller holds region_mutex and has
  // ensured n - 1 workers.
  void run(int n, void (*fn)(void*, int, int), void* ctx) {
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = fn;
      ctx_ = ctx;
      active_ = n;
      pending_ = n - 1;
      ++generation_;
    }
    cv_work_.notify_all();
    fn(ctx, 0, n);
    std::unique_lock<std::mutex> lk(m_);
    cv_done_.wait(lk, [&] { return pending_ == 0; });
  }

  std::mutex region_mutex;

 private:
  void grow(int workers) {
    while (static_cast<int>(threads_.size()) < workers) {
      const int id = static_cast<int>(threads_.size()) + 1;
      threads_.emplace_back([this, id] { loop(id); });
    }
  }

  void loop(int id) {
    unsigned seen = 0;
    for (;;) {
      void (*fn)(void*, int, int);
      void* ctx;
      int n;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_work_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        if (id >= active_) continue;  // not needed in this region
        fn = fn_;
        ctx = ctx_;
        n = active_;
      }
      fn(ctx, id, n);
      {
        std::lock_guard<std::mutex> lk(m_);
        if (--pending_ == 0) cv_done_.notify_one();
      }
    }
  }

  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> threads_;
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  int active_ = 0, pending_ = 0;
  unsigned generation_ = 0;
};

// The pool is created on first use and deliberately never destroyed: its workers sleep until
// the process exits. After fork() the child has none of the parent's threads, so it starts a
// new pool (the old object is abandoned, not destroyed, since its threads cannot be joined).
Pool* g_pool = nullptr;
std::mutex g_pool_mutex;

void reset_pool_in_child() { g_pool = nullptr; }

Pool& pool() {
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  if (g_pool == nullptr) {
    static bool registered = (pthread_atfork(nullptr, nullptr, reset_pool_in_child), true);
    (void)registered;
    g_pool = new Pool();
  }
  return *g_pool;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("densegrad: set_num_threads needs n >= 1, got " + std::to_string(n));
  g_num_threads.store(n);
}

int get_num_threads() { return g_num_threads.load(); }

namespace detail {

namespace {
std::atomic<long long> g_parallel_regions{0};
}  // namespace

long long parallel_regions() { return g_parallel_regions.load(std::memory_order_relaxed); }

void parallel_run(int nthreads, void (*fn)(void*, int, int), void* ctx) {
  const int n = std::max(1, std::min({nthreads, get_num_threads(), kMaxRegionThreads}));
  if (n == 1) {
    fn(ctx, 0, 1);
    return;
  }
  g_parallel_regions.fetch_add(1, std::memory_order_relaxed);
  Pool& p = pool();
  std::unique_lock<std::mutex> region(p.region_mutex, std::try_to_lock);
  // The pool busy with another caller's region, or no thread to be had (set_num_threads(n) above
  // what the system allows once ended in "Resource temporarily unavailable"): the parts run one
  // after another here, with the same results.
  if (!region.owns_lock() || !p.ensure(n - 1)) {
    for (int i = 0; i < n; ++i) fn(ctx, i, n);
    return;
  }
  p.run(n, fn, ctx);
}

}  // namespace detail
}  // namespace densegrad
