"""Online EM on a stream: one pass of partial_fit against batch EM to convergence.

    python benchmarks/online_em.py [--n-samples 2000000] [--batch-size 2048]
    python benchmarks/online_em.py --bayesian     # variational: SVI against batch VI

A 2M-row stream (D = 10, K = 12, anisotropic clusters) is fed to
MiniBatchGaussianMixture.partial_fit in mini-batches, once. Batch EM
(GaussianMixture) runs to convergence on the same data from the same initial
parameters (k-means on the first mini-batch): EM is a local method, and the
question here is how far one online pass gets from a given start. Reported:
held-out mean log-likelihood of both, and the cost of the pass in units of one
batch EM iteration, measured in the same run.

With --bayesian: MiniBatchBayesianGaussianMixture.partial_fit (stochastic
variational inference) against BayesianGaussianMixture run to convergence,
both with the stream's mean and covariance as priors and from the same initial
posterior (k-means on the first mini-batch); reported is the held-out
per-sample bound score() averages (log sum_k exp(E[log pi_k] + E[log N(x|k)])).
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


def report(cov, seed, batch, online, X, X_test, bs, *t_iters):
    """Feed X to online.partial_fit once, in mini-batches of bs; print a table row
    against the fitted batch model (t_iters: timings of one batch iteration, each
    list a way of measuring it)."""
    t0 = time.perf_counter()
    for s in range(0, len(X), bs):
        online.partial_fit(X[s : s + bs])
    t_pass = time.perf_counter() - t0
    lb, lo = batch.score(X_test), online.score(X_test)
    costs = " | ".join(f"{t_pass / np.median(t):.2f}" for t in t_iters)
    print(f"| {cov} | {seed} | {lb:.4f} | {batch.n_iter_} | {lo:.4f} | {lb - lo:.4f} | {costs} |", flush=True)


def _timings(fn, repeats=3):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bayesian(X, X_test, bs, seeds):
    """Stochastic variational inference against batch variational inference."""
    from emfast import BayesianGaussianMixture, MiniBatchBayesianGaussianMixture
    from emfast._data import ArrayData
    from emfast._variational import VariationalEM

    n = len(X)
    covariance = np.cov(X.T)
    print("| covariance | seed | batch VI bound | batch iters | online bound (1 pass) | gap (nats) | "
          "pass cost / VI iteration | pass cost / fit(max_iter=1) |")
    print("|---|---|---|---|---|---|---|---|")
    for cov in ("diag", "full"):
        for seed in seeds:
            kw = dict(n_components=12, covariance_type=cov, random_state=seed, mean_prior=X.mean(axis=0),
                      covariance_prior=covariance if cov == "full" else np.diag(covariance))
            batch = BayesianGaussianMixture(max_iter=0, warm_start=True, **kw).fit(X[:bs])
            start = batch._current_posterior()
            batch.set_params(max_iter=1000, tol=1e-6 * n).fit(X)
            # one iteration alone (the pass over X, the M-step and the lower bound), and
            # fit(max_iter=1) from the same start (validation and priors included), the unit
            # of the EM table
            data = ArrayData(X)
            model = VariationalEM(batch._prior(data), batch.reg_covar, data.scale())
            one = BayesianGaussianMixture(max_iter=0, warm_start=True, **kw).fit(X[:bs]).set_params(max_iter=1)

            def fit_one():
                one._set_posterior(start)
                one.fit(X)

            report(cov, seed, batch, MiniBatchBayesianGaussianMixture(**kw), X, X_test, bs,
                   _timings(lambda: model.step(data, start)), _timings(fit_one))


def main():
    from sklearn.exceptions import ConvergenceWarning

    from emfast import GaussianMixture, MiniBatchGaussianMixture

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bayesian", action="store_true", help="variational inference instead of EM")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    n, bs = args.n_samples, args.batch_size
    X = make_stream(n)
    X_test = make_stream(200_000, draw_seed=99)
    print(f"stream {n} x 10, K=12, mini-batches of {bs}; held-out 200000 rows\n")
    if args.bayesian:
        return bayesian(X, X_test, bs, args.seeds)
    print("| covariance | seed | batch EM LL | batch iters | online LL (1 pass) | gap (nats) | pass cost / EM iteration |")
    print("|---|---|---|---|---|---|---|")
    for cov in ("diag", "full"):
        for seed in args.seeds:
            start = GaussianMixture(12, covariance_type=cov, max_iter=0, random_state=seed).fit(X[:bs])
            init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
            batch = GaussianMixture(12, covariance_type=cov, max_iter=1000, tol=1e-6, **init).fit(X)
            iteration = GaussianMixture(12, covariance_type=cov, max_iter=1, tol=0, **init)
            t_iter = _timings(lambda: iteration.fit(X))
            online = MiniBatchGaussianMixture(12, covariance_type=cov, **init)
            report(cov, seed, batch, online, X, X_test, bs, t_iter)


if __name__ == "__main__":
    main()
