"""emfast.patch_sklearn: code that imports scikit-learn's mixtures runs on emfast."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sklearn.mixture
from conftest import make_blobs

import emfast

ORIGINAL = sklearn.mixture.GaussianMixture


@pytest.fixture
def patched():
    emfast.patch_sklearn()
    try:
        yield
    finally:
        emfast.unpatch_sklearn()


def test_patch_and_unpatch(patched):
    from sklearn.mixture import GaussianMixture
    from sklearn.mixture._gaussian_mixture import GaussianMixture as Inner

    assert GaussianMixture is emfast.GaussianMixture and Inner is emfast.GaussianMixture
    emfast.patch_sklearn()  # twice: still undone by one unpatch
    emfast.unpatch_sklearn()
    assert sklearn.mixture.GaussianMixture is ORIGINAL
    assert sklearn.mixture._gaussian_mixture.GaussianMixture is ORIGINAL


def test_isinstance_holds_with_and_without_the_patch(patched):
    gm = emfast.GaussianMixture(2)
    assert isinstance(gm, ORIGINAL) and isinstance(gm, sklearn.mixture.GaussianMixture)


def test_private_methods_that_public_code_calls_match_sklearn():
    X = make_blobs(800, 3, 3, seed=2, anisotropic=True)
    ours = emfast.GaussianMixture(3, random_state=0).fit(X)
    theirs = ORIGINAL(3, random_state=0).fit(X)
    for name in ("_estimate_weighted_log_prob", "_estimate_log_prob"):
        np.testing.assert_allclose(getattr(ours, name)(X), getattr(theirs, name)(X), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours._estimate_log_weights(), theirs._estimate_log_weights(), rtol=1e-9)
    for a, b in zip(ours._estimate_log_prob_resp(X), theirs._estimate_log_prob_resp(X)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    assert ours._e_step(X)[0] == pytest.approx(theirs._e_step(X)[0], rel=1e-12)
    # scikit-learn's (weights, means, covariances, precisions_cholesky) round trip
    fresh = emfast.GaussianMixture(3)
    fresh._set_parameters(theirs._get_parameters())
    fresh.n_features_in_ = 3
    np.testing.assert_allclose(fresh.predict_proba(X), theirs.predict_proba(X), rtol=1e-9, atol=1e-12)


SCRIPT = textwrap.dedent(
    """
    from sklearn.mixture import GaussianMixture
    print(GaussianMixture.__module__)
    """
)


@pytest.mark.slow  # two fresh interpreters
@pytest.mark.parametrize("how", ["script", "module"])
def test_python_m_emfast_patch(tmp_path, how):
    path = tmp_path / "uses_sklearn.py"
    path.write_text(SCRIPT)
    args = [str(path)] if how == "script" else ["-m", "uses_sklearn"]
    # -W error: running the module must not warn (runpy does if the package imported it)
    run = subprocess.run([sys.executable, "-W", "error", "-m", "emfast.patch", *args], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "emfast._gaussian_mixture"
    assert run.stderr == ""
