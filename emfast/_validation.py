"""Input validation shared by emfast's estimators, with scikit-learn's messages."""

import contextlib
import math
import numbers
import threading

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import make_constraint
from sklearn.utils.validation import _check_sample_weight, validate_data

from ._native import core

_blas_lock = threading.Lock()
_blas_state = {"users": 0, "libraries": None, "saved": None}


# Operands this small never take more than one BLAS thread (OpenBLAS threads
# matrix-vector products from 9 216 elements and products of matrices from 65 536
# multiply-adds per thread), so there are no threads to keep from spinning.
SINGLE_THREAD_BLAS = 4096


@contextlib.contextmanager
def blas_on_one_thread(largest_operand=None):
    """BLAS on the calling thread only, for the duration of a fit.

    The fit's few BLAS calls (k-means++ seeding, the statistics algebra) are
    small; with OpenBLAS's threads they would leave those threads spinning for
    a while afterwards, taking the cores that the OpenMP kernels need (on 2
    cores, 0.4 ms passes took 8 ms). scikit-learn's KMeans limits BLAS the
    same way. Counted, so that concurrent fits restore the limits once, at
    the end of the last one. The BLAS libraries are looked up once; each fit
    only reads and sets their thread counts. A fit whose BLAS operands have at
    most SINGLE_THREAD_BLAS elements (`largest_operand`) leaves them alone:
    reading and setting them cost a tiny fit 10 %.
    """
    if largest_operand is not None and largest_operand <= SINGLE_THREAD_BLAS:
        yield
        return
    with _blas_lock:
        if _blas_state["users"] == 0:
            if _blas_state["libraries"] is None:
                from threadpoolctl import ThreadpoolController

                _blas_state["libraries"] = ThreadpoolController().select(user_api="blas").lib_controllers
            libraries = _blas_state["libraries"]
            _blas_state["saved"] = [lib.num_threads for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)
        _blas_state["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["users"] -= 1
            if _blas_state["users"] == 0:
                for lib, n in zip(_blas_state["libraries"], _blas_state["saved"]):
                    lib.set_num_threads(n)


_constraint_objects = {}  # class -> (its _parameter_constraints, [(name, constraint objects)])
_SIMPLE = (bool, int, float, str, type(None))
_satisfied = set()  # (class, name, type, value) of simple values that met their constraints


def validate_params(estimator):
    """scikit-learn's ``estimator._validate_params()``, with the constraint objects
    made once per class rather than at every call (with the parameter names from
    inspecting the signature, they cost more than a small fit). Every parameter is
    tested against the same constraints; one that fails goes through
    scikit-learn's validation, which raises its error."""
    cls = type(estimator)
    constraints = cls._parameter_constraints
    cached = _constraint_objects.get(cls)
    if cached is None or cached[0] is not constraints:
        # None first: the cheapest test, and the value of most optional parameters
        objects = [(name, sorted((make_constraint(c) for c in cons), key=lambda c: c.__class__.__name__ != "_NoneConstraint"))
                   for name, cons in constraints.items() if not (isinstance(cons, str) and cons == "no_validation")]
        cached = _constraint_objects[cls] = (constraints, objects)
        _satisfied.clear()  # verdicts under the old constraints
    for name, objects in cached[1]:
        value = getattr(estimator, name)
        # a simple value's verdict is a function of its type and value: tested once
        key = (cls, name, type(value), value) if type(value) in _SIMPLE else None
        if key is not None and key in _satisfied:
            continue
        if not any(c.is_satisfied_by(value) for c in objects):
            BaseEstimator._validate_params(estimator)
            return
        if key is not None and len(_satisfied) < 10_000:
            _satisfied.add(key)


_idle_random_states = []  # RandomState objects no fit is using, re-seeded for the next one


@contextlib.contextmanager
def fit_random_state(seed):
    """check_random_state(seed) for the duration of a fit.

    For an integer seed, a RandomState in exactly the state RandomState(seed)
    would have, but re-used: creating one first seeds it from the operating
    system's entropy (about 0.2 ms, more than a small fit's EM), re-seeding
    does not. A RandomState is lent to one fit at a time.
    """
    if not isinstance(seed, numbers.Integral):
        yield check_random_state(seed)
        return
    try:
        random_state = _idle_random_states.pop()
    except IndexError:
        random_state = np.random.RandomState()
    random_state.seed(seed)
    try:
        yield random_state
    finally:
        _idle_random_states.append(random_state)


class unchanged_on_error:
    """The estimator's attributes as they were before the block if it raises
    (KeyboardInterrupt included): an interrupted or failed fit leaves a fitted
    estimator fitted, and an unfitted one unfitted. Fitting replaces attributes,
    never mutates them, so a shallow copy suffices. (A class rather than a
    generator: entering and leaving cost a partial_fit step 2 us that way.)"""

    __slots__ = ("estimator", "saved")

    def __init__(self, estimator):
        self.estimator = estimator

    def __enter__(self):
        self.saved = dict(vars(self.estimator))

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            state = vars(self.estimator)
            state.clear()
            state.update(self.saved)
        return False  # the exception propagates


def check_n_samples(n_samples, n_components, where=""):
    """ValueError unless there are at least as many samples as components (scikit-learn's message)."""
    if n_samples < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components{where} "
            f"but got n_components = {n_components}, "
            f"n_samples = {n_samples}"
        )


def check_sample_weight(sample_weight, n_samples, with_scale=False):
    """Validated float64 weights of shape (n_samples,), or None for unit weights.

    The checks and messages are those of the installed scikit-learn
    (``sklearn.utils.validation._check_sample_weight``), and weights must not all
    be zero (scikit-learn >= 1.7 says so in the same words). Weights whose largest
    value lies outside [2^-32, 2^64] are multiplied by a power of two (exactly) to
    bring it near 1: the model depends only on their ratios, and this keeps the
    weighted statistics from overflowing or vanishing under the 10 eps that
    scikit-learn adds to every component's weight.
    A model that counts the weights (a Bayesian one) asks `with_scale` and gets
    (weights, scale): the given weights are weights * scale.
    """
    scale = 1.0
    if sample_weight is None:
        return (None, scale) if with_scale else None
    rows = np.empty((n_samples, 0))  # what the helper needs of X: its length
    sw = _check_sample_weight(sample_weight, rows, dtype=np.float64, ensure_non_negative=True)
    if np.all(sw == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    largest = float(sw.max())
    if not 2.0**-32 <= largest <= 2.0**64:
        exponent = np.frexp(largest)[1]
        sw = np.ldexp(sw, -exponent)  # a new array: the caller's is untouched
        scale = float(np.ldexp(1.0, exponent))
    return (sw, scale) if with_scale else sw


def is_dask_array(X):
    """Whether X is a dask.array.Array (without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "to_delayed")


def check_X(estimator, X, reset, min_samples=1):
    """validate_data(estimator, X) with float32/float64, fast for plain arrays.

    Fits of small data and partial_fit and the prediction methods on small
    batches are where scikit-learn's generic validation costs more than the
    kernels. A plain 2-D float ndarray with at least `min_samples` rows, finite
    values and (when not fitting) the fitted number of features passes straight
    through, with n_features_in_ set and feature_names_in_ removed when
    fitting, as validate_data does; anything else (or anything wrong) goes
    through validate_data, which also gives the canonical error messages.
    """
    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.shape[0] >= max(min_samples, 1)
        and X.shape[1] >= 1
        and (reset or (X.shape[1] == getattr(estimator, "n_features_in_", -1)
                       and not hasattr(estimator, "feature_names_in_")))
        and (math.isfinite(X.sum()) or np.isfinite(X).all())
    ):
        if reset:
            estimator.n_features_in_ = X.shape[1]
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
        return as_kernel_input(X)
    # when fitting, float32/float64 as scikit-learn's fit; when predicting,
    # dtype="numeric" as its predict methods (strings are refused with its
    # message; ints, bools and float16 become float64 in as_kernel_input)
    dtype = [np.float64, np.float32] if reset else "numeric"
    X = validate_data(estimator, X, reset=reset, dtype=dtype, ensure_min_samples=max(min_samples, 1))
    return as_kernel_input(X)


def as_kernel_input(X):
    """X as the kernels take it: float32/float64 with strides of whole elements, no
    copy if possible (at any address: the kernels read misaligned rows byte-wise)."""
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    item = X.dtype.itemsize
    if X.strides[0] % item or X.strides[1] % item:
        X = np.ascontiguousarray(X)
    return X


def check_finite_model(params):
    """A fit never returns a model with non-finite parameters (an emfast._stats.Params)."""
    names = ("weights", "means", "covariances", "precisions_cholesky")
    if core.all_finite([getattr(params, name) for name in names]):
        return
    for name in names:
        if not np.isfinite(getattr(params, name)).all():
            raise ValueError(
                f"Fitting produced non-finite {name}: the data's values (or sample "
                "weights) are too large or too small to be represented in floating "
                "point. Rescale X (for example with sklearn.preprocessing.StandardScaler)."
            )


# Checks of weights_init, means_init, precisions_init: scikit-learn's rules and messages.


def _check_shape(param, param_shape, name):
    if param.shape != param_shape:
        raise ValueError(
            "The parameter '%s' should have the shape of %s, but got %s"
            % (name, param_shape, param.shape)
        )


def check_weights(weights, n_components):
    weights = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(weights, (n_components,), "weights")
    if (weights < 0.0).any() or (weights > 1.0).any():
        raise ValueError(
            "The parameter 'weights' should be in the range "
            "[0, 1], but got max value %.5f, min value %.5f"
            % (np.min(weights), np.max(weights))
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(np.abs(1.0 - np.sum(weights)), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got sum(weights) = %.5f"
            % np.sum(weights)
        )
    return weights


def check_means(means, n_components, n_features):
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precision_matrix(precision, covariance_type):
    if not (
        np.allclose(precision, precision.T) and np.all(np.linalg.eigvalsh(precision) > 0.0)
    ):
        raise ValueError("'%s precision' should be symmetric, positive-definite" % covariance_type)


def check_precisions(precisions, covariance_type, n_components, n_features):
    precisions = check_array(
        precisions,
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        allow_nd=covariance_type == "full",
    )
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    _check_shape(precisions, shape, "%s precision" % covariance_type)
    if covariance_type == "full":
        for k in range(n_components):
            _check_precision_matrix(precisions[k], covariance_type)
    elif covariance_type == "tied":
        _check_precision_matrix(precisions, covariance_type)
    elif (precisions <= 0.0).any():
        raise ValueError("'%s precision' should be positive" % covariance_type)
    return precisions
