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
exactly, emfast._stats), and lambda = prior + N s is scikit-learn's variational
M-step of N s (emfast._variational). The E-step on the mini-batch is the one
fused pass, as in BayesianGaussianMixture.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ._bayesian_mixture import BayesianMixtureBase
from ._data import ArrayData, Float32Overflow
from ._init import initial_stats
from ._minibatch import OnlineMixture
from ._validation import check_n_samples
from ._variational import VariationalEM


class MiniBatchBayesianGaussianMixture(BayesianMixtureBase, OnlineMixture):
    """Variational Bayesian Gaussian mixture fitted by stochastic variational
    inference on mini-batches.

    The model, priors, attributes and prediction methods are those of
    :class:`emfast.BayesianGaussianMixture` (scikit-learn's); ``partial_fit``
    makes one natural-gradient step per mini-batch, so a posterior can be
    fitted on a stream, and ``fit`` passes over shuffled mini-batches of X.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    batch_size : int, default=1024
        Rows per mini-batch in ``fit``.
    learning_decay : float in [0, 1], default=0.7
        kappa in the step size rho_t = (learning_offset + t) ** -kappa; values in
        (0.5, 1] guarantee convergence.
    learning_offset : float >= 0, default=10.0
        tau_0; larger values down-weight the early mini-batches.
    total_samples : float or None, default=None
        How many samples (total sample weight) the posterior is for: each
        mini-batch's statistics count as that many samples'. None: in ``fit``
        the total weight of X, in ``partial_fit`` the total weight of the
        mini-batches seen so far.
    max_iter : int, default=100
        Maximum number of passes over X in ``fit``; 0 gives the initial posterior.
    tol : float, default=1e-3
        ``fit`` stops when a pass changes ``lower_bound_`` by less than tol.
    reg_covar : float, default=1e-6
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the first mini-batch initialises the posterior (as
        BayesianGaussianMixture initialises it on that mini-batch).
    weight_concentration_prior_type, weight_concentration_prior,
    mean_precision_prior, degrees_of_freedom_prior :
        As in BayesianGaussianMixture.
    mean_prior, covariance_prior : default=None
        None: the mean and covariance of X in ``fit``, of the first mini-batch
        in ``partial_fit``.
    random_state : int, RandomState instance or None, default=None
        Initialisation and the shuffling in ``fit``.
    verbose : int, default=0

    Attributes
    ----------
    As BayesianGaussianMixture's, and
    n_steps_ : int
        Mini-batches seen.
    n_iter_ : int
        Passes over X in the last ``fit``.
    lower_bound_ : float
        The mini-batches' mean log sum_k exp(E[log pi_k] + E[log N(x | k)]) (the
        per-sample bound that ``score`` averages), averaged with the step sizes.
    lower_bounds_ : list of float
        ``lower_bound_`` at the end of each pass of the last ``fit``.
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
        """Fit by passes over shuffled mini-batches of X (see partial_fit for one step).

        Returns
        -------
        self : MiniBatchBayesianGaussianMixture
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

    def _total(self):
        if self.total_samples is not None:
            return float(self.total_samples)
        return self.__dict__.get("_fit_total") or self._seen_weight

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
        """One natural-gradient step from the mini-batch X (validated); returns the repairs."""
        params = self._posterior.e_step_params(self.weight_concentration_prior_type, self.weights_)
        # the model's mean is a point near the data: no pass over the batch for one
        data = ArrayData(X, sample_weight, shift=params.shift(X.dtype))
        raw = data.em_pass(params, self.covariance_type)
        batch = raw.normalised()
        stats, rho = self._blend(batch)
        self._seen_weight += raw.weight * self._weight_scale
        self._posterior, repairs = self._model.maximise(stats, counts=self._total())
        self._stats = stats
        self._advance(batch.loglik, rho)
        self.lower_bound_ = np.float64(self.lower_bound_)
        self._publish(X.dtype)
        return repairs

    def _publish(self, dtype):
        self._set_posterior(self._posterior)
