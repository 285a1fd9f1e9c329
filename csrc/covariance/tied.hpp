// Tied covariance: one D x D covariance shared by all components.
//
// E-step: as for full covariance, with the one shared precision factor.
// M-step statistics: S0_k and S1_k per component, and once per chunk the
// component-free scatter sum w (x - shift)(x - shift)^T; the pass turns them
// into the pooled S2 = sum_k sum w r_k (x - c_k)(x - c_k)^T at the end
// (finish() in pass.cpp), so a row costs D^2 / 2 here rather than K D^2 / 2.
#pragma once

#include "full.hpp"

namespace emfast {

template <class T> struct TiedKernel {
    static void mahalanobis(const Model<T>& md, int64_t k, const T* xt, int64_t B, T* out) {
        triangular_mahalanobis(xt, B, md.mean(k), md.prec(k), md.D(), out);
    }

    // S0_k and S1'_k = sum w r_k (x - shift)
    static void accumulate(const Model<T>& md, int64_t k, const Chunk<T>& ch, const T* r, const T* w, int64_t n,
                           Workspace<T>& ws, Acc& acc) {
        const Dims<T>& dm = md.dims;
        if (dm.row_major && 3 * n * dm.Da < 2 * ch.B * dm.D) {
            n = list_significant(r, w, ch.B, ws.rows.data());
            acc.s0[size_t(k)] += centred_rows(ch.xa, dm.Da, md.zero.data(), r, ws.rows.data(), n, ws.rd.data(),
                                              ws.s1.data(), acc.s1k(k));
            return;
        }
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t B = ch.B;
        V s0 = {};
        for (int64_t v = 0; v < B; v += W) s0 += vload<V>(r + v);
        acc.s0[size_t(k)] += double(hsum<T>(s0));
        double* s1 = acc.s1k(k);
        for (int64_t i = 0; i < dm.D; ++i) {
            V a = {}, b = {};
            const T* xi = ch.xt + i * B;
            int64_t v = 0;
            for (; v + 2 * W <= B; v += 2 * W) {
                a += vload<V>(r + v) * vload<V>(xi + v);
                b += vload<V>(r + v + W) * vload<V>(xi + v + W);
            }
            if (v < B) a += vload<V>(r + v) * vload<V>(xi + v);  // B is a whole number of vectors
            s1[i] += double(hsum<T>(a + b));
        }
    }

    // S' = sum w (x - shift)(x - shift)^T over the chunk; w is the row's total
    // responsibility (its sample weight in an E-step pass).
    static void accumulate_chunk(const Model<T>& md, const Chunk<T>& ch, const T* w, Workspace<T>& ws, Acc& acc) {
        const Dims<T>& dm = md.dims;
        if (dm.row_major && 2 * dm.Da <= 3 * dm.D) {
            int32_t* rows = ws.rows.data();
            int64_t n = 0;
            for (int64_t b = 0; b < ch.rows; ++b)
                if (w[b] > T(0)) rows[n++] = int32_t(b);
            centred_rows(ch.xa, dm.Da, md.zero.data(), w, rows, n, ws.rd.data(), ws.s1.data(), nullptr);
            outer_lower(ws.rd.data(), ch.xa, dm.Da, md.zero.data(), rows, n, acc.s2k(0));
            return;
        }
        using V = typename Simd<T>::V;
        constexpr int W = Simd<T>::W;
        const int64_t B = ch.B;
        T* wx = ws.d.data();
        for (int64_t i = 0; i < dm.D; ++i)
            for (int64_t v = 0; v < B; v += W)
                vstore(wx + i * B + v, vload<V>(w + v) * vload<V>(ch.xt + i * B + v));
        syrk_lower(wx, ch.xt, dm.D, dm.Ds, B, acc.s2k(0), dm.Da);
    }
};

}  // namespace emfast
