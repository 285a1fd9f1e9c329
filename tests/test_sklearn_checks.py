"""scikit-learn's estimator checks, for each covariance type."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from emfast import BayesianGaussianMixture, GaussianMixture

# Checks expected to fail, with the reason (scikit-learn's own format).
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    [
        GaussianMixture(covariance_type=cov, random_state=0)
        for cov in ("full", "tied", "diag", "spherical")
    ]
    + [
        BayesianGaussianMixture(covariance_type=cov, random_state=0)
        for cov in ("full", "tied", "diag", "spherical")
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
