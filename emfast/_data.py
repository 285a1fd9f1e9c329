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
from ._stats import Stats, nearest_zero, round_to

# rows of random responsibilities drawn at a time for init_params='random'
RANDOM_CHUNK = 65536


def chunk_rows(n_features):
    """Rows of X to process at a time in NumPy: 4 MiB of float64 (at most RANDOM_CHUNK rows)."""
    return max(1, min(RANDOM_CHUNK, (1 << 19) // max(n_features, 1)))


class Float32Overflow(ArithmeticError):
    """float32 cannot hold this data's squared deviations: fit it in float64."""


def overflow_error():
    return ValueError(
        "The squared distances between samples and components overflow float64. Rescale X "
        "(for example with sklearn.preprocessing.StandardScaler); if means_init was given, "
        "give means within the data's range."
    )


def finite_stats(stats, dtype, finite=None):
    """The statistics, if finite (as `finite` says, or Stats.is_finite); else
    float32 data is refitted in float64 (Float32Overflow), and float64 data is
    a ValueError."""
    if stats.is_finite() if finite is None else finite:
        return stats
    if dtype == np.float32:
        raise Float32Overflow
    raise overflow_error()


def native_stats(d, covariance_type, dtype):
    """Stats of a pass's result dict (emfast._core), checked as finite_stats does."""
    return finite_stats(Stats.from_native(d, covariance_type), dtype, d["finite"])


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
        """A point near the data (from its first rows: emfast._stats.nearest_zero),
        subtracted from every row before the float arithmetic of the fitting passes."""
        if self._shift is None:
            self._shift = nearest_zero(self.head(1024), self.dtype)
        return self._shift

    def total_weight(self):
        return float(self.n_samples if self.sample_weight is None else self.sample_weight.sum())

    def scale(self):
        """Average feature variance of the first rows: the unit of the jitter."""
        scale = core.mean_column_variance(self.head(10000))  # np.mean(np.var(head, axis=0)), to rounding
        return scale if np.isfinite(scale) and scale > 0 else 1.0

    # the interface
    def astype(self, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def em_pass(self, params, covariance_type, n_worst=0, hard=False):  # pragma: no cover
        """The fused E-step + statistics pass (emfast._stats.Stats), centred on params' means."""
        raise NotImplementedError

    def run_em(self, params, covariance_type, reg_covar, scale, n_samples, max_iter, tol, lower_bound,
               float32_bound):
        """EM iterations in one native call (emfast._em.GaussianEM.run), or None
        where this data has none."""
        return None

    def random_resp_pass(self, random_state, n_components, centers, covariance_type, shift):  # pragma: no cover
        """Statistics under scikit-learn's random responsibilities (init_params='random')."""
        raise NotImplementedError

    def take(self, rows):  # pragma: no cover
        """The given rows, in float64, and their weights."""
        raise NotImplementedError

    def head(self, n):  # pragma: no cover
        """The first n rows, C-ordered float64."""
        raise NotImplementedError

    def column_mean_and_variance(self):  # pragma: no cover
        """The column means in the data's dtype (scikit-learn's X.mean(axis=0)), the
        mean of the column variances (its k-means tolerance unit) and the largest
        squared norm of a centred row."""
        raise NotImplementedError

    def kmeans_plusplus(self, n_clusters, first, draws, shift):  # pragma: no cover
        """k-means++ seeds (row indices) of the rows centred on shift (emfast._kmeans)."""
        raise NotImplementedError

    def new_labels(self):  # pragma: no cover
        """Every row's k-means label, -1 for none yet (what kmeans_lloyd updates)."""
        raise NotImplementedError

    def kmeans_lloyd(self, centers, labels, max_iter, tol, shift):  # pragma: no cover
        """Lloyd iterations (emfast._core.kmeans_lloyd); labels are updated in place."""
        raise NotImplementedError

    def second_moment(self):  # pragma: no cover
        """sum_rows w x x^T (n_features x n_features, float64)."""
        raise NotImplementedError

    def distinct_labels(self, labels, n_clusters):  # pragma: no cover
        """How many different k-means labels (each in [0, n_clusters)) there are."""
        raise NotImplementedError

    def distances_to_labels(self, centers, labels, shift):  # pragma: no cover
        """Each row's squared distance to its label's centre, as NumPy computes it
        on the centred rows (k-means' empty-cluster relocation)."""
        raise NotImplementedError

    def score(self, params, covariance_type, what):  # pragma: no cover
        """A read-only pass: per-row outputs (see emfast._core.score's `what`)."""
        raise NotImplementedError


class ArrayData(Data):
    """A NumPy array (or np.memmap) of float32/float64 rows and their weights.

    The passes use `n_threads` threads (0: the kernels' default, which follows
    threadpoolctl and OMP_NUM_THREADS); fits running side by side in Python
    threads share the cores out this way (emfast._selection). `weight_scale`:
    see Data.weight_scale.
    """

    def __init__(self, X, sample_weight=None, shift=None, n_threads=0, weight_scale=1.0):
        self.X = X
        self.sample_weight = sample_weight
        self.weight_scale = weight_scale
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self.n_threads = n_threads
        super().__init__(shift)

    def astype(self, dtype):
        return ArrayData(self.X.astype(dtype), self.sample_weight, n_threads=self.n_threads,
                         weight_scale=self.weight_scale)

    def with_threads(self, n_threads):
        """The same data (not copied, the same shift), passed over with n_threads threads."""
        return ArrayData(self.X, self.sample_weight, self.shift, n_threads, self.weight_scale)

    def em_pass(self, params, covariance_type, n_worst=0, hard=False, groups=None):
        """The fused pass; `groups` = (group of each row, int32, -1 for none; first
        component of each group and the end, int64) restricts each row of a group to
        that group's components (see emfast._core.em_pass)."""
        log_weights, means, prec_chol = params.native()
        group, begin = (None, None) if groups is None else groups
        stats = core.em_pass(
            self.X, self.sample_weight, log_weights, means, prec_chol, covariance_type,
            self.shift, self.n_threads, n_worst, hard, params.dofs, group, begin,
        )
        return native_stats(stats, covariance_type, self.dtype)

    def run_em(self, params, covariance_type, reg_covar, scale, n_samples, max_iter, tol, lower_bound,
               float32_bound):
        log_weights, means, prec_chol = params.native()
        out = core.em_run(
            self.X, self.sample_weight, log_weights, means, prec_chol, covariance_type, self.shift,
            float(reg_covar), float(scale), n_samples, max_iter, float(tol), float(lower_bound),
            float32_bound, self.n_threads,
        )
        return finite_stats(out, self.dtype, out["finite"])

    def fixed_pass(self, centers, covariance_type, shift, labels=None, resp=None):
        """Statistics under fixed responsibilities: hard labels or soft resp."""
        stats = core.fixed_pass(self.X, self.sample_weight, labels, resp, centers, covariance_type, shift,
                                self.n_threads)
        return native_stats(stats, covariance_type, self.dtype)

    def random_resp_pass(self, random_state, n_components, centers, covariance_type, shift):
        """The draws are those of scikit-learn's init_params='random'
        (random_state.uniform(size=(n_samples, K)), normalised per row) without
        holding the (n_samples, K) array: a chunk of rows at a time."""
        total = None
        for start in range(0, self.n_samples, RANDOM_CHUNK):
            stop = min(start + RANDOM_CHUNK, self.n_samples)
            resp = np.asarray(random_state.uniform(size=(stop - start, n_components)), dtype=self.dtype)
            resp /= resp.sum(axis=1)[:, np.newaxis]
            sw = None if self.sample_weight is None else self.sample_weight[start:stop]
            part = core.fixed_pass(self.X[start:stop], sw, None, resp, centers, covariance_type, shift,
                                   self.n_threads)
            part = Stats.from_native(part, covariance_type)
            total = part if total is None else total + part
        return finite_stats(total, self.dtype)

    def take(self, rows):
        rows = np.asarray(rows)
        X = np.asarray(self.X[rows], dtype=np.float64)
        return X, (None if self.sample_weight is None else self.sample_weight[rows])

    def column_mean_and_variance(self):
        # scikit-learn's centre X.mean(axis=0), bitwise: NumPy's two steps without its wrapper
        mean = np.add.reduce(self.X, axis=0)
        np.true_divide(mean, np.intp(self.n_samples), out=mean, casting="unsafe")
        if not np.isfinite(mean).all():  # kmeans_labels reports the overflow
            return mean, np.inf, np.inf
        # every row's squared distance to the mean in one native pass (O(N) floats,
        # as seeding keeps after it): their sum and their largest
        closest = np.full(-(-self.n_samples // 16) * 16, np.inf, dtype=self.dtype)
        zero = np.zeros((1, self.n_features))
        with np.errstate(over="ignore"):  # inf: kmeans_labels reports the overflow
            total = core.kmeans_closest(self.X, None, np.asarray(mean, dtype=np.float64), zero, closest, True,
                                        self.n_threads)[0]
            largest = float(closest[: self.n_samples].max())
        if np.isfinite(total):
            return mean, total / self.n_samples / self.n_features, largest
        # a row's squared distance beyond float64 (or float32) where each feature's
        # may be within it: per column in float64, as scikit-learn's np.var
        del closest
        total, largest = np.zeros(self.n_features), 0.0
        step = chunk_rows(self.n_features)
        for start in range(0, self.n_samples, step):  # no copy of X
            d2 = np.subtract(self.X[start : start + step], mean, dtype=np.float64)
            with np.errstate(over="ignore"):
                np.multiply(d2, d2, out=d2)  # in place: one chunk of float64 at a time
                total += d2.sum(axis=0)
                largest = max(largest, float(d2.sum(axis=1).max()))
        return mean, float(np.mean(total / self.n_samples)), largest

    def kmeans_plusplus(self, n_clusters, first, draws, shift):
        return core.kmeans_plusplus(self.X, self.sample_weight, shift, n_clusters, first, draws, self.n_threads)

    def new_labels(self):
        return np.full(self.n_samples, -1, dtype=np.int32)

    def kmeans_lloyd(self, centers, labels, max_iter, tol, shift):
        return core.kmeans_lloyd(self.X, self.sample_weight, shift, centers, labels, max_iter, tol,
                                 self.n_threads)

    def distinct_labels(self, labels, n_clusters):
        return core.count_distinct(labels, n_clusters)

    def second_moment(self):
        zero = np.zeros((1, self.n_features))
        return self.fixed_pass(zero, "tied", self.shift, labels=np.zeros(self.n_samples, dtype=np.int32)).s2

    def distances_to_labels(self, centers, labels, shift):
        centers = np.asarray(centers, dtype=self.dtype)
        shift = np.asarray(shift, dtype=self.dtype)
        out = np.empty(self.n_samples, dtype=self.dtype)
        step = chunk_rows(self.n_features)
        for start in range(0, self.n_samples, step):
            stop = start + step
            out[start:stop] = (((self.X[start:stop] - shift) - centers[labels[start:stop]]) ** 2).sum(axis=1)
        return out

    def head(self, n):
        # a C-ordered copy: NumPy's reductions sum in an order that depends on the
        # memory layout, and the same data must give the same model in any layout
        return np.ascontiguousarray(self.X[: min(n, self.n_samples)], dtype=np.float64)

    def score(self, params, covariance_type, what):
        return score_array(self.X, params, covariance_type, what, self.n_threads)


def training_data(estimator, X, sample_weight, counts=False):
    """The data object a fit runs on, validated as GaussianMixture.fit validates X
    (n_features_in_ and feature_names_in_ set on the estimator; scikit-learn's
    checks and messages): a Dask array stays lazy, anything else becomes an
    ArrayData without a copy if possible. With `counts` (a model that counts the
    weights), its weight_scale is set."""
    from ._validation import check_sample_weight, check_X, is_dask_array

    if is_dask_array(X):
        from ._dask import DaskData

        return DaskData.validated(estimator, X, sample_weight, counts)
    X = check_X(estimator, X, reset=True, min_samples=2)
    sample_weight, scale = check_sample_weight(sample_weight, X.shape[0], with_scale=True)
    return ArrayData(X, sample_weight, weight_scale=scale if counts else 1.0)


def score_dtype(X_dtype, params):
    """The dtype X is scored in: float32 X under a float64 model (one float32 could
    not hold) in float64, as scikit-learn's outputs are float64 there."""
    if X_dtype == np.float32 and np.asarray(params.means).dtype != np.float32:
        return np.dtype(np.float64)
    return np.dtype(X_dtype)


def score_array(X, params, covariance_type, what, n_threads=0):
    """A read-only pass over the validated array X (in score_dtype), with the
    overflow fix-up."""
    X = X.astype(score_dtype(X.dtype, params), copy=False)
    log_weights, means, prec_chol = params.native()
    out = core.score(X, log_weights, means, prec_chol, covariance_type, params.shift(X.dtype), what, n_threads,
                     params.dofs)
    return fix_overflowed(X, out, params, covariance_type, what)
