"""emfast.GaussianMixtureIC: n_components and covariance_type chosen by BIC or AIC."""

import functools
import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._data import Float32Overflow, training_data
from ._mixture import COVARIANCE_TYPES, INIT_PARAMS, GaussianMixtureBase
from ._native import core
from ._search import Chain, run_chains, shared_initials
from ._validation import blas_on_one_thread, check_n_samples, unchanged_on_error

# the order of covariance_type='all' (that of scikit-learn's GaussianMixtureIC proposal)
ALL_TYPES = ("spherical", "diag", "tied", "full")


def _selected(method):
    """GaussianMixture's method, called on the selected mixture."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        return method(self._best(), *args, **kwargs)

    return call


class GaussianMixtureIC(DensityMixin, BaseEstimator):
    """Gaussian mixture with n_components and covariance_type chosen by BIC or AIC.

    Fits a :class:`GaussianMixture` for every number of components from
    ``min_components`` to ``max_components`` and every covariance type asked
    for, and keeps the one of lowest BIC (or AIC). After ``fit`` it is that
    mixture: ``predict``, ``predict_proba``, ``score_samples``, ``bic``... are
    those of ``best_estimator_``, and ``criteria_`` holds the criterion of
    every candidate (plot it against K to see how clear the choice is).

    The search is much cheaper than fitting each candidate from scratch:

    - at ``min_components``, each covariance type starts from ``init_params``'
      initialisations, drawn as ``GaussianMixture(min_components,
      covariance_type=..., random_state=random_state).fit`` draws them; the
      k-means clustering is computed once and shared by every covariance type;
    - each next K starts from the K - 1 model of the same covariance type with
      one component split in two: the component of largest weight x volume,
      w_k sqrt(det S_k), where S_k is the covariance of the rows it is
      responsible for, is cut through its mean across its principal axis
      (eigenvalue lambda, direction v; for 'diag' and 'spherical' the axis of
      largest variance): two halves of weight w_k / 2, means
      mu_k +- sqrt(2 lambda / pi) v and covariance S_k - (2 lambda / pi) v v^T
      (the moments of the two halves of a Gaussian; 'tied' takes
      w_k (2 lambda / pi) v v^T out of its shared covariance). S_k comes from
      one E-step pass of the K - 1 model. With ``n_init`` > 1 the
      ``n_init`` largest components are tried and the split with the highest
      lower bound is kept. No k-means runs beyond ``min_components``, and EM
      starts next to a fixed point;
    - the covariance types' searches run side by side in threads.

    Every candidate is a GaussianMixture fitted by the same EM (``tol``,
    ``max_iter``, ``reg_covar``) from its initial model: ``best_estimator_``
    is the GaussianMixture a user gets from the same initialisation. At
    ``min_components`` that is ``GaussianMixture(min_components, ...,
    random_state=random_state)`` (an int ``random_state`` reproduces it); at
    larger K the split model is in its ``weights_init``, ``means_init`` and
    ``precisions_init``, so ``sklearn.base.clone(best_estimator_).fit(X)``
    refits the selected model in both cases. A split start is not
    scikit-learn's k-means start: the model can differ from
    ``GaussianMixture(K, random_state=...)``'s where EM has several local
    optima.

    Parameters
    ----------
    min_components : int, default=1
        The smallest number of components tried.
    max_components : int, default=10
        The largest number of components tried; at most n_samples.
    covariance_type : {'full', 'tied', 'diag', 'spherical', 'all'} or list of str, default='full'
        The covariance types tried, as in :class:`GaussianMixture`: one, a
        list of them, or 'all' (spherical, diag, tied and full).
    criterion : {'bic', 'aic'}, default='bic'
        The criterion minimised: the Bayesian information criterion,
        -2 log L + p log n, or Akaike's, -2 log L + 2 p, with L the likelihood
        of the training data, p the number of free parameters and n the
        number of samples (the total sample weight, if given).
    n_init : int, default=1
        The number of initialisations at ``min_components``, and the number of
        components whose split is tried at each larger K.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'kmeans_sample'}, default='kmeans'
        The initialisation at ``min_components``, as in :class:`GaussianMixture`.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation at ``min_components`` and :meth:`sample`.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every covariance.
    tol : float, default=1e-3
        Convergence threshold of every candidate's EM (on the lower bound).
    max_iter : int, default=100
        The maximum number of EM iterations of every candidate.
    n_jobs : int, default=None
        How many covariance types are searched at once, in threads, sharing
        the kernels' threads (which follow threadpoolctl and
        ``OMP_NUM_THREADS``) between them. None: one per thread (at most one
        per covariance type) when X has at least 20 000 values, else one at a
        time (on small data Python's own work dominates, which threads do not
        share). Results do not depend on it. Dask arrays are searched one
        covariance type at a time.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The selected mixture, fitted.
    n_components_ : int
        Its number of components.
    covariance_type_ : str
        Its covariance type.
    criteria_ : ndarray of shape (max_components - min_components + 1, n_covariance_types)
        The criterion of every candidate: row i for min_components + i
        components, columns in the order of ``covariance_types_``.
    covariance_types_ : list of str
        The covariance types searched.
    cv_results_ : dict of ndarrays
        One entry per candidate, in the order of scikit-learn's
        GridSearchCV over ``{"covariance_type": ..., "n_components": ...}``:
        'param_covariance_type', 'param_n_components', 'params', 'bic', 'aic',
        'lower_bound', 'n_iter', 'converged', and 'mean_test_score' (minus the
        criterion, on the training data) with 'rank_test_score', so that code
        written for a GridSearchCV with a BIC scorer reads it unchanged.
    weights_ : ndarray of shape (`n_components_`,)
        The selected mixture's weights.
    means_ : ndarray of shape (`n_components_`, n_features)
        The selected mixture's means.
    covariances_ : ndarray
        The selected mixture's covariances (shaped as its covariance type's).
    precisions_ : ndarray
        The selected mixture's precisions.
    precisions_cholesky_ : ndarray
        The Cholesky factors of its precisions.
    converged_ : bool
        Whether the selected mixture's EM converged.
    n_iter_ : int
        Its number of EM iterations.
    lower_bound_ : float
        Its lower bound (mean log-likelihood) at the last iteration.
    lower_bounds_ : list of float
        Its lower bound at each iteration.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    GaussianMixture : The mixture fitted for each candidate.
    sklearn.model_selection.GridSearchCV : The search scikit-learn's
        documentation runs for this, with a BIC scorer.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import GaussianMixtureIC
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2)),
    ...                rng.normal((0, 8), 1, (200, 2))])
    >>> search = GaussianMixtureIC(max_components=6, covariance_type="all", random_state=0).fit(X)
    >>> search.n_components_, search.covariance_type_
    (3, 'spherical')
    >>> search.criteria_.shape
    (6, 4)
    >>> bool(np.isclose(search.criteria_.min(), search.bic(X)))
    True
    """

    _parameter_constraints: dict = {
        "min_components": [Interval(Integral, 1, None, closed="left")],
        "max_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES) | {"all"}), list, tuple],
        "criterion": [StrOptions({"bic", "aic"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "random_state": ["random_state"],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        min_components=1,
        max_components=10,
        covariance_type="full",
        criterion="bic",
        n_init=1,
        init_params="kmeans",
        random_state=None,
        reg_covar=1e-6,
        tol=1e-3,
        max_iter=100,
        n_jobs=None,
    ):
        self.min_components = min_components
        self.max_components = max_components
        self.covariance_type = covariance_type
        self.criterion = criterion
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs

    def _covariance_types(self):
        if isinstance(self.covariance_type, str):
            return list(ALL_TYPES) if self.covariance_type == "all" else [self.covariance_type]
        types = list(dict.fromkeys(self.covariance_type))  # unique, in the given order
        wrong = [t for t in types if t not in COVARIANCE_TYPES]
        if wrong or not types:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, 'all', or a non-empty list of "
                f"them; got {self.covariance_type!r}"
            )
        return types

    def fit(self, X, y=None, sample_weight=None):
        """Fit every candidate mixture and select the one of lowest criterion.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: a NumPy array, a memory map or a Dask array, as for
            :meth:`GaussianMixture.fit`.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as for :meth:`GaussianMixture.fit`; the
            criteria are then those of the rows repeated (log-likelihoods
            weighted, n the total weight).

        Returns
        -------
        self : GaussianMixtureIC
            The fitted estimator.
        """
        with unchanged_on_error(self):
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        """fit's work (the estimator restored by the caller on error)."""
        self._validate_params()
        types = self._covariance_types()
        if self.min_components > self.max_components:
            raise ValueError(
                f"min_components ({self.min_components}) must not exceed max_components ({self.max_components})"
            )
        data = training_data(self, X, sample_weight)
        check_n_samples(data.n_samples, self.max_components)
        # MemoryError now for a model that cannot be allocated ('tied' is evaluated as 'full')
        for cov in set(types) | ({"full"} if "tied" in types else set()):
            core.plan_memory(data.n_samples, data.n_features, self.max_components, cov)
        with blas_on_one_thread():
            try:
                results = self._search(data, types)
            except Float32Overflow:
                data = data.astype(np.float64)
                results = self._search(data, types)
        self._select(results, types, data.total_weight())
        return self

    def _search(self, data, types):
        """Every covariance type's [(GaussianMixture, repairs, log-likelihood)] per K."""
        ks = list(range(self.min_components, self.max_components + 1))
        settings = dict(tol=self.tol, reg_covar=self.reg_covar, max_iter=self.max_iter, n_init=self.n_init,
                        init_params=self.init_params, random_state=self.random_state)
        scale = data.scale()
        rng = check_random_state(self.random_state)
        initials = shared_initials(data, ks[0], types, settings, rng, scale)
        chains = [Chain(cov, ks, settings) for cov in types]
        return run_chains(chains, data, scale, initials, self.n_jobs)

    def _select(self, results, types, n):
        """Criteria, cv_results_ and the best candidate's attributes."""
        flat = [r for chain in results for r in chain]  # covariance type outer, K inner
        loglik = np.array([r[2] for r in flat])
        n_parameters = np.array([r[0]._n_parameters() for r in flat])
        bic = -2 * loglik + n_parameters * math.log(n)
        aic = -2 * loglik + 2 * n_parameters
        criterion = bic if self.criterion == "bic" else aic
        best = int(np.argmin(criterion))
        gm, repairs, _ = flat[best]
        self.covariance_types_ = types
        self.criteria_ = criterion.reshape(len(types), -1).T.copy()
        order = np.argsort(criterion, kind="stable")
        rank = np.empty(len(flat), dtype=np.int32)
        rank[order] = np.arange(1, len(flat) + 1)
        self.cv_results_ = {
            "param_covariance_type": np.array([r[0].covariance_type for r in flat], dtype=object),
            "param_n_components": np.array([r[0].n_components for r in flat]),
            "params": [{"covariance_type": r[0].covariance_type, "n_components": r[0].n_components} for r in flat],
            "bic": bic,
            "aic": aic,
            "lower_bound": np.array([r[0].lower_bound_ for r in flat]),
            "n_iter": np.array([r[0].n_iter_ for r in flat]),
            "converged": np.array([r[0].converged_ for r in flat]),
            "mean_test_score": -criterion,
            "rank_test_score": rank,
        }
        gm.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            gm.feature_names_in_ = self.feature_names_in_
        self.best_estimator_ = gm
        self.n_components_, self.covariance_type_ = gm.n_components, gm.covariance_type
        for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "converged_",
                     "n_iter_", "lower_bound_", "lower_bounds_"):
            setattr(self, name, getattr(gm, name))
        if not gm.converged_ and self.max_iter > 0:
            warnings.warn(
                f"The selected mixture ({gm.n_components} components, covariance_type="
                f"'{gm.covariance_type}') did not converge. Increase max_iter or tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        repairs.warn(self.reg_covar, stacklevel=4)

    # ------------------------------------------------------------- the selected mixture's API

    def _best(self):
        check_is_fitted(self)
        return self.best_estimator_

    def _fitted_params(self):
        return self._best()._fitted_params()

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then predict the component of each sample of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The most probable component of each sample under the selected mixture.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # the selected mixture's methods, as GaussianMixture documents them
    predict = _selected(GaussianMixtureBase.predict)
    predict_proba = _selected(GaussianMixtureBase.predict_proba)
    score_samples = _selected(GaussianMixtureBase.score_samples)
    score = _selected(GaussianMixtureBase.score)
    sample = _selected(GaussianMixtureBase.sample)
    bic = _selected(GaussianMixtureBase.bic)
    aic = _selected(GaussianMixtureBase.aic)
