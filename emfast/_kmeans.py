"""k-means for init_params='kmeans' (scikit-learn's) and 'kmeans_sample'.

``kmeans_labels`` is scikit-learn's ``KMeans(n_clusters=K, n_init=1,
random_state=random_state).fit(X, sample_weight).labels_``, which its
GaussianMixture uses for init_params='kmeans': X centred on its column
means, k-means++ seeding (2 + log K candidates per seed, the same random
draws), then Lloyd iterations until the labels stop changing or the centres
move by at most tol times the mean feature variance, empty clusters
relocated to the rows farthest from their centres. The passes run in C++
(csrc/kmeans.cpp) on the chunked engine: no (N, K) array, no copy of X; the
state is O(N): the labels and a bound per row for Lloyd, and while seeding
each row's distance to its closest seed and that seed. Both skip the rows that
the triangle inequality proves unchanged (exactly: the results are those of
reading every row). Labels can differ from scikit-learn's only where two
distances tie to rounding.

``kmeans_sample_stats`` (init_params='kmeans_sample') is emfast's cheaper
initialisation for data too large for that: k-means++ and Lloyd on a random
sample of max(10 000, 300 K) rows (the best of three starts), then at most
FULL_PASSES Lloyd passes over all rows. It is not scikit-learn's k-means.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._data import ArrayData, Float32Overflow, overflow_error
from ._native import core
from ._stats import Params

FULL_PASSES = 2


# ----------------------------------------------------------------- scikit-learn's KMeans


def n_local_trials(n_clusters):
    """Candidates per seed in k-means++ (scikit-learn's choice)."""
    return 2 + int(np.log(n_clusters))


def first_seed(random_state, n_samples, sample_weight, dtype):
    """``random_state.choice(n_samples, p=w / w.sum())``, scikit-learn's first k-means++
    seed (w: the sample weights in X's dtype, ones if None), without choice's two arrays
    of n_samples float64 (p and its cumulative sum): emfast._core.choice_sweep takes
    choice's steps (the Kahan sum of p it checks, then cdf = p.cumsum(), cdf /= cdf[-1],
    cdf.searchsorted(random_sample(), side="right")) one probability at a time.
    """
    if sample_weight is None and not (dtype == np.float32 and n_samples > 2**24):
        total = dtype.type(n_samples)  # np.ones(n).sum(), exactly
    else:  # (float32 cannot sum more than 2**24 ones exactly: NumPy's sum, as scikit-learn's)
        total = (np.ones(n_samples, dtype=dtype) if sample_weight is None
                 else np.asarray(sample_weight, dtype=dtype)).sum()
    float32 = dtype == np.float32
    ok = total > 0 and np.isfinite(total)
    p_sum = core.choice_sweep(sample_weight, n_samples, float(total), float32) if ok else np.nan
    if not np.isfinite(p_sum) or abs(p_sum - 1.0) > max(np.sqrt(np.finfo(np.float64).eps), np.sqrt(np.finfo(dtype).eps)):
        raise ValueError("probabilities do not sum to 1")  # as NumPy's choice says
    return core.choice_sweep(sample_weight, n_samples, float(total), float32, random_state.random_sample())


def kmeans_plusplus(data, n_clusters, random_state, shift):
    """scikit-learn's k-means++ seeds (row indices) of the rows centred on `shift`,
    drawing the same random numbers."""
    first = first_seed(random_state, data.n_samples, data.sample_weight, data.dtype)
    draws = random_state.uniform(size=(n_clusters - 1, n_local_trials(n_clusters)))
    return data.kmeans_plusplus(n_clusters, int(first), draws, shift)


def _relocate_empty(data, shift, result, labels):
    """scikit-learn's _relocate_empty_clusters_dense on Lloyd's sums and weights:
    each empty cluster takes one of the rows farthest from their centres."""
    sums, weights = result["sums"], result["weights"]
    empty = np.flatnonzero(weights == 0)
    # not in the fit's plan (emfast._memory): each row's distance and its index in argpartition
    core.check_memory(data.n_samples * (data.dtype.itemsize + 8),
                      f"relocating {len(empty)} empty k-means clusters (n_samples={data.n_samples})")
    distances = data.distances_to_labels(result["centers"], labels, shift)
    if np.max(distances) == 0:  # fewer distinct rows than clusters
        return sums, weights
    far = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
    rows, w = data.take(far)
    rows = np.asarray(rows, dtype=data.dtype) - np.asarray(shift, dtype=data.dtype)
    w = np.ones(len(far)) if w is None else np.asarray(w, dtype=data.dtype)
    for new, row, wi, idx in zip(empty, rows, w, far):
        old = labels[idx]
        sums[old] -= row * wi
        sums[new] = row * wi
        weights[new] = wi
        weights[old] -= wi
    return sums, weights


def average(sums, weights):
    """scikit-learn's _average_centers, in its order: an empty cluster takes the
    heaviest one's row as it stands then (its mean if already averaged). It
    multiplies by 1 / weight; where that overflows (a subnormal weight), divides."""
    centers = sums.copy()
    heaviest = np.argmax(weights)
    for k in range(len(weights)):
        if weights[k] > 0:
            # (a subnormal weight's inverse overflows: there scikit-learn's centre is
            # infinite, and a division gives the mean)
            inverse = 1.0 / weights[k] if weights[k] >= np.finfo(np.float64).tiny else np.inf
            centers[k] = centers[k] * inverse if np.isfinite(inverse) else centers[k] / weights[k]
        else:
            centers[k] = centers[heaviest]
    return centers


def lloyd(data, centers, shift, max_iter, tol):
    """scikit-learn's _kmeans_single_lloyd from `centers` (centred): the labels."""
    labels = data.new_labels()
    done, strict, final = 0, False, False
    while done < max_iter:
        result = data.kmeans_lloyd(centers, labels, max_iter - done, tol, shift)
        done += result["n_iter"]
        if not result["empty"]:
            centers, strict = result["centers"], result["strict"]
            final = result.get("final_labels", False)  # the arrays' kernel labels them itself
            break
        # finish the iteration that left a cluster empty, as scikit-learn does
        old = result["centers"]
        sums, weights = _relocate_empty(data, shift, result, labels)
        centers = average(sums, weights)
        shift_total = float(np.sum(np.sqrt(np.sum((centers - old) ** 2, axis=1)) ** 2))
        if result["changed"] == 0:
            strict = True
            break
        if shift_total <= tol:
            break
    if not (strict or final):  # the labels of the final centres
        data.kmeans_lloyd(centers, labels, 0, tol, shift)
    return labels


def kmeans_labels(data, n_clusters, random_state, max_iter=300, tol=1e-4):
    """scikit-learn's KMeans(n_clusters, n_init=1, random_state).fit(X, sample_weight).labels_."""
    mean, variance, largest = data.column_mean_and_variance()
    if not (np.isfinite(mean).all() and np.isfinite(variance)):
        if data.dtype == np.float32:  # the estimator refits in float64
            raise Float32Overflow
        raise overflow_error()
    # float32: squared distances between centred rows (at most 4 times the largest
    # squared norm) that float32 cannot hold are refitted in float64 (float64 data
    # fits as far as scikit-learn's k-means does: one row at 1e154 among N(0, 1) rows)
    if data.dtype == np.float32 and not 4 * largest < float(np.finfo(np.float32).max):
        raise Float32Overflow
    shift = np.asarray(mean, dtype=np.float64)
    seeds, _ = data.take(kmeans_plusplus(data, n_clusters, random_state, shift))
    centers = np.asarray(seeds, dtype=data.dtype) - mean.astype(data.dtype)
    labels = lloyd(data, np.asarray(centers, dtype=np.float64), shift, max_iter, float(variance) * tol)
    distinct = data.distinct_labels(labels, n_clusters)
    if distinct < n_clusters:
        warnings.warn(
            "Number of distinct clusters ({}) found smaller than n_clusters ({}). Possibly due to "
            "duplicate points in X.".format(distinct, n_clusters),
            ConvergenceWarning,
            stacklevel=5,
        )
    return labels


# ----------------------------------------------------------------- k-means on a sample


def sample_size(n_components):
    return max(10_000, 300 * n_components)


def _identity_params(centers, covariance_type):
    K, D = centers.shape
    precisions = {
        "full": lambda: np.tile(np.eye(D), (K, 1, 1)),
        "tied": lambda: np.eye(D),
        "diag": lambda: np.ones((K, D)),
        "spherical": lambda: np.ones(K),
    }[covariance_type]()
    return Params(np.full(K, 1.0 / K), centers, precisions, precisions)


def sample_rows(n, size, random_state):
    """`size` distinct row indices out of n, sorted: a uniform random subset in
    O(size) memory (no permutation of all n rows). Indices are drawn with
    replacement and kept in the order they first appear until `size` differ."""
    rows = np.empty(0, dtype=np.int64)
    while len(rows) < size:
        rows = np.concatenate([rows, random_state.randint(0, n, size=2 * (size - len(rows)) + 64)])
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)][:size]
    return np.sort(rows)


def _sample(data, n_components, random_state):
    """All rows, or a random sample of them: (the data to run Lloyd on, its rows in
    float64 for k-means++ seeding, their weights)."""
    n, size = data.n_samples, sample_size(n_components)
    rows = np.arange(n) if n <= size else sample_rows(n, size, random_state)
    X, w = data.take(rows)
    return (data if n <= size else ArrayData(np.ascontiguousarray(X, dtype=data.dtype), w)), X, w


def _sampled_lloyd(data, centers, max_iter, threshold):
    """Lloyd iterations from `centers` until they move by at most `threshold`.

    Returns the centres and the inertia (sum of w ||x - c||^2) of the last assignment.
    """
    K, D = centers.shape
    for _ in range(max_iter):
        st = data.em_pass(_identity_params(centers, "spherical"), "spherical", n_worst=K, hard=True)
        s0 = st.s0
        new = st.centers.copy()
        alive = s0 > 0
        new[alive] += st.s1[alive] / s0[alive, None]
        empty = np.flatnonzero(~alive)
        if len(empty):
            far, _ = data.take(st.worst_row[: len(empty)])
            new[empty[: len(far)]] = far
        moved = float(((new - centers) ** 2).sum())
        centers = new
        if moved <= threshold and not len(empty):
            break
    # loglik = sum w (log(1/K) - D/2 log(2 pi) - ||x - c||^2 / 2) under identity precisions
    inertia = -2.0 * (st.loglik - st.weight * (np.log(1.0 / K) - D * core.HALF_LOG_2PI))
    return centers, inertia


def kmeans_sample_stats(data, n_components, covariance_type, random_state, scale, max_iter=300, tol=1e-4):
    """Statistics (for covariance_type) of the partition of emfast's sampled k-means."""
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    threshold = tol * scale
    sample, X, w = _sample(data, n_components, random_state)
    # on a sample, k-means is cheap: keep the best of three starts (by inertia)
    best = None
    for _ in range(1 if sample is data else 3):
        seeds, _ = sk_kmeans_plusplus(X, n_components, random_state=random_state, sample_weight=w)
        centers, inertia = _sampled_lloyd(sample, np.asarray(seeds, dtype=np.float64), max_iter, threshold)
        if best is None or inertia < best[1]:
            best = centers, inertia
    centers = best[0]
    if sample is not data:
        centers, _ = _sampled_lloyd(data, centers, min(max_iter, FULL_PASSES), threshold)
    return data.em_pass(_identity_params(centers, covariance_type), covariance_type, hard=True)
