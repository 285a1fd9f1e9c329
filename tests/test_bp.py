"""BeliefPropagationLabeler and LLPClassifier: exactness against brute-force
enumeration, quality, determinism, scikit-learn conventions and bad input."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from threadpoolctl import threadpool_limits

from emfast import BeliefPropagationLabeler, LLPClassifier
from emfast._native import core

CLIP = 1e100  # csrc/bp.hpp: kInfLogOdds

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


def brute_marginals(graph, bags, k, similarity_weight, bag_weight):
    """P(y_i = 1) by enumerating all 2^n labelings (n <= 16) of the model

    log p(y) = -bag_weight sum_b (sum_{i in b} y_i - k_b)^2 - similarity_weight sum_{i<j} s_ij (y_i - y_j)^2
    """
    n = len(bags)
    assert n <= 16
    Y = configurations(n)
    lp = np.zeros(len(Y))
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


def contiguous_bags(sizes):
    sizes = np.asarray(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return offsets, np.arange(offsets[-1], dtype=np.int64), np.repeat(np.arange(len(sizes)), sizes)


def exact_fit(X, bags, counts, bag_proportions=None, **params):
    """A fit run to convergence: tree-shaped graphs then give exact marginals."""
    defaults = dict(damping=0.0, max_iter=500, tol=1e-14)
    defaults.update(params)
    return BeliefPropagationLabeler(**defaults).fit(X, bags, counts, bag_proportions=bag_proportions)


def make_llp(n, n_features=20, bag_size=50, *, seed=0, sharpness=10.0, group_noise=1.0):
    """Features from 4 latent factors, labels from a logistic model on them, and
    bags formed by sorting the rows on a noisy copy of the label score (so the
    bags' proportions vary)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 4))
    A = rng.standard_normal((4, n_features)) / np.sqrt(n_features)
    X = Z @ A + 0.02 * rng.standard_normal((n, n_features))
    w = rng.standard_normal(4)
    score = Z @ w / np.linalg.norm(w)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-sharpness * score))).astype(np.int64)
    bags = np.empty(n, dtype=np.int64)
    bags[np.argsort(score + group_noise * rng.standard_normal(n))] = np.arange(n) // bag_size
    return X, y, bags


# ------------------------------------------------- exact bag factor messages


@pytest.mark.parametrize("B", [1, 2, 3, 5, 9, 16])
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
    lab = exact_fit(X, bags, None, bag_proportions=props, n_neighbors=0, bag_weight=1.3)
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
    gaps = np.diff(x)
    np.testing.assert_allclose(np.diag(G, 1), np.exp(-gaps), rtol=1e-14)
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
    want = brute_marginals(S, bags, counts, 3.0, 1.5)
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
        want = brute_marginals(S, bags, counts, 5.0, bag_weight)
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
        want = brute_marginals(S, bags, counts, 2.0, 0.8)
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
                                   bag_weight=lb, max_iter=40, tol=0).fit(X, bags, k)
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
                                           max_iter=1000, tol=1e-10).fit(X, bags, counts)
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
                                           tol=1e-12).fit(X, bags, counts)
            errs[bag_factor] = np.abs(lab.marginals_ - want).max()
        lines.append(f"bags of 4-6 rows alone, lambda_b={lb:4}: max |error| exact {errs['exact']:.3g}, "
                     f"pairwise {errs['pairwise']:.3g}")
        assert errs["exact"] < 1e-9
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# ------------------------------------------------------------------ quality


def test_quality_beats_bag_proportion_baseline():
    X, y, bags = make_llp(2500, seed=0)
    n = 2000
    Xtr, ytr, btr = X[:n], y[:n], bags[:n]
    counts = np.bincount(btr, weights=ytr).astype(int)
    sizes = np.bincount(btr)
    assert np.ptp(counts / sizes) > 0.5  # the proportions do vary
    lab = BeliefPropagationLabeler(random_state=0).fit(Xtr, btr, counts)
    auc_bp = roc_auc_score(ytr, lab.marginals_)
    auc_base = roc_auc_score(ytr, (counts / sizes)[btr])
    clf = LLPClassifier(LogisticRegression()).fit(Xtr, btr, counts)
    auc_clf = roc_auc_score(y[n:], clf.predict_proba(X[n:])[:, 1])
    print(f"AUC marginals {auc_bp:.4f}, bag-proportion baseline {auc_base:.4f}, "
          f"LLPClassifier held-out {auc_clf:.4f}")
    assert auc_bp > auc_base + 0.05
    assert auc_clf > auc_base + 0.05
    assert (lab.labels_ == y[:n]).mean() > 0.8


def test_cosine_graph_matches_scikit_learn_cosine_neighbours():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 6)) + 0.5
    lab = BeliefPropagationLabeler(n_neighbors=4, max_iter=1).fit(X, np.zeros(300), [150])
    A = NearestNeighbors(n_neighbors=4, metric="cosine", algorithm="brute").fit(X).kneighbors_graph()
    A = ((A + A.T) > 0).astype(float)
    A.setdiag(0)
    A.eliminate_zeros()
    G = lab.graph_
    assert (abs((G > 0).astype(float) - A)).nnz == 0
    i, j = G.nonzero()
    np.testing.assert_allclose(G.data, np.exp(-np.linalg.norm(X[G.tocoo().row] - X[G.tocoo().col], axis=1)))
    assert (i != j).all()
    assert abs(G - G.T).nnz == 0


# --------------------------------------------------- determinism, threads


@pytest.mark.parametrize("bag_factor", ["exact", "pairwise"])
def test_same_result_for_any_thread_count(bag_factor):
    # bags of 1000 rows: enough work per sweep (~4M multiply-adds) for 4 threads
    X, y, bags = make_llp(4000, bag_size=1000, seed=1)
    counts = np.bincount(bags, weights=y).astype(int)
    results = []
    for n_threads in (1, 2, 4):
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            lab = BeliefPropagationLabeler(bag_factor=bag_factor, max_iter=6).fit(X, bags, counts)
        results.append(lab.marginals_)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_kernel_thread_count_argument_is_bitwise_neutral():
    """An explicit thread count is used as given, even for a small problem."""
    X, y, bags = make_llp(1500, bag_size=300, seed=2)
    counts = np.bincount(bags, weights=y).astype(float)
    lab = BeliefPropagationLabeler(max_iter=0).fit(X, bags, counts)
    G = lab.graph_
    offsets = np.concatenate([[0], np.cumsum(np.bincount(bags))]).astype(np.int64)
    members = np.argsort(bags, kind="stable").astype(np.int64)
    outs = [
        core.bp_run(G.indptr.astype(np.int64), G.indices.astype(np.int64), G.data, offsets, members, counts,
                    10.0, 10.0, bag_factor, 10, 0.5, 0.0, nt)["marginals"]
        for bag_factor in ("exact", "pairwise")
        for nt in (1, 2, 3, 7)
    ]
    outs = [outs[:4], outs[4:]]
    for per_factor in outs:
        for o in per_factor[1:]:
            np.testing.assert_array_equal(o, per_factor[0])


# ------------------------------------------------------ API and conventions


def test_fitted_attributes_and_fit_predict():
    X, y, bags = make_llp(600, seed=3)
    counts = np.bincount(bags, weights=y).astype(int)
    lab = BeliefPropagationLabeler(threshold=0.3, max_iter=200, tol=1e-6)
    labels = lab.fit_predict(X, bags, counts)
    np.testing.assert_array_equal(labels, lab.labels_)
    assert lab.labels_.dtype == np.int64
    np.testing.assert_array_equal(lab.labels_, (lab.marginals_ >= 0.3).astype(int))
    assert lab.marginals_.shape == (600,) and np.all((lab.marginals_ >= 0) & (lab.marginals_ <= 1))
    assert isinstance(lab.n_iter_, int) and 1 <= lab.n_iter_ <= 200
    assert isinstance(lab.converged_, bool)
    assert sp.issparse(lab.graph_) and lab.graph_.shape == (600, 600)
    assert lab.n_features_in_ == X.shape[1]


def test_counts_as_mapping_array_or_proportions_agree():
    X, y, bags_int = make_llp(400, bag_size=40, seed=4)
    names = np.array([f"bag-{b:02d}" for b in range(bags_int.max() + 1)])
    bags = names[bags_int]  # string ids
    counts = np.bincount(bags_int, weights=y).astype(int)
    sizes = np.bincount(bags_int)
    a = BeliefPropagationLabeler(max_iter=20).fit(X, bags, counts)
    mapping = {name: int(c) for name, c in zip(names[::-1], counts[::-1])}  # any order
    b = BeliefPropagationLabeler(max_iter=20).fit(X, list(bags), mapping)
    np.testing.assert_array_equal(a.marginals_, b.marginals_)
    c = BeliefPropagationLabeler(max_iter=20).fit(X, bags, bag_proportions=counts / sizes)
    np.testing.assert_allclose(a.marginals_, c.marginals_, rtol=0, atol=1e-10)


def test_inputs_are_not_modified():
    X, y, bags = make_llp(300, bag_size=30, seed=5)
    counts = {int(b): int(c) for b, c in enumerate(np.bincount(bags, weights=y))}
    X0, bags0, counts0 = X.copy(), bags.copy(), dict(counts)
    BeliefPropagationLabeler(max_iter=5).fit(X, bags, counts)
    S = sp.random(50, 50, density=0.1, random_state=0)
    S = (S + S.T).tocsr()
    S.setdiag(1.0)
    S0 = S.copy()
    BeliefPropagationLabeler(metric="precomputed", max_iter=5).fit(S, np.zeros(50), [10])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(bags, bags0)
    assert counts == counts0
    assert abs(S - S0).nnz == 0


def test_clone_and_pickle():
    X, y, bags = make_llp(400, seed=6)
    counts = np.bincount(bags, weights=y).astype(int)
    lab = BeliefPropagationLabeler(3, similarity_weight=2.0, bag_weight=np.inf, damping=0.3, random_state=1)
    c = clone(lab)
    assert c.get_params() == lab.get_params()
    lab.fit(X, bags, counts)
    assert not hasattr(clone(lab), "marginals_")
    back = pickle.loads(pickle.dumps(lab))
    np.testing.assert_array_equal(back.marginals_, lab.marginals_)
    assert abs(back.graph_ - lab.graph_).nnz == 0
    refit = back.fit(X, bags, counts)
    np.testing.assert_array_equal(refit.marginals_, lab.marginals_)


def test_zero_sweeps_and_no_graph():
    X, y, bags = make_llp(200, seed=7)
    counts = np.bincount(bags, weights=y).astype(int)
    lab = BeliefPropagationLabeler(max_iter=0).fit(X, bags, counts)
    h = -10.0 * np.asarray(lab.graph_.sum(axis=1)).ravel()
    np.testing.assert_allclose(lab.marginals_, 1 / (1 + np.exp(-h)))
    assert lab.n_iter_ == 0 and not lab.converged_
    lab = BeliefPropagationLabeler(n_neighbors=0).fit(X, bags, counts)
    assert lab.graph_.nnz == 0 and lab.converged_


def test_hard_and_huge_bag_weights_never_give_nan():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 3))
    bags = np.repeat(np.arange(6), 20)
    counts = np.array([0, 20, 1, 19, 10, 7])  # empty and full bags included
    for bag_weight in (np.inf, 1e100, 1e8):
        lab = BeliefPropagationLabeler(bag_weight=bag_weight, max_iter=50, tol=0).fit(X, bags, counts)
        assert np.isfinite(lab.marginals_).all()
        got = np.bincount(bags, weights=lab.labels_)
        np.testing.assert_array_equal(got[:2], [0, 20])  # forced bags
        if np.isinf(bag_weight):
            np.testing.assert_array_equal(lab.marginals_[bags == 0], 0.0)
            np.testing.assert_array_equal(lab.marginals_[bags == 1], 1.0)


def test_convergence_warning():
    X, y, bags = make_llp(300, seed=9)
    counts = np.bincount(bags, weights=y).astype(int)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        BeliefPropagationLabeler(max_iter=2, tol=1e-12).fit(X, bags, counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        BeliefPropagationLabeler(max_iter=2, tol=0).fit(X, bags, counts)  # tol=0: no test, no warning


# ------------------------------------------------------------- classifier


def test_llp_classifier_with_logistic_regression():
    X, y, bags = make_llp(1200, seed=10)
    counts = np.bincount(bags, weights=y).astype(int)
    clf = LLPClassifier(LogisticRegression(), labeler=BeliefPropagationLabeler(max_iter=50))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, bags, counts)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    proba = clf.predict_proba(X)
    assert proba.shape == (1200, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    assert clf.decision_function(X).shape == (1200,)
    assert clf.n_features_in_ == X.shape[1]
    # the estimator was trained on the pseudo-labels weighted by confidence
    p = clf.labeler_.marginals_
    ref = LogisticRegression().fit(X, clf.labeler_.labels_, sample_weight=np.abs(2 * p - 1))
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_)
    assert clf.score(X, y) > 0.8
    # meta-estimator conventions
    assert clone(clf).get_params()["estimator"].get_params() == LogisticRegression().get_params()
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), proba)


def test_llp_classifier_without_sample_weight_and_proportions():
    X, y, bags = make_llp(500, seed=11)
    sizes = np.bincount(bags)
    props = np.bincount(bags, weights=y) / sizes
    clf = LLPClassifier(KNeighborsClassifier(5), labeler=BeliefPropagationLabeler(tol=0, max_iter=20))
    clf.fit(X, bags, bag_proportions=props)
    assert clf.predict(X).shape == (500,)
    assert not hasattr(LLPClassifier(KNeighborsClassifier()), "decision_function")


def test_llp_classifier_refuses_precomputed_labeler():
    S = sp.eye(10, format="csr")
    with pytest.raises(ValueError, match="precomputed"):
        LLPClassifier(LogisticRegression(), labeler=BeliefPropagationLabeler(metric="precomputed")).fit(
            S, np.zeros(10), [5]
        )


# ---------------------------------------------------------------- bad input


@pytest.fixture
def small():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 3))
    bags = np.repeat(["a", "b", "c"], 10)
    return X, bags


@pytest.mark.parametrize(
    "counts, exc, match",
    [
        ([3, 11, 2], ValueError, r"larger than the bag.*'b'.*11.*10 rows"),
        ([3, -1, 2], ValueError, r"non-negative.*'b'"),
        ({"a": 3, "c": 2}, ValueError, r"bag id 'b' has no entry in bag_counts"),
        ([3, 2], ValueError, r"one value per bag.*length 3"),
        ([3, 2.5, 2], ValueError, r"whole numbers.*'b'"),
        ([3, np.nan, 2], ValueError, r"NaN"),
        (["3", "2", "1"], TypeError, r"numeric"),
        ({"a": 1, "b": None, "c": 2}, TypeError, r"numeric"),
    ],
)
def test_bad_counts(small, counts, exc, match):
    X, bags = small
    with pytest.raises(exc, match=match):
        BeliefPropagationLabeler().fit(X, bags, counts)


def test_bad_proportions_and_missing_counts(small):
    X, bags = small
    with pytest.raises(ValueError, match=r"bag_proportions must be in \[0, 1\].*'c'"):
        BeliefPropagationLabeler().fit(X, bags, bag_proportions=[0.1, 0.2, 1.5])
    with pytest.raises(ValueError, match="not both"):
        BeliefPropagationLabeler().fit(X, bags, [1, 2, 3], bag_proportions=[0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="bag_counts"):
        BeliefPropagationLabeler().fit(X, bags)


def test_bad_X_and_bags(small):
    X, bags = small
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BeliefPropagationLabeler().fit(Xn, bags, [1, 2, 3])
    with pytest.raises(ValueError, match="one bag id per row"):
        BeliefPropagationLabeler().fit(X, bags[:-1], [1, 2, 3])
    with pytest.raises(ValueError, match="bags contains NaN"):
        BeliefPropagationLabeler().fit(X, np.r_[np.nan, np.zeros(29)], [1, 2])
    with pytest.raises(TypeError, match="comparable"):
        BeliefPropagationLabeler().fit(X, np.array([None, "a", 1] * 10, dtype=object), [1, 2, 3])
    with pytest.raises(TypeError):
        BeliefPropagationLabeler().fit(sp.csr_matrix(X), bags, [1, 2, 3])  # features must be dense


def test_bad_parameters(small):
    X, bags = small
    for params in ({"n_neighbors": -1}, {"damping": 1.0}, {"bag_factor": "clique"}, {"threshold": 2},
                   {"similarity_weight": np.inf}, {"bag_weight": -1.0}, {"tol": -1}):
        with pytest.raises(ValueError):
            BeliefPropagationLabeler(**params).fit(X, bags, [1, 2, 3])
    with pytest.raises(ValueError, match="bag_factor='exact'"):
        BeliefPropagationLabeler(bag_weight=np.inf, bag_factor="pairwise").fit(X, bags, [1, 2, 3])


def test_pairwise_refuses_huge_bags():
    X = np.zeros((5001, 1))
    with pytest.raises(ValueError, match=r"pairwise.*5001 rows.*bag_factor='exact'"):
        BeliefPropagationLabeler(bag_factor="pairwise", n_neighbors=0).fit(X, np.zeros(5001), [7])


def test_bad_precomputed():
    bags = np.zeros(4)
    with pytest.raises(ValueError, match="square"):
        BeliefPropagationLabeler(metric="precomputed").fit(np.ones((4, 3)), bags, [1])
    A = np.array([[0, 1, 0, 0], [0.5, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    with pytest.raises(ValueError, match="symmetric"):
        BeliefPropagationLabeler(metric="precomputed").fit(A, bags, [1])
    with pytest.raises(ValueError, match="non-negative"):
        BeliefPropagationLabeler(metric="precomputed").fit(-np.ones((4, 4)), bags, [1])


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
    out = core.bp_run(ip2, ix2, s2, off, mem, k, *args)
    assert np.isfinite(out["marginals"]).all()
