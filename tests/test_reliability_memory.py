"""Memory plans: what a fit will allocate, checked before it starts.

- A pass uses at most 64 blocks and the threads the kernels will run: the plan
  does not grow with OMP_NUM_THREADS beyond them (K = 24, D = 1000 full was
  refused at 128 threads as 26 GiB).
- Wide data is not overestimated: 10 x 1.2e6 diag (92 MiB) fits.
- The limit is the tightest of physical memory, the cgroup's (v1 and v2) and
  RLIMIT_AS: a fit beyond RLIMIT_AS is a MemoryError before it starts.
- The plan is within 25 % of the measured peak of a fit (Linux), also where the
  k-means state per row dominates; the rare relocation of empty k-means clusters
  checks its own memory when it happens.
- emfast's sampled k-means (init_params='kmeans_sample') takes memory
  independent of the number of rows.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from emfast import GaussianMixture
from emfast._memory import fit_plan
from emfast._native import core

LINUX = sys.platform.startswith("linux")


def run_python(code, env=None):
    """Runs code in a fresh interpreter; returns its last line of output, parsed as JSON.
    (Outside the source tree: from its root, `import emfast` would find the unbuilt package.)"""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})), timeout=600, cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------- threads


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_plan_does_not_grow_with_threads_a_pass_cannot_use(cov):
    shape = (100_000, 1000, 24, cov)
    with threadpool_limits(limits=2, user_api="openmp"):
        two = core.call_memory("statistics", *shape)
        fit_two = fit_plan(*shape)
    with threadpool_limits(limits=128, user_api="openmp"):
        many = core.call_memory("statistics", *shape)
        fit_many = fit_plan(*shape)
    # at most 64 threads, each with its own chunk scratch (a few MiB at D = 1000)
    assert many <= two + 62 * 8 * 2**20
    assert fit_many < 1.25 * fit_two
    if cov == "full":  # the model's size (24 x 1000^2 doubles) times a few, not times 128
        assert fit_many < 16 * 24 * 1000**2 * 8


def test_plan_counts_the_blocks_statistics():
    # 8 blocks of K x D^2 statistics (each over 16 MiB) and their total
    K, D = 24, 1000
    assert core.call_memory("statistics", 100_000, D, K, "full") >= 9 * K * D * D * 8


# ----------------------------------------------------------------- wide data


def test_wide_data_is_not_overestimated():
    N, D = 10, 1_200_000
    # X is 92 MiB; a pass copies its 10 rows twice, padded to 16 (the widest
    # vector), besides the model and statistics: a small multiple, not 27.8 GiB
    assert core.plan_memory(N, D, 2, "diag") < 6 * N * D * 8
    assert fit_plan(N, D, 2, "diag") < 8 * N * D * 8


@pytest.mark.slow
def test_ten_rows_of_a_million_features_fit_as_in_scikit_learn():
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    X = np.random.RandomState(0).randn(10, 1_200_000)
    X[5:] += 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
        ref = SkGaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    np.testing.assert_allclose(ours.weights_, ref.weights_, rtol=1e-9)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------- limits


def test_memory_limit_is_at_most_physical_memory():
    limit = core.memory_limit()
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert 0 < limit <= physical


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cgroup_limits_are_read_up_the_hierarchy(tmp_path, version):
    GiB = 2**30
    if version == "v2":
        proc = "0::/user.slice/app.scope\n"
        files = {"user.slice/app.scope/memory.max": "max", "user.slice/memory.max": str(3 * GiB),
                 "memory.max": str(8 * GiB)}
    else:
        proc = "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n"
        files = {"memory/docker/abc/memory.limit_in_bytes": str(2 * GiB),
                 "memory/docker/memory.limit_in_bytes": "9223372036854771712",  # v1's "unlimited"
                 "memory/memory.limit_in_bytes": "9223372036854771712"}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    (tmp_path / "cgroup").write_text(proc)
    expected = 3 * GiB if version == "v2" else 2 * GiB
    assert core._cgroup_limit(str(tmp_path / "cgroup"), str(tmp_path)) == expected
    assert core._cgroup_limit(str(tmp_path / "absent"), str(tmp_path)) == 0


@pytest.mark.slow  # a fresh interpreter
@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS and /proc/self/statm (Linux)")
def test_fit_beyond_rlimit_as_is_a_memory_error_before_it_starts():
    result = run_python("""
        import json, resource, warnings
        import numpy as np
        from emfast import GaussianMixture
        from emfast._memory import fit_plan
        from emfast._native import core
        X = np.random.RandomState(0).randn(2000, 400)
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + 2**29, resource.RLIM_INFINITY))
        limit = core.memory_limit()
        try:
            GaussianMixture(64, max_iter=1).fit(X)  # 64 x 400^2 doubles, many copies: ~1 GiB
            refused = None
        except MemoryError as exc:
            refused = str(exc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(2, max_iter=2, random_state=0).fit(X[:, :20])  # fits
        print(json.dumps({"limit": limit, "plan": fit_plan(2000, 400, 64, "full"), "refused": refused}))
    """)
    assert 0 < result["limit"] <= 2**29
    assert result["plan"] > result["limit"]
    assert result["refused"] and "emfast would need" in result["refused"]


# ----------------------------------------------------------------- plan against the measured peak

PEAK = """
    import json, sys, warnings
    import numpy as np
    from emfast import GaussianMixture
    from emfast._memory import fit_plan
    n, d, k, cov = {shape}
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, d))
    X[: n // 2] += 3.0
    warnings.simplefilter("ignore")
    GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(X[:100])  # loads every library
    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak (VmHWM) from now on
    before = status("VmRSS")
    GaussianMixture(k, covariance_type=cov, max_iter=2, random_state=0).fit(X)
    print(json.dumps({{"plan": fit_plan(n, d, k, cov), "peak": status("VmHWM") - before}}))
"""


# (shape, the most the plan may exceed the peak by): many features, and many rows
# of few features (where the k-means state per row dominates)
PLAN_SHAPES = [((3000, 300, 16, "full"), 1.25), ((1_000_000, 8, 4, "diag"), 1.25),
               ((2_000_000, 16, 32, "full"), 1.25)]


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="peak resident set size from /proc (Linux)")
@pytest.mark.parametrize("shape, most", PLAN_SHAPES, ids=[str(s) for s, _ in PLAN_SHAPES])
def test_plan_is_close_to_the_measured_peak(shape, most):
    r = run_python(PEAK.format(shape=shape))
    assert 0.8 * r["peak"] <= r["plan"] <= most * r["peak"], r


# ----------------------------------------------------------------- sampled k-means


def _kmeans_sample_peak(n):
    """Peak NumPy memory of init_params='kmeans_sample' on n rows (X excluded)."""
    from emfast._data import ArrayData
    from emfast._init import initial_stats

    X = np.random.RandomState(0).randn(n, 4)
    data = ArrayData(X)
    tracemalloc.start()
    try:
        initial_stats(data, n_components=4, covariance_type="full", init_params="kmeans_sample",
                      random_state=np.random.RandomState(0), scale=data.scale())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sampled_kmeans_memory_does_not_grow_with_the_rows():
    small, large = _kmeans_sample_peak(100_000), _kmeans_sample_peak(1_000_000)
    # a permutation of the rows alone would add 7.2 MB
    assert large - small < 2**20, (small, large)
