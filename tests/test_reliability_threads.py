"""Threads, determinism, pickling.

- Eight Python threads calling predict_proba / score_samples on one fitted model at
  once get exactly (bitwise) the serial results.
- Fitting in one thread while another predicts with a different model is safe.
- A fixed random_state gives identical results across runs and OpenMP thread counts.
- Pickle and clone round-trips; a model pickled in one process predicts identically
  in another (with a different OpenMP thread count).
"""

import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
from reliability import blobs, estimator_cases, make_or_skip, takes_sample_weight
from sklearn.base import clone
from threadpoolctl import threadpool_limits

N_THREADS = 8
FITTED_ATTRS = ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_", "lower_bound_", "n_iter_"]


def fit(est, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, **kwargs)


def assert_same_fit(a, b):
    for name in FITTED_ATTRS:
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(x, y, err_msg=name)
        assert np.asarray(x).dtype == np.asarray(y).dtype, name
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    assert a.converged_ == b.converged_


def run_in_threads(n, target):
    """Run target(i) in n threads released together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def body(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module")
def data():
    X = blobs(20_000, 6, 4, seed=11, spread=3.0)
    return X, X.astype(np.float32)


@estimator_cases
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_concurrent_predictions_are_bitwise_serial(case, dtype, data):
    X = data[0] if dtype == "float64" else data[1]
    est = fit(case.make(n_components=4, random_state=0, max_iter=20), X[:4000])
    methods = ["predict_proba", "score_samples", "predict"] + (["mahalanobis"] if hasattr(est, "mahalanobis") else [])
    serial = {m: getattr(est, m)(X) for m in methods}

    def work(i):
        out = {}
        for rep in range(3):  # interleave methods differently in each thread
            for m in methods[i % len(methods):] + methods[: i % len(methods)]:
                out[(rep, m)] = getattr(est, m)(X)
        return out

    for out in run_in_threads(N_THREADS, work):
        for (rep, m), value in out.items():
            np.testing.assert_array_equal(value, serial[m], err_msg=f"{m}, repetition {rep}")


@estimator_cases
def test_fitting_while_another_model_predicts(case, data):
    X, _ = data
    predictor = fit(case.make(n_components=3, random_state=1, max_iter=10), X[:3000])
    expected_proba = predictor.predict_proba(X)
    expected_fit = fit(case.make(n_components=4, random_state=2, max_iter=15, tol=0), X[:8000])

    def work(i):
        if i == 0:
            return fit(case.make(n_components=4, random_state=2, max_iter=15, tol=0), X[:8000])
        return [predictor.predict_proba(X) for _ in range(4)]

    results = run_in_threads(4, work)
    assert_same_fit(results[0], expected_fit)
    for outs in results[1:]:
        for proba in outs:
            np.testing.assert_array_equal(proba, expected_proba)


@estimator_cases
def test_concurrent_fits_of_separate_models(case, data):
    X, _ = data
    expected = [fit(case.make(n_components=3, random_state=i, max_iter=10, tol=0), X[: 2000 + 500 * i]) for i in range(4)]
    results = run_in_threads(4, lambda i: fit(case.make(n_components=3, random_state=i, max_iter=10, tol=0), X[: 2000 + 500 * i]))
    for got, want in zip(results, expected):
        assert_same_fit(got, want)


# ----------------------------------------------------------------- determinism

DETERMINISM_PARAMS = [
    {"init_params": "kmeans"},
    {"init_params": "k-means++", "n_init": 2},
    {"init_params": "random", "reg_covar": 0.0},
    {"init_params": "random_from_data", "sample_weight": True},
]
# the fast loop checks the default initialisation
DETERMINISM_CASES = [DETERMINISM_PARAMS[0]] + [pytest.param(p, marks=pytest.mark.slow) for p in DETERMINISM_PARAMS[1:]]


@estimator_cases
@pytest.mark.parametrize("params", DETERMINISM_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_same_random_state_same_model_whatever_the_thread_count(case, params, data):
    X = data[0][:3000]
    params = dict(params)
    kwargs = {}
    if params.pop("sample_weight", False):
        kwargs["sample_weight"] = np.random.RandomState(3).uniform(0.1, 3.0, len(X))
    est0 = make_or_skip(case, n_components=4, random_state=7, max_iter=30, tol=0, **params)
    if kwargs and not takes_sample_weight(est0):
        pytest.skip("no sample_weight")
    reference = fit(est0, X, **kwargs)
    again = fit(case.make(n_components=4, random_state=7, max_iter=30, tol=0, **params), X, **kwargs)
    assert_same_fit(again, reference)
    proba = reference.predict_proba(X)
    for n_threads in (1, 3):  # the reference ran with the default (all cores)
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            est = fit(case.make(n_components=4, random_state=7, max_iter=30, tol=0, **params), X, **kwargs)
            assert_same_fit(est, reference)
            np.testing.assert_array_equal(est.predict_proba(X), proba)
            np.testing.assert_array_equal(est.score_samples(X), reference.score_samples(X))


@estimator_cases
def test_random_state_instance_is_consumed_like_scikit_learn(case, data):
    """A RandomState instance gives a different draw per fit; a seed the same fit."""
    X = data[0][:3000]
    rs = np.random.RandomState(0)
    a = fit(case.make(n_components=4, random_state=rs, init_params="random", max_iter=5), X)
    b = fit(case.make(n_components=4, random_state=rs, init_params="random", max_iter=5), X)
    assert not np.array_equal(a.means_, b.means_)
    c = fit(case.make(n_components=4, random_state=np.random.RandomState(0), init_params="random", max_iter=5), X)
    assert_same_fit(a, c)


# ----------------------------------------------------------------- pickle and clone


@estimator_cases
def test_pickle_and_clone_round_trips(case, data):
    X = data[0][:3000]
    # an array parameter (means_init, or a Bayesian mixture's mean_prior)
    name = "means_init" if "means_init" in case.make().get_params() else "mean_prior"
    array = X[:4].copy() if name == "means_init" else X.mean(axis=0)
    unfitted = case.make(n_components=4, random_state=0, **{name: array})
    again = pickle.loads(pickle.dumps(unfitted))
    assert repr(again) == repr(unfitted)
    np.testing.assert_array_equal(again.get_params()[name], array)

    cloned = clone(unfitted)
    params = cloned.get_params()
    for key, value in unfitted.get_params().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(params[key], value)
            assert params[key] is not value  # clone copies parameters
        else:
            assert params[key] == value
    assert not hasattr(cloned, "weights_")

    est = fit(unfitted, X)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        restored = pickle.loads(pickle.dumps(est, protocol=protocol))
        assert_same_fit(restored, est)
        for method in ("predict_proba", "score_samples", "predict"):
            np.testing.assert_array_equal(getattr(restored, method)(X), getattr(est, method)(X))
        np.testing.assert_array_equal(restored.sample(5)[0], est.sample(5)[0])

    refit = fit(clone(est), X)  # a clone of a fitted model fits the same model
    assert_same_fit(refit, est)
    if hasattr(est, "partial_fit"):
        # the state a later partial_fit continues from survives the round trip
        restored = pickle.loads(pickle.dumps(est))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.partial_fit(X[:500])
            restored.partial_fit(X[:500])
        assert_same_fit(restored, est)
        np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    else:
        # a batch estimator keeps no private state beyond its fitted attributes
        assert not any(k.startswith("_") and k != "_sklearn_version" for k in vars(est)), vars(est).keys()


@pytest.mark.slow  # a fresh interpreter per estimator
@estimator_cases
def test_model_pickled_in_one_process_predicts_identically_in_another(case, data, tmp_path):
    """float64 and float32 models, pickled here, predict bitwise identically in a
    fresh interpreter running one OpenMP thread."""
    models, expected = {}, {}
    for dtype in ("float64", "float32"):
        X = data[0][:5000].astype(dtype)
        est = fit(case.make(n_components=4, random_state=0), X)
        models[dtype] = est
        np.save(tmp_path / f"X_{dtype}.npy", X)
        for m in ("predict_proba", "score_samples", "predict"):
            expected[f"{dtype}_{m}"] = getattr(est, m)(X)
    (tmp_path / "models.pkl").write_bytes(pickle.dumps(models))
    script = textwrap.dedent(
        f"""
        import pickle
        import numpy as np
        models = pickle.loads(open({str(tmp_path / "models.pkl")!r}, "rb").read())
        out = {{}}
        for dtype, est in models.items():
            X = np.load({str(tmp_path)!r} + f"/X_{{dtype}}.npy")
            for m in ("predict_proba", "score_samples", "predict"):
                out[f"{{dtype}}_{{m}}"] = getattr(est, m)(X)
        np.savez({str(tmp_path / "out.npz")!r}, **out)
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=300)
    out = np.load(tmp_path / "out.npz")
    assert sorted(out.files) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)
        assert out[key].dtype == value.dtype, key
