"""The data a mixture is fitted on, as the EM engine sees it.

Everything the fitting code does with X goes through a ``Data`` object: a
pass that returns mergeable statistics (emfast._stats.Stats), a read-only
scoring pass, or fetching a few rows. ``ArrayData`` wraps an in-memory or
memory-mapped array without copying it; emfast._dask.DaskData implements the
same interface over the blocks of a Dask array.
"""

import numpy as np

from ._native import core
from ._overflow import fix_overflowed
from ._stats import Stats, round_to
from ._validation import as_kernel_input, check_sample_weight, is_dask_array

# rows of random responsibilities drawn at a time for init_params='random'
_RANDOM_CHUNK = 65536


class Float32Overflow(ArithmeticError):
    """float32 cannot hold this data's squared deviations: fit it in float64."""


def finite_stats(stats, dtype):
    """The statistics, if finite; else float32 data is refitted in float64
    (Float32Overflow), and float64 data is a ValueError."""
    if stats.is_finite():
        return stats
    if dtype == np.float32:
        raise Float32Overflow
    raise ValueError(
        "The squared distances between samples and components overflow float64. Rescale X "
        "(for example with sklearn.preprocessing.StandardScaler); if means_init was given, "
        "give means within the data's range."
    )


class Data:
    """What the engine needs of a data set (n_samples rows of n_features, a dtype,
    optional sample weights). Subclasses implement the passes."""

    n_samples: int
    n_features: int
    dtype: np.dtype
    sample_weight: "np.ndarray | None"
    # the weights given are sample_weight * weight_scale (emfast._validation.check_sample_weight):
    # a model that counts samples multiplies the passes' statistics by it
    weight_scale: float = 1.0

    def __init__(self, shift=None):
        self._shift = None if shift is None else round_to(shift, self.dtype)

    @property
    def shift(self):
        """A point near the data (the mean of its first rows), subtracted from every
        row before the float arithmetic of the fitting passes."""
        if self._shift is None:
            self._shift = round_to(self.head(1024).mean(axis=0), self.dtype)
        return self._shift

    def total_weight(self):
        return float(self.n_samples if self.sample_weight is None else self.sample_weight.sum())

    def scale(self):
        """Average feature variance of the first rows: the unit of the jitter."""
        scale = float(np.mean(np.var(self.head(10000), axis=0)))
        return scale if np.isfinite(scale) and scale > 0 else 1.0

    # the interface
    def astype(self, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def em_pass(self, params, covariance_type, n_worst=0, hard=False):  # pragma: no cover
        """The fused E-step + statistics pass (emfast._stats.Stats), centred on params' means."""
        raise NotImplementedError

    def random_resp_pass(self, random_state, n_components, centers, covariance_type, shift):  # pragma: no cover
        """Statistics under scikit-learn's random responsibilities (init_params='random')."""
        raise NotImplementedError

    def take(self, rows):  # pragma: no cover
        """The given rows, in float64, and their weights."""
        raise NotImplementedError

    def head(self, n):  # pragma: no cover
        """The first n rows, C-ordered float64."""
        raise NotImplementedError

    def kmeans_plusplus_indices(self, n_components, random_state):  # pragma: no cover
        raise NotImplementedError

    def score(self, params, covariance_type, what):  # pragma: no cover
        """A read-only pass: per-row outputs (see emfast._core.score's `what`)."""
        raise NotImplementedError


class ArrayData(Data):
    """A NumPy array (or np.memmap) of float32/float64 rows and their weights."""

    def __init__(self, X, sample_weight=None, shift=None, weight_scale=1.0):
        self.X = X
        self.sample_weight = sample_weight
        self.weight_scale = weight_scale
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        super().__init__(shift)

    def astype(self, dtype):
        return ArrayData(self.X.astype(dtype), self.sample_weight, weight_scale=self.weight_scale)

    def em_pass(self, params, covariance_type, n_worst=0, hard=False):
        log_weights, means, prec_chol = params.native()
        stats = core.em_pass(
            self.X, self.sample_weight, log_weights, means, prec_chol, covariance_type,
            self.shift, 0, n_worst, hard,
        )
        return finite_stats(Stats.from_native(stats, covariance_type), self.dtype)

    def fixed_pass(self, centers, covariance_type, shift, labels=None, resp=None):
        """Statistics under fixed responsibilities: hard labels or soft resp."""
        stats = core.fixed_pass(self.X, self.sample_weight, labels, resp, centers, covariance_type, shift, 0)
        return finite_stats(Stats.from_native(stats, covariance_type), self.dtype)

    def random_resp_pass(self, random_state, n_components, centers, covariance_type, shift):
        """The draws are those of scikit-learn's init_params='random'
        (random_state.uniform(size=(n_samples, K)), normalised per row) without
        holding the (n_samples, K) array: a chunk of rows at a time."""
        total = None
        for start in range(0, self.n_samples, _RANDOM_CHUNK):
            stop = min(start + _RANDOM_CHUNK, self.n_samples)
            resp = np.asarray(random_state.uniform(size=(stop - start, n_components)), dtype=self.dtype)
            resp /= resp.sum(axis=1)[:, np.newaxis]
            sw = None if self.sample_weight is None else self.sample_weight[start:stop]
            part = core.fixed_pass(self.X[start:stop], sw, None, resp, centers, covariance_type, shift, 0)
            part = Stats.from_native(part, covariance_type)
            total = part if total is None else total + part
        return finite_stats(total, self.dtype)

    def take(self, rows):
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
        return score_array(self.X, params, covariance_type, what)


def score_array(X, params, covariance_type, what):
    """A read-only pass over the validated array X, with the overflow fix-up."""
    log_weights, means, prec_chol = params.native()
    out = core.score(X, log_weights, means, prec_chol, covariance_type, params.shift(X.dtype), what, 0)
    return fix_overflowed(X, out, params, covariance_type, what)


def fit_data(estimator, X, sample_weight, counts=False):
    """X and sample_weight validated for fitting (scikit-learn's checks and
    messages), as a Data object: DaskData for a dask array, else ArrayData.
    With `counts` (a model that counts the weights), its weight_scale is set."""
    if is_dask_array(X):
        from ._dask import DaskData

        return DaskData.validated(estimator, X, sample_weight, counts)
    from sklearn.utils.validation import validate_data

    X = as_kernel_input(validate_data(estimator, X, dtype=[np.float64, np.float32], ensure_min_samples=2))
    sample_weight, scale = check_sample_weight(sample_weight, X.shape[0], with_scale=True)
    return ArrayData(X, sample_weight, weight_scale=scale if counts else 1.0)
