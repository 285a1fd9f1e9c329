"""Class-conditional scoring: emfast's GaussianMixtureClassifier against the same
computation with scikit-learn's score_samples per class (10 classes x 4 full
components, 1M x 64 samples)."""

import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emfast import GaussianMixtureClassifier

from .common import TINY, make_data, quiet

N_SCORE, D, C, K = (5_000, 8, 3, 2) if TINY else (1_000_000, 64, 10, 4)


class ClassConditionalScoring:
    timeout = 600
    number = 1
    repeat = (1, 3, 60)

    def setup(self):
        quiet()
        n_train = 200 * C * K if TINY else 40_000
        X = make_data(n_train, D, C * K, np.float64, seed=1)
        y = np.repeat(np.arange(C), -(-n_train // C))[:n_train]
        self.clf = GaussianMixtureClassifier(K, covariance_type="full", max_iter=20, random_state=0).fit(X, y)
        # the same fitted mixtures, as scikit-learn estimators
        self.sk = []
        for m in self.clf.mixtures_:
            g = SkGaussianMixture(K, covariance_type="full")
            for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
                setattr(g, attr, getattr(m, attr))
            self.sk.append(g)
        self.X = make_data(N_SCORE, D, C * K, np.float64, seed=2)

    def time_emfast_score_samples(self):
        self.clf.score_samples(self.X)

    def time_sklearn_score_samples(self):
        jll = np.stack([g.score_samples(self.X) for g in self.sk], axis=1) + np.log(self.clf.priors_)
        logsumexp(jll, axis=1)

    def time_emfast_mahalanobis_score(self):
        self.clf.mahalanobis_score(self.X)

    def peakmem_emfast_score_samples(self):
        self.clf.score_samples(self.X)

    def peakmem_sklearn_score_samples(self):
        jll = np.stack([g.score_samples(self.X) for g in self.sk], axis=1) + np.log(self.clf.priors_)
        logsumexp(jll, axis=1)
