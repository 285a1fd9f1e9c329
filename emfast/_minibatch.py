"""Online mixtures: the mini-batch loop (OnlineMixture) and
emfast.MiniBatchGaussianMixture, stepwise EM (Cappé & Moulines 2009) on the
same C++ pass and M-step as batch EM (the class docstring has the update).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._array_api import array_api_fit
from ._data import ArrayData, Float32Overflow
from ._em import Repairs, maximise
from ._init import initial_parameters
from ._memory import check_fit_memory, stats_bytes
from ._mixture import COVARIANCE_TYPES, INIT_PARAMS, GaussianMixtureBase
from ._stats import Stats
from ._validation import (
    blas_on_one_thread,
    check_n_samples,
    check_sample_weight,
    check_X,
    unchanged_on_error,
)


class OnlineMixture(GaussianMixtureBase):
    """The mini-batch machinery of emfast's online mixtures: ``partial_fit`` (one
    update per call, the first call initialising the model), ``fit`` (passes over
    shuffled mini-batches until the smoothed bound changes by less than tol) and
    the float32 fallback. A subclass supplies the model: ``_start`` (initialise
    from the first mini-batch), ``_step`` (one update) and ``_publish`` (the
    fitted attributes), each returning the Repairs made where it fits."""

    # ------------------------------------------------------------- public API

    @array_api_fit
    def partial_fit(self, X, y=None, sample_weight=None):
        """Make one online update from the mini-batch X.

        The first call initialises the model from X (which then needs at least
        n_components rows). A mini-batch whose rows all have zero weight
        carries no information and makes no step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The mini-batch.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the mini-batch's rows; None gives every row
            weight 1.

        Returns
        -------
        self : object
            The updated estimator.
        """
        with unchanged_on_error(self):
            return self._partial_fit(X, sample_weight)

    @array_api_fit
    def fit(self, X, y=None, sample_weight=None):
        """Fit by passes over shuffled mini-batches of X.

        Starts afresh (forgetting earlier ``partial_fit`` calls) and makes
        passes until the smoothed log-likelihood changes by less than ``tol``
        over a pass, or ``max_iter`` passes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a NumPy array or memory map).
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; None gives every sample weight 1.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with unchanged_on_error(self):
            return self._fit(X, sample_weight)

    def _partial_fit(self, X, sample_weight):
        """partial_fit's work (its state restored by the caller on error)."""
        first = not hasattr(self, "n_steps_")
        if first:
            self._validate_params()
        X = check_X(self, X, reset=first)
        # weights as the passes take them; the given ones are sample_weight * _weight_scale
        sample_weight, self._weight_scale = check_sample_weight(sample_weight, X.shape[0], with_scale=True)
        if first:
            # MemoryError now for a model that cannot be allocated, before initialising
            # (and the statistics that later steps blend)
            check_fit_memory(self, ArrayData(X), extra=stats_bytes(self.covariance_type, self.n_components, X.shape[1]))
            with blas_on_one_thread():  # k-means++ seeding; later steps hardly use BLAS
                repairs = self._update(X, sample_weight)
        else:
            repairs = self._update(X, sample_weight)
        repairs.warn(self.reg_covar)
        return self

    def _fit(self, X, sample_weight):
        """fit's work (its state restored by the caller on error)."""
        self._validate_params()
        for attr in ("n_steps_", "_stats"):
            if hasattr(self, attr):
                delattr(self, attr)
        X = check_X(self, X, reset=True, min_samples=2)
        n_samples = X.shape[0]
        check_n_samples(n_samples, self.n_components)
        sample_weight, self._weight_scale = check_sample_weight(sample_weight, n_samples, with_scale=True)
        # a mini-batch must hold at least n_components rows to initialise from
        batch = max(min(self.batch_size, n_samples), self.n_components)
        # MemoryError now for a model that cannot be allocated, before any batch is
        # copied or the model initialised: a pass's order of the rows, a batch's copy
        # and the blended statistics besides a fit on one batch
        K, D = self.n_components, X.shape[1]
        extra = 8 * n_samples + batch * D * X.dtype.itemsize + stats_bytes(self.covariance_type, K, D)
        check_fit_memory(self, ArrayData(X), n_samples=batch, extra=extra)
        with blas_on_one_thread():
            self._begin_fit(X, sample_weight)
            return self._fit_passes(X, sample_weight, batch)

    def _begin_fit(self, X, sample_weight):
        """What fit needs of all of X before its passes (nothing here)."""

    def _fit_passes(self, X, sample_weight, batch):
        """fit's passes over shuffled mini-batches (validated X)."""
        rng = check_random_state(self.random_state)
        self._random_state = rng
        self.converged_ = False
        self.lower_bounds_ = []
        repairs = Repairs()
        if self.max_iter == 0:
            # as GaussianMixture(max_iter=0): the initial model, no EM step
            for Xb, wb in self._batches(X, sample_weight, batch, rng):
                repairs = self._update(Xb, wb, step=False)
                break
            self._check_started()
            self.lower_bound_ = -np.inf
            repairs.warn(self.reg_covar)
            return self
        previous = None
        for n_pass in range(1, self.max_iter + 1):
            for Xb, wb in self._batches(X, sample_weight, batch, rng):
                repairs |= self._update(Xb, wb)
            if not hasattr(self, "n_steps_"):
                continue  # no mini-batch of this pass could start the model
            self.lower_bounds_.append(self.lower_bound_)
            if self.verbose:
                print(f"  Pass {n_pass}: smoothed log-likelihood {self.lower_bound_:.5f}")
            if previous is not None and abs(self.lower_bound_ - previous) < self.tol:
                self.converged_ = True
                break
            previous = self.lower_bound_
        self._check_started()
        self.n_iter_ = n_pass
        repairs.warn(self.reg_covar)
        if not self.converged_:
            warnings.warn(
                f"{type(self).__name__} did not converge within max_iter passes; "
                "increase max_iter or tol.",
                ConvergenceWarning,
            )
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit as ``fit`` does, then return the component labels of X.

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
            The most probable component of each sample under the fitted model.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ------------------------------------------------------------- the steps

    def _batches(self, X, sample_weight, batch, rng):
        """One pass of shuffled mini-batches (X rows, weights). Until the model has
        started, batches that cannot start it (fewer than n_components rows, or no
        weight) are left out; a zero-weight batch is a no-op in _update anyway."""
        n_samples = X.shape[0]
        order = rng.permutation(n_samples)
        for start in range(0, n_samples, batch):
            rows = np.sort(order[start : start + batch])
            wb = None if sample_weight is None else sample_weight[rows]
            if not hasattr(self, "n_steps_"):
                if len(rows) < self.n_components or (wb is not None and not wb.sum() > 0):
                    continue
            yield X[rows], wb

    def _check_started(self):
        if not hasattr(self, "n_steps_"):
            raise ValueError(
                "No mini-batch held n_components rows of non-zero sample weight to "
                "initialise the model from; increase batch_size."
            )

    def _update(self, X, sample_weight, step=True):
        """Initialise from X if nothing is fitted yet, then one step (validated X).
        Returns the repairs made."""
        if sample_weight is not None and not sample_weight.sum() > 0:
            # no weight, no information: nothing to start from or step with
            if not hasattr(self, "n_steps_"):
                raise ValueError(
                    "The first mini-batch has no sample weight (all weights are zero); "
                    "it cannot initialise the model."
                )
            return Repairs()
        repairs = Repairs()
        try:
            if not hasattr(self, "n_steps_"):
                repairs = self._start(X, sample_weight)
            if step:
                repairs |= self._step(X, sample_weight)
        except Float32Overflow:  # float32 cannot hold this batch's squared deviations
            X = X.astype(np.float64)
            if not hasattr(self, "n_steps_") or self.n_steps_ == 0:
                repairs = self._start(X, sample_weight)
            if step:
                repairs |= self._step(X, sample_weight)
        if not step:
            self._publish(X.dtype)
        return repairs

    def _rho(self):
        """The step size rho_t of the next step (1 for the first: nothing to blend with)."""
        if self._stats is None:
            return 1.0
        return (self.learning_offset + self.n_steps_ + 1) ** -self.learning_decay

    def _blend(self, batch):
        """(running statistics blended with the next mini-batch's, step size rho_t)."""
        rho = self._rho()
        if self._stats is None:
            return batch, rho
        return self._stats.recentred(batch.centers).blend(batch, rho), rho

    def _advance(self, batch_bound, rho):
        """Count the step; lower_bound_: the mini-batches' bounds averaged by step sizes."""
        first = self.n_steps_ == 0
        self.n_steps_ += 1
        self.lower_bound_ = batch_bound if first else (1 - rho) * self.lower_bound_ + rho * batch_bound


class MiniBatchGaussianMixture(OnlineMixture):
    """Gaussian mixture fitted by online (stepwise) EM on mini-batches.

    ``partial_fit`` makes one stepwise-EM update per call, so a model can be
    fitted on a stream or on data that never sits in memory at once; ``fit``
    passes over shuffled mini-batches of X. Prediction methods and fitted
    attributes are those of :class:`emfast.GaussianMixture`.

    Each mini-batch goes through the same fused C++ pass as batch EM; its
    statistics s_bar (per unit of sample weight) are blended into the running
    statistics s, re-centred exactly on the current means, with the step size
    rho_t = (learning_offset + t) ** -learning_decay for the t-th mini-batch:
    s = (1 - rho_t) s + rho_t s_bar, followed by the same M-step as batch EM
    (Cappé and Moulines, 2009). The first mini-batch initialises the model.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariances, as in :class:`GaussianMixture`.
    batch_size : int, default=1024
        Rows per mini-batch in ``fit`` (at least ``n_components``).
    learning_decay : float, default=0.7
        The exponent kappa in [0, 1] of the step size
        rho_t = (learning_offset + t) ** -kappa; values in (0.5, 1] guarantee
        convergence. 0 replaces the statistics at every step.
    learning_offset : float, default=10.0
        The offset tau_0 >= 0 in the step size; larger values down-weight the early
        mini-batches.
    max_iter : int, default=100
        The maximum number of passes over X in ``fit``. 0 initialises the
        model from one mini-batch and takes no step (as
        ``GaussianMixture(max_iter=0)``).
    tol : float, default=1e-3
        ``fit`` stops when a pass changes the smoothed mini-batch
        log-likelihood (``lower_bound_``) by less than tol.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every covariance.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'kmeans_sample'}, default='kmeans'
        How the first mini-batch initialises the model, as in
        :class:`GaussianMixture`.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights, or None to compute them with ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means, or None to compute them with ``init_params``.
    precisions_init : array-like, default=None
        Initial precisions, shaped as in :class:`GaussianMixture`, or None to
        compute them with ``init_params``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling in ``fit`` and :meth:`sample`.
    verbose : int, default=0
        If positive, ``fit`` prints the smoothed log-likelihood after each
        pass.
    reseed_empty : bool, default=False
        If True, a component that loses all its samples in a step is moved to
        the mini-batch's worst-explained samples (with a
        :class:`DegenerateComponentWarning`), as :class:`GaussianMixture`
        does with ``reseed_empty=True``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each component.
    covariances_ : ndarray
        The covariance of each component, shaped as in
        :class:`GaussianMixture`.
    precisions_ : ndarray
        The inverses of ``covariances_``, of the same shape.
    precisions_cholesky_ : ndarray
        The Cholesky factors of ``precisions_``, of the same shape.
    n_steps_ : int
        The number of mini-batches seen (stepwise-EM updates made).
    n_iter_ : int
        The number of passes over X in the last ``fit``.
    converged_ : bool
        Whether the last ``fit`` converged within ``max_iter`` passes.
    lower_bound_ : float
        The smoothed mini-batch mean log-likelihood (an average with the step
        sizes rho_t).
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
    GaussianMixture : Batch EM on all the data at each iteration.
    sklearn.cluster.MiniBatchKMeans : The same idea for k-means.

    References
    ----------
    O. Cappé and E. Moulines, "On-line expectation-maximization algorithm for
    latent data models", Journal of the Royal Statistical Society B, 71(3),
    593-613, 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import MiniBatchGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, (2000, 2)), rng.normal(3, 1, (2000, 2))])
    >>> rng.shuffle(X)

    Feed a stream, one chunk at a time:

    >>> mb = MiniBatchGaussianMixture(n_components=2, random_state=0)
    >>> for chunk in np.array_split(X, 20):
    ...     mb = mb.partial_fit(chunk)
    >>> mb.n_steps_
    20
    >>> np.sort(mb.means_[:, 0]).round(1)
    array([-3.,  3.])

    Or let ``fit`` pass over shuffled mini-batches until convergence:

    >>> mb = MiniBatchGaussianMixture(2, batch_size=500, random_state=0).fit(X)
    >>> mb.converged_
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_decay": [Interval(Real, 0, 1, closed="both")],
        "learning_offset": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "reseed_empty": ["boolean"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        batch_size=1024,
        learning_decay=0.7,
        learning_offset=10.0,
        max_iter=100,
        tol=1e-3,
        reg_covar=1e-6,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        verbose=0,
        reseed_empty=False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.batch_size = batch_size
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.verbose = verbose
        self.reseed_empty = reseed_empty

    # ------------------------------------------------------------- the model

    def _start(self, X, sample_weight):
        """Initialise the model from the first mini-batch; returns the repairs made."""
        check_n_samples(X.shape[0], self.n_components, " in the first mini-batch")
        if not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        data = ArrayData(X, sample_weight)
        self._scale = data.scale()
        inits = self._check_initial_parameters(X.shape[1])
        self._params, jitter = initial_parameters(
            data, n_components=self.n_components, covariance_type=self.covariance_type,
            init_params=self.init_params, reg_covar=self.reg_covar, random_state=self._random_state,
            inits=inits, scale=self._scale,
        )
        self._params = self._start_family(self._params)
        self._stats = None
        self.n_steps_ = 0
        self.n_iter_ = 0
        self.converged_ = False
        self.lower_bounds_ = []
        return Repairs(jitter)

    def _step(self, X, sample_weight):
        """One stepwise-EM update from the mini-batch X (validated); returns the repairs."""
        cov = self.covariance_type
        # the model's mean is a point near the data: no pass over the batch for one
        data = ArrayData(X, sample_weight, shift=self._params.shift(X.dtype))
        raw = data.em_pass(self._params, cov, n_worst=self.n_components if self.reseed_empty else 0)
        batch = self._expected(raw, self._params).normalised()
        stats, rho = self._blend(batch)
        new, repairs, reseeded = maximise(
            stats, covariance_type=cov, reg_covar=self.reg_covar, scale=self._scale, n_samples=X.shape[0],
            data=data, worst_rows=raw.worst_row if self.reseed_empty else None,
        )
        self._maximise_family(stats, self._params, new)
        if len(reseeded):
            # give the re-seeded components statistics that match their new parameters
            stats = stats.recentred(new.means).replace_components(reseeded, self._stats_of(new))
        self._stats = stats
        self._params = new
        self._advance(batch.loglik, rho)
        self._publish(X.dtype)
        self.lower_bound_ = X.dtype.type(self.lower_bound_)
        return repairs

    def _publish(self, dtype):
        self._store_parameters(self._params, dtype)

    # Hooks for mixtures of other components (emfast._student_t.MiniBatchStudentTMixture):
    # the initial model, a pass's statistics as expectations, the family's own
    # maximisation, and statistics that map back to a model.
    def _start_family(self, params):
        return params

    def _expected(self, stats, params):
        return stats

    def _maximise_family(self, stats, params, new):
        pass

    def _stats_of(self, params):
        return Stats.of_params(params, self.covariance_type)
