"""scikit-learn's own BayesianGaussianMixture tests, run on emfast's class.

Every test function of the installed scikit-learn's
sklearn/mixture/tests/test_bayesian_mixture.py is collected here and runs with
the names it imports (BayesianGaussianMixture, _log_dirichlet_norm,
_log_wishart_norm) bound to emfast's. None is skipped.
"""

import numpy as np
import pytest
from sklearn.base import clone

from emfast import BayesianGaussianMixture, _bayesian_mixture

sk_tests = pytest.importorskip("sklearn.mixture.tests.test_bayesian_mixture")

SWAPPED = {
    "BayesianGaussianMixture": BayesianGaussianMixture,
    "_log_dirichlet_norm": _bayesian_mixture._log_dirichlet_norm,
    "_log_wishart_norm": _bayesian_mixture._log_wishart_norm,
}


@pytest.fixture(autouse=True)
def emfast_class(monkeypatch):
    for name, value in SWAPPED.items():
        monkeypatch.setattr(sk_tests, name, value)


def test_the_names_the_tests_use_are_swapped():
    assert set(SWAPPED) <= set(vars(sk_tests))
    assert sk_tests.BayesianGaussianMixture is BayesianGaussianMixture


# collect scikit-learn's test functions here (they run in their module's namespace)
globals().update({name: f for name, f in vars(sk_tests).items() if name.startswith("test_") and callable(f)})


# scikit-learn's sklearn/mixture/tests/test_mixture.py, for BayesianGaussianMixture


def test_gaussian_mixture_n_iter():
    X = np.random.RandomState(0).rand(10, 5)
    estimator = clone(BayesianGaussianMixture()).set_params(max_iter=1)
    assert estimator.fit(X).n_iter_ == 1


def test_mixture_n_components_greater_than_n_samples_error():
    X = np.random.RandomState(0).rand(10, 5)
    estimator = clone(BayesianGaussianMixture()).set_params(n_components=12)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        estimator.fit(X)
