"""
Benchmark charts: speed-up by shape, cost per row, memory against N
===================================================================

Drawn from the measured tables in ``examples/data/`` (one run of
``benchmarks/compare.py`` and of ``benchmarks/memory.py`` on a shared 2-core
AVX-512 machine; the method and every number are in the documentation's
Benchmarks page). Nothing is measured here.
"""

import csv
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

try:
    DATA = Path(__file__).resolve().parent / "data"
except NameError:  # sphinx-gallery runs the example in its folder, without __file__
    DATA = Path("data")


def read(name):
    with open(DATA / name, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def number(text):
    return float(text.replace(" ", "")) if text.strip() else np.nan


def speedup_figure():
    """Speed-up of one EM iteration over scikit-learn and oneDAL, by shape and dtype."""
    rows = read("per_iteration.csv")
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    labels = [f"{s}\n{next(r['data'] for r in rows if r['shape'] == s)}".replace(", K", "\nK")
              for s in shapes]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, layout="constrained")
    x = np.arange(len(shapes))
    for ax, peer, column in ((axes[0], "scikit-learn", "scikit-learn / emfast"),
                             (axes[1], "Intel oneDAL", "oneDAL / emfast")):
        for i, dtype in enumerate(("float64", "float32")):
            measured = [next(r[column] for r in rows if r["shape"] == s and r["dtype"] == dtype)
                        for s in shapes]
            bars = ax.bar(x + (i - 0.5) * 0.38, [number(m) for m in measured], 0.38, label=dtype)
            ax.bar_label(bars, labels=[f"{m}×" if m else "" for m in measured], fontsize=7, padding=1)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(x, labels, fontsize=7)
        ax.set(yscale="log", title=f"emfast against {peer}: speed-up of one EM iteration")
        ax.legend(loc="upper right")
    axes[0].set_ylabel("peer time / emfast time (log scale)")
    axes[1].text(4.5, 1.5, "oneDAL has no tied\nor spherical covariance", ha="center", fontsize=8)
    return fig


speedup_figure()

# %%
# Cost per row as N grows
# -----------------------
# One EM iteration, D = 16, K = 16, full covariances, float32. emfast's cost per row
# stays flat from 10⁴ to 10⁷ rows; scikit-learn's doubles from 10⁵ to 10⁶ as its
# (N × K) temporaries leave the caches (it was not run at 10⁷).

rows = read("time_per_row.csv")
n = [number(r["N"]) for r in rows]
fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
for column, label in (("emfast (ns per row)", "emfast"), ("scikit-learn (ns per row)", "scikit-learn")):
    ax.plot(n, [number(r[column]) for r in rows], "o-", label=label)
ax.set(xscale="log", yscale="log", xlabel="N (rows)", ylabel="ns per row and iteration",
       title="Time per row, one EM iteration")
ax.legend()

# %%
# Memory against N
# ----------------
# Peak memory of ``fit`` beyond the data: GaussianMixture(32, "full") on N × 16
# float64 rows, default initialisation, 2 iterations, each fit in a fresh process.
# scikit-learn's grows with N (12.5–13.5 × the size of X); emfast's stays between
# 6.7 and 18.8 MiB.

rows = read("memory_vs_n.csv")
n = [number(r["N"]) for r in rows]
fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
for column, label in (("emfast (MiB)", "emfast"), ("scikit-learn (MiB)", "scikit-learn")):
    ax.plot(n, [number(r[column]) for r in rows], "o-", label=label)
ax.plot(n, [number(r["size of X (MiB)"]) for r in rows], "k:", label="size of X")
ax.set(xscale="log", yscale="log", xlabel="N (rows)", ylabel="extra peak memory (MiB)",
       title="Memory of a fit beyond the data")
ax.legend()
plt.show()
