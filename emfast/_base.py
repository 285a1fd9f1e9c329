"""What every Gaussian mixture estimator in emfast shares.

The estimators keep no numerical loop over samples in Python: each pass over
X is one call into the C++ kernels (``emfast._native.core``), which return
mergeable sufficient statistics (fitting) or per-sample outputs (scoring).
Parameters travel as a dict of float64 arrays laid out like scikit-learn's
attributes: ``weights``, ``means``, ``covariances``, ``precisions_cholesky``.
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from ._native import core

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class DegenerateComponentWarning(UserWarning):
    """A component had to be repaired during fitting.

    Raised when a component lost all its samples (it is re-seeded at the
    worst-explained samples) or when a covariance matrix was not positive
    definite (the smallest sufficient jitter is added to its diagonal).
    """


# ----------------------------------------------------------------- validation


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


# float32 data whose features span more than this (or less, but not 0) are fitted in
# float64: their squared deviations would overflow (or underflow) float32
_FLOAT32_SPREAD = (2.0**-40, 2.0**50)
# float64 data whose features span more than this cannot be fitted: squared
# deviations overflow float64
_FLOAT64_SPREAD = 2.0**510


def fit_input(X):
    """(X as the fitting kernels take it, (lowest, highest) value of each feature).

    float32 data whose squared deviations would overflow or underflow float32 are
    converted to float64 (one copy); float64 data whose squared deviations
    overflow float64 are a ValueError.
    """
    X = as_kernel_input(X)
    box = (np.asarray(X.min(axis=0), dtype=np.float64), np.asarray(X.max(axis=0), dtype=np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        spread = float(np.max(box[1] - box[0]))
    if X.dtype == np.float32 and not (
        spread == 0 or _FLOAT32_SPREAD[0] <= spread <= _FLOAT32_SPREAD[1]
    ):
        X = X.astype(np.float64)
    if not spread <= _FLOAT64_SPREAD:
        raise ValueError(
            f"X's features span up to {spread:.3g}: squared distances between samples "
            "overflow float64. Rescale X (for example with sklearn.preprocessing.StandardScaler)."
        )
    return X, box


def data_shift(X):
    """A point near the data, subtracted from every row before float arithmetic."""
    # a C-ordered copy: NumPy's reductions sum in an order that depends on the
    # memory layout, and the same data must give the same model in any layout
    head = np.ascontiguousarray(X[: min(X.shape[0], 1024)], dtype=np.float64)
    return round_to(head.mean(axis=0), X.dtype)


def params_shift(params, dtype):
    return round_to(params["weights"] @ params["means"], dtype)


def round_to(v, dtype):
    """v rounded to dtype's precision, returned as float64."""
    return np.ascontiguousarray(np.asarray(v, dtype=dtype), dtype=np.float64)


def data_scale(X):
    """Average feature variance of the first rows: the unit of the jitter."""
    head = np.ascontiguousarray(X[: min(X.shape[0], 10000)], dtype=np.float64)  # see data_shift
    scale = float(np.mean(np.var(head, axis=0)))
    return scale if np.isfinite(scale) and scale > 0 else 1.0


# ----------------------------------------------------------------- passes


def native_params(params):
    """(log_weights, means, precisions_cholesky) as C-contiguous float64."""
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(params["weights"], dtype=np.float64))
    return (
        np.ascontiguousarray(log_weights),
        np.ascontiguousarray(params["means"], dtype=np.float64),
        np.ascontiguousarray(params["precisions_cholesky"], dtype=np.float64),
    )


def em_pass(X, sample_weight, params, covariance_type, n_worst=0, box=None):
    """One fused E-step + statistics pass; statistics are centred on the means.

    `box` (each feature's lowest and highest value in X) keeps the shift within
    the data: the means' weighted average always is, unless a means_init far from
    the data carries weight, and a shift far from the data would round every
    x - shift to the same number.
    """
    log_weights, means, prec_chol = native_params(params)
    shift = params_shift(params, X.dtype)
    if box is not None:
        shift = round_to(np.clip(shift, box[0], box[1]), X.dtype)
    return core.em_pass(
        X,
        sample_weight,
        log_weights,
        means,
        prec_chol,
        covariance_type,
        shift,
        0,
        n_worst,
    )


def score_pass(X, params, covariance_type, what):
    """A read-only pass; rows whose distances overflowed are recomputed in log space.

    A sample so far from every component that its squared Mahalanobis distances
    overflow leaves the kernels without a finite log-density; the kernels flag it
    (NaN responsibilities, a non-finite log-likelihood, label -1) and its outputs
    are recomputed here without overflow (overflow_rows): the responsibility goes
    to the component of largest log-density, as in the limit.
    """
    log_weights, means, prec_chol = native_params(params)
    out = core.score(
        X, log_weights, means, prec_chol, covariance_type, params_shift(params, X.dtype), what, 0
    )
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


def _factor(pc, covariance_type, k, D):
    """P_k as a dense D x D matrix (precision = P_k P_k^T)."""
    if covariance_type == "full":
        return pc[k]
    if covariance_type == "tied":
        return pc
    if covariance_type == "diag":
        return np.diag(pc[k])
    return np.eye(D) * pc[k]


def overflow_rows(X, params, covariance_type, what):
    """`what` for rows of X that the kernels could not score, without overflow.

    Distances come from log ||(x - m_k) P_k||^2, computed from halved, rescaled
    differences (finite for any finite x). Responsibilities come from the
    differences of the log-densities, expanded about the nearest component's
    mean o: with z = x - o = s u,
        L_k = a_k s^2 + b_k s + c_k,   a_k = -||u P_k||^2 / 2,  b_k = -(u P_k).((o - m_k) P_k),
        c_k = log pi_k + log det P_k - D/2 log 2 pi - ||(o - m_k) P_k||^2 / 2,
    and L_k - L_j is evaluated coefficient by coefficient. Components with the
    same precision (tied) have equal a_k, so their linear terms decide, exactly,
    however far x is (the direct formula loses them beyond float64 resolution).
    """
    X = np.asarray(X, dtype=np.float64)
    weights = np.asarray(params["weights"], dtype=np.float64)
    means = np.asarray(params["means"], dtype=np.float64)
    pc = np.asarray(params["precisions_cholesky"], dtype=np.float64)
    n, D = X.shape
    K = means.shape[0]
    rows = np.arange(n)
    factors = [_factor(pc, covariance_type, k, D) for k in range(K)]
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        cst = np.array(
            [
                np.log(weights[k]) + np.sum(np.log(np.abs(np.diag(factors[k]))))
                - 0.5 * D * np.log(2 * np.pi)
                for k in range(K)
            ]
        )
        log_maha = np.empty((n, K))
        for k, P in enumerate(factors):
            diff = X * 0.5 - means[k] * 0.5  # halved: cannot overflow
            r = np.max(np.abs(diff), axis=1)
            p = np.max(np.abs(P))
            y = (diff / np.where(r > 0, r, 1.0)[:, None]) @ (P / p)
            log_maha[:, k] = 2 * (np.log(r) + np.log(2.0) + np.log(p)) + np.log(np.sum(y * y, axis=1))
        maha = np.exp(log_maha)
        if what == "mahalanobis":
            return maha
        o = means[np.argmin(log_maha, axis=1)]
        diff = X * 0.5 - o * 0.5  # z / 2: finite, where z = x - o may not be
        h = np.max(np.abs(diff), axis=1)  # s / 2
        h = np.where(h > 0, h, 1.0)
        U = diff / h[:, None]
        a, b, c = np.empty((n, K)), np.empty((n, K)), np.empty((n, K))
        for k, P in enumerate(factors):
            yu, yo = U @ P, (o - means[k]) @ P
            a[:, k] = -0.5 * np.sum(yu * yu, axis=1)
            b[:, k] = -np.sum(yu * yo, axis=1)
            c[:, k] = cst[k] - 0.5 * np.sum(yo * yo, axis=1)
        top = np.lexsort((c, b, a), axis=1)[:, -1]  # the largest L_k for large s
        at, bt, ct = (v[rows, top][:, None] for v in (a, b, c))
        hc = h[:, None]
        # L_k - L_top = (a_k - a_top) s^2 + (b_k - b_top) s + (c_k - c_top), s = 2 h
        delta = hc * (hc * (4 * (a - at)) + 2 * (b - bt)) + (c - ct)
        delta[rows, top] = 0.0
        most = np.max(delta, axis=1, keepdims=True)
        e = np.exp(delta - most)
        total = e.sum(axis=1)
        if what == "proba":
            return e / total[:, None]
        if what == "predict":
            return np.argmax(e, axis=1)
        # log p(x) = L_top + log sum_k exp(L_k - L_top)
        L_top = cst[top] - 0.5 * maha[rows, top]
        return L_top + most[:, 0] + np.log(total)


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


def stats_from_assignment(X, sample_weight, covariance_type, n_components, labels=None, resp=None):
    """Statistics for fixed responsibilities, centred on the resulting means.

    Two passes: the first (centred on a point near the data) gives the means,
    the second centres the second-order statistics on them, so that no large
    common offset cancels.
    """
    shift = data_shift(X)
    centers = np.tile(shift, (n_components, 1))
    first = core.fixed_pass(X, sample_weight, labels, resp, centers, covariance_type, shift, 0)
    nk = first["s0"] + 10 * np.finfo(np.float64).eps
    means = first["centers"] + first["s1"] / nk[:, None]
    shift = round_to(nk @ means / nk.sum(), X.dtype)
    return core.fixed_pass(X, sample_weight, labels, resp, means, covariance_type, shift, 0)


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


# ----------------------------------------------------------------- estimator base


class GaussianMixtureBase(DensityMixin, BaseEstimator):
    """Prediction and model-selection methods shared by emfast's Gaussian mixtures."""

    def _check_X_predict(self, X, per_component=False):
        """Validated X for a read-only pass with an (n_samples, n_components) output if
        per_component, else (n_samples,)."""
        check_is_fitted(self)
        out_columns = len(self.weights_) if per_component else 1
        try:
            n_samples = _num_samples(X)
        except TypeError:
            n_samples = None  # validate_data says what is wrong
        if n_samples is not None and getattr(self, "n_features_in_", 0) > 0:
            # before validating X (one pass over it): an output that cannot be
            # allocated is a MemoryError now, not after minutes of work
            core.plan_memory(
                n_samples, self.n_features_in_, len(self.weights_), self.covariance_type, out_columns
            )
        # dtype="numeric" as scikit-learn's predict methods: strings are refused with
        # its message; ints, bools and float16 become float64 in as_kernel_input
        X = as_kernel_input(validate_data(self, X, reset=False))
        if X.dtype == np.float32 and self.means_.dtype != np.float32:
            # a float64 model (float32 may not hold it) scores in float64, as
            # scikit-learn's outputs are float64 for float32 X and a float64 model
            X = X.astype(np.float64)
        return X

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

    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Log-likelihood of each sample under the current model.
        """
        X = self._check_X_predict(X)
        return score_pass(X, self._fitted_params(), self.covariance_type, "log_prob_norm")

    def score(self, X, y=None):
        """Compute the per-sample average log-likelihood of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Predict the component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._check_X_predict(X)
        return score_pass(X, self._fitted_params(), self.covariance_type, "predict")

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        X = self._check_X_predict(X, per_component=True)
        return score_pass(X, self._fitted_params(), self.covariance_type, "proba")

    def mahalanobis(self, X):
        """Squared Mahalanobis distance of each sample to each component.

        Computed from the precision Cholesky factors, never from inverses:
        ``d2[i, k] = ||(x_i - mu_k) P_k||^2``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        d2 : ndarray of shape (n_samples, n_components)
        """
        X = self._check_X_predict(X, per_component=True)
        return score_pass(X, self._fitted_params(), self.covariance_type, "mahalanobis")

    def sample(self, n_samples=1):
        """Generate random samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component labels.
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
        """Bayesian information criterion for the current model on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion for the current model on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()
