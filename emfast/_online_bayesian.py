"""emfast.MiniBatchBayesianGaussianMixture: online variational inference with partial_fit.

Stochastic variational inference (Hoffman, Blei, Wang & Paisley 2013) takes,
for the t-th mini-batch, a natural-gradient step on the global variational
parameters lambda (t counted from 1):

    lambda_hat = prior + N s_bar         s_bar: the mini-batch's expected sufficient
                                          statistics per unit of sample weight
    lambda     = (1 - rho) lambda + rho lambda_hat,   rho = (learning_offset + t) ** -learning_decay

The Dirichlet (or stick-breaking Beta) and Gaussian-Wishart natural parameters
are affine in the statistics (sum r, sum r x, sum r x x^T), so the step is the
running statistics of online EM, s = (1 - rho) s + rho s_bar (re-centred
exactly, as emfast._stats.Stats.recentred does), and lambda = prior + N s is
scikit-learn's variational M-step of N s (emfast._variational). The E-step on
the mini-batch is the one fused pass, as in BayesianGaussianMixture. A step is
one native call (emfast._core.svi_step: the pass, the blend, the M-step and the
next fitted attributes), as its Python cost on K x D arrays would exceed the
pass's on a mini-batch of a few thousand rows.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ._bayesian_mixture import BayesianMixtureBase
from ._data import ArrayData, Float32Overflow, finite_stats
from ._em import Repairs
from ._init import initial_stats
from ._minibatch import OnlineMixture
from ._native import core
from ._stats import Stats
from ._validation import check_n_samples
from ._variational import Posterior, VariationalEM


class MiniBatchBayesianGaussianMixture(BayesianMixtureBase, OnlineMixture):
    """Variational Bayesian Gaussian mixture fitted by stochastic variational inference.

    The model, priors, fitted attributes and prediction methods are those of
    :class:`emfast.BayesianGaussianMixture` (scikit-learn's variational
    mixture); only the fitting differs. ``partial_fit`` makes one
    natural-gradient step per mini-batch (Hoffman et al., 2013), so a
    posterior can be fitted on a stream or on data that never sits in memory
    at once; ``fit`` passes over shuffled mini-batches of X.

    The t-th mini-batch goes through the same fused C++ pass as
    :class:`BayesianGaussianMixture`'s E-step, under the current posterior.
    Its expected sufficient statistics s_bar (per unit of sample weight) are
    blended into the running statistics s, re-centred exactly on the current
    means, with the step size rho_t = (learning_offset + t) ** -learning_decay:
    s = (1 - rho_t) s + rho_t s_bar. The posterior is then scikit-learn's
    variational M-step on N s, where N is the number of samples the posterior
    stands for (``total_samples``). As the natural parameters of the
    posterior are affine in the statistics, with N fixed this is the
    natural-gradient step lambda = (1 - rho_t) lambda + rho_t (prior + N s_bar).
    The first mini-batch initialises the posterior (as
    :class:`BayesianGaussianMixture` initialises it on that mini-batch) and
    its statistics start s.

    Sample weights count samples, as in :class:`BayesianGaussianMixture`: an
    integer weight w stands for the row repeated w times. float32 mini-batches
    are read in float32; the posterior is float64.

    Parameters
    ----------
    n_components : int, default=1
        The largest number of mixture components; with a small
        ``weight_concentration_prior``, components the data do not need get
        weights near zero.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariances, as in :class:`BayesianGaussianMixture`.
    batch_size : int, default=1024
        Rows per mini-batch in ``fit`` (at least ``n_components``).
    learning_decay : float, default=0.7
        The exponent kappa in [0, 1] of the step size
        rho_t = (learning_offset + t) ** -kappa; values in (0.5, 1] guarantee
        convergence on a stationary stream. 0 replaces the statistics at every
        step (each mini-batch alone makes the posterior).
    learning_offset : float, default=10.0
        The offset tau_0 >= 0 in the step size; larger values down-weight the
        early mini-batches.
    total_samples : float or None, default=None
        The number of samples (total sample weight) the posterior stands for:
        each mini-batch's statistics count as that many samples'. None uses,
        in ``fit``, the total weight of X and, in ``partial_fit``, the total
        weight of the mini-batches seen so far.
    max_iter : int, default=100
        The maximum number of passes over X in ``fit``. 0 initialises the
        posterior from one mini-batch and takes no step.
    tol : float, default=1e-3
        ``fit`` stops when a pass changes ``lower_bound_`` by less than tol.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every
        covariance.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the first mini-batch initialises the posterior, as in
        :class:`BayesianGaussianMixture`.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, default='dirichlet_process'
        The prior on the weights, as in :class:`BayesianGaussianMixture`.
    weight_concentration_prior : float or None, default=None
        The concentration of the prior on the weights, > 0. None uses
        ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        The precision of the Gaussian prior on the means, > 0. None uses 1.
    mean_prior : array-like of shape (n_features,), default=None
        The mean of the Gaussian prior on the means. None uses the mean of X
        in ``fit`` and of the first mini-batch in ``partial_fit``.
    degrees_of_freedom_prior : float or None, default=None
        The degrees of freedom of the Wishart prior on the precisions; must
        be greater than n_features - 1. None uses n_features.
    covariance_prior : float or array-like, default=None
        The covariance of the Wishart prior on the precisions, shaped as in
        :class:`BayesianGaussianMixture`. None uses the covariance of X
        (ddof=1) in ``fit`` and of the first mini-batch in ``partial_fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling in ``fit`` and
        :meth:`sample`.
    verbose : int, default=0
        If positive, ``fit`` prints the smoothed bound (``lower_bound_``)
        after each pass.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weight of each component under the posterior.
    means_ : ndarray of shape (n_components, n_features)
        The posterior mean of each component's mean.
    covariances_ : ndarray
        The covariance of each component (the inverse of its expected
        precision), shaped as in :class:`BayesianGaussianMixture`.
    precisions_ : ndarray
        The inverses of ``covariances_``, of the same shape.
    precisions_cholesky_ : ndarray
        The Cholesky factors of ``precisions_``, of the same shape.
    weight_concentration_ : ndarray or tuple of two ndarrays
        The posterior concentration of the weights: Dirichlet parameters of
        shape (n_components,) for 'dirichlet_distribution', the two parameter
        arrays of the stick-breaking Beta distributions for
        'dirichlet_process'.
    mean_precision_ : ndarray of shape (n_components,)
        The posterior precision of each component's mean.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        The posterior degrees of freedom of each component's Wishart
        distribution; a single float for 'tied'.
    weight_concentration_prior_ : float
        The ``weight_concentration_prior`` used.
    mean_precision_prior_ : float
        The ``mean_precision_prior`` used.
    mean_prior_ : ndarray of shape (n_features,)
        The ``mean_prior`` used.
    degrees_of_freedom_prior_ : float
        The ``degrees_of_freedom_prior`` used.
    covariance_prior_ : ndarray or float
        The ``covariance_prior`` used, shaped as the parameter.
    n_steps_ : int
        The number of mini-batches seen (steps made).
    n_iter_ : int
        The number of passes over X in the last ``fit``.
    converged_ : bool
        Whether the last ``fit`` converged within ``max_iter`` passes.
    lower_bound_ : float
        The mini-batches' mean per-sample bound (the quantity ``score``
        averages) under the posterior before each step, averaged with the
        step sizes rho_t. Unlike :class:`BayesianGaussianMixture`'s, it is a
        mean per sample, not a sum.
    lower_bounds_ : list of float
        ``lower_bound_`` at the end of each pass of the last ``fit``.
    n_features_in_ : int
        The number of features seen during the first ``fit`` or
        ``partial_fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen, when X has feature names that are all
        strings.

    See Also
    --------
    BayesianGaussianMixture : Batch variational inference on all the data at
        each iteration.
    MiniBatchGaussianMixture : Online EM for the maximum-likelihood mixture.
    sklearn.mixture.BayesianGaussianMixture : The scikit-learn estimator
        that BayesianGaussianMixture replaces.

    References
    ----------
    M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley, "Stochastic
    variational inference", Journal of Machine Learning Research, 14,
    1303-1347, 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import MiniBatchBayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, (2000, 2)), rng.normal(3, 1, (2000, 2))])
    >>> rng.shuffle(X)

    Feed a stream, one chunk at a time:

    >>> mb = MiniBatchBayesianGaussianMixture(n_components=2, random_state=0)
    >>> for chunk in np.array_split(X, 20):
    ...     mb = mb.partial_fit(chunk)
    >>> mb.n_steps_
    20
    >>> np.sort(mb.means_[:, 0]).round(1)
    array([-3.,  3.])

    The posterior stands for the 4000 samples seen: each component's
    ``mean_precision_`` adds its share of them to ``mean_precision_prior_``:

    >>> round(float(mb.mean_precision_.sum()), 6)
    4002.0

    Or let ``fit`` pass over shuffled mini-batches until convergence; its
    posterior scores X almost as the batch fit's does:

    >>> from emfast import BayesianGaussianMixture
    >>> mb = MiniBatchBayesianGaussianMixture(n_components=2, batch_size=500, random_state=0).fit(X)
    >>> mb.converged_
    True
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    >>> bool(abs(mb.score(X) - bgm.score(X)) < 0.01)
    True
    """

    _parameter_constraints: dict = {
        **BayesianMixtureBase._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_decay": [Interval(Real, 0, 1, closed="both")],
        "learning_offset": [Interval(Real, 0, None, closed="left")],
        "total_samples": [None, Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        batch_size=1024,
        learning_decay=0.7,
        learning_offset=10.0,
        total_samples=None,
        max_iter=100,
        tol=1e-3,
        reg_covar=1e-6,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.batch_size = batch_size
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None, sample_weight=None):
        """Fit by passes over shuffled mini-batches of X.

        Starts afresh (forgetting earlier ``partial_fit`` calls): the priors
        left as None are computed from all of X, the posterior stands for the
        total weight of X (unless ``total_samples`` is given), and passes are
        made until ``lower_bound_`` changes by less than ``tol`` over a pass,
        or ``max_iter`` passes. :meth:`partial_fit` makes one step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a NumPy array or memory map).
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative counts: an integer weight w is equivalent to
            repeating the sample w times. None gives every sample weight 1.

        Returns
        -------
        self : MiniBatchBayesianGaussianMixture
            The fitted estimator.
        """
        self.__dict__.pop("_fit_total", None)
        try:
            return super().fit(X, y, sample_weight)
        finally:
            self.__dict__.pop("_fit_prior", None)  # only the first mini-batch needs it

    def _begin_fit(self, X, sample_weight):
        """The priors from all of X, and the number of samples the posterior is for."""
        data = ArrayData(X, sample_weight, weight_scale=self._weight_scale)
        self._check_prior_parameters(X.shape[1])
        try:
            self._fit_prior = self._prior(data)
        except Float32Overflow:  # float32 cannot hold the squared deviations
            self._fit_prior = self._prior(data.astype(np.float64))
        self._fit_total = data.total_weight() * data.weight_scale

    def _fixed_total(self):
        """The number of samples the posterior stands for, or None: the weight seen so far."""
        if self.total_samples is not None:
            return float(self.total_samples)
        return self.__dict__.get("_fit_total") or None

    def _start(self, X, sample_weight):
        """The posterior BayesianGaussianMixture initialises on the first mini-batch."""
        check_n_samples(X.shape[0], self.n_components, " in the first mini-batch")
        if not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        data = ArrayData(X, sample_weight, weight_scale=self._weight_scale)
        prior = self.__dict__.get("_fit_prior")
        if prior is None:  # partial_fit's first mini-batch
            self.__dict__.pop("_fit_total", None)
            self._check_prior_parameters(X.shape[1])
            prior = self._prior(data)
        self._model = VariationalEM(prior, self.reg_covar, data.scale(), data.weight_scale)
        stats = initial_stats(data, n_components=self.n_components, covariance_type=self.covariance_type,
                              init_params=self.init_params, random_state=self._random_state,
                              scale=self._model.scale)
        self._posterior, repairs = self._model.maximise(stats)
        self._publish(X.dtype)
        self._stats = None
        self._seen_weight = 0.0
        self.n_steps_ = 0
        self.n_iter_ = 0
        self.converged_ = False
        self.lower_bounds_ = []
        return repairs

    def _step(self, X, sample_weight):
        """One natural-gradient step from the mini-batch X (validated); returns the repairs.

        One native call (emfast._core.svi_step) makes the E-step pass under the
        current posterior, blends its statistics per unit of weight into the
        running ones and makes the M-step; here the results are only stored.
        """
        cov = self.covariance_type
        rho = self._rho()
        running = self._stats
        if running is not None:
            running = (running.s0, running.s1, running.s2, running.centers, running.loglik, running.weight)
        model = self._model
        out = core.svi_step(X, sample_weight, cov, model.prior.native(), self._posterior.native(), running, rho,
                            self._fixed_total(), self._seen_weight, self._weight_scale, float(self.reg_covar),
                            model.scale)
        if not out["finite"]:
            finite_stats(None, X.dtype, finite=False)  # Float32Overflow, or the overflow's ValueError
        self._stats = Stats(cov, out["s0"], out["s1"], out["s2"], out["centers"], out["stats_loglik"],
                            out["stats_weight"])
        self._seen_weight = out["seen_weight"]
        self._posterior = post = Posterior.from_native(out)
        self._advance(out["loglik"], rho)
        self.lower_bound_ = np.float64(self.lower_bound_)
        # the fitted attributes, as _set_posterior stores them: the arrays the step made
        # (the Gaussian ones copied, the posterior keeps its own)
        self.weight_concentration_ = post.weight_concentration
        self.mean_precision_ = post.mean_precision
        self.degrees_of_freedom_ = post.degrees_of_freedom
        self.weights_ = out["weights"]
        self.means_ = post.means.copy()
        self.covariances_ = post.covariances.copy()
        self.precisions_cholesky_ = post.precisions_cholesky.copy()
        self.precisions_ = out["precisions"]
        return Repairs(out["jitter"])

    def _publish(self, dtype):
        self._set_posterior(self._posterior)
