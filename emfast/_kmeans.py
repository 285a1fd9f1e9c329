"""k-means for init_params='kmeans', on the EM engine's own passes.

Seeds: scikit-learn's greedy k-means++ (kmeans_plusplus) on all rows, or on a
random sample of max(20 000, 500 K) rows for larger data (a copy of that many
rows is all the extra memory this takes). Then Lloyd iterations, each one
hard-assignment pass over the data (the fused pass with identity precisions
and hard=True: no copy of X, no labels array, deterministic whatever the thread
count), until the centres move less than tol times the mean feature variance,
as scikit-learn's KMeans stops. Clusters that lose all their rows move to the
rows farthest from every centre, as scikit-learn's do.

What comes back is the statistics of the final partition for the mixture's
covariance type: the M-step turns them into the initial mixture.
"""

import numpy as np
from sklearn.cluster import kmeans_plusplus



def sample_size(n_components):
    return max(20_000, 500 * n_components)


def _identity_params(centers, covariance_type):
    K, D = centers.shape
    precisions = {
        "full": lambda: np.tile(np.eye(D), (K, 1, 1)),
        "tied": lambda: np.eye(D),
        "diag": lambda: np.ones((K, D)),
        "spherical": lambda: np.ones(K),
    }[covariance_type]()
    return {"weights": np.full(K, 1.0 / K), "means": centers, "precisions_cholesky": precisions}


def seeds(data, n_components, random_state):
    """k-means++ centres from all rows, or from a random sample of them."""
    n, size = data.n_samples, sample_size(n_components)
    if n <= size:
        rows = np.arange(n)
    else:
        rows = np.sort(random_state.choice(n, size, replace=False))
    X, w = data.take(rows)
    centers, _ = kmeans_plusplus(X, n_components, random_state=random_state, sample_weight=w)
    return np.asarray(centers, dtype=np.float64)


def kmeans_stats(data, n_components, covariance_type, random_state, scale, max_iter=300, tol=1e-4):
    """Statistics (for covariance_type) of the k-means partition of the data."""
    centers = seeds(data, n_components, random_state)
    threshold = tol * scale
    for _ in range(max_iter):
        st = data.em_pass(_identity_params(centers, "spherical"), "spherical", n_worst=n_components, hard=True)
        s0 = st["s0"]
        new = st["centers"].copy()
        alive = s0 > 0
        new[alive] += st["s1"][alive] / s0[alive, None]
        empty = np.flatnonzero(~alive)
        if len(empty):
            far, _ = data.take(st["worst_row"][: len(empty)])
            new[empty[: len(far)]] = far
        moved = float(((new - centers) ** 2).sum())
        centers = new
        if moved <= threshold and not len(empty):
            break
    return data.em_pass(_identity_params(centers, covariance_type), covariance_type, hard=True)
