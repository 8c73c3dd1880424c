// Threads used by the kernels. One persistent pool of std::threads (no OpenMP: PyTorch ships
// its own libgomp, and two OpenMP runtimes in one process fight over the cores). Workers sleep
// on a condition variable between calls (no busy-waiting), and a kernel only splits its work
// when it is large enough to pay for waking them (see parallel_min_work).
#pragma once

namespace densegrad {

// Number of threads the kernels may use (>= 1; one parallel region uses at most
// detail::kMaxRegionThreads of them). The default is the machine's hardware concurrency, or the
// DENSEGRAD_NUM_THREADS environment variable when it holds a whole number from 1 to 1024.
void set_num_threads(int n);
int get_num_threads();

namespace detail {

// The most threads one region runs on, whatever set_num_threads says: set_num_threads(2000) once
// made an SGD update of 2^21 parameters start 2000 threads (20x slower than 2).
constexpr int kMaxRegionThreads = 64;

// Runs fn(ctx, i, n) for i in [0, n) with n = min(nthreads, get_num_threads(), 64), one call per
// thread, the caller's thread taking i = 0; returns when all are done. If another parallel
// region is already running (kernels called from several Python threads at once), the calls
// run one after another on the caller's thread instead of waiting for the pool. No allocation.
void parallel_run(int nthreads, void (*fn)(void* ctx, int i, int n), void* ctx);

// How many regions parallel_run has split into more than one part since the process started (for
// tests: whether a kernel split its work, whatever the thread count did to the results).
long long parallel_regions();

}  // namespace detail
}  // namespace densegrad
