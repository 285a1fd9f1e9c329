"""The benchmark family of learning from label proportions, test-sized
(benchmarks/llp_family.py --small): the default labeler meets the bar on every
configuration."""

import importlib.util
import os
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from emfast import GaussianMixtureLabeler

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "llp_family.py")
_spec = importlib.util.spec_from_file_location("llp_family", _PATH)
family = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(family)

PROBLEMS = family.family(small=True)


@pytest.mark.slow
@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name.replace(" ", "") for p in PROBLEMS])
def test_default_labeler_meets_the_bar(problem):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the default converges
        row = family.evaluate(problem, {family.DEFAULT: GaussianMixtureLabeler(random_state=0)})
    ok, signal = family.meets_bar(row)
    assert ok, (f"{problem.name}: {family.DEFAULT} {row[family.DEFAULT]:.3f}, baseline {row['baseline']:.3f}, "
                f"oracle {row['oracle']:.3f}, signal {signal}")
