"""Speed of emfast.BeliefPropagationLabeler at the paper's scale.

    python benchmarks/bp_speed.py                 # 50 000 x 100, bags of 2048, k = 5, 100 sweeps
    python benchmarks/bp_speed.py --repeats 5 --random-bags

Synthetic data, generated here (no downloads): a latent Gaussian factor model
(4 latent dimensions seen through 100 noisy features), labels from a logistic
model on the latent factors (the same generator as tests/test_bp.py). Bags of
2048 training rows are formed by sorting on a noisy copy of the label score (so
the bags' proportions vary), or at random with --random-bags (the paper's
setting; proportions then barely vary and the bag-proportion baseline is near
0.5).

Prints the median (and all) times of the whole fit, of the kNN graph alone and
of the BP step alone (the C++ kernel on the same graph), then the AUC of the
marginals against the true labels, of the baseline that scores each row by its
bag's proportion, and of LLPClassifier(LogisticRegression) on held-out rows.
For scale: the paper's BP step took 1054 s on a P100 GPU on data of this size
(bags of 2048, about 50k rows).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import emfast
from emfast._native import core


def make_data(n, d, *, seed=0):
    """Features, labels and the label score (what the bags are grouped on)."""
    rng = np.random.default_rng(seed)
    latent = 4
    Z = rng.standard_normal((n, latent))
    A = rng.standard_normal((latent, d)) / np.sqrt(d)
    X = Z @ A + 0.02 * rng.standard_normal((n, d))
    w = rng.standard_normal(latent)
    score = Z @ w / np.linalg.norm(w)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-10.0 * score))).astype(np.int64)
    return X, y, score


def make_bags(score, bag_size, *, random_bags=False, seed=1):
    rng = np.random.default_rng(seed)
    n = len(score)
    order = rng.permutation(n) if random_bags else np.argsort(score + rng.standard_normal(n))
    bags = np.empty(n, dtype=np.int64)
    bags[order] = np.arange(n) // bag_size
    return bags


def median(ts):
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--bag-size", type=int, default=2048)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--held-out", type=int, default=10_000)
    ap.add_argument("--random-bags", action="store_true")
    ap.add_argument("--bag-factor", default="exact")
    args = ap.parse_args()

    X_all, y_all, score = make_data(args.n + args.held_out, args.d)
    X, y = X_all[: args.n], y_all[: args.n]
    X_test, y_test = X_all[args.n :], y_all[args.n :]
    bags = make_bags(score[: args.n], args.bag_size, random_bags=args.random_bags)
    ids = np.unique(bags)
    counts = np.array([y[bags == b].sum() for b in ids])
    sizes = np.array([(bags == b).sum() for b in ids])
    emfast.show_config()
    print(
        f"\nrows {args.n}, features {args.d}, {len(ids)} bags of up to {args.bag_size} rows "
        f"({'random' if args.random_bags else 'grouped by a noisy score'}), k = {args.k}, "
        f"{args.iters} sweeps, bag_factor={args.bag_factor!r}"
    )

    # tol=0: run all sweeps, as the paper does
    lab = emfast.BeliefPropagationLabeler(
        n_neighbors=args.k, max_iter=args.iters, tol=0.0, bag_factor=args.bag_factor
    )
    fit_t, graph_t, bp_t = [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        lab.fit(X, bags, counts)
        fit_t.append(time.perf_counter() - t)

        t = time.perf_counter()
        g = lab._graph(np.asarray(X, dtype=np.float64), False)
        graph_t.append(time.perf_counter() - t)

        members = np.argsort(np.searchsorted(ids, bags), kind="stable").astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        t = time.perf_counter()
        out = core.bp_run(
            g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data, offsets, members,
            counts.astype(np.float64), lab.similarity_weight, lab.bag_weight, lab.bag_factor,
            lab.max_iter, lab.damping, lab.tol,
        )
        bp_t.append(time.perf_counter() - t)
        assert np.array_equal(out["marginals"], lab.marginals_)

    fmt = lambda ts: f"median {median(ts):7.2f} s   (runs: {', '.join(f'{x:.2f}' for x in ts)})"  # noqa: E731
    print(f"\nwhole fit        : {fmt(fit_t)}")
    print(f"  kNN graph      : {fmt(graph_t)}")
    print(f"  BP ({args.iters} sweeps): {fmt(bp_t)}")
    print(f"graph: {lab.graph_.nnz // 2} undirected edges, similarity median {np.median(lab.graph_.data):.3f}")

    auc_bp = roc_auc_score(y, lab.marginals_)
    auc_base = roc_auc_score(y, (counts / sizes)[np.searchsorted(ids, bags)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        clf = emfast.LLPClassifier(
            LogisticRegression(max_iter=1000), labeler=lab
        ).fit(X, bags, counts)
        clf_t = time.perf_counter() - t
    auc_clf = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])
    print(f"\nAUC of the marginals (training rows)         : {auc_bp:.4f}")
    print(f"AUC of the bag-proportion baseline (training) : {auc_base:.4f}")
    print(f"AUC of LLPClassifier(LogisticRegression), {args.held_out} held-out rows: {auc_clf:.4f}"
          f"   (fit {clf_t:.1f} s)")
    print(f"pseudo-label accuracy: {(lab.labels_ == y).mean():.4f}")


if __name__ == "__main__":
    main()
