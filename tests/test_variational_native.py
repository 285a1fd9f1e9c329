"""The variational M-step, E-step weights and online step in C++ against their
NumPy definitions (kept here as the reference: the code they replaced), and
the kernels' digamma against SciPy's."""

import math
import warnings
from unittest import mock

import numpy as np
import pytest
from conftest import make_blobs
from scipy.special import digamma
from sklearn.exceptions import ConvergenceWarning

from emfast import MiniBatchBayesianGaussianMixture, _variational
from emfast._data import ArrayData
from emfast._em import Repairs
from emfast._native import core as default_core
from emfast._native import supported_variants, using_variant
from emfast._stats import Params, Stats
from emfast._variational import Posterior, Prior, VariationalParams
from emfast._variational import posterior as native_posterior

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
FITTED = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "mean_precision_",
          "degrees_of_freedom_", "lower_bound_"]
_EPS10 = 10 * np.finfo(np.float64).eps


# ---------------------------------------------------------------- the reference


def ref_moments(stats, reg_covar, counts=1.0):
    """scikit-learn's nk, xk and nk * sk from statistics, in units of counts."""
    s0, s1 = stats.s0, stats.s1
    nk = s0 + _EPS10 / counts
    d = s1 / nk[:, np.newaxis]
    xk = stats.centers + d
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


def ref_posterior(prior, stats, reg_covar, scale, counts=1.0):
    """The variational M-step (scikit-learn's _m_step) as NumPy computed it: (Posterior, Repairs)."""
    nk_u, xk, covs = ref_moments(stats, reg_covar, counts)
    nk = nk_u * counts
    K, D = xk.shape
    if prior.kind == "dirichlet_process":
        later = np.zeros_like(nk)
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
    shrink_u = nk_u * beta0 / beta
    cov = prior.covariance_type
    dof = prior.degrees_of_freedom + (nk.sum() / K if cov == "tied" else nk)
    if cov == "tied":
        covs /= K
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
    if cov in ("full", "tied"):
        covs = 0.5 * (covs + np.swapaxes(covs, -1, -2))
    covs, prec_chol, jitter = default_core.precision_cholesky(covs, cov, scale)
    return Posterior(concentration, beta, means, dof, covs, prec_chol), Repairs(float(jitter.max()))


def ref_weights(post, kind):
    if kind == "dirichlet_process":
        a, b = post.weight_concentration
        total = a + b
        sticks = np.cumprod(b / total)
        weights = a / total
        weights[1:] *= sticks[:-1]
    else:
        weights = post.weight_concentration.copy()
    weights /= weights.sum()
    return weights


def ref_expected_log_weights(post, kind):
    if kind == "dirichlet_process":
        a, b = post.weight_concentration
        digamma_sum = digamma(a + b)
        out = digamma(a) - digamma_sum
        out[1:] += np.cumsum(digamma(b) - digamma_sum)[:-1]
        return out
    return digamma(post.weight_concentration) - digamma(np.sum(post.weight_concentration))


def ref_e_step_params(post, kind, weights=None):
    D = post.means.shape[1]
    dof = post.degrees_of_freedom
    log_lambda = digamma(0.5 * (dof - np.arange(D)[:, np.newaxis])).sum(axis=0)
    log_lambda += D * math.log(2.0)
    constant = log_lambda - D / post.mean_precision
    constant *= 0.5
    log_weights = ref_expected_log_weights(post, kind) - 0.5 * D * np.log(dof)
    log_weights += constant
    weights = ref_weights(post, kind) if weights is None else weights
    return VariationalParams(weights, post.means, post.covariances, post.precisions_cholesky, log_weights=log_weights)


class ReferenceSVI(MiniBatchBayesianGaussianMixture):
    """MiniBatchBayesianGaussianMixture with the NumPy M-step, E-step weights and
    step that the native ones replaced."""

    def _start(self, X, sample_weight):
        with mock.patch.object(_variational, "posterior", ref_posterior):  # VariationalEM.maximise's M-step
            return super()._start(X, sample_weight)

    def _step(self, X, sample_weight):
        params = ref_e_step_params(self._posterior, self.weight_concentration_prior_type, self.weights_)
        data = ArrayData(X, sample_weight, shift=params.shift(X.dtype))
        raw = data.em_pass(params, self.covariance_type)
        batch = raw.normalised()
        stats, rho = self._blend(batch)
        self._seen_weight += raw.weight * self._weight_scale
        self._posterior, repairs = ref_posterior(self._model.prior, stats, self.reg_covar, self._model.scale,
                                                 self._fixed_total() or self._seen_weight)
        self._stats = stats
        self._advance(batch.loglik, rho)
        self.lower_bound_ = np.float64(self.lower_bound_)
        self._publish(X.dtype)
        return repairs

    def _publish(self, dtype):
        post = self._posterior
        self.weight_concentration_ = post.weight_concentration
        self.mean_precision_ = post.mean_precision
        dof = post.degrees_of_freedom
        self.degrees_of_freedom_ = np.float64(dof) if self.covariance_type == "tied" else dof
        weights = ref_weights(post, self.weight_concentration_prior_type)
        self._store_parameters(Params(weights, post.means, post.covariances, post.precisions_cholesky), np.float64)


# ---------------------------------------------------------------- comparisons


def assert_rel(actual, expected, rtol=1e-12, what=""):
    """|actual - expected| <= rtol |expected| elementwise, with rtol * max |expected| as the floor
    for entries that are rounding noise about zero (off-diagonal covariances)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    floor = rtol * np.max(np.abs(expected)) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=floor, err_msg=what)


def assert_same_fit(ours, ref, rtol=1e-12):
    for name in FITTED:
        assert_rel(getattr(ours, name), getattr(ref, name), rtol, name)
    wc, wr = ours.weight_concentration_, ref.weight_concentration_
    assert isinstance(wc, tuple) == isinstance(wr, tuple)
    for a, b in zip(wc if isinstance(wc, tuple) else [wc], wr if isinstance(wr, tuple) else [wr]):
        assert_rel(a, b, rtol, "weight_concentration_")
    assert ours.n_steps_ == ref.n_steps_
    for name in ("lower_bound_", "degrees_of_freedom_"):
        assert type(getattr(ours, name)) is type(getattr(ref, name)), name
    for name in FITTED[:-1]:
        assert getattr(ours, name).dtype == getattr(ref, name).dtype, name


def stream(dtype, sample_weight, seed=3):
    X = make_blobs(2400, 3, 3, seed=seed, spread=4.0, anisotropic=True).astype(dtype)
    w = np.random.RandomState(seed).uniform(0.0, 3.0, len(X)) if sample_weight else None
    return X, w


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample_weight", [False, True])
def test_partial_fit_matches_the_numpy_steps(cov, prior_type, dtype, sample_weight):
    """Two passes of 150-row mini-batches (32 steps), with more components than clusters
    (near-empty ones: small digamma arguments, sticks of almost no weight)."""
    X, w = stream(dtype, sample_weight)
    kw = dict(n_components=6, covariance_type=cov, weight_concentration_prior_type=prior_type, random_state=0)
    ours, ref = MiniBatchBayesianGaussianMixture(**kw), ReferenceSVI(**kw)
    for _ in range(2):
        for start in range(0, len(X), 150):
            part = slice(start, start + 150)
            for est in (ours, ref):
                est.partial_fit(X[part], sample_weight=None if w is None else w[part])
    assert_same_fit(ours, ref)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_float32_steps_that_overflow_are_made_in_float64_as_before(cov):
    """float32 rows whose squared deviations overflow float32: the first mini-batch and
    later ones are refitted in float64, as the NumPy steps did."""
    X, _ = stream(np.float64, False, seed=5)
    X32 = (X * 1e20).astype(np.float32)
    kw = dict(n_components=3, covariance_type=cov, random_state=0)
    ours, ref = MiniBatchBayesianGaussianMixture(**kw), ReferenceSVI(**kw)
    for start in range(0, 1200, 200):
        ours.partial_fit(X32[start : start + 200])
        ref.partial_fit(X32[start : start + 200])
    assert_same_fit(ours, ref)
    assert ours.means_.dtype == np.float64


@pytest.mark.parametrize("cov", COV_TYPES)
def test_fit_and_total_samples_match_the_numpy_steps(cov):
    """fit (priors and total weight from all of X) and a given total_samples."""
    X, w = stream(np.float64, True, seed=4)
    kw = dict(n_components=4, covariance_type=cov, batch_size=300, max_iter=3, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MiniBatchBayesianGaussianMixture(**kw).fit(X, sample_weight=w)
        ref = ReferenceSVI(**kw).fit(X, sample_weight=w)
    assert_same_fit(ours, ref)
    assert ours.lower_bounds_ == pytest.approx(ref.lower_bounds_, rel=1e-12)
    kw = dict(n_components=5, covariance_type=cov, total_samples=1e5, learning_decay=0.9, random_state=2)
    ours, ref = MiniBatchBayesianGaussianMixture(**kw), ReferenceSVI(**kw)
    for start in range(0, len(X), 400):
        ours.partial_fit(X[start : start + 400])
        ref.partial_fit(X[start : start + 400])
    assert_same_fit(ours, ref)


# ---------------------------------------------------------------- the pieces


@pytest.fixture(params=supported_variants())
def core(request):
    with using_variant(request.param) as core:
        yield core


def test_digamma_matches_scipy(core):
    """Relative error under 1e-15 for x > 0 (the Wishart's (nu - i) / 2, the sticks'
    and Dirichlet's parameters), near the positive root included; the reflection
    for x < 0; SciPy's special values."""
    rng = np.random.RandomState(0)
    root = 1.4616321449683622
    x = np.concatenate([
        rng.uniform(1e-3, 12.0, 20_000), rng.uniform(1.0, 2.0, 20_000), 10 ** rng.uniform(-300, 300, 20_000),
        root + rng.uniform(-1e-6, 1e-6, 1000), [root, 1.0, 2.0, 10.0, np.nextafter(10.0, 11.0), 0.5, 1e-300],
        np.arange(1.0, 40.0), np.arange(1.0, 40.0) + 0.5,
    ])
    assert_rel(core._vector_math("digamma", x), digamma(x), 1e-15, "x > 0")
    negative = -rng.uniform(0.01, 20.0, 5000)
    negative = negative[np.abs(negative - np.round(negative)) > 1e-3]  # off the poles, where both are ill-conditioned
    np.testing.assert_allclose(core._vector_math("digamma", negative), digamma(negative), rtol=1e-12)
    special = np.array([0.0, -0.0, -1.0, -7.0, np.inf, -np.inf, np.nan, 5e-324, 1e308])
    np.testing.assert_array_equal(core._vector_math("digamma", special), digamma(special))


def random_stats(cov, K, D, rng, empty=(), centers=None):
    """Weighted statistics of random rows about random centres; components in
    `empty` hold almost no weight (S0 ~ 1e-14)."""
    X = rng.standard_normal((300, D)) @ rng.standard_normal((D, D)) + 3.0
    R = rng.dirichlet(np.ones(K), size=len(X)) * rng.uniform(0.5, 2.0, (len(X), 1))
    R[:, list(empty)] *= 1e-16
    c = X[:K] + rng.standard_normal((K, D)) if centers is None else centers
    s0 = R.sum(0)
    s1 = R.T @ X - s0[:, None] * c
    dev = X[None] - c[:, None]  # K x N x D
    full = np.einsum("nk,kni,knj->kij", R, dev, dev)
    s2 = {"full": full, "tied": full.sum(0), "diag": np.einsum("kii->ki", full),
          "spherical": np.einsum("kii->k", full)}[cov]
    return Stats(cov, s0, s1, s2, c, 0.0, float(s0.sum())), X


def make_prior(kind, cov, D, rng, covariance=None):
    if covariance is None:
        A = rng.standard_normal((D, D))
        covariance = {"full": A @ A.T / D + np.eye(D), "tied": A @ A.T / D + np.eye(D),
                      "diag": rng.uniform(0.5, 2.0, D), "spherical": np.array(1.3)}[cov]
    return Prior(kind, cov, 0.25, 0.7, rng.standard_normal(D), D + 1.5, covariance)


def assert_same_posterior(ours, ref, rtol=1e-12):
    wc, wr = ours.weight_concentration, ref.weight_concentration
    assert isinstance(wc, tuple) == isinstance(wr, tuple)
    for a, b in zip(wc if isinstance(wc, tuple) else [wc], wr if isinstance(wr, tuple) else [wr]):
        assert_rel(a, b, rtol, "weight_concentration")
    for name in ("mean_precision", "means", "degrees_of_freedom", "covariances", "precisions_cholesky"):
        assert_rel(getattr(ours, name), getattr(ref, name), rtol, name)
    assert np.ndim(ours.degrees_of_freedom) == np.ndim(ref.degrees_of_freedom)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("kind", PRIOR_TYPES)
@pytest.mark.parametrize("counts", [1.0, 4096.0, 12345.6])
def test_m_step_matches_the_numpy_m_step(core, cov, kind, counts):
    rng = np.random.RandomState(7)
    K, D = 5, 4
    stats, _ = random_stats(cov, K, D, rng, empty=(1, 4))
    prior = make_prior(kind, cov, D, rng)
    ours, ours_repairs = native_posterior(prior, stats, 1e-4, 2.0, counts)
    ref, ref_repairs = ref_posterior(prior, stats, 1e-4, 2.0, counts)
    assert_same_posterior(ours, ref)
    assert ours_repairs.jitter == ref_repairs.jitter == 0.0


@pytest.mark.parametrize("cov", COV_TYPES)
def test_m_step_jitters_as_the_numpy_m_step(core, cov):
    """Covariances that are exactly zero (no scatter, means at the prior's, no prior
    covariance or reg_covar) get the jitter precision_cholesky gives them."""
    K, D = 3, 2
    m0 = np.array([1.0, -2.0])
    zero = {"full": np.zeros((K, D, D)), "tied": np.zeros((D, D)), "diag": np.zeros((K, D)),
            "spherical": np.zeros(K)}[cov]
    stats = Stats(cov, np.array([2.0, 0.5, 1.0]), np.zeros((K, D)), zero, np.tile(m0, (K, 1)), 0.0, 3.5)
    prior_cov = np.zeros((D, D)) if cov in ("full", "tied") else np.zeros(D) if cov == "diag" else np.array(0.0)
    prior = Prior("dirichlet_process", cov, 0.5, 1.0, m0, 2.0, prior_cov)
    ours, ours_repairs = native_posterior(prior, stats, 0.0, 3.0)
    ref, ref_repairs = ref_posterior(prior, stats, 0.0, 3.0)
    assert_same_posterior(ours, ref, rtol=0.0)
    assert ours_repairs.jitter == ref_repairs.jitter == 3e-10


def test_m_step_of_overflowing_statistics_is_a_value_error(core):
    rng = np.random.RandomState(1)
    stats, _ = random_stats("diag", 3, 2, rng)
    stats = stats.replaced(s1=stats.s1 * 1e160)  # (S1 / nk) S1 overflows
    with pytest.raises(ValueError, match="non-finite covariances"):
        native_posterior(make_prior("dirichlet_process", "diag", 2, rng), stats, 1e-6, 1.0)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("kind", PRIOR_TYPES)
def test_e_step_matches_the_numpy_e_step(core, cov, kind):
    """The log-weights (digamma terms) and weights_ of posteriors with components of
    every size, small degrees of freedom (digamma near its root and below 1) included."""
    rng = np.random.RandomState(3)
    K, D = 6, 5
    stats, _ = random_stats(cov, K, D, rng, empty=(0, 3))
    for counts in (1.0, 1e5):
        post, _ = ref_posterior(make_prior(kind, cov, D, rng), stats, 1e-6, 1.0, counts)
        ours, ref = post.e_step_params(kind), ref_e_step_params(post, kind)
        assert_rel(ours.log_weights, ref.log_weights, 1e-13, "log_weights")
        assert_rel(ours.weights, ref.weights, 1e-13, "weights")
        assert_rel(post.weights(kind), ref.weights, 1e-13, "weights")
