"""Learning from label proportions: belief-propagation pseudo-labels.

``BeliefPropagationLabeler`` infers instance labels from bag counts (Havaldar et
al., "Learning from Label Proportions: Bootstrapping Supervised Learners via
Belief Propagation", ICLR 2024); ``LLPClassifier`` trains any scikit-learn
classifier on those pseudo-labels. The similarity graph comes from
scikit-learn's ``NearestNeighbors``; the message passing runs in C++ with
OpenMP (``csrc/bp.cpp``).
"""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from ._native import core

# bag_factor='pairwise' stores |bag|^2 messages per bag (csrc/bp.hpp: kMaxPairwiseBag).
MAX_PAIRWISE_BAG = 5000
_MAX_WEIGHT = 1e100


# ---------------------------------------------------------------- bag inputs


def _id(bag_id):
    """A bag id as the user wrote it (numpy scalars back to Python objects)."""
    return bag_id.item() if isinstance(bag_id, np.generic) else bag_id


def _bag_structure(bags, n_samples):
    """Sorted unique bag ids, and each row's index into them."""
    if sp.issparse(bags):
        raise TypeError("bags must be a 1-D array-like of bag ids, got a sparse matrix")
    bags = np.asarray(bags)
    if bags.ndim != 1 or bags.shape[0] != n_samples:
        raise ValueError(
            f"bags must be 1-D with one bag id per row of X ({n_samples} rows), "
            f"got shape {bags.shape}"
        )
    if bags.dtype.kind in "fc" and np.isnan(bags).any():
        raise ValueError("bags contains NaN: every row needs a bag id")
    try:
        ids, codes = np.unique(bags, return_inverse=True)
    except TypeError as exc:
        raise TypeError(
            f"bag ids must be comparable with each other so that they can be sorted: {exc}"
        ) from exc
    return ids, codes.reshape(-1).astype(np.int64, copy=False)


def _per_bag(values, ids, name):
    """values (a mapping bag id -> value, or an array aligned with ids) as float64."""
    if hasattr(values, "keys") and callable(values.keys):
        out = []
        for bag_id in ids:
            key = _id(bag_id)
            try:
                out.append(values[key])
            except (KeyError, IndexError):
                raise ValueError(f"bag id {key!r} has no entry in {name}") from None
        arr = np.asarray(out)
    else:
        if isinstance(values, (str, bytes)) or sp.issparse(values):
            raise TypeError(f"{name} must be a mapping or an array-like of numbers")
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != len(ids):
            raise ValueError(
                f"{name} must give one value per bag: a mapping bag id -> value, or an "
                f"array of length {len(ids)} aligned with the sorted unique bag ids; "
                f"got shape {arr.shape}"
            )
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _bag_targets(ids, sizes, bag_counts, bag_proportions):
    """k_b, the (expected) number of positives of each bag, checked."""
    if bag_counts is not None and bag_proportions is not None:
        raise ValueError("give either bag_counts or bag_proportions, not both")
    if bag_counts is None and bag_proportions is None:
        raise TypeError(
            "fit() needs bag_counts (the number of positives per bag) or bag_proportions"
        )
    name = "bag_counts" if bag_counts is not None else "bag_proportions"
    v = _per_bag(bag_counts if bag_counts is not None else bag_proportions, ids, name)

    def where(mask):
        b = int(np.flatnonzero(mask)[0])
        return b, _id(ids[b])

    if not np.isfinite(v).all():
        b, key = where(~np.isfinite(v))
        raise ValueError(f"{name} contains NaN or infinity (bag {key!r}: {v[b]})")
    if (v < 0).any():
        b, key = where(v < 0)
        raise ValueError(f"{name} must be non-negative: bag {key!r} has {v[b]:g}")
    if name == "bag_counts":
        if (v != np.floor(v)).any():
            b, key = where(v != np.floor(v))
            raise ValueError(
                f"bag_counts must be whole numbers: bag {key!r} has {v[b]:g} "
                "(give bag_proportions for fractions)"
            )
        if (v > sizes).any():
            b, key = where(v > sizes)
            raise ValueError(
                f"bag_counts larger than the bag: bag {key!r} has a count of {v[b]:g} "
                f"but only {sizes[b]} rows"
            )
        return v
    if (v > 1).any():
        b, key = where(v > 1)
        raise ValueError(f"bag_proportions must be in [0, 1]: bag {key!r} has {v[b]:g}")
    return v * sizes


# ------------------------------------------------------------ similarity graph


def _edge_similarity(X, rows, cols):
    """s_ij = exp(-||x_i - x_j||_2) for each edge, in blocks of about 32 MB."""
    out = np.empty(rows.shape[0])
    step = max(1, (1 << 22) // max(1, X.shape[1]))
    for a in range(0, rows.shape[0], step):
        diff = X[rows[a : a + step]] - X[cols[a : a + step]]
        out[a : a + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return np.exp(-out)


def _symmetric_csr(n, rows, cols, vals):
    """The symmetric CSR matrix with vals at (rows, cols) and (cols, rows), rows < cols."""
    S = sp.csr_matrix(
        (np.concatenate([vals, vals]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
        shape=(n, n),
    )
    S.sum_duplicates()
    S.sort_indices()
    return S


def _precomputed_graph(X):
    n = X.shape[0]
    if X.shape[1] != n:
        raise ValueError(f"metric='precomputed' needs a square similarity matrix, got shape {X.shape}")
    S = sp.csr_matrix(X, dtype=np.float64, copy=True)
    S = sp.triu(S, 1, format="csr") + sp.tril(S, -1, format="csr")  # the diagonal is ignored
    S.eliminate_zeros()
    if S.nnz and S.data.min() < 0:
        raise ValueError("metric='precomputed': similarities must be non-negative")
    scale = abs(S).max() if S.nnz else 0.0
    asym = abs(S - S.T)
    if asym.nnz and asym.max() > 1e-10 * scale:
        raise ValueError("metric='precomputed': the similarity matrix must be symmetric")
    S = ((S + S.T) * 0.5).tocsr()  # exactly symmetric
    S.eliminate_zeros()
    S.sort_indices()
    return S


# ------------------------------------------------------------------- labeler


class BeliefPropagationLabeler(BaseEstimator):
    """Pseudo-labels from label proportions by belief propagation.

    Rows come in disjoint bags; only each bag's number of positives k_b is
    known. The labels y in {0, 1}^n get the Gibbs distribution

        log p(y) = - bag_weight * sum_b (sum_{i in b} y_i - k_b)^2
                   - similarity_weight * sum_{(i,j) in E} s_ij (y_i - y_j)^2 + const

    over the symmetrised k-nearest-neighbour graph E (self excluded, each
    edge once) with s_ij = exp(-||x_i - x_j||_2) (Euclidean distance in the
    feature space, whatever metric found the neighbours). Loopy sum-product
    belief propagation gives each row's marginal P(y_i = 1).

    Messages are log-odds, start uniform (0) and are updated synchronously
    (every message from the previous sweep's messages), with damping
    ``m <- damping * m_old + (1 - damping) * m_new``; the result does not depend
    on the number of threads. On a tree-shaped factor graph (bag factors alone,
    or bags linked by a forest of similarities) the marginals are exact.
    A message that is certain (a bag with k_b = 0 or k_b = its size under
    ``bag_weight=np.inf``, or beyond about 640 log-odds, past the range the
    count distributions are kept to) is represented by log-odds of +-1e100 and
    is not damped.

    Parameters
    ----------
    n_neighbors : int, default=5
        Neighbours per row in the similarity graph (capped at n_samples - 1);
        0 gives the bag factors alone. Ignored with ``metric='precomputed'``.
    similarity_weight : float, default=10.0
        The weight lambda_s of the similarity term (at most 1e100).
    bag_weight : float, default=10.0
        The weight lambda_b of the bag term (at most 1e100, or ``np.inf``).
        With ``bag_weight=np.inf`` (``bag_factor='exact'`` only) the bag
        constraint is hard: the count of a bag must be the integer nearest to
        k_b (either of the two for a half-integer k_b). Weights are handled in
        log space relative to their maximum, so an infinite or very large
        weight never produces NaN (a finite weight w loses ~w * 1e-15 absolute
        precision in the messages, the conditioning of the problem).
    bag_factor : {'exact', 'pairwise'}, default='exact'
        'exact': one cardinality factor psi_b(c) = exp(-bag_weight (c - k_b)^2)
        per bag over its count c; each sweep costs O(B^2) per bag of B rows
        and O(B) memory (the bag's count distribution by dynamic programming,
        each row's leave-one-out distribution by synthetic division).
        'pairwise': the paper's expansion of the bag term into all B(B-1)/2
        in-bag pairs (coupling -2 bag_weight, field -bag_weight (1 - 2 k_b));
        a similarity edge inside a bag adds its coupling to the pair's (one
        factor per pair). The same distribution, but a loopy graph whatever
        the similarities (BP on these dense frustrated cliques can be far off,
        or saturate, for large bags and bag weights), and B^2 stored messages
        per bag: bags of more than 5000 rows are refused.
    metric : str or callable, default='cosine'
        Metric of the neighbour search (any metric of
        :class:`sklearn.neighbors.NearestNeighbors`); 'cosine' is searched as
        Euclidean distance between L2-normalised rows (the same ranking, and
        scikit-learn's fast path). 'precomputed': X is a square (sparse)
        matrix of similarities s_ij >= 0, symmetric; every off-diagonal
        non-zero entry is an edge.
    max_iter : int, default=100
        Number of BP sweeps at most (0: fields only).
    damping : float, default=0.5
        The damping in [0, 1) of the message updates (see above); higher
        values converge more slowly but more surely on loopy graphs.
    tol : float, default=1e-6
        Stop when no message (log-odds) changed by tol or more in a sweep;
        0 always runs max_iter sweeps (the paper's setting).
    threshold : float, default=0.5
        The probability in [0, 1] above which a row's pseudo-label is 1:
        ``labels_ = marginals_ >= threshold``.
    random_state : int, RandomState instance or None, default=None
        Unused: the algorithm is deterministic (uniform initial messages,
        synchronous updates, a deterministic neighbour search). Accepted for
        API compatibility.

    Attributes
    ----------
    marginals_ : ndarray of shape (n_samples,)
        P(y_i = 1) for each row.
    labels_ : ndarray of shape (n_samples,), int64
        Pseudo-labels, 1 where ``marginals_ >= threshold``.
    n_iter_ : int
        Sweeps run.
    converged_ : bool
        Whether the largest change of a message fell below tol.
    graph_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The symmetric similarity graph, s_ij on its edges.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    LLPClassifier : A classifier trained on this labeler's pseudo-labels.
    sklearn.semi_supervised.LabelSpreading : Label propagation on a similarity
        graph from some known labels, instead of bag counts.

    References
    ----------
    S. Havaldar et al., "Learning from Label Proportions: Bootstrapping
    Supervised Learners via Belief Propagation", ICLR 2024.

    Examples
    --------
    Rows in 20 bags of 20; only the number of positives of each bag is known:

    >>> import numpy as np
    >>> from emfast import BeliefPropagationLabeler
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)                      # hidden labels
    >>> X = rng.normal(size=(400, 5)) + 2.0 * y[:, None]
    >>> bags = np.repeat(np.arange(20), 20)
    >>> bag_counts = np.bincount(bags, weights=y)       # positives per bag
    >>> labeler = BeliefPropagationLabeler(n_neighbors=5).fit(X, bags, bag_counts)
    >>> labeler.marginals_.shape
    (400,)
    >>> bool((labeler.labels_ == y).mean() > 0.9)
    True
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 0, None, closed="left")],
        "similarity_weight": [Interval(Real, 0, _MAX_WEIGHT, closed="both")],
        "bag_weight": [Interval(Real, 0, _MAX_WEIGHT, closed="both"), Options(Real, {np.inf})],
        "bag_factor": [StrOptions({"exact", "pairwise"})],
        "metric": [str, callable],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "damping": [Interval(Real, 0, 1, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_neighbors=5,
        *,
        similarity_weight=10.0,
        bag_weight=10.0,
        bag_factor="exact",
        metric="cosine",
        max_iter=100,
        damping=0.5,
        tol=1e-6,
        threshold=0.5,
        random_state=None,
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
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, bags, bag_counts=None, *, bag_proportions=None):
        """Infer each row's marginal P(y_i = 1) from the bags' label counts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features; with ``metric='precomputed'``, a square (sparse) matrix of
            similarities.
        bags : array-like of shape (n_samples,)
            Each row's bag id (any sortable hashable labels, as scikit-learn's
            ``groups``).
        bag_counts : mapping or array-like, default=None
            The number of positives of each bag: a mapping bag id -> count, or
            an array aligned with the sorted unique bag ids
            (``np.unique(bags)``). Whole numbers in [0, bag size].
        bag_proportions : mapping or array-like, default=None
            Instead of bag_counts: the fraction of positives of each bag, in
            [0, 1] (k_b = proportion * bag size, not rounded).

        Returns
        -------
        self : BeliefPropagationLabeler
            The fitted labeler.
        """
        precomputed = isinstance(self.metric, str) and self.metric == "precomputed"
        if self.bag_factor == "pairwise" and np.isinf(self.bag_weight):
            raise ValueError("bag_weight=inf (a hard constraint) needs bag_factor='exact'")
        X = validate_data(
            self,
            X,
            accept_sparse="csr" if precomputed else False,
            dtype=np.float64,
            ensure_min_samples=1,
        )
        n = X.shape[0]
        ids, codes = _bag_structure(bags, n)
        sizes = np.bincount(codes, minlength=len(ids))
        k = _bag_targets(ids, sizes, bag_counts, bag_proportions)
        if self.bag_factor == "pairwise" and sizes.max() > MAX_PAIRWISE_BAG:
            b = int(np.argmax(sizes))
            raise ValueError(
                f"bag_factor='pairwise' expands each bag into all its pairs and stores "
                f"B^2 messages; bag {_id(ids[b])!r} has {sizes[b]} rows (more than "
                f"{MAX_PAIRWISE_BAG}): use bag_factor='exact'"
            )

        graph = self._graph(X, precomputed)
        members = np.argsort(codes, kind="stable").astype(np.int64)
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        out = core.bp_run(
            graph.indptr.astype(np.int64),
            graph.indices.astype(np.int64),
            np.ascontiguousarray(graph.data, dtype=np.float64),
            offsets,
            members,
            np.ascontiguousarray(k, dtype=np.float64),
            float(self.similarity_weight),
            float(self.bag_weight),
            self.bag_factor,
            int(self.max_iter),
            float(self.damping),
            float(self.tol),
        )
        self.graph_ = graph
        self.marginals_ = out["marginals"]
        self.labels_ = (self.marginals_ >= self.threshold).astype(np.int64)
        self.n_iter_ = int(out["n_iter"])
        self.converged_ = bool(out["converged"])
        if not self.converged_ and self.tol > 0 and self.max_iter > 0:
            warnings.warn(
                f"Belief propagation did not converge in {self.max_iter} sweeps (largest "
                f"message change {out['delta']:.3g} >= tol={self.tol}); the marginals are "
                "those of the last sweep. Increase max_iter or damping.",
                ConvergenceWarning,
            )
        return self

    def fit_predict(self, X, bags, bag_counts=None, *, bag_proportions=None):
        """Fit and return the pseudo-labels ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, as in :meth:`fit`.
        bags : array-like of shape (n_samples,)
            Each row's bag id.
        bag_counts : mapping or array-like, default=None
            The number of positives of each bag, as in :meth:`fit`.
        bag_proportions : mapping or array-like, default=None
            Instead of bag_counts: the fraction of positives of each bag.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The pseudo-label (0 or 1) of each row.
        """
        return self.fit(X, bags, bag_counts, bag_proportions=bag_proportions).labels_

    def _graph(self, X, precomputed):
        n = X.shape[0]
        if precomputed:
            return _precomputed_graph(X)
        if self.n_neighbors == 0 or n < 2:
            return sp.csr_matrix((n, n), dtype=np.float64)
        k = min(int(self.n_neighbors), n - 1)
        if isinstance(self.metric, str) and self.metric == "cosine":
            nn = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(normalize(X))
        else:
            nn = NearestNeighbors(n_neighbors=k, metric=self.metric).fit(X)
        A = nn.kneighbors_graph(mode="connectivity")  # the query point itself excluded
        A = sp.triu(A + A.T, 1).tocoo()  # each undirected edge once, i < j
        rows = A.row.astype(np.int64)
        cols = A.col.astype(np.int64)
        return _symmetric_csr(n, rows, cols, _edge_similarity(X, rows, cols))


# ---------------------------------------------------------------- classifier


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


class LLPClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier trained from label proportions through pseudo-labels.

    ``fit`` runs the labeler (by default :class:`BeliefPropagationLabeler`) on
    the bags, then fits a clone of ``estimator`` on X and the pseudo-labels
    ``labeler_.labels_``. When the estimator's ``fit`` takes ``sample_weight``
    and the labeler gives marginals, each row is weighted by its confidence
    ``|2 P(y_i = 1) - 1|`` (0 for a coin flip, 1 for a certain label).
    Prediction methods are the fitted estimator's.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier (with fit and predict); it is cloned.
    labeler : estimator, default=None
        With ``fit(X, bags, bag_counts, bag_proportions=...)`` and ``labels_``
        (and ideally ``marginals_``) after fitting; None means
        ``BeliefPropagationLabeler()``. It must work on the features X (not
        ``metric='precomputed'``). It is cloned.

    Attributes
    ----------
    labeler_ : estimator
        The fitted clone of the labeler.
    estimator_ : classifier
        The clone of ``estimator`` fitted on the pseudo-labels.
    classes_ : ndarray of shape (n_classes,)
        The class labels (the fitted estimator's).
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    BeliefPropagationLabeler : The default labeler.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from emfast import LLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> X = rng.normal(size=(400, 5)) + 2.0 * y[:, None]
    >>> bags = np.repeat(np.arange(20), 20)
    >>> clf = LLPClassifier(LogisticRegression())
    >>> clf = clf.fit(X, bags, np.bincount(bags, weights=y))
    >>> clf.classes_
    array([0, 1])
    >>> y_new = rng.integers(0, 2, 200)
    >>> X_new = rng.normal(size=(200, 5)) + 2.0 * y_new[:, None]
    >>> bool(clf.score(X_new, y_new) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "labeler": [HasMethods(["fit"]), None],
    }

    def __init__(self, estimator, *, labeler=None):
        self.estimator = estimator
        self.labeler = labeler

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, bags, bag_counts=None, *, bag_proportions=None):
        """Fit the labeler on the bags, then the estimator on its pseudo-labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        bags : array-like of shape (n_samples,)
            Each row's bag id.
        bag_counts : mapping or array-like, default=None
            The number of positives of each bag, as in
            :meth:`BeliefPropagationLabeler.fit`.
        bag_proportions : mapping or array-like, default=None
            Instead of bag_counts: the fraction of positives of each bag.

        Returns
        -------
        self : LLPClassifier
            The fitted classifier.
        """
        labeler = BeliefPropagationLabeler() if self.labeler is None else clone(self.labeler)
        if getattr(labeler, "metric", None) == "precomputed":
            raise ValueError(
                "LLPClassifier trains its estimator on X, so its labeler needs features: "
                "metric='precomputed' is not supported here"
            )
        labeler.fit(X, bags, bag_counts, bag_proportions=bag_proportions)
        y = np.asarray(labeler.labels_)
        estimator = clone(self.estimator)
        weight = None
        if hasattr(labeler, "marginals_") and has_fit_parameter(estimator, "sample_weight"):
            weight = np.abs(2.0 * np.asarray(labeler.marginals_, dtype=np.float64) - 1.0)
            if not (weight > 0).any():
                weight = None
        if weight is None:
            estimator.fit(X, y)
        else:
            estimator.fit(X, y, sample_weight=weight)
        self.labeler_ = labeler
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(labeler, attr):
                setattr(self, attr, getattr(labeler, attr))
        return self

    def predict(self, X):
        """Predict the class of each sample with the fitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The fitted estimator's predictions.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Compute class probabilities with the fitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The fitted estimator's ``predict_proba``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Compute log class probabilities with the fitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The fitted estimator's ``predict_log_proba``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Compute the fitted estimator's decision function.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The fitted estimator's ``decision_function``.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)
