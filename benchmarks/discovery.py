"""Category discovery: GaussianMixtureClassifier(n_new_classes='auto') against clustering.

    python benchmarks/discovery.py [--seeds 0 1 2] [--n-init 4]

The standard protocol of generalized category discovery: half of the classes
are known and half of their rows labelled; the other rows (the rest of the
known classes and every row of the new classes) are unlabelled. On the
unlabelled rows, predictions are matched to the true classes once (Hungarian
matching, scipy.optimize.linear_sum_assignment) and the accuracy is reported
on All of them, on those of Old (known) classes and on those of New ones.

- emfast: GaussianMixtureClassifier(unlabelled=-1, n_new_classes='auto'),
  full covariances, the number of new classes chosen by BIC among 0..10;
- k-means with the true number of classes (scikit-learn's KMeans, n_init=10);
- GaussianMixtureIC: a Gaussian mixture whose number of components BIC
  chooses (1..20, full covariances), no labels used.

Data sets: scikit-learn's digits (1797 x 64) through a PCA to 20 dimensions
fitted without labels (a full covariance in 64 dimensions, with ~180 rows
per class, cannot be estimated); and make_classification with 10 classes
(3000 x 10), both with classes 0-4 known, 5-9 new.
"""

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment


def all_old_new(y, pred, known):
    """Clustering accuracy on All, Old and New rows, with one Hungarian matching."""
    _, pred = np.unique(pred, return_inverse=True)
    counts = np.zeros((pred.max() + 1, y.max() + 1))
    np.add.at(counts, (pred, y), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = np.full(pred.max() + 1, -1)
    mapping[rows] = cols
    right = mapping[pred] == y
    old = np.isin(y, known)
    return right.mean(), right[old].mean(), right[~old].mean()


def datasets():
    from sklearn.datasets import load_digits, make_classification
    from sklearn.decomposition import PCA

    X, y = load_digits(return_X_y=True)
    yield "digits, PCA to 20 dimensions", PCA(20, random_state=0).fit_transform(X), y
    X, y = make_classification(n_samples=3000, n_features=10, n_informative=8, n_redundant=0, n_classes=10,
                               n_clusters_per_class=1, class_sep=2.0, random_state=0)
    yield "make_classification, 10 classes", X, y


def hide(y, known, seed):
    """Half of each known class's rows keep their label; every other row gets -1."""
    rng = np.random.RandomState(seed)
    partial = np.full_like(y, -1)
    for c in known:
        rows = np.flatnonzero(y == c)
        keep = rng.choice(rows, len(rows) // 2, replace=False)
        partial[keep] = c
    return partial


def main():
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    from emfast import GaussianMixtureClassifier, GaussianMixtureIC

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-init", type=int, default=4)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    known = np.arange(5)
    for name, X, y in datasets():
        print(f"\n{name}: {X.shape[0]} x {X.shape[1]}, classes 0-4 known (half their rows labelled), 5-9 new\n")
        print("| seed | method | new classes (K) | All | Old | New | time (s) |")
        print("|---|---|---|---|---|---|---|")
        for seed in args.seeds:
            partial = hide(y, known, seed)
            free = partial < 0
            t0 = time.perf_counter()
            clf = GaussianMixtureClassifier(covariance_type="full", reg_covar=1e-3, n_init=args.n_init,
                                            random_state=seed, unlabelled=-1, n_new_classes="auto",
                                            max_new_classes=10).fit(X, partial)
            t1 = time.perf_counter()
            kmeans = KMeans(10, n_init=10, random_state=seed).fit(X).labels_
            t2 = time.perf_counter()
            ic = GaussianMixtureIC(max_components=20, reg_covar=1e-3, random_state=seed).fit(X)
            t3 = time.perf_counter()
            rows = [
                ("emfast discovery (BIC)", f"{clf.n_new_classes_}", clf.predict(X[free]), t1 - t0),
                ("k-means, true K", "K=10", kmeans[free], t2 - t1),
                ("GaussianMixtureIC (BIC)", f"K={ic.n_components_}", ic.predict(X[free]), t3 - t2),
            ]
            for method, count, pred, t in rows:
                a, o, n = all_old_new(y[free], pred, known)
                print(f"| {seed} | {method} | {count} | {a:.3f} | {o:.3f} | {n:.3f} | {t:.1f} |")


if __name__ == "__main__":
    main()
