"""MiniBatchBayesianGaussianMixture: stochastic variational inference against its
definition (natural-gradient steps) and against batch variational inference."""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from emfast import BayesianGaussianMixture, MiniBatchBayesianGaussianMixture

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
POSTERIOR = ["mean_precision_", "means_", "degrees_of_freedom_", "covariances_", "precisions_cholesky_", "weights_"]


def assert_close(actual, expected, rtol):
    actual, expected = np.ravel(actual).astype(np.float64), np.ravel(expected).astype(np.float64)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_unit_steps_on_all_of_x_are_batch_variational_inference(cov, prior_type):
    """rho = 1 (learning_decay=0) on all of X, with total_samples = n: each step is
    one iteration of BayesianGaussianMixture from the same initialisation."""
    X = make_blobs(2000, 3, 4, seed=1, anisotropic=True)
    kw = dict(n_components=6, covariance_type=cov, weight_concentration_prior_type=prior_type,
              init_params="random", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = BayesianGaussianMixture(max_iter=7, tol=0, **kw).fit(X)
    online = MiniBatchBayesianGaussianMixture(learning_decay=0.0, total_samples=len(X), **kw)
    for _ in range(7):
        online.partial_fit(X)
    for name in POSTERIOR + ["weight_concentration_", "mean_prior_", "covariance_prior_"]:
        assert_close(getattr(online, name), getattr(batch, name), 1e-10)
    assert online.n_steps_ == 7


def natural_parameters(est):
    """Natural parameters of the full-covariance posterior: Dirichlet concentrations,
    beta, beta m, W^-1 + beta m m^T, nu (scikit-learn's covariances_ are W^-1 / nu)."""
    beta, m, nu = est.mean_precision_, est.means_, est.degrees_of_freedom_
    w_inv = est.covariances_ * nu[:, None, None]
    return [est.weight_concentration_, beta, beta[:, None] * m,
            w_inv + beta[:, None, None] * m[:, :, None] * m[:, None, :], nu]


@pytest.mark.parametrize("sample_weight", [False, True])
def test_each_step_is_a_natural_gradient_step(sample_weight):
    """lambda_t = (1 - rho_t) lambda_{t-1} + rho_t (prior + N * the mini-batch's expected
    statistics per unit weight), in the natural parameters, with the responsibilities
    of the posterior before the step (its predict_proba)."""
    X = make_blobs(1500, 3, 3, seed=2, spread=3.0, anisotropic=True)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X)) if sample_weight else np.ones(len(X))
    N, decay, offset, reg = 5000.0, 0.6, 2.0, 1e-3
    est = MiniBatchBayesianGaussianMixture(
        n_components=4, weight_concentration_prior_type="dirichlet_distribution", learning_decay=decay,
        learning_offset=offset, total_samples=N, reg_covar=reg, random_state=0)
    est.partial_fit(X[:500], sample_weight=w[:500])
    before = natural_parameters(est)
    batch, wb = X[500:1000], w[500:1000]
    r = est.predict_proba(batch) * wb[:, None]
    s0, s1 = r.sum(0) / wb.sum(), r.T @ batch / wb.sum()
    s2 = np.einsum("nk,ni,nj->kij", r, batch, batch) / wb.sum()
    m0, beta0, nu0, psi0 = est.mean_prior_, est.mean_precision_prior_, est.degrees_of_freedom_prior_, est.covariance_prior_
    D = X.shape[1]
    target = [
        est.weight_concentration_prior_ + N * s0,
        beta0 + N * s0,
        beta0 * m0 + N * s1,
        psi0 + beta0 * np.outer(m0, m0) + N * s2 + (N * s0 * reg)[:, None, None] * np.eye(D),
        nu0 + N * s0,
    ]
    est.partial_fit(batch, sample_weight=wb)
    rho = (offset + 2) ** -decay
    for after, old, new in zip(natural_parameters(est), before, target):
        assert_close(after, (1 - rho) * old + rho * new, 1e-9)


def test_one_pass_over_a_stream_approaches_the_batch_posterior():
    data = make_blobs(80_000, 5, 4, seed=4, spread=3.0, anisotropic=True)
    X, X_test = data[:60_000], data[60_000:]
    # the same priors and the same initial posterior (the first mini-batch's): variational
    # inference is local, and the question is how far one online pass gets from a start
    kw = dict(n_components=4, random_state=0, mean_prior=X.mean(axis=0), covariance_prior=np.cov(X.T))
    batch = BayesianGaussianMixture(max_iter=0, warm_start=True, **kw).fit(X[:1024])
    batch.set_params(max_iter=500, tol=1e-3).fit(X)
    online = MiniBatchBayesianGaussianMixture(**kw)
    for start in range(0, len(X), 1024):
        online.partial_fit(X[start : start + 1024])
    assert online.n_steps_ == -(-len(X) // 1024)
    # the per-sample bound on held-out data (what score averages)
    assert abs(batch.score(X_test) - online.score(X_test)) < 0.005


def test_the_posterior_counts_the_samples_it_stands_for():
    X = make_blobs(3000, 3, 3, seed=5, spread=4.0)
    w = np.random.RandomState(1).uniform(0.5, 1.5, len(X))
    K, nu0 = 3, 3
    seen = MiniBatchBayesianGaussianMixture(n_components=K, random_state=0)
    for part in np.array_split(np.arange(len(X)), 5):
        seen.partial_fit(X[part], sample_weight=w[part])
    # partial_fit: the weight seen so far; fit: X's; or total_samples
    assert np.sum(seen.degrees_of_freedom_) == pytest.approx(K * nu0 + w.sum(), rel=1e-10)
    fitted = MiniBatchBayesianGaussianMixture(n_components=K, batch_size=500, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X, sample_weight=w)
    assert np.sum(fitted.degrees_of_freedom_) == pytest.approx(K * nu0 + w.sum(), rel=1e-10)
    given = MiniBatchBayesianGaussianMixture(n_components=K, total_samples=1e6, random_state=0).partial_fit(X)
    assert np.sum(given.degrees_of_freedom_) == pytest.approx(K * nu0 + 1e6, rel=1e-10)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_sample_weight_equals_repetition(cov):
    X = make_blobs(300, 3, 2, seed=5, spread=8.0)
    w = np.random.RandomState(1).randint(0, 3, size=len(X))
    kw = dict(n_components=2, covariance_type=cov, init_params="random_from_data", random_state=0,
              mean_prior=X.mean(axis=0), covariance_prior=np.var(X, axis=0).mean())
    if cov in ("full", "tied"):
        kw["covariance_prior"] = np.cov(X.T)
    elif cov == "diag":
        kw["covariance_prior"] = np.var(X, axis=0)
    a, b = MiniBatchBayesianGaussianMixture(**kw), MiniBatchBayesianGaussianMixture(**kw)
    a.partial_fit(X[:150], sample_weight=w[:150])
    b.partial_fit(np.repeat(X[:150], w[:150], axis=0))
    # the first mini-batch starts from other rows: continue both from a's posterior
    b.__dict__.update({k: v for k, v in vars(a).items() if k not in ("_seen_weight", "_weight_scale")})
    a.partial_fit(X[150:], sample_weight=w[150:])
    b.partial_fit(np.repeat(X[150:], w[150:], axis=0))
    for name in POSTERIOR:
        assert_close(getattr(a, name), getattr(b, name), 1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_converges_close_to_the_batch_posterior(dtype):
    X = make_blobs(20_000, 3, 3, seed=6, spread=6.0).astype(dtype)
    mb = MiniBatchBayesianGaussianMixture(n_components=3, batch_size=500, random_state=0).fit(X)
    bgm = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    assert mb.converged_ and mb.n_iter_ >= 2
    assert mb.means_.dtype == np.float64
    assert abs(mb.score(X) - bgm.score(X)) < 0.01
    np.testing.assert_allclose(np.sort(mb.weights_), np.sort(bgm.weights_), atol=0.01)
    assert mb.n_steps_ == mb.n_iter_ * 40 and len(mb.lower_bounds_) == mb.n_iter_


def test_priors_come_from_x_in_fit_and_from_the_first_mini_batch_in_partial_fit():
    X = make_blobs(2000, 2, 3, seed=7, spread=5.0)
    fitted = MiniBatchBayesianGaussianMixture(n_components=3, batch_size=200, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X)
    np.testing.assert_allclose(fitted.mean_prior_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted.covariance_prior_, np.cov(X.T), rtol=1e-12)
    online = MiniBatchBayesianGaussianMixture(n_components=3, random_state=0).partial_fit(X[:300])
    online.partial_fit(X[300:])
    np.testing.assert_allclose(online.mean_prior_, X[:300].mean(axis=0), rtol=1e-12)


def test_streaming_holds_only_the_current_chunk():
    # 40 chunks of 20 000 x 8 float64 (51 MB in all), made one at a time
    def chunks():
        rng = np.random.RandomState(0)
        for _ in range(40):
            yield rng.standard_normal((20_000, 8)) + rng.randint(3, size=(20_000, 1)) * 4.0

    online = MiniBatchBayesianGaussianMixture(n_components=3, random_state=0)
    tracemalloc.start()
    try:
        for chunk in chunks():
            online.partial_fit(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert online.n_steps_ == 40
    assert peak < 5 * 20_000 * 8 * 8


@parametrize_with_checks(
    [MiniBatchBayesianGaussianMixture(covariance_type=c, random_state=0, batch_size=64) for c in COV_TYPES]
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
