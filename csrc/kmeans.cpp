// scikit-learn's k-means (KMeans(n_init=1): k-means++ seeding, then Lloyd
// iterations to its stopping rule) on the chunked passes: what
// init_params='kmeans' runs, with scikit-learn's random draws given by the
// caller. Rows are centred on `shift` (the column means, as scikit-learn
// centres X before clustering); centres are given and returned centred.
//
// State beyond the model is O(N): the distance of every row to its closest
// seed (seeding) and every row's label (Lloyd). Blocks of chunks are reduced
// in block order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "chunk.hpp"

namespace emfast {
namespace {

// Rows of a chunk, shifted, feature-major (xt[i * B + b]), and their weights.
template <class T> struct ChunkRows {
    Buffer<T> xt, w, d;  // d: scratch, B distances
    ChunkRows(int64_t D, int64_t B) : xt(round_up(D, 4) * B), w(B), d(B) {}
    void load(const Data& X, const double* sw, const T* sh, const Geometry& g, int64_t c) {
        gather<T>(X, sh, g.chunk_begin(c), g.chunk_rows(c), g.B, xt.data(), nullptr, 0);
        gather_weights(sw, g.chunk_begin(c), g.chunk_rows(c), g.B, w.data());
    }
};

template <class T> Buffer<T> shift_in(const double* shift, int64_t D) {
    Buffer<T> sh(D);
    for (int64_t i = 0; i < D; ++i) sh[i] = T(shift[i]);
    return sh;
}

// Geometry of a k-means pass: the statistics are K x D sums, as for spherical covariances.
Geometry kmeans_geometry(const Data& X, int64_t K) { return make_geometry(X.n, X.d, K, Cov::Spherical); }

// For the rows of a chunk from v on (W of them): d[l] = ||x - c_l||^2 exactly (no
// norms expansion) for the L <= kMaxTrials candidates c (L x D, row-major).
constexpr int64_t kMaxTrials = 16;  // 2 + log K candidates: K < e^14
template <class T, int L>
inline void squared_distances(const T* xt, int64_t B, int64_t D, const T* c, typename Simd<T>::V (&d)[L]) {
    using V = typename Simd<T>::V;
    for (int l = 0; l < L; ++l) d[l] = V{};
    for (int64_t i = 0; i < D; ++i) {
        const V x = vload<V>(xt + i * B);
        for (int l = 0; l < L; ++l) {
            const V e = x - c[l * D + i];
            d[l] += e * e;
        }
    }
}

// Calls f(std::integral_constant<int, L>{}) for the number of candidates at run time.
template <class F> void with_trials(int64_t L, F&& f) {
    switch (L) {
        case 1: return f(std::integral_constant<int, 1>{});
        case 2: return f(std::integral_constant<int, 2>{});
        case 3: return f(std::integral_constant<int, 3>{});
        case 4: return f(std::integral_constant<int, 4>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 6: return f(std::integral_constant<int, 6>{});
        case 7: return f(std::integral_constant<int, 7>{});
        case 8: return f(std::integral_constant<int, 8>{});
        case 9: return f(std::integral_constant<int, 9>{});
        case 10: return f(std::integral_constant<int, 10>{});
        case 11: return f(std::integral_constant<int, 11>{});
        case 12: return f(std::integral_constant<int, 12>{});
        case 13: return f(std::integral_constant<int, 13>{});
        case 14: return f(std::integral_constant<int, 14>{});
        case 15: return f(std::integral_constant<int, 15>{});
        default: return f(std::integral_constant<int, 16>{});
    }
}

// ---------------------------------------------------------------- seeding

// Runs body(chunk rows, block partial sums of `width` doubles) over all chunks
// and returns the block sums added in block order.
template <class T, class Body>
std::vector<double> block_sums(const Data& X, const double* sw, const T* sh, const Geometry& g, int64_t width,
                               const Exec& ex, Body body) {
    const int nt = thread_count(ex, g.n_blocks, g.work);
    std::vector<ChunkRows<T>> rows;
    rows.reserve(size_t(nt));
    for (int t = 0; t < nt; ++t) rows.emplace_back(X.d, g.B);
    std::vector<double> parts(size_t(g.n_blocks * width), 0.0);
    Interruption intr(ex, g.n_blocks);
    parallel_for(g.n_blocks, nt, intr, [&](int64_t b, int thread) {
        ChunkRows<T>& ch = rows[size_t(thread)];
        for (int64_t c = g.block_begin(b); c < g.block_begin(b + 1) && !intr.check(); ++c) {
            ch.load(X, sw, sh, g, c);
            body(c, ch, parts.data() + b * width);
        }
    });
    std::vector<double> total(size_t(width), 0.0);
    for (int64_t b = 0; b < g.n_blocks; ++b)
        for (int64_t j = 0; j < width; ++j) total[size_t(j)] += parts[size_t(b * width + j)];
    return total;
}

// For each candidate row l: sum_b w_b min(closest_b, ||x_b - cand_l||^2).
template <class T>
std::vector<double> candidate_potentials(const Data& X, const double* sw, const T* sh, const Geometry& g,
                                         const std::vector<T>& cands, int64_t L, const T* closest, const Exec& ex) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int64_t D = X.d, B = g.B;
    std::vector<double> pots;
    with_trials(L, [&](auto trials) {
        constexpr int NL = trials();
        pots = block_sums<T>(X, sw, sh, g, NL, ex, [&](int64_t c, ChunkRows<T>& ch, double* acc) {
            const T* cl = closest + g.chunk_begin(c);
            V sum[NL] = {};
            for (int64_t v = 0; v < g.chunk_rows(c); v += W) {
                V d[NL];
                squared_distances<T, NL>(ch.xt.data() + v, B, D, cands.data(), d);
                const V w = vload<V>(ch.w.data() + v), old = vload<V>(cl + v);
                for (int l = 0; l < NL; ++l) sum[l] += w * vmin(old, d[l]);
            }
            for (int l = 0; l < NL; ++l) acc[l] += double(hsum<T>(sum[l]));
        });
    });
    return pots;
}

// closest_b <- min(closest_b, ||x_b - cand||^2) for every row; returns the sums of
// w_b closest_b per chunk (for search_cumulative).
template <class T>
std::vector<double> update_closest(const Data& X, const double* sw, const T* sh, const Geometry& g, const T* cand,
                                   T* closest, const Exec& ex) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    std::vector<double> chunk_sums(static_cast<size_t>(g.n_chunks));
    block_sums<T>(X, sw, sh, g, 0, ex, [&](int64_t c, ChunkRows<T>& ch, double*) {
        const int64_t rows = g.chunk_rows(c);
        T* cl = closest + g.chunk_begin(c);
        double total = 0.0;
        for (int64_t v = 0; v < rows; v += W) {
            V d[1];
            squared_distances<T, 1>(ch.xt.data() + v, g.B, X.d, cand, d);
            const V m = vmin(vload<V>(cl + v), d[0]);
            T out[W];
            vstore(out, m);
            for (int64_t b = 0; b < std::min<int64_t>(W, rows - v); ++b) {
                cl[v + b] = out[b];
                total += double(ch.w[v + b]) * double(out[b]);
            }
        }
        chunk_sums[size_t(c)] = total;
    });
    return chunk_sums;
}

// The first index i at which the running sum of w_i closest_i reaches each of
// the (ascending) targets, clipped to n - 1: scikit-learn's searchsorted over the
// cumulative sum, skipping whole chunks by their sums.
template <class T>
void search_cumulative(const double* sw, const T* closest, const Geometry& g, const std::vector<double>& chunk_sums,
                       const double* targets, int64_t L, int64_t* out) {
    int64_t c = 0, i = 0;
    double before = 0.0;  // the running sum before row i
    for (int64_t l = 0; l < L; ++l) {
        const double t = targets[l];
        for (; c < g.n_chunks && i == g.chunk_begin(c) && before + chunk_sums[size_t(c)] < t; i = g.chunk_begin(++c))
            before += chunk_sums[size_t(c)];
        for (; i < g.n; ++i) {
            const double next = before + (sw ? sw[i] : 1.0) * double(closest[i]);
            if (next >= t) break;
            before = next;
            if (i + 1 == g.chunk_begin(c + 1)) ++c;
        }
        out[l] = std::min(i, g.n - 1);
    }
}

template <class T>
void kmeans_plusplus_t(const Data& X, const double* sw, const double* shift, int64_t K, int64_t first,
                       int64_t n_trials, const double* draws, const Exec& ex, int64_t* indices) {
    const int64_t D = X.d, n = X.n;
    const Geometry g = kmeans_geometry(X, n_trials);
    const Buffer<T> sh = shift_in<T>(shift, D);
    auto row = [&](int64_t i, T* out) {  // row i, shifted, as the passes compute it
        for (int64_t j = 0; j < D; ++j) out[j] = element<T>(X, i, j) - sh[j];
    };
    // each row's distance to its closest seed, padded to whole vectors
    Buffer<T> closest(round_up(n, Simd<T>::W));
    std::fill(closest.data(), closest.data() + closest.size(), std::numeric_limits<T>::infinity());
    std::vector<T> cands(static_cast<size_t>(n_trials * D));
    row(first, cands.data());
    indices[0] = first;
    std::vector<double> chunk_sums = update_closest<T>(X, sw, sh.data(), g, cands.data(), closest.data(), ex);
    double pot = 0.0;
    for (double s : chunk_sums) pot += s;
    std::vector<double> targets(static_cast<size_t>(n_trials));
    std::vector<int64_t> ids(static_cast<size_t>(n_trials)), found(static_cast<size_t>(n_trials)),
        order(static_cast<size_t>(n_trials));
    for (int64_t c = 1; c < K; ++c) {
        // the targets in ascending order for one sweep; the ids back in draw order
        const double* u = draws + (c - 1) * n_trials;
        for (int64_t l = 0; l < n_trials; ++l) order[size_t(l)] = l;
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return u[a] < u[b] || (u[a] == u[b] && a < b); });
        for (int64_t l = 0; l < n_trials; ++l) targets[size_t(l)] = u[order[size_t(l)]] * pot;
        search_cumulative<T>(sw, closest.data(), g, chunk_sums, targets.data(), n_trials, found.data());
        for (int64_t l = 0; l < n_trials; ++l) ids[size_t(order[size_t(l)])] = found[size_t(l)];
        for (int64_t l = 0; l < n_trials; ++l) row(ids[size_t(l)], cands.data() + l * D);
        const std::vector<double> pots =
            candidate_potentials<T>(X, sw, sh.data(), g, cands, n_trials, closest.data(), ex);
        const int64_t best = std::min_element(pots.begin(), pots.end()) - pots.begin();  // the first minimum
        pot = pots[size_t(best)];
        chunk_sums = update_closest<T>(X, sw, sh.data(), g, cands.data() + best * D, closest.data(), ex);
        indices[c] = ids[size_t(best)];
        report(ex, "k-means++", c + 1, K);
    }
}

// ---------------------------------------------------------------- Lloyd

// The nearest of K centres (the first on ties) for the W rows of a chunk from v
// on, by scikit-learn's ||c||^2 - 2 x.c (the argmin of the distances); m2c holds
// -2 c (K x D), norms ||c||^2. Four centres at a time share each row load.
template <class T>
inline typename Simd<T>::V nearest(const T* xt, int64_t B, int64_t D, int64_t K, const T* m2c, const T* norms) {
    using V = typename Simd<T>::V;
    V best = vsplat<V>(std::numeric_limits<T>::infinity()), label = {};
    auto take = [&](V d, int64_t k) {
        const auto closer = d < best;
        best = closer ? d : best;
        label = closer ? vsplat<V>(T(k)) : label;
    };
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const T *c0 = m2c + k * D, *c1 = c0 + D, *c2 = c1 + D, *c3 = c2 + D;
        V d0 = vsplat<V>(norms[k]), d1 = vsplat<V>(norms[k + 1]), d2 = vsplat<V>(norms[k + 2]),
          d3 = vsplat<V>(norms[k + 3]);
        for (int64_t i = 0; i < D; ++i) {
            const V x = vload<V>(xt + i * B);
            d0 += x * c0[i], d1 += x * c1[i], d2 += x * c2[i], d3 += x * c3[i];
        }
        take(d0, k), take(d1, k + 1), take(d2, k + 2), take(d3, k + 3);
    }
    for (; k < K; ++k) {
        V d = vsplat<V>(norms[k]);
        for (int64_t i = 0; i < D; ++i) d += vload<V>(xt + i * B) * m2c[k * D + i];
        take(d, k);
    }
    return label;
}

// Each row's label (the nearest centre) and, with `sums`, the weighted sums of
// the rows (K x D) and their weights (K) per label. Returns how many labels changed.
// Rows add into kCopies interleaved copies of the sums (row b into copy b mod
// kCopies), added together at the end: consecutive rows of one cluster would
// otherwise wait on each other's additions.
template <class T>
int64_t assign_pass(const Data& X, const double* sw, const T* sh, const Geometry& g, const std::vector<double>& centers,
                    int64_t K, int32_t* labels, double* sums, const Exec& ex) {
    constexpr int W = Simd<T>::W;
    constexpr int kCopies = 4;
    const int64_t D = X.d, B = g.B, copy = K * (D + 1), width = sums ? kCopies * copy + 1 : 1;
    std::vector<T> m2c(static_cast<size_t>(K * D)), norms(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
        double s = 0.0;
        for (int64_t i = 0; i < D; ++i) {
            const T c = T(centers[size_t(k * D + i)]);
            m2c[size_t(k * D + i)] = T(-2) * c;
            s += double(c) * double(c);
        }
        norms[size_t(k)] = T(s);
    }
    const std::vector<double> total = block_sums<T>(X, sw, sh, g, width, ex, [&](int64_t c, ChunkRows<T>& ch, double* acc) {
        const int64_t r0 = g.chunk_begin(c), rows = g.chunk_rows(c);
        int64_t changed = 0;
        for (int64_t v = 0; v < rows; v += W) {
            T lab[W];
            vstore(lab, nearest<T>(ch.xt.data() + v, B, D, K, m2c.data(), norms.data()));
            for (int64_t b = v; b < std::min(rows, v + W); ++b) {
                const int32_t l = int32_t(lab[b - v]);
                changed += labels[r0 + b] != l;
                labels[r0 + b] = l;
            }
        }
        acc[width - 1] += double(changed);
        if (!sums) return;
        // each row into its label's sums: every sum adds its rows in row order
        const int32_t* lab = labels + r0;
        for (int64_t b = 0; b < rows; ++b) acc[(b % kCopies) * copy + K * D + lab[b]] += double(ch.w[b]);
        // row by row from X (x - shift in T, as the chunk's copy holds it): a row adds
        // into its label's D sums in vectors where its features are contiguous
        const T* base = static_cast<const T*>(X.ptr) + r0 * X.row_stride;
        const int64_t cs = X.col_stride;
        for (int64_t b = 0; b < rows; ++b) {
            const T* x = base + b * X.row_stride;
            const double w = double(ch.w[b]);
            double* a = acc + (b % kCopies) * copy + lab[b] * D;
            if (cs == 1)
                for (int64_t i = 0; i < D; ++i) a[i] += w * double(T(x[i] - sh[i]));
            else
                for (int64_t i = 0; i < D; ++i) a[i] += w * double(T(x[i * cs] - sh[i]));
        }
    });
    if (sums)
        for (int64_t j = 0; j < copy; ++j) {
            double s = 0.0;
            for (int q = 0; q < kCopies; ++q) s += total[size_t(q * copy + j)];
            sums[j] = s;
        }
    return int64_t(total.back());
}

template <class T>
void kmeans_lloyd_t(const Data& X, const double* sw, const double* shift, int64_t K, int64_t max_iter, double tol,
                    int32_t* labels, const Exec& ex, LloydState& st) {
    const int64_t D = X.d;
    const Geometry g = kmeans_geometry(X, K);
    const Buffer<T> sh = shift_in<T>(shift, D);
    std::vector<double> sums(static_cast<size_t>(K * (D + 1)));
    st.n_iter = 0;
    st.strict = st.empty = false;
    if (max_iter == 0) {  // the labels of the given centres only
        assign_pass<T>(X, sw, sh.data(), g, st.centers, K, labels, nullptr, ex);
        return;
    }
    while (st.n_iter < max_iter) {
        st.changed = assign_pass<T>(X, sw, sh.data(), g, st.centers, K, labels, sums.data(), ex);
        ++st.n_iter;
        report(ex, "lloyd", st.n_iter, max_iter);
        st.sums.assign(sums.begin(), sums.begin() + K * D);
        st.weights.assign(sums.begin() + K * D, sums.end());
        if (std::find(st.weights.begin(), st.weights.end(), 0.0) != st.weights.end()) {
            st.empty = true;  // the caller relocates and finishes this iteration
            return;
        }
        double moved = 0.0;
        for (int64_t k = 0; k < K; ++k) {
            // scikit-learn multiplies by 1 / weight; a subnormal weight's reciprocal
            // overflows, and then the division gives the mean
            const double w = st.weights[size_t(k)], alpha = 1.0 / w;
            double s = 0.0;
            for (int64_t i = 0; i < D; ++i) {
                double& c = st.centers[size_t(k * D + i)];
                const double sum = st.sums[size_t(k * D + i)];
                const double updated = std::isfinite(alpha) ? sum * alpha : sum / w;
                s += (updated - c) * (updated - c);
                c = updated;
            }
            const double shift_k = std::sqrt(s);
            moved += shift_k * shift_k;
        }
        if (st.changed == 0) {
            st.strict = true;
            return;
        }
        if (moved <= tol) return;
    }
}

}  // namespace

void kmeans_plusplus(const Data& X, const double* sw, const double* shift, int64_t K, int64_t first,
                     int64_t n_trials, const double* draws, const Exec& ex, int64_t* indices) {
    if (X.is_float)
        kmeans_plusplus_t<float>(X, sw, shift, K, first, n_trials, draws, ex, indices);
    else
        kmeans_plusplus_t<double>(X, sw, shift, K, first, n_trials, draws, ex, indices);
}

void kmeans_closest(const Data& X, const double* sw, const double* shift, const double* cands, int64_t L,
                    void* closest, bool update, const Exec& ex, double* out) {
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const Geometry g = kmeans_geometry(X, L);
        const Buffer<T> sh = shift_in<T>(shift, X.d);
        std::vector<T> c(cands, cands + L * X.d);  // rows of X minus the shift, in T: exact
        T* cl = static_cast<T*>(closest);
        if (update) {
            const std::vector<double> sums = update_closest<T>(X, sw, sh.data(), g, c.data(), cl, ex);
            out[0] = 0.0;
            for (double s : sums) out[0] += s;
        } else {
            const std::vector<double> pots = candidate_potentials<T>(X, sw, sh.data(), g, c, L, cl, ex);
            std::copy(pots.begin(), pots.end(), out);
        }
    };
    if (X.is_float)
        run(float{});
    else
        run(double{});
}

void kmeans_lloyd(const Data& X, const double* sw, const double* shift, int64_t K, int64_t max_iter, double tol,
                  int32_t* labels, const Exec& ex, LloydState& st) {
    if (X.is_float)
        kmeans_lloyd_t<float>(X, sw, shift, K, max_iter, tol, labels, ex, st);
    else
        kmeans_lloyd_t<double>(X, sw, shift, K, max_iter, tol, labels, ex, st);
}

}  // namespace emfast
