"""Peak memory of a fit beyond the data, emfast against scikit-learn.

    python benchmarks/memory.py [--n-samples 2000000] [--n-features 16] [--n-components 32]
    python benchmarks/memory.py --estimator BayesianGaussianMixture --impl emfast

Each fit runs in a fresh process (Linux): the data is generated (float64), the
peak resident set size is reset to the current one (/proc/self/clear_refs),
the estimator (GaussianMixture or BayesianGaussianMixture, 'full') is fitted
(default k-means initialisation, max_iter iterations), and the peak (VmHWM) is
read. Reported: the peak minus the resident set size before the fit, in MiB and
as a fraction of the data.
"""

import argparse
import json
import subprocess
import sys

WORKER = r"""
import json, sys, warnings
import numpy as np
impl, n, d, k, max_iter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
estimator = sys.argv[6]
rng = np.random.RandomState(0)
labels = rng.randint(k, size=n)
X = rng.standard_normal((n, d)) + rng.normal(scale=3.0, size=(k, d))[labels]
del labels
if impl == "emfast":
    import emfast as module
else:
    import sklearn.mixture as module
Estimator = getattr(module, estimator)
import sklearn.cluster  # imported by both: not part of the fit's memory
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident set
before = status("VmRSS")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    Estimator(n_components=k, covariance_type="full", max_iter=max_iter, random_state=0).fit(X)
peak = status("VmHWM")
print(json.dumps({"before": before, "peak": peak, "data": X.nbytes}))
"""


def measure(impl, n, d, k, max_iter, estimator="GaussianMixture"):
    out = subprocess.run([sys.executable, "-c", WORKER, impl, str(n), str(d), str(k), str(max_iter), estimator],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=2_000_000)
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--n-components", type=int, default=32)
    parser.add_argument("--max-iter", type=int, default=2)
    parser.add_argument("--impl", nargs="+", default=["emfast", "sklearn"])
    parser.add_argument("--estimator", default="GaussianMixture", choices=["GaussianMixture", "BayesianGaussianMixture"])
    args = parser.parse_args()
    n, d, k = args.n_samples, args.n_features, args.n_components
    print(f"{args.estimator}(n_components={k}, covariance_type='full').fit on {n} x {d} float64 "
          f"({n * d * 8 / 2**20:.0f} MiB), max_iter={args.max_iter}\n")
    print("| implementation | extra peak memory (MiB) | fraction of X |")
    print("|---|---|---|")
    for impl in args.impl:
        r = measure(impl, n, d, k, args.max_iter, args.estimator)
        extra = max(r["peak"] - r["before"], 0)
        print(f"| {impl} | {extra / 2**20:.1f} | {extra / r['data']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
