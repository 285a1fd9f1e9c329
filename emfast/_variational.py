"""The variational Gaussian mixture's algebra on the engine's statistics.

scikit-learn's BayesianGaussianMixture (Bishop 2006, 10.2; Blei & Jordan 2006
for the Dirichlet process) alternates an E-step and a variational M-step:

- the E-step is the Gaussian E-step with the model's means and the Cholesky
  factors P_k of its expected precisions nu_k W_k, and log-weights replaced by
      E[log pi_k] - D/2 log nu_k + 1/2 (E[log |Lambda_k|] - log |W_k| - D / beta_k),
  so the one fused pass of emfast (emfast._data) yields its statistics;
- the M-step turns the statistics into scikit-learn's nk, xk, sk (the Gaussian
  M-step's weights, means and covariances before normalising) and those into
  the posterior (Dirichlet or stick-breaking Beta weights, Gaussian-Wishart
  components), with scikit-learn's formulas;
- the lower bound needs sum_n sum_k r log r, which the statistics give without
  another pass: with c_k the per-component constant the pass added (log-weight,
  log det P_k, -D/2 log 2 pi) and S2_k centred on the E-step's means,
      sum r log r = sum_k c_k S0_k - 1/2 sum_k tr(P_k P_k^T S2_k) - sum_n log p(x_n).

Everything here is float64 and of size K x D^2: no loop over samples.
"""

import dataclasses
import math
from typing import Union

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ._em import Repairs, Step
from ._native import core
from ._stats import Params

_EPS10 = 10 * np.finfo(np.float64).eps
_LOG_2PI = math.log(2 * math.pi)


def _log_dirichlet_norm(dirichlet_concentration):
    """Log of the Dirichlet distribution's normalisation (scikit-learn's)."""
    return gammaln(np.sum(dirichlet_concentration)) - np.sum(gammaln(dirichlet_concentration))


def _log_wishart_norm(degrees_of_freedom, log_det_precisions_chol, n_features):
    """Log of the Wishart distribution's normalisation without the log(pi) term
    (scikit-learn's)."""
    return -(
        degrees_of_freedom * log_det_precisions_chol
        + degrees_of_freedom * n_features * 0.5 * math.log(2.0)
        + np.sum(gammaln(0.5 * (degrees_of_freedom - np.arange(n_features)[:, np.newaxis])), 0)
    )


def log_det_cholesky(prec_chol, covariance_type, n_features):
    """log det P_k per component (a scalar for 'tied')."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return float(np.sum(np.log(np.diag(prec_chol))))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


@dataclasses.dataclass
class VariationalParams(Params):
    """What a pass needs of the posterior: the Gaussian layout, with the E-step's
    log-weights (not log weights_) handed to the kernels."""

    log_weights: np.ndarray = None

    def native(self):
        return (
            np.ascontiguousarray(self.log_weights, dtype=np.float64),
            np.ascontiguousarray(self.means, dtype=np.float64),
            np.ascontiguousarray(self.precisions_cholesky, dtype=np.float64),
        )


@dataclasses.dataclass
class Prior:
    """The priors as scikit-learn's *_prior_ attributes hold them, in float64."""

    kind: str  # weight_concentration_prior_type
    covariance_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray  # (D,)
    degrees_of_freedom: float
    covariance: Union[np.ndarray, float]  # the covariance type's shape


@dataclasses.dataclass
class Posterior:
    """The variational posterior, laid out as scikit-learn's attributes."""

    weight_concentration: Union[tuple, np.ndarray]  # (alpha, beta) of the sticks, or Dirichlet
    mean_precision: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    degrees_of_freedom: Union[np.ndarray, float]  # (K,), a float for 'tied'
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    def weights(self, kind):
        """scikit-learn's weights_: the expected mixing weights, normalised."""
        if kind == "dirichlet_process":
            a, b = self.weight_concentration
            total = a + b
            sticks = np.cumprod(b / total)  # what the first k sticks leave
            weights = a / total
            weights[1:] *= sticks[:-1]
        else:
            weights = self.weight_concentration.copy()
        weights /= weights.sum()
        return weights

    def expected_log_weights(self, kind):
        """E[log pi_k] under the posterior."""
        if kind == "dirichlet_process":
            a, b = self.weight_concentration
            digamma_sum = digamma(a + b)
            out = digamma(a) - digamma_sum
            out[1:] += np.cumsum(digamma(b) - digamma_sum)[:-1]
            return out
        return digamma(self.weight_concentration) - digamma(np.sum(self.weight_concentration))

    def e_step_params(self, kind, weights=None):
        """The Gaussian parameters and log-weights whose E-step is the variational one
        (scikit-learn's _estimate_weighted_log_prob); `weights`: self.weights(kind), if known."""
        D = self.means.shape[1]
        dof = self.degrees_of_freedom
        # E[log |Lambda_k|] - log |W_k|, then scikit-learn's constant 1/2 (that - D / beta_k)
        log_lambda = digamma(0.5 * (dof - np.arange(D)[:, np.newaxis])).sum(axis=0)
        log_lambda += D * math.log(2.0)
        constant = log_lambda - D / self.mean_precision
        constant *= 0.5
        log_weights = self.expected_log_weights(kind) - 0.5 * D * np.log(dof)
        log_weights += constant
        weights = self.weights(kind) if weights is None else weights
        return VariationalParams(weights, self.means, self.covariances, self.precisions_cholesky,
                                 log_weights=log_weights)


def moments(stats, reg_covar, counts=1.0):
    """scikit-learn's _estimate_gaussian_parameters from statistics that count
    `counts` times: nk, xk and nk * sk (sk with reg_covar on its diagonal; for
    'tied' sum(nk) * sk, for 'spherical' nk times the mean of the diagonal), nk
    and nk * sk in units of `counts` (nk / counts, nk * sk / counts)."""
    s0, s1 = stats.s0, stats.s1
    nk = s0 + _EPS10 / counts
    d = s1 / nk[:, np.newaxis]
    xk = stats.centers + d
    # about xk = c + d: sum r (x - xk)(x - xk)^T = S2 - d S1^T (2 - S0 / nk), 1 <= 2 - S0 / nk <= 2
    g = 2.0 - s0 / nk
    K, D = xk.shape
    cov = stats.covariance_type
    if cov == "full":
        scatter = stats.s2 - (d[:, :, np.newaxis] * s1[:, np.newaxis, :]) * g[:, np.newaxis, np.newaxis]
        scatter.reshape(K, D * D)[:, :: D + 1] += (nk * reg_covar)[:, np.newaxis]
    elif cov == "tied":
        scatter = stats.s2 - (g * d.T) @ s1
        scatter.reshape(D * D)[:: D + 1] += nk.sum() * reg_covar
    elif cov == "diag":
        scatter = stats.s2 - d * s1 * g[:, np.newaxis] + (nk * reg_covar)[:, np.newaxis]
    else:
        scatter = (stats.s2 - np.sum(d * s1, axis=1) * g) / D + nk * reg_covar
    return nk, xk, scatter


def posterior(prior, stats, reg_covar, scale, counts=1.0):
    """The variational M-step (scikit-learn's _m_step) from statistics: (Posterior,
    Repairs). The statistics count `counts` times (the weights' scale, or the
    number of samples that statistics per unit of weight stand for); means and
    covariances are computed in units of `counts`, where nothing overflows that
    the result does not (for a power of two, dividing by it is exact)."""
    nk_u, xk, covs = moments(stats, reg_covar, counts)  # covs: nk * sk / counts, to be completed
    nk = nk_u * counts
    K, D = xk.shape
    if prior.kind == "dirichlet_process":
        later = np.zeros_like(nk)  # sum_{j > k} nk_j, summed from the last as scikit-learn sums it
        later[:-1] = np.cumsum(nk[::-1])[-2::-1]
        later += prior.weight_concentration
        concentration = (1.0 + nk, later)
    else:
        concentration = prior.weight_concentration + nk
    beta0, m0 = prior.mean_precision, prior.mean
    beta = beta0 + nk
    means = nk_u[:, np.newaxis] * xk
    means += beta0 / counts * m0
    means /= (beta / counts)[:, np.newaxis]
    diff = xk - m0
    shrink_u = nk_u * beta0 / beta  # the spread of xk about the prior mean, shrunk
    cov = prior.covariance_type
    dof = prior.degrees_of_freedom + (nk.sum() / K if cov == "tied" else nk)
    if cov == "tied":
        covs /= K  # the pooled scatter, shared by the K components
    covs += prior.covariance / counts
    if cov == "full":
        covs += shrink_u[:, None, None] * diff[:, :, None] * diff[:, None, :]
        covs /= (dof / counts)[:, None, None]
    elif cov == "tied":
        covs += beta0 / K * np.dot((nk_u / beta) * diff.T, diff)
        covs /= dof / counts
    elif cov == "diag":
        covs += shrink_u[:, None] * diff**2
        covs /= (dof / counts)[:, None]
    else:
        covs += shrink_u * np.mean(diff**2, 1)
        covs /= dof / counts
    if cov in ("full", "tied"):  # symmetric to the last bit (the products above round unevenly)
        covs = 0.5 * (covs + np.swapaxes(covs, -1, -2))
    try:
        covs, prec_chol, jitter = core.precision_cholesky(covs, cov, scale)
    except ValueError:
        if np.isfinite(covs).all():
            raise
        raise ValueError(
            "Fitting produced non-finite covariances: the data's values (or sample weights) are too "
            "large or too small to be represented in floating point. Rescale X (for example with "
            "sklearn.preprocessing.StandardScaler) or the sample weights."
        ) from None
    post = Posterior(concentration, beta, means, dof, covs, prec_chol)
    return post, Repairs(float(jitter.max()))


def sum_r_log_r(stats, params, covariance_type):
    """sum_n w_n sum_k r_nk log r_nk of the E-step pass with `params` that gave `stats`."""
    P = params.precisions_cholesky
    D = params.means.shape[1]
    const = params.log_weights + log_det_cholesky(P, covariance_type, D) - 0.5 * D * _LOG_2PI
    if covariance_type == "full":
        maha = np.einsum("kij,kij->", np.matmul(P, np.swapaxes(P, 1, 2)), stats.s2)
    elif covariance_type == "tied":
        maha = np.sum((P @ P.T) * stats.s2)
    else:
        maha = np.sum(P**2 * stats.s2)
    return float(const @ stats.s0 - 0.5 * maha - stats.loglik)


def lower_bound(post, kind, covariance_type, r_log_r):
    """scikit-learn's _compute_lower_bound: the lower bound of the posterior `post`
    (after the M-step) with the E-step's sum r log r."""
    K, D = post.means.shape
    dof = post.degrees_of_freedom
    log_det = log_det_cholesky(post.precisions_cholesky, covariance_type, D) - 0.5 * D * np.log(dof)
    if covariance_type == "tied":
        log_wishart = K * float(np.ravel(_log_wishart_norm(dof, log_det, D))[0])
    else:
        log_wishart = np.sum(_log_wishart_norm(dof, log_det, D))
    if kind == "dirichlet_process":
        log_norm_weight = -np.sum(betaln(*post.weight_concentration))
    else:
        log_norm_weight = _log_dirichlet_norm(post.weight_concentration)
    return float(-r_log_r - log_wishart - log_norm_weight - 0.5 * D * np.sum(np.log(post.mean_precision)))


class VariationalEM:
    """Batch variational inference: one fused pass and the variational M-step per
    iteration; the lower bound as scikit-learn computes it (the E-step's
    responsibilities, the M-step's new posterior)."""

    lower_bound_dtype = np.float64  # a sum over samples: float32 could not resolve tol

    def __init__(self, prior, reg_covar, scale, counts=1.0):
        self.prior = prior
        self.reg_covar = reg_covar
        self.scale = scale
        self.counts = counts  # the passes' weights are the sample weights / counts

    def maximise(self, stats, counts=None):
        """The posterior from a pass's statistics (or from statistics standing for `counts` samples' each)."""
        return posterior(self.prior, stats, self.reg_covar, self.scale, self.counts if counts is None else counts)

    def step(self, data, post):
        cov = self.prior.covariance_type
        params = post.e_step_params(self.prior.kind)
        stats = data.em_pass(params, cov)
        new, repairs = self.maximise(stats)
        r_log_r = self.counts * sum_r_log_r(stats, params, cov)
        return Step(new, lower_bound(new, self.prior.kind, cov, r_log_r), repairs)
