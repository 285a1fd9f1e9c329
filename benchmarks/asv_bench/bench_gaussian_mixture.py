"""GaussianMixture: fit, one EM iteration, predict_proba, score_samples.

Parametrised over covariance type, dtype and OpenMP thread count; track_
benchmarks record the final lower bound so that a change in the numbers shows
up next to a change in speed.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from emfast import GaussianMixture

from .common import COVARIANCE_TYPES, D, DTYPES, K, N, THREADS, em_iteration, make_data, quiet


class _Base:
    params = (COVARIANCE_TYPES, DTYPES, THREADS)
    param_names = ["covariance_type", "dtype", "threads"]
    timeout = 300

    def setup(self, covariance_type, dtype, threads):
        quiet()
        self.X = make_data(N, D, K, dtype)
        self.limits = threadpool_limits(threads, user_api="openmp")
        self.model = GaussianMixture(K, covariance_type=covariance_type, random_state=0)

    def teardown(self, *args):
        self.limits.restore_original_limits()


class Fit(_Base):
    """A whole default fit (k-means initialisation included)."""

    def time_fit(self, *args):
        self.model.fit(self.X)

    def peakmem_fit(self, *args):
        self.model.fit(self.X)

    def track_lower_bound(self, *args):
        return float(self.model.fit(self.X).lower_bound_)

    track_lower_bound.unit = "nats/sample"


class EMIteration(_Base):
    """One EM iteration: one fused pass over X and the M-step."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.step = em_iteration(self.model, self.X)

    def time_em_iteration(self, *args):
        self.step()

    def peakmem_em_iteration(self, *args):
        self.step()


class Predict(_Base):
    """Read-only passes over X with a fitted model."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.model.set_params(max_iter=5).fit(self.X)

    def time_predict_proba(self, *args):
        self.model.predict_proba(self.X)

    def peakmem_predict_proba(self, *args):
        self.model.predict_proba(self.X)

    def time_score_samples(self, *args):
        self.model.score_samples(self.X)

    def peakmem_score_samples(self, *args):
        self.model.score_samples(self.X)


class RowScaling:
    """Time per EM iteration as N grows (D=16, K=16, full, float32): flat per row."""

    params = [[2_000, 20_000] if N < 10_000 else [10_000, 100_000, 1_000_000]]
    param_names = ["n_samples"]
    timeout = 300

    def setup(self, n_samples):
        quiet()
        d, k = (4, 3) if N < 10_000 else (16, 16)
        self.X = make_data(n_samples, d, k, np.float32)
        self.step = em_iteration(GaussianMixture(k, random_state=0), self.X)

    def time_em_iteration(self, n_samples):
        self.step()
