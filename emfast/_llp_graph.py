"""Similarity graphs for learning from label proportions.

The weights do not depend on the data's units, the number of neighbours or the
scale of precomputed similarities: a k-nearest-neighbour edge gets the locally
scaled kernel s_ij = exp(-d_ij^2 / (sigma_i sigma_j)), sigma_i the distance
from row i to its k-th neighbour (Zelnik-Manor & Perona, "Self-tuning spectral
clustering", NIPS 2004), and every graph is divided by its mean weighted degree
(mean_i sum_j s_ij), so that a similarity weight of 1 gives each row, on
average, a total coupling of 2 to its neighbours.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

def standardized(X):
    """X with every feature at mean 0 and variance 1 (a constant feature at 0): no
    labeler depends on the features' units. Computed in two passes without
    overflow for any finite X."""
    top = np.abs(X).max(axis=0)
    top[top == 0] = 1.0
    Z = X / top
    Z -= Z.mean(axis=0)
    sd = np.sqrt(np.mean(Z * Z, axis=0))
    sd[sd <= 1e-12] = 1.0  # constant up to rounding
    Z /= sd
    return Z


def _normalized(S):
    """S divided by its mean weighted degree (S symmetric, non-negative, finite)."""
    S.eliminate_zeros()
    if S.nnz == 0:
        return S
    S.data /= S.data.max()  # no overflow in the sums below
    S.data /= S.data.sum() / S.shape[0]
    S.sort_indices()
    return S


def empty_graph(n):
    return sp.csr_matrix((n, n), dtype=np.float64)


def knn_graph(X, n_neighbors, metric):
    """The symmetrised k-nearest-neighbour graph of X (self excluded, each edge
    once) with locally scaled similarities, normalised. X should be
    standardized()."""
    n = X.shape[0]
    if n_neighbors == 0 or n < 2:
        return empty_graph(n)
    k = min(int(n_neighbors), n - 1)
    if isinstance(metric, str) and metric == "cosine":
        # the same ranking as cosine distance, and scikit-learn's fast path
        nn = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(normalize(X))
    else:
        nn = NearestNeighbors(n_neighbors=k, metric=metric).fit(X)
    dist, ind = nn.kneighbors()  # the query point itself excluded
    if not np.isfinite(dist).all() or (dist < 0).any():
        raise ValueError(f"the metric {metric!r} gave distances that are not finite and non-negative")
    sigma = np.maximum(dist[:, -1], np.finfo(np.float64).tiny)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = ind.reshape(-1).astype(np.int64)
    d = dist.reshape(-1)
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    # each undirected edge once (its first listing), i < j
    _, first = np.unique(lo * n + hi, return_index=True)
    lo, hi, d = lo[first], hi[first], d[first]
    s = np.exp(-(d / sigma[lo]) * (d / sigma[hi]))  # ratios first: no overflow
    S = sp.csr_matrix((np.r_[s, s], (np.r_[lo, hi], np.r_[hi, lo])), shape=(n, n))
    return _normalized(S)


def precomputed_graph(X):
    """A user's square matrix of similarities as a symmetric graph (the diagonal
    ignored), normalised."""
    n = X.shape[0]
    if X.shape[1] != n:
        raise ValueError(f"metric='precomputed' needs a square similarity matrix, got shape {X.shape}")
    S = sp.csr_matrix(X, dtype=np.float64, copy=True)
    S = sp.triu(S, 1, format="csr") + sp.tril(S, -1, format="csr")
    S.eliminate_zeros()
    if S.nnz == 0:
        return empty_graph(n)
    if S.data.min() < 0:
        raise ValueError("metric='precomputed': similarities must be non-negative")
    S.data /= S.data.max()  # finite whatever the scale: (S + S.T) / 2 cannot overflow
    asym = abs(S - S.T)
    if asym.nnz and asym.max() > 1e-10:
        raise ValueError("metric='precomputed': the similarity matrix must be symmetric")
    return _normalized(((S + S.T) * 0.5).tocsr())
