"""GaussianMixtureClassifier on partially labelled data (y = -1 for unlabelled rows):
one EM over all rows, checked against a NumPy EM, and what it is for."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from emfast import GaussianMixture, GaussianMixtureClassifier
from emfast._data import ArrayData
from emfast._semisupervised import ClassModels, JointEM

COV_TYPES = ["full", "tied", "diag", "spherical"]


def hide_labels(y, fraction, seed):
    """y with all but `fraction` of each class's rows set to -1 (at least 3 kept)."""
    rng = np.random.RandomState(seed)
    partial = np.full_like(y, -1)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        keep = rng.choice(rows, max(3, int(round(fraction * len(rows)))), replace=False)
        partial[keep] = y[keep]
    return partial


def dense_covariances(p, cov, D):
    K = len(p.weights)
    return {
        "full": lambda: p.covariances,
        "tied": lambda: np.repeat(p.covariances[None], K, axis=0),
        "diag": lambda: np.stack([np.diag(c) for c in p.covariances]),
        "spherical": lambda: np.stack([c * np.eye(D) for c in p.covariances]),
    }[cov]()


def numpy_step(X, w, y_index, state, cov, reg):
    """One EM iteration of the joint mixture, from the definitions."""
    D = X.shape[1]
    logp, owner = [], []
    for c, (prior, p) in enumerate(zip(state.priors, state.mixtures)):
        covs = dense_covariances(p, cov, D)
        for k in range(len(p.weights)):
            logp.append(np.log(prior * p.weights[k]) + multivariate_normal(p.means[k], covs[k]).logpdf(X))
            owner.append(c)
    logp, owner = np.array(logp).T, np.array(owner)
    logp[(y_index[:, None] >= 0) & (owner[None, :] != y_index[:, None])] = -np.inf
    lse = logsumexp(logp, axis=1)
    resp = np.exp(logp - lse[:, None]) * w[:, None]
    mixtures = []
    for c in range(len(state.mixtures)):
        r = resp[:, owner == c]
        nk = r.sum(axis=0)
        means = r.T @ X / nk[:, None]
        scatter = np.stack([(r[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(len(nk))])
        covs = {
            "full": lambda: scatter / nk[:, None, None] + reg * np.eye(D),
            "tied": lambda: scatter.sum(axis=0) / nk.sum() + reg * np.eye(D),
            "diag": lambda: np.stack([np.diag(s) for s in scatter]) / nk[:, None] + reg,
            "spherical": lambda: np.array([np.trace(s) / D for s in scatter]) / nk + reg,
        }[cov]()
        mixtures.append((nk / nk.sum(), means, covs))
    free = y_index < 0  # the priors are the unlabelled rows' (labelled rows: p(x | y))
    mass = np.array([resp[free][:, owner == c].sum() for c in range(len(state.mixtures))])
    labelled = y_index >= 0
    objective = (w * lse).sum() - (w[labelled] * np.log(state.priors[y_index[labelled]])).sum()
    return objective / w.sum(), mass / mass.sum(), mixtures


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_joint_em_step_matches_numpy(cov, weighted):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(m, 1.0, size=(60, 3)) for m in (0.0, 3.0, 6.0)])
    y = np.repeat([0, 1, 2], 60)
    y_index = hide_labels(y, 0.2, 0)
    w = rng.uniform(0.5, 2.0, len(X)) if weighted else None
    start = GaussianMixtureClassifier(2, covariance_type=cov, random_state=0).fit(X[y_index >= 0], y[y_index >= 0])
    state = ClassModels(np.array([0.5, 0.3, 0.2]), [m._current_parameters() for m in start.mixtures_])
    groups = (y_index.astype(np.int32), np.array([0, 2, 4, 6], dtype=np.int64))
    labelled = np.bincount(y_index[y_index >= 0], weights=None if w is None else w[y_index >= 0], minlength=3)
    step = JointEM(cov, 1e-6, 1.0, len(X), groups, labelled).step(ArrayData(X, w), state)
    bound, priors, mixtures = numpy_step(X, np.ones(len(X)) if w is None else w, y_index, state, cov, 1e-6)
    np.testing.assert_allclose(step.lower_bound, bound, rtol=1e-10)
    np.testing.assert_allclose(step.params.priors, priors, rtol=1e-10)
    for ours, (weights, means, covs) in zip(step.params.mixtures, mixtures):
        np.testing.assert_allclose(ours.weights, weights, rtol=1e-10)
        np.testing.assert_allclose(ours.means, means, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.covariances, covs, rtol=1e-9)
    fixed = JointEM(cov, 1e-6, 1.0, len(X), groups, labelled, fixed_priors=state.priors).step(ArrayData(X, w), state)
    np.testing.assert_array_equal(fixed.params.priors, state.priors)


def _matched_accuracy(y, clusters):
    counts = np.zeros((clusters.max() + 1, y.max() + 1))
    np.add.at(counts, (clusters, y), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return counts[rows, cols].sum() / len(y)


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


DATASETS = {
    "wine": lambda: _standardised(load_wine),
    "breast cancer": lambda: _standardised(load_breast_cancer),
    "digits, 10 principal components": lambda: (
        PCA(10, random_state=0).fit_transform(load_digits().data), load_digits().target),
}


@pytest.mark.parametrize("name", list(DATASETS))
def test_ten_percent_labelled_beats_both_baselines(name):
    """Accuracy on the unlabelled rows >= the classifier of the labelled rows alone, and
    >= an unsupervised GaussianMixture (one component per class) matched to the labels."""
    X, y = DATASETS[name]()
    partial = hide_labels(y, 0.1, seed=0)
    labelled, unlabelled = partial >= 0, partial < 0
    settings = dict(covariance_type="full", reg_covar=1e-3, random_state=0)
    semi = GaussianMixtureClassifier(**settings, unlabelled=-1).fit(X, partial)
    supervised = GaussianMixtureClassifier(**settings).fit(X[labelled], y[labelled])
    clusters = GaussianMixture(len(np.unique(y)), **settings).fit(X).predict(X)
    ours = np.mean(semi.predict(X[unlabelled]) == y[unlabelled])
    assert ours >= np.mean(supervised.predict(X[unlabelled]) == y[unlabelled])
    assert ours >= _matched_accuracy(y[unlabelled], clusters[unlabelled])
    assert ours > 0.9


@pytest.mark.parametrize("cov", COV_TYPES)
def test_partially_labelled_fit(cov):
    rng = np.random.RandomState(1)
    X = np.vstack([rng.normal(m, 1.0, size=(100, 2)) for m in (0.0, 4.0)])
    y = np.repeat([3, 7], 100)
    partial = hide_labels(y, 0.1, 1)
    clf = GaussianMixtureClassifier(2, covariance_type=cov, random_state=0, unlabelled=-1).fit(X, partial)
    np.testing.assert_array_equal(clf.classes_, [3, 7])
    assert np.mean(clf.predict(X) == y) > 0.95
    for m in clf.mixtures_:  # one EM over both classes: the same history, increasing
        assert m.lower_bounds_ == clf.mixtures_[0].lower_bounds_
        assert np.all(np.diff(m.lower_bounds_) >= -1e-10)
    assert clf.n_iter_[0] == clf.mixtures_[0].n_iter_ and np.isclose(clf.priors_.sum(), 1.0)
    fixed = GaussianMixtureClassifier(2, covariance_type=cov, priors=[0.3, 0.7], random_state=0,
                                      unlabelled=-1).fit(X, partial)
    np.testing.assert_array_equal(fixed.priors_, [0.3, 0.7])


def test_float32_and_sample_weight():
    rng = np.random.RandomState(2)
    X = np.vstack([rng.normal(m, 1.0, size=(100, 2)) for m in (0.0, 4.0)])
    partial = hide_labels(np.repeat([0, 1], 100), 0.1, 2)
    clf = GaussianMixtureClassifier(random_state=0, unlabelled=-1).fit(X.astype(np.float32), partial)
    assert clf.mixtures_[0].means_.dtype == np.float32
    ref = GaussianMixtureClassifier(random_state=0, unlabelled=-1).fit(X, partial)
    np.testing.assert_allclose(clf.mixtures_[0].means_, ref.mixtures_[0].means_, atol=1e-3)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    once = GaussianMixtureClassifier(random_state=0, unlabelled=-1).fit(X, partial, sample_weight=w)
    twice = GaussianMixtureClassifier(random_state=0, unlabelled=-1).fit(X, partial, sample_weight=2 * w)
    assert not np.allclose(once.mixtures_[0].means_, ref.mixtures_[0].means_, rtol=1e-6)
    np.testing.assert_allclose(once.mixtures_[0].covariances_, twice.mixtures_[0].covariances_, rtol=1e-10)
    np.testing.assert_allclose(once.priors_, twice.priors_, rtol=1e-10)


def test_needs_labelled_rows_of_two_classes():
    X = np.random.RandomState(3).normal(size=(20, 2))
    with pytest.raises(ValueError, match="number of classes"):
        GaussianMixtureClassifier(unlabelled=-1).fit(X, np.r_[np.zeros(5), -np.ones(15)])


def test_unlabelled_is_opt_in():
    """-1 is a class unless unlabelled=-1 says otherwise (binary labels are often -1 and 1)."""
    rng = np.random.RandomState(4)
    X = np.vstack([rng.normal(m, 1.0, size=(50, 2)) for m in (0.0, 4.0)])
    y = np.repeat([-1, 1], 50)
    np.testing.assert_array_equal(GaussianMixtureClassifier().fit(X, y).classes_, [-1, 1])
    names = np.where(y == 1, "yes", "no")
    names[::3] = "?"
    clf = GaussianMixtureClassifier(unlabelled="?").fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    assert clf.n_iter_[0] == clf.mixtures_[0].n_iter_ and len(clf.mixtures_[0].lower_bounds_) == clf.n_iter_[0]


# ----------------------------------------------------------------- category discovery


def _five_blobs(seed=0):
    rng = np.random.RandomState(seed)
    centres = np.array([[0, 0], [8, 0], [0, 8], [8, 8], [4, 16]], dtype=float)
    y = np.repeat(np.arange(5), 120)
    return rng.normal(size=(600, 2)) + centres[y], y


def test_discovers_the_number_of_new_classes():
    X, y = _five_blobs()
    partial = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)  # 3 known classes, half labelled
    clf = GaussianMixtureClassifier(random_state=0, unlabelled=-1, n_new_classes="auto").fit(X, partial)
    assert clf.n_new_classes_ == 2 and clf.new_classes_bic_.shape == (7,)
    assert np.argmin(clf.new_classes_bic_) == 2
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3, 4])
    pred = clf.predict(X)
    assert np.mean(pred[y < 3] == y[y < 3]) > 0.99
    new = pred[y >= 3]  # the new classes' ids, in some order
    assert set(new) == {3, 4} and _matched_accuracy(y[y >= 3] - 3, new - 3) > 0.99
    assert clf.predict_proba(X).shape == (600, 5) and len(clf.mixtures_) == len(clf.priors_) == 5


def test_a_given_number_of_new_classes_and_string_labels():
    X, y = _five_blobs(1)
    names = np.array(["a", "b", "c", "d", "e"], dtype=object)[y]
    partial = np.where(y < 3, names, "?")
    clf = GaussianMixtureClassifier(random_state=0, unlabelled="?", n_new_classes=2).fit(X, partial)
    assert list(clf.classes_) == ["a", "b", "c", "new_0", "new_1"] and clf.n_new_classes_ == 2
    assert not hasattr(clf, "new_classes_bic_")
    assert set(clf.predict(X[y >= 3])) == {"new_0", "new_1"}


@pytest.mark.parametrize("params, y", [
    (dict(n_new_classes=1), np.repeat([0, 1], 50)),  # no unlabelled row
    (dict(n_new_classes="auto", priors=[0.5, 0.5], unlabelled=-1), np.repeat([0, 1, -1], [40, 40, 20])),
])
def test_discovery_needs_unlabelled_rows_and_estimated_priors(params, y):
    X = np.random.RandomState(5).normal(size=(len(y), 2))
    with pytest.raises(ValueError, match="n_new_classes"):
        GaussianMixtureClassifier(**params).fit(X, y)


@pytest.mark.slow
def test_digits_discovery_beats_clustering():
    """Digits 0-4 known (half their rows labelled), 5-9 new: the number of new classes
    within 1 of 5 and All accuracy on the unlabelled rows above k-means with the true
    number of classes and above a Gaussian mixture whose number of components BIC chose."""
    from sklearn.cluster import KMeans

    from emfast import GaussianMixtureIC

    X, y = load_digits(return_X_y=True)
    X = PCA(20, random_state=0).fit_transform(X)
    rng = np.random.RandomState(0)
    partial = np.full_like(y, -1)
    for c in range(5):
        rows = np.flatnonzero(y == c)
        keep = rng.choice(rows, len(rows) // 2, replace=False)
        partial[keep] = c
    free = partial < 0
    clf = GaussianMixtureClassifier(covariance_type="full", reg_covar=1e-3, n_init=4, random_state=0, unlabelled=-1,
                                    n_new_classes="auto", max_new_classes=10).fit(X, partial)
    assert abs(clf.n_new_classes_ - 5) <= 1
    ours = _matched_accuracy(y[free], np.searchsorted(clf.classes_, clf.predict(X[free])))
    kmeans = KMeans(10, n_init=10, random_state=0).fit(X).labels_[free]
    ic = GaussianMixtureIC(max_components=20, reg_covar=1e-3, random_state=0).fit(X).predict(X[free])
    assert ours > _matched_accuracy(y[free], kmeans) and ours > _matched_accuracy(y[free], ic)
