"""The asv suite runs: every benchmark once, at a tiny size (so it cannot rot)."""

import os
import shutil
import subprocess
import sys

import pytest

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="asv needs git")
def test_asv_suite_runs_at_tiny_size(tmp_path):
    pytest.importorskip("asv")
    if subprocess.run(["git", "-C", BENCH_DIR, "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    env = dict(os.environ, EMFAST_ASV_TINY="1", HOME=str(tmp_path))
    asv = [sys.executable, "-m", "asv"]
    subprocess.run(asv + ["machine", "--yes"], cwd=BENCH_DIR, env=env, check=True, capture_output=True)
    run = subprocess.run(
        asv + ["run", "--python=same", "--quick", "--dry-run", "--show-stderr", "--launch-method", "forkserver"],
        cwd=BENCH_DIR, env=env, capture_output=True, text=True, timeout=1200,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "failed" not in out, out[-3000:]
    assert "time_em_iteration" in out and "track_lower_bound" in out


@pytest.mark.slow
def test_shape_sweep_measures_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    out, image = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    run = subprocess.run(
        [sys.executable, os.path.join(BENCH_DIR, "sweep.py"), "--quick", "--N", "100", "--D", "1", "8", "--K", "2",
         "--cov", "full", "diag", "--csv", str(out), "--plot", str(image)],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path),
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0].startswith("N,D,K,cov,dtype,work,") and len(lines) == 1 + 4
    assert "default fit: 4 points" in run.stdout
    assert image.stat().st_size > 10_000


def test_shape_sweep_merges_runs(tmp_path):
    """--from-csv with several files: a later file's point replaces the earlier one."""
    header = "N,D,K,cov,dtype,work,iter_emfast,iter_sklearn,fit_emfast,fit_sklearn\n"
    (tmp_path / "grid.csv").write_text(header + "100,8,2,full,float64,12800,2.0,1.0,,\n"
                                       "100,8,2,diag,float64,1600,1.0,4.0,,\n")
    (tmp_path / "slice.csv").write_text(header + "100,8,2,full,float64,12800,1.0,3.0,,\n")
    run = subprocess.run(
        [sys.executable, os.path.join(BENCH_DIR, "sweep.py"), "--from-csv", "grid.csv", "slice.csv"],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # 3x (the slice's full point, not the grid's 0.5x) and 4x: minimum 3x, none below 1
    assert "one iteration: 2 points, geometric mean 3.5x, minimum 3.00x (N=100, D=8, K=2, full, float64), 0 below 1" \
        in run.stdout, run.stdout
