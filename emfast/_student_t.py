"""emfast.StudentTMixture: mixtures of multivariate Student-t distributions.

A t component is a Gaussian whose covariance is divided, row by row, by a
latent scale u ~ Gamma(nu / 2, nu / 2): rows far from a component get a small
u and hardly move its mean or scale matrix, so outliers cannot capture it.
Fitted by the ECM algorithm of Peel & McLachlan (2000) (Liu & Rubin 1995 for
the degrees of freedom). The E-step is emfast's Gaussian pass with the
t log-density

    L_k = log pi_k + log Gamma((nu + D) / 2) - log Gamma(nu / 2) - D/2 log(nu pi)
          + log det P_k - (nu + D) / 2 log(1 + delta^2 / nu),

and statistics weighted by w r u, u = (nu + D) / (nu + delta^2), plus the
per-component sums of w r and of w r (log u - u + 1) (emfast._stats). The
conditional maximisations:

    pi_k  = sum w r / sum w,     mu_k = sum w r u x / sum w r u,
    Sigma_k = sum w r u (x - mu_k)(x - mu_k)^T / sum w r      (the C++ M-step)
    nu_k: the root of log(nu / 2) - psi(nu / 2) + E_k = 0, with
          E_k = [sum w r (log u - u + 1)] / sum w r + psi((nu_old + D) / 2) - log((nu_old + D) / 2)

(E[log u | x] = log u + psi((nu + D) / 2) - log((nu + D) / 2)); nu is kept in
[DOF_MIN, DOF_MAX].
"""

from numbers import Real

import numpy as np
from scipy.special import digamma, zeta
from sklearn.utils._param_validation import Interval, StrOptions

from ._em import GaussianEM, Step
from ._gaussian_mixture import GaussianMixture
from ._minibatch import MiniBatchGaussianMixture
from ._mixture import GaussianMixtureBase
from ._stats import Stats
from ._validation import unchanged_on_error

# the range of fitted degrees of freedom: down to tails heavy enough for a component
# that takes in outliers (below 1 a t has no mean), bounded away from 0, where rows
# at a component's centre can make the likelihood grow without bound; beyond 1e4 a
# t is a Gaussian to within float32 resolution
DOF_MIN, DOF_MAX = 0.5, 1e4


def expected(stats, dofs):
    """A pass's statistics with log_scale = sum w r (E[log u | x] - E[u | x] + 1)
    under the pass's dofs: what the nu update takes, and what online ECM averages."""
    a = (np.asarray(dofs, dtype=np.float64) + stats.s1.shape[1]) / 2
    return stats.replaced(log_scale=stats.log_scale + stats.resp * (digamma(a) - np.log(a)))


def update_dofs(resp, expected, dofs):
    """The ECM's maximisation over nu, per component: the root of
    log(nu / 2) - psi(nu / 2) + expected / resp = 0 within [DOF_MIN, DOF_MAX].
    A component without responsibility keeps its nu."""
    new = np.array(dofs, dtype=np.float64)
    active = np.flatnonzero(resp > 0)
    if len(active):
        new[active] = dof_root(expected[active] / resp[active], new[active])
    return new


def dof_root(c, start):
    """nu in [DOF_MIN, DOF_MAX] with log(nu / 2) - psi(nu / 2) + c = 0, for all
    components at once. In y = 1 / nu the function, g(y) = -log(2 y) - psi(1 / (2 y)) + c,
    is increasing with a slope near 1 over the whole range: Newton from the old nu,
    kept within a shrinking bracket (bisection where a step would leave it)."""
    def g(y):
        return -np.log(2 * y) - digamma(0.5 / y) + c

    lo, hi = np.full_like(c, 1 / DOF_MAX), np.full_like(c, 1 / DOF_MIN)
    below, above = g(lo) >= 0, g(hi) <= 0  # the root lies outside the range
    y = 1 / np.clip(start, DOF_MIN, DOF_MAX)
    for _ in range(100):
        gy = g(y)
        lo, hi = np.where(gy < 0, y, lo), np.where(gy < 0, hi, y)
        # g'(y) = psi'(1 / (2 y)) / (2 y^2) - 1 / y, with psi'(x) = zeta(2, x)
        step = y - gy / (zeta(2.0, 0.5 / y) / (2 * y * y) - 1 / y)
        new = np.where((step >= lo) & (step <= hi), step, (lo + hi) / 2)
        # Newton converges quadratically: after a step this small, y is exact to rounding
        done = np.abs(new - y) <= 1e-9 * y
        y = new
        if done.all():
            break
    return np.where(below, DOF_MAX, np.where(above, DOF_MIN, 1 / y))


class StudentTComponents:
    """What Student-t components add to emfast's Gaussian mixture estimators:
    the degrees of freedom (parameters dof, dof_init; attribute dofs_), a t
    sampler, their parameter count, and the online ECM hooks of
    emfast._minibatch.MiniBatchGaussianMixture."""

    def _fits_dofs(self):
        return isinstance(self.dof, str)

    def _initial_dofs(self):
        """The starting nu of every component (a ValueError for a non-finite dof or dof_init)."""
        for name, value in (("dof", 1.0 if self._fits_dofs() else self.dof), ("dof_init", self.dof_init)):
            if not np.isfinite(value):
                raise ValueError(f"The '{name}' parameter of {type(self).__name__} must be finite; got {value}.")
        return np.full(self.n_components, float(self.dof_init if self._fits_dofs() else self.dof))

    def _fitted_params(self):
        params = super()._fitted_params()
        params.dofs = self.dofs_
        return params

    def _current_parameters(self):
        params = super()._current_parameters()
        params.dofs = np.array(self.dofs_, dtype=np.float64)
        return params

    def _store_parameters(self, params, dtype):
        super()._store_parameters(params, dtype)
        self.dofs_ = np.array(params.dofs, dtype=np.float64)

    def _draw(self, rng, n_samples_comp, y, params):
        """Gaussian draws about each mean, divided by sqrt(u), u ~ Gamma(nu/2, rate nu/2)."""
        X = super()._draw(rng, n_samples_comp, y, params)
        nu = self.dofs_[y]
        u = rng.gamma(nu / 2, 2 / nu)
        means = np.asarray(params.means, dtype=np.float64)[y]
        return means + (X - means) / np.sqrt(u)[:, None]

    def _n_parameters(self):
        """As for a Gaussian mixture, plus the fitted degrees of freedom."""
        return super()._n_parameters() + (self.n_components if self._fits_dofs() else 0)

    # online ECM (stepwise: the averaged statistics are expectations under each batch's model)
    def _start_family(self, params):
        params.dofs = self._initial_dofs()
        return params

    def _expected(self, stats, params):
        return expected(stats, params.dofs)

    def _maximise_family(self, stats, params, new):
        new.dofs = update_dofs(stats.resp, stats.log_scale, params.dofs) if self._fits_dofs() else params.dofs.copy()

    def _stats_of(self, params):
        """Statistics that the M-step and the nu update map back to params (u = 1)."""
        stats = Stats.of_params(params, self.covariance_type)
        half = params.dofs / 2
        return stats.replaced(resp=stats.s0.copy(), log_scale=stats.s0 * (digamma(half) - np.log(half)))


class StudentTECM:
    """Batch ECM for the Student-t mixture: one fused pass and the conditional
    maximisations per iteration (the state is a Params with dofs). The pass and
    the M-step are GaussianEM's (the pass gives the t's statistics when params
    has dofs); no native loop (GaussianEM.run) serves it."""

    def __init__(self, covariance_type, reg_covar, scale, n_samples, fit_dofs, reseed=False):
        self.em = GaussianEM(covariance_type, reg_covar, scale, n_samples, reseed)
        self.fit_dofs = fit_dofs

    def step(self, data, params):
        """(new params, mean log-likelihood of the old params) and the repairs made."""
        stats, new, repairs, reseeded = self.em.pass_and_maximise(data, params)
        stats = expected(stats, params.dofs)
        new.dofs = update_dofs(stats.resp, stats.log_scale, params.dofs) if self.fit_dofs else params.dofs.copy()
        return Step(new, stats.loglik / stats.weight, repairs, bool(len(reseeded)))


class StudentTMixture(StudentTComponents, GaussianMixtureBase):
    """Mixture of multivariate Student-t distributions, fitted by ECM in C++.

    Heavy-tailed components: rows far from a component get a small latent
    scale weight u = (nu + D) / (nu + delta^2) in its mean and scale matrix, so
    a few outliers cannot capture a component or inflate it (Peel & McLachlan
    2000; the degrees of freedom by ECM, Liu & Rubin 1995). The API is that of
    :class:`GaussianMixture` (``sample_weight`` as repetition, float32 end to
    end, memory maps and Dask arrays, thread-count-independent results, the
    same repairs of degenerate fits), with the degrees of freedom ``dofs_`` as
    one more parameter per component. Each iteration is one pass of the same
    fused kernels (the t's log-density and u on top of the Gaussian
    Mahalanobis distances) and the same C++ M-step.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the scale matrices, as for :class:`GaussianMixture`.
    dof : 'fit' or float, default='fit'
        The degrees of freedom nu of every component: fitted per component
        (within [0.5, 1e4]), or fixed at this positive value.
    dof_init : float, default=10.0
        The initial nu of every component when ``dof='fit'``.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of the scale matrices.
    max_iter : int, default=100
        The maximum number of ECM iterations per initialisation.
    n_init : int, default=1
        The number of initialisations; the best (highest likelihood) is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'kmeans_sample'}, default='kmeans'
        As for :class:`GaussianMixture`: the initial model is the Gaussian
        M-step of the initial responsibilities (u = 1), with ``dof_init``.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights, or None to compute them with ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means, or None to compute them with ``init_params``.
    precisions_init : array-like, default=None
        Inverses of the initial scale matrices, shaped as for
        :class:`GaussianMixture`, or None to compute them with ``init_params``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, each ``fit`` starts from the model of the previous one.
    verbose : int, default=0
        Verbose messages as for :class:`GaussianMixture`.
    verbose_interval : int, default=10
        The number of iterations between two printed iterations.
    reseed_empty : bool, default=False
        Re-seed components that lose all their samples, as for
        :class:`GaussianMixture`.
    callback : callable, default=None
        Progress reports while fitting, as for :class:`GaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The location of each component.
    covariances_ : ndarray
        The scale matrices Sigma_k (a t's covariance is nu / (nu - 2) Sigma_k
        for nu > 2), shaped as for :class:`GaussianMixture`.
    precisions_ : ndarray
        The inverses of the scale matrices.
    precisions_cholesky_ : ndarray
        The Cholesky factors of ``precisions_``.
    dofs_ : ndarray of shape (n_components,)
        The degrees of freedom nu_k (float64).
    converged_ : bool
        Whether the best initialisation converged within ``max_iter``.
    n_iter_ : int
        The number of ECM iterations of the best initialisation.
    lower_bound_ : float
        The mean log-likelihood of the model of the last iteration's E-step.
    lower_bounds_ : list of float
        ``lower_bound_`` at each iteration of the best initialisation.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    GaussianMixture : Gaussian components (the limit nu -> infinity).
    MiniBatchStudentTMixture : The same model fitted by online ECM.
    GaussianMixtureClassifier : With ``family='student_t'``, one Student-t
        mixture per class.

    Examples
    --------
    Two clusters and a few far outliers: the outliers barely move the t's
    means, while they drag a Gaussian mixture's (started from samples, as
    k-means would give the outliers a cluster of their own):

    >>> import numpy as np
    >>> from emfast import GaussianMixture, StudentTMixture
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2)),
    ...                rng.uniform(-80, 80, (10, 2))])
    >>> start = dict(init_params="random_from_data", n_init=5, random_state=0)
    >>> np.round(np.sort(StudentTMixture(2, **start).fit(X).means_[:, 0]), 1)
    array([-0.1,  7.9])
    >>> np.round(np.sort(GaussianMixture(2, **start).fit(X).means_[:, 0]), 1)
    array([1.4, 3.9])
    """

    _parameter_constraints: dict = {
        **GaussianMixture._parameter_constraints,
        "dof": [StrOptions({"fit"}), Interval(Real, 0, None, closed="neither")],
        "dof_init": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        dof="fit",
        dof_init=10.0,
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        reseed_empty=False,
        callback=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.dof = dof
        self.dof_init = dof_init
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.reseed_empty = reseed_empty
        self.callback = callback

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the ECM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data: a NumPy array, a memory map or a Dask array.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight w is equivalent to
            repeating the sample w times.

        Returns
        -------
        self : StudentTMixture
            The fitted estimator.
        """
        with unchanged_on_error(self):
            self._fit(X, sample_weight)
        return self

    def _em_model(self, scale, n_samples):
        self._initial_dofs()  # dof and dof_init checked before any work
        return StudentTECM(self.covariance_type, self.reg_covar, scale, n_samples, self._fits_dofs(), self.reseed_empty)

    # validation, Dask arrays, the float32 -> float64 refit, scikit-learn's EM loop
    # with the model above: as GaussianMixture
    _fit = GaussianMixture._fit
    _fit_data = GaussianMixture._fit_data
    fit_predict = GaussianMixture.fit_predict


class MiniBatchStudentTMixture(StudentTComponents, MiniBatchGaussianMixture):
    """Mixture of Student-t distributions fitted by online (stepwise) ECM.

    :class:`MiniBatchGaussianMixture`'s steps with Student-t components: each
    mini-batch's pass gives the ECM statistics (u-weighted moments and the
    expectations the degrees of freedom need), which are averaged with step
    size rho_t, then the conditional maximisations of
    :class:`StudentTMixture` run on the averages. ``partial_fit`` makes one
    step per call.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the scale matrices.
    dof : 'fit' or float, default='fit'
        The degrees of freedom of every component, fitted or fixed, as for
        :class:`StudentTMixture`.
    dof_init : float, default=10.0
        The initial degrees of freedom when ``dof='fit'``.
    batch_size : int, default=1024
        Rows per mini-batch in ``fit``.
    learning_decay : float, default=0.7
        The exponent kappa of the step size rho_t = (learning_offset + t) ** -kappa.
    learning_offset : float, default=10.0
        The offset tau_0 of the step size.
    max_iter : int, default=100
        The maximum number of passes over X in ``fit``.
    tol : float, default=1e-3
        ``fit`` stops when a pass changes the smoothed log-likelihood by less.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of the scale matrices.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'kmeans_sample'}, default='kmeans'
        How the first mini-batch initialises the model.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights, or None to compute them with ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means, or None to compute them with ``init_params``.
    precisions_init : array-like, default=None
        Inverses of the initial scale matrices, or None.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling in ``fit`` and :meth:`sample`.
    verbose : int, default=0
        If positive, ``fit`` prints the smoothed log-likelihood after each pass.
    reseed_empty : bool, default=False
        Re-seed components that lose all their samples, as for
        :class:`MiniBatchGaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The location of each component.
    covariances_ : ndarray
        The scale matrices.
    precisions_ : ndarray
        The inverses of the scale matrices.
    precisions_cholesky_ : ndarray
        The Cholesky factors of ``precisions_``.
    dofs_ : ndarray of shape (n_components,)
        The degrees of freedom of each component.
    n_steps_ : int
        Mini-batches seen.
    n_iter_ : int
        Passes over X in the last ``fit``.
    converged_ : bool
        Whether the last ``fit`` converged.
    lower_bound_ : float
        The smoothed mini-batch mean log-likelihood.
    lower_bounds_ : list of float
        ``lower_bound_`` at the end of each pass of the last ``fit``.
    n_features_in_ : int
        The number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The names of the features seen during ``fit``, when X has feature
        names that are all strings.

    See Also
    --------
    StudentTMixture : The batch ECM fit of the same model.
    MiniBatchGaussianMixture : Online EM with Gaussian components.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import MiniBatchStudentTMixture
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.standard_t(3, (500, 2)), rng.standard_t(3, (500, 2)) + 10])
    >>> tm = MiniBatchStudentTMixture(2, batch_size=200, random_state=0)
    >>> for batch in np.array_split(rng.permutation(X), 5):
    ...     tm = tm.partial_fit(batch)
    >>> np.round(np.sort(tm.means_[:, 0]))
    array([ 0., 10.])
    """

    _parameter_constraints: dict = {
        **MiniBatchGaussianMixture._parameter_constraints,
        "dof": StudentTMixture._parameter_constraints["dof"],
        "dof_init": StudentTMixture._parameter_constraints["dof_init"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        dof="fit",
        dof_init=10.0,
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
        super().__init__(
            n_components, covariance_type=covariance_type, batch_size=batch_size, learning_decay=learning_decay,
            learning_offset=learning_offset, max_iter=max_iter, tol=tol, reg_covar=reg_covar,
            init_params=init_params, weights_init=weights_init, means_init=means_init,
            precisions_init=precisions_init, random_state=random_state, verbose=verbose,
            reseed_empty=reseed_empty,
        )
        self.dof = dof
        self.dof_init = dof_init
