// Diagonal covariance: D variances per component.
//
// E-step: sum_i ((x_i - mu_ki) p_ki)^2 with p_k = 1 / sqrt(var_k).
// M-step statistics: S0, S1 and the centred second moments per feature,
// S2_ki = sum w r (x_i - c_ki)^2, never E[x^2] - mu^2 (scikit-learn #30382).
#pragma once

#include "../chunk.hpp"

namespace emfast {

template <class T> struct DiagKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const T* m = md.mean(k);
        const T* p = md.prec(k);
        for (int64_t v = 0; v < B; v += 4 * W) {
            V a0 = {}, a1 = {}, a2 = {}, a3 = {};
            for (int64_t i = 0; i < md.D; ++i) {
                const T* xi = xt + i * B + v;
                V y0 = (vload<V>(xi) - m[i]) * p[i];
                V y1 = (vload<V>(xi + W) - m[i]) * p[i];
                V y2 = (vload<V>(xi + 2 * W) - m[i]) * p[i];
                V y3 = (vload<V>(xi + 3 * W) - m[i]) * p[i];
                a0 += y0 * y0, a1 += y1 * y1, a2 += y2 * y2, a3 += y3 * y3;
            }
            vstore(out + v, a0), vstore(out + v + W, a1), vstore(out + v + 2 * W, a2), vstore(out + v + 3 * W, a3);
        }
    }

    static void accumulate(const Model<T>& md, int64_t k, const T* xt, const T* r, int64_t B, Workspace<T>&,
                           Stats& acc) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t D = md.D;
        const T* m = md.mean(k);
        V s0 = {};
        for (int64_t v = 0; v < B; v += W) s0 += vload<V>(r + v);
        acc.s0[size_t(k)] += double(hsum<T>(s0));
        double* s1 = acc.s1.data() + k * D;
        double* s2 = acc.s2.data() + k * D;
        for (int64_t i = 0; i < D; ++i) {
            V a = {}, b = {};
            const T* xi = xt + i * B;
            for (int64_t v = 0; v < B; v += W) {
                V d = vload<V>(xi + v) - m[i];
                V rd = vload<V>(r + v) * d;
                a += rd;
                b += rd * d;
            }
            s1[i] += double(hsum<T>(a));
            s2[i] += double(hsum<T>(b));
        }
    }

    static void accumulate_chunk(const Model<T>&, const T*, const T*, int64_t, Workspace<T>&, Stats&) {}
};

}  // namespace emfast
