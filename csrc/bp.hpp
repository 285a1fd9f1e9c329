// Belief propagation for learning from label proportions (no Python here).
//
// Binary pairwise MRF over y_i in {0, 1} (Havaldar et al., ICLR 2024):
//
//   log p(y) = sum_i field_i y_i - lambda_b sum_b (sum_{i in S_b} y_i - k_b)^2
//              - lambda_s sum_{(i,j) in E} s_ij (y_i - y_j)^2 + const
//
// The similarity term is a field h_i = -lambda_s sum_j s_ij and a coupling
// J_ij = 2 lambda_s s_ij per edge. The bag term is either one cardinality
// factor per bag, psi_b(c) = exp(-lambda_b (c - k_b)^2) over the bag's count c
// ("exact"), or its expansion into all in-bag pairs, J = -2 lambda_b and
// h_i = -lambda_b (1 - 2 k_b) ("pairwise"). The optional per-row field_i (prior
// log-odds, e.g. a classifier's) is 0 in the paper's model.
//
// Messages are log-odds, m = log msg(y=1) - log msg(y=0), initialised to 0,
// updated synchronously (every new message computed from the previous sweep's
// messages) with damping: m <- damping * m_old + (1 - damping) * m_new.
// Results therefore do not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel.hpp"

namespace emfast {
namespace bp {

// Log-odds are clipped to +-kInfLogOdds: a message of that size stands for
// certainty (a hard bag constraint with k_b = 0 or k_b = |S_b|) and keeps all
// arithmetic finite (no inf - inf).
constexpr double kInfLogOdds = 1e100;

// Largest finite weight accepted (bag_weight may also be +inf).
constexpr double kMaxWeight = 1e100;

// Largest similarity_weight * s_ij and |field_i| accepted: every sum of
// messages stays finite (n * 1e200 << 1e308).
constexpr double kMaxCoupling = 1e200;

// bag_factor='pairwise' stores |S_b|^2 messages per bag; larger bags are refused.
constexpr int64_t kMaxPairwiseBag = 5000;

// Most sweeps accepted (a run of that many is hours, and Ctrl-C stops it anyway).
constexpr int64_t kMaxIter = 1000000;

enum class BagFactor : int { Exact = 0, Pairwise = 1 };

// A symmetric similarity graph in CSR form: row i lists its neighbours j != i
// (sorted, no duplicates) with s_ij = s_ji >= 0; and each row's field.
struct Graph {
    int64_t n = 0;
    const int64_t* indptr = nullptr;   // n + 1
    const int64_t* indices = nullptr;  // nnz
    const double* sim = nullptr;       // nnz
    const double* field = nullptr;     // n, or nullptr for none
};

// Disjoint bags covering the rows: bag b holds members[offsets[b] .. offsets[b+1]),
// with k_b = counts[b] positives (a real number in [0, |S_b|]).
struct Bags {
    int64_t n_bags = 0;
    const int64_t* offsets = nullptr;  // n_bags + 1
    const int64_t* members = nullptr;  // offsets[n_bags]
    const double* counts = nullptr;    // n_bags
};

struct Options {
    double similarity_weight = 10.0;  // lambda_s, finite
    double bag_weight = 10.0;         // lambda_b; +inf (exact factor only): hard constraint c = k_b
    BagFactor bag_factor = BagFactor::Exact;
    int64_t max_iter = 100;          // in [0, kMaxIter]
    double damping = 0.5;            // in [0, 1)
    double tol = 1e-6;               // stop when the largest change of a message, before damping, is below tol
};

struct Result {
    std::vector<double> marginals;  // P(y_i = 1), i = 0..n-1
    int64_t n_iter = 0;             // sweeps done
    bool converged = false;
    double delta = 0.0;  // largest change of a message in the last sweep, before damping
};

// Checks the graph and bags (throws std::invalid_argument): sorted in-range
// CSR without self-loops, finite non-negative symmetric similarities, finite
// fields, bags that partition 0..n-1, counts in [0, |S_b|], option ranges.
void check_graph(const Graph& g);
void check_bags(const Bags& bags, int64_t n);
void check_options(const Options& opt, const Bags& bags);

// An upper bound on the bytes run() allocates (as a double: no overflow), for
// a memory check before calling it; reads only the bags' offsets. Per CSR entry
// 4 (couplings, reverse entries, two message buffers); per row ~5 (fields,
// totals, bag order, marginals) plus, exact: 10 (the factor's message, count
// distributions, weights, probabilities, cavities, division order) and 12 per
// bag; pairwise: |S_b|^2 per bag (the pair messages), 4 per row and 3 per entry.
inline double working_bytes(int64_t n, int64_t nnz, const Bags& bags, BagFactor factor) {
    const double N = n > 0 ? double(n) : 0.0, E = nnz > 0 ? double(nnz) : 0.0;
    const double nb = bags.n_bags > 0 ? double(bags.n_bags) : 0.0;
    double doubles = 4.0 * E + 5.0 * N;
    if (factor == BagFactor::Exact) return 8.0 * (doubles + 10.0 * N + 12.0 * nb);
    for (int64_t b = 0; b < bags.n_bags; ++b) {
        const double B = double(bags.offsets[b + 1] - bags.offsets[b]);
        doubles += B > 0.0 ? B * B : 0.0;
    }
    return 8.0 * (doubles + 4.0 * N + nb + 3.0 * E);
}

// Runs loopy BP; inputs are checked first. ex.poll is checked between sweeps
// and, on the calling thread, every few milliseconds inside one; throws
// Interrupted when it says stop.
Result run(const Graph& g, const Bags& bags, const Options& opt, const Exec& ex);

// One sweep of the exact bag factor alone: for every row i of bag b, the
// factor-to-variable message (log-odds)
//   log sum_c psi_b(c + 1) P_{-i}(c) - log sum_c psi_b(c) P_{-i}(c)
// where P_{-i} is the distribution of sum_{j in S_b, j != i} y_j with
// independent y_j ~ Bernoulli(sigmoid(cavity[j])). out[i] is indexed by row.
// log_partition (n_bags entries, or nullptr) receives each bag's
//   log sum_c psi_b(c) P(c)
// with P the distribution of the whole bag's count (-inf when no count the
// factor allows has any probability): with the hard constraint, the log of
// the probability that the bag's count is k_b.
void exact_bag_messages(const Bags& bags, int64_t n, double bag_weight, const double* cavity, double* out,
                        double* log_partition, const Exec& ex);

}  // namespace bp
}  // namespace emfast
