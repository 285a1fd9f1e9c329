"""Speed of learning from label proportions at the paper's scale.

    python benchmarks/llp_speed.py                 # 50 000 x 100, bags of 2048
    python benchmarks/llp_speed.py --repeats 5 --random-bags

Synthetic data, generated here (no downloads): a latent Gaussian factor model
(4 latent dimensions seen through 100 noisy features), labels from a logistic
model on the latent factors. Bags of 2048 training rows are formed by sorting on
a noisy copy of the label score (so the bags' proportions vary), or at random
with --random-bags (the paper's setting; proportions then barely vary).

Each repeat times, one after the other (so that their ratios come from the same
machine load):

- the default fit, ``LLPClassifier``'s labeler ``GaussianMixtureLabeler()`` (no
  neighbour graph): EM, whose E-step is the exact bag posterior;
- ``BeliefPropagationLabeler()`` split into its kNN graph (scikit-learn's
  exact search, on the standardised features) and the BP kernel on that graph.

Then the AUC of each labeler's marginals, of the bag-proportion baseline, and
of LLPClassifier(LogisticRegression) on held-out rows. For scale: the paper's
BP step took 1054 s on a P100 GPU on data of this size (bags of 2048, ~50k rows).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import emfast
from emfast._llp import run_bp
from emfast._llp_bags import check_bags
from emfast._llp_graph import knn_graph, standardized


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


def timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--bag-size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--held-out", type=int, default=10_000)
    ap.add_argument("--random-bags", action="store_true")
    args = ap.parse_args()

    X_all, y_all, score = make_data(args.n + args.held_out, args.d)
    X, y = X_all[: args.n], y_all[: args.n]
    X_test, y_test = X_all[args.n :], y_all[args.n :]
    bags = make_bags(score[: args.n], args.bag_size, random_bags=args.random_bags)
    proportion = (np.bincount(bags, weights=y) / np.bincount(bags))[bags]
    emfast.show_config()
    print(f"\nrows {args.n}, features {args.d}, {bags.max() + 1} bags of up to {args.bag_size} rows "
          f"({'random' if args.random_bags else 'grouped by a noisy score'})")

    em = emfast.GaussianMixtureLabeler(random_state=0)
    bp = emfast.BeliefPropagationLabeler()
    times = {"default fit (EM)": [], "BP fit": [], "  kNN graph": [], "  BP kernel": []}
    for _ in range(args.repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            times["default fit (EM)"].append(timed(lambda: em.fit(X, proportion, bags=bags))[0])
            times["BP fit"].append(timed(lambda: bp.fit(X, proportion, bags=bags))[0])
            t, graph = timed(lambda: knn_graph(standardized(X), bp.n_neighbors, bp.metric))
            times["  kNN graph"].append(t)
            bag_data = check_bags(proportion, bags, None, args.n)
            kw = {k: getattr(bp, k) for k in ("similarity_weight", "bag_weight", "bag_factor", "max_iter",
                                                "damping", "tol")}
            t, out = timed(lambda: run_bp(graph, bag_data, **kw))
            times["  BP kernel"].append(t)
            assert np.array_equal(out["marginals"], bp.marginals_)
    for name, ts in times.items():
        print(f"{name:18s}: median {np.median(ts):6.2f} s   (runs: {', '.join(f'{x:.2f}' for x in ts)})")
    ratio = np.median(np.array(times["default fit (EM)"]) / np.array(times["  kNN graph"]))
    print(f"default fit / kNN graph alone, per repeat (same load): {ratio:.2f}")
    print(f"EM: {em.n_iter_} iterations, converged {em.converged_}, feature signal {em.feature_signal_}; "
          f"BP: {bp.n_iter_} sweeps, converged {bp.converged_}")

    print(f"\nAUC of the bag-proportion baseline        : {roc_auc_score(y, proportion):.4f}")
    print(f"AUC of the EM marginals (default)          : {roc_auc_score(y, em.marginals_):.4f}")
    print(f"AUC of the BP marginals                    : {roc_auc_score(y, bp.marginals_):.4f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t, clf = timed(lambda: emfast.LLPClassifier(LogisticRegression(max_iter=1000)).fit(X, proportion, bags=bags))
    auc_clf = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])
    print(f"AUC of LLPClassifier(LogisticRegression), {args.held_out} held-out rows: {auc_clf:.4f} (fit {t:.1f} s)")


if __name__ == "__main__":
    main()
