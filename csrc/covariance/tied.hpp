// Tied covariance: one D x D covariance shared by all components.
//
// E-step: as for full covariance, with the one shared precision factor.
// M-step statistics: S0_k and S1_k per component, and once per chunk the
// component-free scatter sum w (x - shift)(x - shift)^T; the pass turns them
// into the pooled S2 = sum_k sum w r_k (x - c_k)(x - c_k)^T at the end, so a
// row costs D^2 / 2 here rather than K D^2 / 2.
#pragma once

#include "full.hpp"

namespace emfast {

template <class T> struct TiedKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        triangular_mahalanobis(xt, B, md.mean(k), md.prec(k), md.D, out);
    }

    // s1 holds sum w r_k (x - shift) during the pass (see finish_tied).
    static void accumulate(const Model<T>& md, int64_t k, const T* xt, const T* r, int64_t B, Workspace<T>&,
                           Stats& acc) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t D = md.D;
        V s0 = {};
        for (int64_t v = 0; v < B; v += W) s0 += vload<V>(r + v);
        acc.s0[size_t(k)] += double(hsum<T>(s0));
        double* s1 = acc.s1.data() + k * D;
        for (int64_t i = 0; i < D; ++i) {
            V a = {}, b = {};
            const T* xi = xt + i * B;
            for (int64_t v = 0; v < B; v += 2 * W) {
                a += vload<V>(r + v) * vload<V>(xi + v);
                b += vload<V>(r + v + W) * vload<V>(xi + v + W);
            }
            s1[i] += double(hsum<T>(a + b));
        }
    }

    // s2 holds sum w (x - shift)(x - shift)^T during the pass.
    static void accumulate_chunk(const Model<T>& md, const T* xt, const T* w, int64_t B, Workspace<T>& ws,
                                 Stats& acc) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        T* wx = ws.d.data();
        for (int64_t i = 0; i < md.D; ++i)
            for (int64_t v = 0; v < B; v += W) vstore(wx + i * B + v, vload<V>(w + v) * vload<V>(xt + i * B + v));
        syrk_lower(wx, xt, md.D, md.Dp, B, acc.s2.data());
    }
};

// Turn the pass-time tied statistics (about the shift) into statistics about
// the centres c_k = shift + m_k:
//   S1_k = S1'_k - S0_k m_k
//   S2   = S' - sum_k (S1'_k m_k^T + m_k S1'_k^T) + sum_k S0_k m_k m_k^T   (lower triangle)
template <class T> inline void finish_tied(const Model<T>& md, Stats& st) {
    const int64_t K = md.K, D = md.D;
    std::vector<double> mk(static_cast<size_t>(D));
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t i = 0; i < D; ++i) mk[size_t(i)] = double(md.mean(k)[i]);
        double* s1 = st.s1.data() + k * D;
        const double s0 = st.s0[size_t(k)];
        for (int64_t i = 0; i < D; ++i)
            for (int64_t j = 0; j <= i; ++j)
                st.s2[size_t(i * D + j)] += -s1[i] * mk[size_t(j)] - mk[size_t(i)] * s1[j] + s0 * mk[size_t(i)] * mk[size_t(j)];
        for (int64_t i = 0; i < D; ++i) s1[i] -= s0 * mk[size_t(i)];
    }
}

}  // namespace emfast
