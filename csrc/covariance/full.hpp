// Full covariance: one D x D covariance per component.
//
// E-step: the squared Mahalanobis distance ||(x - mu_k) P_k||^2, with P_k the
// upper-triangular precision Cholesky factor (Sigma_k^-1 = P_k P_k^T), as a
// register-blocked triangular product over a tile of output columns.
// M-step statistics: S0, S1 and the lower triangle of S2 = sum r d d^T.
#pragma once

#include "../chunk.hpp"

namespace emfast {

// Columns [j0, j0 + NJ) of y = d P for W rows at once; returns sum_j y_j^2.
template <class T, int NJ>
inline typename Simd<T>::V tri_tile(const T* xt, int64_t B, const T* m, const T* P, int64_t D, int64_t j0) {
    using V = typename Simd<T>::V;
    V y[NJ] = {};
    for (int64_t i = 0; i < j0; ++i) {
        V d = vload<V>(xt + i * B) - m[i];
        const T* Pi = P + i * D + j0;
#pragma GCC unroll 16
        for (int jj = 0; jj < NJ; ++jj) y[jj] += d * Pi[jj];
    }
#pragma GCC unroll 16
    for (int ii = 0; ii < NJ; ++ii) {
        const int64_t i = j0 + ii;
        V d = vload<V>(xt + i * B) - m[i];
        const T* Pi = P + i * D + j0;
#pragma GCC unroll 16
        for (int jj = ii; jj < NJ; ++jj) y[jj] += d * Pi[jj];
    }
    V s = {};
#pragma GCC unroll 16
    for (int jj = 0; jj < NJ; ++jj) s += y[jj] * y[jj];
    return s;
}

#if EMFAST_VBYTES == 64
constexpr int kTriTile = 16;
#else
constexpr int kTriTile = 8;
#endif

template <class T, int NJ>
inline typename Simd<T>::V tri_rest(const T* xt, int64_t B, const T* m, const T* P, int64_t D, int64_t j0,
                                    int64_t rest) {
    if constexpr (NJ == 0) {
        return typename Simd<T>::V{};
    } else {
        if (rest == NJ) return tri_tile<T, NJ>(xt, B, m, P, D, j0);
        return tri_rest<T, NJ - 1>(xt, B, m, P, D, j0, rest);
    }
}

// out[b] = ||(x_b - m) P||^2 for the B rows of a chunk, P upper triangular D x D.
template <class T>
inline void triangular_mahalanobis(const T* xt, int64_t B, const T* m, const T* P, int64_t D, T* out) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int64_t full_tiles = D / kTriTile * kTriTile, rest = D - full_tiles;
    for (int64_t v = 0; v < B; v += W) {
        V acc = {};
        for (int64_t j0 = 0; j0 < full_tiles; j0 += kTriTile)
            acc += tri_tile<T, kTriTile>(xt + v, B, m, P, D, j0);
        if (rest) acc += tri_rest<T, kTriTile - 1>(xt + v, B, m, P, D, full_tiles, rest);
        vstore(out + v, acc);
    }
}

template <class T> struct FullKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        triangular_mahalanobis(xt, B, md.mean(k), md.prec(k), md.D, out);
    }

    // r: responsibilities of component k times the sample weights.
    static void accumulate(const Model<T>& md, int64_t k, const T* xt, const T* r, int64_t B, Workspace<T>& ws,
                           Stats& acc) {
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t D = md.D, Dp = md.Dp;
        const T* m = md.mean(k);
        T* d = ws.d.data();
        T* rd = ws.rd.data();
        V s0 = {};
        for (int64_t v = 0; v < B; v += W) {
            V rv = vload<V>(r + v);
            s0 += rv;
            for (int64_t i = 0; i < D; ++i) {
                V di = vload<V>(xt + i * B + v) - m[i];
                vstore(d + i * B + v, di);
                vstore(rd + i * B + v, rv * di);
            }
        }
        acc.s0[size_t(k)] += double(hsum<T>(s0));
        row_sums(rd, D, B, acc.s1.data() + k * D);
        syrk_lower(rd, d, D, Dp, B, acc.s2.data() + k * D * D);
    }

    static void accumulate_chunk(const Model<T>&, const T*, const T*, int64_t, Workspace<T>&, Stats&) {}
};

}  // namespace emfast
