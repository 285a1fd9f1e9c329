"""What every Gaussian mixture estimator of emfast shares: prediction,
scoring, sampling, model selection and the fitted attributes.

The estimators keep no numerical loop over samples in Python: each pass over
X is one call into the C++ kernels (``emfast._native.core``).
"""

import math

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._data import score_array
from ._native import core
from ._stats import Params
from ._validation import check_means, check_precisions, check_weights, check_X, is_dask_array

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


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

    def _fitted_params(self):
        """The fitted model as it scores: its attributes, in their dtype."""
        return Params(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params, dtype):
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
            self._set_parameters(params, np.float64)

    def _check_initial_parameters(self, n_features):
        """Validated copies of weights_init, means_init, precisions_init (or None)."""
        K = self.n_components
        w = m = p = None
        if self.weights_init is not None:
            w = check_weights(self.weights_init, K)
        if self.means_init is not None:
            m = check_means(self.means_init, K, n_features)
        if self.precisions_init is not None:
            p = check_precisions(self.precisions_init, self.covariance_type, K, n_features)
        return w, m, p

    def _current_parameters(self):
        """The fitted model in float64 (warm starts)."""
        return Params.of(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _predict_pass(self, X, what):
        """A read-only pass: NumPy in, NumPy out; dask in, lazy dask out."""
        check_is_fitted(self)
        if is_dask_array(X):
            from ._dask import DaskData

            return DaskData.for_predict(self, X).score(self._fitted_params(), self.covariance_type, what)
        try:
            n_samples = _num_samples(X)
        except TypeError:
            n_samples = None  # validation says what is wrong
        if n_samples is not None and getattr(self, "n_features_in_", 0) > 0:
            # an output that cannot be allocated is a MemoryError now, before the pass
            per_component = what in ("proba", "log_resp", "weighted_log_prob", "mahalanobis")
            core.plan_memory(n_samples, self.n_features_in_, len(self.weights_), self.covariance_type,
                             len(self.weights_) if per_component else 1)
        X = check_X(self, X, reset=False)
        if X.dtype == np.float32 and self.means_.dtype != np.float32:
            # a float64 model (float32 could not hold it) scores in float64, as
            # scikit-learn's outputs are float64 for float32 X and a float64 model
            X = X.astype(np.float64)
        return score_array(X, self._fitted_params(), self.covariance_type, what)

    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Log-likelihood of each sample under the current model.
        """
        return self._predict_pass(X, "log_prob_norm")

    def score(self, X, y=None):
        """Compute the per-sample average log-likelihood of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Predict the component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._predict_pass(X, "predict")

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._predict_pass(X, "proba")

    def mahalanobis(self, X):
        """Squared Mahalanobis distance of each sample to each component.

        Computed from the precision Cholesky factors, never from inverses:
        ``d2[i, k] = ||(x_i - mu_k) P_k||^2``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        d2 : ndarray of shape (n_samples, n_components)
        """
        return self._predict_pass(X, "mahalanobis")

    def sample(self, n_samples=1):
        """Generate random samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % (self.n_components)
            )
        rng = check_random_state(self.random_state)
        # renormalised in float64: float32 weights may sum to 1 + 1e-8 there, which
        # numpy's multinomial refuses (so does scikit-learn's sample)
        pvals = np.asarray(self.weights_, dtype=np.float64)
        n_samples_comp = rng.multinomial(n_samples, pvals / pvals.sum())
        y = np.concatenate(
            [np.full(sample, j, dtype=np.int64) for j, sample in enumerate(n_samples_comp)]
        )
        return np.asarray(self._draw(rng, n_samples_comp, y), dtype=np.float64), y

    def _draw(self, rng, n_samples_comp, y):
        """n_samples_comp[k] draws of each component k in turn (y: their labels)."""
        _, n_features = self.means_.shape
        if self.covariance_type == "full":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, covariance, int(sample))
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        elif self.covariance_type == "tied":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, self.covariances_, int(sample))
                    for (mean, sample) in zip(self.means_, n_samples_comp)
                ]
            )
        else:
            X = np.vstack(
                [
                    mean + rng.standard_normal(size=(sample, n_features)) * np.sqrt(covariance)
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
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

    def bic(self, X):
        """Bayesian information criterion for the current model on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion for the current model on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()
