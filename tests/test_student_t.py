"""StudentTMixture against a plain NumPy ECM, SciPy's multivariate t, and the engine's rules."""

import warnings

import numpy as np
import pytest
from conftest import float32_model_dtype
from scipy.special import digamma, gammaln, logsumexp
from scipy.stats import f as f_dist
from scipy.stats import kstest, multivariate_t
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from emfast import GaussianMixture, StudentTMixture
from emfast._student_t import DOF_MAX, DOF_MIN

COV_TYPES = ("full", "tied", "diag", "spherical")


def t_data(n=400, d=3, k=3, df=3.0, seed=0, spread=6.0):
    """k clusters of t-distributed rows (df degrees of freedom), and their labels."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=spread, size=(k, d))
    labels = rng.randint(k, size=n)
    mix = rng.normal(size=(k, d, d)) / np.sqrt(d) + np.eye(d)
    z = np.einsum("nd,nde->ne", rng.standard_normal((n, d)), mix[labels])
    u = rng.gamma(df / 2, 2 / df, size=n)
    return centres[labels] + z / np.sqrt(u)[:, None], labels


# ----------------------------------------------------------------- the reference


def full_covariances(covs, cov, K, D):
    """The K scale matrices as dense D x D arrays."""
    if cov == "full":
        return covs
    if cov == "tied":
        return np.tile(covs, (K, 1, 1))
    if cov == "diag":
        return np.stack([np.diag(c) for c in covs])
    return np.stack([np.eye(D) * c for c in covs])


def reference_statistics(X, w, weights, means, covs, dofs, cov):
    """One E-step, written plainly: (mean log-likelihood, the sums the CM-steps take:
    sum w r, sum w r u, sum w r u x, sum w r u x x^T, sum w r (E[log u] - E[u]))."""
    n, D = X.shape
    K = len(weights)
    S = full_covariances(covs, cov, K, D)
    delta2 = np.empty((n, K))
    log_dens = np.empty((n, K))
    for k in range(K):
        diff = X - means[k]
        delta2[:, k] = np.einsum("ni,ni->n", diff, np.linalg.solve(S[k], diff.T).T)
        nu = dofs[k]
        log_dens[:, k] = (
            gammaln((nu + D) / 2) - gammaln(nu / 2) - D / 2 * np.log(nu * np.pi)
            - 0.5 * np.linalg.slogdet(S[k])[1] - (nu + D) / 2 * np.log1p(delta2[:, k] / nu)
        )
    weighted = log_dens + np.log(weights)
    log_px = logsumexp(weighted, axis=1)
    r = w[:, None] * np.exp(weighted - log_px[:, None])
    u = (dofs + D) / (dofs + delta2)
    a = (dofs + D) / 2
    ru = r * u
    sums = (r.sum(axis=0), ru.sum(axis=0), ru.T @ X, np.einsum("nk,ni,nj->kij", ru, X, X),
            (r * (np.log(u) - u)).sum(axis=0) + r.sum(axis=0) * (digamma(a) - np.log(a)))
    return np.sum(w * log_px) / np.sum(w), sums


def reference_maximisation(sums, dofs, cov, fit_dofs, reg_covar=1e-6):
    """The CM-steps (Peel & McLachlan 2000), written plainly: weights, means, scale
    matrices, then each nu solving 1 - psi(nu/2) + log(nu/2) + E_k = 0 by bisection."""
    n_r, s0, s1, s2, log_scale = sums
    D = s1.shape[1]
    weights = n_r / n_r.sum()
    means = s1 / s0[:, None]
    scatter = s2 - np.einsum("ki,kj->kij", s1, s1) / s0[:, None, None]
    if cov == "full":
        covs = scatter / n_r[:, None, None] + reg_covar * np.eye(D)
    elif cov == "tied":
        covs = scatter.sum(axis=0) / n_r.sum() + reg_covar * np.eye(D)
    elif cov == "diag":
        covs = np.diagonal(scatter, axis1=1, axis2=2) / n_r[:, None] + reg_covar
    else:
        covs = np.trace(scatter, axis1=1, axis2=2) / (D * n_r) + reg_covar
    dofs = dofs.copy()
    for k in range(len(dofs) if fit_dofs else 0):
        g = lambda nu: 1 - digamma(nu / 2) + np.log(nu / 2) + log_scale[k] / n_r[k]  # noqa: E731
        lo, hi = DOF_MIN, DOF_MAX
        if g(hi) >= 0:
            dofs[k] = hi
        elif g(lo) <= 0:
            dofs[k] = lo
        else:
            for _ in range(200):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
            dofs[k] = (lo + hi) / 2
    return weights, means, covs, dofs


def reference_ecm(X, w, weights, means, covs, dofs, cov, n_iter, fit_dofs):
    """n_iter ECM iterations; returns (weights, means, covs, dofs, the mean
    log-likelihood before each iteration)."""
    bounds = []
    for _ in range(n_iter):
        bound, sums = reference_statistics(X, w, weights, means, covs, dofs, cov)
        bounds.append(bound)
        weights, means, covs, dofs = reference_maximisation(sums, dofs, cov, fit_dofs)
    return weights, means, covs, dofs, bounds


def initial_model(X, K, cov, seed=1):
    rng = np.random.RandomState(seed)
    means = X[rng.choice(len(X), K, replace=False)]
    var = X.var(axis=0)
    covs = {
        "full": np.tile(np.diag(var), (K, 1, 1)),
        "tied": np.diag(var),
        "diag": np.tile(var, (K, 1)),
        "spherical": np.full(K, var.mean()),
    }[cov]
    return np.full(K, 1.0 / K), means, covs


def precisions(covs, cov):
    return np.linalg.inv(covs) if cov in ("full", "tied") else 1.0 / covs


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dof", ["fit", 2.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_the_numpy_ecm(cov, dof, weighted):
    X, _ = t_data(300, 3, 3, seed=2)
    w = np.random.RandomState(3).uniform(0.2, 3.0, len(X)) if weighted else np.ones(len(X))
    weights, means, covs = initial_model(X, 3, cov)
    dof_init = 5.0
    n_iter = 15
    fit_dofs = dof == "fit"
    est = StudentTMixture(
        3, covariance_type=cov, dof=dof, dof_init=dof_init, max_iter=n_iter, tol=0,
        weights_init=weights, means_init=means, precisions_init=precisions(covs, cov),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, sample_weight=w if weighted else None)
    start = np.full(3, dof_init if fit_dofs else dof)
    ref = reference_ecm(X, w, weights, means, covs, start, cov, n_iter, fit_dofs)
    for got, want in zip((est.weights_, est.means_, est.covariances_, est.dofs_), ref[:4]):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.lower_bounds_, ref[4], rtol=1e-10)
    if fit_dofs:
        assert not np.allclose(est.dofs_, dof_init)  # nu moved: the test covers its update


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dofs", [[0.3, 3.0], [40.0, 1e4], [1e6, 2.0]])
def test_scores_are_scipy_multivariate_t(cov, dtype, dofs):
    X, _ = t_data(500, 3, 2, seed=4)
    est = StudentTMixture(2, covariance_type=cov, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    est.dofs_ = np.array(dofs)
    S = full_covariances(np.asarray(est.covariances_, dtype=np.float64), cov, 2, 3)
    comp = np.column_stack([
        np.log(est.weights_[k]) + multivariate_t(est.means_[k], S[k], df=dofs[k]).logpdf(X) for k in range(2)
    ])
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    # log Gamma((nu + D) / 2) - log Gamma(nu / 2) cancels: its terms' rounding remains
    atol = 1e-15 * gammaln(max(dofs) / 2 + 2)
    Xd = X.astype(dtype)
    np.testing.assert_allclose(est.score_samples(Xd), logsumexp(comp, axis=1), rtol=rtol, atol=atol)
    np.testing.assert_allclose(est._predict_pass(Xd, "weighted_log_prob"), comp, rtol=rtol, atol=atol)
    proba = np.exp(comp - logsumexp(comp, axis=1, keepdims=True))
    np.testing.assert_allclose(est.predict_proba(Xd), proba, rtol=10 * rtol, atol=max(10 * atol, 100 * rtol))
    clear = np.abs(comp[:, 0] - comp[:, 1]) > 1e-3
    np.testing.assert_array_equal(est.predict(Xd)[clear], np.argmax(comp, 1)[clear])


# ----------------------------------------------------------------- engine guarantees


@pytest.mark.parametrize("cov", COV_TYPES)
def test_integer_sample_weight_equals_repetition(cov):
    X, _ = t_data(200, 3, 3, seed=5)
    w = np.random.RandomState(0).randint(0, 4, len(X))
    weights, means, covs = initial_model(X, 3, cov)
    init = dict(weights_init=weights, means_init=means, precisions_init=precisions(covs, cov))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = StudentTMixture(3, covariance_type=cov, max_iter=20, tol=0, **init).fit(X, sample_weight=w)
        b = StudentTMixture(3, covariance_type=cov, max_iter=20, tol=0, **init).fit(np.repeat(X, w, axis=0))
    for name in ("weights_", "means_", "covariances_", "dofs_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-12)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_float32_end_to_end(cov):
    X, _ = t_data(2000, 4, 3, seed=6)
    a = StudentTMixture(3, covariance_type=cov, random_state=0).fit(X)
    b = StudentTMixture(3, covariance_type=cov, random_state=0).fit(X.astype(np.float32))
    expected = float32_model_dtype(b)  # float64 before scikit-learn 1.7, as GaussianMixture's
    assert b.means_.dtype == expected and b.covariances_.dtype == expected
    assert b.score_samples(X.astype(np.float32)).dtype == expected
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(b.dofs_, a.dofs_, rtol=1e-2)


def test_memmap_gives_the_in_memory_model(tmp_path):
    X, _ = t_data(1000, 3, 2, seed=7)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    a = StudentTMixture(2, random_state=0).fit(X)
    b = StudentTMixture(2, random_state=0).fit(np.load(tmp_path / "X.npy", mmap_mode="r"))
    for name in ("means_", "covariances_", "dofs_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_dask_array_gives_the_in_memory_model():
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    X, _ = t_data(3000, 3, 2, seed=8)
    a = StudentTMixture(2, init_params="random_from_data", random_state=0, tol=0, max_iter=10).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        b = StudentTMixture(2, init_params="random_from_data", random_state=0, tol=0, max_iter=10)
        b.fit(da.from_array(X, chunks=700))
    for name in ("weights_", "means_", "covariances_", "dofs_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10)
    np.testing.assert_allclose(b.score_samples(da.from_array(X, chunks=700)).compute(), a.score_samples(X), rtol=1e-12, atol=1e-12)


def test_samples_follow_the_fitted_t():
    """delta^2 / D of a t's draws follows F(D, nu): a KS test on each component's draws."""
    X, _ = t_data(600, 3, 2, seed=9)
    est = StudentTMixture(2, random_state=0).fit(X)
    Xs, ys = est.sample(20000)
    d2 = est.mahalanobis(Xs)
    for k in range(2):
        stat = kstest(d2[ys == k, k] / 3, f_dist(3, est.dofs_[k]).cdf)
        assert stat.pvalue > 1e-3, stat


def test_n_parameters_count_fitted_dofs():
    X, _ = t_data(300, 3, 2, seed=10)
    fitted = StudentTMixture(2, random_state=0).fit(X)
    fixed = StudentTMixture(2, dof=4.0, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert fitted._n_parameters() == gm._n_parameters() + 2
    assert fixed._n_parameters() == gm._n_parameters()
    assert fitted.bic(X) == pytest.approx(-2 * fitted.score(X) * len(X) + fitted._n_parameters() * np.log(len(X)))
    np.testing.assert_array_equal(fixed.dofs_, [4.0, 4.0])


@pytest.mark.parametrize("params, match", [
    ({"dof": "banana"}, "'dof' parameter"),
    ({"dof": 0.0}, "'dof' parameter"),
    ({"dof": -1.0}, "'dof' parameter"),
    ({"dof": np.inf}, "'dof' parameter"),
    ({"dof_init": 0.0}, "'dof_init' parameter"),
    ({"dof_init": np.nan}, "'dof_init' parameter"),
])
def test_bad_dof(params, match):
    with pytest.raises(ValueError, match=match):
        StudentTMixture(2, **params).fit(np.random.RandomState(0).randn(20, 2))


def test_warm_start_continues_with_the_fitted_dofs():
    X, _ = t_data(300, 3, 2, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = StudentTMixture(2, max_iter=8, tol=0, random_state=0).fit(X)
        half = StudentTMixture(2, max_iter=4, tol=0, random_state=0, warm_start=True).fit(X).fit(X)
    np.testing.assert_allclose(half.dofs_, whole.dofs_, rtol=1e-12)
    np.testing.assert_allclose(half.means_, whole.means_, rtol=1e-12)


# ----------------------------------------------------------------- robustness


def with_outliers(seed, n=600, d=2, k=3, fraction=0.05):
    """k separated anisotropic Gaussian clusters (their labels), then 5 % of uniform
    outliers over 10 times the data's range in every feature."""
    rng = np.random.RandomState(seed)
    angle = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(k) / k
    centres = 6 * np.column_stack([np.cos(angle), np.sin(angle)]) + rng.normal(scale=0.5, size=(k, d))
    labels = rng.randint(k, size=n)
    shape = np.eye(d) + 0.3 * rng.randn(k, d, d)
    X = centres[labels] + np.einsum("nd,nde->ne", rng.standard_normal((n, d)), shape[labels])
    lo, hi = X.min(axis=0), X.max(axis=0)
    mid, half = (lo + hi) / 2, 5 * (hi - lo)
    m = int(round(fraction * n / (1 - fraction)))
    return np.r_[X, rng.uniform(mid - half, mid + half, size=(m, d))], labels


# the same search for both models: k-means itself puts centres on outliers (the
# default init_params='kmeans' then leaves both at ARI 0), so start from samples,
# keeping the best of ten starts by likelihood
SEARCH = dict(init_params="random_from_data", n_init=10, random_state=0)


def inlier_ari(est, X, labels):
    return adjusted_rand_score(labels, est.fit(X).predict(X[: len(labels)]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_outliers_do_not_pull_the_clusters_apart(seed):
    X, labels = with_outliers(seed)
    ari_t = inlier_ari(StudentTMixture(3, **SEARCH), X, labels)
    ari_g = inlier_ari(GaussianMixture(3, **SEARCH), X, labels)
    assert ari_t >= ari_g + 0.1, (ari_t, ari_g)
    clean = X[: len(labels)]
    ari_t = inlier_ari(StudentTMixture(3, **SEARCH), clean, labels)
    ari_g = inlier_ari(GaussianMixture(3, **SEARCH), clean, labels)
    assert abs(ari_t - ari_g) <= 0.01, (ari_t, ari_g)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_degrees_of_freedom_are_large_without_outliers(seed):
    """Converged tightly (nu moves slowly under ECM: the likelihood is flat in it), every
    component of Gaussian clusters has nu > 10; with outliers, one component takes
    them in its tails (nu < 2) and the others stay above 10."""
    X, labels = with_outliers(seed)
    tight = dict(SEARCH, tol=1e-6, max_iter=3000)
    clean = StudentTMixture(3, **tight).fit(X[: len(labels)])
    assert (clean.dofs_ > 10).all(), clean.dofs_
    dirty = np.sort(StudentTMixture(3, **tight).fit(X).dofs_)
    assert dirty[0] < 2 and (dirty[1:] > 10).all(), dirty


# ----------------------------------------------------------------- the native entry points


def test_native_checks_the_degrees_of_freedom():
    from emfast._native import core

    X = np.random.RandomState(0).randn(50, 2)
    args = (X, None, np.log([0.5, 0.5]), X[:2].copy(), np.tile(np.eye(2), (2, 1, 1)), "full", np.zeros(2))
    for dofs, match in (([1.0], "shape"), ([1.0, 0.0], "positive"), ([1.0, np.inf], "finite"),
                        ([1.0, np.nan], "finite"), (np.ones((2, 1)), "shape")):
        with pytest.raises(ValueError, match=match):
            core.em_pass(*args, dofs=np.asarray(dofs, dtype=np.float64))
        with pytest.raises(ValueError, match=match):
            core.score(X, *args[2:], what="log_prob_norm", dofs=np.asarray(dofs, dtype=np.float64))
    with pytest.raises(ValueError, match="hard"):
        core.em_pass(*args, hard=True, dofs=np.ones(2))
    stats = core.em_pass(*args, dofs=np.ones(2))
    assert set(stats) >= {"resp", "log_scale"} and "resp" not in core.em_pass(*args)
    for resp, match in ((np.ones(3), "resp"), (np.array([1.0, np.nan]), "resp")):
        with pytest.raises(ValueError, match=match):
            core.m_step(stats["s0"], stats["s1"], stats["s2"], stats["centers"], "full", 1e-6, 0.0, 1.0, resp)


def test_one_pass_statistics_are_the_sums_they_name():
    """The pass's u-weighted S0, S1, S2 and its two extra sums, against NumPy."""
    from emfast._native import core

    X, _ = t_data(700, 3, 2, seed=12)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(X))
    means = X[:2].copy()
    rng = np.random.RandomState(2)
    P = np.stack([np.triu(0.3 * rng.randn(3, 3), 1) + np.diag(rng.uniform(0.3, 1.5, 3)) for _ in range(2)])
    weights, dofs = np.array([0.3, 0.7]), np.array([2.5, 7.0])
    st = core.em_pass(X, w, np.log(weights), means, P, "full", np.zeros(3), dofs=dofs)
    delta2 = np.stack([np.sum(((X - means[k]) @ P[k]) ** 2, axis=1) for k in range(2)], axis=1)
    log_dens = (gammaln((dofs + 3) / 2) - gammaln(dofs / 2) - 1.5 * np.log(dofs * np.pi)
                + np.log(np.abs(np.diagonal(P, axis1=1, axis2=2))).sum(axis=1)
                - (dofs + 3) / 2 * np.log1p(delta2 / dofs) + np.log(weights))
    r = w[:, None] * np.exp(log_dens - logsumexp(log_dens, axis=1, keepdims=True))
    u = (dofs + 3) / (dofs + delta2)
    np.testing.assert_allclose(st["resp"], r.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(st["log_scale"], (r * (np.log(u) - u + 1)).sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(st["s0"], (r * u).sum(axis=0), rtol=1e-12)
    c = st["centers"]
    np.testing.assert_allclose(st["s1"], [(r[:, k] * u[:, k]) @ (X - c[k]) for k in range(2)], rtol=1e-10, atol=1e-10)
    s2 = [((r[:, k] * u[:, k])[:, None] * (X - c[k])).T @ (X - c[k]) for k in range(2)]
    np.testing.assert_allclose(st["s2"], s2, rtol=1e-10)
    np.testing.assert_allclose(st["loglik"], w @ logsumexp(log_dens, axis=1), rtol=1e-12)


# ----------------------------------------------------------------- online ECM


@pytest.mark.parametrize("cov", COV_TYPES)
def test_online_learning_decay_zero_on_all_of_x_is_batch_ecm(cov):
    from emfast import MiniBatchStudentTMixture

    X, _ = t_data(300, 3, 3, seed=13)
    weights, means, covs = initial_model(X, 3, cov)
    init = dict(weights_init=weights, means_init=means, precisions_init=precisions(covs, cov), dof_init=5.0)
    mb = MiniBatchStudentTMixture(3, covariance_type=cov, learning_decay=0.0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n_iter in (1, 2, 3):
            mb.partial_fit(X)
            batch = StudentTMixture(3, covariance_type=cov, max_iter=n_iter, tol=0, **init).fit(X)
            for name in ("weights_", "means_", "covariances_", "dofs_"):
                np.testing.assert_allclose(getattr(mb, name), getattr(batch, name), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dof", ["fit", 3.0])
def test_online_steps_average_the_expected_statistics(cov, dof):
    """s_1 = s_bar_1, s_2 = (1 - rho) s_1 + rho s_bar_2 (the statistics per unit weight,
    the nu statistic an expectation under each batch's model), then the CM-steps."""
    from emfast import MiniBatchStudentTMixture

    X, _ = t_data(600, 3, 3, seed=14)
    w = np.random.RandomState(4).uniform(0.5, 2.0, len(X))
    weights, means, covs = initial_model(X, 3, cov)
    dofs = np.full(3, 5.0 if dof == "fit" else dof)
    init = dict(weights_init=weights, means_init=means, precisions_init=precisions(covs, cov))
    mb = MiniBatchStudentTMixture(3, covariance_type=cov, dof=dof, dof_init=5.0, learning_decay=0.6,
                                  learning_offset=2.0, **init)
    mb.partial_fit(X[:300], sample_weight=w[:300]).partial_fit(X[300:], sample_weight=w[300:])
    rho = (2.0 + 2) ** -0.6
    model, averaged = (weights, means, covs, dofs), None
    for rows in (slice(0, 300), slice(300, 600)):
        _, sums = reference_statistics(X[rows], w[rows], *model, cov)
        sums = [s / w[rows].sum() for s in sums]
        averaged = sums if averaged is None else [(1 - rho) * a + rho * b for a, b in zip(averaged, sums)]
        model = reference_maximisation(averaged, model[3], cov, dof == "fit")
    for got, want in zip((mb.weights_, mb.means_, mb.covariances_, mb.dofs_), model):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)


def test_online_fit_comes_close_to_batch_ecm():
    from emfast import MiniBatchStudentTMixture

    X, _ = t_data(20000, 3, 3, seed=15)
    batch = StudentTMixture(3, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        online = MiniBatchStudentTMixture(3, batch_size=2000, random_state=0).fit(X)
    order = [int(np.argmin(np.linalg.norm(batch.means_ - m, axis=1))) for m in online.means_]
    np.testing.assert_allclose(online.means_, batch.means_[order], atol=0.05)
    # nu converges slowly under ECM in both (the likelihood is flat in it): within 50 %
    assert (np.abs(np.log(online.dofs_ / batch.dofs_[order])) < np.log(1.5)).all(), (online.dofs_, batch.dofs_)
    assert abs(online.score(X) - batch.score(X)) < 0.01


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_distance_beyond_the_float_range_to_one_component_only(dtype):
    """A component so narrow that the distances to it overflow takes no responsibility;
    the statistics stay finite (the other component explains the rows)."""
    from emfast._native import core

    X = np.random.RandomState(0).randn(200, 2).astype(dtype)
    narrow = 1e25 if dtype == np.float32 else 1e160
    P = np.stack([np.eye(2), np.eye(2) * narrow])
    means = np.array([[0.0, 0.0], [5.0, 5.0]])
    st = core.em_pass(X, None, np.log([0.5, 0.5]), means, P, "full", np.zeros(2), dofs=np.array([3.0, 3.0]))
    for name in ("s0", "s1", "s2", "resp", "log_scale"):
        assert np.isfinite(st[name]).all(), name
    assert np.isfinite(st["loglik"])
    np.testing.assert_allclose(st["resp"], [200.0, 0.0], atol=1e-6)
