"""Reference shapes, their data, and one EM iteration timed for each implementation.

The measure: the cost of one EM iteration from
the same initial parameters, (time of a fit with 1 + n iterations - time with 1
iteration) / n, tol = 0 so no fit stops early; medians over repeats.

Runs standalone as a worker, so that a peer that cannot be installed beside
emfast (daal4py needs scikit-learn < 1.6) can be timed from its own
environment in the same comparison run:

    python benchmarks/peers.py daal4py S1 float64 --n-iter 10
"""

import argparse
import json
import time
import warnings

import numpy as np
from asv_bench.common import make_data  # noqa: F401  (the one data generator of all benchmarks)

SHAPES = {
    # id: (n_samples, n_features, n_components, covariance_type)
    "S1": (100_000, 16, 16, "full"),
    "S2": (1_000_000, 2, 5, "full"),
    "S3": (200_000, 32, 32, "diag"),
    "S4": (50_000, 64, 32, "full"),
    "S5": (200_000, 32, 16, "tied"),
    "S6": (1_000_000, 8, 8, "spherical"),
}


def initial_parameters(X, n_components, covariance_type, seed=1):
    """Uniform weights, K distinct samples as means, the data's variances as covariances."""
    rng = np.random.RandomState(seed)
    n, d = X.shape
    means = X[rng.choice(n, n_components, replace=False)].astype(np.float64)
    var = X[: min(n, 100_000)].astype(np.float64).var(axis=0)
    weights = np.full(n_components, 1.0 / n_components)
    if covariance_type == "full":
        covs = np.tile(np.diag(var), (n_components, 1, 1))
    elif covariance_type == "tied":
        covs = np.diag(var)
    elif covariance_type == "diag":
        covs = np.tile(var, (n_components, 1))
    else:
        covs = np.full(n_components, var.mean())
    return weights, means, covs


def precisions_from_covariances(covs, covariance_type):
    if covariance_type == "full":
        return np.linalg.inv(covs)
    if covariance_type == "tied":
        return np.linalg.inv(covs)
    return 1.0 / covs


def settle():
    """Wait for the BLAS threads of whatever ran before to go idle: OpenBLAS's
    spin for about 0.1 s after a call, taking the cores from the next run."""
    time.sleep(0.3)


def _median_time(fit, n_iter, repeats):
    fit(1)  # warm up: page in X, start thread pools
    t1, tn = [], []
    for _ in range(repeats):
        for n, out in ((1, t1), (1 + n_iter, tn)):
            settle()
            t0 = time.perf_counter()
            fit(n)
            out.append(time.perf_counter() - t0)
    return (np.median(tn) - np.median(t1)) / n_iter


def per_iteration(impl, X, init, covariance_type, n_iter=10, repeats=3):
    """Seconds per EM iteration of implementation impl on X from init."""
    weights, means, covs = init
    K = len(weights)
    if impl in ("emfast", "sklearn"):
        if impl == "emfast":
            from emfast import GaussianMixture
        else:
            from sklearn.mixture import GaussianMixture
        from sklearn.exceptions import ConvergenceWarning

        prec = precisions_from_covariances(covs, covariance_type)

        def fit(n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                GaussianMixture(
                    K,
                    covariance_type=covariance_type,
                    max_iter=n,
                    tol=0,
                    weights_init=weights,
                    means_init=means,
                    precisions_init=prec,
                ).fit(X)

    elif impl == "daal4py":
        import daal4py as d4p

        if covariance_type not in ("full", "diag"):
            return None
        storage = "full" if covariance_type == "full" else "diagonal"
        w = weights.reshape(1, -1)
        # one array per component: D x D (full) or 1 x D (diagonal)
        c = [np.ascontiguousarray(ck.reshape(-1, ck.shape[-1])) for ck in covs]

        def fit(n):
            d4p.em_gmm(
                nComponents=K, maxIterations=n, accuracyThreshold=0.0, covarianceStorage=storage
            ).compute(X, w, means, c)

    elif impl == "pomegranate":
        import torch
        from pomegranate.distributions import Normal
        from pomegranate.gmm import GeneralMixtureModel

        if covariance_type not in ("full", "diag"):
            return None
        Xt = torch.from_numpy(np.asarray(X))

        def fit(n):
            dists = [
                Normal(
                    means=torch.from_numpy(means[k]).to(Xt.dtype),
                    covs=torch.from_numpy(covs[k]).to(Xt.dtype),
                    covariance_type=covariance_type,
                )
                for k in range(K)
            ]
            GeneralMixtureModel(
                dists, priors=torch.from_numpy(weights).to(Xt.dtype), max_iter=n, tol=0, init="first-k"
            ).fit(Xt)

    else:
        raise ValueError(f"unknown implementation {impl!r}")
    return _median_time(fit, n_iter, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("impl")
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("dtype", choices=["float64", "float32"])
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply n_samples by this")
    args = parser.parse_args()
    n, d, k, cov = SHAPES[args.shape]
    X = make_data(max(int(n * args.scale), 10 * k), d, k, dtype=np.dtype(args.dtype))
    init = initial_parameters(X, k, cov)
    try:
        seconds = per_iteration(args.impl, X, init, cov, args.n_iter, args.repeats)
        print(json.dumps({"seconds": seconds}))
    except Exception as exc:  # report, do not crash the comparison
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))


if __name__ == "__main__":
    main()
