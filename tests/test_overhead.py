"""The shortcuts that keep small fits cheap give exactly what the long way gives."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_info

from conftest import float32_model_dtype
from emfast import GaussianMixture, MiniBatchGaussianMixture


def _blobs(n=250, d=3, k=5, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)) + 3 * rng.normal(size=(k, d))[rng.randint(k, size=n)]


def _model(gm):
    return [gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_, gm.lower_bounds_]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(_model(a), _model(b)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_arrays_skip_nothing_that_validation_does(dtype):
    X = _blobs().astype(dtype)
    fast = GaussianMixture(3, random_state=0).fit(X)
    slow = GaussianMixture(3, random_state=0).fit(X.tolist() if dtype == np.float64 else np.asfortranarray(X))
    assert _same(fast, slow) and fast.n_features_in_ == slow.n_features_in_ == 3
    assert fast.means_.dtype == (float32_model_dtype(fast) if dtype == np.float32 else dtype)


def test_fit_on_an_array_after_a_dataframe_forgets_the_feature_names():
    pd = pytest.importorskip("pandas")
    X = _blobs()
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_") and gm.n_features_in_ == 3


@pytest.mark.parametrize("X, message", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "Input X contains NaN"),
    (np.array([[0.0, np.inf], [1.0, 2.0]]), "Input X contains infinity"),
    (np.zeros((1, 2)), "minimum of 2 is required"),
    (np.zeros((3, 0)), "0 feature"),
])
@pytest.mark.parametrize("cls", [GaussianMixture, MiniBatchGaussianMixture])
def test_bad_arrays_get_scikit_learns_errors(cls, X, message):
    with pytest.raises(ValueError, match=message):
        cls(1).fit(X)


@pytest.mark.parametrize("name, value", [
    ("n_components", 0), ("n_components", 1.5), ("covariance_type", "banana"), ("tol", -1.0),
    ("max_iter", "10"), ("random_state", -3), ("random_state", "seed"), ("warm_start", 2),
    ("verbose", -1), ("callback", 3), ("weights_init", "uniform"), ("init_params", None),
])
def test_invalid_parameters_raise_scikit_learns_error(name, value):
    gm = GaussianMixture(**{"n_components": 2, name: value})
    with pytest.raises(InvalidParameterError) as expected:
        BaseEstimator._validate_params(gm)
    with pytest.raises(InvalidParameterError) as got:
        gm.fit(_blobs())
    assert str(got.value) == str(expected.value)


def test_integer_seed_gives_the_model_of_its_random_state():
    X = _blobs()
    by_seed = GaussianMixture(5, n_init=2, random_state=7).fit(X)
    by_state = GaussianMixture(5, n_init=2, random_state=np.random.RandomState(7)).fit(X)
    assert _same(by_seed, by_state)


def test_a_fit_inside_a_fit_does_not_disturb_its_random_numbers():
    X = _blobs(600)
    alone = GaussianMixture(5, n_init=3, random_state=1).fit(X)

    def fit_another(info):
        if info["stage"] == "em":
            GaussianMixture(4, random_state=2).fit(X[::-1])

    nested = GaussianMixture(5, n_init=3, random_state=1, callback=fit_another).fit(X)
    assert _same(alone, nested)


def test_blas_threads_are_restored_after_a_fit():
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    GaussianMixture(2, random_state=0).fit(_blobs())
    with pytest.raises(ValueError):
        GaussianMixture(2).fit(np.full((4, 2), np.nan))
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before


def _with_python_loop(gm):
    """The same estimator made to run fit_em's Python loop (a callback sees every iteration)."""
    return gm.set_params(callback=lambda info: None)


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_native_loop_is_the_python_loop(cov, dtype, weighted):
    rng = np.random.RandomState(3)
    X = rng.uniform(size=(300, 3)).astype(dtype)
    sw = rng.uniform(0.5, 2.0, size=len(X)) if weighted else None
    for params in ({"n_init": 2}, {"tol": 0.0, "max_iter": 7}, {"tol": 1e-6}, {"max_iter": 1}):
        fast = GaussianMixture(4, covariance_type=cov, random_state=0, **params).fit(X, sample_weight=sw)
        slow = _with_python_loop(GaussianMixture(4, covariance_type=cov, random_state=0, **params))
        slow.fit(X, sample_weight=sw)
        assert _same(fast, slow), params
        assert fast.n_iter_ == slow.n_iter_ and fast.converged_ == slow.converged_
        assert fast.lower_bound_ == slow.lower_bound_ and type(fast.lower_bound_) is type(slow.lower_bound_)
        assert [type(b) for b in fast.lower_bounds_] == [type(b) for b in slow.lower_bounds_]


def test_native_loop_continues_a_warm_start_like_the_python_loop():
    X = _blobs(400)
    fast = GaussianMixture(5, warm_start=True, max_iter=3, random_state=0)
    slow = _with_python_loop(GaussianMixture(5, warm_start=True, max_iter=3, random_state=0))
    for _ in range(3):
        fast.fit(X), slow.fit(X)
        assert _same(fast, slow) and fast.converged_ == slow.converged_


def test_native_loop_refits_float32_overflow_in_float64_like_the_python_loop():
    # given a starting model, no k-means: the first EM pass overflows float32
    X = np.array([[0.0], [1.0], [2.0], [3e19], [3.1e19]], dtype=np.float32)
    inits = {"weights_init": [0.5, 0.5], "means_init": [[1.0], [2.0]], "precisions_init": [1.0, 1.0]}
    fast = GaussianMixture(2, covariance_type="spherical", **inits).fit(X)
    slow = _with_python_loop(GaussianMixture(2, covariance_type="spherical", **inits)).fit(X)
    assert _same(fast, slow) and fast.means_.dtype == slow.means_.dtype == np.float64


def test_native_loop_repairs_singular_covariances_like_the_python_loop():
    X = np.repeat(np.eye(3), 20, axis=0)
    with pytest.warns(UserWarning) as fast_warnings:
        fast = GaussianMixture(4, reg_covar=0.0, random_state=0).fit(X)
    with pytest.warns(UserWarning) as slow_warnings:
        slow = _with_python_loop(GaussianMixture(4, reg_covar=0.0, random_state=0)).fit(X)
    assert _same(fast, slow)
    assert [str(w.message) for w in fast_warnings] == [str(w.message) for w in slow_warnings]
