// gemm(): a packed, cache-blocked GEMM in the BLIS shape.
//
//   for jc (nc columns of C; B block kc x nc packed for L3)
//     for pc (kc of the k dimension)
//       pack B[pc:pc+kc, jc:jc+nc] into nr-wide panels (zero-padded)
//       for ic (mc rows; A block mc x kc packed for L2)
//         pack A[ic:ic+mc, pc:pc+kc] into mr-tall panels (zero-padded)
//         for jr, ir: micro-kernel on one mr x nr tile (panels stream through L1)
//
// Packing reads op(A) and op(B) directly, so no transpose is ever materialised. The
// micro-kernel is picked once at run time: AVX-512 (gemm_avx512.cpp, 8 x 32 floats) or AVX2+FMA
// (gemm_avx2.cpp, 6 x 16) when the CPU has it, otherwise a portable one compiled with the
// baseline flags. An optional epilogue (bias, activation, keeping the pre-activation) runs on
// each tile right after its last k block, while the tile is still in L1 -- this is how
// dense_forward fuses its bias and activation.
// Threads split the rows or the columns of C, never k, so every element is summed in the same
// order whatever the thread count: results are bitwise independent of it.
//
// The dense forward of 1-4 rows into more than 16 outputs reads B in place (rows_tb). Small
// products (m * n * k <= small_max_work(), AVX2 and AVX-512 kernels), and narrow ones
// (n <= 16) that would run on one thread, skip the packing (gemm_runs_unpacked): the AVX2
// register tile reads A and B in place (small_product here, the kernels in gemm_avx2.cpp), with
// the same k blocks, summation order and rounding, so their results are bitwise the packed
// path's. The AVX-512 kernel's tile is larger, so its edge tiles differ, and it takes this path
// only where edge and full tiles round alike (alpha 1, or beta 0 in one k block: see
// small_any_scale); elsewhere it packs.
#include "densegrad/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "densegrad/threads.hpp"
#include "microkernel.hpp"
#include "optim_kernels.hpp"

namespace densegrad {

namespace detail {

namespace {

// The size of the k blocks every path cuts k into: equal blocks of at most kc (784 = 4 x 196, not
// 3 x 256 + 16: a thin last block would pay a full pass over C for little work). Every path uses
// these blocks, so every path forms the same sums.
Index k_block(Index k, Index kc) {
  const Index blocks = (k + kc - 1) / kc;
  return (k + blocks - 1) / blocks;
}

// The portable micro-kernel: plain loops over an MR x NR accumulator block, which the compiler
// vectorises for the baseline instruction set.
template <typename T, int MR, int NR>
void ukr_generic(Index kc, const T* a, const T* b, T* c, Index ldc, T alpha, T beta) {
  // Zeroed by an unrolled loop: `= {}` made GCC 12 also zero a stack copy with `rep stos` on
  // every call (the accumulators themselves live in registers).
  T acc[MR][NR];
#pragma GCC unroll 64
  for (int i = 0; i < MR * NR; ++i) acc[i / NR][i % NR] = T(0);
  for (Index p = 0; p < kc; ++p) {
    const T* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      const T ai = a[p * MR + i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      c[i * ldc + j] = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

constexpr KernelInfo<float> kGenericF{ukr_generic<float, 4, 8>, 4, 8, 256, 128, 2048, "generic"};
constexpr KernelInfo<double> kGenericD{ukr_generic<double, 4, 4>, 4, 4, 256, 128, 1024, "generic"};
#if defined(DENSEGRAD_X86)
constexpr KernelInfo<float> kAvx2F{sgemm_ukr_avx2_6x16, 6, 16, 256, 120, 3072, "avx2-fma",
                                   pack_a_rows6_avx2, pack_b_trans16_avx2, sgemm_small_avx2,
                                   transpose_avx2, true, sgemm_rows_tb_avx2, sgemm_ukr_ep_avx2};
constexpr KernelInfo<double> kAvx2D{dgemm_ukr_avx2_6x8, 6, 8, 256, 96, 2048, "avx2-fma",
                                    pack_a_rows6d_avx2, pack_b_trans8d_avx2, dgemm_small_avx2,
                                    transpose_avx2, true, dgemm_rows_tb_avx2, dgemm_ukr_ep_avx2};
// AVX-512: kAvx512MR x 32 floats (16 doubles), and the AVX2 kernel's k blocks (kc 256): every
// element is then summed and rounded as on the AVX2 kernel wherever alpha == 1 (all the library's
// own products), so results do not change between AVX2 and AVX-512 CPUs (tested). kc 128, which
// keeps the 32-wide B panel in a 32 KB L1, ran the micro-kernel faster alone but the large
// products no faster. Small products use the AVX2 small kernels (every AVX-512 CPU has AVX2),
// where they round as this tile does (see small_any_scale).
constexpr KernelInfo<float> kAvx512F{sgemm_ukr_avx512, kAvx512MR, 32, 256, 128, 3072, "avx512",
                                     pack_a_rows_avx512, pack_b_trans32_avx2, sgemm_small_avx2,
                                     transpose_avx2, false, sgemm_rows_tb_avx512, sgemm_ukr_ep_avx512};
constexpr KernelInfo<double> kAvx512D{dgemm_ukr_avx512, kAvx512MR, 16, 256, 128, 2048, "avx512",
                                      pack_a_rowsd_avx512, pack_b_trans16d_avx512, dgemm_small_avx2,
                                      transpose_avx2, false, dgemm_rows_tb_avx512, dgemm_ukr_ep_avx512};
#endif
// rows_tb cuts k as the packed path does (k_block: equal blocks of at most the kernel's kc); the
// AVX2 one holds a block in a buffer of kRowsTbMaxK (runs_rows_tb checks it too, for any kernel;
// the AVX-512 one falls back to it).
#if defined(DENSEGRAD_X86)
static_assert(kAvx2F.kc <= kRowsTbMaxK && kAvx2D.kc <= kRowsTbMaxK && kAvx512F.kc <= kRowsTbMaxK &&
                  kAvx512D.kc <= kRowsTbMaxK,
              "rows_tb's k blocks are at most kRowsTbMaxK");
#endif

bool cpu_has_avx2_fma() {
#if defined(DENSEGRAD_X86) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// AVX-512F (which the CPU check reports only where the OS saves the 512-bit registers) on top
// of AVX2 + FMA, which the small products use.
bool cpu_has_avx512() {
#if defined(DENSEGRAD_X86) && defined(__GNUC__)
  return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

// 0: generic, 1: avx2-fma, 2: avx512. Chosen once from the CPU (DENSEGRAD_KERNEL=generic or
// avx2-fma caps it); set_gemm_kernel() switches it, which the tests use to run each.
int initial_kernel() {
  const char* env = std::getenv("DENSEGRAD_KERNEL");
  if (env != nullptr && std::string(env) == "generic") return 0;
  if (!cpu_has_avx2_fma()) return 0;
  if (env != nullptr && std::string(env) == "avx2-fma") return 1;
  return cpu_has_avx512() ? 2 : 1;
}
std::atomic<int> g_kernel{initial_kernel()};

template <typename T> const KernelInfo<T>& kernel();
template <> const KernelInfo<float>& kernel<float>() {
#if defined(DENSEGRAD_X86)
  switch (g_kernel.load(std::memory_order_relaxed)) {
    case 1: return kAvx2F;
    case 2: return kAvx512F;
  }
#endif
  return kGenericF;
}
template <> const KernelInfo<double>& kernel<double>() {
#if defined(DENSEGRAD_X86)
  switch (g_kernel.load(std::memory_order_relaxed)) {
    case 1: return kAvx2D;
    case 2: return kAvx512D;
  }
#endif
  return kGenericD;
}

// ---- packing ----------------------------------------------------------------------------------

// Rows of this many k steps are copied into every panel before the next rows: the source lines
// (op(A) transposed, op(B) not) are then used whole while they are in L1, and each panel gets a
// contiguous run of writes. See pack_b. 8, not 16: rows a multiple of 4 KB apart share an L1 set
// of 8 ways. Whole-process pairs (AVX-512 kernel, one thread): the 256 x 1024 x 1024 product with
// a non-transposed B (a large layer's dx) 0.98x the time, the large training step 0.99x, the
// medium step and its products 1.00x; 4 rows gained nothing more.
constexpr Index kPackRows = 8;

// Panels of mr rows of op(A)[i0:i0+mc, p0:p0+kc]: ap[(ir / mr) * mr * kc + p * mr + i].
// A non-transposed A is read as mr parallel row streams, panel by panel; a transposed A (the mr
// values of one k step are contiguous) kPackRows k steps at a time across all panels.
template <typename T>
void pack_a(T* ap, const T* a, Index lda, bool trans, Index i0, Index mc, Index p0, Index kc, Index mr,
            Packer<T> fast) {
  if (trans) {  // op(A)(i, p) = a[p * lda + i]
    for (Index pp = 0; pp < kc; pp += kPackRows) {
      const Index pe = std::min(kc, pp + kPackRows);
      for (Index ir = 0; ir < mc; ir += mr) {
        const Index rows = std::min(mr, mc - ir);
        for (Index p = pp; p < pe; ++p) {
          T* d = ap + ir * kc + p * mr;
          const T* src = a + (p0 + p) * lda + i0 + ir;
          if (rows == 6)
            std::memcpy(d, src, 6 * sizeof(T));  // constant size: a couple of vector moves
          else if (rows == kAvx512MR)
            std::memcpy(d, src, kAvx512MR * sizeof(T));
          else
            for (Index i = 0; i < rows; ++i) d[i] = src[i];
          for (Index i = rows; i < mr; ++i) d[i] = T(0);
        }
      }
    }
    return;
  }
  for (Index ir = 0; ir < mc; ir += mr) {  // op(A)(i, p) = a[i * lda + p]
    const Index rows = std::min(mr, mc - ir);
    T* dst = ap + ir * kc;
    if (rows == mr && fast != nullptr) {
      fast(dst, a + (i0 + ir) * lda + p0, lda, kc);
      continue;
    }
    for (Index p = 0; p < kc; ++p) {
      T* d = dst + p * mr;
      for (Index i = 0; i < rows; ++i) d[i] = a[(i0 + ir + i) * lda + p0 + p];
      for (Index i = rows; i < mr; ++i) d[i] = T(0);
    }
  }
}

// Rows [pp, pe) of one full panel of a non-transposed B: dst[p * NR + j] = src[p * ldb + j].
template <typename T, int NR>
void copy_panel_rows(T* dst, const T* src, Index ldb, Index pp, Index pe) {
  for (Index p = pp; p < pe; ++p) std::memcpy(dst + p * NR, src + p * ldb, NR * sizeof(T));
}

// Panels of nr columns of op(B)[p0:p0+kc, j0:j0+nc]: bp[(jr / nr) * nr * kc + p * nr + j].
// A transposed B (the dense forward's w) is read as nr row streams, panel by panel; a
// non-transposed one kPackRows rows at a time across all panels.
template <typename T>
void pack_b(T* bp, const T* b, Index ldb, bool trans, Index p0, Index kc, Index j0, Index nc, Index nr,
            Packer<T> fast) {
  if (!trans) {
    // op(B)(p, j) = b[p * ldb + j]: kPackRows rows of B at a time, copied into every panel.
    // Walking panel by panel over all kc rows would touch kc rows far apart per panel (TLB
    // misses on wide matrices); scattering one row at a time over the panels (nr elements
    // into each) took 1.3x as long as this in a C++ loop of 256 x 1024 packs from cache.
    const Index full = nc / nr * nr;
    const T* src = b + p0 * ldb + j0;
    for (Index pp = 0; pp < kc; pp += kPackRows) {
      const Index pe = std::min(kc, pp + kPackRows);
      Index jr = 0;
      if (nr == 32) {
        for (; jr < full; jr += 32) copy_panel_rows<T, 32>(bp + jr * kc, src + jr, ldb, pp, pe);
      } else if (nr == 16) {
        for (; jr < full; jr += 16) copy_panel_rows<T, 16>(bp + jr * kc, src + jr, ldb, pp, pe);
      } else if (nr == 8) {
        for (; jr < full; jr += 8) copy_panel_rows<T, 8>(bp + jr * kc, src + jr, ldb, pp, pe);
      } else if (nr == 4) {
        for (; jr < full; jr += 4) copy_panel_rows<T, 4>(bp + jr * kc, src + jr, ldb, pp, pe);
      }
      for (; jr < nc; jr += nr) {
        const Index cols = std::min(nr, nc - jr);
        for (Index p = pp; p < pe; ++p) {
          T* d = bp + jr * kc + p * nr;
          for (Index j = 0; j < cols; ++j) d[j] = src[p * ldb + jr + j];
          for (Index j = cols; j < nr; ++j) d[j] = T(0);
        }
      }
    }
    return;
  }
  for (Index jr = 0; jr < nc; jr += nr) {
    const Index cols = std::min(nr, nc - jr);
    T* dst = bp + jr * kc;
    // op(B)(p, j) = b[j * ldb + p]: walk p, gathering one value from each of nr rows
    const T* src = b + (j0 + jr) * ldb + p0;
    if (cols == nr && fast != nullptr) {
      fast(dst, src, ldb, kc);
    } else if (cols == nr) {
      for (Index p = 0; p < kc; ++p, dst += nr)
        for (Index j = 0; j < nr; ++j) dst[j] = src[j * ldb + p];
    } else {
      for (Index p = 0; p < kc; ++p, dst += nr) {
        for (Index j = 0; j < cols; ++j) dst[j] = src[j * ldb + p];
        for (Index j = cols; j < nr; ++j) dst[j] = T(0);
      }
    }
  }
}

// ---- the blocked loops over one rectangle of C ------------------------------------------------

template <typename T>
struct GemmTask {
  const KernelInfo<T>* K;
  bool ta, tb;
  Index m, n, k;
  T alpha;
  const T* a;
  Index lda;
  const T* b;
  Index ldb;
  T beta;
  T* c;
  Index ldc;
  const Epilogue<T>* ep;
  bool split_rows;  // threads split the rows (else the columns) of C
};

// One activation per instantiation, so the loops have no switch in them and vectorise.
template <typename T, Activation A>
void epilogue_rows(const Epilogue<T>& ep, T* c, Index ldc, Index i0, Index j0, Index rows, Index cols) {
  const T* bias = ep.bias != nullptr ? ep.bias + j0 : nullptr;
  const T slope = ep.slope;
  for (Index i = 0; i < rows; ++i) {
    T* ci = c + (i0 + i) * ldc + j0;
    T* yi = ep.y + (i0 + i) * ep.ldy + j0;
    if (bias != nullptr)
#pragma omp simd
      for (Index j = 0; j < cols; ++j) ci[j] += bias[j];
    if (yi == ci) {  // no pre-activation kept: activate in place
#pragma omp simd
      for (Index j = 0; j < cols; ++j) ci[j] = activation_forward(A, ci[j], slope);
    } else {
#pragma omp simd
      for (Index j = 0; j < cols; ++j) yi[j] = activation_forward(A, ci[j], slope);
    }
  }
}

template <typename T>
void apply_epilogue(const Epilogue<T>& ep, T* c, Index ldc, Index i0, Index j0, Index rows, Index cols) {
  switch (ep.act) {
    case Activation::Identity: return epilogue_rows<T, Activation::Identity>(ep, c, ldc, i0, j0, rows, cols);
    case Activation::Relu: return epilogue_rows<T, Activation::Relu>(ep, c, ldc, i0, j0, rows, cols);
    case Activation::LeakyRelu: return epilogue_rows<T, Activation::LeakyRelu>(ep, c, ldc, i0, j0, rows, cols);
    case Activation::Sigmoid: return epilogue_rows<T, Activation::Sigmoid>(ep, c, ldc, i0, j0, rows, cols);
    case Activation::Tanh: return epilogue_rows<T, Activation::Tanh>(ep, c, ldc, i0, j0, rows, cols);
  }
}

template <typename T>
T* align64(T* p) {
  return reinterpret_cast<T*>((reinterpret_cast<std::uintptr_t>(p) + 63) & ~std::uintptr_t(63));
}

// Rows [i_lo, i_hi) x columns [j_lo, j_hi) of C. Packing buffers are per thread (thread_local),
// allocated on first use and reused: a steady state of calls allocates nothing.
template <typename T>
void gemm_block(const GemmTask<T>& t, Index i_lo, Index i_hi, Index j_lo, Index j_hi) {
  const KernelInfo<T>& K = *t.K;
  const Index MR = K.mr, NR = K.nr;
  thread_local std::vector<T> abuf, bbuf;
  const Index kc_max = k_block(t.k, K.kc);
  const Index mc_max = std::min(K.mc, i_hi - i_lo), nc_max = std::min(K.nc, j_hi - j_lo);
  // + 8: a fast A packer may write a few elements past the last panel
  const std::size_t a_need = std::size_t(((mc_max + MR - 1) / MR) * MR * kc_max + 8);
  const std::size_t b_need = std::size_t(((nc_max + NR - 1) / NR) * NR * kc_max);
  // The panels start on a 64-byte boundary: a B panel row is one or two cache lines, read whole
  // by each vector load of the micro-kernel (a load across two lines costs two).
  constexpr std::size_t pad = 64 / sizeof(T);
  if (abuf.size() < a_need + pad) abuf.resize(a_need + pad);
  if (bbuf.size() < b_need + pad) bbuf.resize(b_need + pad);
  T* const apack = align64(abuf.data());
  T* const bpack = align64(bbuf.data());
  alignas(64) T tile[kMaxTile];  // for edge tiles
  // The epilogue in the micro-kernel's registers, for the full tiles of the last k block, where
  // the kernel has that entry (AVX-512, AVX2) and the epilogue works on C in place with an
  // activation it has (1 identity, 2 relu, 3 leaky relu; sigmoid and tanh call the C library's
  // exp and tanh, so they keep the separate pass). Whole-process pairs of the medium SGD step (C++
  // loop, one thread, Zen 4) against the separate pass: AVX-512 0.983x and 0.991x the time (21
  // pairs each), the large step 1.02x (7 pairs, within the noise); AVX2 (DENSEGRAD_KERNEL=
  // avx2-fma on the same machine) medium 0.992x and 0.995x, large 0.988x.
  int ep_act = 0;
  if (t.ep != nullptr && K.ukr_ep != nullptr && t.ep->y == t.c && t.ep->ldy == t.ldc)
    ep_act = t.ep->act == Activation::Identity ? 1 : t.ep->act == Activation::Relu ? 2
             : t.ep->act == Activation::LeakyRelu ? 3 : 0;

  for (Index jc = j_lo; jc < j_hi; jc += K.nc) {
    const Index nc = std::min(K.nc, j_hi - jc);
    for (Index pc = 0; pc < t.k; pc += kc_max) {
      const Index kc = std::min(kc_max, t.k - pc);
      const bool first = pc == 0, last = pc + kc == t.k;
      const T beta = first ? t.beta : T(1);
      pack_b(bpack, t.b, t.ldb, t.tb, pc, kc, jc, nc, NR, K.pack_b_trans);
      for (Index ic = i_lo; ic < i_hi; ic += K.mc) {
        const Index mc = std::min(K.mc, i_hi - ic);
        pack_a(apack, t.a, t.lda, t.ta, ic, mc, pc, kc, MR, K.pack_a_rows);
        for (Index jr = 0; jr < nc; jr += NR) {
          const Index cols = std::min(NR, nc - jr);
          const T* bp = bpack + jr * kc;
          for (Index ir = 0; ir < mc; ir += MR) {
            const Index rows = std::min(MR, mc - ir);
            const T* ap = apack + ir * kc;
            T* cij = t.c + (ic + ir) * t.ldc + jc + jr;
            if (rows == MR && cols == NR && last && ep_act != 0) {
              K.ukr_ep(kc, ap, bp, cij, t.ldc, t.alpha, beta, t.ep->bias != nullptr ? t.ep->bias + jc + jr : nullptr,
                       ep_act, t.ep->slope);
              continue;
            }
            if (rows == MR && cols == NR) {
              K.ukr(kc, ap, bp, cij, t.ldc, t.alpha, beta);
            } else {  // edge tile: compute the whole tile aside, merge the valid part
              K.ukr(kc, ap, bp, tile, NR, t.alpha, T(0));
              for (Index i = 0; i < rows; ++i)
                for (Index j = 0; j < cols; ++j) {
                  T& ce = cij[i * t.ldc + j];
                  ce = beta == T(0) ? tile[i * NR + j] : tile[i * NR + j] + beta * ce;
                }
            }
            if (last && t.ep != nullptr) apply_epilogue(*t.ep, t.c, t.ldc, ic + ir, jc + jr, rows, cols);
          }
        }
      }
    }
  }
}

template <typename T>
void gemm_thread(void* ctx, int i, int n) {
  const GemmTask<T>& t = *static_cast<const GemmTask<T>*>(ctx);
  // Split the rows (or columns) into n parts on tile boundaries.
  const Index unit = t.split_rows ? t.K->mr : t.K->nr;
  const Index total = t.split_rows ? t.m : t.n;
  const Index units = (total + unit - 1) / unit;
  const Index lo = std::min(total, (units * i / n) * unit), hi = std::min(total, (units * (i + 1) / n) * unit);
  if (lo >= hi) return;
  if (t.split_rows)
    gemm_block(t, lo, hi, 0, t.n);
  else
    gemm_block(t, 0, t.m, lo, hi);
}

}  // namespace

// For the optimizers, which pick their loops with the kernel (optim_kernels.hpp).
int active_kernel() { return g_kernel.load(std::memory_order_relaxed); }

// Work (m * n * k multiply-adds) below which a GEMM runs on one thread, set where 2 threads
// stopped losing on every machine this was measured on (`bench/run.py --only threads`, and the
// two alternating call by call; bench/README.md). 2-vCPU machines, 2 threads against 1: an AMD
// EPYC (Zen 3; waking the worker ~17 us) 0.95x at 128^3 (2.1M), 1.51x at 192^3 (7.1M); an Intel
// Xeon 0.76x at 128^3, 1.02x at 192^3; an AMD EPYC (Zen 4; ~50-60 us) 0.76-0.79x at 4.1-4.2M,
// 0.98-1.09x at 192^3, 1.26x at 128 x 256 x 256 (8.4M = 2^23).
namespace {
std::atomic<Index> g_parallel_min_work{Index(1) << 23};
}  // namespace

// Work (m * n * k) up to which a product runs unpacked (small_product): 2^17. Measured with
// `bench/run.py --only small` (packed and unpacked side by side, the run in bench/README.md):
// unpacked is faster on every listed product up to 110,592 (48^3) in both dtypes; at 262,144 the
// forward product (transposed B, copied first) is even (0.97-0.99x). The unpacked path re-reads
// B from cache for every 6 rows of C, where the packed path keeps one panel in L1 for all rows.
namespace {
std::atomic<Index> g_small_max_work{Index(1) << 17};
}  // namespace

Index small_max_work() { return g_small_max_work.load(std::memory_order_relaxed); }

void set_small_max_work(Index work) {
  DENSEGRAD_CHECK(work >= 0, "small_max_work must be >= 0, got " + std::to_string(work));
  g_small_max_work.store(work);
}

Index parallel_min_work() { return g_parallel_min_work.load(std::memory_order_relaxed); }

void set_parallel_min_work(Index work) {
  DENSEGRAD_CHECK(work >= 0, "parallel_min_work must be >= 0, got " + std::to_string(work));
  g_parallel_min_work.store(work);
}

// Small products skip the packing: at the seed and tiny networks' sizes, packing and edge tiles
// cost more than the multiply-adds. A transposed B (the forward's w) is copied into a per-thread
// buffer in the non-transposed layout first, one k block at a time (k * n copies, 8 x 8 blocks
// in registers, for m * n * k multiply-adds). k is cut into the same blocks as in gemm_block, so
// the result is bitwise the packed path's.
namespace {

template <typename T>
void small_product(const KernelInfo<T>& K, bool ta, bool tb, Index m, Index n, Index k, T alpha, const T* a,
                   Index lda, const T* b, Index ldb, T beta, T* c, Index ldc) {
  const Index kc_max = k_block(k, K.kc);
  // One k block of a transposed B at a time: the buffer stays at kc x n (a narrow product's B
  // can be as large as any weight matrix).
  thread_local std::vector<T> bt;  // grows to the largest block seen, then reused
  if (tb && bt.size() < std::size_t(kc_max * n)) bt.resize(std::size_t(kc_max * n));
  for (Index pc = 0; pc < k; pc += kc_max) {
    const Index kc = std::min(kc_max, k - pc);
    const T* bk = b + pc * ldb;
    Index ldbk = ldb;
    if (tb) {
      K.transpose(bt.data(), n, b + pc, ldb, n, kc);  // bt (kc x n) = B[:, pc:pc+kc]^T, B being n x k
      bk = bt.data();
      ldbk = n;
    }
    K.small(ta, m, n, kc, alpha, ta ? a + pc * lda : a + pc, lda, bk, ldbk, pc == 0 ? beta : T(1), c, ldc);
  }
}

// The dense forward of a few rows (m <= kRowsTbMaxM, a transposed B, n > 16, alpha 1, beta 0 or
// 1) on the AVX2 and AVX-512 kernels: rows_tb reads B in place, where the packed path would pack
// all of B (its transposes and a B-sized buffer) for a few rows, and the small path copies all of
// B, transposed. The AVX2 kernel transposes 4 panels of B's rows at a time into a buffer on the
// stack (32 KB at kc 256, in L1 or L2); the AVX-512 kernel transposes 16 rows (8 doubles' rows)
// at a time in registers, a cache line of each at once, and keeps C in registers across the k
// blocks (float rows a multiple of 4 KB apart take the AVX2 kernel's way: gemm_avx512.cpp). Same
// k blocks, same summation order and stores, so the same bits.
// Measured (the paths alternating, one thread; bench/README.md, "A few rows"): against the packed
// path, 1 row of a 1024 -> 1024 layer 3.4-4.8x (float32, before the packers' cache-set fix made
// the packed path faster: 2.2x in the latest run; float64 2.4-2.7x), 2-4 rows 2.5-4.1x
// (float64 1.4-2.5x), 1-4 rows of 784 -> 256 and 256 -> 256 layers 1.2-2.2x; 8 rows 1.06-1.55x
// on 1024 -> 1024 but 0.57-0.84x on 784 -> 256, hence 4. Against the small path (products up to
// 2^17): 0.96-3.3x for n >= 32 (1.0-1.2x on the tiny networks' layers), but 0.60x for n = 1 in
// float32, so n <= 16 keeps the narrow rule. The AVX-512 row groups against the AVX2 buffer, one
// row (a C++ loop over the kernels alone, medians of 15, Zen 4): float 1.34-1.59x (784 -> 256,
// 256 -> 256, 512 -> 512, 1000 -> 1024; 1.0x at rows of 1024 floats, which take the AVX2 way),
// double 1.56-2.5x (256 -> 256 up to 4096 -> 1024).
constexpr Index kRowsTbMaxM = 4;

template <typename T>
bool runs_rows_tb(const KernelInfo<T>& K, Trans trans_a, Trans trans_b, Index m, Index n, T alpha, T beta) {
  return K.rows_tb != nullptr && K.kc <= kRowsTbMaxK && trans_a == Trans::No && trans_b == Trans::Yes &&
         m <= kRowsTbMaxM && n > 16 &&
         alpha == T(1) && (beta == T(0) || beta == T(1)) && small_max_work() != 0;
}

// Columns [j_lo, j_hi) of C, k cut into gemm_block's blocks (the task's alpha is 1, its ep and
// split_rows unused).
template <typename T>
void rows_tb_range(const GemmTask<T>& t, Index j_lo, Index j_hi) {
  t.K->rows_tb(t.m, j_hi - j_lo, t.k, k_block(t.k, t.K->kc), t.a, t.lda, t.b + j_lo * t.ldb, t.ldb, t.beta,
               t.c + j_lo, t.ldc);
}

// Threads split the columns in groups of 32 (every element is computed by one thread alone).
template <typename T>
void rows_tb_thread(void* ctx, int i, int nt) {
  const GemmTask<T>& t = *static_cast<const GemmTask<T>*>(ctx);
  const Index units = (t.n + 31) / 32;
  const Index lo = std::min(t.n, units * i / nt * 32), hi = std::min(t.n, units * (i + 1) / nt * 32);
  if (lo < hi) rows_tb_range(t, lo, hi);
}

template <typename T>
void rows_tb_product(const KernelInfo<T>& K, Index m, Index n, Index k, const T* a, Index lda, const T* b,
                     Index ldb, T beta, T* c, Index ldc) {
  GemmTask<T> t{&K, false, true, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc, nullptr, false};
  if (double(m) * double(n) * double(k) < double(parallel_min_work())) {
    rows_tb_range(t, 0, n);
    return;
  }
  parallel_run(static_cast<int>(std::min<Index>((n + 31) / 32, 64)), rows_tb_thread<T>, &t);
}

}  // namespace

// The threads a packed product is split over: 1 below parallel_min_work, else one per unit (mr
// rows, or nr columns when C is wider than tall), at most 64, at most get_num_threads().
template <typename T>
int packed_threads(const KernelInfo<T>& K, Index m, Index n, Index k) {
  if (double(m) * double(n) * double(k) < double(parallel_min_work())) return 1;
  const Index units = m >= n ? (m + K.mr - 1) / K.mr : (n + K.nr - 1) / K.nr;
  return static_cast<int>(std::min<Index>({units, 64, Index(get_num_threads())}));
}

// The path gemm_ex takes. The forward of a few rows takes rows_tb (see runs_rows_tb). Every
// small product takes the unpacked path, and a narrow one (n <= 16: one column tile of the
// AVX2 small kernel in float, two in double) that the packed path would run on one thread. The
// packed path pads a narrow product to its nr columns (32 / 16 floats, 16 / 8 doubles on the
// AVX-512 / AVX2 kernels), while the unpacked tile reads B (k x n, in L1 or L2) in place.
// Measured (the two paths alternating, one thread; bench/README.md, "Narrow products"): unpacked
// 0.99-2.8x the packed speed on every n <= 16 product tried (the forward into 1, 10, 12 or 16
// outputs, dx and dw of a layer with 10 or 16 inputs), both dtypes, both kernels; narrow in m or
// k instead, it can lose (0.5-0.8x at n 1024). small_max_work 0 turns both off (every product
// packed, as the tests need).
// K is read once per product by the caller: set_gemm_kernel() from another thread may switch the
// kernel at any time, and a path chosen for one kernel's table must run with that table (the
// generic one has no unpacked entries).
template <typename T>
GemmPath gemm_path_for(const KernelInfo<T>& K, Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha,
                       T beta) {
  if (K.small == nullptr || (trans_a == Trans::Yes && trans_b == Trans::Yes)) return GemmPath::Packed;
  if (!(K.small_any_scale || alpha == T(1) || (beta == T(0) && k <= K.kc))) return GemmPath::Packed;
  const Index limit = small_max_work();
  if (limit == 0) return GemmPath::Packed;
  if (runs_rows_tb(K, trans_a, trans_b, m, n, alpha, beta)) return GemmPath::FewRows;
  if (double(m) * double(n) * double(k) <= double(limit) || (n <= 16 && packed_threads(K, m, n, k) == 1))
    return GemmPath::Small;
  return GemmPath::Packed;
}

template <typename T>
GemmPath gemm_path(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, T beta) {
  return gemm_path_for(kernel<T>(), trans_a, trans_b, m, n, k, alpha, beta);
}

template GemmPath gemm_path<float>(Trans, Trans, Index, Index, Index, float, float);
template GemmPath gemm_path<double>(Trans, Trans, Index, Index, Index, double, double);

template <typename T>
bool gemm_runs_unpacked(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, T beta) {
  return gemm_path(trans_a, trans_b, m, n, k, alpha, beta) != GemmPath::Packed;
}

template bool gemm_runs_unpacked<float>(Trans, Trans, Index, Index, Index, float, float);
template bool gemm_runs_unpacked<double>(Trans, Trans, Index, Index, Index, double, double);

template <typename T>
void gemm_ex(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
             const T* b, Index ldb, T beta, T* c, Index ldc, const Epilogue<T>* ep) {
  check_gemm_args(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, sizeof(T));
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {  // C = beta * C (beta 0: written, not read), then the epilogue
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    if (ep != nullptr) apply_epilogue(*ep, c, ldc, 0, 0, m, n);
    return;
  }
  const KernelInfo<T>& K = kernel<T>();
  const GemmPath path = gemm_path_for(K, trans_a, trans_b, m, n, k, alpha, beta);
  if (path != GemmPath::Packed) {
    if (path == GemmPath::FewRows)
      rows_tb_product(K, m, n, k, a, lda, b, ldb, beta, c, ldc);
    else
      small_product(K, trans_a == Trans::Yes, trans_b == Trans::Yes, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (ep != nullptr) apply_epilogue(*ep, c, ldc, 0, 0, m, n);
    return;
  }
  GemmTask<T> t{&K, trans_a == Trans::Yes, trans_b == Trans::Yes, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc, ep, m >= n};
  const int threads = packed_threads(K, m, n, k);
  if (threads == 1) {
    gemm_block(t, 0, m, 0, n);
    return;
  }
  parallel_run(threads, gemm_thread<T>, &t);
}

template void gemm_ex<float>(Trans, Trans, Index, Index, Index, float, const float*, Index, const float*, Index,
                             float, float*, Index, const Epilogue<float>*);
template void gemm_ex<double>(Trans, Trans, Index, Index, Index, double, const double*, Index, const double*,
                              Index, double, double*, Index, const Epilogue<double>*);

}  // namespace detail

template <typename T>
void gemm(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
          Index ldb, T beta, T* c, Index ldc) {
  detail::gemm_ex<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

template void gemm<float>(Trans, Trans, Index, Index, Index, float, const float*, Index, const float*, Index,
                          float, float*, Index);
template void gemm<double>(Trans, Trans, Index, Index, Index, double, const double*, Index, const double*, Index,
                           double, double*, Index);

std::string gemm_kernel() { return detail::kernel<float>().name; }

namespace detail {

// Portable multiply-add loop (the baseline instruction set) for CPUs without AVX2. Twelve
// 128-bit registers' worth of independent chains (48 floats, 24 doubles): a multiply and the add
// that waits for it take ~7 cycles, so fewer chains measure latency, not throughput (16 floats,
// as this loop once had, read a third of the rate the portable GEMM itself reached).
template <typename T>
constexpr int kGenericChains = 12 * 16 / int(sizeof(T));

template <typename T>
T fma_loop_generic(Index iters) {
  constexpr int N = kGenericChains<T>;
  T acc[N];
  for (int i = 0; i < N; ++i) acc[i] = T(i) * T(1e-3);
  for (Index it = 0; it < iters; ++it)
#pragma omp simd
    for (int i = 0; i < N; ++i) acc[i] = acc[i] * T(0.999999) + T(1e-7);
  T s = 0;
  for (int i = 0; i < N; ++i) s += acc[i];
  return s;
}

}  // namespace detail

// The widest instruction set the CPU has, whichever kernel is selected: the machine's peak, what
// every implementation in a benchmark (NumPy's BLAS too) is measured against.
double fma_loop(bool f32, Index iters, double* flops) {
  DENSEGRAD_CHECK(iters >= 0, "fma_loop: negative iteration count");
#if defined(DENSEGRAD_X86)
  if (detail::cpu_has_avx512()) {
    *flops = double(iters) * 12 * (f32 ? 16 : 8) * 2;
    return f32 ? double(detail::fma_loop_avx512_f32(iters)) : detail::fma_loop_avx512_f64(iters);
  }
  if (detail::cpu_has_avx2_fma()) {
    *flops = double(iters) * 12 * (f32 ? 8 : 4) * 2;
    return f32 ? double(detail::fma_loop_avx2_f32(iters)) : detail::fma_loop_avx2_f64(iters);
  }
#endif
  *flops = double(iters) * (f32 ? detail::kGenericChains<float> : detail::kGenericChains<double>) * 2;
  return f32 ? double(detail::fma_loop_generic<float>(iters)) : detail::fma_loop_generic<double>(iters);
}

bool set_gemm_kernel(const std::string& name) {
  if (name == "generic") {
    detail::g_kernel.store(0);
    return true;
  }
  if (name == "avx2-fma") {
    if (!detail::cpu_has_avx2_fma()) return false;
    detail::g_kernel.store(1);
    return true;
  }
  if (name == "avx512") {
    if (!detail::cpu_has_avx512()) return false;
    detail::g_kernel.store(2);
    return true;
  }
  if (name == "auto") {
    detail::g_kernel.store(detail::cpu_has_avx512() ? 2 : detail::cpu_has_avx2_fma() ? 1 : 0);
    return true;
  }
  return false;
}

}  // namespace densegrad
