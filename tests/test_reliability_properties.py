"""Property tests: over shapes, dtypes, value ranges, memory layouts and parameters,
every public method either raises a documented exception or returns outputs that
satisfy the invariants (reliability.assert_valid_mixture); no call modifies its
inputs (reliability.Guarded).

Example counts are kept small so that the suite stays fast; raise them locally
with HYPOTHESIS_EXAMPLES=500 to search harder.
"""

import os
import re
import warnings

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reliability import Guarded, assert_valid_mixture, estimator_cases, require, supported, takes_sample_weight

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "30"))
SETTINGS = dict(
    max_examples=EXAMPLES,
    # the same examples on every run (CI); HYPOTHESIS_EXAMPLES searches afresh
    derandomize="HYPOTHESIS_EXAMPLES" not in os.environ,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# What fitting may raise on finite data of a valid shape: nothing else.
DOCUMENTED_FIT_ERRORS = re.compile(
    r"overflow float64|Fitting produced non-finite|could not regularise|non-finite variance"
    # a Bayesian mixture's default covariance prior needs more than one sample in all
    r"|sample weights summing to more than 1"
)

DTYPES = ["float64", "float32", "float16", "int64", "int8", "bool"]
# per dtype, the largest magnitude drawn for arbitrary elements
BOUND = {"float64": 1e160, "float32": 3e38, "float16": 6e4, "int64": 2.0**62, "int8": 127, "bool": 1}
WIDTH = {"float64": 64, "float32": 32, "float16": 16}


@st.composite
def matrices(draw, n, d, dtype):
    """An (n, d) array of dtype: arbitrary elements (hypothesis goes for zeros,
    duplicates, subnormals and extremes) or clusters at a random scale and offset."""
    if draw(st.booleans()) and dtype in WIDTH:
        bound = float(np.dtype(dtype).type(BOUND[dtype]))  # representable at that width
        elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=WIDTH[dtype])
        return draw(hnp.arrays(np.dtype(dtype), (n, d), elements=elements))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.RandomState(seed)
    k = draw(st.integers(1, 4))
    if dtype == "float64":
        exponent = draw(st.integers(-150, 150))
    elif dtype == "float32":
        exponent = draw(st.integers(-18, 18))
    elif dtype == "float16":
        exponent = draw(st.integers(-2, 2))
    else:
        exponent = draw(st.integers(0, 2))
    scale = 10.0**exponent
    offset = draw(st.sampled_from([0.0, 1.0] if dtype == "float16" else [0.0, 1.0, 1e3])) * scale
    centres = rng.normal(scale=5 * scale, size=(k, d))
    X = centres[rng.randint(k, size=n)] + scale * rng.standard_normal((n, d)) + offset
    if draw(st.booleans()):  # duplicated rows
        X[: n // 2] = X[0]
    if dtype == "bool":
        return X > np.median(X)
    if dtype in ("int64", "int8"):
        info = np.iinfo(dtype)
        return np.clip(np.round(X), info.min, info.max).astype(dtype)
    return X.astype(dtype)


LAYOUTS = {
    "C": lambda A: A,
    "F": np.asfortranarray,
    "strided": lambda A: np.repeat(np.repeat(A, 2, axis=0), 2, axis=1)[::2, ::2],
    "reversed": lambda A: np.ascontiguousarray(A[::-1, ::-1])[::-1, ::-1],
    "read-only": lambda A: _read_only(A),
    "list": lambda A: A.tolist(),
}


def _read_only(A):
    A = np.array(A)
    A.setflags(write=False)
    return A


@st.composite
def fit_problems(draw):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(DTYPES))
    X = draw(matrices(n, d, dtype))
    layout = draw(st.sampled_from(list(LAYOUTS)))
    params = {
        "n_components": draw(st.integers(1, min(n, 4))),
        "reg_covar": draw(st.sampled_from([0.0, 1e-6, 1e-3])),
        "init_params": draw(st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"])),
        "max_iter": draw(st.sampled_from([0, 1, 5, 100])),
        "tol": draw(st.sampled_from([0.0, 1e-3])),
        "n_init": draw(st.sampled_from([1, 2])),
        "random_state": draw(st.integers(0, 2**31 - 1)),
    }
    sample_weight = None
    if draw(st.booleans()):
        exponent = draw(st.integers(-300, 300))
        w = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e3, allow_subnormal=True)))
        assume((w > 0).any())
        sample_weight = _read_only(w * 10.0**exponent) if draw(st.booleans()) else w * 10.0**exponent
        assume(np.isfinite(sample_weight).all() and (sample_weight > 0).any())
    return LAYOUTS[layout](X), params, sample_weight


def fit_or_documented_error(est, X, sample_weight):
    """Fit; True if fitted, False if it raised a documented error."""
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, **kwargs)
    except ValueError as exc:
        if DOCUMENTED_FIT_ERRORS.search(str(exc)):
            return False
        raise
    return True


def check_predictions(est, Z):
    """The read-only methods on new data Z: invariants, also for points far away."""
    n = np.shape(Z)[0]
    K = len(est.est.weights_)
    proba = est.predict_proba(Z)
    assert proba.shape == (n, K) and np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-5 if proba.dtype == np.float32 else 1e-9)
    labels = est.predict(Z)
    assert labels.shape == (n,) and ((labels >= 0) & (labels < K)).all()
    # the label is a most probable component
    assert (proba[np.arange(n), labels] >= proba.max(axis=1) * (1 - 1e-5)).all()
    log_prob = est.score_samples(Z)
    assert log_prob.shape == (n,) and not np.isnan(log_prob).any() and (log_prob < np.inf).all()
    if hasattr(est.est, "mahalanobis"):
        d2 = est.mahalanobis(Z)
        assert d2.shape == (n, K) and not np.isnan(d2).any() and (d2 >= 0).all()


@estimator_cases
@settings(**SETTINGS)
@given(problem=fit_problems(), data=st.data())
def test_fit_and_predict_properties(case, problem, data):
    X, params, sample_weight = problem
    est = Guarded(case.make(**supported(case, params)))
    if sample_weight is not None and not takes_sample_weight(est.est):
        sample_weight = None
    if not fit_or_documented_error(est, X, sample_weight):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_valid_mixture(est.est)
        X_arr = np.asarray(X)
        # on the training data: finite log-likelihoods, except that a model of values
        # spanning 1e150 may put a training point beyond float range (reported as -inf)
        check_predictions(est, X)
        # on new data of any dtype and scale, including points far from every component
        d = X_arr.shape[1]
        Z = data.draw(matrices(data.draw(st.integers(1, 20)), d, data.draw(st.sampled_from(DTYPES))))
        check_predictions(est, Z)
        Xs, ys = est.sample(data.draw(st.integers(1, 20)))
        assert np.isfinite(Xs).all() and Xs.shape[1] == d
        assert ((ys >= 0) & (ys < len(est.est.weights_))).all()


@estimator_cases
@settings(**SETTINGS)
@given(problem=fit_problems())
def test_clean_data_always_fits(case, problem):
    """Clusters at any scale in 1e+-150 (not arbitrary extremes) never raise."""
    X, params, sample_weight = problem
    X_arr = np.asarray(X, dtype=np.float64)
    spread = np.ptp(X_arr, axis=0).max()
    assume(spread == 0 or 1e-150 <= spread <= 1e150)
    est = Guarded(case.make(**supported(case, params)))
    if sample_weight is not None and not takes_sample_weight(est.est):
        sample_weight = None
    if sample_weight is not None and case.weights_are_counts:
        assume(np.sum(sample_weight) > 1)  # weights counting less than one sample in all are not clean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, **({} if sample_weight is None else {"sample_weight": sample_weight}))
        assert_valid_mixture(est.est, X)


@estimator_cases
@settings(**SETTINGS)
@given(problem=fit_problems(), batches=st.integers(1, 4))
def test_partial_fit_properties(case, problem, batches):
    X, params, sample_weight = problem
    est = Guarded(case.make(**supported(case, params)))
    require(est.est, "partial_fit")
    X = np.asarray(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for part in np.array_split(X, batches):
            if len(part) == 0:
                continue
            try:
                est.partial_fit(part)
            except ValueError as exc:
                if DOCUMENTED_FIT_ERRORS.search(str(exc)) or "n_samples" in str(exc):
                    return
                raise
        assert_valid_mixture(est.est)
        check_predictions(est, X)
