"""Fitting and scoring on dask arrays (pip install "emfast[dask]").

Each pass runs the same C++ kernel on every block of rows, on the workers, and
tree-reduces the per-block statistics (they add); the M-step runs on the
client. Initialisation never collects X: k-means keeps its per-row state (each
row's distance to its closest seed, its label) in persisted blocks beside X's
and makes the same choices as on an in-memory array; random_from_data and
k-means++ fetch K rows. Scoring a dask array returns a lazy dask array.
"""

import numpy as np

from ._data import RANDOM_CHUNK, ArrayData, Data, finite_stats, score_array, score_dtype
from ._kmeans import average
from ._native import core


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


def _block_random_pass(X, w, state, n_components, centers, covariance_type, shift):
    rng = np.random.RandomState()
    rng.set_state(state)
    return ArrayData(_block(X), w).random_resp_pass(rng, n_components, centers, covariance_type, shift)


def _block_score(X, params, covariance_type, what):
    return score_array(_block(X), params, covariance_type, what)


# k-means on blocks: each block's rows with the block's state (an array per block)


def _closest_init(n, dtype):
    """+inf distances for n rows, with the padding emfast._core.kmeans_closest needs."""
    return np.full(-(-n // 16) * 16, np.inf, dtype=dtype)


def _block_closest(X, w, shift, cand, closest):
    """(a copy of closest updated with candidate cand, sum of w * closest)."""
    closest = closest.copy()
    total = core.kmeans_closest(_block(X), w, shift, cand, closest, True, 0)[0]
    return closest, total


def _block_potentials(X, w, shift, cands, closest):
    return core.kmeans_closest(_block(X), w, shift, cands, closest, False, 0)


def _block_search(w, closest, n, targets):
    """The first row at which the block's running sum of w * closest reaches each target."""
    values = closest[:n] if w is None else w * closest[:n]
    return np.searchsorted(np.cumsum(values, dtype=np.float64), targets)


def _block_lloyd(X, w, shift, centers, labels, update):
    """(this block's labels of the centres, its sums, weights and changed count)."""
    labels = labels.copy()
    r = core.kmeans_lloyd(_block(X), w, shift, centers, labels, 1 if update else 0, 0.0, 0)
    return labels, r


def _block_distances(X, w, shift, centers, labels):
    return ArrayData(_block(X)).distances_to_labels(centers, labels, shift)


def _block_fixed_pass(X, w, centers, covariance_type, shift, labels):
    return ArrayData(_block(X), w).fixed_pass(centers, covariance_type, shift, labels=labels)


def _block_distinct(X, w, labels):
    return np.unique(labels)


def _item(pair, i):
    return pair[i]


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
        `counts`, weight_scale as emfast._data.training_data sets it)."""
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
        """scikit-learn's random responsibilities, random_state.uniform(size=(n_samples,
        K)) in row order as ArrayData draws them: each block draws its rows on its
        worker from the generator's state at the block's first row, which the client
        reaches by drawing (and dropping) the rows before it, a chunk at a time."""
        dask, _ = _import_dask()
        states = []
        for n in np.diff(self.offsets):
            states.append(random_state.get_state())
            for start in range(0, int(n), RANDOM_CHUNK):
                random_state.uniform(size=(min(RANDOM_CHUNK, int(n) - start), n_components))
        f = dask.delayed(_block_random_pass, pure=True)
        return self._reduce([
            f(b, w, state, n_components, centers, covariance_type, shift)
            for b, w, state in zip(self.blocks, self.weight_blocks, states)
        ])

    def take(self, rows):
        rows = np.asarray(rows)
        order = np.argsort(rows)
        picked = np.empty((len(rows), self.n_features))
        picked[order] = np.asarray(self.X[rows[order]].compute(), dtype=np.float64)
        return picked, (None if self.sample_weight is None else self.sample_weight[rows])

    def head(self, n):
        return np.ascontiguousarray(self.X[: min(n, self.n_samples)].compute(), dtype=np.float64)

    # ------------------------------------------------------------- k-means

    def _map(self, f, *per_block, persist=False):
        """f(block, weights, *args of that block) for every block: results (or
        persisted delayed results)."""
        dask, _ = _import_dask()
        g = dask.delayed(f, pure=True)
        tasks = [g(b, w, *args) for b, w, *args in zip(self.blocks, self.weight_blocks, *per_block)]
        return dask.persist(*tasks) if persist else dask.compute(*tasks)

    def column_mean_and_variance(self):
        dask, da = _import_dask()
        mean = self.X.mean(axis=0)
        d2 = (self.X.astype(np.float64) - mean) ** 2
        var = (d2.sum(axis=0) / self.n_samples).mean()
        mean, var, largest, finite = dask.compute(mean, var, d2.sum(axis=1).max(), da.isfinite(self.X).all())
        if not finite:  # blocks are checked on the workers, but this is the first pass
            raise ValueError("Input X contains NaN or infinity.")
        return np.asarray(mean, dtype=self.dtype), float(var), float(largest)

    def kmeans_plusplus(self, n_clusters, first, draws, shift):
        """emfast._core.kmeans_plusplus's steps, block by block (the same choices)."""
        dask, _ = _import_dask()
        sizes = np.diff(self.offsets)
        closest = [dask.delayed(_closest_init)(int(n), self.dtype) for n in sizes]

        def centred(rows):
            X, _ = self.take(rows)
            return np.ascontiguousarray(X.astype(self.dtype) - shift.astype(self.dtype), dtype=np.float64)

        def update(cand):
            nonlocal closest
            pairs = self._map(_block_closest, [shift] * len(sizes), [cand] * len(sizes), closest, persist=True)
            closest = [dask.delayed(_item)(p, 0) for p in pairs]
            return np.array(dask.compute(*[dask.delayed(_item)(p, 1) for p in pairs]))

        indices = [int(first)]
        totals = update(centred([first]))
        pot = float(np.sum(totals))
        for u in draws:
            order = np.argsort(u, kind="stable")
            targets = u[order] * pot
            before = np.r_[0.0, np.cumsum(totals)]
            block = np.minimum(np.searchsorted(before[1:], targets), len(sizes) - 1)
            found = np.empty(len(u), dtype=np.int64)
            for b in np.unique(block):
                mine = block == b
                local = dask.compute(dask.delayed(_block_search)(
                    self.weight_blocks[b], closest[b], int(sizes[b]), targets[mine] - before[b]))[0]
                found[mine] = np.minimum(self.offsets[b] + local, self.n_samples - 1)
            ids = np.empty(len(u), dtype=np.int64)
            ids[order] = found
            cands = centred(ids)
            pots = np.sum(self._map(_block_potentials, [shift] * len(sizes), [cands] * len(sizes), closest), axis=0)
            best = int(np.argmin(pots))
            pot = float(pots[best])
            totals = update(cands[best : best + 1])
            indices.append(int(ids[best]))
        return np.array(indices, dtype=np.int64)

    def new_labels(self):
        dask, _ = _import_dask()
        return [dask.delayed(np.full)(int(n), -1, dtype=np.int32) for n in np.diff(self.offsets)]

    def kmeans_lloyd(self, centers, labels, max_iter, tol, shift):
        """emfast._core.kmeans_lloyd's loop, each assignment block by block; labels
        (the list of label blocks) is updated in place."""
        dask, _ = _import_dask()
        n = len(self.blocks)
        centers = np.array(centers, dtype=np.float64)
        result = {"n_iter": 0, "changed": 0, "strict": False, "empty": False}

        def assign(update):
            pairs = self._map(_block_lloyd, [shift] * n, [centers] * n, labels, [update] * n, persist=True)
            labels[:] = [dask.delayed(_item)(p, 0) for p in pairs]
            return dask.compute(*[dask.delayed(_item)(p, 1) for p in pairs])

        if max_iter == 0:
            assign(False)
            return dict(result, centers=centers)
        while result["n_iter"] < max_iter:
            parts = assign(True)
            result["n_iter"] += 1
            sums = sum(p["sums"] for p in parts)
            weights = sum(p["weights"] for p in parts)
            result.update(changed=int(sum(p["changed"] for p in parts)), sums=sums, weights=weights)
            if (weights == 0).any():
                return dict(result, centers=centers, empty=True)
            new = average(sums, weights)
            moved = float(np.sum(np.sqrt(np.sum((new - centers) ** 2, axis=1)) ** 2))
            centers = new
            if result["changed"] == 0:
                return dict(result, centers=centers, strict=True)
            if moved <= tol:
                break
        return dict(result, centers=centers)

    def distances_to_labels(self, centers, labels, shift):
        n = len(self.blocks)
        return np.concatenate(self._map(_block_distances, [shift] * n, [centers] * n, labels))

    def second_moment(self):
        dask, _ = _import_dask()
        zeros = [dask.delayed(np.zeros)(int(n), dtype=np.int32) for n in np.diff(self.offsets)]
        return self.fixed_pass(np.zeros((1, self.n_features)), "tied", self.shift, labels=zeros).s2

    def distinct_labels(self, labels, n_clusters):
        return len(np.unique(np.concatenate(self._map(_block_distinct, labels))))

    def fixed_pass(self, centers, covariance_type, shift, labels=None, resp=None):
        """Statistics under hard labels (a list of label blocks, from k-means)."""
        if resp is not None or labels is None:
            raise NotImplementedError("only k-means labels are given to dask arrays")
        n = len(self.blocks)
        parts = self._map(_block_fixed_pass, [centers] * n, [covariance_type] * n, [shift] * n, labels)
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return finite_stats(total, self.dtype)

    def score(self, params, covariance_type, what):
        """A lazy dask array of per-sample outputs (the overflow fix-up included)."""
        K = params.n_components
        dtype = score_dtype(self.dtype, params)
        if what in ("log_prob_norm", "predict"):
            dtype = np.int64 if what == "predict" else dtype
            return self.X.map_blocks(
                _block_score, params, covariance_type, what,
                dtype=dtype, drop_axis=1, meta=np.empty((0,), dtype=dtype),
            )
        return self.X.map_blocks(
            _block_score, params, covariance_type, what,
            dtype=dtype, chunks=(self.X.chunks[0], (K,)), meta=np.empty((0, 0), dtype=dtype),
        )
