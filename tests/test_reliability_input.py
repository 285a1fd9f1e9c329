"""Bad input: a clear ValueError or TypeError naming the problem, never a crash.

Where scikit-learn's GaussianMixture (or its validation helpers) has a message
for the same bad input, emfast raises the same exception type with the same
first line; the reference is run next to emfast on the same input.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from reliability import MIXTURES, estimator_cases, first_line, make_or_skip, require, takes_sample_weight
from sklearn.exceptions import NotFittedError

RNG = np.random.RandomState(0)
X = RNG.randn(60, 3)


def outcome(fn):
    """(exception type, first line of its message), or (None, None) if fn returns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except Exception as exc:  # noqa: BLE001 - the point is to look at any exception
        return type(exc), first_line(exc)
    return None, None


# options emfast adds to scikit-learn's (listed in the messages of a bad value)
EXTRA_OPTIONS = {"'kmeans_sample'"}


def _normalised(msg):
    """The message with the elements of any {...} set sorted (a set's order depends on
    the process's string hashing) and emfast's extra options left out, and emfast's
    estimators without a scikit-learn counterpart named as the counterpart they are
    compared with."""

    def options(m):
        return "{" + ", ".join(sorted(set(m.group(1).split(", ")) - EXTRA_OPTIONS)) + "}"

    msg = re.sub(r"\{([^{}]*)\}", options, msg or "")
    msg = msg.replace("MiniBatchBayesianGaussianMixture", "BayesianGaussianMixture")
    for name in ("MiniBatchGaussianMixture", "MiniBatchStudentTMixture", "StudentTMixture", "GaussianMixtureIC"):
        msg = msg.replace(name, "GaussianMixture")
    return msg


def assert_same_error(ours, theirs, expected_type=(ValueError, TypeError)):
    """emfast's error is scikit-learn's: same type, same first line of the message."""
    their_type, their_msg = outcome(theirs)
    our_type, our_msg = outcome(ours)
    assert their_type is not None, "the reference accepted this input; the test case is wrong"
    assert our_type is not None, f"emfast accepted input that scikit-learn rejects with {their_type.__name__}: {their_msg}"
    assert issubclass(our_type, expected_type), (our_type, our_msg)
    assert our_type is their_type, (our_type, our_msg, their_type, their_msg)
    assert _normalised(our_msg) == _normalised(their_msg)


# ----------------------------------------------------------------- X given to fit


def _with(value, **where):
    Z = X.copy()
    Z[where.get("row", 3), where.get("col", 1)] = value
    return Z


BAD_X = {
    "NaN": _with(np.nan),
    "inf": _with(np.inf),
    "-inf": _with(-np.inf),
    "empty": np.empty((0, 3)),
    "no features": np.empty((60, 0)),
    "one row": X[:1],
    "1-D": X[:, 0],
    "3-D": X.reshape(60, 3, 1),
    "scalar": np.float64(3.0),
    "strings": np.array([["a", "b"], ["c", "d"], ["e", "f"]]),
    "object strings": np.array([["a", 1.0], ["c", 2.0], ["e", 3.0]], dtype=object),
    "complex": X + 1j,
    "complex, zero imaginary part": X + 0j,
    "sparse CSR": sp.csr_matrix(X),
    "sparse COO": sp.coo_matrix(X),
    "ragged list": [[1.0, 2.0], [3.0]],
    "None": None,
}


@estimator_cases
@pytest.mark.parametrize("name", list(BAD_X))
def test_bad_X_in_fit(case, name):
    Z = BAD_X[name]
    assert_same_error(lambda: case.make(n_components=2).fit(Z), lambda: case.reference(n_components=2).fit(Z))


@estimator_cases
def test_fewer_rows_than_components(case):
    assert_same_error(lambda: case.make(n_components=61).fit(X), lambda: case.reference(n_components=61).fit(X))


@estimator_cases
def test_absurd_n_components_against_the_rows(case):
    big = 10**12
    assert_same_error(lambda: case.make(n_components=big).fit(X), lambda: case.reference(n_components=big).fit(X))


# ----------------------------------------------------------------- parameters

BAD_PARAMS = {
    "n_components=0": {"n_components": 0},
    "n_components=-1": {"n_components": -1},
    "n_components=2.5": {"n_components": 2.5},
    "n_components='2'": {"n_components": "2"},
    "covariance_type": {"covariance_type": "banana"},
    "covariance_type=None": {"covariance_type": None},
    "init_params": {"init_params": "banana"},
    "reg_covar<0": {"reg_covar": -1e-6},
    "reg_covar=NaN": {"reg_covar": np.nan},
    "reg_covar=inf": {"reg_covar": np.inf},
    "tol=NaN": {"tol": np.nan},
    "tol<0": {"tol": -1.0},
    "tol=inf": {"tol": np.inf},
    "max_iter<0": {"max_iter": -1},
    "n_init=0": {"n_init": 0},
    "verbose_interval=0": {"verbose_interval": 0},
    "random_state": {"random_state": "banana"},
    "warm_start": {"warm_start": "yes"},
}


@estimator_cases
@pytest.mark.parametrize("name", list(BAD_PARAMS))
def test_bad_parameter(case, name):
    if set(BAD_PARAMS[name]) & set(case.validated_otherwise):
        pytest.skip(f"{case.id} validates {name} otherwise (its own parameter)")
    params = {"n_components": 2, **BAD_PARAMS[name]}
    est = make_or_skip(case, **params)
    assert_same_error(lambda: est.fit(X), lambda: case.reference(**params).fit(X))


# ----------------------------------------------------------------- *_init arrays


def bad_inits(cov, K=2, D=3):
    eye = np.eye(D)
    good_prec = {
        "full": np.tile(eye, (K, 1, 1)),
        "tied": eye,
        "diag": np.ones((K, D)),
        "spherical": np.ones(K),
    }[cov]
    not_pd = {
        "full": np.tile(-eye, (K, 1, 1)),
        "tied": -eye,
        "diag": -np.ones((K, D)),
        "spherical": -np.ones(K),
    }[cov]
    yield "weights wrong shape", {"weights_init": np.ones(K + 1) / (K + 1)}
    yield "weights 2-D", {"weights_init": np.ones((K, 1)) / K}
    yield "weights not summing to 1", {"weights_init": np.full(K, 0.3)}
    yield "weights negative", {"weights_init": np.array([1.5, -0.5])}
    yield "weights NaN", {"weights_init": np.array([np.nan, 0.5])}
    yield "weights complex", {"weights_init": np.array([0.5, 0.5]) + 1j}
    yield "weights strings", {"weights_init": np.array(["a", "b"])}
    yield "means wrong shape", {"means_init": np.zeros((K, D + 1))}
    yield "means wrong K", {"means_init": np.zeros((K + 1, D))}
    yield "means 1-D", {"means_init": np.zeros(D)}
    yield "means inf", {"means_init": np.full((K, D), np.inf)}
    yield "precisions wrong shape", {"precisions_init": good_prec[..., None] if cov != "full" else np.zeros((K, D + 1, D + 1))}
    yield "precisions not positive definite", {"precisions_init": not_pd}
    yield "precisions NaN", {"precisions_init": good_prec * np.nan}
    if cov in ("full", "tied"):
        asym = good_prec.copy()
        asym[..., 0, 1] = 0.5
        yield "precisions not symmetric", {"precisions_init": asym}
    if cov == "full":
        singular = np.tile(eye, (K, 1, 1))
        singular[1, 0, 0] = 0.0
        yield "one precision singular", {"precisions_init": singular}


@estimator_cases
@pytest.mark.parametrize("name", [n for n, _ in bad_inits("full")] + ["precisions not symmetric"])
def test_bad_init_arrays(case, name):
    cov = case.make().get_params().get("covariance_type", "full")
    inits = dict(bad_inits(cov))
    if name not in inits:
        pytest.skip(f"not applicable to covariance_type={cov}")
    params = {"n_components": 2, **inits[name]}
    est = make_or_skip(case, **params)
    assert_same_error(lambda: est.fit(X), lambda: case.reference(**params).fit(X))


# ----------------------------------------------------------------- sample weights
# scikit-learn's GaussianMixture takes no sample_weight: the reference is its
# generic validation helper, as every scikit-learn estimator with sample weights uses it.


def _sklearn_sample_weight_check(sw):
    from sklearn.utils.validation import _check_sample_weight

    kwargs = {"dtype": np.float64, "ensure_non_negative": True}
    _check_sample_weight(sw, X, **kwargs)
    if np.all(np.asarray(sw, dtype=np.float64) == 0):  # older scikit-learn: not in the helper
        raise ValueError("Sample weights must contain at least one non-zero number.")


BAD_WEIGHTS = {
    "NaN": np.r_[np.nan, np.ones(59)],
    "inf": np.r_[np.inf, np.ones(59)],
    "negative": np.r_[-1.0, np.ones(59)],
    "all zero": np.zeros(60),
    "too short": np.ones(59),
    "too long": np.ones(61),
    "2-D": np.ones((60, 1)),
    "strings": np.array(["a"] * 60),
    "complex": np.ones(60) + 1j,
    "negative scalar": -1.0,
    "zero scalar": 0.0,
}


@estimator_cases
@pytest.mark.parametrize("name", list(BAD_WEIGHTS))
def test_bad_sample_weight(case, name):
    est = case.make(n_components=2)
    if not takes_sample_weight(est):
        pytest.skip("no sample_weight")
    sw = BAD_WEIGHTS[name]
    assert_same_error(lambda: est.fit(X, sample_weight=sw), lambda: _sklearn_sample_weight_check(sw))


# ----------------------------------------------------------------- predicting

PREDICT_METHODS = ["predict", "predict_proba", "score_samples", "score", "bic", "aic", "mahalanobis"]


@pytest.fixture(scope="module")
def fitted():
    """emfast and scikit-learn models fitted on X, per estimator case."""
    out = {}
    for case in MIXTURES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[case.id] = (
                case.make(n_components=2, random_state=0).fit(X),
                case.reference(n_components=2, random_state=0).fit(X),
            )
    return out


BAD_PREDICT_X = {
    "wrong number of features": X[:, :2],
    "too many features": np.hstack([X, X]),
    "NaN": _with(np.nan),
    "inf": _with(np.inf),
    "empty": np.empty((0, 3)),
    "1-D": X[0],
    "3-D": X.reshape(60, 3, 1),
    "complex": X + 1j,
    "sparse": sp.csr_matrix(X),
    "strings": np.array([["a", "b", "c"]]),
}


@estimator_cases
@pytest.mark.parametrize("method", PREDICT_METHODS)
@pytest.mark.parametrize("name", list(BAD_PREDICT_X))
def test_bad_X_in_predict(case, method, name, fitted):
    ours, theirs = fitted[case.id]
    fn = require(ours, method)
    Z = BAD_PREDICT_X[name]
    ref = getattr(theirs, method, None) or theirs.score_samples  # mahalanobis: same validation
    assert_same_error(lambda: fn(Z), lambda: ref(Z))


@estimator_cases
@pytest.mark.parametrize("method", PREDICT_METHODS + ["sample"])
def test_not_fitted(case, method):
    est = case.make(n_components=2)
    fn = require(est, method)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        fn() if method == "sample" else fn(X)


@estimator_cases
@pytest.mark.parametrize("n", [0, -1])
def test_sample_needs_a_positive_count(case, n, fitted):
    ours, theirs = fitted[case.id]
    assert_same_error(lambda: ours.sample(n), lambda: theirs.sample(n))


# ----------------------------------------------------------------- absurd sizes


@estimator_cases
def test_model_too_large_for_memory_is_a_memory_error_before_initialising(case):
    # n_components * n_features^2 (full) or n_features^2 (tied) doubles: terabytes,
    # refused before k-means runs. X is a broadcast view with no memory of its own.
    cov = case.make().get_params().get("covariance_type", "full")
    if cov == "full":
        K, n, d = 10**4, 10**4, 10**4
    elif cov == "tied":
        K, n, d = 2, 2, 10**6
    else:
        pytest.skip("a diag or spherical model is never larger than X")
    Xb = np.broadcast_to(np.linspace(0, 1, d), (n, d))
    with pytest.raises(MemoryError, match="emfast would need"):
        case.make(n_components=K).fit(Xb)


@estimator_cases
@pytest.mark.parametrize("method", ["predict_proba", "mahalanobis", "score_samples", "predict"])
def test_output_too_large_for_memory_is_a_memory_error_at_once(case, method, fitted):
    ours, _ = fitted[case.id]
    fn = require(ours, method)
    Xb = np.broadcast_to(X[0], (2**44, 3))  # 2^44 rows: the output alone is 128 TiB
    with pytest.raises(MemoryError, match="emfast would need"):
        fn(Xb)


@estimator_cases
def test_output_size_overflowing_64_bits_is_a_value_error(case):
    est = case.make(n_components=32, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.random.RandomState(0).randn(200, 1))
    Xb = np.broadcast_to(np.zeros((1, 1)), (2**59, 1))  # 2^59 x 32 elements > 2^63
    with pytest.raises(ValueError, match="overflow"):
        est.predict_proba(Xb)


@estimator_cases
def test_absurd_sample_count_is_a_memory_error(case, fitted):
    ours, _ = fitted[case.id]
    with pytest.raises((MemoryError, ValueError)):
        ours.sample(10**17)


# ----------------------------------------------------------------- values out of range


@estimator_cases
@pytest.mark.parametrize("scale", [1e200, 1e300])
def test_values_whose_squares_overflow_are_a_clear_value_error(case, scale):
    # scikit-learn raises "array must not contain infs or NaNs" for full and tied,
    # and silently returns NaN covariances for diag and spherical
    with pytest.raises(ValueError, match="overflow float64. Rescale X"):
        case.make(n_components=2).fit(X * scale)


@estimator_cases
def test_means_init_whose_distances_overflow_is_a_clear_value_error(case):
    means = np.array([[1e200, 0, 0], [-1e200, 0, 0]])
    with pytest.raises(ValueError, match="overflow float64.*means_init"):
        make_or_skip(case, n_components=2, means_init=means).fit(X)
