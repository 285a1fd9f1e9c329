"""The data a mixture is fitted on, as the EM engine sees it.

Everything the fitting code does with X goes through one of these objects: a
pass that returns mergeable statistics, a read-only scoring pass, or fetching a
few rows. ArrayData wraps an in-memory or memory-mapped array without copying
it; emfast._dask.DaskData does the same over the blocks of a Dask array.
"""

import numpy as np

from ._native import core

# rows of random responsibilities drawn at a time for init_params='random'
_RANDOM_CHUNK = 65536


def round_to(v, dtype):
    """v rounded to dtype's precision, returned as float64."""
    return np.ascontiguousarray(np.asarray(v, dtype=dtype), dtype=np.float64)


def native_params(params):
    """(log_weights, means, precisions_cholesky) as C-contiguous float64."""
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(params["weights"], dtype=np.float64))
    return (
        np.ascontiguousarray(log_weights),
        np.ascontiguousarray(params["means"], dtype=np.float64),
        np.ascontiguousarray(params["precisions_cholesky"], dtype=np.float64),
    )


def params_shift(params, dtype):
    """A point near the data for these parameters: the mixture's mean."""
    return round_to(np.asarray(params["weights"]) @ np.asarray(params["means"]), dtype)


class Float32Overflow(ArithmeticError):
    """float32 cannot hold this data's squared deviations: fit it in float64."""


def finite_stats(stats, dtype):
    """The statistics, if finite; else float32 data is refitted in float64
    (Float32Overflow), and float64 data is a ValueError."""
    if np.isfinite(stats["loglik"]) and all(np.isfinite(stats[k]).all() for k in ("s0", "s1", "s2")):
        return stats
    if dtype == np.float32:
        raise Float32Overflow
    raise ValueError(
        "The squared distances between samples and components overflow float64. Rescale X "
        "(for example with sklearn.preprocessing.StandardScaler); if means_init was given, "
        "give means within the data's range."
    )


def add_stats(a, b):
    """Statistics of the union of two row sets (same centres)."""
    out = dict(a)
    for key in ("s0", "s1", "s2", "loglik", "weight"):
        out[key] = a[key] + b[key]
    if len(a.get("worst_row", ())) or len(b.get("worst_row", ())):
        n = len(a["worst_row"])
        values = np.r_[a["worst_value"], b["worst_value"]]
        rows = np.r_[a["worst_row"], b["worst_row"]]
        order = np.lexsort((rows, values))[: max(n, len(b["worst_row"]))]
        out["worst_value"], out["worst_row"] = values[order], rows[order]
    return out


class ArrayData:
    """A NumPy array (or np.memmap) of float32/float64 rows and their weights."""

    def __init__(self, X, sample_weight=None, shift=None):
        self.X = X
        self.sample_weight = sample_weight
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self._shift = None if shift is None else round_to(shift, X.dtype)

    def astype(self, dtype):
        return ArrayData(self.X.astype(dtype), self.sample_weight)

    @property
    def shift(self):
        """A point near the data (the mean of its first rows), subtracted from every
        row before the float arithmetic of the fitting passes."""
        if self._shift is None:
            self._shift = round_to(self.head(1024).mean(axis=0), self.dtype)
        return self._shift

    def total_weight(self):
        return float(self.n_samples if self.sample_weight is None else self.sample_weight.sum())

    def em_pass(self, params, covariance_type, n_worst=0, hard=False):
        log_weights, means, prec_chol = native_params(params)
        stats = core.em_pass(
            self.X, self.sample_weight, log_weights, means, prec_chol, covariance_type,
            self.shift, 0, n_worst, hard,
        )
        return finite_stats(stats, self.dtype)

    def fixed_pass(self, centers, covariance_type, shift, labels=None, resp=None):
        stats = core.fixed_pass(self.X, self.sample_weight, labels, resp, centers, covariance_type, shift, 0)
        return finite_stats(stats, self.dtype)

    def random_resp_pass(self, random_state, n_components, centers, covariance_type, shift):
        """fixed_pass with random responsibilities, drawn a chunk of rows at a time.

        The draws are those of scikit-learn's init_params='random'
        (random_state.uniform(size=(n_samples, K)), normalised per row) without
        holding the (n_samples, K) array.
        """
        total = None
        for start in range(0, self.n_samples, _RANDOM_CHUNK):
            stop = min(start + _RANDOM_CHUNK, self.n_samples)
            resp = np.asarray(random_state.uniform(size=(stop - start, n_components)), dtype=self.dtype)
            resp /= resp.sum(axis=1)[:, np.newaxis]
            sw = None if self.sample_weight is None else self.sample_weight[start:stop]
            part = core.fixed_pass(self.X[start:stop], sw, None, resp, centers, covariance_type, shift, 0)
            total = part if total is None else add_stats(total, part)
        return finite_stats(total, self.dtype)

    def take(self, rows):
        """The given rows, in float64, and their weights."""
        rows = np.asarray(rows)
        X = np.asarray(self.X[rows], dtype=np.float64)
        return X, (None if self.sample_weight is None else self.sample_weight[rows])

    def kmeans_plusplus_indices(self, n_components, random_state):
        """scikit-learn's k-means++ seeding (what its init_params='k-means++' uses)."""
        from sklearn.cluster import kmeans_plusplus

        _, indices = kmeans_plusplus(self.X, n_components, random_state=random_state,
                                     sample_weight=self.sample_weight)
        return indices

    def head(self, n):
        # a C-ordered copy: NumPy's reductions sum in an order that depends on the
        # memory layout, and the same data must give the same model in any layout
        return np.ascontiguousarray(self.X[: min(n, self.n_samples)], dtype=np.float64)

    def score(self, params, covariance_type, what):
        log_weights, means, prec_chol = native_params(params)
        return core.score(self.X, log_weights, means, prec_chol, covariance_type,
                          params_shift(params, self.dtype), what, 0)
