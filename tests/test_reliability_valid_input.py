"""Valid input is accepted, and gives the answer it should.

- C-contiguous arrays at an address that is not a multiple of their item size
  (np.frombuffer(buf, offset=3), np.memmap(path, offset=3)) fit and score as
  the same values aligned do, bitwise, without a copy of X.
- One far row (3e153 to 1.3e154, where squared distances near the float range)
  among N(0, 1) rows: wherever scikit-learn's GaussianMixture returns a finite
  model, emfast's GaussianMixture fits too, and gives scikit-learn's model while
  the row's squared norm is finite (full, diag, spherical).
- A means_init far beyond the data is repaired by every mixture as
  GaussianMixture repairs it.
- float32 X scored by a float64 model is scored in float64, as scikit-learn's
  outputs are: the same values as the same X in float64.
"""

import warnings

import numpy as np
import pytest
from reliability import assert_valid_mixture, blobs, estimator_cases, every_estimator, labels_for, make_or_skip

SCORING = ["predict", "predict_proba", "score_samples", "mahalanobis", "decision_function", "predict_log_proba",
           "mahalanobis_score"]


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def scores(est, X):
    return {m: getattr(est, m)(X) for m in SCORING if hasattr(est, m)}


# ----------------------------------------------------------------- misaligned arrays


def misaligned_copies(X, tmp_path):
    """X at an odd address: in a bytes buffer, and in a memory-mapped file."""
    raw = bytes(3) + X.tobytes()
    in_memory = np.frombuffer(raw, dtype=X.dtype, offset=3).reshape(X.shape)
    path = tmp_path / "X.bin"
    path.write_bytes(raw)
    mapped = np.memmap(path, dtype=X.dtype, mode="r", offset=3, shape=X.shape)
    for a in (in_memory, mapped):
        assert not a.flags.aligned and a.flags.c_contiguous
    return in_memory, mapped


@every_estimator
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_misaligned_arrays_fit_and_score_as_aligned_ones(case, dtype, tmp_path):
    X = blobs(600, 3, 3, seed=4).astype(dtype)
    expected = quietly(case.fit, case.make(n_components=3, random_state=0), X)
    for odd in misaligned_copies(X, tmp_path):
        est = quietly(case.fit, case.make(n_components=3, random_state=0), odd)
        for name, value in scores(est, odd).items():
            np.testing.assert_array_equal(value, getattr(expected, name)(X), err_msg=name)


def test_misaligned_memmap_is_not_copied(tmp_path):
    from emfast._validation import as_kernel_input

    _, mapped = misaligned_copies(np.arange(30.0).reshape(10, 3), tmp_path)
    assert as_kernel_input(mapped) is mapped


# ----------------------------------------------------------------- one far row


def _reference_fit(case, X, K):
    """scikit-learn's model, or None where it raises or its model is not finite."""
    try:
        ref = quietly(case.reference(n_components=K, random_state=0).fit, X)
    except ValueError:
        return None
    finite = all(np.isfinite(getattr(ref, a)).all() for a in ("weights_", "means_", "covariances_"))
    return ref if finite else None


@pytest.mark.slow
@estimator_cases
@pytest.mark.parametrize("n_features", [1, 3])
@pytest.mark.parametrize("far", [3e153, 6e153, 1e154, 1.3e154])
def test_one_far_row_fits_where_scikit_learn_fits(case, n_features, far):
    X = np.random.RandomState(0).randn(300, n_features)
    X[0] = far
    for K in (1, 2, 3):
        ref = _reference_fit(case, X, K)
        if ref is None:
            continue
        est = case.make(n_components=K, random_state=0)
        if type(est).__name__ != "GaussianMixture":
            # online EM has no k-means over all rows to give the far row a component
            # of its own: a mini-batch that brings it to a model fitted to N(0, 1)
            # rows, where its log-density lies below the float range, is refused
            try:
                assert_valid_mixture(quietly(est.fit, X))
            except ValueError as exc:
                assert "Rescale X" in str(exc)
            continue
        quietly(est.fit, X)
        assert_valid_mixture(est)
        if est.covariance_type == "tied" or n_features * far**2 > np.finfo(np.float64).max:
            # scikit-learn's tied covariance of a lone far row is its E[x x^T] - mu mu^T
            # cancelling (1e290 of noise), and beyond sqrt(max / D) its k-means' squared
            # norms are inf: a model, but not one to match
            continue
        np.testing.assert_allclose(est.weights_, ref.weights_, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-9, atol=1e-9)
        # the components of N(0, 1) rows (a lone far row's variance is rounding noise
        # in scikit-learn's E[x^2] - E[x]^2, 1e290 rather than emfast's (10 eps x)^2)
        near = np.abs(ref.means_).max(axis=1) < 1e3
        if est.covariance_type != "tied":
            np.testing.assert_allclose(est.covariances_[near], ref.covariances_[near], rtol=1e-7)


# ----------------------------------------------------------------- far means_init


@estimator_cases
@pytest.mark.parametrize("far", [1e10, 1e154, 1e200, 1e300, -1e300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_means_init_is_repaired_by_every_mixture(case, far, dtype):
    from emfast import GaussianMixture

    X = np.random.RandomState(0).randn(200, 3).astype(dtype)
    means = [[0.0, 0.0, 0.0], [far] * 3]
    cov = case.make().covariance_type
    repaired = quietly(GaussianMixture(2, covariance_type=cov, means_init=means, random_state=0).fit, X)
    est = quietly(make_or_skip(case, n_components=2, means_init=means, random_state=0).fit, X)
    assert_valid_mixture(est, X)
    # the far component loses every row, as in GaussianMixture's repair
    np.testing.assert_allclose(est.weights_, repaired.weights_, atol=1e-6)


# ----------------------------------------------------------------- float32 under a float64 model


@every_estimator
def test_float32_input_to_a_float64_model_is_scored_in_float64(case):
    X = blobs(500, 3, 3, seed=6)
    est = quietly(case.fit, case.make(n_components=3, random_state=0), X)
    X32 = X.astype(np.float32)
    widened = scores(est, X32.astype(np.float64))
    for name, value in scores(est, X32).items():
        np.testing.assert_array_equal(value, widened[name], err_msg=name)
        if np.asarray(value).dtype.kind == "f":
            assert np.asarray(value).dtype == np.float64, name
    if case.supervised:
        y = labels_for(X)
        assert est.score(X32, y) == est.score(X32.astype(np.float64), y)
