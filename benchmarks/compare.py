"""emfast against scikit-learn and every peer available, on the reference shapes.

    python benchmarks/compare.py                      # all shapes, float64 and float32
    python benchmarks/compare.py --shapes S1 S4 --dtypes float64
    python benchmarks/compare.py --peer-python daal4py=/path/to/venv/bin/python
    python benchmarks/compare.py --bayesian --fit     # BayesianGaussianMixture instead

Prints, from one run, the cost of one EM iteration (the time of fit(1 + n iterations) minus fit(1), over n) for
each implementation, and ratios to emfast; then a whole default fit() against
scikit-learn, time per row as N grows, and the multiply-add rate on S1 and S4
against the machine's peak. Implementations are measured in turn, round after
round, so that a noisy machine slows all of them alike; medians are reported.
With --bayesian, the per-iteration and whole-fit comparisons are for
BayesianGaussianMixture against scikit-learn's (an iteration from the same
init_params='random_from_data' start; the lower bound included).

A peer that cannot be installed beside emfast (daal4py needs scikit-learn < 1.6)
is timed from its own environment with --peer-python NAME=PYTHON, which runs
benchmarks/peers.py there on the same data.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers import SHAPES, _median_time, initial_parameters, make_data, per_iteration, settle  # noqa: E402

PEERS = ("daal4py", "pomegranate")


def available_in_process(name):
    return importlib.util.find_spec(name) is not None


def time_in(python, impl, shape, dtype, n_iter, repeats):
    out = subprocess.run(
        [python, os.path.join(HERE, "peers.py"), impl, shape, dtype,
         "--n-iter", str(n_iter), "--repeats", str(repeats)],
        capture_output=True, text=True, check=False,
    )
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return None, (out.stderr.strip().splitlines() or ["no output"])[-1]
    return result.get("seconds"), result.get("error")


def iteration_table(shapes, dtypes, impls, peer_python, rounds, n_iter):
    print("\n## One EM iteration (ms), median of rounds; ratio = peer time / emfast time\n")
    header = "| shape | dtype | " + " | ".join(impls) + " | " + " | ".join(
        f"{p} / emfast" for p in impls if p != "emfast") + " |"
    print(header)
    print("|" + "---|" * (2 + 2 * len(impls) - 1))
    results = {}
    for shape in shapes:
        n, d, k, cov = SHAPES[shape]
        for dtype in dtypes:
            X = make_data(n, d, k, dtype=np.dtype(dtype))
            init = initial_parameters(X, k, cov)
            times = {impl: [] for impl in impls}
            notes = {}
            for _ in range(rounds):
                for impl in impls:
                    if impl in peer_python:
                        t, err = time_in(peer_python[impl], impl, shape, dtype, n_iter, 1)
                    elif impl in ("emfast", "sklearn") or available_in_process(impl):
                        try:
                            t, err = per_iteration(impl, X, init, cov, n_iter, 1), None
                        except Exception as exc:  # a peer failing is a result
                            t, err = None, f"{type(exc).__name__}: {exc}"
                    else:
                        t, err = None, "not installed"
                    if t is None:
                        notes[impl] = err or "n/a"
                    else:
                        times[impl].append(t)
            med = {i: (np.median(v) if v else None) for i, v in times.items()}
            results[(shape, dtype)] = med
            cells = [f"{1e3 * med[i]:.1f}" if med[i] else "—" for i in impls]
            ratios = [
                f"{med[i] / med['emfast']:.2f}" if med[i] and med["emfast"] else "—"
                for i in impls if i != "emfast"
            ]
            print(f"| {shape} ({n}×{d}, K={k}, {cov}) | {dtype} | " + " | ".join(cells)
                  + " | " + " | ".join(ratios) + " |", flush=True)
            for impl, note in notes.items():
                if not times[impl]:
                    print(f"|   {impl}: {note.splitlines()[0][:100]} |", flush=True)
    return results


def summary(results, shapes):
    print("\n## Bars (float64 unless stated)\n")
    sk = [results[(s, "float64")]["sklearn"] / results[(s, "float64")]["emfast"]
          for s in shapes if (s, "float64") in results and results[(s, "float64")].get("sklearn")]
    if sk:
        print(f"- geometric mean speed-up over scikit-learn, per iteration: "
              f"{np.exp(np.mean(np.log(sk))):.1f}x over {len(sk)} shapes")
    for s in shapes:
        r = results.get((s, "float64"), {})
        if r.get("daal4py"):
            print(f"- {s}: emfast / oneDAL = {r['emfast'] / r['daal4py']:.2f}")
        r32 = results.get((s, "float32"), {})
        if r.get("emfast") and r32.get("emfast"):
            print(f"- {s}: float64 / float32 time = {r['emfast'] / r32['emfast']:.2f}")


def whole_fit_table(shapes, rounds):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as Sk

    from emfast import GaussianMixture as Em

    print("\n## Whole default fit() (initialisation included), seconds, median of rounds\n")
    print("| shape | emfast | scikit-learn | speed-up | emfast n_iter | sklearn n_iter |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        n, d, k, cov = SHAPES[shape]
        X = make_data(n, d, k)
        t = {"em": [], "sk": []}
        iters = {}
        for _ in range(rounds):
            for name, cls in (("em", Em), ("sk", Sk)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    settle()
                    t0 = time.perf_counter()
                    gm = cls(k, covariance_type=cov, random_state=0).fit(X)
                    t[name].append(time.perf_counter() - t0)
                    iters[name] = gm.n_iter_
        em, sk = np.median(t["em"]), np.median(t["sk"])
        print(f"| {shape} | {em:.2f} | {sk:.2f} | {sk / em:.1f}x | {iters['em']} | {iters['sk']} |", flush=True)


def scaling_table(sizes, rounds, sklearn_max):
    print("\n## Time per row as N grows (D=16, K=16, full, float32), ns per row per iteration\n")
    print("| N | emfast | scikit-learn |")
    print("|---|---|---|")
    for n in sizes:
        X = make_data(n, 16, 16, dtype=np.float32)
        init = initial_parameters(X, 16, "full")
        # small N: more iterations and repeats, or the difference is noise (an
        # iteration on 10 000 rows takes under a millisecond)
        em_iter, em_repeats = (50, 7) if n <= 10_000 else (20, 5) if n <= 100_000 else (5, 1)
        em = np.median([per_iteration("emfast", X, init, "full", em_iter, em_repeats) for _ in range(rounds)])
        sk_iter, sk_repeats = (5, 3) if n <= 100_000 else (2, 1)
        sk = per_iteration("sklearn", X, init, "full", sk_iter, sk_repeats) if n <= sklearn_max else None
        sk_cell = f"{1e9 * sk / n:.1f}" if sk else "—"
        print(f"| {n:,} | {1e9 * em / n:.1f} | {sk_cell} |", flush=True)
        del X


def _bayesian_class(impl):
    if impl == "emfast":
        from emfast import BayesianGaussianMixture
    else:
        from sklearn.mixture import BayesianGaussianMixture
    return BayesianGaussianMixture


def bayesian_iteration_table(shapes, dtypes, rounds, n_iter):
    """One variational iteration of BayesianGaussianMixture: (fit with 1 + n iterations -
    fit with 1) / n, from init_params='random_from_data', tol = 0."""
    from sklearn.exceptions import ConvergenceWarning

    print("\n## BayesianGaussianMixture: one iteration (ms), median of rounds; ratio = scikit-learn / emfast\n")
    print("| shape | dtype | emfast | scikit-learn | speed-up |")
    print("|---|---|---|---|---|")
    ratios = []
    for shape in shapes:
        n, d, k, cov = SHAPES[shape]
        for dtype in dtypes:
            X = make_data(n, d, k, dtype=np.dtype(dtype))
            times = {"emfast": [], "sklearn": []}
            for _ in range(rounds):
                for impl in times:
                    cls = _bayesian_class(impl)

                    def fit(iterations):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            cls(n_components=k, covariance_type=cov, max_iter=iterations, tol=0,
                                init_params="random_from_data", random_state=0).fit(X)

                    times[impl].append(_median_time(fit, n_iter, 1))
            em, sk = np.median(times["emfast"]), np.median(times["sklearn"])
            if dtype == "float64":
                ratios.append(sk / em)
            print(f"| {shape} ({n}×{d}, K={k}, {cov}) | {dtype} | {1e3 * em:.1f} | {1e3 * sk:.1f} | "
                  f"{sk / em:.1f}x |", flush=True)
    if ratios:
        print(f"\n- geometric mean speed-up per iteration, float64: {np.exp(np.mean(np.log(ratios))):.1f}x "
              f"over {len(ratios)} shapes")


def bayesian_fit_table(shapes, rounds):
    from sklearn.exceptions import ConvergenceWarning

    print("\n## BayesianGaussianMixture: whole default fit() (initialisation included), seconds, "
          "median of rounds\n")
    print("| shape | emfast | scikit-learn | speed-up | emfast n_iter | sklearn n_iter | lower bound / sample: "
          "emfast, sklearn |")
    print("|---|---|---|---|---|---|---|")
    for shape in shapes:
        n, d, k, cov = SHAPES[shape]
        X = make_data(n, d, k)
        t = {"emfast": [], "sklearn": []}
        fitted = {}
        for _ in range(rounds):
            for impl in t:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    settle()
                    t0 = time.perf_counter()
                    fitted[impl] = _bayesian_class(impl)(n_components=k, covariance_type=cov, random_state=0).fit(X)
                    t[impl].append(time.perf_counter() - t0)
        em, sk = np.median(t["emfast"]), np.median(t["sklearn"])
        bounds = [float(np.ravel(fitted[i].lower_bound_)[0]) / n for i in ("emfast", "sklearn")]
        print(f"| {shape} | {em:.2f} | {sk:.2f} | {sk / em:.1f}x | {fitted['emfast'].n_iter_} | "
              f"{fitted['sklearn'].n_iter_} | {bounds[0]:.6f}, {bounds[1]:.6f} |", flush=True)


def peak_rate():
    """Double-precision multiply-adds per second of this machine, all cores (a C probe)."""
    src = os.path.join(HERE, "peak_fma.c")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "peak")
        cc = os.environ.get("CC", "cc")
        build = subprocess.run([cc, "-O2", "-march=native", "-fopenmp", src, "-o", exe],
                               capture_output=True, text=True)
        if build.returncode:
            return None
        out = subprocess.run([exe], capture_output=True, text=True)
        return float(out.stdout.split()[0])


def rate_table(results):
    peak = peak_rate()
    print("\n## Multiply-add rate, full covariance (N·K·D(D+1) per iteration)\n")
    if peak:
        print(f"Machine peak (double, all cores, measured by benchmarks/peak_fma.c): {peak / 1e9:.1f} GFMA/s\n")
    print("| shape | dtype | GFMA/s | fraction of double peak |")
    print("|---|---|---|---|")
    for (shape, dtype), med in results.items():
        n, d, k, cov = SHAPES[shape]
        if cov != "full" or not med.get("emfast"):
            continue
        rate = n * k * d * (d + 1) / med["emfast"]
        frac = f"{rate / peak:.2f}" if peak else "—"
        print(f"| {shape} | {dtype} | {rate / 1e9:.1f} | {frac} |")
    print("\n(Responsibilities below eps² are skipped in the M-step, so on well separated data the "
          "nominal rate can exceed the peak; the E-step alone is N·K·D(D+1)/2.)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=sorted(SHAPES))
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--peer-python", action="append", default=[], metavar="NAME=PYTHON")
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn (slow)")
    parser.add_argument("--fit", action="store_true", help="also time whole default fits")
    parser.add_argument("--no-iterations", action="store_true", help="skip the per-iteration table")
    parser.add_argument("--scaling", action="store_true", help="also time per row as N grows")
    parser.add_argument("--scaling-sizes", nargs="+", type=int,
                        default=[10_000, 100_000, 1_000_000, 10_000_000])
    parser.add_argument("--sklearn-max-rows", type=int, default=2_000_000)
    parser.add_argument("--bayesian", action="store_true",
                        help="compare BayesianGaussianMixture instead (per iteration; whole fits with --fit)")
    args = parser.parse_args()

    import emfast
    import sklearn

    emfast.show_config()
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    if args.bayesian:
        if not args.no_iterations:
            bayesian_iteration_table(args.shapes, args.dtypes, args.rounds, args.n_iter)
        if args.fit:
            bayesian_fit_table(args.shapes, args.rounds)
        return
    peer_python = dict(p.split("=", 1) for p in args.peer_python)
    impls = ["emfast"] + ([] if args.no_sklearn else ["sklearn"])
    impls += [p for p in PEERS if p in peer_python or available_in_process(p)]
    if not args.no_iterations:
        results = iteration_table(args.shapes, args.dtypes, impls, peer_python, args.rounds, args.n_iter)
        summary(results, args.shapes)
        rate_table(results)
    if args.fit:
        whole_fit_table(args.shapes, args.rounds)
    if args.scaling:
        scaling_table(args.scaling_sizes, args.rounds, args.sklearn_max_rows)



if __name__ == "__main__":
    main()
