// The public C++ interface of the emfast kernels (no Python here).
//
// Everything is built on one primitive, a pass over the rows of X that yields
// mergeable sufficient statistics (docs/design.rst):
//   S0_k = sum w r_k,  S1_k = sum w r_k (x - c_k),  S2_k = sum w r_k (x - c_k)(x - c_k)^T
// (diagonal / scalar / pooled for diag, spherical, tied), centred on c_k and
// accumulated in float64 whatever the input dtype.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.hpp"

namespace emfast {

enum class Cov : int { Full = 0, Tied = 1, Diag = 2, Spherical = 3 };

inline Cov parse_cov(const std::string& name) {
    if (name == "full") return Cov::Full;
    if (name == "tied") return Cov::Tied;
    if (name == "diag") return Cov::Diag;
    if (name == "spherical") return Cov::Spherical;
    throw std::invalid_argument("covariance_type must be one of 'full', 'tied', 'diag', 'spherical', got '" + name +
                                "'");
}

inline const char* cov_name(Cov cov) {
    switch (cov) {
        case Cov::Full: return "full";
        case Cov::Tied: return "tied";
        case Cov::Diag: return "diag";
        default: return "spherical";
    }
}

// Number of doubles of a covariance-shaped array (covariances_, precisions_cholesky_).
inline int64_t cov_size(Cov cov, int64_t K, int64_t D) {
    switch (cov) {
        case Cov::Full: return K * D * D;
        case Cov::Tied: return D * D;
        case Cov::Diag: return K * D;
        default: return K;
    }
}
// Number of doubles of the second-order statistic.
inline int64_t s2_size(Cov cov, int64_t K, int64_t D) { return cov_size(cov, K, D); }

// Rows of a matrix of float32 or float64 with arbitrary strides (in elements).
struct Data {
    const void* ptr = nullptr;
    bool is_float = false;  // float32 if true, else float64
    int64_t n = 0, d = 0;
    int64_t row_stride = 0, col_stride = 0;
};

// A Gaussian mixture in float64, laid out as scikit-learn's attributes.
struct Params {
    Cov cov = Cov::Full;
    int64_t K = 0, D = 0;
    const double* log_weights = nullptr;  // K
    const double* means = nullptr;        // K x D
    const double* prec_chol = nullptr;    // full K x D x D (upper), tied D x D, diag K x D, spherical K
    // Student-t components: K degrees of freedom (null: Gaussian). The scale
    // matrices take the place of the covariances.
    const double* dofs = nullptr;
};

// Sufficient statistics of one pass; they add.
struct Stats {
    Cov cov = Cov::Full;
    int64_t K = 0, D = 0;
    std::vector<double> s0, s1, s2;
    std::vector<double> centers;  // K x D: what S1 and S2 are centred on
    double loglik = 0.0;      // sum of w * log p(x)   (E-step passes only)
    double weight = 0.0;      // sum of w
    // The rows with the lowest log p(x) (E-step passes only), for re-seeding
    // components that lost all their points: ascending (value, row).
    std::vector<double> worst_value;
    std::vector<int64_t> worst_row;
    // Student-t passes (empty otherwise), with u = (nu + D) / (nu + delta^2) the
    // latent scale weight of a row (S0, S1 and S2 are then weighted by w r u):
    std::vector<double> resp;       // K: sum w r (the mixing weights and the scale matrices' divisor)
    std::vector<double> log_scale;  // K: sum w r (log u - u + 1) (the degrees of freedom)

    Stats() = default;
    Stats(Cov c, int64_t k, int64_t d)
        : cov(c), K(k), D(d), s0(size_t(k), 0.0), s1(size_t(k * d), 0.0), s2(size_t(s2_size(c, k, d)), 0.0) {}
};

// Rows restricted to a range of components (partially labelled data: each
// class owns a contiguous range). Row i with group[i] = g >= 0 sees only the
// components [begin[g], begin[g + 1]): the others take none of its
// responsibility and no part of its likelihood. group[i] = -1: every component.
// No group given (group == nullptr): no restriction.
struct Groups {
    const int32_t* group = nullptr;  // N
    const int64_t* begin = nullptr;  // n_groups + 1, strictly increasing, within [0, K]
};

// The fused E-step + statistics pass (one EM iteration's pass over X).
// Statistics are centred on the current means. With p.dofs (Student-t
// components, not with `hard`), the statistics are those of the ECM
// algorithm: see Stats::resp. `shift` (D) is a point near
// the data subtracted from every row before the float arithmetic.
// With `hard`, each row is given wholly to its most probable component (ties:
// the first), and loglik sums w * max_k log(pi_k N(x | k)): with identity
// precisions and equal weights that is a k-means (Lloyd) step.
void em_pass(const Data& X, const double* sample_weight, const Params& p, const double* shift, const Exec& ex,
             int n_worst, bool hard, const Groups& groups, Stats& out);

// A statistics pass with fixed responsibilities: hard `labels` (-1 = none) or
// soft `resp` (N x K, the dtype of X, any strides); exactly one is given.
struct Resp {
    const int32_t* labels = nullptr;
    const void* resp = nullptr;
    int64_t row_stride = 0, col_stride = 0;
};
void fixed_pass(const Data& X, const double* sample_weight, const Resp& resp, Cov cov, int64_t K,
                const double* centers, const double* shift, const Exec& ex, Stats& out);

// Read-only passes. `out` has the dtype of X (int64 for Predict).
enum class Score : int {
    LogProbNorm = 0,      // N: log p(x)
    Proba = 1,            // N x K: responsibilities
    LogResp = 2,          // N x K: log responsibilities
    Predict = 3,          // N: argmax_k of the weighted log-probabilities, -1 where none is finite
    WeightedLogProb = 4,  // N x K: log pi_k + log N(x | k)
    Mahalanobis = 5,      // N x K: squared Mahalanobis distances
};
void score_pass(const Data& X, const Params& p, const double* shift, Score what, void* out, const Exec& ex);

// The M-step: statistics -> parameters (float64 throughout). With st.resp
// (Student-t statistics), the weights and the divisors of the scale matrices
// are the responsibilities' sums, the means those of the u-weighted statistics.
struct MStepResult {
    std::vector<double> weights, means, covariances, prec_chol;
    std::vector<double> jitter;       // per covariance matrix: what had to be added to its diagonal
    std::vector<uint8_t> empty;       // per component: S0 below the threshold
};
MStepResult m_step(const Stats& st, const double* centers, double reg_covar, double empty_threshold,
                   double scale, const Exec& ex);

// The variational Gaussian mixture (scikit-learn's BayesianGaussianMixture;
// csrc/variational.cpp), float64 throughout. Its priors, as the *_prior_
// attributes hold them:
struct VariationalPrior {
    bool process = true;  // a Dirichlet process (stick-breaking) prior on the weights, else a Dirichlet
    double weight_concentration = 0.0, mean_precision = 0.0, degrees_of_freedom = 0.0;
    const double* mean = nullptr;        // D
    const double* covariance = nullptr;  // D x D (full, tied), D (diag), 1 (spherical)
};

// The posterior, laid out as the fitted attributes: weight_concentration_ is
// weight_a (Dirichlet), or the sticks' Beta parameters (weight_a, weight_b).
struct VariationalPosterior {
    std::vector<double> weight_a, weight_b;  // K each; weight_b empty for a Dirichlet
    std::vector<double> mean_precision;      // K
    std::vector<double> means;               // K x D
    std::vector<double> dof;                 // K, one for tied
    std::vector<double> covariances, prec_chol;
    double jitter = 0.0;         // the largest added to a covariance's diagonal
    bool finite_covariances = true;  // false: no factors (the data's values are beyond float64)
};

// scikit-learn's _m_step on statistics that stand for `counts` samples' each
// (the posterior is computed in units of counts, where nothing overflows that
// the result does not), with the precision factors as precision_cholesky makes them.
VariationalPosterior variational_m_step(const VariationalPrior& prior, const Stats& st, double reg_covar, double scale,
                                        double counts, const Exec& ex);

// What the E-step needs of a posterior (K components of D features): the
// log-weights that scikit-learn's _estimate_weighted_log_prob adds to the
// Gaussian log-densities of the means and expected precisions,
//   E[log pi_k] - D/2 log nu_k + 1/2 (sum_i digamma((nu_k - i) / 2) + D log 2 - D / beta_k),
// and its weights_ (the expected weights); either output may be null (not
// computed). dof holds nu: K values, or one for tied (n_dof = 1).
void variational_e_step(bool process, int64_t K, int64_t D, const double* weight_a, const double* weight_b,
                        const double* mean_precision, const double* dof, int64_t n_dof, double* log_weights,
                        double* weights);

// Online EM's step on statistics (emfast._stats.Stats.recentred and blend):
// the running statistics moved exactly onto the centres of `batch`, then
// batch <- (1 - rho) running + rho batch for S0, S1, S2, loglik and weight.
void blend_stats(const Stats& running, double rho, Stats& batch);

// scikit-learn's KMeans(n_init=1) for init_params='kmeans' (csrc/kmeans.cpp).
// Rows are centred on `shift` (the column means); centres are centred too.
//
// k-means++: the seeds' row indices, from the first seed `first` and the
// (K - 1) x n_trials uniform draws scikit-learn would make.
void kmeans_plusplus(const Data& X, const double* sample_weight, const double* shift, int64_t K, int64_t first,
                     int64_t n_trials, const double* draws, const Exec& ex, int64_t* indices);

// The steps of k-means++ for data in parts (Dask blocks): with `update` (L = 1),
// closest_i <- min(closest_i, ||x_i - cand||^2) and out[0] = sum_i w_i closest_i;
// else out[l] = sum_i w_i min(closest_i, ||x_i - cand_l||^2). closest has X's
// dtype and room for N rounded up to a whole SIMD vector (the rest +inf);
// candidates are centred rows.
void kmeans_closest(const Data& X, const double* sample_weight, const double* shift, const double* cands, int64_t L,
                    void* closest, bool update, const Exec& ex, double* out);

// Lloyd iterations from `centers` until the labels stop changing (strict),
// the centres move by at most tol (sum of squared shifts), max_iter
// iterations are done, or a cluster is left without rows (empty: the caller
// relocates it as scikit-learn does and calls again). labels (N, int32) hold
// the previous iteration's labels (-1 at first) and receive the new ones.
// max_iter = 0: only the labels of the given centres.
struct LloydState {
    std::vector<double> centers;       // K x D: in, the start; out, the last centres
    std::vector<double> sums, weights;  // of the last assignment: K x D weighted sums of rows, K weights
    int64_t n_iter = 0;                 // iterations done in this call
    int64_t changed = 0;                // labels changed by the last assignment
    bool strict = false;                // no label changed
    bool empty = false;                 // stopped before averaging: a cluster has no rows
    bool final_labels = false;          // labels are those of the last centres (scikit-learn's last E-step)
};
void kmeans_lloyd(const Data& X, const double* sample_weight, const double* shift, int64_t K, int64_t max_iter,
                  double tol, int32_t* labels, const Exec& ex, LloydState& st);

// precisions_cholesky_ from covariances_; a matrix that is not positive definite
// gets the smallest jitter 10^j * 1e-10 * scale on its diagonal that makes it so.
// Both run on the calling thread and poll ex (per column of each factorisation:
// K D^3 work for full covariances), throwing Interrupted if it says stop.
void precision_cholesky(Cov cov, int64_t K, int64_t D, double* covariances, double* prec_chol,
                        double scale, double* jitter, const Exec& ex);


}  // namespace emfast
