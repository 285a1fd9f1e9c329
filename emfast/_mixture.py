"""What every Gaussian mixture estimator of emfast shares: prediction,
scoring, sampling, model selection and the fitted attributes.

The estimators keep no numerical loop over samples in Python: each pass over
X is one call into the C++ kernels (``emfast._native.core``).
"""

import math

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._array_api import array_api_method, from_numpy, namespace, numpy_attribute
from ._data import score_array
from ._native import core
from ._stats import Params
from ._validation import (
    check_means,
    check_precisions,
    check_sample_weight,
    check_weights,
    check_X,
    is_dask_array,
    validate_params,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
# scikit-learn's initialisations, and emfast's k-means on a sample for data too large for its k-means
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "kmeans_sample")


def representable(a, dtype, positive_diagonal=False, positive=False, positive_definite=False):
    """Whether float64 `a` stays finite in dtype, with positive entries or diagonals, or
    positive definite (matrices), if asked."""
    with np.errstate(over="ignore", under="ignore"):
        b = np.asarray(a, dtype=dtype)
    if not np.isfinite(b).all():
        return False
    if positive_definite:
        try:
            np.linalg.cholesky(np.asarray(b, dtype=np.float64))
        except np.linalg.LinAlgError:
            return False
    if positive_diagonal:
        b = np.diagonal(b, axis1=-2, axis2=-1)
    return bool((b > 0).all()) if positive or positive_diagonal else True


class GaussianMixtureBase(DensityMixin, BaseEstimator):
    """Prediction and model-selection methods shared by emfast's Gaussian mixtures."""

    def _validate_params(self):
        validate_params(self)

    def _fitted_params(self):
        """The fitted model as it scores: its attributes, in their dtype."""
        names = ("weights_", "means_", "covariances_", "precisions_cholesky_")
        return Params(*(numpy_attribute(getattr(self, name)) for name in names))

    def _store_parameters(self, params, dtype):
        """Set the fitted attributes, in the dtype of the training data if it can hold them.

        float32 cannot hold every model (variances beyond 1e38 or below 1e-38, or
        covariances so ill-conditioned that rounding them to float32 leaves them
        indefinite); such a model keeps float64 attributes. The attributes are always new
        arrays, never views of *_init arrays or of anything else given.
        """
        if dtype != np.float64:
            matrices = self.covariance_type in ("full", "tied")
            if not (
                representable(params.weights, dtype, positive=True)
                and representable(params.means, dtype)
                and representable(params.covariances, dtype, matrices, not matrices, matrices)
                and representable(params.precisions_cholesky, dtype, matrices, not matrices)
            ):
                dtype = np.float64
        cast = lambda a: np.array(a, dtype=dtype, copy=True)  # noqa: E731
        self.weights_ = cast(params.weights)
        self.means_ = cast(params.means)
        self.covariances_ = cast(params.covariances)
        self.precisions_cholesky_ = cast(params.precisions_cholesky)
        pc = self.precisions_cholesky_
        if self.covariance_type == "full":
            self.precisions_ = np.matmul(pc, np.swapaxes(pc, 1, 2))
        elif self.covariance_type == "tied":
            self.precisions_ = pc @ pc.T
        else:
            self.precisions_ = pc**2
        if dtype != np.float64 and not np.isfinite(self.precisions_).all():
            self._store_parameters(params, np.float64)

    def _check_initial_parameters(self, n_features):
        """Validated copies of weights_init, means_init, precisions_init (or None)."""
        K = self.n_components
        w = m = p = None
        if self.weights_init is not None:
            w = check_weights(numpy_attribute(self.weights_init), K)
        if self.means_init is not None:
            m = check_means(numpy_attribute(self.means_init), K, n_features)
        if self.precisions_init is not None:
            p = check_precisions(numpy_attribute(self.precisions_init), self.covariance_type, K, n_features)
        return w, m, p

    def _current_parameters(self):
        """The fitted model in float64 (warm starts)."""
        p = self._fitted_params()
        return Params.of(p.weights, p.means, p.covariances, p.precisions_cholesky)

    def _predict_pass(self, X, what, params=None):
        """A read-only pass of the fitted model (or of `params`): NumPy in, NumPy
        out; dask in, lazy dask out."""
        check_is_fitted(self)
        params = self._fitted_params() if params is None else params
        if is_dask_array(X):
            from ._dask import DaskData

            return DaskData.for_predict(self, X).score(params, self.covariance_type, what)
        try:
            n_samples = _num_samples(X)
        except TypeError:
            n_samples = None  # validation says what is wrong
        if n_samples is not None and getattr(self, "n_features_in_", 0) > 0:
            # an output that cannot be allocated is a MemoryError now, before the pass
            per_component = what in ("proba", "log_resp", "weighted_log_prob", "mahalanobis")
            n_components = self.means_.shape[0]
            core.plan_memory(n_samples, self.n_features_in_, n_components, self.covariance_type,
                             n_components if per_component else 1)
        X = check_X(self, X, reset=False)
        if X.dtype == np.float32 and params.means.dtype != np.float32:
            # a float64 model (float32 could not hold it) scores in float64, as
            # scikit-learn's outputs are float64 for float32 X and a float64 model
            X = X.astype(np.float64)
        return score_array(X, params, self.covariance_type, what)

    # scikit-learn's private methods that public code built on its mixtures calls,
    # with its signatures and results, computed by the kernels

    # (xp: scikit-learn >= 1.8's argument, its namespace; here X's is used)

    def _estimate_log_weights(self, xp=None):
        log_weights = np.log(self._fitted_params().weights)
        where = namespace(self.weights_)
        return log_weights if where is None else from_numpy(log_weights, *where)

    @array_api_method
    def _estimate_log_prob(self, X, xp=None):
        """log N(x | mu_k, Sigma_k) of every sample and component."""
        unweighted = self._fitted_params()
        unweighted.weights = np.ones(len(unweighted.weights))
        return self._predict_pass(X, "weighted_log_prob", unweighted)

    @array_api_method
    def _estimate_weighted_log_prob(self, X, xp=None):
        """log pi_k + log N(x | mu_k, Sigma_k) of every sample and component."""
        return self._predict_pass(X, "weighted_log_prob")

    @array_api_method
    def _estimate_log_prob_resp(self, X, xp=None):
        """(log p(x), log responsibilities), as scikit-learn computes them."""
        weighted = self._estimate_weighted_log_prob(X)
        log_prob_norm = logsumexp(weighted, axis=1)
        with np.errstate(under="ignore"):
            log_resp = weighted - log_prob_norm[:, np.newaxis]
        return log_prob_norm, log_resp

    @array_api_method
    def _e_step(self, X, xp=None):
        """(mean log p(x), log responsibilities)."""
        log_prob_norm, log_resp = self._estimate_log_prob_resp(X)
        return np.mean(log_prob_norm), log_resp

    @array_api_method
    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            The log of the mixture's density at each sample, log p(x).
        """
        return self._predict_pass(X, "log_prob_norm")

    def _total_log_likelihood(self, X, sample_weight):
        """(sum of w log p(x), sum of w) over X, unit weights by default."""
        log_prob = self.score_samples(X)
        if sample_weight is None:
            return float(np.sum(log_prob)), float(np.shape(X)[0])
        sw = check_sample_weight(sample_weight, np.shape(X)[0])
        return float(np.dot(sw, np.asarray(log_prob, dtype=np.float64))), float(sw.sum())

    @array_api_method
    def score(self, X, y=None, sample_weight=None):
        """Compute the per-sample average log-likelihood of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (an integer weight w counts the sample w
            times): the weighted mean is returned.

        Returns
        -------
        log_likelihood : float
            The (weighted) mean of :meth:`score_samples` over X.
        """
        if sample_weight is None:
            return float(np.mean(self.score_samples(X)))
        total, weight = self._total_log_likelihood(X, sample_weight)
        return total / weight

    @array_api_method
    def predict(self, X):
        """Predict the component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The index of the most probable component of each sample.
        """
        return self._predict_pass(X, "predict")

    @array_api_method
    def predict_proba(self, X):
        """Compute the posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            The responsibilities P(component k | x); each row sums to 1.
        """
        return self._predict_pass(X, "proba")

    @array_api_method
    def mahalanobis(self, X):
        """Compute the squared Mahalanobis distance of each sample to each component.

        Computed from the precision Cholesky factors, never from inverses:
        ``d2[i, k] = ||(x_i - mu_k) P_k||^2``, which equals
        ``scipy.spatial.distance.mahalanobis(x_i, mu_k, precisions_[k]) ** 2``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples: a NumPy array or memory map (scored without a copy),
            or a Dask array (the result is then a lazy Dask array).

        Returns
        -------
        d2 : ndarray of shape (n_samples, n_components)
            The squared distance of each sample to each component's mean in
            the metric of that component's precision.

        Examples
        --------
        >>> import numpy as np
        >>> from emfast import GaussianMixture
        >>> gm = GaussianMixture(2, covariance_type="spherical", random_state=0)
        >>> gm = gm.fit([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
        >>> d2 = gm.mahalanobis([[0.0, 1.0]])
        >>> bool(np.isclose(d2.min(), 0.0))
        True
        """
        return self._predict_pass(X, "mahalanobis")

    def sample(self, n_samples=1):
        """Generate random samples from the fitted mixture.

        The random numbers come from ``random_state``, as in scikit-learn.

        Parameters
        ----------
        n_samples : int, default=1
            The number of samples to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % (self.n_components)
            )
        params = self._fitted_params()
        rng = check_random_state(self.random_state)
        # renormalised in float64: float32 weights may sum to 1 + 1e-8 there, which
        # numpy's multinomial refuses (so does scikit-learn's sample)
        pvals = np.asarray(params.weights, dtype=np.float64)
        n_samples_comp = rng.multinomial(n_samples, pvals / pvals.sum())
        y = np.concatenate(
            [np.full(sample, j, dtype=np.int64) for j, sample in enumerate(n_samples_comp)]
        )
        X = np.asarray(self._draw(rng, n_samples_comp, y, params), dtype=np.float64)
        where = namespace(self.means_)  # fitted on array API inputs: in their namespace
        return (X, y) if where is None else from_numpy((X, y), *where)

    def _draw(self, rng, n_samples_comp, y, params):
        """n_samples_comp[k] draws of each component k of params in turn (y: their labels)."""
        _, n_features = params.means.shape
        if self.covariance_type == "full":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, covariance, int(sample))
                    for (mean, covariance, sample) in zip(
                        params.means, params.covariances, n_samples_comp
                    )
                ]
            )
        elif self.covariance_type == "tied":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, params.covariances, int(sample))
                    for (mean, sample) in zip(params.means, n_samples_comp)
                ]
            )
        else:
            X = np.vstack(
                [
                    mean + rng.standard_normal(size=(sample, n_features)) * np.sqrt(covariance)
                    for (mean, covariance, sample) in zip(
                        params.means, params.covariances, n_samples_comp
                    )
                ]
            )
        return X

    def _n_parameters(self):
        _, n_features = self.means_.shape
        if self.covariance_type == "full":
            cov_params = self.n_components * n_features * (n_features + 1) / 2.0
        elif self.covariance_type == "diag":
            cov_params = self.n_components * n_features
        elif self.covariance_type == "tied":
            cov_params = n_features * (n_features + 1) / 2.0
        else:
            cov_params = self.n_components
        mean_params = n_features * self.n_components
        return int(cov_params + mean_params + self.n_components - 1)

    @array_api_method
    def bic(self, X, sample_weight=None):
        """Compute the Bayesian information criterion of the model on X.

        ``-2 * log-likelihood(X) + n_parameters * log(n_samples)``; lower is
        better. Use it to choose ``n_components`` or ``covariance_type``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: the criterion of the data with each sample
            counted w times (the log-likelihood is weighted and n_samples is
            the total weight), so a weighted fit can be selected by it.

        Returns
        -------
        bic : float
            The criterion (lower is better).
        """
        if sample_weight is None:
            n = np.shape(X)[0]
            return -2 * self.score(X) * n + self._n_parameters() * math.log(n)
        total, weight = self._total_log_likelihood(X, sample_weight)
        return -2 * total + self._n_parameters() * math.log(weight)

    @array_api_method
    def aic(self, X, sample_weight=None):
        """Compute the Akaike information criterion of the model on X.

        ``-2 * log-likelihood(X) + 2 * n_parameters``; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: the log-likelihood of the data with each
            sample counted w times.

        Returns
        -------
        aic : float
            The criterion (lower is better).
        """
        if sample_weight is None:
            n = np.shape(X)[0]
            return -2 * self.score(X) * n + 2 * self._n_parameters()
        total, _ = self._total_log_likelihood(X, sample_weight)
        return -2 * total + 2 * self._n_parameters()
