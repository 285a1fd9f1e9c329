"""Progress of long fits: the callback parameter and verbose progress lines."""

import re

import numpy as np
import pytest
from conftest import make_blobs

from emfast import GaussianMixture, _progress


def test_callback_sees_initialisation_and_every_iteration():
    X = make_blobs(3000, 4, 4, seed=3, anisotropic=True)
    events = []
    gm = GaussianMixture(4, random_state=0, callback=events.append).fit(X)
    stages = [e["stage"] for e in events]
    assert stages.count("k-means++") == 3  # seeds 2..K
    assert "lloyd" in stages
    em = [e for e in events if e["stage"] == "em"]
    assert [e["step"] for e in em] == list(range(1, gm.n_iter_ + 1))
    np.testing.assert_array_equal([e["lower_bound"] for e in em], gm.lower_bounds_)
    assert all(e["rows_per_second"] > 0 and e["total"] == gm.max_iter for e in em)
    elapsed = [e["elapsed"] for e in events]
    assert elapsed == sorted(elapsed)


def test_callback_does_not_change_the_model():
    X = make_blobs(2000, 3, 3, seed=4)
    plain = GaussianMixture(3, random_state=0).fit(X)
    watched = GaussianMixture(3, random_state=0, callback=lambda info: None).fit(X)
    np.testing.assert_array_equal(plain.means_, watched.means_)


class Stop(Exception):
    pass


@pytest.mark.parametrize("stage", ["k-means++", "lloyd", "em"])
def test_an_exception_in_the_callback_stops_the_fit(stage):
    X = make_blobs(2000, 3, 3, seed=5)

    def callback(info):
        if info["stage"] == stage:
            raise Stop(stage)

    with pytest.raises(Stop, match=re.escape(stage)):
        GaussianMixture(3, random_state=0, callback=callback).fit(X)
    # the estimator is usable afterwards
    GaussianMixture(3, random_state=0).fit(X)


def test_verbose_fits_print_progress_once_they_take_long(monkeypatch, capsys):
    monkeypatch.setattr(_progress, "_QUIET_SECONDS", 0.0)
    monkeypatch.setattr(_progress, "_PRINT_EVERY", 0.0)
    X = make_blobs(2000, 3, 3, seed=6)
    GaussianMixture(3, random_state=0, verbose=1, verbose_interval=100).fit(X)
    out = capsys.readouterr().out
    assert "k-means++ 2/3" in out and "lloyd 1/300" in out and "Iteration 1" in out


def test_quiet_fits_print_nothing(capsys):
    X = make_blobs(2000, 3, 3, seed=6)
    GaussianMixture(3, random_state=0).fit(X)
    assert capsys.readouterr().out == ""
