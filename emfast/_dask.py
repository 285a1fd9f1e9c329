"""Fitting and scoring on dask arrays (pip install "emfast[dask]").

Each pass runs the same C++ kernel on every block of rows, on the workers, and
tree-reduces the per-block statistics (they add); the M-step runs on the
client. Initialisation never collects X: k-means seeds come from a sample of
rows, the Lloyd iterations are passes, and random_from_data fetches K rows.
Scoring a dask array returns a lazy dask array (map_blocks).
"""

import numpy as np

from ._data import ArrayData, Data, finite_stats, score_array
from ._kmeans import sample_size


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised without dask
        raise ImportError('fitting dask arrays needs dask: pip install "emfast[dask]"') from exc
    return dask, da


def _block(X):
    """A block as the kernels take it (validated on the worker)."""
    X = np.asarray(X)
    if not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
    return np.require(X, requirements=["C", "A"])  # unpickled blocks may be unaligned


def _block_em_pass(X, w, offset, shift, params, covariance_type, n_worst, hard):
    # the same shift for every block: their statistics add
    st = ArrayData(_block(X), w, shift=shift).em_pass(params, covariance_type, n_worst, hard)
    st.worst_row = st.worst_row + offset
    return st


def _block_random_pass(X, w, seed, n_components, centers, covariance_type, shift):
    rng = np.random.RandomState(seed)
    return ArrayData(_block(X), w).random_resp_pass(rng, n_components, centers, covariance_type, shift)


def _block_score(X, params, covariance_type, what):
    return score_array(_block(X), params, covariance_type, what)


def _add(a, b):
    return a + b


def _tree_sum(parts):
    """Pairwise reduction in a fixed order (deterministic results)."""
    dask, _ = _import_dask()
    while len(parts) > 1:
        parts = [
            dask.delayed(_add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


class DaskData(Data):
    """A dask array of rows (any chunking; blocks get whole rows) and weights."""

    def __init__(self, X, sample_weight=None):
        dask, da = _import_dask()
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        X = X.rechunk({1: -1})
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        self.X = X
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self.offsets = np.r_[0, np.cumsum(X.chunks[0])].astype(np.int64)
        self.blocks = X.to_delayed().ravel().tolist()
        self.sample_weight = sample_weight
        super().__init__()
        if sample_weight is None:
            self.weight_blocks = [None] * len(self.blocks)
        else:
            self.weight_blocks = [sample_weight[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    @classmethod
    def validated(cls, estimator, X, sample_weight, counts=False):
        """Checks scikit-learn's validate_data would make, without computing X (with
        `counts`, weight_scale as emfast._data.fit_data sets it)."""
        from ._validation import check_sample_weight

        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"dtype {X.dtype} is not supported: X must be numeric")
        data = cls(X, None)
        if data.n_samples < 2:
            raise ValueError(f"Found array with {data.n_samples} sample(s) while a minimum of 2 is required.")
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.n_features_in_ = data.n_features
        if sample_weight is not None:
            if hasattr(sample_weight, "compute"):
                sample_weight = sample_weight.compute()
            sample_weight, scale = check_sample_weight(sample_weight, data.n_samples, with_scale=True)
            data = cls(data.X, sample_weight)
            data.weight_scale = scale if counts else 1.0
        return data

    @classmethod
    def for_predict(cls, estimator, X):
        if X.ndim != 2 or X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        return cls(X)

    def astype(self, dtype):
        data = DaskData(self.X.astype(dtype), self.sample_weight)
        data.weight_scale = self.weight_scale
        return data

    def _reduce(self, parts):
        dask, _ = _import_dask()
        (total,) = dask.compute(_tree_sum(parts))
        return finite_stats(total, self.dtype)

    def em_pass(self, params, covariance_type, n_worst=0, hard=False):
        dask, _ = _import_dask()
        p = dask.delayed(params, traverse=False)
        f = dask.delayed(_block_em_pass, pure=True)
        return self._reduce([
            f(b, w, int(o), self.shift, p, covariance_type, n_worst, hard)
            for b, w, o in zip(self.blocks, self.weight_blocks, self.offsets)
        ])

    def random_resp_pass(self, random_state, n_components, centers, covariance_type, shift):
        """Random responsibilities, drawn on the workers from per-block seeds."""
        dask, _ = _import_dask()
        seeds = random_state.randint(np.iinfo(np.int32).max, size=len(self.blocks))
        f = dask.delayed(_block_random_pass, pure=True)
        return self._reduce([
            f(b, w, int(s), n_components, centers, covariance_type, shift)
            for b, w, s in zip(self.blocks, self.weight_blocks, seeds)
        ])

    def take(self, rows):
        rows = np.asarray(rows)
        order = np.argsort(rows)
        picked = np.empty((len(rows), self.n_features))
        picked[order] = np.asarray(self.X[rows[order]].compute(), dtype=np.float64)
        return picked, (None if self.sample_weight is None else self.sample_weight[rows])

    def head(self, n):
        return np.ascontiguousarray(self.X[: min(n, self.n_samples)].compute(), dtype=np.float64)

    def kmeans_plusplus_indices(self, n_components, random_state):
        """scikit-learn's k-means++ seeding on a random sample of the rows."""
        from sklearn.cluster import kmeans_plusplus

        size = min(self.n_samples, sample_size(n_components))
        rows = np.sort(random_state.choice(self.n_samples, size, replace=False))
        X, w = self.take(rows)
        _, picked = kmeans_plusplus(X, n_components, random_state=random_state, sample_weight=w)
        return rows[picked]

    def score(self, params, covariance_type, what):
        """A lazy dask array of per-sample outputs (the overflow fix-up included)."""
        K = params.n_components
        if what in ("log_prob_norm", "predict"):
            dtype = np.int64 if what == "predict" else self.dtype
            return self.X.map_blocks(
                _block_score, params, covariance_type, what,
                dtype=dtype, drop_axis=1, meta=np.empty((0,), dtype=dtype),
            )
        return self.X.map_blocks(
            _block_score, params, covariance_type, what,
            dtype=self.dtype, chunks=(self.X.chunks[0], (K,)), meta=np.empty((0, 0), dtype=self.dtype),
        )
