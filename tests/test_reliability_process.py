"""Processes and signals: forked children, and Ctrl-C inside long native calls.

- A child forked after the parent has run the OpenMP kernels (multiprocessing's
  fork start method, joblib's multiprocessing backend) fits and predicts, and gets
  the parent's results (they do not depend on the thread count); ten children,
  none hangs (a timeout turns a hang into a failure).
- SIGINT during a long call (fit, partial_fit, the k-means initialisation,
  predictions on large data) raises KeyboardInterrupt within a second, and the
  estimator is as it was: a fitted one keeps its fitted attributes, and fitting
  again works.
"""

import multiprocessing
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from reliability import ESTIMATORS, blobs, every_estimator, labels_for, make_or_skip, require

from emfast import GaussianMixture

FORK = "fork" in multiprocessing.get_all_start_methods()
CHILD_TIMEOUT = 120  # seconds: far beyond what the children need, short of a hang


def quiet_fit(case, est, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case.fit(est, X, **kwargs)


# ----------------------------------------------------------------- fork

# what the children of a test work on: set by the parent before it forks
_shared = {}


def _fit_and_predict(_):
    """In a child: fit the case's estimator afresh and predict with the parent's model."""
    case, X, parent = _shared["case"], _shared["X"], _shared["est"]
    est = quiet_fit(case, case.make(n_components=3, random_state=0, max_iter=3), X)
    return est.predict(X), parent.predict_proba(X)


@pytest.fixture(scope="module")
def fork_data():
    # large enough that the parent's passes run on several OpenMP threads
    return blobs(20_000, 8, 3, seed=5)


def _parent_run(case, X):
    est = quiet_fit(case, case.make(n_components=3, random_state=0, max_iter=3), X)
    _shared.update(case=case, X=X, est=est)
    return est.predict(X), est.predict_proba(X)


@pytest.mark.slow
@pytest.mark.skipif(not FORK, reason="no fork start method on this platform")
@every_estimator
def test_forked_children_fit_and_predict(case, fork_data):
    expected = _parent_run(case, fork_data)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_fit_and_predict, range(10)).get(timeout=CHILD_TIMEOUT)
    for labels, proba in results:
        np.testing.assert_array_equal(labels, expected[0])
        np.testing.assert_array_equal(proba, expected[1])


@pytest.mark.slow
@pytest.mark.skipif(not FORK, reason="no fork start method on this platform")
@pytest.mark.parametrize("case", ESTIMATORS[::4], ids=[c.id for c in ESTIMATORS[::4]])
def test_joblib_multiprocessing_children_fit_and_predict(case, fork_data):
    joblib = pytest.importorskip("joblib")
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("joblib's multiprocessing backend forks only where fork is the default start method")
    expected = _parent_run(case, fork_data)
    run = joblib.Parallel(n_jobs=2, backend="multiprocessing", timeout=CHILD_TIMEOUT)
    for labels, proba in run(joblib.delayed(_fit_and_predict)(i) for i in range(10)):
        np.testing.assert_array_equal(labels, expected[0])
        np.testing.assert_array_equal(proba, expected[1])


# ----------------------------------------------------------------- Ctrl-C

DELAY = 0.3  # seconds from the start of a call to the signal
LATENCY = 1.0  # the most a call may take to stop once signalled


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler (KeyboardInterrupt), whatever the runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt(call, delay=DELAY):
    """Runs call() with a SIGINT sent to this process after `delay` seconds.

    Returns the seconds from the signal to the KeyboardInterrupt; fails if the call
    returned before the signal (make it longer) or ignored it.
    """
    done = threading.Event()
    sent = []

    def send():
        if not done.wait(delay):
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        try:
            call()
        finally:
            done.set()
            sender.join()
    except KeyboardInterrupt:
        assert sent, "KeyboardInterrupt without the signal"
        return time.perf_counter() - sent[0]
    pytest.fail("the call returned before it could be interrupted" if not sent else "the signal was ignored")


@pytest.fixture(scope="module")
def big():
    """Data on which one pass of a K = 16 full model takes a few tenths of a second on two cores."""
    return np.concatenate([blobs(300_000, 24, 16, seed=3)] * 4)


@pytest.fixture(scope="module")
def bigger(big):
    """Four times `big` (920 MB): one scoring pass outlasts the signal's delay."""
    return np.concatenate([big] * 4)


FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_", "n_iter_", "n_features_in_", "n_steps_",
          "mixtures_", "priors_", "classes_"]


def snapshot(est):
    """The estimator's fitted attributes (copies), to compare after an interrupted call."""
    out = {}
    for name in FITTED:
        if hasattr(est, name):
            value = getattr(est, name)
            out[name] = [m.means_.copy() for m in value] if name == "mixtures_" else np.copy(value)
    return out


def assert_same_state(est, before):
    after = snapshot(est)
    assert after.keys() == before.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def small_fit(case, est, X):
    """A short fit on a slice of X: what a usable estimator can do after an interruption."""
    long = est.get_params()["max_iter"]
    quiet_fit(case, est.set_params(max_iter=3), X[:3000])
    return est.set_params(max_iter=long)


def long_fit(case, init_params):
    """An estimator whose fit on `big` takes many passes."""
    return make_or_skip(case, n_components=16, init_params=init_params, max_iter=1000, tol=0.0, random_state=0)


@pytest.mark.slow
@every_estimator
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_ctrl_c_interrupts_fit_and_leaves_the_estimator_as_it_was(case, init_params, big, default_sigint):
    est = small_fit(case, long_fit(case, init_params), big)
    before = snapshot(est)
    # 'kmeans' is interrupted in its k-means (seeding or Lloyd), 'random' in EM passes
    latency = interrupt(lambda: quiet_fit(case, est, big))
    assert latency < LATENCY, latency
    assert_same_state(est, before)
    # usable: fitting again gives a new estimator's model
    fresh = small_fit(case, long_fit(case, init_params), big)
    np.testing.assert_array_equal(small_fit(case, est, big).predict(big[:500]), fresh.predict(big[:500]))


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_ctrl_c_interrupts_a_native_loop_of_short_passes(covariance_type, default_sigint):
    # a small fit's iterations run in one native call (tens of microseconds a pass):
    # it must poll across its passes, not only within a pass that outlasts the poll interval
    X = blobs(5000, 2, 3, seed=1)
    est = GaussianMixture(3, covariance_type=covariance_type, init_params="random", max_iter=10**6, tol=0.0,
                          random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert interrupt(lambda: est.fit(X)) < LATENCY
    assert not hasattr(est, "n_features_in_")


@pytest.mark.slow
@every_estimator
def test_ctrl_c_interrupts_an_unfitted_fit(case, big, default_sigint):
    est = long_fit(case, "kmeans")
    assert interrupt(lambda: quiet_fit(case, est, big)) < LATENCY
    assert not hasattr(est, "n_features_in_")
    small_fit(case, est, big)


# One pass over `big` is long enough only with full or tied covariances (diag and
# spherical ones cost 24 times less per row: data for a long pass would take GBs);
# the passes poll for signals the same way whatever the covariance type.
HEAVY = [c for c in ESTIMATORS if c.id.endswith(("-full", "-tied"))]
heavy_estimators = pytest.mark.parametrize("case", HEAVY, ids=[c.id for c in HEAVY])

SCORING = ["predict", "predict_proba", "score_samples", "score", "mahalanobis", "decision_function",
           "predict_log_proba", "mahalanobis_score"]


@pytest.mark.slow
@heavy_estimators
def test_ctrl_c_interrupts_partial_fit(case, big, default_sigint):
    est = case.make(n_components=16, random_state=0)
    partial_fit = require(est, "partial_fit")
    partial_fit(big[:3000])
    before = snapshot(est)
    # one pass over `big`: a few tenths of a second on a quiet machine, so signalled early
    assert interrupt(lambda: partial_fit(big), delay=0.05) < LATENCY
    assert_same_state(est, before)
    partial_fit(big[:3000])
    assert est.n_steps_ == before["n_steps_"] + 1


@pytest.mark.slow
@heavy_estimators
@pytest.mark.parametrize("method", SCORING)
def test_ctrl_c_interrupts_predictions_on_large_data(case, method, big, bigger, default_sigint):
    est = small_fit(case, case.make(n_components=16, random_state=0), big)
    score = require(est, method)
    if method == "score" and case.supervised:  # a classifier's score is its accuracy on (X, y)
        score = lambda X, score=score: score(X, labels_for(X))  # noqa: E731
    before = snapshot(est)
    assert interrupt(lambda: score(bigger), delay=0.1) < LATENCY
    assert_same_state(est, before)
    np.testing.assert_array_equal(score(big[:100]), score(big[:100]))
