"""Fitting and scoring dask arrays on a LocalCluster of worker processes."""

import warnings

import numpy as np
import pytest
from conftest import make_blobs, sklearn_float32_dtype
from sklearn.exceptions import ConvergenceWarning

from emfast import BayesianGaussianMixture, GaussianMixture

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

COV_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def init_of(X, K, cov):
    g = GaussianMixture(K, covariance_type=cov, max_iter=0, random_state=0).fit(X)
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


def assert_same(a, b, rtol=1e-10):
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        x, y = getattr(a, attr), getattr(b, attr)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.abs(y).max())
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("cov", [c if c == "diag" else pytest.param(c, marks=pytest.mark.slow) for c in COV_TYPES])
def test_fit_equals_in_memory_fit(client, cov):
    X = make_blobs(6000, 4, 3, seed=1, spread=3.0, anisotropic=True)
    w = np.random.RandomState(0).uniform(0.5, 2.0, size=len(X))
    init = init_of(X, 3, cov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = GaussianMixture(3, covariance_type=cov, max_iter=20, **init).fit(X, sample_weight=w)
        dX = da.from_array(X, chunks=(1000, 2))  # column chunks are joined
        remote = GaussianMixture(3, covariance_type=cov, max_iter=20, **init).fit(dX, sample_weight=w)
    assert_same(remote, local)
    labels = remote.predict(dX)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), local.predict(X))


@pytest.mark.parametrize(
    "init_params", [pytest.param(i, marks=pytest.mark.slow) for i in ["kmeans", "random_from_data", "k-means++", "random"]]
)
def test_initialisations_run_on_the_cluster(client, init_params):
    X = make_blobs(5000, 3, 4, seed=2, spread=6.0)
    dX = da.from_array(X, chunks=700)
    gm = GaussianMixture(4, init_params=init_params, random_state=0).fit(dX)
    assert gm.converged_
    local = GaussianMixture(4, init_params=init_params, random_state=0).fit(X)
    # a good model either way; k-means and random_from_data start identically
    assert gm.score(X) == pytest.approx(local.score(X), abs=0.05)
    if init_params in ("kmeans", "random_from_data"):
        assert_same(gm, local, rtol=1e-8)


def test_scores_are_lazy_dask_arrays(client):
    X = make_blobs(3000, 3, 2, seed=3)
    gm = GaussianMixture(2, random_state=0).fit(X)
    dX = da.from_array(X, chunks=500)
    for method in ("score_samples", "predict_proba", "predict", "mahalanobis"):
        lazy = getattr(gm, method)(dX)
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(lazy.compute(), getattr(gm, method)(X), rtol=1e-12)
    assert gm.score(dX) == pytest.approx(gm.score(X), rel=1e-12)


def test_fit_predict_and_float32(client):
    X = make_blobs(4000, 3, 3, seed=4, spread=5.0).astype(np.float32)
    dX = da.from_array(X, chunks=900)
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(dX)
    assert gm.means_.dtype == sklearn_float32_dtype()  # float64 before scikit-learn 1.7
    np.testing.assert_array_equal(labels.compute(), gm.predict(X))


def test_nan_in_a_block_is_an_error(client):
    X = make_blobs(2000, 2, 2, seed=5)
    X[1500, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2, random_state=0).fit(da.from_array(X, chunks=500))


@pytest.mark.slow
@pytest.mark.parametrize("cov", COV_TYPES)
def test_bayesian_fit_equals_in_memory_fit(client, cov):
    X = make_blobs(6000, 4, 3, seed=1, spread=3.0, anisotropic=True)
    w = np.random.RandomState(0).uniform(0.5, 2.0, size=len(X)) * 2.0**70  # counts, rescaled in the passes
    kw = dict(n_components=4, covariance_type=cov, max_iter=8, init_params="random_from_data", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
        dX = da.from_array(X, chunks=(1000, 2))
        remote = BayesianGaussianMixture(**kw).fit(dX, sample_weight=w)
    assert_same(remote, local)
    for name in ("weight_concentration_", "mean_precision_", "degrees_of_freedom_", "mean_prior_",
                 "covariance_prior_"):
        np.testing.assert_allclose(np.ravel(getattr(remote, name)), np.ravel(getattr(local, name)), rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = remote.fit_predict(dX, sample_weight=w)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), local.predict(X))
