// The kernels compiled once per instruction set, as a table of entry points.
//
// Only the kernels (the passes over X, belief propagation, and the M-step,
// whose floating-point contractions follow the instruction set) are built once
// per instruction set, each into its own small extension module
// emfast._kernels_<isa>; the bindings are built once into emfast._core, which
// calls the kernels of the variant chosen at import time through this table. Each variant lives in its own shared object, loaded only
// on a CPU that supports it, so no code compiled for one instruction set is
// ever linked into another's.
#pragma once

#include "bp.hpp"
#include "core.hpp"

namespace emfast {

// Bumped whenever the table or the types it passes change.
constexpr int kKernelAbi = 10;

struct KernelTable {
    int abi;
    const char* simd;  // the instruction set the table was compiled for
    size_t sizeof_stats, sizeof_exec;
    void (*em_pass)(const Data&, const double*, const Params&, const double*, const Exec&, int, bool, const Groups&,
                    Stats&);
    void (*fixed_pass)(const Data&, const double*, const Resp&, Cov, int64_t, const double*, const double*,
                       const Exec&, Stats&);
    void (*score_pass)(const Data&, const Params&, const double*, Score, void*, const Exec&);
    // The kernels' vectorised exp (fn = 0) or log (fn = 1), or their digamma
    // (fn = 2), of n doubles, for tests.
    void (*vector_math)(int fn, const double* x, int64_t n, double* out);
    void (*kmeans_plusplus)(const Data&, const double*, const double*, int64_t, int64_t, int64_t, const double*,
                            const Exec&, int64_t*);
    void (*kmeans_closest)(const Data&, const double*, const double*, const double*, int64_t, void*, bool, const Exec&,
                           double*);
    void (*kmeans_lloyd)(const Data&, const double*, const double*, int64_t, int64_t, double, int32_t*, const Exec&,
                         LloydState&);
    MStepResult (*m_step)(const Stats&, const double*, double, double, double, const Exec&);
    void (*precision_cholesky)(Cov, int64_t, int64_t, double*, double*, double, double*, const Exec&);
    VariationalPosterior (*variational_m_step)(const VariationalPrior&, const Stats&, double, double, double,
                                               const Exec&);
    void (*variational_e_step)(bool, int64_t, int64_t, const double*, const double*, const double*, const double*,
                               int64_t, double*, double*);
    void (*blend_stats)(const Stats&, double, Stats&);
    bp::Result (*bp_run)(const bp::Graph&, const bp::Bags&, const bp::Options&, const Exec&);
    void (*bp_exact_bag_messages)(const bp::Bags&, int64_t, double, const double*, double*, double*, const Exec&);
};

// The table of this build's instruction set (defined in kernels.cpp).
const KernelTable* kernel_table();

}  // namespace emfast
