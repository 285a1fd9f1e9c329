"""The cost of a whole small fit: emfast against scikit-learn, one thread.

    python benchmarks/small_fits.py                 # 250 x 3, K = 2, 5, 10, full
    python benchmarks/small_fits.py --n 1000 --d 8 --k 5 --cov diag

Many small mixtures fitted in a loop (a curriculum-learning teacher fits
thousands on 250 points x 3 features) cost what each call costs beyond its
arithmetic: validation, initialisation, the EM loop's bookkeeping. Each fit
is a default fit (k-means initialisation, a new random_state per fit) on
uniform data (no clusters: EM takes tens of iterations, as on such data) and on
clustered data; the two libraries take turns fit by fit, timed by the thread's
CPU clock (the machine's other load does not count), medians reported. Both
fit the same model (the test suite checks that), so the ratio is the speed-up.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

from emfast import GaussianMixture


def datasets(n, d, seed=0):
    rng = np.random.RandomState(seed)
    centres = 4 * rng.normal(size=(5, d))
    return {
        "uniform": rng.uniform(size=(n, d)),
        "clusters": centres[rng.randint(5, size=n)] + rng.normal(size=(n, d)),
    }


def cpu_seconds(cls, X, k, cov, seed):
    t0 = time.thread_time()
    gm = cls(k, covariance_type=cov, random_state=seed).fit(X)
    return time.thread_time() - t0, gm.n_iter_


def compare(X, k, cov, fits):
    times = {"emfast": [], "sklearn": []}
    iters = []
    for seed in range(fits):
        for name, cls in (("emfast", GaussianMixture), ("sklearn", SkGaussianMixture)):
            t, n_iter = cpu_seconds(cls, X, k, cov, seed)
            times[name].append(t)
        iters.append(n_iter)
    em, sk = np.median(times["emfast"]), np.median(times["sklearn"])
    return em, sk, float(np.median(iters))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--d", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--cov", default="full")
    parser.add_argument("--fits", type=int, default=200, help="fits per library and case")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"\n## Whole default fit, {args.n} x {args.d}, {args.cov}, one thread, CPU ms per fit "
          f"(median of {args.fits})\n")
    print("| data | K | EM iterations | emfast | scikit-learn | speed-up |")
    print("|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for name, X in datasets(args.n, args.d).items():
            compare(X, args.k[0], args.cov, 5)  # warm up both
            for k in args.k:
                em, sk, iters = compare(X, k, args.cov, args.fits)
                print(f"| {name} | {k} | {iters:.0f} | {1e3 * em:.2f} | {1e3 * sk:.2f} | {sk / em:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
