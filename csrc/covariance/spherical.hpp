// Spherical covariance: one variance per component.
//
// E-step: p_k^2 sum_i (x_i - mu_ki)^2.
// M-step statistics: S0, S1 and S2_k = sum w r ||x - c_k||^2.
#pragma once

#include "../chunk.hpp"

namespace emfast {

template <class T> struct SphericalKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        over_row_vectors<SphericalKernel, 1>(md, k, xt, B, out);
    }

    // p^2 sum_i (x_i - m_i)^2 for U vectors of rows and the KB components from k0
    // (component c's into out + c B)
    template <int U, int KB>
    static void components(const Model<T>& md, int64_t k0, const T* xt, int64_t B, T* out) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const T* m[KB];
        for (int c = 0; c < KB; ++c) m[c] = md.mean(k0 + c);
        V a[KB][U] = {};
        for (int64_t i = 0; i < md.D(); ++i)
            for (int u = 0; u < U; ++u) {
                const V x = vload<V>(xt + i * B + u * W);
                for (int c = 0; c < KB; ++c) {
                    const V y = x - m[c][i];
                    a[c][u] += y * y;
                }
            }
        for (int c = 0; c < KB; ++c) {
            const T p2 = md.prec(k0 + c)[0] * md.prec(k0 + c)[0];
            for (int u = 0; u < U; ++u) vstore(out + c * B + u * W, a[c][u] * p2);
        }
    }

    static void accumulate(const Model<T>& md, int64_t k, const Chunk<T>& ch, const T* r, const T* w, int64_t n,
                           Workspace<T>& ws, Acc& acc) {
        // row by row over the listed rows when that is less work than all rows at once
        if (md.dims.row_major && n * (md.dims.Da + Simd<T>::W) < ch.B * md.D()) {
            const int32_t* rows = ws.rows.data();
            n = list_significant(r, w, ch.B, ws.rows.data());
            double* per_feature = ws.dbuf.data();
            std::fill(per_feature, per_feature + md.dims.Da, 0.0);
            acc.s0[size_t(k)] += diagonal_moments(ch.xa, md.dims.Da, md.mean(k), r, rows, n, ws.s1.data(),
                                                  acc.s1k(k), per_feature);
            double s2 = 0.0;
            for (int64_t j = 0; j < md.dims.Da; ++j) s2 += per_feature[j];
            acc.s2k(k)[0] += s2;
            return;
        }
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t B = ch.B;
        const T* m = md.mean(k);
        V s0 = {};
        for (int64_t v = 0; v < B; v += W) s0 += vload<V>(r + v);
        acc.s0[size_t(k)] += double(hsum<T>(s0));
        double* s1 = acc.s1k(k);
        V b = {};
        for (int64_t i = 0; i < md.D(); ++i) {
            V a = {};
            const T* xi = ch.xt + i * B;
            for (int64_t v = 0; v < B; v += W) {
                V d = vload<V>(xi + v) - m[i];
                V rd = vload<V>(r + v) * d;
                a += rd;
                b += rd * d;
            }
            s1[i] += double(hsum<T>(a));
        }
        acc.s2k(k)[0] += double(hsum<T>(b));
    }

    static void accumulate_chunk(const Model<T>&, const Chunk<T>&, const T*, Workspace<T>&, Acc&) {}
};

}  // namespace emfast
