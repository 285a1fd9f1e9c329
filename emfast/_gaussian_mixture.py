"""emfast.GaussianMixture: scikit-learn's GaussianMixture on a fused C++ EM pass."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils._param_validation import Interval, StrOptions

from ._array_api import array_api_fit
from ._compat import FLOAT32_MODELS
from ._data import Float32Overflow, training_data
from ._em import GaussianEM, Repairs, fit_em
from ._init import initial_parameters
from ._memory import check_fit_memory
from ._mixture import COVARIANCE_TYPES, INIT_PARAMS, GaussianMixtureBase
from ._progress import Progress
from ._validation import blas_on_one_thread, check_finite_model, check_n_samples, fit_random_state, unchanged_on_error


class GaussianMixture(GaussianMixtureBase, SkGaussianMixture):
    """Gaussian mixture fitted by EM, with the iterations in C++.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, attributes and methods, and the same model from the
    same arguments, defaults included (the default initialisation is
    scikit-learn's k-means, run on emfast's passes). Beyond scikit-learn,
    ``fit`` takes ``sample_weight`` (an integer weight w gives the model of
    the row repeated w times), the number of threads follows
    ``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS``, and where
    scikit-learn raises on a covariance that is not positive definite, the
    smallest jitter that makes it so is added (with a
    :class:`DegenerateComponentWarning`). ``reseed_empty=True`` also moves
    components that lose all their samples to the worst-explained samples.

    Each EM iteration is one pass over X that fuses the E-step with the
    M-step's sufficient statistics, in chunks, in parallel, reduced in a fixed
    order: no (n_samples, n_components) array is ever allocated during fit and
    results do not depend on the thread count. X may be a NumPy array, a
    read-only memory map (``np.load(path, mmap_mode="r")``, never copied) or a
    Dask array (fitted block by block on the workers).

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariance of each component:

        - 'full': each component has its own general covariance matrix;
        - 'tied': all components share one general covariance matrix;
        - 'diag': each component has its own diagonal covariance matrix;
        - 'spherical': each component has its own single variance.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the lower bound (the mean
        log-likelihood per sample) changes by less than tol in an iteration.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every covariance.
    max_iter : int, default=100
        The maximum number of EM iterations per initialisation. 0 keeps the
        initial model.
    n_init : int, default=1
        The number of initialisations; the one with the highest lower bound
        is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'kmeans_sample'}, default='kmeans'
        How the weights, means and precisions are initialised:

        - 'kmeans': responsibilities from scikit-learn's k-means
          (``KMeans(n_init=1)``: k-means++ seeding, Lloyd iterations to its
          stopping rule), run on emfast's passes;
        - 'k-means++': responsibilities from k-means++ seeding alone;
        - 'random': random responsibilities;
        - 'random_from_data': means at randomly chosen rows;
        - 'kmeans_sample' (emfast only): k-means on a random sample of
          max(10 000, 300 n_components) rows, then at most two Lloyd passes
          over all rows; much cheaper than 'kmeans' on tens of millions of
          rows, but not scikit-learn's initialisation.

        All but 'kmeans_sample' draw the same random numbers as scikit-learn
        and give its initial model.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights, or None to compute them with ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means, or None to compute them with ``init_params``.
    precisions_init : array-like, default=None
        Initial precisions (inverses of the covariances), or None to compute
        them with ``init_params``. The shape depends on ``covariance_type``:
        (n_components,) for 'spherical', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag' and
        (n_components, n_features, n_features) for 'full'.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`. Pass an int for
        reproducible results.
    warm_start : bool, default=False
        If True, each ``fit`` starts from the model of the previous one
        (``n_init`` is then ignored).
    verbose : int, default=0
        1 prints each initialisation and every ``verbose_interval``-th
        iteration; 2 also prints the time taken and the change of the lower
        bound.
    verbose_interval : int, default=10
        The number of iterations between two printed iterations.
    reseed_empty : bool, default=False
        If True, a component that loses all its samples (its weight falls
        below 1e-8 of an average sample's) is moved to the worst-explained
        samples, with a :class:`DegenerateComponentWarning`, and the fit does
        not converge in that iteration. By default such a component dies
        quietly, as in scikit-learn (a weight of about 1e-15 / n_samples).
    callback : callable, default=None
        Called as ``callback(info)`` with a dict of progress while fitting:
        ``stage`` ('k-means++' and 'lloyd' steps of the initialisation,
        'pass' for the share of a long pass over X done, 'em' for an EM
        iteration), ``step``, ``total``, ``init`` (the initialisation),
        ``lower_bound`` (EM iterations), ``elapsed`` (seconds) and
        ``rows_per_second``. An exception it raises stops the fit. With
        ``verbose`` set, fits that take more than half a second also print such
        progress lines.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each component.
    covariances_ : ndarray
        The covariance of each component, shaped as ``precisions_init``.
    precisions_ : ndarray
        The inverses of ``covariances_``, of the same shape.
    precisions_cholesky_ : ndarray
        The Cholesky factors of ``precisions_`` (what the kernels use), of the
        same shape.
    converged_ : bool
        Whether the best initialisation's EM converged within ``max_iter``.
    n_iter_ : int
        The number of EM iterations of the best initialisation.
    lower_bound_ : float
        The lower bound (mean log-likelihood per sample) of the best
        initialisation at its last iteration.
    lower_bounds_ : list of float
        The lower bound at each iteration of the best initialisation.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The scikit-learn estimator this one
        replaces.
    MiniBatchGaussianMixture : The same model fitted by online EM, on
        mini-batches or streams.
    GaussianMixtureClassifier : One Gaussian mixture per class, with
        out-of-distribution scores.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]])
    array([1, 0])

    From the same initialisation, the model is scikit-learn's:

    >>> from sklearn.mixture import GaussianMixture as SkGaussianMixture
    >>> sk = SkGaussianMixture(2, init_params="k-means++", random_state=0).fit(X)
    >>> em = GaussianMixture(2, init_params="k-means++", random_state=0).fit(X)
    >>> bool(np.allclose(em.means_, sk.means_) and np.allclose(em.covariances_, sk.covariances_))
    True

    An integer sample weight w fits the model of the row repeated w times:

    >>> w = np.array([3, 1, 1, 1, 1, 2])
    >>> weighted = GaussianMixture(2, means_init=[[1, 2], [10, 2]]).fit(X, sample_weight=w)
    >>> repeated = GaussianMixture(2, means_init=[[1, 2], [10, 2]]).fit(np.repeat(X, w, axis=0))
    >>> bool(np.allclose(weighted.covariances_, repeated.covariances_))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "reseed_empty": ["boolean"],
        "callback": [callable, None],
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
        reseed_empty=False,
        callback=None,
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
        self.reseed_empty = reseed_empty
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # array API inputs are read on the CPU, whatever init_params and warm_start
        # (scikit-learn's own support stops at 'random' inits without warm starts)
        tags.array_api_support = True
        return tags

    # ------------------------------------------------------------- public API

    @array_api_fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        Runs ``n_init`` initialisations, each followed by at most
        ``max_iter`` EM iterations (until the lower bound changes by less than
        ``tol``), and keeps the model with the highest lower bound.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: a NumPy array (float32 data gives a float32 model),
            a memory map or a Dask array.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight w is equivalent to
            repeating the sample w times. None gives every sample weight 1.

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.
        """
        with unchanged_on_error(self):
            self._fit(X, sample_weight)
        return self

    @array_api_fit
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the component of each sample of X.

        Unlike ``fit``, this runs one more E-step with the final parameters so
        that the labels equal ``fit(X).predict(X)``, as in scikit-learn.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The most probable component of each sample.
        """
        with unchanged_on_error(self):
            data = self._fit(X, sample_weight)
        return data.score(self._fitted_params(), self.covariance_type, "predict")

    # ------------------------------------------------------------- fitting

    def _fit(self, X, sample_weight):
        """Validate, then fit on the data object; returns the data object."""
        self._validate_params()
        data = training_data(self, X, sample_weight)
        check_n_samples(data.n_samples, self.n_components)
        # MemoryError now for a fit that cannot be allocated, before any work
        check_fit_memory(self, data)
        D = data.n_features
        largest = max(data.n_samples * D, self.n_components * D * D)  # X, or the covariances
        with blas_on_one_thread(largest), Progress(self, data.n_samples) as progress:
            try:
                self._fit_data(data, progress)
            except Float32Overflow:
                # float32 cannot hold this data's squared deviations: a float64 fit and model
                data = data.astype(np.float64)
                self._fit_data(data, progress)
        return data

    def _fit_data(self, data, progress):
        """The EM loop (scikit-learn's, iteration for iteration) over a data object."""
        inits = self._check_initial_parameters(data.n_features)
        scale = data.scale()
        model = self._em_model(scale, data.n_samples)
        with fit_random_state(self.random_state) as random_state:

            def initial():
                params, jitter = initial_parameters(
                    data, n_components=self.n_components, covariance_type=self.covariance_type,
                    init_params=self.init_params, reg_covar=self.reg_covar, random_state=random_state,
                    inits=inits, scale=scale,
                )
                return self._start_family(params), Repairs(jitter)

            # float32 data: a float32 model, or a float64 one before scikit-learn 1.7
            dtype = data.dtype if FLOAT32_MODELS else np.dtype(np.float64)
            best = fit_em(self, data, model, initial, self._current_parameters, progress, dtype)
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
        self._store_parameters(best.params, dtype)
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.lower_bounds

    # Hooks for mixtures of other components (emfast._student_t.StudentTMixture):
    # the model object of the loop, and the initial model from the Gaussian one.
    def _em_model(self, scale, n_samples):
        return GaussianEM(self.covariance_type, self.reg_covar, scale, n_samples, self.reseed_empty)

    def _start_family(self, params):
        return params
