"""k-means for init_params='kmeans', on the EM engine's own passes.

Seeds: scikit-learn's greedy k-means++ (kmeans_plusplus) on all rows, or on a
random sample of max(10 000, 300 K) rows for larger data (a copy of that many
rows is all the extra memory this takes). Then Lloyd iterations, each one
hard-assignment pass (the fused pass with identity precisions and hard=True:
no copy of X, no labels array, deterministic whatever the thread count), until
the centres move less than tol times the mean feature variance, as
scikit-learn's KMeans stops: on the sample, where iterations are cheap, then
at most FULL_PASSES more on all the data (k-means creeps towards its fixed
point; the centres are an initialisation, and EM goes on from there). On a
sample, the best of three starts is kept. Clusters
that lose all their rows move to the rows farthest from every centre, as
scikit-learn's do.

What comes back is the statistics of the final partition for the mixture's
covariance type: the M-step turns them into the initial mixture.
"""

import numpy as np
from sklearn.cluster import kmeans_plusplus

from ._data import ArrayData
from ._stats import Params

FULL_PASSES = 2


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


def _sample(data, n_components, random_state):
    """All rows, or a random sample of them: (the data to run Lloyd on, its rows in
    float64 for k-means++ seeding, their weights)."""
    n, size = data.n_samples, sample_size(n_components)
    rows = np.arange(n) if n <= size else np.sort(random_state.choice(n, size, replace=False))
    X, w = data.take(rows)
    return (data if n <= size else ArrayData(np.ascontiguousarray(X, dtype=data.dtype), w)), X, w


def _lloyd(data, centers, max_iter, threshold):
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
    inertia = -2.0 * (st.loglik - st.weight * (np.log(1.0 / K) - 0.5 * D * np.log(2 * np.pi)))
    return centers, inertia


def kmeans_stats(data, n_components, covariance_type, random_state, scale, max_iter=300, tol=1e-4):
    """Statistics (for covariance_type) of the k-means partition of the data."""
    threshold = tol * scale
    sample, X, w = _sample(data, n_components, random_state)
    # on a sample, k-means is cheap: keep the best of three starts (by inertia)
    best = None
    for _ in range(1 if sample is data else 3):
        seeds, _ = kmeans_plusplus(X, n_components, random_state=random_state, sample_weight=w)
        centers, inertia = _lloyd(sample, np.asarray(seeds, dtype=np.float64), max_iter, threshold)
        if best is None or inertia < best[1]:
            best = centers, inertia
    centers = best[0]
    if sample is not data:
        centers, _ = _lloyd(data, centers, min(max_iter, FULL_PASSES), threshold)
    return data.em_pass(_identity_params(centers, covariance_type), covariance_type, hard=True)
