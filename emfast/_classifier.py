"""emfast.GaussianMixtureClassifier: one Gaussian mixture per class.

A generative classifier and an out-of-distribution scorer (Mahalanobis scores
as in Lee et al., NeurIPS 2018, with a mixture per class): class c is
modelled by a mixture (pi_ck, mu_ck, Sigma_ck), fitted by emfast's EM engine, and

    log p(x, c)          = log prior_c + log p(x | c)
    score_samples(x)     = log sum_c prior_c p(x | c)          (higher: in distribution)
    mahalanobis_score(x) = min_c sum_k pi_ck 1/2 d^2_ck(x)     (higher: out of distribution)

with d^2_ck the squared Mahalanobis distance from the precision Cholesky factors.
With family='student_t' each class is a mixture of Student-t components
(emfast.StudentTMixture): heavier tails, so that a few atypical training rows
do not inflate a class's covariances.
"""

from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _overflow
from ._data import score_array
from ._mixture import COVARIANCE_TYPES, INIT_PARAMS
from ._stats import Params
from ._validation import as_kernel_input, check_sample_weight, check_X, unchanged_on_error
from ._gaussian_mixture import GaussianMixture
from ._semisupervised import fit_partially_labelled, unlabelled_rows
from ._student_t import StudentTMixture

# the most negative finite float64: where decision scores beyond the range stop
_LOWEST = np.finfo(np.float64).min


class GaussianMixtureClassifier(ClassifierMixin, BaseEstimator):
    """Classifier with one Gaussian mixture per class, and OOD scores.

    Class c is modelled by a Gaussian mixture p(x | c) with weights pi_ck,
    fitted by :class:`GaussianMixture`'s EM on the rows of that class, and a
    prior prior_c. Predictions follow Bayes' rule,
    P(c | x) proportional to prior_c p(x | c). Two scores tell how far a sample
    lies from the training distribution:

    - :meth:`score_samples`, log p(x) = log sum_c prior_c p(x | c) (higher:
      more in-distribution);
    - :meth:`mahalanobis_score`, min_c sum_k pi_ck d^2_ck(x) / 2, with d^2_ck
      the squared Mahalanobis distance to component k of class c (higher:
      more out-of-distribution).

    Parameters
    ----------
    n_components : int, default=1
        The number of components per class.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariances, as in :class:`GaussianMixture` (tied
        within a class).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance; shrinkage matters when the
        dimension is close to a class's size.
    priors : array-like of shape (n_classes,), default=None
        Class priors, non-negative and summing to 1; by default the
        (weighted) class frequencies.
    family : {'gaussian', 'student_t'}, default='gaussian'
        The components: Gaussian (:class:`GaussianMixture`) or Student-t
        with fitted degrees of freedom (:class:`StudentTMixture`).
    tol : float, default=1e-3
        Convergence threshold of each class's EM, as in
        :class:`GaussianMixture`.
    max_iter : int, default=100
        The maximum number of EM iterations of each class's mixture.
    n_init : int, default=1
        The number of initialisations of each class's mixture; with
        unlabelled rows, also the number of seeded k-means starts of the EM
        over all rows (the best is kept). Raise it for category discovery:
        the number of new classes is only as good as the fits it compares.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'kmeans_sample'}, default='kmeans'
        How each class's mixture is initialised, as in
        :class:`GaussianMixture`.
    random_state : int, RandomState instance or None, default=None
        Seeds every class's initialisation.
    unlabelled : int, str or None, default=None
        The value of y that marks unlabelled rows, such as -1 (scikit-learn's
        convention for semi-supervised learning). Those rows are fitted too:
        the classes' mixtures are first fitted on the labelled rows, then one
        EM runs over all rows, each labelled row shared among its class's
        components only and each unlabelled row among every class's (see
        :ref:`partial-labels`). The class priors are then those of the
        unlabelled rows (a labelled row is modelled given its label), unless
        ``priors`` is given. None: every value of y is a class (-1 included).
    n_new_classes : int or 'auto', default=0
        With ``unlabelled``: how many classes the unlabelled rows may hold
        beyond those in y (category discovery). Each new class is one
        Gaussian component fitted with the others by the same EM. 'auto'
        tries 0 to ``max_new_classes`` new classes and keeps the number of
        lowest BIC (of the labelled and unlabelled rows' likelihood). New
        classes are labelled max(classes) + 1, + 2, ... when the labels are
        numbers, 'new_0', 'new_1', ... otherwise.
    max_new_classes : int, default=None
        The most new classes ``n_new_classes='auto'`` tries; None: twice the
        number of known classes.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    priors_ : ndarray of shape (n_classes,)
        The class priors used.
    mixtures_ : list of GaussianMixture or StudentTMixture
        The fitted mixture of each class, in the order of ``classes_``.
    n_iter_ : ndarray of shape (n_classes,)
        The EM iterations of each class's mixture (with unlabelled rows, of
        the EM over all rows, the same for every class).
    n_new_classes_ : int
        The number of discovered classes (the last entries of ``classes_``).
    new_classes_bic_ : ndarray of shape (max_new_classes + 1,)
        With ``n_new_classes='auto'``: the BIC of each number of new classes
        tried, from 0.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    GaussianMixture : The mixture fitted to each class.
    sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis : The special
        case of one full-covariance Gaussian per class.

    Examples
    --------
    Train on two iris species and score the third as out-of-distribution:

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.metrics import roc_auc_score
    >>> from emfast import GaussianMixtureClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> known, unknown = X[y < 2], X[y == 2]
    >>> clf = GaussianMixtureClassifier(n_components=2, random_state=0)
    >>> clf = clf.fit(known, y[y < 2])
    >>> clf.predict(X[[0, 50]])
    array([0, 1])
    >>> is_ood = np.r_[np.zeros(len(known)), np.ones(len(unknown))]
    >>> scores = clf.mahalanobis_score(np.vstack([known, unknown]))
    >>> bool(roc_auc_score(is_ood, scores) > 0.95)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "priors": ["array-like", None],
        "family": [StrOptions({"gaussian", "student_t"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "random_state": ["random_state"],
        "unlabelled": [None, Integral, str],
        "n_new_classes": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "max_new_classes": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        reg_covar=1e-6,
        priors=None,
        family="gaussian",
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        unlabelled=None,
        n_new_classes=0,
        max_new_classes=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.priors = priors
        self.family = family
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.unlabelled = unlabelled
        self.n_new_classes = n_new_classes
        self.max_new_classes = max_new_classes

    def fit(self, X, y, sample_weight=None):
        """Fit one mixture per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels; each class needs at least max(2, n_components) rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, used by each class's EM and for the default
            priors; None gives every sample weight 1.

        Returns
        -------
        self : GaussianMixtureClassifier
            The fitted estimator.
        """
        with unchanged_on_error(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        """fit's work (its state restored by the caller on error)."""
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        X = as_kernel_input(X)
        check_classification_targets(y)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        unlabelled = unlabelled_rows(y, self.unlabelled)
        if unlabelled.any() and self.family != "gaussian":
            raise ValueError("unlabelled rows (partially labelled fitting) need family='gaussian'")
        if self.n_new_classes != 0 and (not unlabelled.any() or self.priors is not None):
            raise ValueError(
                "n_new_classes (category discovery) needs unlabelled rows (unlabelled=-1 marks rows "
                "labelled -1) and priors=None (the new classes' priors are estimated)"
            )
        self.classes_, codes = np.unique(y[~unlabelled], return_inverse=True)
        y_index = np.full(len(y), -1, dtype=np.int64)
        y_index[~unlabelled] = codes.reshape(-1)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got %d class" % n_classes
            )
        w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        class_weight = np.bincount(y_index[~unlabelled], weights=w[~unlabelled], minlength=n_classes)
        if (class_weight <= 0).any():
            empty = self.classes_[np.flatnonzero(class_weight <= 0)[0]]
            raise ValueError(f"class {empty} has zero total sample weight; it cannot be modelled")
        if self.priors is None:
            self.priors_ = class_weight / class_weight.sum()
        else:
            priors = np.array(self.priors, dtype=np.float64)  # a copy: priors_ is ours
            if priors.shape != (n_classes,):
                raise ValueError(f"priors must have shape ({n_classes},), got {priors.shape}")
            if (priors < 0).any() or not np.isclose(priors.sum(), 1.0):
                raise ValueError("priors must be non-negative and sum to 1")
            self.priors_ = priors
        self.mixtures_ = []
        for c in range(n_classes):
            rows = np.flatnonzero(y_index == c)
            if len(rows) < max(2, self.n_components):
                raise ValueError(
                    f"class {self.classes_[c]} has {len(rows)} samples; each class needs at "
                    f"least max(2, n_components) = {max(2, self.n_components)}"
                )
            family = GaussianMixture if self.family == "gaussian" else StudentTMixture
            mixture = family(
                self.n_components,
                covariance_type=self.covariance_type,
                tol=self.tol,
                reg_covar=self.reg_covar,
                max_iter=self.max_iter,
                n_init=self.n_init,
                init_params=self.init_params,
                random_state=self.random_state,
            )
            mixture.fit(X[rows], sample_weight=None if sample_weight is None else sample_weight[rows])
            self.mixtures_.append(mixture)
        self.n_iter_ = np.array([m.n_iter_ for m in self.mixtures_])
        self.n_new_classes_ = 0
        if unlabelled.any():
            fit_partially_labelled(self, X, sample_weight, y_index, self._new_class_candidates(n_classes))
        return self

    def _new_class_candidates(self, n_classes):
        """The numbers of new classes to try (category discovery)."""
        if self.n_new_classes != "auto":
            return [self.n_new_classes]
        most = 2 * n_classes if self.max_new_classes is None else self.max_new_classes
        return list(range(most + 1))

    # ------------------------------------------------------------- scores

    def _check_X(self, X):
        check_is_fitted(self)
        return check_X(self, X, reset=False)

    def _joint_log_likelihood(self, X):
        """(n_samples, n_classes): log prior_c + log p(x | c), one kernel pass per class."""
        with np.errstate(divide="ignore"):
            log_priors = np.log(self.priors_)
        jll = np.empty((X.shape[0], len(self.classes_)), dtype=np.float64)
        for c, mixture in enumerate(self.mixtures_):
            jll[:, c] = score_array(X, mixture._fitted_params(), self.covariance_type, "log_prob_norm")
            jll[:, c] += log_priors[c]
        return jll

    def _log_posterior(self, X, jll=None):
        """(n_samples, n_classes) log P(c | x). A sample so far from every class that
        no joint log-likelihood is finite gets the limit, as GaussianMixture's
        responsibilities do: all classes' components as one mixture (weights
        prior_c pi_ck), scored without overflow (emfast._overflow)."""
        if jll is None:
            jll = self._joint_log_likelihood(X)
        with np.errstate(invalid="ignore"):
            out = jll - logsumexp(jll, axis=1, keepdims=True)
        lost = np.flatnonzero(~np.isfinite(jll).any(axis=1))
        if lost.size:
            student = self.family == "student_t"
            weights, means, factors, owner, dofs = [], [], [], [], []
            for c, (prior, mixture) in enumerate(zip(self.priors_, self.mixtures_)):
                pc = np.asarray(mixture.precisions_cholesky_, dtype=np.float64)
                for k in range(len(mixture.weights_)):
                    w = prior * float(mixture.weights_[k])
                    if w > 0:  # a component of no weight takes no probability
                        weights.append(w)
                        means.append(np.asarray(mixture.means_[k], dtype=np.float64))
                        factors.append(_overflow._factor(pc, self.covariance_type, k, X.shape[1]))
                        owner.append(c)
                        if student:
                            dofs.append(mixture.dofs_[k])
            factors = np.array(factors)
            combined = Params(np.array(weights), np.array(means), factors, factors, np.array(dofs) if student else None)
            proba = _overflow.overflow_rows(X[lost], combined, "full", "proba")
            per_class = np.zeros((lost.size, len(self.classes_)))
            np.add.at(per_class.T, np.array(owner), proba.T)
            with np.errstate(divide="ignore"):
                out[lost] = np.log(per_class)
        return out

    def predict_log_proba(self, X):
        """Compute the log posterior probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log posterior log P(c | x), in the order of ``classes_``.
        """
        return self._log_posterior(self._check_X(X))

    def predict_proba(self, X):
        """Compute the posterior probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            P(c | x), in the order of ``classes_``; each row sums to 1.
        """
        return np.exp(self.predict_log_proba(X))

    def decision_function(self, X):
        """Compute the joint log-likelihood of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            The joint log-likelihood log p(x, c) = log prior_c + log p(x | c)
            of each class; for two classes, the difference
            log p(x, c1) - log p(x, c0). Always finite, and its argmax (for
            two classes, its sign) is :meth:`predict`'s class: for a sample so
            far from every class that log p(x, c) lies below the float range
            for every c, the scores are the log posteriors log P(c | x) (which
            differ from log p(x, c) by the same log p(x)); a score beyond the
            float range is the largest finite float of its sign.
        """
        scores = self._decision_scores(self._check_X(X))
        if len(self.classes_) == 2:
            return np.clip(scores[:, 1] - scores[:, 0], _LOWEST, -_LOWEST)
        return scores

    def _decision_scores(self, X):
        """decision_function's (n_samples, n_classes) scores, finite: the joint
        log-likelihoods; for a sample so far from every class that none of them is
        finite, its log posteriors instead (the joint log-likelihoods less one
        log p(x) beyond the float range: the same differences between classes);
        values below the float range at its most negative finite number."""
        jll = self._joint_log_likelihood(X)
        lost = ~np.isfinite(jll).any(axis=1)
        if lost.any():
            jll[lost] = self._log_posterior(X[lost], jll[lost])
        return np.maximum(jll, _LOWEST)

    def predict(self, X):
        """Predict the most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The class of highest posterior probability, from ``classes_``.
        """
        # the argmax of decision_function's scores (the class of highest posterior)
        scores = self._decision_scores(self._check_X(X))
        return self.classes_[np.argmax(scores, axis=1)]

    def score_samples(self, X):
        """Compute log p(x) under the model of all classes.

        log p(x) = log sum_c prior_c p(x | c); higher means more
        in-distribution, so ``-score_samples(X)`` is an out-of-distribution
        score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            The log-density of each sample.
        """
        return logsumexp(self._joint_log_likelihood(self._check_X(X)), axis=1)

    def mahalanobis_score(self, X):
        """Compute the Mahalanobis out-of-distribution score of each sample.

        min over classes c of sum_k pi_ck d^2_ck(x) / 2, with d^2_ck the
        squared Mahalanobis distance to component k of class c (see
        :meth:`GaussianMixture.mahalanobis`); higher means more
        out-of-distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        score : ndarray of shape (n_samples,)
            The score of each sample (higher: farther from every class).
        """
        X = self._check_X(X)
        score = np.full(X.shape[0], np.inf)
        for mixture in self.mixtures_:
            d2 = score_array(X, mixture._fitted_params(), self.covariance_type, "mahalanobis")
            np.minimum(score, 0.5 * (d2 @ np.asarray(mixture.weights_, dtype=np.float64)), out=score)
        return score
