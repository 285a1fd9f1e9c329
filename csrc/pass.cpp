// The passes over X: fused E-step + statistics (one EM iteration), statistics
// from fixed responsibilities (initialisation), and read-only scoring.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "chunk.hpp"
#include "covariance/diag.hpp"
#include "covariance/full.hpp"
#include "covariance/spherical.hpp"
#include "covariance/tied.hpp"

namespace emfast {

namespace {

// ---------------------------------------------------------------- accumulators

// Keeps the `cap` smallest (value, row) pairs in ascending order.
void worst_insert(Acc& s, int cap, double value, int64_t row) {
    auto& v = s.worst_value;
    auto& r = s.worst_row;
    size_t pos = v.size();
    while (pos > 0 && (v[pos - 1] > value || (v[pos - 1] == value && r[pos - 1] > row))) --pos;
    if (pos >= size_t(cap)) return;
    v.insert(v.begin() + long(pos), value);
    r.insert(r.begin() + long(pos), row);
    if (v.size() > size_t(cap)) v.pop_back(), r.pop_back();
}

void acc_add(Acc& into, const Acc& from, int cap) {
    for (size_t i = 0; i < into.s0.size(); ++i) into.s0[i] += from.s0[i];
    for (size_t i = 0; i < into.s1.size(); ++i) into.s1[i] += from.s1[i];
    for (size_t i = 0; i < into.s2.size(); ++i) into.s2[i] += from.s2[i];
    for (size_t i = 0; i < into.resp.size(); ++i) into.resp[i] += from.resp[i], into.log_scale[i] += from.log_scale[i];
    into.loglik += from.loglik;
    into.weight += from.weight;
    for (size_t i = 0; i < from.worst_value.size(); ++i) worst_insert(into, cap, from.worst_value[i], from.worst_row[i]);
}

// Total sample weight of a chunk, in float64 whatever the working type.
double chunk_weight(const double* sw, int64_t r0, int64_t rows) {
    if (!sw) return double(rows);
    double s = 0.0;
    for (int64_t b = 0; b < rows; ++b) s += sw[r0 + b];
    return s;
}

// The padded accumulators as Stats: unpadded, S2 symmetric, tied statistics
// re-centred from the shift onto the centres:
//   S1_k = S1'_k - S0_k m_k
//   S2   = S' - sum_k (S1'_k m_k^T + m_k S1'_k^T) + sum_k S0_k m_k m_k^T
template <class T> Stats finish(const Model<T>& md, const Acc& a) {
    const int64_t K = a.K, D = a.D, Da = a.Da;
    Stats out(a.cov, K, D);
    out.s0 = a.s0;
    for (int64_t k = 0; k < K; ++k)
        for (int64_t i = 0; i < D; ++i) out.s1[size_t(k * D + i)] = a.s1[size_t(k * Da + i)];
    switch (a.cov) {
        case Cov::Full:
        case Cov::Tied: {
            const int64_t nm = a.cov == Cov::Full ? K : 1;
            for (int64_t k = 0; k < nm; ++k)
                for (int64_t i = 0; i < D; ++i)
                    for (int64_t j = 0; j <= i; ++j)
                        out.s2[size_t(k * D * D + i * D + j)] = a.s2[size_t(k * Da * Da + i * Da + j)];
            break;
        }
        case Cov::Diag:
            for (int64_t k = 0; k < K; ++k)
                for (int64_t i = 0; i < D; ++i) out.s2[size_t(k * D + i)] = a.s2[size_t(k * Da + i)];
            break;
        case Cov::Spherical: out.s2 = a.s2; break;
    }
    if (a.cov == Cov::Tied) {
        std::vector<double> mk(static_cast<size_t>(D));
        for (int64_t k = 0; k < K; ++k) {
            for (int64_t i = 0; i < D; ++i) mk[size_t(i)] = double(md.mean(k)[i]);
            double* s1 = out.s1.data() + k * D;
            const double s0 = out.s0[size_t(k)];
            // grouped as m_i (S0 m_j - S1_j) - S1_i m_j: no intermediate
            // beyond the terms' size (a lone far row has S1 ~ S0 m ~ sqrt(max))
            for (int64_t i = 0; i < D; ++i)
                for (int64_t j = 0; j <= i; ++j)
                    out.s2[size_t(i * D + j)] +=
                        mk[size_t(i)] * (s0 * mk[size_t(j)] - s1[j]) - s1[i] * mk[size_t(j)];
            for (int64_t i = 0; i < D; ++i) s1[i] -= s0 * mk[size_t(i)];
        }
    }
    if (a.cov == Cov::Full || a.cov == Cov::Tied) {
        const int64_t nm = a.cov == Cov::Full ? K : 1;
        for (int64_t k = 0; k < nm; ++k) {
            double* s2 = out.s2.data() + k * D * D;
            for (int64_t i = 0; i < D; ++i)
                for (int64_t j = 0; j < i; ++j) s2[j * D + i] = s2[i * D + j];
        }
    }
    out.centers = md.centers;
    if (md.student) out.resp = a.resp, out.log_scale = a.log_scale;
    out.loglik = a.loglik;
    out.weight = a.weight;
    out.worst_value = a.worst_value;
    out.worst_row = a.worst_row;
    return out;
}

// ---------------------------------------------------------------- responsibilities

// L holds K rows of B log-densities (weighted by log pi_k). On return L holds
// exp(L - mx) with mx the maximum of each row, and sums the row sums, in [1, K].
// With many components most lie so far below a row's best that their exp is
// exactly 0: such a vector of rows is set to 0 without evaluating it.
template <class T> void exponentiate(T* L, int64_t K, int64_t B, T* mx, T* sums) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const V lo = vsplat<V>(exp_underflow<T>());
    for (int64_t v = 0; v < B; v += W) {
        V m = vload<V>(L + v);
        for (int64_t k = 1; k < K; ++k) m = vmax(m, vload<V>(L + k * B + v));
        V s = {};
        for (int64_t k = 0; k < K; ++k) {
            const V x = vload<V>(L + k * B + v) - m;
            const V e = all_less(x, lo) ? V{} : vexp_nonpositive(x);
            vstore(L + k * B + v, e);
            s += e;
        }
        vstore(mx + v, m);
        vstore(sums + v, s);
    }
}

// lse <- log p(x) per row, from exponentiate's mx and sums.
template <class T> void log_sums(const T* mx, const T* sums, int64_t B, T* lse) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t v = 0; v < B; v += W) vstore(lse + v, vload<V>(mx + v) + vlog(vload<V>(sums + v)));
}

// sums[b] <- w[b] / sums[b]: what turns exponentiate's row b into w times
// the responsibilities.
template <class T> void row_factors(const T* w, T* sums, int64_t B) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t v = 0; v < B; v += W) vstore(sums + v, vload<V>(w + v) * vrecip(vload<V>(sums + v)));
}

// L[k][b] <- L[k][b] q[b]
template <class T> void scale_rows(T* L, const T* q, int64_t K, int64_t B) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t k = 0; k < K; ++k)
        for (int64_t v = 0; v < B; v += W) vstore(L + k * B + v, vload<V>(L + k * B + v) * vload<V>(q + v));
}

// sum_b w_b log(sums_b) for weights w_b in {0, 1} (no sample weights: padding
// rows have 0): the logarithm of running products, one per `group` vectors
// rather than one per row. sums_b in [1, K], so a product of `group` of them
// stays finite.
template <class T> T sum_log_unweighted(const T* sums, const T* w, int64_t B, int group) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    V total = {};
    for (int64_t v0 = 0; v0 < B; v0 += int64_t(group) * W) {
        V prod = vsplat<V>(T(1));
        for (int64_t v = v0; v < std::min(B, v0 + int64_t(group) * W); v += W) {
            const V s = vload<V>(sums + v);
            prod *= vload<V>(w + v) > T(0) ? s : vsplat<V>(T(1));
        }
        total += vlog(prod);
    }
    return hsum<T>(total);
}

// How many row sums in [1, K] multiply to a finite T (at most 8).
template <class T> int product_group(int64_t K) {
    const double room = std::log(double(std::numeric_limits<T>::max())) - 1.0;
    return int(std::clamp(room / std::log(double(std::max<int64_t>(K, 2))), 1.0, 8.0));
}

// exponentiate, log_sums and scale_rows: L becomes w times the
// responsibilities, lse log p(x) per row.
template <class T> void normalise(T* L, const T* w, int64_t K, int64_t B, T* lse, T* sums) {
    exponentiate(L, K, B, lse, sums);
    log_sums(lse, sums, B, lse);
    row_factors(w, sums, B);
    scale_rows(L, sums, K, B);
}

// Hard assignment: L (log-densities) becomes w times the one-hot indicator of
// each row's most probable component (the first on ties); lse receives the max.
template <class T> void assign(T* L, const T* w, int64_t K, int64_t B, T* lse) {
    using V = typename Simd<T>::V;
    using I = decltype(V{} < V{});  // lanes as wide as T's
    using Lane = decltype(I{}[0]);
    constexpr int W = Simd<T>::W;
    for (int64_t v = 0; v < B; v += W) {
        V best = vload<V>(L + v);
        I index = {};
        for (int64_t k = 1; k < K; ++k) {
            const V l = vload<V>(L + k * B + v);
            const I better = l > best;
            best = better ? l : best;
            index = better ? vsplat<I>(Lane(k)) : index;
        }
        vstore(lse + v, best);
        const V wv = vload<V>(w + v);
        for (int64_t k = 0; k < K; ++k) vstore(L + k * B + v, index == vsplat<I>(Lane(k)) ? wv : V{});
    }
}

// L[k][b] <- cst_k - 0.5 * maha[k][b]
template <class T> void to_log_density(const Model<T>& md, T* L, int64_t B) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    for (int64_t k = 0; k < md.K; ++k) {
        T* Lk = L + k * B;
        const T c = md.cst[k];
        for (int64_t v = 0; v < B; v += W) vstore(Lk + v, c - T(0.5) * vload<V>(Lk + v));
    }
}

// Student-t log-densities from the Gaussian kernels' output -delta^2 / 2 (Model::cst
// is 0 for the t): L_k = c_k - (nu_k + D) / 2 log(1 + delta^2 / nu_k). With U, also
// each row's scale weight u = (nu + D) / (nu + delta^2) (K rows) and log u - u + 1
// (K rows), the latter from u - 1 = (D / nu - delta^2 / nu) / (1 + delta^2 / nu):
// no cancellation near u = 1, where it is about -(u - 1)^2 / 2.
template <class T> void to_t_log_density(const Model<T>& md, T* L, int64_t B, T* U) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int64_t K = md.K;
    for (int64_t k = 0; k < K; ++k) {
        T* Lk = L + k * B;
        const T c = md.t_cst[k], h = md.t_half[k], inv_nu = md.t_inv_nu[k];
        const T d_nu = md.t_d_nu[k], ratio = md.t_ratio[k], log_ratio = md.t_log_ratio[k];
        for (int64_t v = 0; v < B; v += W) {
            const V z = vload<V>(Lk + v) * (T(-2) * inv_nu);  // delta^2 / nu (2 inv_nu: exact)
            const V lq = vlog1p_nonnegative(z);
            vstore(Lk + v, c - h * lq);
            if (!U) continue;
            const V r = T(1) / (z + T(1));
            vstore(U + k * B + v, ratio * r);
            // a distance beyond the float range has no responsibility: 0, not -inf
            const V g = (log_ratio - lq) - (d_nu - z) * r;
            vstore(U + (K + k) * B + v, z < std::numeric_limits<T>::infinity() ? g : V{});
        }
    }
}

// Student-t statistics of a chunk: adds the sums of R (w times the
// responsibilities) and of R (log u - u + 1) to `a`, then R <- R u and tot <- the
// row sums of R u (what the tied kernel pools).
template <class T> void weight_by_scale(const T* U, int64_t K, int64_t B, T* R, T* tot, Acc& a) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    std::fill(tot, tot + B, T(0));
    for (int64_t k = 0; k < K; ++k) {
        T* Rk = R + k * B;
        const T* u = U + k * B;
        const T* g = U + (K + k) * B;
        V sr = {}, sg = {};
        for (int64_t v = 0; v < B; v += W) {
            const V r = vload<V>(Rk + v), ru = r * vload<V>(u + v);
            sr += r;
            sg += r * vload<V>(g + v);
            vstore(Rk + v, ru);
            vstore(tot + v, vload<V>(tot + v) + ru);
        }
        a.resp[size_t(k)] += double(hsum<T>(sr));
        a.log_scale[size_t(k)] += double(hsum<T>(sg));
    }
}

// Rows of a group see only its components: the others' log-densities become -inf.
template <class T> void restrict_to_groups(T* L, const Groups& g, int64_t r0, int64_t rows, int64_t B, int64_t K) {
    constexpr T none = -std::numeric_limits<T>::infinity();
    for (int64_t b = 0; b < rows; ++b) {
        const int32_t c = g.group[r0 + b];
        if (c < 0) continue;
        for (int64_t k = 0; k < g.begin[c]; ++k) L[k * B + b] = none;
        for (int64_t k = g.begin[c + 1]; k < K; ++k) L[k * B + b] = none;
    }
}

template <class T, class Kernel> void chunk_log_density(const Model<T>& md, const T* xt, int64_t B, T* L) {
    if constexpr (std::is_same_v<Kernel, FullKernel<T>>)
        if (with_small_d(md.D(), [&](auto d) { small_log_density<T, d()>(md, xt, B, L); })) return;
    int64_t k = 0;
    if constexpr (std::is_same_v<Kernel, DiagKernel<T>> || std::is_same_v<Kernel, SphericalKernel<T>>) {
        // a chunk of one or two vectors of rows (wide rows: megabytes, past the
        // core's cache) is read once per four components rather than once per component
        if (B <= 2 * Simd<T>::W)
            for (; k + 4 <= md.K; k += 4) over_row_vectors<Kernel, 4>(md, k, xt, B, L + k * B);
    }
    for (; k < md.K; ++k) Kernel::mahalanobis(md, k, xt, B, L + k * B);
    to_log_density(md, L, B);
}

// ---------------------------------------------------------------- statistics of a chunk

// R: K rows of B weighted responsibilities, or, with q, of what becomes them
// once row b is multiplied by q[b] (done here, one component at a time, while
// its rows are counted); w: sample weights; total: each row's total
// responsibility (w in an E-step pass).
template <class T, class Kernel>
void accumulate_chunk(const Model<T>& md, const Chunk<T>& ch, T* R, const T* q, const T* w, const T* total,
                      Workspace<T>& ws, Acc& a) {
    Kernel::accumulate_chunk(md, ch, total, ws, a);
    // full covariance with D <= kSmallD sums over all rows whatever their count, and
    // a component without a significant row in a whole chunk is rare: no count
    const bool dense = std::is_same_v<Kernel, FullKernel<T>> && md.D() <= kSmallD;
    for (int64_t k = 0; k < md.K; ++k) {
        T* r = R + k * ch.B;
        const int64_t n = scale_and_count(r, q, w, ch.B, !dense);
        if (n > 0) Kernel::accumulate(md, k, ch, r, w, n, ws, a);
    }
}

// ---------------------------------------------------------------- the block loop

// Runs body(chunk, workspace, block_acc) over all chunks, a block at a time per
// thread, then adds the blocks' statistics into `total` in block order.
template <class T, class Body>
void reduce_over_blocks(const Geometry& g, const Exec& ex, const Dims<T>& dims, int64_t K, Acc& total, int cap,
                        Body body) {
    const int nt = thread_count(ex, g.n_blocks, g.work);
    std::vector<Workspace<T>> ws;
    ws.reserve(size_t(nt));
    for (int t = 0; t < nt; ++t) ws.emplace_back(dims, K, g.B);
    std::vector<std::unique_ptr<Acc>> parts(static_cast<size_t>(g.n_blocks));
    Interruption intr(ex, g.n_blocks);
    parallel_for(g.n_blocks, nt, intr, [&](int64_t b, int thread) {
        auto a = std::make_unique<Acc>(total.cov, total.K, total.D, total.Da, cap);
        for (int64_t c = g.block_begin(b); c < g.block_begin(b + 1) && !intr.check(); ++c)
            body(c, ws[size_t(thread)], *a);
        parts[size_t(b)] = std::move(a);
    });
    for (const auto& a : parts) acc_add(total, *a, cap);
}

template <class T> Chunk<T> load_chunk(const Data& X, const Model<T>& md, const Geometry& g, int64_t c,
                                       const Dims<T>& dims, Workspace<T>& ws) {
    const int64_t r0 = g.chunk_begin(c), rows = g.chunk_rows(c);
    T* xa = dims.row_major ? ws.xa.data() : nullptr;
    gather(X, md.shift.data(), r0, rows, g.B, ws.xt.data(), xa, dims.Da);
    return Chunk<T>{ws.xt.data(), xa, g.B, rows};
}

template <class T, class Kernel>
void em_pass_t(const Data& X, const double* sw, const Params& p, const double* shift, const Exec& ex, int n_worst,
               bool hard, const Groups& groups, Stats& out) {
    const Model<T> md(p, shift);
    const Geometry g = make_geometry(X.n, p.D, p.K, p.cov);
    Acc total(p.cov, p.K, p.D, md.dims.Da, n_worst);
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int group = product_group<T>(p.K);
    reduce_over_blocks<T>(g, ex, md.dims, p.K, total, n_worst, [&](int64_t c, Workspace<T>& ws, Acc& a) {
        const Chunk<T> ch = load_chunk(X, md, g, c, md.dims, ws);
        const int64_t r0 = g.chunk_begin(c), B = g.B;
        T* L = ws.L.data();
        T* w = ws.w.data();
        gather_weights(sw, r0, ch.rows, B, w);
        chunk_log_density<T, Kernel>(md, ch.xt, B, L);
        if (md.student) to_t_log_density(md, L, B, ws.U.data());
        if (groups.group) restrict_to_groups(L, groups, r0, ch.rows, B, p.K);
        // mx: each row's largest weighted log-density, a lower bound of log p(x)
        // (equal to it for hard assignments); sums: the sums of exponentials
        T* mx = ws.rd.data();  // free until the statistics are accumulated
        T* sums = ws.tot.data();
        if (hard)
            assign(L, w, p.K, B, mx);
        else
            exponentiate(L, p.K, B, mx, sums);
        // log p(x) of W rows from v on
        auto lse = [&](int64_t v) { return hard ? vload<V>(mx + v) : vload<V>(mx + v) + vlog(vload<V>(sums + v)); };
        V ll = {};
        if (hard || sw) {
            for (int64_t v = 0; v < B; v += W) ll += vload<V>(w + v) * lse(v);
        } else {
            for (int64_t v = 0; v < B; v += W) ll += vload<V>(w + v) * vload<V>(mx + v);
            a.loglik += double(sum_log_unweighted(sums, w, B, group));
        }
        a.loglik += double(hsum<T>(ll));
        a.weight += chunk_weight(sw, r0, ch.rows);
        if (n_worst > 0)
            for (int64_t v = 0; v < ch.rows; v += W) {
                // once the list is full, a whole vector of rows whose lower bound
                // is no worse than its last entry is passed over in one test
                if (a.worst_value.size() == size_t(n_worst) &&
                    !any_greater(vsplat<V>(T(a.worst_value.back())), vload<V>(mx + v)))
                    continue;
                T value[W];
                vstore(value, lse(v));
                for (int64_t b = v; b < std::min(v + W, ch.rows); ++b)
                    if (w[b] > T(0) &&
                        (a.worst_value.size() < size_t(n_worst) || double(value[b - v]) < a.worst_value.back()))
                        worst_insert(a, n_worst, double(value[b - v]), r0 + b);
            }
        if (!hard) row_factors(w, sums, B);  // sums: the factors of the rows of L
        if (md.student) {
            scale_rows(L, sums, p.K, B);
            weight_by_scale(ws.U.data(), p.K, B, L, sums, a);  // sums: the rows' totals
        }
        const T* q = hard || md.student ? nullptr : sums;
        accumulate_chunk<T, Kernel>(md, ch, L, q, w, md.student ? sums : w, ws, a);
    });
    out = finish(md, total);
}

template <class T, class Kernel>
void fixed_pass_t(const Data& X, const double* sw, const Resp& resp, Cov cov, int64_t K, const double* centers,
                  const double* shift, const Exec& ex, Stats& out) {
    const Model<T> md(cov, K, X.d, centers, shift);
    const Geometry g = make_geometry(X.n, X.d, K, cov);
    Acc total(cov, K, X.d, md.dims.Da, 0);
    reduce_over_blocks<T>(g, ex, md.dims, K, total, 0, [&](int64_t c, Workspace<T>& ws, Acc& a) {
        const Chunk<T> ch = load_chunk(X, md, g, c, md.dims, ws);
        const int64_t r0 = g.chunk_begin(c), B = g.B;
        T* R = ws.L.data();
        T* w = ws.w.data();
        T* total_resp = ws.tot.data();
        gather_weights(sw, r0, ch.rows, B, w);
        std::fill(R, R + K * B, T(0));
        for (int64_t b = 0; b < ch.rows; ++b) {
            if (resp.labels) {
                const int64_t l = resp.labels[r0 + b];
                if (l >= 0) R[l * B + b] = w[b];
            } else {
                const T* rr = static_cast<const T*>(resp.resp) + (r0 + b) * resp.row_stride;
                for (int64_t k = 0; k < K; ++k) R[k * B + b] = w[b] * rr[k * resp.col_stride];
            }
        }
        a.weight += chunk_weight(sw, r0, ch.rows);
        for (int64_t b = 0; b < B; ++b) {
            T t = T(0);
            for (int64_t k = 0; k < K; ++k) t += R[k * B + b];
            total_resp[b] = t;
        }
        accumulate_chunk<T, Kernel>(md, ch, R, nullptr, w, total_resp, ws, a);
    });
    out = finish(md, total);
}

template <class T, class Kernel>
void score_pass_t(const Data& X, const Params& p, const double* shift, Score what, void* out_, const Exec& ex) {
    const Model<T> md(p, shift);
    const Geometry g = make_geometry(X.n, p.D, p.K, p.cov);
    const int nt = thread_count(ex, g.n_chunks, g.work);
    Dims<T> dims = md.dims;
    dims.row_major = false;  // no statistics here
    dims.scale_weights = false;
    std::vector<Workspace<T>> wss;
    wss.reserve(size_t(nt));
    for (int t = 0; t < nt; ++t) wss.emplace_back(dims, p.K, g.B);
    const int64_t K = p.K;
    Interruption intr(ex, g.n_chunks);
    parallel_for(g.n_chunks, nt, intr, [&](int64_t c, int thread) {
        Workspace<T>& ws = wss[size_t(thread)];
        const Chunk<T> ch = load_chunk(X, md, g, c, dims, ws);
        const int64_t r0 = g.chunk_begin(c), rows = ch.rows, B = g.B;
        T* L = ws.L.data();
        if (what == Score::Mahalanobis) {
            for (int64_t k = 0; k < K; ++k) Kernel::mahalanobis(md, k, ch.xt, B, L + k * B);
            T* out = static_cast<T*>(out_) + r0 * K;
            for (int64_t b = 0; b < rows; ++b)
                for (int64_t k = 0; k < K; ++k) out[b * K + k] = L[k * B + b];
            return;
        }
        chunk_log_density<T, Kernel>(md, ch.xt, B, L);
        if (md.student) to_t_log_density(md, L, B, static_cast<T*>(nullptr));
        if (what == Score::Predict) {
            int64_t* out = static_cast<int64_t*>(out_) + r0;
            for (int64_t b = 0; b < rows; ++b) {
                int64_t best = 0;
                for (int64_t k = 1; k < K; ++k)
                    if (L[k * B + b] > L[best * B + b]) best = k;
                // -1: no finite log-density (the distances overflowed); the caller recomputes the row
                out[b] = L[best * B + b] > -std::numeric_limits<T>::infinity() ? best : -1;
            }
            return;
        }
        T* out = static_cast<T*>(out_) + (what == Score::LogProbNorm ? r0 : r0 * K);
        if (what == Score::WeightedLogProb || what == Score::LogResp) {
            for (int64_t b = 0; b < rows; ++b)
                for (int64_t k = 0; k < K; ++k) out[b * K + k] = L[k * B + b];
            if (what == Score::WeightedLogProb) return;
        }
        T* w = ws.w.data();
        T* lse = ws.rd.data();
        std::fill(w, w + B, T(1));
        normalise(L, w, K, B, lse, ws.tot.data());
        if (what == Score::LogResp) {  // log resp = log density - lse
            for (int64_t b = 0; b < rows; ++b)
                for (int64_t k = 0; k < K; ++k) out[b * K + k] -= lse[b];
        } else if (what == Score::LogProbNorm) {
            for (int64_t b = 0; b < rows; ++b) out[b] = lse[b];
        } else {  // Proba
            for (int64_t b = 0; b < rows; ++b)
                for (int64_t k = 0; k < K; ++k) out[b * K + k] = L[k * B + b];
        }
    });
}

template <class T> struct Tag {
    using type = T;
};

// Calls f(Tag<T>, Tag<Kernel>) for the dtype of X and the covariance type.
template <class F> void dispatch(bool is_float, Cov cov, F&& f) {
    if (is_float) {
        switch (cov) {
            case Cov::Full: return f(Tag<float>{}, Tag<FullKernel<float>>{});
            case Cov::Tied: return f(Tag<float>{}, Tag<TiedKernel<float>>{});
            case Cov::Diag: return f(Tag<float>{}, Tag<DiagKernel<float>>{});
            case Cov::Spherical: return f(Tag<float>{}, Tag<SphericalKernel<float>>{});
        }
    } else {
        switch (cov) {
            case Cov::Full: return f(Tag<double>{}, Tag<FullKernel<double>>{});
            case Cov::Tied: return f(Tag<double>{}, Tag<TiedKernel<double>>{});
            case Cov::Diag: return f(Tag<double>{}, Tag<DiagKernel<double>>{});
            case Cov::Spherical: return f(Tag<double>{}, Tag<SphericalKernel<double>>{});
        }
    }
}

#define EMFAST_TYPES(t, k) typename decltype(t)::type, typename decltype(k)::type

}  // namespace

void em_pass(const Data& X, const double* sample_weight, const Params& p, const double* shift, const Exec& ex,
             int n_worst, bool hard, const Groups& groups, Stats& out) {
    dispatch(X.is_float, p.cov, [&](auto t, auto k) {
        em_pass_t<EMFAST_TYPES(t, k)>(X, sample_weight, p, shift, ex, n_worst, hard, groups, out);
    });
}

void fixed_pass(const Data& X, const double* sample_weight, const Resp& resp, Cov cov, int64_t K,
                const double* centers, const double* shift, const Exec& ex, Stats& out) {
    dispatch(X.is_float, cov, [&](auto t, auto k) {
        fixed_pass_t<EMFAST_TYPES(t, k)>(X, sample_weight, resp, cov, K, centers, shift, ex, out);
    });
}

void score_pass(const Data& X, const Params& p, const double* shift, Score what, void* out, const Exec& ex) {
    dispatch(X.is_float, p.cov, [&](auto t, auto k) {
        score_pass_t<EMFAST_TYPES(t, k)>(X, p, shift, what, out, ex);
    });
}

}  // namespace emfast
