// The variational Gaussian mixture's algebra on sufficient statistics
// (emfast._variational; the model is scikit-learn's BayesianGaussianMixture):
// its M-step, the E-step's log-weights, and online EM's blend of statistics.
// Small (K x D^2) work in float64, with the operations in the order of the
// NumPy code they replaced (tests/test_variational_native.py keeps it as the
// reference), so that the results agree with it to rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "constants.hpp"
#include "core.hpp"
#include "special.hpp"

namespace emfast {

namespace {

// scikit-learn's nk, xk and nk sk (the scatter about xk plus nk reg_covar on
// its diagonal) of statistics centred on c, in units of counts. With
// d = S1 / nk (xk = c + d), the scatter is S2 - d S1^T (2 - S0 / nk): the
// moment about c + d without forming S1 d^T + d S1^T twice.
struct Moments {
    std::vector<double> nk, xk, scatter;
};

Moments moments(const Stats& st, double reg_covar, double counts) {
    const int64_t K = st.K, D = st.D;
    Moments m;
    m.nk.resize(size_t(K));
    m.xk.resize(size_t(K * D));
    m.scatter.resize(size_t(s2_size(st.cov, K, D)));
    std::vector<double> d(static_cast<size_t>(K * D)), g(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
        const double nk = m.nk[size_t(k)] = st.s0[size_t(k)] + kWeightEps / counts;
        g[size_t(k)] = 2.0 - st.s0[size_t(k)] / nk;
        for (int64_t i = 0; i < D; ++i) {
            d[size_t(k * D + i)] = st.s1[size_t(k * D + i)] / nk;
            m.xk[size_t(k * D + i)] = st.centers[size_t(k * D + i)] + d[size_t(k * D + i)];
        }
    }
    const double* s1 = st.s1.data();
    const double* s2 = st.s2.data();
    double* sc = m.scatter.data();
    switch (st.cov) {
        case Cov::Full:
            for (int64_t k = 0; k < K; ++k)
                for (int64_t i = 0; i < D; ++i) {
                    for (int64_t j = 0; j < D; ++j) {
                        const int64_t at = (k * D + i) * D + j;
                        sc[at] = s2[at] - (d[size_t(k * D + i)] * s1[k * D + j]) * g[size_t(k)];
                    }
                    sc[(k * D + i) * D + i] += m.nk[size_t(k)] * reg_covar;
                }
            break;
        case Cov::Tied: {
            double total = 0.0;
            for (int64_t k = 0; k < K; ++k) total += m.nk[size_t(k)];
            for (int64_t i = 0; i < D; ++i) {
                for (int64_t j = 0; j < D; ++j) {
                    double v = 0.0;
                    for (int64_t k = 0; k < K; ++k) v += (g[size_t(k)] * d[size_t(k * D + i)]) * s1[k * D + j];
                    sc[i * D + j] = s2[i * D + j] - v;
                }
                sc[i * D + i] += total * reg_covar;
            }
            break;
        }
        case Cov::Diag:
            for (int64_t k = 0; k < K; ++k)
                for (int64_t i = 0; i < D; ++i) {
                    const int64_t at = k * D + i;
                    sc[at] = (s2[at] - (d[size_t(at)] * s1[at]) * g[size_t(k)]) + m.nk[size_t(k)] * reg_covar;
                }
            break;
        case Cov::Spherical:
            for (int64_t k = 0; k < K; ++k) {
                double v = 0.0;
                for (int64_t i = 0; i < D; ++i) v += d[size_t(k * D + i)] * s1[k * D + i];
                sc[k] = (s2[k] - v * g[size_t(k)]) / double(D) + m.nk[size_t(k)] * reg_covar;
            }
            break;
    }
    return m;
}

// scikit-learn's weights_: E[v_k] prod_{j < k} E[1 - v_j] of the sticks, or the
// Dirichlet's mean, normalised.
void expected_weights(bool process, int64_t K, const double* weight_a, const double* weight_b, double* weights) {
    double left = 1.0;  // what the first k sticks leave
    for (int64_t k = 0; k < K; ++k) {
        if (process) {
            const double total = weight_a[k] + weight_b[k];
            weights[k] = weight_a[k] / total;
            if (k > 0) weights[k] *= left;
            left *= weight_b[k] / total;
        } else {
            weights[k] = weight_a[k];
        }
    }
    double sum = 0.0;
    for (int64_t k = 0; k < K; ++k) sum += weights[k];
    for (int64_t k = 0; k < K; ++k) weights[k] /= sum;
}

}  // namespace

VariationalPosterior variational_m_step(const VariationalPrior& prior, const Stats& st, double reg_covar, double scale,
                                        double counts, const Exec& ex) {
    const int64_t K = st.K, D = st.D;
    const Cov cov = st.cov;
    Moments m = moments(st, reg_covar, counts);
    const std::vector<double>& nk_u = m.nk;  // nk / counts
    VariationalPosterior p;
    std::vector<double> nk(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) nk[size_t(k)] = nk_u[size_t(k)] * counts;

    // the weights: Dirichlet(wcp + nk), or sticks Beta(1 + nk_k, wcp + sum_{j > k} nk_j)
    p.weight_a.resize(size_t(K));
    if (prior.process) {
        p.weight_b.resize(size_t(K));
        double later = 0.0;  // summed from the last component, as scikit-learn sums it
        for (int64_t k = K - 1; k >= 0; --k) {
            p.weight_a[size_t(k)] = 1.0 + nk[size_t(k)];
            p.weight_b[size_t(k)] = later + prior.weight_concentration;
            later += nk[size_t(k)];
        }
    } else {
        for (int64_t k = 0; k < K; ++k) p.weight_a[size_t(k)] = prior.weight_concentration + nk[size_t(k)];
    }

    // the means: (nk xk + beta0 m0) / beta, in units of counts
    const double beta0 = prior.mean_precision;
    const double beta0_u = beta0 / counts;
    p.mean_precision.resize(size_t(K));
    p.means.resize(size_t(K * D));
    std::vector<double> diff(static_cast<size_t>(K * D)), shrink_u(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
        const double beta = p.mean_precision[size_t(k)] = beta0 + nk[size_t(k)];
        for (int64_t i = 0; i < D; ++i) {
            const size_t at = size_t(k * D + i);
            double v = nk_u[size_t(k)] * m.xk[at];
            v += beta0_u * prior.mean[i];
            p.means[at] = v / (beta / counts);
            diff[at] = m.xk[at] - prior.mean[i];
        }
        shrink_u[size_t(k)] = nk_u[size_t(k)] * beta0 / beta;  // the spread of xk about m0, shrunk
    }

    // the Wishart's degrees of freedom and covariances: (scatter + psi0 + shrunk spread) / nu
    std::vector<double>& covs = m.scatter;
    if (cov == Cov::Tied) {
        double total = 0.0;
        for (int64_t k = 0; k < K; ++k) total += nk[size_t(k)];
        p.dof.assign(1, prior.degrees_of_freedom + total / double(K));
        for (double& c : covs) c /= double(K);  // the pooled scatter, shared by the K components
    } else {
        p.dof.resize(size_t(K));
        for (int64_t k = 0; k < K; ++k) p.dof[size_t(k)] = prior.degrees_of_freedom + nk[size_t(k)];
    }
    // the prior's covariance (one matrix, vector or number) added to each component's
    const int64_t prior_size = cov == Cov::Full || cov == Cov::Tied ? D * D : cov == Cov::Diag ? D : 1;
    for (size_t at = 0; at < covs.size(); ++at) covs[at] += prior.covariance[int64_t(at) % prior_size] / counts;
    switch (cov) {
        case Cov::Full:
            for (int64_t k = 0; k < K; ++k) {
                const double nu_u = p.dof[size_t(k)] / counts;
                const double* dk = diff.data() + k * D;
                double* c = covs.data() + k * D * D;
                for (int64_t i = 0; i < D; ++i)
                    for (int64_t j = 0; j < D; ++j) {
                        c[i * D + j] += (shrink_u[size_t(k)] * dk[i]) * dk[j];
                        c[i * D + j] /= nu_u;
                    }
            }
            break;
        case Cov::Tied: {
            const double nu_u = p.dof[0] / counts;
            for (int64_t i = 0; i < D; ++i)
                for (int64_t j = 0; j < D; ++j) {
                    double v = 0.0;
                    for (int64_t k = 0; k < K; ++k)
                        v += ((nk_u[size_t(k)] / p.mean_precision[size_t(k)]) * diff[size_t(k * D + i)]) *
                             diff[size_t(k * D + j)];
                    covs[size_t(i * D + j)] += beta0 / double(K) * v;
                    covs[size_t(i * D + j)] /= nu_u;
                }
            break;
        }
        case Cov::Diag:
            for (int64_t k = 0; k < K; ++k) {
                const double nu_u = p.dof[size_t(k)] / counts;
                for (int64_t i = 0; i < D; ++i) {
                    const size_t at = size_t(k * D + i);
                    covs[at] += shrink_u[size_t(k)] * (diff[at] * diff[at]);
                    covs[at] /= nu_u;
                }
            }
            break;
        case Cov::Spherical:
            for (int64_t k = 0; k < K; ++k) {
                double spread = 0.0;
                for (int64_t i = 0; i < D; ++i) spread += diff[size_t(k * D + i)] * diff[size_t(k * D + i)];
                covs[size_t(k)] += shrink_u[size_t(k)] * (spread / double(D));
                covs[size_t(k)] /= p.dof[size_t(k)] / counts;
            }
            break;
    }
    if (cov == Cov::Full || cov == Cov::Tied) {  // symmetric to the last bit (the products round unevenly)
        const int64_t n_matrices = cov == Cov::Full ? K : 1;
        for (int64_t k = 0; k < n_matrices; ++k) {
            double* c = covs.data() + k * D * D;
            for (int64_t i = 0; i < D; ++i)
                for (int64_t j = 0; j < i; ++j) c[i * D + j] = c[j * D + i] = 0.5 * (c[i * D + j] + c[j * D + i]);
        }
    }

    for (double c : covs) p.finite_covariances = p.finite_covariances && std::isfinite(c);
    if (!p.finite_covariances) return p;
    const int64_t n_matrices = cov == Cov::Tied ? 1 : K;
    std::vector<double> jitter(static_cast<size_t>(n_matrices), 0.0);
    p.prec_chol.resize(covs.size());
    precision_cholesky(cov, n_matrices, D, covs.data(), p.prec_chol.data(), scale, jitter.data(), ex);
    p.jitter = *std::max_element(jitter.begin(), jitter.end());
    p.covariances = std::move(covs);
    return p;
}

void variational_e_step(bool process, int64_t K, int64_t D, const double* weight_a, const double* weight_b,
                        const double* mean_precision, const double* dof, int64_t n_dof, double* log_weights,
                        double* weights) {
    if (weights) expected_weights(process, K, weight_a, weight_b, weights);
    if (!log_weights) return;
    // E[log pi_k]: the sticks' E[log v_k] + sum_{j < k} E[log (1 - v_j)], or the Dirichlet's
    if (process) {
        double rest = 0.0;
        for (int64_t k = 0; k < K; ++k) {
            const double both = digamma(weight_a[k] + weight_b[k]);
            log_weights[k] = (digamma(weight_a[k]) - both) + rest;
            rest += digamma(weight_b[k]) - both;
        }
    } else {
        double total = 0.0;
        for (int64_t k = 0; k < K; ++k) total += weight_a[k];
        const double all = digamma(total);
        for (int64_t k = 0; k < K; ++k) log_weights[k] = digamma(weight_a[k]) - all;
    }
    // the Wishart's E[log |Lambda_k|] - log |W_k|, and scikit-learn's constants
    const double log2 = std::log(2.0);
    for (int64_t k = 0; k < K; ++k) {
        const double nu = dof[n_dof == 1 ? 0 : k];
        double log_lambda = 0.0;
        for (int64_t i = 0; i < D; ++i) log_lambda += digamma(0.5 * (nu - double(i)));
        log_lambda += double(D) * log2;
        const double constant = (log_lambda - double(D) / mean_precision[k]) * 0.5;
        log_weights[k] = (log_weights[k] - 0.5 * double(D) * std::log(nu)) + constant;
    }
}

void blend_stats(const Stats& running, double rho, Stats& batch) {
    const int64_t K = batch.K, D = batch.D;
    // running, recentred exactly: with d = c' - c, S1' = S1 - S0 d and
    // S2' = S2 - S1 d^T - d S1^T + S0 d d^T (its diagonal, trace or sum over components)
    std::vector<double> d(static_cast<size_t>(K * D)), s0d(static_cast<size_t>(K * D)), s1(running.s1), s2(running.s2);
    for (int64_t at = 0; at < K * D; ++at) {
        d[size_t(at)] = batch.centers[size_t(at)] - running.centers[size_t(at)];
        // as (S0 d) d: a component without weight moved across the float range keeps S2 = 0, not NaN
        s0d[size_t(at)] = running.s0[size_t(at / D)] * d[size_t(at)];
    }
    switch (batch.cov) {
        case Cov::Full:
        case Cov::Tied: {
            std::vector<double> sum(batch.cov == Cov::Tied ? size_t(D * D) : 0, 0.0);
            for (int64_t k = 0; k < K; ++k) {
                const double* s1k = running.s1.data() + k * D;
                const double* dk = d.data() + k * D;
                const double* s0dk = s0d.data() + k * D;
                for (int64_t i = 0; i < D; ++i)
                    for (int64_t j = 0; j < D; ++j) {
                        const double delta = (s0dk[i] * dk[j] - s1k[i] * dk[j]) - s1k[j] * dk[i];
                        if (batch.cov == Cov::Full)
                            s2[size_t((k * D + i) * D + j)] += delta;
                        else
                            sum[size_t(i * D + j)] += delta;
                    }
            }
            for (size_t at = 0; at < sum.size(); ++at) s2[at] += sum[at];
            break;
        }
        case Cov::Diag:
            for (int64_t at = 0; at < K * D; ++at)
                s2[size_t(at)] = (s2[size_t(at)] - 2.0 * running.s1[size_t(at)] * d[size_t(at)]) +
                                 s0d[size_t(at)] * d[size_t(at)];
            break;
        case Cov::Spherical:
            for (int64_t k = 0; k < K; ++k) {
                double cross = 0.0, square = 0.0;
                for (int64_t i = 0; i < D; ++i) {
                    cross += running.s1[size_t(k * D + i)] * d[size_t(k * D + i)];
                    square += s0d[size_t(k * D + i)] * d[size_t(k * D + i)];
                }
                s2[size_t(k)] = (s2[size_t(k)] - 2.0 * cross) + square;
            }
            break;
    }
    for (int64_t at = 0; at < K * D; ++at) s1[size_t(at)] -= s0d[size_t(at)];
    // then (1 - rho) running + rho batch
    const double keep = 1.0 - rho;
    auto mix = [&](const std::vector<double>& old, std::vector<double>& now) {
        for (size_t at = 0; at < now.size(); ++at) now[at] = keep * old[at] + rho * now[at];
    };
    mix(running.s0, batch.s0);
    mix(s1, batch.s1);
    mix(s2, batch.s2);
    batch.loglik = keep * running.loglik + rho * batch.loglik;
    batch.weight = keep * running.weight + rho * batch.weight;
}

}  // namespace emfast
