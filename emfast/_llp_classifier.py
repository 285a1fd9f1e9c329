"""LLPClassifier: any scikit-learn classifier trained from label proportions,
on a labeler's pseudo-labels (emfast._llp, emfast._llp_em)."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, has_fit_parameter

from ._llp import _FIT_DOC
from ._llp_bags import check_bags


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
    labeler_ : estimator
        The fitted labeler.
    estimator_ : classifier
        The fitted classifier.
    classes_ : ndarray of shape (n_classes,)
        The class labels (0 and 1).
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    GaussianMixtureLabeler : The default labeler.
    BeliefPropagationLabeler : A labeler by belief propagation on a kNN graph.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from emfast import LLPClassifier
    >>> rng = np.random.RandomState(0)
    >>> y = (rng.uniform(size=1000) < np.repeat(rng.uniform(0.1, 0.9, 20), 50)).astype(int)
    >>> X = rng.normal(size=(1000, 2)) + 2.0 * y[:, None]
    >>> bags = np.repeat(np.arange(20), 50)
    >>> proportion = np.bincount(bags, weights=y)[bags] / 50
    >>> clf = LLPClassifier(LogisticRegression()).fit(X, proportion, bags=bags)
    >>> bool((clf.predict(X) == y).mean() > 0.8)
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
        """Predicted labels of X (the estimator's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The predicted labels.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of X (the estimator's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The class probabilities.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of X (the estimator's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log class probabilities.
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of X (the estimator's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        scores : ndarray
            The estimator's decision function.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def score(self, X, y, *, bags=None, sample_weight=None):
        """Bag-level accuracy: one minus the mean absolute error of the bag proportions.

        A bag's predicted proportion is the fraction of its rows that
        :meth:`predict` labels 1; y is each row's true bag proportion. With
        ``bags=None`` every row is its own bag and this is the accuracy of
        ``predict(X)`` against the labels y. Route bags to it with
        ``set_score_request(bags=True)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.
        y : array-like of shape (n_samples,)
            Each row's true bag proportion.
        bags : array-like of shape (n_samples,), default=None
            Each row's bag id.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean.

        Returns
        -------
        score : float
            The bag-level accuracy, in [0, 1].
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
