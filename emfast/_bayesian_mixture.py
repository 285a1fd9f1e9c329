"""emfast.BayesianGaussianMixture: scikit-learn's variational Gaussian mixture on the fused pass."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._data import ArrayData, Float32Overflow, training_data
from ._em import fit_em
from ._init import initial_stats
from ._memory import check_fit_memory
from ._mixture import COVARIANCE_TYPES, GaussianMixtureBase
from ._stats import Params, round_to
from ._validation import _check_precision_matrix, _check_shape, as_kernel_input, blas_on_one_thread
from ._validation import check_finite_model, check_n_samples, unchanged_on_error
from ._variational import Posterior, Prior, VariationalEM, _log_dirichlet_norm, _log_wishart_norm  # noqa: F401

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


def data_moments(data, covariance_type):
    """(mean, covariance with ddof=1 in the covariance type's layout, total weight)
    of the rows, from one pass: a one-component hard E-step, whose statistics are
    the weighted sums about a point near the data."""
    D = data.n_features
    unit = {"full": np.eye(D)[None], "tied": np.eye(D), "diag": np.ones((1, D)), "spherical": np.ones(1)}
    one = Params(np.ones(1), data.shift[None], unit[covariance_type], unit[covariance_type])
    st = data.em_pass(one, covariance_type, hard=True)
    mean = st.centers[0] + st.s1[0] / st.weight
    s2 = st.recentred(mean[None]).s2
    s2 = s2 if covariance_type == "tied" else s2[0]
    if covariance_type == "spherical":
        s2 = s2 / D
    total = st.weight * data.weight_scale  # the weights count samples
    return mean, s2 / (st.weight - 1.0 / data.weight_scale), total


class BayesianMixtureBase(GaussianMixtureBase):
    """Priors, fitted attributes and scoring of emfast's variational mixtures.

    Scoring is the Gaussian score pass with the E-step's log-weights
    (expected log-weights and the posterior's per-component constants), which
    is scikit-learn's _estimate_weighted_log_prob.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weight_concentration_prior_type": [StrOptions(set(PRIOR_TYPES))],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # scikit-learn's BayesianGaussianMixture has no information criteria: the
    # variational scores are bounds, not likelihoods
    @property
    def bic(self):
        raise AttributeError(f"'{type(self).__name__}' object has no attribute 'bic'")

    @property
    def aic(self):
        raise AttributeError(f"'{type(self).__name__}' object has no attribute 'aic'")

    # ------------------------------------------------------------- priors

    def _check_prior_parameters(self, n_features):
        """scikit-learn's checks of the given priors, in its order and with its messages;
        sets the *_prior_ attributes that do not depend on the data."""
        D = n_features
        K = self.n_components
        wcp = self.weight_concentration_prior
        self.weight_concentration_prior_ = 1.0 / K if wcp is None else wcp
        self.mean_precision_prior_ = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        if self.mean_prior is not None:
            self.mean_prior_ = check_array(self.mean_prior, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(self.mean_prior_, (D,), "means")
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = D
        elif self.degrees_of_freedom_prior > D - 1.0:
            self.degrees_of_freedom_prior_ = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' should be greater than %d, but got %.3f."
                % (D - 1, self.degrees_of_freedom_prior)
            )
        cov, prior = self.covariance_type, self.covariance_prior
        if prior is None or cov == "spherical":
            self.covariance_prior_ = prior
        else:
            self.covariance_prior_ = check_array(prior, dtype=[np.float64, np.float32], ensure_2d=False)
            if cov in ("full", "tied"):
                _check_shape(self.covariance_prior_, (D, D), "%s covariance_prior" % cov)
                _check_precision_matrix(self.covariance_prior_, cov)
            else:
                _check_shape(self.covariance_prior_, (D,), "%s covariance_prior" % cov)
                if np.any(np.less_equal(self.covariance_prior_, 0.0)):
                    raise ValueError("'%s precision' should be positive" % cov)

    def _prior(self, data):
        """The priors (scikit-learn's _check_parameters): the given ones, or the data's
        mean and covariance (one pass), after _check_prior_parameters. Returns the
        Prior, in float64."""
        cov = self.covariance_type
        if self.mean_prior is None or self.covariance_prior is None:
            mean, covariance, total = data_moments(data, cov)
            if self.mean_prior is None:
                self.mean_prior_ = np.asarray(mean, dtype=data.dtype)
            if self.covariance_prior is None:
                if not total > 1.0:
                    raise ValueError(
                        f"{type(self).__name__} counts sample weights as repetitions of the samples: "
                        "the default covariance_prior (the data's covariance, ddof=1) needs sample "
                        f"weights summing to more than 1, got {total:.6g}. Give covariance_prior, or "
                        "weights that count the samples."
                    )
                # scikit-learn's np.cov is float64, its np.var in X's dtype
                dtype = np.float64 if cov in ("full", "tied") else data.dtype
                self.covariance_prior_ = np.asarray(covariance, dtype=dtype)
                if cov == "spherical":
                    self.covariance_prior_ = self.covariance_prior_[()]
        return Prior(
            self.weight_concentration_prior_type, cov, float(self.weight_concentration_prior_),
            float(self.mean_precision_prior_), round_to(self.mean_prior_, self.mean_prior_.dtype),
            float(self.degrees_of_freedom_prior_), np.array(self.covariance_prior_, dtype=np.float64),
        )

    # ------------------------------------------------------------- attributes

    def _set_posterior(self, post):
        """The fitted attributes (float64, as scikit-learn's) from a Posterior (whose
        arrays are new ones, never modified afterwards: the attributes may hold them)."""
        self.weight_concentration_ = post.weight_concentration
        self.mean_precision_ = post.mean_precision
        dof = post.degrees_of_freedom
        self.degrees_of_freedom_ = np.float64(dof) if self.covariance_type == "tied" else dof
        kind = self.weight_concentration_prior_type
        self._store_parameters(
            Params(post.weights(kind), post.means, post.covariances, post.precisions_cholesky), np.float64
        )

    def _current_posterior(self):
        """The fitted posterior in float64 (warm starts, scoring)."""
        wc = self.weight_concentration_
        f64 = lambda a: np.array(a, dtype=np.float64)  # noqa: E731 (copies: ours to modify)
        return Posterior(
            (f64(wc[0]), f64(wc[1])) if isinstance(wc, tuple) else f64(wc),
            f64(self.mean_precision_), f64(self.means_),
            np.float64(self.degrees_of_freedom_) if self.covariance_type == "tied" else f64(self.degrees_of_freedom_),
            f64(self.covariances_), f64(self.precisions_cholesky_),
        )

    def _fitted_params(self):
        return self._current_posterior().e_step_params(self.weight_concentration_prior_type)


class BayesianGaussianMixture(BayesianMixtureBase):
    """Variational Bayesian Gaussian mixture, with the iterations in C++.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture` (the same
    parameters, defaults, attributes and methods; the same posterior from the
    same arguments). It fits an approximate posterior over the weights
    (Dirichlet or Dirichlet process prior) and each component's mean and
    precision (Gaussian-Wishart prior); components the data do not need get
    weights near zero, so ``n_components`` is an upper bound, not a choice.

    Each iteration is one fused pass over X (the Gaussian E-step with
    expected log-weights and log-determinants) followed by scikit-learn's
    variational M-step on the pass's sufficient statistics: no
    (n_samples, n_components) array is allocated during fit, and results do
    not depend on the thread count. X may be a NumPy array, a read-only
    memory map or a Dask array (fitted block by block on the workers);
    float32 X is fitted in float32 without a copy, and the posterior is
    float64, as scikit-learn's. Beyond scikit-learn, ``fit`` takes
    ``sample_weight``, and where scikit-learn raises on a covariance that is
    not positive definite (a constant feature with ``reg_covar=0``), the
    smallest jitter that makes it so is added, with a
    :class:`DegenerateComponentWarning`.

    Parameters
    ----------
    n_components : int, default=1
        The largest number of mixture components; depending on the data and
        ``weight_concentration_prior``, fewer may effectively be used.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariances: each component's own general matrix
        ('full'), one general matrix shared by all ('tied'), each component's
        own diagonal matrix ('diag') or single variance ('spherical').
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound on the
        evidence (a sum over the samples, not a mean) in an iteration.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every
        covariance.
    max_iter : int, default=100
        The maximum number of iterations per initialisation. 0 keeps the
        initial posterior.
    n_init : int, default=1
        The number of initialisations; the one with the highest lower bound
        is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen: from scikit-learn's
        k-means (run on emfast's passes), from k-means++ seeding alone, at
        random, or from means at randomly chosen rows. Each draws
        scikit-learn's random numbers and gives its initial posterior.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, default='dirichlet_process'
        The prior on the weights: a Dirichlet process (an infinite mixture,
        truncated at ``n_components`` in its stick-breaking representation)
        or a Dirichlet distribution (a finite mixture).
    weight_concentration_prior : float or None, default=None
        The concentration (gamma) of the prior on the weights, > 0: smaller
        values favour fewer active components. None uses
        ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        The precision (beta_0) of the Gaussian prior on the means, > 0:
        larger values keep the means closer to ``mean_prior``. None uses 1.
    mean_prior : array-like of shape (n_features,), default=None
        The mean of the Gaussian prior on the means; None: the (weighted) mean of X.
    degrees_of_freedom_prior : float or None, default=None
        The Wishart prior's degrees of freedom (> n_features - 1); None: n_features.
    covariance_prior : float or array-like, default=None
        The covariance of the Wishart prior on the precisions: of shape
        (n_features, n_features) for 'full' and 'tied', (n_features,) for
        'diag', a float for 'spherical'. None uses the (weighted) covariance
        of X with ddof=1, which needs sample weights summing to more than 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`. Pass an int for
        reproducible results.
    warm_start : bool, default=False
        If True, each ``fit`` after the first starts from the previous
        posterior, with a single initialisation.
    verbose : int, default=0
        1 prints each initialisation and every ``verbose_interval``-th iteration,
        2 also their times and lower-bound changes (scikit-learn's lines).
    verbose_interval : int, default=10
        The number of iterations between two printed iterations.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weight of each component under the posterior.
    means_ : ndarray of shape (n_components, n_features)
        The posterior mean of each component's mean.
    covariances_ : ndarray
        The inverse of each component's expected precision, of shape
        (n_components,) for 'spherical', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag' and (n_components, n_features,
        n_features) for 'full'.
    precisions_ : ndarray
        The inverses of ``covariances_``, of the same shape.
    precisions_cholesky_ : ndarray
        The Cholesky factors of ``precisions_``, of the same shape.
    weight_concentration_ : ndarray or tuple of two ndarrays
        The posterior concentration of the weights: the Dirichlet parameters
        for 'dirichlet_distribution', the two parameter arrays of the
        stick-breaking Beta distributions for 'dirichlet_process'.
    mean_precision_ : ndarray of shape (n_components,)
        The posterior precision (beta) of each component's mean.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        The posterior degrees of freedom of each component's Wishart
        distribution (one float for 'tied').
    weight_concentration_prior_, mean_precision_prior_, degrees_of_freedom_prior_ : float
        The priors used (given, or the defaults above).
    mean_prior_, covariance_prior_ : ndarray or float
        The priors used, given or computed from X (``mean_prior_`` then in X's
        dtype).
    converged_ : bool
        Whether the best initialisation converged within ``max_iter``.
    n_iter_ : int
        The number of iterations of the best initialisation.
    lower_bound_ : float
        The lower bound on the evidence (a sum over the samples) of the best
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
    sklearn.mixture.BayesianGaussianMixture : The scikit-learn estimator this
        one replaces.
    MiniBatchBayesianGaussianMixture : The same model fitted by stochastic
        variational inference, on mini-batches or streams.
    GaussianMixture : A Gaussian mixture fitted by EM (maximum likelihood).

    References
    ----------
    C. M. Bishop, "Pattern Recognition and Machine Learning", chapter 10,
    Springer, 2006. D. M. Blei and M. I. Jordan, "Variational inference for
    Dirichlet process mixtures", Bayesian Analysis, 1(1), 121-143, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import BayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.5, (100, 2)) for c in ([1, 1], [6, 1], [1, 6])])

    Of six components offered, the data need three; the others get weights
    near zero:

    >>> bgm = BayesianGaussianMixture(n_components=6, random_state=0).fit(X)
    >>> bgm.weights_.round(2)
    array([0.34, 0.  , 0.33, 0.33, 0.  , 0.  ])
    >>> bgm.means_[bgm.weights_ > 0.01].round(1)
    array([[5.9, 1. ],
           [1. , 1.1],
           [1. , 6. ]])

    The posterior is scikit-learn's:

    >>> from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
    >>> sk = SkBayesianGaussianMixture(n_components=6, random_state=0).fit(X)
    >>> bool(np.allclose(bgm.means_, sk.means_) and np.allclose(bgm.covariances_, sk.covariances_))
    True

    Sample weights count samples: an integer weight w fits the posterior of
    the row repeated w times (so the weights' scale matters), and the
    posterior precisions of the means add up to the prior's and the total
    weight:

    >>> w = np.tile([1, 2, 3], 100)
    >>> weighted = BayesianGaussianMixture(n_components=3, random_state=0).fit(X, sample_weight=w)
    >>> repeated = BayesianGaussianMixture(n_components=3, random_state=0).fit(np.repeat(X, w, axis=0))
    >>> bool(np.allclose(weighted.means_, repeated.means_))
    True
    >>> round(float(weighted.mean_precision_.sum()), 6)  # 3 * 1 + 600
    603.0
    """

    _parameter_constraints: dict = {
        **BayesianMixtureBase._parameter_constraints,
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
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
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------- public API

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the posterior by variational inference.

        Runs ``n_init`` initialisations of at most ``max_iter`` iterations
        each and keeps the posterior with the highest lower bound.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: a NumPy array (float32 data is fitted in float32;
            the posterior is float64), a memory map or a Dask array.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative counts: an integer weight w is equivalent to
            repeating the sample w times (their scale matters: the prior
            weighs against their total). None: all 1.

        Returns
        -------
        self : BayesianGaussianMixture
            The fitted estimator.
        """
        with unchanged_on_error(self):
            self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the component of each sample of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, as in :meth:`fit`.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative counts, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The most probable component of each sample, as
            ``fit(X).predict(X)`` gives.
        """
        with unchanged_on_error(self):
            self._fit(X, sample_weight)
        return self.predict(X)

    # ------------------------------------------------------------- fitting

    def _fit(self, X, sample_weight):
        self._validate_params()
        data = training_data(self, X, sample_weight, counts=True)
        check_n_samples(data.n_samples, self.n_components)
        self._check_prior_parameters(data.n_features)
        # MemoryError now for a fit that cannot be allocated, before any work
        check_fit_memory(self, data)
        with blas_on_one_thread():
            try:
                self._fit_data(data)
            except Float32Overflow:
                # float32 cannot hold this data's squared deviations: a float64 fit
                self._fit_data(data.astype(np.float64))

    def _fit_data(self, data):
        """scikit-learn's fit_predict loop, iteration for iteration, over a data object."""
        model = VariationalEM(self._prior(data), self.reg_covar, data.scale(), data.weight_scale)
        random_state = check_random_state(self.random_state)

        def initial():
            return model.maximise(initial_stats(
                data, n_components=self.n_components, covariance_type=self.covariance_type,
                init_params=self.init_params, random_state=random_state, scale=model.scale,
            ))

        best = fit_em(self, data, model, initial, self._current_posterior)
        self.converged_ = best.converged
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        best.repairs.warn(self.reg_covar)
        check_finite_model(best.params.e_step_params(self.weight_concentration_prior_type))
        self._set_posterior(best.params)
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.lower_bounds

    # scikit-learn's hooks, which its own tests call
    def _check_parameters(self, X, xp=None):
        X = as_kernel_input(np.asarray(X))
        self._check_prior_parameters(X.shape[1])
        self._model = VariationalEM(self._prior(ArrayData(X)), self.reg_covar, 1.0)

    def _initialize_parameters(self, X, random_state, xp=None):
        data = ArrayData(as_kernel_input(np.asarray(X)))
        stats = initial_stats(data, n_components=self.n_components, covariance_type=self.covariance_type,
                              init_params=self.init_params, random_state=random_state, scale=data.scale())
        self._set_posterior(self._model.maximise(stats)[0])
