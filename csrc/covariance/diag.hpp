// Diagonal covariance: D variances per component.
//
// E-step: sum_i (x_i p_ki - mu_ki p_ki)^2 with p_k = 1 / sqrt(var_k).
// M-step statistics: S0, S1 and the centred second moments per feature,
// S2_ki = sum w r (x_i - c_ki)^2, never E[x^2] - mu^2 (scikit-learn #30382).
#pragma once

#include "../chunk.hpp"

namespace emfast {

template <class T> struct DiagKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        over_row_vectors<DiagKernel, 1>(md, k, xt, B, out);
    }

    // sum_i (x_i p_i - mp_i)^2 for U vectors of rows and the KB components from k0
    // (component c's into out + c B)
    template <int U, int KB>
    static void components(const Model<T>& md, int64_t k0, const T* xt, int64_t B, T* out) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const T* p[KB];
        const T* mp[KB];
        for (int c = 0; c < KB; ++c) p[c] = md.prec(k0 + c), mp[c] = md.mp.data() + (k0 + c) * md.dims.Dm;
        V a[KB][U] = {};
        for (int64_t i = 0; i < md.D(); ++i)
            for (int u = 0; u < U; ++u) {
                const V x = vload<V>(xt + i * B + u * W);
                for (int c = 0; c < KB; ++c) {
                    const V y = x * p[c][i] - mp[c][i];
                    a[c][u] += y * y;
                }
            }
        for (int c = 0; c < KB; ++c)
            for (int u = 0; u < U; ++u) vstore(out + c * B + u * W, a[c][u]);
    }

    static void accumulate(const Model<T>& md, int64_t k, const Chunk<T>& ch, const T* r, const T* w, int64_t n,
                           Workspace<T>& ws, Acc& acc) {
        // row by row over the listed rows when that is less work than all rows at once
        if (md.dims.row_major && n * (md.dims.Da + Simd<T>::W) < ch.B * md.D()) {
            const int32_t* rows = ws.rows.data();
            n = list_significant(r, w, ch.B, ws.rows.data());
            acc.s0[size_t(k)] += diagonal_moments(ch.xa, md.dims.Da, md.mean(k), r, rows, n, ws.s1.data(),
                                                  acc.s1k(k), acc.s2k(k));
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
        double* s2 = acc.s2k(k);
        for (int64_t i = 0; i < md.D(); ++i) {
            V a = {}, b = {};
            const T* xi = ch.xt + i * B;
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

    static void accumulate_chunk(const Model<T>&, const Chunk<T>&, const T*, Workspace<T>&, Acc&) {}
};

}  // namespace emfast
