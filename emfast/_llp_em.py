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
from typing import NamedTuple

import numpy as np
from scipy import stats
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


class _Fit(NamedTuple):
    post: np.ndarray  # each row's P(y = 1 | X, counts)
    l0: np.ndarray  # log p(x | 0), log p(x | 1)
    l1: np.ndarray
    llr: np.ndarray  # l1 - l0, finite
    loglik: float  # per row


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
    return _Fit(expit(llr + message), l0, l1, llr, float(loglik))


# EM iterations of each half when cross-fitting: enough to tell signal from
# noise (EM from the bag proportions gets most of the way in its first steps).
_CROSS_FIT_ITER = 10


class _Result(NamedTuple):
    mixtures: list
    fit: _Fit
    converged: bool
    change: float
    n_iter: int
    log_likelihoods: list


def _signal_z(llr, bags):
    """Evidence that the log-likelihood ratios llr (of rows the mixtures were not
    fitted to) rise with the bags' proportions: Fisher's z of Spearman's rank
    correlation, across the bags, between each bag's mean llr and its
    proportion, scaled to about N(0, 1) if the features say nothing about the
    labels (variance 1.06 / (n_bags - 3); ranks: a few extreme ratios cannot
    make it)."""
    mean_llr = np.bincount(bags.codes, weights=llr, minlength=bags.n_bags) / bags.sizes
    proportion = bags.counts / bags.sizes
    if np.ptp(mean_llr) == 0 or np.ptp(proportion) == 0:
        return 0.0
    r = float(stats.spearmanr(mean_llr, proportion)[0])
    return float(np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12)) * np.sqrt((bags.n_bags - 3) / 1.06))


class _EM:
    """EM iterations of the two class mixtures (refitted in place: warm start),
    counted, from initial posteriors to convergence or max_iter iterations.

    Accelerated by SQUAREM (Varadhan & Roland, "Simple and globally convergent
    methods for accelerating the convergence of any EM algorithm", Scand. J.
    Statistics 35, 2008) on the posteriors: after two EM steps r0 -> r1 -> r2,
    one step from r0 - 2 a (r1 - r0) + a^2 (r2 - 2 r1 + r0) (clipped to [0, 1],
    a = -|r1 - r0| / |r2 - 2 r1 + r0| <= -1), kept only if its likelihood is
    no lower than r2's (else one more plain step): the likelihood never
    decreases, and slow stretches of EM take a fraction of the steps.
    """

    def __init__(self, X, bags, mixtures, tol, max_iter):
        self.X, self.bags, self.mixtures, self.tol, self.max_iter = X, bags, mixtures, tol, max_iter
        self.n_iter = 0
        self.log_likelihoods = []

    def step(self, post):
        """One EM iteration: each class's mixture from the posteriors, then the E-step."""
        self.n_iter += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 on purpose
            self.mixtures[0].fit(self.X, sample_weight=1.0 - post)
            self.mixtures[1].fit(self.X, sample_weight=post)
        return _posterior(self.mixtures[0].score_samples(self.X), self.mixtures[1].score_samples(self.X), self.bags)

    def run(self, post):
        """(the last fit, converged, the last change of a posterior)."""
        start, fit = post, self.step(post)
        self.log_likelihoods.append(fit.loglik)
        while True:
            change = float(np.max(np.abs(fit.post - start)))
            if change < self.tol or self.n_iter >= self.max_iter:
                return fit, change < self.tol, change
            nxt = self.step(fit.post)
            d1, d2 = fit.post - start, nxt.post - 2.0 * fit.post + start
            norm2 = np.linalg.norm(d2)
            # a jump needs two iterations left: itself, and a plain step should it fail
            if self.n_iter + 2 <= self.max_iter and norm2 > 0 and np.max(np.abs(nxt.post - fit.post)) >= self.tol:
                a = min(-np.linalg.norm(d1) / norm2, -1.0)
                jump = np.clip(start - 2.0 * a * d1 + a * a * d2, 0.0, 1.0)
                far = self.step(jump)
                if far.loglik >= nxt.loglik:
                    start, fit = jump, far
                else:
                    start, fit = nxt.post, self.step(nxt.post)  # the mixtures match the answer
            else:
                start, fit = fit.post, nxt
            self.log_likelihoods.append(fit.loglik)


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
    counts ``|b| - k_b``) is tried; if it explains the counts better, EM continues
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
        The form of each class's covariances, as in :class:`GaussianMixture`.
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
    validate : bool, default=True
        Check that the features say something about the labels, by
        cross-fitting: EM on each half of the bags, and on the other half,
        the rank correlation across bags between each bag's mean
        log-likelihood ratio and its proportion (Fisher's z, the two halves
        combined, one-sided test at 2.5 %). Without evidence the marginals are the bag
        proportions (the features are noise for this task, and EM would only
        fit that noise); with it, EM on all the bags. Needs 8 bags or more;
        False skips it (half the time of a fit).
    n_neighbors : int, default=0
        The number of neighbours per row of the kNN smoothing of the
        posteriors (0: none).
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
        Pseudo-labels, 1 where ``marginals_ >= threshold``.
    feature_signal_ : bool
        Whether the mixtures were kept (see ``validate``); if not, the
        marginals are the bag proportions.
    log_likelihood_ : float
        The log-likelihood of the bags per row, at the final mixtures (nan
        without feature signal).
    log_likelihoods_ : list of float
        The log-likelihood after each kept step (non-decreasing).
    log_likelihood_ratio_ : ndarray of shape (n_samples,)
        log p(x_i | 1) - log p(x_i | 0) at the final mixtures.
    mixtures_ : list of two GaussianMixture
        The mixtures of class 0 and class 1, on the standardised features
        (fitted to half of the bags without feature signal).
    n_iter_ : int
        EM iterations run (both starts, when the swapped one was tried).
    converged_ : bool
        Whether EM converged within ``max_iter``.
    graph_ : scipy.sparse.csr_matrix
        The smoothing graph (only with ``n_neighbors > 0``).
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    BeliefPropagationLabeler : Label proportions by belief propagation on a
        kNN graph.
    LLPClassifier : Any classifier trained on a labeler's pseudo-labels.

    Examples
    --------
    Bags of 50 rows whose proportions of positives vary:

    >>> import numpy as np
    >>> from sklearn.metrics import roc_auc_score
    >>> from emfast import GaussianMixtureLabeler
    >>> rng = np.random.RandomState(0)
    >>> y = (rng.uniform(size=1000) < np.repeat(rng.uniform(0.1, 0.9, 20), 50)).astype(int)
    >>> X = rng.normal(size=(1000, 2)) + 2.0 * y[:, None]
    >>> bags = np.repeat(np.arange(20), 50)
    >>> proportion = np.bincount(bags, weights=y)[bags] / 50
    >>> lab = GaussianMixtureLabeler(random_state=0).fit(X, proportion, bags=bags)
    >>> bool(roc_auc_score(y, lab.marginals_) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(_COVARIANCE_TYPES))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "k-means++", "random", "random_from_data"})],
        "validate": ["boolean"],
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
        validate=True,
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
        self.validate = validate
        self.n_neighbors = n_neighbors
        self.smoothing_weight = smoothing_weight
        self.threshold = threshold
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, bags=None, bag_counts=None):
        X, bag_data = self._validated(X, y, bags, bag_counts)
        X = standardized(X)
        if X.shape[0] < 2 or not 0 < bag_data.counts.sum() < X.shape[0]:
            return self._without_features(bag_data, _Result([], None, True, 0.0, 0, []))  # every label is known
        rng = check_random_state(self.random_state)
        seed = rng.randint(np.iinfo(np.int32).max)
        mixtures = [self._mixture(seed), self._mixture(seed + 1)]
        n_iter = 0
        if self.validate and bag_data.n_bags >= 8:
            n_iter, z, res = self._cross_fit(X, bag_data, rng, seed + 2)
            if z <= 1.96:  # one-sided 2.5 %
                return self._without_features(bag_data, res._replace(n_iter=n_iter))
        res = self._run(X, bag_data, mixtures, bag_data.proportions())
        self._warn_unless(res.converged, res.change)
        self.feature_signal_ = True
        self.mixtures_ = res.mixtures
        self.log_likelihood_ = res.fit.loglik
        self.log_likelihoods_ = res.log_likelihoods
        self.log_likelihood_ratio_ = res.fit.llr
        self.n_iter_ = n_iter + res.n_iter
        self.converged_ = res.converged
        marginals = res.fit.post
        if self.n_neighbors > 0:
            self.graph_ = knn_graph(X, self.n_neighbors, "cosine")
            marginals = run_bp(
                self.graph_, bag_data, field=res.fit.llr, similarity_weight=self.smoothing_weight,
                bag_weight=np.inf, max_iter=100, damping=0.5, tol=1e-6,
            )["marginals"]
        self._set_labels(marginals)
        return self

    fit.__doc__ = "Fit one Gaussian mixture per class to the bags by EM.\n" + _FIT_DOC

    def _cross_fit(self, X, bag_data, rng, seed):
        """EM on each half of the bags, each half's mixtures scored on the
        other half: (the iterations, the combined evidence z of feature signal,
        about N(0, 1) without, the last half's result)."""
        order = rng.permutation(bag_data.n_bags)
        halves = order[: len(order) // 2], order[len(order) // 2 :]
        n_iter, z = 0, 0.0
        for i, (fit_on, score_on) in enumerate((halves, halves[::-1])):
            rows, part = bag_data.subset(fit_on)
            if not 0 < part.counts.sum() < part.sizes.sum():
                return n_iter, np.inf, None  # all labels of a half known: no test
            mixtures = [self._mixture(seed + 2 * i), self._mixture(seed + 2 * i + 1)]
            res = self._run(X[rows], part, mixtures, part.proportions(), min(self.max_iter, _CROSS_FIT_ITER))
            n_iter += res.n_iter
            rows, part = bag_data.subset(score_on)
            m0, m1 = res.mixtures
            llr = np.nan_to_num(m1.score_samples(X[rows]) - m0.score_samples(X[rows]))
            z += _signal_z(llr, part) / np.sqrt(2.0)
        return n_iter, z, res

    def _run(self, X, bags, mixtures, post, max_iter=None):
        """EM from posteriors post, then the classes swapped: if that model
        explains the counts better (it explains ``|b| - k_b``), EM from it too; the
        better of the two."""
        max_iter = self.max_iter if max_iter is None else max_iter
        run = _EM(X, bags, mixtures, self.tol, max_iter)
        fit, converged, change = run.run(post)
        n_iter = run.n_iter
        swapped = _posterior(fit.l1, fit.l0, bags)
        if swapped.loglik > fit.loglik:
            other = _EM(X, bags, copy.deepcopy(run.mixtures[::-1]), self.tol, max_iter)
            other_fit, other_converged, other_change = other.run(swapped.post)
            n_iter += other.n_iter
            if other_fit.loglik > fit.loglik:
                run, fit, converged, change = other, other_fit, other_converged, other_change
        return _Result(run.mixtures, fit, converged, change, n_iter, run.log_likelihoods)

    def _without_features(self, bag_data, res):
        """The bag proportions as marginals: every label is known, or the
        features did not predict the held-out bags' counts (the answer does
        not depend on EM's convergence)."""
        self.feature_signal_ = False
        self.mixtures_ = res.mixtures
        self.log_likelihood_, self.log_likelihoods_ = float("nan"), []
        self.log_likelihood_ratio_ = np.zeros(len(bag_data.codes))
        self.n_iter_, self.converged_ = res.n_iter, res.converged
        self._set_labels(bag_data.proportions())
        return self

    def _warn_unless(self, converged, change):
        if not converged:
            warnings.warn(
                f"EM did not converge in {self.max_iter} iterations (largest change of a "
                f"posterior {change:.3g} >= tol={self.tol}); the marginals are those of "
                "the last iteration. Increase max_iter or tol.",
                ConvergenceWarning,
            )

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
