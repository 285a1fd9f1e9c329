// Full covariance: one D x D covariance per component.
//
// E-step: the squared Mahalanobis distance ||(x - mu_k) P_k||^2, with P_k the
// upper-triangular precision Cholesky factor (Sigma_k^-1 = P_k P_k^T), as a
// register-blocked triangular product over a tile of output columns.
// M-step statistics: S0, S1 and the lower triangle of S2 = sum w r d d^T.
#pragma once

#include <type_traits>

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

// out[b] = ||(x_b - m) P||^2 for the B rows of a chunk, P upper triangular D x D;
// REST = D mod kTriTile, the width of the last tile.
template <class T, int REST>
inline void triangular_mahalanobis_t(const T* xt, int64_t B, const T* m, const T* P, int64_t D, T* out) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int64_t full_tiles = D - REST;
    for (int64_t v = 0; v < B; v += W) {
        V acc = {};
        for (int64_t j0 = 0; j0 < full_tiles; j0 += kTriTile)
            acc += tri_tile<T, kTriTile>(xt + v, B, m, P, D, j0);
        if constexpr (REST > 0) acc += tri_tile<T, REST>(xt + v, B, m, P, D, full_tiles);
        vstore(out + v, acc);
    }
}

template <class T, int REST = kTriTile - 1>
inline void triangular_mahalanobis(const T* xt, int64_t B, const T* m, const T* P, int64_t D, T* out) {
    if constexpr (REST == 0) {
        triangular_mahalanobis_t<T, 0>(xt, B, m, P, D, out);
    } else {
        if (D % kTriTile == REST) return triangular_mahalanobis_t<T, REST>(xt, B, m, P, D, out);
        triangular_mahalanobis<T, REST - 1>(xt, B, m, P, D, out);
    }
}

// Full covariance with D <= kSmallD has kernels with D fixed at compile time:
// with_small_d calls f(std::integral_constant<int, D>{}) and returns true, or
// returns false for larger D.
constexpr int kSmallD = 4;
template <class F> inline bool with_small_d(int64_t D, F&& f) {
    switch (D) {
        case 1: f(std::integral_constant<int, 1>{}); return true;
        case 2: f(std::integral_constant<int, 2>{}); return true;
        case 3: f(std::integral_constant<int, 3>{}); return true;
        case 4: f(std::integral_constant<int, 4>{}); return true;
        default: return false;
    }
}

// Full covariance with D <= 4: the log-densities cst_k - ||(x - m_k) P_k||^2 / 2
// in registers, with P_k scaled by sqrt(1/2) so that each squared column is one
// FMA off the constant.
template <class T, int D> inline void small_log_density(const Model<T>& md, const T* xt, int64_t B, T* L) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t k = 0; k < md.K; ++k) {
        const T* m = md.mean(k);
        const T* P = md.prec(k);
        T h[D][D];
        for (int i = 0; i < D; ++i)
            for (int j = i; j < D; ++j) h[i][j] = P[i * D + j] * T(0.70710678118654752440);
        const V c = vsplat<V>(md.cst[k]);
        T* Lk = L + k * B;
        for (int64_t v = 0; v < B; v += W) {
            V d[D];
            for (int i = 0; i < D; ++i) d[i] = vload<V>(xt + i * B + v) - m[i];
            V acc = c;
            for (int j = 0; j < D; ++j) {
                V y = d[0] * h[0][j];
                for (int i = 1; i <= j; ++i) y += d[i] * h[i][j];
                acc -= y * y;
            }
            vstore(Lk + v, acc);
        }
    }
}

template <class T, int D>
inline void small_moments(const T* xt, int64_t B, const T* m, const T* r, double& s0, double* s1, double* s2,
                          int64_t ld) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    V a0 = {}, a1[D] = {}, a2[D * (D + 1) / 2] = {};
    for (int64_t v = 0; v < B; v += W) {
        const V rv = vload<V>(r + v);
        a0 += rv;
        V d[D];
        for (int i = 0; i < D; ++i) d[i] = vload<V>(xt + i * B + v) - m[i];
        int q = 0;
        for (int i = 0; i < D; ++i) {
            const V rd = rv * d[i];
            a1[i] += rd;
            for (int j = 0; j <= i; ++j) a2[q++] += rd * d[j];
        }
    }
    s0 += double(hsum<T>(a0));
    int q = 0;
    for (int i = 0; i < D; ++i) {
        s1[i] += double(hsum<T>(a1[i]));
        for (int j = 0; j <= i; ++j) s2[i * ld + j] += double(hsum<T>(a2[q++]));
    }
}

template <class T> struct FullKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        triangular_mahalanobis(xt, B, md.mean(k), md.prec(k), md.D(), out);
    }

    // r: w times the responsibilities of component k (all B rows), of which n
    // are significant (list_significant).
    static void accumulate(const Model<T>& md, int64_t k, const Chunk<T>& ch, const T* r, const T* w, int64_t n,
                           Workspace<T>& ws, Acc& acc) {
        const Dims<T>& dm = md.dims;
        const T* m = md.mean(k);
        if (with_small_d(dm.D, [&](auto d) {
                small_moments<T, d()>(ch.xt, ch.B, m, r, acc.s0[size_t(k)], acc.s1k(k), acc.s2k(k), dm.Da);
            }))
            return;
        // outer products over the n rows that count, or dot products over all B
        // rows of the columns: whichever does fewer multiply-adds
        if (dm.row_major && double(n) * double(dm.Da * dm.Da) < 1.3 * double(ch.B) * double(dm.D * dm.D)) {
            const int32_t* rows = ws.rows.data();
            n = list_significant(r, w, ch.B, ws.rows.data());
            acc.s0[size_t(k)] += centred_rows(ch.xa, dm.Da, m, r, rows, n, ws.rd.data(), ws.s1.data(), acc.s1k(k));
            outer_lower(ws.rd.data(), ch.xa, dm.Da, m, rows, n, acc.s2k(k));
            return;
        }
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t B = ch.B;
        T* d = ws.d.data();
        T* rd = ws.rd.data();
        V s0 = {};
        for (int64_t v = 0; v < B; v += W) {
            V rv = vload<V>(r + v);
            s0 += rv;
            for (int64_t i = 0; i < dm.D; ++i) {
                V di = vload<V>(ch.xt + i * B + v) - m[i];
                vstore(d + i * B + v, di);
                vstore(rd + i * B + v, rv * di);
            }
        }
        acc.s0[size_t(k)] += double(hsum<T>(s0));
        row_sums(rd, dm.D, B, acc.s1k(k));
        syrk_lower(rd, d, dm.D, dm.Ds, B, acc.s2k(k), dm.Da);
    }

    static void accumulate_chunk(const Model<T>&, const Chunk<T>&, const T*, Workspace<T>&, Acc&) {}
};

}  // namespace emfast
