"""GaussianMixture away from the reference shape: the shape sweep's corners at
reduced size (benchmarks/sweep.py measures the whole grid against scikit-learn).

tiny: a curriculum-learning teacher's fit (250 x 3, K = 5), where per-call costs
dominate; wide: few rows of many features; many_k: hundreds of components, as
speaker models use. Full and tied covariances of the wide shape are skipped
(D x D matrices of 2048 features: the Cholesky factorisations, not the passes).
"""

import time

from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emfast import GaussianMixture

from .common import COVARIANCE_TYPES, TINY, em_iteration, make_data, quiet

SHAPES = {  # name: (N, D, K)
    "tiny": (250, 3, 5),
    "wide": (20, 256, 2) if TINY else (200, 2048, 2),
    "many_k": (2_000, 4, 32) if TINY else (20_000, 16, 256),
}


class _Base:
    params = (list(SHAPES), COVARIANCE_TYPES)
    param_names = ["shape", "covariance_type"]
    timeout = 300

    def setup(self, shape, covariance_type):
        if shape == "wide" and covariance_type in ("full", "tied"):
            raise NotImplementedError  # asv: skip
        quiet()
        n, d, k = SHAPES[shape]
        self.X = make_data(n, d, k)
        self.model = GaussianMixture(k, covariance_type=covariance_type, random_state=0)


class ShapeFit(_Base):
    """A whole default fit (k-means initialisation included)."""

    def time_fit(self, *args):
        self.model.fit(self.X)

    def track_speedup_over_sklearn(self, shape, covariance_type):
        """scikit-learn's time over emfast's for the same default fit, one run."""
        sk = SkGaussianMixture(self.model.n_components, covariance_type=covariance_type, random_state=0)
        t0 = time.perf_counter()
        self.model.fit(self.X)
        t1 = time.perf_counter()
        sk.fit(self.X)
        t2 = time.perf_counter()
        return (t2 - t1) / (t1 - t0)

    track_speedup_over_sklearn.unit = "x"


class ShapeIteration(_Base):
    """One EM iteration: one fused pass over X and the M-step."""

    def setup(self, shape, covariance_type):
        super().setup(shape, covariance_type)
        self.step = em_iteration(self.model, self.X)

    def time_em_iteration(self, *args):
        self.step()
