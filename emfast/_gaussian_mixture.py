"""emfast.GaussianMixture: scikit-learn's GaussianMixture on a fused C++ EM pass."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ._data import ArrayData, Float32Overflow
from ._em import GaussianEM, Repairs, fit_em
from ._init import initial_parameters
from ._mixture import COVARIANCE_TYPES, GaussianMixtureBase
from ._native import core
from ._validation import (
    as_kernel_input,
    blas_on_one_thread,
    check_finite_model,
    check_n_samples,
    check_sample_weight,
    is_dask_array,
)


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
        data = self._fit(X, sample_weight)
        return data.score(self._fitted_params(), self.covariance_type, "predict")

    # ------------------------------------------------------------- fitting

    def _fit(self, X, sample_weight):
        """Validate, then fit on the data object; returns the data object."""
        self._validate_params()
        if is_dask_array(X):
            from ._dask import DaskData

            data = DaskData.validated(self, X, sample_weight)
        else:
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
            X = as_kernel_input(X)
            data = ArrayData(X, check_sample_weight(sample_weight, X.shape[0]))
        check_n_samples(data.n_samples, self.n_components)
        # MemoryError now for a model that cannot be allocated, before any work
        core.plan_memory(data.n_samples, data.n_features, self.n_components, self.covariance_type)
        with blas_on_one_thread():
            try:
                self._fit_data(data)
            except Float32Overflow:
                # float32 cannot hold this data's squared deviations: a float64 fit and model
                data = data.astype(np.float64)
                self._fit_data(data)
        return data

    def _fit_data(self, data):
        """The EM loop (scikit-learn's, iteration for iteration) over a data object."""
        inits = self._check_initial_parameters(data.n_features)
        scale = data.scale()
        random_state = check_random_state(self.random_state)
        model = self._em_model(scale, data.n_samples)

        def initial():
            params, jitter = initial_parameters(
                data, n_components=self.n_components, covariance_type=self.covariance_type,
                init_params=self.init_params, reg_covar=self.reg_covar, random_state=random_state,
                inits=inits, scale=scale,
            )
            return self._start_family(params), Repairs(jitter)

        best = fit_em(self, data, model, initial, self._current_parameters)
        self.converged_ = best.converged
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        best.repairs.warn(self.reg_covar)
        check_finite_model(best.params)
        self._set_parameters(best.params, data.dtype)
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.lower_bounds

    # Hooks for mixtures of other components (emfast._student_t.StudentTMixture):
    # the model object of the loop, and the initial model from the Gaussian one.
    def _em_model(self, scale, n_samples):
        return GaussianEM(self.covariance_type, self.reg_covar, scale, n_samples)

    def _start_family(self, params):
        return params
