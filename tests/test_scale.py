"""Data that is not an ordinary in-memory array: memory maps, read-only and strided arrays."""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import make_blobs
from sklearn.exceptions import ConvergenceWarning

from emfast import GaussianMixture

COV_TYPES = ["full", "tied", "diag", "spherical"]


def init_of(X, K, cov):
    g = GaussianMixture(K, covariance_type=cov, max_iter=0, random_state=0).fit(X)
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


def fit(X, K, cov, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(K, covariance_type=cov, max_iter=10, **kw).fit(X)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_memmap_fit_equals_in_memory_fit(tmp_path, cov, dtype):
    X = make_blobs(5000, 4, 3, seed=1, anisotropic=True).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    init = init_of(X, 3, cov)
    a, b = fit(X, 3, cov, **init), fit(mapped, 3, cov, **init)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.lower_bounds_ == b.lower_bounds_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(mapped))
    # the default initialisation reads the map too
    np.testing.assert_array_equal(fit(X, 3, cov, random_state=0).means_, fit(mapped, 3, cov, random_state=0).means_)


def test_read_only_and_strided_input():
    X = make_blobs(3000, 6, 2, seed=2)
    ro = X.copy()
    ro.flags.writeable = False
    init = init_of(X[:, ::2], 2, "full")
    ref = fit(np.ascontiguousarray(X[:, ::2]), 2, "full", **init)
    for view in (X[:, ::2], np.asfortranarray(X[:, ::2]), ro[:, ::2]):
        np.testing.assert_array_equal(fit(view, 2, "full", **init).means_, ref.means_)


def test_contiguous_input_is_not_copied():
    # a copy of X would show up as an allocation of X.nbytes
    X = make_blobs(400_000, 6, 3, seed=3)
    X32 = X.astype(np.float32)
    for data in (X, X32):
        init = init_of(data, 3, "full")
        tracemalloc.start()
        try:
            fit(data, 3, "full", **init)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 0.3 * data.nbytes, peak
