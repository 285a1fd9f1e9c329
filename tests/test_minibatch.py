"""MiniBatchGaussianMixture: stepwise EM against its definition and batch EM."""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from emfast import GaussianMixture, MiniBatchGaussianMixture
from emfast._data import ArrayData
from emfast._init import initial_parameters
from emfast._stats import Stats, round_to
from emfast._native import core

COV_TYPES = ["full", "tied", "diag", "spherical"]


def init_of(X, K, cov, seed=0):
    g = GaussianMixture(K, covariance_type=cov, max_iter=0, random_state=seed).fit(X)
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


def brute_stats(X, w, params, cov, centers):
    """Normalised E-step statistics of X under params, centred on `centers`, by NumPy."""
    sk = SkGaussianMixture(len(params["weights"]), covariance_type=cov)
    sk.weights_, sk.means_ = params["weights"], params["means"]
    sk.precisions_cholesky_ = params["precisions_cholesky"]
    _, log_resp = sk._estimate_log_prob_resp(X)
    r = np.exp(log_resp) * w[:, None]
    K = r.shape[1]
    s0 = r.sum(0)
    d = [X - centers[k] for k in range(K)]
    s1 = np.stack([(r[:, k, None] * d[k]).sum(0) for k in range(K)])
    full = np.stack([(r[:, k, None] * d[k]).T @ d[k] for k in range(K)])
    s2 = {"full": full, "tied": full.sum(0), "diag": np.stack([np.diag(f) for f in full]),
          "spherical": np.array([np.trace(f) for f in full])}[cov]
    W = w.sum()
    return {"s0": s0 / W, "s1": s1 / W, "s2": s2 / W, "centers": centers}


def brute_m_step(s, cov, reg):
    nk = s["s0"] + 10 * np.finfo(float).eps
    means = s["centers"] + s["s1"] / nk[:, None]
    return core.m_step(s["s0"], s["s1"], s["s2"], s["centers"], cov, reg, 0.0, 1.0), means


@pytest.mark.parametrize("cov", COV_TYPES)
def test_stepwise_update_follows_the_formula(cov):
    X = make_blobs(1200, 3, 3, seed=1, spread=3.0, anisotropic=True)
    b1, b2, b3 = X[:400], X[400:800], X[800:]
    w = np.random.RandomState(0).uniform(0.5, 2.0, size=len(X))
    init = init_of(b1, 3, cov)
    mb = MiniBatchGaussianMixture(3, covariance_type=cov, learning_decay=0.6, learning_offset=2.0, **init)
    mb.partial_fit(b1, sample_weight=w[:400])
    mb.partial_fit(b2, sample_weight=w[400:800])
    mb.partial_fit(b3, sample_weight=w[800:])
    assert mb.n_steps_ == 3

    # the same three steps by hand: s_1 = s_bar_1; s_t = (1 - rho_t) s_{t-1} + rho_t s_bar_t
    params, _ = initial_parameters(
        ArrayData(b1), n_components=3, covariance_type=cov, init_params="kmeans", reg_covar=mb.reg_covar,
        random_state=None, inits=mb._check_initial_parameters(3), scale=1.0,
    )
    params = {"weights": params.weights, "means": params.means, "covariances": params.covariances,
              "precisions_cholesky": params.precisions_cholesky}
    s = None
    for t, (batch, wb) in enumerate([(b1, w[:400]), (b2, w[400:800]), (b3, w[800:])], start=1):
        centers = params["means"]
        s_bar = brute_stats(batch, wb, params, cov, centers)
        if s is None:
            s = s_bar
        else:
            rho = (2.0 + t) ** -0.6
            old = Stats(cov, s["s0"], s["s1"], s["s2"], s["centers"]).recentred(centers)
            s = {k: (1 - rho) * getattr(old, k) + rho * s_bar[k] for k in ("s0", "s1", "s2")}
            s["centers"] = centers
        params, _ = brute_m_step(s, cov, mb.reg_covar)
    for attr, key in [("weights_", "weights"), ("means_", "means"), ("covariances_", "covariances"),
                      ("precisions_cholesky_", "precisions_cholesky")]:
        np.testing.assert_allclose(getattr(mb, attr), params[key], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_learning_decay_zero_on_all_of_x_is_batch_em(cov):
    X = make_blobs(800, 4, 3, seed=2, spread=2.0, anisotropic=True)
    init = init_of(X, 3, cov)
    mb = MiniBatchGaussianMixture(3, covariance_type=cov, learning_decay=0.0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n_iter in (1, 2, 3):
            mb.partial_fit(X)
            gm = GaussianMixture(3, covariance_type=cov, max_iter=n_iter, tol=0, **init).fit(X)
            for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
                np.testing.assert_allclose(getattr(mb, attr), getattr(gm, attr), rtol=1e-10, atol=1e-13)
            assert mb.lower_bound_ == pytest.approx(gm.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_recentring_is_exact(cov):
    X = make_blobs(500, 4, 2, seed=3, spread=3.0) + 50.0
    rng = np.random.RandomState(0)
    labels = rng.randint(-1, 2, size=len(X)).astype(np.int32)
    c1 = rng.normal(size=(2, 4)) + 50.0
    c2 = rng.normal(size=(2, 4)) + 50.0
    shift = round_to(X[:5].mean(0), X.dtype)
    about_c1 = Stats.from_native(core.fixed_pass(X, None, labels, None, c1, cov, shift, 0), cov)
    about_c2 = Stats.from_native(core.fixed_pass(X, None, labels, None, c2, cov, shift, 0), cov)
    moved = about_c1.recentred(about_c2.centers)
    for key in ("s0", "s1", "s2"):
        expected = getattr(about_c2, key)
        np.testing.assert_allclose(getattr(moved, key), expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_one_pass_reaches_batch_em(cov):
    data = make_blobs(80_000, 5, 4, seed=4, spread=3.0, anisotropic=True)
    X, X_test = data[:60_000], data[60_000:]
    init = init_of(X[:1024], 4, cov)
    batch = GaussianMixture(4, covariance_type=cov, max_iter=500, tol=1e-7, **init).fit(X)
    online = MiniBatchGaussianMixture(4, covariance_type=cov, **init)
    for start in range(0, len(X), 1024):
        online.partial_fit(X[start : start + 1024])
    assert online.n_steps_ == -(-len(X) // 1024)
    assert batch.score(X_test) - online.score(X_test) < 0.01


@pytest.mark.parametrize("cov", COV_TYPES)
def test_sample_weight_equals_repetition(cov):
    X = make_blobs(300, 3, 2, seed=5, spread=3.0)
    w = np.random.RandomState(1).randint(0, 3, size=len(X))
    init = init_of(X, 2, cov)
    a = MiniBatchGaussianMixture(2, covariance_type=cov, **init)
    b = MiniBatchGaussianMixture(2, covariance_type=cov, **init)
    for half in (slice(0, 150), slice(150, 300)):
        a.partial_fit(X[half], sample_weight=w[half])
        b.partial_fit(np.repeat(X[half], w[half], axis=0))
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-10)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_converges_close_to_batch_em(cov, dtype):
    X = make_blobs(20_000, 3, 3, seed=6, spread=6.0).astype(dtype)
    mb = MiniBatchGaussianMixture(3, covariance_type=cov, batch_size=500, random_state=0).fit(X)
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    assert mb.converged_ and mb.n_iter_ >= 2
    assert mb.means_.dtype == dtype
    assert abs(mb.score(X) - gm.score(X)) < 0.01
    np.testing.assert_allclose(np.sort(mb.weights_), np.sort(gm.weights_), atol=0.01)
    assert mb.n_steps_ == mb.n_iter_ * 40
    assert len(mb.lower_bounds_) == mb.n_iter_


def test_streaming_holds_only_the_current_chunk():
    # 40 chunks of 20 000 x 8 float64 (51 MB in all), made one at a time
    def chunks():
        rng = np.random.RandomState(0)
        for _ in range(40):
            yield rng.standard_normal((20_000, 8)) + rng.randint(3, size=(20_000, 1)) * 4.0

    mb = MiniBatchGaussianMixture(3, covariance_type="full", random_state=0)
    tracemalloc.start()
    try:
        for chunk in chunks():
            mb.partial_fit(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert mb.n_steps_ == 40
    # the generator's own temporaries and k-means on the first chunk take a few
    # chunks' worth; the stream is 40 chunks
    assert peak < 5 * 20_000 * 8 * 8


def test_first_batch_smaller_than_n_components_is_an_error():
    with pytest.raises(ValueError, match="n_components"):
        MiniBatchGaussianMixture(5).partial_fit(np.zeros((3, 2)))


def test_features_must_match_across_calls():
    mb = MiniBatchGaussianMixture(2, random_state=0).partial_fit(make_blobs(100, 3, 2))
    with pytest.raises(ValueError, match="features"):
        mb.partial_fit(np.zeros((10, 4)))


@parametrize_with_checks(
    [MiniBatchGaussianMixture(covariance_type=c, random_state=0, batch_size=64) for c in COV_TYPES]
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_max_iter_zero_is_the_initial_model(cov):
    """As GaussianMixture(max_iter=0): the model the initialisation gives, no step."""
    X = make_blobs(300, 3, 3, seed=4)
    init = SkGaussianMixture(3, covariance_type=cov, max_iter=3, random_state=0).fit(X)
    inits = dict(weights_init=init.weights_, means_init=init.means_, precisions_init=init.precisions_)
    batch = MiniBatchGaussianMixture(3, covariance_type=cov, max_iter=0, batch_size=64, **inits).fit(X)
    # (scikit-learn 1.9 fails on max_iter=0 with precisions_init: no covariances_)
    ref = GaussianMixture(3, covariance_type=cov, max_iter=0, **inits).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(batch, name), getattr(ref, name), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(batch.covariances_, init.covariances_, rtol=1e-8)
    assert batch.lower_bound_ == -np.inf and batch.n_iter_ == 0 and not batch.converged_
    batch.partial_fit(X)  # and stepwise EM goes on from it
    assert batch.n_steps_ == 1


def test_mini_batches_without_weight_are_skipped():
    """Rows of zero weight carry no information: a fit with them equals a fit without
    them when every mini-batch is all of X, and a batch of only such rows starts nothing."""
    X = make_blobs(200, 2, 2, seed=5)
    sw = np.r_[np.zeros(100), np.ones(100)]
    kw = dict(n_components=2, random_state=0, max_iter=5, tol=0, batch_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MiniBatchGaussianMixture(**kw).fit(X, sample_weight=sw)
    assert np.isfinite(est.means_).all() and est.n_steps_ > 0
    with pytest.raises(ValueError, match="non-zero"):
        MiniBatchGaussianMixture(2).partial_fit(X[:100], sample_weight=sw[:100])
