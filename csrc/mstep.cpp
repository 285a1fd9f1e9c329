// The M-step: sufficient statistics -> weights, means, covariances, precision
// Cholesky factors. Small (K x D^2) work in float64.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "constants.hpp"
#include "core.hpp"

namespace emfast {

namespace {

// sum_k a[k] b[k] in eight partial sums: independent chains that the compiler
// can put in one vector (a single running sum waits on every add: the
// factorisations of a 1024 x 1024 covariance took 0.4 s). The partial sums s
// come in holding the dot's first `from` elements (a multiple of 8; zeros for
// from = 0).
inline double dot_finish(const double* a, const double* b, int64_t from, int64_t n, double (&s)[8]) {
    int64_t k = from;
    for (; k + 8 <= n; k += 8)
        for (int q = 0; q < 8; ++q) s[q] += a[k + q] * b[k + q];
    for (; k < n; ++k) s[0] += a[k] * b[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// The partial sums of R x Q dots, a[r][q] with b[q], over their first `common`
// elements (a multiple of 8), lane for lane those of dot_finish: R Q chains of vector
// multiply-adds side by side where one dot has a single chain, which waits on
// each add's latency; each load of b[q] serves R dots.
template <int R, int Q> void dot_starts(const double* const (&a)[R][Q], const double* const (&b)[Q], int64_t common,
                                        double (&s)[R][Q][8]) {
    typedef double V8 __attribute__((vector_size(64)));
    V8 acc[R][Q] = {};
    for (int64_t k = 0; k < common; k += 8)
        for (int q = 0; q < Q; ++q) {
            V8 y;
            std::memcpy(&y, b[q] + k, sizeof y);
            for (int r = 0; r < R; ++r) {
                V8 x;
                std::memcpy(&x, a[r][q] + k, sizeof x);
                acc[r][q] += x * y;
            }
        }
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < Q; ++q)
            for (int e = 0; e < 8; ++e) s[r][q][e] = acc[r][q][e];
}

// Lower Cholesky factor of the symmetric D x D matrix a (row-major) into l.
// Returns false if the matrix is not numerically positive definite: a pivot at
// or below 4 D eps of its diagonal entry is rounding noise (the column is a
// combination of the previous ones), and the factor would be garbage; a pivot
// below kMinVariance would give precisions beyond float64. The bound is about
// what a pivot's rounding error reaches in any summation order (the computed
// factor is exact for a + E with |E_jj| <= (D + 1) eps a_jj: Higham, Accuracy
// and Stability of Numerical Algorithms, Thm 10.3), whatever the earlier
// pivots: a rank-deficient scatter plus reg_covar, which LAPACK factors and
// scikit-learn fits, is accepted here too (not repaired).
// Factors this wide poll for an interruption once per block of columns (each
// D^2 / 2 multiply-adds or more) and may use threads; a narrower matrix is too
// quick for polls (reading the clock cost more than a 10 x 10 factorisation):
// the caller polls once per matrix.
constexpr int64_t kPollWidth = 64;

// Columns computed together, row by row: each row of the factor is then read
// from memory once per block rather than once per column (a 1 024 x 1 024 factor,
// 8 MB, does not stay in the core's cache). Every entry is the same dot product,
// in the same order, as column by column, whatever the threads: the results are
// bit for bit those of the plain loops.
constexpr int64_t kColumnBlock = 8;
static_assert(kColumnBlock % 8 == 0, "cholesky_rows takes the dots' first j0 elements in whole vectors");
constexpr int64_t kRowsPerItem = 64;  // rows of the factor per parallel work item

// Entries (i, j) of the lower Cholesky factor for rows i in [i0, i1) and the
// block's columns j in [j0, min(j1, i + 1)). Entry (i, j) needs rows i and j
// left of column j: earlier blocks, and this block's columns left of j in row i
// (just done) and in row j <= i. So below a whole block, the dots' first j0
// elements depend on earlier blocks only: taken side by side, two rows at a
// time. False if a pivot fails (rows of the block only).
bool cholesky_rows(const double* a, int64_t D, double* l, int64_t j0, int64_t j1, int64_t i0, int64_t i1) {
    constexpr int Q = int(kColumnBlock), R = 2;
    const double tiny = 4.0 * double(D) * std::numeric_limits<double>::epsilon();
    for (int64_t i = i0; i < i1; i += R) {
        double s[R][Q][8] = {};
        const bool joint = j1 - j0 == Q && i >= j1 && i + R <= i1;
        if (joint) {
            const double* rows[R][Q];
            const double* block[Q];
            for (int q = 0; q < Q; ++q) {
                block[q] = l + (j0 + q) * D;
                for (int r = 0; r < R; ++r) rows[r][q] = l + (i + r) * D;
            }
            dot_starts<R, Q>(rows, block, j0, s);
        }
        for (int64_t ii = i; ii < std::min(i + R, i1); ++ii) {
            const double* li = l + ii * D;
            for (int64_t j = j0; j < std::min(j1, ii + 1); ++j) {
                const double v = a[ii * D + j] - dot_finish(li, l + j * D, joint ? j0 : 0, j, s[ii - i][j - j0]);
                if (ii == j) {
                    if (!(v > tiny * a[j * D + j]) || !(v >= kMinVariance) || !std::isfinite(v)) return false;
                    l[j * D + j] = std::sqrt(v);
                } else {
                    l[ii * D + j] = v / l[j * D + j];
                }
            }
        }
    }
    return true;
}

bool cholesky(const double* a, int64_t D, double* l, const Exec& ex, Interruption& intr) {
    for (int64_t j0 = 0; j0 < D; j0 += kColumnBlock) {
        const int64_t j1 = std::min(j0 + kColumnBlock, D);
        if (D < kPollWidth) {  // too quick for polls or threads: the caller polls
            if (!cholesky_rows(a, D, l, j0, j1, j0, D)) return false;
        } else {
            if (intr.check()) throw Interrupted();
            if (!cholesky_rows(a, D, l, j0, j1, j0, j1)) return false;  // the block's pivots
            // the rows below depend on the block's rows only: any order, any thread
            const int64_t below = D - j1;
            const int64_t items = (below + kRowsPerItem - 1) / kRowsPerItem;
            parallel_for(items, thread_count(ex, items, double(below) * double(j1) * double(j1 - j0)), intr,
                         [&](int64_t item, int) {
                             const int64_t i0 = j1 + item * kRowsPerItem;
                             cholesky_rows(a, D, l, j0, j1, i0, std::min(D, i0 + kRowsPerItem));
                         });
        }
        for (int64_t j = j0; j < j1; ++j)
            for (int64_t i = 0; i < j; ++i) l[i * D + j] = 0.0;
    }
    return true;
}

// P = L^-T (upper triangular), so that P P^T = (L L^T)^-1.
void inverse_transpose(const double* l, int64_t D, double* p, const Exec& ex, Interruption& intr) {
    // column c of L^-1 by forward substitution, stored as row c of P; a block of
    // columns at a time, row by row (as in cholesky); blocks are independent
    constexpr int Q = int(kColumnBlock), R = 2;
    auto block = [&](int64_t b) {
        const int64_t c0 = b * Q, c1 = std::min(c0 + Q, D);
        for (int64_t c = c0; c < c1; ++c) std::fill(p + c * D, p + c * D + c, 0.0);
        for (int64_t i = c0; i < D; i += R) {
            // column c's dot: row i of L and column c of L^-1 from entry c on;
            // once the block is whole and under both rows, side by side over the
            // elements every column has
            double s[R][Q][8] = {};
            const bool joint = c1 - c0 == Q && i >= c1 - 1 && i + R <= D;
            const int64_t common = joint ? (i - (c1 - 1)) / 8 * 8 : 0;
            if (joint) {
                const double* rows[R][Q];
                const double* cols[Q];
                for (int q = 0; q < Q; ++q) {
                    cols[q] = p + (c0 + q) * D + c0 + q;
                    for (int r = 0; r < R; ++r) rows[r][q] = l + (i + r) * D + c0 + q;
                }
                dot_starts<R, Q>(rows, cols, common, s);
            }
            for (int64_t ii = i; ii < std::min(i + R, D); ++ii) {
                const double* li = l + ii * D;
                for (int64_t c = c0; c < std::min(c1, ii + 1); ++c) {
                    double* row = p + c * D;
                    const double d = dot_finish(li + c, row + c, common, ii - c, s[ii - i][c - c0]);
                    row[ii] = ((ii == c ? 1.0 : 0.0) - d) / l[ii * D + ii];
                }
            }
        }
    };
    const int64_t blocks = (D + kColumnBlock - 1) / kColumnBlock;
    if (D < kPollWidth) {  // too quick for a poll per block: the caller polls
        for (int64_t b = 0; b < blocks; ++b) block(b);
        return;
    }
    parallel_for(blocks, thread_count(ex, blocks, double(D) * double(D) * double(D) / 6.0), intr,
                 [&](int64_t b, int) { block(b); });
}

// Precision factor of one full matrix, with the smallest jitter that works.
double full_precision(double* cov, int64_t D, double* prec, double scale, const Exec& ex, Interruption& intr) {
    if (intr.check()) throw Interrupted();
    std::vector<double> l(static_cast<size_t>(D * D));
    double jitter = 0.0;
    if (!cholesky(cov, D, l.data(), ex, intr)) {
        // from the largest entry, not the trace: D times it makes any finite
        // matrix diagonally dominant, so the loop below always ends
        double largest = 0.0;
        for (int64_t i = 0; i < D * D; ++i) largest = std::max(largest, std::fabs(cov[i]));
        double base = 1e-10 * std::max(largest, scale);
        if (!(base > 0.0) || !std::isfinite(base)) base = 1e-10;
        for (int t = 0; t < 60; ++t, base *= 10.0) {
            for (int64_t i = 0; i < D; ++i) cov[i * D + i] += base - jitter;
            jitter = base;
            if (cholesky(cov, D, l.data(), ex, intr)) break;
            if (t == 59) throw std::runtime_error("could not regularise a covariance matrix (non-finite values?)");
        }
    }
    inverse_transpose(l.data(), D, prec, ex, intr);
    return jitter;
}

double scalar_precision(double* var, double* prec, double scale) {
    double jitter = 0.0;
    if (!(*var >= kMinVariance)) {
        jitter = std::max(1e-10 * scale, kMinVariance);
        if (!std::isfinite(jitter)) jitter = 1e-10;
        *var = std::max(*var, 0.0) + jitter;
    }
    if (!std::isfinite(*var)) throw std::runtime_error("non-finite variance");
    *prec = 1.0 / std::sqrt(*var);
    return jitter;
}

// S2 - S1 d^T - d S1^T + S0 d d^T at (i, j) for component k: the (i, j) moment
// about c + d of statistics centred on c (s2 is S2's entry)
double centred_moment(const Stats& st, const double* delta, int64_t k, int64_t i, int64_t j, double s2) {
    const double* s1 = st.s1.data() + k * st.D;
    const double* d = delta + k * st.D;
    return s2 - (s1[i] * d[j] + d[i] * s1[j]) + st.s0[size_t(k)] * d[i] * d[j];
}

// The shifts delta = mu - c of the means from the centres, K x D. scikit-learn's
// mean sum r x / nk = (S0 c + S1) / nk = c + delta, with delta = S1 / nk -
// ((nk - S0) / nk) c: the second term vanishes unless the component is (nearly)
// empty, whose mean then goes to 0 as scikit-learn's does. Unless that drags it
// so far that its variance overflows (S0 ~ 1e-17 about c ~ 1e156: S0 c^2 / nr):
// scikit-learn's variances (sum r (x - mu)^2 / nk, or sum r x^2 / nk - mu^2 for
// diagonal ones) are then at least as large, it has no finite model, and the
// mean stays by its samples (delta = S1 / nk).
std::vector<double> mean_shifts(const Stats& st, const double* centers, const std::vector<double>& nk,
                                const std::vector<double>& nr, double total) {
    const int64_t K = st.K, D = st.D;
    std::vector<double> delta(static_cast<size_t>(K * D));
    for (int64_t k = 0; k < K; ++k) {
        const double n = nk[size_t(k)], lost = (n - st.s0[size_t(k)]) / n;
        double* d = delta.data() + k * D;
        for (int64_t i = 0; i < D; ++i)
            d[i] = st.s1[size_t(k * D + i)] / n - (lost == 0.0 ? 0.0 : lost * centers[k * D + i]);
        if (lost == 0.0) continue;
        // the divisor of this component's share of its variances (as in m_step)
        const double divisor = st.cov == Cov::Tied ? total
                               : st.cov == Cov::Spherical ? nr[size_t(k)] * double(D) : nr[size_t(k)];
        bool finite = true;
        double sum = 0.0;
        for (int64_t i = 0; i < D; ++i) {
            const double v = centred_moment(st, delta.data(), k, i, i, 0.0) / divisor;
            finite = finite && std::isfinite(v);
            sum += v;
        }
        if (!finite || (st.cov == Cov::Spherical && !std::isfinite(sum)))
            for (int64_t i = 0; i < D; ++i) d[i] = st.s1[size_t(k * D + i)] / n;
    }
    return delta;
}

}  // namespace

void precision_cholesky(Cov cov, int64_t K, int64_t D, double* covariances, double* prec_chol, double scale,
                        double* jitter, const Exec& ex) {
    Interruption intr(ex);
    switch (cov) {
        case Cov::Full:
            for (int64_t k = 0; k < K; ++k)
                jitter[k] = full_precision(covariances + k * D * D, D, prec_chol + k * D * D, scale, ex, intr);
            break;
        case Cov::Tied: jitter[0] = full_precision(covariances, D, prec_chol, scale, ex, intr); break;
        case Cov::Diag:
            for (int64_t k = 0; k < K; ++k) {
                jitter[k] = 0.0;
                for (int64_t i = 0; i < D; ++i)
                    jitter[k] = std::max(jitter[k],
                                         scalar_precision(covariances + k * D + i, prec_chol + k * D + i, scale));
            }
            break;
        case Cov::Spherical:
            for (int64_t k = 0; k < K; ++k) jitter[k] = scalar_precision(covariances + k, prec_chol + k, scale);
            break;
    }
}

MStepResult m_step(const Stats& st, const double* centers, double reg_covar, double empty_threshold, double scale,
                   const Exec& ex) {
    const int64_t K = st.K, D = st.D;
    const Cov cov = st.cov;
    MStepResult r;
    r.weights.assign(size_t(K), 0.0);
    r.means.assign(size_t(K * D), 0.0);
    r.covariances.assign(size_t(cov_size(cov, K, D)), 0.0);
    r.prec_chol.assign(r.covariances.size(), 0.0);
    r.empty.assign(size_t(K), 0);
    r.jitter.assign(size_t(cov == Cov::Tied ? 1 : K), 0.0);

    // nk: the divisor of the means; nr: that of the weights and covariances (the
    // same, unless Student-t statistics weight S0, S1, S2 by u: then the responsibilities)
    const std::vector<double>& resp = st.resp.empty() ? st.s0 : st.resp;
    std::vector<double> nk(static_cast<size_t>(K)), nr(static_cast<size_t>(K));
    double total = 0.0;
    for (int64_t k = 0; k < K; ++k) {
        nk[size_t(k)] = st.s0[size_t(k)] + kWeightEps;
        nr[size_t(k)] = resp[size_t(k)] + kWeightEps;
        total += nr[size_t(k)];
        r.empty[size_t(k)] = resp[size_t(k)] <= empty_threshold;
    }
    std::vector<double> delta = mean_shifts(st, centers, nk, nr, total);
    // sum r (x - mu)(x - mu)^T = S2 - S1 delta^T - delta S1^T + S0 delta delta^T
    auto centred = [&](int64_t k, int64_t i, int64_t j, double s2) {
        return centred_moment(st, delta.data(), k, i, j, s2);
    };
    for (int64_t k = 0; k < K; ++k) {
        r.weights[size_t(k)] = nr[size_t(k)] / total;
        for (int64_t i = 0; i < D; ++i) r.means[size_t(k * D + i)] = centers[k * D + i] + delta[size_t(k * D + i)];
    }
    // scikit-learn's diagonal variances, sum r x^2 / n_k - mu^2, exceed the centred
    // ones by mu^2 (n_k - S0_k) / n_k: nothing for a component with samples, but for
    // one losing them (S0 ~ 1e-15, or one sample) a variance its later refits
    // (warm starts) depend on; left out where it overflows
    auto variance_term = [&](int64_t k, int64_t i) {
        const double n = nk[size_t(k)], m = r.means[size_t(k * D + i)];
        const double term = (n - st.s0[size_t(k)]) / n * (m * m);
        return std::isfinite(term) ? term : 0.0;
    };
    switch (cov) {
        case Cov::Full:
            for (int64_t k = 0; k < K; ++k) {
                double* c = r.covariances.data() + k * D * D;
                const double* s2 = st.s2.data() + k * D * D;
                for (int64_t i = 0; i < D; ++i)
                    for (int64_t j = 0; j <= i; ++j) {
                        double v = centred(k, i, j, s2[i * D + j]) / nr[size_t(k)];
                        if (i == j) v = std::max(v, 0.0) + reg_covar;
                        c[i * D + j] = c[j * D + i] = v;
                    }
            }
            break;
        case Cov::Tied: {
            double* c = r.covariances.data();
            for (int64_t i = 0; i < D; ++i)
                for (int64_t j = 0; j <= i; ++j) {
                    double v = st.s2[size_t(i * D + j)];
                    for (int64_t k = 0; k < K; ++k) v = centred(k, i, j, v);
                    v /= total;
                    if (i == j) v = std::max(v, 0.0) + reg_covar;
                    c[i * D + j] = c[j * D + i] = v;
                }
            break;
        }
        case Cov::Diag:
            for (int64_t k = 0; k < K; ++k)
                for (int64_t i = 0; i < D; ++i) {
                    double v = centred(k, i, i, st.s2[size_t(k * D + i)]) / nr[size_t(k)];
                    r.covariances[size_t(k * D + i)] = std::max(v, 0.0) + reg_covar + variance_term(k, i);
                }
            break;
        case Cov::Spherical:
            for (int64_t k = 0; k < K; ++k) {
                double v = st.s2[size_t(k)], term = 0.0;
                for (int64_t i = 0; i < D; ++i) v = centred(k, i, i, v), term += variance_term(k, i);
                v /= nr[size_t(k)] * double(D);
                r.covariances[size_t(k)] = std::max(v, 0.0) + reg_covar + term / double(D);
            }
            break;
    }
    precision_cholesky(cov, K, D, r.covariances.data(), r.prec_chol.data(), scale, r.jitter.data(), ex);
    return r;
}

}  // namespace emfast
