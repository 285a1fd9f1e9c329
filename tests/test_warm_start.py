"""Warm starts on a sliding window over a drifting stream: scikit-learn's model,
refit after refit, with no warnings.

The stream has one cluster that stays, one that drifts and one that
disappears, so that a window's components lose their samples (down to one
sample, then none) as scikit-learn's own warm-started fits see them.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky, _estimate_gaussian_parameters
from threadpoolctl import threadpool_limits

import emfast

RTOL = 1e-8
EPS = np.finfo(np.float64).eps


@pytest.fixture(autouse=True)
def blas_on_one_thread():
    # scikit-learn's fits here are many tiny BLAS calls, ten times slower with
    # BLAS threads on a busy machine
    with threadpool_limits(1, user_api="blas"):
        yield


def drifting_stream(n, seed):
    """n rows in 2-D: a cluster at the origin, one drifting upwards, one that
    disappears after 40 % of the stream."""
    rng = np.random.RandomState(seed)
    t = np.linspace(0.0, 1.0, n)
    which = rng.randint(0, 3, n)
    gone = (which == 2) & (t > 0.4)
    which[gone] = rng.randint(0, 2, gone.sum())
    centres = np.stack([np.zeros((n, 2)), np.c_[np.full(n, 6.0), 8 * t], np.c_[np.full(n, -6.0), np.zeros(n)]], axis=1)
    return centres[np.arange(n), which] + rng.standard_normal((n, 2))


def windows(X, size=300, step=100):
    return [X[start : start + size] for start in range(0, len(X) - size + 1, step)]


def component_scale(a, covariance_type):
    """The largest |entry| of each component's block, shaped to broadcast against a."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    if covariance_type in ("tied", "spherical"):
        return a.max() if covariance_type == "tied" else a
    largest = a.reshape(len(a), -1).max(axis=1)
    return largest[:, None, None] if covariance_type == "full" else largest[:, None]


def assert_same_parameters(ours, theirs, covariance_type, rounding=0.0):
    """The fitted parameters equal scikit-learn's to RTOL, relative to their scale.

    Weights are compared to RTOL absolute (they sum to 1); means relative to the
    largest mean (a dead component's mean is scikit-learn's rounding residue,
    1e-175 or 0); covariances and precisions relative to each component's largest
    entry. `rounding` bounds scikit-learn's own rounding in its diagonal variances
    (absolute): added to their tolerance and carried to the precisions through
    1 / variance.
    """
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=0, atol=RTOL)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=0, atol=RTOL * np.abs(theirs.means_).max())
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        tol = RTOL * component_scale(b, covariance_type)
        if covariance_type in ("diag", "spherical"):
            # d(1/v) / (1/v) = dv / v (half that for 1 / sqrt(v))
            tol = tol + (rounding if name == "covariances_" else rounding / theirs.covariances_ * np.abs(b))
        assert np.all(np.abs(a - b) <= tol), (name, np.max(np.abs(a - b) - tol), a, b)


def assert_same_model(ours, theirs, rounding=0.0):
    """Every fitted attribute equal to scikit-learn's (assert_same_parameters)."""
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=RTOL)
    if hasattr(theirs, "lower_bounds_"):  # scikit-learn >= 1.7
        np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=RTOL)
    assert ours.n_features_in_ == theirs.n_features_in_
    assert_same_parameters(ours, theirs, theirs.covariance_type, rounding)


def sklearn_rounding(X, covariance_type):
    """The rounding of scikit-learn's diagonal variances, sum r x^2 / n_k - mu^2,
    which cancels to eps max x^2 (no such subtraction in its 'full' and 'tied')."""
    if covariance_type not in ("diag", "spherical"):
        return 0.0
    return 8 * EPS * float(np.max(X**2))


def fit_as_sklearn_warns(ours, theirs, W):
    """Fit scikit-learn's model, then ours with every warning an error except a
    ConvergenceWarning that scikit-learn also gave (and then ours must give it)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theirs.fit(W)
    expected = {w.category for w in caught}
    assert expected <= {ConvergenceWarning}, [str(w.message) for w in caught]
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("error")
        if expected:
            warnings.simplefilter("always", ConvergenceWarning)
        ours.fit(W)
    assert {w.category for w in got} == expected


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("seed, n_components", [(0, 3), (1, 5), (2, 5)])
def test_warm_start_on_a_sliding_window_is_sklearn_refit_after_refit(covariance_type, seed, n_components):
    X = drifting_stream(3000, seed)
    kwargs = dict(covariance_type=covariance_type, warm_start=True, random_state=seed)
    ours = emfast.GaussianMixture(n_components, **kwargs)
    theirs = SkGaussianMixture(n_components, **kwargs)
    smallest_weight = 1.0
    for W in windows(X):
        fit_as_sklearn_warns(ours, theirs, W)
        assert_same_model(ours, theirs, rounding=sklearn_rounding(W, covariance_type))
        smallest_weight = min(smallest_weight, theirs.weights_.min())
        # what the refits are judged on follows as well
        np.testing.assert_array_equal(ours.predict(W), theirs.predict(W))
        np.testing.assert_allclose(ours.score_samples(W), theirs.score_samples(W), rtol=1e-7)
    if covariance_type != "tied":
        # the stream did what it is for: a component lost all its samples
        assert smallest_weight < 1e-10


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_warm_start_with_max_iter_below_convergence_warns_as_sklearn(covariance_type):
    X = drifting_stream(1500, 3)
    kwargs = dict(covariance_type=covariance_type, warm_start=True, random_state=0, max_iter=2)
    ours = emfast.GaussianMixture(3, **kwargs)
    theirs = SkGaussianMixture(3, **kwargs)
    warned = 0
    for W in windows(X):
        fit_as_sklearn_warns(ours, theirs, W)
        assert_same_model(ours, theirs, rounding=sklearn_rounding(W, covariance_type))
        warned += not theirs.converged_
    assert warned > 0


# MiniBatchGaussianMixture has no warm_start and scikit-learn no online EM: its
# guarantee is that every partial_fit is the stepwise-EM update made with
# scikit-learn's M-step (its _estimate_gaussian_parameters, 10 eps included) on
# the blended statistics, silently when components lose their samples.


class StepwiseReference:
    """Stepwise EM in NumPy on scikit-learn's M-step: the blended statistics after
    step t are those of every batch seen, each batch j weighted by
    rho_j prod_{i>j} (1 - rho_i) / len(batch j)."""

    def __init__(self, first_batch, n_components, covariance_type, learning_decay, learning_offset, random_state):
        self.covariance_type = covariance_type
        self.decay, self.offset = learning_decay, learning_offset
        self.model = SkGaussianMixture(n_components, covariance_type=covariance_type, max_iter=0,
                                       random_state=random_state).fit(first_batch)
        self.rows, self.resp, self.coef = [], [], []
        self.t = 0
        self.lower_bound = None

    def step(self, batch):
        self.t += 1
        rho = 1.0 if self.t == 1 else (self.offset + self.t) ** -self.decay
        resp = self.model.predict_proba(batch)
        batch_ll = self.model.score(batch)
        self.coef = [c * (1 - rho) for c in self.coef] + [rho / len(batch)]
        self.rows.append(batch)
        self.resp.append(resp)
        X = np.concatenate(self.rows)
        R = np.concatenate([c * r for c, r in zip(self.coef, self.resp)])
        m = self.model
        if self.covariance_type == "tied":
            # scikit-learn's tied formula takes rows whose responsibilities sum to 1;
            # these sum to their batch's coefficient: the tied covariance is the
            # weighted average of the full ones
            weights, means, full = _estimate_gaussian_parameters(X, R, m.reg_covar, "full")
            covariances = np.tensordot(weights / weights.sum(), full, axes=1)
        else:
            weights, means, covariances = _estimate_gaussian_parameters(X, R, m.reg_covar, self.covariance_type)
        precisions_cholesky = _compute_precision_cholesky(covariances, self.covariance_type)
        m._set_parameters((weights / weights.sum(), means, covariances, precisions_cholesky))
        self.lower_bound = batch_ll if self.lower_bound is None else (1 - rho) * self.lower_bound + rho * batch_ll


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("learning_decay", [0.0, 0.7])
def test_minibatch_partial_fit_is_stepwise_em_on_sklearn_m_step(covariance_type, learning_decay):
    X = drifting_stream(2400, 4)
    batches = np.array_split(X, 24)
    ours = emfast.MiniBatchGaussianMixture(3, covariance_type=covariance_type, learning_decay=learning_decay,
                                           random_state=0)
    reference = StepwiseReference(batches[0], 3, covariance_type, learning_decay, ours.learning_offset, 0)
    theirs = reference.model
    smallest_weight = 1.0
    for batch in batches:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours.partial_fit(batch)
        reference.step(batch)
        np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound, rtol=RTOL)
        assert_same_parameters(ours, theirs, covariance_type, sklearn_rounding(X, covariance_type))
        smallest_weight = min(smallest_weight, theirs.weights_.min())
    if learning_decay == 0.0 and covariance_type != "tied":
        assert smallest_weight < 1e-10
