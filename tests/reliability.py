"""Shared machinery of the reliability tests (tests/test_reliability_*.py).

Every public estimator of emfast is listed in ESTIMATORS; the reliability tests
are parametrized over that list, so a new estimator is covered by adding one
entry. Methods an estimator does not have (partial_fit, mahalanobis, ...) are
skipped with ``require(est, name)``. Tests of the mixture API (weights_,
means_, ...) run over MIXTURES (``estimator_cases``), those of any estimator
over ESTIMATORS (``every_estimator``), fitting through ``case.fit`` (which gives
a classifier its labels). BeliefPropagationLabeler and LLPClassifier are not
listed yet: they are being rewritten.
"""

import dataclasses
import inspect
import pickle
from typing import Callable, Optional

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emfast import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureClassifier,
    GaussianMixtureIC,
    MiniBatchBayesianGaussianMixture,
    MiniBatchGaussianMixture,
    MiniBatchStudentTMixture,
    StudentTMixture,
)

COV_TYPES = ("full", "tied", "diag", "spherical")


@dataclasses.dataclass(frozen=True)
class EstimatorCase:
    """How to build one estimator configuration, and scikit-learn's counterpart if any."""

    id: str
    make: Callable  # **params -> emfast estimator
    reference: Optional[Callable] = None  # **params -> scikit-learn estimator (same API)
    aliases: tuple = ()  # parameters that make() takes and translates (not the estimator's own)
    # parameters validated otherwise than by the reference (renamed, or taking more values)
    validated_otherwise: tuple = ()
    supervised: bool = False  # fit(X, y): labels_for(X) are its y
    dask_fit: bool = False  # fit takes a Dask array
    # sample weights count samples (a Bayesian model): their scale changes the model
    weights_are_counts: bool = False
    # float32 X gives float32 attributes where they fit (scikit-learn's GaussianMixture);
    # False: float64 ones (scikit-learn's BayesianGaussianMixture)
    float32_model: bool = True

    def __repr__(self):
        return self.id

    def fit(self, est, X, **kwargs):
        """est.fit(X, **kwargs), with labels_for(X) as y for a classifier."""
        return est.fit(X, labels_for(X), **kwargs) if self.supervised else est.fit(X, **kwargs)


def labels_for(X):
    """Two classes, alternating rows: each holds half of any X."""
    return np.arange(np.shape(X)[0]) % 2


def _gm(cov):
    return EstimatorCase(
        id=f"GaussianMixture-{cov}",
        make=lambda **kw: GaussianMixture(**{"covariance_type": cov, **kw}),
        reference=lambda **kw: SkGaussianMixture(**{"covariance_type": cov, **kw}),
        dask_fit=True,
    )


def _minibatch(cov):
    # scikit-learn has no online GMM; its GaussianMixture validates X the same way
    return EstimatorCase(
        id=f"MiniBatchGaussianMixture-{cov}",
        make=lambda **kw: MiniBatchGaussianMixture(**{"covariance_type": cov, "batch_size": 64, **kw}),
        reference=lambda **kw: SkGaussianMixture(**{"covariance_type": cov, **kw}),
    )


def _student_t(cov):
    # scikit-learn has no t mixture; its GaussianMixture validates the shared parameters
    return EstimatorCase(
        id=f"StudentTMixture-{cov}",
        make=lambda **kw: StudentTMixture(**{"covariance_type": cov, **kw}),
        reference=lambda **kw: SkGaussianMixture(**{"covariance_type": cov, **kw}),
    )


def _bayesian(cov, prior_type="dirichlet_process"):
    params = {"covariance_type": cov, "weight_concentration_prior_type": prior_type}
    suffix = "" if prior_type == "dirichlet_process" else f"-{prior_type}"
    return EstimatorCase(
        id=f"BayesianGaussianMixture-{cov}{suffix}",
        make=lambda **kw: BayesianGaussianMixture(**{**params, **kw}),
        reference=lambda **kw: SkBayesianGaussianMixture(**{**params, **kw}),
        weights_are_counts=True,
        float32_model=False,
    )


def _minibatch_bayesian(cov):
    # scikit-learn has no online variational mixture; its batch one validates the same way
    return EstimatorCase(
        id=f"MiniBatchBayesianGaussianMixture-{cov}",
        make=lambda **kw: MiniBatchBayesianGaussianMixture(**{"covariance_type": cov, "batch_size": 64, **kw}),
        reference=lambda **kw: SkBayesianGaussianMixture(**{"covariance_type": cov, **kw}),
        weights_are_counts=True,
        float32_model=False,
    )




def _minibatch_student_t(cov):
    return EstimatorCase(
        id=f"MiniBatchStudentTMixture-{cov}",
        make=lambda **kw: MiniBatchStudentTMixture(**{"covariance_type": cov, "batch_size": 64, **kw}),
        reference=lambda **kw: SkGaussianMixture(**{"covariance_type": cov, **kw}),
    )


def _ic(cov):
    # a search over one K and one covariance type is GaussianMixture(K, cov)'s fit
    def make(n_components=1, **kw):
        missing = sorted(set(kw) - set(GaussianMixtureIC().get_params()))
        if missing:
            pytest.skip(f"GaussianMixtureIC has no parameter {', '.join(missing)}")
        return GaussianMixtureIC(min_components=n_components, max_components=n_components,
                                 **{"covariance_type": cov, **kw})

    return EstimatorCase(
        id=f"GaussianMixtureIC-{cov}",
        make=make,
        reference=lambda **kw: SkGaussianMixture(**{"covariance_type": cov, **kw}),
        aliases=("n_components",),
        validated_otherwise=("n_components", "covariance_type"),
    )



def _classifier(cov):
    return EstimatorCase(
        id=f"GaussianMixtureClassifier-{cov}",
        make=lambda **kw: GaussianMixtureClassifier(**{"covariance_type": cov, **kw}),
        supervised=True,
    )


# Add new estimators here (one entry per configuration worth testing).
MIXTURES = (
    [_gm(cov) for cov in COV_TYPES]
    + [_minibatch(cov) for cov in COV_TYPES]
    + [_student_t(cov) for cov in COV_TYPES]
    # the online t's passes and M-step are the batch t's: two configurations cover its own steps
    + [_minibatch_student_t(cov) for cov in ("full", "diag")]
    + [_ic(cov) for cov in COV_TYPES]
    + [_bayesian(cov) for cov in COV_TYPES]
    + [_bayesian("full", "dirichlet_distribution")]
    + [_minibatch_bayesian(cov) for cov in COV_TYPES]
)
ESTIMATORS = MIXTURES + [_classifier(cov) for cov in COV_TYPES]

estimator_cases = pytest.mark.parametrize("case", MIXTURES, ids=[c.id for c in MIXTURES])
every_estimator = pytest.mark.parametrize("case", ESTIMATORS, ids=[c.id for c in ESTIMATORS])


def parameters(case):
    """The names of the estimator's constructor parameters."""
    return set(case.make().get_params(deep=False)) | set(case.aliases)


def make_or_skip(case, **params):
    """case.make(**params); skips the test when the estimator lacks one of them
    (MiniBatchGaussianMixture has no n_init, warm_start or verbose_interval)."""
    missing = sorted(set(params) - parameters(case))
    if missing:
        pytest.skip(f"{case.id} has no parameter {', '.join(missing)}")
    return case.make(**params)


def supported(case, params):
    """params without those the estimator does not take (for drawn parameter sets
    in which they are incidental)."""
    names = parameters(case)
    return {k: v for k, v in params.items() if k in names}


def require(est, method):
    """Skip the test if the estimator has no such method (e.g. partial_fit)."""
    if not callable(getattr(est, method, None)):
        pytest.skip(f"{type(est).__name__} has no {method}")
    return getattr(est, method)


def takes_sample_weight(est):
    return "sample_weight" in inspect.signature(est.fit).parameters


def covariance_type(est):
    return getattr(est, "covariance_type", "full")


# ----------------------------------------------------------------- invariants


def assert_valid_mixture(est, X=None):
    """A fitted mixture: finite parameters, weights summing to 1, SPD covariances,
    and on X: probabilities in [0, 1] whose rows sum to 1, finite log-likelihoods,
    labels in range, non-negative distances (never NaN).

    The initial model of one sample per component (max_iter=0) keeps scikit-learn's
    weights n_k / n, which sum to K / n: normalised here before the check."""
    cov = covariance_type(est)
    attrs = ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"]
    for name in attrs:
        value = np.asarray(getattr(est, name))
        assert value.dtype in (np.float32, np.float64), (name, value.dtype)
        assert np.isfinite(value).all(), f"{name} is not finite: {value}"
    weights = np.asarray(est.weights_, dtype=np.float64)
    K = weights.shape[0]
    D = est.means_.shape[1]
    tol = 1e-5 if est.weights_.dtype == np.float32 else 1e-10
    if getattr(est, "max_iter", None) == 0 and getattr(est, "init_params", "") in ("k-means++", "random_from_data"):
        weights = weights / weights.sum()
    assert (weights >= 0).all() and abs(weights.sum() - 1) < tol, weights
    covs = np.asarray(est.covariances_, dtype=np.float64)
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[cov]
    assert covs.shape == shape
    if cov in ("full", "tied"):
        mats = covs.reshape(-1, D, D)
        np.testing.assert_allclose(mats, np.swapaxes(mats, 1, 2), rtol=1e-6, atol=0)
        # positive definite: its Cholesky factorisation exists
        for m in mats:
            np.linalg.cholesky(m)
        pc = np.asarray(est.precisions_cholesky_, dtype=np.float64).reshape(-1, D, D)
        assert (np.diagonal(pc, axis1=1, axis2=2) > 0).all()
    else:
        assert (covs > 0).all(), covs
        assert (np.asarray(est.precisions_cholesky_) > 0).all()
    if X is None:
        return
    n = np.shape(X)[0]
    proba = est.predict_proba(X)
    assert proba.shape == (n, K)
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
    sum_tol = 1e-5 if proba.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=sum_tol)
    log_prob = est.score_samples(X)
    assert log_prob.shape == (n,)
    if log_prob.dtype == np.float32 and not np.isfinite(log_prob).all():
        # -inf only where the log-density lies below float32's range (an initial
        # model, max_iter=0, of tiny variance on data spanning 1e16): float64 says so
        lost = ~np.isfinite(log_prob)
        exact = est.score_samples(np.asarray(X, dtype=np.float64))[lost]
        assert (log_prob[lost] == -np.inf).all() and (exact < np.finfo(np.float32).min).all(), exact
    else:
        assert np.isfinite(log_prob).all()
    labels = est.predict(X)
    assert labels.shape == (n,) and ((labels >= 0) & (labels < K)).all()
    if hasattr(est, "mahalanobis"):
        # squared distances may exceed the output dtype's range (+inf is then the
        # correctly rounded value), never NaN or negative
        d2 = est.mahalanobis(X)
        assert d2.shape == (n, K) and not np.isnan(d2).any() and (d2 >= 0).all()


# ----------------------------------------------------------------- inputs are never modified


def _arrays(obj, path):
    """Every NumPy array and list reachable from obj, with a path for messages."""
    if isinstance(obj, np.ndarray):
        yield path, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _arrays(value, f"{path}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        if isinstance(obj, list):
            yield path, obj
        for i, value in enumerate(obj):
            yield from _arrays(value, f"{path}[{i}]")


def _state(a):
    if isinstance(a, list):
        return ("list", pickle.dumps(a))
    raw = a.tolist() if a.dtype.hasobject else a.tobytes()  # bitwise (NaN, -0.0) for numbers
    return (a.dtype, a.shape, a.strides, a.flags.writeable, a.flags.c_contiguous, raw)


class InputGuard:
    """Snapshots every array given to a call (and the estimator's array parameters,
    e.g. *_init) and checks, after the call, that none changed and that no fitted
    attribute is a view of one of them."""

    def __init__(self, est, args=(), kwargs=None):
        self.est = est
        named = [(f"argument {i}", a) for i, a in enumerate(args)]
        named += [(f"{k}=", v) for k, v in (kwargs or {}).items()]
        named += [(f"parameter {k}", v) for k, v in est.get_params(deep=False).items()]
        self.before = [(path, a, _state(a)) for name, value in named for path, a in _arrays(value, name)]

    def check(self, method):
        for path, a, state in self.before:
            assert _state(a) == state, f"{type(self.est).__name__}.{method} modified {path}"
        fitted = {k: v for k, v in vars(self.est).items() if k.endswith("_") and isinstance(v, np.ndarray)}
        for name, value in fitted.items():
            for path, a, _ in self.before:
                if isinstance(a, np.ndarray) and a.size and value.size:
                    assert not np.may_share_memory(value, a), f"{name} is a view of {path}"


class Guarded:
    """A proxy that runs every public method of `est` under an InputGuard."""

    def __init__(self, est):
        object.__setattr__(self, "est", est)

    def __getattr__(self, name):
        attr = getattr(self.est, name)
        if name.startswith("_") or not callable(attr) or inspect.isclass(attr):
            return attr

        def call(*args, **kwargs):
            guard = InputGuard(self.est, args, kwargs)
            result = attr(*args, **kwargs)
            guard.check(name)
            # outputs are new arrays, not views of inputs
            outputs = result if isinstance(result, tuple) else (result,)
            for out in outputs:
                if isinstance(out, np.ndarray):
                    for path, a, _ in guard.before:
                        if isinstance(a, np.ndarray) and a.size and out.size:
                            assert not np.may_share_memory(out, a), f"{name}() returned a view of {path}"
            return result

        return call


def read_only(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


# ----------------------------------------------------------------- data


def blobs(n, d, k, seed=0, spread=5.0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=spread, size=(k, d))
    labels = rng.randint(k, size=n)
    return centres[labels] + rng.standard_normal((n, d))


def first_line(exc):
    return str(exc).splitlines()[0] if str(exc) else ""
