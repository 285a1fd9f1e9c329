"""Bags for learning from label proportions: each row's bag and its bag's count.

Every LLP estimator of emfast takes its supervision per row, so that
cross-validation can split it: ``y`` holds each row's bag proportion (the
fraction of positives in its bag, the same for every row of a bag) and
``bags`` each row's bag id (``None``: every row is its own bag, and ``y`` its
label). ``bag_counts`` (one count per bag) is an alternative to ``y`` outside
cross-validation.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import column_or_1d

from ._native import core

# Limits of the native kernels (csrc/bp.hpp), shared by every LLP estimator.
INF_LOG_ODDS = float(core.BP_INF_LOG_ODDS)
MAX_WEIGHT = float(core.BP_MAX_WEIGHT)
MAX_PAIRWISE_BAG = int(core.BP_MAX_PAIRWISE_BAG)
MAX_ITER = int(core.BP_MAX_ITER)


@dataclass(frozen=True)
class Bags:
    """Rows grouped into bags: the arrays the kernels take.

    ids: sorted unique bag ids; codes[i]: row i's index into ids; sizes[b]; counts[b]:
    k_b, the (expected) number of positives of bag b; members: the rows sorted by
    bag (stable), bag b being members[offsets[b]:offsets[b + 1]].
    """

    ids: np.ndarray
    codes: np.ndarray
    sizes: np.ndarray
    counts: np.ndarray
    offsets: np.ndarray
    members: np.ndarray

    @property
    def n_bags(self):
        return len(self.ids)

    def proportions(self):
        """Each row's bag proportion k_b / |b| (the bag-proportion baseline)."""
        return (self.counts / self.sizes)[self.codes]

    def kernel_args(self):
        return self.offsets, self.members, self.counts

    def subset(self, bag_index):
        """(rows, Bags) of the bags bag_index (sorted), rows in bag order."""
        bag_index = np.sort(np.asarray(bag_index, dtype=np.int64))
        sizes = self.sizes[bag_index]
        rows = self.members[np.isin(self.codes[self.members], bag_index)]  # in bag order
        offsets = np.zeros(len(bag_index) + 1, dtype=np.int64)
        np.cumsum(sizes.astype(np.int64), out=offsets[1:])
        codes = np.searchsorted(bag_index, self.codes[rows]).astype(np.int64)
        members = np.arange(len(rows), dtype=np.int64)
        return rows, Bags(self.ids[bag_index], codes, sizes, self.counts[bag_index], offsets, members)


def _id(bag_id):
    """A bag id as the user wrote it (numpy scalars back to Python objects)."""
    return bag_id.item() if isinstance(bag_id, np.generic) else bag_id


def _structure(bags, n_samples):
    """Sorted unique bag ids, and each row's index into them."""
    if bags is None:
        return np.arange(n_samples), np.arange(n_samples, dtype=np.int64)
    if sp.issparse(bags):
        raise TypeError("bags must be a 1-D array-like of bag ids, got a sparse matrix")
    bags = np.asarray(bags)
    if bags.ndim != 1 or bags.shape[0] != n_samples:
        raise ValueError(
            f"bags must be 1-D with one bag id per row of X ({n_samples} rows), got shape {bags.shape}"
        )
    if bags.dtype.kind in "fc" and np.isnan(bags).any():
        raise ValueError("bags contains NaN: every row needs a bag id")
    try:
        ids, codes = np.unique(bags, return_inverse=True)
    except TypeError as exc:
        raise TypeError(
            f"bag ids must be comparable with each other so that they can be sorted: {exc}"
        ) from exc
    return ids, codes.reshape(-1).astype(np.int64, copy=False)


def _first(mask, ids):
    b = int(np.flatnonzero(mask)[0])
    return b, _id(ids[b])


def _per_bag(values, ids):
    """bag_counts (a mapping bag id -> count, or an array aligned with ids) as float64."""
    name = "bag_counts"
    if hasattr(values, "keys") and callable(values.keys):
        out = []
        for bag_id in ids:
            key = _id(bag_id)
            try:
                out.append(values[key])
            except (KeyError, IndexError):
                raise ValueError(f"bag id {key!r} has no entry in {name}") from None
        arr = np.asarray(out)
    else:
        if isinstance(values, (str, bytes)) or sp.issparse(values):
            raise TypeError(f"{name} must be a mapping or an array-like of numbers")
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != len(ids):
            raise ValueError(
                f"{name} must give one value per bag: a mapping bag id -> value, or an "
                f"array of length {len(ids)} aligned with the sorted unique bag ids; "
                f"got shape {arr.shape}"
            )
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _counts_from_bag_counts(bag_counts, ids, sizes):
    v = _per_bag(bag_counts, ids)
    if not np.isfinite(v).all():
        b, key = _first(~np.isfinite(v), ids)
        raise ValueError(f"bag_counts contains NaN or infinity (bag {key!r}: {v[b]})")
    if (v < 0).any():
        b, key = _first(v < 0, ids)
        raise ValueError(f"bag_counts must be non-negative: bag {key!r} has {v[b]:g}")
    if (v != np.floor(v)).any():
        b, key = _first(v != np.floor(v), ids)
        raise ValueError(
            f"bag_counts must be whole numbers: bag {key!r} has {v[b]:g} "
            "(give each row's bag proportion as y for fractions)"
        )
    if (v > sizes).any():
        b, key = _first(v > sizes, ids)
        raise ValueError(
            f"bag_counts larger than the bag: bag {key!r} has a count of {v[b]:g} but only {sizes[b]} rows"
        )
    return v


def _counts_from_y(y, ids, codes, sizes, members, offsets):
    if sp.issparse(y):
        raise TypeError("y must be a 1-D array of each row's bag proportion, got a sparse matrix")
    y = np.asarray(y)
    if y.dtype.kind not in "iubf":
        raise ValueError(
            f"Unknown label type: y must hold each row's bag proportion (numbers in [0, 1]), "
            f"got dtype {y.dtype}"
        )
    y = column_or_1d(y, warn=True).astype(np.float64)
    if y.shape[0] != len(codes):
        raise ValueError(f"y must have one value per row of X ({len(codes)} rows), got {y.shape[0]}")
    if not np.isfinite(y).all():
        raise ValueError("y (each row's bag proportion) contains NaN or infinity")
    if ((y < 0) | (y > 1)).any():
        bad = y[(y < 0) | (y > 1)][0]
        # scikit-learn's wording for classes beyond 0/1, and for other targets
        kind = "Only binary classification is supported." if (y == np.round(y)).all() else "Unknown label type:"
        raise ValueError(
            f"{kind} y must hold each row's bag proportion, in [0, 1] (with bags=None, each "
            f"row's 0/1 label), got {bad:g}"
        )
    ys = y[members]
    starts = offsets[:-1]
    lo, hi = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)
    if (hi - lo > 1e-9).any():
        b, key = _first(hi - lo > 1e-9, ids)
        raise ValueError(
            f"y must be each row's bag proportion, the same for every row of a bag: bag {key!r} "
            f"has values from {lo[b]:g} to {hi[b]:g}"
        )
    k = 0.5 * (lo + hi) * sizes
    whole = np.round(k)
    return np.where(np.abs(k - whole) <= 1e-9 * sizes, whole, k)  # float noise of k / |b| * |b|


def check_bags(y, bags, bag_counts, n_samples):
    """The Bags of a fit from y (each row's bag proportion) or bag_counts, and bags."""
    ids, codes = _structure(bags, n_samples)
    sizes = np.bincount(codes, minlength=len(ids))
    members = np.argsort(codes, kind="stable").astype(np.int64)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    if y is None and bag_counts is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None: give each row's "
            "bag proportion as y (or, instead, bag_counts: the number of positives of each bag)"
        )
    if y is not None and bag_counts is not None:
        raise TypeError("give either y or bag_counts, not both")
    if y is None:
        if bags is None:
            raise TypeError("bag_counts needs bags (each row's bag id)")
        counts = _counts_from_bag_counts(bag_counts, ids, sizes)
    else:
        counts = _counts_from_y(y, ids, codes, sizes, members, offsets)
    counts = np.minimum(np.maximum(counts, 0.0), sizes)
    return Bags(ids, codes, sizes.astype(np.float64), np.ascontiguousarray(counts), offsets, members)
