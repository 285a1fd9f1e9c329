"""StudentTMixture: fit, one ECM iteration next to one Gaussian EM iteration, scoring.

The Student-t iteration is the Gaussian pass with the t's log-density and scale
weights: time_ecm_iteration / GaussianMixture's time_em_iteration is what it costs.
"""

from threadpoolctl import threadpool_limits

from emfast import StudentTMixture
from emfast._data import ArrayData
from emfast._student_t import StudentTECM

from .common import COVARIANCE_TYPES, D, DTYPES, K, N, THREADS, make_data, quiet


class _Base:
    params = (COVARIANCE_TYPES, DTYPES, THREADS)
    param_names = ["covariance_type", "dtype", "threads"]
    timeout = 300

    def setup(self, covariance_type, dtype, threads):
        quiet()
        self.X = make_data(N, D, K, dtype)
        self.limits = threadpool_limits(threads, user_api="openmp")
        self.model = StudentTMixture(K, covariance_type=covariance_type, random_state=0)

    def teardown(self, *args):
        self.limits.restore_original_limits()


class Fit(_Base):
    """A whole default fit (k-means initialisation, nu fitted)."""

    def time_fit(self, *args):
        self.model.fit(self.X)

    def track_lower_bound(self, *args):
        return float(self.model.fit(self.X).lower_bound_)

    track_lower_bound.unit = "nats/sample"


class ECMIteration(_Base):
    """One ECM iteration: one fused pass over X, the M-step and the nu update."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.model.set_params(max_iter=2).fit(self.X)
        self.params = self.model._current_parameters()
        self.data = ArrayData(self.X)
        self.ecm = StudentTECM(covariance_type, self.model.reg_covar, 1.0, len(self.X), fit_dofs=True)

    def time_ecm_iteration(self, *args):
        self.ecm.step(self.data, self.params)


class Predict(_Base):
    """Read-only passes over X with a fitted model."""

    def setup(self, covariance_type, dtype, threads):
        super().setup(covariance_type, dtype, threads)
        self.model.set_params(max_iter=5).fit(self.X)

    def time_predict_proba(self, *args):
        self.model.predict_proba(self.X)

    def time_score_samples(self, *args):
        self.model.score_samples(self.X)
