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

Everything here is float64 and of size K x D^2: no loop over samples. The
M-step and the E-step's log-weights (digamma) are C++ (csrc/variational.cpp,
through emfast._core.variational_m_step and variational_e_step), in the order
of operations of the NumPy code they replaced, which tests/test_variational_native.py
keeps as their reference.
"""

import dataclasses
import math
from typing import Union

import numpy as np
from scipy.special import betaln, gammaln

from ._em import Repairs, Step
from ._native import core
from ._stats import Params

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

    def native(self):
        """The priors as the kernels take them (emfast._core.variational_m_step's prior)."""
        return (self.kind, self.weight_concentration, self.mean_precision, self.mean, self.degrees_of_freedom,
                self.covariance)


@dataclasses.dataclass
class Posterior:
    """The variational posterior, laid out as scikit-learn's attributes."""

    weight_concentration: Union[tuple, np.ndarray]  # (alpha, beta) of the sticks, or Dirichlet
    mean_precision: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    degrees_of_freedom: Union[np.ndarray, float]  # (K,), a float for 'tied'
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @classmethod
    def from_native(cls, d):
        """The posterior of a dict of emfast._core.variational_m_step's keys."""
        b = d["weight_b"]
        dof = d["degrees_of_freedom"]
        return cls(d["weight_a"] if b is None else (d["weight_a"], b), d["mean_precision"], d["means"],
                   np.float64(dof) if isinstance(dof, float) else dof, d["covariances"], d["precisions_cholesky"])

    def native(self):
        """The posterior as the kernels take it (emfast._core.variational_e_step's posterior)."""
        wc = self.weight_concentration
        a, b = wc if isinstance(wc, tuple) else (wc, None)
        return a, b, self.mean_precision, self.means, self.degrees_of_freedom, self.precisions_cholesky

    def weights(self, kind):
        """scikit-learn's weights_: the expected mixing weights, normalised."""
        return core.variational_e_step(kind, self.native(), self.means.shape[1], False)[1]

    def e_step_params(self, kind, weights=None):
        """The Gaussian parameters and log-weights whose E-step is the variational one
        (scikit-learn's _estimate_weighted_log_prob: E[log pi_k] and the Wishart's
        expected log-determinant, with digamma, in emfast._core.variational_e_step);
        `weights`: self.weights(kind), if known."""
        log_weights, own = core.variational_e_step(kind, self.native(), self.means.shape[1])
        return VariationalParams(own if weights is None else weights, self.means, self.covariances,
                                 self.precisions_cholesky, log_weights=log_weights)


def posterior(prior, stats, reg_covar, scale, counts=1.0):
    """The variational M-step (scikit-learn's _m_step) from statistics: (Posterior,
    Repairs). The statistics count `counts` times (the weights' scale, or the
    number of samples that statistics per unit of weight stand for); means and
    covariances are computed in units of `counts`, where nothing overflows that
    the result does not (for a power of two, dividing by it is exact). The
    precision factors are core.precision_cholesky's, with its jitter."""
    d = core.variational_m_step(stats.s0, stats.s1, stats.s2, stats.centers, prior.covariance_type, prior.native(),
                                float(reg_covar), float(scale), float(counts))
    return Posterior.from_native(d), Repairs(d["jitter"])


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
