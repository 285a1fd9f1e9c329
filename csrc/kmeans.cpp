// scikit-learn's k-means (KMeans(n_init=1): k-means++ seeding, then Lloyd
// iterations to its stopping rule) on the chunked passes: what
// init_params='kmeans' runs, with scikit-learn's random draws given by the
// caller. Rows are centred on `shift` (the column means, as scikit-learn
// centres X before clustering); centres are given and returned centred.
//
// State beyond the model is O(N): the distance of every row to its closest
// seed, and that seed with the candidates that came closer (2 or 4 bytes),
// while seeding; every row's label and a 4-byte bound (Lloyd). Both skip the
// rows that the triangle inequality proves unchanged, exactly: the results are
// those of reading every row. Blocks of chunks are reduced in block order, so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "chunk.hpp"

namespace emfast {
namespace {

// A thread's copy of a chunk's rows: the rows read (idx), shifted,
// feature-major (xt[i * B + p]) or, for seeding's row-major kernel where it
// cannot read X in place, row-major (xa, rows of Dp), the chunk's weights and,
// for seeding, each row's min(closest, distance) to each of L candidates (vals, L x B).
template <class T> struct ChunkRows {
    Buffer<T> xt, xa, w, vals;
    Buffer<int32_t> idx;
    ChunkRows(int64_t D, int64_t B, int64_t L = 0, int64_t Dxt = -1, int64_t Dxa = 0)
        : xt((Dxt < 0 ? round_up(D, 4) : Dxt) * B), xa(Dxa * B), w(B), vals(L * B), idx(B) {}
};

// The shift in T, zero-padded to `padded` entries (at least D).
template <class T> Buffer<T> shift_in(const double* shift, int64_t D, int64_t padded = 0) {
    Buffer<T> sh(std::max(D, padded));
    for (int64_t i = 0; i < D; ++i) sh[i] = T(shift[i]);
    return sh;
}

// Geometry of a k-means pass: the statistics are K x D sums, as for spherical covariances.
Geometry kmeans_geometry(const Data& X, int64_t K) { return make_geometry(X.n, X.d, K, Cov::Spherical); }

// For the rows of a chunk from v on (W of them): d[l] = ||x - c_l||^2 exactly (no
// norms expansion) for the L <= kMaxTrials candidates c (L rows of Dc, row-major).
constexpr int64_t kMaxTrials = 16;  // 2 + log K candidates: K < e^14
template <class T, int L>
inline void squared_distances(const T* xt, int64_t B, int64_t D, int64_t Dc, const T* c,
                              typename Simd<T>::V (&d)[L]) {
    using V = typename Simd<T>::V;
    for (int l = 0; l < L; ++l) d[l] = V{};
    for (int64_t i = 0; i < D; ++i) {
        const V x = vload<V>(xt + i * B);
        for (int l = 0; l < L; ++l) {
            const V e = x - c[l * Dc + i];
            d[l] += e * e;
        }
    }
}

// The same for W rows read in place (x[q]: the address of row q, unit column
// stride): lane q of d[l] is sum_i ((x_q[i] - sh[i]) - c_l[i])^2, summed per lane
// over whole vectors of features, the features after the last whole vector in
// one more (zeros beyond D: sh and c are zero-padded to Dp), then across lanes
// (lane_sums). No transposition: the rows are read as they lie in memory.
template <class T, int L>
inline void row_distances(const T* const* x, int64_t D, int64_t Dp, const T* sh, const T* c,
                          typename Simd<T>::V (&d)[L]) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int64_t Dv = D / W * W;
    V acc[L][W];
    for (int q = 0; q < W; ++q) {
        V a[L] = {};  // one row's partial sums, in registers: each x - sh serves every candidate
        auto add = [&](V xv, int64_t i) {
            const V xs = xv - vload<V>(sh + i);
            for (int l = 0; l < L; ++l) {
                const V e = xs - vload<V>(c + l * Dp + i);
                a[l] += e * e;
            }
        };
        for (int64_t i = 0; i < Dv; i += W) add(vload<V>(x[q] + i), i);
        if (Dv < D) {
            V t{};
            for (int64_t i = Dv; i < D; ++i) t[i - Dv] = x[q][i];
            add(t, Dv);
        }
        for (int l = 0; l < L; ++l) acc[l][q] = a[l];
    }
    for (int l = 0; l < L; ++l) {
        lane_sums<W>(acc[l]);
        d[l] = acc[l][0];
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
//
// Each seed reads as little of X as it can, with results bit for bit those of
// reading every row twice (once for the candidates, once to update the closest
// distances):
// - Pruning, exact. Every row keeps its closest seed s, at squared distance
//   closest. A candidate y with ||s - y||^2 >= 4 closest (1 + margin) cannot come
//   closer: ||x - y|| >= ||s - y|| - ||x - s|| >= ||x - s||, so min(closest,
//   ||x - y||^2) is closest whatever the rounding of the computed distances (the
//   margin covers it). Rows that no candidate can come closer to are not read.
// - The candidates' pass marks, per row, the candidates that came closer; the
//   update then reads only the rows marked for the chosen one.

// Per row between passes, in S (uint16_t where it fits, else uint32_t): the
// closest seed << L | a bit per candidate (of L) that came closer.
template <class S> struct Seeding {
    S* state = nullptr;         // null: every pass reads every row
    int L = 0;                  // candidates per seed
    std::vector<double> reach;  // per seed: least ||seed - candidate||^2 / (4 (1 + margin))
    int64_t chosen = -1;        // the update's candidate (-1: every row; the first seed)

    // Squared distances carry a relative rounding error of at most (D + 4) eps / 2
    // each; the inequality holds through both with a margin of 11 times that: 32.
    template <class T> static double margin(int64_t D) {
        const double gamma = double(D + 4) * double(std::numeric_limits<T>::epsilon());
        return gamma <= 1e-3 ? 16.0 * gamma : -1.0;  // beyond: no pruning
    }
    // The rows of a chunk a candidates' pass must read (their offsets in idx).
    template <class T> int64_t candidates_rows(const T* closest, int64_t r0, int64_t rows, int32_t* idx) const {
        if (!state) return rows;
        int64_t m = 0;
        for (int64_t b = 0; b < rows; ++b) {
            idx[m] = int32_t(b);
            m += !(double(closest[b]) <= reach[size_t(state[r0 + b] >> L)]);
        }
        return m;
    }
    // The rows of a chunk the update must read.
    int64_t update_rows(int64_t r0, int64_t rows, int32_t* idx) const {
        if (!state || chosen < 0) return rows;
        int64_t m = 0;
        for (int64_t b = 0; b < rows; ++b) {
            idx[m] = int32_t(b);
            m += state[r0 + b] >> chosen & 1u;
        }
        return m;
    }
};

// Runs body(chunk, thread's rows, block partial sums of `width` doubles) over all
// chunks and returns the block sums added in block order.
// Each thread's ChunkRows: xt of Dxt features (-1: D rounded up to 4), xa of Dxa.
template <class T, class Body>
std::vector<double> block_sums(const Data& X, const Geometry& g, int64_t width, int64_t L, const Exec& ex, Body body,
                               int64_t Dxt = -1, int64_t Dxa = 0) {
    const int nt = thread_count(ex, g.n_blocks, g.work);
    std::vector<ChunkRows<T>> rows;
    rows.reserve(size_t(nt));
    for (int t = 0; t < nt; ++t) rows.emplace_back(X.d, g.B, L, Dxt, Dxa);
    std::vector<double> parts(size_t(g.n_blocks * width), 0.0);
    Interruption intr(ex, g.n_blocks);
    parallel_for(g.n_blocks, nt, intr, [&](int64_t b, int thread) {
        ChunkRows<T>& ch = rows[size_t(thread)];
        for (int64_t c = g.block_begin(b); c < g.block_begin(b + 1) && !intr.check(); ++c)
            body(c, ch, parts.data() + b * width);
    });
    std::vector<double> total(size_t(width), 0.0);
    for (int64_t b = 0; b < g.n_blocks; ++b)
        for (int64_t j = 0; j < width; ++j) total[size_t(j)] += parts[size_t(b * width + j)];
    return total;
}

// Rows r0 + idx[p] (p < m) of a chunk of X minus the shift into xt (feature-major,
// B rows), then zero rows to a whole vector; returns the number of rows copied.
// Most of a chunk: the whole chunk's copy (contiguous reads; then row p is row p
// of the chunk). Otherwise gather_blocks's transposition of the scattered rows.
template <class T>
int64_t gather_rows(const Data& X, const T* sh, int64_t r0, int64_t rows, int32_t* idx, int64_t m, int64_t B,
                    T* __restrict xt) {
    constexpr int W = Simd<T>::W;
    if (4 * m > 3 * rows) {
        gather<T>(X, sh, r0, rows, B, xt, nullptr, 0);
        return rows;
    }
    const int64_t D = X.d, rs = X.row_stride;
    int64_t p = 0;
    if (X.col_stride == 1 && D >= W && reinterpret_cast<uintptr_t>(X.ptr) % alignof(T) == 0) {
        const T* base = static_cast<const T*>(X.ptr) + r0 * rs;
        p = gather_blocks<T>([&](int64_t q) { return base + idx[q] * rs; }, D, sh, m, B, xt);
    }
    for (; p < m; ++p)
        for (int64_t i = 0; i < D; ++i) xt[i * B + p] = element<T>(X, r0 + idx[p], i) - sh[i];
    for (int64_t i = 0; i < D; ++i) std::fill(xt + i * B + m, xt + i * B + round_up(m, W), T(0));
    return m;
}

// v[p..p + lanes) of the rows read, as a vector: v + p where every row was read
// (dense), else v at the rows' offsets idx[p..).
template <class T>
inline typename Simd<T>::V gather_lanes(const T* v, const int32_t* idx, int64_t p, int64_t lanes, bool dense) {
    using V = typename Simd<T>::V;
    if (dense) return vload<V>(v + p);
    V out{};
    for (int64_t q = 0; q < lanes; ++q) out[q] = v[idx[p + q]];
    return out;
}

// How the seeding passes read a chunk's rows. Rows of at least
// kRowMajorSeedingBytes: row_distances, on X in place where it has unit column
// stride and T's alignment, else on a shifted row-major copy of the rows read
// (xa); the two give the same bits ((x - shift) - c either way). Shorter rows:
// the feature-major copy (xt) and squared_distances (row by row, rows of 64 and
// 128 bytes, S6's and S1's, gained 4-10 %, inside this machine's noise).
template <class T> struct SeedRows {
    using V = typename Simd<T>::V;
    static constexpr int W = Simd<T>::W;
    const Data& X;
    int64_t D, Dp;         // features, and rounded up to whole vectors
    bool row_major, in_place;
    Buffer<T> shift, sub;  // zero-padded to Dp: the shift, and what row_distances subtracts

    SeedRows(const Data& X_, const double* sh)
        : X(X_), D(X_.d), Dp(round_up(X_.d, W)), shift(shift_in<T>(sh, D, Dp)), sub(Dp) {
        row_major = D * int64_t(sizeof(T)) >= kRowMajorSeedingBytes;
        in_place = X.col_stride == 1 && reinterpret_cast<uintptr_t>(X.ptr) % alignof(T) == 0;
        if (in_place) std::copy(shift.data(), shift.data() + Dp, sub.data());
    }
    int64_t xt_features() const { return row_major ? 0 : round_up(D, 4); }
    int64_t xa_features() const { return row_major && !in_place ? Dp : 0; }

    // Prepares the m rows idx[0..m) of a chunk (every row where m == rows) for
    // distances(); returns how many rows it holds, in idx's order (every row of
    // the chunk where the feature-major copy takes it whole).
    int64_t load(ChunkRows<T>& ch, int64_t r0, int64_t rows, int32_t* idx, int64_t m, int64_t B) const {
        if (!row_major) return gather_rows<T>(X, shift.data(), r0, rows, idx, m, B, ch.xt.data());
        // rows read in place: from a quarter of the chunk on, read it whole (rows
        // pruning skips give the same bits): scattered rows cost about as much
        // memory traffic as the whole chunk (the prefetchers fetch the gaps)
        if (in_place && 4 * m > rows) return rows;
        if (!in_place)
            for (int64_t p = 0; p < m; ++p) {
                T* out = ch.xa.data() + p * Dp;
                const int64_t r = r0 + (m == rows ? p : idx[p]);
                for (int64_t i = 0; i < D; ++i) out[i] = element<T>(X, r, i) - shift[i];
            }
        return m;
    }
    // Distances of the held rows p..p + lanes (lanes <= W; the lanes beyond are
    // padding, a row at distance ||c_l|| from every candidate) to the L
    // candidates c; m: the rows held.
    template <int L>
    void distances(const ChunkRows<T>& ch, int64_t r0, const int32_t* idx, int64_t m, bool dense, int64_t p,
                   int64_t lanes, int64_t B, const T* c, V (&d)[L]) const {
        if (!row_major) return squared_distances<T, L>(ch.xt.data() + p, B, D, Dp, c, d);
        const T* x[W];
        const T* base = static_cast<const T*>(X.ptr);
        auto at = [&](int64_t k) {
            return in_place ? base + (r0 + (dense ? k : idx[k])) * X.row_stride : ch.xa.data() + k * Dp;
        };
        for (int q = 0; q < W; ++q) x[q] = q < lanes ? at(p + q) : sub.data();  // minus sub: a row of zeros
        // the rows two vectors on: scattered rows defeat the hardware prefetchers
        if (in_place)
            for (int64_t k = p + 2 * W; k < std::min(p + 3 * W, m); ++k)
                for (int64_t i = 0; i < D; i += 64 / int64_t(sizeof(T))) __builtin_prefetch(at(k) + i);
        row_distances<T, L>(x, D, Dp, sub.data(), c, d);
    }
};

// For each candidate row l: sum_b w_b min(closest_b, ||x_b - cand_l||^2); marks
// in sd.state the candidates that come closer to each row.
template <class T, class S>
std::vector<double> candidate_potentials(const Data& X, const double* sw, const SeedRows<T>& sr, const Geometry& g,
                                         const std::vector<T>& cands, int64_t L, const T* closest,
                                         const Seeding<S>& sd, const Exec& ex) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    const int64_t B = g.B;
    std::vector<double> pots;
    with_trials(L, [&](auto trials) {
        constexpr int NL = trials();
        pots = block_sums<T>(X, g, NL, NL, ex, [&](int64_t c, ChunkRows<T>& ch, double* acc) {
            const int64_t r0 = g.chunk_begin(c), rows = g.chunk_rows(c), padded = round_up(rows, W);
            const T* cl = closest + r0;
            int32_t* idx = ch.idx.data();
            gather_weights(sw, r0, rows, B, ch.w.data());
            const int64_t m = sr.load(ch, r0, rows, idx, sd.candidates_rows(cl, r0, rows, idx), B);
            // the sums of w min(closest, distance), a vector of rows at a time in row
            // order; state: the candidates that came closer. Rows read from part of
            // the chunk leave their values in vals (closest where not read) for the sums.
            const bool dense = m == rows;  // every row read: row p is row p of the chunk
            T* vals = ch.vals.data();
            if (!dense)
                for (int l = 0; l < NL; ++l) {
                    std::copy(cl, cl + rows, vals + l * B);
                    std::fill(vals + l * B + rows, vals + l * B + padded, T(0));  // weight 0
                }
            if (sd.state)
                for (int64_t b = 0; b < rows; ++b) sd.state[r0 + b] = S(sd.state[r0 + b] >> NL << NL);
            using M = decltype(V{} < V{});  // integer lanes as wide as T's
            V sum[NL] = {};
            for (int64_t p = 0; p < m; p += W) {
                const int64_t lanes = std::min<int64_t>(W, m - p);
                const V old = gather_lanes<T>(cl, idx, p, lanes, dense);
                V d[NL];
                sr.template distances<NL>(ch, r0, idx, m, dense, p, lanes, B, cands.data(), d);
                const V w = vload<V>(ch.w.data() + p);
                M bits{};
                for (int l = 0; l < NL; ++l) {
                    const M closer = d[l] < old;
                    bits |= closer & (1 << l);
                    const V least = closer ? d[l] : old;  // vmin(old, d), the same value
                    if (dense)
                        sum[l] += w * least;
                    else
                        for (int64_t q = 0; q < lanes; ++q) vals[l * B + idx[p + q]] = least[q];
                }
                if (sd.state)
                    for (int64_t q = 0; q < lanes; ++q) sd.state[r0 + (dense ? p + q : idx[p + q])] |= S(bits[q]);
            }
            if (!dense)
                for (int64_t v = 0; v < rows; v += W) {
                    const V w = vload<V>(ch.w.data() + v);
                    for (int l = 0; l < NL; ++l) sum[l] += w * vload<V>(vals + l * B + v);
                }
            for (int l = 0; l < NL; ++l) acc[l] += double(hsum<T>(sum[l]));
        }, sr.xt_features(), sr.xa_features());
    });
    return pots;
}

// closest_b <- min(closest_b, ||x_b - cand||^2) for every row (and the row's
// closest seed <- `seed` where the candidate is closer); returns the sums of
// w_b closest_b per chunk (for search_cumulative).
template <class T, class S>
std::vector<double> update_closest(const Data& X, const double* sw, const SeedRows<T>& sr, const Geometry& g,
                                   const T* cand, T* closest, const Seeding<S>& sd, int64_t seed, const Exec& ex) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    std::vector<double> chunk_sums(static_cast<size_t>(g.n_chunks));
    block_sums<T>(X, g, 0, 1, ex, [&](int64_t c, ChunkRows<T>& ch, double*) {
        const int64_t r0 = g.chunk_begin(c), rows = g.chunk_rows(c);
        T* cl = closest + r0;
        int32_t* idx = ch.idx.data();
        gather_weights(sw, r0, rows, g.B, ch.w.data());
        const int64_t m = sr.load(ch, r0, rows, idx, sd.update_rows(r0, rows, idx), g.B);
        const bool dense = m == rows;  // every row read: idx[p] = p
        for (int64_t p = 0; p < m; p += W) {
            const int64_t lanes = std::min<int64_t>(W, m - p);
            const V old = gather_lanes<T>(cl, idx, p, lanes, dense);
            V d[1];
            sr.template distances<1>(ch, r0, idx, m, dense, p, lanes, g.B, cand, d);
            const auto closer = d[0] < old;
            const V least = closer ? d[0] : old;  // vmin(old, d), the same value
            if (dense && lanes == W)
                vstore(cl + p, least);
            for (int64_t q = 0; q < lanes; ++q) {
                const int64_t b = dense ? p + q : idx[p + q];
                if (!(dense && lanes == W)) cl[b] = least[q];
                if (sd.state) sd.state[r0 + b] = closer[q] ? S(seed << sd.L) : sd.state[r0 + b];
            }
        }
        double total = 0.0;
        for (int64_t b = 0; b < rows; ++b) total += double(ch.w[b]) * double(cl[b]);
        chunk_sums[size_t(c)] = total;
    }, sr.xt_features(), sr.xa_features());
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

// Bits of an index below K.
inline int64_t index_bits(int64_t K) {
    int64_t bits = 0;
    while (bits < 63 && (int64_t(1) << bits) < K) ++bits;
    return bits;
}

template <class T, class S>
void kmeans_plusplus_t(const Data& X, const double* sw, const double* shift, int64_t K, int64_t first,
                       int64_t n_trials, const double* draws, const Exec& ex, int64_t* indices) {
    const int64_t D = X.d, n = X.n;
    const Geometry g = kmeans_geometry(X, n_trials);
    const SeedRows<T> sr(X, shift);
    const int64_t Dp = sr.Dp;  // the candidates' rows, zero-padded
    auto row = [&](int64_t i, T* out) {  // row i, shifted, as the passes compute it
        for (int64_t j = 0; j < D; ++j) out[j] = element<T>(X, i, j) - sr.shift[j];
    };
    // each row's distance to its closest seed, padded to whole vectors, and that seed
    Buffer<T> closest(round_up(n, Simd<T>::W));
    std::fill(closest.data(), closest.data() + closest.size(), std::numeric_limits<T>::infinity());
    // short rows cost little more to read than the bookkeeping that would skip them
    const double margin = Seeding<S>::template margin<T>(D);
    const bool prune = margin >= 0.0 && D * int64_t(sizeof(T)) >= kPruneSeedingRowBytes &&
                       index_bits(K) + n_trials <= int64_t(8 * sizeof(S));
    Buffer<S> state(prune ? n : 0);  // zeroed: the first seed, no candidate
    Seeding<S> sd;
    sd.L = int(n_trials);
    sd.state = prune ? state.data() : nullptr;
    std::vector<T> cands(static_cast<size_t>(n_trials * Dp)), seed(static_cast<size_t>(D));
    row(first, cands.data());
    indices[0] = first;
    std::vector<double> chunk_sums = update_closest<T>(X, sw, sr, g, cands.data(), closest.data(), sd, 0, ex);
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
        for (int64_t l = 0; l < n_trials; ++l) row(ids[size_t(l)], cands.data() + l * Dp);
        if (sd.state) {  // each seed's reach (its squared distances to the candidates in double)
            sd.reach.assign(size_t(c), 0.0);
            for (int64_t k = 0; k < c; ++k) {
                row(indices[k], seed.data());
                double least = std::numeric_limits<double>::max();
                for (int64_t l = 0; l < n_trials; ++l) {
                    double s = 0.0;
                    for (int64_t j = 0; j < D; ++j) {
                        const double e = double(seed[size_t(j)]) - double(cands[size_t(l * Dp + j)]);
                        s += e * e;
                    }
                    least = std::min(least, s);
                }
                sd.reach[size_t(k)] = least / (4.0 * (1.0 + margin));
            }
        }
        const std::vector<double> pots =
            candidate_potentials<T>(X, sw, sr, g, cands, n_trials, closest.data(), sd, ex);
        const int64_t best = std::min_element(pots.begin(), pots.end()) - pots.begin();  // the first minimum
        pot = pots[size_t(best)];
        sd.chosen = best;
        chunk_sums = update_closest<T>(X, sw, sr, g, cands.data() + best * Dp, closest.data(), sd, c, ex);
        indices[c] = ids[size_t(best)];
        report(ex, "k-means++", c + 1, K);
    }
}

// The rows' state in 16 bits where the seed index and the candidates' bits fit
// (up to K = 402 with scikit-learn's 2 + log K candidates): a quarter of the
// closest distances' memory in float64.
template <class T>
void kmeans_plusplus_s(const Data& X, const double* sw, const double* shift, int64_t K, int64_t first,
                       int64_t n_trials, const double* draws, const Exec& ex, int64_t* indices) {
    if (index_bits(K) + n_trials <= 16)
        kmeans_plusplus_t<T, uint16_t>(X, sw, shift, K, first, n_trials, draws, ex, indices);
    else
        kmeans_plusplus_t<T, uint32_t>(X, sw, shift, K, first, n_trials, draws, ex, indices);
}

// ---------------------------------------------------------------- Lloyd

// The nearest of K centres (the first on ties) for the W rows of a chunk from v
// on, by scikit-learn's ||c||^2 - 2 x.c (the argmin of the distances); m2c holds
// -2 c (K x D), norms ||c||^2. Four centres at a time share each row load.
// Also the least score (best) and, with Second, the least of the others (second).
template <class T, bool Second>
inline typename Simd<T>::V nearest(const T* xt, int64_t B, int64_t D, int64_t K, const T* m2c, const T* norms,
                                   typename Simd<T>::V& best, typename Simd<T>::V& second) {
    using V = typename Simd<T>::V;
    V label = {};
    best = second = vsplat<V>(std::numeric_limits<T>::infinity());
    auto take = [&](V d, int64_t k) {
        const auto closer = d < best;
        if constexpr (Second) second = closer ? best : vmin(second, d);
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

// Lloyd's pruning, exact: each row keeps a lower bound on its margin of safety,
// gap = G - kappa r, where G bounds from below how much farther the row is from
// any other centre than from its own (true distances to the centres in T), and
// kappa r with r = ||x|| + max ||c|| covers the rounding of the scores
// ||c||^2 - 2 x.c that choose the label (an error of at most (D + 2) u r^2 each,
// u = eps / 2): while gap > 0 the computed nearest centre is the row's label, and
// the row is not read to find it. When the centres move by p_k, a row of label a
// loses at most p_a + max_{j != a} p_j of G (and kappa times any growth of max
// ||c||): that is taken from its gap. The labels of given centres are those of
// computing every row, bit for bit (the sums, updated by the rows that change
// label, differ from summing every row again by rounding).
template <class T> struct LloydBounds {
    float* gap = nullptr;      // per row, rounded down; none yet at the first pass
    bool fresh = true;         // no gap is known yet: every row is read
    std::vector<double> loss;  // per label: what the last move took from the gap
    double cmax = 0.0;         // max ||c|| of the centres as T holds them
    double unit = double(std::numeric_limits<T>::epsilon());
    double kappa = 0.0;

    explicit LloydBounds(int64_t D) : kappa(std::sqrt(2.0 * double(D + 2) * unit)) {}

    // The gap of a row just labelled: scores f1 (its own centre) and f2 (the
    // least of the others), ||x||^2 = xx (in T: error within the margin).
    double measure(double f1, double f2, double xx, int64_t D) const {
        const double r = std::sqrt(xx) + cmax, err = double(D + 2) * unit * r * r;  // twice the bound
        const double lo = f2 + xx - err, hi = f1 + xx + err;  // squared distances, true within
        if (!(lo > 0.0) || !std::isfinite(lo) || !std::isfinite(hi)) return -1.0;
        const double far = std::sqrt(lo), near = std::sqrt(std::max(hi, 0.0));
        return far - near - 4.0 * std::numeric_limits<double>::epsilon() * far - kappa * r;
    }
    // g as a float no larger (float's rounding is within 2^-24 g); -1 for no gap
    static float round_down(double g) {
        return g > 0.0 ? float(std::min(g * (1.0 - 0x1p-22), double(std::numeric_limits<float>::max()))) : -1.0f;
    }
};

// a[0..D) += w (x - shift) for row x = r of X, x - shift in T (as the chunk's copy
// holds it); `aligned`: X's address is a multiple of T's size.
template <class T>
inline void add_row(const Data& X, bool aligned, const T* sh, int64_t r, double w, double* a) {
    const int64_t D = X.d, cs = X.col_stride;
    if (!aligned) {  // element by element
        for (int64_t i = 0; i < D; ++i) a[i] += w * double(T(element<T>(X, r, i) - sh[i]));
        return;
    }
    const T* x = static_cast<const T*>(X.ptr) + r * X.row_stride;
    if (cs == 1)
        for (int64_t i = 0; i < D; ++i) a[i] += w * double(T(x[i] - sh[i]));
    else
        for (int64_t i = 0; i < D; ++i) a[i] += w * double(T(x[i * cs] - sh[i]));
}

// Lloyd's sums: per label, the weighted sums of its rows (K x D), their weights
// (K) and, where the sums are updated rather than summed again, the number of its
// rows of nonzero weight (K): a label left without any has weight 0 exactly, as
// scikit-learn's sums give it.
struct LloydSums {
    std::vector<double> v;
    int64_t K, D;
    LloydSums(int64_t K_, int64_t D_) : v(size_t(K_ * (D_ + 2))), K(K_), D(D_) {}
    static int64_t width(int64_t K, int64_t D) { return K * (D + 2); }
    double* sums() { return v.data(); }
    double* weights() { return v.data() + K * D; }
    double* counts() { return v.data() + K * (D + 1); }
    void settle() {  // labels that lost their last row of nonzero weight
        for (int64_t k = 0; k < K; ++k)
            if (counts()[k] == 0.0) {
                weights()[k] = 0.0;
                std::fill(sums() + k * D, sums() + (k + 1) * D, 0.0);
            }
    }
};

// Each row's label (the nearest centre) and, with `sums`, Lloyd's sums of the
// new labels. Returns how many labels changed. With bounds, rows whose gap
// proves their label are not labelled again (their label did not change), and
// after the first pass the sums are updated by the rows that changed label
// (read anyway to label them) rather than summed again from all rows.
// A full sum adds rows into kCopies interleaved copies of the sums (row b into
// copy b mod kCopies), added together at the end: consecutive rows of one
// cluster would otherwise wait on each other's additions.
template <class T>
int64_t assign_pass(const Data& X, const double* sw, const T* sh, const Geometry& g, const std::vector<double>& centers,
                    int64_t K, int32_t* labels, LloydSums* sums, LloydBounds<T>* bd, const Exec& ex) {
    using V = typename Simd<T>::V;
    constexpr int W = Simd<T>::W;
    constexpr int kCopies = 4;
    const int64_t D = X.d, B = g.B, copy = LloydSums::width(K, D);
    const bool update = sums && bd && !bd->fresh;  // the sums by the rows that changed label
    const int64_t width = !sums ? 1 : update ? copy + 1 : kCopies * copy + 1;
    const bool aligned = reinterpret_cast<uintptr_t>(X.ptr) % alignof(T) == 0;
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
    const std::vector<double> total = block_sums<T>(X, g, width, 0, ex, [&](int64_t c, ChunkRows<T>& ch, double* acc) {
        const int64_t r0 = g.chunk_begin(c), rows = g.chunk_rows(c);
        int32_t* idx = ch.idx.data();
        gather_weights(sw, r0, rows, B, ch.w.data());
        int64_t m = rows;  // the rows to label
        if (bd && !bd->fresh) {
            m = 0;
            for (int64_t b = 0; b < rows; ++b) {
                float& gap = bd->gap[r0 + b];
                const double left = double(gap) - bd->loss[size_t(labels[r0 + b])];
                gap = LloydBounds<T>::round_down(left);
                idx[m] = int32_t(b);
                m += !(left > 0.0);
            }
        }
        m = gather_rows<T>(X, sh, r0, rows, idx, m, B, ch.xt.data());
        const bool dense = m == rows;  // every row read: row p is row p of the chunk
        int64_t changed = 0;
        for (int64_t p = 0; p < m; p += W) {
            V best, second, xx{};
            const V label = bd ? nearest<T, true>(ch.xt.data() + p, B, D, K, m2c.data(), norms.data(), best, second)
                               : nearest<T, false>(ch.xt.data() + p, B, D, K, m2c.data(), norms.data(), best, second);
            if (bd)
                for (int64_t i = 0; i < D; ++i) {
                    const V x = vload<V>(ch.xt.data() + i * B + p);
                    xx += x * x;
                }
            for (int64_t q = 0; q < std::min<int64_t>(W, m - p); ++q) {
                const int64_t b = dense ? p + q : idx[p + q], r = r0 + b;
                const int32_t l = int32_t(label[q]), was = labels[r];
                if (l != was) {
                    ++changed;
                    if (update) {  // the row moves from label `was` to l
                        const double w = double(ch.w[b]);
                        add_row<T>(X, aligned, sh, r, -w, acc + was * D);
                        add_row<T>(X, aligned, sh, r, w, acc + l * D);
                        acc[K * D + was] -= w, acc[K * D + l] += w;
                        acc[K * (D + 1) + was] -= w != 0.0, acc[K * (D + 1) + l] += w != 0.0;
                    }
                }
                labels[r] = l;
                if (bd) bd->gap[r] = LloydBounds<T>::round_down(bd->measure(best[q], second[q], xx[q], D));
            }
        }
        acc[width - 1] += double(changed);
        if (!sums || update) return;
        // each row into its label's sums: every sum adds its rows in row order, row
        // by row from X (x - shift in T, as the chunk's copy holds it)
        const int32_t* lab = labels + r0;
        for (int64_t b = 0; b < rows; ++b) {
            double* a = acc + (b % kCopies) * copy;
            const double w = double(ch.w[b]);
            a[K * D + lab[b]] += w;
            if (bd) a[K * (D + 1) + lab[b]] += w != 0.0;  // for the updates
            add_row<T>(X, aligned, sh, r0 + b, w, a + lab[b] * D);
        }
    });
    if (update) {
        for (int64_t j = 0; j < copy; ++j) sums->v[size_t(j)] += total[size_t(j)];
        sums->settle();
    } else if (sums) {
        for (int64_t j = 0; j < copy; ++j) {
            double s = 0.0;
            for (int q = 0; q < kCopies; ++q) s += total[size_t(q * copy + j)];
            sums->v[size_t(j)] = s;
        }
    }
    return int64_t(total.back());
}

// max ||c|| (c as T holds it) and, with `before`, each centre's move from there.
template <class T>
double centre_norms(const std::vector<double>& centers, const std::vector<double>* before, int64_t K, int64_t D,
                    std::vector<double>& moves) {
    double cmax = 0.0;
    moves.assign(size_t(K), 0.0);
    for (int64_t k = 0; k < K; ++k) {
        double norm = 0.0, move = 0.0;
        for (int64_t i = 0; i < D; ++i) {
            const double c = double(T(centers[size_t(k * D + i)]));
            norm += c * c;
            if (before) {
                const double e = c - double(T((*before)[size_t(k * D + i)]));
                move += e * e;
            }
        }
        cmax = std::max(cmax, std::sqrt(norm));
        moves[size_t(k)] = std::sqrt(move);
    }
    return cmax * (1.0 + 1e-12);  // above its rounding in double
}

template <class T>
void kmeans_lloyd_t(const Data& X, const double* sw, const double* shift, int64_t K, int64_t max_iter, double tol,
                    int32_t* labels, const Exec& ex, LloydState& st) {
    const int64_t D = X.d;
    const Geometry g = kmeans_geometry(X, K);
    const Buffer<T> sh = shift_in<T>(shift, D);
    LloydSums sums(K, D);
    st.n_iter = 0;
    st.strict = st.empty = st.final_labels = false;
    if (max_iter == 0) {  // the labels of the given centres only
        assign_pass<T>(X, sw, sh.data(), g, st.centers, K, labels, nullptr, nullptr, ex);
        return;
    }
    // bounds for the passes after the first (one float per row), where labelling a
    // row costs more than the bookkeeping that would skip it
    const bool prune = K > 1 && max_iter > 1 && K * D >= kPruneLloydWork;
    Buffer<float> gaps(prune ? X.n : 0);
    LloydBounds<T> bounds(D);
    LloydBounds<T>* bd = prune ? &bounds : nullptr;
    std::vector<double> moves, before;
    bounds.gap = gaps.data();
    bounds.cmax = centre_norms<T>(st.centers, nullptr, K, D, moves);
    while (st.n_iter < max_iter) {
        st.changed = assign_pass<T>(X, sw, sh.data(), g, st.centers, K, labels, &sums, bd, ex);
        bounds.fresh = false;
        ++st.n_iter;
        report(ex, "lloyd", st.n_iter, max_iter);
        st.sums.assign(sums.sums(), sums.sums() + K * D);
        st.weights.assign(sums.weights(), sums.weights() + K);
        if (std::find(st.weights.begin(), st.weights.end(), 0.0) != st.weights.end()) {
            st.empty = true;  // the caller relocates and finishes this iteration
            return;
        }
        if (bd) before = st.centers;
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
        if (bd) {  // what the move takes from each label's gaps
            const double cmax = centre_norms<T>(st.centers, &before, K, D, moves);
            const auto top = std::max_element(moves.begin(), moves.end());
            double other = 0.0;  // the largest move of a centre other than the largest
            for (auto it = moves.begin(); it != moves.end(); ++it)
                if (it != top) other = std::max(other, *it);
            bounds.loss.resize(size_t(K));
            for (int64_t k = 0; k < K; ++k) {
                const double others = moves.begin() + k == top ? other : *top;
                bounds.loss[size_t(k)] =
                    (moves[size_t(k)] + others + bounds.kappa * std::max(0.0, cmax - bounds.cmax)) * (1.0 + 1e-12);
            }
            bounds.cmax = std::max(bounds.cmax, cmax);
        }
        if (moved <= tol) break;
    }
    // scikit-learn labels the rows once more, by the last centres
    assign_pass<T>(X, sw, sh.data(), g, st.centers, K, labels, nullptr, bd, ex);
    st.final_labels = true;
}

}  // namespace

void kmeans_plusplus(const Data& X, const double* sw, const double* shift, int64_t K, int64_t first,
                     int64_t n_trials, const double* draws, const Exec& ex, int64_t* indices) {
    if (X.is_float)
        kmeans_plusplus_s<float>(X, sw, shift, K, first, n_trials, draws, ex, indices);
    else
        kmeans_plusplus_s<double>(X, sw, shift, K, first, n_trials, draws, ex, indices);
}

void kmeans_closest(const Data& X, const double* sw, const double* shift, const double* cands, int64_t L,
                    void* closest, bool update, const Exec& ex, double* out) {
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const Geometry g = kmeans_geometry(X, L);
        const SeedRows<T> sr(X, shift);
        std::vector<T> c(size_t(L * sr.Dp));  // rows of X minus the shift, in T (exact), zero-padded
        for (int64_t l = 0; l < L; ++l)
            for (int64_t i = 0; i < X.d; ++i) c[size_t(l * sr.Dp + i)] = T(cands[l * X.d + i]);
        T* cl = static_cast<T*>(closest);
        if (update) {
            const std::vector<double> sums = update_closest<T, uint32_t>(X, sw, sr, g, c.data(), cl, {}, 0, ex);
            out[0] = 0.0;
            for (double s : sums) out[0] += s;
        } else {
            const std::vector<double> pots = candidate_potentials<T, uint32_t>(X, sw, sr, g, c, L, cl, {}, ex);
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
