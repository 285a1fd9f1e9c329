"""Online EM on a stream: one pass of partial_fit against batch EM to convergence.

    python benchmarks/online_em.py [--n-samples 2000000] [--batch-size 2048]

A 2M-row stream (D = 10, K = 12, anisotropic clusters) is fed to
MiniBatchGaussianMixture.partial_fit in mini-batches, once. Batch EM
(GaussianMixture) runs to convergence on the same data from the same initial
parameters (k-means on the first mini-batch): EM is a local method, and the
question here is how far one online pass gets from a given start. Reported:
held-out mean log-likelihood of both, and the cost of the pass in units of one
batch EM iteration, measured in the same run.
"""

import argparse
import time
import warnings

import numpy as np


def make_stream(n, d=10, k=12, seed=0, draw_seed=1):
    """Rows from a fixed mixture (seed) with independent draws (draw_seed)."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    A = rng.normal(size=(k, d, d)) / np.sqrt(d) * 1.5
    w = rng.dirichlet(np.full(k, 3.0))
    draws = np.random.RandomState(draw_seed)
    labels = draws.choice(k, size=n, p=w)
    z = draws.standard_normal((n, d))
    return np.einsum("nd,nde->ne", z, A[labels]) + centres[labels]


def main():
    from sklearn.exceptions import ConvergenceWarning

    from emfast import GaussianMixture, MiniBatchGaussianMixture

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    n, bs = args.n_samples, args.batch_size
    X = make_stream(n)
    X_test = make_stream(200_000, draw_seed=99)
    print(f"stream {n} x 10, K=12, mini-batches of {bs}; held-out 200000 rows\n")
    print("| covariance | seed | batch EM LL | batch iters | online LL (1 pass) | gap (nats) | pass cost / EM iteration |")
    print("|---|---|---|---|---|---|---|")
    for cov in ("diag", "full"):
        for seed in args.seeds:
            start = GaussianMixture(12, covariance_type=cov, max_iter=0, random_state=seed).fit(X[:bs])
            init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
            batch = GaussianMixture(12, covariance_type=cov, max_iter=1000, tol=1e-6, **init).fit(X)
            iteration = GaussianMixture(12, covariance_type=cov, max_iter=1, tol=0, **init)
            t_iter = []
            for _ in range(3):
                t0 = time.perf_counter()
                iteration.fit(X)
                t_iter.append(time.perf_counter() - t0)
            online = MiniBatchGaussianMixture(12, covariance_type=cov, **init)
            t0 = time.perf_counter()
            for s in range(0, n, bs):
                online.partial_fit(X[s : s + bs])
            t_pass = time.perf_counter() - t0
            lb, lo = batch.score(X_test), online.score(X_test)
            print(f"| {cov} | {seed} | {lb:.4f} | {batch.n_iter_} | {lo:.4f} | {lb - lo:.4f} | "
                  f"{t_pass / np.median(t_iter):.2f} |", flush=True)


if __name__ == "__main__":
    main()
