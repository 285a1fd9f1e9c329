"""Reliability of GaussianMixtureClassifier beyond what the suite checks for every
estimator in tests/reliability.py's ESTIMATORS: inputs never modified, bad input
is a clear error, degenerate classes give a valid model, thread count and
pickling change nothing, and its decision scores are finite and agree with
predict for every finite input."""

import pickle
import warnings

import numpy as np
import pytest
from reliability import COV_TYPES, Guarded, assert_valid_mixture, blobs, read_only
from threadpoolctl import threadpool_limits

from emfast import GaussianMixtureClassifier

FAMILIES = pytest.mark.parametrize("family", ["gaussian", "student_t"])
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "score_samples", "mahalanobis_score")


def labelled(n=300, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = np.r_[blobs(n // 2, d, 2, seed=seed), blobs(n - n // 2, d, 2, seed=seed + 1) + 8.0]
    y = np.r_[np.zeros(n // 2, dtype=int), np.ones(n - n // 2, dtype=int)]
    order = rng.permutation(n)
    return X[order], y[order]


def fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kwargs)


@FAMILIES
@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("writeable", [True, False])
def test_no_public_method_modifies_its_inputs(cov, dtype, writeable, family):
    X, y = labelled()
    X = X.astype(dtype)
    sw = np.linspace(0.5, 2.0, len(X))
    priors = np.array([0.3, 0.7])
    if not writeable:
        X, y, sw, priors = read_only(X), read_only(y), read_only(sw), read_only(priors)
    est = Guarded(GaussianMixtureClassifier(2, covariance_type=cov, priors=priors, family=family, random_state=0))
    fit_quietly(est, X, y, sample_weight=sw)
    for method in METHODS:
        getattr(est, method)(X)
    est.score(X, y, sample_weight=sw)
    for mixture in est.est.mixtures_:
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert not np.may_share_memory(getattr(mixture, name), X)
    assert not np.may_share_memory(est.est.priors_, priors)


@FAMILIES
@pytest.mark.parametrize("cov", COV_TYPES)
def test_same_model_and_scores_whatever_the_thread_count(cov, family):
    X, y = labelled(2000, 4)
    ref = fit_quietly(GaussianMixtureClassifier(3, covariance_type=cov, family=family, random_state=0), X, y)
    expected = {m: getattr(ref, m)(X) for m in METHODS}
    for n_threads in (1, 3):
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            est = fit_quietly(GaussianMixtureClassifier(3, covariance_type=cov, family=family, random_state=0), X, y)
            for a, b in zip(est.mixtures_, ref.mixtures_):
                np.testing.assert_array_equal(a.means_, b.means_)
                np.testing.assert_array_equal(a.covariances_, b.covariances_)
            for method, value in expected.items():
                np.testing.assert_array_equal(getattr(est, method)(X), value)


@FAMILIES
def test_pickle_round_trip(family):
    X, y = labelled()
    est = fit_quietly(GaussianMixtureClassifier(2, family=family, random_state=0), X, y)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        restored = pickle.loads(pickle.dumps(est, protocol=protocol))
        np.testing.assert_array_equal(restored.priors_, est.priors_)
        for method in METHODS:
            np.testing.assert_array_equal(getattr(restored, method)(X), getattr(est, method)(X))


@FAMILIES
@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize(
    "name",
    ["duplicated rows, reg_covar=0", "constant feature, reg_covar=0", "class of exactly n_components rows"],
)
def test_degenerate_classes_give_valid_models(cov, name, family):
    X, y = labelled(200, 3)
    params = dict(n_components=2, covariance_type=cov, family=family, random_state=0)
    if name == "duplicated rows, reg_covar=0":
        X[y == 0] = X[y == 0][0]
        params["reg_covar"] = 0.0
    elif name == "constant feature, reg_covar=0":
        X[:, 1] = 3.0
        params["reg_covar"] = 0.0
    else:
        keep = np.r_[np.flatnonzero(y == 0)[:2], np.flatnonzero(y == 1)]
        X, y = X[keep], y[keep]
    est = fit_quietly(GaussianMixtureClassifier(**params), X, y)
    for mixture in est.mixtures_:
        assert_valid_mixture(mixture)
    proba = est.predict_proba(X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert not np.isnan(est.mahalanobis_score(X)).any()
    assert np.isfinite(est.score_samples(X)).all()


@FAMILIES
def test_points_far_from_every_class_get_finite_probabilities(family):
    X, y = labelled()
    est = fit_quietly(GaussianMixtureClassifier(2, family=family, random_state=0), X, y)
    far = np.array([[1e6, 0.0, 0.0], [-1e150, 1e150, 0.0], [0.0, 0.0, 1e300]])
    proba = est.predict_proba(far)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert (est.mahalanobis_score(far) > 1e10).all()
    assert set(est.predict(far)) <= set(est.classes_)


FAR = np.array([[1e6, 0.0, 0.0], [-1e150, 1e150, 0.0], [0.0, 0.0, 1e300], [1e300, 1e300, 1e300],
                [-1e300, -1e300, -1e300], [0.0, 0.0, 0.0], [8.0, 8.0, 8.0], [1e154, 0.0, -1e154]])


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_decision_function_is_finite_and_agrees_with_predict(cov, n_classes):
    X, y = labelled()
    if n_classes == 3:
        X, y = np.r_[X, blobs(100, 3, 1, seed=9) - 8.0], np.r_[y, np.full(100, 2)]
    est = fit_quietly(GaussianMixtureClassifier(2, covariance_type=cov, random_state=0), X, y)
    Z = np.r_[X[:20], FAR]
    scores = est.decision_function(Z)
    assert np.isfinite(scores).all()
    predicted = est.predict(Z)
    if n_classes == 2:
        np.testing.assert_array_equal(est.classes_[(scores > 0).astype(int)], predicted)
    else:
        np.testing.assert_array_equal(est.classes_[np.argmax(scores, axis=1)], predicted)
    # where the joint log-likelihoods are finite they are the scores
    jll = est._joint_log_likelihood(Z)
    exact = np.isfinite(jll).all(axis=1)
    expected = jll[exact, 1] - jll[exact, 0] if n_classes == 2 else jll[exact]
    np.testing.assert_array_equal(scores[exact], expected)
    # and the classes are those of the highest posterior probability
    np.testing.assert_array_equal(predicted, est.classes_[np.argmax(est.predict_proba(Z), axis=1)])


def test_zero_prior_class_is_never_predicted():
    X, y = labelled()
    est = fit_quietly(GaussianMixtureClassifier(2, priors=[0.0, 1.0], random_state=0), X, y)
    assert (est.predict(X) == 1).all()
    assert np.isfinite(est.predict_proba(X)).all()


X0, Y0 = labelled(60)
BAD_FITS = {
    "NaN in X": (np.where(np.arange(X0.size).reshape(X0.shape) == 4, np.nan, X0), Y0, {}, ValueError, "NaN"),
    "inf in X": (np.where(np.arange(X0.size).reshape(X0.shape) == 4, np.inf, X0), Y0, {}, ValueError, "infinity"),
    "y of the wrong length": (X0, Y0[:-1], {}, ValueError, "inconsistent numbers of samples"),
    "continuous y": (X0, np.linspace(0, 1, len(X0)), {}, ValueError, "Unknown label type"),
    "one class": (X0, np.zeros(len(X0)), {}, ValueError, "greater than one"),
    "class with one row": (X0, np.r_[0, np.ones(len(X0) - 1)], {}, ValueError, "each class needs"),
    "negative sample_weight": (X0, Y0, {"sample_weight": -np.ones(len(X0))}, ValueError, "[Nn]egative"),
    "class without weight": (X0, Y0, {"sample_weight": (Y0 == 1).astype(float)}, ValueError, "zero total sample weight"),
    "complex X": (X0.astype(complex), Y0, {}, ValueError, "[Cc]omplex"),
}


@pytest.mark.parametrize("name", list(BAD_FITS))
def test_bad_fit_input_is_a_clear_error(name):
    X, y, kwargs, exc, match = BAD_FITS[name]
    with pytest.raises(exc, match=match):
        GaussianMixtureClassifier(2, random_state=0).fit(X, y, **kwargs)


@pytest.mark.parametrize(
    "priors,match",
    [([0.5], "shape"), ([0.5, 0.6], "sum to 1"), ([-0.5, 1.5], "non-negative"), ([np.nan, 1.0], "non-negative"),
     (["a", "b"], "")],
)
def test_bad_priors(priors, match):
    with pytest.raises((ValueError, TypeError), match=match):
        GaussianMixtureClassifier(2, priors=priors).fit(X0, Y0)


def test_bad_predict_input_is_a_clear_error():
    est = fit_quietly(GaussianMixtureClassifier(2, random_state=0), X0, Y0)
    for method in METHODS:
        with pytest.raises(ValueError, match="features"):
            getattr(est, method)(X0[:, :2])
        with pytest.raises(ValueError, match="NaN"):
            getattr(est, method)(np.full((2, 3), np.nan))
