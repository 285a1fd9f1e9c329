"""emfast.BayesianGaussianMixture against scikit-learn's BayesianGaussianMixture."""

import warnings

import numpy as np
import pytest
from conftest import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from threadpoolctl import threadpool_limits

from emfast import BayesianGaussianMixture, DegenerateComponentWarning
from emfast._data import ArrayData
from emfast._variational import sum_r_log_r

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
OFFSET = 1e4

DATASETS = {
    "separated": lambda: make_blobs(600, 3, 3, seed=1, spread=8.0),
    "overlapping": lambda: make_blobs(600, 4, 3, seed=2, spread=1.0),
    "anisotropic": lambda: make_blobs(800, 5, 4, seed=3, anisotropic=True),
    "offset 1e4": lambda: make_blobs(600, 3, 3, seed=4, spread=4.0, offset=OFFSET),
}
POSTERIOR = ["weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_",
             "precisions_cholesky_", "precisions_", "weights_"]


def assert_close(actual, expected, rtol):
    """Relative to the array's scale, so near-zero entries do not dominate."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


def fit(cls, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**kw).fit(X)


def assert_same_posterior(ours, theirs, X, rtol=1e-8, shift=0.0, X_theirs=None):
    """Every posterior attribute, the lower bounds and the scores agree (X_theirs:
    the data scikit-learn saw, X - shift)."""
    X_theirs = X if X_theirs is None else X_theirs
    for name in POSTERIOR:
        a, b = getattr(ours, name), getattr(theirs, name)
        if name == "means_":
            a = a - shift
        assert_close(np.ravel(a) if isinstance(a, tuple) else a, np.ravel(b) if isinstance(b, tuple) else b, rtol)
        assert np.asarray(a).dtype == np.asarray(b).dtype, name
    if hasattr(theirs, "lower_bounds_"):  # scikit-learn >= 1.7
        np.testing.assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=rtol)
    assert ours.lower_bound_ == pytest.approx(float(np.ravel(theirs.lower_bound_)[0]), rel=rtol)
    assert (ours.n_iter_, ours.converged_) == (theirs.n_iter_, theirs.converged_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X_theirs))
    assert_close(ours.predict_proba(X), theirs.predict_proba(X_theirs), 1e-7)
    assert_close(ours.score_samples(X), theirs.score_samples(X_theirs), rtol)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_twenty_iterations_match_sklearn_from_the_same_initialisation(dataset, cov, prior_type):
    X = DATASETS[dataset]()
    # scikit-learn's tied M-step on one sample per component is its own (see
    # test_gaussian_mixture.test_tied_init_from_one_sample_per_component): random there
    init = "random" if cov == "tied" else "random_from_data"
    kw = dict(n_components=5, covariance_type=cov, weight_concentration_prior_type=prior_type, max_iter=20,
              tol=0, init_params=init, random_state=0)
    ours = fit(BayesianGaussianMixture, X, **kw)
    # the offset data set is compared with scikit-learn on the centred data, where its
    # uncentred second moments (E[x^2] - mu^2 for tied, diag, spherical) do not cancel
    shift = X.mean(axis=0) if dataset.startswith("offset") else 0.0
    theirs = fit(SkBGM, X - shift, **kw)
    assert_same_posterior(ours, theirs, X, shift=shift, X_theirs=X - shift)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random"])
@pytest.mark.parametrize("cov", COV_TYPES)
def test_converged_fits_match_sklearn(init_params, cov):
    if cov == "tied" and init_params == "k-means++":
        pytest.skip("scikit-learn's tied M-step on one sample per component is its own")
    X = DATASETS["anisotropic"]()
    kw = dict(n_components=4, covariance_type=cov, random_state=3, init_params=init_params)
    assert_same_posterior(fit(BayesianGaussianMixture, X, **kw), fit(SkBGM, X, **kw), X)


def test_default_fit_matches_sklearn():
    X = DATASETS["separated"]()
    ours, theirs = BayesianGaussianMixture(n_components=4, random_state=0), SkBGM(n_components=4, random_state=0)
    assert_same_posterior(ours.fit(X), theirs.fit(X), X)
    assert ours.converged_


def test_given_priors_match_sklearn():
    X = DATASETS["anisotropic"]()
    D = X.shape[1]
    priors = {
        "full": np.cov(X.T) * 2 + np.eye(D), "tied": np.eye(D) * 3.0, "diag": np.full(D, 0.5), "spherical": 2.0,
    }
    for cov, covariance_prior in priors.items():
        kw = dict(n_components=6, covariance_type=cov, init_params="random", random_state=1, max_iter=15, tol=0,
                  weight_concentration_prior=0.01, mean_precision_prior=0.3, mean_prior=np.arange(D) * 0.1,
                  degrees_of_freedom_prior=D + 2.5, covariance_prior=covariance_prior)
        ours, theirs = fit(BayesianGaussianMixture, X, **kw), fit(SkBGM, X, **kw)
        assert_same_posterior(ours, theirs, X)
        for name in ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
                     "degrees_of_freedom_prior_", "covariance_prior_"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))


def test_entropy_from_the_statistics_matches_the_direct_sum_on_offset_data():
    """sum r log r from the pass's statistics (no (n, K) array) against the direct
    sum over scikit-learn's log-responsibilities on the centred data."""
    X = make_blobs(20000, 4, 4, seed=5, spread=1.5, offset=OFFSET)
    kw = dict(n_components=6, init_params="random", random_state=0, max_iter=5, tol=0)
    for cov in COV_TYPES:
        ours = fit(BayesianGaussianMixture, X, covariance_type=cov, **kw)
        params = ours._fitted_params()
        stats = ArrayData(X).em_pass(params, cov)
        shift = X.mean(axis=0)
        theirs = fit(SkBGM, X - shift, covariance_type=cov, **kw)
        _, log_resp = theirs._estimate_log_prob_resp(X - shift)
        direct = float(np.sum(np.exp(log_resp) * log_resp))
        assert sum_r_log_r(stats, params, cov) == pytest.approx(direct, rel=1e-8, abs=1e-6 * len(X))


def test_n_init_keeps_the_best():
    X = make_blobs(600, 2, 6, seed=8, spread=3.0)
    kw = dict(n_components=6, n_init=3, max_iter=30, init_params="random", random_state=0)
    assert_same_posterior(fit(BayesianGaussianMixture, X, **kw), fit(SkBGM, X, **kw), X)


def test_warm_start_continues_like_sklearn():
    X = DATASETS["anisotropic"]()
    kw = dict(n_components=4, warm_start=True, max_iter=2, tol=0, init_params="random", random_state=0)
    ours, theirs = BayesianGaussianMixture(**kw), SkBGM(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
    assert_same_posterior(ours, theirs, X)


def test_max_iter_zero_gives_the_initialisation():
    X = DATASETS["separated"]()
    kw = dict(n_components=3, max_iter=0, init_params="k-means++", random_state=0)
    ours, theirs = fit(BayesianGaussianMixture, X, **kw), fit(SkBGM, X, **kw)
    for name in POSTERIOR:
        assert_close(np.ravel(getattr(ours, name)), np.ravel(getattr(theirs, name)), 1e-10)
    assert ours.n_iter_ == 0 and ours.lower_bound_ == -np.inf and ours.lower_bounds_ == []


@pytest.mark.parametrize("cov", COV_TYPES)
def test_float32_is_fitted_in_float32_with_scikit_learns_float64_posterior(cov):
    X = make_blobs(3000, 4, 3, seed=9, spread=4.0, anisotropic=True)
    kw = dict(n_components=5, covariance_type=cov, init_params="random", random_state=0, max_iter=20, tol=0)
    b64 = fit(BayesianGaussianMixture, X, **kw)
    b32 = fit(BayesianGaussianMixture, X.astype(np.float32), **kw)
    sk32 = fit(SkBGM, X.astype(np.float32), **kw)
    for name in POSTERIOR + ["mean_prior_", "covariance_prior_"]:
        ours, theirs = getattr(b32, name), getattr(sk32, name)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype, name
        assert_close(np.ravel(ours), np.ravel(theirs), 1e-4)
        assert_close(np.ravel(ours), np.ravel(getattr(b64, name)), 1e-4)
    assert b32.lower_bound_ == pytest.approx(float(np.ravel(sk32.lower_bound_)[0]), rel=1e-5)
    X32 = X.astype(np.float32)
    for method in ("predict_proba", "score_samples", "predict"):
        assert getattr(b32, method)(X32).dtype == getattr(sk32, method)(X32).dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(b32.fit_predict(X32), b32.predict(X32))


@pytest.mark.parametrize("cov", COV_TYPES)
def test_integer_sample_weight_equals_repetition(cov):
    X = make_blobs(300, 3, 3, seed=11, spread=8.0)
    w = np.random.RandomState(0).randint(0, 4, size=len(X))
    kw = dict(n_components=4, covariance_type=cov, max_iter=25, tol=0, random_state=0)
    weighted = BayesianGaussianMixture(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted.fit(X, sample_weight=w)
    repeated = fit(BayesianGaussianMixture, np.repeat(X, w, axis=0), **kw)
    for name in POSTERIOR + ["mean_prior_", "covariance_prior_"]:
        assert_close(np.ravel(getattr(weighted, name)), np.ravel(getattr(repeated, name)), 1e-10)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


def _weighted_fit(X, w):
    est = BayesianGaussianMixture(n_components=3, random_state=0, max_iter=10, tol=0, init_params="random",
                                  covariance_prior=np.eye(3), mean_prior=np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, sample_weight=w)


@pytest.mark.parametrize("scale", [2.0**-20, 3.0, 2.0**80, 2.0**600])
def test_sample_weights_count_samples_at_any_scale(scale):
    """Weights are counts: scaled by s, the posterior holds s times the evidence
    (beyond 2^64 the passes run on rescaled weights and the statistics are scaled back)."""
    X = make_blobs(400, 3, 3, seed=12, spread=6.0)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(X))
    est = _weighted_fit(X, w * scale)
    K, total = 3, np.sum(w) * scale
    # each component's posterior counts add up to the total weight
    assert np.sum(est.mean_precision_) == pytest.approx(K * 1.0 + total, rel=1e-10)
    assert np.sum(est.degrees_of_freedom_) == pytest.approx(K * 3.0 + total, rel=1e-10)
    if scale > 2.0**64:
        # the prior weighs 1e-12 against 2^40 times the data, 1e-24 at this scale: the same
        # posterior means and covariances, from unscaled and rescaled passes
        ref = _weighted_fit(X, w * 2.0**40)
        for name in ("means_", "covariances_", "weights_"):
            assert_close(getattr(est, name), getattr(ref, name), 1e-9)


def test_weights_counting_at_most_one_sample_need_a_covariance_prior():
    X = make_blobs(100, 2, 2, seed=13)
    w = np.full(len(X), 0.005)
    with pytest.raises(ValueError, match="sample weights summing to more than 1, got 0.5"):
        BayesianGaussianMixture(n_components=2).fit(X, sample_weight=w)
    est = fit(BayesianGaussianMixture, X, n_components=2, covariance_prior=np.eye(2))
    assert np.isfinite(est.covariances_).all()


@pytest.mark.parametrize("cov", COV_TYPES)
def test_results_bitwise_identical_across_thread_counts(cov):
    X = make_blobs(20000, 5, 4, seed=13, anisotropic=True)
    w = np.random.RandomState(2).uniform(0.1, 3.0, len(X))
    fits = []
    for n_threads in (1, 2, 4):
        with threadpool_limits(limits=n_threads, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = BayesianGaussianMixture(n_components=4, covariance_type=cov, max_iter=5, tol=0, random_state=0)
            est.fit(X, sample_weight=w)
            fits.append((est, est.predict_proba(X), est.score_samples(X)))
    ref = fits[0]
    for est, proba, ll in fits[1:]:
        for name in POSTERIOR:
            np.testing.assert_array_equal(np.ravel(getattr(est, name)), np.ravel(getattr(ref[0], name)))
        assert est.lower_bounds_ == ref[0].lower_bounds_
        np.testing.assert_array_equal(proba, ref[1])
        np.testing.assert_array_equal(ll, ref[2])


def test_memory_map_gives_the_in_memory_model(tmp_path):
    X = make_blobs(5000, 4, 3, seed=14)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    kw = dict(n_components=3, random_state=0)
    a = fit(BayesianGaussianMixture, X, **kw)
    b = fit(BayesianGaussianMixture, np.load(tmp_path / "X.npy", mmap_mode="r"), **kw)
    for name in POSTERIOR:
        np.testing.assert_array_equal(np.ravel(getattr(a, name)), np.ravel(getattr(b, name)))


def test_methods_match_sklearn_on_the_same_model():
    X = DATASETS["anisotropic"]()
    ours = fit(BayesianGaussianMixture, X, n_components=4, random_state=0)
    theirs = fit(SkBGM, X, n_components=4, random_state=0)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-10)
    Xs, ys = ours.sample(50)
    Xt, yt = theirs.sample(50)
    np.testing.assert_array_equal(ys, yt)
    assert_close(Xs, Xt, 1e-8)
    np.testing.assert_array_equal(ours.fit_predict(X), theirs.fit_predict(X))
    # no information criteria: scikit-learn's variational mixture has none
    assert not hasattr(ours, "bic") and not hasattr(ours, "aic")
    assert ours.mahalanobis(X).shape == (len(X), 4)


def test_constructor_matches_sklearn():
    assert BayesianGaussianMixture().get_params() == SkBGM().get_params()
    with pytest.raises(TypeError):
        BayesianGaussianMixture(3)  # keyword-only, as scikit-learn's


def test_convergence_warning_and_verbose_output_like_sklearn(capsys):
    X = DATASETS["overlapping"]()
    for cls in (BayesianGaussianMixture, SkBGM):
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            cls(n_components=3, max_iter=3, verbose=1, verbose_interval=1, random_state=0).fit(X)
    ours, theirs = capsys.readouterr().out.split("Initialization 0\n")[1:]
    assert ours == theirs


def test_singular_covariance_prior_is_jittered_where_sklearn_raises():
    X = np.column_stack([make_blobs(200, 2, 2, seed=15), np.full(200, 7.0)])
    kw = dict(n_components=4, reg_covar=0.0, random_state=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        fit(SkBGM, X, **kw)
    with pytest.warns(DegenerateComponentWarning, match="not positive definite"):
        est = fit(BayesianGaussianMixture, X, **kw)
    assert np.isfinite(est.covariances_).all()
    for m in est.covariances_:
        np.linalg.cholesky(m)
