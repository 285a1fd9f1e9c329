"""Learning from label proportions: the API every labeler and LLPClassifier share
(per-row supervision, scikit-learn's conventions, cross-validation), bad input,
and interruption."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from emfast import BeliefPropagationLabeler, GaussianMixtureLabeler, LLPClassifier

from llp_helpers import interrupt_latency, make_llp, per_row

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LABELERS = [BeliefPropagationLabeler, GaussianMixtureLabeler]


def seeded(Labeler, **params):
    """A labeler with params, and a fixed random_state where it has one."""
    if "random_state" in Labeler().get_params():
        params.setdefault("random_state", 0)
    return Labeler(**params)

# y is each row's bag proportion, in [0, 1]: the checks' binary labels other than
# 0 and 1 (1 and 2, strings) are not proportions, and are refused.
_NOT_PROPORTIONS = "the check's binary labels are not in [0, 1]: y is each row's bag proportion"
_EXPECTED = {
    "check_estimators_dtypes": _NOT_PROPORTIONS + " (labels 1 and 2)",
    "check_fit2d_1feature": _NOT_PROPORTIONS + " (labels 1 and 2)",
    "check_classifier_data_not_an_array": _NOT_PROPORTIONS + " (labels 1 and 2)",
    "check_classifiers_classes": _NOT_PROPORTIONS + " (string labels)",
}


def expected_failed_checks(estimator):
    names = ["check_estimators_dtypes", "check_fit2d_1feature"]
    if isinstance(estimator, LLPClassifier):
        names += ["check_classifier_data_not_an_array", "check_classifiers_classes"]
    return {name: _EXPECTED[name] for name in names}


@pytest.mark.skipif(
    tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 7),
    reason="scikit-learn 1.6's checks draw multiclass y; the labelers take bag proportions in [0, 1]",
)
@parametrize_with_checks(
    [BeliefPropagationLabeler(), GaussianMixtureLabeler(), LLPClassifier(LogisticRegression())],
    expected_failed_checks=expected_failed_checks,
)
def test_scikit_learn_conventions(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ------------------------------------------------------------ supervision


@pytest.mark.parametrize("Labeler", LABELERS)
def test_proportions_and_counts_agree(Labeler):
    """y (each row's bag proportion), bag_counts as an array or a mapping with
    string bag ids: the same fit."""
    X, y, bags_int = make_llp(400, bag_size=40, seed=4)
    names = np.array([f"bag-{b:02d}" for b in range(bags_int.max() + 1)])
    bags = names[bags_int]
    counts = np.bincount(bags_int, weights=y).astype(int)
    a = seeded(Labeler, max_iter=20).fit(X, per_row(y, bags), bags=bags)
    b = seeded(Labeler, max_iter=20).fit(X, bags=list(bags), bag_counts=counts)
    mapping = {name: int(c) for name, c in zip(names[::-1], counts[::-1])}  # any order
    c = seeded(Labeler, max_iter=20).fit(X, bags=bags, bag_counts=mapping)
    np.testing.assert_array_equal(a.marginals_, b.marginals_)
    np.testing.assert_array_equal(b.marginals_, c.marginals_)
    np.testing.assert_array_equal(a.fit_predict(X, per_row(y, bags), bags=bags), a.labels_)


@pytest.mark.parametrize("Labeler", LABELERS)
def test_each_row_its_own_bag_gives_the_labels(Labeler):
    """bags=None: every row is its own bag and y its label; the hard counts fix every label."""
    X, y, _ = make_llp(300, seed=5)
    lab = Labeler(**({"bag_weight": np.inf} if Labeler is BeliefPropagationLabeler else {})).fit(X, y)
    np.testing.assert_allclose(lab.marginals_, y, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(lab.labels_, y)


@pytest.mark.parametrize("Labeler", LABELERS)
def test_inputs_are_not_modified_and_clone_pickle(Labeler):
    X, y, bags = make_llp(300, bag_size=30, seed=5)
    counts = {int(b): int(c) for b, c in enumerate(np.bincount(bags, weights=y))}
    X0, bags0, counts0 = X.copy(), bags.copy(), dict(counts)
    lab = seeded(Labeler, max_iter=5).fit(X, bags=bags, bag_counts=counts)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(bags, bags0)
    assert counts == counts0
    assert not hasattr(clone(lab), "marginals_")
    back = pickle.loads(pickle.dumps(lab))
    np.testing.assert_array_equal(back.marginals_, lab.marginals_)
    np.testing.assert_array_equal(back.fit(X, bags=bags, bag_counts=counts).marginals_, lab.marginals_)


def test_precomputed_input_is_not_modified():
    S = sp.random(50, 50, density=0.1, random_state=0)
    S = (S + S.T).tocsr()
    S.setdiag(1.0)
    S0 = S.copy()
    BeliefPropagationLabeler(metric="precomputed", max_iter=5).fit(S, bags=np.zeros(50), bag_counts=[10])
    assert abs(S - S0).nnz == 0


@pytest.mark.parametrize("Labeler", LABELERS)
def test_fit_is_interrupted_within_a_second_on_a_huge_bag(Labeler):
    """Ctrl-C during fit on one bag of 400 000 rows: KeyboardInterrupt within 1 s,
    and the estimator is usable afterwards."""
    n = 400_000
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    y = np.full(n, 0.3)
    lab = Labeler(n_neighbors=0) if Labeler is BeliefPropagationLabeler else Labeler()
    assert interrupt_latency(lambda: lab.fit(X, y, bags=np.zeros(n))) < 1.0
    Xs, ys, bags = make_llp(300, seed=1)
    lab.set_params(max_iter=5).fit(Xs, per_row(ys, bags), bags=bags)
    assert np.isfinite(lab.marginals_).all()


# ---------------------------------------------------------------- bad input


@pytest.fixture
def small():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 3))
    bags = np.repeat(["a", "b", "c"], 10)
    return X, bags


@pytest.mark.parametrize(
    "counts, exc, match",
    [
        ([3, 11, 2], ValueError, r"larger than the bag.*'b'.*11.*10 rows"),
        ([3, -1, 2], ValueError, r"non-negative.*'b'"),
        ({"a": 3, "c": 2}, ValueError, r"bag id 'b' has no entry in bag_counts"),
        ([3, 2], ValueError, r"one value per bag.*length 3"),
        ([3, 2.5, 2], ValueError, r"whole numbers.*'b'"),
        ([3, np.nan, 2], ValueError, r"NaN"),
        (["3", "2", "1"], TypeError, r"numeric"),
        ({"a": 1, "b": None, "c": 2}, TypeError, r"numeric"),
    ],
)
@pytest.mark.parametrize("Labeler", LABELERS)
def test_bad_counts(small, Labeler, counts, exc, match):
    X, bags = small
    with pytest.raises(exc, match=match):
        Labeler().fit(X, bags=bags, bag_counts=counts)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.r_[np.full(10, 0.1), np.full(10, 0.2), np.full(9, 0.3), 0.4], r"same for every row of a bag: bag 'c'"),
        (np.r_[np.full(20, 0.1), np.full(10, 1.5)], r"in \[0, 1\].*1.5"),
        (np.r_[np.full(20, 0.1), np.full(10, np.nan)], r"NaN"),
        (np.full(29, 0.1), r"one value per row"),
        (np.array(["0.1"] * 30), r"Unknown label type"),
    ],
)
@pytest.mark.parametrize("Labeler", LABELERS)
def test_bad_y(small, Labeler, y, match):
    X, bags = small
    with pytest.raises(ValueError, match=match):
        Labeler().fit(X, y, bags=bags)


@pytest.mark.parametrize("Labeler", LABELERS)
def test_bad_X_bags_and_arguments(small, Labeler):
    X, bags = small
    y = np.full(30, 0.2)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Labeler().fit(Xn, y, bags=bags)
    with pytest.raises(ValueError, match="one bag id per row"):
        Labeler().fit(X, y, bags=bags[:-1])
    with pytest.raises(ValueError, match="bags contains NaN"):
        Labeler().fit(X, y, bags=np.r_[np.nan, np.zeros(29)])
    with pytest.raises(TypeError, match="comparable"):
        Labeler().fit(X, y, bags=np.array([None, "a", 1] * 10, dtype=object))
    with pytest.raises(TypeError):
        Labeler().fit(sp.csr_matrix(X), y, bags=bags)  # features must be dense
    with pytest.raises(ValueError, match="requires y"):
        Labeler().fit(X, bags=bags)
    with pytest.raises(TypeError, match="not both"):
        Labeler().fit(X, y, bags=bags, bag_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="max_iter"):
        Labeler(max_iter=10**7).fit(X, y, bags=bags)  # absurd: refused


def test_bad_bp_parameters(small):
    X, bags = small
    y = np.full(30, 0.2)
    for params in ({"n_neighbors": -1}, {"damping": 1.0}, {"bag_factor": "clique"}, {"threshold": 2},
                   {"similarity_weight": np.inf}, {"bag_weight": -1.0}, {"tol": -1}):
        with pytest.raises(ValueError):
            BeliefPropagationLabeler(**params).fit(X, y, bags=bags)
    with pytest.raises(ValueError, match="bag_factor='exact'"):
        BeliefPropagationLabeler(bag_weight=np.inf, bag_factor="pairwise").fit(X, y, bags=bags)
    with pytest.raises(ValueError, match=r"pairwise.*5001 rows.*bag_factor='exact'"):
        BeliefPropagationLabeler(bag_factor="pairwise", bag_weight=1.0, n_neighbors=0).fit(
            np.zeros((5001, 1)), bags=np.zeros(5001), bag_counts=[7])


def test_bad_precomputed():
    bags = np.zeros(4)
    with pytest.raises(ValueError, match="square"):
        BeliefPropagationLabeler(metric="precomputed").fit(np.ones((4, 3)), bags=bags, bag_counts=[1])
    A = np.array([[0, 1, 0, 0], [0.5, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    with pytest.raises(ValueError, match="symmetric"):
        BeliefPropagationLabeler(metric="precomputed").fit(A, bags=bags, bag_counts=[1])
    with pytest.raises(ValueError, match="non-negative"):
        BeliefPropagationLabeler(metric="precomputed").fit(-np.ones((4, 4)), bags=bags, bag_counts=[1])


# ------------------------------------------------------------- classifier


def test_llp_classifier_with_logistic_regression():
    X, y, bags = make_llp(1200, seed=10)
    clf = LLPClassifier(LogisticRegression(), labeler=BeliefPropagationLabeler(max_iter=50))
    clf.fit(X, per_row(y, bags), bags=bags)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    proba = clf.predict_proba(X)
    assert proba.shape == (1200, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    assert clf.decision_function(X).shape == (1200,)
    assert clf.n_features_in_ == X.shape[1]
    # the estimator was trained on the pseudo-labels weighted by confidence
    p = clf.labeler_.marginals_
    ref = LogisticRegression().fit(X, clf.labeler_.labels_, sample_weight=np.abs(2 * p - 1))
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_)
    assert clf.score(X, y) > 0.8  # bags=None: accuracy against labels
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), proba)


def test_llp_classifier_default_labeler_beats_the_baseline_held_out():
    X, y, bags = make_llp(2500, seed=0)
    n = 2000
    prop = per_row(y[:n], bags[:n])
    clf = LLPClassifier(LogisticRegression()).fit(X[:n], prop, bags=bags[:n])
    assert isinstance(clf.labeler_, GaussianMixtureLabeler)
    auc_clf = roc_auc_score(y[n:], clf.predict_proba(X[n:])[:, 1])
    assert auc_clf > roc_auc_score(y[:n], prop) + 0.05


def test_llp_classifier_score_is_bag_level_accuracy():
    X, y, bags = make_llp(600, seed=11)
    prop = per_row(y, bags)
    clf = LLPClassifier(LogisticRegression()).fit(X, prop, bags=bags)
    pred = clf.predict(X)
    want = 1 - np.mean(np.abs(per_row(pred, bags) - prop))
    assert clf.score(X, prop, bags=bags) == pytest.approx(want, abs=1e-12)
    assert clf.score(X, y) == pytest.approx(np.mean(pred == y), abs=1e-12)


def test_llp_classifier_without_sample_weight():
    X, y, bags = make_llp(500, seed=11)
    clf = LLPClassifier(KNeighborsClassifier(5), labeler=BeliefPropagationLabeler(tol=0, max_iter=20))
    clf.fit(X, per_row(y, bags), bags=bags)
    assert clf.predict(X).shape == (500,)
    assert not hasattr(LLPClassifier(KNeighborsClassifier()), "decision_function")


def test_llp_classifier_refuses_precomputed_labeler():
    S = sp.eye(10, format="csr")
    with pytest.raises(ValueError, match="precomputed"):
        LLPClassifier(LogisticRegression(), labeler=BeliefPropagationLabeler(metric="precomputed")).fit(
            S, bags=np.zeros(10), bag_counts=[5])


# ------------------------------------------------------ cross-validation


def test_cross_validate_with_group_k_fold():
    """Bags stay whole in GroupKFold's folds; y and bags are split per row."""
    X, y, bags = make_llp(1500, bag_size=50, seed=20)
    prop = per_row(y, bags)
    clf = LLPClassifier(LogisticRegression())
    out = cross_validate(clf, X, prop, groups=bags, cv=GroupKFold(3), params={"bags": bags},
                         return_estimator=True)
    assert len(out["test_score"]) == 3 and np.isfinite(out["test_score"]).all()
    for est in out["estimator"]:
        assert roc_auc_score(y, est.predict_proba(X)[:, 1]) > 0.8


def test_cross_validate_and_grid_search_with_metadata_routing():
    """With routing, bags reach both fit and the bag-level score."""
    X, y, bags = make_llp(1200, bag_size=40, seed=21)
    prop = per_row(y, bags)
    with config_context(enable_metadata_routing=True):
        clf = LLPClassifier(LogisticRegression()).set_fit_request(bags=True).set_score_request(bags=True)
        out = cross_validate(clf, X, prop, cv=GroupKFold(3), params={"bags": bags, "groups": bags})
        assert np.all(out["test_score"] > 0.8)  # 1 - mean error of the predicted bag proportions
        search = GridSearchCV(clf, {"estimator__C": [0.01, 1.0]}, cv=GroupKFold(3))
        search.fit(X, prop, bags=bags, groups=bags)
        assert search.best_params_["estimator__C"] in (0.01, 1.0)
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
