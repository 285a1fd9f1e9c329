"""scikit-learn's estimator checks, for each covariance type."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from emfast import BayesianGaussianMixture, GaussianMixture, GaussianMixtureIC, MiniBatchStudentTMixture, StudentTMixture

# Checks expected to fail, with the reason (scikit-learn's own format).
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    if isinstance(estimator, GaussianMixtureIC):
        # its candidates have K > 1 components, whose k-means++ draws differ between
        # weighted and repeated rows (as GaussianMixture(n_components > 1)'s do)
        return {**EXPECTED_FAILED_CHECKS, "check_sample_weight_equivalence_on_dense_data":
                "k-means draws differ between weighted and repeated rows when K > 1"}
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    [
        family(covariance_type=cov, random_state=0)
        for family in (GaussianMixture, StudentTMixture)
        for cov in ("full", "tied", "diag", "spherical")
    ]
    + [MiniBatchStudentTMixture(random_state=0)]
    + [GaussianMixtureIC(max_components=3, covariance_type="all", random_state=0)]
    + [
        BayesianGaussianMixture(covariance_type=cov, random_state=0)
        for cov in ("full", "tied", "diag", "spherical")
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check, monkeypatch):
    # its array API checks (emfast declares array API support) switch dispatch on,
    # which scikit-learn allows only with SciPy's array API variable set; emfast
    # hands SciPy no foreign arrays, so the variable alone is enough here
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
