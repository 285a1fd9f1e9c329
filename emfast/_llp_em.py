"""Learning from label proportions by EM on Gaussian mixtures.

``GaussianMixtureLabeler`` models each class by an :class:`emfast.GaussianMixture`
(the model of :class:`emfast.GaussianMixtureClassifier`) and fits both from the
bags' counts alone: the E-step is the exact posterior of each row's label given
its bag's count (the exact bag factor's Poisson-binomial leave-one-out
computation, ``csrc/bp.cpp``), the M-step one weighted EM step of each class's
mixture (Hernandez-Gonzalez, Inza & Lozano, "Learning Bayesian network
classifiers from label proportions", Pattern Recognition 46, 2013).
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._gaussian_mixture import GaussianMixture
from ._llp import _FIT_DOC, LabelerMixin, run_bp
from ._llp_bags import INF_LOG_ODDS, MAX_ITER, MAX_WEIGHT
from ._llp_graph import knn_graph, standardized
from ._native import core

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _posterior(l0, l1, bags):
    """The E-step: each row's P(y = 1 | X, its bag's count) under class
    log-likelihoods l0, l1, and the log-likelihood of the bags per row,

        (1/n) sum_b log sum_{y_b : sum y_b = k_b} prod_{i in b} p(x_i | y_i)
          = (1/n) [sum_i log(p(x_i | 0) + p(x_i | 1)) + sum_b log P(count_b = k_b)]

    with the count's Poisson-binomial distribution under y_i ~ Bernoulli(sigmoid(l1 - l0)).
    Given the other rows, the exact bag factor's message to row i is the
    log-odds the hard count adds to row i's own: the posterior is exact."""
    llr = np.clip(np.nan_to_num(l1 - l0), -INF_LOG_ODDS, INF_LOG_ODDS)
    log_partition = np.empty(bags.n_bags)
    message = core.bp_exact_bag_messages(llr, *bags.kernel_args(), np.inf, log_partition=log_partition)
    loglik = (np.logaddexp(l0, l1).sum() + log_partition.sum()) / len(llr)
    return expit(llr + message), llr, loglik


class GaussianMixtureLabeler(LabelerMixin, BaseEstimator):
    """Pseudo-labels from label proportions by EM with a Gaussian mixture per class.

    Each class c has a Gaussian mixture p(x | y = c) (``n_components``
    components of ``covariance_type``) of the standardised features (each at
    mean 0 and variance 1: the labels do not depend on the units); given the features, a bag's labels
    are independent except for their count, which must be k_b. EM maximises
    the likelihood of the bags,

        sum_b log sum_{y_b : sum_i y_i = k_b} prod_{i in b} p(x_i | y_i),

    alternating

    - E-step: each row's exact posterior P(y_i = 1 | X, k_b), from its
      log-likelihood ratio l_i = log p(x_i | 1) - log p(x_i | 0) and the
      distribution of the count of the rest of its bag (a Poisson-binomial,
      by the exact bag factor of :class:`BeliefPropagationLabeler`: with a
      hard count, its message given every row's l_j is exactly the log-odds
      the count adds to l_i);
    - M-step: one EM step of each class's :class:`GaussianMixture` on all
      rows, weighted by the posterior of that class (``warm_start``,
      ``sample_weight``): with several components the components'
      responsibilities come from the same step, so an iteration is one EM
      iteration of the whole model and the likelihood never decreases.

    The labels are anchored by the counts alone: EM starts from the bag
    proportions (each row's posterior = its bag's proportion), and once it
    has converged, the model with the classes swapped (which explains the
    counts |b| - k_b) is tried; if it explains the counts better, EM continues
    from it and the better of the two is kept.

    Choose it where each class is roughly a Gaussian (or a mixture of a few)
    in feature space; :class:`BeliefPropagationLabeler` where neighbours share
    labels but the classes have no simple shape. ``n_neighbors > 0`` adds kNN
    smoothing: the marginals are then those of belief propagation on the
    normalised kNN graph (see :class:`BeliefPropagationLabeler`) with the
    fitted log-likelihood ratios as each row's field and hard bag counts.

    Parameters
    ----------
    n_components : int, default=1
        Mixture components per class.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations at most (at most 1e6).
    tol : float, default=1e-3
        Stop when no row's posterior changed by tol or more in an iteration.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How each class's mixture places its components at the start (as
        :class:`GaussianMixture`, on the rows weighted by the initial
        posteriors); irrelevant with one component.
    n_neighbors : int, default=0
        kNN smoothing of the posteriors: neighbours per row (0: none).
    smoothing_weight : float, default=1.0
        The similarity weight of the smoothing (at most 1e100).
    threshold : float in [0, 1], default=0.5
        ``labels_ = marginals_ >= threshold``.
    random_state : int, RandomState instance or None, default=None
        For the mixtures' initialisation.

    Attributes
    ----------
    marginals_ : ndarray of shape (n_samples,)
        P(y_i = 1 | X, counts) for each row.
    labels_ : ndarray of shape (n_samples,), int64
    log_likelihood_ : float
        The log-likelihood of the bags per row, at the final mixtures.
    log_likelihood_ratio_ : ndarray of shape (n_samples,)
        log p(x_i | 1) - log p(x_i | 0) at the final mixtures.
    mixtures_ : list of two GaussianMixture
        The mixtures of class 0 and class 1, on the standardised features.
    n_iter_ : int
        EM iterations run (both starts, when the swapped one was tried).
    converged_ : bool
    graph_ : scipy.sparse.csr_matrix
        The smoothing graph (only with ``n_neighbors > 0``).
    n_features_in_, feature_names_in_
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(_COVARIANCE_TYPES))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "k-means++", "random", "random_from_data"})],
        "n_neighbors": [Interval(Integral, 0, None, closed="left")],
        "smoothing_weight": [Interval(Real, 0, MAX_WEIGHT, closed="both")],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        reg_covar=1e-6,
        max_iter=100,
        tol=1e-3,
        init_params="kmeans",
        n_neighbors=0,
        smoothing_weight=1.0,
        threshold=0.5,
        random_state=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.init_params = init_params
        self.n_neighbors = n_neighbors
        self.smoothing_weight = smoothing_weight
        self.threshold = threshold
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, bags=None, bag_counts=None):
        X, bag_data = self._validated(X, y, bags, bag_counts)
        X = standardized(X)
        post = bag_data.proportions()
        total = bag_data.counts.sum()
        if X.shape[0] < 2 or total == 0 or total == X.shape[0]:
            # the counts leave nothing to learn: every label is known (or one row)
            self._set_labels(post)
            self.mixtures_, self.log_likelihood_, self.n_iter_, self.converged_ = [], 0.0, 0, True
            self.log_likelihood_ratio_ = np.zeros(X.shape[0])
            return self
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        mixtures = [self._mixture(seed), self._mixture(seed + 1)]
        fit = self._em(X, bag_data, mixtures, post, self.max_iter)
        # the classes swapped explain the counts |b| - k_b: try it if it explains k_b better
        swapped_post, _, swapped_loglik = _posterior(fit["l1"], fit["l0"], bag_data)
        n_iter = fit["n_iter"]
        if swapped_loglik > fit["loglik"]:
            swapped = copy.deepcopy(mixtures[::-1])
            other = self._em(X, bag_data, swapped, swapped_post, self.max_iter)
            n_iter += other["n_iter"]
            if other["loglik"] > fit["loglik"]:
                fit = other
        if not fit["converged"]:
            warnings.warn(
                f"EM did not converge in {self.max_iter} iterations (largest change of a "
                f"posterior {fit['change']:.3g} >= tol={self.tol}); the marginals are those of "
                "the last iteration. Increase max_iter or tol.",
                ConvergenceWarning,
            )
        self.mixtures_ = fit["mixtures"]
        self.log_likelihood_ = float(fit["loglik"])
        self.log_likelihood_ratio_ = fit["llr"]
        self.n_iter_ = n_iter
        self.converged_ = fit["converged"]
        marginals = fit["post"]
        if self.n_neighbors > 0:
            self.graph_ = knn_graph(X, self.n_neighbors, "cosine")
            marginals = run_bp(
                self.graph_, bag_data, field=fit["llr"], similarity_weight=self.smoothing_weight,
                bag_weight=np.inf, max_iter=100, damping=0.5, tol=1e-6,
            )["marginals"]
        self._set_labels(marginals)
        return self

    fit.__doc__ = "Fit one Gaussian mixture per class to the bags by EM.\n" + _FIT_DOC

    def _mixture(self, seed):
        return GaussianMixture(
            self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            max_iter=1,
            init_params=self.init_params,
            random_state=seed,
            warm_start=True,
        )

    def _em(self, X, bag_data, mixtures, post, max_iter):
        """EM from posteriors post; mixtures are refitted in place (warm start)."""
        converged, change = False, np.inf
        for n_iter in range(1, max_iter + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 on purpose
                mixtures[0].fit(X, sample_weight=1.0 - post)
                mixtures[1].fit(X, sample_weight=post)
            l0, l1 = mixtures[0].score_samples(X), mixtures[1].score_samples(X)
            new, llr, loglik = _posterior(l0, l1, bag_data)
            change = float(np.max(np.abs(new - post)))
            post = new
            if change < self.tol:
                converged = True
                break
        return dict(post=post, l0=l0, l1=l1, llr=llr, loglik=loglik, mixtures=mixtures, n_iter=n_iter,
                    converged=converged, change=change)
