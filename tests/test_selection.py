"""GaussianMixtureIC: the search's candidates are GaussianMixture fits, its
criteria are their BIC/AIC, and it finds the structure of data made to have one."""

import warnings

import numpy as np
import pytest
from conftest import make_blobs
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from emfast import GaussianMixture, GaussianMixtureIC
from emfast._search import split_initial

COV_TYPES = ["spherical", "diag", "tied", "full"]


def structured(cov, K, d, n, seed):
    """K well-separated Gaussians whose covariances have the form `cov`."""
    rng = np.random.RandomState(seed)
    while True:
        centres = rng.uniform(-12, 12, size=(K, d))
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + 99 * np.eye(K)
        if gaps.min() > 7:
            break
    labels = rng.choice(K, size=n, p=rng.dirichlet(np.full(K, 10.0)))

    def rotation():
        return np.linalg.qr(rng.normal(size=(d, d)))[0]

    if cov == "spherical":
        A = rng.uniform(0.5, 1.5, K)[:, None, None] * np.eye(d)
    elif cov == "diag":
        A = np.stack([np.diag(rng.uniform(0.3, 2.0, d)) for _ in range(K)])
    elif cov == "tied":
        A = np.broadcast_to((rotation() @ np.diag(rng.uniform(0.3, 2.0, d))).T, (K, d, d))
    else:
        A = np.stack([(rotation() @ np.diag(rng.uniform(0.3, 2.0, d))).T for _ in range(K)])
    return np.einsum("nd,nde->ne", rng.standard_normal((n, d)), A[labels]) + centres[labels]


STRUCTURES = [("spherical", 3, 2), ("spherical", 5, 3), ("diag", 2, 2), ("diag", 4, 3), ("tied", 3, 2),
              ("tied", 4, 3), ("full", 2, 2), ("full", 3, 2), ("full", 4, 3), ("full", 5, 2)]


def test_finds_the_true_number_of_components_and_covariance_type():
    found = []
    for i, (cov, K, d) in enumerate(STRUCTURES):
        X = structured(cov, K, d, 600, seed=i)
        search = GaussianMixtureIC(max_components=8, covariance_type="all", random_state=0).fit(X)
        found.append((search.n_components_, search.covariance_type_) == (K, cov))
    assert sum(found) >= 8, found


@pytest.mark.parametrize("n_init", [1, 2])
def test_first_candidates_are_plain_fits(n_init):
    """At min_components every covariance type's model is GaussianMixture's, from
    the same k-means (computed once), and its criterion is that model's BIC."""
    X = make_blobs(400, 3, 3, seed=0, anisotropic=True)
    search = GaussianMixtureIC(min_components=3, max_components=3, covariance_type="all", n_init=n_init,
                               random_state=0).fit(X)
    for j, cov in enumerate(search.covariance_types_):
        gm = GaussianMixture(3, covariance_type=cov, n_init=n_init, random_state=0).fit(X)
        np.testing.assert_allclose(search.criteria_[0, j], gm.bic(X), rtol=1e-10)
        if cov == search.covariance_type_:
            best = search.best_estimator_
            np.testing.assert_allclose(best.means_, gm.means_, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(best.covariances_, gm.covariances_, rtol=1e-12, atol=1e-12)
            assert best.n_iter_ == gm.n_iter_


@pytest.mark.parametrize("cov", COV_TYPES)
def test_selected_model_is_refitted_by_its_clone(cov):
    """A grown candidate is GaussianMixture's fit from the split model held in its *_init."""
    X = make_blobs(500, 3, 4, seed=1)
    search = GaussianMixtureIC(max_components=5, covariance_type=cov, random_state=0).fit(X)
    best = search.best_estimator_
    assert search.n_components_ > 1 and best.means_init is not None
    again = clone(best).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(best, name))
    assert again.n_iter_ == best.n_iter_ and again.lower_bound_ == best.lower_bound_


def test_criteria_and_results():
    X = make_blobs(300, 2, 3, seed=2)
    search = GaussianMixtureIC(min_components=2, max_components=5, covariance_type=["full", "diag"],
                               random_state=0).fit(X)
    assert search.criteria_.shape == (4, 2) and search.covariance_types_ == ["full", "diag"]
    r = search.cv_results_
    assert list(r["param_covariance_type"]) == ["full"] * 4 + ["diag"] * 4
    assert list(r["param_n_components"]) == [2, 3, 4, 5] * 2
    np.testing.assert_array_equal(search.criteria_.T.ravel(), r["bic"])
    np.testing.assert_array_equal(-r["mean_test_score"], r["bic"])
    assert r["rank_test_score"][np.argmin(r["bic"])] == 1
    assert r["params"][np.argmin(r["bic"])] == {"covariance_type": search.covariance_type_,
                                                "n_components": search.n_components_}
    np.testing.assert_allclose(search.criteria_.min(), search.bic(X), rtol=1e-10)
    # AIC = BIC - p log n + 2 p, candidate by candidate
    p = (r["bic"] - r["aic"]) / (np.log(len(X)) - 2)
    np.testing.assert_allclose(p, np.round(p), atol=1e-6)
    aic = clone(search).set_params(criterion="aic").fit(X)
    np.testing.assert_allclose(aic.criteria_.min(), aic.aic(X), rtol=1e-10)
    np.testing.assert_allclose(aic.cv_results_["aic"], r["aic"], rtol=1e-12)


def test_delegates_to_the_selected_mixture():
    X = make_blobs(300, 2, 3, seed=3)
    search = GaussianMixtureIC(max_components=4, random_state=0).fit(X)
    best = search.best_estimator_
    np.testing.assert_array_equal(search.predict(X), best.predict(X))
    np.testing.assert_array_equal(search.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(search.score_samples(X), best.score_samples(X))
    assert search.score(X) == best.score(X) and search.aic(X) == best.aic(X)
    assert search.sample(5)[0].shape == (5, 2)
    assert search.weights_ is best.weights_ and search.n_components_ == len(best.weights_)
    np.testing.assert_array_equal(search.fit_predict(X), best.predict(X))


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_split_keeps_the_component_moments(cov):
    """The two halves (weights w/2, means mu -+ d, covariance C) have the split
    component's mean and covariance: C + d d^T = S + reg_covar."""
    X = make_blobs(400, 3, 2, seed=4, anisotropic=True)
    gm = GaussianMixture(2, covariance_type=cov, reg_covar=1e-3, random_state=0).fit(X)
    S = np.cov(np.random.RandomState(0).normal(size=(3, 50)))
    scatter = np.stack([S, S]) if cov == "full" else np.stack([np.diag(S)] * 2)
    w, m, p, jitter = split_initial(gm, scatter, 1, 1.0)
    assert jitter == 0
    np.testing.assert_array_equal(w, [gm.weights_[0], gm.weights_[1] / 2, gm.weights_[1] / 2])
    np.testing.assert_allclose((m[1] + m[2]) / 2, gm.means_[1], rtol=1e-12)
    np.testing.assert_allclose(p[1], p[2])
    d = (m[2] - m[1]) / 2
    if cov == "full":
        np.testing.assert_allclose(np.linalg.inv(p[1]) + np.outer(d, d), S + 1e-3 * np.eye(3), rtol=1e-10)
        assert np.isclose(d @ d, 2 / np.pi * np.linalg.eigvalsh(S)[-1])  # along the principal axis
    else:
        np.testing.assert_allclose(1 / p[1] + d**2, np.diag(S) + 1e-3, rtol=1e-10)
        assert np.count_nonzero(d) == 1 and np.argmax(np.abs(d)) == np.argmax(np.diag(S))


def test_sample_weight_criteria_are_those_of_repeated_rows():
    X = make_blobs(200, 2, 2, seed=5)
    w = np.random.RandomState(0).randint(0, 4, len(X)).astype(float)
    search = GaussianMixtureIC(max_components=3, covariance_type="diag", random_state=0).fit(X, sample_weight=w)
    best = search.best_estimator_
    loglik = w @ best.score_samples(X)
    expected = -2 * loglik + best._n_parameters() * np.log(w.sum())
    np.testing.assert_allclose(search.criteria_.min(), expected, rtol=1e-10)


def test_threads_memmaps_and_float32_give_the_same_search(tmp_path):
    X = make_blobs(3000, 2, 3, seed=6)
    base = GaussianMixtureIC(max_components=4, covariance_type="all", random_state=0)
    one = clone(base).set_params(n_jobs=1).fit(X)
    four = clone(base).set_params(n_jobs=4).fit(X)
    np.testing.assert_array_equal(one.criteria_, four.criteria_)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = clone(base).fit(np.load(path, mmap_mode="r"))
    np.testing.assert_array_equal(one.criteria_, mapped.criteria_)
    single = clone(base).fit(X.astype(np.float32))
    assert single.means_.dtype == np.float32
    np.testing.assert_allclose(single.criteria_, one.criteria_, rtol=1e-4)


def test_dask_arrays():
    da = pytest.importorskip("dask.array")
    X = make_blobs(1000, 2, 3, seed=7)
    search = GaussianMixtureIC(max_components=3, covariance_type=["full", "spherical"], random_state=0)
    ref = clone(search).fit(X)
    lazy = search.fit(da.from_array(X, chunks=500))
    np.testing.assert_allclose(lazy.criteria_, ref.criteria_, rtol=1e-9)
    assert (lazy.n_components_, lazy.covariance_type_) == (ref.n_components_, ref.covariance_type_)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(min_components=4, max_components=3), "must not exceed max_components"),
        (dict(covariance_type=["full", "round"]), "covariance_type must be one of"),
        (dict(covariance_type=[]), "covariance_type must be one of"),
        (dict(max_components=50), "Expected n_samples >= n_components"),
        (dict(criterion="icl"), "criterion"),
        (dict(n_jobs=0), "n_jobs"),
    ],
)
def test_bad_parameters(params, message):
    X = make_blobs(20, 2, 2, seed=8)
    with pytest.raises(ValueError, match=message):
        GaussianMixtureIC(**params).fit(X)


def test_warns_once_for_the_selected_model():
    X = make_blobs(300, 2, 3, seed=9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixtureIC(max_components=4, max_iter=1, random_state=0).fit(X)
    assert sum(issubclass(w.category, ConvergenceWarning) for w in caught) == 1


DEGENERATE = {
    "duplicated rows": lambda rng: np.repeat(rng.normal(size=(4, 3)), 10, axis=0),
    "collinear": lambda rng: np.outer(rng.normal(size=60), [1.0, 2.0, -1.0]),
    "constant column": lambda rng: np.c_[rng.normal(size=(60, 2)), np.ones(60)],
    "1e8 scale": lambda rng: rng.normal(size=(60, 3)) * 1e8,
}


@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_data_gives_a_valid_selection(name, reg_covar):
    """Splits of components without volume are repaired as GaussianMixture repairs
    its covariances (jitter, with a DegenerateComponentWarning), never an exception."""
    from reliability import assert_valid_mixture

    X = DEGENERATE[name](np.random.RandomState(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GaussianMixtureIC(max_components=5, covariance_type="all", reg_covar=reg_covar,
                                   random_state=0).fit(X)
        again = clone(search.best_estimator_).fit(X)
    assert np.isfinite(search.criteria_).all()
    assert_valid_mixture(search.best_estimator_, X)
    np.testing.assert_allclose(again.means_, search.means_, rtol=1e-7, atol=1e-7 * np.abs(X).max())
