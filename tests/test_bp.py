"""BeliefPropagationLabeler and its kernel: exactness against brute-force
enumeration, quality, determinism, finite results, interruption, memory."""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from emfast import BeliefPropagationLabeler
from emfast._native import core

from llp_helpers import interrupt_latency, make_llp

CLIP = core.BP_INF_LOG_ODDS

# Loopy BP often stops at max_iter: the tests that care check converged_ or the warning.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ------------------------------------------------------------------ helpers


def configurations(n):
    """All 2^n labelings, one per row."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def log_psi(c, k, bag_weight):
    """log psi(c) = -bag_weight (c - k)^2, or the hard constraint (nearest counts) for inf."""
    c = np.asarray(c, dtype=np.float64)
    if np.isinf(bag_weight):
        d = np.abs(c - k)
        best = np.min(np.abs(np.arange(int(np.floor(k)), int(np.floor(k)) + 2) - k))
        return np.where(np.isclose(d, best, rtol=0, atol=1e-12), 0.0, -np.inf)
    return -bag_weight * (c - k) ** 2


def brute_marginals(graph, bags, k, similarity_weight, bag_weight, field=None):
    """P(y_i = 1) by enumerating all 2^n labelings (n <= 16) of the model

    log p(y) = sum_i field_i y_i - bag_weight sum_b (sum_{i in b} y_i - k_b)^2
               - similarity_weight sum_{i<j} s_ij (y_i - y_j)^2
    """
    n = len(bags)
    assert n <= 16
    Y = configurations(n)
    lp = np.zeros(len(Y)) if field is None else Y @ field
    for b in range(len(k)):
        lp += log_psi(Y[:, bags == b].sum(1), k[b], bag_weight)
    upper = sp.triu(sp.csr_matrix(graph), 1).tocoo()
    for i, j, s in zip(upper.row, upper.col, upper.data):
        lp -= similarity_weight * s * (Y[:, i] - Y[:, j]) ** 2
    p = np.exp(lp - logsumexp(lp))
    return p @ Y


def brute_bag_messages(cavity, k, bag_weight):
    """Exact factor-to-variable messages of one bag, by summing over all labelings:
    log sum_{y: y_i=0} q(y) psi(c(y) + 1) - log sum_{y: y_i=0} q(y) psi(c(y)), q the
    product of Bernoulli(sigmoid(cavity)) probabilities (q(y_i = 0) cancels)."""
    B = len(cavity)
    Y = configurations(B)
    lq = Y @ cavity - np.logaddexp(0.0, cavity).sum()
    c = Y.sum(1)
    l1 = lq + log_psi(c + 1, k, bag_weight)
    l0 = lq + log_psi(c, k, bag_weight)
    out = np.empty(B)
    with np.errstate(divide="ignore"):
        for i in range(B):
            off = Y[:, i] == 0
            out[i] = logsumexp(l1[off]) - logsumexp(l0[off])
    return np.clip(out, -CLIP, CLIP)


def normalized(S):
    """A similarity matrix on the labelers' scale: the mean weighted degree 1."""
    S = sp.csr_matrix(S, dtype=float)
    return S * (S.shape[0] / S.sum())


def reference_knn_graph(X, k, metric):
    """The labelers' kNN graph from its definition: neighbours of the standardised
    features, w_ij = exp(-d_ij^2 / (sigma_i sigma_j)) on every edge of the
    symmetrised graph, sigma_i the distance to the k-th neighbour; normalised."""
    Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    if metric == "cosine":  # searched as Euclidean distance between normalised rows
        Z, metric = Z / np.linalg.norm(Z, axis=1, keepdims=True), "euclidean"
    dist, ind = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(Z).kneighbors()
    sigma = dist[:, -1]
    n = len(X)
    W = np.zeros((n, n))
    for i in range(n):
        for d, j in zip(dist[i], ind[i]):
            W[i, j] = W[j, i] = np.exp(-d * d / (sigma[i] * sigma[j]))
    return normalized(W).toarray()


def contiguous_bags(sizes):
    sizes = np.asarray(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return offsets, np.arange(offsets[-1], dtype=np.int64), np.repeat(np.arange(len(sizes)), sizes)


def exact_fit(X, bags, counts, y=None, **params):
    """A fit run to convergence: tree-shaped graphs then give exact marginals."""
    defaults = dict(damping=0.0, max_iter=500, tol=1e-14, similarity_weight=10.0, bag_weight=10.0)
    defaults.update(params)
    return BeliefPropagationLabeler(**defaults).fit(X, y, bags=bags, bag_counts=None if y is not None else counts)


# ------------------------------------------------- exact bag factor messages


@pytest.mark.parametrize("B", [1, 2, 3, 5, 9, pytest.param(16, marks=pytest.mark.slow)])
@pytest.mark.parametrize("bag_weight", [0.0, 0.3, 10.0, 1e3, np.inf])
def test_exact_factor_messages_match_brute_force(B, bag_weight):
    rng = np.random.default_rng(B)
    offsets, members, _ = contiguous_bags([B])
    for scale in (0.5, 3.0, 30.0):
        cavity = rng.normal(scale=scale, size=B)
        for k in {0.0, float(B), float(rng.integers(0, B + 1)), B * 0.37}:
            got = core.bp_exact_bag_messages(cavity, offsets, members, np.array([k]), bag_weight)
            want = brute_bag_messages(cavity, k, bag_weight)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=f"k={k}, scale={scale}")


def test_exact_factor_messages_several_bags_any_order():
    """Bags given by member lists in any order: each row gets its own bag's message."""
    rng = np.random.default_rng(0)
    sizes = [4, 1, 7, 3]
    n = sum(sizes)
    perm = rng.permutation(n).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    k = np.array([2.0, 1.0, 0.0, 3.0])
    cavity = rng.normal(scale=2, size=n)
    got = core.bp_exact_bag_messages(cavity, offsets, perm, k, 2.5)
    for b in range(len(sizes)):
        rows = perm[offsets[b] : offsets[b + 1]]
        np.testing.assert_allclose(got[rows], brute_bag_messages(cavity[rows], k[b], 2.5), rtol=1e-12, atol=1e-9)


def test_exact_factor_large_bag_is_stable():
    """Bags of 2048 rows, counts far from the prior mean: no underflow, exact binomial answer."""
    from scipy.stats import binom

    B = 2048
    offsets, members, _ = contiguous_bags([B])
    for q, k, lam in [(0.5, 205, 10.0), (0.5, 205, np.inf), (0.9, 3, 10.0), (0.01, 2000, 1.0), (0.5, 0, 1e6)]:
        cavity = np.full(B, np.log(q / (1 - q)))
        got = core.bp_exact_bag_messages(cavity, offsets, members, np.array([float(k)]), lam)
        lp = binom.logpmf(np.arange(B), B - 1, q)
        lpsi = log_psi(np.arange(B + 1), k, lam)
        with np.errstate(divide="ignore"):
            want = np.clip(logsumexp(lp + lpsi[1:]) - logsumexp(lp + lpsi[:-1]), -CLIP, CLIP)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)


# ------------------------------------------------------- exactness on trees


@pytest.mark.parametrize("bag_weight", [0.7, 10.0, np.inf])
@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_bag_factors_alone_are_exact(bag_weight, damping):
    rng = np.random.default_rng(1)
    sizes = [5, 1, 6, 4]
    _, _, bags = contiguous_bags(sizes)
    bags = bags[rng.permutation(len(bags))]
    counts = np.array([rng.integers(0, s + 1) for s in sizes])
    X = rng.normal(size=(len(bags), 3))
    lab = exact_fit(X, bags, counts, n_neighbors=0, bag_weight=bag_weight, damping=damping, max_iter=2000)
    assert lab.graph_.nnz == 0
    assert lab.converged_
    want = brute_marginals(lab.graph_, bags, counts, 10.0, bag_weight)
    np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)


def test_bag_factors_alone_with_proportions_are_exact():
    """Fractional k_b (from proportions): the squared penalty is still exact."""
    rng = np.random.default_rng(2)
    sizes = [7, 5, 4]
    _, _, bags = contiguous_bags(sizes)
    props = np.array([0.3, 0.55, 0.9])
    X = rng.normal(size=(len(bags), 2))
    lab = exact_fit(X, bags, None, y=props[bags], n_neighbors=0, bag_weight=1.3)
    want = brute_marginals(lab.graph_, bags, props * np.array(sizes), 10.0, 1.3)
    np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("bag_factor", ["exact", "pairwise"])
def test_chain_of_one_row_bags_is_exact(bag_factor):
    """One-row bags linked by a chain of similarities (a tree for both factors)."""
    rng = np.random.default_rng(3)
    n = 14
    x = np.cumsum(1.0 + 0.05 * np.arange(n))  # growing gaps: each point's nearest neighbour is the previous one
    X = np.c_[x, np.zeros(n)]
    bags = rng.permutation(n)  # one row per bag, ids shuffled
    counts = rng.integers(0, 2, n)
    lab = exact_fit(X, bags, counts, n_neighbors=1, metric="euclidean", similarity_weight=2.0,
                    bag_weight=1.5, bag_factor=bag_factor)
    G = lab.graph_.toarray()
    np.testing.assert_allclose(G, reference_knn_graph(X, 1, "euclidean"), rtol=1e-13)
    np.testing.assert_array_equal(G, G.T)
    assert lab.graph_.nnz == 2 * (n - 1)
    order = np.argsort(np.unique(bags))
    k = counts[order]
    bag_index = np.searchsorted(np.unique(bags), bags)
    want = brute_marginals(G, bag_index, k, 2.0, 1.5)
    np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_two_bags_joined_by_one_similarity_are_exact(damping):
    sizes = [6, 7]
    _, _, bags = contiguous_bags(sizes)
    n = len(bags)
    S = sp.csr_matrix(([0.7, 0.7], ([2, 9], [9, 2])), shape=(n, n))
    counts = np.array([2, 5])
    lab = exact_fit(S, bags, counts, metric="precomputed", similarity_weight=3.0, bag_weight=1.5,
                    damping=damping, max_iter=3000)
    np.testing.assert_allclose(lab.graph_.toarray(), normalized(S).toarray(), rtol=1e-15)
    want = brute_marginals(lab.graph_, bags, counts, 3.0, 1.5)
    np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)


def test_tree_of_bags_is_exact():
    """Four bags linked by three similarities into a tree (one edge per pair of bags)."""
    rng = np.random.default_rng(4)
    sizes = [4, 3, 5, 4]
    _, _, bags = contiguous_bags(sizes)
    n = len(bags)
    rows, cols = [0, 5, 6], [4, 8, 12]  # bag0-bag1, bag1-bag2, bag1-bag3
    s = rng.uniform(0.2, 1.0, 3)
    S = sp.csr_matrix((np.r_[s, s], (rows + cols, cols + rows)), shape=(n, n))
    counts = np.array([1, 3, 2, 4])
    for bag_weight in (2.0, np.inf):
        lab = exact_fit(S, bags, counts, metric="precomputed", similarity_weight=5.0, bag_weight=bag_weight)
        want = brute_marginals(normalized(S), bags, counts, 5.0, bag_weight)
        np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)


def test_pairwise_with_bags_of_two_on_a_chain_is_exact():
    """Pairwise bag factors of bags of <= 2 rows are single edges: a chain stays a tree."""
    sizes = [2, 1, 2, 2]
    _, _, bags = contiguous_bags(sizes)
    n = len(bags)
    # link the bags in a chain through rows 1-2, 2-3, 4-5
    rows, cols = [1, 2, 4], [2, 3, 5]
    s = np.array([0.3, 0.9, 0.5])
    S = sp.csr_matrix((np.r_[s, s], (rows + cols, cols + rows)), shape=(n, n))
    counts = np.array([1, 1, 0, 2])
    for bag_factor in ("exact", "pairwise"):
        lab = exact_fit(S, bags, counts, metric="precomputed", similarity_weight=2.0, bag_weight=0.8,
                        bag_factor=bag_factor)
        want = brute_marginals(normalized(S), bags, counts, 2.0, 0.8)
        np.testing.assert_allclose(lab.marginals_, want, rtol=0, atol=1e-9)


# ---------------------------------------------------------- loopy graphs


def reference_bp(graph, bags, k, similarity_weight, bag_weight, bag_factor, n_iter, damping):
    """The same loopy BP written densely in numpy from the spec: synchronous
    updates of log-odds messages with damping; pairwise: one factor per pair
    (an in-bag similarity edge adds its coupling to the pair's)."""
    n = len(bags)
    S = sp.csr_matrix(graph).toarray()
    J = 2 * similarity_weight * S
    h = -similarity_weight * S.sum(1)
    E = S > 0
    if bag_factor == "pairwise":
        same = (bags[:, None] == bags[None, :]) & ~np.eye(n, dtype=bool)
        J = J + np.where(same, -2 * bag_weight, 0.0)
        h = h - bag_weight * (1 - 2 * np.asarray(k, dtype=float)[bags])
        E = E | same
    M = np.zeros((n, n))  # M[i, j]: the message into i from j
    f = np.zeros(n)  # exact: the bag factor's message into i
    for _ in range(n_iter):
        incoming = h + (M * E).sum(1)
        H = (incoming + f)[None, :] - M.T  # H[i, j]: cavity of j without the factor (i, j)
        new = np.where(E, np.logaddexp(0, J + H) - np.logaddexp(0, H), 0.0)
        new_f = f.copy()
        if bag_factor == "exact":
            for b in range(len(k)):
                rows = np.flatnonzero(bags == b)
                new_f[rows] = brute_bag_messages(incoming[rows], k[b], bag_weight)
        M = damping * M + (1 - damping) * new
        f = damping * f + (1 - damping) * new_f
    return 1 / (1 + np.exp(-(h + (M * E).sum(1) + f)))


@pytest.mark.parametrize("bag_factor", ["exact", "pairwise"])
@pytest.mark.parametrize("weights", [(1.0, 1.0), (10.0, 10.0)])
def test_loopy_bp_matches_numpy_reference(bag_factor, weights):
    """On loopy graphs BP is approximate, but the kernel must run exactly the
    specified iteration: compare with a dense numpy implementation."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 3))
    bags = rng.integers(0, 4, 30)
    k = np.array([rng.integers(0, np.sum(bags == b) + 1) for b in range(4)])
    ls, lb = weights
    lab = BeliefPropagationLabeler(n_neighbors=3, metric="euclidean", bag_factor=bag_factor, similarity_weight=ls,
                                   bag_weight=lb, max_iter=40, tol=0, damping=0.5).fit(X, bags=bags, bag_counts=k)
    ref = reference_bp(lab.graph_, bags, k, ls, lb, bag_factor, 40, 0.5)
    np.testing.assert_allclose(lab.marginals_, ref, rtol=0, atol=1e-10)


def loopy_errors(bag_factor, similarity_weight, bag_weight, reps=4):
    rng = np.random.default_rng(5)
    errors = []
    for _ in range(reps):
        n = 13
        X = rng.normal(size=(n, 2))
        bags = rng.integers(0, 3, n)
        bags = np.searchsorted(np.unique(bags), bags)
        counts = np.array([rng.integers(0, np.sum(bags == b) + 1) for b in range(bags.max() + 1)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lab = BeliefPropagationLabeler(n_neighbors=2, metric="euclidean", bag_factor=bag_factor,
                                           similarity_weight=similarity_weight, bag_weight=bag_weight,
                                           max_iter=1000, tol=1e-10).fit(X, bags=bags, bag_counts=counts)
        want = brute_marginals(lab.graph_, bags, counts, similarity_weight, bag_weight)
        errors.append(np.abs(lab.marginals_ - want).max())
    return np.array(errors)


def test_loopy_graphs_error_against_brute_force(capsys):
    """Loopy BP is approximate: report the error of both bag factors against
    enumeration. With weak couplings it must be small for both; with bags alone
    the exact factor is exact while the pairwise cliques are loopy."""
    lines = []
    for ls, lb in [(0.5, 0.3), (1.0, 1.0), (10.0, 10.0)]:
        e_exact = loopy_errors("exact", ls, lb)
        e_pair = loopy_errors("pairwise", ls, lb)
        lines.append(f"kNN + bags, lambda_s={ls:4} lambda_b={lb:4}: max |error| exact {e_exact.max():.3g} "
                     f"(median {np.median(e_exact):.3g}), pairwise {e_pair.max():.3g} "
                     f"(median {np.median(e_pair):.3g})")
        if ls <= 1.0 and lb <= 1.0:
            assert e_exact.max() < 0.1 and e_pair.max() < 0.1
    rng = np.random.default_rng(9)
    sizes = [4, 5, 6]
    _, _, bags = contiguous_bags(sizes)
    counts = np.array([1, 4, 2])
    X = rng.normal(size=(15, 2))
    for lb in (0.5, 10.0):
        want = brute_marginals(sp.csr_matrix((15, 15)), bags, counts, 0.0, lb)
        errs = {}
        for bag_factor in ("exact", "pairwise"):
            lab = BeliefPropagationLabeler(n_neighbors=0, bag_factor=bag_factor, bag_weight=lb, max_iter=1000,
                                           tol=1e-12).fit(X, bags=bags, bag_counts=counts)
            errs[bag_factor] = np.abs(lab.marginals_ - want).max()
        lines.append(f"bags of 4-6 rows alone, lambda_b={lb:4}: max |error| exact {errs['exact']:.3g}, "
                     f"pairwise {errs['pairwise']:.3g}")
        assert errs["exact"] < 1e-9
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# ------------------------------------------------------------------ quality


def test_quality_beats_bag_proportion_baseline():
    """Data where neighbours share labels (4 latent factors seen through 20
    features): BP's marginals beat the bag proportions."""
    X, y, bags = make_llp(2500, seed=0)
    counts = np.bincount(bags, weights=y).astype(int)
    sizes = np.bincount(bags)
    assert np.ptp(counts / sizes) > 0.5  # the proportions do vary
    lab = BeliefPropagationLabeler().fit(X, bags=bags, bag_counts=counts)
    auc_bp = roc_auc_score(y, lab.marginals_)
    auc_base = roc_auc_score(y, (counts / sizes)[bags])
    print(f"AUC marginals {auc_bp:.4f}, bag-proportion baseline {auc_base:.4f}")
    assert lab.converged_
    assert auc_bp > auc_base + 0.05
    assert (lab.labels_ == y).mean() > 0.8


def test_cosine_graph_matches_its_definition():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 6)) * [1e-3, 1, 10, 1e3, 1, 5] + 0.5
    lab = BeliefPropagationLabeler(n_neighbors=4, max_iter=1).fit(X, bags=np.zeros(300), bag_counts=[150])
    G = lab.graph_
    np.testing.assert_allclose(G.toarray(), reference_knn_graph(X, 4, "cosine"), rtol=1e-12, atol=0)
    assert abs(G - G.T).nnz == 0 and (G.diagonal() == 0).all()
    np.testing.assert_allclose(G.sum() / 300, 1.0)  # mean weighted degree


def test_graph_does_not_depend_on_units():
    """Each feature rescaled by its own factor: the same graph, the same marginals."""
    X, y, bags = make_llp(600, seed=13)
    counts = np.bincount(bags, weights=y).astype(int)
    a = BeliefPropagationLabeler(max_iter=30).fit(X, bags=bags, bag_counts=counts)
    scales = 10.0 ** np.random.default_rng(0).uniform(-6, 6, X.shape[1])
    b = BeliefPropagationLabeler(max_iter=30).fit((X + 5.0) * scales, bags=bags, bag_counts=counts)
    np.testing.assert_allclose(b.graph_.toarray(), a.graph_.toarray(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.marginals_, a.marginals_, rtol=0, atol=1e-8)


# --------------------------------------------------- determinism, threads


@pytest.mark.parametrize("bag_factor", ["exact", "pairwise"])
def test_same_result_for_any_thread_count(bag_factor):
    # bags of 1000 rows: enough work per sweep (~4M multiply-adds) for 4 threads
    X, y, bags = make_llp(4000, bag_size=1000, seed=1)
    counts = np.bincount(bags, weights=y).astype(int)
    results = []
    for n_threads in (1, 2, 4):
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            lab = BeliefPropagationLabeler(bag_factor=bag_factor, bag_weight=10.0, max_iter=6).fit(
                X, bags=bags, bag_counts=counts)
        results.append(lab.marginals_)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_kernel_thread_count_argument_is_bitwise_neutral():
    """An explicit thread count is used as given, even for a small problem."""
    X, y, bags = make_llp(1500, bag_size=300, seed=2)
    counts = np.bincount(bags, weights=y).astype(float)
    lab = BeliefPropagationLabeler(max_iter=0).fit(X, bags=bags, bag_counts=counts)
    G = lab.graph_
    offsets = np.concatenate([[0], np.cumsum(np.bincount(bags))]).astype(np.int64)
    members = np.argsort(bags, kind="stable").astype(np.int64)
    field = np.random.default_rng(0).normal(size=len(bags))
    for bag_factor in ("exact", "pairwise"):
        outs = [core.bp_run(G.indptr.astype(np.int64), G.indices.astype(np.int64), G.data, offsets, members,
                            counts, 10.0, 10.0, bag_factor, 10, 0.5, 0.0, nt, field=field)["marginals"]
                for nt in (1, 2, 3, 7)]
        for o in outs[1:]:
            np.testing.assert_array_equal(o, outs[0])


# ------------------------------------------------------------- behaviour


def test_fitted_attributes_and_fit_predict():
    X, y, bags = make_llp(600, seed=3)
    counts = np.bincount(bags, weights=y).astype(int)
    lab = BeliefPropagationLabeler(threshold=0.3, max_iter=200, tol=1e-6)
    labels = lab.fit_predict(X, bags=bags, bag_counts=counts)
    np.testing.assert_array_equal(labels, lab.labels_)
    assert lab.labels_.dtype == np.int64
    np.testing.assert_array_equal(lab.labels_, (lab.marginals_ >= 0.3).astype(int))
    assert lab.marginals_.shape == (600,) and np.all((lab.marginals_ >= 0) & (lab.marginals_ <= 1))
    assert isinstance(lab.n_iter_, int) and 1 <= lab.n_iter_ <= 200
    assert isinstance(lab.converged_, bool)
    assert sp.issparse(lab.graph_) and lab.graph_.shape == (600, 600)
    assert lab.n_features_in_ == X.shape[1]


def test_zero_sweeps_and_no_graph():
    X, y, bags = make_llp(200, seed=7)
    counts = np.bincount(bags, weights=y).astype(int)
    lab = BeliefPropagationLabeler(max_iter=0).fit(X, bags=bags, bag_counts=counts)
    h = -lab.similarity_weight * np.asarray(lab.graph_.sum(axis=1)).ravel()
    np.testing.assert_allclose(lab.marginals_, 1 / (1 + np.exp(-h)))
    assert lab.n_iter_ == 0 and not lab.converged_
    lab = BeliefPropagationLabeler(n_neighbors=0).fit(X, bags=bags, bag_counts=counts)
    assert lab.graph_.nnz == 0 and lab.converged_
    np.testing.assert_allclose(lab.marginals_, (counts / np.bincount(bags))[bags], rtol=0, atol=1e-6)  # tol


def test_fields_on_trees_are_exact():
    """Per-row fields (prior log-odds): exact marginals on bag factors alone and
    on one-row bags linked by a chain."""
    rng = np.random.default_rng(14)
    n = 12
    field = rng.normal(scale=2.0, size=n)
    no_edges = (np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    offsets, members, bags = contiguous_bags([3, 4, 2, 3])
    counts = np.array([1.0, 2.0, 0.0, 3.0])
    for bag_weight in (0.7, np.inf):
        out = core.bp_run(*no_edges, offsets, members, counts, 0.0, bag_weight, "exact", 50, 0.0, 1e-14, field=field)
        want = brute_marginals(sp.csr_matrix((n, n)), bags, counts, 0.0, bag_weight, field=field)
        np.testing.assert_allclose(out["marginals"], want, rtol=0, atol=1e-12)
    s = rng.uniform(0.2, 1.0, n - 1)
    chain = sp.diags([s, s], [1, -1], format="csr")
    chain.sort_indices()  # as bp_run takes them (older SciPy leaves diags unsorted)
    k = rng.integers(0, 2, n).astype(float)
    out = core.bp_run(chain.indptr.astype(np.int64), chain.indices.astype(np.int64), chain.data,
                      np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64), k, 2.0, 1.5, "exact", 500,
                      0.0, 1e-14, field=field)
    want = brute_marginals(chain, np.arange(n), k, 2.0, 1.5, field=field)
    np.testing.assert_allclose(out["marginals"], want, rtol=0, atol=1e-12)


def test_hard_and_huge_bag_weights_never_give_nan():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 3))
    bags = np.repeat(np.arange(6), 20)
    counts = np.array([0, 20, 1, 19, 10, 7])  # empty and full bags included
    for bag_weight in (np.inf, 1e100, 1e8):
        lab = BeliefPropagationLabeler(bag_weight=bag_weight, max_iter=50, tol=0).fit(X, bags=bags, bag_counts=counts)
        assert np.isfinite(lab.marginals_).all()
        got = np.bincount(bags, weights=lab.labels_)
        np.testing.assert_array_equal(got[:2], [0, 20])  # forced bags
        if np.isinf(bag_weight):
            np.testing.assert_array_equal(lab.marginals_[bags == 0], 0.0)
            np.testing.assert_array_equal(lab.marginals_[bags == 1], 1.0)


@pytest.mark.parametrize("scale, weight", [(1e307, 10.0), (1e308, 1.0), (1e250, 1e100), (1e-300, 1e100)])
def test_extreme_similarities_and_weights_give_finite_marginals(scale, weight):
    """Finite input, finite output: precomputed similarities of any scale are
    normalised, so no overflow (the old kernel gave all-NaN marginals)."""
    rng = np.random.default_rng(15)
    n = 40
    A = sp.random(n, n, density=0.2, random_state=0, format="csr")
    S = ((A + A.T) * 0.5).toarray() * scale
    bags = np.repeat(np.arange(4), 10)
    counts = rng.integers(0, 11, 4)
    for bag_factor in ("exact", "pairwise"):
        lab = BeliefPropagationLabeler(metric="precomputed", similarity_weight=weight, bag_weight=10.0,
                                       bag_factor=bag_factor, max_iter=30).fit(S, bags=bags, bag_counts=counts)
        assert np.isfinite(lab.marginals_).all() and np.isfinite(lab.graph_.data).all()
        off = S - np.diag(np.diag(S))  # the diagonal is ignored
        np.testing.assert_allclose(lab.graph_.toarray(), normalized(off / off.max()).toarray(), rtol=1e-12)
    X = rng.normal(size=(n, 3)) * 1e300  # features near the largest double
    lab = BeliefPropagationLabeler(n_neighbors=5, similarity_weight=weight, max_iter=30).fit(
        X, bags=bags, bag_counts=counts)
    assert np.isfinite(lab.marginals_).all()


def test_convergence_warning():
    X, y, bags = make_llp(300, seed=9)
    counts = np.bincount(bags, weights=y).astype(int)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        BeliefPropagationLabeler(max_iter=2, tol=1e-12).fit(X, bags=bags, bag_counts=counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        BeliefPropagationLabeler(max_iter=2, tol=0).fit(X, bags=bags, bag_counts=counts)  # tol=0: no test


# ------------------------------------------------------------------ kernel


def test_kernel_log_partition_matches_brute_force():
    rng = np.random.default_rng(17)
    for B in (1, 3, 7, 12):
        offsets, members, _ = contiguous_bags([B])
        for bag_weight in (0.0, 0.5, 10.0, 1e6, np.inf):
            for scale in (0.5, 5.0, 40.0):
                cavity = rng.normal(scale=scale, size=B)
                for k in {0.0, 0.4 * B, float(B), min(1.5, B)}:
                    lz = np.empty(1)
                    core.bp_exact_bag_messages(cavity, offsets, members, np.array([k]), bag_weight, log_partition=lz)
                    Y = configurations(B)
                    lq = Y @ cavity - np.logaddexp(0.0, cavity).sum()
                    with np.errstate(divide="ignore"):
                        want = logsumexp(lq + log_psi(Y.sum(1), k, bag_weight))
                    np.testing.assert_allclose(lz[0], want, rtol=1e-11, atol=1e-11, err_msg=f"B={B} k={k}")


def test_kernel_honours_ctrl_c_on_a_huge_bag():
    """One bag of 400 000 rows: a sweep takes seconds; KeyboardInterrupt within 1 s."""
    n = 400_000
    field = np.random.default_rng(18).normal(size=n)
    args = (np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0), np.array([0, n], np.int64),
            np.arange(n, dtype=np.int64), np.array([0.3 * n]), 1.0, 10.0, "exact", 100, 0.5, 0.0)
    assert interrupt_latency(lambda: core.bp_run(*args, field=field)) < 1.0
    assert interrupt_latency(lambda: core.bp_exact_bag_messages(field, *args[3:6], np.inf)) < 1.0
    out = core.bp_run(np.zeros(4, np.int64), np.zeros(0, np.int64), np.zeros(0), np.array([0, 3], np.int64),
                      np.arange(3, dtype=np.int64), np.array([1.0]), 1.0, np.inf, "exact", 5, 0.0, 0.0)
    np.testing.assert_allclose(out["marginals"], 1 / 3)  # usable afterwards


def test_kernel_plans_pairwise_memory_before_allocating():
    """Pairwise factors of bags of 5000 rows on more rows than memory can hold
    messages for: MemoryError up front, nothing allocated."""
    mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    B = 5000
    n_bags = int(mem // (8 * B * B)) + 1
    n = n_bags * B
    offsets = np.arange(0, n + 1, B, dtype=np.int64)
    with pytest.raises(MemoryError, match="pairwise"):
        core.bp_run(np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0), offsets,
                    np.arange(n, dtype=np.int64), np.full(n_bags, 10.0), 1.0, 1.0, "pairwise", 10, 0.5, 0.0)


def test_kernel_checks_its_inputs():
    ip = np.array([0, 1, 1], dtype=np.int64)
    ix = np.array([1], dtype=np.int64)
    s = np.array([0.5])
    off = np.array([0, 2], dtype=np.int64)
    mem = np.array([0, 1], dtype=np.int64)
    k = np.array([1.0])
    args = (10.0, 10.0, "exact", 5, 0.5, 0.0)
    with pytest.raises(ValueError, match="symmetric"):
        core.bp_run(ip, ix, s, off, mem, k, *args)
    ip2 = np.array([0, 1, 2], dtype=np.int64)
    ix2 = np.array([1, 0], dtype=np.int64)
    s2 = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="more than one bag"):
        core.bp_run(ip2, ix2, s2, off, np.array([0, 0], dtype=np.int64), k, *args)
    with pytest.raises(ValueError, match="count"):
        core.bp_run(ip2, ix2, s2, off, mem, np.array([3.0]), *args)
    with pytest.raises(ValueError, match="int64"):
        core.bp_run(ip2.astype(np.int32), ix2, s2, off, mem, k, *args)
    with pytest.raises(ValueError, match="bag_factor"):
        core.bp_run(ip2, ix2, s2, off, mem, k, 10.0, 10.0, "cliques", 5, 0.5, 0.0)
    with pytest.raises(ValueError, match="damping"):
        core.bp_run(ip2, ix2, s2, off, mem, k, 10.0, 10.0, "exact", 5, 1.0, 0.0)
    with pytest.raises(ValueError, match="max_iter"):
        core.bp_run(ip2, ix2, s2, off, mem, k, 10.0, 10.0, "exact", core.BP_MAX_ITER + 1, 0.5, 0.0)
    with pytest.raises(ValueError, match="rescale the similarities"):
        core.bp_run(ip2, ix2, np.array([1e150, 1e150]), off, mem, k, 1e100, 10.0, "exact", 5, 0.5, 0.0)
    with pytest.raises(ValueError, match="field"):
        core.bp_run(ip2, ix2, s2, off, mem, k, *args, field=np.array([np.inf, 0.0]))
    with pytest.raises(ValueError, match="field"):
        core.bp_run(ip2, ix2, s2, off, mem, k, *args, field=np.zeros(3))
    with pytest.raises(ValueError, match="log_partition"):
        core.bp_exact_bag_messages(np.zeros(2), off, mem, k, 1.0, log_partition=np.zeros(2))
    out = core.bp_run(ip2, ix2, s2, off, mem, k, *args)
    assert np.isfinite(out["marginals"]).all()
