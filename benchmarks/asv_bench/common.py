"""Data and sizes shared by the asv benchmarks.

EMFAST_ASV_TINY=1 shrinks every problem so that CI can run each benchmark once
in seconds (the suite must not rot); the default sizes are the ones to compare.
"""

import os
import warnings

import numpy as np

TINY = os.environ.get("EMFAST_ASV_TINY", "") not in ("", "0")

# N x D, K: the S1 reference shape (benchmarks/peers.py), or a tiny stand-in.
N, D, K = (2_000, 4, 3) if TINY else (100_000, 16, 16)
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = ["float64", "float32"]
THREADS = [1, 2]


def make_data(n, d, k, dtype=np.float64, seed=0):
    """Anisotropic Gaussian clusters (deterministic across NumPy versions); also the
    data of benchmarks/peers.py and compare.py."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(k, size=n)
    centres = rng.normal(scale=3.0, size=(k, d))
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    X = rng.standard_normal((n, d)) * scales[labels] + centres[labels]
    return np.ascontiguousarray(X, dtype=dtype)


def quiet():
    """Silence ConvergenceWarning from fits stopped on purpose."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)


def em_iteration(model, X):
    """One EM iteration of `model` on X as a callable: the fused pass and the
    M-step from the parameters of a two-iteration fit (which this fit makes)."""
    from emfast._data import ArrayData
    from emfast._em import GaussianEM

    model.set_params(max_iter=2).fit(X)
    params = model._current_parameters()
    data = ArrayData(X)
    em = GaussianEM(model.covariance_type, model.reg_covar, 1.0, len(X))
    return lambda: em.step(data, params)
