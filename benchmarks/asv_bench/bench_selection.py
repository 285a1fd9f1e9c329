"""Choosing n_components and covariance_type: GaussianMixtureIC against a loop of
GaussianMixture fits over the same grid (K = 1..8, four covariance types), with
BIC on the training data (benchmarks/selection.py compares GridSearchCV too)."""

import numpy as np

from emfast import GaussianMixture, GaussianMixtureIC

from .common import TINY, make_data, quiet

N_SEL, D_SEL, K_TRUE, K_MAX = (2_000, 3, 3, 4) if TINY else (50_000, 8, 6, 8)
TYPES = ["spherical", "diag", "tied", "full"]


class ModelSelection:
    timeout = 900
    number = 1
    repeat = (1, 3, 120)

    def setup(self):
        quiet()
        self.X = make_data(N_SEL, D_SEL, K_TRUE, np.float64, seed=3)

    def time_gaussian_mixture_ic(self):
        GaussianMixtureIC(max_components=K_MAX, covariance_type=TYPES, random_state=0).fit(self.X)

    def time_loop_of_gaussian_mixtures(self):
        for cov in TYPES:
            for k in range(1, K_MAX + 1):
                GaussianMixture(k, covariance_type=cov, random_state=0).fit(self.X).bic(self.X)
