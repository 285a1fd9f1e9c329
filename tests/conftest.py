import numpy as np
import pytest

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
