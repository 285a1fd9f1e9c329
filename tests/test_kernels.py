"""The C++ passes against brute-force NumPy, for every kernel variant built."""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import make_blobs
from scipy.special import logsumexp

from emfast import GaussianMixture
from emfast._stats import Params, nearest_zero, round_to
from emfast._native import supported_variants, using_variant

COV_TYPES = ["full", "tied", "diag", "spherical"]
VARIANTS = supported_variants()


@pytest.fixture(params=VARIANTS)
def variant_core(request):
    """emfast._core running the kernels of each variant built, in turn."""
    with using_variant(request.param) as core:
        yield core


def random_params(rng, K, D, cov):
    means = rng.normal(scale=2.0, size=(K, D))
    weights = rng.dirichlet(np.ones(K))
    if cov == "full":
        A = rng.normal(size=(K, D, D))
        covs = A @ np.swapaxes(A, 1, 2) / D + np.eye(D)
        prec_chol = np.stack([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    elif cov == "tied":
        A = rng.normal(size=(D, D))
        prec_chol = np.linalg.inv(np.linalg.cholesky(A @ A.T / D + np.eye(D))).T
    elif cov == "diag":
        prec_chol = 1 / np.sqrt(rng.uniform(0.5, 2.0, size=(K, D)))
    else:
        prec_chol = 1 / np.sqrt(rng.uniform(0.5, 2.0, size=K))
    return {"weights": weights, "means": means, "precisions_cholesky": np.ascontiguousarray(prec_chol)}


def as_params(params):
    """The dict of random_params as an emfast._stats.Params (covariances unused)."""
    return Params(params["weights"], params["means"], params["precisions_cholesky"], params["precisions_cholesky"])


def precision_factor(params, cov, k):
    """P_k as a dense D x D upper-triangular matrix."""
    D = params["means"].shape[1]
    pc = params["precisions_cholesky"]
    return {
        "full": lambda: pc[k],
        "tied": lambda: pc,
        "diag": lambda: np.diag(pc[k]),
        "spherical": lambda: np.eye(D) * pc[k],
    }[cov]()


def brute_mahalanobis(X, params, cov):
    """(N, K) squared Mahalanobis distances ||(x - mu_k) P_k||^2."""
    X = np.asarray(X, dtype=np.float64)
    K = params["means"].shape[0]
    return np.stack(
        [(((X - params["means"][k]) @ precision_factor(params, cov, k)) ** 2).sum(1) for k in range(K)],
        axis=1,
    )


def brute_log_prob(X, params, cov):
    """(N, K) log pi_k + log N(x | k), straight from the definition."""
    K, D = params["means"].shape
    log_det = np.array([np.log(np.abs(np.diag(precision_factor(params, cov, k)))).sum() for k in range(K)])
    const = np.log(params["weights"]) - 0.5 * D * np.log(2 * np.pi) + log_det
    return const - 0.5 * brute_mahalanobis(X, params, cov)


def brute_stats(X, w, resp, centers, cov):
    X = np.asarray(X, dtype=np.float64)
    wr = resp * w[:, None]
    K, D = centers.shape
    s0 = wr.sum(0)
    s1 = np.stack([(wr[:, k, None] * (X - centers[k])).sum(0) for k in range(K)])
    full = np.stack([(wr[:, k, None] * (X - centers[k])).T @ (X - centers[k]) for k in range(K)])
    s2 = {
        "full": full,
        "tied": full.sum(0),
        "diag": np.stack([np.diag(f) for f in full]),
        "spherical": np.array([np.trace(f) for f in full]),
    }[cov]
    return s0, s1, s2


def close(a, b, rtol):
    scale = max(np.max(np.abs(b)), 1e-300)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", ["diag", "spherical"])
@pytest.mark.parametrize("N", [10, 30])
def test_em_pass_of_chunks_of_one_or_two_vectors(variant_core, dtype, cov, N):
    """Chunks of one or two vectors of rows (few rows, or wide ones) take four
    components per read of the chunk: log-likelihood and statistics against the
    brute-force E-step, with components in groups of four and left over (K = 6)."""
    rng = np.random.RandomState(N)
    K, D = 6, 700
    params = random_params(rng, K, D, cov)
    X = (rng.normal(scale=2.0, size=(N, D)) + params["means"][rng.randint(K, size=N)]).astype(dtype)
    log_w, means, pc = as_params(params).native()
    st = variant_core.em_pass(X, None, log_w, means, pc, cov, as_params(params).shift(dtype), 0, 0)
    lp = brute_log_prob(X, params, cov)
    lse = logsumexp(lp, axis=1)
    s0, s1, s2 = brute_stats(X, np.ones(N), np.exp(lp - lse[:, None]), st["centers"], cov)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    close(st["loglik"], lse.sum(), rtol)
    close(st["s0"], s0, rtol)
    close(st["s1"], s1, rtol * 10)
    close(st["s2"], s2, rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("D", [1, 2, 3, 4, 17, 40])
@pytest.mark.parametrize("weighted", [True, False])
def test_em_pass_matches_brute_force(variant_core, dtype, cov, D, weighted):
    core = variant_core
    rng = np.random.RandomState(D)
    K, N = 5, 1003  # N not a multiple of any chunk size
    params = random_params(rng, K, D, cov)
    X = rng.normal(scale=2.0, size=(N, D)) + 100.0
    params["means"] += 100.0
    w = rng.uniform(0, 2, size=N)
    Xd = X.astype(dtype)
    log_w, means, pc = as_params(params).native()
    shift = as_params(params).shift(dtype)
    # without sample weights, the log-likelihood sums logarithms of products
    st = core.em_pass(Xd, w if weighted else None, log_w, means, pc, cov, shift, 0, 3)
    if not weighted:
        w = np.ones(N)

    lp = brute_log_prob(Xd, params, cov)
    lse = logsumexp(lp, axis=1)
    resp = np.exp(lp - lse[:, None])
    s0, s1, s2 = brute_stats(Xd, w, resp, st["centers"], cov)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    close(st["loglik"], (w * lse).sum(), rtol)
    close(st["weight"], w.sum(), 1e-12)
    close(st["s0"], s0, rtol)
    close(st["s1"], s1, rtol * 10)
    close(st["s2"], s2, rtol)
    close(st["centers"], params["means"], 1e-6 if dtype == np.float32 else 1e-14)
    order = np.lexsort((np.arange(N), lse))[:3]
    np.testing.assert_array_equal(st["worst_row"], order)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("D", [2, 17])
@pytest.mark.parametrize("hard", [False, True])
def test_em_pass_with_groups_matches_brute_force(variant_core, dtype, cov, D, hard):
    """Rows of a group see only that group's components (partially labelled data)."""
    core = variant_core
    rng = np.random.RandomState(D)
    K, N = 6, 1003
    params = random_params(rng, K, D, cov)
    X = rng.normal(scale=2.0, size=(N, D)).astype(dtype)
    w = rng.uniform(0, 2, size=N)
    begin = np.array([0, 2, 3, 6], dtype=np.int64)  # groups own components 0-1, 2, 3-5
    group = rng.randint(-1, 3, size=N).astype(np.int32)
    log_w, means, pc = as_params(params).native()
    st = core.em_pass(X, w, log_w, means, pc, cov, as_params(params).shift(dtype), 0, 2, hard,
                      groups=group, group_begin=begin)

    lp = brute_log_prob(X, params, cov)
    owner = np.repeat(np.arange(3), np.diff(begin))
    lp[(group[:, None] >= 0) & (owner[None, :] != group[:, None])] = -np.inf
    lse = lp.max(axis=1) if hard else logsumexp(lp, axis=1)
    resp = np.eye(K)[np.argmax(lp, axis=1)] if hard else np.exp(lp - lse[:, None])
    s0, s1, s2 = brute_stats(X, w, resp, st["centers"], cov)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    close(st["loglik"], (w * lse).sum(), rtol)
    close(st["s0"], s0, rtol)
    close(st["s1"], s1, rtol * 10)
    close(st["s2"], s2, rtol)
    np.testing.assert_array_equal(st["worst_row"], np.lexsort((np.arange(N), lse))[:2])
    # no groups given, or every row free: the plain pass
    free = core.em_pass(X, w, log_w, means, pc, cov, as_params(params).shift(dtype), 0, 0, hard,
                        groups=np.full(N, -1, np.int32), group_begin=begin)
    plain = core.em_pass(X, w, log_w, means, pc, cov, as_params(params).shift(dtype), 0, 0, hard)
    for key in ("s0", "s1", "s2", "loglik"):
        np.testing.assert_array_equal(free[key], plain[key])


@pytest.mark.parametrize(
    "group, begin, message",
    [
        (np.zeros(10, np.int32), None, "both groups and group_begin"),
        (np.zeros(10, np.int64), np.array([0, 2], np.int64), "int32"),
        (np.zeros(9, np.int32), np.array([0, 2], np.int64), "shape"),
        (np.full(10, 1, np.int32), np.array([0, 2], np.int64), "out of range"),
        (np.full(10, -2, np.int32), np.array([0, 2], np.int64), "out of range"),
        (np.zeros(10, np.int32), np.array([0, 2, 2], np.int64), "strictly increasing"),
        (np.zeros(10, np.int32), np.array([0, 4], np.int64), "within"),
    ],
)
def test_em_pass_groups_are_validated(group, begin, message):
    from emfast._native import core

    X = np.zeros((10, 2))
    params = as_params(random_params(np.random.RandomState(0), 3, 2, "diag"))
    log_w, means, pc = params.native()
    with pytest.raises(ValueError, match=message):
        core.em_pass(X, None, log_w, means, pc, "diag", np.zeros(2), 0, 0, False, groups=group, group_begin=begin)


def test_vector_exp_and_log_are_accurate(variant_core):
    core = variant_core
    rng = np.random.default_rng(0)
    x = np.r_[rng.uniform(-708, 709, 100_000), rng.uniform(-1, 1, 100_000), -708.0, 0.0, 709.0]
    y = core._vector_math("exp", x)
    ref = np.exp(x.astype(np.longdouble))
    assert np.max(np.abs(y - ref) / np.spacing(ref.astype(np.float64))) < 1.5  # ulp
    # below the smallest normal result: 0; NaN stays NaN
    special = core._vector_math("exp", np.array([-708.5, -800.0, -np.inf, np.nan]))
    np.testing.assert_array_equal(special[:3], 0.0)
    assert np.isnan(special[3])
    x = np.r_[rng.uniform(1, 64, 100_000), np.exp(rng.uniform(-700, 700, 100_000)), 1.0, 2.0]
    y = core._vector_math("log", x)
    ref = np.log(x.astype(np.longdouble))
    err = np.abs(y - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(np.float64).tiny).astype(np.float64))
    assert np.max(err) < 3.0  # ulp
    assert y[-2] == 0.0


def test_nearest_zero_matches_numpy():
    """The native shift reduction against its NumPy statement: per column, the
    entry of smallest magnitude, + where the column holds it."""

    def reference(points, dtype):
        smallest = np.min(np.abs(points), axis=0)
        return round_to(np.where((points == smallest).any(axis=0), smallest, -smallest), dtype)

    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(n, d)) * 10.0 ** rng.integers(-5, 5, size=d) for n, d in ((1, 1), (5, 3), (1024, 17))]
    ties = np.array([[-2.0, 3.0, -0.0, np.inf, -np.inf, 1.0], [2.0, -3.0, 5.0, 7.0, -np.inf, -1.0]])
    cases += [ties, -ties, np.array([[1e308, -1e-320], [-1e308, 1e-320]])]
    for points in cases:
        for dtype in (np.float64, np.float32):
            with np.errstate(over="ignore"):  # 1e308 rounds to inf in float32
                got, want = nearest_zero(points, dtype), reference(points, dtype)
            np.testing.assert_array_equal(got, want)
            assert np.array_equal(np.signbit(got), np.signbit(want))
    with_nan = np.array([[np.nan, 1.0], [0.5, 2.0]])
    assert np.isnan(nearest_zero(with_nan, np.float64)[0]) and nearest_zero(with_nan, np.float64)[1] == 1.0
    # a Fortran-ordered or float32 input is read as the same values
    F = np.asfortranarray(cases[2])
    np.testing.assert_array_equal(nearest_zero(F, np.float64), reference(F, np.float64))


def test_small_helpers_match_numpy():
    from emfast._native import core

    rng = np.random.RandomState(0)
    for n, d in [(1, 1), (2, 3), (250, 3), (1000, 17)]:
        X = rng.normal(loc=1e3, size=(n, d))
        np.testing.assert_allclose(core.mean_column_variance(X), np.mean(np.var(X, axis=0)), rtol=1e-12, atol=1e-300)
        labels = rng.randint(0, 7, size=n).astype(np.int32)
        assert core.count_distinct(labels, 7) == len(np.unique(labels))
    assert np.isnan(core.mean_column_variance(np.zeros((0, 3))))
    with pytest.raises(ValueError, match="outside"):
        core.count_distinct(np.array([0, 7], dtype=np.int32), 7)
    with pytest.raises(ValueError, match="outside"):
        core.count_distinct(np.array([-1], dtype=np.int32), 7)
    for bad in ([1.0, -1.0, 3.0], [1.0, np.nan, 1.0], [1.0, 1e39, 1.0]):  # 1e39: beyond float32
        with pytest.raises(ValueError, match="sample_weight"):
            core.choice_sweep(np.array(bad), 3, 6.0, True)
    finite = [np.zeros(3), np.ones((2, 2))]
    assert core.all_finite(finite)
    for bad in (np.inf, -np.inf, np.nan):
        assert not core.all_finite(finite + [np.array([1.0, bad])])


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("what", ["log_prob_norm", "proba", "log_resp", "predict", "weighted_log_prob", "mahalanobis"])
@pytest.mark.parametrize("D", [2, 6])
def test_score_pass_matches_brute_force(variant_core, cov, what, D):
    core = variant_core
    rng = np.random.RandomState(0)
    K, N = 4, 517
    params = random_params(rng, K, D, cov)
    X = rng.normal(scale=2.0, size=(N, D))
    log_w, means, pc = as_params(params).native()
    out = core.score(X, log_w, means, pc, cov, as_params(params).shift(X.dtype), what, 0)
    lp = brute_log_prob(X, params, cov)
    lse = logsumexp(lp, axis=1)
    expected = {
        "log_prob_norm": lse,
        "proba": np.exp(lp - lse[:, None]),
        "log_resp": lp - lse[:, None],
        "predict": lp.argmax(axis=1),
        "weighted_log_prob": lp,
        "mahalanobis": brute_mahalanobis(X, params, cov),
    }[what]
    if what == "predict":
        np.testing.assert_array_equal(out, expected)
    else:
        close(out, expected, 1e-10)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fixed_pass_labels_and_resp(cov, dtype):
    from emfast._native import core

    rng = np.random.RandomState(1)
    N, D, K = 700, 4, 3
    X = (rng.normal(size=(N, D)) + 50).astype(dtype)
    w = rng.uniform(0.5, 1.5, size=N)
    centers = rng.normal(size=(K, D)) + 50
    shift = round_to(X[:10].mean(0), dtype)

    labels = rng.randint(-1, K, size=N).astype(np.int32)
    st = core.fixed_pass(X, w, labels, None, centers, cov, shift, 0)
    onehot = np.zeros((N, K))
    onehot[labels >= 0, labels[labels >= 0]] = 1
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for got, want in zip((st["s0"], st["s1"], st["s2"]), brute_stats(X, w, onehot, st["centers"], cov)):
        close(got, want, rtol)

    resp = rng.dirichlet(np.ones(K), size=N).astype(dtype)
    st = core.fixed_pass(X, w, None, resp, centers, cov, shift, 0)
    for got, want in zip((st["s0"], st["s1"], st["s2"]), brute_stats(X, w, resp, st["centers"], cov)):
        close(got, want, rtol)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_m_step_matches_formulas(cov):
    from emfast._native import core

    rng = np.random.RandomState(2)
    N, D, K = 500, 3, 2
    X = rng.normal(size=(N, D)) * [1, 2, 3] + 10
    resp = rng.dirichlet(np.ones(K), size=N)
    w = np.ones(N)
    centers = rng.normal(size=(K, D)) + 10
    s0, s1, s2 = brute_stats(X, w, resp, centers, cov)
    out = core.m_step(s0, s1, s2, centers, cov, 1e-3, 0.0, 1.0)
    nk = resp.sum(0) + 10 * np.finfo(float).eps
    means = resp.T @ X / nk[:, None]
    full = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) / nk[k] for k in range(K)])
    expected = {
        "full": full + 1e-3 * np.eye(D),
        "tied": (full * nk[:, None, None]).sum(0) / nk.sum() + 1e-3 * np.eye(D),
        "diag": np.stack([np.diag(f) for f in full]) + 1e-3,
        "spherical": np.array([np.trace(f) / D for f in full]) + 1e-3,
    }[cov]
    close(out["weights"], nk / nk.sum(), 1e-12)
    close(out["means"], means, 1e-12)
    close(out["covariances"], expected, 1e-11)
    if cov in ("full", "tied"):
        pc = out["precisions_cholesky"]
        mats = pc if cov == "full" else pc[None]
        covs = expected if cov == "full" else expected[None]
        for P, C in zip(mats, covs):
            np.testing.assert_allclose(P @ P.T @ C, np.eye(D), atol=1e-10)
            assert np.allclose(P, np.triu(P))
    else:
        close(out["precisions_cholesky"], 1 / np.sqrt(expected), 1e-12)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_strided_and_fortran_input_gives_the_same_stats(cov):
    from emfast._native import core

    rng = np.random.RandomState(3)
    params = random_params(rng, 3, 5, cov)
    X = rng.normal(size=(400, 10))
    views = [np.ascontiguousarray(X[:, ::2]), X[:, ::2], np.asfortranarray(X[:, ::2]), X[:, ::2][::-1][::-1]]
    log_w, means, pc = as_params(params).native()
    shift = as_params(params).shift(X.dtype)
    ref = core.em_pass(views[0], None, log_w, means, pc, cov, shift, 0, 0)
    for v in views[1:]:
        st = core.em_pass(v, None, log_w, means, pc, cov, shift, 0, 0)
        for key in ("s0", "s1", "s2", "loglik"):
            np.testing.assert_array_equal(st[key], ref[key])


def test_simd_variants_agree():
    if len(VARIANTS) < 2:
        pytest.skip("only one kernel variant runs on this CPU")
    rng = np.random.RandomState(4)
    X = make_blobs(5000, 12, 4, seed=4, anisotropic=True)
    params = random_params(rng, 4, 12, "full")
    params["means"] = X[:4]
    log_w, means, pc = as_params(params).native()
    shift = as_params(params).shift(X.dtype)
    results = []
    for v in VARIANTS:
        with using_variant(v) as core:
            results.append(core.em_pass(X, None, log_w, means, pc, "full", shift, 0, 0))
    for st in results[1:]:
        for key in ("s0", "s1", "s2"):
            close(st[key], results[0][key], 1e-12)


def test_fit_allocates_nothing_of_size_n_by_k():
    # 200k x 50 responsibilities would be 80 MB; the fused pass never makes them
    X = make_blobs(200_000, 2, 50, seed=5, spread=20.0)
    rng = np.random.RandomState(0)
    init = dict(
        means_init=X[rng.choice(len(X), 50, replace=False)],
        weights_init=np.full(50, 1 / 50),
        precisions_init=np.tile(np.eye(2), (50, 1, 1)),
    )
    gm = GaussianMixture(50, max_iter=3, tol=0, **init)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.05 * X.shape[0] * 50 * 8, peak


@pytest.mark.parametrize("cov", ["full", "tied"])
@pytest.mark.parametrize("d", [1, 3, 4, 5, 9, 66, 257])
def test_precision_cholesky_matches_lapack(variant_core, d, cov):
    """The factors of the M-step (computed a block of columns at a time) against
    scikit-learn's, which come from LAPACK, for widths around and past a block;
    and a matrix that is not positive definite is regularised, not factored."""
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    rng = np.random.RandomState(d)
    A = rng.normal(size=(3, d, d + 2))
    covs = A @ np.swapaxes(A, 1, 2) / (d + 2) + 0.1 * np.eye(d)
    if cov == "tied":
        covs = covs[0]
    given = covs.copy()
    _, prec_chol, jitter = variant_core.precision_cholesky(covs, cov, 1.0)
    np.testing.assert_array_equal(covs, given)
    np.testing.assert_array_equal(jitter, 0.0)
    ref = _compute_precision_cholesky(covs, cov)
    np.testing.assert_allclose(prec_chol, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
    # one negative eigenvalue: some pivot fails, and the matrix is regularised
    bad = given.copy()
    eig, vec = np.linalg.eigh(bad if cov == "tied" else bad[0])
    low = (vec * np.r_[-1e-3, eig[1:]]) @ vec.T
    if cov == "tied":
        bad = low
    else:
        bad[0] = low
    out_covs, _, jitter = variant_core.precision_cholesky(bad.copy(), cov, 1.0)
    assert np.ravel(jitter)[0] > 0
    assert np.linalg.eigvalsh(out_covs if cov == "tied" else out_covs[0]).min() > 0
