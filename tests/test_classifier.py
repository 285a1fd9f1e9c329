"""Mahalanobis distances and GaussianMixtureClassifier (out-of-distribution scores)."""

import warnings

import numpy as np
import pytest
from conftest import make_blobs
from scipy.spatial.distance import mahalanobis
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from emfast import GaussianMixture, GaussianMixtureClassifier

COV_TYPES = ["full", "tied", "diag", "spherical"]


def precision_matrices(gm):
    K, D = gm.means_.shape
    P = gm.precisions_
    return {
        "full": lambda: P,
        "tied": lambda: np.repeat(P[None], K, axis=0),
        "diag": lambda: np.stack([np.diag(p) for p in P]),
        "spherical": lambda: np.stack([np.eye(D) * p for p in P]),
    }[gm.covariance_type]()


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mahalanobis_equals_scipy(cov, dtype):
    X = make_blobs(600, 5, 3, seed=1, anisotropic=True)
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    Xq = make_blobs(50, 5, 3, seed=2, anisotropic=True)
    ours = gm.mahalanobis(Xq.astype(dtype))
    # a float64 model scores in float64, whatever X's dtype (as scikit-learn's outputs)
    assert ours.shape == (50, 3) and ours.dtype == np.float64
    VI = precision_matrices(gm)
    ref = np.array([[mahalanobis(x, gm.means_[k], VI[k]) ** 2 for k in range(3)] for x in Xq])
    np.testing.assert_allclose(ours, ref, rtol=1e-9 if dtype == np.float64 else 1e-4)


def ood_scores(fpr_at=0.95):
    """Digits 0-4 in distribution (half for training), 5-9 out of distribution."""
    X, y = load_digits(return_X_y=True)
    ind = y < 5
    X_tr, X_te, y_tr, y_te = train_test_split(X[ind], y[ind], test_size=0.5, stratify=y[ind], random_state=0)
    return X_tr, X_te, y_tr, y_te, X[~ind]


def fpr_at_95_tpr(in_scores, out_scores):
    """OOD is the positive class; scores: higher = more OOD."""
    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    fpr, tpr, _ = roc_curve(labels, np.r_[in_scores, out_scores])
    return float(fpr[np.searchsorted(tpr, 0.95)])


def test_digits_out_of_distribution():
    X_tr, X_te, y_tr, y_te, X_out = ood_scores()
    clf = GaussianMixtureClassifier(3, covariance_type="full", reg_covar=1.0, random_state=0).fit(X_tr, y_tr)
    accuracy = clf.score(X_te, y_te)
    labels = np.r_[np.zeros(len(X_te)), np.ones(len(X_out))]
    auroc_ll = roc_auc_score(labels, -np.r_[clf.score_samples(X_te), clf.score_samples(X_out)])
    auroc_maha = roc_auc_score(labels, np.r_[clf.mahalanobis_score(X_te), clf.mahalanobis_score(X_out)])

    # the same model from scikit-learn's GaussianMixture, one per class
    refs = [SkGaussianMixture(3, reg_covar=1.0, random_state=0).fit(X_tr[y_tr == c]) for c in range(5)]
    prior = np.bincount(y_tr) / len(y_tr)

    def ref_jll(Z):
        return np.stack([g.score_samples(Z) for g in refs], axis=1) + np.log(prior)

    def ref_maha(Z):
        out = []
        for g in refs:
            d2 = np.stack([mahalanobis_rows(Z, g.means_[k], g.precisions_[k]) for k in range(3)], axis=1)
            out.append(0.5 * d2 @ g.weights_)
        return np.min(out, axis=0)

    ref_accuracy = np.mean(np.argmax(ref_jll(X_te), axis=1) == y_te)
    ref_ll = roc_auc_score(labels, -np.r_[logsumexp(ref_jll(X_te), axis=1), logsumexp(ref_jll(X_out), axis=1)])
    ref_mh = roc_auc_score(labels, np.r_[ref_maha(X_te), ref_maha(X_out)])
    print(f"\naccuracy {accuracy:.4f} (sklearn {ref_accuracy:.4f}); AUROC -log p {auroc_ll:.4f} "
          f"(sklearn {ref_ll:.4f}); AUROC Mahalanobis {auroc_maha:.4f} (sklearn {ref_mh:.4f}); "
          f"FPR@95TPR -log p {fpr_at_95_tpr(-clf.score_samples(X_te), -clf.score_samples(X_out)):.4f}, "
          f"Mahalanobis {fpr_at_95_tpr(clf.mahalanobis_score(X_te), clf.mahalanobis_score(X_out)):.4f}")
    assert accuracy >= 0.99 and auroc_ll >= 0.985 and auroc_maha >= 0.92
    assert accuracy >= ref_accuracy - 0.005
    assert auroc_ll >= ref_ll - 0.005 and auroc_maha >= ref_mh - 0.005


def mahalanobis_rows(Z, mean, precision):
    d = Z - mean
    return np.einsum("ij,jk,ik->i", d, precision, d)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_scores_follow_their_definitions(cov):
    X = make_blobs(900, 4, 3, seed=3, spread=4.0)
    y = np.array(["a", "b", "c"])[np.random.RandomState(0).randint(3, size=900)]
    y[X[:, 0] > 2] = "a"
    clf = GaussianMixtureClassifier(2, covariance_type=cov, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["a", "b", "c"]
    np.testing.assert_allclose(clf.priors_, [np.mean(y == c) for c in "abc"])
    Z = make_blobs(40, 4, 3, seed=4)
    jll = np.stack([m.score_samples(Z) for m in clf.mixtures_], axis=1) + np.log(clf.priors_)
    np.testing.assert_allclose(clf.score_samples(Z), logsumexp(jll, axis=1), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(Z), np.exp(jll - logsumexp(jll, axis=1, keepdims=True)), rtol=1e-10)
    np.testing.assert_allclose(clf.predict_proba(Z).sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(Z), clf.classes_[jll.argmax(axis=1)])
    maha = np.min([0.5 * m.mahalanobis(Z) @ m.weights_ for m in clf.mixtures_], axis=0)
    np.testing.assert_allclose(clf.mahalanobis_score(Z), maha, rtol=1e-12)


def test_given_priors_and_sample_weight():
    X = make_blobs(400, 2, 2, seed=5, spread=5.0)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    clf = GaussianMixtureClassifier(priors=[0.9, 0.1], random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.priors_, [0.9, 0.1])
    w = np.where(y == 1, 3.0, 1.0)
    clf = GaussianMixtureClassifier(random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(clf.priors_, [200 / 800, 600 / 800])
    with pytest.raises(ValueError, match="priors"):
        GaussianMixtureClassifier(priors=[0.5, 0.6]).fit(X, y)


def test_class_too_small_is_an_error():
    X = make_blobs(50, 2, 2, seed=6)
    y = np.zeros(50, dtype=int)
    y[0] = 1
    with pytest.raises(ValueError, match="class 1 has 1 samples"):
        GaussianMixtureClassifier(random_state=0).fit(X, y)


@parametrize_with_checks([GaussianMixtureClassifier(covariance_type=c, random_state=0) for c in COV_TYPES])
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_student_t_family_is_one_student_t_mixture_per_class(cov):
    from emfast import StudentTMixture

    X = make_blobs(900, 3, 3, seed=4, anisotropic=True)
    y = np.random.RandomState(0).randint(3, size=len(X))
    clf = GaussianMixtureClassifier(2, covariance_type=cov, family="student_t", random_state=0).fit(X, y)
    prior = np.bincount(y) / len(y)
    jll = []
    for c, mixture in enumerate(clf.mixtures_):
        ref = StudentTMixture(2, covariance_type=cov, random_state=0).fit(X[y == c])
        assert isinstance(mixture, StudentTMixture)
        np.testing.assert_array_equal(mixture.dofs_, ref.dofs_)
        np.testing.assert_array_equal(mixture.means_, ref.means_)
        jll.append(ref.score_samples(X) + np.log(prior[c]))
    jll = np.stack(jll, axis=1)
    np.testing.assert_allclose(clf.score_samples(X), logsumexp(jll, axis=1), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X), np.exp(jll - logsumexp(jll, axis=1, keepdims=True)), atol=1e-12)
    d2 = [m.mahalanobis(X) @ m.weights_ / 2 for m in clf.mixtures_]
    np.testing.assert_allclose(clf.mahalanobis_score(X), np.min(d2, axis=0), rtol=1e-12)
