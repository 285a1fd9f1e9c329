"""Learning from label proportions: belief-propagation pseudo-labels.

``BeliefPropagationLabeler`` infers instance labels from bag counts (Havaldar et
al., "Learning from Label Proportions: Bootstrapping Supervised Learners via
Belief Propagation", ICLR 2024) on a k-nearest-neighbour graph;
``GaussianMixtureLabeler`` (``_llp_em.py``) by EM with one Gaussian mixture per
class; ``LLPClassifier`` (``_llp_classifier.py``) trains any scikit-learn
classifier on a labeler's pseudo-labels. The message passing runs in C++ with
OpenMP (``csrc/bp.cpp``).

Supervision is per row (``_llp_bags.py``): ``y`` is each row's bag proportion
and ``bags`` each row's bag id, so that cross-validation splits them (with
``GroupKFold(groups=bags)``, bags stay whole).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import ClassifierTags
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import validate_data

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
        """Fit and return the pseudo-labels ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows' features.
        y : array-like of shape (n_samples,), default=None
            Each row's bag proportion (see :meth:`fit`).
        bags : array-like of shape (n_samples,), default=None
            Each row's bag id.
        bag_counts : mapping or array-like, default=None
            Instead of y: the number of positives of each bag.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The pseudo-labels (0 or 1) of the rows.
        """
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
            The rows' features (for ``metric='precomputed'``, the similarities).
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
        self : object
            The fitted estimator.
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
        The weight lambda_s of the similarity term on the normalised graph
        (at most 1e100).
    bag_weight : float, default=np.inf
        The weight lambda_b of the bag term (at most 1e100, or ``np.inf``).
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
        The damping of the message updates: m <- damping m_old + (1 - damping)
        m_new; higher values converge more slowly but more surely on loopy graphs.
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
        The BP sweeps run.
    converged_ : bool
        Whether the messages settled (a ConvergenceWarning otherwise).
    graph_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The normalised symmetric similarity graph w_ij the model uses.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    GaussianMixtureLabeler : Label proportions by EM on class-conditional
        Gaussian mixtures (the default labeler).
    LLPClassifier : Any classifier trained on a labeler's pseudo-labels.

    Examples
    --------
    Bags of 50 rows whose proportions of positives vary:

    >>> import numpy as np
    >>> from sklearn.metrics import roc_auc_score
    >>> from emfast import BeliefPropagationLabeler
    >>> rng = np.random.RandomState(0)
    >>> y = (rng.uniform(size=1000) < np.repeat(rng.uniform(0.1, 0.9, 20), 50)).astype(int)
    >>> X = rng.normal(size=(1000, 2)) + 2.0 * y[:, None]
    >>> bags = np.repeat(np.arange(20), 50)
    >>> proportion = np.bincount(bags, weights=y)[bags] / 50
    >>> lab = BeliefPropagationLabeler().fit(X, proportion, bags=bags)
    >>> bool(roc_auc_score(y, lab.marginals_) > 0.8)
    True
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
