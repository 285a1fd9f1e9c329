"""Packaging: one version, the license metadata, requirement lists that agree,
and scikit-learn imported before emfast's OpenMP kernels (docs/install.rst)."""

import os
import re
import subprocess
import sys
from importlib import metadata

import pytest

import emfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    path = os.path.join(ROOT, "pyproject.toml")
    if not os.path.exists(path):
        pytest.skip("not run from a source tree")
    with open(path, "rb") as f:
        return tomllib.load(f)


def _requirements(relpath):
    with open(os.path.join(ROOT, relpath)) as f:
        lines = (line.split("#")[0].strip() for line in f)
        return sorted(line for line in lines if line)


def test_version_is_the_installed_distributions():
    # the version is written once, in meson.build's project(); the wheel's
    # metadata and emfast.__version__ both come from there
    assert emfast.__version__ == metadata.version("emfast")
    assert "version" in _pyproject()["project"]["dynamic"]
    with open(os.path.join(ROOT, "meson.build")) as f:
        assert re.search(r"version:\s*'%s'" % re.escape(emfast.__version__), f.read())


def test_license_metadata():
    meta = metadata.metadata("emfast")
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in meta.get_all("License-File")


@pytest.mark.parametrize("extra, path", [("test", "tests/requirements.txt"), ("docs", "docs/requirements.txt")])
def test_requirement_files_match_the_extras(extra, path):
    extras = _pyproject()["project"]["optional-dependencies"]
    assert sorted(extras[extra]) == _requirements(path)


@pytest.mark.slow  # a fresh interpreter
def test_scikit_learn_is_imported_before_the_openmp_kernels():
    # macOS: the LLVM OpenMP runtime aborts when a second copy (scikit-learn's
    # and emfast's wheels each carry one) initialises, unless
    # KMP_DUPLICATE_LIB_OK is set; scikit-learn sets it when imported.
    probe = (
        "import os, sys\n"
        "seen = []\n"
        "class Probe:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'emfast._core' or name.startswith('emfast._kernels_'):\n"
        "            seen.append(os.environ.get('KMP_DUPLICATE_LIB_OK'))\n"
        "sys.meta_path.insert(0, Probe())\n"
        "import emfast\n"
        "print(seen)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KMP_DUPLICATE_LIB_OK"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=os.path.dirname(ROOT),
        capture_output=True, text=True, check=True,
    ).stdout
    seen = eval(out.strip().splitlines()[-1])
    assert seen and all(value == "True" for value in seen), seen


def test_the_oldest_combination_pins_the_declared_floors():
    # .ci/matrix oldest tests these pins: they must be the floors users are promised
    from sklearn.utils.fixes import parse_version

    project = _pyproject()
    path = os.path.join(ROOT, ".ci", "oldest.txt")
    if not os.path.exists(path):
        pytest.skip("not run from a source tree")
    pins = dict(line.split("==") for line in _requirements(".ci/oldest.txt"))
    floors = dict(re.fullmatch(r"([\w-]+)>=([\d.]+)", r).groups() for r in project["project"]["dependencies"])
    floors.update(re.fullmatch(r"([\w-]+)>=([\d.]+)", r).groups() for r in project["build-system"]["requires"])
    assert set(pins) == set(floors)
    for name, floor in floors.items():
        assert parse_version(pins[name]) == parse_version(floor), name
