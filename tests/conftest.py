import functools
import zlib

import numpy as np
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The fast loop (-m "not slow") samples the estimator matrix.

    A test parametrized over estimators (a `case` of tests/reliability.py) runs
    for one of them in the fast loop, chosen by the test's name, so that
    different tests check different estimators; the rest are marked slow. The
    full suite (no -m) runs every estimator for every test.
    """
    groups = {}
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if case is not None and hasattr(case, "make"):
            groups.setdefault(item.nodeid.split("[")[0], []).append(item)
    for name, group in groups.items():
        ids = sorted({item.callspec.params["case"].id for item in group})
        chosen = ids[zlib.crc32(name.encode()) % len(ids)]
        for item in group:
            if item.callspec.params["case"].id != chosen:
                item.add_marker(pytest.mark.slow)

def make_blobs(n, d, k, *, seed=0, spread=5.0, anisotropic=False, offset=0.0):
    """k Gaussian clusters in d dimensions, shuffled."""
    rng = np.random.RandomState(seed)
    counts = rng.multinomial(n, np.full(k, 1.0 / k))
    parts = []
    for j, c in enumerate(counts):
        centre = rng.normal(scale=spread, size=d)
        z = rng.standard_normal((c, d))
        if anisotropic:
            z = z @ rng.normal(size=(d, d)) / np.sqrt(d) * 2
        parts.append(z + centre)
    X = np.concatenate(parts) + offset
    return X[rng.permutation(n)]


@pytest.fixture
def blobs():
    return make_blobs


@functools.lru_cache(maxsize=None)
def sklearn_float32_dtype():
    """The dtype of the model (and outputs) scikit-learn's GaussianMixture gives
    float32 data: float32 from scikit-learn 1.7, float64 before. emfast's
    GaussianMixture follows the installed scikit-learn, and so does StudentTMixture
    (the same fit loop); the online estimators keep float32."""
    from sklearn.mixture import GaussianMixture

    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], dtype=np.float32)
    return GaussianMixture(1).fit(X).means_.dtype


def float32_model_dtype(est):
    """The dtype of est's model fitted to float32 data (that float32 can hold)."""
    from sklearn.mixture import GaussianMixture

    from emfast import StudentTMixture

    follows = isinstance(est, (GaussianMixture, StudentTMixture))
    return sklearn_float32_dtype() if follows else np.dtype(np.float32)
