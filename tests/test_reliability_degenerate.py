"""Degenerate data: a model, not an exception.

Every fitted model has finite parameters, SPD covariances, weights summing to 1
and rows of predict_proba summing to 1 (reliability.assert_valid_mixture), and
every public call leaves its inputs untouched (reliability.Guarded).
"""

import warnings

import numpy as np
import pytest
from conftest import float32_model_dtype
from reliability import (
    Guarded,
    assert_valid_mixture,
    blobs,
    covariance_type,
    estimator_cases,
    make_or_skip,
    read_only,
    supported,
    takes_sample_weight,
)
from sklearn.exceptions import ConvergenceWarning

from emfast import DegenerateComponentWarning

rng = np.random.RandomState(0)
BASE = rng.randn(120, 3)


def degenerate_datasets():
    """(name, X, n_components, extra parameters)."""
    yield "all rows identical", np.tile([1.0, -2.0, 3.0], (50, 1)), 3, {}
    yield "all rows identical, reg_covar=0", np.tile([1.0, -2.0, 3.0], (50, 1)), 3, {"reg_covar": 0.0}
    yield "all zeros, reg_covar=0", np.zeros((20, 2)), 2, {"reg_covar": 0.0}
    yield "duplicated points", np.repeat(BASE[:6], 20, axis=0), 4, {}
    yield "duplicated points, reg_covar=0", np.repeat(BASE[:6], 20, axis=0), 4, {"reg_covar": 0.0}
    yield "two distinct rows, K=2, reg_covar=0", np.repeat(BASE[:2], 10, axis=0), 2, {"reg_covar": 0.0}
    yield "constant feature, reg_covar=0", np.column_stack([BASE, np.full(120, 7.0)]), 3, {"reg_covar": 0.0}
    yield "collinear features, reg_covar=0", np.column_stack([BASE, 2 * BASE[:, 0] - BASE[:, 1]]), 3, {"reg_covar": 0.0}
    yield "rank one data, reg_covar=0", np.outer(rng.randn(80), [1.0, 2.0, -1.0]), 2, {"reg_covar": 0.0}
    yield "one row per component", BASE[:5], 5, {}
    yield "one row per component, reg_covar=0", BASE[:5], 5, {"reg_covar": 0.0}
    yield "two rows, two components", BASE[:2], 2, {"reg_covar": 0.0}
    yield "more components than distinct rows", np.repeat(BASE[:3], 5, axis=0), 5, {}
    yield "one feature", BASE[:, :1], 3, {}
    yield "values near 1e150", BASE * 1e150, 3, {}
    yield "values near 1e150, reg_covar=0", BASE * 1e150, 3, {"reg_covar": 0.0}
    yield "values near 1e-150", BASE * 1e-150, 3, {}
    yield "values near 1e-150, reg_covar=0", BASE * 1e-150, 3, {"reg_covar": 0.0}
    yield "values near 1e-300, reg_covar=0", BASE * 1e-300, 2, {"reg_covar": 0.0}
    yield "subnormal values, reg_covar=0", BASE * 1e-310, 2, {"reg_covar": 0.0}
    yield "offset 1e12, spread 1", BASE + 1e12, 3, {}
    yield "offset 1e150, spread 1e140", BASE * 1e140 + 1e150, 3, {}
    yield "mixed scales per feature", BASE * [1e-100, 1.0, 1e100], 3, {}
    yield "mixed scales per feature, reg_covar=0", BASE * [1e-100, 1.0, 1e100], 3, {"reg_covar": 0.0}
    yield "tight cluster and far outliers, reg_covar=0", np.vstack([np.zeros((50, 2)) + 1e-9 * rng.randn(50, 2), [[1e6, 1e6], [-1e6, 1e6]]]), 2, {"reg_covar": 0.0}
    yield "integers", np.round(BASE * 10).astype(np.int64), 3, {}
    yield "int8", np.round(BASE * 10).astype(np.int8), 3, {}
    yield "bool", BASE > 0, 2, {}
    yield "float16", BASE.astype(np.float16), 3, {}
    yield "float32", BASE.astype(np.float32), 3, {}
    yield "float32 values near 1e30, reg_covar=0", (BASE * 1e30).astype(np.float32), 3, {"reg_covar": 0.0}
    yield "float32 values near 1e-30, reg_covar=0", (BASE * 1e-30).astype(np.float32), 3, {"reg_covar": 0.0}
    yield "float32 values near 1e-40 (subnormal), reg_covar=0", (BASE * 1e-40).astype(np.float32), 2, {"reg_covar": 0.0}
    yield "float32 offset 1e6", (BASE + 1e6).astype(np.float32), 3, {}
    yield "float32 duplicated, reg_covar=0", np.repeat(BASE[:4], 10, axis=0).astype(np.float32), 3, {"reg_covar": 0.0}
    yield "Fortran order", np.asfortranarray(BASE), 3, {}
    yield "strided", np.repeat(BASE, 2, axis=1)[::2, ::2], 3, {}
    yield "negative strides", BASE[::-1, ::-1], 3, {}
    yield "read-only", read_only(BASE), 3, {}
    yield "read-only float32 Fortran", read_only(np.asfortranarray(BASE, dtype=np.float32)), 3, {}
    yield "list of lists", BASE[:30].tolist(), 2, {}
    yield "component that empties (means_init far away)", blobs(300, 2, 2, seed=1), 3, {
        "means_init": np.array([[0.0, 0.0], [1.0, 1.0], [1e4, 1e4]]),
    }
    yield "means_init 1e150 away", BASE, 2, {"means_init": np.array([[1e150, 0, 0], [-1e150, 0, 0]])}
    yield "means_init 1e150 away, reg_covar=0", BASE, 2, {"means_init": np.array([[1e150, 0, 0], [0, 0, 0]]), "reg_covar": 0.0}
    yield "tol=0, max_iter=3", BASE, 3, {"tol": 0.0, "max_iter": 3}
    yield "max_iter=0", BASE, 3, {"max_iter": 0}
    yield "n_init=3, init random", BASE, 3, {"n_init": 3, "init_params": "random"}
    yield "init random_from_data, duplicated, reg_covar=0", np.repeat(BASE[:3], 4, axis=0), 3, {"init_params": "random_from_data", "reg_covar": 0.0}
    yield "init k-means++, duplicated, reg_covar=0", np.repeat(BASE[:3], 4, axis=0), 3, {"init_params": "k-means++", "reg_covar": 0.0}


DATASETS = list(degenerate_datasets())


def fit_quietly(est, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        return est.fit(X, **kwargs)


@estimator_cases
@pytest.mark.parametrize("name,X,K,params", DATASETS, ids=[d[0] for d in DATASETS])
def test_degenerate_data_gives_a_valid_model(case, name, X, K, params):
    est = Guarded(make_or_skip(case, n_components=K, random_state=0, **params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        est.fit(X)
        assert_valid_mixture(est.est, np.asarray(X))
        Xs, ys = est.sample(7)
        assert Xs.shape == (7, np.shape(X)[1]) and np.isfinite(Xs).all()
        assert ys.shape == (7,) and ((ys >= 0) & (ys < K)).all()


@estimator_cases
@pytest.mark.parametrize(
    "name,sample_weight",
    [
        ("mostly zero", np.r_[np.zeros(100), np.ones(20)]),
        ("zero except one row per component", np.r_[np.ones(3), np.zeros(117)]),
        ("huge", np.full(120, 1e300)),
        ("tiny", np.full(120, 1e-300)),
        ("subnormal", np.full(120, 5e-320)),
        ("spanning 1e-300 to 1e300", np.logspace(-300, 300, 120)),
        ("integers", np.arange(120) % 4),
        ("float32", np.linspace(0.1, 2.0, 120, dtype=np.float32)),
        ("read-only", read_only(np.linspace(0.1, 2.0, 120))),
        ("strided", np.linspace(0.1, 2.0, 240)[::2]),
        ("scalar", 3.0),
        ("list", [1.0] * 120),
    ],
)
def test_degenerate_sample_weights_give_a_valid_model(case, name, sample_weight):
    est = Guarded(case.make(n_components=3, random_state=0))
    if not takes_sample_weight(est.est):
        pytest.skip("no sample_weight")
    if case.weights_are_counts and np.sum(np.broadcast_to(sample_weight, len(BASE))) <= 1:
        # fewer than one sample in all: no covariance (ddof=1) for the default prior
        with pytest.raises(ValueError, match="sample weights summing to more than 1"):
            fit_quietly(est, BASE, sample_weight=sample_weight)
        return
    fit_quietly(est, BASE, sample_weight=sample_weight)
    assert_valid_mixture(est.est, BASE)


@estimator_cases
def test_sample_weight_scale_does_not_matter(case):
    """Weights are relative: scaling them all by a power of two gives the same model."""
    if case.weights_are_counts:
        pytest.skip("weights count samples: scaling them is more or less data (tested per estimator)")
    sw = np.random.RandomState(1).uniform(0.5, 2.0, 120)
    ref = fit_quietly(case.make(n_components=3, random_state=0), BASE, sample_weight=sw)
    if not takes_sample_weight(ref):
        pytest.skip("no sample_weight")
    for factor in (2.0**-1000, 2.0**-200, 2.0**200, 2.0**1000):
        est = fit_quietly(case.make(n_components=3, random_state=0), BASE, sample_weight=sw * factor)
        np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(est.covariances_, ref.covariances_, rtol=1e-9, atol=1e-12)


LAYOUTS = {
    "Fortran": np.asfortranarray,
    "strided": lambda A: np.repeat(A, 2, axis=1)[:, ::2],
    "negative strides": lambda A: A[::-1][::-1],
    "read-only": read_only,
    "rows strided": lambda A: np.repeat(A, 3, axis=0)[::3],
}


@estimator_cases
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_memory_layout_does_not_change_the_model(case, layout, dtype):
    """The same numbers in any memory layout give bitwise the same model and outputs."""
    X = BASE.astype(dtype)
    ref = fit_quietly(case.make(n_components=3, random_state=0), X)
    V = LAYOUTS[layout](X)
    assert np.array_equal(V, X)
    est = fit_quietly(case.make(n_components=3, random_state=0), V)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(est, name), getattr(ref, name))
    np.testing.assert_array_equal(est.predict_proba(V), ref.predict_proba(X))
    np.testing.assert_array_equal(est.score_samples(V), ref.score_samples(X))


@estimator_cases
def test_float32_models_keep_float32_when_they_fit_in_it(case):
    est = fit_quietly(case.make(n_components=3, random_state=0), BASE.astype(np.float32))
    if not case.float32_model:
        # scikit-learn's model is float64 whatever X's dtype: so is emfast's
        ref = fit_quietly(case.reference(n_components=3, random_state=0), BASE.astype(np.float32))
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
            assert getattr(est, name).dtype == getattr(ref, name).dtype == np.float64, name
        assert est.predict_proba(BASE.astype(np.float32)).dtype == np.float64
        return
    expected = float32_model_dtype(est)  # GaussianMixture: float64 before scikit-learn 1.7, as its
    assert est.means_.dtype == expected and est.covariances_.dtype == expected
    # variances of 1e-60 do not fit in float32: the model is kept in float64
    tiny = fit_quietly(case.make(n_components=3, random_state=0, reg_covar=0.0), (BASE * 1e-30).astype(np.float32))
    assert tiny.covariances_.dtype == np.float64
    assert_valid_mixture(tiny, (BASE * 1e-30).astype(np.float32))


# ----------------------------------------------------------------- far-away points


@estimator_cases
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_points_whose_distances_overflow_get_the_limiting_answer(case, dtype):
    """Far from every component the squared distances overflow. The answer is then
    the limit, not NaN (scikit-learn returns NaN): the responsibility goes to the
    component of largest log-density, computed here exactly in rational arithmetic."""
    if dtype == np.float32 and not case.float32_model and covariance_type(case.make()) == "tied":
        pytest.skip(
            "a float64 model scores float32 X in float64 (as scikit-learn), where 1e37 is not far: "
            "tied components' equal quadratic terms round away their linear difference there, as "
            "scikit-learn's do; the float64 case covers the limit"
        )
    X = blobs(400, 2, 2, seed=3, spread=10.0).astype(dtype)
    est = fit_quietly(case.make(n_components=2, random_state=0), X)
    if est.means_.dtype != dtype:
        pytest.skip("a float64 model of float32 data (scikit-learn < 1.7): no distance to it overflows")
    big = 1e37 if dtype == np.float32 else 1e300
    far = [[big, big], [-big, big], [big, 0.0], [0.0, -big], [-big, -big / 3]]
    if dtype == np.float64:
        far += [[1.7e308, -1.7e308], [-1.7e308, 1.7e308]]  # x - mean overflows
    far = np.array(far, dtype=dtype)
    Z = np.vstack([X[:3], far])
    proba = est.predict_proba(Z)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    labels = est.predict(Z)
    np.testing.assert_array_equal(labels, np.argmax(proba, axis=1))
    exact = [exact_log_densities(est, z) for z in far]
    np.testing.assert_array_equal(labels[3:], [int(np.argmax(e)) for e in exact])
    log_prob = est.score_samples(Z)
    assert not np.isnan(log_prob).any()
    assert np.isfinite(log_prob[:3]).all()
    if hasattr(est, "mahalanobis"):
        d2 = est.mahalanobis(Z)
        assert not np.isnan(d2).any() and (d2 >= 0).all()
    # the rows the kernels could score are not touched by the recomputation of the others
    np.testing.assert_array_equal(proba[:3], est.predict_proba(Z[:3]))


def exact_log_densities(est, z):
    """log pi_k + log N(z | k) for each k, in exact rational arithmetic (as Fractions,
    with the constant terms rounded): comparable however far z is. For Student-t
    components (dofs_), the squared distance is exact and its logarithm rounded."""
    import math
    from fractions import Fraction

    from scipy.special import gammaln

    from emfast._overflow import _factor

    D = est.means_.shape[1]
    pc = np.asarray(est.precisions_cholesky_, dtype=np.float64)
    log_weights = est._fitted_params().native()[0]  # log weights_, or a variational mixture's
    out = []
    for k in range(len(est.weights_)):
        P = _factor(pc, est.covariance_type, k, D)
        diff = [Fraction(float(z[i])) - Fraction(float(est.means_[k][i])) for i in range(D)]
        y = [sum(diff[i] * Fraction(float(P[i, j])) for i in range(D)) for j in range(D)]
        log_weight_det = log_weights[k] + np.sum(np.log(np.diag(P)))
        maha = sum(v * v for v in y)
        if hasattr(est, "dofs_"):
            nu = float(est.dofs_[k])
            q = 1 + maha / Fraction(nu)
            const = log_weight_det + gammaln((nu + D) / 2) - gammaln(nu / 2) - D / 2 * np.log(nu * np.pi)
            out.append(const - (nu + D) / 2 * (math.log(q.numerator) - math.log(q.denominator)))
        else:
            out.append(Fraction(float(log_weight_det - 0.5 * D * np.log(2 * np.pi))) - maha / 2)
    return out


@estimator_cases
@pytest.mark.parametrize("what", ["proba", "log_prob_norm", "predict", "mahalanobis"])
def test_overflow_fallback_agrees_with_the_kernels_where_both_work(case, what):
    """The log-space recomputation used for overflowing rows is the same function."""
    from emfast._data import score_array
    from emfast._overflow import overflow_rows

    X = blobs(300, 3, 3, seed=5)
    est = fit_quietly(case.make(n_components=3, random_state=0), X)
    params = est._fitted_params()
    kernel = score_array(X, params, est.covariance_type, what)
    fallback = overflow_rows(X, params, est.covariance_type, what)
    if what == "predict":
        np.testing.assert_array_equal(fallback, kernel)
    else:
        np.testing.assert_allclose(fallback, kernel, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------- known limitation


@estimator_cases
@pytest.mark.parametrize("dtype, separation", [("float64", 1e17), ("float32", 1e8)])
def test_clusters_farther_apart_than_one_over_eps_of_their_width(case, dtype, separation):
    # the kernels subtract one shift from every row in the working type: it is
    # the value nearest zero (emfast._stats.nearest_zero), so the cluster at 0
    # keeps its spread (a mean, 5e16, would round it away)
    if case.make().get_params().get("covariance_type") == "tied":
        pytest.skip("a pooled covariance of clusters this far apart cancels in scikit-learn too")
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(200), rng.randn(200) + separation].reshape(-1, 1).astype(dtype)
    est = fit_quietly(case.make(n_components=2, random_state=0), X)
    near_zero = int(np.argmin(np.abs(est.means_[:, 0])))
    variance = float(np.ravel(est.covariances_[near_zero])[0])
    if case.weights_are_counts:
        # a variational posterior's covariance prior is X's covariance, which dominates
        # the cluster's: the variance is scikit-learn's BayesianGaussianMixture's
        ref = fit_quietly(case.reference(n_components=2, random_state=0), X)
        expected = float(np.ravel(ref.covariances_[int(np.argmin(np.abs(ref.means_[:, 0])))])[0])
        np.testing.assert_allclose(variance, expected, rtol=1e-3)
        return
    # the cluster at 0 has unit variance (to a few percent: 200 samples), as
    # scikit-learn finds
    assert 0.7 < variance < 1.4, variance


# ----------------------------------------------------------------- inputs are never modified


def _inits(cov, X, K):
    D = X.shape[1]
    prec = {
        "full": np.tile(np.eye(D), (K, 1, 1)),
        "tied": np.eye(D),
        "diag": np.ones((K, D)),
        "spherical": np.ones(K),
    }[cov]
    return {"weights_init": np.full(K, 1.0 / K), "means_init": X[:K].copy(), "precisions_init": prec}


@estimator_cases
@pytest.mark.parametrize("max_iter", [0, 5])
@pytest.mark.parametrize("writeable", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_public_method_modifies_its_inputs(case, max_iter, writeable, dtype):
    """Every public method under an InputGuard: X, sample weights and the *_init
    arrays are bitwise unchanged, and no fitted attribute or output is a view of
    them (with max_iter=0 the initial parameters are the model)."""
    X = BASE.astype(dtype)
    cov = case.make().get_params().get("covariance_type", "full")
    inits = {k: v.astype(dtype) for k, v in _inits(cov, BASE, 3).items()}
    sw = np.linspace(0.5, 2.0, len(X))
    if not writeable:
        X, sw = read_only(X), read_only(sw)
        inits = {k: read_only(v) for k, v in inits.items()}
    params = dict(n_components=3, random_state=0, max_iter=max_iter, warm_start=True, **inits)
    est = Guarded(case.make(**supported(case, params)))
    kwargs = {"sample_weight": sw} if takes_sample_weight(est.est) else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, **kwargs)
        est.fit(X, **kwargs)  # warm start: continues from the fitted model
        if hasattr(est.est, "partial_fit"):
            est.partial_fit(X, **kwargs)  # continues from the fitted model
            est.partial_fit(X[:50], **({"sample_weight": sw[:50]} if kwargs else {}))
        est.fit_predict(X, **kwargs)
        for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic", "mahalanobis"):
            if hasattr(est.est, method):
                getattr(est, method)(X)
        est.sample(5)
        est.set_params(max_iter=max_iter + 1)
        est.get_params()
    # the fitted model is independent of the caller's arrays
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        for value in list(inits.values()) + [X]:
            assert not np.may_share_memory(getattr(est.est, name), value), name


# ----------------------------------------------------------------- found by random search
# (HYPOTHESIS_EXAMPLES=N pytest tests/test_reliability_properties.py): each input
# broke an invariant before its fix.


def _assert_fits_a_valid_mixture(case, X, sample_weight=None, **params):
    """The case's estimator with params (those it takes), under an InputGuard, fits X
    (warnings ignored) to a valid mixture."""
    est = Guarded(case.make(**supported(case, params)))
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, **kwargs)
        assert_valid_mixture(est.est, X)


@estimator_cases
def test_component_emptying_slowly_far_from_zero(case):
    """Identical rows at 1e156: a t component's responsibility decays through
    1e-17, where scikit-learn's pull of an emptying mean towards 0 would give it
    a variance beyond float range ('non-finite variance'); scikit-learn has no
    model here (its X**2 overflows), and the component stays by its samples."""
    X = np.array([[0.0, 1.04100376e156], [0.0, 1.04100376e156]])
    _assert_fits_a_valid_mixture(
        case, X, n_components=2, reg_covar=0.0, init_params="random", max_iter=100, tol=0.0, random_state=0)


@estimator_cases
def test_initial_tied_covariance_of_rounding_noise_is_symmetric(case):
    """One sample per component and every row chosen: the initial tied covariance
    is sum x x^T - sum n_k m_k m_k^T, rounding noise (1e-13), whose two triangles
    rounded differently (scikit-learn's do too); emfast's is symmetric."""
    X = np.array([[22.64052345967664, 9.001572083672233], [14.787379841057392, 27.40893199201458]])
    _assert_fits_a_valid_mixture(case, X, n_components=2, reg_covar=0.0, init_params="k-means++", max_iter=0,
                                 random_state=0)


@estimator_cases
def test_initial_weights_sum_to_one_under_tiny_sample_weights(case):
    """Sample weights totalling 2e-9: the 10 eps that every component's weight
    gets are 1e-6 of it, so the initial weights n_k / n summed to 1 + 1e-6."""
    if case.weights_are_counts:
        pytest.skip("weights counting less than one sample in all are refused")
    _assert_fits_a_valid_mixture(case, np.zeros((2, 1)), np.array([1e-9, 1e-9]), n_components=1, reg_covar=0.0,
                                 init_params="kmeans", max_iter=0, random_state=0)
