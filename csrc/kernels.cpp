// This instruction set's kernel table (see kernels.hpp).
#include "kernels.hpp"

#include "simd.hpp"
#include "special.hpp"

namespace emfast {

namespace {

void vector_math(int fn, const double* x, int64_t n, double* out) {
    if (fn == 2) {
        for (int64_t i = 0; i < n; ++i) out[i] = digamma(x[i]);
        return;
    }
    using V = vdouble;
    constexpr int64_t W = Simd<double>::W;
    for (int64_t i = 0; i < n; i += W) {  // W at a time, the tail padded with 1
        double a[W], b[W];
        for (int64_t j = 0; j < W; ++j) a[j] = i + j < n ? x[i + j] : 1.0;
        vstore(b, fn == 0 ? vexp(vload<V>(a)) : vlog(vload<V>(a)));
        for (int64_t j = 0; j < W && i + j < n; ++j) out[i + j] = b[j];
    }
}

const KernelTable table = {
    kKernelAbi, EMFAST_SIMD_NAME, sizeof(Stats), sizeof(Exec),
    em_pass, fixed_pass, score_pass, vector_math, kmeans_plusplus, kmeans_closest, kmeans_lloyd, m_step, precision_cholesky,
    variational_m_step, variational_e_step, blend_stats, bp::run, bp::exact_bag_messages,
};

}  // namespace

const KernelTable* kernel_table() { return &table; }

}  // namespace emfast
