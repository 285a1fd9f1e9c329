"""Choosing n_components and covariance_type: GaussianMixtureIC against the usual searches.

    python benchmarks/selection.py [--reps 5] [--large] [--sklearn-large]

The grids are searched three ways, on the same data, in the same process:

- scikit-learn's documented search (the example "plot_gmm_selection"):
  GridSearchCV over sklearn.mixture.GaussianMixture with a BIC scorer (5-fold,
  BIC on the held-out folds, then a refit);
- a loop over emfast.GaussianMixture, one fit per (K, covariance type), BIC on
  the training data (what GaussianMixtureIC computes);
- emfast.GaussianMixtureIC (shared k-means, split warm starts, threads).

Each repetition runs the methods in turn (A B C A B C ...), so that a drift of
the machine's speed affects them alike; ratios are taken within a repetition
and their median is reported. Data sets: scikit-learn's example (two
Gaussians, 1000 x 2, K = 1..6, 4 covariance types) and, with --large, 50 000
x 8 rows from 6 anisotropic Gaussians (K = 1..10, 4 covariance types; the
GridSearchCV only with --sklearn-large: it takes minutes).
"""

import argparse
import os
import time
import warnings

import numpy as np

TYPES = ["spherical", "tied", "diag", "full"]


def example_data():
    """scikit-learn's plot_gmm_selection data."""
    n_samples = 500
    rng = np.random.default_rng(5)
    C = np.array([[0.0, -0.1], [1.7, 0.4]])
    component_1 = np.dot(rng.standard_normal((n_samples, 2)), C)
    component_2 = 0.7 * rng.standard_normal((n_samples, 2)) + np.array([-4, 1])
    return np.concatenate([component_1, component_2])


def large_data(n=50_000, d=8, k=6, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    A = rng.normal(size=(k, d, d)) / np.sqrt(d)
    labels = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 5.0)))
    return np.einsum("nd,nde->ne", rng.standard_normal((n, d)), A[labels]) + centres[labels]


def grid_search_cv(X, ks):
    from sklearn.mixture import GaussianMixture
    from sklearn.model_selection import GridSearchCV

    def gmm_bic_score(estimator, X):
        return -estimator.bic(X)

    grid = {"n_components": ks, "covariance_type": TYPES}
    search = GridSearchCV(GaussianMixture(), param_grid=grid, scoring=gmm_bic_score).fit(X)
    return search.best_params_["n_components"], search.best_params_["covariance_type"]


def emfast_loop(X, ks):
    from emfast import GaussianMixture

    best = min((GaussianMixture(k, covariance_type=c, random_state=0).fit(X).bic(X), k, c) for c in TYPES for k in ks)
    return best[1], best[2]


def emfast_ic(X, ks, n_jobs=None):
    from emfast import GaussianMixtureIC

    search = GaussianMixtureIC(min_components=ks[0], max_components=ks[-1], covariance_type=TYPES, random_state=0,
                               n_jobs=n_jobs).fit(X)
    return search.n_components_, search.covariance_type_


def compare(name, X, ks, methods, reps):
    times = {m: [] for m in methods}
    chosen = {}
    for _ in range(reps):
        for m, f in methods.items():
            t0 = time.perf_counter()
            chosen[m] = f(X, ks)
            times[m].append(time.perf_counter() - t0)
    ic = np.array(times["GaussianMixtureIC"])
    print(f"\n{name}: {X.shape[0]} x {X.shape[1]}, K = {ks[0]}..{ks[-1]}, {len(TYPES)} covariance types, "
          f"{reps} repetitions\n")
    print("| method | median time (s) | median ratio to GaussianMixtureIC | selected |")
    print("|---|---|---|---|")
    for m in methods:
        t = np.array(times[m])
        print(f"| {m} | {np.median(t):.3f} | {np.median(t / ic):.1f} | K={chosen[m][0]}, {chosen[m][1]} |")


def main():
    from sklearn.exceptions import ConvergenceWarning

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--sklearn-large", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    methods = {
        "GridSearchCV(sklearn GaussianMixture, BIC)": grid_search_cv,
        "loop over emfast.GaussianMixture": emfast_loop,
        "GaussianMixtureIC": emfast_ic,
        "GaussianMixtureIC(n_jobs=1)": lambda X, ks: emfast_ic(X, ks, 1),
    }
    compare("scikit-learn's plot_gmm_selection data", example_data(), list(range(1, 7)), methods, args.reps)
    if args.large:
        if not args.sklearn_large:
            del methods["GridSearchCV(sklearn GaussianMixture, BIC)"]
        compare("6 anisotropic Gaussians", large_data(), list(range(1, 11)), methods, max(1, args.reps // 2))
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
