"""emfast.GaussianMixture: scikit-learn's GaussianMixture on a fused C++ EM pass."""

import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from . import _base
from ._base import COVARIANCE_TYPES, GaussianMixtureBase
from ._native import core

_EPS10 = 10 * np.finfo(np.float64).eps


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


class GaussianMixture(GaussianMixtureBase):
    """Gaussian mixture fitted by EM, with the iterations in C++.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, attributes and methods, and the same model from the
    same initialisation. Beyond scikit-learn, ``fit`` takes ``sample_weight``
    (an integer weight w gives the model of the row repeated w times), the
    number of threads follows ``threadpoolctl.threadpool_limits`` and
    ``OMP_NUM_THREADS``, and degenerate fits are repaired instead of raising:
    a component that loses all its samples is re-seeded at the worst-explained
    samples, and a covariance that is not positive definite gets the smallest
    jitter that makes it so (both with a :class:`DegenerateComponentWarning`).

    Each EM iteration is one pass over X that fuses the E-step with the
    M-step's sufficient statistics, in chunks, in parallel, reduced in a fixed
    order: no (n_samples, n_components) array is ever allocated during fit and
    results do not depend on the thread count.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (mean log-likelihood).
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of covariances.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
    weights_init, means_init, precisions_init : array-like, default=None
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
    lower_bounds_ : list of float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------- public API

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight w is equivalent to
            repeating the sample w times.

        Returns
        -------
        self : GaussianMixture
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the component of each sample of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._fit(X, sample_weight)
        return _base.score_pass(X, self._fitted_params(), self.covariance_type, "predict")

    # ------------------------------------------------------------- fitting

    def _fit(self, X, sample_weight):
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        dtype = X.dtype  # of the fitted attributes, if it can hold them
        n_samples = X.shape[0]
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}"
            )
        # MemoryError now for a model that cannot be allocated, before the initialisation
        core.plan_memory(n_samples, X.shape[1], self.n_components, self.covariance_type)
        X, box = _base.fit_input(X)
        if X.dtype != dtype:
            dtype = X.dtype  # float32 cannot hold this fit: a float64 model
        sample_weight = _base.check_sample_weight(sample_weight, n_samples)
        inits = self._check_initial_parameters(X)
        scale = _base.data_scale(X)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound = -np.inf
        best_lower_bounds = []
        self.converged_ = False
        random_state = check_random_state(self.random_state)
        self._repairs = {"jitter": 0.0, "reseeded": 0}

        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            if do_init:
                params = self._initialize_parameters(X, sample_weight, random_state, inits, scale)
            else:
                params = self._current_parameters()
            lower_bound = -np.inf if do_init else self.lower_bound_
            current_lower_bounds = []

            if self.max_iter == 0:
                best_params = params
                best_n_iter = 0
            else:
                converged = False
                for n_iter in range(1, self.max_iter + 1):
                    prev_lower_bound = lower_bound
                    params, lower_bound, repaired = self._em_iteration(
                        X, sample_weight, params, scale, box
                    )
                    lower_bound = dtype.type(lower_bound)
                    current_lower_bounds.append(lower_bound)
                    change = lower_bound - prev_lower_bound
                    self._print_verbose_msg_iter_end(n_iter, change)
                    if abs(change) < self.tol and not repaired:
                        converged = True
                        break
                self._print_verbose_msg_init_end(lower_bound, converged)
                if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                    max_lower_bound = lower_bound
                    best_params = params
                    best_n_iter = n_iter
                    best_lower_bounds = current_lower_bounds
                    self.converged_ = converged

        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        self._warn_repairs()
        _base.check_finite_model(best_params)
        self._set_parameters(best_params, dtype)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds
        return X

    def _em_iteration(self, X, sample_weight, params, scale, box=None):
        """One EM iteration: (new params, lower bound of the old params, repaired?)."""
        K = self.n_components
        stats = _base.em_pass(X, sample_weight, params, self.covariance_type, n_worst=K, box=box)
        lower_bound = stats["loglik"] / stats["weight"]
        if np.isnan(lower_bound):
            # rows whose distances to every component overflowed: their
            # log-likelihood is below what floats hold
            lower_bound = -np.inf
        new = _base.m_step(stats, self.covariance_type, self.reg_covar, scale, X.shape[0])
        self._repairs["jitter"] = max(self._repairs["jitter"], float(np.max(new["jitter"])))
        repaired = bool(new["empty"].any())
        if repaired:
            self._reseed(X, stats, new, scale)
        return new, lower_bound, repaired

    def _reseed(self, X, stats, new, scale):
        """Move components that lost all their samples onto the worst-explained samples."""
        empty = np.flatnonzero(new["empty"])
        alive = ~new["empty"]
        rows = stats["worst_row"]
        weights = new["weights"]
        covs = new["covariances"]
        if self.covariance_type != "tied" and alive.any():
            share = weights[alive] / weights[alive].sum()
            average = np.tensordot(share, covs[alive], axes=1)
        for j, k in enumerate(empty):
            if j < len(rows):
                new["means"][k] = X[rows[j]]
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
                _base.DegenerateComponentWarning,
                stacklevel=3,
            )
        if self._repairs["jitter"] > 0:
            _base.warn_jitter([self._repairs["jitter"]], self.reg_covar)
        del self._repairs

    def _check_initial_parameters(self, X):
        """Validated copies of weights_init, means_init, precisions_init (or None)."""
        K, n_features = self.n_components, X.shape[1]
        w = m = p = None
        if self.weights_init is not None:
            w = _check_weights(self.weights_init, K)
        if self.means_init is not None:
            m = _check_means(self.means_init, K, n_features)
            with np.errstate(over="ignore", invalid="ignore"):
                far = float(
                    np.max(np.maximum(np.abs(m - X.min(axis=0)), np.abs(m - X.max(axis=0))))
                )
            if not far <= _base._FLOAT64_SPREAD:
                raise ValueError(
                    f"means_init lies up to {far:.3g} away from the data: squared distances "
                    "overflow float64. Give means within the data's range."
                )
        if self.precisions_init is not None:
            p = _check_precisions(self.precisions_init, self.covariance_type, K, n_features)
        return w, m, p

    def _initialize_parameters(self, X, sample_weight, random_state, inits, scale):
        """Initial parameters (float64), as scikit-learn computes them."""
        weights_init, means_init, precisions_init = inits
        K = self.n_components
        n_samples = X.shape[0]
        total_weight = n_samples if sample_weight is None else float(sample_weight.sum())
        fitted = None
        if weights_init is None or means_init is None or precisions_init is None:
            rows, labels, resp, sw = X, None, None, sample_weight
            if self.init_params == "kmeans":
                labels = (
                    KMeans(n_clusters=K, n_init=1, random_state=random_state)
                    .fit(X, sample_weight=sample_weight)
                    .labels_.astype(np.int64)
                )
            elif self.init_params == "random":
                resp = np.asarray(random_state.uniform(size=(n_samples, K)), dtype=X.dtype)
                resp /= resp.sum(axis=1)[:, np.newaxis]
            else:
                if self.init_params == "random_from_data":
                    p = None if sample_weight is None else sample_weight / sample_weight.sum()
                    if p is not None and np.count_nonzero(p) < K:
                        # fewer weighted rows than components: every weighted row,
                        # then rows of weight 0 (numpy's choice would refuse)
                        weighted = random_state.permutation(np.flatnonzero(p))
                        rest = random_state.choice(
                            np.flatnonzero(p == 0), size=K - len(weighted), replace=False
                        )
                        indices = np.concatenate([weighted, rest])
                    else:
                        indices = random_state.choice(n_samples, size=K, replace=False, p=p)
                else:  # k-means++
                    _, indices = kmeans_plusplus(
                        X, K, random_state=random_state, sample_weight=sample_weight
                    )
                # one sample per component: only those rows carry statistics
                rows = np.ascontiguousarray(X[indices])
                sw = None if sample_weight is None else np.ascontiguousarray(sample_weight[indices])
                labels = np.arange(K, dtype=np.int64)
            stats = _base.stats_from_assignment(
                rows, sw, self.covariance_type, K, labels=labels, resp=resp
            )
            fitted = _base.m_step(stats, self.covariance_type, self.reg_covar, scale, n_samples)
            fitted["weights"] = (stats["s0"] + _EPS10) / total_weight
            # (scikit-learn leaves them summing to 1 + 10 eps K / n, which sample()
            # and numpy's multinomial may refuse)
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
            chol, covs = _params_from_precisions(precisions_init, self.covariance_type)
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

    # ------------------------------------------------------------- verbose output

    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose == 1:
            print("Initialization %d" % n_init)
        elif self.verbose >= 2:
            print("Initialization %d" % n_init)
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print("  Iteration %d" % n_iter)
            elif self.verbose >= 2:
                cur_time = time()
                print(
                    "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                    % (n_iter, cur_time - self._iter_prev_time, diff_ll)
                )
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(
                f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}."
            )
