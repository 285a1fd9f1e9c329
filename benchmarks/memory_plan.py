"""emfast's memory plan of a fit against the fit's measured peak memory.

    python benchmarks/memory_plan.py [--threads 2 128] [--shapes NAME ...]

Each fit runs in a fresh process (Linux) with OMP_NUM_THREADS set: the data is
generated (float64), a small fit loads every library, the peak resident set
size is reset to the current one (/proc/self/clear_refs), and
GaussianMixture(...).fit runs (default k-means initialisation, max_iter
iterations). Reported: the plan (emfast._memory.fit_plan, what the fit checks
against the memory available), the peak minus the resident set size before
the fit, and their ratio.
"""

import argparse
import json
import os
import subprocess
import sys

# name: (n_samples, n_features, n_components, covariance_type, max_iter)
SHAPES = {
    "2M x 16, K=32 full": (2_000_000, 16, 32, "full", 2),
    "4M x 4, K=8 spherical": (4_000_000, 4, 8, "spherical", 2),
    "200k x 100, K=16 diag": (200_000, 100, 16, "diag", 2),
    "10 x 1e6, K=2 diag": (10, 1_000_000, 2, "diag", 2),
    "2000 x 1000, K=24 full": (2000, 1000, 24, "full", 1),
}

WORKER = r"""
import json, sys, warnings
import numpy as np
n, d, k, cov, max_iter = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
rng = np.random.RandomState(0)
X = rng.standard_normal((n, d))
X[: n // 2] += 3.0
from emfast import GaussianMixture
from emfast._memory import fit_plan
warnings.simplefilter("ignore")
GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(X[:100, :min(d, 50)])
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
plan = fit_plan(n, d, k, cov)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident set
before = status("VmRSS")
GaussianMixture(k, covariance_type=cov, max_iter=max_iter, random_state=0).fit(X)
peak = status("VmHWM")
print(json.dumps({"plan": plan, "peak": peak - before}))
"""


def measure(shape, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, *map(str, shape)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 128])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    args = parser.parse_args()
    print("| shape | OMP_NUM_THREADS | plan (MiB) | measured peak (MiB) | plan / peak |")
    print("|---|---|---|---|---|")
    for name in args.shapes:
        for t in args.threads:
            r = measure(SHAPES[name], t)
            mib = lambda b: b / 2**20  # noqa: E731
            print(f"| {name} | {t} | {mib(r['plan']):.1f} | {mib(r['peak']):.1f} | {r['plan'] / r['peak']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
