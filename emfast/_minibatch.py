"""emfast.MiniBatchGaussianMixture: online (stepwise) EM with partial_fit.

Stepwise EM (Cappé & Moulines 2009) keeps
running sufficient statistics per unit of sample weight, s, and for the t-th
mini-batch (t counted from 1):

    s_bar = pass(batch, params) / sum(w)          the same C++ pass as batch EM
    rho   = (learning_offset + t) ** -learning_decay
    s     = (1 - rho) s + rho s_bar               after re-centring s exactly
    params = M-step(s)                            the same C++ M-step

The first mini-batch initialises the model (k-means or the *_init arrays) and
its statistics seed s.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ._data import ArrayData, Float32Overflow
from ._em import Repairs, maximise
from ._init import initial_parameters
from ._mixture import COVARIANCE_TYPES, GaussianMixtureBase
from ._native import core
from ._stats import Stats
from ._validation import as_kernel_input, blas_on_one_thread, check_n_samples, check_sample_weight, check_X


class OnlineMixture(GaussianMixtureBase):
    """The mini-batch machinery of emfast's online mixtures: ``partial_fit`` (one
    update per call, the first call initialising the model), ``fit`` (passes over
    shuffled mini-batches until the smoothed bound changes by less than tol) and
    the float32 fallback. A subclass supplies the model: ``_start`` (initialise
    from the first mini-batch), ``_step`` (one update) and ``_publish`` (the
    fitted attributes), each returning the Repairs made where it fits."""

    # ------------------------------------------------------------- public API

    def partial_fit(self, X, y=None, sample_weight=None):
        """One online update from the mini-batch X.

        The first call initialises the model from X (which then needs at least
        n_components rows).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        first = not hasattr(self, "n_steps_")
        if first:
            self._validate_params()
        X = check_X(self, X, reset=first)
        # weights as the passes take them; the given ones are sample_weight * _weight_scale
        sample_weight, self._weight_scale = check_sample_weight(sample_weight, X.shape[0], with_scale=True)
        if first:
            # MemoryError now for a model that cannot be allocated, before initialising
            core.plan_memory(X.shape[0], X.shape[1], self.n_components, self.covariance_type)
            with blas_on_one_thread():  # k-means++ seeding; later steps hardly use BLAS
                repairs = self._update(X, sample_weight)
        else:
            repairs = self._update(X, sample_weight)
        repairs.warn(self.reg_covar)
        return self

    def fit(self, X, y=None, sample_weight=None):
        """Fit by passes over shuffled mini-batches of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        self._validate_params()
        for attr in ("n_steps_", "_stats"):
            if hasattr(self, attr):
                delattr(self, attr)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = as_kernel_input(X)
        n_samples = X.shape[0]
        check_n_samples(n_samples, self.n_components)
        sample_weight, self._weight_scale = check_sample_weight(sample_weight, n_samples, with_scale=True)
        # a mini-batch must hold at least n_components rows to initialise from
        batch = max(min(self.batch_size, n_samples), self.n_components)
        # MemoryError now for a model that cannot be allocated, before any batch is
        # copied or the model initialised
        core.plan_memory(batch, X.shape[1], self.n_components, self.covariance_type)
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
        """Fit as ``fit`` does, then the component labels of X.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
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


    def _blend(self, batch):
        """The running statistics after the next mini-batch's (per unit weight, centred
        on the model's means): (statistics, step size rho_t)."""
        if self._stats is None:
            return batch, 1.0
        rho = (self.learning_offset + self.n_steps_ + 1) ** -self.learning_decay
        return self._stats.recentred(batch.centers).blend(batch, rho), rho

    def _advance(self, batch_bound, rho):
        """Count the step; lower_bound_ becomes the average of the mini-batches'
        bounds with the step sizes."""
        first = self.n_steps_ == 0
        self.n_steps_ += 1
        self.lower_bound_ = batch_bound if first else (1 - rho) * self.lower_bound_ + rho * batch_bound


class MiniBatchGaussianMixture(OnlineMixture):
    """Gaussian mixture fitted by online (stepwise) EM on mini-batches.

    ``partial_fit`` makes one stepwise-EM update per call, so a model can be
    fitted on a stream or on data that never sits in memory at once; ``fit``
    passes over shuffled mini-batches of X. Prediction methods and fitted
    attributes are those of :class:`emfast.GaussianMixture`.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    batch_size : int, default=1024
        Rows per mini-batch in ``fit``.
    learning_decay : float in [0, 1], default=0.7
        kappa in the step size rho_t = (learning_offset + t) ** -kappa; values in
        (0.5, 1] guarantee convergence. 0 replaces the statistics at every step.
    learning_offset : float >= 0, default=10.0
        tau_0; larger values down-weight the early mini-batches.
    max_iter : int, default=100
        Maximum number of passes over X in ``fit``. 0 initialises the model
        from one mini-batch and takes no step (as ``GaussianMixture(max_iter=0)``).
    tol : float, default=1e-3
        ``fit`` stops when a pass changes the smoothed mini-batch
        log-likelihood (``lower_bound_``) by less than tol.
    reg_covar : float, default=1e-6
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the first mini-batch initialises the model.
    weights_init, means_init, precisions_init : array-like, default=None
    random_state : int, RandomState instance or None, default=None
        Initialisation and the shuffling in ``fit``.
    verbose : int, default=0

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
    n_steps_ : int
        Mini-batches seen.
    n_iter_ : int
        Passes over X in the last ``fit``.
    converged_ : bool
    lower_bound_ : float
        Smoothed mini-batch mean log-likelihood (an average with the step sizes rho_t).
    lower_bounds_ : list of float
        ``lower_bound_`` at the end of each pass of the last ``fit``.
    n_features_in_, feature_names_in_
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
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
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
        raw = data.em_pass(self._params, cov, n_worst=self.n_components)
        batch = raw.normalised()
        stats, rho = self._blend(batch)
        new, repairs, reseeded = maximise(
            stats, covariance_type=cov, reg_covar=self.reg_covar, scale=self._scale, n_samples=X.shape[0],
            data=data, worst_rows=raw.worst_row,
        )
        if len(reseeded):
            # give the re-seeded components statistics that match their new parameters
            stats = stats.recentred(new.means).replace_components(reseeded, Stats.of_params(new, cov))
        self._stats = stats
        self._params = new
        self._advance(batch.loglik, rho)
        self._publish(X.dtype)
        self.lower_bound_ = X.dtype.type(self.lower_bound_)
        return repairs

    def _publish(self, dtype):
        self._set_parameters(self._params, dtype)
