"""Every C++ entry point checks shapes, strides, dtypes, values and sizes (64-bit
overflow of N*D, N*K, K*D*D; more memory than the machine has) before touching
memory: hostile arguments are a ValueError, TypeError or MemoryError, never a crash.

These call the bindings directly (emfast._core, on every kernel variant built),
as the estimators are not the only way to reach them.
"""

import numpy as np
import pytest

from emfast._native import supported_variants, using_variant

VARIANTS = supported_variants()
GOOD = dict(
    X=np.random.RandomState(0).randn(50, 3),
    log_weights=np.log([0.5, 0.5]),
    means=np.zeros((2, 3)),
    full=np.tile(np.eye(3), (2, 1, 1)),
    shift=np.zeros(3),
)


@pytest.fixture(params=VARIANTS)
def core(request):
    with using_variant(request.param) as core:
        yield core


def score(core, X=None, log_weights=None, means=None, pc=None, cov="full", shift=None, what="proba", n_threads=0):
    g = GOOD
    return core.score(
        g["X"] if X is None else X,
        g["log_weights"] if log_weights is None else log_weights,
        g["means"] if means is None else means,
        g["full"] if pc is None else pc,
        cov,
        g["shift"] if shift is None else shift,
        what,
        n_threads,
    )


def em_pass(core, X=None, sw=None, means=None, pc=None, cov="full", shift=None, n_threads=0, n_worst=0):
    g = GOOD
    return core.em_pass(
        g["X"] if X is None else X,
        sw,
        g["log_weights"],
        g["means"] if means is None else means,
        g["full"] if pc is None else pc,
        cov,
        g["shift"] if shift is None else shift,
        n_threads,
        n_worst,
    )


def misaligned(shape, dtype=np.float64):
    itemsize = np.dtype(dtype).itemsize
    buf = np.zeros(int(np.prod(shape)) * itemsize + 1, dtype=np.uint8)
    a = buf[1:].view(dtype).reshape(shape)
    assert a.ctypes.data % itemsize
    return a


def test_good_arguments_work(core):
    assert score(core).shape == (50, 2)
    assert em_pass(core)["s0"].shape == (2,)


BAD_X = {
    "1-D": (np.zeros(3), ValueError, "2-D"),
    "3-D": (np.zeros((5, 3, 1)), ValueError, "2-D"),
    "no rows": (np.zeros((0, 3)), ValueError, "at least one row"),
    "int": (np.ones((5, 3), dtype=np.int64), ValueError, "float32 or float64"),
    "float16": (np.ones((5, 3), dtype=np.float16), ValueError, "float32 or float64"),
    "complex": (np.ones((5, 3), dtype=complex), ValueError, "float32 or float64"),
    "big-endian": (np.ones((5, 3), dtype=">f8"), ValueError, "float32 or float64"),
    "object": (np.ones((5, 3), dtype=object), ValueError, "float32 or float64"),
    "strides not a multiple of the item size": (
        np.ndarray((5, 3), dtype=np.float64, buffer=bytearray(200), strides=(28, 8)),
        ValueError,
        "strides",
    ),
    "list": ([[1.0, 2.0, 3.0]], TypeError, None),
}


@pytest.mark.parametrize("name", list(BAD_X))
def test_bad_X(core, name):
    X, exc, match = BAD_X[name]
    with pytest.raises(exc, match=match):
        score(core, X=X)
    with pytest.raises(exc, match=match):
        em_pass(core, X=X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_misaligned_rows_are_read_correctly(core, dtype):
    X = np.random.RandomState(2).randn(700, 3).astype(dtype)
    odd = misaligned(X.shape, dtype)
    odd[...] = X
    for what in ("log_prob_norm", "proba", "predict", "mahalanobis"):
        np.testing.assert_array_equal(score(core, X=odd, what=what), score(core, X=X, what=what))
        np.testing.assert_array_equal(score(core, X=odd[::-2, ::-1], what=what), score(core, X=X[::-2, ::-1], what=what))
    for key, value in em_pass(core, X=odd).items():
        np.testing.assert_array_equal(value, em_pass(core, X=X)[key], err_msg=key)


def test_negative_and_zero_strides_are_read_correctly(core):
    X = np.random.RandomState(1).randn(300, 3)
    expected = score(core, X=np.ascontiguousarray(X[::-1, ::-1]), what="log_prob_norm")
    np.testing.assert_array_equal(score(core, X=X[::-1, ::-1], what="log_prob_norm"), expected)
    row = np.broadcast_to(X[0], (300, 3))
    np.testing.assert_array_equal(
        score(core, X=row, what="log_prob_norm"), score(core, X=np.ascontiguousarray(row), what="log_prob_norm")
    )


BAD_PARAMS = {
    "means of another width": (dict(means=np.zeros((2, 4))), "means must have shape"),
    "no components": (dict(means=np.zeros((0, 3)), log_weights=np.zeros(0), pc=np.zeros((0, 3, 3))), "at least 1"),
    "log_weights of another length": (dict(log_weights=np.zeros(3)), "log_weights"),
    "log_weights NaN": (dict(log_weights=np.array([np.nan, 0.0])), "log_weights"),
    "log_weights +inf": (dict(log_weights=np.array([np.inf, 0.0])), "log_weights"),
    "precisions of another shape": (dict(pc=np.zeros((2, 3, 4))), "precisions_cholesky"),
    "precisions NaN": (dict(pc=np.full((2, 3, 3), np.nan)), "precisions_cholesky"),
    "precisions with a zero diagonal": (dict(pc=np.zeros((2, 3, 3))), "positive diagonal"),
    "diag precisions negative": (dict(pc=-np.ones((2, 3)), cov="diag"), "positive diagonal"),
    "spherical precisions of another length": (dict(pc=np.ones(3), cov="spherical"), "precisions_cholesky"),
    "means inf": (dict(means=np.full((2, 3), np.inf)), "means"),
    "shift of another length": (dict(shift=np.zeros(4)), "shift"),
    "shift NaN": (dict(shift=np.full(3, np.nan)), "shift"),
    "unknown covariance type": (dict(cov="banana"), "covariance_type"),
    "unknown output": (dict(what="banana"), "unknown score"),
    "n_threads negative": (dict(n_threads=-1), "n_threads"),
    "n_threads absurd": (dict(n_threads=10**6), "n_threads"),
}


@pytest.mark.parametrize("name", list(BAD_PARAMS))
def test_bad_parameters(core, name):
    kwargs, match = BAD_PARAMS[name]
    with pytest.raises(ValueError, match=match):
        score(core, **kwargs)
    if "what" not in kwargs:
        kwargs = {k: v for k, v in kwargs.items() if k != "log_weights"}
        if "log_weights" not in BAD_PARAMS[name][0]:
            with pytest.raises(ValueError, match=match):
                em_pass(core, **kwargs)


def test_wrongly_typed_parameters_are_type_errors(core):
    with pytest.raises(TypeError):
        score(core, means=np.zeros((2, 3)) + 1j)
    with pytest.raises(TypeError):
        score(core, means=np.array([["a", "b", "c"]] * 2))
    with pytest.raises(TypeError):
        score(core, what=None)


@pytest.mark.parametrize(
    "sw, match",
    [
        (np.ones(49), "shape"),
        (np.ones((50, 1)), "shape"),
        (np.r_[np.nan, np.ones(49)], "finite and non-negative"),
        (np.r_[np.inf, np.ones(49)], "finite and non-negative"),
        (np.r_[-1.0, np.ones(49)], "finite and non-negative"),
    ],
)
def test_bad_sample_weight(core, sw, match):
    with pytest.raises(ValueError, match=match):
        em_pass(core, sw=sw)
    with pytest.raises(ValueError, match=match):
        core.fixed_pass(GOOD["X"], sw, np.zeros(50, dtype=np.int64), None, GOOD["means"], "full", GOOD["shift"], 0)


def test_em_pass_n_worst_range(core):
    for n_worst in (-1, 2**21):
        with pytest.raises(ValueError, match="n_worst"):
            em_pass(core, n_worst=n_worst)


def test_fixed_pass_checks_its_responsibilities(core):
    X, centers, shift = GOOD["X"], GOOD["means"], GOOD["shift"]

    def call(labels=None, resp=None, **kw):
        return core.fixed_pass(kw.get("X", X), None, labels, resp, kw.get("centers", centers), "full", shift, 0)

    good = call(labels=np.zeros(50, dtype=np.int32))
    assert good["s0"][0] == 50
    cases = [
        (dict(), "exactly one"),
        (dict(labels=np.zeros(50, dtype=np.int32), resp=np.ones((50, 2))), "exactly one"),
        (dict(labels=np.full(50, 2, dtype=np.int32)), "out of range"),
        (dict(labels=np.full(50, -2, dtype=np.int32)), "out of range"),
        (dict(labels=np.zeros(49, dtype=np.int32)), "labels"),
        (dict(resp=np.ones((50, 3))), "resp"),
        (dict(resp=np.ones((50, 2), dtype=np.float32)), "dtype of X"),
        (dict(resp=misaligned((50, 2))), "aligned"),
        (dict(labels=np.zeros(50, dtype=np.int32), centers=np.full((2, 3), np.nan)), "centers"),
        (dict(labels=np.zeros(50, dtype=np.int32), centers=np.zeros((2, 4))), "centers"),
        (dict(labels=np.zeros(50, dtype=np.int64)), "int32"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            call(**kwargs)


def test_m_step_checks_its_statistics(core):
    K, D = 2, 3
    s0, s1, s2, centers = np.ones(K), np.zeros((K, D)), np.tile(np.eye(D), (K, 1, 1)), np.zeros((K, D))
    assert core.m_step(s0, s1, s2, centers, "full", 1e-6, 0.0, 1.0)["covariances"].shape == (K, D, D)
    cases = [
        ((np.ones(3), s1, s2, centers, "full", 1e-6, 0.0, 1.0), "s0"),
        ((s0, s1, s2[:, :2], centers, "full", 1e-6, 0.0, 1.0), "s2"),
        ((s0, s1, s2, centers[:, :2], "full", 1e-6, 0.0, 1.0), "centers"),
        ((np.ones(0), np.zeros((0, D)), np.zeros((0, D, D)), np.zeros((0, D)), "full", 1e-6, 0.0, 1.0), "at least one"),
        ((s0, np.zeros((K, 0)), np.zeros((K, 0, 0)), np.zeros((K, 0)), "full", 1e-6, 0.0, 1.0), "at least one"),
        ((s0 * np.nan, s1, s2, centers, "full", 1e-6, 0.0, 1.0), "s0"),
        ((s0, s1, np.full_like(s2, np.inf), centers, "full", 1e-6, 0.0, 1.0), "s2"),
        ((s0, s1, s2, centers, "full", -1.0, 0.0, 1.0), "reg_covar"),
        ((s0, s1, s2, centers, "full", np.nan, 0.0, 1.0), "reg_covar"),
        ((s0, s1, s2, centers, "full", 1e-6, np.nan, 1.0), "empty_threshold"),
        ((s0, s1, s2, centers, "full", 1e-6, 0.0, 0.0), "scale"),
        ((s0, s1, s2, centers, "full", 1e-6, 0.0, np.inf), "scale"),
        ((s0, s1, s2, centers, "banana", 1e-6, 0.0, 1.0), "covariance_type"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            core.m_step(*args)


def test_m_step_numerical_failure_is_a_value_error(core):
    # finite statistics whose covariance overflows: no jitter can repair it
    s2 = np.tile(np.eye(2), (1, 1, 1)) * 1e308
    s2[0, 0, 1] = s2[0, 1, 0] = 1e308
    with pytest.raises(ValueError, match="m_step"):
        core.m_step(np.full(1, 1e-300), np.zeros((1, 2)), s2, np.zeros((1, 2)), "full", 0.0, 0.0, 1.0)


def test_precision_cholesky_checks_its_covariances(core):
    cases = [
        (np.zeros((2, 3, 4)), "full", "bad covariances"),
        (np.zeros((3, 3)), "full", "bad covariances"),
        (np.zeros((3, 4)), "tied", "bad covariances"),
        (np.zeros(3), "diag", "bad covariances"),
        (np.zeros((3, 3)), "spherical", "bad covariances"),
        (np.zeros((0, 3, 3)), "full", "empty"),
        (np.zeros((2, 0, 0)), "full", "empty"),
        (np.full((2, 3, 3), np.nan), "full", "covariances"),
        (np.full((2, 3), np.inf), "diag", "covariances"),
    ]
    for covs, cov, match in cases:
        with pytest.raises(ValueError, match=match):
            core.precision_cholesky(covs, cov, 1.0)
    for scale in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="scale"):
            core.precision_cholesky(np.tile(np.eye(3), (2, 1, 1)), "full", scale)


def variational_args(cov="full", K=2, D=3, process=True):
    """Good arguments of the variational bindings: (prior, posterior, running)."""
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[cov]
    eye = {"full": np.tile(np.eye(D), (K, 1, 1)), "tied": np.eye(D), "diag": np.ones((K, D)),
           "spherical": np.ones(K)}[cov]
    prior_cov = {"full": np.eye(D), "tied": np.eye(D), "diag": np.ones(D), "spherical": np.array(1.0)}[cov]
    kind = "dirichlet_process" if process else "dirichlet_distribution"
    prior = (kind, 0.5, 1.0, np.zeros(D), float(D), prior_cov)
    dof = float(D + 1) if cov == "tied" else np.full(K, D + 1.0)
    posterior = (np.ones(K), np.ones(K) if process else None, np.ones(K), np.zeros((K, D)), dof, eye)
    running = (np.ones(K), np.zeros((K, D)), np.ones(shape), np.zeros((K, D)), -1.0, 1.0)
    return prior, posterior, running


def svi_step(core, X=None, sw=None, cov="full", prior=None, posterior=None, running=None, rho=0.5, counts=None,
             seen=0.0, scale_w=1.0, reg=1e-6, scale=1.0, n_threads=0, **kw):
    good = variational_args(cov if cov in ("full", "tied", "diag", "spherical") else "full", **kw)
    return core.svi_step(GOOD["X"] if X is None else X, sw, cov, good[0] if prior is None else prior,
                         good[1] if posterior is None else posterior, good[2] if running is None else running,
                         rho, counts, seen, scale_w, reg, scale, n_threads)


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_variational_bindings_work(core, cov):
    out = svi_step(core, cov=cov)
    assert out["finite"] and out["means"].shape == (2, 3) and out["seen_weight"] == 50.0
    assert out["weights"].sum() == pytest.approx(1.0)
    prior, posterior, running = variational_args(cov)
    d = core.variational_m_step(*running[:4], cov, prior, 1e-6, 1.0, 1.0)
    assert d["covariances"].shape == running[2].shape
    log_weights, weights = core.variational_e_step("dirichlet_process", posterior, 3)
    assert np.isfinite(log_weights).all() and weights.shape == (2,)
    assert core.variational_e_step("dirichlet_process", posterior, 3, False)[0] is None


def test_svi_step_checks_its_arguments(core):
    prior, posterior, running = variational_args()
    replaced = lambda t, i, v: t[:i] + (v,) + t[i + 1 :]  # noqa: E731
    cases = [
        (dict(X=np.zeros(3)), ValueError, "2-D"),
        (dict(X=np.zeros((5, 3), dtype=np.int64)), ValueError, "float32 or float64"),
        (dict(X=np.zeros((5, 4))), ValueError, "the prior's"),  # its mean has 3 features
        (dict(sw=-np.ones(50)), ValueError, "sample_weight"),
        (dict(sw=np.ones(3)), ValueError, "sample_weight"),
        (dict(cov="banana"), ValueError, "covariance_type"),
        (dict(prior=prior[:5]), ValueError, "prior must be"),
        (dict(prior=replaced(prior, 0, "dirichlet")), ValueError, "prior_type"),
        (dict(prior=replaced(prior, 0, 3)), TypeError, "string"),
        (dict(prior=replaced(prior, 1, "0.5")), TypeError, "weight_concentration"),
        (dict(prior=replaced(prior, 1, 0.0)), ValueError, "weight_concentration"),
        (dict(prior=replaced(prior, 2, np.nan)), ValueError, "mean_precision"),
        (dict(prior=replaced(prior, 4, 2.0)), ValueError, "degrees_of_freedom"),
        (dict(prior=replaced(prior, 3, np.zeros(2))), ValueError, "the prior's mean"),
        (dict(prior=replaced(prior, 3, np.full(3, np.inf))), ValueError, "the prior's mean"),
        (dict(prior=replaced(prior, 5, np.eye(2))), ValueError, "the prior's covariance"),
        (dict(prior=replaced(prior, 5, np.full((3, 3), np.nan))), ValueError, "the prior's covariance"),
        (dict(posterior=posterior[:5]), ValueError, "posterior must be"),
        (dict(posterior=replaced(posterior, 1, None)), ValueError, "weight_b"),
        (dict(posterior=replaced(posterior, 0, np.ones(3))), ValueError, "weight_a"),
        (dict(posterior=replaced(posterior, 0, -np.ones(2))), ValueError, "positive"),
        (dict(posterior=replaced(posterior, 2, np.zeros(2))), ValueError, "positive"),
        (dict(posterior=replaced(posterior, 3, np.zeros((2, 4)))), ValueError, "means"),
        (dict(posterior=replaced(posterior, 3, np.full((2, 3), np.nan))), ValueError, "means"),
        (dict(posterior=replaced(posterior, 4, np.full(2, 1.5))), ValueError, "degrees_of_freedom"),
        (dict(posterior=replaced(posterior, 4, 4.0)), ValueError, "tied only"),
        (dict(posterior=replaced(posterior, 5, np.ones((2, 3)))), ValueError, "precisions_cholesky"),
        (dict(posterior=replaced(posterior, 5, np.zeros((2, 3, 3)))), ValueError, "positive diagonal"),
        (dict(running=list(running)), TypeError, "tuple"),
        (dict(running=running[:4]), ValueError, "running must be"),
        (dict(running=replaced(running, 2, np.ones((2, 3)))), ValueError, "s2"),
        (dict(running=replaced(running, 3, np.ones((3, 3)))), ValueError, "centers"),
        (dict(running=replaced(running, 4, "x")), TypeError, "loglik"),
        (dict(rho=1.5), ValueError, "rho"),
        (dict(rho=np.nan), ValueError, "rho"),
        (dict(counts=0.0), ValueError, "counts"),
        (dict(counts=np.inf), ValueError, "counts"),
        (dict(counts="many"), TypeError, "counts"),
        (dict(seen=-1.0), ValueError, "seen_weight"),
        (dict(scale_w=0.0), ValueError, "weight_scale"),
        (dict(reg=-1e-6), ValueError, "reg_covar"),
        (dict(scale=np.inf), ValueError, "scale"),
        (dict(n_threads=-1), ValueError, "n_threads"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            svi_step(core, **kwargs)
    # a Dirichlet prior takes no weight_b
    with pytest.raises(ValueError, match="weight_b"):
        svi_step(core, posterior=variational_args(process=True)[1], process=False)


def test_svi_step_reports_statistics_that_are_not_finite(core):
    # float32 rows whose squared deviations overflow float32: nothing else is computed
    X = (np.random.RandomState(0).randn(50, 3) * 1e20).astype(np.float32)
    assert svi_step(core, X=X) == {"finite": False}


def test_variational_bindings_read_misaligned_arrays(core):
    """Arrays at any address (views into byte buffers) give what aligned ones give."""

    def moved(a):
        out = misaligned(np.shape(a))
        out[...] = a
        return out

    prior, posterior, running = variational_args("diag")
    d = core.variational_m_step(*running[:4], "diag", prior, 1e-6, 1.0, 1.0)
    odd = core.variational_m_step(*[moved(a) for a in running[:4]], "diag", prior[:3] + (moved(prior[3]),) +
                                  prior[4:], 1e-6, 1.0, 1.0)
    for key in ("means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(odd[key], d[key])
    posterior = posterior[:3] + (np.arange(6.0).reshape(2, 3),) + posterior[4:]
    step = svi_step(core, cov="diag", posterior=posterior, running=running)
    odd = svi_step(core, cov="diag", posterior=tuple(a if a is None or np.ndim(a) == 0 else moved(a) for a in posterior),
                   running=tuple(moved(a) if np.ndim(a) else a for a in running))
    for key in ("means", "s2", "weights"):
        np.testing.assert_array_equal(odd[key], step[key])
    np.testing.assert_array_equal(core.nearest_zero(moved(np.arange(6.0).reshape(2, 3) - 2)), [1.0, -1.0, 0.0])


def test_variational_m_step_checks_its_arguments(core):
    prior, _, (s0, s1, s2, centers, _, _) = variational_args()
    cases = [
        ((np.ones(3), s1, s2, centers, "full", prior, 1e-6, 1.0, 1.0), "s0"),
        ((s0, s1, s2[:, :2], centers, "full", prior, 1e-6, 1.0, 1.0), "s2"),
        ((s0, s1, s2, centers[:, :2], "full", prior, 1e-6, 1.0, 1.0), "centers"),
        ((s0, np.zeros((2, 0)), s2, centers, "full", prior, 1e-6, 1.0, 1.0), "s1"),
        ((s0, s1, s2, centers, "full", prior[:3], 1e-6, 1.0, 1.0), "prior must be"),
        ((s0, s1, s2, centers, "diag", prior, 1e-6, 1.0, 1.0), "s2"),
        ((s0, s1, s2, centers, "full", prior, -1.0, 1.0, 1.0), "reg_covar"),
        ((s0, s1, s2, centers, "full", prior, 1e-6, 0.0, 1.0), "scale"),
        ((s0, s1, s2, centers, "full", prior, 1e-6, 1.0, np.nan), "counts"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            core.variational_m_step(*args)
    # statistics beyond float64: the ValueError that says so
    with pytest.raises(ValueError, match="non-finite covariances"):
        core.variational_m_step(s0, s1, np.full_like(s2, np.inf), centers, "full", prior, 1e-6, 1.0, 1.0)


def test_variational_e_step_checks_its_arguments(core):
    _, posterior, _ = variational_args()
    with pytest.raises(ValueError, match="prior_type"):
        core.variational_e_step("banana", posterior, 3)
    with pytest.raises(ValueError, match="n_features"):
        core.variational_e_step("dirichlet_process", posterior, 0)
    with pytest.raises(ValueError, match="means"):
        core.variational_e_step("dirichlet_process", posterior, 4)
    with pytest.raises(ValueError, match="degrees_of_freedom"):
        core.variational_e_step("dirichlet_process", posterior[:4] + (np.ones((2, 2)),) + posterior[5:], 3)


# ----------------------------------------------------------------- sizes


def test_output_size_overflowing_64_bits(core):
    K = 32
    X = np.broadcast_to(np.zeros((1, 1)), (2**59, 1))  # no memory of its own
    with pytest.raises(ValueError, match="overflow"):
        score(core, X=X, log_weights=np.zeros(K), means=np.zeros((K, 1)), pc=np.ones((K, 1, 1)), shift=np.zeros(1))


@pytest.mark.parametrize("what", ["proba", "mahalanobis", "log_prob_norm", "predict"])
def test_output_larger_than_memory(core, what):
    X = np.broadcast_to(np.zeros((1, 1)), (2**45, 1))
    with pytest.raises(MemoryError, match="emfast would need"):
        score(core, X=X, means=np.zeros((2, 1)), pc=np.ones((2, 1, 1)), shift=np.zeros(1), what=what)


@pytest.mark.parametrize("cov", ["full", "tied"])
def test_model_larger_than_memory(core, cov):
    D, K = 200_000, 64  # full: K D^2 doubles = 20 PB; tied: D^2 = 320 TB
    X = np.broadcast_to(np.zeros((1, D)), (4, D))
    with pytest.raises(MemoryError, match="emfast would need"):
        core.fixed_pass(X, None, np.zeros(4, dtype=np.int64), None, np.zeros((K, D)), cov, np.zeros(D), 0)


def test_plan_memory(core):
    small = core.plan_memory(1000, 10, 4, "full", 4)
    assert 1000 * 4 * 8 < small < 2**30
    assert core.plan_memory(1000, 10, 4, "diag") < small
    with pytest.raises(MemoryError, match="emfast would need"):
        core.plan_memory(10, 10**6, 10**3, "full")
    with pytest.raises(ValueError, match="overflow"):
        core.plan_memory(10, 2**40, 2**40, "full")
    with pytest.raises(ValueError, match="overflow"):
        core.plan_memory(2**62, 1, 1, "full", 2**10)
    with pytest.raises(ValueError):
        core.plan_memory(10, 0, 1, "full")
    with pytest.raises(ValueError, match="covariance_type"):
        core.plan_memory(10, 1, 1, "banana")


def test_predict_flags_rows_without_a_finite_log_density(core):
    X = np.array([[1e300, 1e300, 1e300], [0.0, 0.0, 0.0]])
    labels = score(core, X=X, what="predict")
    assert labels[0] == -1 and labels[1] in (0, 1)
