"""Fit a file larger than the machine's memory, streamed from disk every iteration.

    python benchmarks/out_of_core.py [--n-samples 200000000] [--n-features 32] [--path big.npy]

Writes (once) a float32 .npy of Gaussian clusters, by default 200M x 32 (25.6 GB),
opens it with np.load(..., mmap_mode="r"), initialises a mixture on a random
sample of 1M rows, then runs EM on the whole file: every iteration is one pass
that reads it chunk by chunk. Reports the time per iteration and the process's
peak memory: anonymous (what emfast allocates) and file-backed (pages of the
map that the kernel keeps while they fit, and evicts when they do not).
"""

import argparse
import contextlib
import io
import os
import re
import threading
import time
import warnings

import numpy as np


def mem_total():
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))


def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


class PeakSampler(threading.Thread):
    """Samples resident anonymous and file-backed memory every 0.1 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_anon = self.peak_file = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak_anon = max(self.peak_anon, status("RssAnon"))
            self.peak_file = max(self.peak_file, status("RssFile"))
            time.sleep(0.1)


def write_data(path, n, d, k, chunk=2_000_000):
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=4.0, size=(k, d)).astype(np.float32)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        labels = rng.randint(k, size=m)
        X[start : start + m] = rng.standard_normal((m, d)).astype(np.float32) + centres[labels]
    X.flush()
    del X


def main():
    from sklearn.exceptions import ConvergenceWarning

    from emfast import GaussianMixture

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=200_000_000)
    parser.add_argument("--n-features", type=int, default=32)
    parser.add_argument("--n-components", type=int, default=16)
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--max-iter", type=int, default=3)
    parser.add_argument("--path", default="emfast_out_of_core.npy")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    args = parser.parse_args()
    n, d, k = args.n_samples, args.n_features, args.n_components

    expected = n * d * 4
    if not (os.path.exists(args.path) and os.path.getsize(args.path) >= expected):
        t0 = time.perf_counter()
        write_data(args.path, n, d, k)
        print(f"wrote {args.path}: {n} x {d} float32 in {time.perf_counter() - t0:.0f} s")
    X = np.load(args.path, mmap_mode="r")
    print(f"data {X.nbytes / 1e9:.1f} GB ({X.size:,} elements), machine memory {mem_total() / 1e9:.1f} GB")

    rng = np.random.RandomState(1)
    rows = np.sort(rng.choice(n, min(n, 1_000_000), replace=False))
    t0 = time.perf_counter()
    start = GaussianMixture(k, covariance_type=args.covariance_type, random_state=0).fit(np.asarray(X[rows]))
    print(f"initialised on a sample of {len(rows):,} rows in {time.perf_counter() - t0:.0f} s")

    sampler = PeakSampler()
    sampler.start()
    base_anon = status("RssAnon")
    gm = GaussianMixture(
        k, covariance_type=args.covariance_type, max_iter=args.max_iter, tol=0, verbose=2, verbose_interval=1,
        weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_,
    )
    t0 = time.perf_counter()
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log):
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    elapsed = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    per_iteration = [float(t) for t in re.findall(r"Iteration \d+\t time lapse ([0-9.]+)s", log.getvalue())]
    print(f"\nfit: {elapsed:.0f} s in all, of which {args.max_iter} EM iterations (one pass over "
          f"the file each): {', '.join(f'{t:.3g}' for t in per_iteration)} s; the rest is "
          "scikit-learn's input validation (a pass checking the values are finite)")
    best = min(per_iteration)
    print(f"fastest iteration: {best:.3g} s ({X.nbytes / best / 1e9:.2f} GB/s)")
    print(f"peak anonymous memory during the fit: {sampler.peak_anon / 2**20:.0f} MiB "
          f"({(sampler.peak_anon - base_anon) / 2**20:.0f} MiB above the start of the fit)")
    print(f"peak file-backed resident memory (page cache of the map): {sampler.peak_file / 2**30:.1f} GiB")
    print(f"lower bound {gm.lower_bound_:.4f}")
    if not args.keep:
        os.remove(args.path)


if __name__ == "__main__":
    main()
