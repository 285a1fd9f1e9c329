"""One model whatever holds X: a NumPy array, a memory map or a Dask array.

- For every init_params and every combination of weights_init, means_init and
  precisions_init (none, each alone, all three), fitting a memory map, or a Dask
  array in two chunkings (rows only; rows and columns), gives the in-memory
  model to 1e-10, sample weights included.
- Every scoring method returns the same values on a Dask array as on the array,
  for rows so far from every component that their distances overflow (the
  fix-up of emfast._overflow) as for ordinary ones.
"""

import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError
from conftest import make_blobs
from reliability import COV_TYPES, MIXTURES, estimator_cases

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

K = 3
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data", "kmeans_sample"]
GIVEN = [(), ("weights_init",), ("means_init",), ("precisions_init",), ("weights_init", "means_init", "precisions_init")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X = make_blobs(3000, 3, K, seed=1, spread=4.0)
    path = tmp_path_factory.mktemp("backends") / "X.npy"
    np.save(path, X)
    w = np.random.RandomState(2).uniform(0.5, 2.0, size=len(X))
    return X, np.load(path, mmap_mode="r"), w


def inits(X, cov):
    """weights_init, means_init and precisions_init unlike what any init_params gives."""
    from emfast import GaussianMixture

    g = GaussianMixture(K, covariance_type=cov, max_iter=0, init_params="random_from_data", random_state=5).fit(X)
    return dict(weights_init=g.weights_[::-1] / g.weights_.sum(), means_init=g.means_ + 0.3,
                precisions_init=g.precisions_ * 0.8)


def fit(case, X, w, **params):
    with warnings.catch_warnings(), dask.config.set(scheduler="synchronous"):
        warnings.simplefilter("ignore")
        return case.make(n_components=K, random_state=0, max_iter=10, **params).fit(X, sample_weight=w)


def assert_same_model(a, b, rtol=1e-10):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert np.max(np.abs(x - y)) <= rtol * np.max(np.abs(y)), name


@pytest.mark.slow
@estimator_cases
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_every_backend_gives_the_in_memory_model(case, init_params, data):
    X, mapped, w = data
    backends = [mapped]
    if case.dask_fit:
        backends += [da.from_array(X, chunks=700), da.from_array(X, chunks=(1234, 1))]
    cov = case.make().get_params()["covariance_type"]
    given = inits(X, cov)
    own = set(case.make().get_params())
    try:
        case.make(init_params=init_params)._validate_params()
    except InvalidParameterError:
        pytest.skip(f"{case.id} has no init_params={init_params!r}")
    for names in GIVEN:
        if not set(names) <= own:
            continue  # an estimator without *_init parameters (a variational mixture)
        params = dict(init_params=init_params, **{name: given[name] for name in names})
        expected = fit(case, X, w, **params)
        for other in backends:
            assert_same_model(fit(case, other, w, **params), expected)


FAR = np.array([[1e300, 1e300, 1e300], [-1e300, 1e300, 0.0], [1e200, 0.0, 0.0], [1e160, 1e160, -1e160]])
METHODS = ["predict", "predict_proba", "score_samples", "mahalanobis"]


@estimator_cases
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_rows_score_the_same_on_dask(case, dtype, data):
    X = data[0].astype(dtype)
    est = fit(case, X, None)
    # rows beyond float32's range are not float32 input: scaled into it (1e37)
    far = FAR if dtype == np.float64 else FAR * 1e-263
    Z = np.r_[X[:9], far].astype(dtype)
    with dask.config.set(scheduler="synchronous"):
        for method in [m for m in METHODS if hasattr(est, m)]:
            expected = getattr(est, method)(Z)
            got = getattr(est, method)(da.from_array(Z, chunks=4))
            assert isinstance(got, da.Array)
            got = got.compute()
            assert got.dtype == expected.dtype, method
            np.testing.assert_array_equal(got, expected, err_msg=method)
        # score_samples is equal row for row (above); their mean is summed per chunk
        # on Dask, so it may differ in the last bit
        expected = est.score(Z)
        rtol = 10 * np.finfo(est.score_samples(Z).dtype).eps
        np.testing.assert_allclose(est.score(da.from_array(Z, chunks=4)), expected, rtol=rtol)
    # the limiting answers, not NaN or label -1
    assert (est.predict(Z) >= 0).all()
    assert np.isfinite(est.predict_proba(Z)).all()
    assert not np.isnan(est.score_samples(Z)).any()


def test_the_registry_has_a_dask_fitting_case_per_covariance_type():
    assert {c.make().covariance_type for c in MIXTURES if c.dask_fit} == set(COV_TYPES)
