"""Learning from label proportions: belief-propagation pseudo-labels, and a
classifier trained on any labeler's pseudo-labels.

``BeliefPropagationLabeler`` infers instance labels from bag counts (Havaldar et
al., "Learning from Label Proportions: Bootstrapping Supervised Learners via
Belief Propagation", ICLR 2024) on a k-nearest-neighbour graph;
``GaussianMixtureLabeler`` (``_llp_em.py``) by EM with one Gaussian mixture per
class; ``LLPClassifier`` trains any scikit-learn classifier on a labeler's
pseudo-labels. The message passing runs in C++ with OpenMP (``csrc/bp.cpp``).

Supervision is per row (``_llp_bags.py``): ``y`` is each row's bag proportion
and ``bags`` each row's bag id, so that cross-validation splits them (with
``GroupKFold(groups=bags)``, bags stay whole).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import ClassifierTags
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, has_fit_parameter, validate_data

from ._llp_bags import MAX_ITER, MAX_PAIRWISE_BAG, MAX_WEIGHT, _id, check_bags
from ._llp_graph import knn_graph, precomputed_graph, standardized
from ._native import core


def run_bp(graph, bags, *, field=None, similarity_weight, bag_weight, bag_factor="exact", max_iter, damping, tol):
    """Loopy BP on a normalised graph and Bags; a ConvergenceWarning if it does not settle.
    Returns the kernel's dict (marginals, n_iter, converged, delta)."""
    out = core.bp_run(
        graph.indptr.astype(np.int64),
        graph.indices.astype(np.int64),
        np.ascontiguousarray(graph.data, dtype=np.float64),
        *bags.kernel_args(),
        float(similarity_weight),
        float(bag_weight),
        bag_factor,
        int(max_iter),
        float(damping),
        float(tol),
        field=field,
    )
    if not out["converged"] and tol > 0 and max_iter > 0:
        warnings.warn(
            f"Belief propagation did not converge in {max_iter} sweeps (largest message change "
            f"{out['delta']:.3g} >= tol={tol}); the marginals are those of the last sweep. "
            "Increase max_iter or damping, or lower similarity_weight.",
            ConvergenceWarning,
        )
    return out


class LabelerMixin:
    """What every LLP labeler shares: the fit arguments, fit_predict, the tags."""

    def _validated(self, X, y, bags, bag_counts, *, sparse=False):
        """X (validated) and its Bags."""
        X = validate_data(self, X, accept_sparse="csr" if sparse else False, dtype=np.float64, ensure_min_samples=1)
        return X, check_bags(y, bags, bag_counts, X.shape[0])

    def _set_labels(self, marginals):
        self.marginals_ = marginals
        self.labels_ = (marginals >= self.threshold).astype(np.int64)

    def fit_predict(self, X, y=None, *, bags=None, bag_counts=None):
        """Fit and return the pseudo-labels ``labels_`` (see :meth:`fit`)."""
        return self.fit(X, y, bags=bags, bag_counts=bag_counts).labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # not a classifier (no predict), but its target is binary: 0/1 labels or proportions
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags


_FIT_DOC = """
        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Each row's bag proportion: the fraction of positives in its bag, in
            [0, 1], the same for every row of a bag (k_b = proportion x bag size).
            With ``bags=None`` every row is its own bag and y is its 0/1 label.
        bags : array-like of shape (n_samples,), default=None
            Each row's bag id (any sortable labels, as scikit-learn's ``groups``).
        bag_counts : mapping or array-like, default=None
            Instead of y: the number of positives of each bag, a mapping bag id
            -> count or an array aligned with ``np.unique(bags)``; whole numbers.

        Returns
        -------
        self
"""


class BeliefPropagationLabeler(LabelerMixin, BaseEstimator):
    """Pseudo-labels from label proportions by belief propagation.

    Rows come in disjoint bags; only each bag's number of positives k_b is
    known. The labels y in {0, 1}^n get the Gibbs distribution

        log p(y) = - bag_weight * sum_b (sum_{i in b} y_i - k_b)^2
                   - similarity_weight * sum_{(i,j) in E} w_ij (y_i - y_j)^2 + const

    over the symmetrised k-nearest-neighbour graph E (self excluded, each
    edge once) of the standardised features (each at mean 0, variance 1). The weights do not depend on the data's units, k or the scale
    of precomputed similarities: w_ij = exp(-d_ij^2 / (sigma_i sigma_j)), d_ij
    the distance in the search's metric and sigma_i row i's distance to its
    k-th neighbour, divided by the mean weighted degree (mean_i sum_j w_ij = 1).
    Loopy sum-product belief propagation gives each row's marginal P(y_i = 1).

    Messages are log-odds, start uniform (0) and are updated synchronously
    with damping ``m <- damping * m_old + (1 - damping) * m_new``; the result
    does not depend on the number of threads. On a tree-shaped factor graph
    (bag factors alone, or bags linked by a forest of similarities) the
    marginals are exact. A certain message (a bag with k_b = 0 or k_b = its
    size under ``bag_weight=np.inf``, or beyond about 640 log-odds) is
    represented by log-odds of +-1e100 and is not damped.

    Prefer :class:`GaussianMixtureLabeler` where the classes are roughly
    Gaussian (or mixtures of a few Gaussians) in feature space; BP helps where
    neighbours share labels but the classes have no simple shape.

    Parameters
    ----------
    n_neighbors : int, default=10
        Neighbours per row in the similarity graph (capped at n_samples - 1);
        0 gives the bag factors alone. Ignored with ``metric='precomputed'``.
    similarity_weight : float, default=1.0
        lambda_s, the weight of the similarity term on the normalised graph
        (at most 1e100).
    bag_weight : float, default=np.inf
        lambda_b, the weight of the bag term (at most 1e100, or ``np.inf``).
        ``np.inf`` (``bag_factor='exact'`` only) makes the count a hard
        constraint: the integer nearest to k_b (either of the two for a
        half-integer k_b). Weights are handled in log space relative to their
        maximum, so a huge weight never produces NaN.
    bag_factor : {'exact', 'pairwise'}, default='exact'
        'exact': one cardinality factor psi_b(c) = exp(-bag_weight (c - k_b)^2)
        per bag over its count c; each sweep costs O(B^2) per bag of B rows
        and O(B) memory. 'pairwise': the paper's expansion of the bag term
        into all B(B-1)/2 in-bag pairs (loopy whatever the similarities, and
        B^2 stored messages per bag: bags of more than 5000 rows are refused,
        and a fit that would need more than the machine's memory raises
        MemoryError before allocating).
    metric : str or callable, default='cosine'
        Metric of the neighbour search (any metric of
        :class:`sklearn.neighbors.NearestNeighbors`); 'cosine' is searched as
        Euclidean distance between L2-normalised rows. 'precomputed': X is a
        square (sparse) matrix of similarities s_ij >= 0, symmetric, any finite
        scale; every off-diagonal non-zero entry is an edge.
    max_iter : int, default=100
        Number of BP sweeps at most (0: fields only; at most 1e6).
    damping : float in [0, 1), default=0.5
    tol : float, default=1e-6
        Stop when no message (log-odds) would change by tol or more in a sweep
        without damping; 0 always runs max_iter sweeps (the paper's setting).
    threshold : float in [0, 1], default=0.5
        ``labels_ = marginals_ >= threshold``.

    Attributes
    ----------
    marginals_ : ndarray of shape (n_samples,)
        P(y_i = 1) for each row.
    labels_ : ndarray of shape (n_samples,), int64
        Pseudo-labels, 1 where ``marginals_ >= threshold``.
    n_iter_ : int
    converged_ : bool
        Whether the messages settled (a ConvergenceWarning otherwise).
    graph_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The normalised symmetric similarity graph w_ij the model uses.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has feature names that are all strings.
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 0, None, closed="left")],
        "similarity_weight": [Interval(Real, 0, MAX_WEIGHT, closed="both")],
        "bag_weight": [Interval(Real, 0, MAX_WEIGHT, closed="both"), Options(Real, {np.inf})],
        "bag_factor": [StrOptions({"exact", "pairwise"})],
        "metric": [str, callable],
        "max_iter": [Interval(Integral, 0, MAX_ITER, closed="both")],
        "damping": [Interval(Real, 0, 1, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        n_neighbors=10,
        *,
        similarity_weight=1.0,
        bag_weight=np.inf,
        bag_factor="exact",
        metric="cosine",
        max_iter=100,
        damping=0.5,
        tol=1e-6,
        threshold=0.5,
    ):
        self.n_neighbors = n_neighbors
        self.similarity_weight = similarity_weight
        self.bag_weight = bag_weight
        self.bag_factor = bag_factor
        self.metric = metric
        self.max_iter = max_iter
        self.damping = damping
        self.tol = tol
        self.threshold = threshold

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, bags=None, bag_counts=None):
        precomputed = isinstance(self.metric, str) and self.metric == "precomputed"
        if self.bag_factor == "pairwise" and np.isinf(self.bag_weight):
            raise ValueError("bag_weight=inf (a hard constraint) needs bag_factor='exact'")
        X, bag_data = self._validated(X, y, bags, bag_counts, sparse=precomputed)
        if self.bag_factor == "pairwise" and bag_data.sizes.max() > MAX_PAIRWISE_BAG:
            b = int(np.argmax(bag_data.sizes))
            raise ValueError(
                f"bag_factor='pairwise' expands each bag into all its pairs and stores B^2 "
                f"messages; bag {_id(bag_data.ids[b])!r} has {int(bag_data.sizes[b])} rows (more "
                f"than {MAX_PAIRWISE_BAG}): use bag_factor='exact'"
            )
        graph = precomputed_graph(X) if precomputed else knn_graph(standardized(X), self.n_neighbors, self.metric)
        out = run_bp(
            graph,
            bag_data,
            similarity_weight=self.similarity_weight,
            bag_weight=self.bag_weight,
            bag_factor=self.bag_factor,
            max_iter=self.max_iter,
            damping=self.damping,
            tol=self.tol,
        )
        self.graph_ = graph
        self._set_labels(out["marginals"])
        self.n_iter_ = int(out["n_iter"])
        self.converged_ = bool(out["converged"])
        return self

    fit.__doc__ = "Infer each row's marginal P(y_i = 1) from the bags' label counts.\n" + _FIT_DOC


# ---------------------------------------------------------------- classifier


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


def _default_labeler():
    from ._llp_em import GaussianMixtureLabeler

    return GaussianMixtureLabeler()


class LLPClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier trained from label proportions through pseudo-labels.

    ``fit`` runs the labeler (by default :class:`GaussianMixtureLabeler`) on
    the bags, then fits a clone of ``estimator`` on X and the pseudo-labels
    ``labeler_.labels_``. When the estimator's ``fit`` takes ``sample_weight``
    and the labeler gives marginals, each row is weighted by its confidence
    ``|2 P(y_i = 1) - 1|`` (0 for a coin flip, 1 for a certain label).

    Supervision is per row, so that cross-validation can split it: ``y`` is
    each row's bag proportion and ``bags`` each row's bag id (through
    metadata routing, ``set_fit_request(bags=True)``, or ``params={"bags":
    bags}`` of :func:`~sklearn.model_selection.cross_validate`; use
    ``GroupKFold`` with ``groups=bags`` so that bags stay whole). With
    ``bags=None`` every row is its own bag and y its label: plain supervised
    learning.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier (with fit and predict).
    labeler : estimator, default=None
        With ``fit(X, y, bags=..., bag_counts=...)`` and ``labels_`` (and
        ideally ``marginals_``) after fitting; None means
        ``GaussianMixtureLabeler()``. It must work on the features X (not
        ``metric='precomputed'``).

    Attributes
    ----------
    labeler_ : the fitted labeler
    estimator_ : the fitted classifier
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has feature names that are all strings.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "labeler": [HasMethods(["fit"]), None],
    }

    def __init__(self, estimator, *, labeler=None):
        self.estimator = estimator
        self.labeler = labeler

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, *, bags=None, bag_counts=None):
        labeler = _default_labeler() if self.labeler is None else clone(self.labeler)
        if getattr(labeler, "metric", None) == "precomputed":
            raise ValueError(
                "LLPClassifier trains its estimator on X, so its labeler needs features: "
                "metric='precomputed' is not supported here"
            )
        labeler.fit(X, y, bags=bags, bag_counts=bag_counts)
        labels = np.asarray(labeler.labels_)
        estimator = clone(self.estimator)
        weight = None
        if hasattr(labeler, "marginals_") and has_fit_parameter(estimator, "sample_weight"):
            weight = np.abs(2.0 * np.asarray(labeler.marginals_, dtype=np.float64) - 1.0)
            if not (weight > 0).any():
                weight = None
        if weight is None:
            estimator.fit(X, labels)
        else:
            estimator.fit(X, labels, sample_weight=weight)
        self.labeler_ = labeler
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(labeler, attr):
                setattr(self, attr, getattr(labeler, attr))
        return self

    fit.__doc__ = "Fit the labeler on the bags, then the estimator on its pseudo-labels.\n" + _FIT_DOC

    def predict(self, X):
        """Predicted labels of X (the estimator's)."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of X (the estimator's)."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of X (the estimator's)."""
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of X (the estimator's)."""
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def score(self, X, y, *, bags=None, sample_weight=None):
        """Bag-level accuracy: 1 - mean over rows of |predicted - true bag proportion|.

        A bag's predicted proportion is the fraction of its rows that
        :meth:`predict` labels 1; y is each row's true bag proportion. With
        ``bags=None`` every row is its own bag and this is the accuracy of
        ``predict(X)`` against the labels y. Route bags to it with
        ``set_score_request(bags=True)``.
        """
        check_is_fitted(self)
        bag_data = check_bags(y, bags, None, len(y) if hasattr(y, "__len__") else 0)
        predicted = (np.asarray(self.predict(X)) == self.classes_[-1]).astype(np.float64)
        if predicted.shape[0] != bag_data.codes.shape[0]:
            raise ValueError(f"X has {predicted.shape[0]} rows but y has {bag_data.codes.shape[0]}")
        bag_mean = np.bincount(bag_data.codes, weights=predicted) / bag_data.sizes
        error = np.abs(bag_mean - bag_data.counts / bag_data.sizes)[bag_data.codes]
        w = _check_sample_weight(sample_weight, error)
        return float(1.0 - np.average(error, weights=w))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
