"""The main demo: the same default fit with emfast and with scikit-learn.

    emfast-demo [--n-samples N] [--n-features D] [--n-components K]

Both libraries fit ``GaussianMixture(K, random_state=0)`` with every other
argument at its default (k-means initialisation, EM to convergence) on the
same generated data; the demo prints how closely the two models agree and
how long each fit took.
"""

import argparse
import time
import warnings

import numpy as np


def make_data(n_samples, n_features, n_components, seed=0):
    """Anisotropic Gaussian clusters with unequal weights."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 2.0))
    counts = rng.multinomial(n_samples, weights)
    parts = []
    for n in counts:
        centre = rng.normal(scale=6.0, size=n_features)
        A = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
        parts.append(centre + rng.standard_normal((n, n_features)) @ A)
    X = np.concatenate(parts)
    return X[rng.permutation(n_samples)]


def _fit(cls, X, K):
    from sklearn.exceptions import ConvergenceWarning

    gm = cls(n_components=K, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        gm.fit(X)
        elapsed = time.perf_counter() - t0
    return gm, elapsed


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


def main(argv=None):
    import sklearn
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    import emfast

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--n-components", type=int, default=8)
    args = parser.parse_args(argv)

    emfast.show_config()
    N, D, K = args.n_samples, args.n_features, args.n_components
    X = make_data(N, D, K)
    print(f"\nData: {N} x {D} float64, {K} anisotropic clusters.\n"
          f"Both fit GaussianMixture(n_components={K}, random_state=0), every other argument at "
          f"its default.\n")

    ours, t_ours = _fit(emfast.GaussianMixture, X, K)
    theirs, t_theirs = _fit(SkGaussianMixture, X, K)

    print("emfast model (weights, first coordinates of the means):")
    for k in np.argsort(-ours.weights_):
        coords = ", ".join(f"{v:7.3f}" for v in ours.means_[k, :4])
        print(f"  component {k:2d}  weight {ours.weights_[k]:.4f}  mean [{coords}, ...]")

    print(f"\n{'':28s}{'emfast':>16s}{'scikit-learn ' + sklearn.__version__:>22s}")
    print(f"{'lower bound':28s}{ours.lower_bound_:16.10f}{theirs.lower_bound_:22.10f}")
    print(f"{'EM iterations':28s}{ours.n_iter_:16d}{theirs.n_iter_:22d}")
    print(f"{'fit time (s)':28s}{t_ours:16.3f}{t_theirs:22.3f}")

    print("\nAgreement (largest difference relative to the largest value):")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        print(f"  {name:22s}{_relative(getattr(ours, name), getattr(theirs, name)):10.1e}")
    lb = abs(ours.lower_bound_ - theirs.lower_bound_) / abs(theirs.lower_bound_)
    print(f"  {'lower_bound_':22s}{lb:10.1e}")
    same = np.mean(ours.predict(X) == theirs.predict(X))
    print(f"  {'labels identical':22s}{100 * same:9.2f}%")
    print(f"\nThe same model, {t_theirs / t_ours:.1f}x faster.")


if __name__ == "__main__":
    main()
