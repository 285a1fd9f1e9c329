"""Speed-up over scikit-learn across shapes: one EM iteration and the whole default fit.

    python benchmarks/sweep.py                                   # the grid below, float64
    python benchmarks/sweep.py --dtypes float64 float32 --budget 1e9
    python benchmarks/sweep.py --quick                           # a few points (seconds)
    python benchmarks/sweep.py --csv examples/data/sweep.csv --plot docs/_static/sweep.png
    python benchmarks/sweep.py --D 1024 --cov full tied               # a slice of the grid
    python benchmarks/sweep.py --from-csv examples/data/sweep.csv --plot sweep.png
    python benchmarks/sweep.py --from-csv grid.csv slice.csv    # the slice's points replace the grid's

The grid: N in 100 .. 10^6, D in 1 .. 16 384, K in 1 .. 512, the four covariance
types. A point is run when scikit-learn's arithmetic per iteration (N K D for diag
and spherical, N K D^2 for full and tied) is within --budget, and its default fit
within a tenth of it (its fit may take a hundred iterations); larger points would
take scikit-learn minutes each. Data: anisotropic Gaussian clusters (the asv
suite's). On each point, one run, the libraries taking turns:

- one iteration: (time of fit(max_iter=1 + n) - time of fit(max_iter=1)) / n from
  the same initial parameters (K rows as means, the data's variances; n = 20, 5 or 2
  as the point grows), which leaves out what a fit costs besides its iterations;
- default fit: GaussianMixture(K, covariance_type, random_state=0).fit(X), k-means
  initialisation included (both libraries fit the same model).

Reported per point: both times and the speed-up; then the minimum and the geometric
mean of the speed-ups, per measurement. Threads: the library defaults (all cores).
"""

import argparse
import csv
import itertools
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from asv_bench.common import make_data  # noqa: E402
from peers import initial_parameters, per_iteration, settle  # noqa: E402

GRID = {
    "N": (100, 1_000, 10_000, 100_000, 1_000_000),
    "D": (1, 8, 64, 1_024, 16_384),
    "K": (1, 8, 64, 512),
    "cov": ("full", "tied", "diag", "spherical"),
}
QUICK = {"N": (100, 10_000), "D": (1, 64), "K": (1, 8), "cov": GRID["cov"]}


def work(n, d, k, cov):
    """scikit-learn's multiply-adds per iteration, roughly."""
    return n * k * (d * d if cov in ("full", "tied") else d)


def points(grid, budget):
    for n, d, k, cov in itertools.product(grid["N"], grid["D"], grid["K"], grid["cov"]):
        if k > n // 2 or work(n, d, k, cov) > budget:
            continue
        if cov in ("full", "tied") and k * d * d > 2e8:  # the covariances alone: GBs
            continue
        yield n, d, k, cov


def default_fit(impl, X, k, cov):
    if impl == "emfast":
        from emfast import GaussianMixture
    else:
        from sklearn.mixture import GaussianMixture
    settle()
    t0 = time.perf_counter()
    GaussianMixture(k, covariance_type=cov, random_state=0).fit(X)
    return time.perf_counter() - t0


def run(grid, budget, dtypes, out, repeats=None):
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    print("| N | D | K | covariance | dtype | iteration emfast / sklearn (ms) | speed-up | "
          "default fit emfast / sklearn (ms) | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (n, d, k, cov), dtype in itertools.product(points(grid, budget), dtypes):
        X = make_data(n, d, k, dtype=dtype)
        init = initial_parameters(X, k, cov)
        w = work(n, d, k, cov)
        reps = repeats or (3 if w < 1e7 else 1)
        n_iter = 20 if w < 1e6 else 5 if w < 1e8 else 2  # small points: enough time to measure
        it = {impl: per_iteration(impl, X, init, cov, n_iter=n_iter, repeats=reps)
              for impl in ("emfast", "sklearn")}
        fit = {"emfast": np.nan, "sklearn": np.nan}
        if w <= budget / 10:
            times = {"emfast": [], "sklearn": []}
            for _ in range(reps):
                for impl in times:
                    times[impl].append(default_fit(impl, X, k, cov))
            fit = {impl: float(np.median(t)) for impl, t in times.items()}
        row = dict(N=n, D=d, K=k, cov=cov, dtype=np.dtype(dtype).name, work=w,
                   iter_emfast=it["emfast"], iter_sklearn=it["sklearn"],
                   fit_emfast=fit["emfast"], fit_sklearn=fit["sklearn"])
        rows.append(row)

        def pair(a, b):
            return f"{a * 1e3:.3g} / {b * 1e3:.3g}" if np.isfinite(a) else "—"

        def ratio(a, b):
            return f"{b / a:.1f}x" if np.isfinite(a) and a > 0 else "—"

        print(f"| {n} | {d} | {k} | {cov} | {row['dtype']} | {pair(it['emfast'], it['sklearn'])} | "
              f"{ratio(it['emfast'], it['sklearn'])} | {pair(fit['emfast'], fit['sklearn'])} | "
              f"{ratio(fit['emfast'], fit['sklearn'])} |", flush=True)
        if out:
            with open(out, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(row))
                writer.writeheader()
                writer.writerows(rows)
    summary(rows)
    return rows


def speedups(rows, what):
    """scikit-learn's time over emfast's, where both were measured. An iteration
    difference at or below zero (a timer's noise on the smallest points) counts as
    not measured."""
    out = []
    for r in rows:
        a, b = r[f"{what}_emfast"], r[f"{what}_sklearn"]
        if np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0:
            out.append((b / a, r))
    return out


def summary(rows):
    for what, label in (("iter", "one iteration"), ("fit", "default fit")):
        s = speedups(rows, what)
        if not s:
            continue
        values = np.array([v for v, _ in s])
        low, r = min(s, key=lambda p: p[0])
        print(f"\n{label}: {len(s)} points, geometric mean {np.exp(np.mean(np.log(values))):.1f}x, "
              f"minimum {low:.2f}x (N={r['N']}, D={r['D']}, K={r['K']}, {r['cov']}, {r['dtype']}), "
              f"{int(np.sum(values < 1))} below 1")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    markers = {"full": "o", "tied": "s", "diag": "^", "spherical": "D"}
    for ax, (what, title) in zip(axes, (("iter", "one EM iteration"), ("fit", "whole default fit"))):
        for cov, marker in markers.items():
            s = [(r["work"], v) for v, r in speedups(rows, what) if r["cov"] == cov]
            if s:
                x, y = zip(*s)
                ax.scatter(x, y, marker=marker, label=cov, alpha=0.7)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
    fig.supxlabel("scikit-learn's multiply-adds per iteration (N·K·D; N·K·D² for full and tied)")
    axes[0].set_ylabel("speed-up over scikit-learn (log)")
    axes[0].legend(title="covariance")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for key in ("N", "D", "K", "work"):
            r[key] = int(float(r[key]))
        for key in ("iter_emfast", "iter_sklearn", "fit_emfast", "fit_sklearn"):
            r[key] = float(r[key]) if r[key] not in ("", "None") else np.nan
    return rows


def merge(runs):
    """The points of several runs; a later run's point replaces an earlier one's."""
    points = {}
    for rows in runs:
        for r in rows:
            points[(r["N"], r["D"], r["K"], r["cov"], r["dtype"])] = r
    return list(points.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--budget", type=float, default=3e8, help="largest N K D (or N K D^2) per iteration")
    parser.add_argument("--dtypes", nargs="+", default=["float64"])
    parser.add_argument("--quick", action="store_true", help="a few small points")
    parser.add_argument("--csv", help="write the measurements here (rewritten after each point)")
    parser.add_argument("--repeats", type=int, help="measurements per point and library, medians kept\n"
                                                    "(default: 3 below 10^7 multiply-adds an iteration, else 1)")
    parser.add_argument("--plot", help="draw the speed-ups into this image")
    parser.add_argument("--from-csv", nargs="+", metavar="CSV",
                        help="plot and summarise earlier runs instead of measuring (a point in a later\n"
                             "file replaces the same point, N D K covariance dtype, in an earlier one)")
    for axis, kind in (("N", int), ("D", int), ("K", int), ("cov", str)):
        parser.add_argument(f"--{axis}", nargs="+", type=kind, help=f"these values of {axis} instead of the grid's")
    args = parser.parse_args()
    if args.from_csv:
        rows = merge([read_csv(path) for path in args.from_csv])
        summary(rows)
    else:
        grid = dict(QUICK if args.quick else GRID)
        grid.update({axis: getattr(args, axis) for axis in grid if getattr(args, axis)})
        rows = run(grid, args.budget, [np.dtype(d) for d in args.dtypes], args.csv, args.repeats)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
