"""What every Gaussian mixture estimator in emfast shares.

The estimators keep no numerical loop over samples in Python: each pass over
X is one call into the C++ kernels (``emfast._native.core``), which return
mergeable sufficient statistics (fitting) or per-sample outputs (scoring).
Parameters travel as a dict of float64 arrays laid out like scikit-learn's
attributes: ``weights``, ``means``, ``covariances``, ``precisions_cholesky``.
"""

import contextlib
import math
import numbers
import threading
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from ._data import ArrayData, Float32Overflow, native_params, params_shift, round_to  # noqa: F401
from ._kmeans import kmeans_stats
from ._native import core
from ._overflow import overflow_rows

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_EPS10 = 10 * np.finfo(np.float64).eps


class DegenerateComponentWarning(UserWarning):
    """A component had to be repaired during fitting.

    Issued when a component lost all its samples (it is re-seeded at the
    worst-explained samples) or when a covariance matrix was not positive
    definite (the smallest sufficient jitter is added to its diagonal), where
    scikit-learn raises a ``ValueError``. The fit goes on and returns a valid
    model; turn the warning into an error with
    ``warnings.simplefilter("error", DegenerateComponentWarning)``.

    See Also
    --------
    GaussianMixture : Its ``reg_covar`` adds regularisation that often makes
        repairs unnecessary.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from emfast import DegenerateComponentWarning, GaussianMixture
    >>> X = np.repeat([[0.0, 1.0], [2.0, 3.0]], 5, axis=0)  # two points, repeated
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     gm = GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)
    >>> any(issubclass(w.category, DegenerateComponentWarning) for w in caught)
    True
    """


# ----------------------------------------------------------------- validation


_blas_lock = threading.Lock()
_blas_state = {"users": 0, "limiter": None, "controller": None}


@contextlib.contextmanager
def blas_on_one_thread():
    """BLAS on the calling thread only, for the duration of a fit.

    The fit's few BLAS calls (k-means++ seeding, the statistics algebra) are
    small; with OpenBLAS's threads they would leave those threads spinning for
    a while afterwards, taking the cores that the OpenMP kernels need (on 2
    cores, 0.4 ms passes took 8 ms). scikit-learn's KMeans limits BLAS the
    same way. Counted, so that concurrent fits restore the limits once, at
    the end of the last one.
    """
    with _blas_lock:
        if _blas_state["users"] == 0:
            if _blas_state["controller"] is None:
                from threadpoolctl import ThreadpoolController

                _blas_state["controller"] = ThreadpoolController()
            _blas_state["limiter"] = _blas_state["controller"].limit(limits=1, user_api="blas")
        _blas_state["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["users"] -= 1
            if _blas_state["users"] == 0:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def check_n_samples(n_samples, n_components, where=""):
    """ValueError unless there are at least as many samples as components (scikit-learn's message)."""
    if n_samples < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components{where} "
            f"but got n_components = {n_components}, "
            f"n_samples = {n_samples}"
        )


def check_sample_weight(sample_weight, n_samples):
    """Validated float64 weights of shape (n_samples,), or None for unit weights.

    The messages are scikit-learn's (``sklearn.utils.validation._check_sample_weight``).
    Weights whose largest value lies outside [2^-32, 2^64] are multiplied by a power
    of two (exactly) to bring it near 1: the model depends only on their ratios, and
    this keeps the weighted statistics from overflowing or vanishing under the
    10 eps that scikit-learn adds to every component's weight.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    sw = check_array(
        sample_weight,
        accept_sparse=False,
        ensure_2d=False,
        dtype=np.float64,
        order="C",
        input_name="sample_weight",
    )
    if sw.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {sw.ndim}D array. Expected "
            f"either a scalar value or a 1D array of length {n_samples}."
        )
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n_samples,)}!")
    if np.all(sw == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if (sw < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`.")
    largest = float(sw.max())
    if not 2.0**-32 <= largest <= 2.0**64:
        sw = np.ldexp(sw, -np.frexp(largest)[1])  # a new array: the caller's is untouched
    return sw


def is_dask_array(X):
    """Whether X is a dask.array.Array (without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "to_delayed")


def check_X(estimator, X, reset):
    """validate_data(estimator, X) with float32/float64, fast on repeat calls.

    partial_fit and the prediction methods are called on small batches, where
    scikit-learn's generic validation costs more than the kernels. A plain 2-D
    float ndarray with the fitted number of features and finite values passes
    straight through; anything else (or anything wrong) goes through
    validate_data, which also gives the canonical error messages.
    """
    if (
        not reset
        and type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", -1)
        and not hasattr(estimator, "feature_names_in_")
        and (np.isfinite(X.sum()) or np.isfinite(X).all())
    ):
        return as_kernel_input(X)
    # when fitting, float32/float64 as scikit-learn's fit; when predicting,
    # dtype="numeric" as its predict methods (strings are refused with its
    # message; ints, bools and float16 become float64 in as_kernel_input)
    X = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32] if reset else "numeric")
    return as_kernel_input(X)


def as_kernel_input(X):
    """X as the kernels take it: float32/float64, element-aligned strides, no copy if possible."""
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    item = X.dtype.itemsize
    if (
        X.strides[0] % item
        or X.strides[1] % item
        or X.ctypes.data % item
    ):
        X = np.ascontiguousarray(X)
    return X


def data_scale(data):
    """Average feature variance of the first rows: the unit of the jitter."""
    scale = float(np.mean(np.var(data.head(10000), axis=0)))
    return scale if np.isfinite(scale) and scale > 0 else 1.0


# ----------------------------------------------------------------- passes


def score_pass(X, params, covariance_type, what):
    """A read-only pass over the (validated) array X.

    A sample so far from every component that its squared Mahalanobis
    distances overflow leaves the kernels without a finite log-density; they
    flag it (NaN responsibilities, a non-finite log-likelihood, label -1) and
    its outputs are recomputed without overflow (emfast._overflow): the
    responsibility goes to the component of largest log-density, as in the limit.
    """
    out = ArrayData(X).score(params, covariance_type, what)
    if what == "predict":
        bad = out < 0
    elif what == "log_prob_norm":
        bad = ~np.isfinite(out)
    elif what == "proba":
        bad = np.isnan(out[:, 0])  # a row with a NaN is NaN throughout
    elif what == "mahalanobis":
        if not np.isnan(out.sum()):  # distances are >= 0: only a NaN makes the sum NaN
            return out
        bad = np.isnan(out).any(axis=1)
    else:
        return out
    if bad.any():
        rows = np.flatnonzero(bad)
        with np.errstate(over="ignore"):  # into float32: beyond its range is +-inf
            out[rows] = overflow_rows(X[rows], params, covariance_type, what)
    return out


def m_step(stats, covariance_type, reg_covar, scale, n_samples):
    """Parameters from statistics; `empty` flags components left without samples."""
    # less than a hundred-millionth of an average sample's weight: the component is empty
    empty_threshold = 1e-8 * stats["weight"] / max(n_samples, 1)
    return core.m_step(
        stats["s0"],
        stats["s1"],
        stats["s2"],
        stats["centers"],
        covariance_type,
        float(reg_covar),
        float(empty_threshold),
        float(scale),
    )


def stats_from_assignment(data, covariance_type, n_components, labels=None, resp=None, random_state=None):
    """Statistics for fixed responsibilities, centred on the resulting means.

    Responsibilities are hard `labels`, soft `resp`, or (with random_state)
    scikit-learn's random ones, drawn chunk by chunk. Two passes: the first
    (centred on a point near the data) gives the means, the second centres the
    second-order statistics on them, so that no large common offset cancels.
    """
    shift = data.shift
    centers = np.tile(shift, (n_components, 1))

    def fixed(centers, shift):
        if random_state is None:
            return data.fixed_pass(centers, covariance_type, shift, labels=labels, resp=resp)
        # the same draws in both passes; the second leaves random_state where
        # scikit-learn's one (n_samples, K) draw would
        random_state.set_state(draws)
        return data.random_resp_pass(random_state, n_components, centers, covariance_type, shift)

    if random_state is not None:
        draws = random_state.get_state()
    first = fixed(centers, shift)
    nk = first["s0"] + _EPS10
    means = first["centers"] + first["s1"] / nk[:, None]
    return fixed(means, round_to(nk @ means / nk.sum(), data.dtype))


# ----------------------------------------------------------------- statistics algebra
# Statistics add; these re-centre and blend them (online EM, merging).


def recentre(stats, centers, covariance_type):
    """The same statistics about new centres c' (exact).

    With d = c' - c: S1' = S1 - S0 d and S2' = S2 - S1 d^T - d S1^T + S0 d d^T
    (its diagonal for diag, its trace for spherical, summed over components for tied).
    """
    centers = np.asarray(centers, dtype=np.float64)
    d = centers - stats["centers"]
    s0, s1, s2 = stats["s0"], stats["s1"], stats["s2"]
    if covariance_type in ("full", "tied"):
        cross = s1[:, :, None] * d[:, None, :]
        delta = s0[:, None, None] * d[:, :, None] * d[:, None, :] - cross - np.swapaxes(cross, 1, 2)
        s2 = s2 + (delta if covariance_type == "full" else delta.sum(axis=0))
    elif covariance_type == "diag":
        s2 = s2 - 2 * s1 * d + s0[:, None] * d**2
    else:
        s2 = s2 - 2 * (s1 * d).sum(axis=1) + s0 * (d**2).sum(axis=1)
    return dict(stats, s1=s1 - s0[:, None] * d, s2=s2, centers=centers)


def blend(old, new, rho):
    """(1 - rho) old + rho new, for statistics about the same centres."""
    out = dict(new)
    for key in ("s0", "s1", "s2", "loglik", "weight"):
        out[key] = (1 - rho) * old[key] + rho * new[key]
    return out


def normalised(stats):
    """Statistics per unit of sample weight."""
    w = stats["weight"]
    out = dict(stats)
    for key in ("s0", "s1", "s2", "loglik", "weight"):
        out[key] = stats[key] / w
    return out


def stats_of(params, covariance_type, weight=1.0):
    """Statistics that the M-step maps back to params (centred on their means)."""
    w = weight * np.asarray(params["weights"], dtype=np.float64)
    covs = np.asarray(params["covariances"], dtype=np.float64)
    K, D = params["means"].shape
    if covariance_type == "full":
        s2 = w[:, None, None] * covs
    elif covariance_type == "tied":
        s2 = w.sum() * covs
    elif covariance_type == "diag":
        s2 = w[:, None] * covs
    else:
        s2 = w * covs * D
    return {
        "s0": w, "s1": np.zeros((K, D)), "s2": s2,
        "centers": np.array(params["means"], dtype=np.float64),
        "loglik": 0.0, "weight": float(w.sum()),
    }


def warn_jitter(jitter, reg_covar):
    jitter = np.asarray(jitter)
    if (jitter > 0).any():
        warnings.warn(
            f"{int((jitter > 0).sum())} covariance matrix(es) were not positive definite "
            f"with reg_covar={reg_covar}; added up to {jitter.max():.3g} to their diagonal. "
            "Increase reg_covar, reduce n_components or check for duplicated or collinear "
            "samples.",
            DegenerateComponentWarning,
            stacklevel=4,
        )


def representable(a, dtype, positive_diagonal=False, positive=False, positive_definite=False):
    """Whether float64 `a` stays finite in dtype, with positive entries or diagonals, or
    positive definite (matrices), if asked."""
    with np.errstate(over="ignore", under="ignore"):
        b = np.asarray(a, dtype=dtype)
    if not np.isfinite(b).all():
        return False
    if positive_definite:
        try:
            np.linalg.cholesky(np.asarray(b, dtype=np.float64))
        except np.linalg.LinAlgError:
            return False
    if positive_diagonal:
        b = np.diagonal(b, axis1=-2, axis2=-1)
    return bool((b > 0).all()) if positive or positive_diagonal else True


def check_finite_model(params):
    """A fit never returns a model with non-finite parameters."""
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        if not np.isfinite(params[name]).all():
            raise ValueError(
                f"Fitting produced non-finite {name}: the data's values (or sample "
                "weights) are too large or too small to be represented in floating "
                "point. Rescale X (for example with sklearn.preprocessing.StandardScaler)."
            )


# ----------------------------------------------------------------- *_init checks
# Same rules and messages as scikit-learn's GaussianMixture.


def _check_shape(param, param_shape, name):
    if param.shape != param_shape:
        raise ValueError(
            "The parameter '%s' should have the shape of %s, but got %s"
            % (name, param_shape, param.shape)
        )


def _check_weights(weights, n_components):
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


def _check_means(means, n_components, n_features):
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precision_matrix(precision, covariance_type):
    if not (
        np.allclose(precision, precision.T) and np.all(np.linalg.eigvalsh(precision) > 0.0)
    ):
        raise ValueError("'%s precision' should be symmetric, positive-definite" % covariance_type)


def _check_precisions(precisions, covariance_type, n_components, n_features):
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


def _params_from_precisions(precisions, covariance_type):
    """(precisions_cholesky, covariances) from user precisions, in float64."""
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        mats = precisions if covariance_type == "full" else precisions[None]
        # upper-triangular P with P P^T = precision: Cholesky of the reversed matrix, reversed
        chol = np.stack([np.linalg.cholesky(m[::-1, ::-1])[::-1, ::-1] for m in mats])
        covs = np.linalg.inv(mats)
        covs = (covs + np.swapaxes(covs, 1, 2)) / 2
        if covariance_type == "tied":
            chol, covs = chol[0], covs[0]
        return np.ascontiguousarray(chol), np.ascontiguousarray(covs)
    return np.sqrt(precisions), 1.0 / precisions


# ----------------------------------------------------------------- estimator base


class GaussianMixtureBase(DensityMixin, BaseEstimator):
    """Prediction and model-selection methods shared by emfast's Gaussian mixtures."""

    def _fitted_params(self):
        return {
            "weights": self.weights_,
            "means": self.means_,
            "precisions_cholesky": self.precisions_cholesky_,
        }

    def _set_parameters(self, params, dtype):
        """Set the fitted attributes, in the dtype of the training data if it can hold them.

        float32 cannot hold every model (variances beyond 1e38 or below 1e-38, or
        covariances so ill-conditioned that rounding them to float32 leaves them
        indefinite); such a model keeps float64 attributes. The attributes are always new
        arrays, never views of *_init arrays or of anything else given.
        """
        if dtype != np.float64:
            matrices = self.covariance_type in ("full", "tied")
            if not (
                representable(params["weights"], dtype, positive=True)
                and representable(params["means"], dtype)
                and representable(params["covariances"], dtype, matrices, not matrices, matrices)
                and representable(params["precisions_cholesky"], dtype, matrices, not matrices)
            ):
                dtype = np.float64
        cast = lambda a: np.array(a, dtype=dtype, copy=True)  # noqa: E731
        self.weights_ = cast(params["weights"])
        self.means_ = cast(params["means"])
        self.covariances_ = cast(params["covariances"])
        self.precisions_cholesky_ = cast(params["precisions_cholesky"])
        pc = self.precisions_cholesky_
        if self.covariance_type == "full":
            self.precisions_ = np.matmul(pc, np.swapaxes(pc, 1, 2))
        elif self.covariance_type == "tied":
            self.precisions_ = pc @ pc.T
        else:
            self.precisions_ = pc**2
        if dtype != np.float64 and not np.isfinite(self.precisions_).all():
            self._set_parameters(params, np.float64)

    def _reseed(self, data, stats, new, scale):
        """Move components that lost all their samples onto the worst-explained samples."""
        empty = np.flatnonzero(new["empty"])
        alive = ~new["empty"]
        rows, _ = data.take(stats["worst_row"][: len(empty)])
        weights = new["weights"]
        covs = new["covariances"]
        if self.covariance_type != "tied" and alive.any():
            share = weights[alive] / weights[alive].sum()
            average = np.tensordot(share, covs[alive], axes=1)
        for j, k in enumerate(empty):
            if j < len(rows):
                new["means"][k] = rows[j]
            if self.covariance_type != "tied" and alive.any():
                covs[k] = average
            weights[k] = 1.0 / self.n_components
        weights /= weights.sum()
        covs, prec_chol, jitter = core.precision_cholesky(covs, self.covariance_type, scale)
        new["covariances"], new["precisions_cholesky"] = covs, prec_chol
        self._repairs["reseeded"] += len(empty)
        self._repairs["jitter"] = max(self._repairs["jitter"], float(np.max(jitter)))

    def _warn_repairs(self):
        if self._repairs["reseeded"]:
            warnings.warn(
                f"{self._repairs['reseeded']} time(s) a component lost all its samples; "
                "it was re-seeded at the worst-explained samples. Consider fewer components.",
                DegenerateComponentWarning,
                stacklevel=3,
            )
        if self._repairs["jitter"] > 0:
            warn_jitter([self._repairs["jitter"]], self.reg_covar)
        del self._repairs

    def _check_initial_parameters(self, n_features):
        """Validated copies of weights_init, means_init, precisions_init (or None)."""
        K = self.n_components
        w = m = p = None
        if self.weights_init is not None:
            w = _check_weights(self.weights_init, K)
        if self.means_init is not None:
            m = _check_means(self.means_init, K, n_features)
        if self.precisions_init is not None:
            p = _check_precisions(self.precisions_init, self.covariance_type, K, n_features)
        return w, m, p

    def _initialize_parameters(self, data, random_state, inits, scale):
        """Initial parameters (float64), computed as scikit-learn computes them.

        init_params='kmeans' runs emfast's own k-means (emfast._kmeans), so the
        result is not scikit-learn's for the same random_state; the other
        initialisations draw the same random numbers as scikit-learn.
        """
        weights_init, means_init, precisions_init = inits
        K, cov = self.n_components, self.covariance_type
        fitted = None
        if weights_init is None or means_init is None or precisions_init is None:
            if self.init_params == "kmeans":
                stats = kmeans_stats(data, K, cov, random_state, scale)
            elif self.init_params == "random":
                stats = stats_from_assignment(data, cov, K, random_state=random_state)
            else:
                if self.init_params == "random_from_data":
                    sw = data.sample_weight
                    p = None if sw is None else sw / sw.sum()
                    if p is not None and np.count_nonzero(p) < K:
                        # fewer weighted rows than components: every weighted row,
                        # then rows of weight 0 (numpy's choice would refuse)
                        weighted = random_state.permutation(np.flatnonzero(p))
                        rest = random_state.choice(np.flatnonzero(p == 0), size=K - len(weighted), replace=False)
                        indices = np.concatenate([weighted, rest])
                    else:
                        indices = random_state.choice(data.n_samples, size=K, replace=False, p=p)
                else:  # k-means++
                    indices = data.kmeans_plusplus_indices(K, random_state)
                # one sample per component: only those rows carry statistics
                rows, sw = data.take(indices)
                picked = ArrayData(np.ascontiguousarray(rows, dtype=data.dtype), sw)
                stats = stats_from_assignment(picked, cov, K, labels=np.arange(K, dtype=np.int64))
            fitted = m_step(stats, cov, self.reg_covar, scale, data.n_samples)
            fitted["weights"] = (stats["s0"] + _EPS10) / data.total_weight()
            # scikit-learn leaves them summing to 1 + 10 eps K / n (K / n for one
            # sample per component), which sample() and numpy's multinomial may refuse
            fitted["weights"] /= fitted["weights"].sum()
            self._repairs["jitter"] = max(self._repairs["jitter"], float(np.max(fitted["jitter"])))

        params = {
            "weights": np.asarray(
                fitted["weights"] if weights_init is None else weights_init, dtype=np.float64
            ),
            "means": np.asarray(
                fitted["means"] if means_init is None else means_init, dtype=np.float64
            ),
        }
        if precisions_init is None:
            params["covariances"] = fitted["covariances"]
            params["precisions_cholesky"] = fitted["precisions_cholesky"]
        else:
            chol, covs = _params_from_precisions(precisions_init, cov)
            params["covariances"] = covs
            params["precisions_cholesky"] = chol
        return params

    def _current_parameters(self):
        return {
            "weights": np.asarray(self.weights_, dtype=np.float64),
            "means": np.asarray(self.means_, dtype=np.float64),
            "covariances": np.asarray(self.covariances_, dtype=np.float64),
            "precisions_cholesky": np.asarray(self.precisions_cholesky_, dtype=np.float64),
        }

    def _predict_pass(self, X, what):
        """A read-only pass: NumPy in, NumPy out; dask in, lazy dask out."""
        check_is_fitted(self)
        if is_dask_array(X):
            from ._dask import DaskData

            return DaskData.for_predict(self, X).score(self._fitted_params(), self.covariance_type, what)
        try:
            n_samples = _num_samples(X)
        except TypeError:
            n_samples = None  # validation says what is wrong
        if n_samples is not None and getattr(self, "n_features_in_", 0) > 0:
            # an output that cannot be allocated is a MemoryError now, before the pass
            per_component = what in ("proba", "log_resp", "weighted_log_prob", "mahalanobis")
            core.plan_memory(n_samples, self.n_features_in_, len(self.weights_), self.covariance_type,
                             len(self.weights_) if per_component else 1)
        X = check_X(self, X, reset=False)
        if X.dtype == np.float32 and self.means_.dtype != np.float32:
            # a float64 model (float32 could not hold it) scores in float64, as
            # scikit-learn's outputs are float64 for float32 X and a float64 model
            X = X.astype(np.float64)
        return score_pass(X, self._fitted_params(), self.covariance_type, what)

    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            The log of the mixture's density at each sample, log p(x).
        """
        return self._predict_pass(X, "log_prob_norm")

    def score(self, X, y=None):
        """Compute the per-sample average log-likelihood of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        log_likelihood : float
            The mean of :meth:`score_samples` over X.
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Predict the component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The index of the most probable component of each sample.
        """
        return self._predict_pass(X, "predict")

    def predict_proba(self, X):
        """Compute the posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            The responsibilities P(component k | x); each row sums to 1.
        """
        return self._predict_pass(X, "proba")

    def mahalanobis(self, X):
        """Compute the squared Mahalanobis distance of each sample to each component.

        Computed from the precision Cholesky factors, never from inverses:
        ``d2[i, k] = ||(x_i - mu_k) P_k||^2``, which equals
        ``scipy.spatial.distance.mahalanobis(x_i, mu_k, precisions_[k]) ** 2``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        d2 : ndarray of shape (n_samples, n_components)
            The squared distance of each sample to each component's mean in
            the metric of that component's precision.

        Examples
        --------
        >>> import numpy as np
        >>> from emfast import GaussianMixture
        >>> gm = GaussianMixture(2, covariance_type="spherical", random_state=0)
        >>> gm = gm.fit([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
        >>> d2 = gm.mahalanobis([[0.0, 1.0]])
        >>> bool(np.isclose(d2.min(), 0.0))
        True
        """
        return self._predict_pass(X, "mahalanobis")

    def sample(self, n_samples=1):
        """Generate random samples from the fitted mixture.

        The random numbers come from ``random_state``, as in scikit-learn.

        Parameters
        ----------
        n_samples : int, default=1
            The number of samples to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % (self.n_components)
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        # renormalised in float64: float32 weights may sum to 1 + 1e-8 there, which
        # numpy's multinomial refuses (so does scikit-learn's sample)
        pvals = np.asarray(self.weights_, dtype=np.float64)
        n_samples_comp = rng.multinomial(n_samples, pvals / pvals.sum())
        if self.covariance_type == "full":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, covariance, int(sample))
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        elif self.covariance_type == "tied":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, self.covariances_, int(sample))
                    for (mean, sample) in zip(self.means_, n_samples_comp)
                ]
            )
        else:
            X = np.vstack(
                [
                    mean + rng.standard_normal(size=(sample, n_features)) * np.sqrt(covariance)
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        y = np.concatenate(
            [np.full(sample, j, dtype=np.int64) for j, sample in enumerate(n_samples_comp)]
        )
        return np.asarray(X, dtype=np.float64), y

    def _n_parameters(self):
        _, n_features = self.means_.shape
        if self.covariance_type == "full":
            cov_params = self.n_components * n_features * (n_features + 1) / 2.0
        elif self.covariance_type == "diag":
            cov_params = self.n_components * n_features
        elif self.covariance_type == "tied":
            cov_params = n_features * (n_features + 1) / 2.0
        else:
            cov_params = self.n_components
        mean_params = n_features * self.n_components
        return int(cov_params + mean_params + self.n_components - 1)

    def bic(self, X):
        """Compute the Bayesian information criterion of the model on X.

        ``-2 * log-likelihood(X) + n_parameters * log(n_samples)``; lower is
        better. Use it to choose ``n_components`` or ``covariance_type``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        bic : float
            The criterion (lower is better).
        """
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Compute the Akaike information criterion of the model on X.

        ``-2 * log-likelihood(X) + 2 * n_parameters``; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        aic : float
            The criterion (lower is better).
        """
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()
