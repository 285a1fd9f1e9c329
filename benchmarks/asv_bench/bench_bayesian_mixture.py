"""BayesianGaussianMixture and its online variant: fit, one variational iteration,
predict_proba, score_samples, one partial_fit step.

Parametrised over covariance type, dtype and OpenMP thread count; track_
benchmarks record the final lower bound so that a change in the numbers shows
up next to a change in speed.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from emfast import BayesianGaussianMixture, MiniBatchBayesianGaussianMixture
from emfast._data import ArrayData
from emfast._variational import VariationalEM

from .common import COVARIANCE_TYPES, D, DTYPES, K, N, THREADS, make_data, quiet


class _Base:
    params = (COVARIANCE_TYPES, DTYPES, THREADS)
    param_names = ["covariance_type", "dtype", "threads"]
    timeout = 300

    def setup(self, covariance_type, dtype, threads):
        quiet()
        self.X = make_data(N, D, K, dtype)
        self.limits = threadpool_limits(threads, user_api="openmp")
        self.model = BayesianGaussianMixture(n_components=K, covariance_type=covariance_type, random_state=0)

    def teardown(self, *args):
        self.limits.restore_original_limits()


class Fit(_Base):
    """A whole default fit (k-means initialisation included)."""

    def time_fit(self, *args):
        self.model.fit(self.X)

    def peakmem_fit(self, *args):
        self.model.fit(self.X)

    def track_lower_bound(self, *args):
        return float(self.model.fit(self.X).lower_bound_) / len(self.X)

    track_lower_bound.unit = "nats/sample"


class VariationalIteration(_Base):
    """One iteration: one fused pass over X, the variational M-step and the lower bound."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.model.set_params(max_iter=2).fit(self.X)
        self.posterior = self.model._current_posterior()
        self.data = ArrayData(self.X)
        self.vi = VariationalEM(self.model._prior(self.data), self.model.reg_covar, 1.0)

    def time_iteration(self, *args):
        self.vi.step(self.data, self.posterior)

    def peakmem_iteration(self, *args):
        self.vi.step(self.data, self.posterior)


class Predict(_Base):
    """Read-only passes over X with a fitted posterior."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.model.set_params(max_iter=5).fit(self.X)

    def time_predict_proba(self, *args):
        self.model.predict_proba(self.X)

    def time_score_samples(self, *args):
        self.model.score_samples(self.X)


class OnlineStep(_Base):
    """One partial_fit (stochastic variational inference step) on 2048 rows."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.online = MiniBatchBayesianGaussianMixture(n_components=K, covariance_type=covariance_type,
                                                       random_state=0)
        rows = min(2048, len(self.X) // 2)
        self.online.partial_fit(self.X[:rows])
        self.batch = np.ascontiguousarray(self.X[rows : 2 * rows])

    def time_partial_fit(self, *args):
        self.online.partial_fit(self.batch)
