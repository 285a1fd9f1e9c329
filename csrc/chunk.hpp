// Chunks of rows, their feature-major working copies, and the model in the
// working precision: the shared machinery of every pass.
//
// A pass walks X in chunks of B rows. Each chunk is copied once into a
// feature-major buffer xt[i * B + b] = x[b][i] - shift[i] in the working type T
// (float for float32 input, double otherwise), so that SIMD lanes run over rows.
// Chunks are grouped into slots of a fixed number of chunks; a thread takes
// whole slots and the slot results are added in slot order, so the result does
// not depend on the number of threads (DESIGN.md, "Parallel kernels").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

#include "core.hpp"
#include "simd.hpp"

namespace emfast {

// ---------------------------------------------------------------- buffers

template <class T> class Buffer {
   public:
    Buffer() = default;
    explicit Buffer(int64_t n) { reset(n); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
    ~Buffer() { std::free(p_); }
    void reset(int64_t n) {
        std::free(p_);
        p_ = nullptr;
        n_ = n;
        if (n == 0) return;
        size_t bytes = (size_t(n) * sizeof(T) + 63) / 64 * 64;
        p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
        if (!p_) throw std::bad_alloc();
        std::memset(p_, 0, bytes);
    }
    T* data() { return p_; }
    const T* data() const { return p_; }
    T& operator[](int64_t i) { return p_[i]; }
    const T& operator[](int64_t i) const { return p_[i]; }
    int64_t size() const { return n_; }

   private:
    T* p_ = nullptr;
    int64_t n_ = 0;
};

inline int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

// ---------------------------------------------------------------- geometry

// Fixed by (N, D, K) only: never by the thread count or the instruction set.
struct Geometry {
    int64_t n = 0, B = 0, n_chunks = 0, chunks_per_slot = 4, n_slots = 0;
    int64_t chunk_begin(int64_t c) const { return c * B; }
    int64_t chunk_rows(int64_t c) const { return std::min(B, n - c * B); }
};

inline Geometry make_geometry(int64_t n, int64_t D, int64_t K) {
    Geometry g;
    g.n = n;
    // keep the chunk's working set (x, two centred copies, K log-densities)
    // within about 256 KiB, i.e. in L2
    int64_t B = 256;
    while (B > 64 && B * (3 * D + K) * 8 > (256 << 10)) B /= 2;
    g.B = B;
    g.n_chunks = (n + B - 1) / B;
    g.n_slots = (g.n_chunks + g.chunks_per_slot - 1) / g.chunks_per_slot;
    return g;
}

// Dp: the feature count padded for the 4-wide tiles of the second-order kernels.
inline int64_t padded_features(int64_t D) { return round_up(D, 4); }

// ---------------------------------------------------------------- chunk copy

template <class T, class S>
inline void gather_typed(const S* base, const Data& X, const double* shift, int64_t r0, int64_t rows,
                         int64_t B, T* xt) {
    const int64_t D = X.d;
    for (int64_t b = 0; b < rows; ++b) {
        const S* row = base + (r0 + b) * X.row_stride;
        for (int64_t i = 0; i < D; ++i) xt[i * B + b] = T(double(row[i * X.col_stride]) - shift[i]);
    }
    for (int64_t i = 0; i < D; ++i)
        for (int64_t b = rows; b < B; ++b) xt[i * B + b] = T(0);
}

// xt <- rows [r0, r0 + rows) of X minus shift, feature-major; padding rows are 0.
template <class T>
inline void gather(const Data& X, const double* shift, int64_t r0, int64_t rows, int64_t B, T* xt) {
    if (X.is_float)
        gather_typed<T>(static_cast<const float*>(X.ptr), X, shift, r0, rows, B, xt);
    else
        gather_typed<T>(static_cast<const double*>(X.ptr), X, shift, r0, rows, B, xt);
}

template <class T>
inline void gather_weights(const double* w, int64_t r0, int64_t rows, int64_t B, T* wt) {
    for (int64_t b = 0; b < rows; ++b) wt[b] = w ? T(w[r0 + b]) : T(1);
    for (int64_t b = rows; b < B; ++b) wt[b] = T(0);
}

// ---------------------------------------------------------------- the model in T

// Parameters converted once per pass to the working type, centred on `shift`.
template <class T> struct Model {
    Cov cov = Cov::Full;
    int64_t K = 0, D = 0, Dp = 0;
    Buffer<T> m;    // K x Dp: centre of component k minus shift (0-padded)
    Buffer<T> P;    // full K x D x D, tied D x D (upper triangular); diag K x Dp; spherical K
    Buffer<T> cst;  // K: log pi_k + log det P_k - D/2 log(2 pi)
    std::vector<double> centers;  // K x D: shift + m in float64, what the statistics are centred on

    const T* mean(int64_t k) const { return m.data() + k * Dp; }
    const T* prec(int64_t k) const {
        switch (cov) {
            case Cov::Full: return P.data() + k * D * D;
            case Cov::Tied: return P.data();
            case Cov::Diag: return P.data() + k * Dp;
            default: return P.data() + k;
        }
    }

    // From centres only (statistics passes with fixed responsibilities).
    Model(Cov c, int64_t k, int64_t d, const double* centres, const double* shift)
        : cov(c), K(k), D(d), Dp(padded_features(d)), m(k * padded_features(d)), cst(k),
          centers(size_t(k * d)) {
        for (int64_t kk = 0; kk < K; ++kk)
            for (int64_t i = 0; i < D; ++i) {
                T v = T(centres[kk * D + i] - shift[i]);
                m[kk * Dp + i] = v;
                centers[kk * D + i] = shift[i] + double(v);
            }
    }

    // From a full parameter set (E-step passes).
    Model(const Params& p, const double* shift) : Model(p.cov, p.K, p.D, p.means, shift) {
        const double half_log_2pi = 0.9189385332046727418;
        std::vector<double> logdet(size_t(K), 0.0);
        switch (cov) {
            case Cov::Full:
            case Cov::Tied: {
                int64_t nm = cov == Cov::Full ? K : 1;
                P.reset(nm * D * D);
                for (int64_t kk = 0; kk < nm; ++kk) {
                    const double* src = p.prec_chol + kk * D * D;
                    double ld = 0.0;
                    for (int64_t i = 0; i < D; ++i) {
                        ld += std::log(src[i * D + i]);
                        for (int64_t j = i; j < D; ++j) P[kk * D * D + i * D + j] = T(src[i * D + j]);
                    }
                    if (cov == Cov::Full)
                        logdet[size_t(kk)] = ld;
                    else
                        std::fill(logdet.begin(), logdet.end(), ld);
                }
                break;
            }
            case Cov::Diag:
                P.reset(K * Dp);
                for (int64_t kk = 0; kk < K; ++kk)
                    for (int64_t i = 0; i < D; ++i) {
                        P[kk * Dp + i] = T(p.prec_chol[kk * D + i]);
                        logdet[size_t(kk)] += std::log(p.prec_chol[kk * D + i]);
                    }
                break;
            case Cov::Spherical:
                P.reset(K);
                for (int64_t kk = 0; kk < K; ++kk) {
                    P[kk] = T(p.prec_chol[kk]);
                    logdet[size_t(kk)] = double(D) * std::log(p.prec_chol[kk]);
                }
                break;
        }
        for (int64_t kk = 0; kk < K; ++kk)
            cst[kk] = T(p.log_weights[kk] + logdet[size_t(kk)] - double(D) * half_log_2pi);
    }
};

// Per-thread scratch, allocated before the parallel region.
template <class T> struct Workspace {
    Buffer<T> xt, L, w, d, rd;
    Workspace(int64_t Dp, int64_t K, int64_t B) : xt(Dp * B), L(K * B), w(B), d(Dp * B), rd(Dp * B) {}
};

// ---------------------------------------------------------------- small helpers

// Row sums of a (rows x B) feature-major block, added into out (float64).
template <class T> inline void row_sums(const T* a, int64_t rows, int64_t B, double* out) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t i = 0; i < rows; ++i) {
        V s0 = {}, s1 = {};
        const T* ai = a + i * B;
        for (int64_t v = 0; v < B; v += 2 * W) {
            s0 += vload<V>(ai + v);
            s1 += vload<V>(ai + v + W);
        }
        out[i] += double(hsum<T>(s0 + s1));
    }
}

// C[i][j] += sum_b A[i][b] * Bm[j][b] for j <= i < D (lower triangle of a D x D
// row-major C). A and Bm are feature-major with Dp rows, rows >= D all zero.
template <class T>
inline void syrk_lower(const T* A, const T* Bm, int64_t D, int64_t Dp, int64_t B, double* C) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
#if EMFAST_VBYTES == 64
    constexpr int TI = 4;
#else
    constexpr int TI = 2;
#endif
    constexpr int TJ = 4;
    for (int64_t i0 = 0; i0 < Dp; i0 += TI) {
        for (int64_t j0 = 0; j0 <= i0; j0 += TJ) {
            V acc[TI][TJ] = {};
            for (int64_t v = 0; v < B; v += W) {
                V a[TI], b[TJ];
                for (int ii = 0; ii < TI; ++ii) a[ii] = vload<V>(A + (i0 + ii) * B + v);
                for (int jj = 0; jj < TJ; ++jj) b[jj] = vload<V>(Bm + (j0 + jj) * B + v);
                for (int ii = 0; ii < TI; ++ii)
                    for (int jj = 0; jj < TJ; ++jj) acc[ii][jj] += a[ii] * b[jj];
            }
            for (int ii = 0; ii < TI; ++ii)
                for (int jj = 0; jj < TJ; ++jj) {
                    int64_t i = i0 + ii, j = j0 + jj;
                    if (i < D && j <= i) C[i * D + j] += double(hsum<T>(acc[ii][jj]));
                }
        }
    }
}

}  // namespace emfast
