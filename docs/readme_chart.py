"""Redraw the README's chart, docs/_static/speedup.png, from examples/data/.

    python docs/readme_chart.py

The chart is the gallery's speed-up figure (examples/plot_benchmarks.py), drawn
from the measured tables; nothing is measured.
"""

import runpy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    example = runpy.run_path(str(ROOT / "examples" / "plot_benchmarks.py"))
    figure = example["speedup_figure"]()
    out = ROOT / "docs" / "_static" / "speedup.png"
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")
