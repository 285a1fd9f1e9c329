// Memory plans: what a kernel call will allocate, computed from the sizes the
// kernels allocate by (csrc/geometry.hpp), and the memory this process may
// use (the tightest of physical memory, the cgroup's limit and RLIMIT_AS).
// Every call is checked before anything is allocated: an absurd request is a
// ValueError (a size beyond 64 bits) or a MemoryError (beyond the limit),
// never a crash or an allocation that the kernel's OOM killer answers.
#pragma once

#include <cstdint>
#include <string>

#include "../core.hpp"

namespace emfast_py {

// What a kernel call does, for its plan.
enum class Call {
    Statistics,   // em_pass, fixed_pass
    StudentStatistics,  // em_pass with Student-t components (scale weights per row)
    Score,        // score (its output is the caller's)
    KmeansSeeds,  // kmeans_plusplus, kmeans_closest (K: the candidates per seed)
    KmeansLloyd,  // kmeans_lloyd
    MStep,        // m_step, precision_cholesky (N unused)
};

// Bytes a call on N rows of D features (item bytes an element) with K
// components allocates at its peak, n_threads as the kernels are given it.
int64_t call_bytes(Call call, int64_t N, int64_t D, int64_t K, emfast::Cov cov, int64_t item, int n_threads);

// bytes as "1.5 GiB".
std::string gib(int64_t bytes);

// The memory this process may use, in bytes (0: unknown).
int64_t memory_limit();

// MemoryError if `bytes` exceed memory_limit().
void check_memory(int64_t bytes, const std::string& what);

// check_memory of a call plus `extra` bytes (its output), before it runs.
void check_call(Call call, int64_t N, int64_t D, int64_t K, emfast::Cov cov, int64_t item, int n_threads,
                int64_t extra = 0);

}  // namespace emfast_py
