// Chunks of rows, their working copies, the model in the working precision and
// the statistics accumulators: the shared machinery of every pass.
//
// A pass walks X in chunks of B rows. Each chunk is copied once, shifted by a
// point near the data and converted to the working type T (float for float32
// input, double otherwise), into
//   - xt, feature-major (xt[i * B + b]): SIMD lanes run over rows, for the
//     E-step and the second-order statistics of small D;
//   - xa, row-major with rows padded to a whole number of vectors: SIMD lanes
//     run over features, for the second-order statistics of larger D, which are
//     outer products summed over the rows that carry responsibility.
// Chunks are grouped into contiguous blocks; a thread takes whole blocks and the
// blocks' statistics are added in block order, so the result does not depend on
// the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "constants.hpp"
#include "core.hpp"
#include "geometry.hpp"
#include "simd.hpp"

namespace emfast {

// ---------------------------------------------------------------- buffers

template <class T> class Buffer {
   public:
    Buffer() = default;
    explicit Buffer(int64_t n) { reset(n); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : raw_(o.raw_), p_(o.p_), n_(o.n_) { o.raw_ = nullptr, o.p_ = nullptr, o.n_ = 0; }
    ~Buffer() { std::free(raw_); }
    // zeroed, 64-byte aligned; from calloc, whose large blocks are fresh pages
    // that the OS zeroes as they are first touched: a wide buffer of which a
    // pass uses little costs little
    void reset(int64_t n) {
        std::free(raw_);
        raw_ = nullptr, p_ = nullptr;
        n_ = n;
        if (n == 0) return;
        raw_ = std::calloc(size_t(n) * sizeof(T) + 64, 1);
        if (!raw_) throw std::bad_alloc();
        p_ = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(raw_) + 63) / 64 * 64);
    }
    T* data() { return p_; }
    const T* data() const { return p_; }
    T& operator[](int64_t i) { return p_[i]; }
    const T& operator[](int64_t i) const { return p_[i]; }
    int64_t size() const { return n_; }

   private:
    void* raw_ = nullptr;
    T* p_ = nullptr;
    int64_t n_ = 0;
};

// Feature counts of the two layouts, for this instruction set's vectors.
template <class T> struct Dims : Layout {
    Dims(int64_t d, Cov cov) : Layout(d, cov, Simd<T>::W) {}
};

// ---------------------------------------------------------------- chunk copy

// Even and odd lanes of the concatenation of a and b.
template <class V, size_t... I> inline V even_lanes(V a, V b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, (2 * I)...);
}
template <class V, size_t... I> inline V odd_lanes(V a, V b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, (2 * I + 1)...);
}

// D consecutive vectors holding W rows of D features -> D vectors of one
// feature each (D a power of two): split even and odd elements, recurse.
template <int D, class V> inline void deinterleave(const V* in, V* out) {
    if constexpr (D == 1) {
        out[0] = in[0];
    } else {
        constexpr auto lanes = std::make_index_sequence<sizeof(V) / sizeof(in[0][0])>{};
        V e[D / 2], o[D / 2], oe[D / 2], oo[D / 2];
        for (int j = 0; j < D / 2; ++j) {
            e[j] = even_lanes(in[2 * j], in[2 * j + 1], lanes);
            o[j] = odd_lanes(in[2 * j], in[2 * j + 1], lanes);
        }
        deinterleave<D / 2>(e, oe);
        deinterleave<D / 2>(o, oo);
        for (int i = 0; i < D / 2; ++i) out[2 * i] = oe[i], out[2 * i + 1] = oo[i];
    }
}

// W vectors -> the vector of their sums (lane q: the sum of a[q]'s lanes), in
// place in a[0]: pairs of vectors halve to one by adding their even and odd
// lanes, a fixed order done with shuffles in registers.
template <int N, class V> inline void lane_sums(V* a) {
    if constexpr (N > 1) {
        constexpr auto lanes = std::make_index_sequence<sizeof(V) / sizeof(a[0][0])>{};
        for (int k = 0; k < N / 2; ++k)
            a[k] = even_lanes(a[2 * k], a[2 * k + 1], lanes) + odd_lanes(a[2 * k], a[2 * k + 1], lanes);
        lane_sums<N / 2>(a);
    }
}

// Rows stored back to back (row stride D, column stride 1), D a power of two
// up to 8: W rows at a time through registers.
template <class T, int D>
inline int64_t gather_packed(const T* base, const T* sh, int64_t rows, int64_t B, T* __restrict xt) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    int64_t b = 0;
    for (; b + W <= rows; b += W) {
        V in[D], out[D];
        for (int j = 0; j < D; ++j) in[j] = vload<V>(base + (b * D + j * W));
        deinterleave<D>(in, out);
        for (int i = 0; i < D; ++i) vstore(xt + i * B + b, out[i] - sh[i]);
    }
    return b;
}

// Rows with unit column stride and at least W features: W x W blocks transposed
// through registers, for the first D - D mod W features of W rows at a time;
// row(p) is the address of the p-th row to copy (of `rows`).
template <class T, class Row>
inline int64_t gather_blocks(Row row, int64_t D, const T* sh, int64_t rows, int64_t B, T* __restrict xt) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    int64_t b = 0;
    for (; b + W <= rows; b += W) {
        // the rows two blocks on are prefetched: the hardware prefetchers do not
        // follow W interleaved row streams well (k-means++ seeding, which is this
        // copy and little else, 15-20 % faster on S3-S5), nor scattered rows
        const int64_t ahead = std::min(b + 2 * W, rows - W);
        for (int64_t j = 0; j + W <= D; j += W) {
            V in[W], out[W];
            for (int q = 0; q < W; ++q) in[q] = vload<V>(row(b + q) + j);
            for (int q = 0; q < W; ++q) __builtin_prefetch(row(ahead + q) + j);
            deinterleave<W>(in, out);
            for (int i = 0; i < W; ++i) vstore(xt + (j + i) * B + b, out[i] - sh[j + i]);
        }
    }
    // the features left over, for the rows the blocks covered
    for (int64_t p = 0; p < b; ++p)
        for (int64_t i = D / W * W; i < D; ++i) xt[i * B + p] = row(p)[i] - sh[i];
    return b;
}

// xt (and xa if given) <- rows [r0, r0 + rows) of X minus the shift, in T (the
// dtype of X, so that every path computes x - shift identically); padding rows are 0.
template <class T>
inline void gather_typed(const T* base, const Data& X, const T* sh, int64_t r0, int64_t rows, int64_t B,
                         T* __restrict xt, T* __restrict xa, int64_t Da) {
    constexpr int W = Simd<T>::W;
    const int64_t D = X.d, rs = X.row_stride, cs = X.col_stride;
    base += r0 * rs;
    int64_t b = 0;
    if (cs == 1 && rs == D) {
        switch (D) {
            case 1: b = gather_packed<T, 1>(base, sh, rows, B, xt); break;
            case 2: b = gather_packed<T, 2>(base, sh, rows, B, xt); break;
            case 4: b = gather_packed<T, 4>(base, sh, rows, B, xt); break;
            case 8: b = gather_packed<T, 8>(base, sh, rows, B, xt); break;
            default: break;
        }
    }
    if (b == 0 && cs == 1 && D >= W)
        b = gather_blocks<T>([&](int64_t p) { return base + p * rs; }, D, sh, rows, B, xt);
    // 8 rows at a time: contiguous runs of 8 stores into the feature-major copy
    constexpr int R = 8;
    for (; b + R <= rows; b += R) {
        const T* row = base + b * rs;
        for (int64_t i = 0; i < D; ++i) {
            T* out = xt + i * B + b;
            for (int q = 0; q < R; ++q) out[q] = row[q * rs + i * cs] - sh[i];
        }
    }
    for (; b < rows; ++b)
        for (int64_t i = 0; i < D; ++i) xt[i * B + b] = base[b * rs + i * cs] - sh[i];
    for (int64_t i = 0; i < D; ++i)
        for (int64_t p = rows; p < B; ++p) xt[i * B + p] = T(0);
    if (xa) {
        for (int64_t p = 0; p < rows; ++p) {
            const T* row = base + p * rs;
            T* out = xa + p * Da;
            if (cs == 1)
                for (int64_t i = 0; i < D; ++i) out[i] = row[i] - sh[i];
            else
                for (int64_t i = 0; i < D; ++i) out[i] = row[i * cs] - sh[i];
        }
        for (int64_t p = rows; p < B; ++p)
            for (int64_t i = 0; i < D; ++i) xa[p * Da + i] = T(0);
    }
}

// Element (r, i) of X, read byte-wise: valid at any address.
template <class T> inline T element(const Data& X, int64_t r, int64_t i) {
    T v;
    std::memcpy(&v, static_cast<const unsigned char*>(X.ptr) + (r * X.row_stride + i * X.col_stride) * int64_t(sizeof(T)),
                sizeof(T));
    return v;
}

// gather_typed for X at an address that is not a multiple of T's size
// (np.frombuffer(buf, offset=3), a memory map at an odd offset): each element
// read byte-wise, with no copy of X; padding as gather_typed's.
template <class T>
inline void gather_unaligned(const Data& X, const T* sh, int64_t r0, int64_t rows, int64_t B, T* __restrict xt,
                             T* __restrict xa, int64_t Da) {
    const int64_t D = X.d;
    for (int64_t i = 0; i < D; ++i) std::fill(xt + i * B + rows, xt + (i + 1) * B, T(0));
    for (int64_t p = 0; p < rows; ++p)
        for (int64_t i = 0; i < D; ++i) {
            const T v = element<T>(X, r0 + p, i) - sh[i];
            xt[i * B + p] = v;
            if (xa) xa[p * Da + i] = v;
        }
    if (xa)
        for (int64_t p = rows; p < B; ++p) std::fill(xa + p * Da, xa + p * Da + D, T(0));
}

// Rows [r0, r0 + rows) of X minus shift into xt (and xa if given). X has the
// working type's dtype; sh is the shift in that type.
template <class T>
inline void gather(const Data& X, const T* sh, int64_t r0, int64_t rows, int64_t B, T* xt, T* xa, int64_t Da) {
    if (reinterpret_cast<uintptr_t>(X.ptr) % alignof(T))
        gather_unaligned<T>(X, sh, r0, rows, B, xt, xa, Da);
    else
        gather_typed<T>(static_cast<const T*>(X.ptr), X, sh, r0, rows, B, xt, xa, Da);
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
    int64_t K = 0;
    Dims<T> dims;
    Buffer<T> m;    // K x Dm: centre of component k minus shift (0-padded)
    Buffer<T> P;    // full K x D x D, tied D x D (upper triangular); diag K x Dm; spherical K
    Buffer<T> mp;   // diag: K x Dm, m * P (the E-step's y = x P - m P is one FMA per feature)
    Buffer<T> cst;  // K: log pi_k + log det P_k - D/2 log(2 pi)
    Buffer<T> zero;  // Dm zeros
    Buffer<T> shift;  // D: the shift in T (it is exactly representable there)
    std::vector<double> centers;  // K x D: shift + m in float64, what the statistics are centred on
    // Student-t components (then cst is 0, so that the Gaussian kernels give -delta^2 / 2):
    // log pi_k + log Gamma((nu + D) / 2) - log Gamma(nu / 2) - D/2 log(nu pi) + log det P_k,
    // (nu + D) / 2, 1 / nu, D / nu, (nu + D) / nu and its logarithm, per component
    bool student = false;
    Buffer<T> t_cst, t_half, t_inv_nu, t_d_nu, t_ratio, t_log_ratio;

    int64_t D() const { return dims.D; }
    const T* mean(int64_t k) const { return m.data() + k * dims.Dm; }
    const T* prec(int64_t k) const {
        switch (cov) {
            case Cov::Full: return P.data() + k * dims.D * dims.D;
            case Cov::Tied: return P.data();
            case Cov::Diag: return P.data() + k * dims.Dm;
            default: return P.data() + k;
        }
    }

    // From centres only (statistics passes with fixed responsibilities).
    Model(Cov c, int64_t k, int64_t d, const double* centres, const double* shift_)
        : cov(c), K(k), dims(d, c), m(k * dims.Dm), cst(k), zero(dims.Dm), shift(d), centers(size_t(k * d)) {
        for (int64_t i = 0; i < d; ++i) shift[i] = T(shift_[i]);
        for (int64_t kk = 0; kk < K; ++kk)
            for (int64_t i = 0; i < d; ++i) {
                T v = T(centres[kk * d + i] - double(shift[i]));
                m[kk * dims.Dm + i] = v;
                centers[size_t(kk * d + i)] = double(shift[i]) + double(v);
            }
    }

    // From a full parameter set (E-step passes).
    Model(const Params& p, const double* shift) : Model(p.cov, p.K, p.D, p.means, shift) {
        const int64_t D = p.D, Dm = dims.Dm;
        std::vector<double> logdet(static_cast<size_t>(K), 0.0);
        switch (cov) {
            case Cov::Full:
            case Cov::Tied: {
                const int64_t nm = cov == Cov::Full ? K : 1;
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
                P.reset(K * Dm);
                mp.reset(K * Dm);
                for (int64_t kk = 0; kk < K; ++kk)
                    for (int64_t i = 0; i < D; ++i) {
                        P[kk * Dm + i] = T(p.prec_chol[kk * D + i]);
                        mp[kk * Dm + i] = T(double(m[kk * Dm + i]) * p.prec_chol[kk * D + i]);
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
            cst[kk] = T(p.log_weights[kk] + logdet[size_t(kk)] - double(D) * kHalfLog2Pi);
        if (p.dofs) set_student(p, logdet);
    }

    // The constants of Student-t components (in float64, then rounded once).
    void set_student(const Params& p, const std::vector<double>& logdet) {
        const double D = double(p.D), log_pi = 1.1447298858494001741;
        student = true;
        dims.scale_weights = true;
        for (Buffer<T>* b : {&t_cst, &t_half, &t_inv_nu, &t_d_nu, &t_ratio, &t_log_ratio}) b->reset(K);
        for (int64_t k = 0; k < K; ++k) {
            const double nu = p.dofs[k];
            t_cst[k] = T(p.log_weights[k] + std::lgamma((nu + D) / 2) - std::lgamma(nu / 2) -
                         D / 2 * (std::log(nu) + log_pi) + logdet[size_t(k)]);
            t_half[k] = T((nu + D) / 2);
            t_inv_nu[k] = T(1 / nu);
            t_d_nu[k] = T(D / nu);
            t_ratio[k] = T((nu + D) / nu);
            t_log_ratio[k] = T(std::log1p(D / nu));
            cst[k] = T(0);
        }
    }
};

// ---------------------------------------------------------------- accumulators

// Statistics of a block in float64, with the padded strides of the kernels
// (s1: K x Da, s2: full K x Da x Da, tied Da x Da, diag K x Da, spherical K).
struct Acc {
    Cov cov;
    int64_t K, D, Da;
    std::vector<double> s0, s1, s2;
    std::vector<double> resp, log_scale;  // Student-t passes only (Stats::resp)
    double loglik = 0.0, weight = 0.0;
    std::vector<double> worst_value;
    std::vector<int64_t> worst_row;

    Acc(Cov c, int64_t k, int64_t d, int64_t da, int worst_cap)
        : cov(c), K(k), D(d), Da(da), s0(size_t(k)), s1(size_t(k * da)), s2(size_t(s2_size(c, k, da))),
          resp(size_t(k)), log_scale(size_t(k)) {
        worst_value.reserve(size_t(worst_cap) + 1);
        worst_row.reserve(size_t(worst_cap) + 1);
    }
    double* s1k(int64_t k) { return s1.data() + k * Da; }
    double* s2k(int64_t k) {
        switch (cov) {
            case Cov::Full: return s2.data() + k * Da * Da;
            case Cov::Tied: return s2.data();
            case Cov::Diag: return s2.data() + k * Da;
            default: return s2.data() + k;
        }
    }
};

// Per-thread scratch, allocated before the parallel region (sizes: geometry.hpp).
template <class T> struct Workspace {
    Buffer<T> xt, xa, L, w, tot, d, rd, s1;
    Buffer<T> U;  // Student-t: K rows of B scale weights u, then K rows of log u - u + 1
    Buffer<int32_t> rows;
    Buffer<double> dbuf;
    Workspace(const Dims<T>& dm, int64_t K, int64_t B) : Workspace(workspace_size(dm, K, B)) {}
    explicit Workspace(const WorkspaceSize& n)
        : xt(n.xt), xa(n.xa), L(n.L), w(n.w), tot(n.tot), d(n.d), rd(n.rd), s1(n.s1), U(n.U), rows(n.rows),
          dbuf(n.dbuf) {}
};

// One chunk as the kernels see it.
template <class T> struct Chunk {
    const T* xt;  // Ds x B, feature-major
    const T* xa;  // B x Da, row-major (null unless dims.row_major)
    int64_t B;
    int64_t rows;  // rows of X in this chunk (the rest is padding)
};

// ---------------------------------------------------------------- per-row distances

// The diagonal and spherical E-step's Kernel::components<U, KB> (U vectors of
// rows, KB components from k0) over a chunk's B rows: four vectors at a time for
// one component, then two, then one. Independent chains of multiply-adds (a chunk
// of wide rows holds one or two vectors); each row's sum is the same whichever.
template <class Kernel, int KB, class T>
inline void over_row_vectors(const Model<T>& md, int64_t k0, const T* xt, int64_t B, T* out) {
    constexpr int W = Simd<T>::W;
    int64_t v = 0;
    if constexpr (KB == 1)
        for (; v + 4 * W <= B; v += 4 * W) Kernel::template components<4, 1>(md, k0, xt + v, B, out + v);
    for (; v + 2 * W <= B; v += 2 * W) Kernel::template components<2, KB>(md, k0, xt + v, B, out + v);
    for (; v < B; v += W) Kernel::template components<1, KB>(md, k0, xt + v, B, out + v);
}

// ---------------------------------------------------------------- significant rows

// A row's weighted responsibility r counts if r > eps^2 w: what the others
// would add to the statistics lies far below the rounding of the sums.
template <class T> constexpr T negligible() {
    return std::numeric_limits<T>::epsilon() * std::numeric_limits<T>::epsilon();
}

// r[b] <- r[b] q[b] if q is given; then how many of the B rows count (padding
// rows have w = r = 0 and never do), or B if not asked to count.
template <class T> inline int64_t scale_and_count(T* r, const T* q, const T* w, int64_t B, bool count) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    using I = decltype(V{} < V{});
    if (q)
        for (int64_t v = 0; v < B; v += W) vstore(r + v, vload<V>(r + v) * vload<V>(q + v));
    if (!count) return B;
    I n = {};
    for (int64_t v = 0; v < B; v += W) n -= vload<V>(r + v) > negligible<T>() * vload<V>(w + v);
    int64_t total = 0;
    for (int i = 0; i < W; ++i) total += int64_t(n[i]);
    return total;
}

// The indices of the rows that count, in order. Usually few rows count for a
// component: whole vectors of rows that do not are skipped in one test.
template <class T> inline int64_t list_significant(const T* r, const T* w, int64_t B, int32_t* out) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    constexpr unsigned all = (1u << W) - 1;
    int64_t n = 0;
    for (int64_t v = 0; v < B; v += W) {
        unsigned bits = greater_bits(vload<V>(r + v), negligible<T>() * vload<V>(w + v));
        if (bits == all) {  // every row counts: the common case of broad components
            for (int q = 0; q < W; ++q) out[n + q] = int32_t(v + q);
            n += W;
            continue;
        }
        for (; bits; bits &= bits - 1) out[n++] = int32_t(v + __builtin_ctz(bits));
    }
    return n;
}

// ---------------------------------------------------------------- small helpers

// dst[0 : W] += v, converting to float64.
template <class V> inline void add_to(double* dst, V v) {
    if constexpr (sizeof(v[0]) == sizeof(double)) {
        vstore(dst, vload<V>(dst) + v);
    } else {
        constexpr size_t n = sizeof(V) / sizeof(float);
        constexpr auto half = std::make_index_sequence<n / 2>{};
        vstore(dst, vload<vdouble>(dst) + __builtin_convertvector(lower_half(v, half), vdouble));
        vstore(dst + n / 2, vload<vdouble>(dst + n / 2) + __builtin_convertvector(upper_half(v, half), vdouble));
    }
}

// Row sums of a (rows x B) feature-major block, added into out (float64).
template <class T> inline void row_sums(const T* a, int64_t rows, int64_t B, double* out) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t i = 0; i < rows; ++i) {
        V s0 = {}, s1 = {};
        const T* ai = a + i * B;
        int64_t v = 0;
        for (; v + 2 * W <= B; v += 2 * W) {
            s0 += vload<V>(ai + v);
            s1 += vload<V>(ai + v + W);
        }
        if (v < B) s0 += vload<V>(ai + v);  // B is a whole number of vectors
        out[i] += double(hsum<T>(s0 + s1));
    }
}

// out[ii][jj] = sum_b a[ii][b] * b[jj][b] for a TI x TJ tile (a, b feature-major
// with row stride B). A function of its own so that the accumulators stay in registers.
template <class T, int TI, int TJ>
inline void dot_tile(const T* a, const T* b, int64_t B, T (&out)[TI][TJ]) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    V acc[TI][TJ] = {};
    for (int64_t v = 0; v < B; v += W) {
        V av[TI], bv[TJ];
        for (int ii = 0; ii < TI; ++ii) av[ii] = vload<V>(a + ii * B + v);
        for (int jj = 0; jj < TJ; ++jj) bv[jj] = vload<V>(b + jj * B + v);
        for (int ii = 0; ii < TI; ++ii)
            for (int jj = 0; jj < TJ; ++jj) acc[ii][jj] += av[ii] * bv[jj];
    }
    for (int ii = 0; ii < TI; ++ii)
        for (int jj = 0; jj < TJ; ++jj) out[ii][jj] = hsum<T>(acc[ii][jj]);
}

// C[i][j] += sum_b A[i][b] * Bm[j][b] for j <= i < D (lower triangle, row
// stride ldc). A and Bm are feature-major with Ds rows, rows >= D all zero.
template <class T>
inline void syrk_lower(const T* A, const T* Bm, int64_t D, int64_t Ds, int64_t B, double* C, int64_t ldc) {
#if EMFAST_VBYTES == 64
    constexpr int TI = 4;
#else
    constexpr int TI = 2;
#endif
    constexpr int TJ = 4;
    for (int64_t i0 = 0; i0 < Ds; i0 += TI) {
        for (int64_t j0 = 0; j0 <= i0; j0 += TJ) {
            T sums[TI][TJ];
            dot_tile<T, TI, TJ>(A + i0 * B, Bm + j0 * B, B, sums);
            for (int ii = 0; ii < TI; ++ii)
                for (int jj = 0; jj < TJ; ++jj) {
                    const int64_t i = i0 + ii, j = j0 + jj;
                    if (i < D && j <= i) C[i * ldc + j] += double(sums[ii][jj]);
                }
        }
    }
}

// C[i0 + ii][j0 : j0 + NV W] += sum_t a[t][i0 + ii] * (x[rows[t]][j0 : ...] - m[j0 : ...])
// for ii < MR: an MR x NV-vector tile of outer products, accumulators in registers.
template <class T, int MR, int NV>
inline void outer_tile(const T* a, const T* x, int64_t ld, const T* m, const int32_t* rows, int64_t n, int64_t i0,
                       int64_t j0, double* C) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    V acc[MR][NV] = {};
    V mv[NV];
    for (int v = 0; v < NV; ++v) mv[v] = vload<V>(m + j0 + v * W);
    for (int64_t t = 0; t < n; ++t) {
        const T* xr = x + int64_t(rows[t]) * ld + j0;
        V d[NV];
        for (int v = 0; v < NV; ++v) d[v] = vload<V>(xr + v * W) - mv[v];
        const T* ar = a + t * ld + i0;
        for (int ii = 0; ii < MR; ++ii)
            for (int v = 0; v < NV; ++v) acc[ii][v] += ar[ii] * d[v];
    }
    for (int ii = 0; ii < MR; ++ii)
        for (int v = 0; v < NV; ++v) add_to(C + (i0 + ii) * ld + j0 + v * W, acc[ii][v]);
}

template <class T, int MR, int NV>
inline void outer_lower_t(const T* a, const T* x, int64_t Da, const T* m, const int32_t* rows, int64_t n,
                          double* C) {
    constexpr int W = Simd<T>::W, NW = NV * W;
    for (int64_t i0 = 0; i0 < Da; i0 += MR) {
        // wide tiles left of the diagonal, one-vector tiles up to it: no wide
        // tile reaches far into the upper triangle, whose products are wasted
        int64_t j0 = 0;
        for (; j0 + NW <= i0 + MR; j0 += NW) outer_tile<T, MR, NV>(a, x, Da, m, rows, n, i0, j0, C);
        for (; j0 < i0 + MR; j0 += W) outer_tile<T, MR, 1>(a, x, Da, m, rows, n, i0, j0, C);
    }
}

// The lower triangle (and some of the upper, which is discarded) of
// C += sum_t a[t] (x[rows[t]] - m)^T, all rows of length Da (a, C: stride Da).
template <class T>
inline void outer_lower(const T* a, const T* x, int64_t Da, const T* m, const int32_t* rows, int64_t n, double* C) {
    constexpr int W = Simd<T>::W;
    // as many accumulators as the register file holds (32 vector registers with
    // AVX-512, 16 otherwise), with tiles that divide Da
    constexpr int kMaxAcc = EMFAST_VBYTES == 64 ? 16 : 8;
    const bool two = Da % (2 * W) == 0;
    if (Da % 8 == 0) {
        if (two && 16 <= kMaxAcc) return outer_lower_t<T, 8, 2>(a, x, Da, m, rows, n, C);
        if (two) return outer_lower_t<T, 4, 2>(a, x, Da, m, rows, n, C);
        return outer_lower_t<T, 8, 1>(a, x, Da, m, rows, n, C);
    }
    if (Da % 4 == 0) return two ? outer_lower_t<T, 4, 2>(a, x, Da, m, rows, n, C) : outer_lower_t<T, 4, 1>(a, x, Da, m, rows, n, C);
    return outer_lower_t<T, 2, 1>(a, x, Da, m, rows, n, C);
}

// Over the listed rows, columns [j0, j0 + NB W): per column s1 = the sum of
// r[rows[t]] * d, d = x[rows[t]] - m, and either (S2) s2 = the sum of r d * d or
// the products themselves, rd[t] = r d (row-major, stride Da). The sums are held
// in registers across the rows (adding into memory row after row would wait on
// the previous row's store), each in row order.
template <class T, int NB, bool S2>
inline void centred_block(const T* x, int64_t Da, const T* m, const T* r, const int32_t* rows, int64_t n, T* rd,
                          int64_t j0, T* s1, T* s2) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    V mv[NB], a1[NB] = {}, a2[NB] = {};
    for (int u = 0; u < NB; ++u) mv[u] = vload<V>(m + j0 + u * W);
    for (int64_t t = 0; t < n; ++t) {
        const int64_t b = rows[t];
        const T rt = r[b];
        const T* xr = x + b * Da + j0;
        for (int u = 0; u < NB; ++u) {
            const V d = vload<V>(xr + u * W) - mv[u];
            const V v = rt * d;
            a1[u] += v;
            if constexpr (S2)
                a2[u] += v * d;
            else
                vstore(rd + t * Da + j0 + u * W, v);
        }
    }
    for (int u = 0; u < NB; ++u) {
        vstore(s1 + j0 + u * W, a1[u]);
        if constexpr (S2) vstore(s2 + j0 + u * W, a2[u]);
    }
}

// centred_block over all Da columns (Da a multiple of W); returns S0.
template <class T, bool S2>
inline T centred_columns(const T* x, int64_t Da, const T* m, const T* r, const int32_t* rows, int64_t n, T* rd,
                         T* s1, T* s2) {
    constexpr int W = Simd<T>::W, NB = 4;
    int64_t j0 = 0;
    for (; j0 + NB * W <= Da; j0 += NB * W) centred_block<T, NB, S2>(x, Da, m, r, rows, n, rd, j0, s1, s2);
    switch ((Da - j0) / W) {
        case 3: centred_block<T, 3, S2>(x, Da, m, r, rows, n, rd, j0, s1, s2); break;
        case 2: centred_block<T, 2, S2>(x, Da, m, r, rows, n, rd, j0, s1, s2); break;
        case 1: centred_block<T, 1, S2>(x, Da, m, r, rows, n, rd, j0, s1, s2); break;
        default: break;
    }
    T s0 = 0;
    for (int64_t t = 0; t < n; ++t) s0 += r[rows[t]];
    return s0;
}

// rd[t] = r[rows[t]] * (x[rows[t]] - m) for the listed rows (row-major, stride
// Da); returns their S0 and adds their S1 into s1 (Da, float64) unless s1 is null.
template <class T>
inline double centred_rows(const T* x, int64_t Da, const T* m, const T* r, const int32_t* rows, int64_t n, T* rd,
                           T* s1buf, double* s1) {
    const T s0 = centred_columns<T, false>(x, Da, m, r, rows, n, rd, s1buf, nullptr);
    if (s1)
        for (int64_t j = 0; j < Da; ++j) s1[j] += double(s1buf[j]);
    return double(s0);
}

// Over the listed rows: S0, S1 += sum r d and s2 += sum r d * d (per feature),
// d = x[rows[t]] - m, rows of length Da. Returns S0.
template <class T>
inline double diagonal_moments(const T* x, int64_t Da, const T* m, const T* r, const int32_t* rows, int64_t n,
                               T* buf, double* s1, double* s2) {
    T* b1 = buf;
    T* b2 = buf + Da;
    const T s0 = centred_columns<T, true>(x, Da, m, r, rows, n, nullptr, b1, b2);
    for (int64_t j = 0; j < Da; ++j) s1[j] += double(b1[j]), s2[j] += double(b2[j]);
    return double(s0);
}

}  // namespace emfast
