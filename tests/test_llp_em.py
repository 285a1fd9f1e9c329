"""GaussianMixtureLabeler: the E-step against enumeration, the M-step against a
NumPy/SciPy reference, EM's likelihood, label orientation, smoothing, units."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score

from emfast import GaussianMixtureLabeler
from emfast._llp_bags import check_bags
from emfast._llp_em import _posterior

from llp_helpers import make_llp, per_row


def gaussian_problem(n=20_000, d=10, seed=5):
    """The problem of the issue: two Gaussian classes (40 % positive, the
    positives shifted by 1.2 u, u a standard normal vector), bags of 64 formed
    by sorting on a noisy copy of feature 0."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    X = rng.standard_normal((n, d)) + 1.2 * np.outer(y, rng.standard_normal(d))
    bags = np.empty(n, dtype=np.int64)
    bags[np.argsort(X[:, 0] + rng.standard_normal(n))] = np.arange(n) // 64
    return X, y, bags


def brute_posterior(l0, l1, bags, counts):
    """P(y_i = 1 | counts) and the log-likelihood per row by enumerating every
    labeling of every bag with the right count."""
    post = np.empty(len(l0))
    total = 0.0
    for b, k in enumerate(counts):
        rows = np.flatnonzero(bags == b)
        B = len(rows)
        Y = ((np.arange(2**B)[:, None] >> np.arange(B)) & 1).astype(float)
        Y = Y[Y.sum(1) == k]
        lp = Y @ l1[rows] + (1 - Y) @ l0[rows]
        total += logsumexp(lp)
        w = np.exp(lp - logsumexp(lp))
        post[rows] = w @ Y
    return post, total / len(l0)


def test_e_step_is_the_exact_posterior():
    rng = np.random.default_rng(0)
    sizes = [1, 4, 7, 12, 9]
    bags = np.repeat(np.arange(len(sizes)), sizes)
    bags = bags[rng.permutation(len(bags))]
    counts = np.array([1, 0, 3, 5, 9])
    for scale in (0.3, 3.0, 30.0):
        l0 = rng.normal(scale=scale, size=len(bags)) - 5.0
        l1 = rng.normal(scale=scale, size=len(bags)) - 5.0
        fit = _posterior(l0, l1, check_bags(None, bags, counts, len(bags)))
        post, loglik = brute_posterior(l0, l1, bags, counts)
        np.testing.assert_allclose(fit.post, post, rtol=0, atol=1e-12)
        np.testing.assert_allclose(fit.loglik, loglik, rtol=1e-12)


def test_one_iteration_matches_a_numpy_reference():
    """From the bag proportions: each class's Gaussian is the weighted mean and
    covariance (+ reg_covar) of the standardised features, and the marginals
    the exact posterior under them."""
    X, y, bags = make_llp(300, n_features=3, bag_size=20, seed=1)
    prop = per_row(y, bags)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lab = GaussianMixtureLabeler(max_iter=1, reg_covar=1e-4, validate=False).fit(X, prop, bags=bags)
    Z = (X - X.mean(0)) / X.std(0)
    logs = []
    for c, w in enumerate((1 - prop, prop)):
        mean = w @ Z / w.sum()
        cov = ((Z - mean) * w[:, None]).T @ (Z - mean) / w.sum() + 1e-4 * np.eye(3)
        np.testing.assert_allclose(lab.mixtures_[c].means_[0], mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(lab.mixtures_[c].covariances_[0], cov, rtol=1e-10, atol=1e-12)
        logs.append(multivariate_normal(mean, cov).logpdf(Z))
    codes = np.unique(bags, return_inverse=True)[1]
    want = np.empty(len(y))
    for b in np.unique(codes):
        rows = codes == b
        k = int(round(prop[rows][0] * rows.sum()))
        fit = _posterior(logs[0][rows], logs[1][rows], check_bags(None, np.zeros(rows.sum()), [k], rows.sum()))
        want[rows] = fit.post
    np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lab.log_likelihood_ratio_, logs[1] - logs[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n_components, covariance_type", [(1, "full"), (2, "diag"), (3, "spherical"), (2, "tied")])
def test_likelihood_never_decreases(n_components, covariance_type):
    X, y, bags = make_llp(1500, n_features=5, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lab = GaussianMixtureLabeler(n_components, covariance_type=covariance_type, max_iter=40, tol=1e-6,
                                     validate=False, random_state=0).fit(X, per_row(y, bags), bags=bags)
    ll = np.array(lab.log_likelihoods_)
    assert len(ll) >= 3
    assert np.all(np.diff(ll) >= -1e-9 * np.abs(ll[1:]))
    assert lab.log_likelihood_ == ll[-1]


@pytest.mark.slow
def test_gaussian_problem_of_the_issue():
    """BP's old defaults gave AUC 0.104 here (inverted); EM's defaults >= 0.95."""
    X, y, bags = gaussian_problem()
    prop = per_row(y, bags)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        lab = GaussianMixtureLabeler().fit(X, prop, bags=bags)
    assert lab.converged_
    assert roc_auc_score(y, prop) < 0.6
    assert roc_auc_score(y, lab.marginals_) >= 0.95


def test_orientation_comes_from_the_counts():
    """Random bags of a 50/50 problem: the counts barely break the symmetry,
    yet the classes come out the right way round, from either start."""
    rng = np.random.default_rng(3)
    n = 4000
    y = (rng.random(n) < 0.5).astype(np.int64)
    X = rng.standard_normal((n, 4)) + 3.0 * y[:, None]
    bags = rng.permutation(n) // 100
    prop = per_row(y, bags)
    lab = GaussianMixtureLabeler(random_state=0).fit(X, prop, bags=bags)
    assert roc_auc_score(y, lab.marginals_) > 0.99
    # started from the wrong orientation (the counts of the complement), the
    # likelihood of the swapped model brings it back
    flipped = GaussianMixtureLabeler(random_state=0).fit(X, 1 - prop, bags=bags)
    assert roc_auc_score(1 - y, flipped.marginals_) > 0.99


def test_smoothing_without_weight_is_the_em_posterior():
    """kNN smoothing runs BP with the log-likelihood ratios as fields and hard
    counts: with a zero similarity weight, the bag factors alone, exactly the
    E-step."""
    X, y, bags = make_llp(800, seed=4)
    prop = per_row(y, bags)
    em = GaussianMixtureLabeler(random_state=0).fit(X, prop, bags=bags)
    smooth = GaussianMixtureLabeler(n_neighbors=5, smoothing_weight=0.0, random_state=0).fit(X, prop, bags=bags)
    assert smooth.graph_.shape == (800, 800)
    np.testing.assert_allclose(smooth.marginals_, em.marginals_, rtol=0, atol=1e-6)
    weighted = GaussianMixtureLabeler(n_neighbors=5, random_state=0).fit(X, prop, bags=bags)
    assert np.abs(weighted.marginals_ - em.marginals_).max() > 1e-3


def test_convergence_warning_and_degenerate_counts():
    X, y, bags = make_llp(500, seed=6)
    prop = per_row(y, bags)
    with pytest.warns(ConvergenceWarning, match="EM did not converge"):
        lab = GaussianMixtureLabeler(max_iter=1, validate=False).fit(X, prop, bags=bags)
    assert not lab.converged_ and lab.n_iter_ == 1
    for value in (0.0, 1.0):  # every label known
        lab = GaussianMixtureLabeler().fit(X, np.full(500, value), bags=bags)
        np.testing.assert_array_equal(lab.marginals_, value)
        assert lab.converged_


def test_marginals_do_not_depend_on_units():
    X, y, bags = make_llp(600, n_features=6, seed=7)
    prop = per_row(y, bags)
    a = GaussianMixtureLabeler(random_state=0).fit(X, prop, bags=bags)
    scales = 10.0 ** np.random.default_rng(1).uniform(-6, 6, X.shape[1])
    b = GaussianMixtureLabeler(random_state=0).fit((X + 3.0) * scales, prop, bags=bags)
    np.testing.assert_allclose(b.marginals_, a.marginals_, rtol=0, atol=1e-7)


def test_features_without_signal_give_the_bag_proportions():
    """Features independent of the labels: EM would only fit noise (and lose
    AUC against the bag proportions); cross-fitting finds no evidence, and the
    marginals are the bag proportions (at this seed: the test errs 2.5 % of
    the time by design). With signal, the mixtures are kept."""
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.3).astype(np.int64)
    bags = np.empty(n, dtype=np.int64)
    bags[np.argsort(y + rng.standard_normal(n))] = np.arange(n) // 50
    prop = per_row(y, bags)
    noise = GaussianMixtureLabeler(random_state=0).fit(rng.standard_normal((n, 8)), prop, bags=bags)
    assert not noise.feature_signal_
    np.testing.assert_array_equal(noise.marginals_, prop)
    np.testing.assert_array_equal(noise.log_likelihood_ratio_, 0.0)
    X = rng.standard_normal((n, 8)) + 1.5 * y[:, None]
    signal = GaussianMixtureLabeler(random_state=0).fit(X, prop, bags=bags)
    assert signal.feature_signal_
    assert roc_auc_score(y, signal.marginals_) > roc_auc_score(y, prop) + 0.1
    unchecked = GaussianMixtureLabeler(validate=False, random_state=0).fit(X, prop, bags=bags)
    np.testing.assert_allclose(signal.marginals_, unchecked.marginals_, rtol=0, atol=1e-12)
