"""The memory a fit will take, planned before it starts.

The kernels' part of each phase (a pass, the M-step, a k-means pass) comes
from emfast._core.call_memory, computed from the sizes the kernels allocate by
(the threads a pass will use, its blocks' statistics, its scratch); the
Python part is counted here: the models the fit holds (K x D^2 each for full
covariances), the rows of X it copies (the shift, the scale), and the per-row
state of the initialisation (k-means labels and distances, scikit-learn's
draws over all rows). The plan is the largest phase (a k-means relocation of
empty clusters, rare, checks its own memory when it happens);
``check_fit_memory`` raises MemoryError when it exceeds what the process may
use (emfast._core.memory_limit).
"""

import functools

import numpy as np

from ._native import core

# Rows of X a fit copies to look at: Data.shift and Data.scale (emfast._data).
SHIFT_ROWS, SCALE_ROWS = 1024, 10000


def _cov_elements(covariance_type, K, D):
    return {"full": K * D * D, "tied": D * D, "diag": K * D, "spherical": K}[covariance_type]


def stats_bytes(covariance_type, K, D):
    """One set of sufficient statistics (emfast._stats.Stats)."""
    return 8 * (K + 2 * K * D + _cov_elements(covariance_type, K, D))


def model_bytes(covariance_type, K, D, itemsize=8):
    """One mixture's parameters: weights, means, covariances and precision factors."""
    return itemsize * (K + K * D + 2 * _cov_elements(covariance_type, K, D))


def _init_bytes(init_params, N, D, K, covariance_type, itemsize, stats_pass):
    """The initialisation's peak beyond the model (emfast._init, emfast._kmeans)."""
    call = lambda name, n=N, k=K, cov="spherical": core.call_memory(name, n, D, k, cov, itemsize)  # noqa: E731
    labels = 4 * N  # int32 k-means labels, held through the statistics pass
    if init_params in ("kmeans", "k-means++"):
        from ._data import chunk_rows

        trials = 2 + int(np.log(K))
        # scikit-learn's first seed (emfast._kmeans.first_seed): float32 weights cast to sum them
        choice = 4 * N if itemsize == 4 else 0
        seeds = max(choice, call("kmeans_seeds", k=trials))
        if init_params == "k-means++":
            return max(seeds, stats_pass)
        # the column means and variances first (each row's squared distance to the
        # mean, in one pass as seeding's; where that overflows, a chunk of squared
        # deviations), then Lloyd. The relocation of empty clusters (each row's
        # distance and its index in argpartition) is rare: it checks its own memory
        # when it happens.
        columns = max(call("kmeans_seeds", k=1), 8 * chunk_rows(D) * D)
        lloyd = labels + call("kmeans_lloyd")
        return max(columns, seeds, lloyd, labels + stats_pass)
    if init_params == "random_from_data":
        return max(8 * N, stats_pass)  # scikit-learn's choice(N, K, replace=False): a permutation
    if init_params == "random":
        from ._data import RANDOM_CHUNK

        return stats_pass + 2 * min(N, RANDOM_CHUNK) * K * 8  # draws, a chunk of rows at a time
    # kmeans_sample: Lloyd on a sample of rows (their copy), then over all rows
    from ._kmeans import sample_size

    n = min(N, sample_size(K))
    return n * D * (itemsize + 8) + max(call("statistics", n=n), stats_pass)


def fit_plan(N, D, K, covariance_type, *, itemsize=8, init_params="kmeans", n_init=1, fitted=False,
             inits_given=False, rows_copied=False):
    """Bytes a GaussianMixture fit on N x D rows of itemsize bytes takes at its peak.

    fitted: the estimator holds a fitted model (kept until the new one replaces
    it); inits_given: weights_init, means_init and precisions_init are all given
    (no initialisation pass); rows_copied: looking at the first rows copies them
    (X is not C-contiguous float64).
    """
    cov = covariance_type
    call = lambda name, n=N: core.call_memory(name, n, D, K, cov, itemsize)  # noqa: E731
    model = model_bytes(cov, K, D)
    stats = stats_bytes(cov, K, D)
    # the fit holds the model being improved, the best of n_init and the fitted one
    held = model * (2 if n_init > 1 else 1) + (model + 8 * _cov_elements(cov, K, D) if fitted else 0)
    # a pass (its statistics come back as NumPy arrays), then the M-step from them:
    # the new model beside the old
    em = max(call("statistics"), stats + call("m_step") + model)
    phases = [held + em]
    # the first rows (a copy unless X holds them as such): the shift (their absolute
    # values and a mask) and the scale (their deviations from the mean)
    copy = 8 if rows_copied else 0
    head = D * max(min(N, SHIFT_ROWS) * (copy + 9), min(N, SCALE_ROWS) * (copy + 8))
    phases.append(held + head)
    if not inits_given:
        phases.append(held + _init_bytes(init_params, N, D, K, cov, itemsize, call("statistics")) + stats)
    # the fitted attributes (and precisions_) made from the final model
    phases.append(held + model + 2 * 8 * _cov_elements(cov, K, D))
    return int(max(phases))


@functools.lru_cache(maxsize=64)
def _fit_plan(n_threads, N, D, K, covariance_type, itemsize, init_params, n_init, fitted, inits_given, rows_copied):
    """fit_plan for the thread count in use (its scratch is per thread), computed once
    per shape: loops that fit many small mixtures of one shape pay it once."""
    return fit_plan(N, D, K, covariance_type, itemsize=itemsize, init_params=init_params, n_init=n_init,
                    fitted=fitted, inits_given=inits_given, rows_copied=rows_copied)


def check_fit_memory(estimator, data, n_samples=None, extra=0):
    """MemoryError now if the estimator's fit on `data` (on n_samples of its rows at
    a time, and `extra` bytes besides) would not fit in memory, before anything is
    allocated; returns the plan in bytes."""
    given = all(getattr(estimator, name, None) is not None for name in ("weights_init", "means_init", "precisions_init"))
    n = data.n_samples if n_samples is None else n_samples
    if hasattr(data, "offsets"):  # dask: each pass runs on one block at a time
        n = int(np.max(np.diff(data.offsets)))
    X = getattr(data, "X", None)
    contiguous = isinstance(X, np.ndarray) and X.dtype == np.float64 and X.flags.c_contiguous
    plan = _fit_plan(core.max_threads(), n, data.n_features, estimator.n_components, estimator.covariance_type,
                     data.dtype.itemsize, estimator.init_params, getattr(estimator, "n_init", 1),
                     hasattr(estimator, "covariances_"), given, not contiguous) + extra
    core.check_memory(plan, f"n_samples={data.n_samples}, n_features={data.n_features}, "
                            f"n_components={estimator.n_components}, covariance_type='{estimator.covariance_type}'")
    return plan
