// Spherical covariance: one variance per component.
//
// E-step: p_k^2 sum_i (x_i - mu_ki)^2.
// M-step statistics: S0, S1 and S2_k = sum w r ||x - c_k||^2.
#pragma once

#include "../chunk.hpp"

namespace emfast {

template <class T> struct SphericalKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const T* m = md.mean(k);
        const T p2 = md.prec(k)[0] * md.prec(k)[0];
        for (int64_t v = 0; v < B; v += 4 * W) {
            V a0 = {}, a1 = {}, a2 = {}, a3 = {};
            for (int64_t i = 0; i < md.D; ++i) {
                const T* xi = xt + i * B + v;
                V y0 = vload<V>(xi) - m[i];
                V y1 = vload<V>(xi + W) - m[i];
                V y2 = vload<V>(xi + 2 * W) - m[i];
                V y3 = vload<V>(xi + 3 * W) - m[i];
                a0 += y0 * y0, a1 += y1 * y1, a2 += y2 * y2, a3 += y3 * y3;
            }
            vstore(out + v, a0 * p2), vstore(out + v + W, a1 * p2);
            vstore(out + v + 2 * W, a2 * p2), vstore(out + v + 3 * W, a3 * p2);
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
        V b = {};
        for (int64_t i = 0; i < D; ++i) {
            V a = {};
            const T* xi = xt + i * B;
            for (int64_t v = 0; v < B; v += W) {
                V d = vload<V>(xi + v) - m[i];
                V rd = vload<V>(r + v) * d;
                a += rd;
                b += rd * d;
            }
            s1[i] += double(hsum<T>(a));
        }
        acc.s2[size_t(k)] += double(hsum<T>(b));
    }

    static void accumulate_chunk(const Model<T>&, const T*, const T*, int64_t, Workspace<T>&, Stats&) {}
};

}  // namespace emfast
