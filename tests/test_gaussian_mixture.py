"""emfast.GaussianMixture against scikit-learn's GaussianMixture."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import make_blobs, sklearn_float32_dtype
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

import emfast
from emfast import DegenerateComponentWarning, GaussianMixture

COV_TYPES = ["full", "tied", "diag", "spherical"]

DATASETS = {
    "separated": lambda: make_blobs(600, 3, 3, seed=1, spread=8.0),
    "overlapping": lambda: make_blobs(600, 4, 3, seed=2, spread=1.0),
    "anisotropic": lambda: make_blobs(800, 5, 4, seed=3, anisotropic=True),
    "offset": lambda: make_blobs(600, 3, 3, seed=4, spread=4.0, offset=1e3),
    "D=1": lambda: make_blobs(500, 1, 3, seed=5, spread=4.0),
    "D=50": lambda: make_blobs(900, 50, 3, seed=6, spread=2.0),
}


def assert_close(actual, expected, rtol):
    """Relative to the array's scale, so near-zero entries do not dominate."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def random_init(X, K, cov, seed=0):
    """weights_init, means_init, precisions_init for covariance type cov."""
    rng = np.random.RandomState(seed)
    D = X.shape[1]
    means = X[rng.choice(len(X), K, replace=False)]
    weights = rng.dirichlet(np.full(K, 5.0))
    var = X.var(axis=0).mean()
    if cov == "full":
        prec = np.stack([np.eye(D) / var for _ in range(K)])
    elif cov == "tied":
        prec = np.eye(D) / var
    elif cov == "diag":
        prec = np.ones((K, D)) / X.var(axis=0)
    else:
        prec = np.ones(K) / var
    return dict(weights_init=weights, means_init=means, precisions_init=prec)


def fit_both(X, K, cov, n_iter, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(K, covariance_type=cov, max_iter=n_iter, tol=0, **kw).fit(X)
        theirs = SkGaussianMixture(K, covariance_type=cov, max_iter=n_iter, tol=0, **kw).fit(X)
    return ours, theirs


def assert_same_model(ours, theirs, X, rtol=1e-8, first_bound_rtol=None):
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"]:
        assert_close(getattr(ours, attr), getattr(theirs, attr), rtol)
        assert getattr(ours, attr).dtype == getattr(theirs, attr).dtype
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=rtol, abs=rtol)
    if hasattr(theirs, "lower_bounds_"):  # scikit-learn >= 1.7
        first = rtol if first_bound_rtol is None else first_bound_rtol
        assert ours.lower_bounds_[0] == pytest.approx(theirs.lower_bounds_[0], rel=first)
        np.testing.assert_allclose(ours.lower_bounds_[1:], theirs.lower_bounds_[1:], rtol=rtol, atol=rtol)
    assert len(ours.lower_bounds_) == ours.n_iter_
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_close(ours.predict_proba(X), theirs.predict_proba(X), 1e-7)
    assert_close(ours.score_samples(X), theirs.score_samples(X), rtol)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("cov", COV_TYPES)
def test_matches_sklearn_from_same_initialisation(dataset, cov):
    X = DATASETS[dataset]()
    K = 3
    ours, theirs = fit_both(X, K, cov, n_iter=15, **random_init(X, K, cov))
    assert_same_model(ours, theirs, X)


@pytest.mark.parametrize("dataset", ["anisotropic", "offset", "D=1"])
@pytest.mark.parametrize("cov", COV_TYPES)
def test_matches_sklearn_from_means_init_and_kmeans(dataset, cov):
    # means_init alone: covariances come from the k-means responsibilities in both
    X = DATASETS[dataset]()
    init = random_init(X, 3, cov, seed=1)
    ours, theirs = fit_both(X, 3, cov, n_iter=10, means_init=init["means_init"], random_state=0)
    assert_same_model(ours, theirs, X)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("cov", COV_TYPES)
def test_matches_sklearn_for_every_init_params(init_params, cov):
    X = DATASETS["anisotropic"]()
    ours, theirs = fit_both(X, 4, cov, n_iter=8, init_params=init_params, random_state=3)
    # One sample per component starts every covariance at reg_covar (1e-6), and
    # the first lower bound (about -1e7) then amplifies scikit-learn's rounding
    # of E[x^2] - mu^2 for diag/spherical to a relative 5e-8; emfast's centred
    # statistics give exactly reg_covar (checked against extended precision).
    one_sample = init_params in ("k-means++", "random_from_data")
    assert_same_model(ours, theirs, X, first_bound_rtol=1e-6 if one_sample else None)


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
@pytest.mark.parametrize("cov", COV_TYPES)
def test_initial_model_from_one_sample_per_component_is_sklearns(init_params, cov):
    # weights n_k / n summing to K / n, and (tied) scikit-learn's M-step, which sums
    # x x^T over all samples as if every sample's responsibilities summed to one
    X = DATASETS["anisotropic"]()
    ours, theirs = fit_both(X, 4, cov, n_iter=0, init_params=init_params, random_state=0)
    for attr in ("weights_", "means_"):
        assert_close(getattr(ours, attr), getattr(theirs, attr), 1e-12)
    # diag/spherical: scikit-learn's E[x^2] - mu^2 of one sample is reg_covar plus
    # rounding of order eps x^2 (5e-8 of reg_covar here); emfast's is reg_covar exactly
    rtol = 1e-6 if cov in ("diag", "spherical") else 1e-10
    for attr in ("covariances_", "precisions_cholesky_"):
        assert_close(getattr(ours, attr), getattr(theirs, attr), rtol)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_converged_fit_matches_sklearn(cov):
    X = DATASETS["separated"]()
    ours = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    theirs = SkGaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    assert ours.converged_ and theirs.converged_
    assert_same_model(ours, theirs, X)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_default_init_lower_bound_at_least_sklearn(cov):
    X = make_blobs(1500, 4, 5, seed=7, spread=3.0, anisotropic=True)
    ours = [GaussianMixture(5, covariance_type=cov, random_state=s).fit(X).lower_bound_ for s in range(5)]
    theirs = [SkGaussianMixture(5, covariance_type=cov, random_state=s).fit(X).lower_bound_ for s in range(5)]
    assert np.mean(ours) >= np.mean(theirs) - 1e-9


def test_n_init_keeps_the_best():
    X = make_blobs(600, 2, 6, seed=8, spread=3.0)
    ours = GaussianMixture(6, n_init=4, random_state=0).fit(X)
    theirs = SkGaussianMixture(6, n_init=4, random_state=0).fit(X)
    assert_same_model(ours, theirs, X)


def test_warm_start_continues_like_sklearn():
    X = DATASETS["anisotropic"]()
    kw = dict(n_components=4, warm_start=True, max_iter=2, tol=0, random_state=0)
    ours, theirs = GaussianMixture(**kw), SkGaussianMixture(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
    assert_same_model(ours, theirs, X)


def test_max_iter_zero_gives_the_initialisation():
    X = DATASETS["separated"]()
    ours, theirs = fit_both(X, 3, "full", n_iter=0, random_state=0)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert_close(getattr(ours, attr), getattr(theirs, attr), 1e-10)
    assert ours.n_iter_ == 0 and ours.lower_bound_ == -np.inf


@pytest.mark.parametrize("cov", COV_TYPES)
def test_float32_agrees_with_float64(cov):
    X = make_blobs(3000, 6, 4, seed=9, spread=4.0, anisotropic=True)
    init = random_init(X, 4, cov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g64 = GaussianMixture(4, covariance_type=cov, max_iter=20, tol=0, **init).fit(X)
        g32 = GaussianMixture(4, covariance_type=cov, max_iter=20, tol=0, **init).fit(X.astype(np.float32))
    dtype = sklearn_float32_dtype()  # float32, or float64 before scikit-learn 1.7
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert getattr(g32, attr).dtype == dtype
        assert_close(getattr(g32, attr), getattr(g64, attr), 1e-4)
    assert g32.lower_bound_ == pytest.approx(g64.lower_bound_, rel=1e-5)
    assert g32.predict_proba(X.astype(np.float32)).dtype == dtype
    assert g32.score_samples(X.astype(np.float32)).dtype == dtype


def test_float32_output_dtypes_follow_sklearn():
    X = make_blobs(400, 3, 2, seed=10).astype(np.float32)
    ours = GaussianMixture(2, random_state=0).fit(X)
    theirs = SkGaussianMixture(2, random_state=0).fit(X)
    for method in ["predict_proba", "score_samples", "predict"]:
        assert getattr(ours, method)(X).dtype == getattr(theirs, method)(X).dtype
    assert type(ours.lower_bound_) is type(theirs.lower_bound_)
    assert ours.sample(5)[0].dtype == theirs.sample(5)[0].dtype


@pytest.mark.parametrize("cov", COV_TYPES)
def test_integer_sample_weight_equals_repetition(cov):
    X = make_blobs(300, 3, 3, seed=11, spread=3.0, anisotropic=True)
    w = np.random.RandomState(0).randint(0, 4, size=len(X))
    init = random_init(X, 3, cov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = GaussianMixture(3, covariance_type=cov, max_iter=25, tol=0, **init).fit(X, sample_weight=w)
        repeated = GaussianMixture(3, covariance_type=cov, max_iter=25, tol=0, **init).fit(np.repeat(X, w, axis=0))
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert_close(getattr(weighted, attr), getattr(repeated, attr), 1e-10)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-12)


def test_sample_weight_changes_the_model():
    X = make_blobs(400, 2, 2, seed=12, spread=4.0)
    w = np.where(X[:, 0] > np.median(X[:, 0]), 5.0, 1.0)
    a = GaussianMixture(2, random_state=0).fit(X)
    b = GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    assert not np.allclose(np.sort(a.weights_), np.sort(b.weights_))


@pytest.mark.parametrize("cov", COV_TYPES)
def test_results_bitwise_identical_across_thread_counts(cov):
    X = make_blobs(20000, 5, 4, seed=13, anisotropic=True)
    init = random_init(X, 4, cov)
    fits = []
    for n_threads in (1, 2, 4):
        with threadpool_limits(limits=n_threads, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = GaussianMixture(4, covariance_type=cov, max_iter=5, tol=0, **init).fit(X)
            fits.append((gm, gm.predict_proba(X), gm.score_samples(X)))
    ref = fits[0]
    for gm, proba, ll in fits[1:]:
        for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
            np.testing.assert_array_equal(getattr(gm, attr), getattr(ref[0], attr))
        assert gm.lower_bounds_ == ref[0].lower_bounds_
        np.testing.assert_array_equal(proba, ref[1])
        np.testing.assert_array_equal(ll, ref[2])


def test_methods_match_sklearn_on_the_same_model():
    X = DATASETS["anisotropic"]()
    ours = GaussianMixture(4, random_state=0).fit(X)
    theirs = SkGaussianMixture(4, random_state=0).fit(X)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-10)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-10)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-10)
    Xs, ys = ours.sample(50)
    Xt, yt = theirs.sample(50)
    np.testing.assert_array_equal(ys, yt)
    assert_close(Xs, Xt, 1e-8)
    np.testing.assert_array_equal(ours.fit_predict(X), theirs.fit_predict(X))


def test_fit_predict_equals_fit_then_predict():
    X = DATASETS["overlapping"]()
    gm = GaussianMixture(3, random_state=1, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = gm.fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))


def test_constructor_matches_sklearn():
    ours, theirs = GaussianMixture().get_params(), SkGaussianMixture().get_params()
    assert {k: ours[k] for k in theirs} == theirs
    # emfast's own options, off by default: the defaults give scikit-learn's model
    assert {k: v for k, v in ours.items() if k not in theirs} == {"reseed_empty": False, "callback": None}


def test_convergence_warning_like_sklearn():
    X = DATASETS["overlapping"]()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=1, random_state=0).fit(X)


def test_verbose_output(capsys):
    X = DATASETS["separated"]()
    GaussianMixture(3, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "converged" in out


def test_pickle_and_clone_round_trip():
    X = DATASETS["anisotropic"]()
    gm = GaussianMixture(4, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(again.predict_proba(X), gm.predict_proba(X))
    assert clone(gm).get_params() == gm.get_params()


def test_show_config(capsys):
    emfast.show_config()
    out = capsys.readouterr().out
    for key in ["version", "compiler", "openmp", "threads", "simd"]:
        assert key in out
    cfg = emfast.get_config()
    assert cfg["simd_variant"] in cfg["simd_variants_supported"]


# ----------------------------------------------------------------- degenerate data


def assert_valid_model(gm, X):
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert np.isfinite(getattr(gm, attr)).all(), attr
    assert gm.weights_.sum() == pytest.approx(1.0, abs=1e-6)
    covs = gm.covariances_
    if gm.covariance_type == "full":
        assert all(np.linalg.eigvalsh(c).min() > 0 for c in covs)
    elif gm.covariance_type == "tied":
        assert np.linalg.eigvalsh(covs).min() > 0
    else:
        assert (covs > 0).all()
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(gm.score_samples(X)).all()


def degenerate_cases():
    rng = np.random.RandomState(0)
    base = rng.randn(200, 3)
    yield "duplicated points", np.repeat(base[:10], 20, axis=0), 3, 1e-6
    yield "duplicated points, reg_covar=0", np.repeat(base[:10], 20, axis=0), 3, 0.0
    yield "constant feature, reg_covar=0", np.column_stack([base, np.full(200, 7.0)]), 3, 0.0
    yield "collinear feature, reg_covar=0", np.column_stack([base, base[:, 0] * 2 - base[:, 1]]), 3, 0.0
    yield "one row per component, reg_covar=0", base[:4], 4, 0.0


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("name,X,K,reg", list(degenerate_cases()), ids=[c[0] for c in degenerate_cases()])
def test_degenerate_data_gives_a_model(name, X, K, reg, cov):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        gm = GaussianMixture(K, covariance_type=cov, reg_covar=reg, random_state=0).fit(X)
    assert_valid_model(gm, X)


def test_singular_covariance_is_jittered_with_a_warning():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randn(300, 2), np.zeros(300)])
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        SkGaussianMixture(2, reg_covar=0, random_state=0).fit(X)
    with pytest.warns(DegenerateComponentWarning, match="not positive definite"):
        gm = GaussianMixture(2, reg_covar=0, random_state=0).fit(X)
    assert_valid_model(gm, X)
    # just enough: the constant feature's variance is tiny next to the others
    assert gm.covariances_[:, 2, 2].max() < 1e-6 * gm.covariances_[:, 0, 0].min()


def test_rank_deficient_scatter_plus_reg_covar_is_not_repaired():
    # about 12 rows per component in 64 features: each scatter matrix is nearly
    # singular and reg_covar makes it positive definite (pivots about 1e-7 of the
    # diagonal). scikit-learn factors it and fits; emfast must do the same, not
    # declare it degenerate and add jitter (it did, found by benchmarks/sweep.py)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((100, 64)) * rng.uniform(0.5, 1.5, size=64) + 3 * rng.standard_normal((8, 64))[rng.randint(8, size=100)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        ours, theirs = fit_both(X, 8, "full", n_iter=3, **random_init(X, 8, "full"))
    assert_same_model(ours, theirs, X)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_component_that_loses_all_its_points_dies_as_in_sklearn(cov):
    X = make_blobs(600, 2, 3, seed=14, spread=6.0)
    means = np.array([X[0], X[300], [1e4, 1e4]])  # the last one owns nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)  # silently, as scikit-learn
        ours = GaussianMixture(3, covariance_type=cov, means_init=means, random_state=0).fit(X)
    theirs = SkGaussianMixture(3, covariance_type=cov, means_init=means, random_state=0).fit(X)
    assert ours.weights_[2] < 1e-10
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_close(getattr(ours, attr), getattr(theirs, attr), 1e-8)
    assert ours.n_iter_ == theirs.n_iter_


@pytest.mark.parametrize("cov", COV_TYPES)
def test_component_that_loses_all_its_points_is_reseeded_if_asked(cov):
    X = make_blobs(600, 2, 3, seed=14, spread=6.0)
    means = np.array([X[0], X[300], [1e4, 1e4]])  # the last one owns nothing
    with pytest.warns(DegenerateComponentWarning, match="re-seeded"):
        gm = GaussianMixture(3, covariance_type=cov, means_init=means, random_state=0, reseed_empty=True).fit(X)
    assert_valid_model(gm, X)
    assert np.all(np.abs(gm.means_) < 100)
    assert (gm.weights_ > 0.05).all()
    assert set(np.unique(gm.predict(X))) == {0, 1, 2}


@pytest.mark.parametrize("cov", ["diag", "spherical", "full"])
def test_float32_large_offset(cov):
    # scikit-learn computes diag variances as E[x^2] - mu^2, which goes negative
    # in float32 with a large offset (scikit-learn issue #30382)
    rng = np.random.RandomState(0)
    X64 = np.concatenate([rng.randn(500, 2) * 0.1, rng.randn(500, 2) * 0.1 + 1]) + 1e4
    X32 = X64.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g32 = GaussianMixture(2, covariance_type=cov, random_state=0).fit(X32)
        g64 = GaussianMixture(2, covariance_type=cov, random_state=0).fit(X32.astype(np.float64))
    assert_valid_model(g32, X32)
    order32, order64 = np.argsort(g32.means_[:, 0]), np.argsort(g64.means_[:, 0])
    assert_close(g32.means_[order32], g64.means_[order64], 1e-6)
    assert_close(g32.covariances_[order32], g64.covariances_[order64], 1e-3)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_weighted_score_bic_aic_are_those_of_repeated_samples(cov):
    X = make_blobs(300, 3, 3, seed=21)
    w = np.random.RandomState(0).randint(0, 4, size=len(X))
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X, sample_weight=w)
    R = np.repeat(X, w, axis=0)
    assert gm.score(X, sample_weight=w) == pytest.approx(gm.score(R), rel=1e-12)
    assert gm.bic(X, sample_weight=w) == pytest.approx(gm.bic(R), rel=1e-12)
    assert gm.aic(X, sample_weight=w) == pytest.approx(gm.aic(R), rel=1e-12)
    assert gm.score(X, sample_weight=np.ones(len(X))) == pytest.approx(gm.score(X), rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight"):
        gm.bic(X, sample_weight=w[:-1])


@pytest.mark.parametrize("estimator", [GaussianMixture, emfast.MiniBatchGaussianMixture])
def test_a_subnormal_sample_weight_gives_a_model(estimator):
    # k-means' centre of the lighter cluster: 1 / 2e-311 overflows, the mean does not
    X = np.array([[9.22041894], [9.79899971]])
    gm = estimator(2, reg_covar=0.0, max_iter=0, random_state=0).fit(X, sample_weight=[1.0, 2.2250738585e-311])
    assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()
    # the weighted row's component is on it; the other has (almost) no weight, its mean
    # goes to 0 as scikit-learn's does (sum w x / (sum w + 10 eps))
    assert gm.means_[np.argmax(gm.weights_), 0] == pytest.approx(X[0, 0])
